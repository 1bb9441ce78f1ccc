//! NetworkClient against fake brokers on 127.0.0.1: framing, handshake,
//! in-flight limits, timeouts, bad brokers, reconnects, wakeup.

mod support;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prozess_network::{
    ClientEvent, ClientRequest, KafkaClient, NetworkClient, NetworkError, TopicPartition,
};
use prozess_protocol::messages::api_versions::response::ApiVersion;
use prozess_protocol::messages::produce::request::{PartitionProduceData, TopicProduceData};
use prozess_protocol::messages::{
    ApiVersionsResponse, DescribeGroupsRequest, ListGroupsRequest, MetadataRequest, ProduceRequest,
};
use prozess_protocol::{ApiKey, DecodeErrorKind, RequestBody, ResponseBody};
use support::{bootstrap, config, connect, poll_until, Action, FakeCluster};

fn list_groups() -> RequestBody {
    RequestBody::ListGroups(ListGroupsRequest::default())
}

fn describe_groups() -> RequestBody {
    RequestBody::DescribeGroups(DescribeGroupsRequest::default())
}

fn responses(events: &[ClientEvent]) -> Vec<i32> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Response(r) => Some(r.correlation_id),
            _ => None,
        })
        .collect()
}

#[test]
fn bootstraps_then_uses_real_node_ids() {
    let cluster = FakeCluster::start(2);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    assert!(client.metadata().is_bootstrap());
    assert_eq!(
        client
            .metadata()
            .brokers()
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![-1]
    );
    client.metadata_mut().set_topics(["topic-a"]);
    bootstrap(&mut client);

    let md = client.metadata();
    let mut ids: Vec<i32> = md.brokers().keys().copied().collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(md.cluster_id(), Some("fake-cluster"));
    assert_eq!(md.controller_id(), Some(1));
    let topic = md.topic("topic-a").unwrap();
    assert_eq!(topic.partitions.len(), 2);
    assert_eq!(md.leader_for(&TopicPartition::new("topic-a", 1)), Some(2));
    assert_eq!(
        md.leader_and_epoch(&TopicPartition::new("topic-a", 0))
            .epoch,
        Some(3)
    );
    assert!(md.topic_id("topic-a").is_some());

    // The metadata request asked for the topic of interest, in the highest
    // common version, and ApiVersions came first on the connection.
    let seen = cluster.seen();
    assert_eq!(seen[0].api_key(), ApiKey::ApiVersions);
    assert_eq!(seen[0].version(), 4);
    let md_req = seen
        .iter()
        .find(|s| s.api_key() == ApiKey::Metadata)
        .unwrap();
    assert_eq!(md_req.version(), 13);
    assert_eq!(md_req.header.client_id.as_deref(), Some("loopback-test"));
    let RequestBody::Metadata(MetadataRequest {
        topics: Some(t), ..
    }) = &md_req.body
    else {
        panic!("expected topics in {md_req:?}");
    };
    assert_eq!(t[0].name.as_deref(), Some("topic-a"));

    // The bootstrap pseudo-node's connection is retired once idle.
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |c, _| !c.is_connected(-1));
}

#[test]
fn negotiates_highest_common_version() {
    let cluster = FakeCluster::start(1);
    cluster.view.lock().unwrap().api_versions = Some(vec![
        (ApiKey::ApiVersions, 0, 4),
        (ApiKey::Metadata, 0, 5),
        (ApiKey::Fetch, 4, 99),
        (ApiKey::Produce, 0, 2), // no overlap with prozess's 3-12
    ]);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    assert_eq!(client.api_version(1, ApiKey::Metadata), Some(5));
    assert_eq!(
        client.api_version(1, ApiKey::Fetch),
        Some(ApiKey::Fetch.supported_versions().1)
    );
    assert_eq!(client.api_version(1, ApiKey::Produce), None);
    assert_eq!(client.api_version(1, ApiKey::ListGroups), None);
    let err = client.send(1, list_groups(), Instant::now()).unwrap_err();
    assert!(
        matches!(err, NetworkError::UnsupportedVersion { node: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn api_versions_retries_with_the_version_the_broker_knows() {
    let handler: support::Handler = Arc::new(|s| {
        if s.api_key() == ApiKey::ApiVersions && s.version() > 2 {
            // What a broker that knows ApiVersions up to v2 answers: a v0
            // body with UNSUPPORTED_VERSION and its own range.
            let body = ResponseBody::ApiVersions(ApiVersionsResponse {
                error_code: 35,
                api_keys: vec![ApiVersion {
                    api_key: 18,
                    min_version: 0,
                    max_version: 2,
                    ..Default::default()
                }],
                ..Default::default()
            });
            return Some(vec![Action::RespondAs(0, body)]);
        }
        None
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    let versions: Vec<i16> = cluster
        .seen()
        .iter()
        .filter(|s| s.api_key() == ApiKey::ApiVersions && s.conn == 1)
        .map(|s| s.version())
        .collect();
    assert_eq!(versions, vec![4, 2]);
}

#[test]
fn api_versions_error_closes_with_cause() {
    let handler: support::Handler = Arc::new(|s| {
        if s.api_key() == ApiKey::ApiVersions {
            let body = ResponseBody::ApiVersions(ApiVersionsResponse {
                error_code: 58, // SASL_AUTHENTICATION_FAILED, anything non-zero
                ..Default::default()
            });
            return Some(vec![Action::Respond(body)]);
        }
        None
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter().any(|e| {
            matches!(
                e,
                ClientEvent::Disconnected {
                    node: -1,
                    cause: NetworkError::ApiVersions { .. },
                    ..
                }
            )
        })
    });
    assert!(client.connection_failed(-1));
}

#[test]
fn in_flight_limit_and_ordered_responses() {
    let handler: support::Handler = Arc::new(|s| {
        if s.api_key() == ApiKey::ListGroups {
            return Some(vec![
                Action::Sleep(Duration::from_millis(50)),
                Action::Default,
            ]);
        }
        None
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut cfg = config(&cluster.bootstrap());
    cfg.max_in_flight_requests_per_connection = 2;
    let mut client = NetworkClient::new(cfg).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    let now = Instant::now();
    let a = client.send(1, list_groups(), now).unwrap();
    let b = client.send(1, list_groups(), now).unwrap();
    assert_eq!(client.in_flight_count(1), 2);
    assert!(!client.is_ready(1, now));
    assert!(matches!(
        client.send(1, list_groups(), now),
        Err(NetworkError::NotReady(1))
    ));
    assert!(client.has_in_flight());
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| responses(ev).len() == 2);
    assert_eq!(responses(&events), vec![a, b]);
    assert!(events.iter().all(
        |e| matches!(e, ClientEvent::Response(r) if r.api_key == ApiKey::ListGroups && r.node == 1)
    ));
    assert!(client.is_ready(1, Instant::now()));
    assert!(!client.has_in_flight());
}

#[test]
fn response_written_one_byte_at_a_time_is_reassembled() {
    let handler: support::Handler = Arc::new(|s| {
        if s.api_key() == ApiKey::Metadata && s.header.client_id.is_some() && s.conn > 0 {
            if let RequestBody::Metadata(MetadataRequest { topics: None, .. }) = &s.body {
                let view = support::ClusterView {
                    brokers: vec![(1, "127.0.0.1:1".parse().unwrap())],
                    topics: (0..40).map(|i| (format!("t{i}"), 3)).collect(),
                    ..Default::default()
                };
                let body = ResponseBody::Metadata(support::metadata_response(&view, None));
                return Some(vec![Action::Trickle(body)]);
            }
        }
        None
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    // A caller's own Metadata request (all topics) comes back as an event.
    let body = RequestBody::Metadata(MetadataRequest {
        topics: None,
        ..Default::default()
    });
    let corr = client.send(1, body, Instant::now()).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| !responses(ev).is_empty());
    let ClientEvent::Response(r) = &events
        .iter()
        .find(|e| matches!(e, ClientEvent::Response(_)))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(r.correlation_id, corr);
    let ResponseBody::Metadata(m) = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(m.topics.len(), 40);
    assert_eq!(m.topics[39].partitions.len(), 3);
}

#[test]
fn large_request_survives_partial_writes() {
    let handler: support::Handler = Arc::new(|s| {
        if s.api_key() == ApiKey::Produce {
            return Some(vec![Action::Default]);
        }
        None
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut cfg = config(&cluster.bootstrap());
    cfg.send_buffer = Some(16 * 1024);
    let mut client = NetworkClient::new(cfg).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    let payload: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let payload = Bytes::from(payload);
    let produce = ProduceRequest {
        acks: 1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "topic-a".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(payload.clone()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    // Bypass record batch validation concerns: the fake broker only decodes
    // the request, it does not parse the records.
    let corr = client
        .send(1, RequestBody::Produce(produce), Instant::now())
        .unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        responses(ev).contains(&corr)
    });
    let seen = cluster.seen();
    let got = seen
        .iter()
        .find(|s| s.api_key() == ApiKey::Produce)
        .unwrap();
    let RequestBody::Produce(p) = &got.body else {
        unreachable!()
    };
    assert_eq!(
        p.topic_data[0].partition_data[0].records.as_ref(),
        Some(&payload)
    );
}

#[test]
fn timed_out_request_closes_the_connection_and_reports_the_rest() {
    let handler: support::Handler = Arc::new(|s| match s.api_key() {
        ApiKey::ListGroups | ApiKey::DescribeGroups => Some(vec![]),
        _ => None,
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    let now = Instant::now();
    let short = client
        .send_request(
            1,
            ClientRequest::new(list_groups()).with_timeout(Duration::from_millis(100)),
            now,
        )
        .unwrap();
    let long = client.send(1, describe_groups(), now).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter()
            .any(|e| matches!(e, ClientEvent::Disconnected { node: 1, .. }))
    });
    assert!(events.iter().any(|e| matches!(e, ClientEvent::Timeout { node: 1, correlation_id, api_key: ApiKey::ListGroups } if *correlation_id == short)));
    let disconnected = events.iter().find_map(|e| match e {
        ClientEvent::Disconnected {
            node: 1,
            in_flight,
            cause,
        } => Some((in_flight.clone(), cause.clone())),
        _ => None,
    });
    let (in_flight, cause) = disconnected.unwrap();
    assert_eq!(in_flight.len(), 1);
    assert_eq!(in_flight[0].correlation_id, long);
    assert_eq!(in_flight[0].api_key, ApiKey::DescribeGroups);
    assert!(matches!(cause, NetworkError::RequestTimeout));
    assert_eq!(client.in_flight_count(1), 0);
}

/// A frame with the right correlation id and a body that is not a response.
fn garbage_frame(correlation_id: i32) -> Vec<u8> {
    let mut body = correlation_id.to_be_bytes().to_vec();
    body.extend_from_slice(&[0xff; 9]);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn garbage_disconnects_only_that_broker() {
    let handler: support::Handler = Arc::new(|s| {
        if s.broker == 2 && s.api_key() == ApiKey::ListGroups {
            return Some(vec![Action::Raw(garbage_frame(s.header.correlation_id))]);
        }
        None
    });
    let cluster = FakeCluster::with_handler(2, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    connect(&mut client, 2);
    let now = Instant::now();
    let good = client.send(1, list_groups(), now).unwrap();
    let bad = client.send(2, list_groups(), now).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        responses(ev).contains(&good)
            && ev
                .iter()
                .any(|e| matches!(e, ClientEvent::Disconnected { node: 2, .. }))
    });
    let (in_flight, cause) = events
        .iter()
        .find_map(|e| match e {
            ClientEvent::Disconnected {
                node: 2,
                in_flight,
                cause,
            } => Some((in_flight.clone(), cause.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        in_flight
            .iter()
            .map(|i| i.correlation_id)
            .collect::<Vec<_>>(),
        vec![bad]
    );
    assert!(matches!(cause, NetworkError::Decode(_)), "{cause:?}");
    // Node 1 goes on.
    assert!(client.is_ready(1, Instant::now()));
    let again = client.send(1, list_groups(), Instant::now()).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        responses(ev).contains(&again)
    });
}

#[test]
fn wrong_correlation_id_disconnects() {
    let handler: support::Handler = Arc::new(|s| {
        if s.api_key() == ApiKey::ListGroups {
            return Some(vec![Action::Raw(garbage_frame(
                s.header.correlation_id + 1000,
            ))]);
        }
        None
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    client.send(1, list_groups(), Instant::now()).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter().any(|e| {
            matches!(
                e,
                ClientEvent::Disconnected {
                    node: 1,
                    cause: NetworkError::CorrelationMismatch { .. },
                    ..
                }
            )
        })
    });
}

#[test]
fn oversize_frame_is_an_error_not_an_allocation() {
    let handler: support::Handler = Arc::new(|s| {
        if s.api_key() == ApiKey::ListGroups {
            // Claims 2 GiB - 1; nothing follows.
            return Some(vec![Action::Raw(i32::MAX.to_be_bytes().to_vec())]);
        }
        None
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut cfg = config(&cluster.bootstrap());
    cfg.max_response_size = 1024 * 1024;
    let mut client = NetworkClient::new(cfg).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    let corr = client.send(1, list_groups(), Instant::now()).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter()
            .any(|e| matches!(e, ClientEvent::Disconnected { node: 1, .. }))
    });
    let (in_flight, cause) = events
        .iter()
        .find_map(|e| match e {
            ClientEvent::Disconnected {
                node: 1,
                in_flight,
                cause,
            } => Some((in_flight.clone(), cause.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(in_flight[0].correlation_id, corr);
    match cause {
        NetworkError::Decode(e) => assert!(
            matches!(e.kind, DecodeErrorKind::FrameTooLarge { max: 1048576, .. }),
            "{e:?}"
        ),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn refused_connection_backs_off_and_reports() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = config(&format!("127.0.0.1:{port}"));
    cfg.reconnect_backoff = Duration::from_secs(600);
    cfg.reconnect_backoff_max = Duration::from_secs(600);
    let mut client = NetworkClient::new(cfg).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| !ev.is_empty());
    match &events[0] {
        ClientEvent::Disconnected {
            node: -1,
            in_flight,
            cause: NetworkError::Io(_),
        } => assert!(in_flight.is_empty()),
        other => panic!("unexpected {other:?}"),
    }
    let now = Instant::now();
    assert!(client.connection_failed(-1));
    assert!(client.connection_delay(-1, now) > Duration::from_secs(60));
    assert!(!client.ready(-1, now));
    assert_eq!(client.least_loaded_node(now), None);
}

#[test]
fn dropped_connection_reports_in_flight_and_reconnects() {
    let handler: support::Handler = Arc::new(|s| {
        if s.api_key() == ApiKey::ListGroups && s.conn <= 2 {
            return Some(vec![Action::Close]);
        }
        None
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    let corr = client.send(1, list_groups(), Instant::now()).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter()
            .any(|e| matches!(e, ClientEvent::Disconnected { node: 1, .. }))
    });
    let in_flight = events
        .iter()
        .find_map(|e| match e {
            ClientEvent::Disconnected {
                node: 1,
                in_flight,
                cause: NetworkError::ConnectionClosed | NetworkError::Io(_),
            } => Some(in_flight.clone()),
            _ => None,
        })
        .expect("disconnect with the broker's close as cause");
    assert_eq!(in_flight[0].correlation_id, corr);
    // The disconnect makes a metadata refresh due (max age is 5 minutes).
    let v = client.metadata().update_version();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |c, _| {
        c.metadata().update_version() > v
    });
    // After the backoff, a new connection works.
    connect(&mut client, 1);
    let again = client.send(1, list_groups(), Instant::now()).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        responses(ev).contains(&again)
    });
}

#[test]
fn setup_timeout_against_a_silent_listener() {
    // Accepts connections (the kernel does) and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = config(&listener.local_addr().unwrap().to_string());
    cfg.socket_connection_setup_timeout = Duration::from_millis(200);
    cfg.socket_connection_setup_timeout_max = Duration::from_millis(200);
    let mut client = NetworkClient::new(cfg).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| !ev.is_empty());
    assert!(
        matches!(
            &events[0],
            ClientEvent::Disconnected {
                node: -1,
                cause: NetworkError::ConnectionSetupTimeout,
                ..
            }
        ),
        "{events:?}"
    );
    drop(listener);
}

#[test]
fn close_reports_in_flight_requests() {
    let handler: support::Handler =
        Arc::new(|s| (s.api_key() == ApiKey::ListGroups).then(Vec::new));
    let cluster = FakeCluster::with_handler(1, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    let corr = client.send(1, list_groups(), Instant::now()).unwrap();
    client.close(1);
    assert!(!client.connection_failed(1));
    assert_eq!(client.connection_delay(1, Instant::now()), Duration::ZERO);
    let events = client.poll(Duration::ZERO, Instant::now());
    assert!(events.iter().any(|e| matches!(e, ClientEvent::Disconnected { node: 1, in_flight, cause: NetworkError::ClosedByClient } if in_flight[0].correlation_id == corr)), "{events:?}");
}

#[test]
fn acks_zero_produce_completes_when_written() {
    let cluster = FakeCluster::start(1);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    let produce = ProduceRequest {
        acks: 0,
        timeout_ms: 1000,
        ..Default::default()
    };
    let corr = client
        .send(1, RequestBody::Produce(produce), Instant::now())
        .unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter().any(|e| matches!(e, ClientEvent::Sent { node: 1, correlation_id, api_key: ApiKey::Produce } if *correlation_id == corr))
    });
    assert_eq!(client.in_flight_count(1), 0);
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, _| {
        cluster.count(ApiKey::Produce) == 1
    });
}

#[test]
fn metadata_refreshes_periodically_and_on_request() {
    let cluster = FakeCluster::start(1);
    let mut cfg = config(&cluster.bootstrap());
    cfg.metadata_max_age = Duration::from_millis(100);
    let mut client = NetworkClient::new(cfg).unwrap();
    bootstrap(&mut client);
    let v = client.metadata().update_version();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |c, _| {
        c.metadata().update_version() >= v + 2
    });

    let mut cfg = config(&cluster.bootstrap());
    cfg.metadata_max_age = Duration::from_secs(3600);
    let mut client = NetworkClient::new(cfg).unwrap();
    bootstrap(&mut client);
    let v = client.metadata().update_version();
    client.metadata_mut().add_topics(["topic-a"]);
    poll_until(&mut client, &mut events, |c, _| {
        c.metadata().update_version() > v
    });
    assert!(client.metadata().topic("topic-a").is_some());
    // No caller-visible events for the client's own requests.
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn wakeup_interrupts_a_long_poll() {
    let cluster = FakeCluster::start(1);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    let handle = client.wakeup_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        handle.wakeup();
    });
    // Returns only because of the wakeup (nothing else is due for minutes).
    client.poll(Duration::from_secs(3600), Instant::now());
    t.join().unwrap();
    assert!(client.wakeup_handle().take());
}

#[test]
fn least_loaded_node_prefers_idle_connections() {
    let handler: support::Handler =
        Arc::new(|s| (s.api_key() == ApiKey::ListGroups).then(Vec::new));
    let cluster = FakeCluster::with_handler(2, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    connect(&mut client, 2);
    client.send(1, list_groups(), Instant::now()).unwrap();
    for _ in 0..20 {
        assert_eq!(client.least_loaded_node(Instant::now()), Some(2));
    }
}

#[test]
fn garbage_during_handshake_is_a_decode_error() {
    let handler: support::Handler = Arc::new(|s| {
        if s.api_key() == ApiKey::ApiVersions {
            return Some(vec![Action::Raw(garbage_frame(s.header.correlation_id))]);
        }
        None
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| !ev.is_empty());
    assert!(
        matches!(
            &events[0],
            ClientEvent::Disconnected {
                node: -1,
                cause: NetworkError::Decode(_),
                ..
            }
        ),
        "{events:?}"
    );
}

#[test]
fn finalized_features_come_from_api_versions() {
    use prozess_protocol::messages::api_versions::response::FinalizedFeatureKey;
    let handler: support::Handler = Arc::new(|s| {
        if s.api_key() != ApiKey::ApiVersions {
            return None;
        }
        // Every API in prozess's own range, and transaction.version 2
        // finalized (what a fresh Kafka 4.0 cluster reports, KIP-890).
        let api_keys = ApiKey::ALL
            .iter()
            .map(|k| {
                let (min_version, max_version) = k.supported_versions();
                ApiVersion {
                    api_key: k.code(),
                    min_version,
                    max_version,
                    ..Default::default()
                }
            })
            .collect();
        let body = ResponseBody::ApiVersions(ApiVersionsResponse {
            api_keys,
            finalized_features_epoch: 7,
            finalized_features: vec![FinalizedFeatureKey {
                name: "transaction.version".into(),
                max_version_level: 2,
                min_version_level: 2,
                ..Default::default()
            }],
            ..Default::default()
        });
        Some(vec![Action::RespondAs(s.version(), body)])
    });
    let cluster = FakeCluster::with_handler(1, handler);
    let mut client = NetworkClient::new(config(&cluster.bootstrap())).unwrap();
    assert_eq!(client.finalized_feature("transaction.version"), None);
    bootstrap(&mut client);
    assert_eq!(client.finalized_feature("transaction.version"), Some(2));
    assert_eq!(client.finalized_feature("group.version"), None);
}
