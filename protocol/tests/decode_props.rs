//! Property tests: decoding is total. Random bytes and truncated or mutated
//! valid bodies and frames, fed to every request and response decoder in
//! every version, return (`Ok` or `Err`) without panicking; whatever decodes
//! re-encodes to something that decodes to the same value; and valid inputs
//! (generated samples, captured frames) re-encode to exactly their bytes.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use prozess_protocol::frame::{decode_request_frame_lenient, decode_response_frame, split_frame};
use prozess_protocol::{ApiKey, RequestBody, RequestHeader, ResponseBody, ResponseHeader};

/// A valid body: API, version, request or response, bytes.
#[derive(Debug, Clone)]
struct Valid {
    key: ApiKey,
    version: i16,
    request: bool,
    body: Bytes,
}

fn decode(key: ApiKey, version: i16, request: bool, input: &Bytes) -> Option<Bytes> {
    // Returns the re-encoding of whatever decoded (and checks it decodes to
    // the same value).
    let mut buf = input.clone();
    if request {
        let msg = RequestBody::decode(key, version, &mut buf).ok()?;
        let mut out = BytesMut::new();
        msg.encode(version, &mut out)
            .unwrap_or_else(|e| panic!("{key} v{version}: decoded request does not encode: {e}"));
        let again =
            RequestBody::decode(key, version, &mut out.clone().freeze()).unwrap_or_else(|e| {
                panic!("{key} v{version}: re-encoded request does not decode: {e}")
            });
        assert_eq!(again, msg, "{key} v{version} request");
        Some(out.freeze())
    } else {
        let msg = ResponseBody::decode(key, version, &mut buf).ok()?;
        let mut out = BytesMut::new();
        msg.encode(version, &mut out)
            .unwrap_or_else(|e| panic!("{key} v{version}: decoded response does not encode: {e}"));
        let again =
            ResponseBody::decode(key, version, &mut out.clone().freeze()).unwrap_or_else(|e| {
                panic!("{key} v{version}: re-encoded response does not decode: {e}")
            });
        assert_eq!(again, msg, "{key} v{version} response");
        Some(out.freeze())
    }
}

/// Samples of every version of every message, plus the body of every
/// captured frame (the golden test checks the frames themselves).
fn corpus() -> &'static [Valid] {
    static CORPUS: OnceLock<Vec<Valid>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut out = Vec::new();
        for key in ApiKey::ALL {
            let (min, max) = key.supported_versions();
            for version in min..=max {
                let mut b = BytesMut::new();
                RequestBody::__sample(key, version, false)
                    .encode(version, &mut b)
                    .unwrap();
                out.push(Valid {
                    key,
                    version,
                    request: true,
                    body: b.freeze(),
                });
                let mut b = BytesMut::new();
                ResponseBody::__sample(key, version, false)
                    .encode(version, &mut b)
                    .unwrap();
                out.push(Valid {
                    key,
                    version,
                    request: false,
                    body: b.freeze(),
                });
            }
        }
        out.extend(captured_bodies());
        out
    })
}

fn captured_bodies() -> Vec<Valid> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures");
    let mut out = Vec::new();
    let mut files = Vec::new();
    for broker in fs::read_dir(&root).unwrap() {
        for sc in fs::read_dir(broker.unwrap().path()).unwrap() {
            for f in fs::read_dir(sc.unwrap().path()).unwrap() {
                files.push(f.unwrap().path());
            }
        }
    }
    files.sort();
    // Requests carry their API and version; a response follows its request
    // (same sequence number) in the sorted listing.
    let mut last: Option<(ApiKey, i16)> = None;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".bin") {
            continue;
        }
        let frame = Bytes::from(fs::read(&path).unwrap());
        if name.ends_with("-request.bin") {
            last = None;
            let Ok((h, _, _)) = decode_request_frame_lenient(frame.clone()) else {
                continue;
            };
            let key = h.api_key().unwrap();
            let mut rest = frame.clone();
            RequestHeader::decode_auto(&mut rest).unwrap();
            // Drop librdkafka's trailing bytes: the body alone is valid.
            let mut probe = rest.clone();
            RequestBody::decode(key, h.request_api_version, &mut probe).unwrap();
            let body = rest.slice(..rest.len() - probe.len());
            last = Some((key, h.request_api_version));
            out.push(Valid {
                key,
                version: h.request_api_version,
                request: true,
                body,
            });
        } else if let Some((key, version)) = last.take() {
            if decode_response_frame(frame.clone(), key, version).is_err() {
                continue;
            }
            let mut rest = frame;
            ResponseHeader::decode(&mut rest, key.response_header_version(version)).unwrap();
            // Skip the ApiVersions UNSUPPORTED_VERSION answer (a v0 body).
            if key == ApiKey::ApiVersions && rest.len() >= 2 && rest[..2] == [0, 35] {
                continue;
            }
            out.push(Valid {
                key,
                version,
                request: false,
                body: rest,
            });
        }
    }
    assert!(out.len() > 2000, "captured bodies: {}", out.len());
    out
}

#[test]
fn valid_inputs_reencode_to_the_same_bytes() {
    for v in corpus() {
        let again = decode(v.key, v.version, v.request, &v.body)
            .unwrap_or_else(|| panic!("{} v{} does not decode", v.key, v.version));
        assert_eq!(
            again, v.body,
            "{} v{} request={}",
            v.key, v.version, v.request
        );
    }
}

fn any_api() -> impl Strategy<Value = (ApiKey, i16)> {
    (0..ApiKey::ALL.len(), any::<u8>()).prop_map(|(i, v)| {
        let key = ApiKey::ALL[i];
        let (min, max) = key.supported_versions();
        (key, min + (v as i16) % (max - min + 1))
    })
}

/// How to damage a valid input.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    /// Overwrite four bytes with a huge or negative value (lengths, counts).
    Big(usize, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        (
            any::<usize>(),
            prop_oneof![
                Just(0x7fff_ffffu32),
                Just(0xffff_fffe),
                Just(0x8000_0000),
                Just(0xffff_ffff),
                any::<u32>()
            ]
        )
            .prop_map(|(i, v)| Mutation::Big(i, v)),
    ]
}

fn apply(input: &Bytes, ms: &[Mutation]) -> Bytes {
    let mut v = input.to_vec();
    for m in ms {
        let n = v.len();
        match *m {
            Mutation::Truncate(i) => v.truncate(i % (n + 1)),
            Mutation::Flip(i, b) if n > 0 => v[i % n] ^= b,
            Mutation::Insert(i, b) => v.insert(i % (n + 1), b),
            Mutation::Remove(i) if n > 0 => {
                v.remove(i % n);
            }
            Mutation::Big(i, x) if n >= 4 => {
                let at = i % (n - 3);
                v[at..at + 4].copy_from_slice(&x.to_be_bytes());
            }
            _ => {}
        }
    }
    Bytes::from(v)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic((key, version) in any_api(), request in any::<bool>(),
                                data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(key, version, request, &Bytes::from(data));
    }

    #[test]
    fn mutated_valid_bodies_never_panic(i in any::<usize>(),
                                        ms in proptest::collection::vec(mutation(), 1..4)) {
        let c = corpus();
        let v = &c[i % c.len()];
        let input = apply(&v.body, &ms);
        let _ = decode(v.key, v.version, v.request, &input);
        // The same bytes read as another version must not panic either.
        let (min, max) = v.key.supported_versions();
        for version in [min, max] {
            let _ = decode(v.key, version, v.request, &input);
        }
    }

    #[test]
    fn random_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200),
                                 (key, version) in any_api(), max in 0usize..300) {
        let frame = Bytes::from(data.clone());
        let _ = decode_request_frame_lenient(frame.clone());
        let _ = decode_response_frame(frame, key, version);
        let mut read = BytesMut::from(&data[..]);
        // The splitter either waits, errors, or hands out a frame no larger
        // than the maximum; it never loops without making progress.
        for _ in 0..=data.len() {
            match split_frame(&mut read, max) {
                Ok(Some(f)) => prop_assert!(f.len() <= max),
                Ok(None) | Err(_) => break,
            }
        }
    }
}
