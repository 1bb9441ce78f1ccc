//! The `prozess` binary against the harness's broker: produce and consume
//! lines, compare with kcat, topics, group lag and offset resets, exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use prozess_integration_tests as harness;

/// Runs `prozess` with `-b` and `args`, feeding `stdin`.
fn prozess(args: &[&str], stdin: &str) -> Output {
    let bootstrap = harness::bootstrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_prozess"))
        .args(["-b", bootstrap.as_str()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning prozess");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("writing stdin");
    drop(input);
    child.wait_with_output().expect("waiting for prozess")
}

/// Runs `prozess` and asserts it succeeded; returns its stdout.
fn ok(args: &[&str], stdin: &str) -> String {
    let out = prozess(args, stdin);
    assert!(
        out.status.success(),
        "prozess {args:?} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let text = ok(&all, "");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

#[test]
fn produce_then_consume_lines() {
    let topic = harness::unique_topic("cli-lines");
    harness::create_topic(&topic, 1);
    let input: String = (0..20).map(|i| format!("k{i}=v{i}\n")).collect();
    // One record per batch: Tansu computes the log end from the last
    // batch's base offset (BROKERS.md), which is then right.
    ok(
        &[
            "produce",
            "-t",
            &topic,
            "-k",
            "=",
            "-p",
            "0",
            "-X",
            "batch.size=1",
        ],
        &input,
    );
    let out = ok(&["consume", "-t", &topic, "-e", "-f", "%k=%s\\n"], "");
    assert_eq!(out, input);
    // Offsets and partitions as kcat prints them.
    let out = ok(
        &[
            "consume",
            "-t",
            &topic,
            "-e",
            "-o",
            "-3",
            "-f",
            "%p:%o:%K:%S\\n",
        ],
        "",
    );
    assert_eq!(out, "0:17:3:3\n0:18:3:3\n0:19:3:3\n");
    let out = ok(
        &[
            "consume", "-t", &topic, "-e", "-o", "5", "-c", "2", "-f", "%o %s\\n",
        ],
        "",
    );
    assert_eq!(out, "5 v5\n6 v6\n");
}

#[test]
fn the_same_records_as_kcat() {
    let topic = harness::unique_topic("cli-kcat");
    harness::create_topic(&topic, 1);
    let bootstrap = harness::bootstrap();
    ok(
        &[
            "produce", "-t", &topic, "-k", "\t", "-z", "gzip", "--acks", "all",
        ],
        "a\t1\nb\t2\n",
    );
    harness::peer::kcat_produce(&bootstrap, &topic, 0, &[("c", "3"), ("d", "4")])
        .expect("kcat produce");
    let by_kcat = harness::peer::kcat_consume(&bootstrap, &topic, 0).expect("kcat consume");
    let by_cli = ok(
        &["consume", "-t", &topic, "-e", "-f", "%k\\t%s\\t%o\\n"],
        "",
    );
    let expected: String = by_kcat
        .iter()
        .map(|(k, v, o)| format!("{k}\t{v}\t{o}\n"))
        .collect();
    assert_eq!(by_kcat.len(), 4, "{by_kcat:?}");
    assert_eq!(by_cli, expected);
}

#[test]
fn files_as_input_and_keyless_lines() {
    let topic = harness::unique_topic("cli-files");
    harness::create_topic(&topic, 1);
    let dir = std::env::temp_dir().join(&topic);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (f1, f2) = (dir.join("a.txt"), dir.join("b.txt"));
    std::fs::write(&f1, "one\ntwo\n").expect("write");
    std::fs::write(&f2, "three\n").expect("write");
    ok(
        &[
            "produce",
            "-t",
            &topic,
            f1.to_str().unwrap(),
            f2.to_str().unwrap(),
        ],
        "",
    );
    let out = ok(&["consume", "-t", &topic, "-e", "-f", "%K|%s\\n"], "");
    assert_eq!(out, "-1|one\n-1|two\n-1|three\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn topics_create_describe_alter_delete() {
    let topic = harness::unique_topic("cli-topics");
    ok(&["topics", "create", &topic, "-p", "2"], "");
    let listed = json(&["topics", "list"]);
    let entry = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|t| t["name"] == topic.as_str())
        .unwrap_or_else(|| panic!("{topic} not in {listed}"))
        .clone();
    assert_eq!(entry["partitions"], 2);
    let described = json(&["topics", "describe", &topic]);
    assert_eq!(
        described[0]["partitions"].as_array().map(|p| p.len()),
        Some(2)
    );
    let table = ok(&["topics", "describe", &topic], "");
    assert!(table.starts_with("TOPIC"), "{table}");
    if harness::is_tansu() {
        harness::skip("Tansu: CreatePartitions and DeleteTopics are not checked on Tansu");
        return;
    }
    ok(&["topics", "alter-partitions", &topic, "-p", "3"], "");
    let described = json(&["topics", "describe", &topic]);
    assert_eq!(
        described[0]["partitions"].as_array().map(|p| p.len()),
        Some(3)
    );
    ok(&["topics", "delete", &topic], "");
}

#[test]
fn group_lag_after_a_partial_consume_and_reset() {
    let topic = harness::unique_topic("cli-lag");
    let group = harness::unique_topic("cli-lag-group");
    harness::create_topic(&topic, 1);
    let input: String = (0..10).map(|i| format!("v{i}\n")).collect();
    // One record per batch, for Tansu's log end (see produce_then_consume_lines).
    ok(
        &["produce", "-t", &topic, "-p", "0", "-X", "batch.size=1"],
        &input,
    );
    // Reads 4 of 10 and commits what it printed: offset 4.
    let out = ok(
        &[
            "consume",
            "-t",
            &topic,
            "-g",
            &group,
            "-o",
            "beginning",
            "-c",
            "4",
        ],
        "",
    );
    assert_eq!(out, "v0\nv1\nv2\nv3\n");
    let d = json(&["groups", "describe", &group, "-t", &topic]);
    let row = &d["offsets"][0];
    assert_eq!(row["committed"], 4, "{d}");
    assert_eq!(row["log_end"], 10, "{d}");
    assert_eq!(row["lag"], 6, "{d}");
    assert_eq!(d["total_lag"], 6, "{d}");
    let table = ok(&["groups", "describe", &group, "-t", &topic], "");
    assert!(table.contains("total lag 6"), "{table}");
    // The group continues where it committed.
    let out = ok(&["consume", "-t", &topic, "-g", &group, "-c", "1"], "");
    assert_eq!(out, "v4\n");

    // A dry run changes nothing.
    let dry = json(&[
        "groups",
        "reset-offsets",
        &group,
        "-t",
        &topic,
        "--to-earliest",
    ]);
    assert_eq!(dry["executed"], false);
    assert_eq!(dry["offsets"][0]["current"], 5, "{dry}");
    assert_eq!(dry["offsets"][0]["new"], 0, "{dry}");
    let d = json(&["groups", "describe", &group, "-t", &topic]);
    assert_eq!(d["offsets"][0]["committed"], 5, "{d}");
    // --execute commits it.
    ok(
        &[
            "groups",
            "reset-offsets",
            &group,
            "-t",
            &topic,
            "--shift-by",
            "-2",
            "--execute",
        ],
        "",
    );
    let d = json(&["groups", "describe", &group, "-t", &topic]);
    assert_eq!(d["offsets"][0]["committed"], 3, "{d}");
    assert_eq!(d["total_lag"], 7, "{d}");
    ok(
        &[
            "groups",
            "reset-offsets",
            &group,
            "-t",
            &topic,
            "--to-latest",
            "--execute",
        ],
        "",
    );
    let d = json(&["groups", "describe", &group, "-t", &topic]);
    assert_eq!(d["offsets"][0]["lag"], 0, "{d}");
    // A time before every record: back to the start.
    ok(
        &[
            "groups",
            "reset-offsets",
            &group,
            "-t",
            &topic,
            "--to-datetime",
            "2000-01-01T00:00:00",
            "--execute",
        ],
        "",
    );
    let d = json(&["groups", "describe", &group, "-t", &topic]);
    assert_eq!(d["offsets"][0]["committed"], 0, "{d}");
}

#[test]
fn cluster_and_metadata() {
    let topic = harness::unique_topic("cli-meta");
    harness::create_topic(&topic, 2);
    let c = json(&["cluster", "describe"]);
    assert!(!c["brokers"].as_array().expect("brokers").is_empty(), "{c}");
    let m = ok(&["metadata", "-t", &topic], "");
    assert!(
        m.contains(&format!("topic \"{topic}\" with 2 partitions")),
        "{m}"
    );
    assert!(m.contains("partition 1, leader"), "{m}");
}

#[test]
fn exit_codes() {
    // Usage errors: 2, with a message.
    let out = prozess(&["consume"], "");
    assert_eq!(out.status.code(), Some(2));
    let out = prozess(&["consume", "-t", "x", "-f", "%q"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("%q"));
    let out = prozess(&["topics", "list", "-X", "request.timeout.ms=abc"], "");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --help: 0.
    let out = prozess(&["groups", "reset-offsets", "--help"], "");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--execute"));
    // A runtime failure: 1, naming what failed, no Debug dump.
    let missing = harness::unique_topic("cli-missing");
    let out = prozess(
        &[
            "consume",
            "-t",
            &missing,
            "-e",
            "-X",
            "allow.auto.create.topics=false",
        ],
        "",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&missing), "{err}");
}

#[test]
fn properties_file_is_read() {
    let topic = harness::unique_topic("cli-props");
    harness::create_topic(&topic, 1);
    let file = std::env::temp_dir().join(format!("{topic}.properties"));
    std::fs::write(
        &file,
        format!(
            "# a client config\nbootstrap.servers = {}\nclient.id: cli-test\n",
            harness::bootstrap()
        ),
    )
    .expect("write properties");
    let out = Command::new(env!("CARGO_BIN_EXE_prozess"))
        .args(["-F", file.to_str().unwrap(), "--json", "topics", "list"])
        .env_remove("PROZESS_BOOTSTRAP")
        .output()
        .expect("running prozess");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&topic));
}

#[test]
fn sigterm_commits_what_was_printed_and_leaves_the_group() {
    use std::io::{BufRead, BufReader};
    let topic = harness::unique_topic("cli-sigterm");
    let group = harness::unique_topic("cli-sigterm-group");
    harness::create_topic(&topic, 1);
    ok(
        &["produce", "-t", &topic, "-X", "batch.size=1"],
        "a\nb\nc\n",
    );
    let bootstrap = harness::bootstrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_prozess"))
        .args([
            "-b",
            bootstrap.as_str(),
            "consume",
            "-t",
            &topic,
            "-g",
            &group,
        ])
        .args(["-o", "beginning"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning prozess");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let got: Vec<String> = (0..3)
        .map(|_| lines.next().expect("a line").expect("reading"))
        .collect();
    assert_eq!(got, ["a", "b", "c"]);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("waiting");
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let d = json(&["groups", "describe", &group, "-t", &topic]);
    assert_eq!(d["offsets"][0]["committed"], 3, "{d}");
    assert_eq!(d["members"].as_array().map(|m| m.len()), Some(0), "{d}");
}

#[test]
fn configs_set_describe_delete() {
    if harness::is_tansu() {
        harness::skip("needs IncrementalAlterConfigs (Apache Kafka)");
        return;
    }
    let topic = harness::unique_topic("cli-configs");
    harness::create_topic(&topic, 1);
    ok(
        &["configs", "set", "--topic", &topic, "retention.ms=123456"],
        "",
    );
    let find = |v: &serde_json::Value| {
        v.as_array()
            .expect("array")
            .iter()
            .find(|e| e["name"] == "retention.ms")
            .cloned()
    };
    let d = json(&["configs", "describe", "--topic", &topic]);
    let entry = find(&d).unwrap_or_else(|| panic!("retention.ms not in {d}"));
    assert_eq!(entry["value"], "123456");
    ok(
        &["configs", "delete", "--topic", &topic, "retention.ms"],
        "",
    );
    let d = json(&["configs", "describe", "--topic", &topic]);
    assert!(find(&d).is_none(), "{d}");
    let d = json(&["configs", "describe", "--topic", &topic, "--all"]);
    assert!(find(&d).is_some(), "{d}");
}

#[test]
fn groups_list_and_delete() {
    if harness::is_tansu() {
        harness::skip("Tansu lists no groups in ListGroups");
        return;
    }
    let topic = harness::unique_topic("cli-glist");
    let group = harness::unique_topic("cli-glist-group");
    harness::create_topic(&topic, 1);
    ok(&["produce", "-t", &topic], "x\n");
    ok(
        &[
            "consume",
            "-t",
            &topic,
            "-g",
            &group,
            "-o",
            "beginning",
            "-c",
            "1",
        ],
        "",
    );
    let listed = json(&["groups", "list"]);
    assert!(
        listed
            .as_array()
            .expect("array")
            .iter()
            .any(|g| g["group"] == group.as_str()),
        "{listed}"
    );
    ok(&["groups", "delete", &group], "");
    let listed = json(&["groups", "list"]);
    assert!(
        !listed
            .as_array()
            .expect("array")
            .iter()
            .any(|g| g["group"] == group.as_str()),
        "{listed}"
    );
}

/// `groups describe` shows the same committed offsets, log ends and lag per
/// partition as the Java tool's `kafka-consumer-groups.sh --describe`.
#[test]
fn group_lag_matches_kafka_consumer_groups_sh() {
    if harness::skip_on(
        harness::is_tansu(),
        "compares with Apache Kafka's kafka-consumer-groups.sh; runs in the Apache Kafka stages",
    ) {
        return;
    }
    let Some(kafka) = harness::kafka_cluster() else {
        harness::skip("needs the harness's Apache Kafka distribution for kafka-consumer-groups.sh");
        return;
    };
    let topic = harness::unique_topic("cli-lag-java");
    let group = harness::unique_topic("cli-lag-java-group");
    harness::create_topic(&topic, 2);
    for (partition, n) in [("0", 10), ("1", 6)] {
        let input: String = (0..n).map(|i| format!("v{i}\n")).collect();
        ok(&["produce", "-t", &topic, "-p", partition], &input);
    }
    ok(
        &[
            "consume",
            "-t",
            &topic,
            "-g",
            &group,
            "-o",
            "beginning",
            "-c",
            "5",
        ],
        "",
    );
    let d = json(&["groups", "describe", &group, "-t", &topic]);

    let out = Command::new(kafka.info().kafka_home.join("bin/kafka-consumer-groups.sh"))
        .args(["--bootstrap-server", &harness::bootstrap()])
        .args(["--describe", "--group", &group])
        .env("KAFKA_HEAP_OPTS", "-Xmx256m")
        .output()
        .expect("running kafka-consumer-groups.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    let number = |s: &str| -> serde_json::Value {
        s.parse::<i64>().map_or(serde_json::Value::Null, Into::into)
    };
    let mut java: Vec<(
        String,
        i64,
        serde_json::Value,
        serde_json::Value,
        serde_json::Value,
    )> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 6 && w[0] == group)
        .map(|w| {
            (
                w[1].to_string(),
                w[2].parse().expect("partition"),
                number(w[3]),
                number(w[4]),
                number(w[5]),
            )
        })
        .collect();
    java.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut ours: Vec<_> = d["offsets"]
        .as_array()
        .expect("offsets")
        .iter()
        .map(|r| {
            (
                r["topic"].as_str().expect("topic").to_string(),
                r["partition"].as_i64().expect("partition"),
                r["committed"].clone(),
                r["log_end"].clone(),
                r["lag"].clone(),
            )
        })
        .collect();
    ours.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(ours, java, "prozess {d}\njava:\n{text}");
    let total: i64 = java.iter().filter_map(|r| r.4.as_i64()).sum();
    assert_eq!(d["total_lag"], total);
    // Five records were read and committed; the partitions without a
    // commit are left out by both tools (the group has no members).
    let committed: i64 = java.iter().filter_map(|r| r.2.as_i64()).sum();
    assert_eq!(committed, 5, "{d}");
}
