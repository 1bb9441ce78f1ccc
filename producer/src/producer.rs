//! `KafkaProducer` (the Java client's shape) and the sarama-style facades
//! `SyncProducer` (send and wait) and `AsyncProducer` (delivery reports on
//! channels).
//!
//! `send` runs on the caller's thread: it waits for the topic's metadata,
//! serializes, picks the partition and appends to the accumulator (blocking
//! up to `max.block.ms` in total). A dedicated I/O thread owns the network
//! client and runs the [`Sender`] loop; it completes the [`DeliveryFuture`]s
//! and runs callbacks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prozess_network::{
    ConsumerGroupMetadata, KafkaClient, NetworkClient, NetworkConfig, NetworkError,
    OffsetAndMetadata, PartitionMetadata, TopicPartition, WakeupHandle,
};

use crate::accumulator::{
    batch_size_upper_bound, record_size_upper_bound, AccumulatorConfig, RecordAccumulator,
    StoredRecord, Thunk,
};
use crate::config::{PartitionerKind, ProducerConfig};
use crate::delivery::{Callback, DeliveryFuture};
use crate::error::{Error, Result};
use crate::metadata::ProducerMetadata;
use crate::partitioner::{
    DefaultPartitioner, ManualPartitioner, PartitionLoad, Partitioner, RandomPartitioner,
    RoundRobinPartitioner,
};
use crate::record::{ProducerRecord, RecordMetadata};
use crate::sender::{Sender, SenderConfig};
use crate::serializer::Serializer;
use crate::transactions::{
    SharedTransactions, TransactionState, TransactionalRequestResult, Transactions,
};

/// State shared by the producer handle and its I/O thread.
struct Shared {
    closing: AtomicBool,
    force_close: AtomicBool,
    finished: Mutex<bool>,
    finished_cond: Condvar,
}

/// A Kafka producer: thread-safe, one I/O thread, records batched per
/// partition. Dropping it closes it (waiting for pending records).
pub struct KafkaProducer<K, V> {
    config: ProducerConfig,
    key_serializer: Box<dyn Serializer<K>>,
    value_serializer: Box<dyn Serializer<V>>,
    partitioner: Arc<dyn Partitioner>,
    /// Records without key and with the default partitioner use the
    /// built-in sticky logic with their real size.
    builtin: Option<Arc<DefaultPartitioner>>,
    accumulator: Arc<RecordAccumulator>,
    metadata: Arc<ProducerMetadata>,
    wakeup: WakeupHandle,
    shared: Arc<Shared>,
    io_thread: Mutex<Option<JoinHandle<()>>>,
    /// `transactional.id` set: the transaction state shared with the sender.
    transactions: Option<SharedTransactions>,
    /// Metrics snapshots and the statistics handler, served by the I/O thread.
    metrics: Arc<crate::metrics::MetricsExchange>,
}

impl<K, V> std::fmt::Debug for KafkaProducer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer")
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

/// The network settings of a producer config, including
/// `security.protocol` with the `sasl.*` and `ssl.*` settings.
pub fn network_config(c: &ProducerConfig) -> Result<NetworkConfig> {
    let mut n = NetworkConfig {
        bootstrap_servers: c.bootstrap_servers.clone(),
        client_id: c.client_id.clone(),
        request_timeout: c.request_timeout,
        reconnect_backoff: c.reconnect_backoff,
        reconnect_backoff_max: c.reconnect_backoff_max,
        max_in_flight_requests_per_connection: c.max_in_flight_requests_per_connection,
        metadata_max_age: c.metadata_max_age,
        retry_backoff: c.retry_backoff,
        retry_backoff_max: c.retry_backoff_max,
        send_buffer: usize::try_from(c.send_buffer_bytes).ok(),
        receive_buffer: usize::try_from(c.receive_buffer_bytes).ok(),
        connections_max_idle: c.connections_max_idle,
        ..NetworkConfig::default()
    };
    c.security.apply(&mut n)?;
    Ok(n)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl<K, V> KafkaProducer<K, V> {
    /// A producer connected to `config.bootstrap_servers` over its own
    /// [`NetworkClient`], as the Java client's
    /// `new KafkaProducer<>(props, keySerializer, valueSerializer)`.
    pub fn new(
        config: ProducerConfig,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
    ) -> Result<Self> {
        let client = NetworkClient::new(network_config(&config)?).map_err(|e| match e {
            // Besides the bootstrap list, only the TLS set-up (CA files
            // and PEM) is checked when the client is built.
            NetworkError::Config(m) if !m.contains("bootstrap") => {
                // The message starts with the setting at fault (CA, trust
                // store, keystore, key password).
                let key = crate::security::SECURITY_KEYS
                    .iter()
                    .filter(|k| m.contains(*k))
                    .min_by_key(|k| m.find(*k))
                    .copied()
                    .unwrap_or("ssl.ca.location");
                Error::config(key, m)
            }
            NetworkError::Config(m) => Error::config("bootstrap.servers", m),
            other => Error::Network(other.to_string()),
        })?;
        Self::with_client(config, key_serializer, value_serializer, client)
    }

    /// A producer over the network client `client` (the real
    /// `NetworkClient`, or a `MockClient` in tests).
    pub fn with_client<C>(
        config: ProducerConfig,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
        client: C,
    ) -> Result<Self>
    where
        C: KafkaClient + Send + 'static,
    {
        let accumulator = Arc::new(RecordAccumulator::new(AccumulatorConfig {
            batch_size: config.batch_size,
            buffer_memory: config.buffer_memory,
            linger: config.linger,
            retry_backoff: config.retry_backoff,
            retry_backoff_max: config.retry_backoff_max,
            delivery_timeout: config.delivery_timeout,
            max_in_flight_per_partition: config.max_in_flight_requests_per_connection,
            compression: crate::sender::compression_of(config.compression_type),
            compression_level: config.compression_level,
        }));
        let wakeup = client.wakeup_handle();
        let w = wakeup.clone();
        accumulator.set_waker(move || w.wakeup());
        let metadata = Arc::new(ProducerMetadata::with_max_idle(config.metadata_max_idle));
        let mut builtin = None;
        let partitioner: Arc<dyn Partitioner> = match &config.partitioner {
            PartitionerKind::Default => {
                let p = Arc::new(DefaultPartitioner::new(
                    config.batch_size,
                    config.partitioner_ignore_keys,
                ));
                builtin = Some(p.clone());
                p
            }
            PartitionerKind::RoundRobin => Arc::new(RoundRobinPartitioner::new()),
            PartitionerKind::Random => Arc::new(RandomPartitioner::new()),
            PartitionerKind::Manual => Arc::new(ManualPartitioner),
            PartitionerKind::Custom(p) => p.clone(),
        };
        let shared = Arc::new(Shared {
            closing: AtomicBool::new(false),
            force_close: AtomicBool::new(false),
            finished: Mutex::new(false),
            finished_cond: Condvar::new(),
        });
        let mut sender = Sender::new(
            client,
            accumulator.clone(),
            metadata.clone(),
            SenderConfig::from_config(&config),
        );
        let transactions = config.transactional_id.as_ref().map(|id| {
            Arc::new(Mutex::new(Transactions::new(
                id.clone(),
                config.transaction_timeout,
                config.retry_backoff,
            )))
        });
        if let Some(t) = &transactions {
            sender.set_transactions(t.clone());
        }
        let metrics = Arc::new(crate::metrics::MetricsExchange::default());
        sender.set_metrics_exchange(
            metrics.clone(),
            config.client_id.clone(),
            config.statistics_interval,
        );
        let thread_shared = shared.clone();
        let thread_accumulator = accumulator.clone();
        let name = if config.client_id.is_empty() {
            "prozess-producer-network-thread".to_string()
        } else {
            format!("prozess-producer-network-thread | {}", config.client_id)
        };
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || io_loop(sender, thread_shared, thread_accumulator))
            .map_err(|e| Error::Fatal(format!("could not start the I/O thread: {e}")))?;
        Ok(KafkaProducer {
            config,
            key_serializer: Box::new(key_serializer),
            value_serializer: Box::new(value_serializer),
            partitioner,
            builtin,
            accumulator,
            metadata,
            wakeup,
            shared,
            io_thread: Mutex::new(Some(handle)),
            transactions,
            metrics,
        })
    }

    /// The producer's metrics now, with the Java client's group and metric
    /// names (`producer-metrics`, `producer-topic-metrics`,
    /// `producer-node-metrics`), taken by the I/O thread on its next pass.
    /// Rates are over Java's window (two samples of 30 s); averages and
    /// maxima without events in it are NaN, as in Java. After `close`: the
    /// figures the I/O thread left.
    pub fn metrics(&self) -> prozess_network::Metrics {
        let finished = || {
            *self
                .shared
                .finished
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        };
        let last = || {
            self.metrics
                .last
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_else(|| prozess_network::Metrics::new(self.config.client_id.clone()))
        };
        if finished() {
            return last();
        }
        self.metrics.request();
        self.wakeup.wakeup();
        // The I/O thread answers within one pass; a pass blocks at most
        // until its next deadline, and the wake-up ends that wait.
        loop {
            if let Some(m) = self.metrics.wait(Duration::from_millis(100)) {
                return m;
            }
            if finished() {
                return last();
            }
            self.wakeup.wakeup();
        }
    }

    /// Sets the handler of the statistics documents (librdkafka's
    /// `stats_cb`): with `statistics.interval.ms` > 0 it gets one JSON
    /// document per interval, called on the producer's I/O thread.
    pub fn set_statistics_handler(&self, handler: impl FnMut(&str) + Send + 'static) {
        *self
            .metrics
            .handler
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Box::new(handler));
    }

    /// The configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// Sends a record; the future resolves when the broker acknowledged it
    /// (or it failed). Blocks up to `max.block.ms` for metadata and buffer
    /// memory; errors before the record is queued come back as a failed
    /// future.
    pub fn send(&self, record: ProducerRecord<K, V>) -> DeliveryFuture {
        self.send_ref(&record, None)
    }

    /// Like [`send`](Self::send), and runs `callback` on the I/O thread
    /// when the record completes (on the caller's thread if it fails before
    /// being queued).
    pub fn send_with_callback(
        &self,
        record: ProducerRecord<K, V>,
        callback: impl FnOnce(&Result<RecordMetadata>) + Send + 'static,
    ) -> DeliveryFuture {
        self.send_ref(&record, Some(Box::new(callback)))
    }

    /// `send` taking the record by reference (the async facade hands the
    /// record back in its reports).
    pub(crate) fn send_ref(
        &self,
        record: &ProducerRecord<K, V>,
        callback: Option<Callback>,
    ) -> DeliveryFuture {
        // The future comes from the record's batch: no allocation and no
        // completion of its own per record.
        match self.try_send(record, Thunk::deferred(callback)) {
            Ok(future) => future,
            Err((e, thunk)) => {
                tracing::debug!(topic = %record.topic, error = %e, "send failed");
                if let Some(t) = &self.transactions {
                    // As Java's doSend: a record that never joined the
                    // transaction must not let it commit (its offsets would
                    // be committed without it). A refusal by the
                    // transaction state itself changes nothing.
                    if !matches!(e, Error::IllegalState(_) | Error::Closed) {
                        t.lock().unwrap_or_else(|p| p.into_inner()).batch_failed(&e);
                    }
                }
                if let Some(thunk) = thunk {
                    thunk.fail(&e);
                }
                DeliveryFuture::completed(Err(e))
            }
        }
    }

    fn try_send(
        &self,
        record: &ProducerRecord<K, V>,
        thunk: Thunk,
    ) -> std::result::Result<DeliveryFuture, (Error, Option<Thunk>)> {
        macro_rules! tri {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return Err((e, Some(thunk))),
                }
            };
        }
        if self.shared.closing.load(Ordering::Acquire) {
            return Err((Error::Closed, Some(thunk)));
        }
        let started = Instant::now();
        // The clock is read again only if `send` had to wait for metadata.
        let (partitions, now) = match self.metadata.try_partitions(&record.topic) {
            Some(p) => (p, started),
            None => {
                let wake = || self.wakeup.wakeup();
                let p = tri!(self.metadata.wait_for_partitions(
                    &record.topic,
                    self.config.max_block,
                    &wake
                ));
                (p, Instant::now())
            }
        };
        let key = match &record.key {
            Some(k) => tri!(self.key_serializer.serialize(&record.topic, k)),
            None => None,
        };
        let value = match &record.value {
            Some(v) => tri!(self.value_serializer.serialize(&record.topic, v)),
            None => None,
        };
        let size = batch_size_upper_bound(key.as_deref(), value.as_deref(), &record.headers);
        if size > self.config.max_request_size {
            return Err((
                Error::RecordTooLarge {
                    size,
                    max: self.config.max_request_size,
                    limit: "max.request.size",
                },
                Some(thunk),
            ));
        }
        let info = &partitions.partitioner_view;
        let partition = match record.partition {
            Some(p) => {
                if p < 0 || p >= info.num_partitions {
                    return Err((
                        Error::InvalidPartition {
                            topic: record.topic.clone(),
                            partition: p,
                            partitions: info.num_partitions,
                        },
                        Some(thunk),
                    ));
                }
                p
            }
            None => match &self.builtin {
                Some(b) if key.is_none() || self.config.partitioner_ignore_keys => {
                    let record_bytes =
                        record_size_upper_bound(key.as_deref(), value.as_deref(), &record.headers);
                    let load = || {
                        self.accumulator.partition_load(
                            &record.topic,
                            &partitions.partitions,
                            self.config.partitioner_availability_timeout,
                        )
                    };
                    let load: Option<&dyn Fn() -> PartitionLoad> =
                        if self.config.partitioner_adaptive_partitioning {
                            Some(&load)
                        } else {
                            None
                        };
                    b.sticky_partition_with_load(info, record_bytes, load)
                }
                _ => tri!(self.partitioner.partition(
                    &record.topic,
                    key.as_deref(),
                    value.as_deref(),
                    info
                )),
            },
        };
        let stored = StoredRecord {
            timestamp: record.timestamp.unwrap_or_else(now_ms),
            key,
            value,
            headers: record.headers.clone(),
        };
        let remaining = self
            .config
            .max_block
            .saturating_sub(now.saturating_duration_since(started));
        let owned;
        let tp = match partitions.topic_partitions.get(partition as usize) {
            Some(tp) => tp,
            None => {
                owned = TopicPartition::new(record.topic.clone(), partition);
                &owned
            }
        };
        if let Some(t) = &self.transactions {
            let new = tri!(t
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .maybe_add_partition(tp));
            if new {
                // The sender has an AddPartitionsToTxn to send.
                self.wakeup.wakeup();
            }
        }
        // On failure the accumulator reported it to the thunk already.
        match self.accumulator.append(tp, stored, thunk, remaining, now) {
            Ok(appended) => Ok(appended
                .future
                .expect("a deferred thunk gets its batch's future")),
            Err(e) => Err((e, None)),
        }
    }

    fn transactions(&self, call: &str) -> Result<&SharedTransactions> {
        self.transactions.as_ref().ok_or_else(|| {
            Error::IllegalState(format!(
                "{call} needs a transactional producer: set transactional.id"
            ))
        })
    }

    /// Starts an operation on the transaction state (under its lock) and
    /// waits for its result until `deadline`. A timed-out operation goes on;
    /// calling the same method again waits for it (KIP-691).
    fn run_transactional(
        &self,
        call: &str,
        timeout: Duration,
        start: impl FnOnce(&mut Transactions) -> Result<Arc<TransactionalRequestResult>>,
        before_wait: impl FnOnce(Duration),
    ) -> Result<()> {
        let t = self.transactions(call)?;
        let started = Instant::now();
        let result = start(&mut t.lock().unwrap_or_else(|e| e.into_inner()))?;
        self.wakeup.wakeup();
        before_wait(timeout);
        let left = timeout.saturating_sub(started.elapsed());
        match result.wait(left) {
            Some(r) => {
                t.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .result_consumed(&result);
                r
            }
            None => Err(Error::Timeout(timeout)),
        }
    }

    /// Java's `initTransactions`: finds the transaction coordinator and gets
    /// the producer id and epoch for `transactional.id`. This fences older
    /// producers with the same id, and the coordinator completes or aborts a
    /// transaction such a producer left open. Call once, before the first
    /// transaction; a call that timed out can be repeated and resumes.
    pub fn init_transactions(&self, timeout: Duration) -> Result<()> {
        self.run_transactional(
            "init_transactions",
            timeout,
            |t| t.init_transactions(),
            |_| {},
        )
    }

    /// Java's `beginTransaction`: records sent from now on belong to the
    /// transaction.
    pub fn begin_transaction(&self) -> Result<()> {
        self.transactions("begin_transaction")?
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .begin_transaction()
    }

    /// Java's `sendOffsetsToTransaction` (KIP-447): commits the consumer's
    /// `offsets` (the next offsets to read) as part of the transaction, for
    /// the group of `group_metadata` (the consumer's `group_metadata()`:
    /// generation, member id and group instance id let the group
    /// coordinator fence zombie consumers). Blocks up to `max.block.ms`.
    pub fn send_offsets_to_transaction<'a>(
        &self,
        offsets: impl IntoIterator<Item = (&'a TopicPartition, &'a OffsetAndMetadata)>,
        group_metadata: &ConsumerGroupMetadata,
    ) -> Result<()> {
        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = offsets
            .into_iter()
            .map(|(tp, o)| (tp.clone(), o.clone()))
            .collect();
        let group = group_metadata.clone();
        self.run_transactional(
            "send_offsets_to_transaction",
            self.config.max_block,
            move |t| t.send_offsets_to_transaction(offsets, group),
            |_| {},
        )
    }

    /// Java's `commitTransaction`: sends every buffered record, waits for
    /// them, then ends the transaction with EndTxn(commit). Fails if a
    /// record of the transaction failed (then only
    /// [`abort_transaction`](Self::abort_transaction) is possible). On
    /// [`Error::Timeout`] the commit goes on; call again to wait for it.
    pub fn commit_transaction(&self, timeout: Duration) -> Result<()> {
        self.run_transactional(
            "commit_transaction",
            timeout,
            |t| t.begin_commit(),
            |timeout| {
                // Linger does not hold records back from a commit.
                self.accumulator.flush(Some(timeout));
            },
        )
    }

    /// Java's `abortTransaction`: drops the records not yet sent (their
    /// futures fail), waits for those in flight, then EndTxn(abort). On
    /// [`Error::Timeout`] the abort goes on; call again to wait for it.
    pub fn abort_transaction(&self, timeout: Duration) -> Result<()> {
        self.run_transactional("abort_transaction", timeout, |t| t.begin_abort(), |_| {})
    }

    /// The transaction state (`None` without `transactional.id`).
    pub fn transaction_state(&self) -> Option<TransactionState> {
        self.transactions
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(|e| e.into_inner()).state())
    }

    /// Sends everything buffered at once and waits until all records sent
    /// before this call completed.
    pub fn flush(&self) {
        self.accumulator.flush(None);
    }

    /// Like [`flush`](Self::flush), for at most `timeout`; false if records
    /// are still pending then.
    pub fn flush_timeout(&self, timeout: Duration) -> bool {
        self.accumulator.flush(Some(timeout))
    }

    /// The partitions of `topic` (waits up to `max.block.ms` for metadata).
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionMetadata>> {
        let wake = || self.wakeup.wakeup();
        self.metadata
            .wait_for_partitions(topic, self.config.max_block, &wake)
            .map(|t| t.partitions.clone())
    }

    /// Closes the producer: no new records; pending ones are sent for up to
    /// `timeout`, then whatever is left fails with [`Error::Closed`].
    pub fn close(&self, timeout: Duration) {
        let on_io_thread = self
            .io_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|h| h.thread().id() == std::thread::current().id());
        if on_io_thread {
            // Called from a callback: the I/O thread cannot wait for itself.
            // Close at once, as the Java client does (close(0)).
            tracing::warn!("close() called from a producer callback; closing without waiting");
            self.shared.closing.store(true, Ordering::Release);
            self.shared.force_close.store(true, Ordering::Release);
            self.accumulator.close();
            return;
        }
        self.shared.closing.store(true, Ordering::Release);
        self.accumulator.close();
        self.wakeup.wakeup();
        let deadline = crate::delivery::deadline_after(Instant::now(), timeout);
        {
            let mut done = self
                .shared
                .finished
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            while !*done {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                done = self
                    .shared
                    .finished_cond
                    .wait_timeout(done, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        self.shared.force_close.store(true, Ordering::Release);
        self.wakeup.wakeup();
        let handle = self
            .io_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = handle {
            if h.join().is_err() {
                tracing::error!("the producer's I/O thread panicked");
            }
        }
    }
}

impl<K, V> Drop for KafkaProducer<K, V> {
    fn drop(&mut self) {
        let running = self.io_thread.lock().map(|h| h.is_some()).unwrap_or(false);
        if running {
            self.close(Duration::from_secs(u32::MAX as u64));
        }
    }
}

fn io_loop<C: KafkaClient>(
    mut sender: Sender<C>,
    shared: Arc<Shared>,
    accumulator: Arc<RecordAccumulator>,
) {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        while !shared.closing.load(Ordering::Acquire) {
            sender.run_once(Instant::now());
        }
        // Graceful close: send what is left unless forced.
        while !shared.force_close.load(Ordering::Acquire) && sender.has_pending() {
            sender.run_once(Instant::now());
        }
    }));
    let leftover = match run {
        Ok(()) => Error::Closed,
        Err(_) => {
            // A bug, but no `get()` may hang on it: refuse new records and
            // fail the pending ones.
            tracing::error!("the producer's I/O thread panicked; failing pending records");
            shared.closing.store(true, Ordering::Release);
            accumulator.close();
            Error::Fatal("the producer's I/O thread panicked".to_string())
        }
    };
    if sender.has_pending() {
        sender.abort_all(leftover);
    }
    sender.leave_last_metrics(Instant::now());
    *shared.finished.lock().unwrap_or_else(|e| e.into_inner()) = true;
    shared.finished_cond.notify_all();
    tracing::debug!("producer I/O thread finished");
}

/// Send and wait: sarama's `SyncProducer` over a [`KafkaProducer`].
pub struct SyncProducer<K, V> {
    producer: KafkaProducer<K, V>,
}

impl<K, V> SyncProducer<K, V> {
    /// Wraps a producer.
    pub fn new(producer: KafkaProducer<K, V>) -> Self {
        SyncProducer { producer }
    }

    /// Sends one record and waits for its partition and offset.
    pub fn send(&self, record: ProducerRecord<K, V>) -> Result<RecordMetadata> {
        self.producer.send(record).get()
    }

    /// Sends records (batched together) and waits for all of them; results
    /// in the records' order.
    pub fn send_all(
        &self,
        records: impl IntoIterator<Item = ProducerRecord<K, V>>,
    ) -> Vec<Result<RecordMetadata>> {
        let futures: Vec<DeliveryFuture> =
            records.into_iter().map(|r| self.producer.send(r)).collect();
        self.producer.accumulator.flush(None);
        futures.iter().map(|f| f.get()).collect()
    }

    /// The underlying producer.
    pub fn producer(&self) -> &KafkaProducer<K, V> {
        &self.producer
    }

    /// Closes the producer (see [`KafkaProducer::close`]).
    pub fn close(self, timeout: Duration) {
        self.producer.close(timeout);
    }
}

/// A record delivered by an [`AsyncProducer`], with the user's metadata.
#[derive(Debug)]
pub struct DeliveryReport<K, V, M> {
    /// The record as it was sent.
    pub record: ProducerRecord<K, V>,
    /// What the broker acknowledged.
    pub metadata: RecordMetadata,
    /// The value given with the record.
    pub user_metadata: M,
}

/// A record an [`AsyncProducer`] failed to deliver.
#[derive(Debug)]
pub struct ProducerError<K, V, M> {
    /// The record as it was sent.
    pub record: ProducerRecord<K, V>,
    /// Why it failed.
    pub error: Error,
    /// The value given with the record.
    pub user_metadata: M,
}

/// A message for [`AsyncProducer::input`]: a record and the user's metadata.
#[derive(Debug)]
pub struct ProducerMessage<K, V, M> {
    /// The record.
    pub record: ProducerRecord<K, V>,
    /// Handed back in the success or error report.
    pub metadata: M,
}

/// Delivery reports on channels: sarama's `AsyncProducer`. Records go in
/// with [`send`](Self::send) (or through the [`input`](Self::input)
/// channel); successes and errors come out on two receivers, each carrying
/// the record and the user's metadata back.
pub struct AsyncProducer<K, V, M> {
    producer: Arc<KafkaProducer<K, V>>,
    input: Mutex<Option<mpsc::Sender<ProducerMessage<K, V, M>>>>,
    pump_done: Mutex<Option<mpsc::Receiver<()>>>,
    successes: mpsc::Receiver<DeliveryReport<K, V, M>>,
    errors: mpsc::Receiver<ProducerError<K, V, M>>,
    reporter: Arc<Reporter<K, V, M>>,
}

/// Where an async producer's reports go.
struct Reporter<K, V, M> {
    successes: Mutex<mpsc::Sender<DeliveryReport<K, V, M>>>,
    errors: Mutex<mpsc::Sender<ProducerError<K, V, M>>>,
    return_successes: AtomicBool,
}

impl<K, V, M> AsyncProducer<K, V, M>
where
    K: Send + Sync + 'static,
    V: Send + Sync + 'static,
    M: Send + 'static,
{
    /// Wraps a producer.
    pub fn new(producer: KafkaProducer<K, V>) -> Self {
        let producer = Arc::new(producer);
        let (success_tx, successes) = mpsc::channel();
        let (error_tx, errors) = mpsc::channel();
        let (input_tx, input_rx) = mpsc::channel::<ProducerMessage<K, V, M>>();
        let p = producer.clone();
        let reporter = Arc::new(Reporter {
            successes: Mutex::new(success_tx),
            errors: Mutex::new(error_tx),
            return_successes: AtomicBool::new(true),
        });
        let r = reporter.clone();
        let (done_tx, done_rx) = mpsc::channel();
        let pump = std::thread::Builder::new()
            .name("prozess-async-producer-input".into())
            .spawn(move || {
                for msg in input_rx {
                    send_reporting(&p, msg.record, msg.metadata, &r);
                }
                let _ = done_tx.send(());
            });
        if let Err(err) = pump {
            tracing::error!(error = %err, "could not start the async producer's input thread");
        }
        AsyncProducer {
            producer,
            input: Mutex::new(Some(input_tx)),
            pump_done: Mutex::new(Some(done_rx)),
            successes,
            errors,
            reporter,
        }
    }

    /// Whether delivered records are reported on
    /// [`successes`](Self::successes) (on by default). Turn it off when
    /// only failures matter, so unread reports do not pile up (sarama's
    /// `Producer.Return.Successes`).
    pub fn set_return_successes(&self, on: bool) {
        self.reporter.return_successes.store(on, Ordering::Relaxed);
    }

    /// Sends a record; its report arrives on [`successes`](Self::successes)
    /// or [`errors`](Self::errors).
    pub fn send(&self, record: ProducerRecord<K, V>, metadata: M) {
        send_reporting(&self.producer, record, metadata, &self.reporter);
    }

    /// A channel to send messages in (sarama's `Input()`).
    pub fn input(&self) -> Option<mpsc::Sender<ProducerMessage<K, V, M>>> {
        self.input
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .cloned()
    }

    /// Delivered records.
    pub fn successes(&self) -> &mpsc::Receiver<DeliveryReport<K, V, M>> {
        &self.successes
    }

    /// Failed records.
    pub fn errors(&self) -> &mpsc::Receiver<ProducerError<K, V, M>> {
        &self.errors
    }

    /// Sends everything buffered and waits for it.
    pub fn flush(&self) {
        self.producer.flush();
    }

    /// The underlying producer.
    pub fn producer(&self) -> &KafkaProducer<K, V> {
        &self.producer
    }

    /// Stops taking input, sends what is pending (up to `timeout`), closes.
    /// Reports stay readable on the receivers. Drop your clones of
    /// [`input`](Self::input) first: messages still coming in through them
    /// after `timeout` fail with [`Error::Closed`].
    pub fn close(&self, timeout: Duration) {
        self.input.lock().unwrap_or_else(|e| e.into_inner()).take();
        // The input thread ends once every clone of the input sender is
        // gone; wait for it (within `timeout`) so messages already put in
        // are sent before the producer closes.
        let started = Instant::now();
        let done = self
            .pump_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(done) = done {
            let _ = done.recv_timeout(timeout);
        }
        self.producer
            .close(timeout.saturating_sub(started.elapsed()));
    }
}

/// One async send: the report goes out when both the result is known and
/// `send` has handed the record back, whichever comes last (the result can
/// arrive while `send` still borrows the record, e.g. an early failure).
struct PendingReport<K, V, M> {
    record: Option<ProducerRecord<K, V>>,
    user_metadata: Option<M>,
    result: Option<Result<RecordMetadata>>,
    reporter: Arc<Reporter<K, V, M>>,
}

impl<K, V, M> PendingReport<K, V, M> {
    fn emit_if_complete(&mut self) {
        if self.record.is_none() || self.result.is_none() {
            return;
        }
        let (Some(record), Some(user_metadata), Some(result)) = (
            self.record.take(),
            self.user_metadata.take(),
            self.result.take(),
        ) else {
            return;
        };
        // A receiver that was dropped just means nobody reads the reports.
        match result {
            Ok(_) if !self.reporter.return_successes.load(Ordering::Relaxed) => {}
            Ok(metadata) => {
                let tx = self
                    .reporter
                    .successes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let _ = tx.send(DeliveryReport {
                    record,
                    metadata,
                    user_metadata,
                });
            }
            Err(error) => {
                let tx = self
                    .reporter
                    .errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let _ = tx.send(ProducerError {
                    record,
                    error,
                    user_metadata,
                });
            }
        }
    }
}

fn send_reporting<K, V, M>(
    producer: &KafkaProducer<K, V>,
    record: ProducerRecord<K, V>,
    metadata: M,
    reporter: &Arc<Reporter<K, V, M>>,
) where
    K: Send + 'static,
    V: Send + 'static,
    M: Send + 'static,
{
    let pending = Arc::new(Mutex::new(PendingReport {
        record: None,
        user_metadata: Some(metadata),
        result: None,
        reporter: reporter.clone(),
    }));
    let p = pending.clone();
    let cb: Callback = Box::new(move |result: &Result<RecordMetadata>| {
        let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
        p.result = Some(result.clone());
        p.emit_if_complete();
    });
    producer.send_ref(&record, Some(cb));
    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
    p.record = Some(record);
    p.emit_if_complete();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serializer::StringSerializer;
    use prozess_network::mock::MockClient;
    use prozess_protocol::messages::produce::response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use prozess_protocol::messages::{InitProducerIdResponse, ProduceResponse};
    use prozess_protocol::RequestBody;

    fn config(extra: &[(&str, &str)]) -> ProducerConfig {
        let mut props = vec![
            ("bootstrap.servers", "mock:9092"),
            ("linger.ms", "0"),
            ("max.block.ms", "200"),
        ];
        props.extend_from_slice(extra);
        ProducerConfig::from_properties(props).unwrap()
    }

    fn produce_ok(partition: i32, base_offset: i64) -> ProduceResponse {
        ProduceResponse {
            responses: vec![TopicProduceResponse {
                name: "t".into(),
                partition_responses: vec![PartitionProduceResponse {
                    index: partition,
                    base_offset,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn mock() -> MockClient {
        let mut client = MockClient::new_with_cluster(&[1], &[("t", 3)]);
        client.prepare_response_for(InitProducerIdResponse {
            producer_id: 11,
            producer_epoch: 0,
            ..Default::default()
        });
        client
    }

    fn producer(client: MockClient, extra: &[(&str, &str)]) -> KafkaProducer<String, String> {
        KafkaProducer::with_client(config(extra), StringSerializer, StringSerializer, client)
            .unwrap()
    }

    #[test]
    fn send_resolves_to_the_acknowledged_offset_and_runs_the_callback() {
        let mut client = mock();
        client.prepare_response(|r| matches!(r, RequestBody::Produce(_)), produce_ok(2, 40));
        let p = producer(client, &[]);
        let (tx, rx) = mpsc::channel();
        let f = p.send_with_callback(
            ProducerRecord::with_key("t", "k".to_string(), "v".to_string()).partition(2),
            move |r| tx.send(r.as_ref().map(|m| m.offset).ok()).unwrap(),
        );
        let md = f.get().unwrap();
        assert_eq!((md.partition, md.offset), (2, 40));
        assert_eq!((md.serialized_key_size, md.serialized_value_size), (1, 1));
        assert_eq!(rx.recv().unwrap(), Some(40));
        assert_eq!(p.partitions_for("t").unwrap().len(), 3);
        p.close(Duration::from_secs(5));
    }

    #[test]
    fn refusals_before_queueing_are_failed_futures_with_clear_errors() {
        let p = producer(mock(), &[("max.request.size", "1000")]);
        let e = p
            .send(ProducerRecord::new("missing", "v".to_string()))
            .get()
            .unwrap_err();
        assert!(
            matches!(&e, Error::MetadataTimeout { topic, .. } if topic == "missing"),
            "{e}"
        );
        let e = p
            .send(ProducerRecord::new("t", "v".to_string()).partition(7))
            .get()
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidPartition {
                    partition: 7,
                    partitions: 3,
                    ..
                }
            ),
            "{e}"
        );
        let (tx, rx) = mpsc::channel();
        let e = p
            .send_with_callback(ProducerRecord::new("t", "x".repeat(2000)), move |r| {
                tx.send(r.is_err()).unwrap()
            })
            .get()
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::RecordTooLarge {
                    limit: "max.request.size",
                    max: 1000,
                    ..
                }
            ),
            "{e}"
        );
        assert!(rx.recv().unwrap(), "the callback saw the error");
        p.close(Duration::from_secs(5));
        let e = p
            .send(ProducerRecord::new("t", "v".to_string()))
            .get()
            .unwrap_err();
        assert_eq!(e, Error::Closed);
    }

    #[test]
    fn close_fails_what_cannot_be_sent_in_time() {
        let mut client = mock();
        // The leader never becomes ready: nothing can be sent.
        client.set_unready(1);
        let p = producer(client, &[("enable.idempotence", "false"), ("acks", "1")]);
        let f = p.send(ProducerRecord::new("t", "v".to_string()).partition(0));
        p.close(Duration::from_millis(50));
        assert_eq!(f.get().unwrap_err(), Error::Closed);
    }

    #[test]
    fn async_producer_reports_carry_record_and_user_metadata() {
        let mut client = mock();
        client.prepare_response(|r| matches!(r, RequestBody::Produce(_)), produce_ok(1, 5));
        client.prepare_response(|r| matches!(r, RequestBody::Produce(_)), produce_ok(1, 6));
        let p: AsyncProducer<String, String, &'static str> =
            AsyncProducer::new(producer(client, &[]));
        p.send(
            ProducerRecord::new("t", "hello".to_string()).partition(1),
            "first",
        );
        p.send(
            ProducerRecord::new("t", "bad".to_string()).partition(9),
            "second",
        );
        let ok = p.successes().recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(ok.user_metadata, "first");
        assert_eq!(ok.record.value.as_deref(), Some("hello"));
        assert_eq!((ok.metadata.partition, ok.metadata.offset), (1, 5));
        let err = p.errors().recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(err.user_metadata, "second");
        assert_eq!(err.record.value.as_deref(), Some("bad"));
        assert!(matches!(err.error, Error::InvalidPartition { .. }));
        // The input channel works as sarama's Input().
        let input = p.input().unwrap();
        input
            .send(ProducerMessage {
                record: ProducerRecord::new("t", "x".to_string()).partition(5),
                metadata: "third",
            })
            .unwrap();
        let err = p.errors().recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(err.user_metadata, "third");
        drop(input);
        // Only errors once successes are not returned.
        p.set_return_successes(false);
        p.send(
            ProducerRecord::new("t", "quiet".to_string()).partition(1),
            "fourth",
        );
        p.send(
            ProducerRecord::new("t", "loud".to_string()).partition(8),
            "fifth",
        );
        let err = p.errors().recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(err.user_metadata, "fifth");
        p.flush();
        assert!(p.successes().try_recv().is_err());
        p.close(Duration::from_secs(5));
    }

    #[test]
    fn security_settings_reach_the_network_config() {
        let c = config(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"p\";",
            ),
            ("ssl.ca.location", "/nonexistent/ca.pem"),
        ]);
        let n = network_config(&c).unwrap();
        assert_eq!(
            n.security_protocol,
            prozess_network::SecurityProtocol::SaslSsl
        );
        let sasl = n.sasl.unwrap();
        assert_eq!(sasl.mechanism, prozess_network::SaslMechanism::ScramSha256);
        assert_eq!((sasl.username.as_str(), sasl.password.as_str()), ("u", "p"));
        assert!(n.tls.unwrap().verify_hostname);
        // A CA file that cannot be read is a configuration error naming it.
        let e = KafkaProducer::new(c, StringSerializer, StringSerializer).unwrap_err();
        assert!(
            matches!(&e, Error::Config { key, message } if key == "ssl.ca.location" && message.contains("/nonexistent/ca.pem")),
            "{e}"
        );
        assert!(network_config(&config(&[])).unwrap().tls.is_none());
    }

    #[test]
    fn producers_are_send_and_sync_and_close_takes_any_timeout() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<KafkaProducer<String, String>>();
        assert_send_sync::<SyncProducer<String, String>>();
        let p = producer(mock(), &[]);
        p.close(Duration::MAX);
    }

    #[test]
    fn a_users_partitioner_picks_the_partition() {
        struct Last;
        impl Partitioner for Last {
            fn partition(
                &self,
                _topic: &str,
                _key: Option<&[u8]>,
                _value: Option<&[u8]>,
                partitions: &crate::partitioner::TopicPartitions,
            ) -> Result<i32> {
                Ok(partitions.num_partitions - 1)
            }
        }
        let mut client = mock();
        client.prepare_response(|r| matches!(r, RequestBody::Produce(_)), produce_ok(2, 0));
        let mut config = config(&[]);
        config.partitioner = PartitionerKind::Custom(Arc::new(Last));
        let p: KafkaProducer<String, String> =
            KafkaProducer::with_client(config, StringSerializer, StringSerializer, client).unwrap();
        let md = p
            .send(ProducerRecord::with_key(
                "t",
                "k".to_string(),
                "v".to_string(),
            ))
            .get()
            .unwrap();
        assert_eq!(md.partition, 2);
        p.close(Duration::from_secs(5));
    }

    #[test]
    fn a_full_buffer_blocks_send_for_max_block_then_fails_clearly() {
        let mut client = mock();
        client.set_unready(1);
        let p = producer(
            client,
            &[
                ("buffer.memory", "300"),
                ("max.block.ms", "50"),
                ("enable.idempotence", "false"),
            ],
        );
        let first = p.send(ProducerRecord::new("t", "x".repeat(200)).partition(0));
        let e = p
            .send(ProducerRecord::new("t", "y".repeat(200)).partition(0))
            .get()
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::BufferExhausted {
                    buffer_memory: 300,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("max blocking time"), "{e}");
        assert!(!first.is_done());
        p.close(Duration::ZERO);
        assert_eq!(first.get().unwrap_err(), Error::Closed);
    }

    #[test]
    fn a_transaction_through_the_producer_api() {
        use crate::transactions::TransactionState;
        use prozess_protocol::messages::add_partitions_to_txn::response::{
            AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
        };
        use prozess_protocol::messages::{
            AddPartitionsToTxnResponse, EndTxnResponse, FindCoordinatorResponse,
        };
        let mut client = MockClient::new_with_cluster(&[1], &[("t", 3)]);
        client.prepare_response_for(FindCoordinatorResponse {
            node_id: 1,
            host: "localhost".into(),
            port: 9092,
            ..Default::default()
        });
        client.prepare_response_for(InitProducerIdResponse {
            producer_id: 11,
            producer_epoch: 0,
            ..Default::default()
        });
        client.prepare_response_for(AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: vec![AddPartitionsToTxnTopicResult {
                name: "t".into(),
                results_by_partition: vec![AddPartitionsToTxnPartitionResult {
                    partition_index: 2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        client.prepare_response(
            |r| matches!(r, RequestBody::Produce(p) if p.transactional_id.as_deref() == Some("tx")),
            produce_ok(2, 40),
        );
        client.prepare_response(
            |r| matches!(r, RequestBody::EndTxn(e) if e.committed && e.producer_id == 11),
            EndTxnResponse::default(),
        );
        let p = producer(client, &[("transactional.id", "tx")]);
        assert_eq!(p.transaction_state(), Some(TransactionState::Uninitialized));
        let e = p.begin_transaction().unwrap_err();
        assert!(e.to_string().contains("UNINITIALIZED"), "{e}");
        let e = p
            .send(ProducerRecord::new("t", "v".to_string()).partition(2))
            .get()
            .unwrap_err();
        assert!(
            matches!(&e, Error::IllegalState(m) if m.contains("send")),
            "{e}"
        );
        p.init_transactions(Duration::from_secs(30)).unwrap();
        p.begin_transaction().unwrap();
        let f = p.send(ProducerRecord::new("t", "v".to_string()).partition(2));
        p.commit_transaction(Duration::from_secs(30)).unwrap();
        assert_eq!(f.get().unwrap().offset, 40);
        assert_eq!(p.transaction_state(), Some(TransactionState::Ready));
        // A record that fails before it is queued makes the transaction
        // abortable: committing would drop it silently.
        p.begin_transaction().unwrap();
        let e = p
            .send(ProducerRecord::new("t", "v".to_string()).partition(7))
            .get()
            .unwrap_err();
        assert!(matches!(e, Error::InvalidPartition { .. }), "{e}");
        assert_eq!(
            p.transaction_state(),
            Some(TransactionState::AbortableError)
        );
        let e = p.commit_transaction(Duration::from_secs(30)).unwrap_err();
        assert!(e.to_string().contains("ABORTABLE_ERROR"), "{e}");
        // Nothing reached the coordinator: the abort needs no EndTxn.
        p.abort_transaction(Duration::from_secs(30)).unwrap();
        assert_eq!(p.transaction_state(), Some(TransactionState::Ready));
        // Without transactional.id the transactional calls are refused.
        let q = producer(mock(), &[]);
        let e = q.init_transactions(Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("transactional.id"), "{e}");
        assert_eq!(q.transaction_state(), None);
    }
}
