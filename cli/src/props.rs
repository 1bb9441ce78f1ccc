//! Java `.properties` files (`-F`), so existing client configs work as they are.

/// Parses the text of a Java properties file into (key, value) pairs, in
/// order: `key=value`, `key: value` or `key value`; `#` and `!` start comment
/// lines; a line ending in an odd number of backslashes continues on the next
/// line (whose leading whitespace is dropped); `\t`, `\n`, `\r`, `\f`,
/// `\uXXXX` and escaped separators are unescaped.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let first = line.trim_start();
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = String::new();
        let mut current = first.to_string();
        loop {
            if ends_with_continuation(&current) {
                current.pop();
                logical.push_str(&current);
                match lines.next() {
                    Some((_, next)) => current = next.trim_start().to_string(),
                    None => break,
                }
            } else {
                logical.push_str(&current);
                break;
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(&key).map_err(|e| format!("line {}: {e}", n + 1))?;
        let value = unescape(&value).map_err(|e| format!("line {}: {e}", n + 1))?;
        out.push((key, value));
    }
    Ok(out)
}

fn ends_with_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or whitespace; whitespace around
/// the separator belongs to neither side.
fn split_key_value(line: &str) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '=' | ':' | ' ' | '\t' | '\x0c' => break,
            _ => i += 1,
        }
    }
    let i = i.min(chars.len());
    let key: String = chars[..i].iter().collect();
    let mut j = i;
    while j < chars.len() && matches!(chars[j], ' ' | '\t' | '\x0c') {
        j += 1;
    }
    if j < chars.len() && matches!(chars[j], '=' | ':') {
        j += 1;
        while j < chars.len() && matches!(chars[j], ' ' | '\t' | '\x0c') {
            j += 1;
        }
    }
    (key, chars[j..].iter().collect())
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = it.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("bad \\u escape \\u{hex}"))?;
                out.push(code);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// Splits a `-X key=value` argument.
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, String)> {
        parse_properties(s).unwrap()
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_and_comments() {
        let text = "# comment\n! also\n\nbootstrap.servers=a:9092\nclient.id: me\nacks all\n  spaced = x y \n";
        assert_eq!(
            p(text),
            vec![
                kv("bootstrap.servers", "a:9092"),
                kv("client.id", "me"),
                kv("acks", "all"),
                kv("spaced", "x y "),
            ]
        );
    }

    #[test]
    fn continuations_and_escapes() {
        let text = "sasl.jaas.config=one \\\n    two \\\n   three\nkey\\=with\\:sep=v\\tx\nu=\\u0041\nempty=\nback=a\\\\\nnext=1\n";
        assert_eq!(
            p(text),
            vec![
                kv("sasl.jaas.config", "one two three"),
                kv("key=with:sep", "v\tx"),
                kv("u", "A"),
                kv("empty", ""),
                kv("back", "a\\"),
                kv("next", "1"),
            ]
        );
    }

    #[test]
    fn bad_unicode_escape_names_the_line() {
        let e = parse_properties("a=1\nb=\\uZZ\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn kv_arguments() {
        assert_eq!(parse_kv("a.b=c=d").unwrap(), kv("a.b", "c=d"));
        assert!(parse_kv("novalue").is_err());
        assert!(parse_kv("=x").is_err());
    }
}
