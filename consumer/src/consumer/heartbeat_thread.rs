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
//! client without blocking (Java's `pollNoWakeup`) whenever the membership
//! waits on the network: requests in flight, or a connection it needs (to
//! the coordinator, or for the coordinator lookup) being set up, as only the
//! client's `poll` completes a connect. Events it receives that
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
/// or a connection the membership needs is being set up (it reads what
/// arrived without blocking, then sleeps unlocked). This also bounds how late
/// the client notices a connection setup timeout.
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
        let sleep = match state.parked.as_mut() {
            Some(p) => pass(p, Instant::now),
            None => MAX_SLEEP,
        };
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

/// One pass of the thread over the parked state: the membership's
/// background work and the non-blocking network poll it needs. Returns how
/// long the thread may sleep before the next pass. `clock` is read after
/// every step (the real thread passes `Instant::now`, tests a `MockTime`).
fn pass<C: KafkaClient>(p: &mut Parked<C>, clock: impl Fn() -> Instant) -> Duration {
    let Some(m) = p.membership.as_mut() else {
        return MAX_SLEEP;
    };
    let mut sleep = MAX_SLEEP;
    let now = clock();
    m.poll_background(&mut p.client, now);
    // Anything to do on the network: answers to wait for, or a connection
    // the membership asked for (only `poll` completes it).
    if p.client.has_in_flight() || m.awaiting_connection(&p.client, now) {
        let events = p.client.poll(Duration::ZERO, now);
        let now = clock();
        for event in events {
            let mine = m.handle_event(&event, now);
            // A disconnect may concern the consumer's requests too.
            if !mine || matches!(event, ClientEvent::Disconnected { .. }) {
                p.events.push(event);
            }
        }
        // A heartbeat answered or failed may have another due.
        m.poll_background(&mut p.client, clock());
    }
    let now = clock();
    if p.client.has_in_flight() || m.awaiting_connection(&p.client, now) {
        sleep = IN_FLIGHT_SLEEP;
    }
    if let Some(t) = m.next_background_deadline(now) {
        sleep = sleep.min(t.saturating_duration_since(now));
    }
    sleep
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
    // ----- the thread's passes, driven on MockClient/MockTime -----

    use crate::group::consumer_protocol::Assignment;
    use crate::group::membership::{GroupMembership as Classic, MemberState};
    use prozess_network::mock::MockTime;
    use prozess_network::{coordinator_connection_id, TopicPartition};
    use prozess_protocol::messages::find_coordinator::response::Coordinator;
    use prozess_protocol::messages::{
        FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse, SyncGroupResponse,
    };
    use prozess_protocol::{ErrorCode, ResponseBody};

    const SESSION: Duration = Duration::from_millis(10_000);
    const INTERVAL: Duration = Duration::from_millis(3_000);

    fn found(broker: NodeId) -> ResponseBody {
        ResponseBody::FindCoordinator(FindCoordinatorResponse {
            coordinators: vec![Coordinator {
                key: "g".into(),
                node_id: broker,
                host: "localhost".into(),
                port: 9092,
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    fn heartbeat(code: ErrorCode) -> ResponseBody {
        ResponseBody::Heartbeat(HeartbeatResponse {
            error_code: code.code(),
            ..Default::default()
        })
    }

    /// A classic member of generation 1, stable with coordinator broker 0,
    /// joined through foreground polls (as `KafkaConsumer::poll` does).
    fn stable_member(time: &MockTime) -> Parked<MockClient> {
        let mut client = MockClient::new_with_cluster_at(&[0, 1], &[("t", 2)], time.now())
            .with_time(time.clone());
        client.prepare_response_for(found(0));
        client.prepare_response_for(ResponseBody::JoinGroup(JoinGroupResponse {
            generation_id: 1,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: "leader".into(),
            member_id: "m-1".into(),
            ..Default::default()
        }));
        let assignment = Assignment {
            partitions: vec![TopicPartition::new("t", 0)].into(),
            user_data: None,
        };
        client.prepare_response_for(ResponseBody::SyncGroup(SyncGroupResponse {
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignment: assignment.encode(3),
            ..Default::default()
        }));
        let config = MembershipConfig {
            session_timeout: SESSION,
            heartbeat_interval: INTERVAL,
            ..MembershipConfig::new("g")
        };
        let mut m =
            Classic::new(config, vec![assignor_by_name("range").unwrap()], time.now()).unwrap();
        let topics = vec!["t".to_string()];
        for _ in 0..10 {
            m.record_poll(time.now());
            m.poll(&mut client, time.now(), &topics);
            for e in client.poll(Duration::ZERO, time.now()) {
                m.handle_event(&e, time.now());
            }
        }
        assert_eq!(m.state(), MemberState::Stable, "the member joined");
        assert_eq!(m.coordinator(), Some(coordinator_connection_id(0)));
        Parked {
            client,
            membership: Some(GroupMember::Classic(m)),
            events: Vec::new(),
        }
    }

    /// What the group coordinator saw of the member.
    #[derive(Default)]
    struct Broker {
        /// When each heartbeat reached a coordinator, and which.
        heartbeats: Vec<(Instant, NodeId)>,
        last_seen: Option<Instant>,
        /// The session ran out between two heartbeats: the member is gone.
        evicted: bool,
        /// The coordinator moved to broker 1.
        moved: bool,
    }

    impl Broker {
        /// Answers what is in flight as the cluster would.
        fn answer(&mut self, client: &mut MockClient, now: Instant) {
            let pending: Vec<(NodeId, i32, ApiKey)> = client
                .in_flight_requests()
                .into_iter()
                .map(|(n, c, b)| (n, c, b.api_key()))
                .collect();
            for (node, corr, key) in pending {
                match key {
                    ApiKey::FindCoordinator => {
                        client.respond_to_request(corr, found(if self.moved { 1 } else { 0 }))
                    }
                    ApiKey::Heartbeat => {
                        let current = coordinator_connection_id(if self.moved { 1 } else { 0 });
                        if node != current {
                            client.respond_to_request(corr, heartbeat(ErrorCode::NotCoordinator));
                            continue;
                        }
                        if self.last_seen.is_some_and(|t| now > t + SESSION) {
                            self.evicted = true;
                        }
                        self.last_seen = Some(now);
                        self.heartbeats.push((now, node));
                        let code = if self.evicted {
                            ErrorCode::UnknownMemberId
                        } else {
                            ErrorCode::None
                        };
                        client.respond_to_request(corr, heartbeat(code));
                    }
                    _ => {}
                }
            }
        }
    }

    /// Runs the thread's passes over `total` of mock time while the
    /// application processes (no consumer call), sleeping what each pass
    /// asks; `at_5s` changes the cluster five seconds in.
    fn process_for(
        p: &mut Parked<MockClient>,
        time: &MockTime,
        broker: &mut Broker,
        total: Duration,
        at_5s: impl FnOnce(&mut MockClient, &mut Broker),
    ) {
        let start = time.now();
        broker.last_seen = Some(start);
        let mut at_5s = Some(at_5s);
        while time.now() < start + total {
            if time.now() >= start + Duration::from_secs(5) {
                if let Some(f) = at_5s.take() {
                    f(&mut p.client, broker);
                }
            }
            let sleep = pass(p, || time.now());
            broker.answer(&mut p.client, time.now());
            time.advance(sleep.max(Duration::from_millis(1)));
        }
        if broker.last_seen.is_some_and(|t| time.now() > t + SESSION) {
            broker.evicted = true;
        }
    }

    fn assert_alive(p: &Parked<MockClient>, broker: &Broker, coordinator: NodeId) {
        assert!(
            !broker.evicted,
            "the session ran out between heartbeats: {:?}",
            broker.heartbeats
        );
        let on_new = broker
            .heartbeats
            .iter()
            .filter(|(_, n)| *n == coordinator_connection_id(coordinator))
            .count();
        assert!(
            on_new >= 10,
            "heartbeats kept going to coordinator {coordinator}: {on_new}"
        );
        let Some(GroupMember::Classic(m)) = &p.membership else {
            unreachable!()
        };
        assert_eq!(m.state(), MemberState::Stable);
        assert_eq!(m.generation().generation_id, 1, "still generation 1");
    }

    #[test]
    fn heartbeats_continue_when_the_coordinator_moves_during_a_long_pause() {
        let time = MockTime::new();
        let mut p = stable_member(&time);
        // New connections take several polls, as TCP connect, ApiVersions
        // and SASL do in NetworkClient.
        p.client.set_connection_setup_polls(3);
        let mut broker = Broker::default();
        process_for(
            &mut p,
            &time,
            &mut broker,
            Duration::from_secs(60),
            |_, b| b.moved = true,
        );
        assert_alive(&p, &broker, 1);
    }

    #[test]
    fn heartbeats_continue_when_the_coordinator_connection_drops_during_a_long_pause() {
        let time = MockTime::new();
        let mut p = stable_member(&time);
        p.client.set_connection_setup_polls(3);
        let mut broker = Broker::default();
        process_for(
            &mut p,
            &time,
            &mut broker,
            Duration::from_secs(60),
            |c, _| c.disconnect(coordinator_connection_id(0)),
        );
        assert_alive(&p, &broker, 0);
    }

    #[test]
    fn a_connection_under_way_is_polled_often_not_spun_on() {
        // While the coordinator's connection is set up the thread polls
        // it every few milliseconds, and sleeps longer once it is ready.
        let time = MockTime::new();
        let mut p = stable_member(&time);
        p.client.set_connection_setup_polls(1_000);
        p.client.disconnect(coordinator_connection_id(0));
        time.advance(INTERVAL);
        let mut broker = Broker::default();
        let mut sleeps = Vec::new();
        for _ in 0..100 {
            let sleep = pass(&mut p, || time.now());
            broker.answer(&mut p.client, time.now());
            sleeps.push(sleep);
            time.advance(sleep.max(Duration::from_millis(1)));
        }
        let coordinator = coordinator_connection_id(0);
        assert_eq!(
            p.membership.as_ref().unwrap().coordinator(),
            Some(coordinator)
        );
        assert!(p.client.is_connecting(coordinator), "still being set up");
        assert!(
            sleeps[50..]
                .iter()
                .all(|s| *s >= Duration::from_millis(5) && *s <= IN_FLIGHT_SLEEP),
            "the connect is driven at the in-flight pace: {sleeps:?}"
        );
    }
}
