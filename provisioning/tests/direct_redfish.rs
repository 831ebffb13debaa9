//! The engine with the direct provisioner against sushy-tools' Redfish
//! emulator (fake driver) on loopback, through the store, with independent
//! raw GETs of the emulator as witness.
//!
//! Needs the peers venv: run `bash scripts/setup-peers.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::sushy::{self, Sushy, PASS, SYS, USER};
use common::*;
use metal3_hostmodel::OperationalStatus;
use metal3_provisioning::direct::{DirectOptions, DirectProvisioner};
use metal3_provisioning::engine::{host_events, Engine, EngineOptions};
use metal3_provisioning::store::{MemoryStore, ObjectKey, SqliteStore, Store};
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(90);

fn direct() -> Arc<DirectProvisioner> {
    Arc::new(DirectProvisioner::new(DirectOptions {
        poll_interval: Duration::from_millis(200),
        soft_power_off_timeout: Duration::from_secs(10),
        // sushy's fake driver applies power changes after 1-11 s.
        power_timeout: Duration::from_secs(60),
        redfish: sushy::quick(),
        ..DirectOptions::default()
    }))
}

fn engine(store: &Arc<MemoryStore>, p: &Arc<DirectProvisioner>) -> Engine {
    Engine::new(
        store.clone(),
        p.clone(),
        EngineOptions {
            concurrency: 2,
            ..EngineOptions::default()
        },
    )
}

fn address(s: &Sushy, i: usize) -> String {
    format!(
        "redfish-virtualmedia+http://127.0.0.1:{}/redfish/v1/Systems/{}",
        s.port, SYS[i]
    )
}

/// The CD slot of system `i`, as the emulator reports it (raw GETs only).
async fn raw_cd(s: &Sushy, i: usize) -> Value {
    let coll = s
        .raw_get(&format!("/redfish/v1/Systems/{}/VirtualMedia", SYS[i]))
        .await;
    for m in coll["Members"].as_array().unwrap() {
        let slot = s.raw_get(m["@odata.id"].as_str().unwrap()).await;
        let types = slot["MediaTypes"].as_array().cloned().unwrap_or_default();
        if types.iter().any(|t| t == "CD" || t == "DVD") {
            return slot;
        }
    }
    panic!("no CD slot: {coll}");
}

async fn raw_power(s: &Sushy, i: usize) -> String {
    s.raw_get(&format!("/redfish/v1/Systems/{}", SYS[i])).await["PowerState"]
        .as_str()
        .unwrap()
        .to_string()
}

/// GETs of system 0's CD slot and of the system itself that the emulator
/// logged after its first `mark` requests.
fn slot_and_system_reads(s: &Sushy, mark: usize) -> (usize, usize) {
    let log = sushy::requests_in_log(s);
    let system = format!("GET /redfish/v1/Systems/{} ", SYS[0]);
    let slot = format!("GET /redfish/v1/Systems/{}/VirtualMedia/Cd ", SYS[0]);
    let new = &log[mark.min(log.len())..];
    (
        new.iter().filter(|r| r.starts_with(&slot)).count(),
        new.iter().filter(|r| r.starts_with(&system)).count(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_iso_lifecycle_on_sushy() {
    let s = Sushy::start(false).await;
    let iso_port = sushy::serve_file(b"not really an iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/live.iso");
    let store = Arc::new(MemoryStore::new());
    let p = direct();
    let e = engine(&store, &p);
    let key = host_key("h0");
    store.create(secret("h0-bmc", USER, PASS)).unwrap();
    store
        .create(host("h0", &address(&s, 0), json!({})))
        .unwrap();

    // registering -> inspecting -> preparing -> available.
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    let h = get_host(store.as_ref(), "h0").unwrap();
    let st = h.status.clone().unwrap();
    assert_eq!(st.provisioning.state.as_str(), "available", "{st:?}");
    assert_eq!(st.operational_status, OperationalStatus::Ok);
    let hist = st.operation_history.clone().unwrap();
    assert!(
        hist.register.end.is_some() && hist.inspect.end.is_some(),
        "{hist:?}"
    );
    let nics = &st.hardware.as_ref().unwrap().nics;
    assert!(
        nics.iter()
            .any(|n| n.mac.eq_ignore_ascii_case("00:5c:52:31:3a:00")),
        "{nics:?}"
    );
    let hd = store
        .get(&ObjectKey::new("HardwareData", "default", "h0"))
        .unwrap();
    assert!(hd["spec"]["hardware"]["nics"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    assert_eq!(raw_power(&s, 0).await, "Off");
    assert_eq!(p.connection_count(), 1, "one cached connection per host");

    // Live ISO + online -> provisioning -> provisioned.
    edit_host(store.as_ref(), "h0", |v| {
        v["spec"]["online"] = json!(true);
        v["spec"]["image"] = json!({"url": iso, "format": "live-iso"});
    });
    let mark = sushy::requests_in_log(&s).len();
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    // While sushy takes its 1-11 s to power on, only the system is polled,
    // after growing delays (at most 11 polls from 200 ms, where a fixed
    // 200 ms poll made 55, besides the reads around the boot override and
    // reset); the slot is read to find it, after the insert and once when
    // the host is on.
    let (slot, system) = slot_and_system_reads(&s, mark);
    assert!(slot <= 3, "{slot} reads of the CD slot while provisioning");
    assert!(
        system <= 16,
        "{system} reads of the system while provisioning"
    );
    assert_eq!(
        state(store.as_ref(), "h0"),
        "provisioned",
        "{:?}",
        get_host(store.as_ref(), "h0").unwrap().status
    );
    let cd = raw_cd(&s, 0).await;
    assert_eq!(cd["Inserted"], true, "{cd}");
    assert_eq!(cd["Image"], iso.as_str(), "{cd}");
    assert_eq!(raw_power(&s, 0).await, "On");
    let sys = s.raw_get(&format!("/redfish/v1/Systems/{}", SYS[0])).await;
    assert_eq!(sys["Boot"]["BootSourceOverrideTarget"], "Cd", "{sys}");
    assert!(
        get_host(store.as_ref(), "h0")
            .unwrap()
            .status
            .unwrap()
            .powered_on
    );

    // Reboot annotation: off, then back on; annotation consumed.
    edit_host(store.as_ref(), "h0", |v| {
        v["metadata"]["annotations"] = json!({"reboot.metal3.io": ""});
    });
    let saw_off = Arc::new(AtomicBool::new(false));
    let watcher = {
        let saw_off = saw_off.clone();
        let base = s.base();
        tokio::spawn(async move {
            let c = reqwest::Client::new();
            for _ in 0..1200 {
                if let Ok(r) = c
                    .get(format!("{base}/redfish/v1/Systems/{}", SYS[0]))
                    .basic_auth(USER, Some(PASS))
                    .send()
                    .await
                {
                    if let Ok(v) = r.json::<Value>().await {
                        if v["PowerState"] == "Off" {
                            saw_off.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    watcher.abort();
    assert!(
        saw_off.load(Ordering::SeqCst),
        "the host was never seen off"
    );
    let h = get_host(store.as_ref(), "h0").unwrap();
    assert!(!h.metadata.annotations.contains_key("reboot.metal3.io"));
    assert_eq!(raw_power(&s, 0).await, "On");
    assert_eq!(state(store.as_ref(), "h0"), "provisioned");

    // Remove the image and power off: deprovisioning -> available, off, ejected.
    edit_host(store.as_ref(), "h0", |v| {
        v["spec"]["online"] = json!(false);
        v["spec"].as_object_mut().unwrap().remove("image");
    });
    let mark = sushy::requests_in_log(&s).len();
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    // The eject reads the slot and reads it back; the power off wait polls
    // only the system.
    let (slot, system) = slot_and_system_reads(&s, mark);
    assert!(
        slot <= 2,
        "{slot} reads of the CD slot while deprovisioning"
    );
    assert!(
        system <= 16,
        "{system} reads of the system while deprovisioning"
    );
    assert_eq!(state(store.as_ref(), "h0"), "available");
    assert_eq!(raw_power(&s, 0).await, "Off");
    assert_eq!(raw_cd(&s, 0).await["Inserted"], false);

    // The whole lifecycle so far is in the event log, in order (power events
    // and the state machine's own may sit in between).
    let reasons: Vec<String> = host_events(store.as_ref(), "default", "h0")
        .unwrap()
        .into_iter()
        .map(|e| e.reason)
        .collect();
    let want = [
        "Registering",
        "BMCAccessValidated",
        "Registered",
        "InspectionStarted",
        "InspectionComplete",
        "PreparationStarted",
        "PreparationComplete",
        "ProvisioningStarted",
        "ProvisioningComplete",
        "PowerOff",
        "PowerOn",
        "DeprovisioningStarted",
        "DeprovisioningComplete",
    ];

    // Delete: finalizers drive it to gone; connection dropped; Secret
    // released; the host's events go with it.
    store.delete(&key).unwrap();
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    assert!(get_host(store.as_ref(), "h0").is_none());
    assert_eq!(p.connection_count(), 0);
    let sec = store
        .get(&ObjectKey::new("Secret", "default", "h0-bmc"))
        .unwrap();
    assert!(sec["metadata"]
        .get("finalizers")
        .is_none_or(|f| f.as_array().unwrap().is_empty()));
    assert!(store.list("Event", None, None).unwrap().items.is_empty());
    let mut it = reasons.iter();
    for w in want {
        assert!(
            it.any(|r| r == w),
            "event {w} missing or out of order in {reasons:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_then_fixed_secret_recovers() {
    let s = Sushy::start(false).await;
    // The SQLite backend the CLI uses: its change feed must wake the engine.
    let store = Arc::new(SqliteStore::open(s.dir.join("metal3.db")).unwrap());
    let p = direct();
    let e = Engine::new(store.clone(), p.clone(), EngineOptions::default());
    let key = host_key("h1");
    store
        .create(secret("h1-bmc", USER, "wrong-password"))
        .unwrap();
    store
        .create(host("h1", &address(&s, 1), json!({})))
        .unwrap();
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    let st = get_host(store.as_ref(), "h1").unwrap().status.unwrap();
    assert_eq!(st.operational_status, OperationalStatus::Error);
    assert_eq!(st.provisioning.state.as_str(), "registering");
    assert_eq!(
        st.error_type.map(|t| t.as_str()),
        Some("registration error")
    );
    assert!(
        st.error_message.contains("authentication failed"),
        "{}",
        st.error_message
    );
    assert!(
        st.error_message.contains(&format!("127.0.0.1:{}", s.port)),
        "{}",
        st.error_message
    );
    assert!(!st.error_message.contains("wrong-password"));
    let errs: Vec<_> = host_events(store.as_ref(), "default", "h1")
        .unwrap()
        .into_iter()
        .filter(|e| e.reason == "RegistrationError")
        .collect();
    assert!(!errs.is_empty(), "no RegistrationError event");
    assert!(
        errs[0].message.contains("authentication failed"),
        "{errs:?}"
    );
    assert!(!errs[0].message.contains("wrong-password"));
    // Fix the Secret: the change feed wakes the host, which registers.
    let store2 = store.clone();
    let stop = async move {
        wait_for(SETTLE.as_secs(), "h1 available", || {
            state(store2.as_ref(), "h1") == "available"
        })
        .await;
    };
    let store3 = store.clone();
    let fixer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        metal3_provisioning::store::update_with_retry(
            store3.as_ref(),
            &ObjectKey::new("Secret", "default", "h1-bmc"),
            metal3_provisioning::store::Subresource::Main,
            |v| {
                v["stringData"] = json!({"password": PASS});
                Ok(())
            },
        )
        .unwrap();
    });
    e.run_until(stop).await.unwrap();
    fixer.await.unwrap();
    let st = get_host(store.as_ref(), "h1").unwrap().status.unwrap();
    assert_eq!(st.operational_status, OperationalStatus::Ok);
    assert!(st.error_message.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_image_and_metadata_cleaning_give_actionable_errors() {
    let s = Sushy::start(false).await;
    let store = Arc::new(MemoryStore::new());
    let p = direct();
    let e = engine(&store, &p);
    // Default cleaning mode (metadata): registration error naming the fix.
    store.create(secret("h2-bmc", USER, PASS)).unwrap();
    let mut doc = host("h2", &address(&s, 2), json!({}));
    doc["spec"]
        .as_object_mut()
        .unwrap()
        .remove("automatedCleaningMode");
    store.create(doc).unwrap();
    let key = host_key("h2");
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    let st = get_host(store.as_ref(), "h2").unwrap().status.unwrap();
    assert_eq!(
        st.error_type.map(|t| t.as_str()),
        Some("registration error")
    );
    assert!(
        st.error_message.contains("automatedCleaningMode: disabled"),
        "{}",
        st.error_message
    );
    // Fix it, then ask for a qcow2 image: provisioning error naming Ironic.
    edit_host(store.as_ref(), "h2", |v| {
        v["spec"]["automatedCleaningMode"] = json!("disabled");
    });
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    assert_eq!(state(store.as_ref(), "h2"), "available");
    edit_host(store.as_ref(), "h2", |v| {
        v["spec"]["online"] = json!(true);
        v["spec"]["image"] =
            json!({"url": "http://127.0.0.1:9/os.qcow2", "format": "qcow2", "checksum": "abc"});
    });
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    let st = get_host(store.as_ref(), "h2").unwrap().status.unwrap();
    assert_eq!(
        st.error_type.map(|t| t.as_str()),
        Some("provisioning error"),
        "{st:?}"
    );
    assert!(
        st.error_message.contains("Ironic provisioner"),
        "{}",
        st.error_message
    );
    assert!(
        st.error_message.contains("live-iso"),
        "{}",
        st.error_message
    );
}
