//! A YAML emitter reproducing `sigs.k8s.io/yaml.Marshal` (go-yaml v2 under the
//! hood), which is how CAPM3 serialises rendered metaData and networkData.
//! Secrets are compared byte-for-byte by cloud-init users and by re-provisioning
//! checks, so serde-saphyr's (YAML 1.2) quoting and key order are not usable.
//!
//! Covered: maps with go-yaml's key order, block style, sequences not indented
//! under their key, `[]` / `{}` for empty collections, go-yaml v2's plain /
//! single-quoted / double-quoted choice for strings. Not covered (CAPM3 output
//! never has them in practice): multi-line strings (go-yaml writes literal
//! blocks) and folding of plain strings with spaces longer than 80 columns.

use std::cmp::Ordering;

use serde_json::Value;

/// Serialises `v` like `sigs.k8s.io/yaml.Marshal`.
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Sorted entries of a map, in go-yaml v2 `keyList.Less` order.
fn sorted(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut e: Vec<_> = m.iter().collect();
    e.sort_by(|a, b| key_cmp(a.0, b.0));
    e
}

/// Writes a non-empty map whose first line starts at the current position
/// (already indented to `ind`).
fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, ind: usize) {
    for (i, (k, v)) in sorted(m).into_iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        out.push_str(&string(k));
        out.push(':');
        match v {
            Value::Object(c) if !c.is_empty() => {
                out.push('\n');
                indent(out, ind + 2);
                write_map(out, c, ind + 2);
            }
            // go-yaml v2 does not indent a block sequence under its mapping key.
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                indent(out, ind);
                write_seq(out, a, ind);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// Writes a non-empty sequence starting at the current position (indented to `ind`).
fn write_seq(out: &mut String, a: &[Value], ind: usize) {
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        out.push_str("- ");
        match v {
            Value::Object(c) if !c.is_empty() => write_map(out, c, ind + 2),
            Value::Array(c) if !c.is_empty() => write_seq(out, c, ind + 2),
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// go-yaml v2 `keyList.Less`: letters compare by code point and sort after
/// non-letters; digit runs compare numerically.
pub fn key_cmp(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    if key_less(&ar, &br) {
        Ordering::Less
    } else if key_less(&br, &ar) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn key_less(ar: &[char], br: &[char]) -> bool {
    let digit = |c: char| c.is_ascii_digit();
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            // A zero inside a number that started earlier counts as a digit of it.
            let mut j = i;
            while j > 0 && digit(ar[j - 1]) {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && digit(ar[ai]) {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && digit(br[bi]) {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// A string scalar in go-yaml v2 style: plain when it resolves to a string and
/// the emitter allows plain; double-quoted when it would resolve to another
/// type; single-quoted when only the emitter forbids plain.
pub fn string(s: &str) -> String {
    // Non-printable characters (tab included) leave libyaml only double quotes.
    if !resolves_to_str(s)
        || is_base60_float(s)
        || s.chars().any(|c| c.is_control() || c == '\u{feff}')
    {
        return double_quoted(s);
    }
    if plain_allowed(s) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "''"))
}

fn double_quoted(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            '\0' => o.push_str("\\0"),
            c if c.is_control() => o.push_str(&format!("\\x{:02X}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// go-yaml v2 `resolve("", s)` yields `!!str`.
fn resolves_to_str(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no",
        "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null",
        "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    let hint = match first {
        '+' | '-' => 'S',
        '0'..='9' => 'D',
        'y' | 'Y' | 'n' | 'N' | 't' | 'T' | 'f' | 'F' | 'o' | 'O' | '~' => 'M',
        '.' => '.',
        // `<<` is in the map but its first byte has no hint, so it stays a string.
        _ => return true,
    };
    if SPECIAL.contains(&s) {
        return false;
    }
    match hint {
        '.' => !is_go_float(s),
        'D' | 'S' => {
            if is_timestamp(s) {
                return false;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            !(is_go_int(&plain) || is_yaml_float(&plain))
        }
        _ => true,
    }
}

/// `strconv.ParseInt(s, 0, 64)` / `ParseUint` syntax (range not checked).
fn is_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let all = |t: &str, f: fn(char) -> bool| !t.is_empty() && t.chars().all(f);
    if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return all(h, |c| c.is_ascii_hexdigit());
    }
    if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        return all(o, |c| ('0'..='7').contains(&c));
    }
    if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        return all(b, |c| c == '0' || c == '1');
    }
    if body.len() > 1 && body.starts_with('0') {
        return all(body, |c| ('0'..='7').contains(&c));
    }
    all(body, |c| c.is_ascii_digit())
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseFloat` acceptance for strings starting with `.` (e.g. `.5`, `.5e3`).
fn is_go_float(s: &str) -> bool {
    is_yaml_float(s)
}

/// go-yaml v2 `parseTimestamp`: `YYYY-M-D` optionally followed by a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let num = |i: &mut usize, min: usize, max: usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - st < max {
            *i += 1;
        }
        *i - st >= min
    };
    if !(num(&mut i, 4, 4) && b.get(i) == Some(&b'-')) {
        return false;
    }
    i += 1;
    if !(num(&mut i, 1, 2) && b.get(i) == Some(&b'-')) {
        return false;
    }
    i += 1;
    if !num(&mut i, 1, 2) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let sep = b[i];
    if !matches!(sep, b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    for k in 0..3 {
        if !num(&mut i, 1, 2) {
            return false;
        }
        if k < 2 {
            if b.get(i) != Some(&b':') {
                return false;
            }
            i += 1;
        }
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !num(&mut i, 1, 9) {
            return false;
        }
    }
    if sep == b' ' {
        return i == b.len();
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i += 1;
            num(&mut i, 2, 2) && b.get(i) == Some(&b':') && {
                i += 1;
                num(&mut i, 2, 2) && i == b.len()
            }
        }
        _ => false,
    }
}

/// go-yaml v2 `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let st = i;
        if b.get(i).is_some_and(|c| (b'0'..=b'5').contains(c))
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
        {
            i += 2;
        } else if b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == st {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// libyaml `yaml_emitter_analyze_scalar`: may this string be written plain in
/// block context?
fn plain_allowed(s: &str) -> bool {
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let c: Vec<char> = s.chars().collect();
    let blank = |i: usize| {
        c.get(i)
            .is_none_or(|&x| x == ' ' || x == '\t' || x == '\n' || x == '\r')
    };
    for (i, &ch) in c.iter().enumerate() {
        if i == 0 {
            match ch {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => return false,
                '?' | ':' | '-' if blank(1) => return false,
                _ => {}
            }
        } else {
            match ch {
                ':' if blank(i + 1) => return false,
                '#' if blank(i - 1) => return false,
                _ => {}
            }
        }
    }
    let first = c.first().copied();
    let last = c.last().copied();
    first != Some(' ') && last != Some(' ')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_quoting_table() {
        // (input, go-yaml v2 output); the first five are the reference's own examples.
        let cases = [
            ("ffff:ffff:ffff:ffff::", "'ffff:ffff:ffff:ffff::'"),
            ("2001::", "'2001::'"),
            ("2", "\"2\""),
            ("", "\"\""),
            ("true", "\"true\""),
            ("192.168.0.10", "192.168.0.10"),
            ("255.255.255.0", "255.255.255.0"),
            ("::", "'::'"),
            ("2001:db8::1", "2001:db8::1"),
            ("1.5", "\"1.5\""),
            ("1e3", "\"1e3\""),
            ("0755", "\"0755\""),
            ("0x1F", "\"0x1F\""),
            ("1_000", "\"1_000\""),
            ("yes", "\"yes\""),
            ("Off", "\"Off\""),
            ("~", "\"~\""),
            ("null", "\"null\""),
            (".inf", "\".inf\""),
            ("2024-01-02", "\"2024-01-02\""),
            ("2024-01-02T03:04:05Z", "\"2024-01-02T03:04:05Z\""),
            ("00:11:22:33:44:55", "\"00:11:22:33:44:55\""),
            ("52:54:00:aa:bb:cc", "52:54:00:aa:bb:cc"),
            ("- x", "'- x'"),
            ("a: b", "'a: b'"),
            ("a #b", "'a #b'"),
            ("a#b", "a#b"),
            ("*x", "'*x'"),
            (" x", "' x'"),
            ("it's", "it's"),
            ("'q", "'''q'"),
            ("tab\there", "\"tab\\there\""),
            ("---x", "'---x'"),
            ("machine-1", "machine-1"),
            ("<<", "<<"),
            ("-1", "\"-1\""),
            ("+", "+"),
        ];
        for (s, want) in cases {
            assert_eq!(string(s), want, "{s:?}");
        }
    }

    #[test]
    fn key_order_table() {
        let mut keys = vec!["b", "a10", "a2", "B", "_x", "a", "a02", "1", "10", "9", "Z"];
        keys.sort_by(|a, b| key_cmp(a, b));
        // Non-letters before letters, uppercase before lowercase, digit runs numerically
        // (a non-digit counts as 0 against a digit, so `_x` precedes `1`).
        assert_eq!(
            keys,
            vec!["_x", "1", "9", "10", "B", "Z", "a", "a2", "a02", "a10", "b"]
        );
    }

    #[test]
    fn block_layout() {
        let v = json!({
            "links": [{"id": "b0", "bond_links": ["e1", "e2"], "mtu": 1500, "p": {}}],
            "networks": [],
            "services": [{"type": "dns", "address": "8.8.8.8"}],
            "m": {"k": "v", "n": {"x": true}, "o": {}}
        });
        let want = r#"links:
- bond_links:
  - e1
  - e2
  id: b0
  mtu: 1500
  p: {}
m:
  k: v
  "n":
    x: true
  o: {}
networks: []
services:
- address: 8.8.8.8
  type: dns
"#;
        assert_eq!(to_string(&v), want);
    }
}
