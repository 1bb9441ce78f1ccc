//! Record batch decoding past the CRC: the input is a records blob whose
//! batch CRCs are recomputed before decoding (with CRC checks on), so that
//! mutations reach the header checks, decompression and the record, header
//! and control-record parsers instead of stopping at a CRC mismatch. Every
//! record is read both owned and borrowed; nothing may panic and a
//! decompression bomb must stop at the size bound.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use prozess_protocol::records::RecordBatches;

/// Rewrites the CRC of every complete batch in `data` (magic 2 layout:
/// length at 8..12, CRC at 17..21 over 21..end).
fn fix_crcs(data: &mut [u8]) {
    let mut at = 0usize;
    while data.len() - at >= 21 {
        let len = i32::from_be_bytes([data[at + 8], data[at + 9], data[at + 10], data[at + 11]]);
        let Ok(len) = usize::try_from(len) else {
            return;
        };
        let Some(end) = (at + 12).checked_add(len).filter(|e| *e <= data.len()) else {
            return;
        };
        if end < at + 21 {
            return;
        }
        let crc = crc32c::crc32c(&data[at + 21..end]);
        data[at + 17..at + 21].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut data = data.to_vec();
    fix_crcs(&mut data);
    let batches = RecordBatches::new(Bytes::from(data))
        .check_crcs(true)
        .max_decompressed_size(1 << 20);
    for batch in batches {
        let Ok(batch) = batch else { break };
        let _ = batch.control_record();
        let Ok(mut records) = batch.records() else {
            continue;
        };
        for record in records.borrowed() {
            let Ok(record) = record else { break };
            let _ = record.headers().count();
        }
        for record in records.by_ref() {
            if record.is_err() {
                break;
            }
        }
    }
});
