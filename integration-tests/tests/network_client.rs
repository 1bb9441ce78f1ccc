//! prozess-network's NetworkClient against a real broker (Tansu started by
//! the harness, or the cluster named by PROZESS_BOOTSTRAP), and against
//! misbehaving peers: a port that never answers, a proxy that drops or stalls
//! connections, a "broker" that sends garbage.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use harness::{Broker, ProxiedBroker};
use prozess_integration_tests as harness;
use prozess_network::{
    ClientEvent, ClientRequest, KafkaClient, NetworkClient, NetworkConfig, NetworkError, NodeId,
    TopicPartition,
};
use prozess_protocol::messages::metadata::request::MetadataRequestTopic;
use prozess_protocol::messages::MetadataRequest;
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};

/// Upper bound on waiting for a condition (a guard against hangs, not a
/// timing assertion).
const PATIENCE: Duration = Duration::from_secs(30);

fn config(bootstrap: &str) -> NetworkConfig {
    let mut c = NetworkConfig::new([bootstrap]);
    c.client_id = "prozess-network-it".to_string();
    c.reconnect_backoff = Duration::from_millis(20);
    c.reconnect_backoff_max = Duration::from_millis(200);
    c.retry_backoff = Duration::from_millis(20);
    c.retry_backoff_max = Duration::from_millis(200);
    c
}

fn poll_until(
    client: &mut NetworkClient,
    events: &mut Vec<ClientEvent>,
    mut done: impl FnMut(&mut NetworkClient, &[ClientEvent]) -> bool,
) {
    let start = Instant::now();
    while !done(client, events) {
        assert!(
            start.elapsed() < PATIENCE,
            "condition not reached; events so far: {events:#?}"
        );
        events.extend(client.poll(Duration::from_millis(50), Instant::now()));
    }
}

fn bootstrapped(bootstrap: &str) -> NetworkClient {
    let mut client = NetworkClient::new(config(bootstrap)).expect("client");
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |c, _| {
        !c.metadata().is_bootstrap()
    });
    client
}

fn any_broker(client: &NetworkClient) -> NodeId {
    let mut ids: Vec<NodeId> = client.metadata().brokers().keys().copied().collect();
    ids.sort();
    ids[0]
}

fn connect(client: &mut NetworkClient, node: NodeId) {
    let mut events = Vec::new();
    poll_until(client, &mut events, |c, _| c.ready(node, Instant::now()));
}

fn user_metadata_request(topic: &str) -> RequestBody {
    RequestBody::Metadata(MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(topic.to_string()),
            ..Default::default()
        }]),
        allow_auto_topic_creation: false,
        ..Default::default()
    })
}

fn disconnect_of(events: &[ClientEvent], node: NodeId) -> Option<(Vec<i32>, NetworkError)> {
    events.iter().find_map(|e| match e {
        ClientEvent::Disconnected {
            node: n,
            in_flight,
            cause,
        } if *n == node => Some((
            in_flight.iter().map(|i| i.correlation_id).collect(),
            cause.clone(),
        )),
        _ => None,
    })
}

#[test]
fn network_connects_and_negotiates_versions() {
    let mut client = bootstrapped(&harness::bootstrap());
    let md = client.metadata();
    assert!(!md.brokers().is_empty());
    assert!(
        md.brokers().keys().all(|&id| id >= 0),
        "real node ids replace the bootstrap ones"
    );
    let node = any_broker(&client);
    connect(&mut client, node);
    // Every version chosen lies in both the broker's and prozess's range.
    for &(key, min, max) in harness::broker_api_versions() {
        let Some(api) = ApiKey::from_i16(key) else {
            continue;
        };
        let (ours_min, ours_max) = api.supported_versions();
        match client.api_version(node, api) {
            Some(v) => {
                assert!(
                    v >= min.max(ours_min) && v <= max.min(ours_max),
                    "{api:?} -> {v}"
                );
                assert_eq!(v, max.min(ours_max), "{api:?}: the highest common version");
            }
            None => assert!(
                max < ours_min || min > ours_max,
                "{api:?} has a common version"
            ),
        }
    }
    assert!(client.api_version(node, ApiKey::Metadata).is_some());
    assert!(client.api_version(node, ApiKey::Fetch).is_some());
}

#[test]
fn network_metadata_describes_created_topics() {
    let topic = harness::unique_topic("net-md");
    harness::create_topic(&topic, 3);
    let mut client = bootstrapped(&harness::bootstrap());
    client.metadata_mut().set_topics([topic.clone()]);
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |c, _| {
        c.metadata().topic(&topic).is_some_and(|t| {
            t.partitions.len() == 3 && t.partitions.iter().all(|p| p.leader.is_some())
        })
    });
    let md = client.metadata();
    for p in 0..3 {
        let tp = TopicPartition::new(topic.clone(), p);
        let leader = md.leader_for(&tp).unwrap();
        assert!(
            md.brokers().contains_key(&leader),
            "leader {leader} is a known broker"
        );
        let part = md.partition(&tp).unwrap();
        assert!(part.replicas.contains(&leader));
    }
    if client
        .api_version(any_broker(&client), ApiKey::Metadata)
        .unwrap_or(0)
        >= 10
    {
        let id = md.topic_id(&topic).expect("topic id (Metadata v10+)");
        assert_eq!(md.topic_name(id), Some(topic.as_str()));
    }
    // The client's own metadata requests never surface as events.
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, ClientEvent::Response(_))),
        "{events:?}"
    );

    // A caller's own request comes back as a response event.
    let node = any_broker(&client);
    connect(&mut client, node);
    let corr = client
        .send(node, user_metadata_request(&topic), Instant::now())
        .unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter()
            .any(|e| matches!(e, ClientEvent::Response(r) if r.correlation_id == corr))
    });
    let body = events
        .iter()
        .find_map(|e| match e {
            ClientEvent::Response(r) if r.correlation_id == corr => Some(r.body.clone()),
            _ => None,
        })
        .unwrap();
    let ResponseBody::Metadata(m) = body else {
        panic!("{body:?}")
    };
    assert_eq!(m.topics[0].name.as_deref(), Some(topic.as_str()));
    assert_eq!(m.topics[0].partitions.len(), 3);
}

#[test]
fn network_setup_times_out_on_a_port_that_never_answers() {
    // The kernel accepts the connection; nobody ever answers ApiVersions.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = config(&silent.local_addr().unwrap().to_string());
    cfg.socket_connection_setup_timeout = Duration::from_millis(300);
    cfg.socket_connection_setup_timeout_max = Duration::from_millis(300);
    let mut client = NetworkClient::new(cfg).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| !ev.is_empty());
    let (in_flight, cause) =
        disconnect_of(&events, -1).expect("a disconnect of the bootstrap node");
    assert!(in_flight.is_empty());
    assert!(
        matches!(cause, NetworkError::ConnectionSetupTimeout),
        "{cause:?}"
    );
    assert!(client.connection_failed(-1));
}

fn proxied() -> Option<ProxiedBroker> {
    if harness::skip_if_external("the fault proxy needs a broker of its own that advertises it") {
        return None;
    }
    Some(Broker::start_behind_proxy().expect("broker behind proxy"))
}

#[test]
fn network_request_times_out_when_the_proxy_stalls() {
    let Some(pb) = proxied() else { return };
    let topic = harness::unique_topic("net-stall");
    harness::create_topic_on(&pb.bootstrap(), &topic, 1).expect("create");
    let mut client = bootstrapped(&pb.bootstrap());
    let node = any_broker(&client);
    connect(&mut client, node);
    pb.proxy.stall(true);
    let now = Instant::now();
    let short = client
        .send_request(
            node,
            ClientRequest::new(user_metadata_request(&topic))
                .with_timeout(Duration::from_millis(300)),
            now,
        )
        .unwrap();
    let other = client
        .send(node, user_metadata_request(&topic), now)
        .unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        disconnect_of(ev, node).is_some()
    });
    pb.proxy.stall(false);
    assert!(events.iter().any(
        |e| matches!(e, ClientEvent::Timeout { correlation_id, .. } if *correlation_id == short)
    ));
    let (in_flight, cause) = disconnect_of(&events, node).unwrap();
    assert_eq!(in_flight, vec![other]);
    assert!(matches!(cause, NetworkError::RequestTimeout));
    // A new connection works once the proxy forwards again.
    connect(&mut client, node);
}

#[test]
fn network_reconnects_after_the_proxy_drops_connections() {
    let Some(pb) = proxied() else { return };
    let topic = harness::unique_topic("net-drop");
    harness::create_topic_on(&pb.bootstrap(), &topic, 1).expect("create");
    let mut client = bootstrapped(&pb.bootstrap());
    let node = any_broker(&client);
    connect(&mut client, node);
    pb.proxy.stall(true);
    let corr = client
        .send(node, user_metadata_request(&topic), Instant::now())
        .unwrap();
    // Let the request reach the proxy, then cut every connection.
    client.poll(Duration::from_millis(50), Instant::now());
    pb.proxy.drop_all();
    pb.proxy.stall(false);
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        disconnect_of(ev, node).is_some()
    });
    let (in_flight, cause) = disconnect_of(&events, node).unwrap();
    assert_eq!(in_flight, vec![corr]);
    assert!(
        matches!(cause, NetworkError::ConnectionClosed | NetworkError::Io(_)),
        "{cause:?}"
    );
    connect(&mut client, node);
    let again = client
        .send(node, user_metadata_request(&topic), Instant::now())
        .unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter()
            .any(|e| matches!(e, ClientEvent::Response(r) if r.correlation_id == again))
    });
}

#[test]
fn network_half_a_response_then_close_is_a_disconnect() {
    let Some(pb) = proxied() else { return };
    let topic = harness::unique_topic("net-cut");
    harness::create_topic_on(&pb.bootstrap(), &topic, 1).expect("create");
    let mut client = bootstrapped(&pb.bootstrap());
    let node = any_broker(&client);
    connect(&mut client, node);
    pb.proxy.cut_next_response();
    let corr = client
        .send(node, user_metadata_request(&topic), Instant::now())
        .unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        disconnect_of(ev, node).is_some()
    });
    let (in_flight, _) = disconnect_of(&events, node).unwrap();
    assert_eq!(in_flight, vec![corr]);
    assert!(events
        .iter()
        .all(|e| !matches!(e, ClientEvent::Response(_))));
}

#[test]
fn network_garbage_peer_is_dropped_while_the_broker_connection_goes_on() {
    // A "broker" that answers anything with bytes that are no Kafka response
    // (a size prefix and a body that cannot decode).
    let garbage = TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage_addr = garbage.local_addr().unwrap();
    thread::spawn(move || {
        for stream in garbage.incoming() {
            let Ok(mut s) = stream else { continue };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    // Echo the correlation id so only the body is wrong.
                    let corr = if n >= 12 {
                        [buf[8], buf[9], buf[10], buf[11]]
                    } else {
                        [0; 4]
                    };
                    let mut frame = vec![0, 0, 0, 12];
                    frame.extend_from_slice(&corr);
                    frame.extend_from_slice(&[0xff; 8]);
                    if s.write_all(&frame).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let real = harness::bootstrap();
    let real_first = real.split(',').next().unwrap().to_string();
    // Bootstrap pseudo-nodes: -1 the garbage peer, -2 the real broker.
    let mut cfg = config(&garbage_addr.to_string());
    cfg.bootstrap_servers.push(real_first);
    let mut client = NetworkClient::new(cfg).unwrap();
    let now = Instant::now();
    client.ready(-1, now);
    client.ready(-2, now);
    // The real broker's connection keeps serving: metadata comes from it
    // (after which its bootstrap connection may be retired, so readiness of
    // -2 is not what to wait for).
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |c, ev| {
        disconnect_of(ev, -1).is_some() && !c.metadata().is_bootstrap()
    });
    let (_, cause) = disconnect_of(&events, -1).unwrap();
    assert!(matches!(cause, NetworkError::Decode(_)), "{cause:?}");
    assert!(disconnect_of(&events, -2).is_none(), "{events:?}");
    assert!(client.metadata().brokers().keys().all(|&id| id >= 0));
}
