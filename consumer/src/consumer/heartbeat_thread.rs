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
