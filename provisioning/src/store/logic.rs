//! API-server rules shared by every backend: what a create, update, status
//! update or delete turns the stored object into. Backends only read the
//! current object, call one of these and persist the outcome, so the rules
//! cannot drift apart between SQLite and memory.

use base64::Engine as _;
use serde_json::{Map, Value};

use metal3_hostmodel::Time;

use super::{ObjectKey, Result, StoreError, Subresource};

/// What a write does to the stored object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    /// Store this object (it carries the new resourceVersion).
    Put(Value),
    /// Remove the object; this is its final state.
    Remove(Value),
    /// Nothing changed: no new revision, no event.
    Unchanged(Value),
}

/// Kinds whose `status` is only written through the status subresource.
fn has_status_subresource(kind: &str) -> bool {
    kind != "Secret"
}

fn invalid(key: &ObjectKey, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        key: key.clone(),
        reason: reason.into(),
    }
}

fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

fn meta_mut<'a>(key: &ObjectKey, obj: &'a mut Value) -> Result<&'a mut Map<String, Value>> {
    let Some(map) = obj.as_object_mut() else {
        return Err(invalid(key, "not a JSON object"));
    };
    let entry = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    entry
        .as_object_mut()
        .ok_or_else(|| invalid(key, "metadata is not an object"))
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The stored resourceVersion of an object written by this store.
pub(crate) fn resource_version(obj: &Value) -> u64 {
    meta_str(obj, "resourceVersion")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn finalizers(obj: &Value) -> Vec<&str> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn is_deleting(obj: &Value) -> bool {
    meta_str(obj, "deletionTimestamp").is_some()
}

/// Labels of an object (non-string values are ignored).
pub(crate) fn labels(obj: &Value) -> Vec<(&str, &str)> {
    meta(obj)
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
                .collect()
        })
        .unwrap_or_default()
}

/// Validates a new object, fills the server-set fields and returns its key.
pub(crate) fn prepare_create(mut obj: Value, revision: u64) -> Result<(ObjectKey, Value)> {
    let mut key = ObjectKey::of(&obj);
    if key.kind.is_empty() {
        return Err(invalid(&key, "kind is required"));
    }
    if key.name.is_empty() {
        let Some(prefix) = meta_str(&obj, "generateName").map(str::to_string) else {
            return Err(invalid(
                &key,
                "metadata.name or metadata.generateName is required",
            ));
        };
        // Five random characters, as the API server appends.
        let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..5].to_string();
        key.name = format!("{prefix}{suffix}");
    }
    if meta_str(&obj, "resourceVersion").is_some() {
        return Err(invalid(
            &key,
            "metadata.resourceVersion must not be set on create",
        ));
    }
    let m = meta_mut(&key, &mut obj)?;
    m.insert("name".into(), key.name.clone().into());
    m.insert("namespace".into(), key.namespace.clone().into());
    m.insert("uid".into(), uuid::Uuid::new_v4().to_string().into());
    m.insert("resourceVersion".into(), revision.to_string().into());
    m.insert("generation".into(), 1.into());
    m.insert("creationTimestamp".into(), Time::now().to_string().into());
    m.remove("deletionTimestamp");
    m.remove("deletionGracePeriodSeconds");
    if key.kind == "Secret" {
        normalize_secret(&key, &mut obj)?;
    }
    Ok((key, obj))
}

/// Applies `new` (main resource or status) over `current` at `revision`.
pub(crate) fn prepare_update(
    key: &ObjectKey,
    current: &Value,
    new: Value,
    revision: u64,
    subresource: Subresource,
) -> Result<Write> {
    let current_rv = resource_version(current);
    let Some(given) = meta_str(&new, "resourceVersion").map(str::to_string) else {
        return Err(invalid(
            key,
            "metadata.resourceVersion is required for an update",
        ));
    };
    if given.parse::<u64>().ok() != Some(current_rv) {
        return Err(StoreError::Conflict {
            key: key.clone(),
            given,
            current: current_rv,
        });
    }
    let mut next = match subresource {
        Subresource::Status => {
            if !has_status_subresource(&key.kind) {
                return Err(invalid(key, "this kind has no status subresource"));
            }
            let mut next = current.clone();
            set_or_remove(key, &mut next, "status", new.get("status").cloned())?;
            next
        }
        Subresource::Main => main_update(key, current, new)?,
    };
    if without_resource_version(&next) == without_resource_version(current) {
        return Ok(Write::Unchanged(current.clone()));
    }
    let generation = meta(current)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let spec_changed =
        strip(&next, &["metadata", "status"]) != strip(current, &["metadata", "status"]);
    let m = meta_mut(key, &mut next)?;
    m.insert("resourceVersion".into(), revision.to_string().into());
    if spec_changed && subresource == Subresource::Main {
        m.insert("generation".into(), (generation + 1).into());
    }
    if is_deleting(&next) && finalizers(&next).is_empty() {
        Ok(Write::Remove(next))
    } else {
        Ok(Write::Put(next))
    }
}

/// The main-resource part of an update: the caller's object with the fields
/// only the server (or the status subresource) may set taken from `current`.
fn main_update(key: &ObjectKey, current: &Value, mut next: Value) -> Result<Value> {
    if is_deleting(current) {
        let old = finalizers(current);
        if let Some(added) = finalizers(&next).into_iter().find(|f| !old.contains(f)) {
            return Err(invalid(
                key,
                format!("finalizer {added:?} cannot be added: the object is being deleted"),
            ));
        }
    }
    if key.kind == "Secret" {
        let immutable = current.get("immutable").and_then(Value::as_bool) == Some(true);
        if immutable
            && (next.get("data") != current.get("data")
                || next.get("stringData").is_some()
                || next.get("immutable") != current.get("immutable"))
        {
            return Err(invalid(key, "the Secret is immutable"));
        }
    }
    if has_status_subresource(&key.kind) {
        set_or_remove(key, &mut next, "status", current.get("status").cloned())?;
    }
    if let Some(map) = next.as_object_mut() {
        map.insert("kind".into(), key.kind.clone().into());
    }
    let server_fields = [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ];
    let kept: Vec<(&str, Option<Value>)> = server_fields
        .iter()
        .map(|f| (*f, meta(current).and_then(|m| m.get(*f)).cloned()))
        .collect();
    let m = meta_mut(key, &mut next)?;
    m.insert("name".into(), key.name.clone().into());
    m.insert("namespace".into(), key.namespace.clone().into());
    for (field, value) in kept {
        match value {
            Some(v) => m.insert(field.into(), v),
            None => m.remove(field),
        };
    }
    if key.kind == "Secret" {
        normalize_secret(key, &mut next)?;
    }
    Ok(next)
}

/// What deleting `current` at `revision` does.
pub(crate) fn prepare_delete(key: &ObjectKey, current: &Value, revision: u64) -> Result<Write> {
    let mut next = current.clone();
    if finalizers(current).is_empty() {
        meta_mut(key, &mut next)?.insert("resourceVersion".into(), revision.to_string().into());
        return Ok(Write::Remove(next));
    }
    if is_deleting(current) {
        return Ok(Write::Unchanged(next));
    }
    let generation = meta(current)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let m = meta_mut(key, &mut next)?;
    m.insert("deletionTimestamp".into(), Time::now().to_string().into());
    m.insert("deletionGracePeriodSeconds".into(), 0.into());
    // The API server bumps generation when it sets deletionTimestamp so that
    // controllers comparing observedGeneration notice the deletion request.
    m.insert("generation".into(), (generation + 1).into());
    m.insert("resourceVersion".into(), revision.to_string().into());
    Ok(Write::Put(next))
}

fn set_or_remove(
    key: &ObjectKey,
    obj: &mut Value,
    field: &str,
    value: Option<Value>,
) -> Result<()> {
    let Some(map) = obj.as_object_mut() else {
        return Err(invalid(key, "not a JSON object"));
    };
    match value {
        Some(v) => map.insert(field.into(), v),
        None => map.remove(field),
    };
    Ok(())
}

fn strip(obj: &Value, fields: &[&str]) -> Value {
    let mut copy = obj.clone();
    if let Some(map) = copy.as_object_mut() {
        for f in fields {
            map.remove(*f);
        }
    }
    copy
}

fn without_resource_version(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(m) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    copy
}

/// Stores Secrets as Kubernetes does: `stringData` merged into `data` as
/// base64 and dropped; every `data` value must be valid base64. Errors name
/// the data key only.
fn normalize_secret(key: &ObjectKey, obj: &mut Value) -> Result<()> {
    let engine = base64::engine::general_purpose::STANDARD;
    let Some(map) = obj.as_object_mut() else {
        return Err(invalid(key, "not a JSON object"));
    };
    let string_data = map.remove("stringData");
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(data) = data.as_object_mut() else {
        return Err(invalid(key, "data is not an object"));
    };
    for (k, v) in data.iter() {
        let decodes = v.as_str().is_some_and(|s| engine.decode(s).is_ok());
        if !decodes {
            return Err(invalid(key, format!("data.{k}: not a base64 string")));
        }
    }
    match string_data {
        None | Some(Value::Null) => {}
        Some(Value::Object(sd)) => {
            for (k, v) in sd {
                let Some(text) = v.as_str() else {
                    return Err(invalid(key, format!("stringData.{k}: not a string")));
                };
                data.insert(k, engine.encode(text).into());
            }
        }
        Some(_) => return Err(invalid(key, "stringData is not an object")),
    }
    if data.is_empty() {
        map.remove("data");
    }
    Ok(())
}
