//! HostFirmwareSettings end to end: the engine with the direct provisioner
//! against sushy-tools' libvirt driver on libvirt's mock hypervisor (the
//! fake driver has no BIOS), with raw GETs of the emulator as witness.
//!
//! Needs the peers venv with libvirt-python: run `bash scripts/setup-peers.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::sushy::{self, Sushy, LIBVIRT_SYS};
use common::*;
use metal3_provisioning::direct::{DirectOptions, DirectProvisioner};
use metal3_provisioning::engine::{host_events, Engine, EngineOptions};
use metal3_provisioning::store::{update_with_retry, MemoryStore, ObjectKey, Store, Subresource};
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(90);

/// The BIOS attributes of the emulated system, read without our client.
async fn raw_bios(s: &Sushy) -> Value {
    s.raw_get(&format!("/redfish/v1/Systems/{LIBVIRT_SYS}/BIOS"))
        .await["Attributes"]
        .clone()
}

fn condition(hfs: &Value, t: &str) -> Value {
    hfs["status"]["conditions"]
        .as_array()
        .unwrap_or_else(|| panic!("no conditions in {hfs}"))
        .iter()
        .find(|c| c["type"] == t)
        .cloned()
        .unwrap_or_else(|| panic!("no {t} condition in {hfs}"))
}

fn set_hfs_spec(store: &dyn Store, key: &ObjectKey, settings: Value) {
    update_with_retry(store, key, Subresource::Main, |v| {
        v["spec"]["settings"] = settings.clone();
        Ok(())
    })
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bios_settings_reach_the_bmc_through_preparing() {
    let s = Sushy::start_libvirt().await;
    let store = Arc::new(MemoryStore::new());
    store
        .create(secret("h0-bmc", sushy::USER, sushy::PASS))
        .unwrap();
    let address = format!(
        "redfish+http://127.0.0.1:{}/redfish/v1/Systems/{LIBVIRT_SYS}",
        s.port
    );
    store
        .create(host("h0", &address, json!({"inspectionMode": "disabled"})))
        .unwrap();
    let p = Arc::new(DirectProvisioner::new(DirectOptions {
        poll_interval: Duration::from_millis(200),
        power_timeout: Duration::from_secs(60),
        redfish: sushy::quick(),
        ..DirectOptions::default()
    }));
    let e = Engine::new(
        store.clone(),
        p,
        EngineOptions {
            concurrency: 2,
            ..EngineOptions::default()
        },
    );
    let key = host_key("h0");
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    assert_eq!(state(store.as_ref(), "h0"), "available");

    // The status mirrors the emulator's BIOS (as read independently).
    let before = raw_bios(&s).await;
    let turbo = before["ProcTurboMode"].as_str().unwrap().to_string();
    let wanted = if turbo == "Enabled" {
        "Disabled"
    } else {
        "Enabled"
    };
    let hfs_key = ObjectKey::new("HostFirmwareSettings", "default", "h0");
    let hfs = store.get(&hfs_key).unwrap();
    assert_eq!(hfs["status"]["settings"]["ProcTurboMode"], json!(turbo));
    assert_eq!(condition(&hfs, "ChangeDetected")["status"], "False");
    assert_eq!(condition(&hfs, "Valid")["status"], "True");

    // A setting the BIOS does not have: Valid=False, the BIOS untouched.
    set_hfs_spec(store.as_ref(), &hfs_key, json!({"NoSuchKnob": "On"}));
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    let hfs = store.get(&hfs_key).unwrap();
    let valid = condition(&hfs, "Valid");
    assert_eq!(valid["status"], "False", "{hfs}");
    assert!(
        valid["message"]
            .as_str()
            .unwrap()
            .contains("Setting NoSuchKnob is invalid"),
        "{valid}"
    );
    assert_eq!(state(store.as_ref(), "h0"), "available");
    assert_eq!(raw_bios(&s).await, before);

    // A valid change: preparing writes it to the BMC.
    set_hfs_spec(store.as_ref(), &hfs_key, json!({"ProcTurboMode": wanted}));
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    assert_eq!(state(store.as_ref(), "h0"), "available");
    let after = raw_bios(&s).await;
    assert_eq!(after["ProcTurboMode"], json!(wanted), "{after}");
    // Only the asked-for setting changed.
    let mut expected = before.clone();
    expected["ProcTurboMode"] = json!(wanted);
    assert_eq!(after, expected);
    let hfs = store.get(&hfs_key).unwrap();
    assert_eq!(hfs["status"]["settings"]["ProcTurboMode"], json!(wanted));
    assert_eq!(condition(&hfs, "ChangeDetected")["status"], "False");
    assert_eq!(condition(&hfs, "Valid")["status"], "True");
    let reasons: Vec<String> = host_events(store.as_ref(), "default", "h0")
        .unwrap()
        .into_iter()
        .map(|e| e.reason)
        .collect();
    // Registration skipped inspection straight into preparing (no
    // PreparationStarted then); this one came from the settings change.
    let skipped = reasons.iter().position(|r| r == "InspectionSkipped");
    let started = reasons.iter().rposition(|r| r == "PreparationStarted");
    assert!(
        matches!((skipped, started), (Some(a), Some(b)) if b > a),
        "no preparation for the settings change in {reasons:?}"
    );
}
