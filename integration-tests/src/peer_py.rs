//! Producing and consuming with confluent-kafka's Python API (librdkafka
//! 2.16): arbitrary bytes, null keys and values, headers, timestamps and
//! any librdkafka setting (e.g. `compression.type`), which kcat's line
//! format cannot carry. Records cross the process boundary as JSON with
//! bytes in hex.

use std::time::Duration;

use serde_json::{json, Value};

use crate::process::{run_with_timeout, succeeded};
use crate::{HarnessError, Result};

/// A record as the peer produced or consumed it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerRecord {
    /// Partition (to produce to: `None` lets librdkafka's partitioner pick).
    pub partition: Option<i32>,
    /// Offset (set on records the peer consumed or got acknowledged).
    pub offset: Option<i64>,
    /// Key; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// Value; `None` is a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers in order; duplicate keys allowed; `None` is a null value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp in ms (to produce: `None` lets librdkafka use now).
    pub timestamp: Option<i64>,
}

impl PeerRecord {
    /// A record with a key and a value and nothing else.
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> PeerRecord {
        PeerRecord {
            key: Some(key.into()),
            value: Some(value.into()),
            ..PeerRecord::default()
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "partition": self.partition,
            "key": self.key.as_deref().map(hex),
            "value": self.value.as_deref().map(hex),
            "headers": self.headers.iter()
                .map(|(k, v)| json!([k, v.as_deref().map(hex)]))
                .collect::<Vec<_>>(),
            "timestamp": self.timestamp,
        })
    }

    fn from_json(v: &Value) -> Result<PeerRecord> {
        let bad = || HarnessError::new(format!("unexpected record from the python peer: {v}"));
        let opt_bytes = |x: &Value| -> Result<Option<Vec<u8>>> {
            match x {
                Value::Null => Ok(None),
                Value::String(s) => unhex(s).map(Some).ok_or_else(bad),
                _ => Err(bad()),
            }
        };
        let mut headers = Vec::new();
        for h in v["headers"].as_array().ok_or_else(bad)? {
            let k = h[0].as_str().ok_or_else(bad)?.to_string();
            headers.push((k, opt_bytes(&h[1])?));
        }
        Ok(PeerRecord {
            partition: v["partition"].as_i64().map(|p| p as i32),
            offset: v["offset"].as_i64(),
            key: opt_bytes(&v["key"])?,
            value: opt_bytes(&v["value"])?,
            headers,
            timestamp: v["timestamp"].as_i64(),
        })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() & 1 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

const PRODUCE: &str = r#"
import json, sys
from confluent_kafka import Producer
req = json.load(sys.stdin)
conf = {"bootstrap.servers": req["bootstrap"]}
conf.update(req["config"])
p = Producer(conf)
acks, errors = [], []
def on_delivery(err, msg):
    if err is not None:
        errors.append(str(err))
    else:
        acks.append({"partition": msg.partition(), "offset": msg.offset()})
unhex = lambda x: None if x is None else bytes.fromhex(x)
for r in req["records"]:
    kw = {}
    if r["partition"] is not None:
        kw["partition"] = r["partition"]
    if r["timestamp"] is not None:
        kw["timestamp"] = r["timestamp"]
    headers = [(k, unhex(v)) for k, v in r["headers"]]
    if headers:
        kw["headers"] = headers
    while True:
        try:
            p.produce(req["topic"], value=unhex(r["value"]), key=unhex(r["key"]), on_delivery=on_delivery, **kw)
            break
        except BufferError:
            p.poll(0.1)
    p.poll(0)
left = p.flush(req["timeout_s"])
if left or errors:
    sys.exit("produce failed: %d undelivered, errors: %s" % (left, errors[:5]))
print(json.dumps(acks))
"#;

const CONSUME: &str = r#"
import json, sys, time
from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING
req = json.load(sys.stdin)
conf = {"bootstrap.servers": req["bootstrap"], "group.id": "prozess-peer", "enable.auto.commit": False, "enable.partition.eof": False}
conf.update(req["config"])
c = Consumer(conf)
c.assign([TopicPartition(req["topic"], req["partition"], OFFSET_BEGINNING)])
hexs = lambda x: None if x is None else x.hex()
out = []
deadline = time.time() + req["timeout_s"]
while len(out) < req["count"]:
    if time.time() > deadline:
        sys.exit("timed out with %d of %d records" % (len(out), req["count"]))
    m = c.poll(0.5)
    if m is None:
        continue
    if m.error():
        sys.exit("consume error: %s" % m.error())
    out.append({"partition": m.partition(), "offset": m.offset(), "key": hexs(m.key()), "value": hexs(m.value()),
                "headers": [[k, hexs(v)] for k, v in (m.headers() or [])], "timestamp": m.timestamp()[1]})
c.close()
print(json.dumps(out))
"#;

const TIMEOUT: Duration = Duration::from_secs(120);

fn run(script: &str, request: Value) -> Result<Value> {
    let input = request.to_string();
    let out = run_with_timeout(
        crate::peer::python().arg("-c").arg(script),
        input.as_bytes(),
        TIMEOUT,
    )?;
    let out = succeeded(out, "python peer")?;
    serde_json::from_slice(&out.stdout).map_err(|e| {
        HarnessError::new(format!(
            "python peer printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        ))
    })
}

/// librdkafka settings as the JSON object the peer script passes on.
fn librdkafka_config(config: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    config
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

/// Produces `records` to `topic` with confluent-kafka, in order, with the
/// extra librdkafka settings in `config` (e.g. `("compression.type",
/// "zstd")`, `("linger.ms", "5")`); waits for every acknowledgement and
/// returns (partition, offset) per record.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    records: &[PeerRecord],
    config: &[(&str, &str)],
) -> Result<Vec<(i32, i64)>> {
    let conf = librdkafka_config(config);
    let req = json!({
        "bootstrap": bootstrap,
        "topic": topic,
        "config": conf,
        "records": records.iter().map(PeerRecord::to_json).collect::<Vec<_>>(),
        "timeout_s": TIMEOUT.as_secs() - 10,
    });
    let acks = run(PRODUCE, req)?;
    acks.as_array()
        .ok_or_else(|| HarnessError::new(format!("unexpected acks {acks}")))?
        .iter()
        .map(|a| match (a["partition"].as_i64(), a["offset"].as_i64()) {
            (Some(p), Some(o)) => Ok((p as i32, o)),
            _ => Err(HarnessError::new(format!("unexpected ack {a}"))),
        })
        .collect()
}

/// Consumes the first `count` records of `topic`/`partition` with
/// confluent-kafka (from the beginning, no group commits), with extra
/// librdkafka settings in `config`; fails if fewer arrive in time.
pub fn consume(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    count: usize,
    config: &[(&str, &str)],
) -> Result<Vec<PeerRecord>> {
    let conf = librdkafka_config(config);
    let req = json!({
        "bootstrap": bootstrap,
        "topic": topic,
        "partition": partition,
        "count": count,
        "config": conf,
        "timeout_s": TIMEOUT.as_secs() - 10,
    });
    let records = run(CONSUME, req)?;
    records
        .as_array()
        .ok_or_else(|| HarnessError::new(format!("unexpected records {records}")))?
        .iter()
        .map(PeerRecord::from_json)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&b)), Some(b));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn record_json_round_trip() {
        let r = PeerRecord {
            partition: Some(2),
            offset: None,
            key: None,
            value: Some(vec![0, 1, 255]),
            headers: vec![("h".into(), None), ("h".into(), Some(b"x".to_vec()))],
            timestamp: Some(1_700_000_000_000),
        };
        assert_eq!(PeerRecord::from_json(&r.to_json()).unwrap(), r);
    }
}
