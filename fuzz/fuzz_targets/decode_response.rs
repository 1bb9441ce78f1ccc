//! Response decoding: the first byte picks the API, the second the version
//! (mostly inside the supported range, sometimes outside it), the rest is a
//! response frame without its size prefix. Decoding must not panic; what
//! decodes must re-encode to something that decodes to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use prozess_protocol::frame::decode_response_frame;
use prozess_protocol::{ApiKey, ResponseBody};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let key = ApiKey::ALL[data[0] as usize % ApiKey::ALL.len()];
    let (min, max) = key.supported_versions();
    let span = (max - min + 1) as i16;
    // One value in eight tries a version just outside the range.
    let version = match data[1] % 8 {
        0 => min - 1 + (data[1] as i16 / 8) % 2 * (span + 1),
        _ => min + (data[1] as i16) % span,
    };
    let frame = Bytes::copy_from_slice(&data[2..]);
    let Ok((_, body)) = decode_response_frame(frame, key, version) else {
        return;
    };
    // ApiVersions UNSUPPORTED_VERSION answers are read as v0.
    let version = match &body {
        ResponseBody::ApiVersions(a) if a.error_code == 35 => 0,
        _ => version,
    };
    let mut out = BytesMut::new();
    body.encode(version, &mut out)
        .expect("a decoded response encodes");
    let again = ResponseBody::decode(key, version, &mut out.freeze())
        .expect("a re-encoded response decodes");
    assert_eq!(again, body);
});
