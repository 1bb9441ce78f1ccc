//! `create_partitions`: add partitions to existing topics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use prozess_network::KafkaClient;
use prozess_protocol::messages::create_partitions::request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use prozess_protocol::messages::CreatePartitionsRequest;
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::driver::{remaining_ms, unexpected, Call};
use super::topics::{classify, validate_names, Answer};
use super::{AdminClient, AdminError};

/// How many partitions a topic should have after `create_partitions`, as
/// Java's `NewPartitions`.
///
/// ```
/// use prozess_admin::NewPartitions;
///
/// // Grow to 6 partitions, placed by the controller.
/// let grow = NewPartitions::increase_to(6);
/// // Grow from 4 to 6 with the replicas of the two new partitions on brokers
/// // 1,2 and 2,3 (the first broker of each list is the preferred leader).
/// let placed = NewPartitions::increase_to_with(6, vec![vec![1, 2], vec![2, 3]]);
/// assert_eq!(placed.assignments.as_ref().map(Vec::len), Some(2));
/// # let _ = grow;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartitions {
    /// The total number of partitions afterwards (not the number added).
    pub total_count: i32,
    /// For each new partition, the broker ids of its replicas, the preferred
    /// leader first; `None` lets the controller place them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

impl NewPartitions {
    /// Grow the topic to `total_count` partitions, placed by the controller.
    pub fn increase_to(total_count: i32) -> Self {
        NewPartitions {
            total_count,
            assignments: None,
        }
    }

    /// Grow the topic to `total_count` partitions with these replica
    /// assignments, one list of broker ids per new partition.
    pub fn increase_to_with(total_count: i32, assignments: Vec<Vec<i32>>) -> Self {
        NewPartitions {
            total_count,
            assignments: Some(assignments),
        }
    }
}

/// The outcome of `create_partitions` for one topic.
#[derive(Debug, Clone)]
pub struct CreatePartitionsResult {
    /// The topic name.
    pub name: String,
    /// `Ok` once every broker shows the topic with its new partition count
    /// and a leader for each partition; else the topic's own error
    /// (INVALID_PARTITIONS when the count is not larger than now,
    /// UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT, ...).
    pub result: Result<(), AdminError>,
}

fn topic_resource(name: &str) -> String {
    format!("topic '{name}'")
}

impl<C: KafkaClient> AdminClient<C> {
    /// Adds partitions to existing topics, as Java's
    /// `Admin.createPartitions`: sent to the controller named by Metadata
    /// (any broker when none is; Kafka 4.0 brokers forward it), asking again
    /// after NOT_CONTROLLER and other retriable errors until `timeout`. Then
    /// waits, within the same timeout, until every broker shows each grown
    /// topic with its new partition count and a leader for each partition,
    /// so a producer started next can use them.
    ///
    /// One result per topic, in input order; one failed topic does not fail
    /// the others. The outer `Err` is for a request that cannot be sent: an
    /// empty or repeated topic name, a total count below 1.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use prozess_admin::{AdminClient, NewPartitions};
    ///
    /// # fn main() -> Result<(), prozess_admin::AdminError> {
    /// let mut admin = AdminClient::from_bootstrap("localhost:9092")?;
    /// let results = admin.create_partitions(
    ///     &[("orders", NewPartitions::increase_to(6))],
    ///     Duration::from_secs(30),
    /// )?;
    /// if let Err(e) = &results[0].result {
    ///     eprintln!("orders: {e}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn create_partitions(
        &mut self,
        new_partitions: &[(&str, NewPartitions)],
        timeout: Duration,
    ) -> Result<Vec<CreatePartitionsResult>, AdminError> {
        const OP: &str = "create_partitions";
        let names: Vec<String> = new_partitions.iter().map(|(n, _)| n.to_string()).collect();
        validate_names(&names)?;
        for (name, p) in new_partitions {
            if p.total_count < 1 {
                return Err(AdminError::Config(format!(
                    "create_partitions: topic '{name}' cannot have {} partitions",
                    p.total_count
                )));
            }
        }
        let deadline = Instant::now() + timeout;
        let mut results: BTreeMap<String, Result<(), AdminError>> = BTreeMap::new();
        let mut pending: Vec<&(&str, NewPartitions)> = new_partitions.iter().collect();
        while !pending.is_empty() {
            let controller = match self.controller(OP, deadline, timeout) {
                Ok(c) => c,
                Err(e) => {
                    for (name, _) in pending.drain(..) {
                        results.insert(name.to_string(), Err(e.clone()));
                    }
                    break;
                }
            };
            let batch = &pending;
            let call = Call::new(controller, ApiKey::CreatePartitions, |_version| {
                RequestBody::CreatePartitions(CreatePartitionsRequest {
                    topics: batch
                        .iter()
                        .map(|(name, p)| create_partitions_topic(name, p))
                        .collect(),
                    timeout_ms: remaining_ms(deadline),
                    validate_only: false,
                    ..Default::default()
                })
            });
            let outcome = self.execute_one(OP, call, deadline, timeout);
            let mut retry = Vec::new();
            match outcome {
                Ok(response) => {
                    let ResponseBody::CreatePartitions(body) = &response.body else {
                        return Err(unexpected(&response, "CreatePartitions"));
                    };
                    for t in pending.drain(..) {
                        let name = t.0;
                        let Some(r) = body.results.iter().find(|r| r.name == name) else {
                            let e = AdminError::Protocol(format!(
                                "the CreatePartitions response does not mention topic '{name}'"
                            ));
                            results.insert(name.to_string(), Err(e));
                            continue;
                        };
                        let code = ErrorCode::from_i16(r.error_code);
                        match classify(name, code, r.error_message.clone(), None) {
                            Answer::Done(res) => {
                                results.insert(name.to_string(), res.map(|_| ()));
                            }
                            Answer::Retry => retry.push(t),
                        }
                    }
                }
                Err(e) if e.is_retriable() && !e.is_timeout() => {
                    tracing::warn!(error = %e, "admin: CreatePartitions failed; retrying");
                    retry = std::mem::take(&mut pending);
                }
                Err(e) => {
                    for (name, _) in pending.drain(..) {
                        results.insert(name.to_string(), Err(e.clone()));
                    }
                }
            }
            pending = retry;
            self.expire_or_back_off(OP, timeout, deadline, &mut pending, &mut results, |t| {
                let waiting_for = format!("the controller to add partitions to topic '{}'", t.0);
                (t.0.to_string(), waiting_for)
            });
        }
        let grown: Vec<(String, i32)> = new_partitions
            .iter()
            .filter(|(name, _)| matches!(results.get(*name), Some(Ok(()))))
            .map(|(name, p)| (name.to_string(), p.total_count))
            .collect();
        for name in self.await_topics(OP, &grown, deadline, timeout, true) {
            let waiting_for = format!(
                "every broker to show {} with its new partitions, each with a leader (they were created)",
                topic_resource(&name)
            );
            let e = AdminError::Timeout {
                operation: OP,
                timeout,
                waiting_for,
            };
            results.insert(name, Err(e));
        }
        Ok(new_partitions
            .iter()
            .map(|(name, _)| CreatePartitionsResult {
                name: name.to_string(),
                result: results
                    .remove(*name)
                    .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into()))),
            })
            .collect())
    }
}

/// The request entry for one topic.
fn create_partitions_topic(name: &str, p: &NewPartitions) -> CreatePartitionsTopic {
    CreatePartitionsTopic {
        name: name.to_string(),
        count: p.total_count,
        assignments: p.assignments.as_ref().map(|a| {
            a.iter()
                .map(|broker_ids| CreatePartitionsAssignment {
                    broker_ids: broker_ids.clone(),
                    ..Default::default()
                })
                .collect()
        }),
        ..Default::default()
    }
}
