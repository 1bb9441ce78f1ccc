//! The fault proxy forwards, and injects the faults it is told to.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use harness::wire::Connection;
use harness::{Broker, FaultProxy};
use prozess_integration_tests as harness;

const TIMEOUT: Duration = Duration::from_secs(10);

/// An ApiVersions v0 request frame (correlation id 7, client id "t").
const API_VERSIONS_V0: [u8; 15] = [0, 0, 0, 11, 0, 18, 0, 0, 0, 0, 0, 7, 0, 1, b't'];

fn proxied() -> Option<harness::ProxiedBroker> {
    if harness::skip_if_external(
        "the fault proxy needs a broker of its own that advertises the proxy",
    ) {
        return None;
    }
    Some(Broker::start_behind_proxy().expect("broker behind proxy"))
}

#[test]
fn proxy_forwards_and_broker_advertises_it() {
    let Some(pb) = proxied() else { return };
    let mut conn = Connection::connect(&pb.bootstrap(), TIMEOUT).expect("connect");
    assert!(!conn.api_versions().expect("ApiVersions").is_empty());
    let mut admin = prozess::AdminClient::from_bootstrap(&pb.bootstrap()).expect("admin");
    let cluster = admin.describe_cluster().expect("describe cluster");
    assert_eq!(cluster.nodes.len(), 1);
    let b = &cluster.nodes[0];
    assert_eq!(
        format!("{}:{}", b.host, b.port),
        pb.proxy.addr().to_string()
    );
    // Topic creation and kcat also work through the proxy.
    let topic = harness::unique_topic("harness-proxy");
    harness::create_topic_on(&pb.bootstrap(), &topic, 1).expect("create");
    harness::peer::kcat_produce(&pb.bootstrap(), &topic, 0, &[("k", "v")]).expect("produce");
    let got = harness::peer::kcat_consume(&pb.bootstrap(), &topic, 0).expect("consume");
    assert_eq!(got, vec![("k".to_string(), "v".to_string(), 0)]);
    assert!(pb.proxy.accepted_count() >= 2);
}

#[test]
fn drop_all_disconnects_current_connections_only() {
    let Some(pb) = proxied() else { return };
    let mut conn = Connection::connect(&pb.bootstrap(), TIMEOUT).expect("connect");
    conn.api_versions().expect("first request");
    assert_eq!(pb.proxy.connection_count(), 1);
    pb.proxy.drop_all();
    assert_eq!(pb.proxy.connection_count(), 0);
    let err = conn.api_versions().expect_err("the connection was dropped");
    assert!(!err.0.is_empty());
    // New connections work as before.
    let mut again = Connection::connect(&pb.bootstrap(), TIMEOUT).expect("reconnect");
    again.api_versions().expect("request on a new connection");
}

#[test]
fn cut_next_response_sends_half_a_frame_then_closes() {
    let Some(pb) = proxied() else { return };
    let mut s = TcpStream::connect(pb.proxy.addr()).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    // A whole response first, to learn its size.
    s.write_all(&API_VERSIONS_V0).unwrap();
    let mut whole = Vec::new();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let len = i32::from_be_bytes(size) as usize;
    whole.resize(len, 0);
    s.read_exact(&mut whole).unwrap();

    pb.proxy.cut_next_response();
    s.write_all(&API_VERSIONS_V0).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .expect("read until the proxy closes");
    assert_eq!(&got[..4], &size, "the size prefix is forwarded intact");
    assert_eq!(got.len() - 4, len / 2, "half of the body, then EOF");
    assert_eq!(&got[4..], &whole[..len / 2]);
    assert_eq!(pb.proxy.cuts_done(), 1);
    // Only one response is cut.
    let mut conn = Connection::connect(&pb.bootstrap(), TIMEOUT).expect("reconnect");
    conn.api_versions().expect("next response is whole");
}

#[test]
fn stall_holds_bytes_until_released() {
    let Some(pb) = proxied() else { return };
    let mut s = TcpStream::connect(pb.proxy.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    pb.proxy.stall(true);
    s.write_all(&API_VERSIONS_V0).unwrap();
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected no bytes while stalled, got {other:?}"),
    }
    pb.proxy.stall(false);
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size)
        .expect("the response arrives once released");
    assert!(i32::from_be_bytes(size) > 4);
}

#[test]
fn standalone_proxy_forwards_to_any_upstream() {
    // Works against any cluster: raw requests do not follow metadata.
    let first = harness::bootstrap()
        .split(',')
        .next()
        .and_then(|a| a.trim().to_socket_addrs().ok()?.next())
        .expect("a resolvable bootstrap address");
    let proxy = FaultProxy::start(first).expect("proxy");
    let mut conn = Connection::connect(&proxy.addr().to_string(), TIMEOUT).expect("connect");
    assert!(!conn.api_versions().expect("ApiVersions").is_empty());
    drop(proxy);
    assert!(
        conn.api_versions().is_err(),
        "dropping the proxy closes its connections"
    );
}
