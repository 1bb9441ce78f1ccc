//! Serializers: turn keys and values into bytes, as the Java client's
//! `org.apache.kafka.common.serialization` serializers do.

use bytes::Bytes;

use crate::error::Result;

/// Turns a `T` into the bytes of a record key or value.
///
/// `Ok(None)` writes a null (as Java's `VoidSerializer` does).
pub trait Serializer<T>: Send + Sync {
    /// Serializes `data` for `topic`.
    fn serialize(&self, topic: &str, data: &T) -> Result<Option<Bytes>>;
}

impl<T, F> Serializer<T> for F
where
    F: Fn(&str, &T) -> Result<Option<Bytes>> + Send + Sync,
{
    fn serialize(&self, topic: &str, data: &T) -> Result<Option<Bytes>> {
        self(topic, data)
    }
}

/// `Bytes` as they are (zero copy).
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerializer;

impl Serializer<Bytes> for BytesSerializer {
    fn serialize(&self, _topic: &str, data: &Bytes) -> Result<Option<Bytes>> {
        Ok(Some(data.clone()))
    }
}

/// `Vec<u8>` as they are (Java's `ByteArraySerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ByteArraySerializer;

impl Serializer<Vec<u8>> for ByteArraySerializer {
    fn serialize(&self, _topic: &str, data: &Vec<u8>) -> Result<Option<Bytes>> {
        Ok(Some(Bytes::copy_from_slice(data)))
    }
}

/// UTF-8 strings (Java's `StringSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerializer;

impl Serializer<String> for StringSerializer {
    fn serialize(&self, _topic: &str, data: &String) -> Result<Option<Bytes>> {
        Ok(Some(Bytes::copy_from_slice(data.as_bytes())))
    }
}

/// 4-byte big-endian `i32` (Java's `IntegerSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IntegerSerializer;

impl Serializer<i32> for IntegerSerializer {
    fn serialize(&self, _topic: &str, data: &i32) -> Result<Option<Bytes>> {
        Ok(Some(Bytes::copy_from_slice(&data.to_be_bytes())))
    }
}

/// 8-byte big-endian `i64` (Java's `LongSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LongSerializer;

impl Serializer<i64> for LongSerializer {
    fn serialize(&self, _topic: &str, data: &i64) -> Result<Option<Bytes>> {
        Ok(Some(Bytes::copy_from_slice(&data.to_be_bytes())))
    }
}

/// `()` as null (Java's `VoidSerializer`), for producers without keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct VoidSerializer;

impl Serializer<()> for VoidSerializer {
    fn serialize(&self, _topic: &str, _data: &()) -> Result<Option<Bytes>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializers_match_java_encodings() {
        assert_eq!(
            IntegerSerializer
                .serialize("t", &0x01020304)
                .unwrap()
                .unwrap(),
            Bytes::from_static(&[1, 2, 3, 4])
        );
        assert_eq!(
            LongSerializer.serialize("t", &-2).unwrap().unwrap(),
            Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe])
        );
        assert_eq!(
            StringSerializer
                .serialize("t", &"héllo".to_string())
                .unwrap()
                .unwrap(),
            Bytes::from("héllo")
        );
        assert_eq!(VoidSerializer.serialize("t", &()).unwrap(), None);
        assert_eq!(
            ByteArraySerializer
                .serialize("t", &vec![9u8])
                .unwrap()
                .unwrap(),
            Bytes::from_static(&[9])
        );
        let upper = |_: &str, s: &String| Ok(Some(Bytes::from(s.to_uppercase())));
        assert_eq!(
            Serializer::<String>::serialize(&upper, "t", &"ab".to_string()).unwrap(),
            Some(Bytes::from("AB"))
        );
    }
}
