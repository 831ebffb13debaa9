//! Metal3Data rendering (§3.f): golden bytes derived by hand from the reference's
//! serialisation rules (go-yaml v2 key order and quoting), plus error cases.

// Test helpers outside #[test] fns fail loudly on bad fixtures, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use metal3_capi::render::*;
use metal3_capi::{Capm3Object, Machine, Metal3DataTemplateSpec, Metal3Machine};
use metal3_hostmodel::BareMetalHost;
use metal3_ipam::Allocation;
use serde_json::{json, Value};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/upstream/capm3/capm3_controlplane_kcp_m3mt_m3dt_ippools.yaml"
);

fn machine() -> Machine {
    serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
        "metadata": {"name": "test1-controlplane-abcde", "namespace": "metal3",
                     "annotations": {"myannotationkey": "true", "primary-mac": "52:54:00:aa:bb:01"}},
        "spec": {"clusterName": "test1"}
    }))
    .unwrap()
}

fn m3m() -> Metal3Machine {
    serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Machine",
        "metadata": {"name": "test1-controlplane-xyz12", "namespace": "metal3"}, "spec": {}
    }))
    .unwrap()
}

fn host() -> BareMetalHost {
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": "node-2", "namespace": "metal3"},
        "spec": {"online": true, "bootMACAddress": "52:54:00:aa:bb:00"},
        "status": {"operationalStatus": "OK", "errorMessage": "", "poweredOn": true,
                   "provisioning": {"state": "provisioned", "ID": ""},
                   "hardware": {"hostname": "node-2", "ramMebibytes": 0, "storage": [],
                                "nics": [{"name": "eth0", "mac": "00:12:34:56:01:02", "ip": "", "speedGbps": 0, "model": "", "pxe": true},
                                         {"name": "eth1", "mac": "52:54:00:aa:bb:02", "ip": "", "speedGbps": 0, "model": ""}]}}
    }))
    .unwrap()
}

fn alloc(addr: &str, prefix: i32, gw: &str, dns: &[&str]) -> Allocation {
    Allocation {
        claim: String::new(),
        address: addr.into(),
        name: String::new(),
        prefix,
        gateway: Some(gw.into()),
        dns_servers: dns.iter().map(|s| s.to_string()).collect(),
    }
}

fn sample_template() -> Metal3DataTemplateSpec {
    let text = std::fs::read_to_string(SAMPLE)
        .unwrap()
        .replace("${CLUSTER_NAME}", "test1");
    for doc in metal3_hostmodel::yaml::from_str_multi(&text).unwrap() {
        if let Ok(Capm3Object::Metal3DataTemplate(t)) = Capm3Object::from_value(doc) {
            return t.spec;
        }
    }
    panic!("no Metal3DataTemplate in sample");
}

#[test]
fn golden_upstream_controlplane_template() {
    let spec = sample_template();
    let (machine, m3m, host) = (machine(), m3m(), host());
    let ctx = RenderContext {
        data_name: "test1-cp-metadata-2",
        namespace: "metal3",
        index: 2,
        machine: &machine,
        m3m: &m3m,
        host: &host,
    };
    let pools: BTreeMap<String, Allocation> = [
        ("pool1", alloc("192.168.111.102", 24, "192.168.111.1", &[])),
        ("pool2", alloc("172.22.0.102", 24, "172.22.0.1", &[])),
        ("pool6-1", alloc("fd55::102", 64, "fd55::1", &[])),
        (
            "pool6-2",
            alloc("2001:db8:0:1::102", 96, "2001:db8:0:1::1", &[]),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    let claims: Vec<String> = ip_claims(&spec, &ctx)
        .unwrap()
        .into_iter()
        .map(|c| c.claim_name)
        .collect();
    assert_eq!(
        claims,
        [
            "test1-cp-metadata-2-pool1",
            "test1-cp-metadata-2-pool2",
            "test1-cp-metadata-2-pool6-1",
            "test1-cp-metadata-2-pool6-2"
        ]
    );

    let md = render_metadata(&spec, &ctx, &pools).unwrap().unwrap();
    // `_` counts as 0 against a digit in go-yaml's key order, so gateway_1 < gateway6_1;
    // numbers and digit-only MACs (YAML 1.1 base-60) are double-quoted.
    let want_md = r#"abc: def
bmh_name: node-2
gateway_1: 192.168.111.1
gateway_2: 172.22.0.1
gateway6_1: fd55::1
gateway6_2: 2001:db8:0:1::1
index_0_1: "2"
index_3: "5"
index_5_2: "9"
ip_1: 192.168.111.102
ip_2: 172.22.0.102
ip6_1: fd55::102
ip6_2: 2001:db8:0:1::102
mac: "00:12:34:56:01:02"
machine_name: test1-controlplane-abcde
metal3machine_name: test1-controlplane-xyz12
prefix_1: "24"
prefix_2: "24"
prefix6_1: "64"
prefix6_2: "96"
providerid: metal3/node-2/test1-controlplane-xyz12
"#;
    assert_eq!(md, want_md);

    let nd = render_network_data(&spec, &ctx, &pools).unwrap().unwrap();
    let want_nd = r#"links:
- ethernet_mac_address: "00:12:34:56:01:02"
  id: enp1s0
  mtu: 1500
  type: phy
- ethernet_mac_address: 52:54:00:aa:bb:02
  id: enp2s0
  mtu: 1500
  type: phy
networks:
- id: baremetal
  ip_address: 192.168.111.102
  link: enp2s0
  netmask: 255.255.255.0
  routes:
  - gateway: 192.168.111.1
    netmask: 0.0.0.0
    network: 0.0.0.0
    services:
    - address: 8.8.4.4
      type: dns
  type: ipv4
- id: provisioning
  link: enp1s0
  routes: []
  type: ipv4_dhcp
services:
- address: 8.8.8.8
  type: dns
"#;
    assert_eq!(nd, want_nd);
}

fn full_template() -> Value {
    json!({
        "metaData": {
            "namespaces": [{"key": "ns"}],
            "fromLabels": [{"key": "label-1", "object": "machine", "label": "mylabelkey"}],
            "fromAnnotations": [{"key": "annotation-1", "object": "Machine", "annotation": "myannotationkey"}],
            "fromHostInterfaces": [{"key": "bootmac", "fromBootMAC": true}],
            "strings": [{"key": "providerid", "value": "overridden"}],
            "dnsServersFromPool": [{"key": "dns", "name": "pool-1"}]
        },
        "networkData": {
            "links": {
                "ethernets": [
                    {"type": "phy", "id": "enp1s0", "mtu": 1500, "macAddress": {"fromAnnotation": {"object": "machine", "annotation": "primary-mac"}}},
                    {"type": "phy", "id": "enp2s0", "mtu": 9000, "name": "eno2", "macAddress": {"fromHostInterface": "eth1"}}
                ],
                "bonds": [{"id": "bond0", "mtu": 1500, "macAddress": {"string": "02:00:00:00:00:01"}, "bondMode": "802.3ad",
                           "bondXmitHashPolicy": "layer3+4", "bondLinks": ["enp1s0", "enp2s0"],
                           "parameters": [{"name": "miimon", "value": 100}, {"name": "lacp_rate", "value": "fast"}]}],
                "vlans": [{"id": "vlan1", "mtu": 1500, "vlanID": 1, "vlanLink": "bond0"}]
            },
            "networks": {
                "ipv4DHCP": [{"id": "provisioning", "link": "bond0"}],
                "ipv4": [{"id": "Baremetal", "link": "vlan1", "ipAddressFromIPPool": "pool-1",
                          "routes": [{"network": "0.0.0.0", "prefix": 0, "gateway": {"fromIPPool": "pool-1"},
                                      "services": {"dns": ["8.8.4.4"], "dnsFromIPPool": "pool-1"}}]}],
                "ipv6DHCP": [{"id": "provisioning6", "link": "bond0"}],
                "ipv6SLAAC": [{"id": "provisioning6slaac", "link": "bond0"}],
                "ipv6": [{"id": "Baremetal6", "link": "vlan1", "ipAddressFromIPPool": "pool6-1",
                          "routes": [{"network": "0::0", "prefix": 0, "gateway": {"string": "2001:0db8:85a3::8a2e:0370:1"},
                                      "services": {"dns": ["2001:4860:4860::8844"], "dnsFromIPPool": "pool6-1"}}]}]
            },
            "services": {"dns": ["8.8.8.8", "2001:4860:4860::8888"]}
        }
    })
}

fn full_pools() -> BTreeMap<String, Allocation> {
    [
        (
            "pool-1",
            alloc("192.168.0.14", 24, "192.168.0.1", &["10.0.0.53"]),
        ),
        (
            "pool6-1",
            alloc("2001:db8::14", 64, "2001:db8::1", &["2001:db8::53"]),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[test]
fn golden_full_reference_template() {
    let spec: Metal3DataTemplateSpec = serde_json::from_value(full_template()).unwrap();
    let (machine, mut m3m, host) = (machine(), m3m(), host());
    m3m.metadata.name = "m3m-0".into();
    let ctx = RenderContext {
        data_name: "nodepool-1-0",
        namespace: "metal3",
        index: 0,
        machine: &machine,
        m3m: &m3m,
        host: &host,
    };
    let pools = full_pools();

    let claims: Vec<(String, bool)> = ip_claims(&spec, &ctx)
        .unwrap()
        .into_iter()
        .map(|c| (c.claim_name.clone(), c.is_metal3()))
        .collect();
    assert_eq!(
        claims,
        [
            ("nodepool-1-0-pool-1".to_string(), true),
            ("nodepool-1-0-pool6-1".to_string(), true)
        ]
    );

    // dnsServersFromPool creates a claim but is not rendered; providerid overrides the user key.
    let want_md = r#"annotation-1: "true"
bootmac: 52:54:00:aa:bb:00
label-1: ""
ns: metal3
providerid: metal3/node-2/m3m-0
"#;
    assert_eq!(
        render_metadata(&spec, &ctx, &pools).unwrap().unwrap(),
        want_md
    );

    let want_nd = r#"links:
- bond_lacp_rate: fast
  bond_links:
  - enp1s0
  - enp2s0
  bond_miimon: 100
  bond_mode: 802.3ad
  bond_xmit_hash_policy: layer3+4
  ethernet_mac_address: "02:00:00:00:00:01"
  id: bond0
  mtu: 1500
  type: bond
- ethernet_mac_address: 52:54:00:aa:bb:01
  id: enp1s0
  mtu: 1500
  type: phy
- ethernet_mac_address: 52:54:00:aa:bb:02
  id: enp2s0
  mtu: 9000
  name: eno2
  type: phy
- id: vlan1
  mtu: 1500
  type: vlan
  vlan_id: 1
  vlan_link: bond0
networks:
- id: Baremetal
  ip_address: 192.168.0.14
  link: vlan1
  netmask: 255.255.255.0
  routes:
  - gateway: 192.168.0.1
    netmask: 0.0.0.0
    network: 0.0.0.0
    services:
    - address: 8.8.4.4
      type: dns
    - address: 10.0.0.53
      type: dns
  type: ipv4
- id: Baremetal6
  ip_address: 2001:db8::14
  link: vlan1
  netmask: 'ffff:ffff:ffff:ffff::'
  routes:
  - gateway: 2001:0db8:85a3::8a2e:0370:1
    netmask: '::'
    network: 0::0
    services:
    - address: 2001:4860:4860::8844
      type: dns
    - address: 2001:db8::53
      type: dns
  type: ipv6
- id: provisioning
  link: bond0
  routes: []
  type: ipv4_dhcp
- id: provisioning6
  link: bond0
  routes: []
  type: ipv6_dhcp
- id: provisioning6slaac
  link: bond0
  routes: []
  type: ipv6_slaac
services:
- address: 8.8.8.8
  type: dns
- address: 2001:4860:4860::8888
  type: dns
"#;
    assert_eq!(
        render_network_data(&spec, &ctx, &pools).unwrap().unwrap(),
        want_nd
    );
}

#[test]
fn empty_sections_and_absent_parts() {
    let spec: Metal3DataTemplateSpec = serde_json::from_value(json!({"networkData": {}})).unwrap();
    let (machine, m3m, host) = (machine(), m3m(), host());
    let ctx = RenderContext {
        data_name: "d-0",
        namespace: "metal3",
        index: 0,
        machine: &machine,
        m3m: &m3m,
        host: &host,
    };
    assert_eq!(
        render_network_data(&spec, &ctx, &BTreeMap::new())
            .unwrap()
            .unwrap(),
        "links: []\nnetworks: []\nservices: []\n"
    );
    assert_eq!(
        render_metadata(&spec, &ctx, &BTreeMap::new()).unwrap(),
        None
    );
    let spec: Metal3DataTemplateSpec = serde_json::from_value(json!({"metaData": {}})).unwrap();
    assert_eq!(
        render_metadata(&spec, &ctx, &BTreeMap::new())
            .unwrap()
            .unwrap(),
        "providerid: metal3/node-2/test1-controlplane-xyz12\n"
    );
    assert_eq!(
        render_network_data(&spec, &ctx, &BTreeMap::new()).unwrap(),
        None
    );
}

#[test]
fn ipv6_netmasks_and_indexes() {
    let spec: Metal3DataTemplateSpec = serde_json::from_value(json!({
        "metaData": {"indexes": [{"key": "i", "offset": 10, "step": 0, "prefix": "node-", "suffix": "-x"}]},
        "networkData": {"networks": {"ipv6": [{"id": "n", "link": "l", "ipAddressFromIPPool": "p"}]}}
    }))
    .unwrap();
    let (machine, m3m, host) = (machine(), m3m(), host());
    let ctx = RenderContext {
        data_name: "d-3",
        namespace: "metal3",
        index: 3,
        machine: &machine,
        m3m: &m3m,
        host: &host,
    };
    for (prefix, mask) in [
        (64, "'ffff:ffff:ffff:ffff::'"),
        (96, "'ffff:ffff:ffff:ffff:ffff:ffff::'"),
        (0, "'::'"),
        (128, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        (127, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"),
    ] {
        let pools = [(
            "p".to_string(),
            alloc("2001:db8::3", prefix, "2001:db8::1", &[]),
        )]
        .into_iter()
        .collect();
        let nd = render_network_data(&spec, &ctx, &pools).unwrap().unwrap();
        assert!(
            nd.contains(&format!("  netmask: {mask}\n")),
            "{prefix}: {nd}"
        );
        // step 0 counts as 1: 10 + 3*1.
        assert!(render_metadata(&spec, &ctx, &pools)
            .unwrap()
            .unwrap()
            .starts_with("i: node-13-x\n"));
    }
}

#[test]
fn index_allocation_and_names() {
    assert_eq!(lowest_free_index(&[]), 0);
    assert_eq!(lowest_free_index(&[0, 1, 3]), 2);
    assert_eq!(lowest_free_index(&[1, 2]), 0);
    assert_eq!(lowest_free_index(&[0, 1, 2]), 3);
    assert_eq!(data_name("nodepool-1", 2), "nodepool-1-2");
    assert_eq!(metadata_secret_name("m0"), "m0-metadata");
    assert_eq!(network_data_secret_name("m0"), "m0-networkdata");
}

type Check = fn(&RenderError) -> bool;

#[test]
fn error_table() {
    let (machine, m3m, host) = (machine(), m3m(), host());
    let ctx = RenderContext {
        data_name: "d-0",
        namespace: "metal3",
        index: 0,
        machine: &machine,
        m3m: &m3m,
        host: &host,
    };
    let pools = full_pools();
    let render = |t: Value| {
        let spec: Metal3DataTemplateSpec = serde_json::from_value(t).unwrap();
        render_metadata(&spec, &ctx, &pools)
            .and_then(|_| render_network_data(&spec, &ctx, &pools))
            .and_then(|_| ip_claims(&spec, &ctx))
    };
    let cases: Vec<(Value, Check)> = vec![
        (
            json!({"metaData": {"objectNames": [{"key": "k", "object": "node"}]}}),
            |e| matches!(e, RenderError::UnknownObject { object, .. } if object == "node"),
        ),
        (
            json!({"metaData": {"ipAddressesFromIPPool": [{"key": "k", "name": "missing"}]}}),
            |e| matches!(e, RenderError::PoolNotFound { pool, .. } if pool == "missing"),
        ),
        (
            json!({"metaData": {"fromHostInterfaces": [{"key": "k", "interface": "eth9"}]}}),
            |e| matches!(e, RenderError::HostInterface { interface, .. } if interface == "eth9"),
        ),
        (
            json!({"networkData": {"links": {"ethernets": [{"type": "phy", "id": "e", "macAddress": {"string": "XX:XX:XX:XX:XX:XX"}}]}}}),
            |e| matches!(e, RenderError::BadMac { mac, .. } if mac == "XX:XX:XX:XX:XX:XX"),
        ),
        (
            json!({"networkData": {"links": {"ethernets": [{"type": "phy", "id": "e", "macAddress": {"fromAnnotation": {"object": "machine", "annotation": "absent"}}}]}}}),
            |e| matches!(e, RenderError::BadMac { mac, .. } if mac.is_empty()),
        ),
        (
            json!({"networkData": {"links": {"vlans": [{"id": "v", "vlanLink": "e"}]}}}),
            |e| matches!(e, RenderError::MissingVlanId { link, .. } if link == "v"),
        ),
        (
            json!({"networkData": {"links": {"bonds": [{"id": "b", "bondMode": "active-backup", "parameters": {"mode": "x", "links": [], "miimon": 1}}]}}}),
            |e| matches!(e, RenderError::IllegalBondParams { names, .. } if names == "links,mode"),
        ),
        (
            json!({"networkData": {"networks": {"ipv4": [{"id": "n", "link": "l", "fromPoolRef": {"name": "pool-1", "apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool"}}]}},
                "metaData": {"ipAddressesFromIPPool": [{"key": "k", "name": "pool-1"}]}}),
            |e| matches!(e, RenderError::PoolConflict { pool, .. } if pool == "pool-1"),
        ),
        (
            json!({"networkData": {"networks": {"ipv4": [{"id": "n", "link": "l", "fromPoolAnnotation": {"object": "metal3machine", "annotation": "pool"}}]}}}),
            |e| matches!(e, RenderError::PoolAnnotationMissing { .. }),
        ),
    ];
    for (t, check) in cases {
        let err = render(t.clone()).unwrap_err();
        assert!(check(&err), "{t}: {err}");
    }
}

#[test]
fn pool_precedence_and_capi_claims() {
    let (machine, mut m3m, host) = (machine(), m3m(), host());
    m3m.metadata
        .annotations
        .insert("pool".into(), "annotated".into());
    let ctx = RenderContext {
        data_name: "d-0",
        namespace: "metal3",
        index: 0,
        machine: &machine,
        m3m: &m3m,
        host: &host,
    };
    let spec: Metal3DataTemplateSpec = serde_json::from_value(json!({"networkData": {"networks": {"ipv4": [
        {"id": "a", "link": "l", "ipAddressFromIPPool": "ignored", "fromPoolRef": {"name": "capi", "apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool"}},
        {"id": "b", "link": "l", "ipAddressFromIPPool": "ignored", "fromPoolAnnotation": {"object": "metal3machine", "annotation": "pool"},
         "routes": [{"network": "10.0.0.0", "prefix": 8, "gateway": {"string": "10.0.0.1", "fromIPPool": "ignored-too"}}]}
    ]}}})).unwrap();
    let claims = ip_claims(&spec, &ctx).unwrap();
    let got: Vec<(&str, bool)> = claims
        .iter()
        .map(|c| (c.claim_name.as_str(), c.is_metal3()))
        .collect();
    assert_eq!(got, [("d-0-annotated", true), ("d-0-capi", false)]);
    let pools = [
        ("capi", alloc("10.1.0.5", 16, "10.1.0.1", &[])),
        ("annotated", alloc("10.2.0.5", 8, "10.2.0.1", &[])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let nd = render_network_data(&spec, &ctx, &pools).unwrap().unwrap();
    assert!(
        nd.contains("ip_address: 10.1.0.5\n  link: l\n  netmask: 255.255.0.0\n"),
        "{nd}"
    );
    assert!(nd.contains("  - gateway: 10.0.0.1\n    netmask: 255.0.0.0\n    network: 10.0.0.0\n    services: []\n"), "{nd}");
}

#[test]
fn metal3data_creation_and_index_rebuild() {
    let template: metal3_capi::Metal3DataTemplate = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3DataTemplate",
        "metadata": {"name": "workers", "namespace": "metal3"}, "spec": {"clusterName": "test1"}}))
    .unwrap();
    let data = |name: &str, tmpl: &str, claim: &str, index: i64| -> metal3_capi::Metal3Data {
        serde_json::from_value(
            json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Data",
            "metadata": {"name": name, "namespace": "metal3"},
            "spec": {"index": index, "template": {"name": tmpl}, "claim": {"name": claim}}}),
        )
        .unwrap()
    };
    let datas = vec![
        data("workers-3", "workers", "m3", 3),
        data("workers-0", "workers", "m0", 0),
        data("other-1", "other", "x", 1),
        data("workers-9", "workers", "", 9),
    ];
    let idx = template_indexes(&template, &datas);
    let got: Vec<(&str, i64)> = idx.iter().map(|e| (e.name.as_str(), e.index)).collect();
    assert_eq!(got, [("m0", 0), ("m3", 3)]);

    let claim: metal3_capi::Metal3DataClaim = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3DataClaim",
        "metadata": {"name": "m5", "namespace": "metal3", "uid": "claim-uid", "labels": {"cluster.x-k8s.io/cluster-name": "test1"},
                     "ownerReferences": [{"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Machine", "name": "m5", "uid": "m-uid", "controller": true}]},
        "spec": {"template": {"name": "workers"}}})).unwrap();
    let d = new_metal3_data(&template, &claim, &idx).unwrap();
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Data",
            "metadata": {"name": "workers-1", "namespace": "metal3", "labels": {"cluster.x-k8s.io/cluster-name": "test1"},
                         "finalizers": ["metal3dataclaim.infrastructure.cluster.x-k8s.io"],
                         "ownerReferences": [
                             {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3DataClaim", "name": "m5", "uid": "claim-uid", "controller": true},
                             {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Machine", "name": "m5", "uid": "m-uid"}]},
            "spec": {"index": 1, "template": {"name": "workers", "namespace": "metal3"}, "claim": {"name": "m5", "namespace": "metal3"}}
        })
    );
    // A claim that already has an entry keeps its index, even without an owner.
    let mut known = claim.clone();
    known.metadata.name = "m3".into();
    known.metadata.owner_references.clear();
    assert_eq!(
        new_metal3_data(&template, &known, &idx)
            .unwrap()
            .metadata
            .name,
        "workers-3"
    );
    let mut orphan = claim.clone();
    orphan.metadata.owner_references.clear();
    assert_eq!(
        new_metal3_data(&template, &orphan, &idx).unwrap_err(),
        RenderError::NoOwnerMachine { claim: "m5".into() }
    );

    let spec: Metal3DataTemplateSpec = serde_json::from_value(json!({"networkData": {}})).unwrap();
    let (md, nd) = data_secret_refs(&spec, "m5", "metal3");
    assert_eq!(
        (md, nd.map(|r| r.name)),
        (None, Some("m5-networkdata".to_string()))
    );
}
