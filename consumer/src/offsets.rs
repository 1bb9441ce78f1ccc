//! Offset value types shared by commits and offset look-ups.

/// Java's `OffsetAndMetadata`, defined in the network crate so that the
/// producer (`send_offsets_to_transaction`) can take it too.
pub use prozess_network::OffsetAndMetadata;

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
