//! NetworkClient against fake brokers: the dedicated group-coordinator
//! connection, and client-side quota throttling (KIP-219).

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use prozess_network::{
    coordinator_connection_id, ClientEvent, KafkaClient, NetworkClient, NetworkError,
};
use prozess_protocol::messages::{
    JoinGroupRequest, JoinGroupResponse, ListGroupsRequest, ListGroupsResponse,
};
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};
use support::{bootstrap, config, connect, poll_until, Action, FakeCluster, PATIENCE};

fn list_groups() -> RequestBody {
    RequestBody::ListGroups(ListGroupsRequest::default())
}

fn join_group() -> RequestBody {
    RequestBody::JoinGroup(JoinGroupRequest {
        group_id: "g".to_string(),
        protocol_type: "consumer".to_string(),
        ..Default::default()
    })
}

fn response_to(events: &[ClientEvent], correlation_id: i32) -> Option<&ClientEvent> {
    events
        .iter()
        .find(|e| matches!(e, ClientEvent::Response(r) if r.correlation_id == correlation_id))
}

#[test]
fn coordinator_connection_does_not_queue_behind_the_brokers_other_requests() {
    // The broker holds JoinGroup until the test releases it, as a real
    // coordinator holds it until the rebalance completes.
    let release = Arc::new(AtomicBool::new(false));
    let held = release.clone();
    let handler: support::Handler = Arc::new(move |s| {
        if s.api_key() != ApiKey::JoinGroup {
            return None;
        }
        let start = Instant::now();
        while !held.load(Ordering::SeqCst) && start.elapsed() < PATIENCE {
            thread::sleep(Duration::from_millis(5));
        }
        Some(vec![Action::Respond(ResponseBody::JoinGroup(
            JoinGroupResponse::default(),
        ))])
    });
    let cluster = FakeCluster::with_handler(2, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 2);

    let addr = cluster.addr(2);
    let coordinator = client.coordinator_node(2, &addr.ip().to_string(), addr.port());
    assert_eq!(coordinator, i32::MAX - 2);
    assert_eq!(coordinator, coordinator_connection_id(2));
    assert!(
        !client.is_ready(coordinator, Instant::now()),
        "a new connection"
    );
    connect(&mut client, coordinator);

    let join = client
        .send(coordinator, join_group(), Instant::now())
        .unwrap();
    let list = client.send(2, list_groups(), Instant::now()).unwrap();
    let mut events = Vec::new();
    // On one connection the ListGroups answer would wait behind JoinGroup's.
    poll_until(&mut client, &mut events, |_, ev| {
        response_to(ev, list).is_some()
    });
    assert!(response_to(&events, join).is_none());
    assert_eq!(client.in_flight_count(coordinator), 1);
    assert_eq!(client.in_flight_count(2), 0);

    // Never picked for metadata or as least loaded, even while idle.
    for _ in 0..20 {
        assert_ne!(client.least_loaded_node(Instant::now()), Some(coordinator));
    }
    let version = client.metadata().update_version();
    client.metadata_mut().request_update();
    poll_until(&mut client, &mut events, |c, _| {
        c.metadata().update_version() > version
    });

    release.store(true, Ordering::SeqCst);
    poll_until(&mut client, &mut events, |_, ev| {
        response_to(ev, join).is_some()
    });
    match response_to(&events, join) {
        Some(ClientEvent::Response(r)) => {
            assert_eq!(r.node, coordinator);
            assert_eq!(r.api_key, ApiKey::JoinGroup);
        }
        other => panic!("expected the JoinGroup response, got {other:?}"),
    }

    let seen = cluster.seen();
    let join_conn = seen
        .iter()
        .find(|s| s.api_key() == ApiKey::JoinGroup)
        .map(|s| (s.broker, s.conn))
        .unwrap();
    let list_conn = seen
        .iter()
        .find(|s| s.api_key() == ApiKey::ListGroups)
        .map(|s| (s.broker, s.conn))
        .unwrap();
    assert_eq!(join_conn.0, 2);
    assert_eq!(list_conn.0, 2);
    assert_ne!(join_conn.1, list_conn.1, "two connections to broker 2");
    // The coordinator connection did its own handshake, and carried nothing
    // but the coordinator's requests.
    let on_coordinator: Vec<ApiKey> = seen
        .iter()
        .filter(|s| (s.broker, s.conn) == join_conn)
        .map(|s| s.api_key())
        .collect();
    assert_eq!(on_coordinator, vec![ApiKey::ApiVersions, ApiKey::JoinGroup]);
}

#[test]
fn coordinator_connection_goes_to_the_address_findcoordinator_gave() {
    let cluster = FakeCluster::start(1);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    // Broker 7 is in no metadata: the address is all the client knows.
    assert!(client.metadata().broker(7).is_none());
    let addr = cluster.addr(1);
    let coordinator = client.coordinator_node(7, &addr.ip().to_string(), addr.port());
    assert_eq!(coordinator, i32::MAX - 7);
    connect(&mut client, coordinator);
    assert_eq!(client.connected_address(coordinator), Some(addr));
    assert!(client.api_version(coordinator, ApiKey::Heartbeat).is_some());

    let corr = client
        .send(coordinator, list_groups(), Instant::now())
        .unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        response_to(ev, corr).is_some()
    });
    assert_eq!(response_to(&events, corr).unwrap().node(), coordinator);

    // Closed by the caller, it reconnects to the same address on demand.
    client.close(coordinator);
    assert!(!client.is_connected(coordinator));
    connect(&mut client, coordinator);
    assert_eq!(client.connected_address(coordinator), Some(addr));
}

#[test]
fn findcoordinator_answer_gives_the_coordinator_connection_its_address() {
    use prozess_protocol::messages::find_coordinator::response::Coordinator;
    use prozess_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
    let cluster_addr = Arc::new(std::sync::Mutex::new(None));
    let answer_addr = cluster_addr.clone();
    let handler: support::Handler = Arc::new(move |s| {
        if s.api_key() != ApiKey::FindCoordinator {
            return None;
        }
        let addr: std::net::SocketAddr = (*answer_addr.lock().unwrap())?;
        // Node 9 is in no metadata; it lives at broker 1's address.
        Some(vec![Action::Respond(ResponseBody::FindCoordinator(
            FindCoordinatorResponse {
                node_id: 9,
                host: addr.ip().to_string(),
                port: addr.port() as i32,
                coordinators: vec![Coordinator {
                    key: "g".to_string(),
                    node_id: 9,
                    host: addr.ip().to_string(),
                    port: addr.port() as i32,
                    ..Default::default()
                }],
                ..Default::default()
            },
        ))])
    });
    let cluster = FakeCluster::with_handler(1, handler);
    *cluster_addr.lock().unwrap() = Some(cluster.addr(1));
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    let corr = client
        .send(
            1,
            RequestBody::FindCoordinator(FindCoordinatorRequest {
                key: "g".to_string(),
                coordinator_keys: vec!["g".to_string()],
                ..Default::default()
            }),
            Instant::now(),
        )
        .unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        response_to(ev, corr).is_some()
    });
    let coordinator = coordinator_connection_id(9);
    connect(&mut client, coordinator);
    assert_eq!(client.connected_address(coordinator), Some(cluster.addr(1)));
    let on_coordinator = client
        .send(coordinator, list_groups(), Instant::now())
        .unwrap();
    poll_until(&mut client, &mut events, |_, ev| {
        response_to(ev, on_coordinator).is_some()
    });
    assert_eq!(
        response_to(&events, on_coordinator).unwrap().node(),
        coordinator
    );
}

/// Polls until the response to `corr` arrives; returns the `now` passed to
/// the poll that delivered it (the throttle is measured from no earlier).
fn poll_for_response(client: &mut NetworkClient, corr: i32) -> Instant {
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < PATIENCE, "no response to {corr}");
        let now = Instant::now();
        let events = client.poll(Duration::from_millis(20), now);
        if response_to(&events, corr).is_some() {
            return now;
        }
    }
}

fn throttling_handler(throttle_ms: i32) -> support::Handler {
    let count = Arc::new(AtomicUsize::new(0));
    Arc::new(move |s| {
        if s.api_key() != ApiKey::ListGroups {
            return None;
        }
        // Only the first answer carries a throttle.
        let throttle_time_ms = if count.fetch_add(1, Ordering::SeqCst) == 0 {
            throttle_ms
        } else {
            0
        };
        Some(vec![Action::Respond(ResponseBody::ListGroups(
            ListGroupsResponse {
                throttle_time_ms,
                ..Default::default()
            },
        ))])
    })
}

#[test]
fn throttled_connection_takes_no_requests_until_the_throttle_ends() {
    let throttle = Duration::from_millis(1500);
    let cluster = FakeCluster::with_handler(2, throttling_handler(throttle.as_millis() as i32));
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    connect(&mut client, 2);
    assert!(client.api_version(1, ApiKey::ListGroups).unwrap() >= 2);

    let first = client.send(1, list_groups(), Instant::now()).unwrap();
    let t0 = poll_for_response(&mut client, first);
    // Measured from the response's arrival, which is no earlier than t0.
    let until = client.throttled_until(1, t0).expect("throttled");
    assert!(until >= t0 + throttle);
    assert!(!client.is_ready(1, t0));
    assert!(!client.ready(1, t0));
    assert!(client.connection_delay(1, t0) >= throttle);
    assert!(matches!(
        client.send(1, list_groups(), t0),
        Err(NetworkError::NotReady(1))
    ));
    assert!(client.is_connected(1), "the connection stays open");
    // Only that connection is throttled.
    assert!(client.is_ready(2, t0));
    assert_ne!(client.least_loaded_node(t0), Some(1));

    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |c, _| {
        c.is_ready(1, Instant::now())
    });
    assert!(Instant::now() >= until);
    assert_eq!(client.connection_delay(1, Instant::now()), Duration::MAX);
    let second = client.send(1, list_groups(), Instant::now()).unwrap();
    poll_for_response(&mut client, second);
    assert!(
        client.is_ready(1, Instant::now()),
        "no throttle the second time"
    );
    let on_one = cluster
        .seen()
        .iter()
        .filter(|s| s.broker == 1 && s.api_key() == ApiKey::ListGroups)
        .count();
    assert_eq!(on_one, 2);
}

#[test]
fn responses_of_pre_kip_219_versions_do_not_throttle() {
    let cluster = FakeCluster::with_handler(1, throttling_handler(60_000));
    // ListGroups v0-v1: the broker delays the response itself.
    cluster.view.lock().unwrap().api_versions = Some(
        ApiKey::ALL
            .iter()
            .map(|&k| {
                let (lo, hi) = k.supported_versions();
                if k == ApiKey::ListGroups {
                    (k, lo, 1)
                } else {
                    (k, lo, hi)
                }
            })
            .collect(),
    );
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    assert_eq!(client.api_version(1, ApiKey::ListGroups), Some(1));
    let corr = client.send(1, list_groups(), Instant::now()).unwrap();
    let t0 = poll_for_response(&mut client, corr);
    assert_eq!(client.throttled_until(1, t0), None);
    assert!(client.is_ready(1, t0));
    client.send(1, list_groups(), t0).unwrap();
}
