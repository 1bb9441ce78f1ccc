//! Golden record batches from real clients and brokers (Apache Kafka 4.0,
//! Tansu 0.6; librdkafka 2.16, the Java 4.0 producer, confluent-kafka):
//! Produce requests in every codec (raw snappy from librdkafka, xerial-framed
//! snappy from Java), Fetch responses with compressed, idempotent,
//! transactional and control batches.
//!
//! The frames under `tests/data/records/` are copies of
//! `shared/captures/<broker>/<scenario>/NNNN-*.bin`, renamed
//! `<broker>_<scenario>_<file>`; `expected.json` holds what the Apache Kafka
//! client library decoded from them (captures' `decoded.json`): per batch the
//! header fields, the first and last record, the sum of the record
//! timestamps, every key and the total value length. The frames are decoded
//! with the generated `ProduceRequest` / `FetchResponse`, the batches in
//! their records fields with `prozess_protocol::records`.

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use prozess_protocol::header::{RequestHeader, ResponseHeader};
use prozess_protocol::messages::{FetchResponse, ProduceRequest};
use prozess_protocol::records::{
    Compression, ControlRecord, ControlRecordType, MemoryRecordsBuilder, Record, RecordBatch,
    RecordBatches, RecordHeader, TimestampType,
};
use prozess_protocol::DecodeError;
use serde_json::Value;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/records")
}

fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(data_dir().join("expected.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(m) => m,
        _ => panic!("expected.json is not an object"),
    }
}

/// The records fields of a Produce request frame, `(partition, records)`
/// in order, decoded with the generated `ProduceRequest`.
fn produce_records(frame: &[u8]) -> Result<Vec<(i32, Bytes)>, DecodeError> {
    let mut b = Bytes::copy_from_slice(frame);
    let header = RequestHeader::decode_auto(&mut b)?;
    assert_eq!(header.request_api_key, 0);
    let request = ProduceRequest::decode(&mut b, header.request_api_version)?;
    assert!(b.is_empty(), "bytes after the Produce body");
    Ok(request
        .topic_data
        .into_iter()
        .flat_map(|t| t.partition_data)
        .map(|p| (p.index, p.records.unwrap_or_default()))
        .collect())
}

/// The records fields of a Fetch response frame, decoded with the generated
/// `FetchResponse` (the version is in the file name).
fn fetch_records(frame: &[u8], version: i16) -> Result<Vec<(i32, Bytes)>, DecodeError> {
    let mut b = Bytes::copy_from_slice(frame);
    ResponseHeader::decode(&mut b, 1)?;
    let response = FetchResponse::decode(&mut b, version)?;
    assert!(b.is_empty(), "bytes after the Fetch body");
    Ok(response
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .map(|p| (p.partition_index, p.records.unwrap_or_default()))
        .collect())
}

fn frame_records(name: &str) -> Vec<(i32, Bytes)> {
    let frame = std::fs::read(data_dir().join(name)).unwrap();
    if name.contains("-Produce-") {
        produce_records(&frame).unwrap()
    } else {
        // "..._NNNN-Fetch-v16-response.bin"
        let version = name
            .split("-v")
            .nth(1)
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse().ok())
            .expect("version in the file name");
        fetch_records(&frame, version).unwrap()
    }
}

fn json_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            if let Some(Value::String(s)) = m.get("utf8") {
                Some(s.as_bytes().to_vec())
            } else if let Some(Value::String(s)) = m.get("base64") {
                Some(base64(s))
            } else {
                panic!("unexpected value {v}")
            }
        }
        _ => panic!("unexpected value {v}"),
    }
}

fn base64(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn check_record(r: &Record, want: &Value, ctx: &str) {
    assert_eq!(r.offset, want["offset"].as_i64().unwrap(), "{ctx} offset");
    assert_eq!(r.timestamp, want["timestamp"].as_i64().unwrap(), "{ctx} ts");
    assert_eq!(
        r.key.as_deref().map(<[u8]>::to_vec),
        json_bytes(&want["key"]),
        "{ctx} key"
    );
    assert_eq!(
        r.value.as_deref().map(<[u8]>::to_vec),
        json_bytes(&want["value"]),
        "{ctx} value"
    );
    let headers = want["headers"].as_array().unwrap();
    assert_eq!(r.headers.len(), headers.len(), "{ctx} headers");
    for (h, w) in r.headers.iter().zip(headers) {
        assert_eq!(h.key, w[0].as_str().unwrap(), "{ctx} header key");
        assert_eq!(
            h.value.as_deref().map(<[u8]>::to_vec),
            json_bytes(&w[1]),
            "{ctx} header value"
        );
    }
}

fn check_batch(batch: &RecordBatch, want: &Value, ctx: &str) {
    let int = |k: &str| want[k].as_i64().unwrap_or_else(|| panic!("{ctx}: {k}"));
    assert_eq!(batch.base_offset(), int("baseOffset"), "{ctx}");
    assert_eq!(batch.last_offset(), int("lastOffset"), "{ctx}");
    assert_eq!(batch.size_in_bytes() as i64, int("sizeInBytes"), "{ctx}");
    assert_eq!(batch.crc() as i64, int("crc"), "{ctx}");
    assert!(batch.is_valid());
    assert_eq!(
        batch.compression().name(),
        want["compression"].as_str().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        batch.timestamp_type().name(),
        want["timestampType"].as_str().unwrap(),
        "{ctx}"
    );
    assert_eq!(batch.max_timestamp(), int("maxTimestamp"), "{ctx}");
    assert_eq!(
        batch.partition_leader_epoch() as i64,
        int("partitionLeaderEpoch"),
        "{ctx}"
    );
    assert_eq!(batch.producer_id(), int("producerId"), "{ctx}");
    assert_eq!(batch.producer_epoch() as i64, int("producerEpoch"), "{ctx}");
    assert_eq!(batch.base_sequence() as i64, int("baseSequence"), "{ctx}");
    assert_eq!(
        batch.is_transactional(),
        want["isTransactional"].as_bool().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        batch.is_control(),
        want["isControlBatch"].as_bool().unwrap(),
        "{ctx}"
    );
    assert_eq!(batch.record_count() as i64, int("recordCount"), "{ctx}");

    let records: Vec<Record> = batch
        .records()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert_eq!(records.len() as i64, int("recordCount"), "{ctx}");
    check_record(&records[0], &want["first"], &format!("{ctx} first"));
    check_record(
        records.last().unwrap(),
        &want["last"],
        &format!("{ctx} last"),
    );
    let ts_sum: i64 = records.iter().map(|r| r.timestamp).sum();
    assert_eq!(ts_sum, int("timestampSum"), "{ctx}");
    let keys: Vec<Option<String>> = records
        .iter()
        .map(|r| {
            r.key
                .as_ref()
                .and_then(|k| String::from_utf8(k.to_vec()).ok())
        })
        .collect();
    let want_keys: Vec<Option<String>> = want["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().map(String::from))
        .collect();
    if !batch.is_control() {
        assert_eq!(keys, want_keys, "{ctx} keys");
        let value_bytes: usize = records
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len()))
            .sum();
        assert_eq!(value_bytes as i64, int("valueBytes"), "{ctx}");
    } else {
        let marker = batch.control_record().unwrap().unwrap();
        let ty = match want["first"]["controlType"].as_str().unwrap() {
            "COMMIT" => ControlRecordType::Commit,
            "ABORT" => ControlRecordType::Abort,
            other => panic!("{other}"),
        };
        assert_eq!(marker.control_type, ty, "{ctx}");
        assert_eq!(
            marker.coordinator_epoch.map(i64::from),
            want["first"]["coordinatorEpoch"].as_i64(),
            "{ctx}"
        );
    }
}

/// Every frame: the batches and records are exactly what the Kafka client
/// library decoded from the same bytes.
#[test]
fn golden_batches_decode_as_kafka_decodes_them() {
    let expected = expected();
    assert_eq!(expected.len(), 26);
    let mut codecs_seen = std::collections::BTreeSet::new();
    let mut batches_seen = 0;
    for (name, want) in &expected {
        let parts = frame_records(name);
        let want_parts = want["partitions"].as_array().unwrap();
        assert_eq!(parts.len(), want_parts.len(), "{name}");
        for ((partition, records), wp) in parts.into_iter().zip(want_parts) {
            assert_eq!(partition as i64, wp["partition"].as_i64().unwrap());
            let want_batches = wp["batches"].as_array().unwrap();
            let mut it = RecordBatches::new(records);
            let batches: Vec<RecordBatch> = it
                .by_ref()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!it.has_partial_batch(), "{name}");
            assert_eq!(batches.len(), want_batches.len(), "{name}");
            for (i, (batch, wb)) in batches.iter().zip(want_batches).enumerate() {
                check_batch(batch, wb, &format!("{name} batch {i}"));
                // The kcat batches carry no producer id; the Java
                // producer's (idempotent by default) do.
                codecs_seen.insert((batch.compression().name(), batch.producer_id() >= 0));
                batches_seen += 1;
            }
        }
    }
    assert!(batches_seen >= 40, "{batches_seen}");
    // librdkafka and Java batches in every codec.
    for c in Compression::ALL {
        assert!(
            codecs_seen.contains(&(c.name(), false)),
            "{c} from librdkafka"
        );
    }
    for c in Compression::ALL.into_iter().skip(1) {
        assert!(codecs_seen.contains(&(c.name(), true)), "{c} from Java");
    }
}

/// librdkafka writes raw snappy, the Java producer xerial-framed snappy.
#[test]
fn both_snappy_framings_occur_and_read() {
    let xerial = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
    for (name, framed) in [
        (
            "kafka-4.0_produce-codecs_0012-Produce-v10-request.bin",
            false,
        ),
        (
            "kafka-4.0_produce-codecs_0032-Produce-v12-request.bin",
            true,
        ),
    ] {
        let (_, records) = frame_records(name).remove(0);
        let batch = RecordBatches::new(records).next().unwrap().unwrap();
        assert_eq!(batch.compression(), Compression::Snappy);
        assert_eq!(batch.as_bytes()[61..69] == xerial, framed, "{name}");
        assert!(batch.records().unwrap().all(|r| r.is_ok()));
    }
}

/// Re-encoding what we decoded with the builder gives the same records back
/// for every golden batch, and for uncompressed batches the very same bytes
/// (so our encoder writes what librdkafka, Java and Kafka write).
#[test]
fn golden_batches_re_encode() {
    let mut identical = 0;
    for name in expected().keys() {
        for (_, records) in frame_records(name) {
            for batch in RecordBatches::new(records) {
                let batch = batch.unwrap();
                let decoded: Vec<Record> =
                    batch.records().unwrap().collect::<Result<_, _>>().unwrap();
                let mut b = MemoryRecordsBuilder::new(batch.base_offset(), batch.compression())
                    .producer_state(
                        batch.producer_id(),
                        batch.producer_epoch(),
                        batch.base_sequence(),
                    )
                    .transactional(batch.is_transactional())
                    .control(batch.is_control())
                    .partition_leader_epoch(batch.partition_leader_epoch())
                    .base_timestamp(batch.base_timestamp());
                if batch.timestamp_type() == TimestampType::LogAppendTime {
                    b = b.log_append_time(batch.max_timestamp());
                }
                for r in &decoded {
                    b.append_with_offset(
                        r.offset,
                        r.timestamp,
                        r.key.as_deref(),
                        r.value.as_deref(),
                        &r.headers,
                    )
                    .unwrap();
                }
                let bytes = b.build().unwrap();
                let again = RecordBatches::new(bytes.clone()).next().unwrap().unwrap();
                assert_eq!(again.max_timestamp(), batch.max_timestamp(), "{name}");
                assert_eq!(again.last_offset(), batch.last_offset(), "{name}");
                let redecoded: Vec<Record> =
                    again.records().unwrap().collect::<Result<_, _>>().unwrap();
                assert_eq!(redecoded, decoded, "{name}");
                if batch.compression() == Compression::None {
                    assert_eq!(&bytes, batch.as_bytes(), "{name}: bytes differ");
                    identical += 1;
                }
            }
        }
    }
    assert!(identical >= 15, "{identical}");
}

/// A Fetch response cut anywhere inside its last batch (as a broker does at
/// max.partition.fetch.bytes) reads as the complete batches plus a partial.
#[test]
fn golden_fetch_truncated_at_every_byte_of_the_last_batch() {
    let (_, records) =
        frame_records("kafka-4.0_transactions_0053-Fetch-v16-response.bin").remove(0);
    let sizes: Vec<usize> = RecordBatches::new(records.clone())
        .map(|b| b.unwrap().size_in_bytes())
        .collect();
    assert_eq!(sizes.len(), 6);
    let complete: usize = sizes[..5].iter().sum();
    for cut in complete..records.len() {
        let mut it = RecordBatches::new(records.slice(..cut));
        assert_eq!(it.by_ref().filter(|b| b.is_ok()).count(), 5, "cut {cut}");
        assert_eq!(it.has_partial_batch(), cut > complete, "cut {cut}");
    }
}

/// The transaction scenario: data batches, then COMMIT / ABORT markers
/// written by the broker, as a read_committed consumer needs them.
#[test]
fn golden_transaction_markers() {
    for name in [
        "kafka-4.0_transactions_0053-Fetch-v16-response.bin",
        "kafka-4.0_transactions_0069-Fetch-v17-response.bin",
        "tansu-0.6_transactions_0039-Fetch-v16-response.bin",
    ] {
        let (_, records) = frame_records(name).remove(0);
        let batches: Vec<RecordBatch> = RecordBatches::new(records).map(Result::unwrap).collect();
        let markers: Vec<(i64, ControlRecordType)> = batches
            .iter()
            .filter_map(|b| {
                b.control_record()
                    .unwrap()
                    .map(|c: ControlRecord| (b.base_offset(), c.control_type))
            })
            .collect();
        assert_eq!(
            markers,
            vec![
                (3, ControlRecordType::Commit),
                (6, ControlRecordType::Abort),
                (8, ControlRecordType::Commit)
            ],
            "{name}"
        );
        assert!(batches
            .iter()
            .all(|b| b.is_transactional() && b.producer_id() >= 0));
        let aborted: Vec<Record> = batches[2].records().unwrap().map(Result::unwrap).collect();
        assert_eq!(aborted[0].key.as_deref(), Some(&b"abort-key-0"[..]));
        assert_eq!(
            aborted[0].headers,
            vec![RecordHeader::new("txn", &b"abort"[..])]
        );
    }
}

/// A corrupted golden batch: the error names the offset of the batch.
#[test]
fn golden_corruption_names_topic_partition_and_offset() {
    let (_, records) =
        frame_records("kafka-4.0_consume-assign_0061-Fetch-v16-response.bin").remove(0);
    let first = RecordBatches::new(records.clone())
        .next()
        .unwrap()
        .unwrap()
        .size_in_bytes();
    let mut bad = BytesMut::from(&records[..]);
    bad[first + 100] ^= 1; // inside the second batch (base offset 166)
    let err = RecordBatches::new(bad.freeze())
        .for_partition("codec-java-snappy", 0)
        .find_map(Result::err)
        .unwrap();
    assert_eq!(err.offset, 166);
    assert_eq!(err.error.field, "RecordBatch@166.crc");
    assert!(
        err.to_string()
            .contains("codec-java-snappy-0 at offset 166"),
        "{err}"
    );
}
