//! `KafkaConsumer`: the poll loop.
//!
//! This is the only place that reads the clock; every component takes `now`.
//! `poll` in one pass: group membership (join, sync, heartbeat, rebalance
//! listener; see `consumer/group.rs`), coordinator work (auto-commit,
//! commits, callbacks),
//! fetch positions (committed offset or reset), collect buffered fetches
//! (and, if records came back, send the next fetches at once), send fetches,
//! then network poll until data arrives or the timeout ends.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use prozess_network::{
    ClientEvent, KafkaClient, Metrics, NetworkClient, NetworkConfig, PartitionMetadata,
    TopicPartition, WakeupHandle,
};

use crate::config::{ConsumerConfig, IsolationLevel, OffsetResetStrategy};
use crate::coordinator::{
    CommittedOffsets, ConsumerCoordinator, Generation, OffsetCommitCallback, Offsets, RequestId,
};
use crate::deserializer::Deserializer;
use crate::error::{Error, Result};
use crate::fetch_collector::FetchCollector;
use crate::fetcher::{FetchConfig, Fetcher};
use crate::group::member::GroupMember;
use crate::offset_fetcher::{OffsetFetcher, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::offsets::{OffsetAndMetadata, OffsetAndTimestamp};
use crate::record::ConsumerRecords;
use crate::subscription_state::{FetchPosition, SubscriptionState};

mod group;
mod heartbeat_thread;
use group::BoxedListener;
use heartbeat_thread::{Background, Parked};

/// Panic message of the (unreachable) case of using the client while it is
/// parked with the heartbeat thread: every entry point unparks first.
const UNPARKED: &str = "the network client is parked with the heartbeat thread";

/// The client inside a consumer call, for code that borrows other fields of
/// the consumer at the same time (see [`KafkaConsumer::net`]).
fn unparked<C>(client: &mut Option<C>) -> &mut C {
    client.as_mut().expect(UNPARKED)
}
pub use group::ConsumerGroupMetadata;

/// The time source of the poll loop (a manual clock in tests).
pub type Clock = Box<dyn Fn() -> Instant + Send>;

/// A Kafka consumer (Java's `KafkaConsumer`): partitions assigned manually
/// (`assign`) or by a consumer group (`subscribe`, `subscribe_pattern`).
///
/// Not thread-safe by design, like the Java client: one thread polls. Only
/// [`WakeupHandle::wakeup`] (from [`KafkaConsumer::wakeup_handle`]) may be used
/// from other threads. A group member built with [`KafkaConsumer::new`] has a
/// heartbeat thread (KIP-62) that keeps it in the group while the
/// application processes between calls: each call that needs the network
/// client takes it back from the thread and hands it over again when it
/// returns.
pub struct KafkaConsumer<K, V, C: KafkaClient = NetworkClient> {
    config: ConsumerConfig,
    /// `None` only while parked with the heartbeat thread between calls.
    client: Option<C>,
    subscriptions: SubscriptionState,
    fetcher: Fetcher,
    collector: FetchCollector,
    offset_fetcher: OffsetFetcher,
    coordinator: ConsumerCoordinator,
    key_deserializer: Box<dyn Deserializer<K> + Send>,
    value_deserializer: Box<dyn Deserializer<V> + Send>,
    wakeup: WakeupHandle,
    clock: Clock,
    /// OffsetFetch for initializing partitions, and the partitions it covers.
    pending_committed: Option<(RequestId, Vec<TopicPartition>)>,
    /// After a failed committed-offset look-up: not again before this.
    committed_retry_at: Option<Instant>,
    next_lookup_id: u64,
    closed: bool,
    /// The group membership (created by the first `subscribe`).
    membership: Option<GroupMember>,
    /// `subscribe(topics)`: the topics (with a pattern: those it matches now).
    subscribed_topics: std::collections::BTreeSet<String>,
    /// `subscribe_pattern`: the pattern (anchored).
    pattern: Option<regex::Regex>,
    listener: Option<BoxedListener<K, V, C>>,
    /// A rebalance listener is running (it must not poll).
    in_listener: bool,
    /// Inside a consumer call (poll, close, a commit, ...): nested calls (a
    /// commit before a revocation, in a listener) must not park the client.
    in_poll: bool,
    /// The heartbeat thread (KIP-62), if started.
    background: Option<std::sync::Arc<Background<C>>>,
    /// Starts it (set when the client type allows a thread).
    heartbeat_starter: Option<heartbeat_thread::Starter<C>>,
    /// A failed authentication, returned by the running (or next) call.
    auth_failures: crate::auth_failure::AuthenticationFailures,
    /// Java's consumer metrics (see [`KafkaConsumer::metrics`]).
    metrics: crate::metrics::ConsumerMetrics,
    /// `statistics.interval.ms` and the handler of the documents.
    statistics: crate::metrics::Statistics,
}

impl<K, V> KafkaConsumer<K, V, NetworkClient> {
    /// A consumer over sockets. Nothing is connected until the first call
    /// that needs the cluster.
    pub fn new(
        config: ConsumerConfig,
        key_deserializer: impl Deserializer<K> + Send + 'static,
        value_deserializer: impl Deserializer<V> + Send + 'static,
    ) -> Result<Self> {
        config.validate()?;
        let client = NetworkClient::new(network_config(&config)?)
            .map_err(|e| Error::Network(e.to_string()))?;
        let mut consumer = Self::with_client(
            config,
            client,
            key_deserializer,
            value_deserializer,
            Box::new(Instant::now),
        );
        consumer.start_heartbeat_thread();
        Ok(consumer)
    }
}

impl<K, V, C: KafkaClient + Send + 'static> KafkaConsumer<K, V, C> {
    /// Starts the heartbeat thread (KIP-62) of a consumer with a `group.id`:
    /// between calls, a group member keeps heartbeating (and leaves the
    /// group once `max.poll.interval.ms` passes without a poll).
    /// [`KafkaConsumer::new`] does this; consumers built with
    /// [`KafkaConsumer::with_client`] (tests driving time by hand) heartbeat
    /// from their calls only unless they call it.
    pub fn start_heartbeat_thread(&mut self) {
        if self.config.group_id.is_some() {
            // Started by the first park of a group member (an assign-only
            // consumer never needs it).
            self.heartbeat_starter = Some(heartbeat_thread::start::<C>);
        }
    }
}

impl<K, V, C: KafkaClient> Drop for KafkaConsumer<K, V, C> {
    fn drop(&mut self) {
        if let Some(bg) = self.background.take() {
            bg.stop();
        }
    }
}

/// The network settings of a consumer configuration, including
/// `security.protocol` with the `sasl.*` and `ssl.*` settings.
pub fn network_config(config: &ConsumerConfig) -> Result<NetworkConfig> {
    let mut n = NetworkConfig::new(config.bootstrap_servers.iter().cloned());
    n.client_id = config.client_id.clone();
    n.request_timeout = config.request_timeout;
    n.reconnect_backoff = config.reconnect_backoff;
    n.reconnect_backoff_max = config.reconnect_backoff_max;
    n.metadata_max_age = config.metadata_max_age;
    n.retry_backoff = config.retry_backoff;
    n.retry_backoff_max = config.retry_backoff_max;
    n.connections_max_idle = config.connections_max_idle;
    n.allow_auto_create_topics = config.allow_auto_create_topics;
    n.send_buffer = usize::try_from(config.send_buffer_bytes).ok();
    n.receive_buffer = usize::try_from(config.receive_buffer_bytes).ok();
    // A fetch response may exceed fetch.max.bytes by one batch per partition.
    let fetch_room = (config.fetch_max_bytes as usize).saturating_mul(2) + (1 << 20);
    n.max_response_size = n.max_response_size.max(fetch_room);
    config.security.apply(&mut n).map_err(|e| Error::Config {
        key: e.key,
        message: e.message,
    })?;
    Ok(n)
}

impl<K, V, C: KafkaClient> KafkaConsumer<K, V, C> {
    /// A consumer over any [`KafkaClient`] (a `MockClient` in tests, a
    /// simulated cluster) with the given clock.
    pub fn with_client(
        config: ConsumerConfig,
        client: C,
        key_deserializer: impl Deserializer<K> + Send + 'static,
        value_deserializer: impl Deserializer<V> + Send + 'static,
        clock: Clock,
    ) -> Self {
        let now = clock();
        let auto_commit = config
            .auto_commit_enabled()
            .then_some(config.auto_commit_interval);
        let wakeup = client.wakeup_handle();
        KafkaConsumer {
            subscriptions: SubscriptionState::new(config.auto_offset_reset),
            fetcher: Fetcher::new(FetchConfig::from_config(&config)),
            collector: FetchCollector::new(config.max_poll_records, config.metadata_max_age),
            offset_fetcher: OffsetFetcher::new(config.isolation_level, config.retry_backoff),
            coordinator: ConsumerCoordinator::new(
                config.group_id.clone(),
                config.group_instance_id.clone(),
                config.retry_backoff,
                auto_commit,
                now,
            ),
            key_deserializer: Box::new(key_deserializer),
            value_deserializer: Box::new(value_deserializer),
            wakeup,
            clock,
            pending_committed: None,
            committed_retry_at: None,
            next_lookup_id: 1,
            closed: false,
            membership: None,
            subscribed_topics: Default::default(),
            pattern: None,
            listener: None,
            in_listener: false,
            background: None,
            heartbeat_starter: None,
            in_poll: false,
            auth_failures: Default::default(),
            metrics: crate::metrics::ConsumerMetrics::new(now),
            statistics: crate::metrics::Statistics::new(config.statistics_interval, now),
            client: Some(client),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The network client (tests inspect the mock through it).
    pub fn client(&mut self) -> &C {
        self.net()
    }

    /// The network client, mutably.
    pub fn client_mut(&mut self) -> &mut C {
        self.net()
    }

    // ---- the hand-over of the client to the heartbeat thread ----
    //
    // Between consumer calls a group member's client and membership are
    // parked with the heartbeat thread (KIP-62). The protocol between the two
    // threads lives in these four functions and nowhere else:
    // - `call` runs a public call: it takes both back on entry (waiting for
    //   a pass of the thread to end) and parks them again on return,
    //   whatever the call returned;
    // - `net` is the client inside a call (taking it back first if a path
    //   got there without `call`), `unparked` the same for code that borrows
    //   other fields alongside;
    // - `park`/`unpark` do the hand-over (no parking inside poll, close or a
    //   listener: only when the application gets control back).

    /// Runs the body of a public call with the consumer open and the client
    /// and membership taken back from the heartbeat thread; the outermost
    /// call hands them back when its body returns, whatever it returned
    /// (calls nested in it, as a commit before a revocation, do not).
    fn call<R>(&mut self, body: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let outer = !std::mem::replace(&mut self.in_poll, true);
        let r = match self.ensure_open() {
            Ok(()) => body(self),
            Err(e) => Err(e),
        };
        if outer {
            self.in_poll = false;
            self.park();
        }
        r
    }

    /// Whether the client is parked with the heartbeat thread now.
    #[cfg(test)]
    pub(crate) fn is_parked(&self) -> bool {
        self.client.is_none()
    }

    /// The network client, taken back from the heartbeat thread if parked.
    fn net(&mut self) -> &mut C {
        self.unpark();
        unparked(&mut self.client)
    }

    /// Hands the client and membership to the heartbeat thread until the
    /// next call (only a group member with the thread running parks).
    fn park(&mut self) {
        // Never from inside poll/close (a commit in a listener or before a
        // revocation): only when the application gets control back.
        if !self.group_mode() || self.closed || self.in_poll || self.in_listener {
            return;
        }
        if self.background.is_none() {
            if let (Some(start), Some(group)) = (self.heartbeat_starter, &self.config.group_id) {
                self.background = Some(start(group));
            }
        }
        let Some(bg) = self.background.as_ref() else {
            return;
        };
        let Some(client) = self.client.take() else {
            return;
        };
        bg.park(Parked {
            client,
            membership: self.membership.take(),
            events: Vec::new(),
        });
    }

    /// Takes the client and membership back from the heartbeat thread and
    /// dispatches what it received for others.
    fn unpark(&mut self) {
        if self.client.is_some() {
            return;
        }
        let Some(parked) = self.background.as_ref().and_then(|bg| bg.unpark()) else {
            return;
        };
        self.client = Some(parked.client);
        self.membership = parked.membership;
        if !parked.events.is_empty() {
            // The thread offered every one of them to the membership already.
            let now = (self.clock)();
            let membership = self.membership.take();
            self.dispatch(parked.events, now);
            self.membership = membership;
        }
    }

    /// The consumer's metrics now, with the Java client's group and metric
    /// names (`consumer-fetch-manager-metrics`, `consumer-coordinator-metrics`,
    /// `consumer-metrics`, `consumer-node-metrics`). Rates are over Java's
    /// window (two samples of 30 s); averages and maxima without events in
    /// it are NaN, as in Java.
    pub fn metrics(&mut self) -> Metrics {
        self.unpark();
        let now = (self.clock)();
        let m = self.metrics.snapshot(&self.metric_sources(), now);
        self.park();
        m
    }

    /// Sets the handler of the statistics documents (librdkafka's
    /// `stats_cb`): with `statistics.interval.ms` > 0 it gets one JSON
    /// document per interval, called from `poll` on the polling thread.
    pub fn set_statistics_handler(&mut self, handler: impl FnMut(&str) + Send + 'static) {
        self.statistics.handler = Some(Box::new(handler));
    }

    fn metric_sources(&self) -> crate::metrics::Sources<'_, C> {
        crate::metrics::Sources {
            client_id: &self.config.client_id,
            subs: &self.subscriptions,
            read_committed: self.config.isolation_level == IsolationLevel::ReadCommitted,
            coordinator: &self.coordinator,
            group_state: self.group_mode().then(|| match self.membership.as_ref() {
                Some(m) if m.rebalance_in_progress() => "rebalancing",
                Some(m) if m.generation_if_stable().is_some() => "up",
                _ => "init",
            }),
            heartbeats: self.membership.as_ref().map(|m| m.heartbeat_stats()),
            client: self.client.as_ref().expect(UNPARKED),
        }
    }

    /// Calls the statistics handler when a document is due.
    fn maybe_emit_statistics(&mut self, now: Instant) {
        self.metrics.note_time(now);
        if self.statistics.handler.is_none()
            || self.client.is_none()
            || !self.statistics.timer.due(now)
        {
            return;
        }
        let doc = self
            .metrics
            .statistics(&self.metric_sources(), now)
            .to_string();
        if let Some(h) = self.statistics.handler.as_mut() {
            h(&doc);
        }
    }

    /// A handle other threads may use to interrupt a blocking call.
    pub fn wakeup_handle(&self) -> WakeupHandle {
        self.wakeup.clone()
    }

    /// Interrupts the current (or next) blocking call with [`Error::Wakeup`].
    pub fn wakeup(&self) {
        self.wakeup.wakeup();
    }

    fn ensure_open(&mut self) -> Result<()> {
        self.unpark();
        if self.closed {
            Err(Error::IllegalState("the consumer is closed".into()))
        } else {
            Ok(())
        }
    }

    fn check_assigned(&self, tp: &TopicPartition) -> Result<()> {
        if self.subscriptions.is_assigned(tp) {
            Ok(())
        } else {
            Err(Error::NotAssigned(tp.clone()))
        }
    }

    // ---- assignment ----

    /// Assigns exactly these partitions (replacing the previous assignment).
    /// An empty list unassigns everything. With auto-commit, the consumed
    /// offsets are committed (async) before the assignment changes.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<()> {
        self.call(|c| {
            let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
            if c.group_mode() {
                return Err(Error::IllegalState(
                    "assign while subscribed: call unsubscribe first (Java forbids mixing them)"
                        .into(),
                ));
            }
            if let Some(tp) = partitions.iter().find(|tp| tp.topic.trim().is_empty()) {
                return Err(Error::IllegalState(format!(
                    "cannot assign a partition with an empty topic name: {tp}"
                )));
            }
            if c.config.auto_commit_enabled() {
                let consumed = c.subscriptions.all_consumed();
                if !consumed.is_empty() {
                    c.coordinator.commit_async(consumed, None);
                }
            }
            c.subscriptions.assign_from_user(partitions.iter().cloned());
            c.fetcher
                .clear_buffered_data_for_unassigned(&c.subscriptions);
            let topics: HashSet<String> = partitions.iter().map(|tp| tp.topic.clone()).collect();
            if c.net().metadata_mut().set_topics(topics) {
                c.net().metadata_mut().request_update();
            }
            c.pending_committed = None;
            Ok(())
        })
    }

    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.subscriptions.assigned_partitions()
    }

    // ---- poll ----

    /// Fetches records, waiting up to `timeout` for some to arrive. Returns at
    /// most `max.poll.records`; positions move past exactly the records returned.
    pub fn poll(&mut self, timeout: Duration) -> Result<ConsumerRecords<K, V>> {
        self.call(|c| {
            let r = c.poll_once(timeout);
            // The time of the poll loop's last pass: no clock read of its own.
            c.metrics.record_poll_end();
            r
        })
    }

    fn poll_once(&mut self, timeout: Duration) -> Result<ConsumerRecords<K, V>> {
        if self.in_listener {
            return Err(Error::IllegalState(
                "poll from inside a rebalance listener".into(),
            ));
        }
        if self.subscriptions.num_assigned() == 0 && !self.group_mode() {
            return Err(Error::IllegalState(
                "the consumer is not subscribed to any topics or assigned any partitions".into(),
            ));
        }
        let start = (self.clock)();
        self.metrics.record_poll_start(start);
        let deadline = start + timeout;
        if self.group_mode() {
            if let Some(m) = self.membership.as_mut() {
                m.record_poll(start);
            }
        }
        let mut polled = false;
        loop {
            if self.wakeup.take() {
                return Err(Error::Wakeup);
            }
            self.auth_failures.check()?;
            let now = (self.clock)();
            self.maybe_emit_statistics(now);
            self.group_poll(now)?;
            self.coordinator_poll(now);
            self.update_fetch_positions(now)?;
            let records = self.collect_fetch(now)?;
            if !records.is_empty() {
                // Pipelining: the next fetch travels while the caller works.
                if self
                    .fetcher
                    .send_fetches(unparked(&mut self.client), &self.subscriptions, now)
                    > 0
                {
                    let events = self.net().poll(Duration::ZERO, now);
                    self.dispatch(events, now);
                }
                return Ok(records);
            }
            self.fetcher
                .send_fetches(unparked(&mut self.client), &self.subscriptions, now);
            if polled && now >= deadline {
                return Ok(ConsumerRecords::empty());
            }
            let wait = self.poll_wait(now, deadline);
            let events = self.net().poll(wait, now);
            polled = true;
            let now = (self.clock)();
            self.dispatch(events, now);
        }
    }

    fn coordinator_poll(&mut self, now: Instant) {
        // Auto-commit only under a valid generation (during a rebalance it
        // waits; the revocation commits anyway).
        if let Ok(generation) = self.commit_generation() {
            self.coordinator.set_generation(generation);
            let subs = &self.subscriptions;
            self.coordinator
                .maybe_auto_commit(now, || subs.all_consumed());
        }
        self.coordinator.poll(unparked(&mut self.client), now);
        self.coordinator.invoke_completed_offset_commit_callbacks();
    }

    fn collect_fetch(&mut self, now: Instant) -> Result<ConsumerRecords<K, V>> {
        let (result, outcome) = self.collector.collect_fetch(
            self.fetcher.buffer_mut(),
            &mut self.subscriptions,
            self.key_deserializer.as_ref(),
            self.value_deserializer.as_ref(),
            now,
        );
        if outcome.metadata_update_needed {
            self.net().metadata_mut().request_update();
        }
        if let Ok(records) = &result {
            let parts = records
                .partitions()
                .map(|tp| (tp, records.records(tp).len()));
            self.metrics.record_consumed(parts, now);
        }
        result
    }

    /// How long the network poll may block: until the caller's deadline or
    /// an internal one, shorter while work waits for a connection.
    fn poll_wait(&self, now: Instant, deadline: Instant) -> Duration {
        let mut until = deadline;
        let group_deadline = self
            .membership
            .as_ref()
            .filter(|_| self.group_mode())
            .and_then(|m| m.next_deadline(now));
        for d in [
            self.subscriptions.next_reset_deadline(),
            self.coordinator.next_deadline(),
            self.committed_retry_at,
            group_deadline,
            self.statistics.deadline(),
        ]
        .into_iter()
        .flatten()
        {
            until = until.min(d);
        }
        let mut wait = until.saturating_duration_since(now);
        let waiting_for_node = !self.subscriptions.has_all_fetch_positions()
            || self.coordinator.has_pending_commits()
            || (self.fetcher.in_flight_count() == 0
                && !self
                    .subscriptions
                    .fetchable_partitions(|_| false)
                    .is_empty()
                && self.fetcher.buffer().is_empty());
        if waiting_for_node {
            wait = wait.min(self.config.retry_backoff);
        }
        wait
    }

    fn dispatch(&mut self, events: Vec<ClientEvent>, now: Instant) {
        let mut metadata_update = false;
        for event in events {
            self.auth_failures.record(&event);
            // A disconnect concerns every component with requests on that
            // connection, and the membership even without any.
            if let ClientEvent::Disconnected { .. } = event {
                if let Some(m) = self.membership.as_mut() {
                    m.handle_event(&event, now);
                }
                self.fetcher.handle_event(&event, &mut metadata_update);
                self.offset_fetcher.handle_event(
                    &event,
                    &mut self.subscriptions,
                    &mut metadata_update,
                    now,
                );
                self.coordinator.handle_event(&event, now);
                continue;
            }
            if let Some(sent) = self.fetcher.fetch_sent_at(&event) {
                let f = &self.fetcher;
                let names = |id: &_| f.in_flight_topic_name(event.node(), id);
                self.metrics.record_fetch(&event, sent, names, now);
            }
            if self.fetcher.handle_event(&event, &mut metadata_update) {
                continue;
            }
            if self.offset_fetcher.handle_event(
                &event,
                &mut self.subscriptions,
                &mut metadata_update,
                now,
            ) {
                continue;
            }
            if self.coordinator.handle_event(&event, now) {
                continue;
            }
            if let Some(m) = self.membership.as_mut() {
                if m.handle_event(&event, now) {
                    continue;
                }
            }
            tracing::trace!(node = event.node(), "event for no pending request");
        }
        if metadata_update {
            self.net().metadata_mut().request_update();
        }
    }

    /// Gives partitions without a position one: the committed offset if there
    /// is one, else `auto.offset.reset`; sends the resets' ListOffsets.
    fn update_fetch_positions(&mut self, now: Instant) -> Result<()> {
        // KIP-320: positions whose leader epoch changed are validated first.
        self.offset_fetcher.validate_positions_if_needed(
            unparked(&mut self.client),
            &mut self.subscriptions,
            now,
        )?;
        if self.subscriptions.has_all_fetch_positions() {
            return Ok(());
        }
        let initializing = self.subscriptions.initializing_partitions();
        if !initializing.is_empty() {
            if self.coordinator.group_id().is_some() {
                self.refresh_committed_offsets(initializing, now)?;
            } else {
                let undefined = self.subscriptions.reset_initializing_positions();
                if !undefined.is_empty() {
                    return Err(Error::NoOffsetForPartition(undefined));
                }
            }
        }
        self.offset_fetcher.reset_positions_if_needed(
            unparked(&mut self.client),
            &mut self.subscriptions,
            now,
        );
        Ok(())
    }

    fn refresh_committed_offsets(
        &mut self,
        initializing: Vec<TopicPartition>,
        now: Instant,
    ) -> Result<()> {
        if let Some((id, partitions)) = self.pending_committed.take() {
            match self.coordinator.take_fetch_result(id) {
                None => {
                    self.pending_committed = Some((id, partitions));
                    return Ok(());
                }
                Some(Ok(committed)) => {
                    for (tp, om) in &committed {
                        if let Some(om) = om {
                            tracing::debug!(%tp, offset = om.offset, "starting at the committed offset");
                            self.subscriptions.seek_to_committed(tp, om);
                        }
                    }
                    let asked: HashSet<&TopicPartition> = partitions.iter().collect();
                    let undefined = self
                        .subscriptions
                        .reset_initializing_positions_where(|tp| asked.contains(tp));
                    if !undefined.is_empty() {
                        return Err(Error::NoOffsetForPartition(undefined));
                    }
                }
                Some(Err(e)) if e.is_retriable() => {
                    tracing::debug!(error = %e, "committed offsets look-up failed: retrying after backoff");
                    self.committed_retry_at = Some(now + self.config.retry_backoff);
                }
                Some(Err(e)) => return Err(e),
            }
        }
        let remaining: Vec<TopicPartition> = initializing
            .into_iter()
            .filter(|tp| {
                self.subscriptions
                    .state(tp)
                    .map(|s| s.position.is_none())
                    .unwrap_or(false)
                    && !self.subscriptions.has_valid_position(tp)
            })
            .collect();
        let still: Vec<TopicPartition> = remaining
            .into_iter()
            .filter(|tp| self.subscriptions.initializing_partitions().contains(tp))
            .collect();
        let backing_off = self.committed_retry_at.is_some_and(|t| now < t);
        if !still.is_empty() && !backing_off {
            self.committed_retry_at = None;
            let id = self.coordinator.start_fetch_committed(still.clone());
            self.pending_committed = Some((id, still));
        }
        Ok(())
    }

    // ---- blocking helper ----

    /// Drives the network until `step` yields a result or `deadline` passes.
    fn drive<T>(
        &mut self,
        deadline: Instant,
        what: &str,
        mut step: impl FnMut(&mut Self, Instant) -> Option<Result<T>>,
    ) -> Result<T> {
        loop {
            if self.wakeup.take() {
                return Err(Error::Wakeup);
            }
            self.auth_failures.check()?;
            let now = (self.clock)();
            self.sync_group_coordinator(now);
            self.coordinator.poll(unparked(&mut self.client), now);
            if let Some(r) = step(self, now) {
                return r;
            }
            if now >= deadline {
                // Why, when the cluster could not be reached at all.
                let errors = self.client.as_ref().expect(UNPARKED).connection_errors();
                let why = prozess_network::describe_connection_errors(&errors);
                return Err(Error::Timeout(format!("{what}{why}")));
            }
            let wait = deadline
                .saturating_duration_since(now)
                .min(self.config.retry_backoff);
            let events = self.net().poll(wait, now);
            let now = (self.clock)();
            self.dispatch(events, now);
        }
    }

    fn deadline(&self, timeout: Duration) -> Instant {
        (self.clock)() + timeout
    }

    // ---- positions ----

    /// Sets the position of `tp` to `offset`; the next poll reads from there.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.seek_with_metadata(tp, offset, None)
    }

    /// Seek with the leader epoch of the record before `offset`, if known.
    pub fn seek_with_metadata(
        &mut self,
        tp: &TopicPartition,
        offset: i64,
        leader_epoch: Option<i32>,
    ) -> Result<()> {
        self.call(|c| {
            if offset < 0 {
                return Err(Error::IllegalState(format!(
                    "seek offset must not be negative: {offset}"
                )));
            }
            c.check_assigned(tp)?;
            tracing::info!(%tp, offset, "seeking");
            c.fetcher.buffer_mut().remove_partition(tp);
            // With an epoch the position is validated first (KIP-320).
            c.subscriptions.seek_unvalidated(
                tp,
                FetchPosition {
                    offset,
                    offset_epoch: leader_epoch,
                    current_leader_epoch: None,
                },
            );
            Ok(())
        })
    }

    fn seek_to(&mut self, tps: Vec<TopicPartition>, strategy: OffsetResetStrategy) -> Result<()> {
        self.call(|c| {
            let tps: Vec<TopicPartition> = if tps.is_empty() {
                c.subscriptions.assigned_partitions()
            } else {
                tps
            };
            for tp in &tps {
                c.check_assigned(tp)?;
            }
            for tp in &tps {
                c.fetcher.buffer_mut().remove_partition(tp);
                c.subscriptions.request_offset_reset(tp, strategy);
            }
            Ok(())
        })
    }

    /// Moves to the first offset of each partition (all assigned ones if
    /// empty), evaluated lazily on the next poll or position call.
    pub fn seek_to_beginning<T: Borrow<TopicPartition>>(
        &mut self,
        tps: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        self.seek_to(owned(tps), OffsetResetStrategy::Earliest)
    }

    /// Moves to the end of each partition (all assigned ones if empty).
    pub fn seek_to_end<T: Borrow<TopicPartition>>(
        &mut self,
        tps: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        self.seek_to(owned(tps), OffsetResetStrategy::Latest)
    }

    /// The offset of the next record to be returned for `tp`, looking it up
    /// (committed offset or reset) if needed, within `default.api.timeout.ms`.
    pub fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        let timeout = self.config.default_api_timeout;
        self.position_with_timeout(tp, timeout)
    }

    /// [`Self::position`] with an explicit timeout.
    pub fn position_with_timeout(&mut self, tp: &TopicPartition, timeout: Duration) -> Result<i64> {
        self.call(|c| {
            c.check_assigned(tp)?;
            let deadline = c.deadline(timeout);
            let tp = tp.clone();
            c.drive(deadline, "position", |c, now| {
                if let Some(p) = c.subscriptions.position(&tp) {
                    return Some(Ok(p.offset));
                }
                if let Err(e) = c.update_fetch_positions(now) {
                    return Some(Err(e));
                }
                c.subscriptions.position(&tp).map(|p| Ok(p.offset))
            })
        })
    }

    /// Stops fetching from these partitions; data already fetched for them
    /// stays buffered and is returned after `resume`.
    pub fn pause<T: Borrow<TopicPartition>>(
        &mut self,
        tps: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        let tps = owned(tps);
        for tp in &tps {
            self.check_assigned(tp)?;
        }
        for tp in &tps {
            self.subscriptions.pause(tp);
        }
        Ok(())
    }

    /// Resumes fetching from paused partitions.
    pub fn resume<T: Borrow<TopicPartition>>(
        &mut self,
        tps: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        let tps = owned(tps);
        for tp in &tps {
            self.check_assigned(tp)?;
        }
        for tp in &tps {
            self.subscriptions.resume(tp);
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.subscriptions.paused_partitions()
    }

    /// The lag of `tp` from the last fetch (high watermark, or last stable
    /// offset under read_committed, minus position); `None` if not known yet.
    pub fn current_lag(&self, tp: &TopicPartition) -> Option<i64> {
        self.subscriptions.partition_lag(
            tp,
            self.config.isolation_level == IsolationLevel::ReadCommitted,
        )
    }

    // ---- offset look-ups ----

    fn list_offsets(
        &mut self,
        wanted: Vec<(TopicPartition, i64)>,
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, crate::offset_fetcher::ListOffsetData>> {
        self.call(|c| {
            let topics: Vec<String> = wanted.iter().map(|(tp, _)| tp.topic.clone()).collect();
            if c.net().metadata_mut().add_topics(topics) {
                c.net().metadata_mut().request_update();
            }
            let id = c.next_lookup_id;
            c.next_lookup_id += 1;
            let deadline = c.deadline(timeout);
            let mut remaining: HashMap<TopicPartition, i64> = wanted.into_iter().collect();
            let mut out = HashMap::new();
            c.drive(deadline, "list offsets", |c, now| {
                for (lid, tp, r) in c.offset_fetcher.take_lookup_results() {
                    if lid != id || !remaining.contains_key(&tp) {
                        continue;
                    }
                    match r {
                        Ok(d) => {
                            remaining.remove(&tp);
                            out.insert(tp, d);
                        }
                        Err(code) if OffsetFetcher::is_retriable(code) => {
                            c.net().metadata_mut().request_update();
                        }
                        Err(code) => return Some(Err(Error::PartitionError { tp, code })),
                    }
                }
                if remaining.is_empty() {
                    return Some(Ok(std::mem::take(&mut out)));
                }
                let ask: Vec<(TopicPartition, i64)> =
                    remaining.iter().map(|(tp, ts)| (tp.clone(), *ts)).collect();
                c.offset_fetcher
                    .send_lookup(unparked(&mut c.client), id, &ask, now);
                None
            })
        })
    }

    /// The first offset of each partition.
    pub fn beginning_offsets<T: Borrow<TopicPartition>>(
        &mut self,
        tps: impl IntoIterator<Item = T>,
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, i64>> {
        let r = self.list_offsets(
            owned(tps)
                .into_iter()
                .map(|tp| (tp, EARLIEST_TIMESTAMP))
                .collect(),
            timeout,
        )?;
        Ok(r.into_iter().map(|(tp, d)| (tp, d.offset)).collect())
    }

    /// The end offset of each partition (high watermark, or the last stable
    /// offset under read_committed).
    pub fn end_offsets<T: Borrow<TopicPartition>>(
        &mut self,
        tps: impl IntoIterator<Item = T>,
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, i64>> {
        let r = self.list_offsets(
            owned(tps)
                .into_iter()
                .map(|tp| (tp, LATEST_TIMESTAMP))
                .collect(),
            timeout,
        )?;
        Ok(r.into_iter().map(|(tp, d)| (tp, d.offset)).collect())
    }

    /// For each partition, the first offset whose timestamp is at or after
    /// the given time; `None` if there is no such record.
    pub fn offsets_for_times(
        &mut self,
        times: &HashMap<TopicPartition, i64>,
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndTimestamp>>> {
        if let Some((tp, ts)) = times.iter().find(|(_, ts)| **ts < 0) {
            return Err(Error::IllegalState(format!(
                "offsets_for_times: negative timestamp {ts} for {tp}"
            )));
        }
        let r = self.list_offsets(
            times.iter().map(|(tp, ts)| (tp.clone(), *ts)).collect(),
            timeout,
        )?;
        Ok(r.into_iter()
            .map(|(tp, d)| {
                let v = (d.offset >= 0).then_some(OffsetAndTimestamp {
                    offset: d.offset,
                    timestamp: d.timestamp,
                    leader_epoch: d.leader_epoch,
                });
                (tp, v)
            })
            .collect())
    }

    // ---- metadata ----

    fn wait_metadata_update(&mut self, timeout: Duration) -> Result<()> {
        let before = self.net().metadata().update_version();
        self.net().metadata_mut().request_update();
        let deadline = self.deadline(timeout);
        self.drive(deadline, "metadata update", |c, _| {
            (c.net().metadata().update_version() > before).then_some(Ok(()))
        })
    }

    /// The partitions of `topic` (empty if the topic does not exist).
    pub fn partitions_for(&mut self, topic: &str) -> Result<Vec<PartitionMetadata>> {
        self.call(|c| {
            if let Some(t) = c.net().metadata().topic(topic) {
                if !t.partitions.is_empty() {
                    return Ok(t.partitions.clone());
                }
            }
            c.net().metadata_mut().add_topics([topic.to_string()]);
            let timeout = c.config.default_api_timeout;
            c.wait_metadata_update(timeout)?;
            Ok(c.net()
                .metadata()
                .topic(topic)
                .map(|t| t.partitions.clone())
                .unwrap_or_default())
        })
    }

    /// Every topic of the cluster with its partitions (internal topics
    /// excluded if `exclude.internal.topics`).
    pub fn list_topics(&mut self) -> Result<HashMap<String, Vec<PartitionMetadata>>> {
        self.call(|c| {
            c.net().metadata_mut().set_all_topics(true);
            let timeout = c.config.default_api_timeout;
            let r = c.wait_metadata_update(timeout);
            let out = unparked(&mut c.client)
                .metadata()
                .topics()
                .filter(|t| !(c.config.exclude_internal_topics && t.is_internal))
                .map(|t| (t.name.clone(), t.partitions.clone()))
                .collect();
            // A pattern subscription needs every topic's metadata: keep it.
            let all = c.pattern.is_some();
            c.net().metadata_mut().set_all_topics(all);
            r.map(|_| out)
        })
    }

    // ---- commits ----

    /// Commits the positions of all assigned partitions and waits for the
    /// acknowledgement (up to `default.api.timeout.ms`).
    pub fn commit_sync(&mut self) -> Result<()> {
        let offsets = self.subscriptions.all_consumed();
        let timeout = self.config.default_api_timeout;
        self.commit_sync_offsets_with_timeout(offsets, timeout)
    }

    /// Commits the given offsets (with their metadata strings) and waits.
    pub fn commit_sync_offsets(&mut self, offsets: Offsets) -> Result<()> {
        let timeout = self.config.default_api_timeout;
        self.commit_sync_offsets_with_timeout(offsets, timeout)
    }

    /// [`Self::commit_sync_offsets`] with an explicit timeout. Retriable
    /// errors are retried until the timeout.
    pub fn commit_sync_offsets_with_timeout(
        &mut self,
        offsets: Offsets,
        timeout: Duration,
    ) -> Result<()> {
        self.call(|c| {
            if c.coordinator.group_id().is_none() {
                return Err(Error::InvalidGroupId);
            }
            c.coordinator.invoke_completed_offset_commit_callbacks();
            if offsets.is_empty() {
                // Nothing to commit: done, whatever the group's state (as Java).
                return Ok(());
            }
            let deadline = c.deadline(timeout);
            let result = loop {
                let generation = c.commit_generation()?;
                c.coordinator.set_generation(generation);
                let id = c.coordinator.start_commit(offsets.clone());
                let r = c.drive(deadline, "offset commit", |c, _| {
                    c.coordinator.take_commit_result(id)
                });
                match r {
                    Err(e) if e.is_retriable() && (c.clock)() < deadline => {
                        tracing::debug!(error = %e, "offset commit failed: retrying");
                        let wait_until = ((c.clock)() + c.config.retry_backoff).min(deadline);
                        let _ = c.drive(wait_until, "backoff", |_, _| None::<Result<()>>);
                        if c.wakeup.take() {
                            break Err(Error::Wakeup);
                        }
                    }
                    other => break other,
                }
            };
            c.coordinator.invoke_completed_offset_commit_callbacks();
            result
        })
    }

    /// Commits the positions of all assigned partitions without waiting;
    /// `callback` runs inside a later poll or commit call.
    pub fn commit_async(&mut self, callback: Option<OffsetCommitCallback>) -> Result<()> {
        let offsets = self.subscriptions.all_consumed();
        self.commit_async_offsets(offsets, callback)
    }

    /// Commits the given offsets without waiting.
    pub fn commit_async_offsets(
        &mut self,
        offsets: Offsets,
        callback: Option<OffsetCommitCallback>,
    ) -> Result<()> {
        self.call(|c| {
            c.coordinator.invoke_completed_offset_commit_callbacks();
            let generation = if offsets.is_empty() {
                Ok(Generation::none())
            } else {
                c.commit_generation()
            };
            match generation {
                Ok(generation) => {
                    c.coordinator.set_generation(generation);
                    c.coordinator.commit_async(offsets, callback);
                }
                Err(e) => {
                    // Java reports this through the callback (in a later call),
                    // not the call itc.
                    c.coordinator.fail_async(offsets, callback, e);
                    return Ok(());
                }
            }
            let now = (c.clock)();
            c.sync_group_coordinator(now);
            c.coordinator.poll(unparked(&mut c.client), now);
            // Write the request out without blocking.
            let events = unparked(&mut c.client).poll(Duration::ZERO, now);
            c.dispatch(events, now);
            Ok(())
        })
    }

    /// The committed offsets of these partitions (`None` where nothing is committed).
    pub fn committed<T: Borrow<TopicPartition>>(
        &mut self,
        tps: impl IntoIterator<Item = T>,
    ) -> Result<CommittedOffsets> {
        let timeout = self.config.default_api_timeout;
        self.committed_with_timeout(tps, timeout)
    }

    /// [`Self::committed`] with an explicit timeout.
    pub fn committed_with_timeout<T: Borrow<TopicPartition>>(
        &mut self,
        tps: impl IntoIterator<Item = T>,
        timeout: Duration,
    ) -> Result<CommittedOffsets> {
        let tps = owned(tps);
        self.call(|c| {
            if c.coordinator.group_id().is_none() {
                return Err(Error::InvalidGroupId);
            }
            let deadline = c.deadline(timeout);
            let mut id = c.coordinator.start_fetch_committed(tps.clone());
            c.drive(deadline, "committed offsets", |c, _| {
                match c.coordinator.take_fetch_result(id)? {
                    Ok(r) => Some(Ok(r)),
                    Err(e) if e.is_retriable() => {
                        id = c.coordinator.start_fetch_committed(tps.clone());
                        None
                    }
                    Err(e) => Some(Err(e)),
                }
            })
        })
    }

    // ---- close ----

    /// Closes the consumer: with auto-commit, commits the consumed offsets;
    /// waits (up to `timeout`) for pending async commits and runs their
    /// callbacks. Later calls fail with `IllegalState`.
    pub fn close(&mut self, timeout: Duration) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        // Nothing is parked afterwards: the consumer is closed and the
        // thread stopped.
        self.call(|c| c.close_inner(timeout))
    }

    fn close_inner(&mut self, timeout: Duration) -> Result<()> {
        let deadline = self.deadline(timeout);
        let mut result = self.close_group(deadline);
        if self.config.auto_commit_enabled() {
            let offsets = self.subscriptions.all_consumed();
            if !offsets.is_empty() {
                let remaining = deadline.saturating_duration_since((self.clock)());
                if let Err(e) = self.commit_sync_offsets_with_timeout(offsets, remaining) {
                    tracing::warn!(error = %e, "auto-commit on close failed");
                    result = Err(e);
                }
            }
        }
        if self.coordinator.has_pending_commits() {
            let r = self.drive(deadline, "pending commits on close", |c, _| {
                (!c.coordinator.has_pending_commits()).then_some(Ok(()))
            });
            if let Err(e) = r {
                tracing::warn!(error = %e, "pending async commits did not finish before close");
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        self.coordinator.invoke_completed_offset_commit_callbacks();
        let nodes: Vec<i32> = self.net().metadata().brokers().keys().copied().collect();
        for node in nodes {
            self.net().close(node);
        }
        self.closed = true;
        if let Some(bg) = self.background.take() {
            bg.stop();
        }
        result
    }

    /// The position and epoch of an assigned partition (for tests/diagnostics).
    pub fn fetch_position(&self, tp: &TopicPartition) -> Option<FetchPosition> {
        self.subscriptions.position(tp)
    }

    /// Bytes of fetched record data buffered and not yet returned.
    pub fn buffered_bytes(&self) -> usize {
        self.fetcher.buffer().buffered_bytes()
    }

    /// Offsets a commit_sync() would commit now.
    pub fn consumed_offsets(&self) -> HashMap<TopicPartition, OffsetAndMetadata> {
        self.subscriptions.all_consumed()
    }
}

/// Collects borrowed or owned partitions into a vector.
fn owned<T: Borrow<TopicPartition>>(tps: impl IntoIterator<Item = T>) -> Vec<TopicPartition> {
    tps.into_iter().map(|t| t.borrow().clone()).collect()
}
