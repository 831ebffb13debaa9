//! `metal3ctl apply -f`: create or update objects from manifests.
//!
//! Semantics (documented in docs/metal3ctl.md):
//! * every input is read, parsed and checked against the admission rules
//!   (`metal3_hostmodel::validation`: create rules, checks across the input's
//!   objects, and update rules against the stored host) before anything is
//!   written; one bad document means nothing is written;
//! * a new object is created with its `status` if the input has one (so
//!   exported hosts import as they were); server-set metadata (`uid`,
//!   `resourceVersion`, `generation`, timestamps) of the input is dropped;
//! * an existing object gets the input's top-level fields (`spec`, `data`,
//!   ...) as declared, its labels and annotations merged in (keys absent from
//!   the input are kept, as kubectl does without a last-applied record) and
//!   its finalizers added; `status` of the input is ignored because it belongs
//!   to the controller, and the input's `resourceVersion` is ignored because
//!   the update re-reads and retries on conflict.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use metal3_hostmodel::manifest::{
    parse_each_with, parse_value, to_values, ManifestError, ParseOptions, Parsed,
};
use metal3_hostmodel::validation::{validate_objects, validate_update, ValidationError};
use metal3_hostmodel::BareMetalHost;
use metal3_provisioning::store::{
    decode, update_with_retry, ObjectKey, Store, StoreError, Subresource,
};
use serde_json::{Map, Value};

use super::{fail, kind_info_of, StoreOpts, VerbResult};
use crate::kinds;

/// Arguments of `metal3ctl apply`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl apply -f examples/example-host.yaml\n  \
    metal3ctl apply -f manifests/ -n lab\n  \
    metal3ctl get bmh host-0 -o yaml | metal3ctl apply -f -")]
pub struct ApplyArgs {
    /// Manifest file, directory (its .yaml, .yml and .json files) or `-` for stdin; repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        required = true,
        value_name = "FILE|DIR|-"
    )]
    files: Vec<PathBuf>,
    /// Drop unknown fields instead of rejecting the input.
    #[arg(long)]
    lenient: bool,
    #[command(flatten)]
    opts: StoreOpts,
}

/// Metadata the store sets; taken from the stored object, never the input.
const SERVER_META: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Runs `apply`.
pub fn run(args: ApplyArgs) -> VerbResult {
    apply(&args).map(|(code, _)| code)
}

impl ApplyArgs {
    /// The store options of the apply.
    pub fn store_opts(&self) -> &StoreOpts {
        &self.opts
    }
}

/// Applies the inputs of `args`; returns the exit code and the keys written
/// (none if the input was refused).
pub fn apply(args: &ApplyArgs) -> Result<(ExitCode, Vec<ObjectKey>), Box<dyn std::error::Error>> {
    let options = ParseOptions {
        strict: !args.lenient,
    };
    let mut objects: Vec<Value> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for (source, text) in read_inputs(&args.files)? {
        let results = match parse_each_with(&text, options, &kinds::is_ext) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("{source}: {}", safe_message(&e)));
                continue;
            }
        };
        for r in results {
            let r = match r {
                Parsed::Object(r) => r,
                Parsed::Foreign(doc, at) => {
                    match kinds::parse_ext(&doc, &at, options) {
                        Ok(v) => objects.push(v),
                        Err(errs) => errors.extend(
                            errs.iter()
                                .map(|e| format!("{source}: {}", safe_message(e))),
                        ),
                    }
                    continue;
                }
            };
            match r {
                Ok(obj) => match to_values(std::slice::from_ref(&obj)) {
                    Ok(mut v) => objects.append(&mut v),
                    Err(e) => errors.push(format!("{source}: {}: {e}", obj.key())),
                },
                Err(errs) => errors.extend(
                    errs.iter()
                        .map(|e| format!("{source}: {}", safe_message(e))),
                ),
            }
        }
    }
    let mut keys: Vec<ObjectKey> = Vec::with_capacity(objects.len());
    let mut seen: HashSet<ObjectKey> = HashSet::with_capacity(objects.len());
    for obj in &mut objects {
        let key = prepare(obj, &args.opts.namespace);
        if key.name.is_empty() {
            errors.push(format!("{key}: metadata.name: Required value"));
        } else if !seen.insert(key.clone()) {
            errors.push(format!("{key}: appears more than once in the input"));
        }
        keys.push(key);
    }
    if !errors.is_empty() {
        return Ok((refuse(&errors), Vec::new()));
    }
    if objects.is_empty() {
        return Err(fail("no objects passed to apply"));
    }
    let store = args.opts.open()?;
    let errors = validate(&store, &keys, &objects)?;
    if !errors.is_empty() {
        return Ok((refuse(&errors), Vec::new()));
    }
    let mut out = std::io::stdout().lock();
    let mut controlled = Vec::new();
    for (key, obj) in keys.iter().zip(objects) {
        let info = kind_info_of(&obj)?;
        let outcome = write(&store, key, obj)
            .map_err(|e| fail(format!("{e} (objects listed above were applied)")))?;
        writeln!(out, "{}/{} {outcome}", info.resource(), key.name)?;
        if let Some(after) = info.ext.and_then(|e| e.after_apply) {
            controlled.push((key, after));
        }
    }
    // Controllers run once everything is written, so a pool and its claims
    // applied together allocate in one go (claims get their address now).
    let mut code = ExitCode::SUCCESS;
    for (key, after) in controlled {
        let (lines, reached) = after(&store, key)
            .map_err(|e| fail(format!("{key}: {e} (the objects were applied)")))?;
        for l in lines {
            if reached {
                writeln!(out, "{l}")?;
            } else {
                eprintln!("error: {l}");
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok((code, keys))
}

/// Prints every problem and says that nothing was written.
fn refuse(errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    eprintln!("error: nothing was applied ({} problem(s))", errors.len());
    ExitCode::FAILURE
}

/// The admission rules, as the API server would run them: create rules (and
/// the checks across objects of the input, e.g. a host's BMC Secret) for
/// every object, and for a BareMetalHost already stored the update rules
/// between the stored host and what this apply would make of it.
fn validate(
    store: &dyn Store,
    keys: &[ObjectKey],
    objects: &[Value],
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    // Parse again after `prepare` so that messages name the namespace the
    // object will get; the input was already parsed strictly.
    let lenient = ParseOptions { strict: false };
    let mut typed = Vec::with_capacity(objects.len());
    let mut ext_problems = Vec::new();
    for (key, v) in keys.iter().zip(objects) {
        let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if let Some((_, ext)) = kinds::ext_for(api_version, &key.kind) {
            // Its create rules ran while parsing; here the update rules.
            match store.get(key) {
                Ok(stored) => {
                    ext_problems.extend((ext.validate_update)(&stored, &merge(&stored, v)))
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            continue;
        }
        match parse_value(v.clone(), lenient) {
            Ok(o) => typed.push(o),
            Err(errs) => {
                let msgs: Vec<String> = errs.iter().map(safe_message).collect();
                return Err(fail(format!("{key}: {}", msgs.join("; "))));
            }
        }
    }
    let mut problems: Vec<ValidationError> = validate_objects(&typed);
    for (key, input) in keys.iter().zip(objects) {
        if kinds::is_ext(
            input
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or(""),
            &key.kind,
        ) {
            continue;
        }
        if key.kind != "BareMetalHost" {
            continue;
        }
        let stored = match store.get(key) {
            Ok(v) => v,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        let old: BareMetalHost = decode(key, stored.clone())?;
        let new: BareMetalHost = decode(key, merge(&stored, input))?;
        for p in validate_update(&old, &new) {
            // The create rules already ran on the input; report each once.
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
    }
    let mut lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.extend(ext_problems);
    Ok(lines)
}

/// The error without input values that may be Secret data: syntax errors
/// lose the quoted input lines the parser adds, and type errors in a Secret
/// keep only the field path (serde quotes the offending value).
fn safe_message(e: &ManifestError) -> String {
    match e {
        ManifestError::Syntax { line, message } => {
            let first = message.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            match line {
                Some(l) => format!("syntax error at line {l}: {first}"),
                None => format!("syntax error: {first}"),
            }
        }
        ManifestError::Invalid { at, path, .. }
            if at
                .object
                .as_deref()
                .is_some_and(|o| o.starts_with("Secret/")) =>
        {
            format!("{at}: {path}: invalid value (details withheld: Secret data is never shown)")
        }
        other => other.to_string(),
    }
}

/// Reads every input (file, directory of manifests, or `-` for stdin) as
/// `(name for messages, text)`.
pub(crate) fn read_inputs(
    files: &[PathBuf],
) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for f in files {
        if f.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| fail(format!("stdin: {e}")))?;
            out.push(("stdin".to_string(), text));
        } else if f.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(f)
                .map_err(|e| fail(format!("{}: {e}", f.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .and_then(|x| x.to_str())
                            .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
                })
                .collect();
            entries.sort();
            for p in entries {
                out.push((p.display().to_string(), read_file(&p)?));
            }
        } else {
            out.push((f.display().to_string(), read_file(f)?));
        }
    }
    Ok(out)
}

fn read_file(p: &Path) -> Result<String, Box<dyn std::error::Error>> {
    std::fs::read_to_string(p).map_err(|e| fail(format!("{}: {e}", p.display())))
}

/// Gives the object the default namespace, drops server-set metadata and
/// returns its key.
fn prepare(obj: &mut Value, namespace: &str) -> ObjectKey {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let missing = meta
            .get("namespace")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing {
            meta.insert("namespace".into(), namespace.into());
        }
        for f in SERVER_META {
            meta.remove(*f);
        }
    }
    ObjectKey::of(obj)
}

/// Creates or updates one object; returns `created`, `configured` or `unchanged`.
fn write(store: &dyn Store, key: &ObjectKey, obj: Value) -> Result<&'static str, StoreError> {
    // Two processes may apply the same new object at once: the loser of the
    // create race updates instead.
    if store.get(key).is_err_and(|e| e.is_not_found()) {
        match store.create(obj.clone()) {
            Ok(_) => return Ok("created"),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let mut before = String::new();
    let stored = update_with_retry(store, key, Subresource::Main, |current| {
        before = resource_version(current);
        *current = merge(current, &obj);
        Ok(())
    })?;
    Ok(if resource_version(&stored) == before {
        "unchanged"
    } else {
        "configured"
    })
}

fn resource_version(obj: &Value) -> String {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The stored object with the input applied over it (see the module docs).
fn merge(current: &Value, input: &Value) -> Value {
    let mut next = current.clone();
    let (Some(next_map), Some(input_map)) = (next.as_object_mut(), input.as_object()) else {
        return next;
    };
    next_map.retain(|k, _| matches!(k.as_str(), "metadata" | "status" | "kind"));
    for (k, v) in input_map {
        if !matches!(k.as_str(), "metadata" | "status" | "kind") {
            next_map.insert(k.clone(), v.clone());
        }
    }
    let empty = Map::new();
    let input_meta = input
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(meta) = next_map.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["labels", "annotations"] {
            if let Some(Value::Object(add)) = input_meta.get(field) {
                let entry = meta
                    .entry(field)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(target) = entry.as_object_mut() {
                    for (k, v) in add {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        if let Some(Value::Array(add)) = input_meta.get("finalizers") {
            let entry = meta
                .entry("finalizers")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(target) = entry.as_array_mut() {
                for f in add {
                    if !target.contains(f) {
                        target.push(f.clone());
                    }
                }
            }
        }
        if let Some(owners) = input_meta.get("ownerReferences") {
            meta.insert("ownerReferences".into(), owners.clone());
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_replaces_spec_merges_metadata_and_keeps_status() {
        let current = json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": "h", "resourceVersion": "7", "labels": {"a": "1", "b": "2"},
                         "annotations": {"keep": "x"}, "finalizers": ["f1"]},
            "spec": {"online": true, "image": {"url": "u"}},
            "status": {"poweredOn": true}
        });
        let input = json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": "h", "labels": {"b": "3"}, "finalizers": ["f2"]},
            "spec": {"online": false},
            "status": {"poweredOn": false}
        });
        let next = merge(&current, &input);
        assert_eq!(next["spec"], json!({"online": false}));
        assert_eq!(next["status"], json!({"poweredOn": true}));
        assert_eq!(next["metadata"]["labels"], json!({"a": "1", "b": "3"}));
        assert_eq!(next["metadata"]["annotations"], json!({"keep": "x"}));
        assert_eq!(next["metadata"]["finalizers"], json!(["f1", "f2"]));
        assert_eq!(next["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn prepare_defaults_namespace_and_drops_server_fields() {
        let mut obj = json!({"kind": "Secret", "metadata": {"name": "s", "uid": "u", "resourceVersion": "3"}});
        let key = prepare(&mut obj, "lab");
        assert_eq!(key.to_string(), "Secret/lab/s");
        assert_eq!(obj["metadata"], json!({"name": "s", "namespace": "lab"}));
        let mut obj = json!({"kind": "Secret", "metadata": {"name": "s", "namespace": "other"}});
        assert_eq!(prepare(&mut obj, "lab").namespace, "other");
    }
}
