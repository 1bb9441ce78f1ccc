//! Topic administration for tests.
//!
//! The implementation sends raw CreateTopics/Metadata requests (see
//! [`crate::wire`]) to whichever cluster is under test, Tansu or Apache
//! Kafka, so one code path serves both. The public functions are what tests
//! call; once prozess's AdminClient exists they can switch to it without
//! changing any test.

use std::thread;
use std::time::{Duration, Instant};

use crate::wire::{connect_any, Connection};
use crate::{HarnessError, Result};

/// Kafka's TOPIC_ALREADY_EXISTS error code.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// How long topic creation and its propagation may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates `name` with `partitions` partitions on the cluster under test
/// ([`crate::bootstrap`]) and waits until every broker knows a leader for each
/// partition. Panics with the broker's reason on failure (an existing topic is
/// a failure: tests use [`crate::unique_topic`]).
pub fn create_topic(name: &str, partitions: i32) {
    let bootstrap = crate::bootstrap();
    if let Err(e) = create_topic_on(&bootstrap, name, partitions) {
        panic!("creating topic {name} with {partitions} partitions on {bootstrap}: {e}");
    }
}

/// Creates `name` on the cluster reached through `bootstrap` (for example a
/// [`crate::ProxiedBroker`]) and waits until it is usable, like
/// [`create_topic`], but returns errors instead of panicking.
pub fn create_topic_on(bootstrap: &str, name: &str, partitions: i32) -> Result<()> {
    if partitions < 1 {
        return Err(HarnessError::new(format!(
            "a topic needs at least one partition, got {partitions}"
        )));
    }
    let mut conn = connect_any(bootstrap, IO_TIMEOUT)?;
    let (code, message) = conn.create_topic(name, partitions, -1, CREATE_TIMEOUT)?;
    if code != 0 {
        let what = if code == TOPIC_ALREADY_EXISTS {
            "TOPIC_ALREADY_EXISTS".to_string()
        } else {
            format!("error code {code}")
        };
        return Err(HarnessError::new(format!(
            "CreateTopics failed with {what}: {}",
            message.unwrap_or_default()
        )));
    }
    wait_for_topic(bootstrap, name, partitions, CREATE_TIMEOUT)
}

/// Waits until every broker of the cluster lists `name` with `partitions`
/// partitions, each with a leader and no error. On a multi-node cluster
/// metadata reaches brokers at different times, so asking only one is not
/// enough before a client is pointed at the topic.
pub fn wait_for_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        match topic_ready_everywhere(bootstrap, name, partitions) {
            Ok(true) => return Ok(()),
            Ok(false) => last = "not every broker lists all partitions with a leader".into(),
            Err(e) => last = e.0,
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::new(format!(
                "topic {name} not ready within {timeout:?}: {last}"
            )));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn topic_ready_everywhere(bootstrap: &str, name: &str, partitions: i32) -> Result<bool> {
    let mut conn = connect_any(bootstrap, IO_TIMEOUT)?;
    let md = conn.metadata(Some(&[name]))?;
    if !topic_ready(&md, name, partitions) {
        return Ok(false);
    }
    for b in &md.brokers {
        let addr = format!("{}:{}", b.host, b.port);
        let mut c = Connection::connect(&addr, IO_TIMEOUT)?;
        let md = c.metadata(Some(&[name]))?;
        if !topic_ready(&md, name, partitions) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn topic_ready(md: &crate::wire::ClusterMetadata, name: &str, partitions: i32) -> bool {
    match md.topic(name) {
        Some(t) => {
            t.error_code == 0
                && t.partitions.len() == partitions as usize
                && t.partitions
                    .iter()
                    .all(|p| p.error_code == 0 && p.leader >= 0)
        }
        None => false,
    }
}
