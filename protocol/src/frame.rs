//! Size-prefixed frames: every Kafka request and response travels as an
//! int32 size followed by that many bytes (header, then body).
//!
//! Writing: [`encode_request_frame`] / [`encode_response_frame`] append a
//! complete frame, size included. Reading: [`split_frame`] cuts complete
//! frames (without their size) out of a connection's read buffer, and
//! [`decode_request_frame`] / [`decode_response_frame`] turn a frame into a
//! header and a typed body. A frame must be consumed exactly: bytes after the
//! body are an error (see [`decode_request_frame_lenient`] for the one
//! known client that sends some).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::header::{RequestHeader, ResponseHeader};
use crate::messages::{ApiKey, RequestBody, ResponseBody};

mod segments;
pub use segments::encode_request_frame_segments;

/// Kafka's default `socket.request.max.bytes` (100 MiB), a sensible cap for
/// frames read from a broker.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 104_857_600;

/// The UNSUPPORTED_VERSION error code: an ApiVersions request of a version the
/// broker does not know is answered with a v0 body carrying it.
const UNSUPPORTED_VERSION: i16 = 35;

/// Writes `len` placeholder, runs `write`, then patches the size in.
fn with_size_prefix(
    buf: &mut BytesMut,
    write: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.put_i32(0);
    if let Err(e) = write(buf) {
        buf.truncate(start);
        return Err(e);
    }
    let size = buf.len() - start - 4;
    let Ok(size) = i32::try_from(size) else {
        buf.truncate(start);
        return Err(EncodeError::new(
            "frame",
            format!("frame of {size} bytes does not fit an int32 size"),
        ));
    };
    buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// Appends a size-prefixed request frame: `header` (in the header version its
/// API and version call for) and `body` in `header.request_api_version`.
pub fn encode_request_frame(
    header: &RequestHeader,
    body: &RequestBody,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let key = body.api_key();
    if header.request_api_key != key.code() {
        return Err(EncodeError::new(
            "RequestHeader.request_api_key",
            format!(
                "header says API key {} but the body is a {} request",
                header.request_api_key,
                key.name()
            ),
        ));
    }
    let version = header.request_api_version;
    // One allocation of the right size instead of doubling from empty:
    // produce requests carry up to megabytes of record batches.
    buf.reserve(request_frame_size_hint(header, body));
    with_size_prefix(buf, |buf| {
        header.encode(key.request_header_version(version), buf)?;
        body.encode(version, buf)
    })
}

/// Bytes of slack for a request's small fields (and the default estimate of
/// requests without bulk data): most requests fit, larger ones just grow.
const REQUEST_SIZE_SLACK: usize = 256;

/// Room worth reserving before encoding a request frame: exact enough for
/// the bulk of a produce request (its record batches, topic names and
/// per-partition fields, over-estimated), a small default otherwise.
pub fn request_frame_size_hint(header: &RequestHeader, body: &RequestBody) -> usize {
    let header_len = 4 + 10 + header.client_id.as_ref().map_or(0, String::len);
    let body_len = match body {
        RequestBody::Produce(p) => p
            .topic_data
            .iter()
            .map(|t| {
                // Name and array length prefixes, tagged fields: <= 16 bytes.
                16 + t.name.len()
                    + t.partition_data
                        .iter()
                        // Index, records length (<= 5) and tagged fields.
                        .map(|d| 16 + d.records.as_ref().map_or(0, Bytes::len))
                        .sum::<usize>()
            })
            .sum::<usize>(),
        _ => 0,
    };
    header_len + body_len + REQUEST_SIZE_SLACK
}

/// Appends a size-prefixed response frame for a request of the body's API in
/// `version` (brokers and test doubles).
pub fn encode_response_frame(
    header: &ResponseHeader,
    version: i16,
    body: &ResponseBody,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let key = body.api_key();
    with_size_prefix(buf, |buf| {
        header.encode(key.response_header_version(version), buf)?;
        body.encode(version, buf)
    })
}

/// Takes the next complete frame (without its size prefix) off the front of
/// `buf`; `Ok(None)` when more bytes are needed. A size above `max_size`, or a
/// negative one, is [`DecodeErrorKind::FrameTooLarge`] (a negative size is
/// reported as its unsigned reading, which exceeds any int32 maximum): the
/// connection cannot be resynchronised and must be closed.
pub fn split_frame(buf: &mut BytesMut, max_size: usize) -> Result<Option<Bytes>, DecodeError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let raw = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let size = raw as u32 as usize;
    if raw < 0 || size > max_size {
        return Err(DecodeError::new(
            "frame.size",
            DecodeErrorKind::FrameTooLarge {
                size,
                max: max_size,
            },
        ));
    }
    if buf.len() < 4 + size {
        // Make room for the rest of the frame once, not in small steps.
        buf.reserve(4 + size - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

/// Reads the correlation id at the front of a response frame, so the caller
/// can find the request (and with it the API and version) it answers.
pub fn peek_correlation_id(frame: &Bytes) -> Result<i32, DecodeError> {
    if frame.len() < 4 {
        return Err(DecodeError::new(
            "ResponseHeader.correlation_id",
            DecodeErrorKind::UnexpectedEof {
                needed: 4,
                remaining: frame.len(),
            },
        ));
    }
    Ok(i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
}

fn no_trailing(buf: &Bytes, what: &str) -> Result<(), DecodeError> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::new(
            what,
            DecodeErrorKind::TrailingBytes(buf.len()),
        ))
    }
}

fn decode_request_parts(
    mut frame: Bytes,
) -> Result<(RequestHeader, RequestBody, Bytes), DecodeError> {
    let header = RequestHeader::decode_auto(&mut frame)?;
    let key = header.api_key().ok_or_else(|| {
        DecodeError::new(
            "RequestHeader.request_api_key",
            DecodeErrorKind::UnknownApiKey(header.request_api_key),
        )
    })?;
    let body = RequestBody::decode(key, header.request_api_version, &mut frame)?;
    Ok((header, body, frame))
}

/// Decodes a whole request frame (without size prefix): the header, whose
/// version follows from its API key and version, then the body, which must
/// end exactly at the end of the frame.
pub fn decode_request_frame(frame: Bytes) -> Result<(RequestHeader, RequestBody), DecodeError> {
    let (header, body, rest) = decode_request_parts(frame)?;
    let name = format!("{}Request", body.api_key().name());
    no_trailing(&rest, &name)?;
    Ok((header, body))
}

/// Like [`decode_request_frame`], but returns bytes after the body instead of
/// rejecting them, as Kafka brokers ignore them. librdkafka 2.x sends three
/// such bytes (`01 00 00`) after its all-topics Metadata requests; a decoder
/// standing in for a broker needs this path.
pub fn decode_request_frame_lenient(
    frame: Bytes,
) -> Result<(RequestHeader, RequestBody, Bytes), DecodeError> {
    decode_request_parts(frame)
}

/// Decodes a whole response frame (without size prefix) to a request of
/// `api_key` in `version`: header (v0 or v1 as the API and version call for),
/// then the body, which must end exactly at the end of the frame.
///
/// As the Java client does, an ApiVersions response whose error code is
/// UNSUPPORTED_VERSION is read as a v0 body whatever version was asked for:
/// a broker answers an ApiVersions version it does not know in v0, listing
/// the ApiVersions versions it does know.
pub fn decode_response_frame(
    mut frame: Bytes,
    api_key: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, ResponseBody), DecodeError> {
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))?;
    let mut body_version = version;
    if api_key == ApiKey::ApiVersions && version != 0 && frame.len() >= 2 {
        let error_code = i16::from_be_bytes([frame[0], frame[1]]);
        if error_code == UNSUPPORTED_VERSION {
            body_version = 0;
        }
    }
    let body = ResponseBody::decode(api_key, body_version, &mut frame)?;
    no_trailing(&frame, &format!("{}Response", api_key.name()))?;
    Ok((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ApiVersionsRequest;

    #[test]
    fn request_frame_round_trip_through_the_splitter() {
        let header = RequestHeader::new(ApiKey::ApiVersions, 3, 42, Some("prozess"));
        let body: RequestBody = ApiVersionsRequest {
            client_software_name: "prozess".into(),
            client_software_version: "0.1".into(),
            ..Default::default()
        }
        .into();
        let mut wire = BytesMut::new();
        encode_request_frame(&header, &body, &mut wire).unwrap();
        encode_request_frame(&header, &body, &mut wire).unwrap();
        let one = wire.len() / 2;
        assert_eq!(
            i32::from_be_bytes([wire[0], wire[1], wire[2], wire[3]]) as usize,
            one - 4
        );

        // Feed the bytes in two pieces: nothing until a frame is complete.
        let mut read = BytesMut::new();
        read.extend_from_slice(&wire[..one - 1]);
        assert_eq!(split_frame(&mut read, 1024).unwrap(), None);
        read.extend_from_slice(&wire[one - 1..]);
        let f1 = split_frame(&mut read, 1024).unwrap().unwrap();
        let f2 = split_frame(&mut read, 1024).unwrap().unwrap();
        assert_eq!(split_frame(&mut read, 1024).unwrap(), None);
        assert_eq!(f1, f2);
        let (h, b) = decode_request_frame(f1).unwrap();
        assert_eq!(h, header);
        assert_eq!(b, body);
    }

    #[test]
    fn produce_size_hint_covers_the_encoded_frame() {
        use crate::messages::produce::request::{PartitionProduceData, TopicProduceData};
        use crate::messages::ProduceRequest;
        let partition = |index, len| PartitionProduceData {
            index,
            records: Some(Bytes::from(vec![7u8; len])),
            ..Default::default()
        };
        let body: RequestBody = ProduceRequest {
            transactional_id: Some("txn".into()),
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![
                TopicProduceData {
                    name: "a-topic".into(),
                    partition_data: vec![partition(0, 16_384), partition(1, 0)],
                    ..Default::default()
                },
                TopicProduceData {
                    name: "another-topic".into(),
                    partition_data: vec![partition(3, 100_000)],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
        .into();
        for version in [3, 8, 9, 12] {
            let header = RequestHeader::new(ApiKey::Produce, version, 7, Some("client"));
            let hint = request_frame_size_hint(&header, &body);
            let mut wire = BytesMut::new();
            encode_request_frame(&header, &body, &mut wire).unwrap();
            // Reserved once, never grown.
            assert!(
                hint >= wire.len(),
                "v{version}: hint {hint} < {}",
                wire.len()
            );
            assert!(
                hint < wire.len() + 512,
                "v{version}: hint {hint} far too big"
            );
        }
    }

    #[test]
    fn oversized_and_negative_sizes_are_rejected() {
        let mut read = BytesMut::from(&[0u8, 0, 4, 1, 0][..]);
        let e = split_frame(&mut read, 1024).unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::FrameTooLarge {
                size: 1025,
                max: 1024
            }
        );
        let mut read = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xfe][..]);
        let e = split_frame(&mut read, usize::MAX >> 1).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::FrameTooLarge { .. }));
    }

    #[test]
    fn mismatched_header_and_body_is_an_encode_error() {
        let header = RequestHeader::new(ApiKey::ApiVersions, 3, 1, None);
        let other = ApiKey::ALL
            .into_iter()
            .find(|k| *k != ApiKey::ApiVersions)
            .expect("more than one API");
        let body = RequestBody::__sample(other, other.supported_versions().1, false);
        let mut buf = BytesMut::new();
        let e = encode_request_frame(&header, &body, &mut buf).unwrap_err();
        assert_eq!(e.field, "RequestHeader.request_api_key");
        assert!(buf.is_empty());
    }

    #[test]
    fn trailing_bytes_strict_and_lenient() {
        let header = RequestHeader::new(ApiKey::ApiVersions, 0, 1, Some("c"));
        let mut wire = BytesMut::new();
        encode_request_frame(&header, &ApiVersionsRequest::default().into(), &mut wire).unwrap();
        wire.extend_from_slice(&[1, 0, 0]);
        let frame = wire.freeze().slice(4..);
        let e = decode_request_frame(frame.clone()).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TrailingBytes(3));
        assert_eq!(e.field, "ApiVersionsRequest");
        let (_, _, rest) = decode_request_frame_lenient(frame).unwrap();
        assert_eq!(&rest[..], &[1, 0, 0]);
    }
}
