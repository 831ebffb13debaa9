//! The Cluster API verbs of the built `metal3ctl`: `render` offline, and
//! `machine create|delete`, `remediate` end to end on sushy-tools' Redfish
//! emulator (live ISO with the direct provisioner), with raw GETs of the
//! emulator as witness.
//!
//! The end-to-end test needs the peers venv (METAL3_PEERS_VENV or
//! <repo>/.venv): run `bash scripts/setup-peers.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The sushy-tools harness shared with the bmc and provisioning tests.
#[path = "../../bmc/tests/support/sushy.rs"]
mod sushy;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use metal3_hostmodel::Secret;
use serde_json::{json, Value};
use sushy::{Sushy, PASS, SYS, USER};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("metal3ctl-capi-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ctl(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(args)
        .env("METAL3CTL_STORE", store)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(store: &Path, args: &[&str]) -> String {
    let out = ctl(store, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "metal3ctl {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn err(store: &Path, args: &[&str]) -> String {
    let out = ctl(store, args);
    assert!(!out.status.success(), "metal3ctl {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const HOST: &str = r#"
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata: {name: node-0, labels: {rack: r1}}
spec:
  online: false
  bootMACAddress: "52:54:00:aa:bb:00"
  bmc: {address: "redfish://127.0.0.1:8000/redfish/v1/Systems/1", credentialsName: node-0-bmc}
status:
  operationalStatus: OK
  errorMessage: ""
  poweredOn: false
  provisioning: {state: available, ID: ""}
  hardware:
    hostname: node-0
    ramMebibytes: 0
    storage: []
    nics:
    - {name: eth0, mac: "52:54:00:aa:bb:00", ip: "", speedGbps: 0, model: ""}
    - {name: eth1, mac: "52:54:00:aa:bb:01", ip: "", speedGbps: 0, model: ""}
"#;

const TEMPLATE: &str = r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: Metal3DataTemplate
metadata: {name: workers}
spec:
  clusterName: c1
  metaData:
    strings: [{key: role, value: worker}]
    indexes: [{key: node_index, offset: 10, step: 2, prefix: "n-"}]
    ipAddressesFromIPPool: [{key: ip, name: prov}]
    fromLabels: [{key: rack, object: baremetalhost, label: rack}]
  networkData:
    links:
      ethernets:
      - {type: phy, id: eth0, macAddress: {fromHostInterface: eth0}}
    networks:
      ipv4:
      - id: prov
        link: eth0
        ipAddressFromIPPool: prov
        routes:
        - {network: 0.0.0.0, prefix: 0, gateway: {fromIPPool: prov}}
    services:
      dnsFromIPPool: prov
---
apiVersion: ipam.metal3.io/v1alpha1
kind: IPPool
metadata: {name: prov}
spec:
  namePrefix: prov
  prefix: 24
  gateway: 192.168.10.1
  dnsServers: [192.168.10.2]
  pools: [{start: 192.168.10.20, end: 192.168.10.29}]
"#;

#[test]
fn render_prints_metadata_and_network_data_offline() {
    let d = Dir::new("render");
    let store = d.0.join("store.db");
    let t = d.file("template.yaml", TEMPLATE);
    let h = d.file("host.yaml", HOST);
    let out = ok(
        &store,
        &[
            "render", "workers", "--host", "node-0", "--index", "3", "-f", &t, "-f", &h,
        ],
    );
    assert_eq!(
        out,
        "\
# metaData (Secret node-0-metadata, Metal3Data workers-3)
ip: 192.168.10.20
node_index: n-16
providerid: default/node-0/node-0
rack: r1
role: worker
---
# networkData (Secret node-0-networkdata, Metal3Data workers-3)
links:
- ethernet_mac_address: 52:54:00:aa:bb:00
  id: eth0
  mtu: 1500
  type: phy
networks:
- id: prov
  ip_address: 192.168.10.20
  link: eth0
  netmask: 255.255.255.0
  routes:
  - gateway: 192.168.10.1
    netmask: 0.0.0.0
    network: 0.0.0.0
    services: []
  type: ipv4
services:
- address: 192.168.10.2
  type: dns
"
    );
    // The store is never touched.
    assert!(!store.exists());

    // Addresses already taken in the input are skipped; --only prints the raw Secret value.
    let taken = d.file(
        "taken.yaml",
        "apiVersion: ipam.metal3.io/v1alpha1\nkind: IPAddress\nmetadata: {name: prov-192-168-10-20}\n\
         spec: {address: 192.168.10.20, prefix: 24, pool: {name: prov}, claim: {name: workers-7-prov}}\n",
    );
    let md = ok(
        &store,
        &[
            "render",
            "workers",
            "--host",
            "node-0",
            "--machine",
            "w-1",
            "--only",
            "metadata",
            "-f",
            &t,
            "-f",
            &h,
            "-f",
            &taken,
        ],
    );
    assert_eq!(
        md,
        "ip: 192.168.10.21\nnode_index: n-10\nproviderid: default/node-0/w-1\nrack: r1\nrole: worker\n"
    );
}

#[test]
fn render_names_what_is_missing() {
    let d = Dir::new("render-missing");
    let store = d.0.join("store.db");
    let h = d.file("host.yaml", HOST);
    let only_template = d.file("t.yaml", TEMPLATE.split("---").next().unwrap());
    let e = err(
        &store,
        &[
            "render",
            "workers",
            "--host",
            "node-0",
            "-f",
            &only_template,
            "-f",
            &h,
        ],
    );
    assert!(
        e.contains(
            "Metal3DataTemplate workers: IPPool \"prov\" not found in namespace \"default\""
        ),
        "{e}"
    );
    let t = d.file("template.yaml", TEMPLATE);
    let e = err(
        &store,
        &["render", "workers", "--host", "node-9", "-f", &t, "-f", &h],
    );
    assert!(
        e.contains("BareMetalHost \"node-9\" not found in namespace \"default\""),
        "{e}"
    );
    let e = err(
        &store,
        &["render", "nope", "--host", "node-0", "-f", &t, "-f", &h],
    );
    assert!(e.contains("Metal3DataTemplate \"nope\" not found"), "{e}");
}

/// The upstream control-plane sample (placeholders filled in) renders with all four pools.
#[test]
fn render_upstream_sample() {
    let shared = std::env::var("METAL3_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let sample = std::fs::read_to_string(
        shared.join("fixtures/upstream/capm3/capm3_controlplane_kcp_m3mt_m3dt_ippools.yaml"),
    )
    .unwrap()
    .replace("${CLUSTER_NAME}", "test1")
    .replace("${NAMESPACE}", "metal3");
    let d = Dir::new("render-upstream");
    let store = d.0.join("store.db");
    let s = d.file("sample.yaml", &sample);
    let h = d.file("host.yaml", HOST);
    let out = ok(
        &store,
        &[
            "render",
            "test1-cp-metadata",
            "--host",
            "node-0",
            "-n",
            "metal3",
            "-f",
            &s,
            "-f",
            &h,
        ],
    );
    for line in [
        "ip_1: 192.168.0.10",
        "ip6_1: 2001::10",
        "prefix6_1: \"96\"",
        "providerid: metal3/node-0/node-0",
        "  netmask: 255.255.255.0",
        "  type: ipv4_dhcp",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
}

fn hosts_manifest(s: &Sushy) -> String {
    let mut out = String::new();
    for (i, sys) in SYS.iter().enumerate() {
        let name = format!("node-{i}");
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("{name}-bmc")}, "type": "Opaque",
            "stringData": {"username": USER, "password": PASS}});
        let host = json!({"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": name},
            "spec": {"online": false,
                     "bmc": {"address": format!("redfish-virtualmedia+http://127.0.0.1:{}/redfish/v1/Systems/{}", s.port, sys),
                             "credentialsName": format!("{name}-bmc")},
                     "bootMACAddress": format!("00:5c:52:31:3a:0{i}"),
                     "automatedCleaningMode": "disabled"}});
        out.push_str(&format!("{secret}\n---\n{host}\n---\n"));
    }
    out
}

/// The Cluster API side: a pool, a data template and a machine template with node reuse.
fn capi_objects(iso: &str) -> Vec<Value> {
    vec![
        json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
            "metadata": {"name": "prov", "namespace": "default"},
            "spec": {"namePrefix": "prov", "prefix": 24, "gateway": "192.168.10.1",
                     "dnsServers": ["192.168.10.2"],
                     "pools": [{"start": "192.168.10.20", "end": "192.168.10.29"}]}}),
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3DataTemplate",
            "metadata": {"name": "workers-data", "namespace": "default"},
            "spec": {"clusterName": "lab",
                "metaData": {"objectNames": [{"key": "name", "object": "machine"}],
                             "fromHostInterfaces": [{"key": "boot_mac", "fromBootMAC": true}],
                             "ipAddressesFromIPPool": [{"key": "ip", "name": "prov"}]},
                "networkData": {"links": {"ethernets": [{"type": "phy", "id": "enp1s0"}]},
                                "networks": {"ipv4": [{"id": "prov", "link": "enp1s0", "ipAddressFromIPPool": "prov",
                                                       "routes": [{"network": "0.0.0.0", "prefix": 0, "gateway": {"fromIPPool": "prov"}}]}]},
                                "services": {"dnsFromIPPool": "prov"}}}}),
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3MachineTemplate",
            "metadata": {"name": "workers", "namespace": "default"},
            "spec": {"nodeReuse": true, "template": {"spec": {
                "image": {"url": iso, "format": "live-iso"},
                "automatedCleaningMode": "disabled",
                "dataTemplate": {"name": "workers-data"}}}}}),
    ]
}

fn capi_json(iso: &str) -> String {
    capi_objects(iso)
        .iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn json_of(store: &Path, kind: &str, name: &str) -> Value {
    serde_json::from_str(&ok(store, &["get", kind, name, "-o", "json"])).unwrap()
}

fn secret_value(store: &Path, name: &str, key: &str) -> String {
    let s: Secret = serde_json::from_value(json_of(store, "secret", name)).unwrap();
    s.get_string(key).unwrap().unwrap()
}

async fn raw_power(s: &Sushy, i: usize) -> String {
    s.raw_get(&format!("/redfish/v1/Systems/{}", SYS[i])).await["PowerState"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn raw_cd_image(s: &Sushy, i: usize) -> (bool, String) {
    let coll = s
        .raw_get(&format!("/redfish/v1/Systems/{}/VirtualMedia", SYS[i]))
        .await;
    for m in coll["Members"].as_array().unwrap() {
        let slot = s.raw_get(m["@odata.id"].as_str().unwrap()).await;
        let types = slot["MediaTypes"].as_array().cloned().unwrap_or_default();
        if types.iter().any(|t| t == "CD" || t == "DVD") {
            return (
                slot["Inserted"] == true,
                slot["Image"].as_str().unwrap_or_default().to_string(),
            );
        }
    }
    panic!("no CD slot: {coll}");
}

/// `get m3m` rows as (name, providerID, ready, host, phase).
fn machines(store: &Path) -> Vec<Vec<String>> {
    let out = ok(store, &["get", "m3m"]);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    // Columns start where the header's words do (empty cells are blank).
    let starts: Vec<usize> = ["NAME", "PROVIDERID", "READY", "HOST", "PHASE", "AGE"]
        .iter()
        .map(|c| header.find(c).unwrap())
        .collect();
    lines
        .map(|l| {
            (0..starts.len() - 1)
                .map(|i| {
                    let end = starts.get(i + 1).copied().unwrap_or(l.len()).min(l.len());
                    l.get(starts[i]..end).unwrap_or("").trim().to_string()
                })
                .collect()
        })
        .collect()
}

fn index_of(host: &str) -> usize {
    host.trim_start_matches("node-").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_provisioned_remediated_and_reused_on_sushy() {
    let s = Sushy::start(false).await;
    let iso_port = sushy::serve_file(b"not really an iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/live.iso");
    let dir = Dir::new("e2e");
    let store = dir.0.join("store.db");
    let hosts = dir.file("hosts.yaml", &hosts_manifest(&s));
    let out = ok(&store, &["enroll", "-f", &hosts]);
    assert_eq!(out.matches("→ available").count(), 3, "{out}");
    let cluster = dir.file("cluster.json", &capi_json(&iso));
    let out = ok(&store, &["apply", "-f", &cluster]);
    assert!(
        out.contains("metal3machinetemplate.infrastructure.cluster.x-k8s.io/workers created"),
        "{out}"
    );
    let ud = dir.file("user-data.yaml", "#cloud-config\nhostname: worker\n");

    // Three machines: hosts chosen, data rendered with distinct IPs, provisioned.
    let out = ok(
        &store,
        &[
            "machine",
            "create",
            "--template",
            "workers",
            "--name",
            "w",
            "--count",
            "3",
            "--user-data",
            &ud,
            "--wait=5m",
        ],
    );
    assert_eq!(
        out.matches(": provisioned (metal3://default/node-").count(),
        3,
        "{out}"
    );
    let rows = machines(&store);
    assert_eq!(rows.len(), 3, "{rows:?}");
    let mut host_of = std::collections::BTreeMap::new();
    let mut ips = BTreeSet::new();
    let mut ip_of = std::collections::BTreeMap::new();
    for r in &rows {
        let (name, pid, ready, host, phase) = (&r[0], &r[1], &r[2], &r[3], &r[4]);
        assert_eq!(pid, &format!("metal3://default/{host}/{name}"));
        assert_eq!(
            (ready.as_str(), phase.as_str()),
            ("true", "Provisioned"),
            "{r:?}"
        );
        host_of.insert(name.clone(), host.clone());
        let h = json_of(&store, "bmh", host);
        assert_eq!(h["status"]["provisioning"]["state"], "provisioned", "{h}");
        assert_eq!(h["spec"]["consumerRef"]["name"], name.as_str());
        assert_eq!(h["spec"]["userData"]["name"], format!("{name}-user-data"));
        assert_eq!(
            h["spec"]["networkData"]["name"],
            format!("{name}-networkdata")
        );
        assert_eq!(h["spec"]["automatedCleaningMode"], "disabled");
        let i = index_of(host);
        assert_eq!(raw_power(&s, i).await, "On");
        assert_eq!(raw_cd_image(&s, i).await, (true, iso.clone()));
        let nd = secret_value(&store, &format!("{name}-networkdata"), "networkData");
        let ip = nd
            .lines()
            .find_map(|l| l.strip_prefix("  ip_address: "))
            .unwrap()
            .to_string();
        assert!(nd.contains("  netmask: 255.255.255.0\n"), "{nd}");
        assert!(
            nd.contains("- address: 192.168.10.2\n  type: dns\n"),
            "{nd}"
        );
        let md = secret_value(&store, &format!("{name}-metadata"), "metaData");
        assert_eq!(
            md,
            format!(
                "boot_mac: 00:5c:52:31:3a:0{i}\nip: {ip}\nname: {name}\nproviderid: default/{host}/{name}\n"
            )
        );
        ip_of.insert(name.clone(), ip.clone());
        assert!(ips.insert(ip));
    }
    assert_eq!(
        ips,
        BTreeSet::from([
            "192.168.10.20".to_string(),
            "192.168.10.21".into(),
            "192.168.10.22".into()
        ])
    );
    assert_eq!(host_of.values().collect::<BTreeSet<_>>().len(), 3);
    let d = ok(&store, &["describe", "m3m", "w-0"]);
    for line in [
        format!("  Provider ID:  metal3://default/{}/w-0", host_of["w-0"]),
        format!("  Host:         {}", host_of["w-0"]),
        "  Data Secrets: w-0-metadata, w-0-networkdata".to_string(),
        format!(
            "  prov: {}/24 (IPClaim {}-prov)",
            ip_of["w-0"],
            d.lines()
                .find_map(|l| l.strip_prefix("  Metal3Data:   "))
                .unwrap()
        ),
    ] {
        assert!(d.lines().any(|l| l == line), "missing {line:?} in\n{d}");
    }

    // Remediation by reboot: the emulator's power goes off, then on again.
    let w1 = index_of(&host_of["w-1"]);
    let watcher = {
        let s_base = s.base();
        let client = s.raw();
        let path = format!("{s_base}/redfish/v1/Systems/{}", SYS[w1]);
        tokio::spawn(async move {
            let mut seen: Vec<String> = Vec::new();
            for _ in 0..1200 {
                if let Ok(r) = client.get(&path).basic_auth(USER, Some(PASS)).send().await {
                    if let Ok(v) = r.json::<Value>().await {
                        let p = v["PowerState"].as_str().unwrap_or_default().to_string();
                        if seen.last() != Some(&p) {
                            seen.push(p.clone());
                        }
                        if seen.len() >= 3 {
                            break;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            seen
        })
    };
    let store2 = store.clone();
    let out = tokio::task::spawn_blocking(move || ok(&store2, &["remediate", "w-1", "--wait=5m"]))
        .await
        .unwrap();
    assert!(out.contains("w-1: remediated (host rebooted)"), "{out}");
    assert!(out.contains("Running"), "{out}");
    let seen = watcher.await.unwrap();
    assert_eq!(seen, ["On", "Off", "On"], "{out}");
    assert_eq!(raw_power(&s, w1).await, "On");
    let h = json_of(&store, "bmh", &host_of["w-1"]);
    assert!(
        h["metadata"]["annotations"]
            .as_object()
            .is_none_or(|a| !a.keys().any(|k| k.starts_with("reboot.metal3.io"))),
        "{h}"
    );
    assert!(!ctl(&store, &["get", "secret", "nope"]).status.success());

    // Scale in: w-2 goes, its host is deprovisioned and kept for the deployment.
    let reused = host_of["w-2"].clone();
    let out = ok(&store, &["machine", "delete", "w-2"]);
    assert!(out.contains("w-2: deleted"), "{out}");
    let h = json_of(&store, "bmh", &reused);
    assert_eq!(h["status"]["provisioning"]["state"], "available", "{h}");
    assert_eq!(
        h["metadata"]["labels"]["infrastructure.cluster.x-k8s.io/node-reuse"],
        "md-workers"
    );
    assert_eq!(h["spec"]["consumerRef"]["kind"], "Cluster");
    assert!(h["spec"].get("image").is_none(), "{h}");
    assert!(!raw_cd_image(&s, index_of(&reused)).await.0);
    assert!(!ctl(&store, &["get", "secret", "w-2-networkdata"])
        .status
        .success());
    assert_eq!(machines(&store).len(), 2);
    let addrs = ok(&store, &["get", "ipaddresses", "-o", "name"]);
    assert_eq!(
        addrs.lines().count(),
        2,
        "w-2's address is released: {addrs}"
    );
    assert!(!ctl(&store, &["get", "machine", "w-2"]).status.success());
    let list = ok(&store, &["machine", "list"]);
    assert_eq!(list.lines().count(), 3, "{list}");

    // Scale out again: the new machine of the deployment gets the same host.
    let out = ok(
        &store,
        &[
            "machine",
            "create",
            "--template",
            "workers",
            "--name",
            "w-3",
            "--wait=5m",
        ],
    );
    assert!(
        out.contains(&format!("w-3: provisioned (metal3://default/{reused}/w-3)")),
        "{out}"
    );
    let h = json_of(&store, "bmh", &reused);
    assert!(
        h["metadata"]["labels"]
            .get("infrastructure.cluster.x-k8s.io/node-reuse")
            .is_none(),
        "{h}"
    );
    assert_eq!(h["spec"]["consumerRef"]["name"], "w-3");
    let nd = secret_value(&store, "w-3-networkdata", "networkData");
    // The lowest free address is the one w-2 released.
    assert!(
        nd.contains(&format!("  ip_address: {}\n", ip_of["w-2"])),
        "{nd}"
    );
}

/// `machine create` without `--wait` configures the host; a running
/// `controller run` provisions it and finishes the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_run_finishes_machines_created_without_wait() {
    let s = Sushy::start(false).await;
    let iso_port = sushy::serve_file(b"not really an iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/live.iso");
    let dir = Dir::new("controller");
    let store = dir.0.join("store.db");
    let hosts = dir.file("hosts.yaml", &hosts_manifest(&s));
    ok(&store, &["enroll", "-f", &hosts]);
    let cluster = dir.file("cluster.json", &capi_json(&iso));
    let out = ok(&store, &["apply", "-f", &cluster]);
    assert!(
        out.contains("metal3machinetemplate.infrastructure.cluster.x-k8s.io/workers created"),
        "{out}"
    );
    let out = ok(
        &store,
        &[
            "machine",
            "create",
            "--template",
            "workers",
            "--name",
            "c-0",
        ],
    );
    assert!(out.contains("c-0: host node-"), "{out}");
    let rows = machines(&store);
    assert_eq!(
        rows[0][2..],
        [
            "false".to_string(),
            rows[0][3].clone(),
            "Provisioning".into()
        ]
    );
    let mut controller = Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(["controller", "run"])
        .env("METAL3CTL_STORE", &store)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = false;
    for _ in 0..600 {
        let rows = machines(&store);
        if rows[0][4] == "Provisioned" {
            assert_eq!(rows[0][1], format!("metal3://default/{}/c-0", rows[0][3]));
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &controller.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = controller.wait().unwrap();
    assert!(ready, "{:?}", machines(&store));
    assert!(status.success(), "controller exit: {status:?}");
}
