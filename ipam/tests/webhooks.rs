//! IPPool / IPClaim / IPAddress webhook rules (reference §1.2, §1.3, §1.7).

// Test helpers outside #[test] fns fail loudly on bad fixtures, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use metal3_ipam::validate::*;
use metal3_ipam::{AllocationStrategy, IPAddress, IPClaim, IPPool, IPPoolStatus};
use serde_json::json;

fn pool(spec: serde_json::Value) -> IPPool {
    serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "pool1", "namespace": "default"},
        "spec": spec,
    }))
    .unwrap()
}

fn messages(r: Result<(), ValidationError>) -> Vec<String> {
    r.err()
        .map(|e| e.errors.into_iter().map(|f| f.message).collect())
        .unwrap_or_default()
}

#[test]
fn defaulting_sets_sequential() {
    let mut p = pool(json!({"namePrefix": "p"}));
    default_ippool(&mut p);
    assert_eq!(
        p.spec.allocation_strategy,
        Some(AllocationStrategy::Sequential)
    );
    let mut r = pool(json!({"namePrefix": "p", "allocationStrategy": "random"}));
    default_ippool(&mut r);
    assert_eq!(r.spec.allocation_strategy, Some(AllocationStrategy::Random));
}

#[test]
fn docs_pool_is_valid() {
    let p = pool(json!({"namePrefix": "test1-prov", "pools": [
        {"start": "192.168.0.10", "end": "192.168.0.30", "prefix": 25, "gateway": "192.168.0.1"},
        {"subnet": "192.168.1.1/26"}, {"subnet": "192.168.1.128/25"}],
        "prefix": 24, "gateway": "192.168.1.1", "preAllocations": {"claim1": "192.168.0.12"}}));
    assert_eq!(validate_ippool_create(&p), Ok(()));
}

#[test]
fn pre_allocation_out_of_bounds() {
    let p = pool(
        json!({"namePrefix": "p", "pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}],
        "preAllocations": {"c": "10.0.0.21"}}),
    );
    assert_eq!(
        messages(validate_ippool_create(&p)),
        ["spec.preAllocations: Invalid value: \"10.0.0.21\": is out of bonds of the pools given"]
    );
    // Each bound only checked when present: end-only range accepts anything below end.
    let p = pool(
        json!({"namePrefix": "p", "pools": [{"end": "10.0.0.20"}], "preAllocations": {"c": "1.2.3.4"}}),
    );
    assert_eq!(validate_ippool_create(&p), Ok(()));
    // IPv4 address against an IPv6 subnet: different family, out of bounds.
    let p = pool(
        json!({"namePrefix": "p", "pools": [{"subnet": "::/0"}], "preAllocations": {"c": "1.2.3.4"}}),
    );
    assert_eq!(messages(validate_ippool_create(&p)).len(), 1);
}

#[test]
fn pre_allocations_parse_and_are_unique_by_value() {
    let p = pool(
        json!({"namePrefix": "p", "pools": [{"subnet": "2001:db8::/64"}],
        "preAllocations": {"a": "2001:db8::5", "b": "2001:DB8:0::0005", "c": "bogus"}}),
    );
    let m = messages(validate_ippool_create(&p));
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m[0].starts_with("spec.preAllocations[b]: Invalid value: \"2001:DB8:0::0005\""),
        "{m:?}"
    );
    assert!(
        m[1].starts_with("spec.preAllocations[c]: Invalid value: \"bogus\""),
        "{m:?}"
    );
}

#[test]
fn gateways_dns_and_ranges() {
    let p = pool(
        json!({"namePrefix": "p", "gateway": "x", "dnsServers": ["8.8.8.8", "y"],
        "pools": [{"start": "10.0.0.9", "end": "10.0.0.1"}, {"subnet": "10.0.0.0/33"},
                  {"prefix": 24}, {"start": "10.0.0.1", "gateway": "z", "dnsServers": ["w"]}]}),
    );
    let paths: Vec<_> = validate_ippool_create(&p)
        .unwrap_err()
        .errors
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        paths,
        [
            "spec.gateway",
            "spec.dnsServers[1]",
            "spec.pools[0]",
            "spec.pools[1]",
            "spec.pools[2]",
            "spec.pools[3].gateway",
            "spec.pools[3].dnsServers[0]"
        ]
    );
}

#[test]
fn random_needs_computable_sizes() {
    let ok = pool(json!({"namePrefix": "p", "allocationStrategy": "random",
        "pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}, {"subnet": "2001:db8::/65"}]}));
    assert_eq!(validate_ippool_create(&ok), Ok(()));
    for bad in [
        json!({"start": "10.0.0.1"}),
        json!({"subnet": "2001:db8::/64"}),
        json!({"subnet": "10.0.0.1/32"}),
    ] {
        let p = pool(json!({"namePrefix": "p", "allocationStrategy": "random", "pools": [bad]}));
        assert_eq!(messages(validate_ippool_create(&p)).len(), 1, "{p:?}");
        // The same ranges are fine for the sequential strategy.
        let mut s = p.clone();
        s.spec.allocation_strategy = None;
        assert_eq!(validate_ippool_create(&s), Ok(()));
    }
}

#[test]
fn update_immutables_and_in_use_bounds() {
    let mut old =
        pool(json!({"namePrefix": "p", "pools": [{"start": "10.0.0.1", "end": "10.0.0.50"}]}));
    old.status = Some(IPPoolStatus {
        allocations: [("c".to_string(), "10.0.0.40".to_string())].into(),
        ..IPPoolStatus::default()
    });
    // Unset and explicit sequential are the same strategy.
    let mut same = old.clone();
    same.spec.allocation_strategy = Some(AllocationStrategy::Sequential);
    assert_eq!(validate_ippool_update(&old, &same), Ok(()));
    let mut new = old.clone();
    new.spec.name_prefix = "q".into();
    new.spec.allocation_strategy = Some(AllocationStrategy::Random);
    new.spec.pools[0].end = Some("10.0.0.30".into());
    assert_eq!(
        messages(validate_ippool_update(&old, &new)),
        [
            "spec.namePrefix: Forbidden: is immutable",
            "spec.allocationStrategy: Forbidden: is immutable",
            "spec.pools: Invalid value: \"10.0.0.40\": is in use but out of bounds of the pools given",
        ]
    );
}

fn claim(pool: &str, ip: Option<&str>) -> IPClaim {
    let mut c = IPClaim::default();
    c.metadata.name = "c".into();
    c.spec.pool.name = pool.into();
    if let Some(ip) = ip {
        c.metadata.annotations.insert("ipAddress".into(), ip.into());
    }
    c
}

#[test]
fn ipclaim_rules() {
    assert_eq!(validate_ipclaim_create(&claim("p", None)), Ok(()));
    assert_eq!(validate_ipclaim_create(&claim("p", Some(""))), Ok(()));
    assert_eq!(
        validate_ipclaim_create(&claim("p", Some("fe80::1"))),
        Ok(())
    );
    assert_eq!(
        messages(validate_ipclaim_create(&claim("", Some("nope")))),
        [
            "spec.pool.name: Required value: cannot be empty",
            "metadata.annotations[ipAddress]: Invalid value: \"nope\": not a valid IP address",
        ]
    );
    let old = claim("p", None);
    let mut new = old.clone();
    new.spec.pool.namespace = "other".into();
    assert_eq!(
        messages(validate_ipclaim_update(&old, &new)),
        ["spec.pool: Forbidden: cannot be modified"]
    );
    let mut uid = old.clone();
    uid.spec.pool.uid = "u".into();
    assert_eq!(validate_ipclaim_update(&old, &uid), Ok(()));
}

#[test]
fn ipaddress_rules() {
    let a: IPAddress = serde_json::from_value(json!({"spec": {"address": "10.0.0.1",
        "pool": {"name": "p"}, "claim": {"name": "c"}}}))
    .unwrap();
    assert_eq!(validate_ipaddress_create(&a), Ok(()));
    let empty = IPAddress::default();
    assert_eq!(messages(validate_ipaddress_create(&empty)).len(), 3);
    let mut bad = a.clone();
    bad.spec.address = "10.0.0.256".into();
    assert_eq!(
        messages(validate_ipaddress_create(&bad)),
        ["spec.address: Invalid value: \"10.0.0.256\": is not a valid IP address"]
    );
    let mut moved = a.clone();
    moved.spec.address = "10.0.0.2".into();
    moved.spec.claim.kind = "IPClaim".into();
    moved.spec.pool.namespace = "x".into();
    assert_eq!(
        messages(validate_ipaddress_update(&a, &moved)),
        [
            "spec.address: Forbidden: cannot be modified",
            "spec.pool: Forbidden: cannot be modified",
            "spec.claim: Forbidden: cannot be modified",
        ]
    );
    let mut prefix = a.clone();
    prefix.spec.prefix = Some(64);
    assert_eq!(validate_ipaddress_update(&a, &prefix), Ok(()));
}
