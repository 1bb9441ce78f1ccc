//! Starts a Tansu broker for trying prozess out by hand (see README.md and
//! scripts/quickstart.sh), prints its bootstrap address on the first line of
//! stdout and keeps it running until stdin reaches EOF or the process is
//! killed (the broker dies with it either way).
//!
//! `prozess-broker --describe [BOOTSTRAP]` instead prints the cluster's
//! brokers and topics (from a Metadata request) and exits.

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

fn describe(bootstrap: &str) -> Result<(), prozess_integration_tests::HarnessError> {
    let timeout = std::time::Duration::from_secs(10);
    let mut conn = prozess_integration_tests::wire::connect_any(bootstrap, timeout)?;
    let versions = conn.api_versions()?;
    let md = conn.metadata(None)?;
    println!("cluster at {bootstrap} ({}):", conn.peer_addr());
    println!("  {} APIs advertised", versions.len());
    println!("  controller: {}", md.controller_id);
    for b in &md.brokers {
        println!("  broker {} at {}:{}", b.node_id, b.host, b.port);
    }
    println!("  {} topics", md.topics.len());
    for t in &md.topics {
        println!("    {} ({} partitions)", t.name, t.partitions.len());
    }
    Ok(())
}
