//! A consumer group's committed offsets: list (several groups at once),
//! alter, delete; and removing static members from a group.
//!
//! Each request goes to the group's coordinator. As in the Java admin
//! client's handlers, coordinator errors (NOT_COORDINATOR,
//! COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS), also when a
//! broker reports them per partition, make the client look the coordinator
//! up again and retry the group within the call's timeout; every other error
//! is reported for its own partition or member, so one failure does not fail
//! the rest.

use std::collections::BTreeMap;
use std::time::Duration;

use prozess_network::{ClientResponse, KafkaClient, OffsetAndMetadata, TopicPartition};
use prozess_protocol::messages::leave_group::request::MemberIdentity;
use prozess_protocol::messages::offset_commit::request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use prozess_protocol::messages::offset_delete::request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use prozess_protocol::messages::offset_fetch::request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use prozess_protocol::messages::{
    LeaveGroupRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::driver::unexpected;
use super::groups::{group_id_list, group_resource, Batching, CoordinatorType, GroupAnswer};
use super::{AdminClient, AdminError};

/// Which partitions [`AdminClient::list_consumer_group_offsets`] asks
/// about for one group (Java's `ListConsumerGroupOffsetsSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListConsumerGroupOffsetsSpec {
    /// `None`: every partition the group has committed offsets for.
    pub topic_partitions: Option<Vec<TopicPartition>>,
}

impl ListConsumerGroupOffsetsSpec {
    /// Every partition with a committed offset.
    pub fn all() -> Self {
        ListConsumerGroupOffsetsSpec::default()
    }

    /// These partitions (those without a committed offset come back as
    /// `Ok(None)`).
    pub fn partitions(partitions: impl IntoIterator<Item = TopicPartition>) -> Self {
        ListConsumerGroupOffsetsSpec {
            topic_partitions: Some(partitions.into_iter().collect()),
        }
    }
}

/// Per-partition outcomes of a group offset operation.
pub type PartitionResults<T> = BTreeMap<TopicPartition, Result<T, AdminError>>;

/// One group's committed offsets.
#[derive(Debug, Clone)]
pub struct ListConsumerGroupOffsetsResult {
    /// The group.
    pub group_id: String,
    /// Per partition: the committed offset, `None` when the group has none
    /// for a partition that was asked for, or that partition's error. The
    /// outer `Err` is for the whole group (its coordinator could not be
    /// reached, GROUP_AUTHORIZATION_FAILED, ...).
    pub result: Result<PartitionResults<Option<OffsetAndMetadata>>, AdminError>,
}

/// The outcome of [`AdminClient::alter_consumer_group_offsets`] or
/// [`AdminClient::delete_consumer_group_offsets`].
#[derive(Debug, Clone)]
pub struct GroupOffsetsResult {
    /// The group.
    pub group_id: String,
    /// Per partition, or the error of the whole group.
    pub result: Result<PartitionResults<()>, AdminError>,
}

/// A static member to remove from a group (Java's `MemberToRemove`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemberToRemove {
    /// The member's `group.instance.id`.
    pub group_instance_id: String,
    /// Why it is removed (sent as the leave reason from LeaveGroup v5 on).
    pub reason: Option<String>,
}

impl MemberToRemove {
    /// The static member with this `group.instance.id`.
    pub fn new(group_instance_id: impl Into<String>) -> Self {
        MemberToRemove {
            group_instance_id: group_instance_id.into(),
            reason: None,
        }
    }
}

/// The outcome of [`AdminClient::remove_members_from_consumer_group`].
#[derive(Debug, Clone)]
pub struct RemoveMembersFromConsumerGroupResult {
    /// The group.
    pub group_id: String,
    /// Per member (by `group.instance.id`), or the error of the whole group.
    pub result: Result<BTreeMap<String, Result<(), AdminError>>, AdminError>,
}

/// Errors that mean "ask the (new) coordinator again".
fn coordinator_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorNotAvailable
            | ErrorCode::CoordinatorLoadInProgress
    )
}

fn partition_error(group: &str, tp: &TopicPartition, code: ErrorCode) -> AdminError {
    AdminError::kafka(
        code,
        None,
        format!("partition {tp} of {}", group_resource(group)),
    )
}

/// The group's answer from per-partition error codes: a retry if any of
/// them is a coordinator error, else each partition's own outcome.
fn per_partition(
    group: &str,
    partitions: impl IntoIterator<Item = (TopicPartition, i16)>,
) -> GroupAnswer<PartitionResults<()>> {
    let mut out = PartitionResults::new();
    for (tp, code) in partitions {
        let code = ErrorCode::from_i16(code);
        if coordinator_error(code) {
            tracing::warn!(group, partition = %tp, error = %code, "admin: coordinator error; looking it up again");
            return GroupAnswer::Retry;
        }
        let result = if code.is_error() {
            Err(partition_error(group, &tp, code))
        } else {
            Ok(())
        };
        out.insert(tp, result);
    }
    GroupAnswer::Done(Ok(out))
}

/// Sorted topics with their partitions, for requests that list them.
fn by_topic<'a>(
    partitions: impl IntoIterator<Item = &'a TopicPartition>,
) -> BTreeMap<&'a str, Vec<i32>> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics
            .entry(tp.topic.as_str())
            .or_default()
            .push(tp.partition);
    }
    topics
}

fn validate_partitions(partitions: &[TopicPartition], what: &str) -> Result<(), AdminError> {
    if let Some(tp) = partitions
        .iter()
        .find(|tp| tp.topic.is_empty() || tp.partition < 0)
    {
        return Err(AdminError::Config(format!(
            "{what}: invalid partition {tp:?} (empty topic or negative partition)"
        )));
    }
    Ok(())
}

impl<C: KafkaClient> AdminClient<C> {
    /// The committed offsets of several groups (OffsetFetch to each group's
    /// coordinator, the requests in parallel), each group with its own
    /// partitions or all of them. One result per distinct group, in input
    /// order; the outer `Err` only for a request that cannot be sent (an
    /// empty group id, an invalid partition).
    pub fn list_consumer_group_offsets<S: AsRef<str>>(
        &mut self,
        groups: &[(S, ListConsumerGroupOffsetsSpec)],
        timeout: Duration,
    ) -> Result<Vec<ListConsumerGroupOffsetsResult>, AdminError> {
        let ids = group_id_list(&groups.iter().map(|(g, _)| g.as_ref()).collect::<Vec<_>>())?;
        let mut specs: BTreeMap<String, ListConsumerGroupOffsetsSpec> = BTreeMap::new();
        for (g, spec) in groups {
            if let Some(p) = &spec.topic_partitions {
                validate_partitions(p, "list_consumer_group_offsets")?;
            }
            specs
                .entry(g.as_ref().to_string())
                .or_insert_with(|| spec.clone());
        }
        let build = |groups: &[String], version: i16| {
            let group = &groups[0];
            let topics = specs[group]
                .topic_partitions
                .as_ref()
                .map(|p| by_topic(p.iter()));
            let mut req = OffsetFetchRequest {
                require_stable: false,
                ..Default::default()
            };
            if version >= 8 {
                req.groups = vec![OffsetFetchRequestGroup {
                    group_id: group.clone(),
                    topics: topics.map(|t| {
                        t.into_iter()
                            .map(|(name, partition_indexes)| OffsetFetchRequestTopics {
                                name: name.to_string(),
                                partition_indexes,
                                ..Default::default()
                            })
                            .collect()
                    }),
                    ..Default::default()
                }];
            } else {
                req.group_id = group.clone();
                req.topics = topics.map(|t| {
                    t.into_iter()
                        .map(|(name, partition_indexes)| OffsetFetchRequestTopic {
                            name: name.to_string(),
                            partition_indexes,
                            ..Default::default()
                        })
                        .collect()
                });
            }
            RequestBody::OffsetFetch(req)
        };
        let parse = |response: &ClientResponse, groups: &[String]| {
            let ResponseBody::OffsetFetch(body) = &response.body else {
                return Err(unexpected(response, "OffsetFetch"));
            };
            let group = &groups[0];
            // Both layouts flattened to (group error, [(tp, offset, epoch, metadata, error)]).
            let (group_code, partitions): (i16, Vec<_>) = if response.api_version >= 8 {
                let Some(g) = body.groups.iter().find(|g| &g.group_id == group) else {
                    return Err(AdminError::Protocol(format!(
                        "node {} did not answer for {}",
                        response.node,
                        group_resource(group)
                    )));
                };
                let parts = g
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(|p| {
                            (
                                TopicPartition::new(t.name.clone(), p.partition_index),
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.metadata.clone(),
                                p.error_code,
                            )
                        })
                    })
                    .collect();
                (g.error_code, parts)
            } else {
                let parts = body
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(|p| {
                            (
                                TopicPartition::new(t.name.clone(), p.partition_index),
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.metadata.clone(),
                                p.error_code,
                            )
                        })
                    })
                    .collect();
                (body.error_code, parts)
            };
            let code = ErrorCode::from_i16(group_code);
            if code.is_error() {
                return Ok(vec![(group.clone(), group_failure(group, code))]);
            }
            let mut out = PartitionResults::new();
            for (tp, offset, epoch, metadata, code) in partitions {
                let code = ErrorCode::from_i16(code);
                if coordinator_error(code) || code == ErrorCode::UnstableOffsetCommit {
                    tracing::warn!(group = group.as_str(), partition = %tp, error = %code, "admin: OffsetFetch must be retried");
                    return Ok(vec![(group.clone(), GroupAnswer::Retry)]);
                }
                let result = if code.is_error() {
                    Err(partition_error(group, &tp, code))
                } else if offset < 0 {
                    Ok(None)
                } else {
                    Ok(Some(OffsetAndMetadata {
                        offset,
                        leader_epoch: (epoch >= 0).then_some(epoch),
                        metadata: metadata.unwrap_or_default(),
                    }))
                };
                out.insert(tp, result);
            }
            // Partitions asked for but left out of the answer have no offset.
            if let Some(asked) = &specs[group].topic_partitions {
                for tp in asked {
                    out.entry(tp.clone()).or_insert(Ok(None));
                }
            }
            Ok(vec![(group.clone(), GroupAnswer::Done(Ok(out)))])
        };
        let results = self.group_operation(
            "list_consumer_group_offsets",
            &ids,
            timeout,
            ApiKey::OffsetFetch,
            Batching::PerGroup,
            CoordinatorType::Group,
            &build,
            &parse,
        );
        Ok(ids
            .into_iter()
            .zip(results)
            .map(|(group_id, result)| ListConsumerGroupOffsetsResult { group_id, result })
            .collect())
    }

    /// Commits offsets for a group that has no active members (OffsetCommit
    /// without a generation, as Java's `alterConsumerGroupOffsets`): a group
    /// with members fails with UNKNOWN_MEMBER_ID. Per-partition results; the
    /// outer `Err` only for a request that cannot be sent.
    pub fn alter_consumer_group_offsets(
        &mut self,
        group_id: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        timeout: Duration,
    ) -> Result<GroupOffsetsResult, AdminError> {
        let ids = group_id_list(&[group_id])?;
        let partitions: Vec<TopicPartition> = offsets.iter().map(|(tp, _)| tp.clone()).collect();
        validate_partitions(&partitions, "alter_consumer_group_offsets")?;
        if let Some((tp, o)) = offsets.iter().find(|(_, o)| o.offset < 0) {
            return Err(AdminError::Config(format!(
                "alter_consumer_group_offsets: negative offset {} for {tp}",
                o.offset
            )));
        }
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, o) in offsets {
            topics
                .entry(tp.topic.as_str())
                .or_default()
                .push(OffsetCommitRequestPartition {
                    partition_index: tp.partition,
                    committed_offset: o.offset,
                    committed_leader_epoch: o.leader_epoch.unwrap_or(-1),
                    committed_metadata: Some(o.metadata.clone()),
                    ..Default::default()
                });
        }
        let build = |groups: &[String], _version: i16| {
            RequestBody::OffsetCommit(OffsetCommitRequest {
                group_id: groups[0].clone(),
                generation_id_or_member_epoch: -1,
                member_id: String::new(),
                group_instance_id: None,
                retention_time_ms: -1,
                topics: topics
                    .iter()
                    .map(|(name, partitions)| OffsetCommitRequestTopic {
                        name: name.to_string(),
                        partitions: partitions.clone(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        };
        let parse = |response: &ClientResponse, groups: &[String]| {
            let ResponseBody::OffsetCommit(body) = &response.body else {
                return Err(unexpected(response, "OffsetCommit"));
            };
            let group = &groups[0];
            let answer = per_partition(
                group,
                body.topics.iter().flat_map(|t| {
                    t.partitions.iter().map(|p| {
                        (
                            TopicPartition::new(t.name.clone(), p.partition_index),
                            p.error_code,
                        )
                    })
                }),
            );
            Ok(vec![(group.clone(), complete(group, answer, &partitions))])
        };
        let result = self
            .group_operation(
                "alter_consumer_group_offsets",
                &ids,
                timeout,
                ApiKey::OffsetCommit,
                Batching::PerGroup,
                CoordinatorType::Group,
                &build,
                &parse,
            )
            .pop()
            .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into())));
        Ok(GroupOffsetsResult {
            group_id: group_id.to_string(),
            result,
        })
    }

    /// Deletes a group's committed offsets of some partitions (OffsetDelete,
    /// Java's `deleteConsumerGroupOffsets`). A partition of a topic the group
    /// is still subscribed to fails with GROUP_SUBSCRIBED_TO_TOPIC; a group
    /// that does not exist fails as a whole with GROUP_ID_NOT_FOUND.
    pub fn delete_consumer_group_offsets(
        &mut self,
        group_id: &str,
        partitions: &[TopicPartition],
        timeout: Duration,
    ) -> Result<GroupOffsetsResult, AdminError> {
        let ids = group_id_list(&[group_id])?;
        validate_partitions(partitions, "delete_consumer_group_offsets")?;
        let topics = by_topic(partitions.iter());
        let build = |groups: &[String], _version: i16| {
            RequestBody::OffsetDelete(OffsetDeleteRequest {
                group_id: groups[0].clone(),
                topics: topics
                    .iter()
                    .map(|(name, parts)| OffsetDeleteRequestTopic {
                        name: name.to_string(),
                        partitions: parts
                            .iter()
                            .map(|&p| OffsetDeleteRequestPartition {
                                partition_index: p,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        };
        let parse = |response: &ClientResponse, groups: &[String]| {
            let ResponseBody::OffsetDelete(body) = &response.body else {
                return Err(unexpected(response, "OffsetDelete"));
            };
            let group = &groups[0];
            let code = ErrorCode::from_i16(body.error_code);
            if code.is_error() {
                return Ok(vec![(group.clone(), group_failure(group, code))]);
            }
            let answer = per_partition(
                group,
                body.topics.iter().flat_map(|t| {
                    t.partitions.iter().map(|p| {
                        (
                            TopicPartition::new(t.name.clone(), p.partition_index),
                            p.error_code,
                        )
                    })
                }),
            );
            Ok(vec![(group.clone(), complete(group, answer, partitions))])
        };
        let result = self
            .group_operation(
                "delete_consumer_group_offsets",
                &ids,
                timeout,
                ApiKey::OffsetDelete,
                Batching::PerGroup,
                CoordinatorType::Group,
                &build,
                &parse,
            )
            .pop()
            .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into())));
        Ok(GroupOffsetsResult {
            group_id: group_id.to_string(),
            result,
        })
    }

    /// Removes static members (by `group.instance.id`) from a group with
    /// LeaveGroup v3+, as Java's `removeMembersFromConsumerGroup`: the group
    /// rebalances without waiting for their session timeout. Per-member
    /// results (UNKNOWN_MEMBER_ID for an instance id that is not a member);
    /// the outer `Err` only for a request that cannot be sent.
    pub fn remove_members_from_consumer_group(
        &mut self,
        group_id: &str,
        members: &[MemberToRemove],
        timeout: Duration,
    ) -> Result<RemoveMembersFromConsumerGroupResult, AdminError> {
        let ids = group_id_list(&[group_id])?;
        if members.is_empty() || members.iter().any(|m| m.group_instance_id.is_empty()) {
            return Err(AdminError::Config(
                "remove_members_from_consumer_group: give at least one member, each with a \
                 non-empty group.instance.id"
                    .to_string(),
            ));
        }
        let build = |groups: &[String], _version: i16| {
            RequestBody::LeaveGroup(LeaveGroupRequest {
                group_id: groups[0].clone(),
                members: members
                    .iter()
                    .map(|m| MemberIdentity {
                        // The coordinator finds a static member by its
                        // instance id; the unknown member id says so.
                        member_id: "".to_string(),
                        group_instance_id: Some(m.group_instance_id.clone()),
                        reason: m.reason.clone(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        };
        let parse = |response: &ClientResponse, groups: &[String]| {
            let ResponseBody::LeaveGroup(body) = &response.body else {
                return Err(unexpected(response, "LeaveGroup"));
            };
            let group = &groups[0];
            if response.api_version < 3 {
                return Err(AdminError::unsupported("LeaveGroup v3+", response.node));
            }
            let code = ErrorCode::from_i16(body.error_code);
            if code.is_error() {
                return Ok(vec![(group.clone(), group_failure(group, code))]);
            }
            let mut out: BTreeMap<String, Result<(), AdminError>> = BTreeMap::new();
            for m in &body.members {
                let code = ErrorCode::from_i16(m.error_code);
                let Some(instance) = m.group_instance_id.clone() else {
                    continue;
                };
                if coordinator_error(code) {
                    return Ok(vec![(group.clone(), GroupAnswer::Retry)]);
                }
                let result = if code.is_error() {
                    Err(AdminError::kafka(
                        code,
                        None,
                        format!("member '{instance}' of {}", group_resource(group)),
                    ))
                } else {
                    Ok(())
                };
                out.insert(instance, result);
            }
            for m in members {
                out.entry(m.group_instance_id.clone()).or_insert_with(|| {
                    Err(AdminError::Protocol(format!(
                        "node {} did not answer for member '{}' of {}",
                        response.node,
                        m.group_instance_id,
                        group_resource(group)
                    )))
                });
            }
            Ok(vec![(group.clone(), GroupAnswer::Done(Ok(out)))])
        };
        let result = self
            .group_operation(
                "remove_members_from_consumer_group",
                &ids,
                timeout,
                ApiKey::LeaveGroup,
                Batching::PerGroup,
                CoordinatorType::Group,
                &build,
                &parse,
            )
            .pop()
            .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into())));
        Ok(RemoveMembersFromConsumerGroupResult {
            group_id: group_id.to_string(),
            result,
        })
    }
}

/// A group-level error code's answer: retried if retriable, else the
/// group's error.
fn group_failure<T>(group: &str, code: ErrorCode) -> GroupAnswer<T> {
    if code.is_retriable() {
        tracing::warn!(group, error = %code, "admin: retriable group error; retrying");
        GroupAnswer::Retry
    } else {
        GroupAnswer::Done(Err(AdminError::kafka(code, None, group_resource(group))))
    }
}

/// A partition that was sent but is missing from the answer is an error of
/// that partition, not of the group.
fn complete(
    group: &str,
    answer: GroupAnswer<PartitionResults<()>>,
    sent: &[TopicPartition],
) -> GroupAnswer<PartitionResults<()>> {
    match answer {
        GroupAnswer::Done(Ok(mut out)) => {
            for tp in sent {
                out.entry(tp.clone()).or_insert_with(|| {
                    Err(AdminError::Protocol(format!(
                        "the coordinator did not answer for partition {tp} of {}",
                        group_resource(group)
                    )))
                });
            }
            GroupAnswer::Done(Ok(out))
        }
        other => other,
    }
}
