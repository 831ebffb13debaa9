//! Reading and writing manifests: YAML or JSON, one or many documents,
//! kubectl `List`s, dispatched by `(apiVersion, kind)` into [`Object`]s.
//!
//! Parsing is strict by default, like `kubectl apply --validate=strict`: a
//! field the type does not know is an error naming its path. With
//! `ParseOptions { strict: false }` such fields are dropped, as the API
//! server prunes them.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::object::{Object, KINDS};
use crate::yaml;

/// How strictly to read documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Unknown fields are errors (true) or silently dropped (false).
    pub strict: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { strict: true }
    }
}

/// Where in the input a problem is: document, list item and object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// 0-based index of the YAML/JSON document in the stream.
    pub document: usize,
    /// 0-based index in a `List`'s `items`, when the object came from one.
    pub item: Option<usize>,
    /// `<kind>/<namespace>/<name>` when the document says that much.
    pub object: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.document)?;
        if let Some(i) = self.item {
            write!(f, " item {i}")?;
        }
        if let Some(o) = &self.object {
            write!(f, " ({o})")?;
        }
        Ok(())
    }
}

/// Why a manifest could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The text is not YAML/JSON.
    #[error("syntax error{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Syntax {
        /// 1-based line, when known.
        line: Option<u64>,
        /// Parser message.
        message: String,
    },
    /// A document is not a mapping.
    #[error("{at}: document is not an object")]
    NotAnObject {
        /// Where.
        at: Location,
    },
    /// `apiVersion` or `kind` is missing.
    #[error("{at}: {field}: Required value")]
    MissingTypeMeta {
        /// Where.
        at: Location,
        /// `apiVersion` or `kind`.
        field: &'static str,
    },
    /// The `(apiVersion, kind)` pair is not supported.
    #[error("{at}: unsupported kind {api_version}/{kind}; supported kinds: {supported}")]
    UnknownKind {
        /// Where.
        at: Location,
        /// The document's apiVersion.
        api_version: String,
        /// The document's kind.
        kind: String,
        /// Comma-separated `apiVersion/kind` list.
        supported: String,
    },
    /// A field the kind does not have (strict mode only).
    #[error("{at}: {path}: unknown field")]
    UnknownField {
        /// Where.
        at: Location,
        /// Field path, e.g. `spec.bmc.adress`.
        path: String,
    },
    /// A field has the wrong type or value, or a required one is missing.
    #[error("{at}: {path}: {message}")]
    Invalid {
        /// Where.
        at: Location,
        /// Field path, e.g. `spec.online`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Output could not be written.
    #[error("cannot serialize: {0}")]
    Serialize(String),
}

impl ManifestError {
    /// The location, for errors tied to a document.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ManifestError::NotAnObject { at }
            | ManifestError::MissingTypeMeta { at, .. }
            | ManifestError::UnknownKind { at, .. }
            | ManifestError::UnknownField { at, .. }
            | ManifestError::Invalid { at, .. } => Some(at),
            ManifestError::Syntax { .. } | ManifestError::Serialize(_) => None,
        }
    }

    /// The field path, for field-level errors.
    pub fn path(&self) -> Option<&str> {
        match self {
            ManifestError::UnknownField { path, .. } | ManifestError::Invalid { path, .. } => {
                Some(path)
            }
            ManifestError::MissingTypeMeta { field, .. } => Some(field),
            ManifestError::UnknownKind { .. } => Some("kind"),
            _ => None,
        }
    }

    /// The message without location and path.
    pub fn message(&self) -> String {
        match self {
            ManifestError::Syntax { .. } | ManifestError::Serialize(_) => self.to_string(),
            ManifestError::NotAnObject { .. } => "document is not an object".into(),
            ManifestError::MissingTypeMeta { .. } => "Required value".into(),
            ManifestError::UnknownKind {
                api_version,
                kind,
                supported,
                ..
            } => format!("unsupported kind {api_version}/{kind}; supported kinds: {supported}"),
            ManifestError::UnknownField { .. } => "unknown field".into(),
            ManifestError::Invalid { message, .. } => message.clone(),
        }
    }
}

/// The outcome of one object of the input: the object, or all its problems.
pub type ObjectResult = Result<Object, Vec<ManifestError>>;

/// Parses a stream and returns every object, failing on the first problem.
pub fn parse_str(input: &str, options: ParseOptions) -> Result<Vec<Object>, ManifestError> {
    let mut out = Vec::new();
    for r in parse_each(input, options)? {
        match r {
            Ok(o) => out.push(o),
            Err(mut errs) => {
                if errs.is_empty() {
                    continue;
                }
                return Err(errs.swap_remove(0));
            }
        }
    }
    Ok(out)
}

/// Parses a stream into one result per object, in input order, so that a
/// caller can report every problem at once. Only a syntax error fails whole.
pub fn parse_each(input: &str, options: ParseOptions) -> Result<Vec<ObjectResult>, ManifestError> {
    Ok(convert_all(flatten(input)?, options))
}

/// One document as [`parse_each_with`] returns it.
#[derive(Debug)]
pub enum Parsed {
    /// A kind this crate models: the typed object, or its problems.
    Object(ObjectResult),
    /// A kind the caller takes care of, untouched, with where it was.
    Foreign(Value, Location),
}

/// [`parse_each`] for streams that mix this crate's kinds with kinds other
/// crates model (IPAM, CAPI): documents whose `(apiVersion, kind)` `foreign`
/// accepts are handed back as they are, in input order, for the caller to
/// parse (e.g. with [`parse_typed`]).
pub fn parse_each_with(
    input: &str,
    options: ParseOptions,
    foreign: &dyn Fn(&str, &str) -> bool,
) -> Result<Vec<Parsed>, ManifestError> {
    let is_foreign = |v: &Value| {
        let s = |f: &str| v.get(f).and_then(Value::as_str);
        matches!((s("apiVersion"), s("kind")), (Some(a), Some(k)) if foreign(a, k))
    };
    let mut out: Vec<Option<Parsed>> = Vec::new();
    let mut ours = Vec::new();
    for item in flatten(input)? {
        match item {
            Ok((v, mut at)) if is_foreign(&v) => {
                at.object = key_of(&v);
                out.push(Some(Parsed::Foreign(v, at)));
            }
            other => {
                out.push(None);
                ours.push(other);
            }
        }
    }
    let mut converted = convert_all(ours, options).into_iter();
    Ok(out
        .into_iter()
        .filter_map(|slot| slot.or_else(|| converted.next().map(Parsed::Object)))
        .collect())
}

/// A document to convert with its location, or its already known outcome.
type Item = Result<(Value, Location), ObjectResult>;

/// The documents of a stream with `List`s and arrays flattened, each with
/// its location (or the problem that makes it unusable).
fn flatten(input: &str) -> Result<Vec<Item>, ManifestError> {
    let docs = read_documents(input)?;
    // Flatten first (cheap), then convert: the conversion into typed objects
    // is most of the work after YAML parsing and is independent per object.
    let mut items: Vec<Result<(Value, Location), ObjectResult>> = Vec::with_capacity(docs.len());
    for (index, doc) in docs.into_iter().enumerate() {
        let at = Location {
            document: index,
            ..Location::default()
        };
        // A bare array (what `to_json` and `metal3ctl validate -o json`
        // write) reads like a List.
        if let Value::Array(list) = doc {
            for (i, item) in list.into_iter().enumerate() {
                let at = Location {
                    item: Some(i),
                    ..at.clone()
                };
                items.push(Ok((item, at)));
            }
        } else if is_list(&doc) {
            match doc {
                Value::Object(mut map) => {
                    let list = match map.remove("items") {
                        Some(Value::Array(list)) => list,
                        Some(Value::Null) | None => Vec::new(),
                        Some(_) => {
                            items.push(Err(Err(vec![ManifestError::Invalid {
                                at: Location {
                                    object: key_of(&Value::Object(map)),
                                    ..at
                                },
                                path: "items".into(),
                                message: "must be a list".into(),
                            }])));
                            continue;
                        }
                    };
                    for (i, item) in list.into_iter().enumerate() {
                        let at = Location {
                            item: Some(i),
                            ..at.clone()
                        };
                        items.push(Ok((item, at)));
                    }
                }
                _ => items.push(Err(Err(vec![ManifestError::NotAnObject { at }]))),
            }
        } else {
            items.push(Ok((doc, at)));
        }
    }
    Ok(items)
}

/// Below this many objects one thread is faster than starting others.
const PARALLEL_MIN_OBJECTS: usize = 256;

/// Converts every item into its typed object, on all cores for large inputs,
/// keeping input order.
fn convert_all(
    items: Vec<Result<(Value, Location), ObjectResult>>,
    options: ParseOptions,
) -> Vec<ObjectResult> {
    let convert = |item: Result<(Value, Location), ObjectResult>| match item {
        Ok((value, at)) => parse_value_at(value, at, options),
        Err(done) => done,
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || items.len() < PARALLEL_MIN_OBJECTS {
        return items.into_iter().map(convert).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<Result<(Value, Location), ObjectResult>>> = Vec::new();
    let mut rest = items.into_iter();
    loop {
        let chunk: Vec<_> = rest.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| s.spawn(move || chunk.into_iter().map(convert).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::new();
        for h in handles {
            match h.join() {
                Ok(part) => out.extend(part),
                // Conversion is panic-free by construction (serde on owned
                // values); should a dependency panic anyway, report it
                // instead of taking the caller down.
                Err(_) => out.push(Err(vec![ManifestError::Invalid {
                    at: Location::default(),
                    path: String::new(),
                    message: "internal error: object conversion thread panicked".into(),
                }])),
            }
        }
        out
    })
}

/// Reads a YAML or JSON stream into its non-empty documents.
pub fn read_documents(input: &str) -> Result<Vec<Value>, ManifestError> {
    let trimmed = input.trim_start_matches('\u{feff}').trim_start();
    // JSON is YAML too, but serde_json is much faster and gives better
    // messages; a JSON stream (`{..}{..}`, as `kubectl get -o json` loops
    // produce) is read the same way.
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let mut docs = Vec::new();
        let mut json_error = None;
        for v in serde_json::Deserializer::from_str(trimmed).into_iter::<Value>() {
            match v {
                Ok(Value::Null) => {}
                Ok(v) => docs.push(v),
                Err(e) => {
                    json_error = Some(ManifestError::Syntax {
                        line: u64::try_from(e.line()).ok(),
                        message: e.to_string(),
                    });
                    break;
                }
            }
        }
        match json_error {
            None => return Ok(docs),
            // YAML flow style (`{kind: Secret, ...}`) starts the same way;
            // the JSON message is kept when it is not YAML either.
            Some(e) => return yaml::from_str_multi(input).map_err(|_| e),
        }
    }
    yaml::from_str_multi(input).map_err(|e| ManifestError::Syntax {
        line: e.line,
        message: e.message,
    })
}

/// A kubectl `List` or a typed list such as `BareMetalHostList`.
fn is_list(doc: &Value) -> bool {
    doc.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || (k.ends_with("List") && doc.get("items").is_some()))
}

/// `<kind>/<namespace>/<name>` from an untyped document, when it has a kind.
fn key_of(doc: &Value) -> Option<String> {
    let kind = doc.get("kind")?.as_str()?;
    let meta = doc.get("metadata");
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let ns = field("namespace");
    let ns = if ns.is_empty() { "default".into() } else { ns };
    Some(format!("{kind}/{ns}/{}", field("name")))
}

/// Comma-separated list of supported kinds for messages.
pub fn supported_kinds() -> String {
    KINDS
        .iter()
        .map(|(v, k)| format!("{v}/{k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Turns one untyped document into an [`Object`] (document index 0 in errors).
pub fn parse_value(doc: Value, options: ParseOptions) -> ObjectResult {
    parse_value_at(doc, Location::default(), options)
}

fn parse_value_at(doc: Value, mut at: Location, options: ParseOptions) -> ObjectResult {
    if !doc.is_object() {
        return Err(vec![ManifestError::NotAnObject { at }]);
    }
    at.object = key_of(&doc);
    let api_version = doc.get("apiVersion").and_then(Value::as_str);
    let kind = doc.get("kind").and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        let field = if api_version.is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        return Err(vec![ManifestError::MissingTypeMeta { at, field }]);
    };
    let known = KINDS.iter().any(|(v, k)| *v == api_version && *k == kind);
    if !known {
        return Err(vec![ManifestError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            at,
            supported: supported_kinds(),
        }]);
    }
    // The pair is in KINDS, so the kind name alone selects the type.
    match kind {
        "BareMetalHost" => typed(&doc, &at, options).map(Object::BareMetalHost),
        "Secret" => typed(&doc, &at, options).map(Object::Secret),
        "HardwareData" => typed(&doc, &at, options).map(Object::HardwareData),
        "HostFirmwareSettings" => typed(&doc, &at, options).map(Object::HostFirmwareSettings),
        "FirmwareSchema" => typed(&doc, &at, options).map(Object::FirmwareSchema),
        "HostFirmwareComponents" => typed(&doc, &at, options).map(Object::HostFirmwareComponents),
        "PreprovisioningImage" => typed(&doc, &at, options).map(Object::PreprovisioningImage),
        "DataImage" => typed(&doc, &at, options).map(Object::DataImage),
        "BMCEventSubscription" => typed(&doc, &at, options).map(Object::BMCEventSubscription),
        "HostUpdatePolicy" => typed(&doc, &at, options).map(Object::HostUpdatePolicy),
        "HostNetworkAttachment" => typed(&doc, &at, options).map(Object::HostNetworkAttachment),
        _ => Err(vec![ManifestError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            at,
            supported: supported_kinds(),
        }]),
    }
}

/// Deserializes a document into any serde type with this module's rules:
/// unknown fields are errors in strict mode, problems carry field paths. For
/// kinds modelled outside this crate (see [`parse_each_with`]).
pub fn parse_typed<T: DeserializeOwned>(
    doc: &Value,
    at: &Location,
    options: ParseOptions,
) -> Result<T, Vec<ManifestError>> {
    typed(doc, at, options).map(|b| *b)
}

/// Deserializes one typed object, collecting unknown fields on the way
/// (one pass: `serde_ignored` sees what the derive skips).
fn typed<T: DeserializeOwned>(
    doc: &Value,
    at: &Location,
    options: ParseOptions,
) -> Result<Box<T>, Vec<ManifestError>> {
    let mut unknown: Vec<String> = Vec::new();
    let mut record = |p: serde_ignored::Path<'_>| unknown.push(format_ignored(&p));
    let de = serde_ignored::Deserializer::new(doc, &mut record);
    let result: Result<T, _> = serde_path_to_error::deserialize(de);
    let mut errors = Vec::new();
    let value = match result {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let (path, message) = split_missing_field(path, inner);
            let message = upstream_enum_message(&path, doc, message);
            errors.push(ManifestError::Invalid {
                at: at.clone(),
                path,
                message,
            });
            None
        }
    };
    if options.strict {
        for path in unknown {
            errors.push(ManifestError::UnknownField {
                at: at.clone(),
                path,
            });
        }
    }
    match value {
        Some(v) if errors.is_empty() => Ok(Box::new(v)),
        _ => Err(errors),
    }
}

/// serde reports a missing field at its parent (`spec`, "missing field
/// `online`"); users want the field's own path (`spec.online`).
fn split_missing_field(path: String, message: String) -> (String, String) {
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some(field) = rest.strip_suffix('`') {
            let full = if path == "." {
                field.to_string()
            } else {
                format!("{path}.{field}")
            };
            return (full, "Required value".into());
        }
    }
    (if path == "." { String::new() } else { path }, message)
}

/// BMO's own wording for a bad `inspectionMode` (its webhook, not the CRD
/// enum, produces the message users know) and a plain one for int-or-string
/// values; other fields keep serde's.
fn upstream_enum_message(path: &str, doc: &Value, message: String) -> String {
    // serde's text for an untagged enum names a Rust type, not the problem.
    if message == "data did not match any variant of untagged enum IntOrString" {
        return "must be an integer or a string".into();
    }
    if path == "spec.inspectionMode" && message.starts_with("unknown variant") {
        if let Some(v) = doc.pointer("/spec/inspectionMode").and_then(Value::as_str) {
            return format!(
                "invalid inspectionMode value: {v}, allowed values are 'disabled', 'agent', or 'fast'"
            );
        }
    }
    message
}

/// `spec.networkInterfaces[0].foo` from serde_ignored's path (whose own
/// Display writes `?` for every `Option`).
fn format_ignored(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", format_ignored(parent)),
        Path::Map { parent, key } => {
            let parent = format_ignored(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => format_ignored(parent),
    }
}

/// The objects as JSON values, exactly as stored (no defaults added).
pub fn to_values(objects: &[Object]) -> Result<Vec<Value>, ManifestError> {
    objects
        .iter()
        .map(|o| serde_json::to_value(o).map_err(|e| ManifestError::Serialize(e.to_string())))
        .collect()
}

/// Multi-document YAML, one document per object.
pub fn to_yaml(objects: &[Object]) -> Result<String, ManifestError> {
    yaml::to_string_multi(&to_values(objects)?).map_err(|e| ManifestError::Serialize(e.message))
}

/// A pretty-printed JSON array of the objects.
pub fn to_json(objects: &[Object]) -> Result<String, ManifestError> {
    serde_json::to_string_pretty(&to_values(objects)?)
        .map_err(|e| ManifestError::Serialize(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "apiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\nmetadata:\n  name: h0\n  namespace: ns\nspec:\n  online: true\n";

    #[test]
    fn foreign_kinds_come_back_untouched_in_input_order() {
        let pool = "apiVersion: ipam.metal3.io/v1alpha1\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  anything: 1\n";
        let input = format!("{HOST}---\n{pool}---\n{HOST}");
        let foreign = |api: &str, kind: &str| api == "ipam.metal3.io/v1alpha1" && kind == "IPPool";
        let parsed = parse_each_with(&input, ParseOptions::default(), &foreign).unwrap();
        assert_eq!(parsed.len(), 3);
        assert!(matches!(&parsed[0], Parsed::Object(Ok(o)) if o.key() == "BareMetalHost/ns/h0"));
        match &parsed[1] {
            Parsed::Foreign(v, at) => {
                assert_eq!(v["spec"]["anything"], 1);
                assert_eq!(at.document, 1);
                assert_eq!(at.object.as_deref(), Some("IPPool/default/p"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&parsed[2], Parsed::Object(Ok(_))));
        // Without the hook the same kind is unsupported, as before.
        let plain = parse_each(&input, ParseOptions::default()).unwrap();
        assert!(matches!(&plain[1], Err(e) if matches!(e[0], ManifestError::UnknownKind { .. })));
    }

    #[derive(Debug, serde::Deserialize)]
    struct Small {
        #[allow(dead_code)]
        name: String,
    }

    #[test]
    fn parse_typed_reports_unknown_fields_with_paths() {
        let doc = serde_json::json!({"name": "x", "nmae": "y"});
        let errs =
            parse_typed::<Small>(&doc, &Location::default(), ParseOptions::default()).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path(), Some("nmae"));
        assert!(
            parse_typed::<Small>(&doc, &Location::default(), ParseOptions { strict: false })
                .is_ok()
        );
    }

    #[test]
    fn multi_document_in_order_and_empty_skipped() {
        let input =
            format!("---\n{HOST}---\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n");
        let objs = parse_str(&input, ParseOptions::default()).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].key(), "BareMetalHost/ns/h0");
        assert_eq!(objs[1].key(), "Secret/default/s");
    }

    #[test]
    fn lists_are_flattened() {
        let input = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}},
            {"apiVersion":"metal3.io/v1alpha1","kind":"BareMetalHost","metadata":{"name":"b"},"spec":{"online":false}}]}"#;
        let objs = parse_str(input, ParseOptions::default()).unwrap();
        assert_eq!(
            objs.iter().map(Object::key).collect::<Vec<_>>(),
            ["Secret/default/a", "BareMetalHost/default/b"]
        );
        let typed = "apiVersion: metal3.io/v1alpha1\nkind: BareMetalHostList\nitems:\n- apiVersion: metal3.io/v1alpha1\n  kind: BareMetalHost\n  metadata: {name: x}\n  spec: {online: true, foo: 1}\n";
        let e = parse_str(typed, ParseOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "document 0 item 0 (BareMetalHost/default/x): spec.foo: unknown field"
        );
    }

    #[test]
    fn unknown_field_names_its_path() {
        let input = HOST.replace(
            "  online: true\n",
            "  online: true\n  bmc:\n    adress: x\n",
        );
        let e = parse_str(&input, ParseOptions::default()).unwrap_err();
        assert_eq!(e.path(), Some("spec.bmc.adress"));
        assert_eq!(
            e.to_string(),
            "document 0 (BareMetalHost/ns/h0): spec.bmc.adress: unknown field"
        );
        let lenient = parse_str(&input, ParseOptions { strict: false }).unwrap();
        assert_eq!(lenient.len(), 1);
    }

    #[test]
    fn unknown_fields_in_lists_have_indices() {
        let input = HOST.replace(
            "  online: true\n",
            "  online: true\n  networkInterfaces:\n  - name: a\n  - name: b\n    mtu: 9000\n",
        );
        let errs = parse_each(&input, ParseOptions::default()).unwrap();
        let errs = errs.into_iter().next().unwrap().unwrap_err();
        assert_eq!(errs[0].path(), Some("spec.networkInterfaces[1].mtu"));
    }

    #[test]
    fn type_errors_and_missing_fields_have_paths() {
        let input = HOST.replace("online: true", "online: \"yes\"");
        let e = parse_str(&input, ParseOptions::default()).unwrap_err();
        assert_eq!(e.path(), Some("spec.online"));
        assert!(e.message().contains("expected a boolean"), "{e}");

        let input = HOST.replace("  online: true\n", "  bootMode: BIOS\n  online: true\n");
        let e = parse_str(&input, ParseOptions::default()).unwrap_err();
        assert_eq!(e.path(), Some("spec.bootMode"));
        assert!(e.message().contains("unknown variant `BIOS`"), "{e}");

        let input = HOST.replace(
            "  online: true\n",
            "  online: true\n  inspectionMode: full\n",
        );
        let e = parse_str(&input, ParseOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "document 0 (BareMetalHost/ns/h0): spec.inspectionMode: invalid inspectionMode value: full, allowed values are 'disabled', 'agent', or 'fast'"
        );

        let input = HOST.replace("  online: true\n", "  description: d\n");
        let e = parse_str(&input, ParseOptions { strict: false }).unwrap_err();
        assert_eq!(e.path(), Some("spec.online"));
        assert_eq!(e.message(), "Required value");
    }

    #[test]
    fn unknown_kind_names_document_and_kinds() {
        let input = format!("{HOST}---\napiVersion: cluster.x-k8s.io/v1beta1\nkind: Machine\nmetadata:\n  name: m\n");
        let e = parse_str(&input, ParseOptions::default()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("document 1 (Machine/default/m): unsupported kind cluster.x-k8s.io/v1beta1/Machine; supported kinds: metal3.io/v1alpha1/BareMetalHost, v1/Secret"),
            "{text}"
        );
        let wrong_version = HOST.replace("v1alpha1", "v1beta1");
        assert!(matches!(
            parse_str(&wrong_version, ParseOptions::default()),
            Err(ManifestError::UnknownKind { .. })
        ));
        let e = parse_str("metadata: {name: x}\n", ParseOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "document 0: apiVersion: Required value");
        let e = parse_str("a\n", ParseOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "document 0: document is not an object");
        let e = parse_str("- a\n", ParseOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "document 0 item 0: document is not an object"
        );
    }

    #[test]
    fn yaml_flow_style_is_not_mistaken_for_json() {
        let input = "{apiVersion: v1, kind: Secret, metadata: {name: s}}\n---\n{apiVersion: v1, kind: Secret, metadata: {name: t}}\n";
        let objs = parse_str(input, ParseOptions::default()).unwrap();
        assert_eq!(objs.len(), 2);
        // Neither JSON nor YAML: the JSON parser's message is kept.
        let e = parse_str("{\"a\": [1,}", ParseOptions::default()).unwrap_err();
        assert!(
            e.to_string().contains("expected value at line 1 column 10"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors() {
        assert!(matches!(
            parse_str("a: [1,\n", ParseOptions::default()),
            Err(ManifestError::Syntax { .. })
        ));
        assert!(matches!(
            parse_str("{\"a\": [1,}", ParseOptions::default()),
            Err(ManifestError::Syntax { .. })
        ));
    }

    #[test]
    fn yaml_and_json_output_round_trip() {
        let input = HOST.replace(
            "  online: true\n",
            "  online: true\n  description: \"yes\"\n  architecture: \"0755\"\n",
        );
        let objs = parse_str(&input, ParseOptions::default()).unwrap();
        let yaml = to_yaml(&objs).unwrap();
        assert_eq!(parse_str(&yaml, ParseOptions::default()).unwrap(), objs);
        let json = to_json(&objs).unwrap();
        assert_eq!(parse_str(&json, ParseOptions::default()).unwrap(), objs);
        let two = [objs[0].clone(), objs[0].clone()];
        let yaml = to_yaml(&two).unwrap();
        assert_eq!(parse_str(&yaml, ParseOptions::default()).unwrap().len(), 2);
    }
}
