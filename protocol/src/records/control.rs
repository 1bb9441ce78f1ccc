//! Control records: the single record of a control batch. Its key says what
//! kind of marker it is (`version int16 | type int16`); for transaction
//! markers the value is `version int16 | coordinatorEpoch int32`.

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::Record;
use super::cursor::be_i16;
use super::cursor::be_i32;
use crate::error::{DecodeError, DecodeErrorKind};

/// What a control record marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// End of an aborted transaction: the producer's records since its
    /// previous marker are to be dropped by read_committed consumers.
    Abort,
    /// End of a committed transaction.
    Commit,
    /// Another control type (KRaft's leader change, snapshot and voter
    /// records); consumers skip these.
    Unknown(i16),
}

impl ControlRecordType {
    /// The type id in the control record key.
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::Unknown(id) => id,
        }
    }

    /// The type for an id.
    pub fn from_id(id: i16) -> ControlRecordType {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            other => ControlRecordType::Unknown(other),
        }
    }
}

/// A decoded control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRecord {
    /// Version of the key layout (0 today; later versions only add fields).
    pub version: i16,
    pub control_type: ControlRecordType,
    /// For commit/abort markers: the epoch of the transaction coordinator
    /// that wrote it (`None` if the value is missing or not a marker).
    pub coordinator_epoch: Option<i32>,
}

impl ControlRecord {
    /// A transaction marker (commit or abort) as a transaction coordinator
    /// with `coordinator_epoch` writes it.
    pub fn transaction_marker(commit: bool, coordinator_epoch: i32) -> ControlRecord {
        ControlRecord {
            version: 0,
            control_type: if commit {
                ControlRecordType::Commit
            } else {
                ControlRecordType::Abort
            },
            coordinator_epoch: Some(coordinator_epoch),
        }
    }

    /// Reads a control record's key (and, for transaction markers, value).
    pub fn parse(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<ControlRecord, DecodeError> {
        let key = key.ok_or_else(|| {
            DecodeError::new("ControlRecord.key", DecodeErrorKind::UnexpectedNull)
        })?;
        if key.len() < 4 {
            return Err(DecodeError::new(
                "ControlRecord.key",
                DecodeErrorKind::UnexpectedEof {
                    needed: 4,
                    remaining: key.len(),
                },
            ));
        }
        let version = be_i16(key, 0);
        if version < 0 {
            return Err(DecodeError::new(
                "ControlRecord.key.version",
                DecodeErrorKind::InvalidValue(format!("negative control record version {version}")),
            ));
        }
        let control_type = ControlRecordType::from_id(be_i16(key, 2));
        let coordinator_epoch = match (control_type, value) {
            (ControlRecordType::Abort | ControlRecordType::Commit, Some(v)) if v.len() >= 6 => {
                Some(be_i32(v, 2))
            }
            _ => None,
        };
        Ok(ControlRecord {
            version,
            control_type,
            coordinator_epoch,
        })
    }

    /// Reads the control record carried by `record`.
    pub fn from_record(record: &Record) -> Result<ControlRecord, DecodeError> {
        Self::parse(record.key.as_deref(), record.value.as_deref())
    }

    /// Whether this marks a committed transaction.
    pub fn is_commit(&self) -> bool {
        self.control_type == ControlRecordType::Commit
    }

    /// Whether this marks an aborted transaction.
    pub fn is_abort(&self) -> bool {
        self.control_type == ControlRecordType::Abort
    }

    /// The record key: `version int16 | type int16`.
    pub fn encode_key(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(4);
        b.put_i16(self.version);
        b.put_i16(self.control_type.id());
        b.freeze()
    }

    /// The record value: for markers `version int16 (0) | coordinatorEpoch
    /// int32`; `None` for other types.
    pub fn encode_value(&self) -> Option<Bytes> {
        let epoch = self.coordinator_epoch?;
        let mut b = BytesMut::with_capacity(6);
        b.put_i16(0);
        b.put_i32(epoch);
        Some(b.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trip() {
        for commit in [true, false] {
            let m = ControlRecord::transaction_marker(commit, 7);
            let key = m.encode_key();
            let value = m.encode_value();
            let back = ControlRecord::parse(Some(&key), value.as_deref()).unwrap();
            assert_eq!(back, m);
            assert_eq!(back.is_commit(), commit);
            assert_eq!(back.is_abort(), !commit);
        }
    }

    #[test]
    fn short_or_null_keys_are_errors() {
        assert!(ControlRecord::parse(None, None).is_err());
        let e = ControlRecord::parse(Some(&[0, 0, 1]), None).unwrap_err();
        assert_eq!(e.field, "ControlRecord.key");
        let other = ControlRecord::parse(Some(&[0, 0, 0, 2]), None).unwrap();
        assert_eq!(other.control_type, ControlRecordType::Unknown(2));
        assert_eq!(other.coordinator_epoch, None);
    }
}
