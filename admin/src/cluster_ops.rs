//! Cluster operations: describe_log_dirs, elect_leaders, describe_producers,
//! list_transactions, describe_transactions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use prozess_network::{ClientResponse, KafkaClient, NodeId, TopicPartition};
use prozess_protocol::messages::describe_producers::request::TopicRequest;
use prozess_protocol::messages::elect_leaders::request::TopicPartitions;
use prozess_protocol::messages::{
    DescribeLogDirsRequest, DescribeProducersRequest, DescribeTransactionsRequest,
    ElectLeadersRequest, ListTransactionsRequest,
};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::driver::{remaining_ms, unexpected, Call, Target, Topics};
use super::groups::{group_id_list, Batching, CoordinatorType, GroupAnswer};
use super::records::route_to_leaders;
use super::{AdminClient, AdminError};

/// One replica in a log directory (Java's `ReplicaInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// Bytes on disk.
    pub size: i64,
    /// How far it lags behind the log end (0 for a leader).
    pub offset_lag: i64,
    /// Whether it is a future replica (being moved between directories).
    pub is_future: bool,
}

/// A broker's log directory (Java's `LogDirDescription`).
#[derive(Debug, Clone)]
pub struct LogDirDescription {
    /// Its path.
    pub path: String,
    /// The directory's error (KAFKA_STORAGE_ERROR for an offline one).
    pub error: Option<AdminError>,
    /// The replicas it holds.
    pub replicas: BTreeMap<TopicPartition, ReplicaInfo>,
    /// Size of the volume (DescribeLogDirs v4+).
    pub total_bytes: Option<i64>,
    /// Free space on the volume (DescribeLogDirs v4+).
    pub usable_bytes: Option<i64>,
}

/// Which leader [`AdminClient::elect_leaders`] elects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// The first replica in the assignment, when it is in sync.
    Preferred,
    /// Any live replica, even out of sync (may lose data).
    Unclean,
}

/// An active producer of a partition (Java's `ProducerState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    /// The producer id.
    pub producer_id: i64,
    /// Its epoch.
    pub producer_epoch: i32,
    /// The last sequence written (-1: none).
    pub last_sequence: i32,
    /// The last write's timestamp (ms).
    pub last_timestamp: i64,
    /// The coordinator epoch of its last transaction marker, if any.
    pub coordinator_epoch: Option<i32>,
    /// The first offset of its open transaction, if one is open.
    pub current_transaction_start_offset: Option<i64>,
}

/// A transaction as ListTransactions shows it (Java's `TransactionListing`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TransactionListing {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// "Ongoing", "CompleteCommit", "Empty", ...
    pub state: String,
}

/// A transaction's details (Java's `TransactionDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    /// The coordinator that owns it.
    pub coordinator: NodeId,
    /// Its state.
    pub state: String,
    /// Producer id and epoch.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms`.
    pub transaction_timeout_ms: i32,
    /// When the open transaction started (ms), if one is open.
    pub transaction_start_time_ms: Option<i64>,
    /// The partitions in the open transaction.
    pub topic_partitions: BTreeSet<TopicPartition>,
}

/// A transactional id and its description or error.
pub type DescribeTransactionResult = (String, Result<TransactionDescription, AdminError>);

fn kafka(code: i16, message: Option<String>, resource: String) -> Option<AdminError> {
    let code = ErrorCode::from_i16(code);
    code.is_error()
        .then(|| AdminError::kafka(code, message, resource))
}

impl<C: KafkaClient> AdminClient<C> {
    /// Each broker's log directories with their replicas (DescribeLogDirs
    /// to each broker, all partitions). One result per broker, in input
    /// order.
    pub fn describe_log_dirs(
        &mut self,
        brokers: &[NodeId],
        timeout: Duration,
    ) -> Vec<(NodeId, Result<Vec<LogDirDescription>, AdminError>)> {
        const OP: &str = "describe_log_dirs";
        let deadline = Instant::now() + timeout;
        if let Err(e) = self.fetch_metadata_retrying(OP, Topics::None, deadline, timeout) {
            return brokers.iter().map(|&b| (b, Err(e.clone()))).collect();
        }
        let calls = brokers
            .iter()
            .map(|&b| {
                Call::new(Target::Node(b), ApiKey::DescribeLogDirs, |_| {
                    RequestBody::DescribeLogDirs(DescribeLogDirsRequest {
                        topics: None,
                        ..Default::default()
                    })
                })
            })
            .collect();
        let responses = self.execute(OP, calls, deadline, timeout);
        brokers
            .iter()
            .zip(responses)
            .map(|(&b, r)| (b, r.and_then(|r| log_dirs(&r, b))))
            .collect()
    }

    /// Elects leaders for partitions (all partitions when `None`) at the
    /// controller. Per partition: `Ok` when elected, ELECTION_NOT_NEEDED when
    /// the preferred leader leads already, or another error.
    pub fn elect_leaders(
        &mut self,
        election: ElectionType,
        partitions: Option<&[TopicPartition]>,
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Result<(), AdminError>>, AdminError> {
        const OP: &str = "elect_leaders";
        let deadline = Instant::now() + timeout;
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions.unwrap_or_default() {
            topics
                .entry(tp.topic.as_str())
                .or_default()
                .push(tp.partition);
        }
        let response = loop {
            let controller = self.controller(OP, deadline, timeout)?;
            let call = Call::new(controller, ApiKey::ElectLeaders, |_| {
                RequestBody::ElectLeaders(ElectLeadersRequest {
                    election_type: match election {
                        ElectionType::Preferred => 0,
                        ElectionType::Unclean => 1,
                    },
                    topic_partitions: partitions.map(|_| {
                        topics
                            .iter()
                            .map(|(t, p)| TopicPartitions {
                                topic: t.to_string(),
                                partitions: p.clone(),
                                ..Default::default()
                            })
                            .collect()
                    }),
                    timeout_ms: remaining_ms(deadline),
                    ..Default::default()
                })
            });
            match self.execute_one(OP, call, deadline, timeout) {
                Ok(r) => {
                    let ResponseBody::ElectLeaders(body) = &r.body else {
                        return Err(unexpected(&r, "ElectLeaders"));
                    };
                    let code = ErrorCode::from_i16(body.error_code);
                    if code == ErrorCode::NotController && Instant::now() < deadline {
                        self.backoff(deadline);
                        continue;
                    }
                    if let Some(e) = kafka(body.error_code, None, "ElectLeaders".into()) {
                        return Err(e);
                    }
                    break r;
                }
                Err(e) if e.is_retriable() && !e.is_timeout() && Instant::now() < deadline => {
                    tracing::warn!(error = %e, "admin: ElectLeaders failed; retrying");
                    self.backoff(deadline);
                }
                Err(e) => return Err(e),
            }
        };
        let ResponseBody::ElectLeaders(body) = &response.body else {
            return Err(unexpected(&response, "ElectLeaders"));
        };
        let mut out = BTreeMap::new();
        for t in &body.replica_election_results {
            for p in &t.partition_result {
                let tp = TopicPartition::new(t.topic.clone(), p.partition_id);
                let result = match kafka(
                    p.error_code,
                    p.error_message.clone(),
                    format!("partition {tp}"),
                ) {
                    Some(e) => Err(e),
                    None => Ok(()),
                };
                out.insert(tp, result);
            }
        }
        Ok(out)
    }

    /// The active producers of partitions (DescribeProducers to each
    /// partition's leader, as known from one Metadata request). Per
    /// partition; one without a leader fails with LEADER_NOT_AVAILABLE.
    pub fn describe_producers(
        &mut self,
        partitions: &[TopicPartition],
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Result<Vec<ProducerState>, AdminError>>, AdminError> {
        const OP: &str = "describe_producers";
        let deadline = Instant::now() + timeout;
        let topics: Vec<String> = partitions
            .iter()
            .map(|tp| tp.topic.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let snapshot =
            self.fetch_metadata_retrying(OP, Topics::Some(&topics), deadline, timeout)?;
        let routing = route_to_leaders(&snapshot, partitions.iter().cloned());
        let mut out: BTreeMap<TopicPartition, Result<Vec<ProducerState>, AdminError>> = routing
            .failed
            .into_iter()
            .map(|(tp, e)| (tp, Err(e)))
            .collect();
        for tp in routing.retry {
            let e = AdminError::kafka(
                ErrorCode::LeaderNotAvailable,
                None,
                format!("partition {tp}"),
            );
            out.insert(tp, Err(e));
        }
        let batches: Vec<(NodeId, Vec<TopicPartition>)> = routing.by_leader.into_iter().collect();
        let calls = batches
            .iter()
            .map(|(leader, tps)| {
                Call::new(
                    Target::Node(*leader),
                    ApiKey::DescribeProducers,
                    move |_| {
                        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                        for tp in tps {
                            topics
                                .entry(tp.topic.as_str())
                                .or_default()
                                .push(tp.partition);
                        }
                        RequestBody::DescribeProducers(DescribeProducersRequest {
                            topics: topics
                                .into_iter()
                                .map(|(name, partition_indexes)| TopicRequest {
                                    name: name.to_string(),
                                    partition_indexes,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                    },
                )
            })
            .collect();
        let responses = self.execute(OP, calls, deadline, timeout);
        for ((_, tps), response) in batches.into_iter().zip(responses) {
            match response {
                Err(e) => {
                    for tp in tps {
                        out.insert(tp, Err(e.clone()));
                    }
                }
                Ok(r) => {
                    let ResponseBody::DescribeProducers(body) = &r.body else {
                        return Err(unexpected(&r, "DescribeProducers"));
                    };
                    for t in &body.topics {
                        for p in &t.partitions {
                            let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                            let result = match kafka(
                                p.error_code,
                                p.error_message.clone(),
                                format!("partition {tp}"),
                            ) {
                                Some(e) => Err(e),
                                None => Ok(p
                                    .active_producers
                                    .iter()
                                    .map(|s| ProducerState {
                                        producer_id: s.producer_id,
                                        producer_epoch: s.producer_epoch,
                                        last_sequence: s.last_sequence,
                                        last_timestamp: s.last_timestamp,
                                        coordinator_epoch: (s.coordinator_epoch >= 0)
                                            .then_some(s.coordinator_epoch),
                                        current_transaction_start_offset: (s
                                            .current_txn_start_offset
                                            >= 0)
                                            .then_some(s.current_txn_start_offset),
                                    })
                                    .collect()),
                            };
                            out.insert(tp, result);
                        }
                    }
                    for tp in tps {
                        out.entry(tp.clone()).or_insert_with(|| {
                            Err(AdminError::Protocol(format!(
                                "node {} did not answer for partition {tp}",
                                r.node
                            )))
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// The transactions of every broker's transaction coordinator, sorted,
    /// optionally only those in `states` ("Ongoing", ...; empty: all).
    pub fn list_transactions(
        &mut self,
        states: &[&str],
        timeout: Duration,
    ) -> Result<Vec<TransactionListing>, AdminError> {
        const OP: &str = "list_transactions";
        let deadline = Instant::now() + timeout;
        let snapshot = self.fetch_metadata_retrying(OP, Topics::None, deadline, timeout)?;
        let nodes: Vec<NodeId> = snapshot.brokers.iter().map(|b| b.id).collect();
        let calls = nodes
            .iter()
            .map(|&n| {
                Call::new(Target::Node(n), ApiKey::ListTransactions, |_| {
                    RequestBody::ListTransactions(ListTransactionsRequest {
                        state_filters: states.iter().map(|s| s.to_string()).collect(),
                        ..Default::default()
                    })
                })
            })
            .collect();
        let mut out = BTreeSet::new();
        for (node, r) in nodes
            .into_iter()
            .zip(self.execute(OP, calls, deadline, timeout))
        {
            let r = r?;
            let ResponseBody::ListTransactions(body) = &r.body else {
                return Err(unexpected(&r, "ListTransactions"));
            };
            if let Some(e) = kafka(
                body.error_code,
                None,
                format!("ListTransactions on node {node}"),
            ) {
                return Err(e);
            }
            for t in &body.transaction_states {
                out.insert(TransactionListing {
                    transactional_id: t.transactional_id.clone(),
                    producer_id: t.producer_id,
                    state: t.transaction_state.clone(),
                });
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Describes transactions at their coordinators (FindCoordinator for
    /// transactional ids, then DescribeTransactions). One result per
    /// distinct id, in input order; coordinator moves are retried.
    pub fn describe_transactions<S: AsRef<str>>(
        &mut self,
        transactional_ids: &[S],
        timeout: Duration,
    ) -> Result<Vec<DescribeTransactionResult>, AdminError> {
        let ids = group_id_list(transactional_ids)?;
        let build = |ids: &[String], _: i16| {
            RequestBody::DescribeTransactions(DescribeTransactionsRequest {
                transactional_ids: ids.to_vec(),
                ..Default::default()
            })
        };
        let parse = |r: &ClientResponse, _: &[String]| {
            let ResponseBody::DescribeTransactions(body) = &r.body else {
                return Err(unexpected(r, "DescribeTransactions"));
            };
            Ok(body
                .transaction_states
                .iter()
                .map(|t| {
                    let code = ErrorCode::from_i16(t.error_code);
                    let answer = if code.is_retriable() {
                        GroupAnswer::Retry
                    } else if code.is_error() {
                        GroupAnswer::Done(Err(AdminError::kafka(
                            code,
                            None,
                            format!("transactional id '{}'", t.transactional_id),
                        )))
                    } else {
                        GroupAnswer::Done(Ok(TransactionDescription {
                            coordinator: r.node,
                            state: t.transaction_state.clone(),
                            producer_id: t.producer_id,
                            producer_epoch: t.producer_epoch,
                            transaction_timeout_ms: t.transaction_timeout_ms,
                            transaction_start_time_ms: (t.transaction_start_time_ms >= 0)
                                .then_some(t.transaction_start_time_ms),
                            topic_partitions: t
                                .topics
                                .iter()
                                .flat_map(|tp| {
                                    tp.partitions
                                        .iter()
                                        .map(|&p| TopicPartition::new(tp.topic.clone(), p))
                                })
                                .collect(),
                        }))
                    };
                    (t.transactional_id.clone(), answer)
                })
                .collect())
        };
        let results = self.group_operation(
            "describe_transactions",
            &ids,
            timeout,
            ApiKey::DescribeTransactions,
            Batching::PerCoordinator,
            CoordinatorType::Transaction,
            &build,
            &parse,
        );
        Ok(ids.into_iter().zip(results).collect())
    }
}

fn log_dirs(r: &ClientResponse, broker: NodeId) -> Result<Vec<LogDirDescription>, AdminError> {
    let ResponseBody::DescribeLogDirs(body) = &r.body else {
        return Err(unexpected(r, "DescribeLogDirs"));
    };
    if let Some(e) = kafka(
        body.error_code,
        None,
        format!("the log dirs of broker {broker}"),
    ) {
        return Err(e);
    }
    Ok(body
        .results
        .iter()
        .map(|d| LogDirDescription {
            path: d.log_dir.clone(),
            error: kafka(
                d.error_code,
                None,
                format!("log dir {} of broker {broker}", d.log_dir),
            ),
            replicas: d
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| {
                        (
                            TopicPartition::new(t.name.clone(), p.partition_index),
                            ReplicaInfo {
                                size: p.partition_size,
                                offset_lag: p.offset_lag,
                                is_future: p.is_future_key,
                            },
                        )
                    })
                })
                .collect(),
            total_bytes: (r.api_version >= 4 && d.total_bytes >= 0).then_some(d.total_bytes),
            usable_bytes: (r.api_version >= 4 && d.usable_bytes >= 0).then_some(d.usable_bytes),
        })
        .collect())
}
