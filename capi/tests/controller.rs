//! Store-backed reconcilers over the in-memory store: association, data
//! rendering with IP claims, provisioning hand-off, deletion with IP release
//! and node reuse, remediation by reboot. The host engine's part (state
//! changes, power) is played by writing host status directly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use metal3_capi::controller::*;
use metal3_capi::{Metal3Data, Metal3Machine, Metal3Remediation};
use metal3_hostmodel::store::{update_with_retry, ObjectKey, Store, StoreExt, Subresource};
use metal3_hostmodel::time::Time;
use metal3_hostmodel::BareMetalHost;
use metal3_ipam::{IPAddress, IPClaim, IPPool};
use metal3_provisioning::store::MemoryStore;
use serde_json::{json, Value};

const NS: &str = "metal3";

fn seed(store: &dyn Store) {
    for i in 0..3 {
        store
            .create(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("node-{i}-bmc"), "namespace": NS},
                "type": "Opaque", "stringData": {"username": "u", "password": "p"}}))
            .unwrap();
        store
            .create(json!({
                "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                "metadata": {"name": format!("node-{i}"), "namespace": NS},
                "spec": {"online": false, "bootMACAddress": format!("52:54:00:00:00:0{i}"),
                         "bmc": {"address": format!("redfish-virtualmedia://127.0.0.1:8000/redfish/v1/Systems/{i}"),
                                 "credentialsName": format!("node-{i}-bmc")}},
                "status": {"operationalStatus": "OK", "errorMessage": "", "poweredOn": false,
                           "provisioning": {"state": "available", "ID": ""},
                           "hardware": {"hostname": format!("node-{i}"), "ramMebibytes": 0, "storage": [],
                                        "nics": [{"name": "eth0", "mac": format!("52:54:00:00:00:0{i}"), "ip": "", "speedGbps": 0, "model": ""}]}}
            }))
            .unwrap();
    }
    store
        .create(
            json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
            "metadata": {"name": "prov", "namespace": NS},
            "spec": {"namePrefix": "prov", "prefix": 24, "gateway": "192.168.10.1",
                     "pools": [{"start": "192.168.10.20", "end": "192.168.10.29"}]}}),
        )
        .unwrap();
    store
        .create(json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3DataTemplate",
            "metadata": {"name": "workers", "namespace": NS},
            "spec": {"clusterName": "c1",
                     "metaData": {"ipAddressesFromIPPool": [{"key": "ip", "name": "prov"}]},
                     "networkData": {"links": {"ethernets": [{"type": "phy", "id": "eth0", "macAddress": {"fromHostInterface": "eth0"}}]},
                                     "networks": {"ipv4": [{"id": "prov", "link": "eth0", "ipAddressFromIPPool": "prov"}]}}}}))
        .unwrap();
    store
        .create(json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3MachineTemplate",
            "metadata": {"name": "workers", "namespace": NS},
            "spec": {"nodeReuse": true, "template": {"spec": {
                "image": {"url": "http://img/live.iso", "format": "live-iso"},
                "automatedCleaningMode": "disabled",
                "dataTemplate": {"name": "workers"}}}}}))
        .unwrap();
}

fn add_machine(store: &dyn Store, name: &str) {
    store
        .create(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("{name}-user-data"), "namespace": NS},
            "type": "Opaque", "stringData": {"value": "#cloud-config\n"}}))
        .unwrap();
    let machine = store
        .create(json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
            "metadata": {"name": name, "namespace": NS, "labels": {"cluster.x-k8s.io/deployment-name": "workers"}},
            "spec": {"clusterName": "c1", "bootstrap": {"dataSecretName": format!("{name}-user-data")},
                     "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                                           "kind": "Metal3Machine", "name": name}}}))
        .unwrap();
    let tmpl: Value = store
        .get(&ObjectKey::new(M3MT_KIND, NS, "workers"))
        .unwrap();
    store
        .create(json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Machine",
            "metadata": {"name": name, "namespace": NS,
                         "annotations": {"cluster.x-k8s.io/cloned-from-name": "workers",
                                         "cluster.x-k8s.io/cloned-from-groupkind": "Metal3MachineTemplate.infrastructure.cluster.x-k8s.io"},
                         "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
                                              "name": name, "uid": machine["metadata"]["uid"]}]},
            "spec": tmpl["spec"]["template"]["spec"]}))
        .unwrap();
}

fn m3m_key(name: &str) -> ObjectKey {
    ObjectKey::new(M3M_KIND, NS, name)
}

/// Reconciles until the pass reports `Done` or a wait containing `until`.
fn drive(store: &dyn Store, ctx: &MachineContext, name: &str, until: &str) -> Next {
    for _ in 0..40 {
        let next = reconcile_machine(store, ctx, &m3m_key(name)).unwrap();
        match &next {
            Next::Done => return next,
            Next::Requeue { reason, .. } if reason.contains(until) => return next,
            Next::Requeue { .. } => {}
        }
    }
    panic!("{name}: no progress towards {until:?}");
}

fn host_of(store: &dyn Store, m3m: &str) -> BareMetalHost {
    let m: Metal3Machine = store.get_as(&m3m_key(m3m)).unwrap();
    let (_, h) = m.metadata.annotations["metal3.io/BareMetalHost"]
        .split_once('/')
        .unwrap();
    store.get_as(&ObjectKey::new(HOST_KIND, NS, h)).unwrap()
}

/// Plays the engine: sets the host's provisioning state and power.
fn engine_sets(store: &dyn Store, host: &str, state: &str, powered_on: bool) {
    update_with_retry(
        store,
        &ObjectKey::new(HOST_KIND, NS, host),
        Subresource::Status,
        |v| {
            v["status"]["provisioning"]["state"] = json!(state);
            v["status"]["poweredOn"] = json!(powered_on);
            Ok(())
        },
    )
    .unwrap();
}

fn secret_text(store: &dyn Store, name: &str, key: &str) -> String {
    let s: metal3_hostmodel::Secret = store
        .get_as(&ObjectKey::new(SECRET_KIND, NS, name))
        .unwrap();
    s.get_string(key).unwrap().unwrap()
}

#[test]
fn machines_get_hosts_rendered_data_and_provider_ids() {
    let store = MemoryStore::new();
    seed(&store);
    let ctx = MachineContext::new(42);
    let mut ips = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for i in 0..3 {
        let name = format!("w-{i}");
        add_machine(&store, &name);
        drive(&store, &ctx, &name, "available");
        let host = host_of(&store, &name);
        assert!(
            hosts.insert(host.metadata.name.clone()),
            "host chosen twice"
        );
        let cref = host.spec.consumer_ref.as_ref().unwrap();
        assert_eq!(
            (cref.kind.as_str(), cref.name.as_str()),
            ("Metal3Machine", name.as_str())
        );
        assert_eq!(host.metadata.labels["cluster.x-k8s.io/cluster-name"], "c1");
        assert!(host.spec.online);
        assert_eq!(host.spec.image.as_ref().unwrap().url, "http://img/live.iso");
        assert_eq!(
            host.spec.user_data.as_ref().unwrap().name,
            format!("{name}-user-data")
        );
        assert_eq!(
            host.spec.meta_data.as_ref().unwrap().name,
            format!("{name}-metadata")
        );
        assert_eq!(
            host.spec.network_data.as_ref().unwrap().name,
            format!("{name}-networkdata")
        );
        assert_eq!(
            host.spec
                .automated_cleaning_mode
                .map(|m| serde_json::to_value(m).unwrap()),
            Some(json!("disabled"))
        );
        // The BMC secret is labelled with the cluster.
        let bmc: Value = store
            .get(&ObjectKey::new(
                SECRET_KIND,
                NS,
                &host.spec.bmc.credentials_name,
            ))
            .unwrap();
        assert_eq!(
            bmc["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"],
            "c1"
        );

        let data: Metal3Data = store
            .get_as(&ObjectKey::new(DATA_KIND, NS, &format!("workers-{i}")))
            .unwrap();
        assert_eq!(data.status.as_ref().unwrap().ready, Some(true));
        let md = secret_text(&store, &format!("{name}-metadata"), "metaData");
        let ip = md
            .lines()
            .find_map(|l| l.strip_prefix("ip: "))
            .unwrap()
            .to_string();
        assert_eq!(
            md,
            format!("ip: {ip}\nproviderid: {NS}/{}/{name}\n", host.metadata.name)
        );
        let nd = secret_text(&store, &format!("{name}-networkdata"), "networkData");
        assert!(nd.contains(&format!("  ip_address: {ip}\n")), "{nd}");
        assert!(ips.insert(ip.clone()), "address {ip} given twice");
        let claim: IPClaim = store
            .get_as(&ObjectKey::new(
                IPCLAIM_KIND,
                NS,
                &format!("workers-{i}-prov"),
            ))
            .unwrap();
        assert!(claim
            .metadata
            .finalizers
            .contains(&"ipclaim.ipam.metal3.io".to_string()));

        engine_sets(&store, &host.metadata.name, "provisioned", true);
        assert_eq!(drive(&store, &ctx, &name, "-"), Next::Done);
        let m: Metal3Machine = store.get_as(&m3m_key(&name)).unwrap();
        assert_eq!(
            m.spec.provider_id.as_deref(),
            Some(format!("metal3://{NS}/{}/{name}", host.metadata.name).as_str())
        );
        assert_eq!(m.status.as_ref().unwrap().ready, Some(true));
        assert_eq!(machine_phase(&m, Some(&host)), "Provisioned");
    }
    assert_eq!(
        ips,
        BTreeSet::from([
            "192.168.10.20".into(),
            "192.168.10.21".into(),
            "192.168.10.22".into()
        ])
    );
    let pool: IPPool = store
        .get_as(&ObjectKey::new(IPPOOL_KIND, NS, "prov"))
        .unwrap();
    assert_eq!(pool.status.unwrap().allocations.len(), 3);
    // The v1beta1 template records claim → index as a map.
    let t: Value = store
        .get(&ObjectKey::new(M3DT_KIND, NS, "workers"))
        .unwrap();
    assert_eq!(
        t["status"]["indexes"],
        json!({"w-0": 0, "w-1": 1, "w-2": 2})
    );

    // No fourth host: the machine waits.
    add_machine(&store, "w-3");
    assert_eq!(
        drive(&store, &ctx, "w-3", "no available host"),
        Next::after(30, "no available host found. Requeuing")
    );
}

#[test]
fn delete_releases_ips_and_node_reuse_keeps_the_host() {
    let store = MemoryStore::new();
    seed(&store);
    let ctx = MachineContext::new(7);
    add_machine(&store, "w-0");
    drive(&store, &ctx, "w-0", "available");
    let host = host_of(&store, "w-0").metadata.name;
    engine_sets(&store, &host, "provisioned", true);
    drive(&store, &ctx, "w-0", "-");
    assert_eq!(
        store
            .list(IPADDRESS_KIND, Some(NS), None)
            .unwrap()
            .items
            .len(),
        1
    );

    store.delete(&m3m_key("w-0")).unwrap();
    let next = drive(&store, &ctx, "w-0", "provisioned");
    assert!(matches!(next, Next::Requeue { .. }));
    let h: BareMetalHost = store.get_as(&ObjectKey::new(HOST_KIND, NS, &host)).unwrap();
    assert!(h.spec.image.is_none() && h.spec.user_data.is_none() && h.spec.meta_data.is_none());
    assert!(!h.spec.online);
    // Metadata went first: IPs released, Metal3Data, claim and Secrets gone.
    assert!(store
        .list(IPADDRESS_KIND, Some(NS), None)
        .unwrap()
        .items
        .is_empty());
    assert!(store
        .list(IPCLAIM_KIND, Some(NS), None)
        .unwrap()
        .items
        .is_empty());
    assert!(store
        .list(DATA_KIND, Some(NS), None)
        .unwrap()
        .items
        .is_empty());
    assert!(store
        .list(CLAIM_KIND, Some(NS), None)
        .unwrap()
        .items
        .is_empty());
    assert!(store
        .get(&ObjectKey::new(SECRET_KIND, NS, "w-0-metadata"))
        .unwrap_err()
        .is_not_found());
    let pool: IPPool = store
        .get_as(&ObjectKey::new(IPPOOL_KIND, NS, "prov"))
        .unwrap();
    assert!(pool.status.unwrap().allocations.is_empty());
    let t: Value = store
        .get(&ObjectKey::new(M3DT_KIND, NS, "workers"))
        .unwrap();
    assert_eq!(t["status"]["indexes"], json!({}));

    engine_sets(&store, &host, "available", false);
    assert_eq!(drive(&store, &ctx, "w-0", "-"), Next::Done);
    assert!(store.get(&m3m_key("w-0")).unwrap_err().is_not_found());
    let h: BareMetalHost = store.get_as(&ObjectKey::new(HOST_KIND, NS, &host)).unwrap();
    assert_eq!(
        h.metadata.labels["infrastructure.cluster.x-k8s.io/node-reuse"],
        "md-workers"
    );
    assert_eq!(h.spec.consumer_ref.as_ref().unwrap().kind, "Cluster");
    assert!(!h
        .metadata
        .labels
        .contains_key("cluster.x-k8s.io/cluster-name"));

    // A new machine of the same deployment takes the reused host, whatever the seed.
    store
        .delete(&ObjectKey::new(MACHINE_KIND, NS, "w-0"))
        .unwrap();
    store
        .delete(&ObjectKey::new(SECRET_KIND, NS, "w-0-user-data"))
        .unwrap();
    add_machine(&store, "w-9");
    drive(&store, &ctx, "w-9", "available");
    let again = host_of(&store, "w-9");
    assert_eq!(again.metadata.name, host);
    assert!(!again
        .metadata
        .labels
        .contains_key("infrastructure.cluster.x-k8s.io/node-reuse"));
    assert_eq!(again.spec.consumer_ref.as_ref().unwrap().name, "w-9");
    let addrs: Vec<IPAddress> = store.list_as(IPADDRESS_KIND, Some(NS), None).unwrap();
    assert_eq!(addrs[0].spec.address, "192.168.10.20");
}

#[test]
fn remediation_reboots_the_host() {
    let store = MemoryStore::new();
    seed(&store);
    let ctx = MachineContext::new(1);
    add_machine(&store, "w-0");
    drive(&store, &ctx, "w-0", "available");
    let host = host_of(&store, "w-0").metadata.name;
    engine_sets(&store, &host, "provisioned", true);
    drive(&store, &ctx, "w-0", "-");
    let machine: Value = store.get(&ObjectKey::new(MACHINE_KIND, NS, "w-0")).unwrap();
    store
        .create(json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Remediation",
            "metadata": {"name": "w-0", "namespace": NS,
                         "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
                                              "name": "w-0", "uid": machine["metadata"]["uid"]}]},
            "spec": {"strategy": {"type": "Reboot", "retryLimit": 1, "timeout": "5m0s"}}}))
        .unwrap();
    let rkey = ObjectKey::new(REMEDIATION_KIND, NS, "w-0");
    let now = Time::now();
    let mut phases = Vec::new();
    let mut step = |store: &MemoryStore| {
        let p = reconcile_remediation(store, &rkey, now).unwrap();
        phases.push(p.phase.clone());
        p
    };
    // Running: finalizer, then the reboot annotation; waits while powered on.
    for _ in 0..4 {
        step(&store);
    }
    let h: BareMetalHost = store.get_as(&ObjectKey::new(HOST_KIND, NS, &host)).unwrap();
    let rem: Metal3Remediation = store.get_as(&rkey).unwrap();
    let ann = format!(
        "reboot.metal3.io/metal3-remediation-{}",
        rem.metadata.uid.clone().unwrap()
    );
    assert_eq!(h.metadata.annotations[&ann], r#"{"mode":"hard"}"#);
    assert_eq!(
        rem.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    // The engine powers it off: Waiting, and the annotation goes (power back on).
    engine_sets(&store, &host, "provisioned", false);
    step(&store);
    step(&store);
    let h: BareMetalHost = store.get_as(&ObjectKey::new(HOST_KIND, NS, &host)).unwrap();
    assert!(!h.metadata.annotations.contains_key(&ann));
    engine_sets(&store, &host, "provisioned", true);
    let p = step(&store);
    let p = if p.rebooted { p } else { step(&store) };
    assert!(p.rebooted, "{p:?}");
    assert_eq!(p.phase, "Waiting");
    assert_eq!(p.host, host);
    assert_eq!(phases.first().map(String::as_str), Some("Running"));
}

#[test]
fn template_cleaning_mode_reaches_machine_and_host() {
    let store = MemoryStore::new();
    seed(&store);
    let ctx = MachineContext::new(3);
    add_machine(&store, "w-0");
    drive(&store, &ctx, "w-0", "available");
    let host = host_of(&store, "w-0").metadata.name;
    engine_sets(&store, &host, "provisioned", true);
    drive(&store, &ctx, "w-0", "-");
    update_with_retry(
        &store,
        &ObjectKey::new(M3MT_KIND, NS, "workers"),
        Subresource::Main,
        |v| {
            v["spec"]["template"]["spec"]["automatedCleaningMode"] = json!("metadata");
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(drive(&store, &ctx, "w-0", "-"), Next::Done);
    let m: Value = store.get(&m3m_key("w-0")).unwrap();
    assert_eq!(m["spec"]["automatedCleaningMode"], "metadata");
    let h: Value = store.get(&ObjectKey::new(HOST_KIND, NS, &host)).unwrap();
    assert_eq!(h["spec"]["automatedCleaningMode"], "metadata");
}

#[test]
fn paused_cluster_pauses_the_host_and_unpausing_releases_it() {
    let store = MemoryStore::new();
    seed(&store);
    let ctx = MachineContext::new(5);
    add_machine(&store, "w-0");
    drive(&store, &ctx, "w-0", "available");
    let host = host_of(&store, "w-0").metadata.name;
    let hkey = ObjectKey::new(HOST_KIND, NS, &host);
    let h: Value = store.get(&hkey).unwrap();
    assert_eq!(
        h["metadata"]["annotations"]["clusterctl.cluster.x-k8s.io/block-move"],
        ""
    );
    store
        .create(
            json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": {"name": "c1", "namespace": NS}, "spec": {"paused": true}}),
        )
        .unwrap();
    assert_eq!(
        reconcile_machine(&store, &ctx, &m3m_key("w-0")).unwrap(),
        Next::after(30, "paused")
    );
    let h: Value = store.get(&hkey).unwrap();
    let ann = &h["metadata"]["annotations"];
    assert_eq!(ann["baremetalhost.metal3.io/paused"], "metal3.io/capm3");
    assert!(ann["baremetalhost.metal3.io/status"]
        .as_str()
        .unwrap()
        .contains("\"provisioning\""));
    assert!(
        ann.get("clusterctl.cluster.x-k8s.io/block-move").is_none(),
        "{ann}"
    );
    update_with_retry(
        &store,
        &ObjectKey::new(CLUSTER_KIND, NS, "c1"),
        Subresource::Main,
        |v| {
            v["spec"]["paused"] = json!(false);
            Ok(())
        },
    )
    .unwrap();
    let next = reconcile_machine(&store, &ctx, &m3m_key("w-0")).unwrap();
    assert_ne!(next, Next::after(30, "paused"));
    let h: Value = store.get(&hkey).unwrap();
    let ann = &h["metadata"]["annotations"];
    assert!(ann.get("baremetalhost.metal3.io/paused").is_none(), "{ann}");
    // Block-move comes back on the next pass, as upstream re-adds it every reconcile.
    reconcile_machine(&store, &ctx, &m3m_key("w-0")).unwrap();
    let h: Value = store.get(&hkey).unwrap();
    assert_eq!(
        h["metadata"]["annotations"]["clusterctl.cluster.x-k8s.io/block-move"],
        ""
    );
}

/// v1beta2 objects (renamed fields `ipAddressesFromPool`, `diskFormat`) go
/// through the same chain; the machine is marked `initialization.provisioned`
/// and the template's `status.indexes` is the v1beta2 list.
#[test]
fn v1beta2_objects_are_reconciled_in_their_version() {
    let store = MemoryStore::new();
    seed(&store);
    let v2 = "infrastructure.cluster.x-k8s.io/v1beta2";
    for (kind, spec) in [
        (
            M3DT_KIND,
            json!({"metaData": {"ipAddressesFromPool": [{"key": "ip", "name": "prov"}]}}),
        ),
        (
            M3MT_KIND,
            json!({"template": {"spec": {
            "image": {"url": "http://img/live.iso", "diskFormat": "live-iso"},
            "dataTemplate": {"name": "workers"}}}}),
        ),
    ] {
        update_with_retry(
            &store,
            &ObjectKey::new(kind, NS, "workers"),
            Subresource::Main,
            |v| {
                v["apiVersion"] = json!(v2);
                v["spec"] = spec.clone();
                Ok(())
            },
        )
        .unwrap();
    }
    add_machine(&store, "w-0");
    update_with_retry(&store, &m3m_key("w-0"), Subresource::Main, |v| {
        v["apiVersion"] = json!(v2);
        Ok(())
    })
    .unwrap();
    drive(&store, &ctx_for_v2(), "w-0", "available");
    let host = host_of(&store, "w-0");
    assert_eq!(
        serde_json::to_value(host.spec.image.as_ref().unwrap()).unwrap()["format"],
        "live-iso"
    );
    let md = secret_text(&store, "w-0-metadata", "metaData");
    assert!(md.starts_with("ip: 192.168.10.20\n"), "{md}");
    engine_sets(&store, &host.metadata.name, "provisioned", true);
    drive(&store, &ctx_for_v2(), "w-0", "-");
    let m: Value = store.get(&m3m_key("w-0")).unwrap();
    assert_eq!(m["apiVersion"], v2);
    assert_eq!(m["status"]["initialization"]["provisioned"], true, "{m}");
    assert!(m["status"].get("ready").is_none(), "{m}");
    let t: Value = store
        .get(&ObjectKey::new(M3DT_KIND, NS, "workers"))
        .unwrap();
    assert_eq!(t["status"]["indexes"], json!([{"name": "w-0", "index": 0}]));
}

fn ctx_for_v2() -> MachineContext {
    MachineContext::new(9)
}
