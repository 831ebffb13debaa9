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
//! Documents are read as `serde_json::Value`s because that is the data model
//! the API server works on (kubectl turns YAML into JSON before sending it):
//! what a Value can't express, the cluster would not store either. Typed
//! objects are read straight from the YAML events ([`read_typed`]) with the
//! result a Value would give, see `json_like`.

use serde::de::DeserializeSeed;
use serde_json::Value;

use crate::json_like::{self, StrictValue};

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
    let Some(mut parts) = on_all_cores(input, parse_sequential) else {
        return parse_sequential(input);
    };
    if parts.len() == 1 {
        if let Some(whole) = parts.pop() {
            return whole;
        }
    }
    if parts.iter().all(Result::is_ok) {
        return Ok(parts.into_iter().flatten().flatten().collect());
    }
    parse_sequential(input)
}

/// Reads every non-empty document with `seed` applied to a
/// [`json_like::Strict`] deserializer, so the result is what
/// [`from_str_multi`] and a typed conversion of each value would give.
/// `None` when any document cannot be read that way (including every error):
/// the caller then takes the reference way, which says what is wrong.
pub(crate) fn read_typed<S, T>(input: &str, cfg: json_like::Config, seed: S) -> Option<Vec<T>>
where
    S: for<'de> DeserializeSeed<'de, Value = Option<T>> + Copy + Sync,
    T: Send,
{
    let read = |chunk: &str| -> Option<Vec<T>> {
        let mut out = Vec::new();
        for de in yaml_serde::Deserializer::from_str(chunk) {
            if let Some(v) = seed.deserialize(json_like::Strict::new(de, cfg)).ok()? {
                out.push(v);
            }
        }
        Some(out)
    };
    let mut out = Vec::new();
    for part in on_all_cores(input, read)? {
        out.extend(part?);
    }
    Some(out)
}

/// Runs `f` on pieces of whole documents, one per core for large streams
/// (else on the whole input), and returns the results in input order;
/// `None` if a thread panicked.
fn on_all_cores<R: Send>(input: &str, f: impl Fn(&str) -> R + Sync) -> Option<Vec<R>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunks = split_documents(input, threads);
    if chunks.len() < 2 {
        return Some(vec![f(input)]);
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks.iter().map(|c| s.spawn(move || f(c))).collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    })
}

fn parse_sequential(input: &str) -> Result<Vec<Value>, YamlError> {
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
