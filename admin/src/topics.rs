//! Topic operations: create, delete, list, describe.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use prozess_network::{KafkaClient, MetadataSnapshot, TopicMetadata};
use prozess_protocol::messages::create_topics::request::{CreatableTopic, CreatableTopicConfig};
use prozess_protocol::messages::delete_topics::request::DeleteTopicState;
use prozess_protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody, Uuid};

use super::driver::{metadata_call, remaining_ms, snapshot_of, unexpected, Call, Target, Topics};
use super::{
    AdminClient, AdminError, CreateTopicResult, DeleteTopicResult, NewTopic, PartitionInfo,
    TopicDescription, TopicListing,
};

fn topic_resource(name: &str) -> String {
    format!("topic '{name}'")
}

/// What a topic-changing request answered for one topic.
pub(super) enum Answer {
    Done(Result<Option<Uuid>, AdminError>),
    /// Ask the controller again (after a Metadata refresh).
    Retry,
}

/// Classifies a per-topic error code of CreateTopics/DeleteTopics.
pub(super) fn classify(
    name: &str,
    code: ErrorCode,
    message: Option<String>,
    id: Option<Uuid>,
) -> Answer {
    if !code.is_error() {
        Answer::Done(Ok(id))
    } else if code == ErrorCode::NotController
        // UNKNOWN_TOPIC_OR_PARTITION is retriable for produce and fetch (the
        // metadata may lag), but here it means the topic is not there.
        || (code.is_retriable() && code != ErrorCode::UnknownTopicOrPartition)
    {
        tracing::debug!(topic = name, error = %code, "admin: retriable topic error; retrying");
        Answer::Retry
    } else {
        Answer::Done(Err(AdminError::kafka(code, message, topic_resource(name))))
    }
}

/// Whether a topic's metadata shows it usable: no error, the expected
/// number of partitions (any if `expected` < 1), each with a leader.
fn topic_ready(topic: Option<&TopicMetadata>, expected: i32) -> bool {
    let Some(t) = topic else { return false };
    !t.error.is_error()
        && !t.partitions.is_empty()
        && (expected < 1 || t.partitions.len() == expected as usize)
        && t.partitions.iter().all(|p| p.leader.is_some())
}

/// Whether a topic's metadata shows it gone.
fn topic_gone(topic: Option<&TopicMetadata>) -> bool {
    match topic {
        None => true,
        Some(t) => t.error == ErrorCode::UnknownTopicOrPartition,
    }
}

impl<C: KafkaClient> AdminClient<C> {
    /// Creates topics and waits (up to `timeout` in all) until each is
    /// usable: every broker's metadata shows every partition with a leader.
    ///
    /// One result per topic, in input order: a topic that existed already
    /// gets TOPIC_ALREADY_EXISTS ([`AdminError::is_topic_already_exists`]).
    /// The outer `Err` is for a request that cannot be sent at all (empty or
    /// duplicate names, invalid partition counts).
    pub fn create_topics(
        &mut self,
        topics: &[NewTopic],
        timeout: Duration,
    ) -> Result<Vec<CreateTopicResult>, AdminError> {
        const OP: &str = "create_topics";
        validate_new_topics(topics)?;
        let deadline = Instant::now() + timeout;
        let mut results: BTreeMap<String, Result<Option<Uuid>, AdminError>> = BTreeMap::new();
        let mut pending: Vec<&NewTopic> = topics.iter().collect();
        while !pending.is_empty() {
            let controller = match self.controller(OP, deadline, timeout) {
                Ok(c) => c,
                Err(e) => {
                    for t in pending.drain(..) {
                        results.insert(t.name.clone(), Err(e.clone()));
                    }
                    break;
                }
            };
            let batch: Vec<NewTopic> = pending.iter().map(|t| (*t).clone()).collect();
            let call = Call::new(controller, ApiKey::CreateTopics, |_version| {
                RequestBody::CreateTopics(CreateTopicsRequest {
                    topics: batch.iter().map(creatable).collect(),
                    timeout_ms: remaining_ms(deadline),
                    validate_only: false,
                    ..Default::default()
                })
            });
            let retry: Vec<&NewTopic> = match self.execute_one(OP, call, deadline, timeout) {
                Ok(response) => {
                    let ResponseBody::CreateTopics(body) = &response.body else {
                        return Err(unexpected(&response, "CreateTopics"));
                    };
                    let mut retry = Vec::new();
                    for t in pending.drain(..) {
                        let Some(r) = body.topics.iter().find(|r| r.name == t.name) else {
                            results.insert(
                                t.name.clone(),
                                Err(AdminError::Protocol(format!(
                                    "the CreateTopics response does not mention topic '{}'",
                                    t.name
                                ))),
                            );
                            continue;
                        };
                        let id = (!r.topic_id.is_nil()).then_some(r.topic_id);
                        let code = ErrorCode::from_i16(r.error_code);
                        match classify(&t.name, code, r.error_message.clone(), id) {
                            Answer::Done(res) => {
                                results.insert(t.name.clone(), res);
                            }
                            Answer::Retry => retry.push(t),
                        }
                    }
                    retry
                }
                Err(e) if e.is_retriable() && !e.is_timeout() => {
                    tracing::debug!(error = %e, "admin: CreateTopics failed; retrying");
                    std::mem::take(&mut pending)
                }
                Err(e) => {
                    for t in pending.drain(..) {
                        results.insert(t.name.clone(), Err(e.clone()));
                    }
                    Vec::new()
                }
            };
            pending = retry;
            self.expire_or_back_off(OP, timeout, deadline, &mut pending, &mut results, |t| {
                let waiting_for = format!("the controller to create topic '{}'", t.name);
                (t.name.clone(), waiting_for)
            });
        }
        let created: Vec<(String, i32)> = topics
            .iter()
            .filter(|t| matches!(results.get(&t.name), Some(Ok(_))))
            .map(|t| (t.name.clone(), t.num_partitions))
            .collect();
        let not_ready = self.await_topics(OP, &created, deadline, timeout, true);
        for name in not_ready {
            results.insert(
                name.clone(),
                Err(AdminError::Timeout {
                    operation: OP,
                    timeout,
                    waiting_for: format!(
                        "every broker to show topic '{name}' with a leader for each partition (it was created)"
                    ),
                }),
            );
        }
        Ok(topics
            .iter()
            .map(|t| {
                let r = results
                    .remove(&t.name)
                    .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into())));
                CreateTopicResult {
                    name: t.name.clone(),
                    topic_id: r.as_ref().ok().copied().flatten(),
                    result: r.map(|_| ()),
                }
            })
            .collect())
    }

    /// Creates one topic unless it exists, and waits until it is usable.
    /// TOPIC_ALREADY_EXISTS counts as success (the partition count and
    /// configuration of an existing topic are not checked).
    pub fn ensure_topic(&mut self, topic: &NewTopic, timeout: Duration) -> Result<(), AdminError> {
        let deadline = Instant::now() + timeout;
        let result = self
            .create_topics(std::slice::from_ref(topic), timeout)?
            .pop()
            .map(|r| r.result)
            .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into())));
        match result {
            Err(e) if e.is_topic_already_exists() => {
                // It may have been created a moment ago by someone else.
                let wanted = [(topic.name.clone(), -1)];
                let not_ready = self.await_topics("ensure_topic", &wanted, deadline, timeout, true);
                if not_ready.is_empty() {
                    Ok(())
                } else {
                    Err(AdminError::Timeout {
                        operation: "ensure_topic",
                        timeout,
                        waiting_for: format!(
                            "a leader for every partition of topic '{}'",
                            topic.name
                        ),
                    })
                }
            }
            other => other,
        }
    }

    /// Waits (up to `timeout`) until every broker's metadata shows each
    /// topic with its number of partitions (any number for -1), each with a
    /// leader: what [`create_topics`](Self::create_topics) waits for, for
    /// topics created some other way. A timeout names the topics still
    /// waited for.
    pub fn wait_for_topics(
        &mut self,
        topics: &[(&str, i32)],
        timeout: Duration,
    ) -> Result<(), AdminError> {
        const OP: &str = "wait_for_topics";
        let names: Vec<String> = topics.iter().map(|(n, _)| n.to_string()).collect();
        validate_names(&names)?;
        let deadline = Instant::now() + timeout;
        let wanted: Vec<(String, i32)> = topics.iter().map(|&(n, p)| (n.to_string(), p)).collect();
        let not_ready = self.await_topics(OP, &wanted, deadline, timeout, true);
        if not_ready.is_empty() {
            return Ok(());
        }
        Err(AdminError::Timeout {
            operation: OP,
            timeout,
            waiting_for: format!(
                "every broker to show topics {not_ready:?} with a leader for each partition"
            ),
        })
    }

    /// Deletes topics and waits (up to `timeout` in all) until no broker
    /// lists them. One result per topic, in input order; a topic that does
    /// not exist gets UNKNOWN_TOPIC_OR_PARTITION.
    pub fn delete_topics<S: AsRef<str>>(
        &mut self,
        names: &[S],
        timeout: Duration,
    ) -> Result<Vec<DeleteTopicResult>, AdminError> {
        const OP: &str = "delete_topics";
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
        validate_names(&names)?;
        let deadline = Instant::now() + timeout;
        let mut results: BTreeMap<String, Result<(), AdminError>> = BTreeMap::new();
        let mut pending: Vec<String> = names.clone();
        while !pending.is_empty() {
            let controller = match self.controller(OP, deadline, timeout) {
                Ok(c) => c,
                Err(e) => {
                    for t in pending.drain(..) {
                        results.insert(t, Err(e.clone()));
                    }
                    break;
                }
            };
            let batch = pending.clone();
            let call = Call::new(controller, ApiKey::DeleteTopics, |version| {
                let mut req = DeleteTopicsRequest {
                    timeout_ms: remaining_ms(deadline),
                    ..Default::default()
                };
                if version >= 6 {
                    req.topics = batch
                        .iter()
                        .map(|n| DeleteTopicState {
                            name: Some(n.clone()),
                            ..Default::default()
                        })
                        .collect();
                } else {
                    req.topic_names = batch.clone();
                }
                RequestBody::DeleteTopics(req)
            });
            let retry = match self.execute_one(OP, call, deadline, timeout) {
                Ok(response) => {
                    let ResponseBody::DeleteTopics(body) = &response.body else {
                        return Err(unexpected(&response, "DeleteTopics"));
                    };
                    let mut retry = Vec::new();
                    for name in pending.drain(..) {
                        let Some(r) = body
                            .responses
                            .iter()
                            .find(|r| r.name.as_deref() == Some(name.as_str()))
                        else {
                            results.insert(
                                name.clone(),
                                Err(AdminError::Protocol(format!(
                                    "the DeleteTopics response does not mention topic '{name}'"
                                ))),
                            );
                            continue;
                        };
                        let code = ErrorCode::from_i16(r.error_code);
                        match classify(&name, code, r.error_message.clone(), None) {
                            Answer::Done(res) => {
                                results.insert(name, res.map(|_| ()));
                            }
                            Answer::Retry => retry.push(name),
                        }
                    }
                    retry
                }
                Err(e) if e.is_retriable() && !e.is_timeout() => std::mem::take(&mut pending),
                Err(e) => {
                    for t in pending.drain(..) {
                        results.insert(t, Err(e.clone()));
                    }
                    Vec::new()
                }
            };
            pending = retry;
            self.expire_or_back_off(OP, timeout, deadline, &mut pending, &mut results, |t| {
                let waiting_for = format!("the controller to delete topic '{t}'");
                (t, waiting_for)
            });
        }
        let deleted: Vec<(String, i32)> = names
            .iter()
            .filter(|n| matches!(results.get(*n), Some(Ok(()))))
            .map(|n| (n.clone(), 0))
            .collect();
        for name in self.await_topics(OP, &deleted, deadline, timeout, false) {
            let waiting_for =
                format!("every broker to stop listing topic '{name}' (it was deleted)");
            results.insert(
                name,
                Err(AdminError::Timeout {
                    operation: OP,
                    timeout,
                    waiting_for,
                }),
            );
        }
        Ok(names
            .into_iter()
            .map(|name| {
                let result = results
                    .remove(&name)
                    .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into())));
                DeleteTopicResult { name, result }
            })
            .collect())
    }

    /// The topics of the cluster, sorted by name, with their partition
    /// counts; internal ones (`__consumer_offsets`, ...) only if asked for.
    /// Uses `default.api.timeout`.
    pub fn list_topics(&mut self, include_internal: bool) -> Result<Vec<TopicListing>, AdminError> {
        let timeout = self.config.default_api_timeout;
        let deadline = Instant::now() + timeout;
        let snapshot =
            self.fetch_metadata_retrying("list_topics", Topics::All, deadline, timeout)?;
        let mut out: Vec<TopicListing> = snapshot
            .topics
            .into_iter()
            .filter(|t| !t.error.is_error() && (include_internal || !t.is_internal))
            .map(|t| TopicListing {
                partitions: t.partitions.len(),
                name: t.name,
                topic_id: t.topic_id,
                is_internal: t.is_internal,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Describes topics: partitions with leaders, replicas and ISR. Fails
    /// with UNKNOWN_TOPIC_OR_PARTITION (naming the topic) if one does not
    /// exist. Uses `default.api.timeout`.
    pub fn describe_topics<S: AsRef<str>>(
        &mut self,
        names: &[S],
    ) -> Result<Vec<TopicDescription>, AdminError> {
        let timeout = self.config.default_api_timeout;
        let deadline = Instant::now() + timeout;
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
        validate_names(&names)?;
        let snapshot = self.fetch_metadata_retrying(
            "describe_topics",
            Topics::Some(&names),
            deadline,
            timeout,
        )?;
        names
            .iter()
            .map(|name| {
                let Some(t) = snapshot.topics.iter().find(|t| &t.name == name) else {
                    return Err(AdminError::kafka(
                        ErrorCode::UnknownTopicOrPartition,
                        None,
                        topic_resource(name),
                    ));
                };
                // A topic without leaders right now is still described; only
                // errors about the topic itself fail.
                if t.error.is_error() && t.error != ErrorCode::LeaderNotAvailable {
                    return Err(AdminError::kafka(t.error, None, topic_resource(name)));
                }
                Ok(TopicDescription {
                    name: t.name.clone(),
                    topic_id: t.topic_id,
                    is_internal: t.is_internal,
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| PartitionInfo {
                            partition: p.partition,
                            leader: p.leader,
                            leader_epoch: p.leader_epoch,
                            replicas: p.replicas.clone(),
                            isr: p.isr.clone(),
                            offline_replicas: p.offline.clone(),
                        })
                        .collect(),
                })
            })
            .collect()
    }

    /// The controller to send topic changes to (any broker if Metadata
    /// names none, as KRaft brokers forward them).
    pub(super) fn controller(
        &mut self,
        operation: &'static str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Target, AdminError> {
        let snapshot = self.fetch_metadata_retrying(operation, Topics::None, deadline, timeout)?;
        Ok(match snapshot.controller_id {
            Some(c) if snapshot.brokers.iter().any(|b| b.id == c) => Target::Node(c),
            _ => Target::Any,
        })
    }

    /// Polls the metadata of every broker until each topic is ready
    /// (`ready`: [`topic_ready`] with the expected partition count) or gone
    /// (`!ready`), or the deadline passes. Returns the topics still waited
    /// for at the deadline.
    pub(super) fn await_topics(
        &mut self,
        operation: &'static str,
        topics: &[(String, i32)],
        deadline: Instant,
        timeout: Duration,
        ready: bool,
    ) -> Vec<String> {
        let mut waiting: BTreeMap<String, i32> = topics.iter().cloned().collect();
        loop {
            if waiting.is_empty() {
                return Vec::new();
            }
            let names: Vec<String> = waiting.keys().cloned().collect();
            let snapshot = match self.fetch_metadata(
                operation,
                Target::Any,
                Topics::Some(&names),
                deadline,
                timeout,
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::debug!(error = %e, "admin: metadata request failed while waiting for topics");
                    None
                }
            };
            if let Some(snapshot) = snapshot {
                let all_brokers = self
                    .metadata_from_every_broker(operation, &snapshot, &names, deadline, timeout);
                let done: HashSet<String> = names
                    .iter()
                    .filter(|name| {
                        let expected = waiting.get(*name).copied().unwrap_or(-1);
                        all_brokers.iter().all(|s| {
                            let Some(s) = s else { return false };
                            let t = s.topics.iter().find(|t| &t.name == *name);
                            if ready {
                                topic_ready(t, expected)
                            } else {
                                topic_gone(t)
                            }
                        })
                    })
                    .cloned()
                    .collect();
                waiting.retain(|name, _| !done.contains(name));
            }
            if waiting.is_empty() {
                return Vec::new();
            }
            if Instant::now() >= deadline {
                return waiting.into_keys().collect();
            }
            self.backoff(deadline);
        }
    }

    /// The metadata of `names` as each broker of `snapshot` sees it (`None`
    /// for a broker that could not be asked: the caller waits for it).
    /// Metadata reaches the brokers of a cluster at different times; a
    /// client pointed at a new topic may ask any of them.
    fn metadata_from_every_broker(
        &mut self,
        operation: &'static str,
        snapshot: &MetadataSnapshot,
        names: &[String],
        deadline: Instant,
        timeout: Duration,
    ) -> Vec<Option<MetadataSnapshot>> {
        let brokers: BTreeSet<i32> = snapshot.brokers.iter().map(|b| b.id).collect();
        if brokers.len() <= 1 {
            return vec![Some(snapshot.clone())];
        }
        let calls = brokers
            .iter()
            .map(|&b| metadata_call(Target::Node(b), Topics::Some(names)))
            .collect();
        let mut out = vec![Some(snapshot.clone())];
        for r in self.execute(operation, calls, deadline, timeout) {
            match r.and_then(snapshot_of) {
                Ok(s) => out.push(Some(s)),
                Err(e) => {
                    tracing::debug!(error = %e, "admin: a broker's metadata is unavailable");
                    out.push(None);
                }
            }
        }
        out
    }
}

fn creatable(t: &NewTopic) -> CreatableTopic {
    CreatableTopic {
        name: t.name.clone(),
        num_partitions: t.num_partitions,
        replication_factor: t.replication_factor,
        assignments: Vec::new(),
        configs: t
            .configs
            .iter()
            .map(|(k, v)| CreatableTopicConfig {
                name: k.clone(),
                value: Some(v.clone()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub(super) fn validate_names(names: &[String]) -> Result<(), AdminError> {
    let mut seen = HashSet::new();
    for n in names {
        if n.is_empty() {
            return Err(AdminError::Config("a topic name is empty".to_string()));
        }
        if !seen.insert(n.as_str()) {
            return Err(AdminError::Config(format!("topic '{n}' is named twice")));
        }
    }
    Ok(())
}

fn validate_new_topics(topics: &[NewTopic]) -> Result<(), AdminError> {
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    validate_names(&names)?;
    for t in topics {
        if t.num_partitions == 0 || t.num_partitions < -1 {
            return Err(AdminError::Config(format!(
                "topic '{}': num_partitions must be at least 1 (or -1 for the broker default), got {}",
                t.name, t.num_partitions
            )));
        }
        if t.replication_factor == 0 || t.replication_factor < -1 {
            return Err(AdminError::Config(format!(
                "topic '{}': replication_factor must be at least 1 (or -1 for the broker default), got {}",
                t.name, t.replication_factor
            )));
        }
    }
    Ok(())
}
