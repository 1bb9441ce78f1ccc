//! `list_offsets`: earliest, latest or by-timestamp offsets from each
//! partition's leader.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use prozess_network::{KafkaClient, NodeId, TopicPartition};
use prozess_protocol::messages::list_offsets::request::{ListOffsetsPartition, ListOffsetsTopic};
use prozess_protocol::messages::ListOffsetsRequest;
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::driver::{remaining_ms, unexpected, Call, Target, Topics};
use super::{AdminClient, AdminError, ListOffsetsResult, ListOffsetsResultInfo, OffsetSpec};

fn partition_resource(tp: &TopicPartition) -> String {
    format!("partition {tp}")
}

impl<C: KafkaClient> AdminClient<C> {
    /// Looks up offsets: for each partition the earliest, the latest (log
    /// end) or the first at or after a timestamp, asked of the partition's
    /// leader (read_uncommitted). One result per partition, in input order
    /// (a partition named twice is asked once, with its first spec). Uses
    /// `default.api.timeout`.
    pub fn list_offsets(
        &mut self,
        specs: &[(TopicPartition, OffsetSpec)],
    ) -> Result<Vec<ListOffsetsResult>, AdminError> {
        const OP: &str = "list_offsets";
        let timeout = self.config.default_api_timeout;
        let deadline = Instant::now() + timeout;
        let mut wanted: BTreeMap<TopicPartition, OffsetSpec> = BTreeMap::new();
        for (tp, spec) in specs {
            if tp.topic.is_empty() || tp.partition < 0 {
                return Err(AdminError::Config(format!("invalid partition {tp}")));
            }
            wanted.entry(tp.clone()).or_insert(*spec);
        }
        let mut results: HashMap<TopicPartition, Result<ListOffsetsResultInfo, AdminError>> =
            HashMap::new();
        let mut pending: Vec<TopicPartition> = wanted.keys().cloned().collect();
        while !pending.is_empty() {
            let topics: Vec<String> = {
                let mut t: Vec<String> = pending.iter().map(|tp| tp.topic.clone()).collect();
                t.dedup();
                t
            };
            let mut retry = Vec::new();
            match self.fetch_metadata_retrying(OP, Topics::Some(&topics), deadline, timeout) {
                Err(e) => {
                    for tp in pending.drain(..) {
                        results.insert(tp, Err(e.clone()));
                    }
                }
                Ok(snapshot) => {
                    let mut by_leader: BTreeMap<NodeId, Vec<TopicPartition>> = BTreeMap::new();
                    for tp in pending.drain(..) {
                        let topic = snapshot.topics.iter().find(|t| t.name == tp.topic);
                        let unknown = || {
                            AdminError::kafka(
                                ErrorCode::UnknownTopicOrPartition,
                                None,
                                partition_resource(&tp),
                            )
                        };
                        let Some(topic) = topic else {
                            results.insert(tp.clone(), Err(unknown()));
                            continue;
                        };
                        if topic.error == ErrorCode::UnknownTopicOrPartition {
                            results.insert(tp.clone(), Err(unknown()));
                            continue;
                        }
                        if topic.error.is_error() && !topic.error.is_retriable() {
                            let e = AdminError::kafka(topic.error, None, partition_resource(&tp));
                            results.insert(tp, Err(e));
                            continue;
                        }
                        match topic.partition(tp.partition) {
                            None if !topic.partitions.is_empty() => {
                                results.insert(tp.clone(), Err(unknown()));
                            }
                            Some(p) if p.leader.is_some() => {
                                let leader = p.leader.unwrap_or_default();
                                by_leader.entry(leader).or_default().push(tp);
                            }
                            // No leader (yet): ask again after a refresh.
                            _ => retry.push(tp),
                        }
                    }
                    let batches: Vec<(NodeId, Vec<TopicPartition>)> =
                        by_leader.into_iter().collect();
                    let calls = batches
                        .iter()
                        .map(|(leader, tps)| {
                            let wanted = &wanted;
                            Call::new(Target::Node(*leader), ApiKey::ListOffsets, move |_v| {
                                list_offsets_request(tps, wanted, remaining_ms(deadline))
                            })
                        })
                        .collect();
                    let responses = self.execute(OP, calls, deadline, timeout);
                    for ((leader, tps), response) in batches.into_iter().zip(responses) {
                        match response {
                            Ok(r) => {
                                let ResponseBody::ListOffsets(body) = &r.body else {
                                    return Err(unexpected(&r, "ListOffsets"));
                                };
                                for tp in tps {
                                    let p = body
                                        .topics
                                        .iter()
                                        .filter(|t| t.name == tp.topic)
                                        .flat_map(|t| t.partitions.iter())
                                        .find(|p| p.partition_index == tp.partition);
                                    let Some(p) = p else {
                                        let e = AdminError::Protocol(format!(
                                            "node {leader}'s ListOffsets response does not mention {tp}"
                                        ));
                                        results.insert(tp, Err(e));
                                        continue;
                                    };
                                    let code = ErrorCode::from_i16(p.error_code);
                                    if !code.is_error() {
                                        let info = ListOffsetsResultInfo {
                                            offset: p.offset,
                                            timestamp: p.timestamp,
                                            leader_epoch: (p.leader_epoch >= 0)
                                                .then_some(p.leader_epoch),
                                        };
                                        results.insert(tp, Ok(info));
                                    } else if code.is_retriable() {
                                        tracing::debug!(partition = %tp, error = %code, "admin: retriable ListOffsets error; retrying");
                                        retry.push(tp);
                                    } else {
                                        let e =
                                            AdminError::kafka(code, None, partition_resource(&tp));
                                        results.insert(tp, Err(e));
                                    }
                                }
                            }
                            Err(e) if e.is_retriable() && !e.is_timeout() => {
                                tracing::debug!(node = leader, error = %e, "admin: ListOffsets failed; retrying");
                                retry.extend(tps);
                            }
                            Err(e) => {
                                for tp in tps {
                                    results.insert(tp, Err(e.clone()));
                                }
                            }
                        }
                    }
                }
            }
            pending = retry;
            self.expire_or_back_off(OP, timeout, deadline, &mut pending, &mut results, |tp| {
                let waiting_for = format!("the offset of {tp} from its leader");
                (tp, waiting_for)
            });
        }
        Ok(specs
            .iter()
            .filter(|(tp, _)| wanted.remove(tp).is_some())
            .map(|(tp, _)| ListOffsetsResult {
                partition: tp.clone(),
                result: results
                    .remove(tp)
                    .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into()))),
            })
            .collect())
    }
}

/// One ListOffsets request for `tps` (grouped by topic). The layout is the
/// same in every version prozess speaks (1-10); fields a version lacks are
/// not written.
fn list_offsets_request(
    tps: &[TopicPartition],
    specs: &BTreeMap<TopicPartition, OffsetSpec>,
    timeout_ms: i32,
) -> RequestBody {
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for tp in tps {
        let spec = specs.get(tp).copied().unwrap_or(OffsetSpec::Latest);
        topics
            .entry(tp.topic.as_str())
            .or_default()
            .push(ListOffsetsPartition {
                partition_index: tp.partition,
                // -1: no fencing by leader epoch; the admin client has no
                // epoch of its own to compare.
                current_leader_epoch: -1,
                timestamp: spec.wire_timestamp(),
                ..Default::default()
            });
    }
    RequestBody::ListOffsets(ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 0,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| ListOffsetsTopic {
                name: name.to_string(),
                partitions,
                ..Default::default()
            })
            .collect(),
        timeout_ms,
        ..Default::default()
    })
}
