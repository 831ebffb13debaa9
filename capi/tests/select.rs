//! Host selection (§3.a), association and providerID (§3.b).

// Test helpers outside #[test] fns fail loudly on bad fixtures, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use metal3_capi::select::*;
use metal3_capi::{HostSelector, Machine, Metal3Machine};
use metal3_hostmodel::{BareMetalHost, ProvisioningState, Time};
use metal3_ipam::SplitMix64;
use serde_json::json;

fn host(name: &str, state: &str, labels: &[(&str, &str)]) -> BareMetalHost {
    let labels: BTreeMap<_, _> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "spec": {"online": false, "bmc": {"address": "ipmi://1.2.3.4", "credentialsName": format!("{name}-bmc")}},
        "status": {"operationalStatus": "OK", "errorMessage": "", "poweredOn": false,
                   "provisioning": {"state": state, "ID": ""}}
    }))
    .unwrap()
}

fn m3m(selector: serde_json::Value) -> Metal3Machine {
    serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Machine",
        "metadata": {"name": "m0", "namespace": "ns"},
        "spec": {"hostSelector": selector,
                 "image": {"url": "http://i/img.raw", "checksum": "http://i/img.sha", "checksumType": "sha256", "format": "raw"},
                 "automatedCleaningMode": "disabled"}
    }))
    .unwrap()
}

fn choose(
    m: &Metal3Machine,
    reuse: Option<&str>,
    hosts: &[BareMetalHost],
) -> Result<Option<(String, ChoiceReason)>, SelectError> {
    let mut rng = SplitMix64::new(7);
    Ok(choose_host(m, reuse, hosts, &mut rng)?
        .map(|c| (hosts[c.index].metadata.name.clone(), c.reason)))
}

#[test]
fn selector_operator_table() {
    let labels: BTreeMap<String, String> = [("a", "1"), ("b", "x")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // (operator, key, values, expected match or None for invalid)
    let cases: &[(&str, &str, &[&str], Option<bool>)] = &[
        ("In", "a", &["1", "2"], Some(true)),
        ("in", "a", &["2"], Some(false)),
        ("In", "zz", &["1"], Some(false)),
        ("NotIn", "a", &["2"], Some(true)),
        ("notin", "a", &["1"], Some(false)),
        ("NotIn", "zz", &["1"], Some(true)),
        ("Exists", "b", &[], Some(true)),
        ("exists", "zz", &[], Some(false)),
        ("!", "zz", &[], Some(true)),
        ("!", "a", &[], Some(false)),
        ("=", "a", &["1"], Some(true)),
        ("==", "a", &["2"], Some(false)),
        ("!=", "a", &["2"], Some(true)),
        ("Gt", "a", &["0"], Some(true)),
        ("lt", "a", &["1"], Some(false)),
        ("gt", "b", &["0"], Some(false)),
        // Upstream lower-cases and hands the string to labels.NewRequirement, where
        // DoesNotExist is spelled "!": the long spelling is an invalid operator.
        ("DoesNotExist", "zz", &[], None),
        ("In", "a", &[], None),
        ("Exists", "a", &["1"], None),
        ("=", "a", &["1", "2"], None),
        ("gt", "a", &["x"], None),
        ("bogus", "a", &["1"], None),
        // Keys and values follow k8s label syntax.
        ("Exists", "example.com/role", &[], Some(false)),
        ("Exists", "-bad", &[], None),
        ("Exists", "Bad.Prefix/x", &[], None),
        ("In", "a", &["‘abc’"], None),
        ("In", "a", &["", "1"], Some(true)),
    ];
    for (op, key, values, want) in cases {
        let sel: HostSelector = serde_json::from_value(
            json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]}),
        )
        .unwrap();
        match (Selector::new("m0", Some(&sel)), want) {
            (Ok(s), Some(w)) => assert_eq!(s.matches(&labels), *w, "{op} {key} {values:?}"),
            (Err(e), None) => assert!(matches!(e, SelectError::InvalidSelector { .. }), "{e}"),
            (r, w) => panic!("{op} {key} {values:?}: got {r:?}, want {w:?}"),
        }
    }
}

#[test]
fn match_labels_and_expressions_combine() {
    let m = m3m(
        json!({"matchLabels": {"role": "cp"}, "matchExpressions": [{"key": "rack", "operator": "NotIn", "values": ["r1"]}]}),
    );
    let hosts = vec![
        host("h0", "available", &[("role", "cp"), ("rack", "r1")]),
        host("h1", "available", &[("role", "worker")]),
        host("h2", "available", &[("role", "cp"), ("rack", "r2")]),
    ];
    assert_eq!(
        choose(&m, None, &hosts).unwrap(),
        Some(("h2".into(), ChoiceReason::Available))
    );
}

#[test]
fn eligibility_table() {
    let m = m3m(json!({}));
    let mut with_consumer = host("consumed", "available", &[]);
    with_consumer.spec.consumer_ref = Some(metal3_hostmodel::ObjectReference {
        kind: "Metal3Machine".into(),
        name: "other".into(),
        namespace: "ns".into(),
        ..Default::default()
    });
    let mut deleting = host("deleting", "available", &[]);
    deleting.metadata.deletion_timestamp = Some(Time::from_unix(1));
    let mut errored = host("errored", "ready", &[]);
    errored.status.as_mut().unwrap().error_message = "boom".into();
    let mut paused = host("paused", "available", &[]);
    paused
        .metadata
        .annotations
        .insert(PAUSED_ANNOTATION.into(), "".into());
    let mut unhealthy = host("unhealthy", "available", &[]);
    unhealthy
        .metadata
        .annotations
        .insert(UNHEALTHY_ANNOTATION.into(), "capm3/UnhealthyNode".into());
    let mut unhealthy_old = host("unhealthy-old", "available", &[]);
    unhealthy_old
        .metadata
        .annotations
        .insert(UNHEALTHY_ANNOTATION_V1BETA1.into(), "".into());
    let mut other_ns = host("other-ns", "available", &[]);
    other_ns.metadata.namespace = "elsewhere".into();
    let excluded = vec![
        with_consumer,
        deleting,
        errored,
        paused,
        unhealthy,
        unhealthy_old,
        other_ns,
        host("provisioned", "provisioned", &[]),
        host("inspecting", "inspecting", &[]),
        host("ext", "externally provisioned", &[]),
        host("new", "", &[]),
    ];
    assert_eq!(choose(&m, None, &excluded).unwrap(), None);
    for ok_state in ["ready", "available"] {
        let mut hosts = excluded.clone();
        hosts.push(host("good", ok_state, &[]));
        assert_eq!(
            choose(&m, None, &hosts).unwrap(),
            Some(("good".into(), ChoiceReason::Available)),
            "{ok_state}"
        );
    }
}

#[test]
fn already_associated_host_wins_regardless_of_state() {
    let m = m3m(json!({}));
    let mut mine = host("mine", "provisioned", &[]);
    mine.spec.consumer_ref = Some(metal3_hostmodel::ObjectReference {
        kind: "Metal3Machine".into(),
        name: "m0".into(),
        namespace: "ns".into(),
        api_version: "infrastructure.cluster.x-k8s.io/v1beta2".into(),
        ..Default::default()
    });
    mine.status.as_mut().unwrap().error_message = "even with an error".into();
    let hosts = vec![host("a", "available", &[]), mine];
    assert_eq!(
        choose(&m, None, &hosts).unwrap(),
        Some(("mine".into(), ChoiceReason::AlreadyAssociated))
    );
}

#[test]
fn node_reuse_label_priority() {
    let m = m3m(json!({}));
    let mut reuse = host("kept", "available", &[(NODE_REUSE_LABEL, "md-pool")]);
    // A kept host carries a Cluster consumerRef; the reuse label bypasses that exclusion.
    reuse.spec.consumer_ref = Some(metal3_hostmodel::ObjectReference {
        kind: "Cluster".into(),
        name: "c".into(),
        namespace: "ns".into(),
        ..Default::default()
    });
    let hosts = vec![
        host("a", "available", &[]),
        reuse.clone(),
        host("wrong", "available", &[(NODE_REUSE_LABEL, "md-other")]),
    ];
    assert_eq!(
        choose(&m, Some("md-pool"), &hosts).unwrap(),
        Some(("kept".into(), ChoiceReason::NodeReuse))
    );
    // Without a reuse name the labelled hosts never match (and are not free either).
    assert_eq!(choose(&m, None, &hosts[1..]).unwrap(), None);
    // Empty label value never matches.
    let empty = vec![host("e", "available", &[(NODE_REUSE_LABEL, "")])];
    assert_eq!(choose(&m, Some(""), &empty).unwrap(), None);
    // A reuse host still deprovisioning makes the choice wait.
    let mut busy = reuse.clone();
    busy.metadata.name = "busy".into();
    busy.status.as_mut().unwrap().provisioning.state = ProvisioningState::Deprovisioning;
    let hosts = vec![host("a", "available", &[]), busy];
    assert_eq!(
        choose(&m, Some("md-pool"), &hosts).unwrap_err(),
        SelectError::NodeReuseHostNotAvailable {
            host: "busy".into()
        }
    );
    // Reuse beats the failure domain; among several ready reuse hosts the last one wins.
    let mut m_fd = m.clone();
    m_fd.spec.failure_domain = Some("fd1".into());
    let mut second = reuse.clone();
    second.metadata.name = "kept2".into();
    let hosts = vec![
        host("fdhost", "available", &[(FAILURE_DOMAIN_LABEL, "fd1")]),
        reuse,
        second,
    ];
    assert_eq!(
        choose(&m_fd, Some("md-pool"), &hosts).unwrap(),
        Some(("kept2".into(), ChoiceReason::NodeReuse))
    );
}

#[test]
fn failure_domain_preference_and_fallback() {
    let mut m = m3m(json!({}));
    m.spec.failure_domain = Some("fd2".into());
    let hosts: Vec<_> = (0..6)
        .map(|i| {
            host(
                &format!("h{i}"),
                "available",
                &[(FAILURE_DOMAIN_LABEL, if i == 4 { "fd2" } else { "fd1" })],
            )
        })
        .collect();
    for seed in 0..20 {
        let c = choose_host(&m, None, &hosts, &mut SplitMix64::new(seed))
            .unwrap()
            .unwrap();
        assert_eq!(hosts[c.index].metadata.name, "h4");
    }
    m.spec.failure_domain = Some("fd9".into());
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let c = choose_host(&m, None, &hosts, &mut SplitMix64::new(seed))
            .unwrap()
            .unwrap();
        seen.insert(c.index);
    }
    assert_eq!(
        seen.len(),
        6,
        "fallback to all hosts, uniformly random: {seen:?}"
    );
}

#[test]
fn random_tie_break_is_seedable() {
    let m = m3m(json!({}));
    let hosts: Vec<_> = (0..8)
        .map(|i| host(&format!("h{i}"), "available", &[]))
        .collect();
    let pick = |seed| {
        choose_host(&m, None, &hosts, &mut SplitMix64::new(seed))
            .unwrap()
            .unwrap()
            .index
    };
    assert_eq!(pick(42), pick(42));
    assert!(
        (0..50)
            .map(pick)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1
    );
}

fn machine() -> Machine {
    serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
        "metadata": {"name": "machine-0", "namespace": "ns", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {"clusterName": "c1", "bootstrap": {"dataSecretName": "machine-0-bootstrap"}, "version": "v1.36.0"}
    }))
    .unwrap()
}

#[test]
fn associate_without_data_template_sets_host_spec() {
    let m = m3m(json!({}));
    let h = host("h0", "available", &[(NODE_REUSE_LABEL, "md-x")]);
    let a = associate(&h, &m, &machine()).unwrap();
    let got = serde_json::to_value(&a.host).unwrap();
    assert_eq!(
        got["metadata"]["labels"],
        json!({"cluster.x-k8s.io/cluster-name": "c1"})
    );
    assert_eq!(
        got["spec"]["consumerRef"],
        json!({"kind": "Metal3Machine", "name": "m0", "namespace": "ns", "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1"})
    );
    assert_eq!(
        got["spec"]["image"],
        json!({"url": "http://i/img.raw", "checksum": "http://i/img.sha", "checksumType": "sha256", "format": "raw"})
    );
    assert_eq!(
        got["spec"]["userData"],
        json!({"name": "machine-0-bootstrap", "namespace": "ns"})
    );
    assert_eq!(got["spec"]["automatedCleaningMode"], json!("disabled"));
    assert_eq!(got["spec"]["online"], json!(true));
    assert_eq!(a.machine.metadata.annotations[HOST_ANNOTATION], "ns/h0");
    assert_eq!(provider_id(&a.machine).unwrap(), "metal3://ns/h0/m0");
}

#[test]
fn associate_with_data_template_defers_host_spec() {
    let mut m = m3m(json!({}));
    m.spec.data_template = Some(metal3_hostmodel::ObjectReference {
        name: "dt".into(),
        ..Default::default()
    });
    let a = associate(&host("h0", "available", &[]), &m, &machine()).unwrap();
    assert!(a.host.spec.image.is_none());
    assert!(!a.host.spec.online);
    assert!(a.host.spec.consumer_ref.is_some());
    // Later Update with rendered secrets in status puts them on the host.
    let mut m2 = a.machine.clone();
    let st = m2.status.as_mut().unwrap();
    st.meta_data = Some(metal3_hostmodel::SecretReference {
        name: "m0-metadata".into(),
        namespace: "".into(),
    });
    st.network_data = Some(metal3_hostmodel::SecretReference {
        name: "m0-networkdata".into(),
        namespace: "ns".into(),
    });
    let h = set_host_spec(&a.host, &m2).unwrap();
    assert_eq!(h.spec.meta_data.unwrap().namespace, "ns");
    assert_eq!(h.spec.network_data.unwrap().name, "m0-networkdata");
    // The image is never replaced once set.
    let mut m3 = m2.clone();
    m3.spec.image.as_mut().unwrap().url = "http://i/other.raw".into();
    let again = set_host_spec(&set_host_spec(&a.host, &m2).unwrap(), &m3).unwrap();
    assert_eq!(again.spec.image.unwrap().url, "http://i/img.raw");
}

#[test]
fn association_errors() {
    let mut m = m3m(json!({}));
    m.spec.image = None;
    assert_eq!(
        associate(&host("h0", "available", &[]), &m, &machine()).unwrap_err(),
        SelectError::NoImage {
            machine: "m0".into()
        }
    );
    let mut m = m3m(json!({}));
    m.spec.user_data = Some(metal3_hostmodel::SecretReference {
        name: "u".into(),
        namespace: "other".into(),
    });
    assert!(matches!(
        associate(&host("h0", "available", &[]), &m, &machine()).unwrap_err(),
        SelectError::CrossNamespace {
            field: "spec.userData",
            ..
        }
    ));
    let mut m = m3m(json!({}));
    m.spec.automated_cleaning_mode = Some("full".into());
    assert!(matches!(
        associate(&host("h0", "available", &[]), &m, &machine()).unwrap_err(),
        SelectError::InvalidCleaningMode { .. }
    ));
    let mut m = m3m(json!({}));
    m.metadata
        .annotations
        .insert(HOST_ANNOTATION.into(), "other/h0".into());
    assert!(matches!(
        provider_id(&m).unwrap_err(),
        SelectError::BadHostAnnotation { .. }
    ));
    m.metadata.annotations.clear();
    assert!(provider_id(&m).is_err());
}

#[test]
fn annotation_lookup_and_addresses() {
    let mut m = m3m(json!({}));
    let hosts = vec![host("h0", "available", &[]), host("h1", "provisioned", &[])];
    assert_eq!(annotated_host(&m, &hosts), None);
    m.metadata
        .annotations
        .insert(HOST_ANNOTATION.into(), "ns/h1".into());
    assert_eq!(annotated_host(&m, &hosts), Some(1));
    m.metadata
        .annotations
        .insert(HOST_ANNOTATION.into(), "ns/gone".into());
    assert_eq!(annotated_host(&m, &hosts), None);

    let mut h = host("h0", "provisioned", &[]);
    h.status.as_mut().unwrap().hardware = Some(serde_json::from_value(json!({
        "hostname": "node-0", "ramMebibytes": 0, "storage": [],
        "nics": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "ip": "192.168.1.5", "speedGbps": 0, "model": ""},
                 {"name": "eth1", "mac": "aa:bb:cc:dd:ee:fe", "ip": "", "speedGbps": 0, "model": ""}]
    })).unwrap());
    assert_eq!(
        machine_addresses(&h),
        vec![
            json!({"type": "InternalIP", "address": "192.168.1.5"}),
            json!({"type": "Hostname", "address": "node-0"}),
            json!({"type": "InternalDNS", "address": "node-0"}),
        ]
    );
    assert!(machine_addresses(&host("x", "ready", &[])).is_empty());
}

#[test]
fn dissociate_sequence() {
    let m = m3m(json!({}));
    let a = associate(&host("h0", "available", &[]), &m, &machine()).unwrap();
    let mut h = a.host.clone();
    h.metadata
        .annotations
        .insert(PAUSED_ANNOTATION.into(), "metal3.io/capm3".into());
    h.status.as_mut().unwrap().provisioning.state = ProvisioningState::Provisioned;
    // 1. spec cleared, powered off (no fast track).
    let Dissociation::Patched(p) = dissociate(&h, &a.machine, "c1", false) else {
        panic!()
    };
    assert!(p.spec.image.is_none() && p.spec.user_data.is_none() && !p.spec.online);
    assert!(p.spec.consumer_ref.is_some());
    // Fast track keeps it on unless cleaning is disabled (it is, in this machine).
    let Dissociation::Patched(f) = dissociate(&h, &a.machine, "c1", true) else {
        panic!()
    };
    assert!(!f.spec.online);
    let mut metadata_mode = h.clone();
    metadata_mode.spec.automated_cleaning_mode =
        Some(metal3_hostmodel::AutomatedCleaningMode::Metadata);
    let Dissociation::Patched(f) = dissociate(&metadata_mode, &a.machine, "c1", true) else {
        panic!()
    };
    assert!(f.spec.online);
    // 2. wait while deprovisioning.
    assert_eq!(dissociate(&p, &a.machine, "c1", false), Dissociation::Wait);
    let mut ready = p.clone();
    ready.status.as_mut().unwrap().provisioning.state = ProvisioningState::Available;
    // 3. released: consumerRef, cluster label and CAPM3 pause removed.
    let Dissociation::Done(d) = dissociate(&ready, &a.machine, "c1", false) else {
        panic!()
    };
    assert!(d.spec.consumer_ref.is_none());
    assert!(!d.metadata.labels.contains_key(CLUSTER_NAME_LABEL));
    assert!(!d.metadata.annotations.contains_key(PAUSED_ANNOTATION));
    // Someone else's host is left alone.
    let other = host("h9", "provisioned", &[]);
    assert_eq!(
        dissociate(&other, &a.machine, "c1", false),
        Dissociation::Done(other.clone())
    );
}
