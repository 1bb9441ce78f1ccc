//! `ProducerMetadata`: the sender thread's view of topic partitions, shared
//! with the threads that call `send`.
//!
//! `send` needs a topic's partition count (and which partitions have a
//! leader) before it can pick a partition; the network client's `Metadata`
//! lives on the sender thread. So `send` registers the topic here and waits
//! (up to `max.block.ms`); the sender adds registered topics to its
//! metadata requests and publishes the partitions after every update.
//!
//! Topics not sent to for `metadata.max.idle.ms` are dropped from the
//! metadata requests (Java's `ProducerMetadata.retainTopic`): `send` marks a
//! topic used with one flag store (no clock read per record), and the
//! sender turns the marks into times when it sweeps, about once a second.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prozess_network::{Metadata, PartitionMetadata, TopicPartition};
use prozess_protocol::ErrorCode;

use crate::error::{Error, Result};
use crate::partitioner::TopicPartitions;

/// One topic as `send` needs it, shared without copying per record.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    /// Partition metadata, by partition index.
    pub partitions: Vec<PartitionMetadata>,
    /// What partitioners see.
    pub partitioner_view: TopicPartitions,
    /// `topic-0`, `topic-1`, ...: built once, so `send` needs no copy of
    /// the topic's name per record.
    pub topic_partitions: Vec<TopicPartition>,
    /// Set by `send` since the sender's last idle sweep; shared by the
    /// infos of one topic across partition changes.
    used: Arc<AtomicBool>,
}

impl PartialEq for TopicInfo {
    fn eq(&self, other: &Self) -> bool {
        self.partitions == other.partitions
            && self.partitioner_view == other.partitioner_view
            && self.topic_partitions == other.topic_partitions
    }
}

impl TopicInfo {
    /// The info of `topic` from its partition metadata.
    pub fn new(topic: &str, partitions: Vec<PartitionMetadata>) -> TopicInfo {
        let partitioner_view = topic_partitions(topic, &partitions);
        let topic_partitions = (0..partitioner_view.num_partitions)
            .map(|p| TopicPartition::new(topic, p))
            .collect();
        TopicInfo {
            partitions,
            partitioner_view,
            topic_partitions,
            used: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Notes a send to the topic: a load, and a store only when the flag
    /// was clear, so concurrent senders do not fight over the cache line.
    fn mark_used(&self) {
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
    }
}

#[derive(Default)]
struct State {
    topics: HashMap<String, Arc<TopicInfo>>,
    /// The topic `send` asked for last: most sends name the same topic as
    /// the one before, and a string compare is cheaper than hashing.
    last: Option<Arc<TopicInfo>>,
    wanted: BTreeSet<String>,
    unsent: Vec<String>,
    /// Topics to take out of the sender's metadata requests (given up by a
    /// `send` that timed out).
    dropped: Vec<String>,
    /// When the sender last saw each published topic used.
    last_used: HashMap<String, Instant>,
    published_version: Option<u64>,
    /// Failed authentications so far, and the last one: `send` calls waiting
    /// when one happens fail with it.
    failures: u64,
    failure: Option<Error>,
    /// Topics the cluster refused to describe (TOPIC_AUTHORIZATION_FAILED),
    /// each with the count of `topic_errors_seen` when it was published:
    /// a `send` fails with it only if it came after the `send` began.
    topic_errors: HashMap<String, u64>,
    topic_errors_seen: u64,
    /// Why brokers could not be reached, for the timeout error.
    connection_errors: String,
}

/// Topic partitions as last seen by the sender.
pub struct ProducerMetadata {
    state: Mutex<State>,
    updated: Condvar,
    /// The metadata version last published (`u64::MAX`: none), so the
    /// sender's check after every poll takes no lock when nothing changed.
    published: AtomicU64,
    /// Whether topics wait to be added to the sender's metadata or have no
    /// partitions yet; the sender checks this on every pass without a lock.
    attention: AtomicBool,
    /// `metadata.max.idle.ms`.
    max_idle: Duration,
}

/// Java's default `metadata.max.idle.ms`.
pub const DEFAULT_METADATA_MAX_IDLE: Duration = Duration::from_secs(300);

impl Default for ProducerMetadata {
    fn default() -> Self {
        ProducerMetadata {
            max_idle: DEFAULT_METADATA_MAX_IDLE,
            state: Mutex::default(),
            updated: Condvar::new(),
            published: AtomicU64::new(u64::MAX),
            attention: AtomicBool::new(false),
        }
    }
}

impl std::fmt::Debug for ProducerMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerMetadata").finish_non_exhaustive()
    }
}

impl ProducerMetadata {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty view whose topics leave the metadata requests after
    /// `max_idle` without a send (`metadata.max.idle.ms`).
    pub fn with_max_idle(max_idle: Duration) -> Self {
        ProducerMetadata {
            max_idle,
            ..Self::default()
        }
    }

    /// `metadata.max.idle.ms`.
    pub fn max_idle(&self) -> Duration {
        self.max_idle
    }

    /// Updates `attention` from the state (called with the lock held).
    fn note_attention(&self, state: &State) {
        let missing = state.wanted.iter().any(|t| !state.topics.contains_key(t));
        self.attention.store(
            missing || !state.unsent.is_empty() || !state.dropped.is_empty(),
            Ordering::SeqCst,
        );
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The partitions of `topic` if known.
    pub fn partitions(&self, topic: &str) -> Option<Vec<PartitionMetadata>> {
        self.lock().topics.get(topic).map(|t| t.partitions.clone())
    }

    /// The topic's info if its partitions are known (never waits).
    pub fn try_partitions(&self, topic: &str) -> Option<Arc<TopicInfo>> {
        let mut state = self.lock();
        if let Some(last) = &state.last {
            if last.partitioner_view.topic == topic {
                last.mark_used();
                return Some(last.clone());
            }
        }
        let p = state.topics.get(topic)?.clone();
        p.mark_used();
        state.last = Some(p.clone());
        Some(p)
    }

    /// Registers `topic` for the sender's metadata requests (never waits).
    /// Returns whether it was new.
    pub fn register(&self, topic: &str) -> bool {
        let mut state = self.lock();
        if !state.wanted.insert(topic.to_string()) {
            return false;
        }
        state.unsent.push(topic.to_string());
        state.dropped.retain(|t| t != topic);
        // The sender may already know the topic: publish again even if
        // its metadata does not change.
        state.published_version = None;
        self.published.store(u64::MAX, Ordering::SeqCst);
        self.note_attention(&state);
        true
    }

    /// Registers `topic` and waits until its partitions are known or
    /// `max_block` passes. `wake` wakes the sender when the topic is new.
    pub fn wait_for_partitions(
        &self,
        topic: &str,
        max_block: Duration,
        wake: &dyn Fn(),
    ) -> Result<Arc<TopicInfo>> {
        if let Some(p) = self.try_partitions(topic) {
            return Ok(p);
        }
        // Failures from here on concern this wait too.
        let (failures, errors_seen) = {
            let state = self.lock();
            (state.failures, state.topic_errors_seen)
        };
        self.register(topic);
        wake();
        let deadline = crate::delivery::deadline_after(Instant::now(), max_block);
        let mut state = self.lock();
        loop {
            if let Some(p) = state.topics.get(topic) {
                p.mark_used();
                return Ok(p.clone());
            }
            if state.failures != failures {
                if let Some(e) = &state.failure {
                    return Err(e.clone());
                }
            }
            if state
                .topic_errors
                .get(topic)
                .is_some_and(|&n| n > errors_seen)
            {
                return Err(Error::TopicAuthorization {
                    topic: topic.to_string(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                // Stop asking the cluster about it (a later send asks anew).
                if state.wanted.remove(topic) {
                    state.unsent.retain(|t| t != topic);
                    state.dropped.push(topic.to_string());
                }
                self.note_attention(&state);
                tracing::warn!(
                    topic,
                    waited_ms = max_block.as_millis() as u64,
                    "topic not present in metadata after max.block.ms; giving up on it"
                );
                return Err(Error::MetadataTimeout {
                    topic: topic.to_string(),
                    waited: max_block,
                    connection_errors: state.connection_errors.clone(),
                });
            }
            state = self
                .updated
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Topics registered since the last call (the sender adds them to its
    /// metadata and requests an update).
    pub fn take_new_topics(&self) -> Vec<String> {
        if !self.attention.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let mut state = self.lock();
        let topics = std::mem::take(&mut state.unsent);
        self.note_attention(&state);
        topics
    }

    /// Topics to take out of the metadata requests: those a `send` gave up
    /// on, and (when `sweep` is set) those not sent to for
    /// `metadata.max.idle.ms`. The sender sweeps about once a second; a
    /// topic still waited for never expires here.
    pub fn take_dropped_topics(&self, now: Instant, sweep: bool) -> Vec<String> {
        if !sweep && !self.attention.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let mut state = self.lock();
        let mut out = std::mem::take(&mut state.dropped);
        if sweep {
            let state = &mut *state;
            let mut expired = Vec::new();
            for topic in &state.wanted {
                let Some(info) = state.topics.get(topic) else {
                    continue;
                };
                if info.used.swap(false, Ordering::Relaxed) {
                    state.last_used.insert(topic.clone(), now);
                    continue;
                }
                let last = *state.last_used.entry(topic.clone()).or_insert(now);
                if now.saturating_duration_since(last) >= self.max_idle {
                    expired.push(topic.clone());
                }
            }
            for topic in expired {
                tracing::debug!(
                    topic = %topic,
                    idle_ms = self.max_idle.as_millis() as u64,
                    "no send to the topic for metadata.max.idle.ms; dropping it from metadata"
                );
                state.wanted.remove(&topic);
                state.topics.remove(&topic);
                state.last_used.remove(&topic);
                if state
                    .last
                    .as_ref()
                    .is_some_and(|l| l.partitioner_view.topic == topic)
                {
                    state.last = None;
                }
                out.push(topic);
            }
        }
        self.note_attention(&state);
        out
    }

    /// Whether some topic `send` waits for has no partitions yet (being
    /// auto-created, or not propagated): the sender keeps asking.
    pub fn has_missing_topics(&self) -> bool {
        if !self.attention.load(Ordering::SeqCst) {
            return false;
        }
        let state = self.lock();
        state.wanted.iter().any(|t| !state.topics.contains_key(t))
    }

    /// Publishes the partitions of every wanted topic from `metadata`, if it
    /// changed since the last call. Topics without partitions (unknown yet,
    /// or being created) are left out, so `send` keeps waiting for them.
    pub fn publish(&self, metadata: &Metadata) {
        let version = metadata.update_version();
        if self.published.load(Ordering::SeqCst) == version {
            return;
        }
        let mut state = self.lock();
        if state.published_version == Some(version) {
            return;
        }
        state.published_version = Some(version);
        self.published.store(version, Ordering::SeqCst);
        let wanted: Vec<String> = state.wanted.iter().cloned().collect();
        for topic in wanted {
            match metadata.partitions_for(&topic) {
                Some(p) if !p.is_empty() => {
                    state.topic_errors.remove(&topic);
                    let mut p = p.to_vec();
                    p.sort_by_key(|m| m.partition);
                    let old = state.topics.get(&topic);
                    let unchanged = old.is_some_and(|t| t.partitions == p);
                    if !unchanged {
                        let mut info = TopicInfo::new(&topic, p);
                        if let Some(old) = old {
                            // One use flag per topic, so a mark on the
                            // replaced info is not lost.
                            info.used = old.used.clone();
                        }
                        state.topics.insert(topic, Arc::new(info));
                        state.last = None;
                    }
                }
                _ if metadata
                    .topic(&topic)
                    .is_some_and(|t| t.error == ErrorCode::TopicAuthorizationFailed) =>
                {
                    // Waiting sends fail now; the topic leaves the requests
                    // (as a timed-out one does) and a later send asks anew.
                    tracing::warn!(topic = %topic, "not authorized to describe the topic (TOPIC_AUTHORIZATION_FAILED)");
                    state.topic_errors_seen += 1;
                    let seen = state.topic_errors_seen;
                    state.topic_errors.insert(topic.clone(), seen);
                    state.wanted.remove(&topic);
                    state.unsent.retain(|t| *t != topic);
                    state.dropped.push(topic);
                }
                _ => {}
            }
        }
        self.note_attention(&state);
        drop(state);
        self.updated.notify_all();
    }

    /// Records why brokers could not be reached
    /// ([`prozess_network::describe_connection_errors`]), for the timeout
    /// error of `send` calls waiting for metadata.
    pub fn set_connection_errors(&self, described: String) {
        let mut state = self.lock();
        if state.connection_errors != described {
            state.connection_errors = described;
        }
    }

    /// Fails every `send` waiting for metadata now with `error` (a failed
    /// authentication, as Java's `Metadata.fatalError`); later sends wait
    /// anew.
    pub fn fail_waiters(&self, error: Error) {
        let mut state = self.lock();
        state.failures += 1;
        state.failure = Some(error);
        drop(state);
        self.updated.notify_all();
    }

    /// Sets a topic's partitions directly (tests, or a caller that knows).
    pub fn set_partitions(&self, topic: &str, partitions: Vec<PartitionMetadata>) {
        let mut state = self.lock();
        state.wanted.insert(topic.to_string());
        let info = TopicInfo::new(topic, partitions);
        state.topics.insert(topic.to_string(), Arc::new(info));
        state.last = None;
        self.note_attention(&state);
        drop(state);
        self.updated.notify_all();
    }
}

/// What a partitioner sees of a topic, from its partition metadata.
pub fn topic_partitions(topic: &str, partitions: &[PartitionMetadata]) -> TopicPartitions {
    // The count is the number of partitions listed, as in the Java client,
    // never the highest index: one partition numbered 2,000,000,000 in a
    // metadata response must not make us build that many entries.
    let num_partitions = i32::try_from(partitions.len()).unwrap_or(i32::MAX);
    let in_range = |p: &&PartitionMetadata| (0..num_partitions).contains(&p.partition);
    if partitions.iter().any(|p| !in_range(&p)) {
        tracing::warn!(
            topic,
            partitions = num_partitions,
            "metadata lists partition indices outside 0..count; ignoring them"
        );
    }
    let mut available: Vec<i32> = partitions
        .iter()
        .filter(in_range)
        .filter(|p| p.leader.is_some_and(|l| l >= 0))
        .map(|p| p.partition)
        .collect();
    available.sort_unstable();
    TopicPartitions {
        topic: topic.to_string(),
        num_partitions,
        available,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prozess_protocol::ErrorCode;

    fn partition(partition: i32, leader: Option<i32>) -> PartitionMetadata {
        PartitionMetadata {
            partition,
            leader,
            leader_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            offline: Vec::new(),
            error: ErrorCode::None,
        }
    }

    #[test]
    fn partition_count_is_the_number_listed_not_the_highest_index() {
        let hostile = vec![partition(0, Some(1)), partition(2_000_000_000, Some(1))];
        let info = TopicInfo::new("t", hostile);
        assert_eq!(info.partitioner_view.num_partitions, 2);
        assert_eq!(info.topic_partitions.len(), 2);
        // The out-of-range index is never offered to a partitioner.
        assert_eq!(info.partitioner_view.available, vec![0]);
    }

    /// A send waiting for a topic the cluster refuses to describe fails at
    /// once with TopicAuthorization naming it (not after max.block.ms), and
    /// a later send asks again and gets the partitions once allowed.
    #[test]
    fn a_topic_the_cluster_will_not_describe_fails_waiting_sends_at_once() {
        use prozess_network::MetadataSnapshot;
        let pm = Arc::new(ProducerMetadata::new());
        let mut metadata = Metadata::new(
            Duration::from_millis(100),
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        let answer = |metadata: &mut Metadata, allowed: bool| {
            let mut s = MetadataSnapshot::simple(&[1], &[("secret", 1)]);
            if !allowed {
                s.topics[0].error = ErrorCode::TopicAuthorizationFailed;
                s.topics[0].partitions.clear();
            }
            let version = metadata.request_spec().request_version;
            metadata.update(version, s, Instant::now());
        };
        for allowed in [false, true] {
            let waiting = pm.clone();
            let send = std::thread::spawn(move || {
                waiting.wait_for_partitions("secret", Duration::from_secs(600), &|| {})
            });
            // The sender's side: the topic is registered, the cluster answers.
            while pm.take_new_topics() != vec!["secret".to_string()] {
                std::thread::yield_now();
            }
            answer(&mut metadata, allowed);
            pm.publish(&metadata);
            let result = send.join().unwrap();
            if allowed {
                assert_eq!(result.expect("partitions").partitions.len(), 1);
            } else {
                let e = result.expect_err("an authorization error");
                assert!(
                    matches!(&e, Error::TopicAuthorization { topic } if topic == "secret"),
                    "{e:?}"
                );
                assert!(e.to_string().contains("secret"), "{e}");
                assert!(!e.is_retriable());
            }
        }
    }

    #[test]
    fn partitions_without_leader_are_not_available() {
        let view = topic_partitions("t", &[partition(1, None), partition(0, Some(3))]);
        assert_eq!(view.num_partitions, 2);
        assert_eq!(view.available, vec![0]);
    }
}
