//! `metal3ctl annotate`: set and remove annotations like kubectl.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use metal3_provisioning::store::{update_with_retry, ObjectKey, StoreError, Subresource};
use serde_json::{Map, Value};

use super::{fail, resolve_kind, StoreOpts, VerbResult};

/// Arguments of `metal3ctl annotate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl annotate bmh host-0 reboot.metal3.io=\n  \
    metal3ctl annotate bmh host-0 baremetalhost.metal3.io/paused=true --overwrite\n  \
    metal3ctl annotate bmh host-0 baremetalhost.metal3.io/paused-")]
pub struct AnnotateArgs {
    /// Kind: baremetalhost (bmh), secret, hardwaredata (hd), ...
    kind: String,
    /// Object name.
    name: String,
    /// `key=value` to set, `key-` to remove.
    #[arg(required = true, value_name = "KEY=VALUE|KEY-")]
    changes: Vec<String>,
    /// Allow replacing an existing value.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    opts: StoreOpts,
}

/// One requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Set(String, String),
    Remove(String),
}

fn parse_change(s: &str) -> Result<Change, String> {
    let (key, change) = if let Some((k, v)) = s.split_once('=') {
        (k, Change::Set(k.to_string(), v.to_string()))
    } else if let Some(k) = s.strip_suffix('-') {
        (k, Change::Remove(k.to_string()))
    } else {
        return Err(format!(
            "invalid annotation {s:?}: expected key=value or key-"
        ));
    };
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.len() <= 253
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c));
    if !name_ok || !prefix_ok || (key.contains('/') && prefix.is_empty()) {
        return Err(format!("invalid annotation key {key:?}: expected [prefix/]name with alphanumerics, '-', '_' and '.'"));
    }
    Ok(change)
}

/// Runs `annotate`.
pub fn run(args: AnnotateArgs) -> VerbResult {
    let info = resolve_kind(&args.kind)?;
    let changes = args
        .changes
        .iter()
        .map(|c| parse_change(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    let store = args.opts.open()?;
    let key = ObjectKey::new(info.kind, &args.opts.namespace, &args.name);
    let stored = update_with_retry(&store, &key, Subresource::Main, |obj| {
        apply_changes(&key, obj, &changes, args.overwrite)
    })?;
    let _ = stored;
    writeln!(
        std::io::stdout(),
        "{}/{} annotated",
        info.resource(),
        args.name
    )?;
    Ok(ExitCode::SUCCESS)
}

fn apply_changes(
    key: &ObjectKey,
    obj: &mut Value,
    changes: &[Change],
    overwrite: bool,
) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::Invalid {
        key: key.clone(),
        reason,
    };
    let meta = obj
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| invalid("metadata is not an object".into()))?;
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| invalid("metadata.annotations is not an object".into()))?;
    for change in changes {
        match change {
            Change::Set(k, v) => {
                let existing = annotations.get(k).and_then(Value::as_str);
                if existing.is_some_and(|old| old != v) && !overwrite {
                    return Err(invalid(format!(
                        "--overwrite is false but annotation {k:?} already has a value"
                    )));
                }
                annotations.insert(k.clone(), Value::String(v.clone()));
            }
            Change::Remove(k) => {
                annotations.remove(k);
            }
        }
    }
    if annotations.is_empty() {
        meta.remove("annotations");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_parse_like_kubectl() {
        assert_eq!(parse_change("a=b"), Ok(Change::Set("a".into(), "b".into())));
        assert_eq!(
            parse_change("reboot.metal3.io="),
            Ok(Change::Set("reboot.metal3.io".into(), "".into()))
        );
        assert_eq!(parse_change("x.io/y-"), Ok(Change::Remove("x.io/y".into())));
        assert!(parse_change("novalue").is_err());
        assert!(parse_change("bad key=1").is_err());
        assert!(parse_change("/x=1").is_err());
    }

    #[test]
    fn overwrite_is_refused_unless_asked() {
        let key = ObjectKey::new("BareMetalHost", "", "h");
        let mut obj = json!({"metadata": {"annotations": {"a": "1"}}});
        let set = [Change::Set("a".into(), "2".into())];
        let err = apply_changes(&key, &mut obj, &set, false).unwrap_err();
        assert!(err.to_string().contains("--overwrite"), "{err}");
        apply_changes(&key, &mut obj, &set, true).unwrap();
        assert_eq!(obj["metadata"]["annotations"]["a"], "2");
        apply_changes(&key, &mut obj, &[Change::Remove("a".into())], false).unwrap();
        assert!(obj["metadata"].get("annotations").is_none());
        // Same value again is not an overwrite.
        let mut obj = json!({"metadata": {"annotations": {"a": "1"}}});
        apply_changes(
            &key,
            &mut obj,
            &[Change::Set("a".into(), "1".into())],
            false,
        )
        .unwrap();
    }
}
