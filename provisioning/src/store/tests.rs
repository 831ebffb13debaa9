//! Behaviour every backend must show, run against both, plus SQLite specifics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use metal3_hostmodel::{BareMetalHost, Secret};

use super::*;

/// A directory removed when dropped.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("metal3-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fast_options() -> SqliteOptions {
    SqliteOptions {
        poll_interval: Duration::from_millis(10),
        ..SqliteOptions::default()
    }
}

fn host(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": name, "labels": labels},
        "spec": {"online": true, "bmc": {"address": "ipmi://10.0.0.1", "credentialsName": "bmc-secret"}}
    })
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("BareMetalHost", "default", name)
}

fn rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn generation(obj: &Value) -> i64 {
    obj["metadata"]["generation"].as_i64().unwrap()
}

fn crud(s: &dyn Store) {
    assert_eq!(s.revision().unwrap(), 0);
    let created = s.create(host("host-0", json!({"rack": "r1"}))).unwrap();
    let m = &created["metadata"];
    let uid = uuid::Uuid::parse_str(m["uid"].as_str().unwrap()).unwrap();
    assert_eq!(uid.get_version_num(), 4);
    assert_eq!(m["namespace"], "default");
    assert_eq!(m["generation"], 1);
    assert_eq!(rv(&created), 1);
    let ts: metal3_hostmodel::Time = m["creationTimestamp"].as_str().unwrap().parse().unwrap();
    assert!((metal3_hostmodel::Time::now().unix() - ts.unix()).abs() < 5);

    assert_eq!(s.get(&key("host-0")).unwrap(), created);
    let err = s.create(host("host-0", json!({}))).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "BareMetalHost/default/host-0: already exists"
    );
    assert!(s.get(&key("nope")).unwrap_err().is_not_found());
    assert!(s.delete(&key("nope")).unwrap_err().is_not_found());

    let err = s
        .create(json!({"kind": "BareMetalHost", "metadata": {}}))
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    let mut with_rv = host("host-1", json!({}));
    with_rv["metadata"]["resourceVersion"] = json!("7");
    assert!(matches!(
        s.create(with_rv).unwrap_err(),
        StoreError::Invalid { .. }
    ));

    let generated = s
        .create(json!({"kind": "BareMetalHost", "metadata": {"generateName": "worker-", "namespace": "ns1"}}))
        .unwrap();
    let name = generated["metadata"]["name"].as_str().unwrap();
    assert!(
        name.starts_with("worker-") && name.len() == "worker-".len() + 5,
        "{name}"
    );
    assert_eq!(generated["metadata"]["namespace"], "ns1");

    assert_eq!(s.list("BareMetalHost", None, None).unwrap().items.len(), 2);
    assert_eq!(
        s.list("BareMetalHost", Some("ns1"), None)
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(s.list("Secret", None, None).unwrap().items.len(), 0);

    // The visitor sees objects in namespace/name order and can stop the listing.
    let mut seen = Vec::new();
    let err = s
        .list_with("BareMetalHost", None, None, &mut |o| {
            seen.push(o.key());
            Err(StoreError::Invalid {
                key: o.key(),
                reason: "stop".into(),
            })
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }));
    assert_eq!(seen, [key("host-0")]);
    // The visitor may call back into the store (no lock is held while it runs).
    let mut fetched = 0;
    s.list_with("BareMetalHost", None, None, &mut |o| {
        let again = s.get(&o.key())?;
        assert_eq!(serde_json::from_str::<Value>(o.json).unwrap(), again);
        fetched += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(fetched, 2);
    let raw = s.list_raw("BareMetalHost", None, None).unwrap();
    let names: Vec<&str> = raw.items.iter().map(|o| o.key.name.as_str()).collect();
    assert_eq!(names[0], "host-0");
    assert_eq!(raw.items.len(), 2);
    assert_eq!(
        serde_json::from_str::<Value>(&raw.items[0].json).unwrap(),
        created
    );

    match s.delete(&key("host-0")).unwrap() {
        DeleteOutcome::Deleted(last) => {
            assert_eq!(last["metadata"]["uid"], created["metadata"]["uid"])
        }
        other => panic!("expected Deleted, got {other:?}"),
    }
    assert!(s.get(&key("host-0")).unwrap_err().is_not_found());
    assert_eq!(s.list("BareMetalHost", None, None).unwrap().items.len(), 1);
}

fn conflicts(s: &dyn Store) {
    s.create(host("host-0", json!({}))).unwrap();
    let mut a = s.get(&key("host-0")).unwrap();
    let mut b = a.clone();
    a["spec"]["online"] = json!(false);
    let a2 = s.update(a.clone()).unwrap();
    assert!(rv(&a2) > rv(&a));
    b["spec"]["online"] = json!(true);
    b["metadata"]["labels"] = json!({"x": "y"});
    let err = s.update(b.clone()).unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "BareMetalHost/default/host-0: conflict: resourceVersion {} is stale, the stored object is at {}; read it again and retry",
            rv(&b),
            rv(&a2)
        )
    );
    assert_eq!(
        s.get(&key("host-0")).unwrap(),
        a2,
        "the losing write changed nothing"
    );
    assert!(s.update_status(b.clone()).unwrap_err().is_conflict());

    let mut no_rv = a2.clone();
    no_rv["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    no_rv["spec"]["online"] = json!(true);
    assert!(matches!(
        s.update(no_rv).unwrap_err(),
        StoreError::Invalid { .. }
    ));
    let mut missing = a2.clone();
    missing["metadata"]["name"] = json!("ghost");
    assert!(s.update(missing).unwrap_err().is_not_found());
}

fn generation_rules(s: &dyn Store) {
    let v1 = s.create(host("host-0", json!({}))).unwrap();
    assert_eq!(generation(&v1), 1);

    // Spec change: generation and resourceVersion move.
    let mut v = v1.clone();
    v["spec"]["online"] = json!(false);
    let v2 = s.update(v).unwrap();
    assert_eq!(generation(&v2), 2);
    assert!(rv(&v2) > rv(&v1));

    // Metadata-only change: resourceVersion moves, generation does not.
    let mut v = v2.clone();
    v["metadata"]["annotations"] = json!({"note": "x"});
    let v3 = s.update(v).unwrap();
    assert_eq!(generation(&v3), 2);
    assert!(rv(&v3) > rv(&v2));

    // Server-set fields cannot be changed through update.
    let mut v = v3.clone();
    v["metadata"]["uid"] = json!("forged");
    v["metadata"]["generation"] = json!(40);
    v["metadata"]["labels"] = json!({"a": "b"});
    let v4 = s.update(v).unwrap();
    assert_eq!(v4["metadata"]["uid"], v1["metadata"]["uid"]);
    assert_eq!(generation(&v4), 2);

    // Status in a main update is ignored; with nothing else changed it is a no-op.
    let mut v = v4.clone();
    v["status"] = json!({"operationalStatus": "OK"});
    let same = s.update(v).unwrap();
    assert_eq!(same, v4);
    assert_eq!(
        s.revision().unwrap(),
        rv(&v4),
        "a no-op update takes no revision"
    );

    // Status update: status changes, spec changes in it are ignored, generation stays.
    let mut v = v4.clone();
    v["status"] = json!({"operationalStatus": "OK"});
    v["spec"]["online"] = json!(true);
    let v5 = s.update_status(v).unwrap();
    assert_eq!(v5["status"]["operationalStatus"], "OK");
    assert_eq!(v5["spec"]["online"], false);
    assert_eq!(generation(&v5), 2);
    assert!(rv(&v5) > rv(&v4));

    // And a later main update keeps that status.
    let mut v = v5.clone();
    v.as_object_mut().unwrap().remove("status");
    v["spec"]["online"] = json!(true);
    let v6 = s.update(v).unwrap();
    assert_eq!(v6["status"]["operationalStatus"], "OK");
    assert_eq!(generation(&v6), 3);
}

fn finalizers(s: &dyn Store) {
    let mut h = host("host-0", json!({}));
    h["metadata"]["finalizers"] = json!(["baremetalhost.metal3.io"]);
    let v1 = s.create(h).unwrap();
    let pending = match s.delete(&key("host-0")).unwrap() {
        DeleteOutcome::Pending(obj) => obj,
        other => panic!("expected Pending, got {other:?}"),
    };
    assert!(pending["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(generation(&pending), 2, "deletion request bumps generation");
    assert_eq!(s.get(&key("host-0")).unwrap(), pending);

    // Deleting again changes nothing.
    let rev = s.revision().unwrap();
    assert!(matches!(
        s.delete(&key("host-0")).unwrap(),
        DeleteOutcome::Pending(_)
    ));
    assert_eq!(s.revision().unwrap(), rev);

    // deletionTimestamp cannot be cleared, no finalizer can be added.
    let mut v = pending.clone();
    v["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("deletionTimestamp");
    v["metadata"]["annotations"] = json!({"a": "b"});
    let v2 = s.update(v).unwrap();
    assert_eq!(
        v2["metadata"]["deletionTimestamp"],
        pending["metadata"]["deletionTimestamp"]
    );
    let mut v = v2.clone();
    v["metadata"]["finalizers"] = json!(["baremetalhost.metal3.io", "other"]);
    assert!(matches!(
        s.update(v).unwrap_err(),
        StoreError::Invalid { .. }
    ));

    // Removing the last finalizer removes the object.
    let mut v = v2.clone();
    v["metadata"]["finalizers"] = json!([]);
    let last = s.update(v).unwrap();
    assert_eq!(last["metadata"]["uid"], v1["metadata"]["uid"]);
    assert!(s.get(&key("host-0")).unwrap_err().is_not_found());
    let events = s.watch(0).unwrap();
    let types: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        [
            EventType::Added,
            EventType::Modified,
            EventType::Modified,
            EventType::Deleted
        ]
    );
}

fn label_selectors(s: &dyn Store) {
    let hosts = [
        ("h0", "default", json!({"rack": "r1", "role": "worker"})),
        ("h1", "default", json!({"rack": "r2", "role": "worker"})),
        (
            "h2",
            "default",
            json!({"rack": "r1", "role": "master", "gpu": ""}),
        ),
        ("h3", "other", json!({"rack": "r1"})),
        ("h4", "other", json!({})),
    ];
    for (name, ns, labels) in hosts {
        let mut h = host(name, labels);
        h["metadata"]["namespace"] = json!(ns);
        s.create(h).unwrap();
    }
    let names = |ns: Option<&str>, sel: &str| -> Vec<String> {
        let sel = LabelSelector::parse(sel).unwrap();
        s.list("BareMetalHost", ns, Some(&sel))
            .unwrap()
            .items
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(None, "rack=r1"), ["h0", "h2", "h3"]);
    assert_eq!(names(Some("default"), "rack=r1"), ["h0", "h2"]);
    assert_eq!(names(None, "rack=r1,role!=master"), ["h0", "h3"]);
    assert_eq!(names(None, "role!=worker"), ["h2", "h3", "h4"]);
    assert_eq!(names(None, "gpu"), ["h2"]);
    assert_eq!(names(None, "!rack"), ["h4"]);
    assert_eq!(names(None, "rack in (r2,r3)"), ["h1"]);
    assert_eq!(names(None, "rack notin (r1)"), ["h1", "h4"]);
    assert_eq!(names(None, ""), ["h0", "h1", "h2", "h3", "h4"]);
    assert_eq!(
        names(Some("other"), "rack=r1,role=worker"),
        Vec::<String>::new()
    );

    // Labels follow updates.
    let mut h1 = s.get(&key("h1")).unwrap();
    h1["metadata"]["labels"] = json!({"rack": "r1"});
    s.update(h1).unwrap();
    assert_eq!(names(None, "rack=r1"), ["h0", "h1", "h2", "h3"]);
}

fn change_feed(s: &dyn Store) {
    let start = s.revision().unwrap();
    let a = s.create(host("a", json!({}))).unwrap();
    let mut a2 = a.clone();
    a2["spec"]["online"] = json!(false);
    let a2 = s.update(a2).unwrap();
    let b = s.create(host("b", json!({}))).unwrap();
    let b_gone = match s.delete(&key("b")).unwrap() {
        DeleteOutcome::Deleted(v) => v,
        other => panic!("expected Deleted, got {other:?}"),
    };
    let events = s.watch(start).unwrap();
    let summary: Vec<(EventType, &str)> = events
        .iter()
        .map(|e| (e.event_type, e.key.name.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (EventType::Added, "a"),
            (EventType::Modified, "a"),
            (EventType::Added, "b"),
            (EventType::Deleted, "b"),
        ]
    );
    let revisions: Vec<u64> = events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, [rv(&a), rv(&a2), rv(&b), rv(&b_gone)]);
    assert!(revisions.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(events[1].object, a2);
    assert_eq!(s.watch(rv(&a2)).unwrap().len(), 2);
    let last = s.revision().unwrap();
    assert_eq!(last, rv(&b_gone));
    assert!(s.watch(last).unwrap().is_empty());
    assert_eq!(s.list("BareMetalHost", None, None).unwrap().revision, last);
}

fn secrets_stay_secret(s: &dyn Store) {
    const VALUE: &str = "hunter2-very-secret";
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "bmc-secret"},
        "type": "Opaque",
        "stringData": {"password": VALUE, "username": "admin"}
    });
    let stored = s.create(secret.clone()).unwrap();
    assert!(
        stored.get("stringData").is_none(),
        "stringData is merged into data"
    );
    let typed: Secret = s
        .get_as(&ObjectKey::new("Secret", "default", "bmc-secret"))
        .unwrap();
    assert_eq!(
        typed.get_string("password").unwrap().as_deref(),
        Some(VALUE)
    );
    assert!(!format!("{typed:?}").contains(VALUE));

    let mut errors: Vec<StoreError> = Vec::new();
    errors.push(s.create(secret.clone()).unwrap_err());
    let mut stale = stored.clone();
    stale["data"]["password"] = json!("aHVudGVyMg==");
    s.update(stale.clone()).unwrap();
    errors.push(s.update(stale).unwrap_err());
    let mut bad = secret.clone();
    bad["metadata"]["name"] = json!("bad");
    bad["data"] = json!({"password": format!("{VALUE}!!!")});
    errors.push(s.create(bad).unwrap_err());
    let mut bad = secret.clone();
    bad["metadata"]["name"] = json!("bad2");
    bad["stringData"] = json!({"password": [VALUE]});
    errors.push(s.create(bad).unwrap_err());
    // Decoding into a type the data does not fit: serde_json would quote the value.
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Numbers {
        data: BTreeMap<String, u32>,
    }
    let mut plain = secret.clone();
    plain["metadata"]["name"] = json!("plain");
    plain["stringData"] = json!({"pin": VALUE});
    s.create(plain).unwrap();
    errors.push(
        s.get_as::<Numbers>(&ObjectKey::new("Secret", "default", "plain"))
            .unwrap_err(),
    );
    assert!(matches!(errors.last(), Some(StoreError::Decode { .. })));
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, VALUE);
    let raw = s.list_raw("Secret", None, None).unwrap();
    assert!(raw.items.iter().any(|o| o.json.contains(&encoded)));
    let shown = format!("{raw:?}");
    assert!(
        !shown.contains(&encoded) && shown.contains("Secret/default/plain"),
        "{shown}"
    );
    s.list_with("Secret", None, None, &mut |o| {
        assert!(!format!("{o:?}").contains(&encoded));
        Ok(())
    })
    .unwrap();
    for e in &errors {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains(VALUE), "{text}");
            assert!(!text.contains(&encoded), "{text}");
            assert!(
                text.contains("Secret/default/"),
                "error names the key: {text}"
            );
        }
    }
}

fn immutable_secret(s: &dyn Store) {
    let stored = s
        .create(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                       "immutable": true, "data": {"k": "dg=="}}),
        )
        .unwrap();
    let mut v = stored.clone();
    v["data"]["k"] = json!("dw==");
    assert!(matches!(
        s.update(v).unwrap_err(),
        StoreError::Invalid { .. }
    ));
    let mut v = stored.clone();
    v["metadata"]["labels"] = json!({"a": "b"});
    assert!(
        s.update(v).is_ok(),
        "metadata of an immutable Secret can change"
    );
    let fresh = s.get(&ObjectKey::new("Secret", "default", "s")).unwrap();
    let err = s.update_status(fresh).unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
}

fn typed_access(s: &dyn Store) {
    let h: BareMetalHost = serde_json::from_value(host("typed", json!({"a": "b"}))).unwrap();
    let stored = s.create_typed(&h).unwrap();
    assert_eq!(stored.metadata.generation, Some(1));
    let listed: Vec<BareMetalHost> = s.list_as("BareMetalHost", None, None).unwrap();
    assert_eq!(listed, vec![stored.clone()]);
    let updated: BareMetalHost = s
        .update_typed_with_retry(&key("typed"), Subresource::Main, |h: &mut BareMetalHost| {
            h.spec.online = false;
            Ok(())
        })
        .unwrap();
    assert!(!updated.spec.online);
    assert_eq!(updated.metadata.generation, Some(2));

    let object = s.get_object(&key("typed")).unwrap();
    assert_eq!(object.key(), "BareMetalHost/default/typed");
    assert!(matches!(&object, metal3_hostmodel::Object::BareMetalHost(h) if **h == updated));
    s.create(
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": "HardwareData",
                    "metadata": {"name": "typed"}, "spec": {}}),
    )
    .unwrap();
    let hd = s
        .get_object(&ObjectKey::new("HardwareData", "default", "typed"))
        .unwrap();
    assert_eq!(hd.kind(), "HardwareData");
    s.create(json!({"kind": "Unknown", "metadata": {"name": "x"}}))
        .unwrap();
    let err = s
        .get_object(&ObjectKey::new("Unknown", "default", "x"))
        .unwrap_err();
    assert!(matches!(err, StoreError::Decode { .. }), "{err}");
}

/// Several threads increment one annotation through `update_with_retry`.
pub(crate) fn increment(s: &dyn Store, k: &ObjectKey) {
    update_with_retry(s, k, Subresource::Main, |obj| {
        let n: u64 = obj["metadata"]["annotations"]["count"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        obj["metadata"]["annotations"]["count"] = json!((n + 1).to_string());
        Ok(())
    })
    .unwrap();
}

fn count(s: &dyn Store, k: &ObjectKey) -> u64 {
    s.get(k).unwrap()["metadata"]["annotations"]["count"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn object_keys_parse_and_print() {
    let k: ObjectKey = "BareMetalHost/ns1/host-0".parse().unwrap();
    assert_eq!(k, ObjectKey::new("BareMetalHost", "ns1", "host-0"));
    assert_eq!(k.to_string(), "BareMetalHost/ns1/host-0");
    assert_eq!(format!("{k:?}"), "\"BareMetalHost/ns1/host-0\"");
    let short: ObjectKey = "Secret/bmc".parse().unwrap();
    assert_eq!(short.to_string(), "Secret/default/bmc");
    for bad in ["", "BareMetalHost", "a/b/c/d", "/ns/name", "Kind/ns/"] {
        assert!(bad.parse::<ObjectKey>().is_err(), "{bad}");
    }
}

macro_rules! conformance {
    ($($test:ident),*) => {
        mod memory_backend {
            use super::*;
            $(#[test] fn $test() { super::$test(&MemoryStore::new()) })*
        }
        mod sqlite_backend {
            use super::*;
            $(#[test] fn $test() {
                let dir = TempDir::new();
                let s = SqliteStore::open_with(dir.0.join("store.db"), fast_options()).unwrap();
                super::$test(&s)
            })*
        }
    };
}

conformance!(
    crud,
    conflicts,
    generation_rules,
    finalizers,
    label_selectors,
    change_feed,
    secrets_stay_secret,
    immutable_secret,
    typed_access
);

#[test]
fn memory_threads_lose_no_update() {
    let s = Arc::new(MemoryStore::new());
    s.create(host("counter", json!({}))).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for _ in 0..200 {
                    increment(&*s, &key("counter"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(count(&*s, &key("counter")), 800);
}

#[test]
fn sqlite_connections_in_threads_lose_no_update() {
    let dir = TempDir::new();
    let path = dir.0.join("store.db");
    SqliteStore::open(&path)
        .unwrap()
        .create(host("counter", json!({})))
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                // Each thread has its own store and so its own connections,
                // like separate processes.
                let s = SqliteStore::open(&path).unwrap();
                for _ in 0..200 {
                    increment(&s, &key("counter"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(count(&s, &key("counter")), 800);
    let updates = s
        .watch(0)
        .unwrap()
        .iter()
        .filter(|e| e.event_type == EventType::Modified)
        .count();
    assert_eq!(updates, 800, "one event per successful increment");
}

#[cfg(unix)]
#[test]
fn sqlite_file_mode_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = TempDir::new();
    let path = dir.0.join("store.db");
    let s = SqliteStore::open(&path).unwrap();
    s.create(host("h", json!({}))).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.0.join("store.db-wal")), 0o600);
    assert_eq!(mode(&dir.0.join("store.db-shm")), 0o600);
    drop(s);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600, "a wider mode is narrowed on open");
    assert!(s.get(&key("h")).is_ok());
}

#[test]
fn sqlite_persists_and_versions_schema() {
    let dir = TempDir::new();
    let path = dir.0.join("store.db");
    let s = SqliteStore::open(&path).unwrap();
    s.create(host("h", json!({}))).unwrap();
    let rev = s.revision().unwrap();
    drop(s);

    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.revision().unwrap(), rev);
    let created = s.create(host("h2", json!({}))).unwrap();
    assert_eq!(rv(&created), rev + 1, "revision continues across opens");
    drop(s);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    conn.execute(
        "UPDATE meta SET value = 99 WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(StoreError::SchemaTooNew { found: 99, .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[test]
fn sqlite_compacts_event_history() {
    let dir = TempDir::new();
    let options = SqliteOptions {
        event_history: 10,
        ..fast_options()
    };
    let s = SqliteStore::open_with(dir.0.join("store.db"), options).unwrap();
    for i in 0..130 {
        s.create(host(&format!("h{i}"), json!({}))).unwrap();
    }
    match s.watch(0) {
        Err(StoreError::Expired {
            since: 0,
            compacted,
        }) => assert_eq!(compacted, 118),
        other => panic!("expected Expired, got {other:?}"),
    }
    let recent = s.watch(118).unwrap();
    assert_eq!(recent.len(), 12);
    assert_eq!(recent[0].revision, 119);
}

#[test]
fn memory_wait_for_change_wakes_on_write() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = Arc::new(MemoryStore::new());
    rt.block_on(async {
        let writer = Arc::clone(&s);
        let rev = s.revision().unwrap();
        let wait = s.wait_for_change(rev);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            writer.create(host("h", json!({}))).unwrap();
        });
        let got = tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, rev + 1);
        // Already past: resolves at once.
        let got = tokio::time::timeout(Duration::from_millis(100), s.wait_for_change(0))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, rev + 1);
    });
}

#[test]
fn sqlite_wait_for_change_sees_other_connections() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = TempDir::new();
    let path = dir.0.join("store.db");
    let watcher = SqliteStore::open_with(&path, fast_options()).unwrap();
    rt.block_on(async {
        let rev = watcher.revision().unwrap();
        let writer_path = path.clone();
        let (go, wait_go) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            // A separate store: its writes reach `watcher` only through the file.
            let writer = SqliteStore::open(&writer_path).unwrap();
            wait_go.recv().unwrap();
            writer.create(host("h", json!({}))).unwrap();
        });
        let still_waiting =
            tokio::time::timeout(Duration::from_millis(50), watcher.wait_for_change(rev)).await;
        assert!(still_waiting.is_err(), "nothing was written yet");
        go.send(()).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), watcher.wait_for_change(rev))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, rev + 1);
        let events = watcher.watch(rev).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].key, key("h"));
    });
}
