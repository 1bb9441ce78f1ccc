//! The independent peer client for interop tests: librdkafka 2.16 from the
//! PyPI package confluent-kafka==2.16.1, used through its Python API or
//! through Debian's kcat running on that library (Debian's own librdkafka
//! 2.0.2 cannot talk to Tansu). `scripts/install-peer.sh` installs both; the
//! harness runs it on first use, `.ci/run` runs it up front.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{run_script, run_with_timeout, succeeded};
use crate::{HarnessError, Result};

/// Where the peer is installed: the directory `scripts/install-peer.sh`
/// printed (installing it first if needed).
pub fn install_dir() -> Result<PathBuf> {
    static DIR: OnceLock<std::result::Result<PathBuf, HarnessError>> = OnceLock::new();
    DIR.get_or_init(|| run_script("install-peer.sh", Duration::from_secs(900)).map(PathBuf::from))
        .clone()
}

fn install_dir_or_panic() -> PathBuf {
    match install_dir() {
        Ok(d) => d,
        Err(e) => panic!("the librdkafka peer is not available: {e}"),
    }
}

/// A `kcat` command running on the wheel's librdkafka (LD_LIBRARY_PATH
/// points at the install's `lib/`). Panics if the peer cannot be installed.
pub fn kcat() -> Command {
    let dir = install_dir_or_panic();
    let mut path = OsString::from(dir.join("lib"));
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        if !old.is_empty() {
            path.push(":");
            path.push(old);
        }
    }
    let mut cmd = Command::new("kcat");
    cmd.env("LD_LIBRARY_PATH", path);
    cmd
}

/// The venv's python, which can `import confluent_kafka` (librdkafka 2.16).
/// Panics if the peer cannot be installed.
pub fn python() -> Command {
    Command::new(
        install_dir_or_panic()
            .join("venv")
            .join("bin")
            .join("python"),
    )
}

/// The librdkafka version kcat runs on, read from `kcat -V`
/// (e.g. "2.16.0").
pub fn kcat_librdkafka_version() -> Result<String> {
    let out = run_with_timeout(kcat().arg("-V"), b"", Duration::from_secs(30))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("librdkafka ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .ok_or_else(|| HarnessError::new(format!("no librdkafka version in kcat -V: {text}")))
}

/// Produces `records` (key, value) to `topic`/`partition` with kcat, one
/// record per line, key and value separated by a tab (so neither may hold a
/// tab or newline). Waits for every delivery report.
pub fn kcat_produce(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    records: &[(&str, &str)],
) -> Result<()> {
    let mut input = String::new();
    for (k, v) in records {
        if [k, v].iter().any(|s| s.contains('\t') || s.contains('\n')) {
            return Err(HarnessError::new(
                "kcat_produce: keys and values must not hold tabs or newlines",
            ));
        }
        input.push_str(k);
        input.push('\t');
        input.push_str(v);
        input.push('\n');
    }
    let out = run_with_timeout(
        kcat()
            .args(["-P", "-b", bootstrap, "-t", topic, "-p"])
            .arg(partition.to_string())
            .args(["-K", "\t", "-X", "socket.timeout.ms=10000"]),
        input.as_bytes(),
        Duration::from_secs(60),
    )?;
    succeeded(out, "kcat produce")?;
    Ok(())
}

/// Consumes `topic`/`partition` from the beginning to its current end with
/// kcat and returns (key, value, offset) per record, in order.
pub fn kcat_consume(
    bootstrap: &str,
    topic: &str,
    partition: i32,
) -> Result<Vec<(String, String, i64)>> {
    let out = run_with_timeout(
        kcat()
            .args(["-C", "-b", bootstrap, "-t", topic, "-p"])
            .arg(partition.to_string())
            .args(["-o", "beginning", "-e", "-q", "-f", "%k\t%s\t%o\n"]),
        b"",
        Duration::from_secs(60),
    )?;
    let out = succeeded(out, "kcat consume")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.split('\t');
            let (k, v, o) = (parts.next(), parts.next(), parts.next());
            match (k, v, o.and_then(|o| o.parse::<i64>().ok())) {
                (Some(k), Some(v), Some(o)) => Ok((k.to_string(), v.to_string(), o)),
                _ => Err(HarnessError::new(format!(
                    "unexpected kcat output line {l:?}"
                ))),
            }
        })
        .collect()
}

/// Runs a Python script with confluent-kafka available and returns its
/// stdout; fails with its stderr if it exits non-zero or takes longer than
/// `timeout`.
pub fn run_python(script: &str, args: &[&str], timeout: Duration) -> Result<String> {
    let out = run_with_timeout(python().arg("-c").arg(script).args(args), b"", timeout)?;
    let out = succeeded(out, "python peer script")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
