//! Group protocol decoding stays within a small multiple of its input: a
//! counting global allocator measures the peak heap use of decoding what
//! other group members (and the group coordinator) send — assignments,
//! subscriptions, sticky user data, KIP-848 target assignments — built to be
//! as large as a message may be, with the layouts that amplify most (long
//! topic names over many partitions, many tiny topics).
//!
//! Its own test binary because it replaces the global allocator (as
//! protocol/tests/alloc_bound.rs). The counters are per thread, so tests
//! running in parallel do not mix their measurements.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use prozess_consumer::group::assignor::decode_sticky_user_data;
use prozess_consumer::group::consumer_group_heartbeat::ConsumerGroupMembership;
use prozess_consumer::group::consumer_protocol::{Assignment, Subscription};
use prozess_consumer::group::membership::MembershipConfig;
use prozess_network::mock::MockClient;
use prozess_network::{ClientEvent, ClientResponse, KafkaClient, MetadataSnapshot};
use prozess_protocol::messages::consumer_group_heartbeat::response::{
    Assignment as TargetAssignment, TopicPartitions,
};
use prozess_protocol::messages::find_coordinator::response::Coordinator;
use prozess_protocol::messages::{ConsumerGroupHeartbeatResponse, FindCoordinatorResponse};
use prozess_protocol::{ApiKey, ResponseBody, Uuid};

#[path = "../../protocol/tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::peak_of;

/// A decoded structure may be larger than its encoding (a 3-byte topic name
/// becomes a 24-byte `String` and its heap block), so the bound is a small
/// factor per input byte; what it rules out is a copy of the topic name per
/// partition (70x for long names) and allocations the input does not back.
const FACTOR: usize = 12;
const CONSTANT: usize = 64 * 1024;

fn assert_bounded(what: &str, input_len: usize, peak: usize) {
    let bound = FACTOR * input_len + CONSTANT;
    assert!(
        peak <= bound,
        "{what}: decoding {input_len} bytes took {peak} bytes of heap ({}x), more than {bound}",
        peak / input_len.max(1)
    );
}

const MB: usize = 1 << 20;

/// `[topic, [partition]]` with one topic of the longest name Kafka allows and
/// as many partitions as fit in about `size` bytes.
fn long_name_partitions(buf: &mut BytesMut, size: usize) {
    let name = "x".repeat(249);
    let n = (size - 2 - name.len() - 8) / 4;
    buf.put_i32(1);
    buf.put_i16(name.len() as i16);
    buf.put_slice(name.as_bytes());
    buf.put_i32(n as i32);
    for p in 0..n {
        buf.put_i32(p as i32);
    }
}

/// `[topic, [partition]]` with as many one-partition topics of short names
/// as fit in about `size` bytes.
fn many_topics_partitions(buf: &mut BytesMut, size: usize) {
    let n = size / 13;
    buf.put_i32(n as i32);
    for t in 0..n {
        let name = format!("{:03}", t % 1000);
        buf.put_i16(name.len() as i16);
        buf.put_slice(name.as_bytes());
        buf.put_i32(1);
        buf.put_i32(t as i32);
    }
}

fn assignment(partitions: impl Fn(&mut BytesMut, usize)) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(3);
    partitions(&mut buf, MB);
    buf.put_i32(-1); // no user data
    buf.freeze()
}

#[test]
fn assignments_decode_within_a_small_multiple_of_their_size() {
    for (what, bytes) in [
        ("long topic name", assignment(long_name_partitions)),
        ("many topics", assignment(many_topics_partitions)),
    ] {
        let len = bytes.len();
        let peak = peak_of(|| Assignment::decode(bytes.clone()).expect("a valid assignment"));
        assert_bounded(&format!("Assignment ({what})"), len, peak);
    }
}

#[test]
fn subscriptions_decode_within_a_small_multiple_of_their_size() {
    // The leader decodes every member's metadata from JoinGroup.
    let mut owned = BytesMut::new();
    owned.put_i16(3);
    owned.put_i32(0); // topics
    owned.put_i32(-1); // user data
    long_name_partitions(&mut owned, MB);
    owned.put_i32(7); // generation
    owned.put_i16(-1); // rack
    let mut topics = BytesMut::new();
    topics.put_i16(3);
    let n = MB / 3;
    topics.put_i32(n as i32);
    for t in 0..n {
        topics.put_i16(1);
        topics.put_u8(b'a' + (t % 26) as u8);
    }
    topics.put_i32(-1);
    topics.put_i32(0); // owned partitions
    topics.put_i32(7);
    topics.put_i16(-1);
    for (what, bytes) in [
        ("owned partitions", owned.freeze()),
        ("many topics", topics.freeze()),
    ] {
        let len = bytes.len();
        let peak = peak_of(|| Subscription::decode(bytes.clone()).expect("a valid subscription"));
        assert_bounded(&format!("Subscription ({what})"), len, peak);
    }
}

#[test]
fn sticky_user_data_decodes_within_a_small_multiple_of_its_size() {
    for (what, fill) in [
        (
            "long topic name",
            long_name_partitions as fn(&mut BytesMut, usize),
        ),
        ("many topics", many_topics_partitions),
    ] {
        let mut buf = BytesMut::new();
        fill(&mut buf, MB);
        buf.put_i32(3); // generation
        let bytes = buf.freeze();
        let len = bytes.len();
        let peak = peak_of(|| decode_sticky_user_data(bytes.clone()).expect("valid user data"));
        assert_bounded(&format!("sticky user data ({what})"), len, peak);
    }
}

#[test]
fn a_kip_848_target_assignment_is_held_within_a_small_multiple_of_its_size() {
    // The broker's ConsumerGroupHeartbeat answer names partitions by topic
    // id; the member keeps the target until metadata resolves it.
    let now = Instant::now();
    let mut client = MockClient::new_with_cluster_at(&[0], &[("t", 4)], now);
    let mut config = MembershipConfig::new("g");
    config.max_poll_interval = Duration::from_secs(300);
    let mut m = ConsumerGroupMembership::new(config, None, now);
    let topics = vec!["t".to_string()];
    client.prepare_response_for(ResponseBody::FindCoordinator(FindCoordinatorResponse {
        coordinators: vec![Coordinator {
            key: "g".into(),
            node_id: 0,
            host: "localhost".into(),
            port: 9092,
            ..Default::default()
        }],
        ..Default::default()
    }));
    let mut heartbeat = None;
    for _ in 0..5 {
        m.poll(&mut client, now, &topics);
        if let Some((node, corr, _)) = client
            .in_flight_requests()
            .into_iter()
            .find(|(_, _, b)| b.api_key() == ApiKey::ConsumerGroupHeartbeat)
        {
            heartbeat = Some((node, corr));
            break;
        }
        for e in client.poll(Duration::ZERO, now) {
            m.handle_event(&e, now);
        }
    }
    let (node, corr) = heartbeat.expect("a ConsumerGroupHeartbeat in flight");
    let t_id = MetadataSnapshot::simple(&[0], &[("t", 4)]).topics[0].topic_id;
    let n = MB / 4;
    let mut unknown = Uuid([7; 16]);
    let mut topic_partitions = vec![TopicPartitions {
        topic_id: t_id,
        partitions: (0..n as i32).collect(),
        ..Default::default()
    }];
    // Many topics the member has no metadata for, one partition each.
    for i in 0..(MB / 24) {
        unknown.0[..8].copy_from_slice(&(i as u64).to_be_bytes());
        topic_partitions.push(TopicPartitions {
            topic_id: unknown,
            partitions: vec![0],
            ..Default::default()
        });
    }
    let response = ConsumerGroupHeartbeatResponse {
        member_id: Some("m".into()),
        member_epoch: 1,
        heartbeat_interval_ms: 3000,
        assignment: Some(TargetAssignment {
            topic_partitions,
            ..Default::default()
        }),
        ..Default::default()
    };
    let version = ApiKey::ConsumerGroupHeartbeat.supported_versions().1;
    let mut buf = BytesMut::new();
    response.encode(version, &mut buf).unwrap();
    let bytes = buf.freeze();
    let len = bytes.len();
    let peak = peak_of(|| {
        let body = ConsumerGroupHeartbeatResponse::decode(&mut bytes.clone(), version).unwrap();
        let event = ClientEvent::Response(ClientResponse {
            node,
            correlation_id: corr,
            api_key: ApiKey::ConsumerGroupHeartbeat,
            api_version: version,
            body: ResponseBody::ConsumerGroupHeartbeat(body),
        });
        assert!(m.handle_event(&event, now), "the answer is the member's");
        drop(event);
        // Reconciliation resolves the known topic against metadata.
        m.poll(&mut client, now, &topics)
    });
    assert_bounded("ConsumerGroupHeartbeat target assignment", len, peak);
}
