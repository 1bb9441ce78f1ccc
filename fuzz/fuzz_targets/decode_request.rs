//! Request decoding: the input is a request frame without its size prefix
//! (header, then body). Decoding must not panic; what decodes must re-encode
//! to something that decodes to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use prozess_protocol::frame::decode_request_frame_lenient;
use prozess_protocol::RequestBody;

fuzz_target!(|data: &[u8]| {
    let Ok((header, body, _trailing)) = decode_request_frame_lenient(Bytes::copy_from_slice(data))
    else {
        return;
    };
    let version = header.request_api_version;
    let mut out = BytesMut::new();
    body.encode(version, &mut out)
        .expect("a decoded request encodes");
    let again = RequestBody::decode(body.api_key(), version, &mut out.freeze())
        .expect("a re-encoded request decodes");
    assert_eq!(again, body);
});
