//! Starts a Tansu broker for trying prozess out by hand (see README.md and
//! scripts/quickstart.sh), prints its bootstrap address on the first line of
//! stdout and keeps it running until stdin reaches EOF or the process is
//! killed (the broker dies with it either way).
//!
//! `prozess-broker --kafka [NODES] [--info-file PATH]` starts an Apache Kafka
//! KRaft cluster of NODES nodes (default 1) instead, from
//! `PROZESS_KAFKA_HOME` (see `scripts/install-kafka.sh`), with the listeners
//! and certificates described in integration-tests/src/kafka.rs; it prints the
//! PLAINTEXT bootstrap first and the path of the cluster's description
//! (`cluster.json`, for `PROZESS_KAFKA_CLUSTER`) second, and copies that file
//! to PATH once the cluster is ready. `scripts/test.sh` runs its Kafka stages
//! this way.
//!
//! `prozess-broker --describe [BOOTSTRAP]` instead prints the cluster's
//! brokers and topics (asked with prozess's AdminClient) and exits.

use std::io::{Read, Write};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--describe") {
        let bootstrap = args
            .get(1)
            .cloned()
            .or_else(prozess_integration_tests::external_bootstrap)
            .unwrap_or_else(|| {
                eprintln!("usage: prozess-broker --describe HOST:PORT (or set PROZESS_BOOTSTRAP)");
                std::process::exit(2)
            });
        if let Err(e) = describe(&bootstrap) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("--kafka") {
        run_kafka(&args[1..]);
        return;
    }
    let broker = match prozess_integration_tests::Broker::start() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", broker.bootstrap());
    let _ = std::io::stdout().flush();
    eprintln!(
        "Tansu broker running on {} (log: {}); close stdin (Ctrl-D) or kill this process to stop it",
        broker.bootstrap(),
        broker.log_path().display()
    );
    let mut sink = [0u8; 256];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    drop(broker);
}

fn usage() -> ! {
    eprintln!(
        "usage: prozess-broker                                  start Tansu\n       prozess-broker --kafka [NODES] [--info-file PATH]  start Apache Kafka (PROZESS_KAFKA_HOME)\n       prozess-broker --describe [BOOTSTRAP]"
    );
    std::process::exit(2)
}

fn run_kafka(args: &[String]) {
    let mut nodes = 1usize;
    let mut info_file = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--info-file" => info_file = Some(it.next().cloned().unwrap_or_else(|| usage())),
            n => {
                nodes = n
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .unwrap_or_else(|| usage())
            }
        }
    }
    let parent = prozess_integration_tests::cache_dir().join("kafka-clusters");
    let cluster = match prozess_integration_tests::KafkaCluster::start(nodes, &parent) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", cluster.bootstrap());
    println!("{}", cluster.info_path().display());
    let _ = std::io::stdout().flush();
    if let Some(path) = info_file {
        // Written under another name first: a reader never sees half a file.
        let tmp = format!("{path}.tmp");
        if let Err(e) =
            std::fs::copy(cluster.info_path(), &tmp).and_then(|_| std::fs::rename(&tmp, &path))
        {
            eprintln!("error: writing {path}: {e}");
            std::process::exit(1);
        }
    }
    eprintln!(
        "Apache Kafka cluster of {nodes} node(s) running on {} (files: {}); close stdin (Ctrl-D) or kill this process to stop it",
        cluster.bootstrap(),
        cluster.info().dir.display()
    );
    let mut sink = [0u8; 256];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    drop(cluster);
}

fn describe(bootstrap: &str) -> Result<(), prozess::admin::AdminError> {
    let mut admin = prozess::AdminClient::new(prozess::AdminConfig {
        default_api_timeout: std::time::Duration::from_secs(10),
        ..prozess::AdminConfig::new(bootstrap)
    })?;
    let cluster = admin.describe_cluster()?;
    let topics = admin.list_topics(true)?;
    println!("cluster at {bootstrap}:");
    if let Some(id) = &cluster.cluster_id {
        println!("  cluster id: {id}");
    }
    match cluster.controller {
        Some(c) => println!("  controller: {c}"),
        None => println!("  controller: none named"),
    }
    for b in &cluster.nodes {
        println!("  broker {} at {}:{}", b.id, b.host, b.port);
    }
    println!("  {} topics", topics.len());
    for t in &topics {
        println!("    {} ({} partitions)", t.name, t.partitions);
    }
    Ok(())
}
