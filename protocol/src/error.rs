//! Errors of decoding and encoding. Every error names what was wrong and where.

use std::fmt;

/// What went wrong while decoding bytes from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The input ended before the field was complete.
    UnexpectedEof { needed: usize, remaining: usize },
    /// A length prefix was negative where null is not allowed (or below -1).
    InvalidLength(i64),
    /// A length prefix claims more bytes (or elements) than the input holds.
    LengthExceedsInput { length: u64, remaining: usize },
    /// A varint ran over its maximum size.
    VarintTooLong,
    /// A string was not valid UTF-8.
    InvalidUtf8,
    /// Null where the version does not allow it.
    UnexpectedNull,
    /// The API version is not one prozess supports for this message.
    UnsupportedVersion { api: &'static str, version: i16 },
    /// An API key prozess does not know.
    UnknownApiKey(i16),
    /// Bytes were left after the message was complete.
    TrailingBytes(usize),
    /// A frame larger than the configured maximum.
    FrameTooLarge { size: usize, max: usize },
    /// A record batch failed its CRC32C check.
    CrcMismatch { expected: u32, computed: u32 },
    /// A value outside what the protocol allows (message says which).
    InvalidValue(String),
    /// Decompression failed.
    Compression(String),
    /// A compressed batch inflates past the configured bound on its
    /// decompressed size (`max` bytes).
    DecompressedTooLarge { max: usize },
}

/// A decoding failure: what went wrong, and in which field (a dotted path such
/// as `FetchResponse.responses.partitions.records`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub field: String,
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub fn new(field: impl Into<String>, kind: DecodeErrorKind) -> Self {
        DecodeError {
            field: field.into(),
            kind,
        }
    }

    /// Prefixes the field path with an enclosing name, so errors raised deep in
    /// a nested struct read `Outer.inner.field`.
    pub fn within(mut self, outer: &str) -> Self {
        if self.field.is_empty() {
            self.field = outer.to_string();
        } else {
            self.field = format!("{outer}.{}", self.field);
        }
        self
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeErrorKind::*;
        match self {
            UnexpectedEof { needed, remaining } => write!(
                f,
                "input ended: needed {needed} bytes, {remaining} remaining"
            ),
            InvalidLength(l) => write!(f, "invalid length {l}"),
            LengthExceedsInput { length, remaining } => {
                write!(f, "length {length} exceeds the {remaining} bytes remaining")
            }
            VarintTooLong => write!(f, "varint longer than its maximum size"),
            InvalidUtf8 => write!(f, "string is not valid UTF-8"),
            UnexpectedNull => write!(f, "null is not allowed here"),
            UnsupportedVersion { api, version } => {
                write!(f, "{api} version {version} is not supported")
            }
            UnknownApiKey(k) => write!(f, "unknown API key {k}"),
            TrailingBytes(n) => write!(f, "{n} bytes left after the end of the message"),
            FrameTooLarge { size, max } => {
                write!(f, "frame of {size} bytes exceeds the maximum of {max}")
            }
            CrcMismatch { expected, computed } => write!(
                f,
                "CRC32C mismatch: batch says {expected:#010x}, computed {computed:#010x}"
            ),
            InvalidValue(m) => write!(f, "invalid value: {m}"),
            Compression(m) => write!(f, "decompression failed: {m}"),
            DecompressedTooLarge { max } => {
                write!(f, "decompressed size exceeds the limit of {max} bytes")
            }
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "decode error: {}", self.kind)
        } else {
            write!(f, "decode error in {}: {}", self.field, self.kind)
        }
    }
}

impl std::error::Error for DecodeError {}

/// An encoding failure: a value that cannot be written in the chosen version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub field: String,
    pub message: String,
}

impl EncodeError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        EncodeError {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn within(mut self, outer: &str) -> Self {
        if self.field.is_empty() {
            self.field = outer.to_string();
        } else {
            self.field = format!("{outer}.{}", self.field);
        }
        self
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "encode error in {}: {}", self.field, self.message)
    }
}

impl std::error::Error for EncodeError {}
