//! Error responses for injected faults: a response of the request's API
//! with `code` in every error field a client reads (top level and per
//! partition).

use prozess_protocol::messages::*;
use prozess_protocol::{ErrorCode, RequestBody, ResponseBody};

/// A response to `request` that fails with `code` everywhere it can.
pub(crate) fn error_response(request: &RequestBody, code: ErrorCode) -> ResponseBody {
    let c = code.code();
    match request {
        RequestBody::Produce(r) => ProduceResponse {
            responses: r
                .topic_data
                .iter()
                .map(|t| produce::response::TopicProduceResponse {
                    name: t.name.clone(),
                    partition_responses: t
                        .partition_data
                        .iter()
                        .map(|p| produce::response::PartitionProduceResponse {
                            index: p.index,
                            error_code: c,
                            base_offset: -1,
                            log_append_time_ms: -1,
                            log_start_offset: -1,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .into(),
        RequestBody::Fetch(r) => FetchResponse {
            responses: r
                .topics
                .iter()
                .map(|t| fetch::response::FetchableTopicResponse {
                    topic: t.topic.clone(),
                    topic_id: t.topic_id,
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| {
                            let mut d = fetch::response::PartitionData {
                                partition_index: p.partition,
                                error_code: c,
                                high_watermark: -1,
                                last_stable_offset: -1,
                                log_start_offset: -1,
                                preferred_read_replica: -1,
                                ..Default::default()
                            };
                            d.diverging_epoch.epoch = -1;
                            d.diverging_epoch.end_offset = -1;
                            d.current_leader.leader_id = -1;
                            d.current_leader.leader_epoch = -1;
                            d
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .into(),
        RequestBody::ListOffsets(r) => ListOffsetsResponse {
            topics: r
                .topics
                .iter()
                .map(|t| list_offsets::response::ListOffsetsTopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| list_offsets::response::ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            error_code: c,
                            timestamp: -1,
                            offset: -1,
                            leader_epoch: -1,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .into(),
        RequestBody::Metadata(r) => MetadataResponse {
            controller_id: -1,
            error_code: c,
            topics: r
                .topics
                .iter()
                .flatten()
                .map(|t| metadata::response::MetadataResponseTopic {
                    error_code: c,
                    name: t.name.clone(),
                    topic_id: t.topic_id,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .into(),
        RequestBody::OffsetCommit(r) => OffsetCommitResponse {
            topics: r
                .topics
                .iter()
                .map(|t| offset_commit::response::OffsetCommitResponseTopic {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| offset_commit::response::OffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            error_code: c,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .into(),
        RequestBody::OffsetFetch(r) => OffsetFetchResponse {
            error_code: c,
            groups: r
                .groups
                .iter()
                .map(|g| offset_fetch::response::OffsetFetchResponseGroup {
                    group_id: g.group_id.clone(),
                    error_code: c,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .into(),
        RequestBody::FindCoordinator(r) => FindCoordinatorResponse {
            error_code: c,
            node_id: -1,
            port: -1,
            coordinators: r
                .coordinator_keys
                .iter()
                .map(|k| find_coordinator::response::Coordinator {
                    key: k.clone(),
                    node_id: -1,
                    port: -1,
                    error_code: c,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .into(),
        RequestBody::JoinGroup(r) => JoinGroupResponse {
            error_code: c,
            generation_id: -1,
            member_id: r.member_id.clone(),
            ..Default::default()
        }
        .into(),
        RequestBody::Heartbeat(_) => HeartbeatResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::LeaveGroup(_) => LeaveGroupResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::SyncGroup(_) => SyncGroupResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::ApiVersions(_) => ApiVersionsResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::CreateTopics(r) => CreateTopicsResponse {
            topics: r
                .topics
                .iter()
                .map(|t| create_topics::response::CreatableTopicResult {
                    name: t.name.clone(),
                    error_code: c,
                    num_partitions: -1,
                    replication_factor: -1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .into(),
        RequestBody::DeleteTopics(r) => DeleteTopicsResponse {
            responses: r
                .topic_names
                .iter()
                .map(|n| delete_topics::response::DeletableTopicResult {
                    name: Some(n.clone()),
                    error_code: c,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .into(),
        RequestBody::InitProducerId(_) => InitProducerIdResponse {
            error_code: c,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        }
        .into(),
        RequestBody::OffsetForLeaderEpoch(r) => OffsetForLeaderEpochResponse {
            topics: r
                .topics
                .iter()
                .map(
                    |t| offset_for_leader_epoch::response::OffsetForLeaderTopicResult {
                        topic: t.topic.clone(),
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| offset_for_leader_epoch::response::EpochEndOffset {
                                partition: p.partition,
                                error_code: c,
                                leader_epoch: -1,
                                end_offset: -1,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    },
                )
                .collect(),
            ..Default::default()
        }
        .into(),
        // The APIs the mock does not model: an empty response of the right
        // API (their error fields, where they have one at the top, set).
        other => unmodelled(other, c),
    }
}

fn unmodelled(request: &RequestBody, c: i16) -> ResponseBody {
    match request {
        RequestBody::DescribeGroups(_) => DescribeGroupsResponse::default().into(),
        RequestBody::ListGroups(_) => ListGroupsResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::SaslHandshake(_) => SaslHandshakeResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::AddPartitionsToTxn(_) => AddPartitionsToTxnResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::AddOffsetsToTxn(_) => AddOffsetsToTxnResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::EndTxn(_) => EndTxnResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::WriteTxnMarkers(_) => WriteTxnMarkersResponse::default().into(),
        RequestBody::TxnOffsetCommit(_) => TxnOffsetCommitResponse::default().into(),
        RequestBody::DescribeConfigs(_) => DescribeConfigsResponse::default().into(),
        RequestBody::SaslAuthenticate(_) => SaslAuthenticateResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::CreatePartitions(_) => CreatePartitionsResponse::default().into(),
        RequestBody::DeleteGroups(_) => DeleteGroupsResponse::default().into(),
        RequestBody::ListPartitionReassignments(_) => ListPartitionReassignmentsResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::DescribeCluster(_) => DescribeClusterResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::ConsumerGroupHeartbeat(_) => ConsumerGroupHeartbeatResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::ConsumerGroupDescribe(_) => ConsumerGroupDescribeResponse::default().into(),
        RequestBody::GetTelemetrySubscriptions(_) => GetTelemetrySubscriptionsResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
        RequestBody::DescribeTopicPartitions(_) => {
            DescribeTopicPartitionsResponse::default().into()
        }
        // Modelled APIs are handled by the caller.
        _ => HeartbeatResponse {
            error_code: c,
            ..Default::default()
        }
        .into(),
    }
}
