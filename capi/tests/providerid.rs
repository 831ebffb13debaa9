//! Provider ID decisions (§3.b).

// Test helpers outside #[test] fns fail loudly on bad fixtures, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use metal3_capi::providerid::*;
use metal3_capi::select::HOST_ANNOTATION;
use metal3_capi::Metal3Machine;

const ID: &str = "metal3://ns/bmh-0/m0";

fn m3m(provider_id: Option<&str>) -> Metal3Machine {
    let mut m = Metal3Machine::default();
    m.metadata.name = "m0".into();
    m.metadata.namespace = "ns".into();
    m.metadata
        .annotations
        .insert(HOST_ANNOTATION.into(), "ns/bmh-0".into());
    m.spec.provider_id = provider_id.map(str::to_string);
    m
}

fn node(name: &str, pid: &str, labels: &[(&str, &str)]) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        provider_id: pid.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

type Case<'a> = (
    Option<&'a str>,
    Vec<NodeInfo>,
    bool,
    bool,
    ProviderIdDecision,
);

#[test]
fn decision_table() {
    let hn = vec!["node-0".to_string()];
    let set = |node: Option<&str>| ProviderIdDecision::SetOnNode {
        provider_id: ID.into(),
        node: node.map(str::to_string),
    };
    let adopt = ProviderIdDecision::Adopt {
        provider_id: ID.into(),
    };
    // (m3m providerID, nodes, cloud provider, configRef) -> decision
    let cases: Vec<Case> = vec![
        (
            Some(ID),
            vec![node("n0", ID, &[])],
            false,
            true,
            ProviderIdDecision::Provisioned,
        ),
        (None, vec![node("n0", ID, &[])], true, true, adopt.clone()),
        (
            None,
            vec![node("n0", "", &[])],
            true,
            true,
            ProviderIdDecision::Requeue,
        ),
        (
            None,
            vec![node("n0", "", &[(UUID_LABEL, "uid-0")])],
            false,
            true,
            set(Some("n0")),
        ),
        (
            None,
            vec![node("n0", ID, &[(UUID_LABEL, "uid-0")])],
            false,
            true,
            adopt,
        ),
        (
            None,
            vec![node("n0", "", &[])],
            false,
            true,
            ProviderIdDecision::Requeue,
        ),
        (
            None,
            vec![node("n0", "", &[(HOSTNAME_LABEL, "node-0")])],
            false,
            false,
            set(Some("n0")),
        ),
        (
            None,
            vec![node("n0", "", &[(HOSTNAME_LABEL, "other")])],
            false,
            false,
            set(None),
        ),
        (
            Some("metal3://ns/bmh-0/old"),
            vec![],
            false,
            false,
            ProviderIdDecision::Requeue,
        ),
    ];
    for (pid, nodes, cloud, cfg, want) in cases {
        assert_eq!(
            decide(&m3m(pid), &nodes, cloud, "uid-0", cfg, &hn).unwrap(),
            want,
            "{pid:?} {nodes:?} {cloud} {cfg}"
        );
    }
}

#[test]
fn error_table() {
    let hn: Vec<String> = vec![];
    let dup = vec![node("a", ID, &[]), node("b", ID, &[])];
    assert!(matches!(
        decide(&m3m(None), &dup, true, "uid-0", true, &hn),
        Err(ProviderIdError::Duplicate { .. })
    ));
    let prefix = vec![
        node("a", "metal3://ns/bmh-0/x", &[]),
        node("b", "metal3://ns/bmh-0/y", &[]),
    ];
    assert!(
        matches!(decide(&m3m(None), &prefix, true, "uid-0", true, &hn), Err(ProviderIdError::Duplicate { provider_id, .. }) if provider_id == "metal3://ns/bmh-0/")
    );
    let two = vec![
        node("a", "", &[(UUID_LABEL, "uid-0")]),
        node("b", "", &[(UUID_LABEL, "uid-0")]),
    ];
    assert!(matches!(
        decide(&m3m(None), &two, false, "uid-0", true, &hn),
        Err(ProviderIdError::MultipleLabelled { .. })
    ));
    let legacy = vec![node("a", "metal3://uid-0", &[(UUID_LABEL, "uid-0")])];
    assert_eq!(
        decide(&m3m(None), &legacy, false, "uid-0", true, &hn)
            .unwrap_err()
            .to_string(),
        "Metal3Machine m0: node a using unsupported providerID format \"metal3://uid-0\""
    );
    let mut bad = m3m(None);
    bad.metadata.annotations.clear();
    assert!(matches!(
        decide(&bad, &[], false, "uid-0", true, &hn),
        Err(ProviderIdError::Annotation(_))
    ));
}
