//! Golden vectors: every request and response frame captured between real
//! clients and Apache Kafka 4.0 / Tansu 0.6 (tests/data/captures, copied from
//! the shared captures; README there) decodes, re-encodes to the same bytes,
//! and carries the values the scenario READMEs state.
//!
//! Known oddities, each asserted by name below rather than skipped:
//! - librdkafka's all-topics Metadata requests end with 3 bytes (`01 00 00`)
//!   after the body: the strict decoder reports `TrailingBytes(3)`, the
//!   lenient one (`decode_request_frame_lenient`, what a broker does) accepts.
//! - The ApiVersions v127 request cannot be decoded (no such version).
//! - Kafka answers it with a v0 body and UNSUPPORTED_VERSION, which
//!   `decode_response_frame` reads as v0; Tansu answers with a v3-layout body
//!   and error 0, which is not decodable as any version we could pick.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use prozess_protocol::frame::{
    decode_request_frame, decode_request_frame_lenient, decode_response_frame,
};
use prozess_protocol::messages::{MetadataResponse, ProduceRequest};
use prozess_protocol::{
    ApiKey, DecodeErrorKind, ErrorCode, RequestBody, RequestHeader, ResponseBody,
};
use serde_json::Value;

struct Pair {
    broker: String,
    scenario: String,
    dir: PathBuf,
    seq: u64,
    api_key: i16,
    api_name: String,
    version: i16,
    client: String,
    request_header_version: i16,
    response_header_version: i16,
    request_file: String,
    response_file: Option<String>,
    correlation_id: i32,
    client_id: Option<String>,
}

impl Pair {
    fn label(&self) -> String {
        format!(
            "{}/{} {:04} {} v{}",
            self.broker, self.scenario, self.seq, self.api_name, self.version
        )
    }
    fn read(&self, file: &str) -> Bytes {
        Bytes::from(fs::read(self.dir.join(file)).expect("capture file"))
    }
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures")
}

fn scenario_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for broker in fs::read_dir(captures_dir()).expect("tests/data/captures") {
        let broker = broker.unwrap().path();
        for sc in fs::read_dir(&broker).unwrap() {
            let sc = sc.unwrap().path();
            if sc.join("index.json").exists() {
                dirs.push(sc);
            }
        }
    }
    dirs.sort();
    dirs
}

fn dir_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn load_pairs() -> Vec<Pair> {
    let mut pairs = Vec::new();
    for dir in scenario_dirs() {
        let index: Value =
            serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
        for p in index["pairs"].as_array().unwrap() {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            let i = |k: &str| p[k].as_i64().unwrap_or(-1);
            pairs.push(Pair {
                // Directory names (kafka-4.0, tansu-0.6), not index.json's long labels.
                broker: dir_name(dir.parent().unwrap()),
                scenario: dir_name(&dir),
                dir: dir.clone(),
                seq: i("seq") as u64,
                api_key: i("api_key") as i16,
                api_name: s("api_name"),
                version: i("api_version") as i16,
                client: s("client"),
                request_header_version: i("request_header_version") as i16,
                response_header_version: i("response_header_version") as i16,
                request_file: s("request_file"),
                response_file: p["response_file"].as_str().map(str::to_string),
                correlation_id: i("correlation_id") as i32,
                client_id: p["client_id"].as_str().map(str::to_string),
            });
        }
    }
    assert!(
        pairs.len() > 1000,
        "captures missing: {} pairs",
        pairs.len()
    );
    pairs
}

fn encode_request(h: &RequestHeader, hv: i16, body: &RequestBody) -> BytesMut {
    let mut buf = BytesMut::new();
    h.encode(hv, &mut buf).unwrap();
    body.encode(h.request_api_version, &mut buf).unwrap();
    buf
}

/// What happened to one frame, for the summary.
#[derive(Default)]
struct Report {
    ok: BTreeMap<String, usize>,
    failures: Vec<String>,
    missing_schema: BTreeMap<String, usize>,
    trailing_metadata: Vec<String>,
}

#[test]
fn every_captured_frame_decodes_and_reencodes_identically() {
    let mut r = Report::default();
    for p in load_pairs() {
        let Some(key) = ApiKey::from_i16(p.api_key) else {
            *r.missing_schema
                .entry(format!("{} (key {})", p.api_name, p.api_key))
                .or_default() += 1;
            continue;
        };
        assert_eq!(key.name(), p.api_name, "{}", p.label());
        assert_eq!(
            key.request_header_version(p.version),
            p.request_header_version,
            "{}",
            p.label()
        );
        assert_eq!(
            key.response_header_version(p.version),
            p.response_header_version,
            "{}",
            p.label()
        );
        let api_label = format!("{} v{}", p.api_name, p.version);

        // Request.
        let frame = p.read(&p.request_file);
        if p.version > key.supported_versions().1 {
            // ApiVersions v127: the header reads, the body cannot.
            let e = decode_request_frame(frame.clone()).unwrap_err();
            assert!(
                matches!(e.kind, DecodeErrorKind::UnsupportedVersion { .. }),
                "{}: {e}",
                p.label()
            );
            let h = RequestHeader::decode_auto(&mut frame.clone()).unwrap();
            assert_eq!(h.request_api_version, p.version);
        } else {
            let h = RequestHeader::decode_auto(&mut frame.clone()).unwrap();
            assert_eq!(h.correlation_id, p.correlation_id, "{}", p.label());
            assert_eq!(h.client_id, p.client_id, "{}", p.label());
            match decode_request_frame(frame.clone()) {
                Ok((h, body)) => {
                    let again = encode_request(&h, p.request_header_version, &body);
                    if again[..] != frame[..] {
                        r.failures
                            .push(format!("{} request: re-encoded bytes differ", p.label()));
                    } else {
                        *r.ok.entry(format!("{api_label} request")).or_default() += 1;
                    }
                }
                Err(e)
                    if e.kind == DecodeErrorKind::TrailingBytes(3) && key == ApiKey::Metadata =>
                {
                    let (h, body, rest) = decode_request_frame_lenient(frame.clone()).unwrap();
                    assert_eq!(&rest[..], &[1, 0, 0], "{}", p.label());
                    let again = encode_request(&h, p.request_header_version, &body);
                    assert_eq!(again[..], frame[..frame.len() - 3], "{}", p.label());
                    let RequestBody::Metadata(m) = body else {
                        unreachable!()
                    };
                    assert_eq!(m.topics, None, "{}: all-topics request", p.label());
                    r.trailing_metadata.push(format!(
                        "{}/{} {:04} ({})",
                        p.broker, p.scenario, p.seq, p.client
                    ));
                    *r.ok.entry(format!("{api_label} request")).or_default() += 1;
                }
                Err(e) => r.failures.push(format!("{} request: {e}", p.label())),
            }
        }

        // Response.
        let Some(file) = &p.response_file else {
            continue;
        };
        let frame = p.read(file);
        assert_eq!(
            prozess_protocol::frame::peek_correlation_id(&frame).unwrap(),
            p.correlation_id,
            "{}",
            p.label()
        );
        match decode_response_frame(frame.clone(), key, p.version) {
            Ok((h, body)) => {
                assert_eq!(h.correlation_id, p.correlation_id, "{}", p.label());
                // The body version actually on the wire (v0 for an ApiVersions
                // UNSUPPORTED_VERSION answer).
                let body_version = match &body {
                    ResponseBody::ApiVersions(a) if a.error_code == 35 => 0,
                    _ => p.version,
                };
                let mut again = BytesMut::new();
                h.encode(p.response_header_version, &mut again).unwrap();
                body.encode(body_version, &mut again).unwrap();
                if again[..] != frame[..] {
                    r.failures
                        .push(format!("{} response: re-encoded bytes differ", p.label()));
                } else {
                    *r.ok.entry(format!("{api_label} response")).or_default() += 1;
                }
            }
            Err(e)
                if p.broker.starts_with("tansu")
                    && key == ApiKey::ApiVersions
                    && p.version == 127 =>
            {
                // Tansu's v3-layout answer with error 0 to a v127 request.
                assert!(
                    matches!(
                        e.kind,
                        DecodeErrorKind::UnsupportedVersion { version: 127, .. }
                    ),
                    "{}: {e}",
                    p.label()
                );
            }
            Err(e) => r.failures.push(format!("{} response: {e}", p.label())),
        }
    }

    eprintln!("frames decoded and re-encoded byte-identical:");
    for (k, n) in &r.ok {
        eprintln!("  {k}: {n}");
    }
    eprintln!(
        "librdkafka Metadata requests with 3 trailing bytes: {:?}",
        r.trailing_metadata
    );
    // The frames the captures README names as the test case are among them.
    for must in ["kafka-4.0/metadata 0028", "kafka-4.0/metadata 0031"] {
        assert!(
            r.trailing_metadata.iter().any(|t| t.starts_with(must)),
            "{must} should carry trailing bytes"
        );
    }
    assert!(
        r.trailing_metadata
            .iter()
            .any(|t| t.starts_with("tansu-0.6/")),
        "Tansu captures carry librdkafka's trailing bytes too"
    );
    assert!(
        r.missing_schema.is_empty(),
        "APIs in the captures without a schema file in protocol/schema/: {:?}",
        r.missing_schema
    );
    assert!(
        r.failures.is_empty(),
        "{} frames failed:\n{}",
        r.failures.len(),
        r.failures.join("\n")
    );
}

/// One row of a README "Error codes in responses" table.
struct StatedError {
    dir: PathBuf,
    api: String,
    version: i16,
    name: String,
    code: i16,
    files: Vec<String>,
}

fn stated_errors() -> Vec<StatedError> {
    let mut out = Vec::new();
    for dir in scenario_dirs() {
        let readme = fs::read_to_string(dir.join("README.md")).unwrap();
        let Some(section) = readme.split("## Error codes in responses").nth(1) else {
            continue;
        };
        let section = section.split("\n## ").next().unwrap_or_default();
        for line in section.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | API | version | error | occurrences | responses |
            if cells.len() < 6 || cells[1] == "API" || cells[1].starts_with("---") {
                continue;
            }
            let error = cells[3];
            let (name, code) = error.trim_end_matches(')').split_once('(').unwrap();
            out.push(StatedError {
                dir: dir.clone(),
                api: cells[1].to_string(),
                version: cells[2].trim_start_matches('v').parse().unwrap(),
                name: name.to_string(),
                code: code.parse().unwrap(),
                files: cells[5]
                    .split('`')
                    .filter(|s| s.ends_with(".bin"))
                    .map(str::to_string)
                    .collect(),
            });
        }
    }
    out
}

#[test]
fn error_codes_stated_in_the_readmes_decode() {
    let stated = stated_errors();
    assert!(stated.len() >= 20, "README error tables not found");
    for s in stated {
        assert_eq!(
            ErrorCode::from_i16(s.code).name(),
            s.name,
            "error code table disagrees with the README"
        );
        let key = (0..i16::MAX)
            .filter_map(ApiKey::from_i16)
            .find(|k| k.name() == s.api)
            .unwrap_or_else(|| panic!("no schema for {}", s.api));
        for f in &s.files {
            let frame = Bytes::from(fs::read(s.dir.join(f)).unwrap());
            let (_, body) = decode_response_frame(frame, key, s.version)
                .unwrap_or_else(|e| panic!("{}/{f}: {e}", s.dir.display()));
            let text = format!("{body:?}");
            assert!(
                text.contains(&format!("error_code: {},", s.code)),
                "{}/{f}: no error_code {} ({}) in {text}",
                s.dir.display(),
                s.code,
                s.name
            );
        }
    }
}

fn response(path: &str, key: ApiKey, version: i16) -> ResponseBody {
    let frame = Bytes::from(fs::read(captures_dir().join(path)).unwrap());
    decode_response_frame(frame, key, version)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .1
}

fn request(path: &str) -> RequestBody {
    let frame = Bytes::from(fs::read(captures_dir().join(path)).unwrap());
    decode_request_frame(frame)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .1
}

#[test]
fn api_versions_values() {
    // v127 to Kafka: a v0 body with UNSUPPORTED_VERSION and one entry,
    // ApiVersions 0..4.
    let ResponseBody::ApiVersions(a) = response(
        "kafka-4.0/api-versions/0003-ApiVersions-v127-response.bin",
        ApiKey::ApiVersions,
        127,
    ) else {
        unreachable!()
    };
    assert_eq!(
        ErrorCode::from_i16(a.error_code).name(),
        "UNSUPPORTED_VERSION"
    );
    let keys: Vec<_> = a
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    assert_eq!(keys, vec![(18, 0, 4)]);

    // Tansu's answer to the same request: not decodable, named.
    let frame = Bytes::from(
        fs::read(captures_dir().join("tansu-0.6/api-versions/0003-ApiVersions-v127-response.bin"))
            .unwrap(),
    );
    let e = decode_response_frame(frame, ApiKey::ApiVersions, 127).unwrap_err();
    assert_eq!(e.field, "ApiVersionsResponse");

    // v3: Kafka advertises 61 APIs, Tansu 36 (captures README).
    for (path, n, produce_max) in [
        (
            "kafka-4.0/api-versions/0002-ApiVersions-v3-response.bin",
            61,
            12,
        ),
        (
            "tansu-0.6/api-versions/0002-ApiVersions-v3-response.bin",
            36,
            11,
        ),
    ] {
        let ResponseBody::ApiVersions(a) = response(path, ApiKey::ApiVersions, 3) else {
            unreachable!()
        };
        assert_eq!(a.error_code, 0, "{path}");
        assert_eq!(a.api_keys.len(), n, "{path}");
        let produce = a.api_keys.iter().find(|k| k.api_key == 0).unwrap();
        assert_eq!(produce.max_version, produce_max, "{path}");
    }

    // Tansu writes every tagged field, defaults included; they are kept raw so
    // the frame re-encodes identically, and yield to the known field once it
    // is set to something else.
    let ResponseBody::ApiVersions(mut a) = response(
        "tansu-0.6/api-versions/0002-ApiVersions-v3-response.bin",
        ApiKey::ApiVersions,
        3,
    ) else {
        unreachable!()
    };
    assert_eq!(a.finalized_features_epoch, -1);
    let tags: Vec<u32> = a.unknown_tagged_fields.iter().map(|t| t.tag).collect();
    assert_eq!(tags, vec![0, 1, 2, 3]);
    a.zk_migration_ready = true;
    let mut buf = BytesMut::new();
    a.encode(3, &mut buf).unwrap();
    let back =
        prozess_protocol::messages::ApiVersionsResponse::decode(&mut buf.freeze(), 3).unwrap();
    assert!(back.zk_migration_ready);
    let tags: Vec<u32> = back.unknown_tagged_fields.iter().map(|t| t.tag).collect();
    assert_eq!(
        tags,
        vec![0, 1, 2],
        "tag 3 written once, as the known field"
    );

    // The v3 request carries the client software name and version.
    let RequestBody::ApiVersions(q) =
        request("kafka-4.0/api-versions/0002-ApiVersions-v3-request.bin")
    else {
        unreachable!()
    };
    assert_eq!(q.client_software_name, "prozess-capture");
    assert_eq!(q.client_software_version, "0.1.0");
}

#[test]
fn metadata_values() {
    // kcat -L -t meta-topic after deletion: UNKNOWN_TOPIC_OR_PARTITION for it.
    let ResponseBody::Metadata(m) = response(
        "kafka-4.0/metadata/0051-Metadata-v13-response.bin",
        ApiKey::Metadata,
        13,
    ) else {
        unreachable!()
    };
    let m: MetadataResponse = m;
    assert_eq!(m.topics.len(), 1);
    assert_eq!(m.topics[0].name.as_deref(), Some("meta-topic"));
    assert_eq!(
        ErrorCode::from_i16(m.topics[0].error_code).name(),
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    // Tansu: broker/controller id 111, cluster id tansu_cluster.
    let pairs = load_pairs();
    let tansu_md = pairs
        .iter()
        .find(|p| p.broker.starts_with("tansu") && p.api_key == 3 && p.response_file.is_some())
        .unwrap();
    let frame = tansu_md.read(tansu_md.response_file.as_ref().unwrap());
    let (_, body) = decode_response_frame(frame, ApiKey::Metadata, tansu_md.version).unwrap();
    let ResponseBody::Metadata(m) = body else {
        unreachable!()
    };
    assert_eq!(m.controller_id, 111);
    assert_eq!(m.cluster_id.as_deref(), Some("tansu_cluster"));
    assert!(m.brokers.iter().any(|b| b.node_id == 111));
}

#[test]
fn produce_requests_name_the_topics_the_readme_states() {
    // "- `0004-Produce-v10-request.bin` (kcat-producer-none) -> codec-none[0]: ..."
    let mut checked = 0;
    for dir in scenario_dirs() {
        let readme = fs::read_to_string(dir.join("README.md")).unwrap();
        for line in readme.lines() {
            let Some(rest) = line.strip_prefix("- `") else {
                continue;
            };
            let Some((file, rest)) = rest.split_once('`') else {
                continue;
            };
            if !file.contains("-Produce-") || !file.ends_with("-request.bin") {
                continue;
            }
            let Some((_, target)) = rest.split_once("-> ") else {
                continue;
            };
            let Some((topic, rest)) = target.split_once('[') else {
                continue;
            };
            let partition: i32 = rest.split(']').next().unwrap().parse().unwrap();
            let frame = Bytes::from(fs::read(dir.join(file)).unwrap());
            let (_, body) = decode_request_frame(frame).unwrap();
            let RequestBody::Produce(p) = body else {
                unreachable!()
            };
            let p: ProduceRequest = p;
            let t = p
                .topic_data
                .iter()
                .find(|t| t.name == topic)
                .unwrap_or_else(|| panic!("{file}: no topic {topic}"));
            let part = t
                .partition_data
                .iter()
                .find(|d| d.index == partition)
                .unwrap_or_else(|| panic!("{file}: no partition {partition}"));
            assert!(
                part.records.as_ref().is_some_and(|r| r.len() > 61),
                "{file}: a record batch"
            );
            checked += 1;
        }
    }
    assert!(checked >= 14, "only {checked} produce requests checked");
}

#[test]
fn fetch_responses_name_topics_by_id_and_carry_records() {
    let mut with_records = 0;
    for p in load_pairs() {
        if p.api_key != 1 || p.response_file.is_none() {
            continue;
        }
        let frame = p.read(p.response_file.as_ref().unwrap());
        let (_, body) = decode_response_frame(frame, ApiKey::Fetch, p.version).unwrap();
        let ResponseBody::Fetch(f) = body else {
            unreachable!()
        };
        for t in &f.responses {
            assert!(
                !t.topic_id.is_nil(),
                "{}: v16+ names topics by id",
                p.label()
            );
            with_records += t
                .partitions
                .iter()
                .filter(|d| d.records.as_ref().is_some_and(|r| !r.is_empty()))
                .count();
        }
    }
    assert!(with_records > 10, "fetched batches: {with_records}");
}
