//! Record batches: encode with MemoryRecordsBuilder, decode with
//! RecordBatches, for every codec and the header flags; error cases.

use bytes::{Bytes, BytesMut};
use prozess_protocol::records::{
    BatchError, Compression, ControlRecord, ControlRecordType, MemoryRecordsBuilder, Record,
    RecordBatch, RecordBatches, RecordHeader, TimestampType, RECORD_BATCH_OVERHEAD,
};
use prozess_protocol::DecodeErrorKind;

const T0: i64 = 1_700_000_000_000;

/// Records covering the corner cases: null key, tombstone (null value),
/// empty key and value, headers with null and empty values, a big value,
/// timestamps out of order.
fn sample_records() -> Vec<Record> {
    let big = Bytes::from((0..70_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    vec![
        Record {
            offset: 0,
            timestamp: T0,
            key: Some(Bytes::from_static(b"key-0")),
            value: Some(Bytes::from_static(b"value-0")),
            headers: vec![
                RecordHeader::new("codec", &b"test"[..]),
                RecordHeader {
                    key: "null-header".into(),
                    value: None,
                },
                RecordHeader::new("", Bytes::new()),
            ],
        },
        Record {
            offset: 1,
            timestamp: T0 + 5,
            key: None,
            value: Some(Bytes::from_static(b"no key")),
            headers: vec![],
        },
        Record {
            offset: 2,
            timestamp: T0 - 3,
            key: Some(Bytes::from_static(b"tombstone")),
            value: None,
            headers: vec![],
        },
        Record {
            offset: 3,
            timestamp: T0 + 1000,
            key: Some(Bytes::new()),
            value: Some(Bytes::new()),
            headers: vec![RecordHeader::new("ünïcode", &b"\x00\xff"[..])],
        },
        Record {
            offset: 4,
            timestamp: T0 + 2,
            key: Some(Bytes::from_static(b"big")),
            value: Some(big),
            headers: vec![],
        },
    ]
}

fn build(records: &[Record], b: MemoryRecordsBuilder) -> Bytes {
    let mut b = b;
    for r in records {
        b.append_with_offset(
            r.offset,
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        )
        .unwrap();
    }
    b.build().unwrap()
}

fn only_batch(bytes: Bytes) -> RecordBatch {
    let mut it = RecordBatches::new(bytes);
    let batch = it.next().expect("one batch").expect("valid batch");
    assert!(it.next().is_none());
    assert!(!it.has_partial_batch());
    batch
}

fn read_all(batch: &RecordBatch) -> Vec<Record> {
    batch
        .records()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[test]
fn every_codec_round_trips_records_and_header_fields() {
    let records = sample_records();
    for codec in Compression::ALL {
        let bytes = build(
            &records,
            MemoryRecordsBuilder::new(0, codec)
                .producer_state(4711, 3, 42)
                .transactional(true)
                .partition_leader_epoch(9),
        );
        let batch = only_batch(bytes.clone());
        assert_eq!(batch.compression(), codec);
        assert_eq!(batch.base_offset(), 0);
        assert_eq!(batch.last_offset(), 4);
        assert_eq!(batch.next_offset(), 5);
        assert_eq!(batch.record_count(), 5);
        assert_eq!(batch.producer_id(), 4711);
        assert_eq!(batch.producer_epoch(), 3);
        assert_eq!(batch.base_sequence(), 42);
        assert_eq!(batch.last_sequence(), 46);
        assert!(batch.is_transactional());
        assert!(!batch.is_control());
        assert_eq!(batch.partition_leader_epoch(), 9);
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        assert_eq!(batch.base_timestamp(), T0);
        assert_eq!(batch.max_timestamp(), T0 + 1000);
        assert_eq!(batch.magic(), 2);
        assert!(batch.is_valid());
        assert_eq!(batch.size_in_bytes(), bytes.len());
        assert_eq!(read_all(&batch), records, "{codec}");
        if codec != Compression::None {
            assert!(
                bytes.len() < 40_000,
                "{codec} should compress the 70 kB value"
            );
        }
    }
}

#[test]
fn uncompressed_values_are_slices_of_the_input() {
    let mut records = sample_records();
    for r in &mut records {
        r.offset += 100;
    }
    let bytes = build(&records, MemoryRecordsBuilder::new(100, Compression::None));
    let range = bytes.as_ptr_range();
    let batch = only_batch(bytes.clone());
    for r in batch.records().unwrap() {
        let r = r.unwrap();
        for b in [&r.key, &r.value]
            .into_iter()
            .flatten()
            .chain(r.headers.iter().filter_map(|h| h.value.as_ref()))
        {
            if !b.is_empty() {
                assert!(range.contains(&b.as_ptr()), "not a slice of the input");
            }
        }
    }
    // Offsets are base + delta.
    let offsets: Vec<i64> = read_all(&batch).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![100, 101, 102, 103, 104]);
}

#[test]
fn borrowed_records_match_owned_ones() {
    for codec in Compression::ALL {
        let bytes = build(&sample_records(), MemoryRecordsBuilder::new(0, codec));
        let batch = only_batch(bytes.clone());
        let owned = read_all(&batch);
        let records = batch.records().unwrap();
        let borrowed: Vec<_> = records.borrowed().map(Result::unwrap).collect();
        assert_eq!(borrowed.len(), owned.len());
        for (b, o) in borrowed.iter().zip(&owned) {
            assert_eq!(b.offset, o.offset);
            assert_eq!(b.timestamp, o.timestamp);
            assert_eq!(b.key, o.key.as_deref());
            assert_eq!(b.value, o.value.as_deref());
            assert_eq!(b.header_count(), o.headers.len());
            for ((k, v), h) in b.headers().zip(&o.headers) {
                assert_eq!(k, h.key.as_bytes());
                assert_eq!(v, h.value.as_deref());
            }
            // A borrowed slice becomes zero-copy Bytes on request.
            if let Some(v) = b.value.filter(|v| !v.is_empty()) {
                let kept = records.slice_ref(v).unwrap();
                assert_eq!(kept.as_ptr(), v.as_ptr());
                assert_eq!(&kept[..], v);
            }
        }
        // Slices from elsewhere are refused.
        assert_eq!(records.slice_ref(b"elsewhere"), None);
        // The owned iterator did not move.
        assert_eq!(records.count(), owned.len());
    }
}

#[test]
fn uncompressed_size_estimate_is_exact_and_has_room_for_respects_batch_size() {
    let mut b = MemoryRecordsBuilder::new(0, Compression::None);
    assert!(b.is_empty());
    let value = [7u8; 100];
    // The first record always fits, even in a tiny batch.
    assert!(b.has_room_for(Some(b"k"), Some(&value), &[], 10));
    while b.has_room_for(Some(b"k"), Some(&value), &[], 1024) {
        b.append(T0, Some(b"k"), Some(&value), &[]).unwrap();
    }
    let n = b.num_records();
    assert!(n > 5, "{n} records");
    let estimate = b.estimated_size_in_bytes();
    assert!(estimate <= 1024);
    let bytes = b.build().unwrap();
    assert_eq!(bytes.len(), estimate);
    assert_eq!(only_batch(bytes).record_count() as usize, n);
}

#[test]
fn empty_builder_builds_nothing() {
    let b = MemoryRecordsBuilder::new(0, Compression::Zstd);
    assert!(b.build().unwrap().is_empty());
    assert_eq!(RecordBatches::new(Bytes::new()).count(), 0);
}

#[test]
fn builder_refuses_bad_offsets_and_misplaced_control_records() {
    let mut b = MemoryRecordsBuilder::new(10, Compression::None);
    assert_eq!(b.append(T0, None, Some(b"a"), &[]).unwrap(), 10);
    assert_eq!(b.next_offset(), 11);
    assert!(b.append_with_offset(10, T0, None, None, &[]).is_err());
    assert!(b.append_with_offset(5, T0, None, None, &[]).is_err());
    assert!(b
        .append_with_offset(10 + i32::MAX as i64 + 1, T0, None, None, &[])
        .is_err());
    let e = b
        .append_control_record(T0, &ControlRecord::transaction_marker(true, 0))
        .unwrap_err();
    assert!(e.to_string().contains("control"), "{e}");
    // Gaps (as after compaction) are fine.
    b.append_with_offset(20, T0, None, None, &[]).unwrap();
    let batch = only_batch(b.build().unwrap());
    assert_eq!(batch.last_offset(), 20);
    let offsets: Vec<i64> = read_all(&batch).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![10, 20]);
}

#[test]
fn control_batches_carry_commit_and_abort_markers() {
    for (commit, ty) in [
        (true, ControlRecordType::Commit),
        (false, ControlRecordType::Abort),
    ] {
        let mut b = MemoryRecordsBuilder::new(3, Compression::None)
            .producer_state(5, 0, -1)
            .transactional(true)
            .control(true);
        b.append_control_record(T0, &ControlRecord::transaction_marker(commit, 17))
            .unwrap();
        let batch = only_batch(b.build().unwrap());
        assert!(batch.is_control());
        assert!(batch.is_transactional());
        let marker = batch.control_record().unwrap().unwrap();
        assert_eq!(marker.control_type, ty);
        assert_eq!(marker.coordinator_epoch, Some(17));
        assert_eq!(marker.version, 0);
        let rec = read_all(&batch).remove(0);
        assert_eq!(ControlRecord::from_record(&rec).unwrap(), marker);
        assert_eq!(rec.key.as_deref(), Some(&[0, 0, 0, commit as u8][..]));
    }
    // A data batch has no control record.
    let data = build(
        &sample_records()[..1],
        MemoryRecordsBuilder::new(0, Compression::None),
    );
    assert_eq!(only_batch(data).control_record().unwrap(), None);
}

#[test]
fn log_append_time_gives_every_record_the_max_timestamp() {
    let records = sample_records();
    let bytes = build(
        &records,
        MemoryRecordsBuilder::new(0, Compression::Gzip).log_append_time(T0 + 99_999),
    );
    let batch = only_batch(bytes);
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(batch.max_timestamp(), T0 + 99_999);
    assert!(read_all(&batch).iter().all(|r| r.timestamp == T0 + 99_999));
}

fn three_batches() -> (Bytes, Vec<usize>) {
    let mut all = BytesMut::new();
    let mut sizes = Vec::new();
    for (i, codec) in [Compression::None, Compression::Snappy, Compression::None]
        .into_iter()
        .enumerate()
    {
        let base = i as i64 * 10;
        let mut b = MemoryRecordsBuilder::new(base, codec);
        for j in 0..3 {
            b.append(
                T0 + j,
                Some(format!("k{base}-{j}").as_bytes()),
                Some(b"v"),
                &[],
            )
            .unwrap();
        }
        let bytes = b.build().unwrap();
        sizes.push(bytes.len());
        all.extend_from_slice(&bytes);
    }
    (all.freeze(), sizes)
}

#[test]
fn truncated_last_batch_is_partial_not_an_error() {
    let (all, sizes) = three_batches();
    let two = sizes[0] + sizes[1];
    // Every cut inside the third batch: two batches, then a silent stop.
    for cut in two + 1..all.len() {
        let mut it = RecordBatches::new(all.slice(..cut));
        let got: Vec<i64> = it.by_ref().map(|b| b.unwrap().base_offset()).collect();
        assert_eq!(got, vec![0, 10], "cut at {cut}");
        assert!(it.has_partial_batch(), "cut at {cut}");
        assert_eq!(it.remaining().len(), cut - two);
    }
    let mut it = RecordBatches::new(all.slice(..two));
    assert_eq!(it.by_ref().count(), 2);
    assert!(!it.has_partial_batch());
    // Only a partial batch: nothing, flagged (a fetch whose first batch is
    // larger than the fetch size).
    let mut it = RecordBatches::new(all.slice(..sizes[0] - 1));
    assert!(it.next().is_none());
    assert!(it.has_partial_batch());
}

#[test]
fn crc_mismatch_names_the_batch_offset() {
    let (all, sizes) = three_batches();
    let mut bad = BytesMut::from(&all[..]);
    // Corrupt a byte of the second batch's records.
    let at = sizes[0] + RECORD_BATCH_OVERHEAD + 2;
    bad[at] ^= 0x40;
    let bad = bad.freeze();
    let mut it = RecordBatches::new(bad.clone());
    assert_eq!(it.next().unwrap().unwrap().base_offset(), 0);
    let err = it.next().unwrap().unwrap_err();
    assert!(
        matches!(err.kind, DecodeErrorKind::CrcMismatch { .. }),
        "{err}"
    );
    assert_eq!(err.field, "RecordBatch@10.crc");
    assert!(it.next().is_none(), "iteration stops after an error");

    let errors: Vec<BatchError> = RecordBatches::new(bad.clone())
        .for_partition("orders", 3)
        .filter_map(Result::err)
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].offset, 10);
    let msg = errors[0].to_string();
    assert!(msg.contains("orders-3"), "{msg}");
    assert!(msg.contains("offset 10"), "{msg}");
    assert!(msg.contains("CRC32C mismatch"), "{msg}");

    // With CRC checks off the batch is handed out; its records still decode
    // or fail cleanly.
    let batches: Vec<_> = RecordBatches::new(bad)
        .check_crcs(false)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 3);
    assert!(!batches[1].is_valid());
    let _ = batches[1].records().map(|rs| rs.count());
}

#[test]
fn old_magic_is_a_named_error() {
    let (all, _) = three_batches();
    for magic in [0u8, 1, 3] {
        let mut bad = BytesMut::from(&all[..]);
        bad[16] = magic;
        let err = RecordBatches::new(bad.freeze())
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.field, "RecordBatch@0.magic");
        let msg = err.to_string();
        assert!(msg.contains(&format!("magic {magic}")), "{msg}");
    }
}

#[test]
fn declared_count_must_match_the_records() {
    let records = sample_records();
    let good = build(
        &records[..2],
        MemoryRecordsBuilder::new(0, Compression::None),
    );
    // Claim one record fewer: bytes are left over.
    let mut fewer = BytesMut::from(&good[..]);
    fewer[57..61].copy_from_slice(&1i32.to_be_bytes());
    let batch = RecordBatches::new(fewer.freeze())
        .check_crcs(false)
        .next()
        .unwrap()
        .unwrap();
    let results: Vec<_> = batch.records().unwrap().collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    let e = results[1].as_ref().unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::TrailingBytes(good.len() - 61 - record_len(&good))
    );
    // Claim one more: the input ends.
    let mut more = BytesMut::from(&good[..]);
    more[57..61].copy_from_slice(&3i32.to_be_bytes());
    let batch = RecordBatches::new(more.freeze())
        .check_crcs(false)
        .next()
        .unwrap()
        .unwrap();
    let e = batch.records().unwrap().find_map(Result::err).unwrap();
    assert!(e.field.starts_with("RecordBatch@0.records[2]"), "{e}");
}

/// Size of the first record of an uncompressed single batch.
fn record_len(batch: &[u8]) -> usize {
    let mut b = Bytes::copy_from_slice(&batch[61..]);
    let before = b.len();
    let len = prozess_protocol::primitives::read_varint(&mut b).unwrap() as usize;
    before - b.len() + len
}

#[test]
fn decompressed_size_is_bounded() {
    let zeros = vec![0u8; 2 << 20];
    for codec in Compression::ALL.into_iter().skip(1) {
        let mut b = MemoryRecordsBuilder::new(0, codec);
        b.append(T0, None, Some(&zeros), &[]).unwrap();
        let bytes = b.build().unwrap();
        assert!(bytes.len() < 200_000, "{codec}: {}", bytes.len());
        let batch = RecordBatches::new(bytes.clone())
            .max_decompressed_size(1 << 20)
            .next()
            .unwrap()
            .unwrap();
        let e = batch.records().unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::DecompressedTooLarge { max: 1 << 20 },
            "{e}"
        );
        assert!(e.to_string().contains("exceeds the limit"), "{e}");
        assert_eq!(e.field, "RecordBatch@0.records");
        // The default limit (64 MiB) lets it through.
        let batch = only_batch(bytes);
        assert_eq!(read_all(&batch)[0].value.as_ref().unwrap().len(), 2 << 20);
    }
}

#[test]
fn unknown_codec_is_an_error() {
    let good = build(
        &sample_records()[..1],
        MemoryRecordsBuilder::new(0, Compression::None),
    );
    let mut bad = BytesMut::from(&good[..]);
    bad[22] |= 0x07; // codec 7
    let crc = crc32c::crc32c(&bad[21..]);
    bad[17..21].copy_from_slice(&crc.to_be_bytes());
    let e = RecordBatches::new(bad.freeze())
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.field, "RecordBatch@0.attributes");
}

#[test]
fn sequences_wrap_like_the_java_client() {
    let mut b = MemoryRecordsBuilder::new(0, Compression::None).producer_state(1, 0, i32::MAX - 1);
    for _ in 0..4 {
        b.append(T0, None, None, &[]).unwrap();
    }
    let batch = only_batch(b.build().unwrap());
    assert_eq!(batch.last_sequence(), 1);
}
