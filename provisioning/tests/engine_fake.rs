//! Engine logic against the in-memory store and a scripted fake provisioner
//! (the wire is proven by the sushy-tools / ipmi_sim tests).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use metal3_hostmodel::annotations::RebootMode;
use metal3_hostmodel::hardware::{HardwareDetails, Nic};
use metal3_hostmodel::state::{CurrentFirmwareSettings, OutcomeData, PrepareData};
use metal3_hostmodel::{AutomatedCleaningMode, OperationalStatus};
use metal3_provisioning::engine::{host_events, Engine, EngineOptions};
use metal3_provisioning::provisioner::{HostRef, Outcome, Provisioner};
use metal3_provisioning::store::{BoxFuture, MemoryStore, ObjectKey, Store};
use serde_json::json;

const ADDR: &str = "redfish+http://127.0.0.1:9/redfish/v1/Systems/1";

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<(String, &'static str)>>,
    power: Mutex<HashMap<String, bool>>,
    provision_polls: Mutex<HashMap<String, u32>>,
    /// Hosts whose provisioning never finishes.
    hold: Mutex<HashSet<String>>,
    /// Every host's BIOS settings.
    bios: Mutex<BTreeMap<String, String>>,
    /// Settings asked for by each prepare call.
    prepared: Mutex<Vec<BTreeMap<String, String>>>,
    /// Capacity checks that yield (as a remote check does) and inspections
    /// that take three calls: the window where workers race.
    slow: bool,
    /// Hosts between their first inspect call and the one that finishes.
    inspecting: Mutex<HashMap<String, u32>>,
    /// The most hosts inspecting at once.
    max_inspecting: Mutex<usize>,
}

impl Fake {
    fn call(&self, h: &HostRef<'_>, what: &'static str) {
        self.calls.lock().unwrap().push((h.id.clone(), what));
    }
    fn count(&self, id: &str, what: &str) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|(i, w)| i == id && *w == what).count()
    }
}

fn ready<'a>(o: Outcome) -> BoxFuture<'a, Outcome> {
    Box::pin(async move { o })
}

impl Provisioner for Fake {
    fn register<'a>(&'a self, h: &'a HostRef<'a>, _: bool, _: bool) -> BoxFuture<'a, Outcome> {
        self.call(h, "register");
        assert!(h.credentials.is_some(), "engine must pass credentials");
        ready(Outcome::done().with_data(OutcomeData::Registered {
            provisioner_id: h.id.clone(),
        }))
    }
    fn inspect<'a>(&'a self, h: &'a HostRef<'a>, _: bool, _: bool) -> BoxFuture<'a, Outcome> {
        self.call(h, "inspect");
        if self.slow {
            let mut now = self.inspecting.lock().unwrap();
            let calls = now.entry(h.id.clone()).or_insert(0);
            *calls += 1;
            if *calls < 3 {
                let mut max = self.max_inspecting.lock().unwrap();
                *max = (*max).max(now.len());
                return ready(Outcome::in_progress(Duration::from_millis(5)).with_data(
                    OutcomeData::Inspection {
                        started: true,
                        details: None,
                    },
                ));
            }
            now.remove(&h.id);
        }
        let hw = HardwareDetails {
            nics: vec![Nic {
                name: "eth0".into(),
                mac: "00:5c:52:31:3a:01".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        ready(Outcome::done().with_data(OutcomeData::Inspection {
            started: true,
            details: Some(Box::new(hw)),
        }))
    }
    fn prepare<'a>(&'a self, h: &'a HostRef<'a>, d: &'a PrepareData) -> BoxFuture<'a, Outcome> {
        self.call(h, "prepare");
        if d.firmware_settings {
            self.prepared
                .lock()
                .unwrap()
                .push(d.target_firmware_settings.clone());
            self.bios
                .lock()
                .unwrap()
                .extend(d.target_firmware_settings.clone());
            return ready(Outcome::done().with_data(OutcomeData::Started(true)));
        }
        ready(Outcome::done().with_data(OutcomeData::Started(false)))
    }
    fn firmware_settings<'a>(
        &'a self,
        _: &'a HostRef<'a>,
    ) -> BoxFuture<'a, Result<CurrentFirmwareSettings, String>> {
        let settings = self.bios.lock().unwrap().clone();
        Box::pin(async move {
            Ok(CurrentFirmwareSettings {
                settings,
                schema: None,
            })
        })
    }
    fn service<'a>(&'a self, h: &'a HostRef<'a>, _: bool) -> BoxFuture<'a, Outcome> {
        self.call(h, "service");
        ready(Outcome::done())
    }
    fn provision<'a>(&'a self, h: &'a HostRef<'a>, _: bool) -> BoxFuture<'a, Outcome> {
        self.call(h, "provision");
        if self.hold.lock().unwrap().contains(&h.id) {
            return ready(Outcome::in_progress(Duration::from_millis(20)));
        }
        let mut polls = self.provision_polls.lock().unwrap();
        let n = polls.entry(h.id.clone()).or_insert(0);
        *n += 1;
        if *n < 3 {
            return ready(Outcome::in_progress(Duration::from_millis(20)));
        }
        self.power.lock().unwrap().insert(h.id.clone(), true);
        ready(Outcome::done())
    }
    fn deprovision<'a>(
        &'a self,
        h: &'a HostRef<'a>,
        _: bool,
        _: AutomatedCleaningMode,
    ) -> BoxFuture<'a, Outcome> {
        self.call(h, "deprovision");
        self.power.lock().unwrap().insert(h.id.clone(), false);
        ready(Outcome::done())
    }
    fn adopt<'a>(&'a self, h: &'a HostRef<'a>, _: bool) -> BoxFuture<'a, Outcome> {
        self.call(h, "adopt");
        ready(Outcome::done())
    }
    fn power_on<'a>(&'a self, h: &'a HostRef<'a>, _: bool) -> BoxFuture<'a, Outcome> {
        self.call(h, "power_on");
        self.power.lock().unwrap().insert(h.id.clone(), true);
        ready(Outcome::done())
    }
    fn power_off<'a>(
        &'a self,
        h: &'a HostRef<'a>,
        _: RebootMode,
        _: bool,
    ) -> BoxFuture<'a, Outcome> {
        self.call(h, "power_off");
        self.power.lock().unwrap().insert(h.id.clone(), false);
        ready(Outcome::done())
    }
    fn detach<'a>(&'a self, h: &'a HostRef<'a>, _: bool) -> BoxFuture<'a, Outcome> {
        self.call(h, "detach");
        ready(Outcome::done())
    }
    fn delete<'a>(&'a self, h: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        self.call(h, "delete");
        ready(Outcome::done())
    }
    fn has_capacity<'a>(&'a self, _: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        let slow = self.slow;
        Box::pin(async move {
            if slow {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
            }
            Outcome::done().with_data(OutcomeData::Capacity(true))
        })
    }
    fn update_hardware_state<'a>(&'a self, h: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        let on = self
            .power
            .lock()
            .unwrap()
            .get(&h.id)
            .copied()
            .unwrap_or(false);
        ready(Outcome::done().with_data(OutcomeData::PowerState(Some(on))))
    }
}

fn setup(opts: EngineOptions, hosts: &[&str]) -> (Arc<MemoryStore>, Arc<Fake>, Engine) {
    let store = Arc::new(MemoryStore::new());
    for h in hosts {
        store
            .create(secret(&format!("{h}-bmc"), "admin", "pw"))
            .unwrap();
        store.create(host(h, ADDR, json!({}))).unwrap();
    }
    let fake = Arc::new(Fake::default());
    let engine = Engine::new(store.clone(), fake.clone(), opts);
    (store, fake, engine)
}

fn opts() -> EngineOptions {
    EngineOptions {
        concurrency: 2,
        ..EngineOptions::default()
    }
}

fn keys(names: &[&str]) -> Vec<ObjectKey> {
    names.iter().map(|n| host_key(n)).collect()
}

#[tokio::test]
async fn registers_inspects_and_reaches_available_with_events_and_hardware_data() {
    let (store, fake, engine) = setup(opts(), &["h0"]);
    engine
        .run_hosts_until_settled(&keys(&["h0"]), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(state(store.as_ref(), "h0"), "available");
    let h = get_host(store.as_ref(), "h0").unwrap();
    assert!(h
        .metadata
        .finalizers
        .contains(&"baremetalhost.metal3.io".to_string()));
    let st = h.status.unwrap();
    assert_eq!(st.hardware.unwrap().nics[0].mac, "00:5c:52:31:3a:01");
    assert!(st.good_credentials.is_some());
    // HardwareData recreated with owner and finalizer.
    let hd = store
        .get(&ObjectKey::new("HardwareData", "default", "h0"))
        .unwrap();
    assert_eq!(hd["spec"]["hardware"]["nics"][0]["name"], "eth0");
    assert_eq!(hd["metadata"]["ownerReferences"][0]["name"], "h0");
    // Secret claimed: label, owner, finalizer.
    let s = store
        .get(&ObjectKey::new("Secret", "default", "h0-bmc"))
        .unwrap();
    assert_eq!(
        s["metadata"]["labels"]["environment.metal3.io"],
        "baremetal"
    );
    assert_eq!(
        s["metadata"]["finalizers"][0],
        "baremetalhost.metal3.io/secret"
    );
    assert_eq!(fake.count("default/h0", "inspect"), 1);
    // Firmware resources created on registration, owned by the host.
    for kind in ["HostFirmwareSettings", "HostFirmwareComponents"] {
        let o = store.get(&ObjectKey::new(kind, "default", "h0")).unwrap();
        assert_eq!(
            o["metadata"]["ownerReferences"][0]["kind"], "BareMetalHost",
            "{kind}"
        );
    }
    // Events kept in the store for `describe`.
    let ev = host_events(store.as_ref(), "default", "h0").unwrap();
    assert!(!ev.is_empty(), "no events recorded");
    assert!(ev
        .iter()
        .all(|e| !e.reason.is_empty() && !e.time.is_empty()));
}

#[tokio::test]
async fn provisioning_polls_without_holding_workers_and_limit_delays_others() {
    // One worker, limit 1: h0 provisions (held forever), h1 must wait delayed
    // while h0's polls don't starve it of reconciles.
    let o = EngineOptions {
        concurrency: 1,
        provisioning_limit: 1,
        ..EngineOptions::default()
    };
    let (store, fake, engine) = setup(o, &["h0", "h1"]);
    engine
        .run_hosts_until_settled(&keys(&["h0", "h1"]), Duration::from_secs(20))
        .await
        .unwrap();
    fake.hold.lock().unwrap().insert("default/h0".into());
    for n in ["h0", "h1"] {
        edit_host(store.as_ref(), n, |v| {
            v["spec"]["online"] = json!(true);
            v["spec"]["image"] = json!({"url": "http://127.0.0.1:9/x.iso", "format": "live-iso"});
        });
    }
    // h0 first so it takes the only slot.
    engine.reconcile_once(&host_key("h0")).await.unwrap();
    engine.reconcile_once(&host_key("h0")).await.unwrap();
    assert_eq!(state(store.as_ref(), "h0"), "provisioning");
    let s = store.clone();
    let f = fake.clone();
    let stop = async move {
        wait_for(20, "h1 delayed and h0 polled", || {
            let h1 = get_host(s.as_ref(), "h1").and_then(|h| h.status);
            h1.is_some_and(|st| st.operational_status == OperationalStatus::Delayed)
                && f.count("default/h0", "provision") >= 4
        })
        .await;
    };
    engine.run_until(stop).await.unwrap();
    assert_eq!(state(store.as_ref(), "h1"), "available");
    // Release h0: it finishes, then h1 gets the slot and provisions too.
    fake.hold.lock().unwrap().clear();
    engine
        .run_hosts_until_settled(&keys(&["h0", "h1"]), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(state(store.as_ref(), "h0"), "provisioned");
    assert_eq!(state(store.as_ref(), "h1"), "provisioned");
    assert!(
        get_host(store.as_ref(), "h1")
            .unwrap()
            .status
            .unwrap()
            .powered_on
    );
}

#[tokio::test]
async fn delayed_hosts_in_a_busy_state_do_not_hold_slots_for_each_other() {
    // Workers racing past the capacity check can put more hosts in a busy
    // state than the limit; the next pass sends the extra ones back,
    // delayed. Those must not count against each other, or they wait
    // forever (seen with 12 hosts, limit 2, on Ironic).
    let o = EngineOptions {
        concurrency: 2,
        provisioning_limit: 1,
        ..EngineOptions::default()
    };
    let (store, _fake, engine) = setup(o, &["h0", "h1"]);
    engine
        .run_hosts_until_settled(&keys(&["h0", "h1"]), Duration::from_secs(20))
        .await
        .unwrap();
    for n in ["h0", "h1"] {
        edit_host(store.as_ref(), n, |v| {
            v["spec"]["online"] = json!(true);
            v["spec"]["image"] = json!({"url": "http://127.0.0.1:9/x.iso", "format": "live-iso"});
        });
        metal3_provisioning::store::update_with_retry(
            store.as_ref(),
            &host_key(n),
            metal3_provisioning::store::Subresource::Status,
            |v| {
                v["status"]["provisioning"]["state"] = json!("provisioning");
                v["status"]["operationalStatus"] = json!("delayed");
                Ok(())
            },
        )
        .unwrap();
    }
    engine
        .run_hosts_until_settled(&keys(&["h0", "h1"]), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(state(store.as_ref(), "h0"), "provisioned");
    assert_eq!(state(store.as_ref(), "h1"), "provisioned");
}

#[tokio::test]
async fn workers_checking_capacity_at_once_never_exceed_the_limit() {
    // Eight hosts registered at once, four workers, room for two: the
    // capacity check yields (as a provisioner's own check does) while
    // other workers check too. Without one admission at a time they all
    // see two free slots and start inspecting.
    let names = ["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"];
    let store = Arc::new(MemoryStore::new());
    for h in names {
        store
            .create(secret(&format!("{h}-bmc"), "admin", "pw"))
            .unwrap();
        store.create(host(h, ADDR, json!({}))).unwrap();
    }
    let fake = Arc::new(Fake {
        slow: true,
        ..Fake::default()
    });
    let o = EngineOptions {
        concurrency: 4,
        provisioning_limit: 2,
        ..EngineOptions::default()
    };
    let engine = Engine::new(store.clone(), fake.clone(), o);
    // An admitted host sent back delayed shows as inspecting + delayed until
    // a slot frees; watch for it while the hosts go through.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut sent_back = HashSet::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for n in names {
                    let st = get_host(store.as_ref(), n).and_then(|h| h.status);
                    if st.is_some_and(|s| {
                        s.operational_status == OperationalStatus::Delayed
                            && s.provisioning.state.as_str() == "inspecting"
                    }) {
                        sent_back.insert(n);
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            sent_back
        })
    };
    engine
        .run_hosts_until_settled(&keys(&names), Duration::from_secs(30))
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent_back = watch.await.unwrap();
    for n in names {
        assert_eq!(state(store.as_ref(), n), "available", "{n}");
        assert_eq!(fake.count(&format!("default/{n}"), "inspect"), 3, "{n}");
    }
    let max = *fake.max_inspecting.lock().unwrap();
    assert!(max <= 2, "{max} hosts inspecting at once, limit 2");
    assert!(
        sent_back.is_empty(),
        "let into inspecting, then sent back delayed: {sent_back:?}"
    );
}

#[tokio::test]
async fn deletion_deprovisions_then_removes_finalizers_and_releases_secret() {
    let (store, fake, engine) = setup(opts(), &["h0"]);
    edit_host(store.as_ref(), "h0", |v| {
        v["spec"]["online"] = json!(true);
        v["spec"]["image"] = json!({"url": "http://127.0.0.1:9/x.iso", "format": "live-iso"});
    });
    engine
        .run_hosts_until_settled(&keys(&["h0"]), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(state(store.as_ref(), "h0"), "provisioned");
    store.delete(&host_key("h0")).unwrap();
    engine
        .run_hosts_until_settled(&keys(&["h0"]), Duration::from_secs(20))
        .await
        .unwrap();
    assert!(get_host(store.as_ref(), "h0").is_none(), "host still there");
    assert_eq!(fake.count("default/h0", "deprovision"), 1);
    assert_eq!(fake.count("default/h0", "delete"), 1);
    let s = store
        .get(&ObjectKey::new("Secret", "default", "h0-bmc"))
        .unwrap();
    assert!(s["metadata"]
        .get("finalizers")
        .is_none_or(|f| f.as_array().unwrap().is_empty()));
    assert!(store
        .get(&ObjectKey::new("HardwareData", "default", "h0"))
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn missing_secret_is_a_registration_error_until_created() {
    let store = Arc::new(MemoryStore::new());
    store.create(host("h0", ADDR, json!({}))).unwrap();
    let fake = Arc::new(Fake::default());
    let engine = Engine::new(store.clone(), fake.clone(), opts());
    engine
        .run_hosts_until_settled(&keys(&["h0"]), Duration::from_secs(20))
        .await
        .unwrap();
    let st = get_host(store.as_ref(), "h0").unwrap().status.unwrap();
    assert_eq!(st.operational_status, OperationalStatus::Error);
    assert!(
        st.error_message.contains("default/h0-bmc"),
        "{}",
        st.error_message
    );
    assert_eq!(fake.count("default/h0", "register"), 0);
    // The controller reacts to the Secret appearing (change feed).
    let s = store.clone();
    let stop = async move {
        wait_for(20, "available", || state(s.as_ref(), "h0") == "available").await;
    };
    let s2 = store.clone();
    let creator = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        s2.create(secret("h0-bmc", "admin", "pw")).unwrap();
    });
    engine.run_until(stop).await.unwrap();
    creator.await.unwrap();
    assert!(fake.count("default/h0", "register") >= 1);
}

fn event_objects(store: &dyn Store) -> Vec<serde_json::Value> {
    store.list("Event", None, None).unwrap().items
}

#[tokio::test]
async fn events_go_with_the_host_and_a_recreated_host_starts_afresh() {
    let (store, _fake, engine) = setup(opts(), &["h0"]);
    engine
        .run_hosts_until_settled(&keys(&["h0"]), Duration::from_secs(20))
        .await
        .unwrap();
    let first = host_events(store.as_ref(), "default", "h0").unwrap();
    let reasons: Vec<&str> = first.iter().map(|e| e.reason.as_str()).collect();
    assert!(reasons.contains(&"Registered"), "{reasons:?}");
    let old_uid = get_host(store.as_ref(), "h0")
        .unwrap()
        .metadata
        .uid
        .unwrap();

    // Deleted through the engine: deprovision/delete, then the events go.
    store.delete(&host_key("h0")).unwrap();
    engine
        .run_hosts_until_settled(&keys(&["h0"]), Duration::from_secs(20))
        .await
        .unwrap();
    assert!(get_host(store.as_ref(), "h0").is_none());
    assert!(
        event_objects(store.as_ref()).is_empty(),
        "events left behind: {:?}",
        event_objects(store.as_ref())
    );

    // Same name again: a new instance with only its own events.
    store.create(host("h0", ADDR, json!({}))).unwrap();
    engine
        .run_hosts_until_settled(&keys(&["h0"]), Duration::from_secs(20))
        .await
        .unwrap();
    let new_uid = get_host(store.as_ref(), "h0")
        .unwrap()
        .metadata
        .uid
        .unwrap();
    assert_ne!(new_uid, old_uid);
    let again = host_events(store.as_ref(), "default", "h0").unwrap();
    assert_eq!(
        again.iter().map(|e| &e.reason).collect::<Vec<_>>(),
        first.iter().map(|e| &e.reason).collect::<Vec<_>>()
    );
    assert!(event_objects(store.as_ref())
        .iter()
        .all(|e| e["involvedObject"]["uid"] == json!(new_uid)));
}

#[tokio::test]
async fn events_of_hosts_removed_behind_the_engines_back_are_deleted() {
    let (store, _fake, engine) = setup(opts(), &["h0", "h1"]);
    engine
        .run_hosts_until_settled(&keys(&["h0", "h1"]), Duration::from_secs(20))
        .await
        .unwrap();
    let uid = |n: &str| get_host(store.as_ref(), n).unwrap().metadata.uid.unwrap();
    let (uid0, uid1) = (uid("h0"), uid("h1"));
    let count = |u: &str| {
        event_objects(store.as_ref())
            .iter()
            .filter(|e| e["involvedObject"]["uid"] == json!(u))
            .count()
    };
    assert!(count(&uid0) > 0 && count(&uid1) > 0);
    // h0 removed while no engine runs (finalizer taken off by hand).
    edit_host(store.as_ref(), "h0", |v| {
        v["metadata"]["finalizers"] = json!([]);
    });
    store.delete(&host_key("h0")).unwrap();
    // The controller sweeps at start; h1 removed while it runs goes too.
    let s = store.clone();
    let u1 = uid1.clone();
    let stop = async move {
        wait_for(20, "h0's events swept", || count(&uid0) == 0).await;
        edit_host(s.as_ref(), "h1", |v| {
            v["metadata"]["finalizers"] = json!([]);
        });
        s.delete(&host_key("h1")).unwrap();
        wait_for(20, "h1's events deleted", || {
            event_objects(s.as_ref())
                .iter()
                .all(|e| e["involvedObject"]["uid"] != json!(u1))
        })
        .await;
    };
    engine.run_until(stop).await.unwrap();
    assert!(event_objects(store.as_ref()).is_empty());
}

fn condition(hfs: &serde_json::Value, t: &str) -> (String, String) {
    let c = hfs["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == t)
        .unwrap_or_else(|| panic!("no {t} condition in {hfs}"));
    (
        c["status"].as_str().unwrap().to_string(),
        c["message"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn firmware_settings_are_read_validated_and_applied_by_preparing() {
    let (store, fake, engine) = setup(opts(), &["h0"]);
    fake.bios.lock().unwrap().extend([
        ("ProcTurboMode".to_string(), "Enabled".to_string()),
        ("NumCores".to_string(), "10".to_string()),
    ]);
    engine
        .run_hosts_until_settled(&keys(&["h0"]), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(state(store.as_ref(), "h0"), "available");
    let hfs_key = ObjectKey::new("HostFirmwareSettings", "default", "h0");
    let hfs = store.get(&hfs_key).unwrap();
    assert_eq!(hfs["status"]["settings"]["ProcTurboMode"], "Enabled");
    assert_eq!(condition(&hfs, "ChangeDetected").0, "False");
    assert_eq!(condition(&hfs, "Valid").0, "True");
    assert!(fake.prepared.lock().unwrap().is_empty());

    // An unknown setting: Valid=False with the reason, nothing applied.
    metal3_provisioning::store::update_with_retry(
        store.as_ref(),
        &hfs_key,
        metal3_provisioning::store::Subresource::Main,
        |v| {
            v["spec"]["settings"] = json!({"NoSuchKnob": "On"});
            Ok(())
        },
    )
    .unwrap();
    engine
        .run_hosts_until_settled(&keys(&["h0"]), Duration::from_secs(20))
        .await
        .unwrap();
    let hfs = store.get(&hfs_key).unwrap();
    let (valid, message) = condition(&hfs, "Valid");
    assert_eq!(valid, "False");
    assert!(
        message.contains("Setting NoSuchKnob is invalid"),
        "{message}"
    );
    assert_eq!(state(store.as_ref(), "h0"), "available");
    assert!(fake.prepared.lock().unwrap().is_empty());

    // A valid change: preparing writes only what differs, then the status
    // shows the firmware's new value and no pending change.
    metal3_provisioning::store::update_with_retry(
        store.as_ref(),
        &hfs_key,
        metal3_provisioning::store::Subresource::Main,
        |v| {
            v["spec"]["settings"] = json!({"ProcTurboMode": "Disabled", "NumCores": 10});
            Ok(())
        },
    )
    .unwrap();
    engine
        .run_hosts_until_settled(&keys(&["h0"]), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        *fake.prepared.lock().unwrap(),
        [BTreeMap::from([(
            "ProcTurboMode".to_string(),
            "Disabled".to_string()
        )])]
    );
    assert_eq!(state(store.as_ref(), "h0"), "available");
    let hfs = store.get(&hfs_key).unwrap();
    assert_eq!(hfs["status"]["settings"]["ProcTurboMode"], "Disabled");
    assert_eq!(condition(&hfs, "ChangeDetected").0, "False");
    assert_eq!(condition(&hfs, "Valid").0, "True");
    let reasons: Vec<String> = host_events(store.as_ref(), "default", "h0")
        .unwrap()
        .into_iter()
        .map(|e| e.reason)
        .collect();
    assert!(
        reasons.contains(&"PreparationStarted".to_string()),
        "{reasons:?}"
    );
}
