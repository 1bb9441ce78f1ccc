//! Offset value types shared by commits and offset look-ups.

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

/// Answer of `offsets_for_times`: the first offset whose timestamp is at or
/// after the asked time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetAndTimestamp {
    /// The offset.
    pub offset: i64,
    /// The record's timestamp.
    pub timestamp: i64,
    /// Leader epoch of the record, if known.
    pub leader_epoch: Option<i32>,
}
