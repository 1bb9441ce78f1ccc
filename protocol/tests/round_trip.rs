//! Round trips for every version of every message: a value with every field
//! of that version set to a non-default value encodes, decodes back equal,
//! and consumes its bytes exactly; fields that do not exist in the version
//! are not written (filling them in changes no byte).

use bytes::{Bytes, BytesMut};
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};

fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let (min, max) = key.supported_versions();
    min..=max
}

#[test]
fn every_request_version_round_trips() {
    for key in ApiKey::ALL {
        for v in versions(key) {
            let msg = RequestBody::__sample(key, v, false);
            let mut buf = BytesMut::new();
            msg.encode(v, &mut buf)
                .unwrap_or_else(|e| panic!("{key} v{v} request: {e}"));
            let mut bytes = buf.clone().freeze();
            let back = RequestBody::decode(key, v, &mut bytes)
                .unwrap_or_else(|e| panic!("{key} v{v} request: {e}"));
            assert!(bytes.is_empty(), "{key} v{v} request: bytes left over");
            assert_eq!(back, msg, "{key} v{v} request");

            let filled = RequestBody::__sample(key, v, true);
            let mut buf2 = BytesMut::new();
            filled.encode(v, &mut buf2).unwrap();
            assert_eq!(
                buf, buf2,
                "{key} v{v} request: a field absent in this version was written"
            );
        }
    }
}

#[test]
fn every_response_version_round_trips() {
    for key in ApiKey::ALL {
        for v in versions(key) {
            let msg = ResponseBody::__sample(key, v, false);
            let mut buf = BytesMut::new();
            msg.encode(v, &mut buf)
                .unwrap_or_else(|e| panic!("{key} v{v} response: {e}"));
            let mut bytes = buf.clone().freeze();
            let back = ResponseBody::decode(key, v, &mut bytes)
                .unwrap_or_else(|e| panic!("{key} v{v} response: {e}"));
            assert!(bytes.is_empty(), "{key} v{v} response: bytes left over");
            assert_eq!(back, msg, "{key} v{v} response");

            let filled = ResponseBody::__sample(key, v, true);
            let mut buf2 = BytesMut::new();
            filled.encode(v, &mut buf2).unwrap();
            assert_eq!(
                buf, buf2,
                "{key} v{v} response: a field absent in this version was written"
            );
        }
    }
}

#[test]
fn samples_fill_present_fields_and_only_those() {
    use prozess_protocol::messages::ApiVersionsRequest;
    let v3 = ApiVersionsRequest::__sample(3, false);
    assert!(!v3.client_software_name.is_empty());
    assert!(
        !v3.unknown_tagged_fields.is_empty(),
        "flexible: an unknown tag"
    );
    let v0 = ApiVersionsRequest::__sample(0, false);
    assert_eq!(v0, ApiVersionsRequest::default(), "v0 has no fields");
    let v0_filled = ApiVersionsRequest::__sample(0, true);
    assert_ne!(v0_filled, ApiVersionsRequest::default());
}

#[test]
fn unsupported_versions_are_errors_both_ways() {
    for key in ApiKey::ALL {
        let (min, max) = key.supported_versions();
        for v in [min - 1, max + 1] {
            let msg = RequestBody::__sample(key, max, false);
            assert!(msg.encode(v, &mut BytesMut::new()).is_err(), "{key} v{v}");
            let e = ResponseBody::decode(key, v, &mut Bytes::from_static(&[0; 64])).unwrap_err();
            assert!(
                matches!(
                    e.kind,
                    prozess_protocol::DecodeErrorKind::UnsupportedVersion { .. }
                ),
                "{key} v{v}: {e}"
            );
        }
    }
}

#[test]
fn api_key_table_is_consistent() {
    for key in ApiKey::ALL {
        assert_eq!(ApiKey::from_i16(key.code()), Some(key));
        let (min, max) = key.supported_versions();
        assert!(min <= max, "{key}");
        for v in min..=max {
            let flex = key.is_flexible(v);
            assert_eq!(key.request_header_version(v), if flex { 2 } else { 1 });
            let expected = if key == ApiKey::ApiVersions || !flex {
                0
            } else {
                1
            };
            assert_eq!(key.response_header_version(v), expected, "{key} v{v}");
        }
    }
    assert_eq!(ApiKey::ApiVersions.name(), "ApiVersions");
    assert_eq!(ApiKey::ApiVersions.supported_versions(), (0, 4));
    assert!(ApiKey::ApiVersions.is_flexible(3));
    assert!(!ApiKey::ApiVersions.is_flexible(2));
    assert_eq!(ApiKey::from_i16(-5), None);
}

#[test]
fn null_where_the_version_does_not_allow_it_is_an_encode_error() {
    use prozess_protocol::messages::MetadataRequest;
    // Metadata topics are nullable ("all topics") from v1 on only.
    let all_topics = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let e = all_topics.encode(0, &mut BytesMut::new()).unwrap_err();
    assert_eq!(e.field, "MetadataRequest.topics");
    let mut buf = BytesMut::new();
    all_topics.encode(1, &mut buf).unwrap();
    assert_eq!(&buf[..], &[0xff, 0xff, 0xff, 0xff], "v1: null array");
    // And a null on the wire where it is not allowed is a decode error.
    let e =
        MetadataRequest::decode(&mut Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]), 0).unwrap_err();
    assert_eq!(e.kind, prozess_protocol::DecodeErrorKind::UnexpectedNull);
    assert_eq!(e.field, "MetadataRequest.topics");
}

#[test]
fn decode_errors_name_the_field_path() {
    use prozess_protocol::messages::MetadataResponse;
    // v0: brokers = [1 entry: node_id 1, host of length 16 with 3 bytes left].
    let mut b = Bytes::from_static(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 16, b'a', b'b', b'c']);
    let e = MetadataResponse::decode(&mut b, 0).unwrap_err();
    assert_eq!(e.field, "MetadataResponse.brokers[0].host");
    assert!(matches!(
        e.kind,
        prozess_protocol::DecodeErrorKind::LengthExceedsInput { .. }
    ));
}

#[test]
fn huge_array_lengths_fail_before_allocating() {
    use prozess_protocol::messages::ApiVersionsResponse;
    // v0: error_code, then an int32 array length of 2^31-1 with 2 bytes left.
    let mut b = Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 18]);
    let e = ApiVersionsResponse::decode(&mut b, 0).unwrap_err();
    assert_eq!(e.field, "ApiVersionsResponse.api_keys");
    assert!(matches!(
        e.kind,
        prozess_protocol::DecodeErrorKind::LengthExceedsInput { .. }
    ));
}
