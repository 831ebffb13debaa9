//! The engine + direct provisioner on an IPMI host against a real peer: OpenIPMI's `ipmi_sim`, with `ipmitool`
//! as the independent witness of every state change (and the reverse).
//! Needs Debian packages openipmi and ipmitool (scripts/setup-peers.sh).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use metal3_bmc::PowerState;
use metal3_hostmodel::OperationalStatus;
use metal3_provisioning::direct::{DirectOptions, DirectProvisioner};
use metal3_provisioning::engine::{Engine, EngineOptions};
use metal3_provisioning::store::{MemoryStore, Store};
use serde_json::json;

// The ipmi_sim harness shared with the IPMI client tests (its configs are
// bmc's test fixtures, so nothing here depends on where ../shared lives).
#[path = "../../bmc/tests/support/ipmi_sim.rs"]
mod ipmi_peer;
use ipmi_peer::Sim;

const SETTLE: Duration = Duration::from_secs(90);

fn setup() -> (Arc<MemoryStore>, Engine) {
    let store = Arc::new(MemoryStore::new());
    let p = Arc::new(DirectProvisioner::new(DirectOptions {
        poll_interval: Duration::from_millis(200),
        // ipmi_sim's chassis may ignore a soft off: fall back to hard quickly.
        soft_power_off_timeout: Duration::from_secs(3),
        power_timeout: Duration::from_secs(30),
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
    (store, e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmi_host_power_on_and_off_with_ipmitool_witness() {
    let sim = Sim::start();
    let (store, e) = setup();
    let key = host_key("ipmi0");
    let addr = format!("ipmi://127.0.0.1:{}", sim.port);
    store
        .create(secret("ipmi0-bmc", "admin", "password"))
        .unwrap();
    store
        .create(host("ipmi0", &addr, json!({"inspectionMode": "disabled"})))
        .unwrap();
    if sim.witness_power() == PowerState::On {
        sim.ipmitool(&["power", "off"]);
    }
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    assert_eq!(state(store.as_ref(), "ipmi0"), "available");
    assert_eq!(sim.witness_power(), PowerState::Off);

    edit_host(store.as_ref(), "ipmi0", |v| {
        v["spec"]["online"] = json!(true)
    });
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    assert_eq!(sim.witness_power(), PowerState::On);
    assert!(
        get_host(store.as_ref(), "ipmi0")
            .unwrap()
            .status
            .unwrap()
            .powered_on
    );

    edit_host(store.as_ref(), "ipmi0", |v| {
        v["spec"]["online"] = json!(false)
    });
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    assert_eq!(sim.witness_power(), PowerState::Off);
    assert!(
        !get_host(store.as_ref(), "ipmi0")
            .unwrap()
            .status
            .unwrap()
            .powered_on
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmi_host_with_inspection_enabled_gets_a_registration_error_naming_the_fix() {
    let sim = Sim::start();
    let (store, e) = setup();
    let key = host_key("ipmi1");
    let addr = format!("ipmi://127.0.0.1:{}", sim.port);
    store
        .create(secret("ipmi1-bmc", "admin", "password"))
        .unwrap();
    store.create(host("ipmi1", &addr, json!({}))).unwrap();
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    let st = get_host(store.as_ref(), "ipmi1").unwrap().status.unwrap();
    assert_eq!(st.operational_status, OperationalStatus::Error);
    assert_eq!(
        st.error_type.map(|t| t.as_str()),
        Some("registration error")
    );
    assert!(
        st.error_message.contains("inspectionMode: disabled"),
        "{}",
        st.error_message
    );
    assert!(
        st.error_message
            .contains("inspect.metal3.io/hardwaredetails"),
        "{}",
        st.error_message
    );
    // Following the message: hardware details given by annotation recover it.
    edit_host(store.as_ref(), "ipmi1", |v| {
        v["metadata"]["annotations"] = json!({
            "inspect.metal3.io/hardwaredetails":
                r#"{"cpu":{"arch":"x86_64","count":2},"nics":[{"name":"eth0","mac":"00:11:22:33:44:55"}]}"#
        });
    });
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    let h = get_host(store.as_ref(), "ipmi1").unwrap();
    let st = h.status.unwrap();
    assert_eq!(
        st.provisioning.state.as_str(),
        "available",
        "{}",
        st.error_message
    );
    assert_eq!(st.operational_status, OperationalStatus::Ok);
    assert_eq!(st.hardware.unwrap().nics[0].mac, "00:11:22:33:44:55");
    assert!(!h
        .metadata
        .annotations
        .contains_key("inspect.metal3.io/hardwaredetails"));
}
