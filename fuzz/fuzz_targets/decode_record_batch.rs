//! Record batch decoding: the input is a records blob (the `records` field of
//! a Fetch response partition). Every batch, every record and every control
//! record is decoded, with and without CRC checks; nothing may panic, and a
//! decompression bomb must stop at the size bound.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use prozess_protocol::records::RecordBatches;

fuzz_target!(|data: &[u8]| {
    let blob = Bytes::copy_from_slice(data);
    for check_crc in [true, false] {
        let batches = RecordBatches::new(blob.clone())
            .check_crcs(check_crc)
            .max_decompressed_size(1 << 20);
        for batch in batches {
            let Ok(batch) = batch else { break };
            let _ = batch.control_record();
            if let Ok(records) = batch.records() {
                for record in records {
                    if record.is_err() {
                        break;
                    }
                }
            }
        }
    }
});
