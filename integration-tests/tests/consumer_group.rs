//! KafkaConsumer groups against the real broker (the harness's Tansu, or the
//! cluster in PROZESS_BOOTSTRAP): subscribe with each assignor, members
//! joining and leaving, at-least-once delivery across rebalances (members
//! killed without close included), max.poll.interval.ms, a mixed group with
//! librdkafka, and static membership (Apache Kafka only).
//!
//! Tansu joins are slow (a round takes about session.timeout.ms / 2 plus 3 s
//! for followers), so scenarios run in parallel threads where they are
//! independent and each keeps its number of rebalances small. Members are
//! driven round-robin from one thread: each poll is short, and the
//! heartbeat thread keeps a member alive while the others are polled.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prozess::consumer::{
    ConsumerConfig, ConsumerRebalanceListener, Error, KafkaConsumer, StringDeserializer,
    TopicPartition,
};
use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess_integration_tests as harness;

type Consumer = KafkaConsumer<String, String>;

/// How long a scenario may wait for the group to settle.
// Generous: on Tansu a member whose heartbeat is held during another
// member's join can miss a round (session expiry, rediscovery, next round),
// and a cooperative join needs two rounds of a few seconds each.
const SETTLE: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Revoked(Vec<TopicPartition>),
    Assigned(Vec<TopicPartition>),
    Lost(Vec<TopicPartition>),
}

/// Committed positions and processed positions per partition of one
/// member, for the at-least-once bound.
#[derive(Default, Debug)]
struct Progress {
    /// Next offset after the last record processed, per partition.
    processed: HashMap<TopicPartition, i64>,
    /// Highest offset this member committed successfully, per partition.
    committed: HashMap<TopicPartition, i64>,
}

impl Progress {
    fn commit(&mut self, c: &mut Consumer) -> Result<(), Error> {
        let offsets = c.consumed_offsets();
        c.commit_sync()?;
        for (tp, om) in offsets {
            let e = self.committed.entry(tp).or_insert(0);
            *e = (*e).max(om.offset);
        }
        Ok(())
    }

    /// Records processed but never covered by one of this member's commits:
    /// the most that can be delivered again to another member.
    fn uncommitted(&self) -> i64 {
        self.processed
            .iter()
            .map(|(tp, p)| (p - self.committed.get(tp).copied().unwrap_or(0)).max(0))
            .sum()
    }
}

#[derive(Default)]
struct Shared {
    events: Vec<Ev>,
    progress: Progress,
}

/// Logs callbacks; with `commit_on_revoke` commits (sync) on revocation.
struct Recorder {
    shared: Arc<Mutex<Shared>>,
    commit_on_revoke: bool,
}

impl ConsumerRebalanceListener<String, String> for Recorder {
    fn on_partitions_revoked(
        &mut self,
        c: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        let mut s = self.shared.lock().unwrap();
        s.events.push(Ev::Revoked(partitions.to_vec()));
        if self.commit_on_revoke {
            if let Err(e) = s.progress.commit(c) {
                eprintln!("commit on revocation failed: {e}");
            }
        }
        Ok(())
    }

    fn on_partitions_assigned(
        &mut self,
        _c: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        let mut s = self.shared.lock().unwrap();
        s.events.push(Ev::Assigned(partitions.to_vec()));
        Ok(())
    }

    fn on_partitions_lost(
        &mut self,
        _c: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        let mut s = self.shared.lock().unwrap();
        s.events.push(Ev::Lost(partitions.to_vec()));
        Ok(())
    }
}

struct Member {
    name: String,
    c: Consumer,
    shared: Arc<Mutex<Shared>>,
    /// (partition, offset) of every record this member received.
    seen: Vec<(i32, i64)>,
}

/// session.timeout.ms: Tansu takes short sessions (fast joins); Apache
/// Kafka refuses less than group.min.session.timeout.ms (6 s by default).
fn session_ms() -> u64 {
    harness::group_session_timeout().as_millis() as u64
}

fn config(group: &str, extra: &[(&str, &str)]) -> ConsumerConfig {
    let bootstrap = harness::bootstrap();
    let session = session_ms().to_string();
    let heartbeat = (session_ms() / 4).to_string();
    let mut props = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("fetch.max.wait.ms", "100"),
        ("session.timeout.ms", session.as_str()),
        ("heartbeat.interval.ms", heartbeat.as_str()),
        ("max.poll.interval.ms", "20000"),
    ];
    props.extend_from_slice(extra);
    ConsumerConfig::from_properties(props).expect("config")
}

impl Member {
    fn new(name: &str, topic: &str, group: &str, extra: &[(&str, &str)], commit: bool) -> Member {
        harness::init_logging();
        let mut props = vec![("client.id", name)];
        props.extend_from_slice(extra);
        let mut c: Consumer = KafkaConsumer::new(
            config(group, &props),
            StringDeserializer,
            StringDeserializer,
        )
        .expect("consumer");
        let shared = Arc::new(Mutex::new(Shared::default()));
        c.subscribe(
            [topic],
            Recorder {
                shared: shared.clone(),
                commit_on_revoke: commit,
            },
        )
        .expect("subscribe");
        Member {
            name: name.to_string(),
            c,
            shared,
            seen: Vec::new(),
        }
    }

    /// One poll; records are "processed" (remembered) and, with `commit`,
    /// committed.
    fn step(&mut self, timeout: Duration, commit: bool) -> usize {
        let records = self.c.poll(timeout).unwrap_or_else(|e| {
            panic!("{}: poll failed: {e}", self.name);
        });
        let n = records.count();
        let mut s = self.shared.lock().unwrap();
        for r in &records {
            self.seen.push((r.partition, r.offset));
            let tp = TopicPartition::new(&*r.topic, r.partition);
            let p = s.progress.processed.entry(tp).or_insert(0);
            *p = (*p).max(r.offset + 1);
        }
        if commit && n > 0 {
            match s.progress.commit(&mut self.c) {
                Ok(()) | Err(Error::CommitFailed(_) | Error::RebalanceInProgress) => {}
                Err(e) => panic!("{}: commit failed: {e}", self.name),
            }
        }
        n
    }

    fn assignment(&self) -> BTreeSet<TopicPartition> {
        self.c.assignment().into_iter().collect()
    }

    fn events(&self) -> Vec<Ev> {
        self.shared.lock().unwrap().events.clone()
    }
}

fn all_partitions(topic: &str, n: i32) -> BTreeSet<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

/// Asserts no partition is owned by two members.
fn assert_disjoint(members: &[&Member]) {
    let mut owner: BTreeMap<TopicPartition, &str> = BTreeMap::new();
    for m in members {
        for tp in m.assignment() {
            if let Some(other) = owner.insert(tp.clone(), &m.name) {
                panic!("{tp} owned by both {other} and {}", m.name);
            }
        }
    }
}

/// Polls every member round-robin until their assignments cover `all`
/// exactly with the given sizes (sorted), checking after every poll that
/// no partition has two owners.
fn settle(members: &mut [&mut Member], all: &BTreeSet<TopicPartition>, sizes: &[usize]) {
    let start = Instant::now();
    let mut stable_rounds = 0;
    loop {
        for m in members.iter_mut() {
            m.step(Duration::from_millis(50), true);
        }
        let view: Vec<&Member> = members.iter().map(|m| &**m).collect();
        assert_disjoint(&view);
        let mut got: Vec<usize> = view.iter().map(|m| m.assignment().len()).collect();
        got.sort_unstable();
        let union: BTreeSet<TopicPartition> = view.iter().flat_map(|m| m.assignment()).collect();
        if &union == all && got == sizes {
            // Stay a few rounds: a follow-up rebalance (cooperative) would
            // show here.
            stable_rounds += 1;
            if stable_rounds >= 20 {
                return;
            }
        } else {
            stable_rounds = 0;
        }
        assert!(
            start.elapsed() < SETTLE,
            "group did not settle on sizes {sizes:?}: {:?}",
            view.iter()
                .map(|m| (m.name.clone(), m.assignment()))
                .collect::<Vec<_>>()
        );
    }
}

/// Two members split 4 partitions 2/2; a third joins (2/1/1); one leaves
/// (2/2). With cooperative-sticky the members that stay lose only what
/// moves and nothing else is revoked.
fn join_and_leave(strategy: &str) {
    let topic = harness::unique_topic(&format!("group-{strategy}"));
    harness::create_topic(&topic, 4);
    let group = harness::unique_topic(&format!("g-{strategy}"));
    let extra = [("partition.assignment.strategy", strategy)];
    let all = all_partitions(&topic, 4);
    let mut a = Member::new("a", &topic, &group, &extra, true);
    let mut b = Member::new("b", &topic, &group, &extra, true);
    settle(&mut [&mut a, &mut b], &all, &[2, 2]);

    let (before_a, before_b) = (a.assignment(), b.assignment());
    let (events_a, events_b) = (a.events().len(), b.events().len());
    let mut c = Member::new("c", &topic, &group, &extra, true);
    settle(&mut [&mut a, &mut b, &mut c], &all, &[1, 1, 2]);
    if strategy == "cooperative-sticky" {
        assert!(
            a.assignment().is_subset(&before_a) && b.assignment().is_subset(&before_b),
            "sticky: the old members only give partitions up"
        );
        let moved: BTreeSet<TopicPartition> = c.assignment();
        let mut revoked = BTreeSet::new();
        for ev in a.events()[events_a..]
            .iter()
            .chain(b.events()[events_b..].iter())
        {
            match ev {
                Ev::Revoked(p) => revoked.extend(p.iter().cloned()),
                Ev::Lost(p) => panic!("no partition may be lost: {p:?}"),
                Ev::Assigned(_) => {}
            }
        }
        assert_eq!(revoked, moved, "cooperative: only moved partitions revoked");
    }

    b.c.close(Duration::from_secs(10)).expect("close");
    assert!(
        matches!(b.events().last(), Some(Ev::Revoked(_))),
        "close revokes (listener) before leaving: {:?}",
        b.events()
    );
    settle(&mut [&mut a, &mut c], &all, &[2, 2]);
    a.c.close(Duration::from_secs(10)).expect("close");
    c.c.close(Duration::from_secs(10)).expect("close");
}

/// The strategies run one after another: twelve members with heartbeat
/// threads at once starved the 2-core CI machine.
///
/// Not on Tansu: it holds a heartbeat that arrives during another member's
/// join unanswered until the round ends (about session.timeout.ms / 2 plus
/// 3 s, longer than the 2 s sessions Tansu's slow joins call for), so with
/// three members the one left out expires its session, rejoins, and leaves
/// out another: generation after generation (seen in CI: 100+ generations in
/// 3 minutes, b and c taking turns). Apache Kafka answers such heartbeats at
/// once with REBALANCE_IN_PROGRESS; the test runs in the Kafka stages.
#[test]
fn members_split_join_and_leave_with_each_assignor() {
    if harness::skip_on(
        harness::is_tansu(),
        "Tansu leaves heartbeats unanswered during another member's join, so three members \
         with Tansu-short sessions take turns expiring; runs in the Apache Kafka stages",
    ) {
        return;
    }
    for strategy in ["range", "roundrobin", "sticky", "cooperative-sticky"] {
        join_and_leave(strategy);
    }
}

fn produce_spread(topic: &str, partitions: i32, n: usize) {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", harness::bootstrap().as_str()),
        ("linger.ms", "5"),
    ])
    .expect("producer config");
    let p: KafkaProducer<String, String> =
        KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer");
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        let record = ProducerRecord::with_key(topic.to_string(), format!("k{i}"), format!("v{i}"))
            .partition(i as i32 % partitions);
        futures.push(p.send(record));
    }
    p.flush();
    for f in futures {
        f.get().expect("delivered");
    }
    p.close(Duration::from_secs(10));
}

/// At-least-once across rebalances: members come and go (one is killed
/// without close) while 100,000 records are consumed with commit_sync after
/// each poll and in on_partitions_revoked. Nothing is lost; duplicates are
/// at most what members processed without a commit covering it.
#[test]
fn at_least_once_across_members_coming_and_going() {
    const N: usize = 100_000;
    let topic = harness::unique_topic("group-alo");
    harness::create_topic(&topic, 4);
    produce_spread(&topic, 4, N);
    let group = harness::unique_topic("g-alo");
    let extra = [("max.poll.records", "300")];
    let mut members: Vec<Member> = vec![
        Member::new("a", &topic, &group, &extra, true),
        Member::new("b", &topic, &group, &extra, true),
    ];
    let mut finished: Vec<Member> = Vec::new();
    let mut killed_bound = 0i64;
    let mut seen: HashMap<(i32, i64), u32> = HashMap::new();
    let mut phase = 0;
    let start = Instant::now();
    loop {
        for m in members.iter_mut() {
            m.step(Duration::from_millis(50), true);
            for k in m.seen.drain(..) {
                *seen.entry(k).or_default() += 1;
            }
        }
        let distinct = seen.len();
        if distinct >= N {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "only {distinct} of {N} records consumed"
        );
        match phase {
            0 if distinct >= N / 5 => {
                members.push(Member::new("c", &topic, &group, &extra, true));
                phase = 1;
            }
            1 if distinct >= 2 * N / 5 => {
                // Killed: no close, no LeaveGroup, no final commit; its
                // partitions move once its session times out. Process one
                // more poll without committing so some records are
                // certainly delivered again.
                let mut b = members.remove(1);
                b.step(Duration::from_millis(200), false);
                for k in b.seen.drain(..) {
                    *seen.entry(k).or_default() += 1;
                }
                killed_bound += b.shared.lock().unwrap().progress.uncommitted();
                drop(b);
                phase = 2;
            }
            2 if distinct >= 3 * N / 5 => {
                let mut a = members.remove(0);
                a.c.close(Duration::from_secs(10)).expect("close");
                finished.push(a);
                members.push(Member::new("d", &topic, &group, &extra, true));
                phase = 3;
            }
            _ => {}
        }
    }
    let duplicates: i64 = seen.values().map(|&n| i64::from(n) - 1).sum();
    for m in members.iter_mut() {
        m.c.close(Duration::from_secs(10)).expect("close");
    }
    // Every member's records without a covering commit (closed members
    // committed in on_partitions_revoked; failed commits count here too).
    let bound = killed_bound
        + finished
            .iter()
            .chain(members.iter())
            .map(|m| m.shared.lock().unwrap().progress.uncommitted())
            .sum::<i64>();
    eprintln!(
        "at-least-once: {N} records, {duplicates} duplicates (bound {bound}), {:?}",
        start.elapsed()
    );
    let mut missing = 0;
    for i in 0..N {
        let (p, off) = ((i % 4) as i32, (i / 4) as i64);
        if !seen.contains_key(&(p, off)) {
            missing += 1;
        }
    }
    assert_eq!(missing, 0, "records lost");
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates but only {bound} records were processed without a commit"
    );
}

/// Polls `m` alone for `d` (the others "process" meanwhile).
fn poll_alone_for(m: &mut Member, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        m.step(Duration::from_millis(50), true);
    }
}

/// KIP-62: a member that processes longer than session.timeout.ms but less
/// than max.poll.interval.ms keeps its partitions (the heartbeat thread
/// keeps it alive); one that stays away longer than max.poll.interval.ms
/// leaves, its partitions move, a commit for its old generation fails with
/// a clear error, and its next poll reports them lost and rejoins.
#[test]
fn max_poll_interval_decides_who_keeps_partitions() {
    let topic = harness::unique_topic("group-poll-interval");
    harness::create_topic(&topic, 4);
    let group = harness::unique_topic("g-poll-interval");
    let session = session_ms();
    let max_poll = (3 * session).to_string();
    let extra = [
        ("partition.assignment.strategy", "range"),
        ("max.poll.interval.ms", max_poll.as_str()),
    ];
    let all = all_partitions(&topic, 4);
    let mut a = Member::new("a", &topic, &group, &extra, true);
    let mut b = Member::new("b", &topic, &group, &extra, true);
    settle(&mut [&mut a, &mut b], &all, &[2, 2]);
    let (owned_a, owned_b, events_a) = (a.assignment(), b.assignment(), a.events().len());

    // Longer than the session, shorter than max.poll.interval.ms.
    poll_alone_for(&mut b, Duration::from_millis(2 * session));
    a.step(Duration::from_millis(50), true);
    poll_alone_for(&mut b, Duration::from_millis(session / 2));
    assert_eq!(
        a.events().len(),
        events_a,
        "a kept its membership: {:?}",
        a.events()
    );
    assert_eq!((a.assignment(), b.assignment()), (owned_a.clone(), owned_b));

    // Longer than max.poll.interval.ms: b takes everything meanwhile.
    let until = Instant::now() + Duration::from_millis(4 * session + 2_000);
    let mut b_took_all = false;
    while Instant::now() < until && !b_took_all {
        b.step(Duration::from_millis(50), true);
        b_took_all = b.assignment() == all;
    }
    assert!(
        b_took_all,
        "a's partitions moved to b: b owns {:?}",
        b.assignment()
    );
    match a.c.commit_sync() {
        Err(Error::CommitFailed(m)) => eprintln!("expected commit failure: {m}"),
        other => panic!("a commit for the old generation must fail, got {other:?}"),
    }
    a.step(Duration::from_millis(50), true);
    assert!(
        a.events()[events_a..].contains(&Ev::Lost(owned_a.into_iter().collect())),
        "a's next poll reports its partitions lost: {:?}",
        a.events()
    );
    b.c.close(Duration::from_secs(10)).expect("close");
    a.c.close(Duration::from_secs(10)).expect("close");
}

const PY_MEMBER: &str = r#"
import sys, time
from confluent_kafka import Consumer, KafkaError, KafkaException
bootstrap, topic, group, session, secs = sys.argv[1:6]
c = Consumer({
    'bootstrap.servers': bootstrap, 'group.id': group, 'client.id': 'librdkafka-member',
    'partition.assignment.strategy': 'range', 'session.timeout.ms': int(session),
    'heartbeat.interval.ms': int(session) // 4, 'auto.offset.reset': 'earliest',
    'enable.auto.commit': False, 'fetch.wait.max.ms': 100,
})
def on_assign(consumer, parts):
    print('ASSIGNED ' + ','.join(str(p.partition) for p in parts), flush=True)
def on_revoke(consumer, parts):
    # Commit what was consumed, so the next owner goes on from there.
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as e:
        if e.args[0].code() != KafkaError._NO_OFFSET:  # nothing consumed yet
            print('COMMIT-FAILED %s' % e, flush=True)
    print('REVOKED ' + ','.join(str(p.partition) for p in parts), flush=True)
c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
end = time.time() + float(secs)
while time.time() < end:
    m = c.poll(0.1)
    if m is None or m.error():
        continue
    print('REC %d %d' % (m.partition(), m.offset()), flush=True)
c.close()
print('CLOSED', flush=True)
"#;

/// A prozess member and a librdkafka member, both with range, share one
/// group: they split the partitions and consume without overlap. Each
/// commits what it consumed when partitions are revoked (prozess also after
/// every poll), so whichever member joins first and reads everything, the
/// other goes on from the committed offsets: on Apache Kafka a first member
/// often owns all four partitions before the second joins (joins take
/// milliseconds), on Tansu both usually join in one round. Every record a
/// member receives must be of a partition it owns at that moment.
#[test]
fn mixed_group_with_librdkafka_splits_without_overlap() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let topic = harness::unique_topic("group-mixed");
    harness::create_topic(&topic, 4);
    produce_spread(&topic, 4, 400);
    let group = harness::unique_topic("g-mixed");
    let session = session_ms().to_string();
    let mut child = harness::peer::python()
        .args([
            "-c",
            PY_MEMBER,
            &harness::bootstrap(),
            &topic,
            &group,
            &session,
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python peer");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let out = child.stdout.take().expect("stdout");
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            sink.lock().unwrap().push(line);
        }
    });
    let mut p = Member::new(
        "prozess",
        &topic,
        &group,
        &[("partition.assignment.strategy", "range")],
        true,
    );
    let start = Instant::now();
    let (mut py_parts, mut py_records) = (BTreeSet::<i32>::new(), BTreeSet::new());
    let mut prozess_records = BTreeSet::new();
    loop {
        p.step(Duration::from_millis(100), true);
        let ours: BTreeSet<i32> = p.assignment().iter().map(|tp| tp.partition).collect();
        for (part, off) in p.seen.drain(..) {
            assert!(
                ours.contains(&part),
                "prozess returned a record of partition {part} (offset {off}) it does not own: {ours:?}"
            );
            assert!(
                prozess_records.insert((part, off)),
                "prozess got partition {part} offset {off} twice"
            );
        }
        for line in lines.lock().unwrap().drain(..) {
            let mut w = line.split_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some("ASSIGNED"), parts, _) => {
                    py_parts = parts
                        .unwrap_or("")
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| s.parse::<i32>().expect("partition"))
                        .collect();
                }
                (Some("REVOKED"), _, _) => py_parts.clear(),
                (Some("REC"), Some(part), Some(off)) => {
                    let part = part.parse::<i32>().unwrap();
                    assert!(
                        py_parts.contains(&part),
                        "librdkafka got a record of partition {part} it does not own: {py_parts:?}"
                    );
                    py_records.insert((part, off.parse::<i64>().unwrap()));
                }
                (Some("COMMIT-FAILED"), _, _) => panic!("librdkafka: {line}"),
                _ => {}
            }
        }
        let ours: BTreeSet<i32> = p.assignment().iter().map(|tp| tp.partition).collect();
        assert!(
            ours.is_disjoint(&py_parts),
            "both own a partition: prozess {ours:?}, librdkafka {py_parts:?}"
        );
        if ours.len() == 2 && py_parts.len() == 2 && prozess_records.len() + py_records.len() >= 400
        {
            break;
        }
        assert!(
            start.elapsed() < SETTLE,
            "no split: prozess {ours:?} with {} records, librdkafka {py_parts:?} with {}",
            prozess_records.len(),
            py_records.len()
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    assert!(
        prozess_records.is_disjoint(&py_records),
        "a record consumed by both"
    );
    assert_eq!(prozess_records.len() + py_records.len(), 400);
    drop(p);
}

/// KIP-345: a static member (group.instance.id) restarted within
/// session.timeout.ms gets its partitions back without a rebalance of the
/// others. Tansu accepts group.instance.id but rebalances on the restart
/// (BROKERS.md): this runs against Apache Kafka only.
#[test]
fn static_member_restart_does_not_rebalance_the_others() {
    if harness::skip_on(
        harness::is_tansu(),
        "Tansu has no static-membership semantics (a restarted static member causes a full \
         rebalance); runs in the Apache Kafka stages",
    ) {
        return;
    }
    let topic = harness::unique_topic("group-static");
    harness::create_topic(&topic, 4);
    let group = harness::unique_topic("g-static");
    let all = all_partitions(&topic, 4);
    let static_a = [
        ("partition.assignment.strategy", "range"),
        ("group.instance.id", "instance-a"),
    ];
    let static_b = [
        ("partition.assignment.strategy", "range"),
        ("group.instance.id", "instance-b"),
    ];
    let mut a = Member::new("a", &topic, &group, &static_a, true);
    let mut b = Member::new("b", &topic, &group, &static_b, true);
    settle(&mut [&mut a, &mut b], &all, &[2, 2]);
    let owned_a = a.assignment();
    let (events_b, generation_b) = (
        b.events().len(),
        b.c.group_metadata().unwrap().generation_id,
    );
    // A static member leaves without LeaveGroup: its place is kept.
    a.c.close(Duration::from_secs(10)).expect("close");
    drop(a);
    let mut a = Member::new("a2", &topic, &group, &static_a, true);
    let start = Instant::now();
    while a.assignment() != owned_a {
        a.step(Duration::from_millis(50), true);
        b.step(Duration::from_millis(50), true);
        assert!(
            start.elapsed() < SETTLE,
            "the restarted member got {:?}",
            a.assignment()
        );
    }
    poll_alone_for(&mut b, Duration::from_secs(2));
    assert_eq!(
        b.events().len(),
        events_b,
        "no rebalance for b: {:?}",
        b.events()
    );
    assert_eq!(b.c.group_metadata().unwrap().generation_id, generation_b);
    b.c.close(Duration::from_secs(10)).expect("close");
    a.c.close(Duration::from_secs(10)).expect("close");
}

/// subscribe_pattern: topics that match are consumed, including one created
/// after the subscription (picked up at a metadata refresh, after which the
/// group rebalances).
#[test]
fn pattern_subscription_picks_up_new_topics() {
    let prefix = harness::unique_topic("group-pattern");
    let (first, second) = (format!("{prefix}-x1"), format!("{prefix}-x2"));
    harness::create_topic(&first, 2);
    produce_spread(&first, 2, 10);
    let group = harness::unique_topic("g-pattern");
    let mut c: Consumer = KafkaConsumer::new(
        config(&group, &[("metadata.max.age.ms", "1000")]),
        StringDeserializer,
        StringDeserializer,
    )
    .expect("consumer");
    // unique_topic uses only [A-Za-z0-9._-]: escape the dots.
    let pattern = format!("{}-x[0-9]+", prefix.replace('.', "\\."));
    c.subscribe_pattern(&pattern, prozess::consumer::NoOpRebalanceListener)
        .expect("subscribe_pattern");
    let mut seen: BTreeSet<(String, i32, i64)> = BTreeSet::new();
    let mut created = false;
    let start = Instant::now();
    while seen.len() < 20 {
        for r in c.poll(Duration::from_millis(100)).expect("poll") {
            seen.insert((r.topic.to_string(), r.partition, r.offset));
        }
        if !created && seen.len() >= 10 {
            harness::create_topic(&second, 2);
            produce_spread(&second, 2, 10);
            created = true;
        }
        assert!(
            start.elapsed() < SETTLE,
            "pattern consumed {} records, subscription {:?}",
            seen.len(),
            c.subscription()
        );
    }
    assert_eq!(c.subscription(), vec![first.clone(), second.clone()]);
    assert_eq!(seen.iter().filter(|(t, _, _)| *t == second).count(), 10);
    c.close(Duration::from_secs(10)).expect("close");
}

/// group.protocol=consumer (KIP-848) where the broker lacks
/// ConsumerGroupHeartbeat (Tansu): the consumer fails with a clear error
/// instead of hanging.
#[test]
fn consumer_group_protocol_kip848_unsupported_fails_clearly() {
    if harness::skip_on(
        !harness::is_tansu(),
        "this broker has ConsumerGroupHeartbeat (KIP-848): consumer_group_protocol_kip848 runs instead",
    ) {
        return;
    }
    let topic = harness::unique_topic("group-kip848-none");
    harness::create_topic(&topic, 4);
    let group = harness::unique_topic("g-kip848-none");
    let extra = [("group.protocol", "consumer")];
    let mut c: Consumer = KafkaConsumer::new(
        config(&group, &extra),
        StringDeserializer,
        StringDeserializer,
    )
    .expect("consumer");
    c.subscribe([&topic], prozess::consumer::NoOpRebalanceListener)
        .expect("subscribe");
    let start = Instant::now();
    let error = loop {
        match c.poll(Duration::from_millis(100)) {
            Err(e) => break e,
            Ok(_) => assert!(
                start.elapsed() < SETTLE,
                "no error for group.protocol=consumer"
            ),
        }
    };
    assert!(
        matches!(&error, Error::Group(e) if e.to_string().contains("ConsumerGroupHeartbeat")),
        "{error}"
    );
}

/// group.protocol=consumer (KIP-848): against Apache Kafka 4.0 two members
/// split the partitions with the broker's assignor, and one takes over all
/// of them when the other leaves.
#[test]
fn consumer_group_protocol_kip848() {
    if harness::skip_on(
        harness::is_tansu(),
        "Tansu has no ConsumerGroupHeartbeat (KIP-848)",
    ) {
        return;
    }
    let topic = harness::unique_topic("group-kip848");
    harness::create_topic(&topic, 4);
    let group = harness::unique_topic("g-kip848");
    let extra = [("group.protocol", "consumer")];
    let all = all_partitions(&topic, 4);
    let mut a = Member::new("a", &topic, &group, &extra, true);
    let mut b = Member::new("b", &topic, &group, &extra, true);
    settle(&mut [&mut a, &mut b], &all, &[2, 2]);
    b.c.close(Duration::from_secs(10)).expect("close");
    settle(&mut [&mut a], &all, &[4]);
    a.c.close(Duration::from_secs(10)).expect("close");
}
