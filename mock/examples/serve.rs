//! Serves a MockCluster on 127.0.0.1 so that any Kafka client (kcat, the
//! Java tools) can talk to it; prints `bootstrap.servers` and runs until
//! killed (or for the given number of seconds).
//!
//! ```text
//! cargo run -p prozess-mock --example serve -- [brokers] [topic:partitions]... [--seconds N]
//! ```

use std::time::Duration;

use prozess_mock::MockCluster;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut brokers = 3;
    let mut seconds = None;
    let mut topics = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--seconds" {
            seconds = args.next().and_then(|s| s.parse::<u64>().ok());
        } else if let Some((t, p)) = a.split_once(':') {
            topics.push((t.to_string(), p.parse::<i32>().unwrap_or(1)));
        } else if let Ok(n) = a.parse() {
            brokers = n;
        }
    }
    let cluster = MockCluster::new(brokers);
    for (t, p) in &topics {
        cluster.create_topic(t, *p);
    }
    let served = cluster.bootstrap().expect("could not listen on 127.0.0.1");
    println!("{}", served.bootstrap_servers());
    match seconds {
        Some(s) => std::thread::sleep(Duration::from_secs(s)),
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
}
