//! `ProducerRecord` (what the application sends) and `RecordMetadata`
//! (what the broker acknowledged).

use bytes::Bytes;

/// A record header: a string key and an optional byte value (the
/// protocol crate's type, so headers go to the wire without conversion).
pub use prozess_protocol::records::RecordHeader as Header;

/// A record to send: topic, optional partition, key, value, headers and
/// timestamp, as the Java client's `ProducerRecord`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerRecord<K, V> {
    /// The topic.
    pub topic: String,
    /// The partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key; `None` is a null key.
    pub key: Option<K>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<V>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// Create time in ms since the epoch; `None` uses the current time.
    pub timestamp: Option<i64>,
}

impl<K, V> ProducerRecord<K, V> {
    /// A record with a value and nothing else.
    pub fn new(topic: impl Into<String>, value: V) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// A record with key and value.
    pub fn with_key(topic: impl Into<String>, key: K, value: V) -> Self {
        ProducerRecord {
            key: Some(key),
            ..ProducerRecord::new(topic, value)
        }
    }

    /// Sets the partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the key.
    pub fn key(mut self, key: K) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the timestamp (ms since the epoch).
    pub fn timestamp(mut self, ts: i64) -> Self {
        self.timestamp = Some(ts);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// A tombstone: key and null value.
    pub fn tombstone(topic: impl Into<String>, key: K) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: Some(key),
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }
}

/// What the broker acknowledged for one record, as the Java client's
/// `RecordMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition the record was written to.
    pub partition: i32,
    /// The record's offset; -1 with `acks=0` (the broker does not answer).
    pub offset: i64,
    /// The record's timestamp: create time, or the broker's log-append time
    /// when the topic uses it.
    pub timestamp: i64,
    /// Size of the serialized key (-1 for a null key).
    pub serialized_key_size: i32,
    /// Size of the serialized value (-1 for a null value).
    pub serialized_value_size: i32,
}

impl RecordMetadata {
    /// Whether the offset is known (it is not with `acks=0`).
    pub fn has_offset(&self) -> bool {
        self.offset >= 0
    }
}
