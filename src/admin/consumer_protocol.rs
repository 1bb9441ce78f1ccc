//! Decoders for the embedded "consumer" protocol structures that
//! DescribeGroups returns as opaque bytes: a member's subscription (its
//! JoinGroup metadata) and its assignment (its SyncGroup state).
//!
//! Both are Kafka's `ConsumerProtocolSubscription` / `ConsumerProtocolAssignment`
//! in the classic, non-flexible encoding: an int16 version first, then int16
//! string lengths and int32 array lengths. A version newer than the ones
//! known here is read as the newest known one with the rest ignored, because
//! later versions only append fields (the Java client does the same).

use bytes::{Buf, Bytes};
use prozess_protocol::primitives::{
    read_array_len, read_i16, read_i32, read_nullable_bytes, read_nullable_string, read_string,
};
use prozess_protocol::{DecodeError, DecodeErrorKind};

use prozess_network::TopicPartition;

/// What a consumer group member was assigned (`ConsumerProtocolAssignment`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberAssignment {
    /// The structure's version.
    pub version: i16,
    /// The assigned partitions, in the order the leader wrote them.
    pub partitions: Vec<TopicPartition>,
    /// The assignor's user data, if any.
    pub user_data: Option<Bytes>,
}

/// What a consumer group member subscribed to (`ConsumerProtocolSubscription`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberSubscription {
    /// The structure's version.
    pub version: i16,
    /// The subscribed topics.
    pub topics: Vec<String>,
    /// The assignor's user data, if any.
    pub user_data: Option<Bytes>,
    /// Partitions the member owned before this rebalance (version 1+).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation the member was in (version 2+; -1 when absent).
    pub generation_id: i32,
    /// The member's rack (version 3+).
    pub rack_id: Option<String>,
}

fn at<T>(r: Result<T, DecodeError>, field: &str) -> Result<T, DecodeError> {
    r.map_err(|e| e.within(field))
}

fn read_version(buf: &mut Bytes, what: &str) -> Result<i16, DecodeError> {
    let version = at(read_i16(buf), &format!("{what}.version"))?;
    if version < 0 {
        return Err(DecodeError::new(
            format!("{what}.version"),
            DecodeErrorKind::InvalidValue(format!("negative version {version}")),
        ));
    }
    Ok(version)
}

/// Reads `[topic string, [int32 partition]]`.
fn read_topic_partitions(buf: &mut Bytes, field: &str) -> Result<Vec<TopicPartition>, DecodeError> {
    // Each entry is at least a 2-byte string length and a 4-byte array length.
    let n = at(read_array_len(buf, false, 6), field)?.unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..n {
        let path = format!("{field}[{i}]");
        let topic = at(read_string(buf, false), &format!("{path}.topic"))?;
        let count = at(read_array_len(buf, false, 4), &format!("{path}.partitions"))?.unwrap_or(0);
        for j in 0..count {
            let p = at(read_i32(buf), &format!("{path}.partitions[{j}]"))?;
            out.push(TopicPartition::new(topic.clone(), p));
        }
    }
    Ok(out)
}

impl MemberAssignment {
    /// Decodes a `ConsumerProtocolAssignment` (versions 0-3 and, leniently,
    /// later ones).
    pub fn decode(mut buf: Bytes) -> Result<MemberAssignment, DecodeError> {
        let buf = &mut buf;
        let version = read_version(buf, "assignment")?;
        let partitions = read_topic_partitions(buf, "assignment.assigned_partitions")?;
        let user_data = at(read_nullable_bytes(buf, false), "assignment.user_data")?;
        if version <= 3 && buf.has_remaining() {
            return Err(DecodeError::new(
                "assignment",
                DecodeErrorKind::InvalidValue(format!(
                    "{} trailing bytes after a version {version} assignment",
                    buf.remaining()
                )),
            ));
        }
        Ok(MemberAssignment {
            version,
            partitions,
            user_data,
        })
    }
}

impl MemberSubscription {
    /// Decodes a `ConsumerProtocolSubscription` (versions 0-3 and, leniently,
    /// later ones).
    pub fn decode(mut buf: Bytes) -> Result<MemberSubscription, DecodeError> {
        let buf = &mut buf;
        let version = read_version(buf, "subscription")?;
        let n = at(read_array_len(buf, false, 2), "subscription.topics")?.unwrap_or(0);
        let mut topics = Vec::new();
        for i in 0..n {
            topics.push(at(
                read_string(buf, false),
                &format!("subscription.topics[{i}]"),
            )?);
        }
        let user_data = at(read_nullable_bytes(buf, false), "subscription.user_data")?;
        let mut sub = MemberSubscription {
            version,
            topics,
            user_data,
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
        };
        if version >= 1 {
            sub.owned_partitions = read_topic_partitions(buf, "subscription.owned_partitions")?;
        }
        if version >= 2 {
            sub.generation_id = at(read_i32(buf), "subscription.generation_id")?;
        }
        if version >= 3 {
            sub.rack_id = at(read_nullable_string(buf, false), "subscription.rack_id")?;
        }
        if version <= 3 && buf.has_remaining() {
            return Err(DecodeError::new(
                "subscription",
                DecodeErrorKind::InvalidValue(format!(
                    "{} trailing bytes after a version {version} subscription",
                    buf.remaining()
                )),
            ));
        }
        Ok(sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

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
    fn decodes_assignment_v0_and_v3() {
        for v in [0, 3] {
            let a = MemberAssignment::decode(assignment_bytes(
                v,
                &[("a", &[0, 2]), ("b", &[1])],
                Some(b"ud"),
            ))
            .unwrap();
            assert_eq!(a.version, v);
            assert_eq!(
                a.partitions,
                vec![
                    TopicPartition::new("a", 0),
                    TopicPartition::new("a", 2),
                    TopicPartition::new("b", 1)
                ]
            );
            assert_eq!(a.user_data.as_deref(), Some(&b"ud"[..]));
        }
    }

    #[test]
    fn newer_assignment_version_ignores_appended_fields() {
        let mut b = BytesMut::from(&assignment_bytes(7, &[("t", &[5])], None)[..]);
        b.put_u32(0xdead_beef);
        let a = MemberAssignment::decode(b.freeze()).unwrap();
        assert_eq!(a.partitions, vec![TopicPartition::new("t", 5)]);
        assert_eq!(a.user_data, None);
    }

    #[test]
    fn truncated_or_bogus_assignment_is_an_error_naming_the_field() {
        let full = assignment_bytes(1, &[("topic", &[0, 1, 2])], Some(b"x"));
        for cut in 0..full.len() {
            let e = MemberAssignment::decode(full.slice(..cut)).unwrap_err();
            assert!(e.field.starts_with("assignment"), "{e}");
        }
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i32(i32::MAX);
        let e = MemberAssignment::decode(b.freeze()).unwrap_err();
        assert_eq!(e.field, "assignment.assigned_partitions");
        let e = MemberAssignment::decode(Bytes::from_static(&[0xff, 0xff])).unwrap_err();
        assert_eq!(e.field, "assignment.version");
        let mut trailing = BytesMut::from(&full[..]);
        trailing.put_u8(0);
        assert!(MemberAssignment::decode(trailing.freeze()).is_err());
    }

    #[test]
    fn decodes_subscription_v3() {
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
        let s = MemberSubscription::decode(b.freeze()).unwrap();
        assert_eq!(s.topics, vec!["x".to_string(), "yy".to_string()]);
        assert_eq!(s.owned_partitions, vec![TopicPartition::new("x", 4)]);
        assert_eq!(s.generation_id, 12);
        assert_eq!(s.rack_id.as_deref(), Some("r1"));
    }

    #[test]
    fn decodes_subscription_v0() {
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i32(1);
        b.put_i16(1);
        b.put_slice(b"t");
        b.put_i32(0);
        let s = MemberSubscription::decode(b.freeze()).unwrap();
        assert_eq!(s.topics, vec!["t".to_string()]);
        assert_eq!(s.user_data.as_deref(), Some(&b""[..]));
        assert_eq!(s.generation_id, -1);
    }
}
