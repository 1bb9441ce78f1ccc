//! Running helper programs (install scripts, kcat, python) with a deadline, so
//! a stuck peer fails a test instead of hanging the suite.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{HarnessError, Result};

/// Runs `cmd` to completion, feeding `input` to its stdin, and kills it if it
/// is still running after `timeout`. Returns its output whatever its exit
/// status; the caller decides what a failure means.
pub fn run_with_timeout(cmd: &mut Command, input: &[u8], timeout: Duration) -> Result<Output> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| HarnessError::new(format!("cannot run {what}: {e}")))?;
    // Feed stdin and drain stdout/stderr on threads: a child blocked on a full
    // pipe would otherwise never finish.
    let mut stdin = child.stdin.take();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&input);
        }
        drop(stdin);
    });
    let mut out = child.stdout.take();
    let reader_out = thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut buf);
        }
        buf
    });
    let mut err = child.stderr.take();
    let reader_err = thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = reader_err.join().unwrap_or_default();
            return Err(HarnessError::new(format!(
                "{what} did not finish within {timeout:?}; stderr: {}",
                String::from_utf8_lossy(&stderr)
            )));
        }
        thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let stdout = reader_out.join().unwrap_or_default();
    let stderr = reader_err.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// `out` if its process exited successfully, else an error naming `what`
/// with the exit status and stderr.
pub fn succeeded(out: Output, what: &str) -> Result<Output> {
    if out.status.success() {
        return Ok(out);
    }
    Err(HarnessError::new(format!(
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    )))
}

/// Runs one of the workspace's `scripts/*.sh` and returns the last line it
/// printed on stdout (the scripts print the path they installed).
pub fn run_script(name: &str, timeout: Duration) -> Result<String> {
    let path = crate::workspace_root().join("scripts").join(name);
    let out = run_with_timeout(Command::new("bash").arg(&path), b"", timeout)?;
    let out = succeeded(out, &path.display().to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .ok_or_else(|| HarnessError::new(format!("{} printed nothing", path.display())))
}

/// The executable of the example `name` (of the `prozess` package), from the
/// build `scripts/test.sh` runs the suite with: `cargo test --workspace
/// --no-run`, which builds the examples too, so inside the suite nothing is
/// built again. (A `cargo build -p prozess --example X` unifies features
/// differently and builds every crate a second time; run alone, a test that
/// calls this builds the workspace's tests once.) Asked once per process.
///
/// Panics if cargo fails or built no such example.
pub fn example_executable(name: &str) -> std::path::PathBuf {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::OnceLock;
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        // What cargo set for this test: ring's build script reruns when
        // CARGO_MANIFEST_DIR changes, and with it everything above ring.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k == "CARGO_MANIFEST_DIR"
                || k == "CARGO_MANIFEST_PATH"
                || k == "CARGO_CRATE_NAME"
                || k == "CARGO_PRIMARY_PACKAGE"
                || k == "CARGO_TARGET_TMPDIR"
                || k == "OUT_DIR"
                || k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_")
            {
                cmd.env_remove(&*k);
            }
        }
        cmd.current_dir(crate::workspace_root()).args([
            "test",
            "--workspace",
            "--no-run",
            "--message-format=json",
        ]);
        let out = run_with_timeout(&mut cmd, b"", Duration::from_secs(1800))
            .expect("cargo test --workspace --no-run");
        assert!(
            out.status.success(),
            "cargo test --workspace --no-run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut built = HashMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let is_example = msg["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "example"));
            if let (true, Some(name), Some(exe)) = (
                is_example,
                msg["target"]["name"].as_str(),
                msg["executable"].as_str(),
            ) {
                built.insert(name.to_string(), PathBuf::from(exe));
            }
        }
        built
    });
    built
        .get(name)
        .unwrap_or_else(|| panic!("cargo built no example {name}"))
        .clone()
}
