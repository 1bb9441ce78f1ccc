//! The `-o` start offset of `consume` (kcat's spellings).

/// Where `consume` starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    /// The log start.
    Beginning,
    /// The log end (only records produced from now on).
    End,
    /// This absolute offset.
    Absolute(i64),
    /// This many records before the end (`-N`).
    FromEnd(i64),
    /// The first record at or after this timestamp (ms since the epoch).
    Timestamp(i64),
    /// The group's committed offset (the default with `-g`), else the end.
    Stored,
}

/// Parses `beginning`, `end`, `stored`, `N`, `-N` or `@timestamp_ms`.
pub fn parse_offset(s: &str) -> Result<StartOffset, String> {
    let bad =
        || format!("bad offset {s:?}: expected beginning, end, stored, N, -N or @timestamp_ms");
    match s {
        "beginning" | "earliest" => Ok(StartOffset::Beginning),
        "end" | "latest" => Ok(StartOffset::End),
        "stored" => Ok(StartOffset::Stored),
        _ => {
            if let Some(ts) = s.strip_prefix('@') {
                let ts: i64 = ts.parse().map_err(|_| bad())?;
                if ts < 0 {
                    return Err(bad());
                }
                Ok(StartOffset::Timestamp(ts))
            } else if let Some(n) = s.strip_prefix('-') {
                let n: i64 = n.parse().map_err(|_| bad())?;
                if n <= 0 {
                    return Err(bad());
                }
                Ok(StartOffset::FromEnd(n))
            } else {
                s.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .map(StartOffset::Absolute)
                    .ok_or_else(bad)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(parse_offset("beginning"), Ok(StartOffset::Beginning));
        assert_eq!(parse_offset("end"), Ok(StartOffset::End));
        assert_eq!(parse_offset("stored"), Ok(StartOffset::Stored));
        assert_eq!(parse_offset("42"), Ok(StartOffset::Absolute(42)));
        assert_eq!(parse_offset("0"), Ok(StartOffset::Absolute(0)));
        assert_eq!(parse_offset("-5"), Ok(StartOffset::FromEnd(5)));
        assert_eq!(
            parse_offset("@1700000000000"),
            Ok(StartOffset::Timestamp(1_700_000_000_000))
        );
    }

    #[test]
    fn errors() {
        for s in ["", "x", "-0", "-x", "@", "@-1", "@x", "1.5", "--3"] {
            let e = parse_offset(s).unwrap_err();
            assert!(e.contains("bad offset"), "{s}: {e}");
        }
    }
}
