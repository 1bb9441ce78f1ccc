//! ConsumerProtocol: the bytes a classic consumer group carries inside
//! JoinGroup (member metadata = [`Subscription`]) and SyncGroup (member
//! assignment = [`Assignment`]) for protocol type `"consumer"`.
//!
//! Both are versioned (v0-v3) and forward compatible: a member that receives a
//! newer version reads the fields it knows and ignores the rest, so prozess,
//! librdkafka and Java members can share one group.

use std::collections::BTreeMap;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use prozess_network::TopicPartition;
use prozess_protocol::primitives::*;
use prozess_protocol::{DecodeError, DecodeErrorKind};

/// The protocol type of consumer groups in JoinGroup.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
/// Newest Subscription/Assignment version prozess writes.
pub const CONSUMER_PROTOCOL_VERSION: i16 = 3;

/// What a member sends when it joins: the topics it wants and what it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topics: Vec<String>,
    /// Assignor-specific data (the sticky assignor's previous assignment).
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (v1+; cooperative rebalancing needs it).
    pub owned_partitions: TopicPartitionList,
    /// Generation in which `owned_partitions` were assigned (v2+, -1 unknown).
    pub generation_id: i32,
    /// The member's rack (v3+), for rack-aware assignment.
    pub rack_id: Option<String>,
    /// Static membership id from the JoinGroup response; not encoded (the
    /// leader fills it in) but used by assignors to order members.
    pub group_instance_id: Option<String>,
}

impl Default for Subscription {
    fn default() -> Self {
        Subscription {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: TopicPartitionList::new(),
            generation_id: -1,
            rack_id: None,
            group_instance_id: None,
        }
    }
}

/// What the leader hands each member in SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    pub partitions: TopicPartitionList,
    pub user_data: Option<Bytes>,
}

/// A list of partitions held as runs of one topic: the topic name is stored
/// once per run, not once per partition, so a decoded list takes about the
/// room of its encoding (4 bytes a partition) however long the names are.
/// Order and duplicates are kept as given; two lists are equal when they
/// hold the same partitions in the same order.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TopicPartitionList {
    /// Consecutive partitions of one topic; no run is empty and no two
    /// neighbouring runs share a topic.
    runs: Vec<(String, Vec<i32>)>,
    len: usize,
}

impl TopicPartitionList {
    /// An empty list.
    pub fn new() -> Self {
        TopicPartitionList::default()
    }

    /// Appends one partition.
    pub fn push(&mut self, topic: &str, partition: i32) {
        match self.runs.last_mut() {
            Some((t, parts)) if t == topic => parts.push(partition),
            _ => self.runs.push((topic.to_string(), vec![partition])),
        }
        self.len += 1;
    }

    /// How many partitions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The partitions, in order (each as its own `TopicPartition`).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            runs: self.runs.iter(),
            current: None,
        }
    }

    /// The runs of one topic, in order: `(topic, partitions)`.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &[i32])> {
        self.runs.iter().map(|(t, p)| (t.as_str(), p.as_slice()))
    }

    /// Every partition as a `TopicPartition` (one topic name copy each).
    pub fn to_vec(&self) -> Vec<TopicPartition> {
        self.iter().collect()
    }

    /// Whether `tp` is in the list.
    pub fn contains(&self, tp: &TopicPartition) -> bool {
        self.topics()
            .any(|(t, p)| t == tp.topic && p.contains(&tp.partition))
    }
}

/// Iterator over a [`TopicPartitionList`].
pub struct Iter<'a> {
    runs: std::slice::Iter<'a, (String, Vec<i32>)>,
    current: Option<(&'a str, std::slice::Iter<'a, i32>)>,
}

impl Iterator for Iter<'_> {
    type Item = TopicPartition;

    fn next(&mut self) -> Option<TopicPartition> {
        loop {
            if let Some((topic, parts)) = self.current.as_mut() {
                if let Some(p) = parts.next() {
                    return Some(TopicPartition::new(*topic, *p));
                }
            }
            let (t, parts) = self.runs.next()?;
            self.current = Some((t.as_str(), parts.iter()));
        }
    }
}

impl<'a> IntoIterator for &'a TopicPartitionList {
    type Item = TopicPartition;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl FromIterator<TopicPartition> for TopicPartitionList {
    fn from_iter<I: IntoIterator<Item = TopicPartition>>(iter: I) -> Self {
        let mut list = TopicPartitionList::new();
        for tp in iter {
            list.push(&tp.topic, tp.partition);
        }
        list
    }
}

impl<'a> FromIterator<&'a TopicPartition> for TopicPartitionList {
    fn from_iter<I: IntoIterator<Item = &'a TopicPartition>>(iter: I) -> Self {
        let mut list = TopicPartitionList::new();
        for tp in iter {
            list.push(&tp.topic, tp.partition);
        }
        list
    }
}

impl Extend<TopicPartition> for TopicPartitionList {
    fn extend<I: IntoIterator<Item = TopicPartition>>(&mut self, iter: I) {
        for tp in iter {
            self.push(&tp.topic, tp.partition);
        }
    }
}

impl From<Vec<TopicPartition>> for TopicPartitionList {
    fn from(v: Vec<TopicPartition>) -> Self {
        v.into_iter().collect()
    }
}

impl From<&[TopicPartition]> for TopicPartitionList {
    fn from(v: &[TopicPartition]) -> Self {
        v.iter().collect()
    }
}

impl PartialEq<Vec<TopicPartition>> for TopicPartitionList {
    fn eq(&self, other: &Vec<TopicPartition>) -> bool {
        self.len == other.len() && self.iter().zip(other).all(|(a, b)| a == *b)
    }
}

impl fmt::Debug for TopicPartitionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

fn ctx(field: &'static str) -> impl Fn(DecodeError) -> DecodeError {
    move |e| e.within(field)
}

/// Groups partitions by topic (sorted) for the wire layout `[topic, [partition]]`.
fn by_topic(partitions: &TopicPartitionList) -> BTreeMap<&str, Vec<i32>> {
    let mut m: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, parts) in partitions.topics() {
        m.entry(topic).or_default().extend_from_slice(parts);
    }
    for v in m.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    m
}

pub(crate) fn write_topic_partitions(buf: &mut BytesMut, partitions: &TopicPartitionList) {
    let grouped = by_topic(partitions);
    buf.put_i32(grouped.len() as i32);
    for (topic, parts) in grouped {
        // Topic names are at most 249 bytes; the unwrap-free write keeps that.
        let _ = write_string(buf, false, topic);
        buf.put_i32(parts.len() as i32);
        for p in parts {
            buf.put_i32(p);
        }
    }
}

/// Reads `[topic, [partition]]`. Each topic's name is held once (a list of
/// runs), so the result takes about the room of the input; an empty or
/// over-long topic name, or a count the input cannot hold, is an error
/// naming the field.
pub(crate) fn read_topic_partitions(buf: &mut Bytes) -> Result<TopicPartitionList, DecodeError> {
    // A topic entry is at least a 2-byte name length, one name byte and a
    // 4-byte partition count.
    let n = read_array_len(buf, false, 7)
        .map_err(ctx("topics"))?
        .unwrap_or(0);
    let mut out = TopicPartitionList::new();
    out.runs.reserve_exact(n);
    for _ in 0..n {
        let topic = read_string(buf, false).map_err(ctx("topic"))?;
        if topic.is_empty() || topic.len() > prozess_network::MAX_TOPIC_NAME_LEN {
            return Err(DecodeError::new(
                "topic",
                DecodeErrorKind::InvalidValue(format!(
                    "topic name of {} bytes (Kafka allows 1 to {})",
                    topic.len(),
                    prozess_network::MAX_TOPIC_NAME_LEN
                )),
            ));
        }
        let np = read_array_len(buf, false, 4)
            .map_err(ctx("partitions"))?
            .unwrap_or(0);
        let mut parts = Vec::with_capacity(np);
        for _ in 0..np {
            parts.push(read_i32(buf).map_err(ctx("partitions"))?);
        }
        if parts.is_empty() {
            continue;
        }
        out.len += parts.len();
        // The wire groups by topic, but a topic may come twice: keep runs
        // canonical (no two neighbours of one topic).
        match out.runs.last_mut() {
            Some((t, p)) if *t == topic => p.extend_from_slice(&parts),
            _ => out.runs.push((topic, parts)),
        }
    }
    Ok(out)
}

/// Versions up to the newest known one end exactly where their last field
/// does; only newer versions may carry fields appended after it.
fn check_no_trailing_bytes(buf: &Bytes, version: i16) -> Result<(), DecodeError> {
    if version <= CONSUMER_PROTOCOL_VERSION && !buf.is_empty() {
        return Err(DecodeError::new(
            "trailing_bytes",
            DecodeErrorKind::InvalidValue(format!(
                "{} bytes after the last field of version {version}",
                buf.len()
            )),
        ));
    }
    Ok(())
}

fn read_version(buf: &mut Bytes) -> Result<i16, DecodeError> {
    let v = read_i16(buf).map_err(ctx("version"))?;
    if v < 0 {
        return Err(DecodeError::new(
            "version",
            DecodeErrorKind::InvalidValue(format!("negative ConsumerProtocol version {v}")),
        ));
    }
    Ok(v)
}

impl Subscription {
    /// Encodes the subscription in `version` (0-3).
    pub fn encode(&self, version: i16) -> Bytes {
        let version = version.clamp(0, CONSUMER_PROTOCOL_VERSION);
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(version);
        buf.put_i32(self.topics.len() as i32);
        for t in &self.topics {
            let _ = write_string(&mut buf, false, t);
        }
        let _ = write_nullable_bytes(&mut buf, false, self.user_data.as_deref());
        if version >= 1 {
            write_topic_partitions(&mut buf, &self.owned_partitions);
        }
        if version >= 2 {
            buf.put_i32(self.generation_id);
        }
        if version >= 3 {
            let _ = write_nullable_string(&mut buf, false, self.rack_id.as_deref());
        }
        buf.freeze()
    }

    /// Decodes member metadata from JoinGroup. Versions above 3 are read as 3
    /// and their extra bytes ignored, as the Java client does; bytes after a
    /// version 0-3 structure are an error.
    pub fn decode(mut buf: Bytes) -> Result<Subscription, DecodeError> {
        let b = &mut buf;
        let version = read_version(b).map_err(|e| e.within("Subscription"))?;
        let inner = |b: &mut Bytes| -> Result<Subscription, DecodeError> {
            let n = read_array_len(b, false, 2)
                .map_err(ctx("topics"))?
                .unwrap_or(0);
            let mut topics = Vec::with_capacity(n);
            for _ in 0..n {
                topics.push(read_string(b, false).map_err(ctx("topics"))?);
            }
            let user_data = read_nullable_bytes(b, false).map_err(ctx("user_data"))?;
            let mut s = Subscription {
                topics,
                user_data,
                ..Subscription::default()
            };
            if version >= 1 {
                s.owned_partitions = read_topic_partitions(b).map_err(ctx("owned_partitions"))?;
            }
            if version >= 2 {
                s.generation_id = read_i32(b).map_err(ctx("generation_id"))?;
            }
            if version >= 3 {
                s.rack_id = read_nullable_string(b, false).map_err(ctx("rack_id"))?;
            }
            check_no_trailing_bytes(b, version)?;
            Ok(s)
        };
        inner(b).map_err(|e| e.within("Subscription"))
    }
}

impl Assignment {
    /// Encodes the assignment in `version` (0-3; the layout is the same in all).
    pub fn encode(&self, version: i16) -> Bytes {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(version.clamp(0, CONSUMER_PROTOCOL_VERSION));
        write_topic_partitions(&mut buf, &self.partitions);
        let _ = write_nullable_bytes(&mut buf, false, self.user_data.as_deref());
        buf.freeze()
    }

    /// Decodes a member assignment from SyncGroup. An empty byte string is an
    /// empty assignment (brokers send it to members the leader left out).
    /// Newer versions than 3 are read as 3 (extra bytes ignored); bytes after
    /// a version 0-3 structure are an error.
    pub fn decode(mut buf: Bytes) -> Result<Assignment, DecodeError> {
        if buf.is_empty() {
            return Ok(Assignment::default());
        }
        let b = &mut buf;
        let inner = |b: &mut Bytes| -> Result<Assignment, DecodeError> {
            let version = read_version(b)?;
            let partitions = read_topic_partitions(b).map_err(ctx("assigned_partitions"))?;
            let user_data = read_nullable_bytes(b, false).map_err(ctx("user_data"))?;
            check_no_trailing_bytes(b, version)?;
            Ok(Assignment {
                partitions,
                user_data,
            })
        };
        inner(b).map_err(|e| e.within("Assignment"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn subscription_round_trips_in_every_version() {
        let full = Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(Bytes::from_static(b"ud")),
            owned_partitions: vec![tp("a", 1), tp("a", 0), tp("b", 3)].into(),
            generation_id: 7,
            rack_id: Some("rack-1".into()),
            group_instance_id: None,
        };
        for v in 0..=3 {
            let decoded = Subscription::decode(full.encode(v)).unwrap();
            assert_eq!(decoded.topics, full.topics);
            assert_eq!(decoded.user_data, full.user_data);
            if v >= 1 {
                assert_eq!(
                    decoded.owned_partitions,
                    vec![tp("a", 0), tp("a", 1), tp("b", 3)]
                );
            } else {
                assert!(decoded.owned_partitions.is_empty());
            }
            assert_eq!(decoded.generation_id, if v >= 2 { 7 } else { -1 });
            assert_eq!(
                decoded.rack_id,
                if v >= 3 { full.rack_id.clone() } else { None }
            );
        }
    }

    #[test]
    fn known_v0_bytes() {
        // version 0, topics ["t"], user_data null
        let bytes = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]);
        let s = Subscription::decode(bytes.clone()).unwrap();
        assert_eq!(s.topics, vec!["t".to_string()]);
        assert_eq!(s.user_data, None);
        assert_eq!(s.encode(0), bytes);
    }

    #[test]
    fn newer_versions_are_read_forward_compatibly() {
        let mut b = BytesMut::from(&Subscription::default().encode(3)[..]);
        b[1] = 9; // claim version 9
        b.extend_from_slice(&[1, 2, 3, 4]); // fields we don't know
        let s = Subscription::decode(b.freeze()).unwrap();
        assert!(s.topics.is_empty());
    }

    #[test]
    fn assignment_round_trip_and_empty() {
        let a = Assignment {
            partitions: vec![tp("x", 2), tp("x", 0), tp("y", 1)].into(),
            user_data: None,
        };
        let d = Assignment::decode(a.encode(3)).unwrap();
        assert_eq!(d.partitions, vec![tp("x", 0), tp("x", 2), tp("y", 1)]);
        assert_eq!(
            Assignment::decode(Bytes::new()).unwrap(),
            Assignment::default()
        );
    }

    #[test]
    fn topic_names_longer_than_kafka_allows_are_refused() {
        let long = "t".repeat(prozess_network::MAX_TOPIC_NAME_LEN + 1);
        let a = Assignment {
            partitions: vec![tp(&long, 0)].into(),
            user_data: None,
        };
        let e = Assignment::decode(a.encode(3)).unwrap_err();
        assert!(e.field.ends_with("topic"), "{e}");
        let ok = "t".repeat(prozess_network::MAX_TOPIC_NAME_LEN);
        let a = Assignment {
            partitions: vec![tp(&ok, 0)].into(),
            user_data: None,
        };
        assert_eq!(Assignment::decode(a.encode(3)).unwrap(), a);
    }

    #[test]
    fn truncated_and_hostile_inputs_are_errors() {
        let good = Subscription {
            topics: vec!["topic".into()],
            owned_partitions: vec![tp("topic", 1)].into(),
            ..Default::default()
        }
        .encode(3);
        for cut in 0..good.len() - 1 {
            assert!(
                Subscription::decode(good.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
        // 2^31-1 topics in a tiny buffer: an error, no allocation.
        let hostile = Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0]);
        let e = Subscription::decode(hostile).unwrap_err();
        assert!(e.field.starts_with("Subscription.topics"), "{e}");
        assert!(Assignment::decode(Bytes::from_static(&[0xff, 0xff])).is_err());
    }

    #[test]
    fn absurd_counts_and_empty_names_are_errors_naming_the_field() {
        // A billion partitions announced in a few bytes.
        let mut b = BytesMut::new();
        b.put_i16(3);
        b.put_i32(1);
        b.put_i16(1);
        b.put_slice(b"t");
        b.put_i32(1_000_000_000);
        b.put_i32(0);
        let e = Assignment::decode(b.freeze()).unwrap_err();
        assert!(
            e.field
                .starts_with("Assignment.assigned_partitions.partitions"),
            "{e}"
        );
        // As many topics as the input could hold only with empty names.
        let mut b = BytesMut::new();
        b.put_i16(3);
        b.put_i32(3);
        for _ in 0..3 {
            b.put_i16(0);
            b.put_i32(0);
        }
        let e = Assignment::decode(b.freeze()).unwrap_err();
        assert!(
            e.field.starts_with("Assignment.assigned_partitions.topics"),
            "{e}"
        );
        // An empty topic name.
        let mut b = BytesMut::new();
        b.put_i16(3);
        b.put_i32(1);
        b.put_i16(0);
        b.put_i32(1);
        b.put_i32(0);
        b.put_i32(-1);
        let e = Assignment::decode(b.freeze()).unwrap_err();
        assert!(e.field.ends_with("topic"), "{e}");
    }

    #[test]
    fn a_partition_list_holds_each_topic_once_per_run_and_keeps_order() {
        let tps = vec![tp("a", 1), tp("a", 0), tp("b", 3), tp("a", 2)];
        let list: TopicPartitionList = tps.clone().into();
        assert_eq!(list.len(), 4);
        assert_eq!(list, tps);
        assert_eq!(list.to_vec(), tps);
        assert_eq!(
            list.topics().collect::<Vec<_>>(),
            vec![("a", &[1, 0][..]), ("b", &[3][..]), ("a", &[2][..])]
        );
        assert!(list.contains(&tp("b", 3)) && !list.contains(&tp("b", 0)));
        assert_eq!(format!("{list:?}"), format!("{tps:?}"));
    }

    /// An assignment written by hand (not by our encoder), as another client
    /// would: `[topic, [partition]]` in the writer's order, then user data.
    fn assignment_bytes(version: i16, topics: &[(&str, &[i32])], user: Option<&[u8]>) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(version);
        b.put_i32(topics.len() as i32);
        for (t, ps) in topics {
            b.put_i16(t.len() as i16);
            b.put_slice(t.as_bytes());
            b.put_i32(ps.len() as i32);
            for p in *ps {
                b.put_i32(*p);
            }
        }
        match user {
            Some(u) => {
                b.put_i32(u.len() as i32);
                b.put_slice(u);
            }
            None => b.put_i32(-1),
        }
        b.freeze()
    }

    #[test]
    fn hand_written_assignments_decode_in_writer_order() {
        for v in [0, 3] {
            let a = Assignment::decode(assignment_bytes(
                v,
                &[("b", &[1]), ("a", &[2, 0])],
                Some(b"ud"),
            ))
            .unwrap();
            assert_eq!(a.partitions, vec![tp("b", 1), tp("a", 2), tp("a", 0)]);
            assert_eq!(a.user_data.as_deref(), Some(&b"ud"[..]));
        }
    }

    #[test]
    fn newer_assignment_version_ignores_appended_fields() {
        let mut b = BytesMut::from(&assignment_bytes(7, &[("t", &[5])], None)[..]);
        b.put_u32(0xdead_beef);
        let a = Assignment::decode(b.freeze()).unwrap();
        assert_eq!(a.partitions, vec![tp("t", 5)]);
        assert_eq!(a.user_data, None);
    }

    #[test]
    fn broken_assignments_name_the_field() {
        let full = assignment_bytes(1, &[("topic", &[0, 1, 2])], Some(b"x"));
        for cut in 1..full.len() {
            let e = Assignment::decode(full.slice(..cut)).unwrap_err();
            assert!(e.field.starts_with("Assignment."), "cut at {cut}: {e}");
        }
        let mut huge = BytesMut::new();
        huge.put_i16(0);
        huge.put_i32(i32::MAX);
        let e = Assignment::decode(huge.freeze()).unwrap_err();
        assert_eq!(e.field, "Assignment.assigned_partitions.topics");
        let e = Assignment::decode(Bytes::from_static(&[0xff, 0xff])).unwrap_err();
        assert_eq!(e.field, "Assignment.version");
    }

    #[test]
    fn bytes_after_a_known_version_are_an_error() {
        let mut a = BytesMut::from(&assignment_bytes(3, &[("t", &[0])], None)[..]);
        a.put_u8(0);
        let e = Assignment::decode(a.freeze()).unwrap_err();
        assert_eq!(e.field, "Assignment.trailing_bytes");
        for v in 0..=3 {
            let mut s = BytesMut::from(&Subscription::default().encode(v)[..]);
            s.put_u8(0);
            let e = Subscription::decode(s.freeze()).unwrap_err();
            assert_eq!(e.field, "Subscription.trailing_bytes", "v{v}");
        }
    }

    #[test]
    fn hand_written_subscriptions_decode() {
        let mut b = BytesMut::new();
        b.put_i16(3);
        b.put_i32(2);
        for t in ["x", "yy"] {
            b.put_i16(t.len() as i16);
            b.put_slice(t.as_bytes());
        }
        b.put_i32(-1); // user data
        b.put_i32(1); // owned partitions
        b.put_i16(1);
        b.put_slice(b"x");
        b.put_i32(1);
        b.put_i32(4);
        b.put_i32(12); // generation
        b.put_i16(2);
        b.put_slice(b"r1");
        let s = Subscription::decode(b.freeze()).unwrap();
        assert_eq!(s.topics, vec!["x".to_string(), "yy".to_string()]);
        assert_eq!(s.owned_partitions, vec![tp("x", 4)]);
        assert_eq!(s.generation_id, 12);
        assert_eq!(s.rack_id.as_deref(), Some("r1"));

        // v0 with empty (not null) user data.
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i32(1);
        b.put_i16(1);
        b.put_slice(b"t");
        b.put_i32(0);
        let s = Subscription::decode(b.freeze()).unwrap();
        assert_eq!(s.topics, vec!["t".to_string()]);
        assert_eq!(s.user_data.as_deref(), Some(&b""[..]));
        assert_eq!(s.generation_id, -1);
    }
}
