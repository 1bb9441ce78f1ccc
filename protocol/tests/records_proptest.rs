//! Property tests: decoding record batches is total (random, mutated and
//! truncated input never panics), and whatever the builder writes reads back.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use prozess_protocol::records::{
    Compression, MemoryRecordsBuilder, Record, RecordBatches, RecordHeader,
};

/// Walks everything a consumer would: every batch, every record, the
/// control record. Returns how many records decoded (so the work is used).
fn walk(bytes: Bytes, check_crc: bool) -> usize {
    let mut n = 0;
    let mut it = RecordBatches::new(bytes)
        .check_crcs(check_crc)
        .max_decompressed_size(1 << 20);
    for batch in it.by_ref() {
        let Ok(batch) = batch else { break };
        let _ = batch.control_record();
        let _ = (batch.last_sequence(), batch.next_offset(), batch.is_valid());
        if let Ok(records) = batch.records() {
            for r in records.borrowed() {
                match r {
                    Ok(r) => n += r.headers().count(),
                    Err(e) => {
                        assert!(e.field.starts_with("RecordBatch@"), "{e}");
                        break;
                    }
                }
            }
            for r in records {
                match r {
                    Ok(_) => n += 1,
                    Err(e) => {
                        assert!(e.field.starts_with("RecordBatch@"), "{e}");
                        break;
                    }
                }
            }
        }
    }
    let _ = it.has_partial_batch();
    n
}

fn codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.to_vec())
}

fn opt_bytes(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(0.85, prop::collection::vec(any::<u8>(), 0..max))
}

fn header() -> impl Strategy<Value = RecordHeader> {
    ("[a-zA-Z0-9é_.-]{0,12}", opt_bytes(16)).prop_map(|(key, value)| RecordHeader {
        key,
        value: value.map(Bytes::from),
    })
}

/// Records with increasing offsets (gaps allowed) and any timestamps.
fn records() -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec(
        (
            1i64..4,
            -100_000i64..100_000,
            opt_bytes(40),
            opt_bytes(300),
            prop::collection::vec(header(), 0..3),
        ),
        1..25,
    )
    .prop_map(|rows| {
        let mut offset = -1;
        rows.into_iter()
            .map(|(gap, ts, key, value, headers)| {
                offset += gap;
                Record {
                    offset,
                    timestamp: 1_700_000_000_000 + ts,
                    key: key.map(Bytes::from),
                    value: value.map(Bytes::from),
                    headers,
                }
            })
            .collect()
    })
}

fn encode(records: &[Record], base: i64, codec: Compression) -> Bytes {
    let mut b = MemoryRecordsBuilder::new(base, codec).producer_state(7, 1, 0);
    for r in records {
        b.append_with_offset(
            base + r.offset,
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        )
        .unwrap();
    }
    b.build().unwrap()
}

/// A few valid batches to mutate.
fn valid_blob() -> impl Strategy<Value = Bytes> {
    prop::collection::vec((records(), codec()), 1..4).prop_map(|batches| {
        let mut out = BytesMut::new();
        let mut base = 0;
        for (records, codec) in batches {
            out.extend_from_slice(&encode(&records, base, codec));
            base += 1000;
        }
        out.freeze()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(records in records(), codec in codec(), base in 0i64..1 << 40) {
        let bytes = encode(&records, base, codec);
        let mut it = RecordBatches::new(bytes);
        let batch = it.next().unwrap().unwrap();
        prop_assert!(it.next().is_none());
        prop_assert_eq!(batch.record_count() as usize, records.len());
        prop_assert_eq!(batch.last_offset(), base + records.last().unwrap().offset);
        let back: Vec<Record> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
        let want: Vec<Record> = records
            .iter()
            .cloned()
            .map(|mut r| { r.offset += base; r })
            .collect();
        prop_assert_eq!(back, want);
    }

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        walk(Bytes::from(data.clone()), true);
        walk(Bytes::from(data), false);
    }

    #[test]
    fn mutated_batches_never_panic(
        blob in valid_blob(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bad = BytesMut::from(&blob[..]);
        for (at, byte) in &flips {
            let i = at.index(bad.len());
            bad[i] = *byte;
        }
        let bad = bad.freeze();
        // CRC off so mutations reach the record and codec parsers.
        walk(bad.clone(), false);
        walk(bad, true);
    }

    #[test]
    fn truncated_input_never_panics_and_stops_cleanly(blob in valid_blob(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(blob.len() + 1);
        let mut it = RecordBatches::new(blob.slice(..cut));
        let complete = it.by_ref().inspect(|b| assert!(b.is_ok())).count();
        // A cut never makes an error: only the batches before it, and a
        // partial flag unless the cut falls on a batch boundary.
        let mut ends = vec![0];
        for b in RecordBatches::new(blob.clone()) {
            ends.push(ends.last().unwrap() + b.unwrap().size_in_bytes());
        }
        let before = ends.iter().filter(|&&e| e > 0 && e <= cut).count();
        prop_assert_eq!(complete, before);
        prop_assert_eq!(it.has_partial_batch(), !ends.contains(&cut));
    }

    /// Garbage inside a correctly framed, CRC-valid batch: the records
    /// section is random, so only the record parser stands between it and a
    /// panic.
    #[test]
    fn random_records_section_never_panics(
        section in prop::collection::vec(any::<u8>(), 0..400),
        count in -2i32..40,
        codec_id in 0i16..5,
    ) {
        let mut b = BytesMut::new();
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&((49 + section.len()) as i32).to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&[2]);
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&codec_id.to_be_bytes());
        b.extend_from_slice(&count.max(0).to_be_bytes()); // last offset delta
        b.extend_from_slice(&[0; 8 + 8 + 8 + 2 + 4]);
        b.extend_from_slice(&count.to_be_bytes());
        b.extend_from_slice(&section);
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        walk(b.freeze(), true);
    }
}
