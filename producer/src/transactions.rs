//! `Transactions`: the transactional half of the Java client's
//! `TransactionManager` (the idempotent half, producer id and sequences, is
//! [`TransactionManager`](crate::transaction_manager::TransactionManager)).
//!
//! Sans-IO: the user's thread calls the state changes
//! ([`init_transactions`](Transactions::init_transactions),
//! [`begin_transaction`](Transactions::begin_transaction), ...) and waits on
//! the returned [`TransactionalRequestResult`]; the sender thread asks for the
//! next request ([`next_request`](Transactions::next_request)), sends it to
//! the node named by its [`Destination`] and hands back the response
//! ([`handle_response`](Transactions::handle_response)). Time comes in as
//! `now`; one transactional request is in flight at a time, as in Java.
//!
//! States and transitions are Java's (`TransactionManager.State`):
//! `UNINITIALIZED -> INITIALIZING -> READY -> IN_TRANSACTION ->
//! COMMITTING_TRANSACTION | ABORTING_TRANSACTION -> READY`, with
//! `ABORTABLE_ERROR` (only abort leaves it) and `FATAL_ERROR` (final).
//! Error classes follow Java too: retriable coordinator errors are retried
//! after `retry.backoff.ms` (NOT_COORDINATOR and a lost connection look the
//! coordinator up again); PRODUCER_FENCED, INVALID_PRODUCER_EPOCH and
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED are fatal; a failed send inside a
//! transaction makes it abortable. A commit or abort that timed out for the
//! caller goes on here and the next call of the same kind waits for the same
//! result (KIP-691).
//!
//! Transaction protocol version 2 (KIP-890) is used when the cluster
//! finalizes `transaction.version` >= 2 (ApiVersions, read when the first
//! InitProducerId completes, then fixed): partitions join the transaction
//! with their first Produce (v12), offsets with TxnOffsetCommit (v5) alone,
//! and every EndTxn (v5) returns the next epoch, or a new producer id. Java
//! 4.0's client does the same; it also upgrades a live producer to version
//! 2 with an extra epoch bump, which prozess does not (a producer keeps the
//! version it started with).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use prozess_network::{ConsumerGroupMetadata, NodeId, OffsetAndMetadata, TopicPartition};
use prozess_protocol::messages::add_partitions_to_txn::request::AddPartitionsToTxnTopic;
use prozess_protocol::messages::add_partitions_to_txn::response::AddPartitionsToTxnTopicResult;
use prozess_protocol::messages::txn_offset_commit::request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use prozess_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, TxnOffsetCommitRequest,
};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use crate::error::{Error, Result};

/// Java's `TransactionManager.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// `init_transactions` was not called yet.
    Uninitialized,
    /// FindCoordinator + InitProducerId under way.
    Initializing,
    /// Producer id and epoch known; no transaction open.
    Ready,
    /// Between `begin_transaction` and commit/abort.
    InTransaction,
    /// Flushing, then EndTxn(commit).
    CommittingTransaction,
    /// Dropping unsent records, then EndTxn(abort).
    AbortingTransaction,
    /// The transaction cannot commit any more; only abort leaves this state.
    AbortableError,
    /// The producer can only be closed.
    FatalError,
}

impl TransactionState {
    /// Java's name, e.g. `IN_TRANSACTION`.
    pub fn name(self) -> &'static str {
        match self {
            TransactionState::Uninitialized => "UNINITIALIZED",
            TransactionState::Initializing => "INITIALIZING",
            TransactionState::Ready => "READY",
            TransactionState::InTransaction => "IN_TRANSACTION",
            TransactionState::CommittingTransaction => "COMMITTING_TRANSACTION",
            TransactionState::AbortingTransaction => "ABORTING_TRANSACTION",
            TransactionState::AbortableError => "ABORTABLE_ERROR",
            TransactionState::FatalError => "FATAL_ERROR",
        }
    }
}

impl fmt::Display for TransactionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of a transactional operation, shared by the sender (which
/// completes it) and the caller (who waits for it).
#[derive(Debug, Default)]
pub struct TransactionalRequestResult {
    outcome: Mutex<Option<Result<()>>>,
    done: Condvar,
}

impl TransactionalRequestResult {
    fn complete(&self, r: Result<()>) {
        let mut o = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        if o.is_none() {
            *o = Some(r);
            self.done.notify_all();
        }
    }

    /// Whether the operation finished.
    pub fn is_completed(&self) -> bool {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Waits up to `timeout`; `None` if the operation is still running.
    pub fn wait(&self, timeout: Duration) -> Option<Result<()>> {
        let deadline = Instant::now().checked_add(timeout);
        let mut o = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = o.as_ref() {
                return Some(r.clone());
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return None;
            }
            o = self
                .done
                .wait_timeout(o, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Which coordinator a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorType {
    /// The transaction coordinator of `transactional.id` (key type 1).
    Transaction,
    /// The group coordinator of the consumer group (key type 0).
    Group,
}

/// Where the sender must send the request [`Transactions::next_request`]
/// returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Any broker (`least_loaded_node`): FindCoordinator.
    AnyNode,
    /// The coordinator's connection, as set by
    /// [`Transactions::set_coordinator`].
    Node(NodeId),
}

/// What a response meant for the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnEvent {
    /// Nothing for the sender to do.
    None,
    /// FindCoordinator answered: the sender maps the broker to its
    /// coordinator connection and calls [`Transactions::set_coordinator`].
    CoordinatorFound {
        /// Which coordinator.
        kind: CoordinatorType,
        /// Broker id.
        broker: NodeId,
        /// Its host.
        host: String,
        /// Its port.
        port: u16,
    },
    /// A new producer id or epoch: sequences restart.
    ProducerId {
        /// The id.
        producer_id: i64,
        /// The epoch.
        producer_epoch: i16,
    },
}

/// The user-level operations whose results callers wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Init,
    SendOffsets,
    Commit,
    Abort,
}

impl Pending {
    fn name(self) -> &'static str {
        match self {
            Pending::Init => "init_transactions",
            Pending::SendOffsets => "send_offsets_to_transaction",
            Pending::Commit => "commit_transaction",
            Pending::Abort => "abort_transaction",
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    FindCoordinator(CoordinatorType),
    InitProducerId {
        bump: bool,
    },
    AddPartitions(BTreeSet<TopicPartition>),
    AddOffsets {
        group: ConsumerGroupMetadata,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    },
    TxnOffsetCommit {
        group: ConsumerGroupMetadata,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    },
    EndTxn {
        commit: bool,
    },
}

impl Op {
    fn coordinator(&self) -> Option<CoordinatorType> {
        match self {
            Op::FindCoordinator(_) => None,
            Op::TxnOffsetCommit { .. } => Some(CoordinatorType::Group),
            _ => Some(CoordinatorType::Transaction),
        }
    }
}

/// The transactional state of one producer. See the module docs.
#[derive(Debug)]
pub struct Transactions {
    transactional_id: String,
    transaction_timeout: Duration,
    retry_backoff: Duration,
    state: TransactionState,
    last_error: Option<Error>,
    producer_id: i64,
    producer_epoch: i16,
    queue: VecDeque<Op>,
    in_flight: Option<Op>,
    not_before: Option<Instant>,
    txn_coordinator: Option<NodeId>,
    group_coordinator: Option<(String, NodeId)>,
    /// Partitions the coordinator knows are in the transaction: their
    /// batches may be sent.
    in_transaction: HashSet<TopicPartition>,
    /// Partitions sent to, not yet added (waiting for AddPartitionsToTxn).
    new_partitions: BTreeSet<TopicPartition>,
    /// Whether the coordinator has anything of this transaction (EndTxn is
    /// skipped for an empty one, as in Java).
    started: bool,
    /// The idempotent producer asked for a new epoch (a batch with a
    /// sequence failed): done with InitProducerId after the abort (KIP-360).
    bump_needed: bool,
    pending: Option<(Pending, Arc<TransactionalRequestResult>)>,
    /// The cluster finalized `transaction.version` >= 2 (KIP-890), as the
    /// sender last saw it.
    tv2_available: bool,
    /// Transaction protocol version 2 in use: fixed when the first
    /// InitProducerId succeeds (the coordinator's connection, and with it
    /// the features, are known then).
    tv2: Option<bool>,
}

fn backoff_until(now: Instant, d: Duration) -> Option<Instant> {
    now.checked_add(d)
}

fn kafka_error(code: ErrorCode, what: &str) -> Error {
    Error::Kafka {
        name: code.name().to_string(),
        code: code.code(),
        retriable: code.is_retriable(),
        message: Some(what.to_string()),
    }
}

/// The version to use for `api` in transaction protocol version 1 given the
/// negotiated `version`: newer versions of these requests tell the broker
/// the client speaks version 2 (KIP-890: epoch bump per transaction,
/// partitions added by Produce), used only where the cluster finalized it.
pub fn transaction_v1_version(api: ApiKey, version: i16) -> i16 {
    let max = match api {
        // v4+ is broker to broker.
        ApiKey::AddPartitionsToTxn => 3,
        ApiKey::EndTxn | ApiKey::TxnOffsetCommit => 4,
        ApiKey::Produce => 11,
        _ => i16::MAX,
    };
    version.min(max)
}

/// The version to use for `api` given the negotiated `version`: in
/// transaction protocol version 2 the negotiated one (Produce v12+, EndTxn
/// v5+, TxnOffsetCommit v5+ say the client speaks KIP-890), else
/// [`transaction_v1_version`].
pub fn transaction_version_for(api: ApiKey, version: i16, v2: bool) -> i16 {
    if v2 {
        version
    } else {
        transaction_v1_version(api, version)
    }
}

/// Errors after which the producer can only be closed.
pub fn is_fatal_code(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ProducerFenced
            | ErrorCode::InvalidProducerEpoch
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::TransactionCoordinatorFenced
            | ErrorCode::InvalidProducerIdMapping
            | ErrorCode::InvalidTxnState
    )
}

/// Whether a producer error is one of the fatal transactional ones.
pub fn is_fatal_error(e: &Error) -> bool {
    matches!(e, Error::Kafka { code, .. } if is_fatal_code(ErrorCode::from_i16(*code)))
}

/// Retried after the backoff, same coordinator.
fn is_retriable_coordinator_code(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::CoordinatorLoadInProgress | ErrorCode::ConcurrentTransactions
    ) || (code.is_retriable() && !is_coordinator_moved(code))
}

/// The coordinator must be looked up again.
fn is_coordinator_moved(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
    )
}

impl Transactions {
    /// The state of a producer with `transactional.id` = `transactional_id`.
    pub fn new(
        transactional_id: impl Into<String>,
        transaction_timeout: Duration,
        retry_backoff: Duration,
    ) -> Transactions {
        Transactions {
            transactional_id: transactional_id.into(),
            transaction_timeout,
            retry_backoff,
            state: TransactionState::Uninitialized,
            last_error: None,
            producer_id: -1,
            producer_epoch: -1,
            queue: VecDeque::new(),
            in_flight: None,
            not_before: None,
            txn_coordinator: None,
            group_coordinator: None,
            in_transaction: HashSet::new(),
            new_partitions: BTreeSet::new(),
            started: false,
            bump_needed: false,
            pending: None,
            tv2_available: false,
            tv2: None,
        }
    }

    /// Whether the cluster finalized `transaction.version` 2 or higher
    /// (KIP-890); the sender reports it from ApiVersions before each step.
    pub fn set_transaction_v2_available(&mut self, available: bool) {
        self.tv2_available = available;
    }

    /// Whether transaction protocol version 2 is in use: partitions join a
    /// transaction by Produce (no AddPartitionsToTxn), offsets by
    /// TxnOffsetCommit alone (no AddOffsetsToTxn), and every EndTxn bumps
    /// the epoch.
    pub fn is_transaction_v2(&self) -> bool {
        self.tv2 == Some(true)
    }

    /// `transactional.id`.
    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    /// The current state.
    pub fn state(&self) -> TransactionState {
        self.state
    }

    /// The error that put the producer in ABORTABLE_ERROR or FATAL_ERROR.
    pub fn last_error(&self) -> Option<&Error> {
        self.last_error.as_ref()
    }

    /// Producer id and epoch (-1 before `init_transactions` completed).
    pub fn producer_id_and_epoch(&self) -> (i64, i16) {
        (self.producer_id, self.producer_epoch)
    }

    fn illegal(&self, what: &str) -> Error {
        if self.state == TransactionState::FatalError {
            if let Some(e) = &self.last_error {
                return e.clone();
            }
        }
        Error::IllegalState(format!(
            "{what} is not allowed in transaction state {}",
            self.state
        ))
    }

    fn transition(&mut self, to: TransactionState) {
        if self.state != to {
            tracing::debug!(transactional_id = %self.transactional_id, from = %self.state, to = %to,
                "transaction state change");
        }
        self.state = to;
    }

    /// Resumes a pending operation of the same kind (KIP-691), or checks
    /// that none of another kind is still running.
    fn resume(&mut self, kind: Pending) -> Result<Option<Arc<TransactionalRequestResult>>> {
        if let Some((k, r)) = &self.pending {
            if *k == kind {
                return Ok(Some(r.clone()));
            }
            if !r.is_completed() {
                return Err(Error::IllegalState(format!(
                    "{} is not allowed while {} is in progress (transaction state {})",
                    kind.name(),
                    k.name(),
                    self.state
                )));
            }
            self.pending = None;
        }
        Ok(None)
    }

    fn start(&mut self, kind: Pending) -> Arc<TransactionalRequestResult> {
        let r = Arc::new(TransactionalRequestResult::default());
        self.pending = Some((kind, r.clone()));
        r
    }

    /// The caller saw `result` completed: a later call starts afresh.
    pub fn result_consumed(&mut self, result: &Arc<TransactionalRequestResult>) {
        if self
            .pending
            .as_ref()
            .is_some_and(|(_, r)| Arc::ptr_eq(r, result))
        {
            self.pending = None;
        }
    }

    /// `initTransactions`: FindCoordinator + InitProducerId.
    pub fn init_transactions(&mut self) -> Result<Arc<TransactionalRequestResult>> {
        if let Some(r) = self.resume(Pending::Init)? {
            return Ok(r);
        }
        if self.state != TransactionState::Uninitialized {
            return Err(self.illegal("init_transactions"));
        }
        self.transition(TransactionState::Initializing);
        self.queue.push_back(Op::InitProducerId { bump: false });
        Ok(self.start(Pending::Init))
    }

    /// `beginTransaction`.
    pub fn begin_transaction(&mut self) -> Result<()> {
        if self.state != TransactionState::Ready || self.pending_running() {
            return Err(self.illegal("begin_transaction"));
        }
        self.pending = None;
        self.transition(TransactionState::InTransaction);
        Ok(())
    }

    fn pending_running(&self) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|(_, r)| !r.is_completed())
    }

    /// Called by `send` before a record for `tp` is appended: the record
    /// must be inside a transaction, and its partition joins it. True if
    /// the partition is new to the transaction (the sender has work).
    pub fn maybe_add_partition(&mut self, tp: &TopicPartition) -> Result<bool> {
        match self.state {
            TransactionState::InTransaction => {}
            TransactionState::AbortableError => {
                let cause = self
                    .last_error
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                return Err(Error::IllegalState(format!(
                    "cannot send in transaction state ABORTABLE_ERROR; abort the transaction (cause: {cause})"
                )));
            }
            _ => return Err(self.illegal("send")),
        }
        if self.is_transaction_v2() {
            // KIP-890: the partition joins with its first Produce.
            self.in_transaction.insert(tp.clone());
            self.started = true;
            return Ok(false);
        }
        if self.in_transaction.contains(tp)
            || self.new_partitions.contains(tp)
            || self.in_flight_adds(tp)
        {
            return Ok(false);
        }
        self.new_partitions.insert(tp.clone());
        Ok(true)
    }

    fn in_flight_adds(&self, tp: &TopicPartition) -> bool {
        matches!(&self.in_flight, Some(Op::AddPartitions(s)) if s.contains(tp))
            || self
                .queue
                .iter()
                .any(|op| matches!(op, Op::AddPartitions(s) if s.contains(tp)))
    }

    /// Whether batches of `tp` may be sent (the coordinator added it).
    pub fn is_send_allowed(&self, tp: &TopicPartition) -> bool {
        self.in_transaction.contains(tp)
    }

    /// The partitions whose batches may be sent.
    pub fn partitions_in_transaction(&self) -> &HashSet<TopicPartition> {
        &self.in_transaction
    }

    /// `sendOffsetsToTransaction`: AddOffsetsToTxn, then TxnOffsetCommit
    /// to the group coordinator.
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        group: ConsumerGroupMetadata,
    ) -> Result<Arc<TransactionalRequestResult>> {
        if let Some(r) = self.resume(Pending::SendOffsets)? {
            return Ok(r);
        }
        if self.state != TransactionState::InTransaction {
            return Err(self.illegal("send_offsets_to_transaction"));
        }
        if self.is_transaction_v2() {
            // KIP-890: TxnOffsetCommit v5 adds the offsets partition itself.
            self.started = true;
            self.queue.push_back(Op::TxnOffsetCommit { group, offsets });
            return Ok(self.start(Pending::SendOffsets));
        }
        self.queue.push_back(Op::AddOffsets { group, offsets });
        Ok(self.start(Pending::SendOffsets))
    }

    /// `commitTransaction`: once every record is acknowledged, EndTxn(commit).
    pub fn begin_commit(&mut self) -> Result<Arc<TransactionalRequestResult>> {
        if let Some(r) = self.resume(Pending::Commit)? {
            return Ok(r);
        }
        match self.state {
            TransactionState::InTransaction => {}
            TransactionState::AbortableError => {
                let cause = self.last_error.clone().unwrap_or(Error::IllegalState(
                    "the transaction is in ABORTABLE_ERROR".into(),
                ));
                return Err(Error::IllegalState(format!(
                    "cannot commit in transaction state ABORTABLE_ERROR; abort the transaction (cause: {cause})"
                )));
            }
            _ => return Err(self.illegal("commit_transaction")),
        }
        self.transition(TransactionState::CommittingTransaction);
        self.queue.push_back(Op::EndTxn { commit: true });
        Ok(self.start(Pending::Commit))
    }

    /// `abortTransaction`: unsent records are dropped, then EndTxn(abort).
    pub fn begin_abort(&mut self) -> Result<Arc<TransactionalRequestResult>> {
        if let Some(r) = self.resume(Pending::Abort)? {
            return Ok(r);
        }
        match self.state {
            TransactionState::InTransaction | TransactionState::AbortableError => {}
            _ => return Err(self.illegal("abort_transaction")),
        }
        self.transition(TransactionState::AbortingTransaction);
        // What was not sent yet is not part of the transaction any more.
        self.queue
            .retain(|op| matches!(op, Op::FindCoordinator(CoordinatorType::Transaction)));
        self.new_partitions.clear();
        if let Some((_, r)) = self.pending.take() {
            r.complete(Err(Error::IllegalState(
                "the transaction was aborted".to_string(),
            )));
        }
        self.queue.push_back(Op::EndTxn { commit: false });
        Ok(self.start(Pending::Abort))
    }

    /// The error unsent batches fail with now (abort, abortable or fatal
    /// error); `None` while they may still be sent.
    pub fn unsent_batch_error(&self) -> Option<Error> {
        match self.state {
            TransactionState::AbortingTransaction => Some(Error::IllegalState(
                "the transaction was aborted before the record was sent".to_string(),
            )),
            TransactionState::AbortableError | TransactionState::FatalError => {
                self.last_error.clone()
            }
            _ => None,
        }
    }

    /// A batch of the transaction failed: the transaction cannot commit.
    pub fn batch_failed(&mut self, error: &Error) {
        if is_fatal_error(error) {
            self.fatal(error.clone());
            return;
        }
        match self.state {
            TransactionState::InTransaction | TransactionState::CommittingTransaction => {
                self.abortable(error.clone())
            }
            _ => {}
        }
    }

    /// The idempotent producer needs a new epoch (a failed batch left a
    /// sequence gap): the next abort gets one.
    pub fn request_epoch_bump(&mut self) {
        self.bump_needed = true;
        if matches!(
            self.state,
            TransactionState::InTransaction | TransactionState::CommittingTransaction
        ) {
            self.abortable(Error::IllegalState(
                "a record of the transaction failed; the transaction must be aborted".to_string(),
            ));
        }
    }

    fn abortable(&mut self, error: Error) {
        if matches!(
            self.state,
            TransactionState::FatalError | TransactionState::AbortingTransaction
        ) {
            return;
        }
        tracing::warn!(transactional_id = %self.transactional_id, error = %error,
            "the transaction must be aborted");
        self.transition(TransactionState::AbortableError);
        self.last_error = Some(error.clone());
        self.new_partitions.clear();
        // Nothing more of this transaction goes out; abort starts afresh.
        self.queue.clear();
        if let Some((_, r)) = &self.pending {
            r.complete(Err(error));
        }
    }

    fn fatal(&mut self, error: Error) {
        tracing::error!(transactional_id = %self.transactional_id, error = %error,
            "fatal transaction error; the producer can only be closed");
        self.transition(TransactionState::FatalError);
        self.last_error = Some(error.clone());
        self.queue.clear();
        self.new_partitions.clear();
        if let Some((_, r)) = &self.pending {
            r.complete(Err(error));
        }
    }

    /// The coordinator connection found by FindCoordinator.
    pub fn set_coordinator(&mut self, kind: CoordinatorType, node: NodeId) {
        match kind {
            CoordinatorType::Transaction => self.txn_coordinator = Some(node),
            CoordinatorType::Group => {
                if let Some(group) = self.current_group() {
                    self.group_coordinator = Some((group, node));
                }
            }
        }
    }

    fn current_group(&self) -> Option<String> {
        self.in_flight
            .iter()
            .chain(self.queue.iter())
            .find_map(|op| match op {
                Op::TxnOffsetCommit { group, .. } => Some(group.group_id.clone()),
                _ => None,
            })
    }

    fn coordinator_of(&self, kind: CoordinatorType, op: &Op) -> Option<NodeId> {
        match kind {
            CoordinatorType::Transaction => self.txn_coordinator,
            CoordinatorType::Group => {
                let Op::TxnOffsetCommit { group, .. } = op else {
                    return None;
                };
                match &self.group_coordinator {
                    Some((g, node)) if *g == group.group_id => Some(*node),
                    _ => None,
                }
            }
        }
    }

    fn forget_coordinator(&mut self, kind: CoordinatorType) {
        match kind {
            CoordinatorType::Transaction => self.txn_coordinator = None,
            CoordinatorType::Group => self.group_coordinator = None,
        }
    }

    /// Whether a transactional request is in flight.
    pub fn has_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// When a retried transactional request (after a retriable error's
    /// backoff) may go out next, if one waits: the sender must wake by then,
    /// since no response will.
    pub fn retry_at(&self, now: Instant) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        self.not_before.filter(|&t| t > now)
    }

    /// The next request to send, if any may go now, and where to. The
    /// sender then calls [`request_sent`](Self::request_sent) (or nothing,
    /// if the node was not ready: the same request comes back next time).
    /// `batches_pending`: records of the transaction are queued or in
    /// flight (EndTxn waits for them).
    pub fn next_request(
        &mut self,
        now: Instant,
        batches_pending: bool,
        add_partitions_version: i16,
    ) -> Option<(Destination, RequestBody)> {
        if self.in_flight.is_some() || self.not_before.is_some_and(|t| now < t) {
            return None;
        }
        // Partitions become one batched AddPartitionsToTxn, ahead of
        // anything else (as Java's priorities).
        if !self.new_partitions.is_empty()
            && matches!(
                self.state,
                TransactionState::InTransaction | TransactionState::CommittingTransaction
            )
        {
            let parts = std::mem::take(&mut self.new_partitions);
            self.queue.push_front(Op::AddPartitions(parts));
        }
        loop {
            let op = self.queue.front()?.clone();
            if let Some(kind) = op.coordinator() {
                match self.coordinator_of(kind, &op) {
                    Some(node) => {
                        let body =
                            self.request_for(&op, batches_pending, add_partitions_version)?;
                        return Some((Destination::Node(node), body));
                    }
                    None => {
                        self.queue.push_front(Op::FindCoordinator(kind));
                        continue;
                    }
                }
            }
            let body = self.request_for(&op, batches_pending, add_partitions_version)?;
            return Some((Destination::AnyNode, body));
        }
    }

    fn request_for(
        &mut self,
        op: &Op,
        batches_pending: bool,
        add_partitions_version: i16,
    ) -> Option<RequestBody> {
        let tid = self.transactional_id.clone();
        Some(match op {
            Op::FindCoordinator(kind) => {
                let (key, key_type) = match kind {
                    CoordinatorType::Transaction => (tid, 1),
                    CoordinatorType::Group => (self.current_group()?, 0),
                };
                RequestBody::FindCoordinator(FindCoordinatorRequest {
                    key: key.clone(),
                    key_type,
                    coordinator_keys: vec![key],
                    ..Default::default()
                })
            }
            Op::InitProducerId { bump } => {
                let (producer_id, producer_epoch) = if *bump {
                    (self.producer_id, self.producer_epoch)
                } else {
                    (-1, -1)
                };
                RequestBody::InitProducerId(InitProducerIdRequest {
                    transactional_id: Some(tid),
                    transaction_timeout_ms: self
                        .transaction_timeout
                        .as_millis()
                        .min(i32::MAX as u128) as i32,
                    producer_id,
                    producer_epoch,
                    ..Default::default()
                })
            }
            Op::AddPartitions(parts) => {
                let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for tp in parts {
                    topics
                        .entry(tp.topic.clone())
                        .or_default()
                        .push(tp.partition);
                }
                let topics: Vec<AddPartitionsToTxnTopic> = topics
                    .into_iter()
                    .map(|(name, partitions)| AddPartitionsToTxnTopic {
                        name,
                        partitions,
                        ..Default::default()
                    })
                    .collect();
                let _ = add_partitions_version;
                // Clients use versions 0-3 (see transaction_v1_version).
                RequestBody::AddPartitionsToTxn(AddPartitionsToTxnRequest {
                    v3_and_below_transactional_id: tid,
                    v3_and_below_producer_id: self.producer_id,
                    v3_and_below_producer_epoch: self.producer_epoch,
                    v3_and_below_topics: topics,
                    ..Default::default()
                })
            }
            Op::AddOffsets { group, .. } => RequestBody::AddOffsetsToTxn(AddOffsetsToTxnRequest {
                transactional_id: tid,
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                group_id: group.group_id.clone(),
                ..Default::default()
            }),
            Op::TxnOffsetCommit { group, offsets } => {
                let mut topics: BTreeMap<String, Vec<TxnOffsetCommitRequestPartition>> =
                    BTreeMap::new();
                for (tp, o) in offsets {
                    topics.entry(tp.topic.clone()).or_default().push(
                        TxnOffsetCommitRequestPartition {
                            partition_index: tp.partition,
                            committed_offset: o.offset,
                            committed_leader_epoch: o.leader_epoch.unwrap_or(-1),
                            committed_metadata: Some(o.metadata.clone()),
                            ..Default::default()
                        },
                    );
                }
                RequestBody::TxnOffsetCommit(TxnOffsetCommitRequest {
                    transactional_id: tid,
                    group_id: group.group_id.clone(),
                    producer_id: self.producer_id,
                    producer_epoch: self.producer_epoch,
                    generation_id: group.generation_id,
                    member_id: group.member_id.clone(),
                    group_instance_id: group.group_instance_id.clone(),
                    topics: topics
                        .into_iter()
                        .map(|(name, partitions)| TxnOffsetCommitRequestTopic {
                            name,
                            partitions,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
            }
            Op::EndTxn { commit } => {
                // Commit flushes first; abort waits for what is in flight.
                if batches_pending {
                    return None;
                }
                if !self.started {
                    // Nothing reached the coordinator: nothing to end.
                    self.queue.pop_front();
                    self.end_completed();
                    return None;
                }
                RequestBody::EndTxn(EndTxnRequest {
                    transactional_id: tid,
                    producer_id: self.producer_id,
                    producer_epoch: self.producer_epoch,
                    committed: *commit,
                    ..Default::default()
                })
            }
        })
    }

    /// The request [`next_request`](Self::next_request) returned was sent.
    pub fn request_sent(&mut self) {
        self.in_flight = self.queue.pop_front();
    }

    /// The request in flight got no answer (timeout, lost connection):
    /// look the coordinator up again and retry after the backoff.
    pub fn request_failed(&mut self, now: Instant) {
        if let Some(op) = self.in_flight.take() {
            if let Some(kind) = op.coordinator() {
                self.forget_coordinator(kind);
            }
            self.queue.push_front(op);
        }
        self.not_before = backoff_until(now, self.retry_backoff);
    }

    fn retry(&mut self, op: Op, now: Instant, code: ErrorCode) {
        if self.state == TransactionState::AbortingTransaction
            && matches!(
                op,
                Op::AddPartitions(_) | Op::AddOffsets { .. } | Op::TxnOffsetCommit { .. }
            )
        {
            // The transaction is being aborted: nothing more joins it.
            return;
        }
        tracing::warn!(transactional_id = %self.transactional_id, error = code.name(),
            "transactional request failed; retrying");
        if is_coordinator_moved(code) {
            if let Some(kind) = op.coordinator() {
                self.forget_coordinator(kind);
            }
        }
        self.queue.push_front(op);
        self.not_before = backoff_until(now, self.retry_backoff);
    }

    fn end_completed(&mut self) {
        self.started = false;
        self.in_transaction.clear();
        self.new_partitions.clear();
        self.last_error = None;
        if self.state == TransactionState::AbortingTransaction
            && self.bump_needed
            && !self.is_transaction_v2()
        {
            // KIP-360: a new epoch so the partitions' sequences restart.
            self.queue.push_front(Op::InitProducerId { bump: true });
            return;
        }
        self.transition(TransactionState::Ready);
        if let Some((_, r)) = &self.pending {
            r.complete(Ok(()));
        }
    }

    /// Handles the response to the request in flight.
    pub fn handle_response(&mut self, body: ResponseBody, now: Instant) -> TxnEvent {
        let Some(op) = self.in_flight.take() else {
            return TxnEvent::None;
        };
        match (op, body) {
            (Op::FindCoordinator(kind), ResponseBody::FindCoordinator(r)) => {
                let (code, broker, host, port) = match r.coordinators.first() {
                    Some(c) => (c.error_code, c.node_id, c.host.clone(), c.port),
                    None => (r.error_code, r.node_id, r.host.clone(), r.port),
                };
                let code = ErrorCode::from_i16(code);
                match code {
                    ErrorCode::None => TxnEvent::CoordinatorFound {
                        kind,
                        broker,
                        host,
                        port: u16::try_from(port).unwrap_or(0),
                    },
                    ErrorCode::TransactionalIdAuthorizationFailed => {
                        self.fatal(kafka_error(code, "FindCoordinator"));
                        TxnEvent::None
                    }
                    ErrorCode::GroupAuthorizationFailed => {
                        self.abortable(kafka_error(code, "FindCoordinator for the group"));
                        TxnEvent::None
                    }
                    c if c.is_retriable() || is_coordinator_moved(c) => {
                        self.retry(Op::FindCoordinator(kind), now, c);
                        TxnEvent::None
                    }
                    c => {
                        self.fatal(kafka_error(c, "FindCoordinator"));
                        TxnEvent::None
                    }
                }
            }
            (Op::InitProducerId { bump }, ResponseBody::InitProducerId(r)) => {
                let code = ErrorCode::from_i16(r.error_code);
                match code {
                    ErrorCode::None => {
                        self.producer_id = r.producer_id;
                        self.producer_epoch = r.producer_epoch;
                        self.bump_needed = false;
                        if self.tv2.is_none() {
                            self.tv2 = Some(self.tv2_available);
                            tracing::info!(transactional_id = %self.transactional_id,
                                version = if self.tv2_available { 2 } else { 1 },
                                "transaction protocol version");
                        }
                        tracing::info!(transactional_id = %self.transactional_id,
                            producer_id = r.producer_id, epoch = r.producer_epoch,
                            "transactional producer id and epoch set");
                        self.transition(TransactionState::Ready);
                        if let Some((_, res)) = &self.pending {
                            res.complete(Ok(()));
                        }
                        TxnEvent::ProducerId {
                            producer_id: r.producer_id,
                            producer_epoch: r.producer_epoch,
                        }
                    }
                    c if is_fatal_code(c) => {
                        self.fatal(kafka_error(c, "InitProducerId"));
                        TxnEvent::None
                    }
                    c if is_coordinator_moved(c) || is_retriable_coordinator_code(c) => {
                        self.retry(Op::InitProducerId { bump }, now, c);
                        TxnEvent::None
                    }
                    c => {
                        self.fatal(kafka_error(c, "InitProducerId"));
                        TxnEvent::None
                    }
                }
            }
            (Op::AddPartitions(parts), ResponseBody::AddPartitionsToTxn(r)) => {
                let results: Vec<AddPartitionsToTxnTopicResult> =
                    if r.results_by_topic_v3_and_below.is_empty() {
                        r.results_by_transaction
                            .into_iter()
                            .flat_map(|t| t.topic_results)
                            .collect()
                    } else {
                        r.results_by_topic_v3_and_below
                    };
                let mut retry = BTreeSet::new();
                let mut worst: Option<ErrorCode> = None;
                for t in results {
                    for p in t.results_by_partition {
                        let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                        if !parts.contains(&tp) {
                            continue;
                        }
                        let code = ErrorCode::from_i16(p.partition_error_code);
                        match code {
                            ErrorCode::None => {
                                self.in_transaction.insert(tp);
                                self.started = true;
                            }
                            c if is_fatal_code(c) => {
                                self.fatal(kafka_error(c, "AddPartitionsToTxn"));
                                return TxnEvent::None;
                            }
                            c if is_coordinator_moved(c)
                                || is_retriable_coordinator_code(c)
                                || c == ErrorCode::OperationNotAttempted
                                || c == ErrorCode::UnknownTopicOrPartition =>
                            {
                                retry.insert(tp);
                                if c != ErrorCode::OperationNotAttempted {
                                    worst = Some(c);
                                }
                            }
                            c => {
                                self.abortable(kafka_error(
                                    c,
                                    &format!("AddPartitionsToTxn for {tp}"),
                                ));
                                return TxnEvent::None;
                            }
                        }
                    }
                }
                if !retry.is_empty() {
                    let code = worst.unwrap_or(ErrorCode::OperationNotAttempted);
                    self.retry(Op::AddPartitions(retry), now, code);
                }
                TxnEvent::None
            }
            (Op::AddOffsets { group, offsets }, ResponseBody::AddOffsetsToTxn(r)) => {
                let code = ErrorCode::from_i16(r.error_code);
                match code {
                    ErrorCode::None => {
                        self.started = true;
                        self.queue
                            .push_front(Op::TxnOffsetCommit { group, offsets });
                    }
                    c if is_fatal_code(c) => self.fatal(kafka_error(c, "AddOffsetsToTxn")),
                    c if is_coordinator_moved(c) || is_retriable_coordinator_code(c) => {
                        self.retry(Op::AddOffsets { group, offsets }, now, c)
                    }
                    c => self.abortable(kafka_error(c, "AddOffsetsToTxn")),
                }
                TxnEvent::None
            }
            (Op::TxnOffsetCommit { group, offsets }, ResponseBody::TxnOffsetCommit(r)) => {
                let mut left = BTreeMap::new();
                let mut worst = ErrorCode::None;
                for t in r.topics {
                    for p in t.partitions {
                        let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                        let code = ErrorCode::from_i16(p.error_code);
                        match code {
                            ErrorCode::None => {}
                            c if is_fatal_code(c) => {
                                self.fatal(kafka_error(c, "TxnOffsetCommit"));
                                return TxnEvent::None;
                            }
                            c if is_coordinator_moved(c)
                                || is_retriable_coordinator_code(c)
                                || c == ErrorCode::UnknownTopicOrPartition =>
                            {
                                if let Some(o) = offsets.get(&tp) {
                                    left.insert(tp, o.clone());
                                }
                                worst = c;
                            }
                            // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
                            // FENCED_INSTANCE_ID (CommitFailed) and the rest.
                            c => {
                                self.abortable(kafka_error(
                                    c,
                                    &format!("TxnOffsetCommit for {tp}"),
                                ));
                                return TxnEvent::None;
                            }
                        }
                    }
                }
                if left.is_empty() {
                    if let Some((Pending::SendOffsets, res)) = &self.pending {
                        res.complete(Ok(()));
                    }
                } else {
                    self.retry(
                        Op::TxnOffsetCommit {
                            group,
                            offsets: left,
                        },
                        now,
                        worst,
                    );
                }
                TxnEvent::None
            }
            (Op::EndTxn { commit }, ResponseBody::EndTxn(r)) => {
                let code = ErrorCode::from_i16(r.error_code);
                match code {
                    ErrorCode::None => {
                        tracing::info!(transactional_id = %self.transactional_id, commit,
                            "transaction ended");
                        // KIP-890: every EndTxn v5 bumps the epoch (a new
                        // producer id when the epoch is exhausted).
                        let bumped = (self.is_transaction_v2() && r.producer_id >= 0)
                            .then_some((r.producer_id, r.producer_epoch));
                        if let Some((producer_id, producer_epoch)) = bumped {
                            self.producer_id = producer_id;
                            self.producer_epoch = producer_epoch;
                            self.bump_needed = false;
                        }
                        self.end_completed();
                        if let Some((producer_id, producer_epoch)) = bumped {
                            return TxnEvent::ProducerId {
                                producer_id,
                                producer_epoch,
                            };
                        }
                    }
                    c if is_fatal_code(c) => self.fatal(kafka_error(c, "EndTxn")),
                    c if is_coordinator_moved(c) || is_retriable_coordinator_code(c) => {
                        self.retry(Op::EndTxn { commit }, now, c)
                    }
                    c => self.fatal(kafka_error(c, "EndTxn")),
                }
                TxnEvent::None
            }
            (op, other) => {
                tracing::warn!(api = ?other.api_key(), "unexpected response to a transactional request");
                self.queue.push_front(op);
                self.not_before = backoff_until(now, self.retry_backoff);
                TxnEvent::None
            }
        }
    }
}

/// The producer's handle on the transactional state, shared by the user's
/// threads and the sender thread.
pub type SharedTransactions = Arc<Mutex<Transactions>>;

#[cfg(test)]
#[path = "transactions_tests.rs"]
mod tests;
