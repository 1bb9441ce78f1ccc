//! `groups`: list, describe (with lag), reset-offsets, delete.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use prozess::consumer::{OffsetAndMetadata, TopicPartition};
use serde_json::json;

use crate::client::{Consumer, Ctx};
use crate::output::{json as print_json, opt, table};
use crate::{CliError, CliResult};

const TIMEOUT: Duration = Duration::from_secs(30);

/// `groups` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum GroupsCmd {
    /// Lists the groups.
    List,
    /// Members, assignment, committed offsets, log end and lag per partition.
    Describe {
        /// The group.
        group: String,
        /// Topics to show offsets of (default: the assigned topics, else all topics).
        #[arg(short = 't', long = "topic")]
        topics: Vec<String>,
    },
    /// Moves an empty group's committed offsets (a dry run unless --execute).
    ResetOffsets(ResetArgs),
    /// Deletes groups.
    Delete {
        /// The groups.
        #[arg(required = true)]
        groups: Vec<String>,
    },
}

/// Arguments of `groups reset-offsets`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(false)))]
pub struct ResetArgs {
    /// The group.
    group: String,
    /// The topics to reset (repeatable).
    #[arg(short = 't', long = "topic", required = true)]
    topics: Vec<String>,
    /// To the log start.
    #[arg(long, group = "target")]
    to_earliest: bool,
    /// To the log end.
    #[arg(long, group = "target")]
    to_latest: bool,
    /// To the first record at or after this time (YYYY-MM-DDTHH:MM:SS[.mmm][Z], UTC, or ms since the epoch).
    #[arg(long, group = "target", value_parser = parse_datetime)]
    to_datetime: Option<i64>,
    /// Moves the committed offsets by N (negative: back).
    #[arg(long, group = "target", allow_hyphen_values = true)]
    shift_by: Option<i64>,
    /// Only show the new offsets (the default).
    #[arg(long, conflicts_with = "execute")]
    dry_run: bool,
    /// Commit the new offsets.
    #[arg(long)]
    execute: bool,
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.mmm][Z]` (UTC) or milliseconds since the epoch.
pub fn parse_datetime(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || format!("bad date-time {s:?}: expected YYYY-MM-DDTHH:MM:SS[.mmm] (UTC) or ms");
    let t = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00:00"));
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3
        || h.len() != 3
        || !(1..=12).contains(&d[1])
        || !(1..=31).contains(&d[2])
        || h[0] > 23
        || h[1] > 59
        || h[2] > 60
        || frac.len() > 3
    {
        return Err(bad());
    }
    let ms: i64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 24 + h[0]) * 60 + h[1]) * 60_000 + h[2] * 1000 + ms)
}

fn group_consumer(ctx: &Ctx, group: &str) -> CliResult<Consumer> {
    ctx.consumer(&[
        ("group.id", group.to_string()),
        ("enable.auto.commit", "false".into()),
    ])
}

fn partitions_of(consumer: &mut Consumer, topics: &[String]) -> CliResult<Vec<TopicPartition>> {
    let mut out = Vec::new();
    for t in topics {
        let meta = consumer
            .partitions_for(t)
            .map_err(|e| CliError::runtime(format!("looking up topic {t}"), e))?;
        if meta.is_empty() {
            return Err(CliError::runtime(format!("topic {t}"), "does not exist"));
        }
        out.extend(
            meta.iter()
                .map(|p| TopicPartition::new(t.clone(), p.partition)),
        );
    }
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(out)
}

/// Runs a `groups` subcommand.
pub fn run(ctx: &Ctx, cmd: GroupsCmd) -> CliResult {
    match cmd {
        GroupsCmd::List => {
            let mut admin = ctx.admin()?;
            let groups = admin
                .list_groups()
                .map_err(|e| CliError::runtime("listing groups", e))?;
            if ctx.json {
                return print_json(&json!(groups
                    .iter()
                    .map(|g| json!({
                    "group": g.group_id, "protocol_type": g.protocol_type, "state": g.state,
                    "type": g.group_type, "coordinator": g.coordinator}))
                    .collect::<Vec<_>>()));
            }
            let rows = groups
                .iter()
                .map(|g| {
                    vec![
                        g.group_id.clone(),
                        opt(g.state.as_ref()),
                        g.protocol_type.clone(),
                    ]
                })
                .collect::<Vec<_>>();
            table(&["GROUP", "STATE", "PROTOCOL TYPE"], &rows)
        }
        GroupsCmd::Describe { group, topics } => describe(ctx, &group, topics),
        GroupsCmd::ResetOffsets(a) => reset(ctx, a),
        GroupsCmd::Delete { groups } => {
            let mut admin = ctx.admin()?;
            let results = admin
                .delete_groups(&groups)
                .map_err(|e| CliError::runtime("deleting groups", e))?;
            let failed: Vec<String> = results
                .into_iter()
                .filter_map(|r| {
                    r.result
                        .err()
                        .map(|e| format!("deleting group {}: {e}", r.group_id))
                })
                .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                Err(CliError {
                    code: 1,
                    message: failed.join("\nprozess: "),
                })
            }
        }
    }
}

fn describe(ctx: &Ctx, group: &str, topics: Vec<String>) -> CliResult {
    let what = format!("describing group {group}");
    let mut admin = ctx.admin()?;
    let desc = admin
        .describe_groups(&[group])
        .map_err(|e| CliError::runtime(&what, e))?
        .pop()
        .ok_or_else(|| CliError::runtime(&what, "no answer"))?;
    // Which member owns which partition.
    let mut owner: HashMap<TopicPartition, (String, String)> = HashMap::new();
    let mut assigned_topics = BTreeSet::new();
    for m in &desc.members {
        if let Some(a) = &m.assignment {
            for tp in a.partitions.to_vec() {
                assigned_topics.insert(tp.topic.clone());
                owner.insert(tp, (m.member_id.clone(), m.host.clone()));
            }
        }
    }
    let topics: Vec<String> = if !topics.is_empty() {
        topics
    } else if !assigned_topics.is_empty() {
        assigned_topics.into_iter().collect()
    } else {
        admin
            .list_topics(false)
            .map_err(|e| CliError::runtime("listing topics", e))?
            .into_iter()
            .map(|t| t.name)
            .collect()
    };
    let mut consumer = group_consumer(ctx, group)?;
    let parts = partitions_of(&mut consumer, &topics)?;
    let committed = consumer
        .committed_with_timeout(&parts, TIMEOUT)
        .map_err(|e| CliError::runtime(format!("fetching the committed offsets of {group}"), e))?;
    // Only partitions the group has a committed offset for or owns.
    let parts: Vec<TopicPartition> = parts
        .into_iter()
        .filter(|tp| committed.get(tp).is_some_and(|c| c.is_some()) || owner.contains_key(tp))
        .collect();
    let ends = consumer
        .end_offsets(&parts, TIMEOUT)
        .map_err(|e| CliError::runtime("listing the log end offsets", e))?;
    let _ = consumer.close(Duration::from_secs(5));
    let mut rows = Vec::new();
    let mut total = 0i64;
    for tp in &parts {
        let c = committed.get(tp).and_then(|c| c.as_ref()).map(|c| c.offset);
        let end = ends.get(tp).copied();
        let lag = match (c, end) {
            (Some(c), Some(e)) => Some((e - c).max(0)),
            _ => None,
        };
        total += lag.unwrap_or(0);
        rows.push((tp.clone(), c, end, lag, owner.get(tp).cloned()));
    }
    if ctx.json {
        return print_json(&json!({
            "group": desc.group_id, "state": desc.state, "protocol": desc.protocol,
            "coordinator": desc.coordinator,
            "members": desc.members.iter().map(|m| json!({
                "member_id": m.member_id, "group_instance_id": m.group_instance_id,
                "client_id": m.client_id, "host": m.host,
                "assignment": m.assignment.as_ref().map(|a| a.partitions.to_vec().iter().map(|tp| json!({"topic": tp.topic, "partition": tp.partition})).collect::<Vec<_>>()),
            })).collect::<Vec<_>>(),
            "offsets": rows.iter().map(|(tp, c, e, l, o)| json!({
                "topic": tp.topic, "partition": tp.partition, "committed": c, "log_end": e, "lag": l,
                "member_id": o.as_ref().map(|o| &o.0)})).collect::<Vec<_>>(),
            "total_lag": total,
        }));
    }
    println!(
        "group {} state {} protocol {} coordinator {}",
        desc.group_id, desc.state, desc.protocol, desc.coordinator
    );
    let table_rows = rows
        .iter()
        .map(|(tp, c, e, l, o)| {
            vec![
                tp.topic.clone(),
                tp.partition.to_string(),
                opt(*c),
                opt(*e),
                opt(*l),
                o.as_ref().map_or("-".into(), |o| o.0.clone()),
                o.as_ref().map_or("-".into(), |o| o.1.clone()),
            ]
        })
        .collect::<Vec<_>>();
    table(
        &[
            "TOPIC",
            "PARTITION",
            "COMMITTED",
            "LOG-END",
            "LAG",
            "MEMBER",
            "HOST",
        ],
        &table_rows,
    )?;
    println!("total lag {total}");
    Ok(())
}

fn reset(ctx: &Ctx, a: ResetArgs) -> CliResult {
    let mut admin = ctx.admin()?;
    let what = format!("describing group {}", a.group);
    let desc = admin
        .describe_groups(&[&a.group])
        .map_err(|e| CliError::runtime(&what, e))?
        .pop()
        .ok_or_else(|| CliError::runtime(&what, "no answer"))?;
    if !desc.members.is_empty() {
        return Err(CliError::runtime(
            format!("resetting group {}", a.group),
            format!(
                "the group has {} active member(s) (state {}); stop them first",
                desc.members.len(),
                desc.state
            ),
        ));
    }
    let mut consumer = group_consumer(ctx, &a.group)?;
    let parts = partitions_of(&mut consumer, &a.topics)?;
    let rt = |w: &str| {
        let w = w.to_string();
        move |e: prozess::consumer::Error| CliError::runtime(w, e)
    };
    let committed = consumer
        .committed_with_timeout(&parts, TIMEOUT)
        .map_err(rt("fetching committed offsets"))?;
    let begin = consumer
        .beginning_offsets(&parts, TIMEOUT)
        .map_err(rt("listing log start offsets"))?;
    let end = consumer
        .end_offsets(&parts, TIMEOUT)
        .map_err(rt("listing log end offsets"))?;
    let times = a.to_datetime.map(|ts| {
        parts
            .iter()
            .map(|tp| (tp.clone(), ts))
            .collect::<HashMap<_, _>>()
    });
    let found = match &times {
        Some(t) => Some(
            consumer
                .offsets_for_times(t, TIMEOUT)
                .map_err(rt("looking up offsets by time"))?,
        ),
        None => None,
    };
    let mut new: BTreeMap<(String, i32), (Option<i64>, i64)> = BTreeMap::new();
    for tp in &parts {
        let b = begin.get(tp).copied().unwrap_or(0);
        let e = end.get(tp).copied().unwrap_or(0);
        let current = committed.get(tp).and_then(|c| c.as_ref()).map(|c| c.offset);
        let target = if a.to_earliest {
            b
        } else if a.to_latest {
            e
        } else if let Some(found) = &found {
            found
                .get(tp)
                .and_then(|o| o.as_ref())
                .map_or(e, |o| o.offset)
        } else {
            let n = a.shift_by.unwrap_or(0);
            (current.unwrap_or(b) + n).clamp(b, e)
        };
        new.insert((tp.topic.clone(), tp.partition), (current, target));
    }
    if a.execute {
        let offsets: HashMap<TopicPartition, OffsetAndMetadata> = new
            .iter()
            .map(|((t, p), (_, o))| {
                (
                    TopicPartition::new(t.clone(), *p),
                    OffsetAndMetadata::new(*o),
                )
            })
            .collect();
        consumer.commit_sync_offsets(offsets).map_err(rt(&format!(
            "committing the new offsets of group {}",
            a.group
        )))?;
    }
    let _ = consumer.close(Duration::from_secs(5));
    if ctx.json {
        return print_json(&json!({
            "group": a.group, "executed": a.execute,
            "offsets": new.iter().map(|((t, p), (c, n))| json!({"topic": t, "partition": p, "current": c, "new": n})).collect::<Vec<_>>(),
        }));
    }
    let rows = new
        .iter()
        .map(|((t, p), (c, n))| vec![t.clone(), p.to_string(), opt(*c), n.to_string()])
        .collect::<Vec<_>>();
    table(&["TOPIC", "PARTITION", "CURRENT", "NEW"], &rows)?;
    if !a.execute {
        eprintln!("dry run: nothing committed (use --execute to apply)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_datetime;

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime("0"), Ok(0));
        assert_eq!(parse_datetime("1970-01-01T00:00:00"), Ok(0));
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.5"),
            Ok(1_700_000_000_500)
        );
        assert_eq!(parse_datetime("2000-03-01"), Ok(951_868_800_000));
        assert!(parse_datetime("2023-13-01T00:00:00").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }
}
