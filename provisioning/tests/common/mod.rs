//! Shared helpers of the engine tests: host and Secret documents, store access.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use metal3_hostmodel::BareMetalHost;
use metal3_provisioning::store::{ObjectKey, Store, StoreExt};
use serde_json::{json, Value};

// One harness for every crate's sushy-tools tests (repo_root() is one level
// up from either crate's manifest dir, so its paths resolve the same).
#[path = "../../../bmc/tests/support/sushy.rs"]
pub mod sushy;

pub fn host_key(name: &str) -> ObjectKey {
    ObjectKey::new("BareMetalHost", "default", name)
}

pub fn secret(name: &str, user: &str, pass: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "type": "Opaque",
        "stringData": {"username": user, "password": pass},
    })
}

pub fn host(name: &str, address: &str, extra_spec: Value) -> Value {
    let mut spec = json!({
        "online": false,
        "bmc": {"address": address, "credentialsName": format!("{name}-bmc")},
        "bootMACAddress": "00:5c:52:31:3a:01",
        "automatedCleaningMode": "disabled",
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    })
}

pub fn get_host(store: &dyn Store, name: &str) -> Option<BareMetalHost> {
    match store.get_as::<BareMetalHost>(&host_key(name)) {
        Ok(h) => Some(h),
        Err(e) if e.is_not_found() => None,
        Err(e) => panic!("{e}"),
    }
}

pub fn state(store: &dyn Store, name: &str) -> String {
    get_host(store, name)
        .and_then(|h| h.status)
        .map(|s| s.provisioning.state.as_str().to_string())
        .unwrap_or_else(|| "<none>".into())
}

/// Changes the host's spec/metadata with `f` (retrying on conflicts).
pub fn edit_host(store: &dyn Store, name: &str, f: impl Fn(&mut Value)) {
    metal3_provisioning::store::update_with_retry(
        store,
        &host_key(name),
        metal3_provisioning::store::Subresource::Main,
        |v| {
            f(v);
            Ok(())
        },
    )
    .unwrap();
}

/// Polls `cond` every 20 ms for up to `secs` seconds.
pub async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
