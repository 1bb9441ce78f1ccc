//! The group membership state machine against the real broker, over the real
//! NetworkClient: two members of one group join, split a 4-partition topic,
//! and when one leaves the other takes everything. (KafkaConsumer-level group
//! tests come with subscribe(); this checks the protocol machinery itself.)

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use prozess::consumer::group::assignor::assignor_by_name;
use prozess::consumer::group::membership::{GroupEvent, GroupMembership, MembershipConfig};
use prozess_integration_tests as harness;
use prozess_network::{KafkaClient, NetworkClient, NetworkConfig, TopicPartition};

struct Member {
    name: &'static str,
    topic: String,
    m: GroupMembership,
    c: NetworkClient,
    owned: BTreeSet<TopicPartition>,
}

impl Member {
    fn new(
        name: &'static str,
        bootstrap: &str,
        topic: &str,
        strategy: &str,
        group: &str,
    ) -> Member {
        let mut c = NetworkClient::new(NetworkConfig {
            bootstrap_servers: vec![bootstrap.to_string()],
            client_id: name.to_string(),
            ..Default::default()
        })
        .unwrap();
        c.metadata_mut().add_topics([topic]);
        let config = MembershipConfig {
            // Kafka-legal on Kafka, short on Tansu (slow join rounds).
            session_timeout: harness::group_session_timeout(),
            heartbeat_interval: harness::group_heartbeat_interval(),
            max_poll_interval: Duration::from_millis(20_000),
            ..MembershipConfig::new(group)
        };
        let m = GroupMembership::new(
            config,
            vec![assignor_by_name(strategy).unwrap()],
            Instant::now(),
        )
        .unwrap();
        Member {
            name,
            topic: topic.to_string(),
            m,
            c,
            owned: BTreeSet::new(),
        }
    }

    /// One consumer-poll iteration.
    fn step(&mut self) {
        let now = Instant::now();
        self.m.record_poll(now);
        for e in self
            .m
            .poll(&mut self.c, now, std::slice::from_ref(&self.topic))
        {
            match e {
                GroupEvent::Revoke(p) | GroupEvent::Lost(p) => {
                    for tp in p {
                        self.owned.remove(&tp);
                    }
                }
                GroupEvent::Assigned { assignment, .. } => {
                    self.owned = assignment.into_iter().collect();
                }
                // Nothing consumed here, so nothing to commit before rejoining.
                GroupEvent::PrepareJoin => {}
                GroupEvent::Fatal(e) => panic!("{}: {e}", self.name),
            }
        }
        let now = Instant::now();
        let timeout = self
            .m
            .next_deadline(now)
            .map_or(Duration::from_millis(20), |d| {
                d.saturating_duration_since(now)
            })
            .min(Duration::from_millis(20));
        for ev in self.c.poll(timeout, now) {
            self.m.handle_event(&ev, Instant::now());
        }
    }
}

fn run(strategy: &str) {
    let bootstrap = harness::bootstrap();
    let topic = harness::unique_topic("membership");
    harness::create_topic(&topic, 4);
    let group = harness::unique_topic(&format!("group-{strategy}"));
    let mut a = Member::new("a", &bootstrap, &topic, strategy, &group);
    let mut b = Member::new("b", &bootstrap, &topic, strategy, &group);
    let all: BTreeSet<TopicPartition> = (0..4)
        .map(|p| TopicPartition::new(topic.clone(), p))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        a.step();
        b.step();
        let split = a.owned.len() == 2
            && b.owned.len() == 2
            && a.owned.union(&b.owned).cloned().collect::<BTreeSet<_>>() == all;
        if split && a.m.is_stable() && b.m.is_stable() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no split: a {:?} {:?}, b {:?} {:?}",
            a.m.state(),
            a.owned,
            b.m.state(),
            b.owned
        );
    }
    let events = b.m.leave_group(&mut b.c, Instant::now(), "test done");
    assert!(matches!(&events[..], [GroupEvent::Revoke(p)] if p.len() == 2));
    while b.m.leave_in_flight() {
        let now = Instant::now();
        for ev in b.c.poll(Duration::from_millis(20), now) {
            b.m.handle_event(&ev, Instant::now());
        }
        assert!(Instant::now() < deadline, "leave not answered");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(a.owned == all && a.m.is_stable()) {
        a.step();
        assert!(
            Instant::now() < deadline,
            "a did not take over: {:?}",
            a.owned
        );
    }
}

#[test]
fn range_members_split_and_take_over() {
    run("range");
}

#[test]
fn cooperative_sticky_members_split_and_take_over() {
    run("cooperative-sticky");
}
