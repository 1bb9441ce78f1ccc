//! prozess-protocol: the Kafka wire format, with no I/O.
//!
//! - [`primitives`]: hand-written ints, varints, strings, bytes, arrays, UUIDs,
//!   tagged fields.
//! - [`messages`]: request/response structs generated at build time from the
//!   JSON schemas in `protocol/schema/`, the [`ApiKey`] table and the
//!   [`RequestBody`]/[`ResponseBody`] enums.
//! - [`header`] and [`frame`]: request/response headers and size-prefixed frames.
//! - [`records`]: record batches (magic 2), compression, zero-copy records.
//! - [`error_code`]: every Kafka error code as [`ErrorCode`].

pub mod error;
pub mod error_code;
pub mod frame;
pub mod header;
pub mod messages;
pub mod primitives;
pub mod records;

pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use error_code::ErrorCode;
pub use header::{RequestHeader, ResponseHeader};
pub use messages::{ApiKey, RequestBody, ResponseBody};
pub use primitives::{RawTaggedField, Uuid};
