//! `topics`, `configs`, `cluster` and `metadata`.

use std::time::Duration;

use prozess::admin::{AlterConfigOp, ConfigResource, ConfigSource, NewPartitions};
use prozess::{AdminError, NewTopic};
use serde_json::json;

use crate::client::Ctx;
use crate::output::{json as print_json, opt, table};
use crate::props::parse_kv;
use crate::{CliError, CliResult};

const TIMEOUT: Duration = Duration::from_secs(30);

fn admin_err(what: impl std::fmt::Display) -> impl FnOnce(AdminError) -> CliError {
    move |e| CliError::runtime(what, e)
}

/// `topics` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum TopicsCmd {
    /// Lists the topics.
    List {
        /// Include internal topics.
        #[arg(long)]
        internal: bool,
    },
    /// Describes topics (partitions, leaders, replicas, ISR).
    Describe {
        /// The topics (all when none).
        topics: Vec<String>,
    },
    /// Creates a topic.
    Create {
        /// The topic.
        topic: String,
        /// Number of partitions.
        #[arg(short = 'p', long, default_value_t = 1)]
        partitions: i32,
        /// Replication factor (the broker default when absent).
        #[arg(short = 'r', long)]
        replication_factor: Option<i16>,
        /// A topic config, key=value (repeatable).
        #[arg(short = 'c', long = "config", value_parser = parse_kv)]
        configs: Vec<(String, String)>,
    },
    /// Deletes topics.
    Delete {
        /// The topics.
        #[arg(required = true)]
        topics: Vec<String>,
    },
    /// Raises a topic's partition count.
    AlterPartitions {
        /// The topic.
        topic: String,
        /// The new total number of partitions.
        #[arg(short = 'p', long)]
        partitions: i32,
    },
}

/// Runs a `topics` subcommand.
pub fn topics(ctx: &Ctx, cmd: TopicsCmd) -> CliResult {
    let mut admin = ctx.admin()?;
    match cmd {
        TopicsCmd::List { internal } => {
            let list = admin
                .list_topics(internal)
                .map_err(admin_err("listing topics"))?;
            if ctx.json {
                return print_json(&json!(list
                    .iter()
                    .map(|t| json!({"name": t.name, "partitions": t.partitions, "internal": t.is_internal}))
                    .collect::<Vec<_>>()));
            }
            let rows = list
                .iter()
                .map(|t| vec![t.name.clone(), t.partitions.to_string()])
                .collect::<Vec<_>>();
            table(&["TOPIC", "PARTITIONS"], &rows)
        }
        TopicsCmd::Describe { topics } => {
            let names = if topics.is_empty() {
                admin
                    .list_topics(false)
                    .map_err(admin_err("listing topics"))?
                    .into_iter()
                    .map(|t| t.name)
                    .collect()
            } else {
                topics
            };
            let descs = admin
                .describe_topics(&names)
                .map_err(admin_err(format!("describing topics {}", names.join(","))))?;
            if ctx.json {
                return print_json(&json!(descs.iter().map(|d| json!({
                    "name": d.name,
                    "topic_id": d.topic_id.to_string(),
                    "internal": d.is_internal,
                    "partitions": d.partitions.iter().map(|p| json!({
                        "partition": p.partition, "leader": p.leader, "leader_epoch": p.leader_epoch,
                        "replicas": p.replicas, "isr": p.isr, "offline": p.offline_replicas,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>()));
            }
            let ids = |v: &[i32]| {
                v.iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let mut rows = Vec::new();
            for d in &descs {
                for p in &d.partitions {
                    rows.push(vec![
                        d.name.clone(),
                        p.partition.to_string(),
                        opt(p.leader),
                        ids(&p.replicas),
                        ids(&p.isr),
                    ]);
                }
            }
            table(&["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"], &rows)
        }
        TopicsCmd::Create {
            topic,
            partitions,
            replication_factor,
            configs,
        } => {
            let mut t = NewTopic::new(topic.clone(), partitions);
            if let Some(r) = replication_factor {
                t = t.replication_factor(r);
            }
            for (k, v) in configs {
                t = t.config(k, v);
            }
            let what = format!("creating topic {topic}");
            let r = admin
                .create_topics(&[t], TIMEOUT)
                .map_err(admin_err(&what))?;
            for r in r {
                r.result.map_err(admin_err(&what))?;
            }
            Ok(())
        }
        TopicsCmd::Delete { topics } => {
            let results = admin
                .delete_topics(&topics, TIMEOUT)
                .map_err(admin_err("deleting topics"))?;
            per_item(
                results
                    .into_iter()
                    .map(|r| (format!("deleting topic {}", r.name), r.result)),
            )
        }
        TopicsCmd::AlterPartitions { topic, partitions } => {
            let results = admin
                .create_partitions(
                    &[(topic.as_str(), NewPartitions::increase_to(partitions))],
                    TIMEOUT,
                )
                .map_err(admin_err(format!("adding partitions to {topic}")))?;
            per_item(
                results
                    .into_iter()
                    .map(|r| (format!("adding partitions to {}", r.name), r.result)),
            )
        }
    }
}

/// Reports every failed item on stderr; fails if any did.
fn per_item(results: impl Iterator<Item = (String, Result<(), AdminError>)>) -> CliResult {
    let mut failed = Vec::new();
    for (what, r) in results {
        if let Err(e) = r {
            failed.push(format!("{what}: {e}"));
        }
    }
    match failed.len() {
        0 => Ok(()),
        _ => Err(CliError {
            code: 1,
            message: failed.join("\nprozess: "),
        }),
    }
}

/// Which resource a `configs` command is about.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct ResourceArg {
    /// A topic.
    #[arg(long)]
    topic: Option<String>,
    /// A broker id.
    #[arg(long)]
    broker: Option<i32>,
    /// A group.
    #[arg(long)]
    group: Option<String>,
}

impl ResourceArg {
    fn resource(&self) -> ConfigResource {
        match (&self.topic, self.broker, &self.group) {
            (Some(t), _, _) => ConfigResource::topic(t.clone()),
            (_, Some(b), _) => ConfigResource::broker(b),
            (_, _, Some(g)) => ConfigResource::group(g.clone()),
            // clap requires one of them.
            _ => ConfigResource::broker_default(),
        }
    }
}

/// `configs` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ConfigsCmd {
    /// Describes a resource's configs.
    Describe {
        #[command(flatten)]
        resource: ResourceArg,
        /// Also show configs at their default.
        #[arg(long)]
        all: bool,
    },
    /// Sets configs (key=value ...).
    Set {
        #[command(flatten)]
        resource: ResourceArg,
        /// key=value pairs.
        #[arg(required = true, value_parser = parse_kv)]
        entries: Vec<(String, String)>,
    },
    /// Deletes configs (back to their defaults).
    Delete {
        #[command(flatten)]
        resource: ResourceArg,
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
}

/// Runs a `configs` subcommand.
pub fn configs(ctx: &Ctx, cmd: ConfigsCmd) -> CliResult {
    let mut admin = ctx.admin()?;
    match cmd {
        ConfigsCmd::Describe { resource, all } => {
            let res = resource.resource();
            let what = format!("describing configs of {res}");
            let mut results = admin
                .describe_configs(std::slice::from_ref(&res), TIMEOUT)
                .map_err(admin_err(&what))?;
            let config = results
                .pop()
                .ok_or_else(|| CliError::runtime(&what, "no answer"))?
                .result
                .map_err(admin_err(&what))?;
            let entries: Vec<_> = config
                .entries
                .iter()
                // Like kafka-configs.sh: built-in defaults only with --all.
                .filter(|e| all || e.source != ConfigSource::DefaultConfig)
                .collect();
            if ctx.json {
                return print_json(&json!(entries
                    .iter()
                    .map(|e| json!({
                        "name": e.name, "value": e.value, "source": format!("{:?}", e.source),
                        "sensitive": e.is_sensitive, "read_only": e.is_read_only,
                    }))
                    .collect::<Vec<_>>()));
            }
            let rows = entries
                .iter()
                .map(|e| {
                    let v = if e.is_sensitive {
                        Some("(sensitive)".to_string())
                    } else {
                        e.value.clone()
                    };
                    vec![e.name.clone(), opt(v), format!("{:?}", e.source)]
                })
                .collect::<Vec<_>>();
            table(&["NAME", "VALUE", "SOURCE"], &rows)
        }
        ConfigsCmd::Set { resource, entries } => {
            let ops = entries
                .into_iter()
                .map(|(k, v)| AlterConfigOp::set(k, v))
                .collect();
            alter(&mut admin, resource.resource(), ops)
        }
        ConfigsCmd::Delete { resource, keys } => {
            let ops = keys.into_iter().map(AlterConfigOp::delete).collect();
            alter(&mut admin, resource.resource(), ops)
        }
    }
}

fn alter(
    admin: &mut prozess::AdminClient,
    res: ConfigResource,
    ops: Vec<AlterConfigOp>,
) -> CliResult {
    let what = format!("altering configs of {res}");
    let results = admin
        .incremental_alter_configs(&[(res, ops)], TIMEOUT)
        .map_err(admin_err(&what))?;
    per_item(results.into_iter().map(|r| (what.clone(), r.result)))
}

/// `cluster` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ClusterCmd {
    /// The cluster id, controller and brokers.
    Describe,
}

/// Runs a `cluster` subcommand.
pub fn cluster(ctx: &Ctx, cmd: ClusterCmd) -> CliResult {
    let ClusterCmd::Describe = cmd;
    let mut admin = ctx.admin()?;
    let c = admin
        .describe_cluster()
        .map_err(admin_err("describing the cluster"))?;
    if ctx.json {
        return print_json(&json!({
            "cluster_id": c.cluster_id, "controller": c.controller,
            "brokers": c.nodes.iter().map(|b| json!({"id": b.id, "host": b.host, "port": b.port, "rack": b.rack})).collect::<Vec<_>>(),
        }));
    }
    println!("cluster id: {}", opt(c.cluster_id.as_ref()));
    println!("controller: {}", opt(c.controller));
    let rows = c
        .nodes
        .iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                format!("{}:{}", b.host, b.port),
                opt(b.rack.as_ref()),
            ]
        })
        .collect::<Vec<_>>();
    table(&["ID", "ADDRESS", "RACK"], &rows)
}

/// Arguments of `metadata`.
#[derive(clap::Args, Debug)]
pub struct MetadataArgs {
    /// Only this topic.
    #[arg(short = 't', long)]
    topic: Option<String>,
}

/// Runs `metadata` (kcat -L's layout).
pub fn metadata(ctx: &Ctx, a: MetadataArgs) -> CliResult {
    let mut admin = ctx.admin()?;
    let c = admin
        .describe_cluster()
        .map_err(admin_err("describing the cluster"))?;
    let names: Vec<String> = match a.topic {
        Some(t) => vec![t],
        None => admin
            .list_topics(true)
            .map_err(admin_err("listing topics"))?
            .into_iter()
            .map(|t| t.name)
            .collect(),
    };
    let topics = admin
        .describe_topics(&names)
        .map_err(admin_err("describing topics"))?;
    let ids = |v: &[i32]| {
        v.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if ctx.json {
        return print_json(&json!({
            "cluster_id": c.cluster_id, "controller": c.controller,
            "brokers": c.nodes.iter().map(|b| json!({"id": b.id, "host": b.host, "port": b.port})).collect::<Vec<_>>(),
            "topics": topics.iter().map(|t| json!({"topic": t.name, "partitions": t.partitions.iter().map(|p| json!({
                "partition": p.partition, "leader": p.leader, "replicas": p.replicas, "isrs": p.isr})).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        }));
    }
    let mut s = format!(
        "Metadata for {} (cluster {}):\n",
        if names.len() == 1 {
            names[0].as_str()
        } else {
            "all topics"
        },
        opt(c.cluster_id.as_ref())
    );
    s.push_str(&format!(" {} brokers:\n", c.nodes.len()));
    for b in &c.nodes {
        let ctl = if c.controller == Some(b.id) {
            " (controller)"
        } else {
            ""
        };
        s.push_str(&format!(
            "  broker {} at {}:{}{ctl}\n",
            b.id, b.host, b.port
        ));
    }
    s.push_str(&format!(" {} topics:\n", topics.len()));
    for t in &topics {
        s.push_str(&format!(
            "  topic \"{}\" with {} partitions:\n",
            t.name,
            t.partitions.len()
        ));
        for p in &t.partitions {
            s.push_str(&format!(
                "    partition {}, leader {}, replicas: {}, isrs: {}\n",
                p.partition,
                opt(p.leader),
                ids(&p.replicas),
                ids(&p.isr)
            ));
        }
    }
    crate::output::write_stdout(s.as_bytes())
}
