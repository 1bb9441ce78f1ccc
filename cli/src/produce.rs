//! `prozess produce`: one record per input line.

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prozess::producer::ProducerRecord;

use crate::client::Ctx;
use crate::{CliError, CliResult};

/// Arguments of `produce`.
#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    /// The topic.
    #[arg(short = 't', long)]
    topic: String,
    /// Split each line at the first KEY_SEP into key and value (no key otherwise).
    #[arg(short = 'k', long = "key-delimiter", value_name = "KEY_SEP")]
    key_sep: Option<String>,
    /// The partition (the partitioner chooses otherwise).
    #[arg(short = 'p', long)]
    partition: Option<i32>,
    /// Compression: none, gzip, snappy, lz4, zstd.
    #[arg(short = 'z', long = "compression", value_name = "CODEC")]
    codec: Option<String>,
    /// acks: 0, 1 or all.
    #[arg(long)]
    acks: Option<String>,
    /// Input files (stdin when none).
    files: Vec<std::path::PathBuf>,
}

/// Runs `produce`; fails (exit 1) if any record was not delivered.
pub fn run(ctx: &Ctx, a: ProduceArgs) -> CliResult {
    let mut extra = Vec::new();
    if let Some(c) = &a.codec {
        extra.push(("compression.type", c.clone()));
    }
    if let Some(acks) = &a.acks {
        extra.push(("acks", acks.clone()));
    }
    if a.key_sep.as_deref() == Some("") {
        return Err(CliError::usage("-k: the key separator must not be empty"));
    }
    let producer = ctx.producer(&extra)?;
    let failed = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut sent = 0u64;
    let mut progress = crate::progress::Progress::on_stderr("produced");
    let mut send_line = |line: &str| {
        let (key, value) = match a.key_sep.as_deref().and_then(|s| line.split_once(s)) {
            Some((k, v)) => (Some(Bytes::copy_from_slice(k.as_bytes())), v),
            None => (None, line),
        };
        let mut record =
            ProducerRecord::new(a.topic.clone(), Bytes::copy_from_slice(value.as_bytes()));
        record.key = key;
        record.partition = a.partition;
        let (failed, first) = (failed.clone(), first_error.clone());
        producer.send_with_callback(record, move |r| {
            if let Err(e) = r {
                failed.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut f) = first.lock() {
                    f.get_or_insert_with(|| e.to_string());
                }
            }
        });
        sent += 1;
        progress.add(1);
    };
    let mut read = |reader: &mut dyn BufRead, name: &str| -> CliResult {
        for line in reader.lines() {
            let line = line.map_err(|e| CliError::runtime(format!("reading {name}"), e))?;
            send_line(line.strip_suffix('\r').unwrap_or(&line));
        }
        Ok(())
    };
    if a.files.is_empty() {
        read(&mut std::io::stdin().lock(), "stdin")?;
    } else {
        for f in &a.files {
            let file = std::fs::File::open(f)
                .map_err(|e| CliError::runtime(format!("opening {}", f.display()), e))?;
            read(&mut std::io::BufReader::new(file), &f.display().to_string())?;
        }
    }
    producer.flush();
    progress.finish();
    producer.close(Duration::from_secs(30));
    let failed = failed.load(Ordering::SeqCst);
    if failed > 0 {
        let first = first_error
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        return Err(CliError::runtime(
            format!("producing to {}", a.topic),
            format!("{failed} of {sent} records failed; first error: {first}"),
        ));
    }
    Ok(())
}
