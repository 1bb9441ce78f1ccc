//! kcat's `-f` output format: `%t %p %o %k %s %h %T %K %S %%` and the escapes
//! `\n \t \r \\`.

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// Literal bytes.
    Literal(Vec<u8>),
    /// `%t`: topic.
    Topic,
    /// `%p`: partition.
    Partition,
    /// `%o`: offset.
    Offset,
    /// `%k`: key (empty when null).
    Key,
    /// `%s`: value (empty when null).
    Value,
    /// `%h`: headers as `k=v,k=v`.
    Headers,
    /// `%T`: timestamp in ms.
    Timestamp,
    /// `%K`: key length (-1 when null).
    KeyLen,
    /// `%S`: value length (-1 when null).
    ValueLen,
}

/// Parses a format string; an unknown `%x` or `\x` is an error naming it.
pub fn parse_format(s: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut lit = Vec::new();
    let mut it = s.chars();
    let flush = |lit: &mut Vec<u8>, tokens: &mut Vec<Token>| {
        if !lit.is_empty() {
            tokens.push(Token::Literal(std::mem::take(lit)));
        }
    };
    while let Some(c) = it.next() {
        match c {
            '%' => {
                let t = match it.next() {
                    Some('t') => Token::Topic,
                    Some('p') => Token::Partition,
                    Some('o') => Token::Offset,
                    Some('k') => Token::Key,
                    Some('s') => Token::Value,
                    Some('h') => Token::Headers,
                    Some('T') => Token::Timestamp,
                    Some('K') => Token::KeyLen,
                    Some('S') => Token::ValueLen,
                    Some('%') => {
                        lit.push(b'%');
                        continue;
                    }
                    Some(o) => return Err(format!("unknown format token %{o} in {s:?}")),
                    None => return Err(format!("format {s:?} ends with a lone %")),
                };
                flush(&mut lit, &mut tokens);
                tokens.push(t);
            }
            '\\' => match it.next() {
                Some('n') => lit.push(b'\n'),
                Some('t') => lit.push(b'\t'),
                Some('r') => lit.push(b'\r'),
                Some('\\') => lit.push(b'\\'),
                Some(o) => return Err(format!("unknown escape \\{o} in format {s:?}")),
                None => return Err(format!("format {s:?} ends with a lone \\")),
            },
            c => {
                let mut buf = [0u8; 4];
                lit.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    flush(&mut lit, &mut tokens);
    Ok(tokens)
}

/// The fields of one record that a format can print.
pub struct RecordView<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Key, `None` when null.
    pub key: Option<&'a [u8]>,
    /// Value, `None` when null.
    pub value: Option<&'a [u8]>,
    /// Headers.
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
}

/// Writes one record in the format.
pub fn render(tokens: &[Token], r: &RecordView<'_>, out: &mut Vec<u8>) {
    use std::io::Write;
    for t in tokens {
        // Writing to a Vec cannot fail.
        let _ = match t {
            Token::Literal(b) => out.write_all(b),
            Token::Topic => out.write_all(r.topic.as_bytes()),
            Token::Partition => write!(out, "{}", r.partition),
            Token::Offset => write!(out, "{}", r.offset),
            Token::Key => out.write_all(r.key.unwrap_or(&[])),
            Token::Value => out.write_all(r.value.unwrap_or(&[])),
            Token::Timestamp => write!(out, "{}", r.timestamp),
            Token::KeyLen => write!(out, "{}", r.key.map_or(-1, |k| k.len() as i64)),
            Token::ValueLen => write!(out, "{}", r.value.map_or(-1, |v| v.len() as i64)),
            Token::Headers => {
                for (i, (k, v)) in r.headers.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(k.as_bytes());
                    out.push(b'=');
                    out.extend_from_slice(v.unwrap_or(&[]));
                }
                Ok(())
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> RecordView<'static> {
        RecordView {
            topic: "t1",
            partition: 3,
            offset: 42,
            timestamp: 1700,
            key: Some(b"k"),
            value: Some(b"hello"),
            headers: vec![("a", Some(b"1")), ("b", None)],
        }
    }

    fn show(fmt: &str, r: &RecordView<'_>) -> String {
        let mut out = Vec::new();
        render(&parse_format(fmt).unwrap(), r, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_token() {
        assert_eq!(
            show("%t|%p|%o|%k|%s|%h|%T|%K|%S|100%%\\t\\n", &view()),
            "t1|3|42|k|hello|a=1,b=|1700|1|5|100%\t\n"
        );
    }

    #[test]
    fn null_key_and_value() {
        let mut r = view();
        r.key = None;
        r.value = None;
        r.headers.clear();
        assert_eq!(show("[%k][%s][%K][%S][%h]", &r), "[][][-1][-1][]");
    }

    #[test]
    fn errors_name_the_token() {
        assert!(parse_format("%x").unwrap_err().contains("%x"));
        assert!(parse_format("ab%").unwrap_err().contains("lone %"));
        assert!(parse_format("\\q").unwrap_err().contains("\\q"));
        assert_eq!(
            parse_format("a%kb").unwrap(),
            vec![
                Token::Literal(b"a".to_vec()),
                Token::Key,
                Token::Literal(b"b".to_vec())
            ]
        );
    }
}
