//! Output: a plain aligned table, or JSON with `--json`.

use std::io::Write;

use crate::{CliError, CliResult};

/// Prints rows under a header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> CliResult {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(c);
            let pad = widths.get(i).copied().unwrap_or(0);
            for _ in c.chars().count()..pad {
                l.push(' ');
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(|s| s.as_str()));
    }
    write_stdout(out.as_bytes())
}

/// Prints a JSON value on one line.
pub fn json(v: &serde_json::Value) -> CliResult {
    let mut s = serde_json::to_string_pretty(v)
        .map_err(|e| CliError::runtime("encoding JSON output", e))?;
    s.push('\n');
    write_stdout(s.as_bytes())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(b: &[u8]) -> CliResult {
    let mut out = std::io::stdout().lock();
    match out.write_all(b).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::runtime("writing to stdout", e)),
    }
}

/// An optional value as a table cell ("-" when absent).
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}
