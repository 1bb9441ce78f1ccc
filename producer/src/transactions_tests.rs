//! The transaction state machine driven through the Sender over MockClient:
//! every transition, every error class, a coordinator move mid-commit.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prozess_network::mock::{MockClient, MockTime};
use prozess_network::{
    coordinator_connection_id, ConsumerGroupMetadata, OffsetAndMetadata, TopicPartition,
};
use prozess_protocol::messages::add_partitions_to_txn::response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use prozess_protocol::messages::find_coordinator::response::Coordinator;
use prozess_protocol::messages::produce::response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use prozess_protocol::messages::txn_offset_commit::response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use prozess_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, EndTxnResponse, FindCoordinatorResponse,
    InitProducerIdResponse, ProduceResponse, TxnOffsetCommitResponse,
};
use prozess_protocol::records::{Compression, RecordBatches};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody};

use super::*;
use crate::accumulator::{AccumulatorConfig, RecordAccumulator, StoredRecord, Thunk};
use crate::config::Acks;
use crate::delivery::DeliveryFuture;
use crate::metadata::ProducerMetadata;
use crate::sender::{Sender, SenderConfig};

const BACKOFF: Duration = Duration::from_millis(100);

struct H {
    sender: Sender<MockClient>,
    acc: Arc<RecordAccumulator>,
    txn: SharedTransactions,
    now: Instant,
    /// The MockClient's clock, if it has one: `run` follows it.
    time: Option<MockTime>,
}

fn find_coordinator(broker: i32, code: ErrorCode) -> FindCoordinatorResponse {
    FindCoordinatorResponse {
        coordinators: vec![Coordinator {
            key: "tx".into(),
            node_id: broker,
            host: "localhost".into(),
            port: 9092,
            error_code: code.code(),
            ..Default::default()
        }],
        error_code: code.code(),
        node_id: broker,
        host: "localhost".into(),
        port: 9092,
        ..Default::default()
    }
}

fn init_response(code: ErrorCode, pid: i64, epoch: i16) -> InitProducerIdResponse {
    InitProducerIdResponse {
        error_code: code.code(),
        producer_id: pid,
        producer_epoch: epoch,
        ..Default::default()
    }
}

fn add_partitions_response(parts: &[(i32, ErrorCode)]) -> AddPartitionsToTxnResponse {
    AddPartitionsToTxnResponse {
        results_by_topic_v3_and_below: vec![AddPartitionsToTxnTopicResult {
            name: "t".into(),
            results_by_partition: parts
                .iter()
                .map(|&(p, c)| AddPartitionsToTxnPartitionResult {
                    partition_index: p,
                    partition_error_code: c.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn end_txn_response(code: ErrorCode) -> EndTxnResponse {
    EndTxnResponse {
        error_code: code.code(),
        ..Default::default()
    }
}

fn produce_response(partition: i32, code: ErrorCode) -> ProduceResponse {
    ProduceResponse {
        responses: vec![TopicProduceResponse {
            name: "t".into(),
            partition_responses: vec![PartitionProduceResponse {
                index: partition,
                error_code: code.code(),
                base_offset: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn harness() -> H {
    harness_with_time(None)
}

/// With `time`: the MockClient's poll advances that clock by its timeout
/// when nothing is to be delivered, as a blocking poll would take.
fn harness_with_time(time: Option<MockTime>) -> H {
    let now = time.as_ref().map_or_else(Instant::now, |t| t.now());
    let acc = Arc::new(RecordAccumulator::new(AccumulatorConfig {
        batch_size: 16384,
        buffer_memory: 1 << 20,
        linger: Duration::ZERO,
        retry_backoff: BACKOFF,
        retry_backoff_max: Duration::from_secs(1),
        delivery_timeout: Duration::from_secs(120),
        max_in_flight_per_partition: 5,
        compression: Compression::None,
        compression_level: None,
    }));
    let mut client = MockClient::new_with_cluster_at(&[1, 2], &[("t", 3)], now);
    if let Some(time) = time.clone() {
        client = client.with_time(time);
        client.set_advance_time_on_poll(true);
    }
    let mut sender = Sender::new(
        client,
        acc.clone(),
        Arc::new(ProducerMetadata::new()),
        SenderConfig {
            acks: Acks::All,
            request_timeout: Duration::from_secs(30),
            max_request_size: 1 << 20,
            retries: u32::MAX,
            compression: Compression::None,
            compression_level: None,
            delivery_timeout: Duration::from_secs(120),
            retry_backoff: BACKOFF,
            idempotence: true,
        },
    );
    let txn = Arc::new(Mutex::new(Transactions::new(
        "tx",
        Duration::from_secs(60),
        BACKOFF,
    )));
    sender.set_transactions(txn.clone());
    H {
        sender,
        acc,
        txn,
        now,
        time,
    }
}

impl H {
    fn m(&self) -> MutexGuard<'_, Transactions> {
        self.txn.lock().unwrap()
    }
    fn client(&mut self) -> &mut MockClient {
        self.sender.client_mut()
    }
    fn run(&mut self, times: usize) {
        for _ in 0..times {
            if let Some(t) = &self.time {
                self.now = t.now();
            }
            self.sender.run_once(self.now);
        }
    }
    fn tick(&mut self, d: Duration) {
        self.now += d;
        self.run(3);
    }
    fn state(&self) -> TransactionState {
        self.m().state()
    }
    fn sent(&self, key: ApiKey) -> Vec<(i32, RequestBody)> {
        self.sender
            .client()
            .requests_of(key)
            .into_iter()
            .map(|r| (r.node, r.body.clone()))
            .collect()
    }
    /// `send` as the producer does it: the partition joins the transaction,
    /// then the record is appended.
    fn send(&mut self, partition: i32, value: &str) -> DeliveryFuture {
        let tp = TopicPartition::new("t", partition);
        self.m().maybe_add_partition(&tp).unwrap();
        let f = DeliveryFuture::new();
        self.acc
            .append(
                &tp,
                StoredRecord {
                    timestamp: 1,
                    key: None,
                    value: Some(bytes::Bytes::copy_from_slice(value.as_bytes())),
                    headers: vec![],
                },
                Thunk::new(f.clone(), None),
                Duration::ZERO,
                self.now,
            )
            .unwrap();
        f
    }
    /// init_transactions to completion: coordinator broker 2, id 7, epoch 0.
    fn init(&mut self) {
        let r = self.m().init_transactions().unwrap();
        self.client()
            .prepare_response_for(find_coordinator(2, ErrorCode::None));
        self.client()
            .prepare_response_for(init_response(ErrorCode::None, 7, 0));
        self.run(3);
        assert_eq!(r.wait(Duration::ZERO), Some(Ok(())));
        self.m().result_consumed(&r);
        assert_eq!(self.state(), TransactionState::Ready);
    }
    /// begin + one record on partition 0, added and acknowledged.
    fn begin_and_send_one(&mut self) -> DeliveryFuture {
        self.m().begin_transaction().unwrap();
        let f = self.send(0, "a");
        self.client()
            .prepare_response_for(add_partitions_response(&[(0, ErrorCode::None)]));
        self.client()
            .prepare_response_for(produce_response(0, ErrorCode::None));
        self.run(4);
        assert!(f.get().is_ok());
        f
    }
}

fn txn_coordinator() -> i32 {
    coordinator_connection_id(2)
}

#[test]
fn init_finds_the_transaction_coordinator_and_gets_the_producer_id() {
    let mut h = harness();
    h.init();
    let fc = h.sent(ApiKey::FindCoordinator);
    let RequestBody::FindCoordinator(req) = &fc[0].1 else {
        panic!()
    };
    assert_eq!((req.key.as_str(), req.key_type), ("tx", 1));
    let init = h.sent(ApiKey::InitProducerId);
    assert_eq!(init.len(), 1);
    assert_eq!(init[0].0, txn_coordinator(), "sent to the coordinator");
    let RequestBody::InitProducerId(req) = &init[0].1 else {
        panic!()
    };
    assert_eq!(req.transactional_id.as_deref(), Some("tx"));
    assert_eq!(req.transaction_timeout_ms, 60_000);
    assert_eq!(h.m().producer_id_and_epoch(), (7, 0));
    let tm = h.sender.transaction_manager().unwrap();
    assert_eq!((tm.producer_id(), tm.producer_epoch()), (7, 0));
}

#[test]
fn calls_in_the_wrong_state_are_illegal_and_name_the_state() {
    let mut h = harness();
    let e = h.m().begin_transaction().unwrap_err();
    assert!(
        matches!(&e, Error::IllegalState(m) if m.contains("UNINITIALIZED")),
        "{e}"
    );
    let e = h.m().begin_commit().unwrap_err();
    assert!(e.to_string().contains("UNINITIALIZED"), "{e}");
    h.init();
    let e = h.m().init_transactions().unwrap_err();
    assert!(e.to_string().contains("READY"), "{e}");
    let e = h
        .m()
        .maybe_add_partition(&TopicPartition::new("t", 0))
        .unwrap_err();
    assert!(
        matches!(&e, Error::IllegalState(m) if m.contains("send") && m.contains("READY")),
        "{e}"
    );
    let e = h.m().begin_abort().unwrap_err();
    assert!(e.to_string().contains("READY"), "{e}");
    h.m().begin_transaction().unwrap();
    let e = h.m().begin_transaction().unwrap_err();
    assert!(e.to_string().contains("IN_TRANSACTION"), "{e}");
    // An empty transaction commits without EndTxn.
    let r = h.m().begin_commit().unwrap();
    h.run(2);
    assert_eq!(r.wait(Duration::ZERO), Some(Ok(())));
    h.m().result_consumed(&r);
    assert!(h.sent(ApiKey::EndTxn).is_empty());
    // Committing twice.
    let e = h.m().begin_commit().unwrap_err();
    assert!(e.to_string().contains("READY"), "{e}");
}

#[test]
fn partitions_are_added_in_one_request_before_their_batches_and_commit_follows_the_acks() {
    let mut h = harness();
    h.init();
    h.m().begin_transaction().unwrap();
    let f0 = h.send(0, "a");
    let f1 = h.send(1, "b");
    h.run(2);
    let adds = h.sent(ApiKey::AddPartitionsToTxn);
    assert_eq!(adds.len(), 1, "one batched AddPartitionsToTxn");
    assert_eq!(adds[0].0, txn_coordinator());
    let RequestBody::AddPartitionsToTxn(req) = &adds[0].1 else {
        panic!()
    };
    assert_eq!(req.v3_and_below_transactional_id, "tx");
    assert_eq!(
        (
            req.v3_and_below_producer_id,
            req.v3_and_below_producer_epoch
        ),
        (7, 0)
    );
    assert_eq!(req.v3_and_below_topics[0].partitions, vec![0, 1]);
    assert!(
        h.sent(ApiKey::Produce).is_empty(),
        "no batch before its partition is in the transaction"
    );
    // The commit is asked for before the records are acknowledged.
    let commit = h.m().begin_commit().unwrap();
    assert_eq!(h.state(), TransactionState::CommittingTransaction);
    h.client().respond(add_partitions_response(&[
        (0, ErrorCode::None),
        (1, ErrorCode::None),
    ]));
    h.run(2);
    let produces = h.sent(ApiKey::Produce);
    assert_eq!(produces.len(), 2);
    for (_, body) in &produces {
        let RequestBody::Produce(p) = body else {
            panic!()
        };
        assert_eq!(p.transactional_id.as_deref(), Some("tx"));
        let records = p.topic_data[0].partition_data[0].records.clone().unwrap();
        let batch = RecordBatches::new(records).next().unwrap().unwrap();
        assert!(batch.is_transactional());
        assert_eq!(batch.producer_id(), 7);
    }
    assert!(
        h.sent(ApiKey::EndTxn).is_empty(),
        "EndTxn waits for the records"
    );
    h.client().respond(produce_response(0, ErrorCode::None));
    h.run(1);
    assert!(h.sent(ApiKey::EndTxn).is_empty());
    h.client().respond(produce_response(1, ErrorCode::None));
    h.run(2);
    assert!(f0.get().is_ok() && f1.get().is_ok());
    let end = h.sent(ApiKey::EndTxn);
    let RequestBody::EndTxn(req) = &end[0].1 else {
        panic!()
    };
    assert!(req.committed);
    assert_eq!((req.producer_id, req.producer_epoch), (7, 0));
    h.client().respond(end_txn_response(ErrorCode::None));
    h.run(1);
    assert_eq!(commit.wait(Duration::ZERO), Some(Ok(())));
    assert_eq!(h.state(), TransactionState::Ready);
    // The next transaction adds its partitions again.
    h.m().begin_transaction().unwrap();
    h.send(0, "c");
    h.run(1);
    assert_eq!(h.sent(ApiKey::AddPartitionsToTxn).len(), 2);
}

#[test]
fn retriable_coordinator_errors_are_retried_after_the_backoff() {
    let mut h = harness();
    let r = h.m().init_transactions().unwrap();
    h.client()
        .prepare_response_for(find_coordinator(2, ErrorCode::CoordinatorNotAvailable));
    h.run(2);
    assert_eq!(h.sent(ApiKey::FindCoordinator).len(), 1);
    h.client()
        .prepare_response_for(find_coordinator(2, ErrorCode::None));
    h.client()
        .prepare_response_for(init_response(ErrorCode::CoordinatorLoadInProgress, -1, -1));
    h.tick(BACKOFF);
    assert_eq!(h.sent(ApiKey::InitProducerId).len(), 1);
    h.run(2);
    assert_eq!(
        h.sent(ApiKey::InitProducerId).len(),
        1,
        "not again before the backoff"
    );
    h.client()
        .prepare_response_for(init_response(ErrorCode::ConcurrentTransactions, -1, -1));
    h.tick(BACKOFF);
    h.client()
        .prepare_response_for(init_response(ErrorCode::None, 7, 0));
    h.tick(BACKOFF);
    assert_eq!(h.sent(ApiKey::InitProducerId).len(), 3);
    assert_eq!(r.wait(Duration::ZERO), Some(Ok(())));
    // CONCURRENT_TRANSACTIONS on AddPartitionsToTxn: the same partitions again.
    h.m().begin_transaction().unwrap();
    h.send(0, "a");
    h.client().prepare_response_for(add_partitions_response(&[(
        0,
        ErrorCode::ConcurrentTransactions,
    )]));
    h.run(2);
    assert_eq!(h.state(), TransactionState::InTransaction);
    h.client()
        .prepare_response_for(add_partitions_response(&[(0, ErrorCode::None)]));
    h.tick(BACKOFF);
    assert_eq!(h.sent(ApiKey::AddPartitionsToTxn).len(), 2);
    assert_eq!(h.sent(ApiKey::Produce).len(), 1);
}

#[test]
fn the_coordinator_moving_mid_commit_is_found_again() {
    let mut h = harness();
    h.init();
    h.begin_and_send_one();
    let commit = h.m().begin_commit().unwrap();
    h.run(1);
    assert_eq!(h.sent(ApiKey::EndTxn)[0].0, txn_coordinator());
    h.client()
        .respond(end_txn_response(ErrorCode::NotCoordinator));
    h.client()
        .prepare_response_for(find_coordinator(1, ErrorCode::None));
    h.run(1);
    h.tick(BACKOFF);
    assert_eq!(h.sent(ApiKey::FindCoordinator).len(), 2, "looked up again");
    let ends = h.sent(ApiKey::EndTxn);
    assert_eq!(ends.len(), 2);
    assert_eq!(
        ends[1].0,
        coordinator_connection_id(1),
        "to the new coordinator"
    );
    // Then the connection drops mid-commit: again, and resumed.
    h.client().disconnect(coordinator_connection_id(1));
    h.run(1);
    h.client()
        .prepare_response_for(find_coordinator(2, ErrorCode::None));
    h.client()
        .prepare_response_for(end_txn_response(ErrorCode::None));
    h.tick(BACKOFF);
    h.run(2);
    assert_eq!(h.sent(ApiKey::EndTxn).len(), 3);
    assert_eq!(commit.wait(Duration::ZERO), Some(Ok(())));
    assert_eq!(h.state(), TransactionState::Ready);
}

#[test]
fn fencing_and_authorization_errors_are_fatal() {
    for code in [
        ErrorCode::ProducerFenced,
        ErrorCode::InvalidProducerEpoch,
        ErrorCode::TransactionalIdAuthorizationFailed,
    ] {
        // On InitProducerId.
        let mut h = harness();
        let r = h.m().init_transactions().unwrap();
        h.client()
            .prepare_response_for(find_coordinator(2, ErrorCode::None));
        h.client().prepare_response_for(init_response(code, -1, -1));
        h.run(3);
        let e = r.wait(Duration::ZERO).unwrap().unwrap_err();
        assert!(
            matches!(&e, Error::Kafka { name, .. } if name == code.name()),
            "{e}"
        );
        assert_eq!(h.state(), TransactionState::FatalError);
        // Every later call returns the fatal error.
        assert_eq!(h.m().begin_transaction().unwrap_err(), e);
        // On EndTxn.
        let mut h = harness();
        h.init();
        h.begin_and_send_one();
        let commit = h.m().begin_commit().unwrap();
        h.client().prepare_response_for(end_txn_response(code));
        h.run(2);
        let e = commit.wait(Duration::ZERO).unwrap().unwrap_err();
        assert!(e.to_string().contains(code.name()), "{e}");
        assert_eq!(h.state(), TransactionState::FatalError);
        assert!(h
            .m()
            .begin_abort()
            .unwrap_err()
            .to_string()
            .contains(code.name()));
    }
    // On a produce response: the record fails, the producer is done.
    let mut h = harness();
    h.init();
    h.m().begin_transaction().unwrap();
    let f = h.send(0, "a");
    h.client()
        .prepare_response_for(add_partitions_response(&[(0, ErrorCode::None)]));
    h.client()
        .prepare_response_for(produce_response(0, ErrorCode::ProducerFenced));
    h.run(4);
    assert!(f.get().unwrap_err().to_string().contains("PRODUCER_FENCED"));
    assert_eq!(h.state(), TransactionState::FatalError);
    // And TRANSACTIONAL_ID_AUTHORIZATION_FAILED from FindCoordinator.
    let mut h = harness();
    let r = h.m().init_transactions().unwrap();
    h.client().prepare_response_for(find_coordinator(
        -1,
        ErrorCode::TransactionalIdAuthorizationFailed,
    ));
    h.run(2);
    assert!(r.wait(Duration::ZERO).unwrap().is_err());
    assert_eq!(h.state(), TransactionState::FatalError);
}

#[test]
fn a_failed_send_makes_the_transaction_abortable_commit_fails_abort_works() {
    let mut h = harness();
    h.init();
    h.m().begin_transaction().unwrap();
    let f = h.send(0, "a");
    h.client()
        .prepare_response_for(add_partitions_response(&[(0, ErrorCode::None)]));
    h.client()
        .prepare_response_for(produce_response(0, ErrorCode::TopicAuthorizationFailed));
    h.run(4);
    assert!(f.get().is_err());
    assert_eq!(h.state(), TransactionState::AbortableError);
    let e = h.m().begin_commit().unwrap_err();
    assert!(
        matches!(&e, Error::IllegalState(m) if m.contains("ABORTABLE_ERROR") && m.contains("TOPIC_AUTHORIZATION_FAILED")),
        "{e}"
    );
    let e = h
        .m()
        .maybe_add_partition(&TopicPartition::new("t", 1))
        .unwrap_err();
    assert!(e.to_string().contains("ABORTABLE_ERROR"), "{e}");
    let abort = h.m().begin_abort().unwrap();
    h.client()
        .prepare_response_for(end_txn_response(ErrorCode::None));
    // The failed batch had a sequence: the abort ends with a new epoch.
    h.client()
        .prepare_response_for(init_response(ErrorCode::None, 7, 1));
    h.run(3);
    let RequestBody::EndTxn(end) = &h.sent(ApiKey::EndTxn)[0].1 else {
        panic!()
    };
    assert!(!end.committed);
    let inits = h.sent(ApiKey::InitProducerId);
    let RequestBody::InitProducerId(bump) = &inits[1].1 else {
        panic!()
    };
    assert_eq!((bump.producer_id, bump.producer_epoch), (7, 0));
    assert_eq!(abort.wait(Duration::ZERO), Some(Ok(())));
    assert_eq!(h.state(), TransactionState::Ready);
    // The next transaction produces with the new epoch from sequence 0.
    h.m().result_consumed(&abort);
    h.m().begin_transaction().unwrap();
    h.send(0, "b");
    h.client()
        .prepare_response_for(add_partitions_response(&[(0, ErrorCode::None)]));
    h.run(3);
    let produces = h.sent(ApiKey::Produce);
    let RequestBody::Produce(p) = &produces.last().unwrap().1 else {
        panic!()
    };
    let records = p.topic_data[0].partition_data[0].records.clone().unwrap();
    let batch = RecordBatches::new(records).next().unwrap().unwrap();
    assert_eq!((batch.producer_epoch(), batch.base_sequence()), (1, 0));
}

#[test]
fn abort_drops_unsent_records() {
    let mut h = harness();
    h.init();
    h.begin_and_send_one();
    // Partition 1 waits for AddPartitionsToTxn when the abort comes.
    let f = h.send(1, "x");
    h.run(1);
    let abort = h.m().begin_abort().unwrap();
    h.client()
        .respond(add_partitions_response(&[(1, ErrorCode::None)]));
    h.client()
        .prepare_response_for(end_txn_response(ErrorCode::None));
    h.run(3);
    let e = f.get().unwrap_err();
    assert!(e.to_string().contains("aborted"), "{e}");
    assert_eq!(
        h.sent(ApiKey::Produce).len(),
        1,
        "the dropped record was never sent"
    );
    assert_eq!(abort.wait(Duration::ZERO), Some(Ok(())));
    assert_eq!(h.state(), TransactionState::Ready);
}

#[test]
fn offsets_go_to_the_group_coordinator_with_the_consumers_generation() {
    let mut h = harness();
    h.init();
    h.m().begin_transaction().unwrap();
    let group = ConsumerGroupMetadata {
        group_id: "g".into(),
        generation_id: 5,
        member_id: "m-1".into(),
        group_instance_id: Some("i-1".into()),
    };
    let mut offsets = BTreeMap::new();
    offsets.insert(
        TopicPartition::new("in", 0),
        OffsetAndMetadata::with_metadata(42, "meta"),
    );
    let r = h
        .m()
        .send_offsets_to_transaction(offsets.clone(), group.clone())
        .unwrap();
    h.client()
        .prepare_response_for(AddOffsetsToTxnResponse::default());
    h.client()
        .prepare_response_for(find_coordinator(1, ErrorCode::None));
    h.client().prepare_response_for(TxnOffsetCommitResponse {
        topics: vec![TxnOffsetCommitResponseTopic {
            name: "in".into(),
            partitions: vec![TxnOffsetCommitResponsePartition {
                partition_index: 0,
                error_code: ErrorCode::None.code(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    h.run(4);
    assert_eq!(r.wait(Duration::ZERO), Some(Ok(())));
    let RequestBody::AddOffsetsToTxn(add) = &h.sent(ApiKey::AddOffsetsToTxn)[0].1 else {
        panic!()
    };
    assert_eq!(add.group_id, "g");
    let RequestBody::FindCoordinator(fc) = &h.sent(ApiKey::FindCoordinator)[1].1 else {
        panic!()
    };
    assert_eq!((fc.key.as_str(), fc.key_type), ("g", 0));
    let commits = h.sent(ApiKey::TxnOffsetCommit);
    assert_eq!(commits[0].0, coordinator_connection_id(1));
    let RequestBody::TxnOffsetCommit(c) = &commits[0].1 else {
        panic!()
    };
    assert_eq!(
        (
            c.generation_id,
            c.member_id.as_str(),
            c.group_instance_id.as_deref()
        ),
        (5, "m-1", Some("i-1"))
    );
    assert_eq!((c.producer_id, c.transactional_id.as_str()), (7, "tx"));
    let p = &c.topics[0].partitions[0];
    assert_eq!(
        (p.committed_offset, p.committed_metadata.as_deref()),
        (42, Some("meta"))
    );
    // The transaction has the offsets: commit sends EndTxn.
    let commit = h.m().begin_commit().unwrap();
    h.client()
        .prepare_response_for(end_txn_response(ErrorCode::None));
    h.run(2);
    assert_eq!(commit.wait(Duration::ZERO), Some(Ok(())));

    // A fenced consumer generation makes the transaction abortable.
    h.m().result_consumed(&commit);
    h.m().begin_transaction().unwrap();
    let r = h.m().send_offsets_to_transaction(offsets, group).unwrap();
    h.client()
        .prepare_response_for(AddOffsetsToTxnResponse::default());
    h.client().prepare_response_for(TxnOffsetCommitResponse {
        topics: vec![TxnOffsetCommitResponseTopic {
            name: "in".into(),
            partitions: vec![TxnOffsetCommitResponsePartition {
                partition_index: 0,
                error_code: ErrorCode::IllegalGeneration.code(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    h.run(3);
    let e = r.wait(Duration::ZERO).unwrap().unwrap_err();
    assert!(e.to_string().contains("ILLEGAL_GENERATION"), "{e}");
    assert_eq!(h.state(), TransactionState::AbortableError);
}

#[test]
fn a_timed_out_commit_is_resumed_by_the_next_call() {
    let mut h = harness();
    h.init();
    h.begin_and_send_one();
    let first = h.m().begin_commit().unwrap();
    h.run(1);
    // The caller gave up waiting; calling again waits for the same commit.
    assert_eq!(first.wait(Duration::ZERO), None);
    let again = h.m().begin_commit().unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    let e = h.m().begin_abort().unwrap_err();
    assert!(
        e.to_string().contains("commit_transaction is in progress"),
        "{e}"
    );
    h.client().respond(end_txn_response(ErrorCode::None));
    h.run(1);
    assert_eq!(h.sent(ApiKey::EndTxn).len(), 1, "one EndTxn for both calls");
    assert_eq!(again.wait(Duration::ZERO), Some(Ok(())));
    // Even after it completed, the repeated call gets its outcome once.
    let third = h.m().begin_commit().unwrap();
    assert!(Arc::ptr_eq(&first, &third));
    h.m().result_consumed(&third);
    assert!(h.m().begin_commit().is_err());
    h.m().begin_transaction().unwrap();
}

#[test]
fn requests_stay_on_transaction_protocol_version_1() {
    let mut h = harness();
    // A cluster finalizing transaction.version 1 (or none: the other tests).
    h.client().set_finalized_feature("transaction.version", 1);
    h.init();
    assert!(!h.m().is_transaction_v2());
    h.begin_and_send_one();
    let commit = h.m().begin_commit().unwrap();
    h.client()
        .prepare_response_for(end_txn_response(ErrorCode::None));
    h.run(2);
    assert_eq!(commit.wait(Duration::ZERO), Some(Ok(())));
    let client = h.sender.client();
    let version = |key| client.requests_of(key)[0].version;
    assert!(version(ApiKey::AddPartitionsToTxn) <= 3);
    assert!(version(ApiKey::EndTxn) <= 4);
    assert!(version(ApiKey::Produce) <= 11);
    assert_eq!(transaction_v1_version(ApiKey::EndTxn, 5), 4);
    assert_eq!(transaction_v1_version(ApiKey::Produce, 12), 11);
    assert_eq!(transaction_v1_version(ApiKey::InitProducerId, 5), 5);
}

#[test]
fn a_retry_dropped_by_abort_ends_the_abort_with_a_new_epoch() {
    let mut h = harness();
    h.init();
    h.begin_and_send_one();
    let f = h.send(0, "retried");
    h.run(1);
    // Leader change: the batch (sequence 1) waits for its retry.
    h.client()
        .respond(produce_response(0, ErrorCode::NotLeaderOrFollower));
    h.run(1);
    let abort = h.m().begin_abort().unwrap();
    h.client()
        .prepare_response_for(end_txn_response(ErrorCode::None));
    h.client()
        .prepare_response_for(init_response(ErrorCode::None, 7, 1));
    h.run(3);
    assert!(f.get().unwrap_err().to_string().contains("aborted"));
    let inits = h.sent(ApiKey::InitProducerId);
    assert_eq!(inits.len(), 2, "a bump after the abort");
    assert_eq!(abort.wait(Duration::ZERO), Some(Ok(())));
    assert_eq!(h.m().producer_id_and_epoch(), (7, 1));
}

#[test]
fn a_send_failing_while_the_commit_flushes_fails_the_commit_and_abort_recovers() {
    let mut h = harness();
    h.init();
    h.m().begin_transaction().unwrap();
    let f = h.send(0, "a");
    let commit = h.m().begin_commit().unwrap();
    h.client()
        .prepare_response_for(add_partitions_response(&[(0, ErrorCode::None)]));
    h.client()
        .prepare_response_for(produce_response(0, ErrorCode::RecordListTooLarge));
    h.run(4);
    assert!(f.get().is_err());
    let e = commit.wait(Duration::ZERO).unwrap().unwrap_err();
    assert!(e.to_string().contains("RECORD_LIST_TOO_LARGE"), "{e}");
    assert_eq!(h.state(), TransactionState::AbortableError);
    assert!(
        h.sent(ApiKey::EndTxn).is_empty(),
        "no EndTxn(commit) went out"
    );
    // The same commit call again reports the same failure (KIP-691).
    let again = h.m().begin_commit().unwrap();
    assert!(Arc::ptr_eq(&commit, &again));
    let abort = h.m().begin_abort().unwrap();
    h.client()
        .prepare_response_for(end_txn_response(ErrorCode::None));
    h.client()
        .prepare_response_for(init_response(ErrorCode::None, 7, 1));
    h.run(3);
    assert_eq!(abort.wait(Duration::ZERO), Some(Ok(())));
    let RequestBody::EndTxn(end) = &h.sent(ApiKey::EndTxn)[0].1 else {
        panic!()
    };
    assert!(!end.committed);
    assert_eq!(h.state(), TransactionState::Ready);
}

/// The sender thread's loop on a mock clock: each pass runs at the clock's
/// time and its poll sleeps (advances the clock) for the timeout the sender
/// asked for, until `done` or `passes` passes.
fn run_on_clock(h: &mut H, time: &MockTime, passes: usize, done: impl Fn(&H) -> bool) {
    for _ in 0..passes {
        if done(h) {
            return;
        }
        h.now = time.now();
        h.sender.run_once(h.now);
    }
}

#[test]
fn a_request_waiting_out_a_retry_backoff_wakes_the_sender_at_its_end() {
    // Nothing else wakes the sender: no batch is queued, no response is
    // due. Before the fix its poll slept its full 60 s timeout.
    let time = MockTime::new();
    let mut h = harness_with_time(Some(time.clone()));
    h.init();
    h.begin_and_send_one();
    let group = ConsumerGroupMetadata {
        group_id: "g".into(),
        generation_id: 1,
        member_id: "m".into(),
        group_instance_id: None,
    };
    let mut offsets = BTreeMap::new();
    offsets.insert(TopicPartition::new("in", 0), OffsetAndMetadata::new(1));
    // AddOffsetsToTxn right after the previous transaction: Kafka answers
    // CONCURRENT_TRANSACTIONS while it still completes that one.
    // (Answers are prepared: on the mock clock an unanswered request
    // times out at the first poll.)
    h.client().prepare_response_for(AddOffsetsToTxnResponse {
        error_code: ErrorCode::ConcurrentTransactions.code(),
        ..Default::default()
    });
    h.client()
        .prepare_response_for(AddOffsetsToTxnResponse::default());
    let r = h.m().send_offsets_to_transaction(offsets, group).unwrap();
    run_on_clock(&mut h, &time, 10, |h| {
        h.sent(ApiKey::AddOffsetsToTxn).len() == 2
    });
    let adds = h.sender.client().requests_of(ApiKey::AddOffsetsToTxn);
    assert_eq!(adds.len(), 2, "AddOffsetsToTxn retried");
    assert_eq!(
        adds[1].sent_at,
        adds[0].sent_at + BACKOFF,
        "retried when the backoff ended, not when something else woke the sender"
    );
    h.client()
        .prepare_response_for(find_coordinator(1, ErrorCode::None));
    h.client().prepare_response_for(TxnOffsetCommitResponse {
        topics: vec![TxnOffsetCommitResponseTopic {
            name: "in".into(),
            partitions: vec![TxnOffsetCommitResponsePartition {
                partition_index: 0,
                error_code: ErrorCode::None.code(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    run_on_clock(&mut h, &time, 10, |_| r.is_completed());
    assert_eq!(r.wait(Duration::ZERO), Some(Ok(())));

    // The same for EndTxn.
    h.client()
        .prepare_response_for(end_txn_response(ErrorCode::ConcurrentTransactions));
    h.client()
        .prepare_response_for(end_txn_response(ErrorCode::None));
    let commit = h.m().begin_commit().unwrap();
    run_on_clock(&mut h, &time, 10, |_| commit.is_completed());
    assert_eq!(commit.wait(Duration::ZERO), Some(Ok(())));
    let ends = h.sender.client().requests_of(ApiKey::EndTxn);
    assert_eq!(ends.len(), 2);
    assert_eq!(ends[1].sent_at, ends[0].sent_at + BACKOFF);
}

fn last_batch_epoch_and_sequence(h: &H) -> (i16, i32) {
    let produces = h.sent(ApiKey::Produce);
    let RequestBody::Produce(p) = &produces.last().unwrap().1 else {
        panic!()
    };
    let records = p.topic_data[0].partition_data[0].records.clone().unwrap();
    let batch = RecordBatches::new(records).next().unwrap().unwrap();
    assert!(batch.is_transactional());
    (batch.producer_epoch(), batch.base_sequence())
}

#[test]
fn transaction_protocol_version_2_adds_partitions_by_produce_and_bumps_the_epoch_per_transaction() {
    let mut h = harness();
    h.client().set_finalized_feature("transaction.version", 2);
    h.init();
    assert!(h.m().is_transaction_v2());
    h.m().begin_transaction().unwrap();
    let f0 = h.send(0, "a");
    let f1 = h.send(1, "b");
    h.client()
        .prepare_response_for(produce_response(0, ErrorCode::None));
    h.client()
        .prepare_response_for(produce_response(1, ErrorCode::None));
    h.run(3);
    assert!(
        h.sent(ApiKey::AddPartitionsToTxn).is_empty(),
        "no AddPartitionsToTxn in version 2"
    );
    assert!(f0.get().is_ok() && f1.get().is_ok());
    {
        let client = h.sender.client();
        let produces = client.requests_of(ApiKey::Produce);
        assert_eq!(produces.len(), 2);
        assert!(produces.iter().all(|r| r.version >= 12), "Produce v12+");
    }
    assert_eq!(last_batch_epoch_and_sequence(&h), (0, 0));

    // Offsets: TxnOffsetCommit v5 alone, no AddOffsetsToTxn.
    let group = ConsumerGroupMetadata {
        group_id: "g".into(),
        generation_id: 3,
        member_id: "m".into(),
        group_instance_id: None,
    };
    let mut offsets = BTreeMap::new();
    offsets.insert(TopicPartition::new("in", 0), OffsetAndMetadata::new(9));
    let r = h.m().send_offsets_to_transaction(offsets, group).unwrap();
    h.client()
        .prepare_response_for(find_coordinator(1, ErrorCode::None));
    h.client().prepare_response_for(TxnOffsetCommitResponse {
        topics: vec![TxnOffsetCommitResponseTopic {
            name: "in".into(),
            partitions: vec![TxnOffsetCommitResponsePartition {
                partition_index: 0,
                error_code: ErrorCode::None.code(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    h.run(3);
    assert_eq!(r.wait(Duration::ZERO), Some(Ok(())));
    assert!(h.sent(ApiKey::AddOffsetsToTxn).is_empty());
    assert!(h.sender.client().requests_of(ApiKey::TxnOffsetCommit)[0].version >= 5);

    // EndTxn v5 answers with the next epoch; sequences restart with it.
    let commit = h.m().begin_commit().unwrap();
    h.client().prepare_response_for(EndTxnResponse {
        producer_id: 7,
        producer_epoch: 1,
        ..end_txn_response(ErrorCode::None)
    });
    h.run(2);
    assert_eq!(commit.wait(Duration::ZERO), Some(Ok(())));
    assert!(h.sender.client().requests_of(ApiKey::EndTxn)[0].version >= 5);
    assert_eq!(h.m().producer_id_and_epoch(), (7, 1));
    let tm = h.sender.transaction_manager().unwrap();
    assert_eq!((tm.producer_id(), tm.producer_epoch()), (7, 1));
    h.m().result_consumed(&commit);

    // The next transaction writes with epoch 1 from sequence 0; an abort
    // bumps the epoch too (a new producer id once the epoch is exhausted).
    h.m().begin_transaction().unwrap();
    let f = h.send(0, "c");
    h.client()
        .prepare_response_for(produce_response(0, ErrorCode::None));
    h.run(2);
    assert!(f.get().is_ok());
    assert_eq!(last_batch_epoch_and_sequence(&h), (1, 0));
    let abort = h.m().begin_abort().unwrap();
    h.client().prepare_response_for(EndTxnResponse {
        producer_id: 8,
        producer_epoch: 0,
        ..end_txn_response(ErrorCode::None)
    });
    h.run(2);
    assert_eq!(abort.wait(Duration::ZERO), Some(Ok(())));
    assert_eq!(h.m().producer_id_and_epoch(), (8, 0));
    assert_eq!(h.sent(ApiKey::InitProducerId).len(), 1, "no InitProducerId");
    assert!(h.sent(ApiKey::AddPartitionsToTxn).is_empty());
}

#[test]
fn version_2_failed_send_is_aborted_with_the_end_txn_epoch_bump_alone() {
    let mut h = harness();
    h.client().set_finalized_feature("transaction.version", 2);
    h.init();
    h.m().begin_transaction().unwrap();
    let f = h.send(0, "a");
    h.client()
        .prepare_response_for(produce_response(0, ErrorCode::TopicAuthorizationFailed));
    h.run(3);
    assert!(f.get().is_err());
    assert_eq!(h.state(), TransactionState::AbortableError);
    let abort = h.m().begin_abort().unwrap();
    h.client().prepare_response_for(EndTxnResponse {
        producer_id: 7,
        producer_epoch: 1,
        ..end_txn_response(ErrorCode::None)
    });
    h.run(3);
    assert_eq!(abort.wait(Duration::ZERO), Some(Ok(())));
    assert_eq!(h.state(), TransactionState::Ready);
    assert_eq!(
        h.sent(ApiKey::InitProducerId).len(),
        1,
        "EndTxn's bump replaces KIP-360's InitProducerId"
    );
    h.m().result_consumed(&abort);
    h.m().begin_transaction().unwrap();
    h.send(0, "b");
    h.client()
        .prepare_response_for(produce_response(0, ErrorCode::None));
    h.run(2);
    assert_eq!(last_batch_epoch_and_sequence(&h), (1, 0));
}
