//! What Kubernetes' garbage collector does for a host's dependents, for a
//! store that has none: when an owner is gone, an object whose only owners
//! were gone owners is deleted, and one with other owners loses the
//! references to the gone ones. Without it a host's HostFirmwareSettings,
//! HostFirmwareComponents and HostUpdatePolicy outlived the host, and a
//! host re-created under the same name took over the old one's firmware
//! status.

use std::collections::HashSet;

use serde_json::Value;

use crate::store::{ObjectKey, Store, StoreError, Subresource};

/// The kinds that name a host (or a host's HostFirmwareSettings) as owner.
pub const DEPENDENT_KINDS: [&str; 4] = [
    "HostFirmwareSettings",
    "HostFirmwareComponents",
    "HostUpdatePolicy",
    "FirmwareSchema",
];

/// What becomes of an object when some of its owners are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Orphaned {
    /// None of its owners is gone: nothing to do.
    Keep,
    /// Every owner is gone: the object goes too.
    Delete,
    /// Some owners remain: only the references to the gone ones go.
    DropOwners(Vec<String>),
}

/// The owner uids an object names.
pub fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// What to do with `obj` given which owner uids are gone.
pub fn orphaned(obj: &Value, gone: &dyn Fn(&str) -> bool) -> Orphaned {
    let owners = owner_uids(obj);
    let dead: Vec<String> = owners.iter().filter(|u| gone(u)).cloned().collect();
    if dead.is_empty() {
        Orphaned::Keep
    } else if dead.len() == owners.len() {
        Orphaned::Delete
    } else {
        Orphaned::DropOwners(dead)
    }
}

/// Collects what the host `name` (instance `uid`) of `namespace` owned,
/// by the names the engine gives it (its same-named HostFirmwareSettings,
/// HostFirmwareComponents and HostUpdatePolicy), then the FirmwareSchema
/// a deleted HostFirmwareSettings names: a few reads per host instead of a
/// scan of the namespace on every removal. Anything else left owned by the
/// host is found by [`sweep`]. Returns the keys deleted.
pub fn collect(
    store: &dyn Store,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<Vec<ObjectKey>, StoreError> {
    let mut deleted = Vec::new();
    if uid.is_empty() {
        return Ok(deleted);
    }
    for kind in [
        "HostFirmwareSettings",
        "HostFirmwareComponents",
        "HostUpdatePolicy",
    ] {
        let key = ObjectKey::new(kind, namespace, name);
        let Some(obj) = get(store, &key)? else {
            continue;
        };
        if !apply(store, &key, orphaned(&obj, &|u| u == uid))? {
            continue;
        }
        deleted.push(key);
        let own = obj.pointer("/metadata/uid").and_then(Value::as_str);
        let schema = obj.pointer("/status/schema/name").and_then(Value::as_str);
        if let (Some(own), Some(schema)) = (own, schema) {
            let key = ObjectKey::new("FirmwareSchema", namespace, schema);
            if let Some(s) = get(store, &key)? {
                if apply(store, &key, orphaned(&s, &|u| u == own))? {
                    deleted.push(key);
                }
            }
        }
    }
    Ok(deleted)
}

/// The object at `key`, if there is one.
fn get(store: &dyn Store, key: &ObjectKey) -> Result<Option<Value>, StoreError> {
    match store.get(key) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Collects, in `namespace` (or all), the dependents whose owners no longer
/// exist: hosts removed while no engine ran. An owner exists when an object
/// of its kind and name has its uid. Returns the keys deleted.
pub fn sweep(store: &dyn Store, namespace: Option<&str>) -> Result<Vec<ObjectKey>, StoreError> {
    let mut deleted = Vec::new();
    // A deleted HostFirmwareSettings orphans its FirmwareSchema: go again
    // until a pass deletes nothing (two passes at most with these kinds).
    loop {
        let mut live: HashSet<String> = HashSet::new();
        let mut dangling: HashSet<String> = HashSet::new();
        let mut candidates = Vec::new();
        for kind in DEPENDENT_KINDS {
            store.list_with(kind, namespace, None, &mut |raw| {
                let v: Value = raw.decode()?;
                let refs = v
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for r in refs {
                    let field = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or("");
                    candidates.push((
                        raw.namespace.to_string(),
                        field("kind").to_string(),
                        field("name").to_string(),
                        field("uid").to_string(),
                    ));
                }
                Ok(())
            })?;
        }
        for (ns, kind, name, uid) in candidates {
            if uid.is_empty() || live.contains(&uid) || dangling.contains(&uid) {
                continue;
            }
            let exists = get(store, &ObjectKey::new(&kind, &ns, &name))?
                .is_some_and(|o| o.pointer("/metadata/uid").and_then(Value::as_str) == Some(&uid));
            if exists {
                live.insert(uid);
            } else {
                dangling.insert(uid);
            }
        }
        let mut pass = Vec::new();
        for (key, what, _) in scan(store, namespace, &|u| dangling.contains(u))? {
            if apply(store, &key, what)? {
                pass.push(key);
            }
        }
        if pass.is_empty() {
            return Ok(deleted);
        }
        deleted.extend(pass);
    }
}

/// The dependents (key, what to do, own uid) with an owner `gone` says is gone.
fn scan(
    store: &dyn Store,
    namespace: Option<&str>,
    gone: &dyn Fn(&str) -> bool,
) -> Result<Vec<(ObjectKey, Orphaned, Option<String>)>, StoreError> {
    let mut found = Vec::new();
    for kind in DEPENDENT_KINDS {
        store.list_with(kind, namespace, None, &mut |raw| {
            let v: Value = raw.decode()?;
            let what = orphaned(&v, gone);
            if what != Orphaned::Keep {
                let uid = v
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                found.push((raw.key(), what, uid));
            }
            Ok(())
        })?;
    }
    Ok(found)
}

/// Deletes the object or drops the gone owners; true when deleted.
fn apply(store: &dyn Store, key: &ObjectKey, what: Orphaned) -> Result<bool, StoreError> {
    let r = match what {
        Orphaned::Keep => return Ok(false),
        Orphaned::Delete => store.delete(key).map(|_| true),
        Orphaned::DropOwners(dead) => {
            crate::store::update_with_retry(store, key, Subresource::Main, |o| {
                if let Some(refs) = o
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| {
                        !r.get("uid")
                            .and_then(Value::as_str)
                            .is_some_and(|u| dead.iter().any(|d| d == u))
                    });
                }
                Ok(())
            })
            .map(|_| false)
        }
    };
    match r {
        Ok(deleted) => Ok(deleted),
        // Removed meanwhile: what we wanted.
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owned_by(uids: &[&str]) -> Value {
        let refs: Vec<Value> = uids
            .iter()
            .map(|u| json!({"kind": "BareMetalHost", "name": "h", "uid": u}))
            .collect();
        json!({"metadata": {"ownerReferences": refs}})
    }

    fn obj(kind: &str, name: &str, owners: &[(&str, &str, &str)]) -> Value {
        let refs: Vec<Value> = owners
            .iter()
            .map(|(k, n, u)| json!({"apiVersion": "metal3.io/v1alpha1", "kind": k, "name": n, "uid": u}))
            .collect();
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": kind,
               "metadata": {"name": name, "namespace": "ns", "ownerReferences": refs},
               "spec": {}})
    }

    fn exists(store: &dyn Store, kind: &str, name: &str) -> bool {
        store.get(&ObjectKey::new(kind, "ns", name)).is_ok()
    }

    /// Creates `kind`/`name` owned by `owners`; returns its uid.
    fn add(store: &dyn Store, kind: &str, name: &str, owners: &[(&str, &str, &str)]) -> String {
        let v = store.create(obj(kind, name, owners)).unwrap();
        v.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    }

    #[test]
    fn collect_cascades_and_spares_what_others_own() {
        let store = crate::store::MemoryStore::new();
        let hosts = [("h0", "u0"), ("h1", "u1")];
        let mut settings = Vec::new();
        for (h, u) in hosts {
            let uid = add(
                &store,
                "HostFirmwareSettings",
                h,
                &[("BareMetalHost", h, u)],
            );
            // Both hosts' settings name one schema, as hosts of a model do.
            crate::store::update_with_retry(
                &store,
                &ObjectKey::new("HostFirmwareSettings", "ns", h),
                Subresource::Status,
                |o| {
                    o["status"] = json!({"schema": {"name": "schema-shared", "namespace": "ns"}});
                    Ok(())
                },
            )
            .unwrap();
            settings.push(uid);
        }
        add(
            &store,
            "FirmwareSchema",
            "schema-shared",
            &[
                ("HostFirmwareSettings", "h0", &settings[0]),
                ("HostFirmwareSettings", "h1", &settings[1]),
            ],
        );
        add(
            &store,
            "HostFirmwareComponents",
            "h0",
            &[("BareMetalHost", "h0", "u0")],
        );
        // A policy of h0's name nobody owns (written by a user): kept.
        add(&store, "HostUpdatePolicy", "h0", &[]);

        let gone = collect(&store, "ns", "h0", "u0").unwrap();
        assert_eq!(gone.len(), 2, "{gone:?}");
        assert!(!exists(&store, "HostFirmwareSettings", "h0"));
        assert!(!exists(&store, "HostFirmwareComponents", "h0"));
        assert!(exists(&store, "HostUpdatePolicy", "h0"));
        let shared = store
            .get(&ObjectKey::new("FirmwareSchema", "ns", "schema-shared"))
            .unwrap();
        assert_eq!(owner_uids(&shared), vec![settings[1].clone()]);

        // Another instance's uid owns nothing here.
        assert!(collect(&store, "ns", "h1", "u-old").unwrap().is_empty());
        let gone = collect(&store, "ns", "h1", "u1").unwrap();
        assert_eq!(gone.len(), 2, "{gone:?}");
        assert!(!exists(&store, "FirmwareSchema", "schema-shared"));
    }

    #[test]
    fn sweep_finds_owners_gone_while_nothing_ran() {
        let store = crate::store::MemoryStore::new();
        let live = add(&store, "BareMetalHost", "h1", &[]);
        let hfs = add(
            &store,
            "HostFirmwareSettings",
            "h0",
            &[("BareMetalHost", "h0", "gone")],
        );
        add(
            &store,
            "FirmwareSchema",
            "schema-h0",
            &[("HostFirmwareSettings", "h0", &hfs)],
        );
        add(
            &store,
            "HostFirmwareSettings",
            "h1",
            &[("BareMetalHost", "h1", &live)],
        );
        // Same name, another instance: the old uid is gone.
        add(
            &store,
            "HostFirmwareComponents",
            "h1",
            &[("BareMetalHost", "h1", "old-h1")],
        );

        let gone = sweep(&store, None).unwrap();
        assert_eq!(gone.len(), 3, "{gone:?}");
        assert!(!exists(&store, "HostFirmwareSettings", "h0"));
        assert!(!exists(&store, "FirmwareSchema", "schema-h0"));
        assert!(!exists(&store, "HostFirmwareComponents", "h1"));
        assert!(exists(&store, "HostFirmwareSettings", "h1"));
        assert!(sweep(&store, None).unwrap().is_empty());
    }

    #[test]
    fn an_object_goes_with_its_last_owner_only() {
        let gone = |u: &str| u == "a";
        assert_eq!(orphaned(&owned_by(&["a"]), &gone), Orphaned::Delete);
        assert_eq!(
            orphaned(&owned_by(&["a", "b"]), &gone),
            Orphaned::DropOwners(vec!["a".into()])
        );
        assert_eq!(orphaned(&owned_by(&["b"]), &gone), Orphaned::Keep);
        // Not owned at all (created by a user without owner): kept.
        assert_eq!(orphaned(&json!({"metadata": {}}), &gone), Orphaned::Keep);
    }
}
