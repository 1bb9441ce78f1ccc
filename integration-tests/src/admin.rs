//! Topic administration for tests, through prozess's own
//! [`AdminClient`](prozess::AdminClient), against whichever cluster is under
//! test (Tansu or Apache Kafka).
//!
//! Only ApiVersions ([`crate::wire`]: the broker readiness probe, and
//! [`crate::broker_api_versions`] that tests use to skip) stays raw: it
//! decides whether the broker is up before the client under test is trusted.

use std::time::Duration;

use prozess::admin::{AdminClient, AdminError, NewTopic};

use crate::{HarnessError, Result};

/// How long topic creation and its propagation may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

fn admin_error(what: String) -> impl FnOnce(AdminError) -> HarnessError {
    move |e| HarnessError::new(format!("{what}: {e}"))
}

fn admin_for(bootstrap: &str) -> Result<AdminClient> {
    AdminClient::from_bootstrap(bootstrap)
        .map_err(admin_error(format!("admin client for {bootstrap}")))
}

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
/// [`crate::ProxiedBroker`]) with the broker's default replication factor,
/// and waits until it is usable, like [`create_topic`], but returns errors
/// instead of panicking.
pub fn create_topic_on(bootstrap: &str, name: &str, partitions: i32) -> Result<()> {
    if partitions < 1 {
        return Err(HarnessError::new(format!(
            "a topic needs at least one partition, got {partitions}"
        )));
    }
    let mut admin = admin_for(bootstrap)?;
    let what = format!("CreateTopics {name}");
    let result = admin
        .create_topics(&[NewTopic::new(name, partitions)], CREATE_TIMEOUT)
        .map_err(admin_error(what.clone()))?
        .pop()
        .ok_or_else(|| HarnessError::new(format!("{what}: no result")))?;
    // create_topics waited for a leader of every partition on every broker.
    result.result.map_err(admin_error(what))
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
    admin_for(bootstrap)?
        .wait_for_topics(&[(name, partitions)], timeout)
        .map_err(admin_error(format!("topic {name} not ready")))
}
