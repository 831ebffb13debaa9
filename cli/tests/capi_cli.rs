//! The Cluster API verbs of the built `metal3ctl`: `render` offline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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
