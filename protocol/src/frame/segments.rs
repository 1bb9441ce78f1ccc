//! Request frames in pieces, for vectored writes: a produce request's record
//! batches (usually nearly all of its bytes) are handed over by reference
//! instead of being copied into the frame buffer.

use bytes::{Bytes, BytesMut};

use super::encode_request_frame;
use crate::error::EncodeError;
use crate::header::RequestHeader;
use crate::messages::codec::{write_opt_string, TaggedWriter};
use crate::messages::produce::{self, request::PartitionProduceData};
use crate::messages::{ApiKey, ProduceRequest, RequestBody};
use crate::primitives::{write_array_len, write_i16, write_i32, write_len, LenKind};

/// Record batches smaller than this are copied into the frame: below it an
/// extra piece (an iovec and a reference count) costs more than the copy.
const ZERO_COPY_MIN_BYTES: usize = 1024;

/// Encodes a size-prefixed request frame as pieces whose concatenation is
/// exactly what [`encode_request_frame`] writes. Produce requests keep their
/// record batches (of at least 1 KiB) as pieces of their own, shared rather
/// than copied; other requests are one piece. No piece is empty.
pub fn encode_request_frame_segments(
    header: &RequestHeader,
    body: &RequestBody,
) -> Result<Vec<Bytes>, EncodeError> {
    let version = header.request_api_version;
    if let RequestBody::Produce(p) = body {
        if header.request_api_key == ApiKey::Produce.code()
            && (produce::MIN_VERSION..=produce::MAX_VERSION).contains(&version)
        {
            if let Ok(pieces) = produce_segments(header, p) {
                return Ok(pieces);
            }
            // Fall through: the one-piece encoder reports the error with
            // the full field path.
        }
    }
    let mut buf = BytesMut::new();
    encode_request_frame(header, body, &mut buf)?;
    Ok(vec![buf.freeze()])
}

/// Collects the pieces: small fields go into `cur`, which is cut off before
/// each shared record batch.
struct Pieces {
    done: Vec<Bytes>,
    cur: BytesMut,
}

impl Pieces {
    fn cut(&mut self) {
        if !self.cur.is_empty() {
            self.done.push(self.cur.split().freeze());
        }
    }
}

/// Mirrors the generated `ProduceRequest::encode` (the tests compare the two
/// byte for byte in every version).
fn produce_segments(header: &RequestHeader, p: &ProduceRequest) -> Result<Vec<Bytes>, EncodeError> {
    let version = header.request_api_version;
    let flex = produce::flexible(version);
    let mut out = Pieces {
        done: Vec::with_capacity(4),
        cur: BytesMut::with_capacity(256),
    };
    out.cur.extend_from_slice(&[0; 4]);
    // Shares the allocation; filled in once the total size is known.
    let mut size_slot = out.cur.split_to(4);
    header.encode(
        ApiKey::Produce.request_header_version(version),
        &mut out.cur,
    )?;
    write_opt_string(&mut out.cur, flex, p.transactional_id.as_deref(), true)?;
    write_i16(&mut out.cur, p.acks);
    write_i32(&mut out.cur, p.timeout_ms);
    write_array_len(&mut out.cur, flex, Some(p.topic_data.len()))?;
    for t in &p.topic_data {
        crate::primitives::write_string(&mut out.cur, flex, &t.name)?;
        write_array_len(&mut out.cur, flex, Some(t.partition_data.len()))?;
        for d in &t.partition_data {
            write_partition(&mut out, flex, d)?;
        }
        if flex {
            TaggedWriter::default().finish(&mut out.cur, &t.unknown_tagged_fields);
        }
    }
    if flex {
        TaggedWriter::default().finish(&mut out.cur, &p.unknown_tagged_fields);
    }
    out.cut();
    let size: usize = out.done.iter().map(Bytes::len).sum();
    let size = i32::try_from(size).map_err(|_| {
        EncodeError::new(
            "frame",
            format!("frame of {size} bytes does not fit an int32 size"),
        )
    })?;
    size_slot.copy_from_slice(&size.to_be_bytes());
    out.done.insert(0, size_slot.freeze());
    Ok(out.done)
}

fn write_partition(
    out: &mut Pieces,
    flex: bool,
    d: &PartitionProduceData,
) -> Result<(), EncodeError> {
    write_i32(&mut out.cur, d.index);
    let kind = if flex {
        LenKind::Compact
    } else {
        LenKind::Int32
    };
    let records = d.records.as_ref();
    write_len(&mut out.cur, kind, records.map(Bytes::len))?;
    match records {
        Some(r) if r.len() >= ZERO_COPY_MIN_BYTES => {
            out.cut();
            out.done.push(r.clone());
        }
        Some(r) => out.cur.extend_from_slice(r),
        None => {}
    }
    if flex {
        TaggedWriter::default().finish(&mut out.cur, &d.unknown_tagged_fields);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::produce::request::TopicProduceData;
    use crate::primitives::RawTaggedField;

    fn joined(pieces: &[Bytes]) -> Vec<u8> {
        pieces.iter().flat_map(|p| p.iter().copied()).collect()
    }

    fn one_piece(header: &RequestHeader, body: &RequestBody) -> Vec<u8> {
        let mut buf = BytesMut::new();
        encode_request_frame(header, body, &mut buf).unwrap();
        buf.to_vec()
    }

    fn big_request(version: i16) -> RequestBody {
        let tagged = |tag| {
            if produce::flexible(version) {
                vec![RawTaggedField {
                    tag,
                    data: Bytes::from_static(&[1, 2, 3]),
                }]
            } else {
                Vec::new()
            }
        };
        let partition = |index, records: Option<usize>| PartitionProduceData {
            index,
            records: records.map(|n| Bytes::from((0..n).map(|i| i as u8).collect::<Vec<_>>())),
            unknown_tagged_fields: tagged(5),
        };
        ProduceRequest {
            transactional_id: Some("txn".into()),
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![
                TopicProduceData {
                    name: "a-topic".into(),
                    partition_data: vec![
                        partition(0, Some(16_384)),
                        partition(1, None),
                        partition(2, Some(10)),
                        partition(3, Some(0)),
                    ],
                    unknown_tagged_fields: tagged(6),
                },
                TopicProduceData {
                    name: "another-topic".into(),
                    // Last field of a non-flexible frame: nothing follows it.
                    partition_data: vec![partition(7, Some(ZERO_COPY_MIN_BYTES))],
                    unknown_tagged_fields: Vec::new(),
                },
            ],
            unknown_tagged_fields: tagged(9),
        }
        .into()
    }

    #[test]
    fn pieces_join_to_the_one_piece_frame_in_every_produce_version() {
        for version in produce::MIN_VERSION..=produce::MAX_VERSION {
            let header = RequestHeader::new(ApiKey::Produce, version, 11, Some("client"));
            let bodies = [
                big_request(version),
                RequestBody::__sample(ApiKey::Produce, version, false),
                RequestBody::__sample(ApiKey::Produce, version, true),
                ProduceRequest::default().into(),
            ];
            for body in &bodies {
                let pieces = encode_request_frame_segments(&header, body).unwrap();
                assert!(
                    pieces.iter().all(|p| !p.is_empty()),
                    "v{version}: empty piece"
                );
                assert_eq!(joined(&pieces), one_piece(&header, body), "v{version}");
            }
            // The large batches are shared, not copied.
            let big = big_request(version);
            let RequestBody::Produce(p) = &big else {
                unreachable!()
            };
            let pieces = encode_request_frame_segments(&header, &big).unwrap();
            for records in [
                p.topic_data[0].partition_data[0].records.as_ref().unwrap(),
                p.topic_data[1].partition_data[0].records.as_ref().unwrap(),
            ] {
                assert!(
                    pieces.iter().any(|s| s.as_ptr() == records.as_ptr()),
                    "v{version}: records copied"
                );
            }
        }
    }

    #[test]
    fn other_requests_are_one_piece() {
        let header = RequestHeader::new(ApiKey::Metadata, 12, 3, Some("client"));
        let body = RequestBody::__sample(ApiKey::Metadata, 12, false);
        let pieces = encode_request_frame_segments(&header, &body).unwrap();
        assert_eq!(pieces.len(), 1);
        assert_eq!(joined(&pieces), one_piece(&header, &body));
    }

    #[test]
    fn errors_match_the_one_piece_encoder() {
        let body = big_request(9);
        for header in [
            RequestHeader::new(ApiKey::Produce, 2, 1, None),
            RequestHeader::new(ApiKey::Produce, 13, 1, None),
            RequestHeader::new(ApiKey::Fetch, 9, 1, None),
        ] {
            let mut buf = BytesMut::new();
            let expected = encode_request_frame(&header, &body, &mut buf).unwrap_err();
            let got = encode_request_frame_segments(&header, &body).unwrap_err();
            assert_eq!(got.to_string(), expected.to_string());
        }
        // A topic name too long for its int16 length (non-flexible).
        let RequestBody::Produce(mut p) = big_request(3) else {
            unreachable!()
        };
        p.topic_data[0].name = "x".repeat(40_000);
        let body = RequestBody::Produce(p);
        let header = RequestHeader::new(ApiKey::Produce, 3, 1, None);
        let mut buf = BytesMut::new();
        let expected = encode_request_frame(&header, &body, &mut buf).unwrap_err();
        let got = encode_request_frame_segments(&header, &body).unwrap_err();
        assert_eq!(got.to_string(), expected.to_string());
    }
}
