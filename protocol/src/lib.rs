//! prozess-protocol: the Kafka wire format, with no I/O.
//!
//! - [`primitives`]: hand-written ints, varints, strings, bytes, arrays, UUIDs,
//!   tagged fields.
//! - [`messages`]: request/response structs generated at build time from the
//!   JSON schemas in `protocol/schema/`, the [`ApiKey`] table and the
//!   [`RequestBody`]/[`ResponseBody`] enums.
//! - [`header`] and [`frame`]: request/response headers and size-prefixed frames.
//! - [`records`]: record batches (magic 2), compression, zero-copy records.

pub mod error;
pub mod primitives;

pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use primitives::{RawTaggedField, Uuid};
pub mod error_code;
pub use error_code::ErrorCode;
