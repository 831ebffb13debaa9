//! The Ironic provisioner driven by the reconcile engine against a REAL
//! OpenStack Ironic standalone on loopback: `fake-hardware` nodes for the
//! full lifecycle (no agent ramdisk exists here), and `redfish` nodes on
//! sushy-tools for real BMC credentials, power and error reporting. Ironic's
//! own node records (read with a plain HTTP client) are the witness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/ironic_peer.rs"]
mod ironic_peer;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::sushy::{self, Sushy};
use common::*;
use ironic_peer::Ironic;
use metal3_hostmodel::hardware::{Cpu, HardwareDetails, Nic, Storage};
use metal3_hostmodel::state::{OutcomeData, PrepareData};
use metal3_hostmodel::OperationalStatus;
use metal3_provisioning::engine::{Engine, EngineOptions};
use metal3_provisioning::ironic::{IronicClient, IronicConfig, IronicOptions, IronicProvisioner};
use metal3_provisioning::provisioner::{HostRef, Provisioner};
use metal3_provisioning::store::{MemoryStore, ObjectKey, Store};
use serde_json::{json, Map, Value};

/// A BMC address Ironic never contacts: the nodes are `fake-hardware`.
const FAKE_ADDR: &str = "redfish+http://127.0.0.1:9/redfish/v1/Systems/1";
const IMAGE_URL: &str = "http://127.0.0.1:9/images/os.qcow2";
const IMAGE_SUM: &str = "6a1f2b0c";

fn shared_ironic() -> &'static Ironic {
    static IRONIC: OnceLock<Ironic> = OnceLock::new();
    IRONIC.get_or_init(Ironic::start)
}

/// Every interface `fake`: the whole lifecycle runs without hardware.
fn fake_hardware() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("driver".into(), json!("fake-hardware"));
    for i in [
        "boot",
        "deploy",
        "inspect",
        "management",
        "power",
        "raid",
        "bios",
        "vendor",
        "firmware",
    ] {
        m.insert(format!("{i}_interface"), json!("fake"));
    }
    m
}

async fn provisioner(
    url: &str,
    store: Arc<dyn Store>,
    overrides: Map<String, Value>,
) -> Arc<IronicProvisioner> {
    let mut cfg = IronicConfig::new(url);
    cfg.conflict_delay = Duration::from_millis(200);
    let client = IronicClient::connect(&cfg)
        .await
        .expect("connect to Ironic");
    let opts = IronicOptions {
        short_poll: Duration::from_millis(300),
        long_poll: Duration::from_millis(500),
        node_overrides: overrides,
        ..IronicOptions::default()
    };
    Arc::new(IronicProvisioner::new(client, opts, Some(store)))
}

fn engine(store: Arc<dyn Store>, p: Arc<IronicProvisioner>) -> Engine {
    Engine::new(
        store,
        p,
        EngineOptions {
            concurrency: 4,
            error_retry_base: Duration::from_millis(200),
            error_retry_max: Duration::from_secs(2),
            ..EngineOptions::default()
        },
    )
}

async fn settle(e: &Engine, name: &str) {
    e.run_hosts_until_settled(&[host_key(name)], Duration::from_secs(150))
        .await
        .unwrap_or_else(|err| {
            let h = get_host(e.store().as_ref(), name);
            panic!(
                "{name} did not settle: {err}; status: {:?}",
                h.and_then(|h| h.status)
            )
        });
}

/// Ironic's record of a node, read with a plain HTTP client (not ours).
async fn raw_node(url: &str, id: &str) -> Option<Value> {
    let r = reqwest::Client::new()
        .get(format!("{url}/v1/nodes/{id}"))
        .header("X-OpenStack-Ironic-API-Version", "1.89")
        .send()
        .await
        .expect("GET node");
    if r.status() == 404 {
        return None;
    }
    assert!(r.status().is_success(), "GET node {id}: {}", r.status());
    Some(r.json().await.expect("node JSON"))
}

async fn raw_get(url: &str, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{url}{path}"))
        .header("X-OpenStack-Ironic-API-Version", "1.89")
        .send()
        .await
        .expect("GET");
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    r.json().await.expect("JSON")
}

fn hardware_annotation(mac: &str) -> String {
    let hw = HardwareDetails {
        cpu: Some(Cpu {
            arch: "x86_64".into(),
            count: 2,
            ..Cpu::default()
        }),
        ram_mebibytes: 4096,
        nics: vec![Nic {
            name: "eth0".into(),
            mac: mac.into(),
            pxe: Some(true),
            ..Nic::default()
        }],
        storage: vec![Storage {
            name: "/dev/vda".into(),
            size_bytes: 20 << 30,
            ..Storage::default()
        }],
        ..HardwareDetails::default()
    };
    serde_json::to_string(&hw).unwrap()
}

/// A fake-hardware host (with its BMC Secret) in the store.
fn add_fake_host(store: &dyn Store, name: &str, mac: &str, extra: Value) {
    store
        .create(secret(&format!("{name}-bmc"), "admin", "pw"))
        .unwrap();
    let mut spec = json!({"bootMACAddress": mac, "automatedCleaningMode": "metadata"});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    let mut h = host(name, FAKE_ADDR, spec);
    h["metadata"]["annotations"] = json!({
        metal3_hostmodel::annotations::HARDWARE_DETAILS: hardware_annotation(mac)
    });
    store.create(h).unwrap();
}

fn image() -> Value {
    json!({"url": IMAGE_URL, "checksum": IMAGE_SUM, "checksumType": "sha256", "format": "qcow2"})
}

fn node_name(host: &str) -> String {
    format!("default~{host}")
}

#[tokio::test]
async fn fake_hardware_host_full_lifecycle_through_the_engine() {
    let url = shared_ironic().url();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = provisioner(&url, store.clone(), fake_hardware()).await;
    let e = engine(store.clone(), p.clone());
    let mac = "52:54:00:10:00:01";
    add_fake_host(
        store.as_ref(),
        "life-0",
        mac,
        json!({"rootDeviceHints": {"deviceName": "/dev/vda"}}),
    );
    let mut ud = secret("life-0-ud", "", "");
    ud["stringData"] = json!({"userData": "#cloud-config\nhostname: life-0\n"});
    store.create(ud).unwrap();
    let mut nd = secret("life-0-nd", "", "");
    nd["stringData"] = json!({"networkData": "links: []\nnetworks: []\nservices: []\n"});
    store.create(nd).unwrap();

    // Enrol → manage (credentials check) → inspect → available.
    settle(&e, "life-0").await;
    assert_eq!(state(store.as_ref(), "life-0"), "available");
    let h = get_host(store.as_ref(), "life-0").unwrap();
    let st = h.status.clone().unwrap();
    let node = raw_node(&url, &node_name("life-0"))
        .await
        .expect("node exists");
    assert_eq!(st.provisioning.id, node["uuid"].as_str().unwrap());
    assert_eq!(node["driver"], "fake-hardware");
    assert_eq!(node["provision_state"], "manageable");
    assert_eq!(node["automated_clean"], true);
    assert_eq!(node["properties"]["capabilities"], "boot_mode:uefi");
    assert_ne!(
        node["driver_info"]["redfish_password"], "pw",
        "Ironic masks it"
    );
    let ports = raw_get(
        &url,
        &format!("/v1/ports?address={mac}&fields=node_uuid,pxe_enabled"),
    )
    .await;
    assert_eq!(ports["ports"][0]["node_uuid"], node["uuid"]);
    assert_eq!(ports["ports"][0]["pxe_enabled"], true);
    assert_eq!(
        st.hardware.as_ref().map(|hw| hw.ram_mebibytes),
        Some(4096),
        "hardware from the annotation stands in for the fake inspection"
    );

    // Provision a qcow2 image with a config drive.
    edit_host(store.as_ref(), "life-0", |v| {
        v["spec"]["image"] = image();
        v["spec"]["userData"] = json!({"name": "life-0-ud"});
        v["spec"]["networkData"] = json!({"name": "life-0-nd"});
        v["spec"]["online"] = json!(true);
    });
    settle(&e, "life-0").await;
    assert_eq!(state(store.as_ref(), "life-0"), "provisioned");
    let h = get_host(store.as_ref(), "life-0").unwrap();
    assert!(h.status.as_ref().unwrap().powered_on);
    let node = raw_node(&url, &node_name("life-0")).await.unwrap();
    assert_eq!(node["provision_state"], "active");
    assert_eq!(node["power_state"], "power on");
    assert_eq!(node["instance_uuid"], json!(h.metadata.uid));
    let ii = &node["instance_info"];
    assert_eq!(ii["image_source"], IMAGE_URL);
    assert_eq!(ii["image_disk_format"], "qcow2");
    assert_eq!(ii["image_os_hash_algo"], "sha256");
    assert_eq!(ii["image_os_hash_value"], IMAGE_SUM);
    assert_eq!(ii["root_device"], json!({"name": "s== /dev/vda"}));
    // Ironic stored the config drive (and masks it in API answers).
    assert_eq!(ii["configdrive"], "******", "{ii}");
    assert_eq!(node["last_error"], Value::Null);

    // Reboot through the annotation: power off then on in Ironic.
    edit_host(store.as_ref(), "life-0", |v| {
        v["metadata"]["annotations"][metal3_hostmodel::annotations::REBOOT] = json!("");
    });
    settle(&e, "life-0").await;
    let h = get_host(store.as_ref(), "life-0").unwrap();
    assert!(!h
        .metadata
        .annotations
        .contains_key(metal3_hostmodel::annotations::REBOOT));
    assert!(h.status.as_ref().unwrap().powered_on);
    let node = raw_node(&url, &node_name("life-0")).await.unwrap();
    assert_eq!(node["power_state"], "power on");

    // Deprovision: tear down with automated cleaning, back to available.
    edit_host(store.as_ref(), "life-0", |v| {
        v["spec"]["image"] = Value::Null;
        v["spec"]["online"] = json!(false);
    });
    settle(&e, "life-0").await;
    assert_eq!(state(store.as_ref(), "life-0"), "available");
    let node = raw_node(&url, &node_name("life-0")).await.unwrap();
    assert_eq!(node["provision_state"], "available");
    assert_eq!(node["automated_clean"], true);
    assert!(node["instance_info"].get("image_source").is_none());

    // Delete the host: the node goes from Ironic.
    store.delete(&host_key("life-0")).unwrap();
    settle(&e, "life-0").await;
    assert!(get_host(store.as_ref(), "life-0").is_none());
    assert!(raw_node(&url, &node_name("life-0")).await.is_none());
    assert!(
        raw_get(&url, &format!("/v1/ports?address={mac}")).await["ports"]
            .as_array()
            .unwrap()
            .is_empty(),
        "the port went with the node"
    );
}

#[tokio::test]
async fn adopts_provisioned_host_after_ironic_loses_its_database() {
    let ironic = Ironic::start();
    let url = ironic.url();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = provisioner(&url, store.clone(), fake_hardware()).await;
    let e = engine(store.clone(), p.clone());
    add_fake_host(
        store.as_ref(),
        "adopt-0",
        "52:54:00:10:00:02",
        json!({"image": image(), "online": true}),
    );
    settle(&e, "adopt-0").await;
    assert_eq!(state(store.as_ref(), "adopt-0"), "provisioned");
    let before = raw_node(&url, &node_name("adopt-0")).await.unwrap();
    assert_eq!(before["provision_state"], "active");

    let ironic = ironic.restart_wiped();
    assert!(
        raw_node(&url, &node_name("adopt-0")).await.is_none(),
        "database is gone"
    );
    // A fresh pass: register again, then adopt instead of redeploying.
    e.enqueue(host_key("adopt-0"));
    settle(&e, "adopt-0").await;
    assert_eq!(state(store.as_ref(), "adopt-0"), "provisioned");
    let h = get_host(store.as_ref(), "adopt-0").unwrap();
    let after = raw_node(&url, &node_name("adopt-0"))
        .await
        .expect("re-registered");
    assert_ne!(after["uuid"], before["uuid"]);
    assert_eq!(
        after["provision_state"], "active",
        "adopted, not redeployed"
    );
    assert_eq!(after["instance_info"]["image_source"], IMAGE_URL);
    assert_eq!(after["instance_uuid"], json!(h.metadata.uid));
    assert_eq!(
        h.status.unwrap().provisioning.id,
        after["uuid"].as_str().unwrap()
    );
    drop(ironic);
}

#[tokio::test]
async fn detach_removes_the_node_and_attach_adopts_it_back() {
    let url = shared_ironic().url();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = provisioner(&url, store.clone(), fake_hardware()).await;
    let e = engine(store.clone(), p.clone());
    add_fake_host(
        store.as_ref(),
        "detach-0",
        "52:54:00:10:00:03",
        json!({"image": image(), "online": true}),
    );
    settle(&e, "detach-0").await;
    assert_eq!(state(store.as_ref(), "detach-0"), "provisioned");

    edit_host(store.as_ref(), "detach-0", |v| {
        v["metadata"]["annotations"][metal3_hostmodel::annotations::DETACHED] = json!("");
    });
    settle(&e, "detach-0").await;
    let h = get_host(store.as_ref(), "detach-0").unwrap();
    let st = h.status.unwrap();
    assert_eq!(st.operational_status, OperationalStatus::Detached);
    assert_eq!(st.provisioning.state.as_str(), "provisioned");
    assert!(
        raw_node(&url, &node_name("detach-0")).await.is_none(),
        "detached: the node is gone from Ironic without deprovisioning"
    );

    edit_host(store.as_ref(), "detach-0", |v| {
        v["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(metal3_hostmodel::annotations::DETACHED);
    });
    settle(&e, "detach-0").await;
    let h = get_host(store.as_ref(), "detach-0").unwrap();
    assert_eq!(h.status.unwrap().operational_status, OperationalStatus::Ok);
    let node = raw_node(&url, &node_name("detach-0"))
        .await
        .expect("attached again");
    assert_eq!(node["provision_state"], "active");
    assert_eq!(node["instance_info"]["image_source"], IMAGE_URL);
}

/// Ironic's BIOS record of a node (name → value), read without our client.
async fn ironic_bios(url: &str, uuid: &str) -> Vec<(String, String)> {
    let bios = raw_get(url, &format!("/v1/nodes/{uuid}/bios")).await;
    let mut out: Vec<(String, String)> = bios["bios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Calls `prepare` as the state machine's preparing step does: once with
/// `data`, then polls until Ironic finished the cleaning.
async fn prepare_until_done(p: &IronicProvisioner, href: &HostRef<'_>, data: &PrepareData) {
    let first = p.prepare(href, data).await;
    assert_eq!(first.data, OutcomeData::Started(true), "{first:?}");
    let done_data = PrepareData {
        unprepared: false,
        ..PrepareData::default()
    };
    let mut last = first;
    for _ in 0..120 {
        last = p.prepare(href, &done_data).await;
        if last.outcome == metal3_hostmodel::state::ActionOutcome::Done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(last.outcome, metal3_hostmodel::state::ActionOutcome::Done);
}

#[tokio::test]
async fn bios_settings_and_raid_go_through_manual_cleaning() {
    let url = shared_ironic().url();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = provisioner(&url, store.clone(), fake_hardware()).await;
    let e = engine(store.clone(), p.clone());
    add_fake_host(store.as_ref(), "prep-0", "52:54:00:10:00:04", json!({}));
    settle(&e, "prep-0").await;
    assert_eq!(state(store.as_ref(), "prep-0"), "available");
    let node = raw_node(&url, &node_name("prep-0")).await.unwrap();
    let uuid = node["uuid"].as_str().unwrap().to_string();

    // The fake BIOS interface has no settings of its own: its
    // apply_configuration step makes Ironic's BIOS record exactly the list
    // the step carries. Give the firmware two settings through a
    // preparation with explicit values.
    let host = get_host(store.as_ref(), "prep-0").unwrap();
    let href = HostRef::new(&host, None);
    let seed = PrepareData {
        unprepared: true,
        firmware_settings: true,
        target_firmware_settings: pairs(&[("NumCores", "8"), ("ProcVirtualization", "Disabled")])
            .into_iter()
            .collect(),
        ..PrepareData::default()
    };
    prepare_until_done(&p, &href, &seed).await;
    let node = raw_node(&url, &node_name("prep-0")).await.unwrap();
    assert_eq!(node["provision_state"], "manageable");
    assert_eq!(
        ironic_bios(&url, &uuid).await,
        pairs(&[("NumCores", "8"), ("ProcVirtualization", "Disabled")]),
        "Ironic applied the settings through the fake BIOS clean step"
    );

    // The user wants virtualization on and (unchanged) 8 cores.
    let hfs_key = ObjectKey::new("HostFirmwareSettings", "default", "prep-0");
    let wanted = json!({"ProcVirtualization": "Enabled", "NumCores": 8});
    metal3_provisioning::store::update_with_retry(
        store.as_ref(),
        &hfs_key,
        metal3_provisioning::store::Subresource::Main,
        |v| {
            v["spec"]["settings"] = wanted.clone();
            Ok(())
        },
    )
    .expect("the engine created the HostFirmwareSettings at registration");

    // Pending but with nothing computed to write: no BIOS step, so no
    // cleaning at all (the stored spec is not read in its place).
    let before = raw_node(&url, &node_name("prep-0")).await.unwrap();
    let idle = p
        .prepare(
            &href,
            &PrepareData {
                unprepared: true,
                firmware_settings: true,
                ..PrepareData::default()
            },
        )
        .await;
    assert_eq!(
        (idle.outcome.clone(), idle.data.clone()),
        (
            metal3_hostmodel::state::ActionOutcome::Done,
            OutcomeData::Started(false)
        ),
        "{idle:?}"
    );
    let after = raw_node(&url, &node_name("prep-0")).await.unwrap();
    assert_eq!(after["provision_state"], "manageable");
    assert_eq!(
        after["provision_updated_at"], before["provision_updated_at"],
        "no state change was asked of Ironic"
    );
    assert_eq!(
        ironic_bios(&url, &uuid).await,
        pairs(&[("NumCores", "8"), ("ProcVirtualization", "Disabled")])
    );

    // Through the engine: it reads the firmware's settings from Ironic, finds
    // one change, prepares, and only that setting reaches Ironic. Had the
    // unchanged NumCores been sent too, the fake would still list it.
    let reasons = || -> Vec<String> {
        metal3_provisioning::engine::host_events(store.as_ref(), "default", "prep-0")
            .unwrap()
            .into_iter()
            .map(|e| e.reason)
            .collect()
    };
    let seen = reasons().len();
    settle(&e, "prep-0").await;
    assert_eq!(state(store.as_ref(), "prep-0"), "available");
    let new_reasons = reasons().split_off(seen);
    assert!(
        new_reasons.iter().any(|r| r == "PreparationStarted"),
        "no preparation for the settings change in {new_reasons:?}"
    );
    assert_eq!(
        ironic_bios(&url, &uuid).await,
        pairs(&[("ProcVirtualization", "Enabled")]),
        "only the changed setting was in Ironic's apply_configuration step"
    );
    // And the status shows what the firmware reports now.
    let hfs = store.get(&hfs_key).unwrap();
    assert_eq!(
        hfs["status"]["settings"],
        json!({"ProcVirtualization": "Enabled"}),
        "{hfs}"
    );

    // RAID through the engine: the target configuration reaches Ironic; the
    // fake RAID interface has no clean steps, and Ironic's refusal reaches
    // the host's status with the node name.
    edit_host(store.as_ref(), "prep-0", |v| {
        v["spec"]["raid"] = json!({"hardwareRAIDVolumes": [{"level": "1", "sizeGibibytes": 10}]});
    });
    settle(&e, "prep-0").await;
    let node = raw_node(&url, &node_name("prep-0")).await.unwrap();
    assert_eq!(
        node["target_raid_config"]["logical_disks"],
        // No is_root_volume: the hardware profile's root hint picks the disk.
        json!([{"size_gb": 10, "raid_level": "1"}])
    );
    let st = get_host(store.as_ref(), "prep-0").unwrap().status.unwrap();
    assert_eq!(st.provisioning.state.as_str(), "preparing");
    assert_eq!(st.operational_status, OperationalStatus::Error);
    assert!(
        st.error_message.contains("node default~prep-0")
            && st.error_message.contains("create_configuration"),
        "{}",
        st.error_message
    );
}

#[tokio::test]
async fn redfish_host_registers_with_real_credentials_and_powers_through_ironic() {
    let url = shared_ironic().url();
    let bmc = Sushy::start(false).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = provisioner(&url, store.clone(), Map::new()).await;
    let e = engine(store.clone(), p.clone());
    let addr = format!(
        "redfish+http://127.0.0.1:{}/redfish/v1/Systems/{}",
        bmc.port,
        sushy::SYS[0]
    );
    store
        .create(secret("rf-0-bmc", sushy::USER, sushy::PASS))
        .unwrap();
    let mut h = host(
        "rf-0",
        &addr,
        json!({"bootMACAddress": "00:5c:52:31:3a:00", "inspectionMode": "disabled"}),
    );
    h["spec"]["automatedCleaningMode"] = json!("disabled");
    store.create(h).unwrap();
    settle(&e, "rf-0").await;
    assert_eq!(state(store.as_ref(), "rf-0"), "available");
    let node = raw_node(&url, &node_name("rf-0")).await.unwrap();
    assert_eq!(node["driver"], "redfish");
    assert_eq!(
        node["provision_state"], "manageable",
        "Ironic verified the BMC"
    );
    assert_eq!(
        node["driver_info"]["redfish_address"],
        format!("http://127.0.0.1:{}", bmc.port)
    );
    assert_eq!(node["driver_info"]["redfish_username"], sushy::USER);
    assert_ne!(node["driver_info"]["redfish_password"], sushy::PASS);

    edit_host(store.as_ref(), "rf-0", |v| {
        v["spec"]["online"] = json!(true)
    });
    settle(&e, "rf-0").await;
    let sys = bmc
        .raw_get(&format!("/redfish/v1/Systems/{}", sushy::SYS[0]))
        .await;
    assert_eq!(sys["PowerState"], "On", "sushy's own view");
    assert!(
        get_host(store.as_ref(), "rf-0")
            .unwrap()
            .status
            .unwrap()
            .powered_on
    );

    edit_host(store.as_ref(), "rf-0", |v| {
        v["spec"]["online"] = json!(false)
    });
    settle(&e, "rf-0").await;
    let sys = bmc
        .raw_get(&format!("/redfish/v1/Systems/{}", sushy::SYS[0]))
        .await;
    assert_eq!(sys["PowerState"], "Off");

    // The BMC goes away: the failed power change reaches the host's status.
    drop(bmc);
    edit_host(store.as_ref(), "rf-0", |v| {
        v["spec"]["online"] = json!(true)
    });
    settle(&e, "rf-0").await;
    let st = get_host(store.as_ref(), "rf-0").unwrap().status.unwrap();
    assert_eq!(st.operational_status, OperationalStatus::Error);
    assert!(
        st.error_message.contains("node default~rf-0") && st.error_message.contains("power on"),
        "{}",
        st.error_message
    );
    store.delete(&host_key("rf-0")).unwrap();
    settle(&e, "rf-0").await;
    assert!(raw_node(&url, &node_name("rf-0")).await.is_none());
}

#[tokio::test]
async fn bad_bmc_credentials_reach_the_host_status() {
    let url = shared_ironic().url();
    let bmc = Sushy::start(false).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = provisioner(&url, store.clone(), Map::new()).await;
    let e = engine(store.clone(), p.clone());
    let addr = format!(
        "redfish+http://127.0.0.1:{}/redfish/v1/Systems/{}",
        bmc.port,
        sushy::SYS[1]
    );
    store
        .create(secret("rf-bad-bmc", sushy::USER, "wrong-password"))
        .unwrap();
    let mut h = host(
        "rf-bad",
        &addr,
        json!({"bootMACAddress": "00:5c:52:31:3a:01", "inspectionMode": "disabled"}),
    );
    h["spec"]["automatedCleaningMode"] = json!("disabled");
    store.create(h).unwrap();
    settle(&e, "rf-bad").await;
    let st = get_host(store.as_ref(), "rf-bad").unwrap().status.unwrap();
    assert_eq!(st.operational_status, OperationalStatus::Error);
    assert_eq!(st.provisioning.state.as_str(), "registering");
    assert!(
        st.error_message.contains("node default~rf-bad"),
        "{}",
        st.error_message
    );
    assert!(
        !st.error_message.contains("wrong-password"),
        "{}",
        st.error_message
    );
    let node = raw_node(&url, &node_name("rf-bad")).await.unwrap();
    assert_eq!(
        node["provision_state"], "enroll",
        "Ironic refused to manage it"
    );
    assert!(node["last_error"].as_str().is_some_and(|e| !e.is_empty()));
}

#[tokio::test]
async fn live_iso_asks_ironic_for_a_ramdisk_deploy_without_a_config_drive() {
    let url = shared_ironic().url();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = provisioner(&url, store.clone(), fake_hardware()).await;
    let e = engine(store.clone(), p.clone());
    let iso = "http://127.0.0.1:9/images/live.iso";
    add_fake_host(
        store.as_ref(),
        "iso-0",
        "52:54:00:10:00:05",
        json!({"image": {"url": iso, "format": "live-iso"}, "online": true,
               "automatedCleaningMode": "disabled"}),
    );
    settle(&e, "iso-0").await;
    let node = raw_node(&url, &node_name("iso-0")).await.unwrap();
    assert_eq!(node["deploy_interface"], "ramdisk");
    assert_eq!(node["instance_info"]["boot_iso"], iso);
    assert!(node["instance_info"].get("image_source").is_none());
    assert!(
        node["instance_info"].get("configdrive").is_none(),
        "no config drive for a live ISO"
    );
    // Ironic's ramdisk deploy needs a boot interface that can boot a
    // ramdisk, which `fake` cannot: its validation error reaches the host.
    assert_eq!(node["provision_state"], "available", "not deployed");
    let st = get_host(store.as_ref(), "iso-0").unwrap().status.unwrap();
    assert_eq!(st.operational_status, OperationalStatus::Error);
    assert!(
        st.error_message
            .starts_with("node default~iso-0: host validation error: deploy:")
            && st.error_message.contains("ramdisk_boot"),
        "{}",
        st.error_message
    );
}

/// `online: false` on a provisioned host is a soft power off in Ironic
/// (Metal³'s default reboot mode), not a hard one: Ironic's own log line
/// for the power action is the witness.
#[tokio::test]
async fn online_false_powers_a_provisioned_node_off_softly() {
    let ironic = shared_ironic();
    let url = ironic.url();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = provisioner(&url, store.clone(), fake_hardware()).await;
    let e = engine(store.clone(), p.clone());
    add_fake_host(store.as_ref(), "soft-0", "52:54:00:10:00:21", json!({}));
    settle(&e, "soft-0").await;
    edit_host(store.as_ref(), "soft-0", |v| {
        v["spec"]["image"] = image();
        v["spec"]["online"] = json!(true);
    });
    settle(&e, "soft-0").await;
    assert_eq!(state(store.as_ref(), "soft-0"), "provisioned");
    let node = raw_node(&url, &node_name("soft-0")).await.unwrap();
    assert_eq!(node["power_state"], "power on");
    let uuid = node["uuid"].as_str().unwrap().to_string();

    edit_host(store.as_ref(), "soft-0", |v| {
        v["spec"]["online"] = json!(false);
    });
    settle(&e, "soft-0").await;
    let h = get_host(store.as_ref(), "soft-0").unwrap();
    let st = h.status.unwrap();
    assert!(!st.powered_on, "{st:?}");
    assert_eq!(st.provisioning.state.as_str(), "provisioned", "image kept");
    let node = raw_node(&url, &uuid).await.unwrap();
    assert_eq!(node["power_state"], "power off");
    assert_eq!(node["provision_state"], "active");
    let log = std::fs::read_to_string(ironic.conf.with_file_name("ironic.log")).unwrap();
    let actions: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains(&format!(
                "Successfully set node {uuid} power state to power off"
            ))
        })
        .collect();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(
        actions[0].contains("by soft power off"),
        "a hard power off: {}",
        actions[0]
    );
}

/// `customDeploy` asks Ironic for the `custom-agent` deploy interface with
/// the method as a deploy step. This Ironic cannot run an agent deployment
/// (no API URL for an agent is configured), so its deployment fails in
/// Ironic: the node's `last_error` reaches the host's errorMessage with
/// the node name, and the host settles in error.
#[tokio::test]
async fn custom_deploy_uses_custom_agent_and_a_deploy_failure_reaches_the_host() {
    let url = shared_ironic().url();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = provisioner(&url, store.clone(), fake_hardware()).await;
    let e = engine(store.clone(), p.clone());
    // Cleaning, like the deployment, would need the agent here.
    add_fake_host(
        store.as_ref(),
        "cd-0",
        "52:54:00:10:00:22",
        json!({"automatedCleaningMode": "disabled"}),
    );
    settle(&e, "cd-0").await;
    assert_eq!(state(store.as_ref(), "cd-0"), "available");
    edit_host(store.as_ref(), "cd-0", |v| {
        v["spec"]["customDeploy"] = json!({"method": "install_great_os"});
        v["spec"]["online"] = json!(true);
    });
    settle(&e, "cd-0").await;

    let node = raw_node(&url, &node_name("cd-0")).await.unwrap();
    assert_eq!(node["deploy_interface"], "custom-agent", "{node}");
    assert_eq!(node["provision_state"], "deploy failed", "{node}");
    assert!(
        node["instance_info"].get("image_source").is_none(),
        "{node}"
    );
    let last_error = node["last_error"].as_str().expect("Ironic's last_error");
    assert!(!last_error.is_empty());
    let st = get_host(store.as_ref(), "cd-0").unwrap().status.unwrap();
    assert_eq!(st.provisioning.state.as_str(), "provisioning");
    assert_eq!(st.operational_status, OperationalStatus::Error);
    assert!(
        st.error_message
            .contains(&format!("node default~cd-0: {last_error}")),
        "{}",
        st.error_message
    );
}
