//! `delete_records`: move partitions' log start offsets forward, asked of
//! each partition's leader.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use prozess_network::{KafkaClient, MetadataSnapshot, NodeId, TopicPartition};
use prozess_protocol::messages::delete_records::request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use prozess_protocol::messages::DeleteRecordsRequest;
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::driver::{remaining_ms, unexpected, Call, Target, Topics};
use super::{AdminClient, AdminError};

/// The outcome of `delete_records` for one partition.
#[derive(Debug, Clone)]
pub struct DeleteRecordsResult {
    /// The partition.
    pub partition: TopicPartition,
    /// The partition's low watermark (its first offset) after the deletion,
    /// or why nothing was deleted.
    pub result: Result<i64, AdminError>,
}

fn partition_resource(tp: &TopicPartition) -> String {
    format!("partition {tp}")
}

/// Where each partition of `pending` goes according to `snapshot`: the
/// partitions grouped by leader, those to ask again after a refresh (no
/// leader yet), and those that failed for good (unknown topic or partition,
/// a non-retriable topic error).
pub(super) struct Routing {
    pub by_leader: BTreeMap<NodeId, Vec<TopicPartition>>,
    pub retry: Vec<TopicPartition>,
    pub failed: Vec<(TopicPartition, AdminError)>,
}

/// Routes partitions to their leaders.
pub(super) fn route_to_leaders(
    snapshot: &MetadataSnapshot,
    pending: impl IntoIterator<Item = TopicPartition>,
) -> Routing {
    let mut routing = Routing {
        by_leader: BTreeMap::new(),
        retry: Vec::new(),
        failed: Vec::new(),
    };
    for tp in pending {
        let unknown = || {
            AdminError::kafka(
                ErrorCode::UnknownTopicOrPartition,
                None,
                partition_resource(&tp),
            )
        };
        let topic = snapshot.topics.iter().find(|t| t.name == tp.topic);
        let Some(topic) = topic else {
            let e = unknown();
            routing.failed.push((tp, e));
            continue;
        };
        if topic.error == ErrorCode::UnknownTopicOrPartition {
            let e = unknown();
            routing.failed.push((tp, e));
            continue;
        }
        if topic.error.is_error() && !topic.error.is_retriable() {
            let e = AdminError::kafka(topic.error, None, partition_resource(&tp));
            routing.failed.push((tp, e));
            continue;
        }
        match topic.partition(tp.partition) {
            None if !topic.partitions.is_empty() => {
                let e = unknown();
                routing.failed.push((tp, e));
            }
            Some(p) if p.leader.is_some() => {
                let leader = p.leader.unwrap_or_default();
                routing.by_leader.entry(leader).or_default().push(tp);
            }
            // No leader (yet): ask again after a refresh.
            _ => routing.retry.push(tp),
        }
    }
    routing
}

impl<C: KafkaClient> AdminClient<C> {
    /// Deletes the records before the given offset of each partition (moves
    /// its log start offset, the "low watermark", forward), as Java's
    /// `Admin.deleteRecords`. An offset of -1 deletes up to the high
    /// watermark (Java's `RecordsToDelete.beforeOffset(-1)`).
    ///
    /// Each partition is asked of its leader; NOT_LEADER_OR_FOLLOWER,
    /// LEADER_NOT_AVAILABLE and other retriable errors are retried after a
    /// metadata refresh until `timeout`. One result per partition, in input
    /// order, with the new low watermark or the partition's own error
    /// (OFFSET_OUT_OF_RANGE for an offset past the high watermark,
    /// UNKNOWN_TOPIC_OR_PARTITION, ...); one failed partition does not fail
    /// the others. The outer `Err` is for a request that cannot be sent: a
    /// partition named twice, an offset below -1.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use prozess_admin::AdminClient;
    /// use prozess_network::TopicPartition;
    ///
    /// # fn main() -> Result<(), prozess_admin::AdminError> {
    /// let mut admin = AdminClient::from_bootstrap("localhost:9092")?;
    /// let results = admin.delete_records(
    ///     &[(TopicPartition::new("orders", 0), 100), (TopicPartition::new("orders", 1), -1)],
    ///     Duration::from_secs(30),
    /// )?;
    /// for r in results {
    ///     match r.result {
    ///         Ok(low_watermark) => println!("{} now starts at {low_watermark}", r.partition),
    ///         Err(e) => println!("{}: {e}", r.partition),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete_records(
        &mut self,
        records_to_delete: &[(TopicPartition, i64)],
        timeout: Duration,
    ) -> Result<Vec<DeleteRecordsResult>, AdminError> {
        const OP: &str = "delete_records";
        let mut wanted: HashMap<TopicPartition, i64> = HashMap::new();
        for (tp, offset) in records_to_delete {
            if tp.topic.is_empty() || tp.partition < 0 {
                return Err(AdminError::Config(format!("invalid partition {tp}")));
            }
            if *offset < -1 {
                return Err(AdminError::Config(format!(
                    "delete_records: offset {offset} for {tp} is neither an offset nor -1 (the high watermark)"
                )));
            }
            if wanted.insert(tp.clone(), *offset).is_some() {
                return Err(AdminError::Config(format!(
                    "delete_records: partition {tp} is named twice"
                )));
            }
        }
        let deadline = Instant::now() + timeout;
        let mut results: HashMap<TopicPartition, Result<i64, AdminError>> = HashMap::new();
        let mut pending: Vec<TopicPartition> =
            records_to_delete.iter().map(|(tp, _)| tp.clone()).collect();
        while !pending.is_empty() {
            let topics: Vec<String> = {
                let mut seen = HashSet::new();
                pending
                    .iter()
                    .filter(|tp| seen.insert(tp.topic.as_str()))
                    .map(|tp| tp.topic.clone())
                    .collect()
            };
            let mut retry = Vec::new();
            match self.fetch_metadata_retrying(OP, Topics::Some(&topics), deadline, timeout) {
                Err(e) => {
                    for tp in pending.drain(..) {
                        results.insert(tp, Err(e.clone()));
                    }
                }
                Ok(snapshot) => {
                    let routing = route_to_leaders(&snapshot, pending.drain(..));
                    retry.extend(routing.retry);
                    for (tp, e) in routing.failed {
                        results.insert(tp, Err(e));
                    }
                    let batches: Vec<(NodeId, Vec<TopicPartition>)> =
                        routing.by_leader.into_iter().collect();
                    let calls = batches
                        .iter()
                        .map(|(leader, tps)| {
                            let wanted = &wanted;
                            Call::new(Target::Node(*leader), ApiKey::DeleteRecords, move |_v| {
                                delete_records_request(tps, wanted, remaining_ms(deadline))
                            })
                        })
                        .collect();
                    let responses = self.execute(OP, calls, deadline, timeout);
                    for ((leader, tps), response) in batches.into_iter().zip(responses) {
                        match response {
                            Ok(r) => {
                                let ResponseBody::DeleteRecords(body) = &r.body else {
                                    return Err(unexpected(&r, "DeleteRecords"));
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
                                            "node {leader}'s DeleteRecords response does not mention {tp}"
                                        ));
                                        results.insert(tp, Err(e));
                                        continue;
                                    };
                                    let code = ErrorCode::from_i16(p.error_code);
                                    if !code.is_error() {
                                        results.insert(tp, Ok(p.low_watermark));
                                    } else if code.is_retriable() {
                                        tracing::warn!(partition = %tp, node = leader, error = %code, "admin: retriable DeleteRecords error; retrying");
                                        retry.push(tp);
                                    } else {
                                        let e =
                                            AdminError::kafka(code, None, partition_resource(&tp));
                                        results.insert(tp, Err(e));
                                    }
                                }
                            }
                            Err(e) if e.is_retriable() && !e.is_timeout() => {
                                tracing::warn!(node = leader, error = %e, "admin: DeleteRecords failed; retrying");
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
                let waiting_for = format!("the deletion of records of {tp} by its leader");
                (tp, waiting_for)
            });
        }
        Ok(records_to_delete
            .iter()
            .map(|(tp, _)| DeleteRecordsResult {
                partition: tp.clone(),
                result: results
                    .remove(tp)
                    .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into()))),
            })
            .collect())
    }
}

/// One DeleteRecords request for `tps` (grouped by topic, in first-seen
/// order). Its layout is the same in versions 0-2.
fn delete_records_request(
    tps: &[TopicPartition],
    offsets: &HashMap<TopicPartition, i64>,
    timeout_ms: i32,
) -> RequestBody {
    let mut topics: Vec<DeleteRecordsTopic> = Vec::new();
    for tp in tps {
        let partition = DeleteRecordsPartition {
            partition_index: tp.partition,
            offset: offsets.get(tp).copied().unwrap_or(-1),
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.name == tp.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(DeleteRecordsTopic {
                name: tp.topic.clone(),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    RequestBody::DeleteRecords(DeleteRecordsRequest {
        topics,
        timeout_ms,
        ..Default::default()
    })
}
