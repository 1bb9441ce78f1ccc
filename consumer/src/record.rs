//! `ConsumerRecord` and `ConsumerRecords`: what `poll` hands to the caller.

use std::collections::HashMap;
use std::sync::Arc;

use prozess_network::TopicPartition;

pub use prozess_protocol::records::RecordHeader as Header;
pub use prozess_protocol::records::TimestampType;

/// One record handed to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerRecord<K, V> {
    /// Topic name (shared by the records of a partition: no copy per record).
    pub topic: Arc<str>,
    /// Partition number.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Timestamp in milliseconds since the epoch (-1 if none).
    pub timestamp: i64,
    /// What the timestamp means.
    pub timestamp_type: TimestampType,
    /// Size of the serialized key, -1 for a null key.
    pub serialized_key_size: i32,
    /// Size of the serialized value, -1 for a null value.
    pub serialized_value_size: i32,
    /// Headers, in order (duplicate keys allowed).
    pub headers: Vec<Header>,
    /// Deserialized key; `None` for a null key.
    pub key: Option<K>,
    /// Deserialized value; `None` for a null value (a tombstone).
    pub value: Option<V>,
    /// The batch's partition leader epoch, if the broker set one.
    pub leader_epoch: Option<i32>,
}

impl<K, V> ConsumerRecord<K, V> {
    /// The record's partition as a [`TopicPartition`].
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.to_string(),
            partition: self.partition,
        }
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The last header with this key (Java's `headers().lastHeader(key)`).
    pub fn last_header(&self, key: &str) -> Option<&Header> {
        self.headers.iter().rev().find(|h| h.key == key)
    }
}

/// The records of one `poll`, grouped by partition (in the order the
/// partitions' data was returned), records of a partition in offset order.
#[derive(Debug, Clone)]
pub struct ConsumerRecords<K, V> {
    parts: Vec<(TopicPartition, Vec<ConsumerRecord<K, V>>)>,
    count: usize,
}

impl<K, V> Default for ConsumerRecords<K, V> {
    fn default() -> Self {
        ConsumerRecords {
            parts: Vec::new(),
            count: 0,
        }
    }
}

impl<K, V> ConsumerRecords<K, V> {
    /// An empty set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Appends records of `tp` (joined with earlier ones of the same partition).
    pub(crate) fn append(&mut self, tp: &TopicPartition, mut records: Vec<ConsumerRecord<K, V>>) {
        if records.is_empty() {
            return;
        }
        self.count += records.len();
        if let Some((_, existing)) = self.parts.iter_mut().find(|(p, _)| p == tp) {
            existing.append(&mut records);
        } else {
            self.parts.push((tp.clone(), records));
        }
    }

    /// Number of records.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The partitions that have records here.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.parts.iter().map(|(tp, _)| tp)
    }

    /// The records of one partition (empty if none).
    pub fn records(&self, tp: &TopicPartition) -> &[ConsumerRecord<K, V>] {
        self.parts
            .iter()
            .find(|(p, _)| p == tp)
            .map(|(_, r)| r.as_slice())
            .unwrap_or(&[])
    }

    /// The records of every partition of `topic`.
    pub fn records_for_topic<'a>(
        &'a self,
        topic: &'a str,
    ) -> impl Iterator<Item = &'a ConsumerRecord<K, V>> + 'a {
        self.parts
            .iter()
            .filter(move |(p, _)| p.topic == topic)
            .flat_map(|(_, r)| r.iter())
    }

    /// All records, partition by partition.
    pub fn iter(&self) -> impl Iterator<Item = &ConsumerRecord<K, V>> {
        self.parts.iter().flat_map(|(_, r)| r.iter())
    }

    /// Records grouped by partition, as a map.
    pub fn into_partitions(self) -> HashMap<TopicPartition, Vec<ConsumerRecord<K, V>>> {
        self.parts.into_iter().collect()
    }
}

/// Owning iterator over [`ConsumerRecords`], partition by partition.
pub struct IntoIter<K, V> {
    parts: std::vec::IntoIter<(TopicPartition, Vec<ConsumerRecord<K, V>>)>,
    current: std::vec::IntoIter<ConsumerRecord<K, V>>,
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = ConsumerRecord<K, V>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.current.next() {
                return Some(r);
            }
            self.current = self.parts.next()?.1.into_iter();
        }
    }
}

impl<K, V> IntoIterator for ConsumerRecords<K, V> {
    type Item = ConsumerRecord<K, V>;
    type IntoIter = IntoIter<K, V>;

    fn into_iter(self) -> Self::IntoIter {
        IntoIter {
            parts: self.parts.into_iter(),
            current: Vec::new().into_iter(),
        }
    }
}

impl<'a, K, V> IntoIterator for &'a ConsumerRecords<K, V> {
    type Item = &'a ConsumerRecord<K, V>;
    type IntoIter = Box<dyn Iterator<Item = &'a ConsumerRecord<K, V>> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(tp: &TopicPartition, offset: i64) -> ConsumerRecord<(), String> {
        ConsumerRecord {
            topic: tp.topic.as_str().into(),
            partition: tp.partition,
            offset,
            timestamp: 1,
            timestamp_type: TimestampType::CreateTime,
            serialized_key_size: -1,
            serialized_value_size: 1,
            headers: vec![
                Header {
                    key: "h".into(),
                    value: None,
                },
                Header {
                    key: "h".into(),
                    value: Some(Bytes::from_static(b"2")),
                },
            ],
            key: None,
            value: Some(offset.to_string()),
            leader_epoch: Some(0),
        }
    }

    #[test]
    fn grouping_and_iteration() {
        let a = TopicPartition {
            topic: "t".into(),
            partition: 0,
        };
        let b = TopicPartition {
            topic: "u".into(),
            partition: 1,
        };
        let mut rs = ConsumerRecords::empty();
        assert!(rs.is_empty());
        rs.append(&a, vec![rec(&a, 0), rec(&a, 1)]);
        rs.append(&b, vec![rec(&b, 5)]);
        rs.append(&a, vec![rec(&a, 2)]);
        rs.append(&b, vec![]);
        assert_eq!(rs.count(), 4);
        assert_eq!(rs.partitions().count(), 2);
        assert_eq!(
            rs.records(&a).iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(rs.records_for_topic("u").count(), 1);
        assert_eq!((&rs).into_iter().count(), 4);
        let first = rs.iter().next().unwrap();
        assert_eq!(
            first.last_header("h").unwrap().value.as_deref(),
            Some(&b"2"[..])
        );
        assert_eq!(first.topic_partition(), a);
        let offsets: Vec<i64> = rs.clone().into_iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![0, 1, 2, 5]);
        assert_eq!(rs.into_partitions().len(), 2);
    }
}
