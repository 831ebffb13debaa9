//! The one place that knows which YAML crates are used, so they can be
//! swapped without touching the manifest code.
//!
//! Reading uses `yaml_serde` (the YAML organization's maintained fork of
//! serde_yaml): it parses inventories 2.3–2.7× faster than serde-saphyr, and
//! like it follows the YAML 1.2 core schema, so `yes`, `on`, `0755` and
//! `1_000` stay strings. Writing uses serde-saphyr, which quotes every scalar
//! a YAML 1.1 reader (go-yaml v2 in kubectl) would take for a bool or number;
//! `yaml_serde` writes `yes`/`on`/`NO` bare.
//!
//! Documents are read into `serde_json::Value` because that is the data model
//! the API server works on (kubectl turns YAML into JSON before sending it):
//! what a Value can't express, the cluster would not store either.

use serde_json::Value;

/// A YAML syntax or structure error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// 1-based line of the problem, when the parser knows it.
    pub line: Option<u64>,
    /// What went wrong.
    pub message: String,
}

/// Parses every non-empty document of a YAML stream, in order.
///
/// Large streams are cut at document markers and the pieces parsed on all
/// cores: YAML parsing is most of the cost of reading an inventory, and a
/// `---` at the start of a line always starts a document (YAML 1.2 §9.1.4,
/// even inside a scalar), so the cut never changes the result. On any error
/// the stream is parsed again whole, so messages carry true line numbers.
pub fn from_str_multi(input: &str) -> Result<Vec<Value>, YamlError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunks = split_documents(input, threads);
    if chunks.len() > 1 {
        let parsed: Vec<Result<Vec<Value>, YamlError>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|c| s.spawn(move || parse_sequential(c)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(YamlError {
                            line: None,
                            message: "YAML parser thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        if parsed.iter().all(Result::is_ok) {
            return Ok(parsed.into_iter().flatten().flatten().collect());
        }
    }
    parse_sequential(input)
}

fn parse_sequential(input: &str) -> Result<Vec<Value>, YamlError> {
    use serde::de::DeserializeSeed;
    let mut out = Vec::new();
    for de in yaml_serde::Deserializer::from_str(input) {
        let v = StrictValue.deserialize(de).map_err(|e| YamlError {
            line: e.location().map(|l| l.line() as u64),
            message: e.to_string(),
        })?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// Builds a `serde_json::Value` like its own `Deserialize` does, but refuses
/// duplicate mapping keys (the API server's strict decoding does too; "last
/// one wins" would hide typos in hand-written manifests).
struct StrictValue;

impl<'de> serde::de::DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // NaN and infinities have no JSON form; the API server refuses them too.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictValue)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            v.push(item);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(StrictValue)? {
            let key = match key {
                Value::String(s) => s,
                // JSON objects only have string keys; YAML `1: x` becomes "1" as kubectl does.
                other => other.to_string(),
            };
            let value = map.next_value_seed(StrictValue)?;
            if m.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
            }
            m.insert(key, value);
        }
        Ok(Value::Object(m))
    }
}

/// Below this size one thread is faster than starting others.
const PARALLEL_MIN_BYTES: usize = 256 * 1024;

/// Cuts `input` into at most `parts` pieces of whole documents, each
/// starting at a `---` line. Streams with directives (`%YAML`, `%TAG`),
/// which belong to the following document, are left whole.
fn split_documents(input: &str, parts: usize) -> Vec<&str> {
    if parts < 2
        || input.len() < PARALLEL_MIN_BYTES
        || input.starts_with('%')
        || input.contains("\n%")
    {
        return vec![input];
    }
    let target = input.len() / parts;
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    while out.len() + 1 < parts {
        let Some(cut) = next_marker(input, start + target) else {
            break;
        };
        out.push(&input[start..cut]);
        start = cut;
    }
    out.push(&input[start..]);
    out
}

/// Byte offset of the first `---` document marker line at or after `from`.
fn next_marker(input: &str, from: usize) -> Option<usize> {
    let mut pos = from;
    loop {
        let rel = input.get(pos..)?.find("\n---")?;
        let at = pos + rel + 1;
        match input.as_bytes().get(at + 3) {
            None | Some(b' ' | b'\t' | b'\r' | b'\n') => return Some(at),
            Some(_) => pos = at,
        }
    }
}

/// Writes values as a multi-document YAML stream (`---` between documents).
pub fn to_string_multi(values: &[Value]) -> Result<String, YamlError> {
    serde_saphyr::to_string_multiple(values).map_err(|e| YamlError {
        line: None,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml11_scalars_stay_strings() {
        let v = from_str_multi("a: yes\nb: on\nc: 0755\nd: 1_000\ne: true\nf: 12\n").unwrap();
        assert_eq!(
            v,
            vec![json!({"a": "yes", "b": "on", "c": "0755", "d": "1_000", "e": true, "f": 12})]
        );
    }

    #[test]
    fn empty_documents_are_skipped() {
        let v = from_str_multi("---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n").unwrap();
        assert_eq!(v, vec![json!({"a": 1}), json!({"b": 2})]);
    }

    #[test]
    fn ambiguous_strings_are_quoted_on_output() {
        let vals = vec![json!({
            "a": "yes", "b": "on", "c": "0755", "d": "1", "e": "null", "f": "~",
            "g": "1e3", "h": "true", "i": "", "j": "1.10", "k": "0x1F", "l": "NO"
        })];
        let text = to_string_multi(&vals).unwrap();
        assert_eq!(from_str_multi(&text).unwrap(), vals, "{text}");
        // Readers with YAML 1.1 rules (go-yaml v2 in kubectl) must also see strings.
        for word in ["yes", "on", "NO", "0755", "0x1F"] {
            assert!(
                text.contains(&format!("\"{word}\"")) || text.contains(&format!("'{word}'")),
                "{word} unquoted in {text}"
            );
        }
    }

    #[test]
    fn many_documents_are_read() {
        let input = "---\na: 1\n".repeat(5000);
        assert_eq!(from_str_multi(&input).unwrap().len(), 5000);
    }

    #[test]
    fn parallel_split_matches_sequential() {
        // Big enough to be split; documents with block scalars and `---`
        // inside quoted text must come out the same as a whole parse.
        let doc = "---\na: |\n  x\n  --- not a marker\nb: \"--- quoted\"\nc: [1, 2]\n";
        let input = doc.repeat(PARALLEL_MIN_BYTES / doc.len() + 10);
        let chunks = split_documents(&input, 4);
        assert_eq!(chunks.len(), 4);
        assert!(chunks.iter().all(|c| c.starts_with("---\n")));
        assert_eq!(chunks.concat(), input);
        assert_eq!(
            from_str_multi(&input).unwrap(),
            parse_sequential(&input).unwrap()
        );
    }

    #[test]
    fn parallel_error_has_true_line() {
        let doc = "---\na: 1\n";
        let n = PARALLEL_MIN_BYTES / doc.len() + 10;
        let input = format!("{}---\nb: [\n", doc.repeat(n));
        let e = from_str_multi(&input).unwrap_err();
        let lines = u64::try_from(n * 2).unwrap();
        assert!(e.line.is_some_and(|l| l > lines), "{e:?}");
    }

    #[test]
    fn syntax_error_has_line() {
        let e = from_str_multi("a: 1\nb: [\n").unwrap_err();
        assert!(e.line.is_some(), "{e:?}");
    }
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_rejected() {
        // The API server's strict decoding refuses duplicate fields; a silent
        // "last one wins" would hide typos in hand-written manifests.
        let e = from_str_multi("spec:\n  online: true\n  online: false\n").unwrap_err();
        assert!(e.message.contains("duplicate"), "{}", e.message);
        assert!(matches!(e.line, Some(2..=3)), "{:?}", e.line);
    }
}
