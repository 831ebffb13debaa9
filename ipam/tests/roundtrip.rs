//! Every valid upstream IPAM sample parses into the typed structs and
//! serialises back to the same JSON value.

// Test helpers outside #[test] fns fail loudly on bad fixtures, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use metal3_ipam::{CapiIPAddress, CapiIPAddressClaim, IPAddress, IPClaim, IPPool};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let dir = std::env::var("METAL3_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
        });
    let path = dir.join("upstream/capm3").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// clusterctl/envsubst stand-in: the e2e template's integer fields are placeholders.
fn envsubst(s: &str) -> String {
    [
        ("${NAMESPACE}", "metal3"),
        ("${CLUSTER_NAME}", "test1"),
        ("${IPAM_PROVISIONING_POOL_RANGE_START}", "172.22.0.100"),
        ("${IPAM_PROVISIONING_POOL_RANGE_END}", "172.22.0.200"),
        ("${BARE_METAL_PROVISIONER_CIDR}", "24"),
        ("${IPAM_EXTERNALV4_POOL_RANGE_START}", "192.168.111.100"),
        ("${IPAM_EXTERNALV4_POOL_RANGE_END}", "192.168.111.200"),
        ("${EXTERNAL_SUBNET_V4_PREFIX}", "24"),
        ("${EXTERNAL_SUBNET_V4_HOST}", "192.168.111.1"),
    ]
    .iter()
    .fold(s.to_string(), |acc, (k, v)| acc.replace(k, v))
}

/// YAML documents of a file; the docs sample concatenates code blocks without
/// `---`, so a top-level `apiVersion:` line also starts a new document.
fn docs(text: &str) -> Vec<Value> {
    let mut split = String::new();
    for line in text.lines() {
        if line.starts_with("apiVersion:") {
            split.push_str("---\n");
        }
        split.push_str(line);
        split.push('\n');
    }
    serde_saphyr::from_multiple::<Value>(&split)
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) {
    let typed: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(&back, v);
}

/// Round-trips every IPAM kind in the file; returns how many objects per kind.
fn check_file(text: &str) -> [usize; 5] {
    let mut counts = [0; 5];
    for v in docs(text) {
        let api = v["apiVersion"].as_str().unwrap_or_default();
        let kind = v["kind"].as_str().unwrap_or_default();
        match (api, kind) {
            ("ipam.metal3.io/v1alpha1", "IPPool") => {
                roundtrip::<IPPool>(&v);
                counts[0] += 1;
            }
            ("ipam.metal3.io/v1alpha1", "IPClaim") => {
                roundtrip::<IPClaim>(&v);
                counts[1] += 1;
            }
            ("ipam.metal3.io/v1alpha1", "IPAddress") => {
                roundtrip::<IPAddress>(&v);
                counts[2] += 1;
            }
            ("ipam.cluster.x-k8s.io/v1beta2", "IPAddressClaim") => {
                roundtrip::<CapiIPAddressClaim>(&v);
                counts[3] += 1;
            }
            ("ipam.cluster.x-k8s.io/v1beta2", "IPAddress") => {
                roundtrip::<CapiIPAddress>(&v);
                counts[4] += 1;
            }
            _ => {}
        }
    }
    counts
}

#[test]
fn docs_pool_claim_address() {
    assert_eq!(
        check_file(&fixture("ipam_docs_ippool_ipclaim_ipaddress.yaml")),
        [1, 1, 1, 0, 0]
    );
}

#[test]
fn example_pool_claim_capi_claim() {
    assert_eq!(
        check_file(&fixture("ipam_ippool_ipclaim_ipaddressclaim.yaml")),
        [1, 1, 0, 1, 0]
    );
}

#[test]
fn capm3_example_pools() {
    for f in [
        "capm3_controlplane_kcp_m3mt_m3dt_ippools.yaml",
        "capm3_templates_cluster_m3dt_ippools.yaml",
    ] {
        assert_eq!(check_file(&fixture(f)), [4, 0, 0, 0, 0], "{f}");
    }
}

#[test]
fn e2e_pools_after_envsubst() {
    assert_eq!(
        check_file(&envsubst(&fixture("capm3_e2e_ippool.yaml"))),
        [2, 0, 0, 0, 0]
    );
}

#[test]
fn e2e_template_prefix_placeholder_is_not_an_int() {
    // Unsubstituted, `prefix: ${BARE_METAL_PROVISIONER_CIDR}` is a string where an int belongs.
    let raw = docs(&fixture("capm3_e2e_ippool.yaml"));
    let pool = raw.iter().find(|v| v["kind"] == "IPPool").unwrap();
    assert!(serde_json::from_value::<IPPool>(pool.clone()).is_err());
}

#[test]
fn json_names_of_status_and_spec() {
    let v = serde_json::json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"namePrefix": "p", "allocationStrategy": "random", "prefix": 64,
                 "gateway": "2001:db8::1", "dnsServers": ["2001:db8::53"],
                 "preAllocations": {"c": "2001:db8::5"}, "clusterName": "cl",
                 "pools": [{"start": "2001:db8::10", "end": "2001:db8::ff", "subnet": "2001:db8::/64",
                            "prefix": 80, "gateway": "2001:db8::2", "dnsServers": ["2001:db8::54"]}]},
        "status": {"lastUpdated": "2026-05-01T10:00:00Z", "indexes": {"c": "2001:db8::5"}}
    });
    roundtrip::<IPPool>(&v);
    let p: IPPool = serde_json::from_value(v).unwrap();
    assert_eq!(p.status.unwrap().allocations["c"], "2001:db8::5");
    assert_eq!(
        p.spec.allocation_strategy,
        Some(metal3_ipam::AllocationStrategy::Random)
    );

    let claim = serde_json::json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
        "metadata": {"name": "c", "annotations": {"ipAddress": "10.0.0.5"}},
        "spec": {"pool": {"name": "p", "namespace": "ns"}},
        "status": {"address": {"name": "p-10-0-0-5", "namespace": "ns"}, "errorMessage": "x"}
    });
    roundtrip::<IPClaim>(&claim);
    let capi = serde_json::json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
        "metadata": {"name": "p-10-0-0-5", "namespace": "ns"},
        "spec": {"address": "10.0.0.5", "prefix": 24, "gateway": "",
                 "claimRef": {"name": "c"},
                 "poolRef": {"apiGroup": "ipam.metal3.io", "kind": "IPPool", "name": "p"}}
    });
    roundtrip::<CapiIPAddress>(&capi);
    let capi_claim = serde_json::json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {"poolRef": {"apiGroup": "ipam.metal3.io", "kind": "IPPool", "name": "p"}},
        "status": {"addressRef": {"name": "p-10-0-0-5"},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "", "message": "",
                                   "lastTransitionTime": "2026-05-01T10:00:00Z"}]}
    });
    roundtrip::<CapiIPAddressClaim>(&capi_claim);
}
