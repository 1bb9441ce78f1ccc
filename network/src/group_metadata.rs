//! `ConsumerGroupMetadata` and `OffsetAndMetadata`: shared by the consumer (which reports it) and
//! the transactional producer (which sends it with TxnOffsetCommit), so it
//! lives in the crate both depend on.

/// Java's `ConsumerGroupMetadata`: what a transactional producer needs to
/// commit offsets for a consumer (`send_offsets_to_transaction`, KIP-447).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The current generation (-1 outside a generation).
    pub generation_id: i32,
    /// The member id ("" before joining).
    pub member_id: String,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata for a group without membership information (generation -1,
    /// no member id), as Java's `new ConsumerGroupMetadata(groupId)`: the
    /// broker then cannot fence zombie consumers.
    pub fn new(group_id: impl Into<String>) -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// A committed (or to-be-committed) offset: the next offset to read, with the
/// leader epoch of the last consumed record and a free-form metadata string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetAndMetadata {
    /// The next offset the group should read.
    pub offset: i64,
    /// Leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Metadata stored with the commit.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset without epoch or metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }

    /// An offset with a metadata string.
    pub fn with_metadata(offset: i64, metadata: impl Into<String>) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: metadata.into(),
        }
    }
}
