//! `prozess consume`: prints records in kcat's `-f` format.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prozess::consumer::{
    ConsumerRebalanceListener, Error, OffsetAndMetadata, TopicPartition, WakeupHandle,
};

use crate::client::{Consumer, Ctx};
use crate::format::{parse_format, render, RecordView};
use crate::offset::{parse_offset, StartOffset};
use crate::{CliError, CliResult};

/// Arguments of `consume`.
#[derive(clap::Args, Debug)]
pub struct ConsumeArgs {
    /// The topic.
    #[arg(short = 't', long)]
    topic: String,
    /// Subscribe as a member of this group and commit what was printed.
    #[arg(short = 'g', long)]
    group: Option<String>,
    /// Only this partition (without -g).
    #[arg(short = 'p', long)]
    partition: Option<i32>,
    /// Start: beginning, end, stored, N, -N (N before the end) or @timestamp_ms.
    #[arg(short = 'o', long, value_parser = parse_offset, allow_hyphen_values = true)]
    offset: Option<StartOffset>,
    /// Exit at the end of the partitions.
    #[arg(short = 'e', long = "exit")]
    exit_at_end: bool,
    /// Exit after N records.
    #[arg(short = 'c', long)]
    count: Option<u64>,
    /// Output format (kcat tokens %t %p %o %k %s %h %T %K %S, escapes \n \t).
    #[arg(short = 'f', long, default_value = "%s\\n")]
    format: String,
    /// Only read committed transactional records.
    #[arg(long)]
    read_committed: bool,
}

/// The next offsets of what was printed, per partition.
type Printed = Arc<Mutex<HashMap<TopicPartition, i64>>>;

/// Commits what was printed of partitions that leave this member.
struct CommitPrinted(Printed);

impl CommitPrinted {
    fn commit(&self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> Result<(), Error> {
        let offsets = take(&self.0, Some(partitions));
        if offsets.is_empty() {
            return Ok(());
        }
        consumer.commit_sync_offsets(offsets)
    }
}

/// Removes and returns the printed offsets (of `only`, or all).
fn take(
    printed: &Printed,
    only: Option<&[TopicPartition]>,
) -> HashMap<TopicPartition, OffsetAndMetadata> {
    let mut map = printed.lock().unwrap_or_else(|p| p.into_inner());
    let keys: Vec<TopicPartition> = map
        .keys()
        .filter(|tp| only.is_none_or(|o| o.contains(tp)))
        .cloned()
        .collect();
    keys.into_iter()
        .filter_map(|tp| map.remove(&tp).map(|o| (tp, OffsetAndMetadata::new(o))))
        .collect()
}

impl ConsumerRebalanceListener<Bytes, Bytes> for CommitPrinted {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        self.commit(consumer, partitions)
    }

    fn on_partitions_assigned(
        &mut self,
        _consumer: &mut Consumer,
        _partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        Ok(())
    }

    fn on_partitions_lost(
        &mut self,
        _consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        // Another member owns them now: their printed offsets are not ours to commit.
        take(&self.0, Some(partitions));
        Ok(())
    }
}

/// Runs `consume`.
pub fn run(ctx: &Ctx, a: ConsumeArgs) -> CliResult {
    let tokens = parse_format(&a.format).map_err(|e| CliError::usage(format!("-f: {e}")))?;
    let mut extra: Vec<(&str, String)> = vec![("enable.auto.commit", "false".into())];
    if a.read_committed {
        extra.push(("isolation.level", "read_committed".into()));
    }
    let start = match (&a.group, a.offset) {
        (Some(_), None | Some(StartOffset::Stored)) => StartOffset::Stored,
        (Some(_), Some(StartOffset::Beginning)) => StartOffset::Beginning,
        (Some(_), Some(StartOffset::End)) => StartOffset::End,
        (Some(_), Some(_)) => return Err(CliError::usage(
            "with -g, -o is beginning, end or stored (where to start without a committed offset)",
        )),
        (None, Some(StartOffset::Stored)) => {
            return Err(CliError::usage("-o stored needs a group (-g)"))
        }
        (None, o) => o.unwrap_or(StartOffset::Beginning),
    };
    if a.group.is_some() && a.partition.is_some() {
        return Err(CliError::usage(
            "-p and -g cannot be combined: the group assigns partitions",
        ));
    }
    if let Some(g) = &a.group {
        extra.push(("group.id", g.clone()));
        let reset = if start == StartOffset::Beginning {
            "earliest"
        } else {
            "latest"
        };
        extra.push(("auto.offset.reset", reset.into()));
    }
    let mut consumer = ctx.consumer(&extra)?;
    let printed: Printed = Arc::new(Mutex::new(HashMap::new()));
    let fail = |what: &str, e: Error| CliError::runtime(format!("{what} (topic {})", a.topic), e);
    if a.group.is_some() {
        consumer
            .subscribe([&a.topic], CommitPrinted(printed.clone()))
            .map_err(|e| fail("subscribing", e))?;
    } else {
        let parts = match a.partition {
            Some(p) => vec![TopicPartition::new(a.topic.clone(), p)],
            None => {
                let meta = consumer
                    .partitions_for(&a.topic)
                    .map_err(|e| fail("looking up partitions", e))?;
                if meta.is_empty() {
                    return Err(CliError::runtime(
                        format!("topic {}", a.topic),
                        "does not exist",
                    ));
                }
                meta.iter()
                    .map(|p| TopicPartition::new(a.topic.clone(), p.partition))
                    .collect()
            }
        };
        consumer
            .assign(parts.clone())
            .map_err(|e| fail("assigning", e))?;
        seek(&mut consumer, &parts, start).map_err(|e| fail("seeking", e))?;
    }
    wake_on_signals(consumer.wakeup_handle());
    let result = poll_loop(&mut consumer, &a, &tokens, &printed);
    let committed = if a.group.is_some() {
        let offsets = take(&printed, None);
        if offsets.is_empty() {
            Ok(())
        } else {
            consumer
                .commit_sync_offsets(offsets)
                .map_err(|e| fail("committing the printed offsets", e))
        }
    } else {
        Ok(())
    };
    let closed = consumer
        .close(Duration::from_secs(10))
        .map_err(|e| fail("closing the consumer", e));
    result.and(committed).and(closed)
}

fn seek(
    consumer: &mut Consumer,
    parts: &[TopicPartition],
    start: StartOffset,
) -> Result<(), Error> {
    let timeout = Duration::from_secs(30);
    match start {
        StartOffset::Beginning | StartOffset::Stored => consumer.seek_to_beginning(parts),
        StartOffset::End => consumer.seek_to_end(parts),
        StartOffset::Absolute(n) => parts.iter().try_for_each(|tp| consumer.seek(tp, n)),
        StartOffset::FromEnd(n) => {
            let begin = consumer.beginning_offsets(parts, timeout)?;
            let end = consumer.end_offsets(parts, timeout)?;
            for tp in parts {
                let e = end.get(tp).copied().unwrap_or(0);
                let b = begin.get(tp).copied().unwrap_or(0);
                consumer.seek(tp, (e - n).max(b))?;
            }
            Ok(())
        }
        StartOffset::Timestamp(ts) => {
            let times = parts.iter().map(|tp| (tp.clone(), ts)).collect();
            let found = consumer.offsets_for_times(&times, timeout)?;
            let end = consumer.end_offsets(parts, timeout)?;
            for tp in parts {
                let o = match found.get(tp) {
                    Some(Some(o)) => o.offset,
                    _ => end.get(tp).copied().unwrap_or(0),
                };
                consumer.seek(tp, o)?;
            }
            Ok(())
        }
    }
}

fn poll_loop(
    consumer: &mut Consumer,
    a: &ConsumeArgs,
    tokens: &[crate::format::Token],
    printed: &Printed,
) -> CliResult {
    let fail = |what: &str, e: Error| CliError::runtime(format!("{what} (topic {})", a.topic), e);
    let mut count = 0u64;
    let mut buf = Vec::new();
    let mut progress = crate::progress::Progress::on_stderr("consumed");
    loop {
        if a.count.is_some_and(|c| count >= c) {
            progress.finish();
            return Ok(());
        }
        let records = match consumer.poll(Duration::from_millis(500)) {
            Ok(r) => r,
            // SIGINT/SIGTERM: stop; the caller commits what was printed.
            Err(Error::Wakeup) => {
                progress.finish();
                return Ok(());
            }
            Err(e) => return Err(fail("polling", e)),
        };
        let before = count;
        for r in &records {
            if a.count.is_some_and(|c| count >= c) {
                break;
            }
            let headers = r
                .headers
                .iter()
                .map(|h| (h.key.as_str(), h.value.as_deref()))
                .collect();
            render(
                tokens,
                &RecordView {
                    topic: r.topic(),
                    partition: r.partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                    headers,
                },
                &mut buf,
            );
            count += 1;
            if a.group.is_some() {
                let mut p = printed.lock().unwrap_or_else(|p| p.into_inner());
                p.insert(r.topic_partition(), r.offset + 1);
            }
        }
        crate::output::write_stdout(&buf)?;
        buf.clear();
        progress.add(count - before);
        if a.group.is_some() && !records.is_empty() {
            // Kept in `printed` until the commit succeeds, so a signal
            // during it leaves them for the final commit.
            let snapshot: HashMap<TopicPartition, OffsetAndMetadata> = printed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(tp, o)| (tp.clone(), OffsetAndMetadata::new(*o)))
                .collect();
            match consumer.commit_sync_offsets(snapshot.clone()) {
                Ok(()) => {
                    let mut p = printed.lock().unwrap_or_else(|p| p.into_inner());
                    for (tp, o) in snapshot {
                        if p.get(&tp) == Some(&o.offset) {
                            p.remove(&tp);
                        }
                    }
                }
                Err(Error::Wakeup) => {
                    progress.finish();
                    return Ok(());
                }
                // The group moved on under us; those records come again to
                // their new owner.
                Err(e @ (Error::CommitFailed(_) | Error::RebalanceInProgress)) => {
                    eprintln!("prozess: commit failed (group rebalanced): {e}")
                }
                Err(e) => return Err(fail("committing", e)),
            }
        }
        if a.exit_at_end && records.is_empty() {
            let assigned = consumer.assignment();
            if !assigned.is_empty()
                && assigned
                    .iter()
                    .all(|tp| consumer.current_lag(tp).is_some_and(|lag| lag <= 0))
            {
                progress.finish();
                return Ok(());
            }
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT/SIGTERM set a flag; a watcher thread turns it into `wakeup()`, so
/// the poll loop ends, what was printed is committed and the group is left.
fn wake_on_signals(wakeup: WakeupHandle) {
    let handler = on_signal as extern "C" fn(libc::c_int);
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
    std::thread::spawn(move || loop {
        if STOP.load(Ordering::SeqCst) {
            wakeup.wakeup();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    });
}
