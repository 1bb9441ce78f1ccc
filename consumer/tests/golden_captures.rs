//! The consumer's fetch path fed with Fetch responses Apache Kafka 4.0 really
//! sent (`../shared/captures/kafka-4.0/`): transactional data with an aborted
//! transaction (read_committed and read_uncommitted), and an incremental
//! fetch session driven by the broker's own session ids and epochs.
//! Skipped, saying so, when the captures are not beside the repository.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use prozess_consumer::completed_fetches::{CompletedFetch, FetchedPartition};
use prozess_consumer::fetch_session::{FetchMetadata, FetchSessionHandler, PartitionData};
use prozess_network::TopicPartition;
use prozess_protocol::header::ResponseHeader;
use prozess_protocol::messages::{FetchRequest, FetchResponse};
use prozess_protocol::{ErrorCode, Uuid};

fn captures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/kafka-4.0");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no captures at {}", dir.display());
        None
    }
}

fn response(dir: &Path, scenario: &str, file: &str, version: i16) -> FetchResponse {
    let raw = std::fs::read(dir.join(scenario).join(file)).expect("capture file");
    let mut buf = Bytes::from(raw);
    ResponseHeader::decode(&mut buf, 1).expect("response header");
    let resp = FetchResponse::decode(&mut buf, version).expect("fetch response");
    assert!(buf.is_empty(), "the whole frame is read");
    resp
}

fn request(dir: &Path, scenario: &str, file: &str, version: i16) -> FetchRequest {
    let raw = std::fs::read(dir.join(scenario).join(file)).expect("capture file");
    let mut buf = Bytes::from(raw);
    prozess_protocol::header::RequestHeader::decode(&mut buf, 2).expect("request header");
    FetchRequest::decode(&mut buf, version).expect("fetch request")
}

/// A record as text: (offset, key, value, headers as `k=v`).
type TextRecord = (i64, String, String, Vec<String>);

/// Drains partition 0 of a captured response; also returns the next fetch offset.
fn drain(resp: &FetchResponse, read_committed: bool) -> (Vec<TextRecord>, i64) {
    let p = &resp.responses[0].partitions[0];
    let fetched = FetchedPartition {
        error: ErrorCode::from_i16(p.error_code),
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        log_start_offset: p.log_start_offset,
        aborted_transactions: p
            .aborted_transactions
            .as_ref()
            .map(|v| v.iter().map(|a| (a.producer_id, a.first_offset)).collect()),
        preferred_read_replica: p.preferred_read_replica,
        diverging_epoch: None,
        records: p.records.clone(),
    };
    let mut cf = CompletedFetch::new(
        TopicPartition::new("txn-topic", 0),
        0,
        fetched,
        read_committed,
        true,
    );
    let mut out = Vec::new();
    while let Some(r) = cf.next_record().expect("valid records") {
        let text = |b: &Option<Bytes>| String::from_utf8(b.clone().unwrap().to_vec()).unwrap();
        let headers = r
            .record
            .headers
            .iter()
            .map(|h| format!("{}={}", h.key, text(&h.value)))
            .collect();
        out.push((
            r.record.offset,
            text(&r.record.key),
            text(&r.record.value),
            headers,
        ));
    }
    (out, cf.next_fetch_offset())
}

#[test]
fn kafka_transactions_read_committed_and_uncommitted() {
    let Some(dir) = captures() else { return };
    // kcat with isolation.level=read_committed: abortedTransactions lists
    // producer 5 from offset 4, so offsets 4..5 are dropped.
    let rc = response(&dir, "transactions", "0053-Fetch-v16-response.bin", 16);
    assert_eq!(
        rc.responses[0].partitions[0]
            .aborted_transactions
            .as_ref()
            .map(|v| v.len()),
        Some(1)
    );
    let (records, next) = drain(&rc, true);
    let offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![0, 1, 2, 7]);
    assert_eq!(records[0].1, "commit-key-0");
    assert_eq!(records[3].2, "committed-3");
    assert!(records
        .iter()
        .all(|r| r.3 == vec!["txn=commit".to_string()]));
    assert_eq!(next, 9, "the position passes the last COMMIT marker");

    // The same batches without the aborted list (read_uncommitted): every
    // data record, no control record.
    let ru = response(&dir, "transactions", "0062-Fetch-v16-response.bin", 16);
    let (records, next) = drain(&ru, false);
    let offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![0, 1, 2, 4, 5, 7]);
    assert_eq!(records[3].2, "aborted-0");
    assert_eq!(next, 9);

    // The Java consumer's read_committed fetch (v17, topic ids): same result.
    let java = response(&dir, "transactions", "0069-Fetch-v17-response.bin", 17);
    let (records, _) = drain(&java, true);
    assert_eq!(
        records.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![0, 1, 2, 7]
    );
}

#[test]
fn kafka_fetch_session_ids_and_epochs_drive_the_handler() {
    let Some(dir) = captures() else { return };
    // The Java consumer's first fetch (0011) opens the session; the broker's
    // responses carry the session id; our handler must continue with the same
    // id and epochs 1, 2, ... as the Java client's later requests (0012..).
    let first_req = request(&dir, "fetch-session", "0011-Fetch-v17-request.bin", 17);
    assert_eq!((first_req.session_id, first_req.session_epoch), (0, 0));
    let parts: Vec<(TopicPartition, PartitionData)> = first_req.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                TopicPartition::new("session-topic", p.partition),
                PartitionData {
                    topic_id: first_req.topics[0].topic_id,
                    fetch_offset: p.fetch_offset,
                    log_start_offset: -1,
                    max_bytes: p.partition_max_bytes,
                    current_leader_epoch: p.current_leader_epoch,
                    last_fetched_epoch: p.last_fetched_epoch,
                },
            )
        })
        .collect();
    assert_eq!(parts.len(), 4);
    let mut handler = FetchSessionHandler::new(1);
    let mut b = handler.new_builder();
    for (tp, d) in &parts {
        b.add(tp.clone(), *d);
    }
    let data = b.build();
    assert_eq!(data.metadata, FetchMetadata::INITIAL);
    assert_eq!(data.to_send.len(), 4);

    let first_resp = response(&dir, "fetch-session", "0011-Fetch-v17-response.bin", 17);
    assert_ne!(first_resp.session_id, 0, "Kafka opened a session");
    let tps: Vec<TopicPartition> = first_resp
        .responses
        .iter()
        .flat_map(|t| {
            assert_eq!(t.topic_id, first_req.topics[0].topic_id);
            t.partitions
                .iter()
                .map(|p| TopicPartition::new("session-topic", p.partition_index))
        })
        .collect();
    assert!(handler.handle_response(ErrorCode::None, first_resp.session_id, &tps));

    // Nothing changed: the next request is incremental and empty, exactly as
    // the Java client's second request.
    let second_req = request(&dir, "fetch-session", "0012-Fetch-v17-request.bin", 17);
    let mut b = handler.new_builder();
    for (tp, d) in &parts {
        b.add(tp.clone(), *d);
    }
    let data = b.build();
    assert_eq!(
        (data.metadata.session_id, data.metadata.epoch),
        (second_req.session_id, second_req.session_epoch)
    );
    assert_eq!(data.metadata.epoch, 1);
    let java_listed: usize = second_req.topics.iter().map(|t| t.partitions.len()).sum();
    assert_eq!(data.to_send.len(), java_listed);
    assert!(data.to_forget.is_empty());
    assert_ne!(Uuid::NIL, first_req.topics[0].topic_id);
}
