//! Deserializers: turn a record's key or value bytes into the user's type.
//!
//! The bytes are handed over as [`Bytes`], a slice of the fetch response for
//! uncompressed batches, so [`BytesDeserializer`] costs no copy at all.
//! A null key or value never reaches a deserializer: the record carries `None`.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;

use crate::record::Header;

/// Why a deserializer rejected its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeserializationError(pub String);

impl fmt::Display for DeserializationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeserializationError {}

/// Turns bytes into a `T`. Implement it for your own types.
pub trait Deserializer<T> {
    /// Deserializes the non-null bytes of a key or value of a record of `topic`.
    fn deserialize(
        &self,
        topic: &str,
        headers: &[Header],
        data: Bytes,
    ) -> Result<T, DeserializationError>;
}

impl<T, F> Deserializer<T> for F
where
    F: Fn(&str, &[Header], Bytes) -> Result<T, DeserializationError>,
{
    fn deserialize(
        &self,
        topic: &str,
        headers: &[Header],
        data: Bytes,
    ) -> Result<T, DeserializationError> {
        self(topic, headers, data)
    }
}

/// Hands the bytes over as they are (zero-copy).
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesDeserializer;

impl Deserializer<Bytes> for BytesDeserializer {
    fn deserialize(
        &self,
        _: &str,
        _: &[Header],
        data: Bytes,
    ) -> Result<Bytes, DeserializationError> {
        Ok(data)
    }
}

/// Copies the bytes into a `Vec<u8>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct VecDeserializer;

impl Deserializer<Vec<u8>> for VecDeserializer {
    fn deserialize(
        &self,
        _: &str,
        _: &[Header],
        data: Bytes,
    ) -> Result<Vec<u8>, DeserializationError> {
        Ok(data.to_vec())
    }
}

/// UTF-8 text; invalid UTF-8 is an error (never replaced).
#[derive(Debug, Clone, Copy, Default)]
pub struct StringDeserializer;

impl Deserializer<String> for StringDeserializer {
    fn deserialize(
        &self,
        _: &str,
        _: &[Header],
        data: Bytes,
    ) -> Result<String, DeserializationError> {
        match std::str::from_utf8(&data) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(DeserializationError(format!("invalid UTF-8: {e}"))),
        }
    }
}

/// A big-endian 4-byte integer (Java's IntegerDeserializer).
#[derive(Debug, Clone, Copy, Default)]
pub struct I32Deserializer;

impl Deserializer<i32> for I32Deserializer {
    fn deserialize(&self, _: &str, _: &[Header], data: Bytes) -> Result<i32, DeserializationError> {
        let arr: [u8; 4] = data[..].try_into().map_err(|_| {
            DeserializationError(format!("an i32 needs exactly 4 bytes, got {}", data.len()))
        })?;
        Ok(i32::from_be_bytes(arr))
    }
}

/// A big-endian 8-byte integer (Java's LongDeserializer).
#[derive(Debug, Clone, Copy, Default)]
pub struct I64Deserializer;

impl Deserializer<i64> for I64Deserializer {
    fn deserialize(&self, _: &str, _: &[Header], data: Bytes) -> Result<i64, DeserializationError> {
        let arr: [u8; 8] = data[..].try_into().map_err(|_| {
            DeserializationError(format!("an i64 needs exactly 8 bytes, got {}", data.len()))
        })?;
        Ok(i64::from_be_bytes(arr))
    }
}

/// Ignores the bytes (Java's VoidDeserializer accepts only null; this one
/// accepts anything, for consumers that do not look at keys).
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitDeserializer;

impl Deserializer<()> for UnitDeserializer {
    fn deserialize(&self, _: &str, _: &[Header], _: Bytes) -> Result<(), DeserializationError> {
        Ok(())
    }
}

/// JSON through serde: an example of a user deserializer.
pub struct JsonDeserializer<T>(PhantomData<fn() -> T>);

impl<T> JsonDeserializer<T> {
    /// A JSON deserializer for `T`.
    pub fn new() -> Self {
        JsonDeserializer(PhantomData)
    }
}

impl<T> Default for JsonDeserializer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for JsonDeserializer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonDeserializer")
    }
}

impl<T: serde::de::DeserializeOwned> Deserializer<T> for JsonDeserializer<T> {
    fn deserialize(&self, _: &str, _: &[Header], data: Bytes) -> Result<T, DeserializationError> {
        serde_json::from_slice(&data)
            .map_err(|e| DeserializationError(format!("invalid JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_is_zero_copy() {
        let data = Bytes::from_static(b"abc");
        let out = BytesDeserializer
            .deserialize("t", &[], data.clone())
            .unwrap();
        assert_eq!(out.as_ptr(), data.as_ptr());
    }

    #[test]
    fn string_rejects_invalid_utf8() {
        assert_eq!(
            StringDeserializer
                .deserialize("t", &[], Bytes::from_static("héllo".as_bytes()))
                .unwrap(),
            "héllo"
        );
        let e = StringDeserializer
            .deserialize("t", &[], Bytes::from_static(&[0xff, 0xfe]))
            .unwrap_err();
        assert!(e.0.contains("UTF-8"));
    }

    #[test]
    fn integers_are_big_endian_and_sized() {
        assert_eq!(
            I32Deserializer
                .deserialize("t", &[], Bytes::from_static(&[0, 0, 1, 2]))
                .unwrap(),
            258
        );
        assert!(I32Deserializer
            .deserialize("t", &[], Bytes::from_static(&[0, 1, 2]))
            .is_err());
        assert_eq!(
            I64Deserializer
                .deserialize("t", &[], Bytes::from(i64::MIN.to_be_bytes().to_vec()))
                .unwrap(),
            i64::MIN
        );
        assert!(I64Deserializer
            .deserialize("t", &[], Bytes::from_static(&[0; 9]))
            .is_err());
        UnitDeserializer
            .deserialize("t", &[], Bytes::from_static(b"x"))
            .unwrap();
        assert_eq!(
            VecDeserializer
                .deserialize("t", &[], Bytes::from_static(b"xy"))
                .unwrap(),
            b"xy".to_vec()
        );
    }

    #[test]
    fn json_and_closures() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct P {
            a: u32,
        }
        let d = JsonDeserializer::<P>::new();
        assert_eq!(
            d.deserialize("t", &[], Bytes::from_static(br#"{"a":5}"#))
                .unwrap(),
            P { a: 5 }
        );
        assert!(d.deserialize("t", &[], Bytes::from_static(b"{")).is_err());
        let upper = |_: &str, _: &[Header], b: Bytes| -> Result<String, DeserializationError> {
            Ok(String::from_utf8_lossy(&b).to_uppercase())
        };
        assert_eq!(
            upper
                .deserialize("t", &[], Bytes::from_static(b"ab"))
                .unwrap(),
            "AB"
        );
    }
}
