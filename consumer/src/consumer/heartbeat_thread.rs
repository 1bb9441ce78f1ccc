//! The heartbeat thread (KIP-62): keeps a group member alive while the
//! application processes records between polls.
//!
//! Between consumer calls the consumer *parks* its network client and group
//! membership in [`Background`] (behind a mutex); every consumer call that
//! needs them takes them back first (`unpark`), so the two threads never use
//! the client at the same time and the consumer's own code keeps plain
//! `&mut` access. While they are parked the thread, woken at the
//! membership's next background deadline (a condvar with a timeout), runs
//! only [`GroupMember::poll_background`] (heartbeats, coordinator
//! rediscovery, poll-interval expiry leading to LeaveGroup) and polls the
//! client without blocking (Java's `pollNoWakeup`). Events it receives that
//! belong to others (a pipelined fetch response, an OffsetCommit answer) are
//! queued and dispatched by the consumer when it unparks.
//!
//! The thread never blocks in the network while it holds the parked state:
//! it waits on the condvar (lock released) instead, so a consumer call that
//! wants the client back gets it at once rather than after a network poll
//! (a pipelined consumer always has a fetch in flight, so a blocking poll
//! here would delay nearly every `poll()`).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prozess_network::{ClientEvent, KafkaClient};

use crate::group::member::GroupMember;

/// How often the thread looks at the network while requests are in flight
/// (it reads what arrived without blocking, then sleeps unlocked).
const IN_FLIGHT_SLEEP: Duration = Duration::from_millis(10);
/// The longest the thread sleeps without looking (a parked member whose
/// deadlines are far away, or none parked).
const MAX_SLEEP: Duration = Duration::from_millis(200);

/// What is parked while the application runs between consumer calls.
pub(crate) struct Parked<C> {
    pub(crate) client: C,
    pub(crate) membership: Option<GroupMember>,
    /// Events the thread received that the consumer must dispatch.
    pub(crate) events: Vec<ClientEvent>,
}

pub(crate) struct State<C> {
    pub(crate) parked: Option<Parked<C>>,
    stop: bool,
}

/// The state shared with the heartbeat thread.
pub(crate) struct Background<C> {
    state: Mutex<State<C>>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<C> Background<C> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<C>> {
        // A panic on the other side leaves plain data behind: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Parks the client and membership and wakes the thread.
    pub(crate) fn park(&self, parked: Parked<C>) {
        self.lock().parked = Some(parked);
        self.wake.notify_all();
    }

    /// Takes them back (waiting for a pass of the thread to end).
    pub(crate) fn unpark(&self) -> Option<Parked<C>> {
        self.lock().parked.take()
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            if h.join().is_err() {
                tracing::warn!("the heartbeat thread panicked");
            }
        }
    }
}

/// A function that starts the heartbeat thread for a group.
pub(crate) type Starter<C> = fn(&str) -> Arc<Background<C>>;

/// Starts the heartbeat thread.
pub(crate) fn start<C: KafkaClient + Send + 'static>(group: &str) -> Arc<Background<C>> {
    let bg = Arc::new(Background {
        state: Mutex::new(State {
            parked: None,
            stop: false,
        }),
        wake: Condvar::new(),
        thread: Mutex::new(None),
    });
    let shared = bg.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("prozess-heartbeat-{group}"))
        .spawn(move || run(&shared));
    match spawned {
        Ok(h) => *bg.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "could not start the heartbeat thread: heartbeats are sent from poll only")
        }
    }
    bg
}

fn run<C: KafkaClient>(bg: &Background<C>) {
    let mut state = bg.lock();
    loop {
        if state.stop {
            return;
        }
        let mut sleep = MAX_SLEEP;
        if let Some(p) = state.parked.as_mut() {
            if let Some(m) = p.membership.as_mut() {
                let now = Instant::now();
                m.poll_background(&mut p.client, now);
                if p.client.has_in_flight() {
                    let events = p.client.poll(Duration::ZERO, now);
                    let now = Instant::now();
                    for event in events {
                        let mine = m.handle_event(&event, now);
                        // A disconnect may concern the consumer's requests too.
                        if !mine || matches!(event, ClientEvent::Disconnected { .. }) {
                            p.events.push(event);
                        }
                    }
                    // A heartbeat answered or failed may have another due.
                    m.poll_background(&mut p.client, Instant::now());
                }
                let now = Instant::now();
                if p.client.has_in_flight() {
                    sleep = IN_FLIGHT_SLEEP;
                }
                if let Some(t) = m.next_background_deadline(now) {
                    sleep = sleep.min(t.saturating_duration_since(now));
                }
            }
        }
        // Let a consumer call take the client between passes.
        drop(state);
        std::thread::yield_now();
        state = bg.lock();
        if state.stop {
            return;
        }
        state = bg
            .wake
            .wait_timeout(state, sleep.max(Duration::from_millis(1)))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::assignor::assignor_by_name;
    use crate::group::membership::{GroupMembership, MembershipConfig};
    use prozess_network::mock::MockClient;
    use prozess_network::{ClientRequest, Metadata, NetworkError, NodeId, WakeupHandle};
    use prozess_protocol::messages::ListOffsetsRequest;
    use prozess_protocol::{ApiKey, RequestBody};

    /// A MockClient that records the timeout of every `poll`.
    struct Recording {
        inner: MockClient,
        polls: Arc<Mutex<Vec<Duration>>>,
    }

    impl KafkaClient for Recording {
        fn ready(&mut self, node: NodeId, now: Instant) -> bool {
            self.inner.ready(node, now)
        }
        fn is_ready(&self, node: NodeId, now: Instant) -> bool {
            self.inner.is_ready(node, now)
        }
        fn connection_failed(&self, node: NodeId) -> bool {
            self.inner.connection_failed(node)
        }
        fn connection_delay(&self, node: NodeId, now: Instant) -> Duration {
            self.inner.connection_delay(node, now)
        }
        fn api_version(&self, node: NodeId, key: ApiKey) -> Option<i16> {
            self.inner.api_version(node, key)
        }
        fn send_request(
            &mut self,
            node: NodeId,
            request: ClientRequest,
            now: Instant,
        ) -> Result<i32, NetworkError> {
            self.inner.send_request(node, request, now)
        }
        fn in_flight_count(&self, node: NodeId) -> usize {
            self.inner.in_flight_count(node)
        }
        fn has_in_flight(&self) -> bool {
            self.inner.has_in_flight()
        }
        fn poll(&mut self, timeout: Duration, now: Instant) -> Vec<ClientEvent> {
            self.polls.lock().unwrap().push(timeout);
            self.inner.poll(timeout, now)
        }
        fn least_loaded_node(&mut self, now: Instant) -> Option<NodeId> {
            self.inner.least_loaded_node(now)
        }
        fn metadata(&self) -> &Metadata {
            self.inner.metadata()
        }
        fn metadata_mut(&mut self) -> &mut Metadata {
            self.inner.metadata_mut()
        }
        fn wakeup_handle(&self) -> WakeupHandle {
            self.inner.wakeup_handle()
        }
        fn close(&mut self, node: NodeId) {
            self.inner.close(node)
        }
    }

    #[test]
    fn the_thread_never_blocks_in_the_network_while_holding_the_client() {
        // A pipelined consumer parks its client with a fetch in flight: were
        // the thread to block in `poll` while holding the parked state, the
        // application's next `poll()` would wait for it.
        let now = Instant::now();
        let mut inner = MockClient::new_with_cluster(&[0], &[("t", 1)]);
        assert!(inner.ready(0, now));
        inner
            .send(
                0,
                RequestBody::ListOffsets(ListOffsetsRequest::default()),
                now,
            )
            .unwrap();
        let polls = Arc::new(Mutex::new(Vec::new()));
        let client = Recording {
            inner,
            polls: polls.clone(),
        };
        let membership = GroupMembership::new(
            MembershipConfig::new("g"),
            vec![assignor_by_name("range").unwrap()],
            now,
        )
        .unwrap();
        let bg = start::<Recording>("g");
        bg.park(Parked {
            client,
            membership: Some(GroupMember::Classic(membership)),
            events: Vec::new(),
        });
        // Wait (without a time limit in the verdict) for the thread's passes.
        for _ in 0..500 {
            if polls.lock().unwrap().len() >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let parked = bg.unpark().expect("the client comes back");
        bg.stop();
        let polls = polls.lock().unwrap().clone();
        assert!(polls.len() >= 2, "the thread polled the client: {polls:?}");
        assert!(
            polls.iter().all(|t| t.is_zero()),
            "only non-blocking polls while holding the client: {polls:?}"
        );
        assert!(
            parked.client.has_in_flight(),
            "the request is still waiting"
        );
    }
}
