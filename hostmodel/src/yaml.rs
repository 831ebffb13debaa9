//! The one place that knows which YAML crate is used (serde-saphyr), so it
//! can be swapped without touching the manifest code.
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

/// Reader options: YAML 1.2 core schema so that `yes`, `on`, `0755`, `1_000`
/// stay strings (Kubernetes users quote them anyway; guessing is worse).
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        // Duplicate keys are an error on the API server too (strict decoding).
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    }
}

/// Parses every non-empty document of a YAML stream, in order.
pub fn from_str_multi(input: &str) -> Result<Vec<Value>, YamlError> {
    serde_saphyr::from_multiple_with_options::<Value>(input, options()).map_err(|e| YamlError {
        line: e.location().map(|l| l.line()),
        message: e.to_string(),
    })
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
    fn syntax_error_has_line() {
        let e = from_str_multi("a: 1\nb: [\n").unwrap_err();
        assert!(e.line.is_some(), "{e:?}");
    }
}
