//! The progress line on stderr for long produce/consume runs: a count of
//! records, redrawn in place at most twice a second, and only when stderr is
//! a terminal (scripts that capture stderr never see it).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn at most.
const EVERY: Duration = Duration::from_millis(500);

/// A "`verb` N records" line on stderr.
pub struct Progress {
    verb: &'static str,
    enabled: bool,
    count: u64,
    last_draw: Option<Instant>,
}

impl Progress {
    /// A progress line that draws only when stderr is a terminal.
    pub fn on_stderr(verb: &'static str) -> Progress {
        Progress::new(verb, std::io::stderr().is_terminal())
    }

    fn new(verb: &'static str, enabled: bool) -> Progress {
        Progress {
            verb,
            enabled,
            count: 0,
            last_draw: None,
        }
    }

    /// Counts `n` more records and redraws if it is time.
    pub fn add(&mut self, n: u64) {
        self.count += n;
        if let Some(line) = self.line_due(Instant::now()) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{line}");
            let _ = err.flush();
        }
    }

    /// The line to draw at `now`, if one is due (the first draw waits one
    /// interval, so short runs print nothing).
    fn line_due(&mut self, now: Instant) -> Option<String> {
        if !self.enabled {
            return None;
        }
        match self.last_draw {
            None => {
                self.last_draw = Some(now);
                None
            }
            Some(t) if now.duration_since(t) >= EVERY => {
                self.last_draw = Some(now);
                Some(format!("{} {} records", self.verb, self.count))
            }
            Some(_) => None,
        }
    }

    /// Ends the line (after a final count) if anything was drawn.
    pub fn finish(&mut self) {
        if self.enabled && self.last_draw.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "\r{} {} records", self.verb, self.count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_at_most_every_interval_and_never_when_disabled() {
        let start = Instant::now();
        let mut p = Progress::new("produced", true);
        p.count = 3;
        assert_eq!(p.line_due(start), None, "not at once");
        assert_eq!(p.line_due(start + EVERY / 2), None);
        assert_eq!(
            p.line_due(start + EVERY).as_deref(),
            Some("produced 3 records")
        );
        assert_eq!(p.line_due(start + EVERY + EVERY / 2), None);

        let mut off = Progress::new("consumed", false);
        assert_eq!(off.line_due(start), None);
        assert_eq!(off.line_due(start + EVERY * 10), None);
    }
}
