//! Node reuse, cleaning-mode sync, pause/move (§3.c, §3.d, §3.h) and the
//! remediation Reboot state machine (§3.e).

// Test helpers outside #[test] fns fail loudly on bad fixtures, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use metal3_capi::lifecycle::*;
use metal3_capi::remediation::*;
use metal3_capi::select::{
    CLUSTER_NAME_LABEL, NODE_REUSE_LABEL, PAUSED_ANNOTATION, UNHEALTHY_ANNOTATION,
    UNHEALTHY_ANNOTATION_V1BETA1,
};
use metal3_capi::{Cluster, Machine, Metal3Machine, Metal3MachineTemplate, Metal3Remediation};
use metal3_hostmodel::{BareMetalHost, Time};
use serde_json::json;

fn host() -> BareMetalHost {
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": "node-0", "namespace": "ns", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {"online": true},
        "status": {"operationalStatus": "OK", "errorMessage": "", "poweredOn": true,
                   "provisioning": {"state": "provisioned", "ID": "abc"},
                   "hardware": {"hostname": "node-0", "ramMebibytes": 1024, "nics": [], "storage": []}}
    }))
    .unwrap()
}

fn cluster(paused: bool) -> Cluster {
    serde_json::from_value(
        json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
        "metadata": {"name": "c1", "namespace": "ns"}, "spec": {"paused": paused}}),
    )
    .unwrap()
}

fn template(mode: &str, reuse: bool) -> Metal3MachineTemplate {
    serde_json::from_value(json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3MachineTemplate",
        "metadata": {"name": "t", "namespace": "ns"},
        "spec": {"nodeReuse": reuse, "template": {"spec": {"automatedCleaningMode": mode}}}})).unwrap()
}

#[test]
fn node_reuse_value_and_marking() {
    let cp: Machine = serde_json::from_value(json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
        "metadata": {"name": "m", "ownerReferences": [{"apiVersion": "controlplane.cluster.x-k8s.io/v1beta2", "kind": "KubeadmControlPlane", "name": "kcp", "uid": "u"}]},
        "spec": {"clusterName": "c1"}})).unwrap();
    assert_eq!(
        node_reuse_value(&cp, Some("ignored")).as_deref(),
        Some("cp-kcp")
    );
    let mut worker = cp.clone();
    worker.metadata.owner_references[0].api_version = "cluster.x-k8s.io/v1beta2".into();
    assert_eq!(
        node_reuse_value(&worker, Some("md0")).as_deref(),
        Some("md-md0")
    );
    assert_eq!(node_reuse_value(&worker, None), None);

    let h = mark_for_reuse(
        &host(),
        &template("disabled", true),
        &cluster(false),
        Some("md-md0"),
    );
    assert_eq!(h.metadata.labels[NODE_REUSE_LABEL], "md-md0");
    assert_eq!(
        serde_json::to_value(h.spec.consumer_ref).unwrap(),
        json!({"kind": "Cluster", "name": "c1", "namespace": "ns", "apiVersion": "cluster.x-k8s.io/v1beta2"})
    );
    // Disabled template or a deleting cluster: host untouched.
    assert_eq!(
        mark_for_reuse(
            &host(),
            &template("disabled", false),
            &cluster(false),
            Some("md-md0")
        ),
        host()
    );
    let mut deleting = cluster(false);
    deleting.metadata.deletion_timestamp = Some(Time::from_unix(5));
    assert_eq!(
        mark_for_reuse(
            &host(),
            &template("disabled", true),
            &deleting,
            Some("md-md0")
        ),
        host()
    );
}

fn m3m(name: &str, ns: &str, from: Option<(&str, &str)>, mode: Option<&str>) -> Metal3Machine {
    let mut m = Metal3Machine::default();
    m.metadata.name = name.into();
    m.metadata.namespace = ns.into();
    if let Some((n, gk)) = from {
        m.metadata
            .annotations
            .insert(CLONED_FROM_NAME.into(), n.into());
        m.metadata
            .annotations
            .insert(CLONED_FROM_GROUPKIND.into(), gk.into());
    }
    m.spec.automated_cleaning_mode = mode.map(str::to_string);
    m
}

#[test]
fn cleaning_mode_sync_table() {
    let ms = vec![
        m3m("a", "ns", Some(("t", M3MT_GROUPKIND)), Some("metadata")),
        m3m("b", "ns", Some(("t", M3MT_GROUPKIND)), Some("disabled")),
        m3m("c", "ns", Some(("t", M3MT_GROUPKIND)), None),
        m3m("d", "ns", Some(("other", M3MT_GROUPKIND)), Some("metadata")),
        m3m("e", "ns", Some(("t", "Foo.example.com")), Some("metadata")),
        m3m("f", "other", Some(("t", M3MT_GROUPKIND)), Some("metadata")),
        m3m("g", "ns", None, Some("metadata")),
    ];
    let got: Vec<(String, Option<String>)> = sync_cleaning_mode(&template("disabled", false), &ms)
        .unwrap()
        .into_iter()
        .map(|m| (m.metadata.name, m.spec.automated_cleaning_mode))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), Some("disabled".into())),
            ("c".into(), Some("disabled".into()))
        ]
    );
    assert!(sync_cleaning_mode(&template("", false), &ms)
        .unwrap()
        .is_empty());
    let mut paused = template("disabled", false);
    paused
        .metadata
        .annotations
        .insert(CAPI_PAUSED_ANNOTATION.into(), "".into());
    assert_eq!(
        sync_cleaning_mode(&paused, &ms).unwrap_err(),
        LifecycleError::TemplatePaused {
            template: "t".into()
        }
    );
}

#[test]
fn pause_sync_sequence() {
    let steps = sync_pause(&host(), &cluster(true)).unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(
        steps[0]
            .metadata
            .annotations
            .get(BLOCK_MOVE_ANNOTATION)
            .map(String::as_str),
        Some("")
    );
    assert!(!steps[0]
        .metadata
        .annotations
        .contains_key(PAUSED_ANNOTATION));
    assert_eq!(
        steps[1].metadata.annotations[PAUSED_ANNOTATION],
        CAPM3_PAUSE_VALUE
    );
    let status: serde_json::Value =
        serde_json::from_str(&steps[1].metadata.annotations[STATUS_ANNOTATION]).unwrap();
    assert_eq!(status["provisioning"]["state"], "provisioned");
    assert!(status.get("hardware").is_none());
    assert!(!steps[2]
        .metadata
        .annotations
        .contains_key(BLOCK_MOVE_ANNOTATION));
    assert_eq!(
        steps[2].metadata.annotations[PAUSED_ANNOTATION],
        CAPM3_PAUSE_VALUE
    );

    // Already paused: only a stale block-move goes.
    let paused = steps[2].clone();
    assert!(sync_pause(&paused, &cluster(true)).unwrap().is_empty());
    let mut stale = paused.clone();
    stale
        .metadata
        .annotations
        .insert(BLOCK_MOVE_ANNOTATION.into(), "".into());
    assert_eq!(
        sync_pause(&stale, &cluster(true)).unwrap(),
        vec![paused.clone()]
    );

    // Unpause removes our pause only, for hosts of this cluster.
    let un = sync_pause(&paused, &cluster(false)).unwrap();
    assert_eq!(un.len(), 1);
    assert!(!un[0].metadata.annotations.contains_key(PAUSED_ANNOTATION));
    let mut user = host();
    user.metadata
        .annotations
        .insert(PAUSED_ANNOTATION.into(), "admin".into());
    assert!(sync_pause(&user, &cluster(false)).unwrap().is_empty());
    let mut foreign = paused.clone();
    foreign
        .metadata
        .labels
        .insert(CLUSTER_NAME_LABEL.into(), "c2".into());
    assert!(sync_pause(&foreign, &cluster(false)).unwrap().is_empty());

    // Block-move re-added on associated unpaused hosts only.
    assert!(ensure_block_move(&host())
        .unwrap()
        .metadata
        .annotations
        .contains_key(BLOCK_MOVE_ANNOTATION));
    assert_eq!(ensure_block_move(&paused), None);
    assert!(is_paused(&cluster(true), &Default::default()));
    let mut ann = std::collections::BTreeMap::new();
    assert!(!is_paused(&cluster(false), &ann));
    ann.insert(CAPI_PAUSED_ANNOTATION.to_string(), String::new());
    assert!(is_paused(&cluster(false), &ann));
}

#[test]
fn go_durations() {
    for (s, want) in [
        ("5m0s", Some(300)),
        ("300s", Some(300)),
        ("1h30m", Some(5400)),
        ("1.5h", Some(5400)),
        ("0", Some(0)),
        ("100ms", Some(0)),
        ("10", None),
        ("", None),
        ("5x", None),
    ] {
        assert_eq!(parse_go_duration(s), want, "{s}");
    }
}

fn rem(version: &str, strategy: serde_json::Value) -> Metal3Remediation {
    serde_json::from_value(json!({"apiVersion": format!("infrastructure.cluster.x-k8s.io/{version}"), "kind": "Metal3Remediation",
        "metadata": {"name": "r", "namespace": "ns", "uid": "1234"}, "spec": {"strategy": strategy}})).unwrap()
}

fn node() -> NodeView {
    NodeView::Present(NodeMeta {
        labels: [("role".to_string(), "worker".to_string())].into(),
        annotations: [("a".to_string(), "1".to_string())].into(),
        ..Default::default()
    })
}

/// Drives the state machine like the controller, simulating BMO (power follows the
/// reboot annotation) and the Node (deleted on request, re-registers bare after power-on).
fn run(
    mut r: Metal3Remediation,
    mut h: BareMetalHost,
    end: i64,
) -> (Vec<String>, Metal3Remediation, BareMetalHost, bool) {
    let mut trace = Vec::new();
    let mut node_state = node();
    let mut owner = false;
    let mut t = 1000;
    let key = reboot_annotation(&r).unwrap();
    while t < end {
        let s = reconcile(&r, &h, &node_state, Time::from_unix(t)).unwrap();
        r = s.remediation;
        h = s.host;
        owner |= s.owner_remediated_false;
        match s.node {
            NodeAction::Delete => node_state = NodeView::Absent,
            NodeAction::Update(n) => node_state = NodeView::Present(n),
            NodeAction::None => {}
            other => panic!("default mode never asks for {other:?}"),
        }
        let phase = r
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if trace.last() != Some(&phase) {
            trace.push(phase);
        }
        let Some(secs) = s.requeue_secs else { break };
        t += secs as i64;
        // BMO: power follows the reboot annotation; the node re-registers once powered on.
        let on = !h.metadata.annotations.contains_key(&key);
        h.status.as_mut().unwrap().powered_on = on;
        if on && node_state == NodeView::Absent {
            node_state = NodeView::Present(NodeMeta::default());
        }
    }
    (trace, r, h, owner)
}

#[test]
fn reboot_retries_then_gives_up_v1beta2() {
    let r = rem(
        "v1beta2",
        json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 100}),
    );
    let (trace, r, h, owner) = run(r, host(), 10_000);
    assert_eq!(
        trace,
        [
            "Running",
            "Waiting",
            "Running",
            "Waiting",
            "Deleting machine"
        ]
    );
    assert_eq!(r.status.as_ref().unwrap().retry_count, Some(1));
    assert_eq!(
        h.metadata.annotations[UNHEALTHY_ANNOTATION],
        "capm3/UnhealthyNode"
    );
    assert!(owner);
    assert!(!h
        .metadata
        .annotations
        .contains_key("reboot.metal3.io/metal3-remediation-1234"));
    assert!(r.metadata.finalizers.is_empty());
    // Terminal phase is a no-op.
    let s = reconcile(&r, &h, &node(), Time::from_unix(20_000)).unwrap();
    assert_eq!((s.requeue_secs, s.remediation), (None, r));
}

#[test]
fn reboot_without_retries_v1beta1_uses_old_annotation_and_duration() {
    let r = rem(
        "v1beta1",
        json!({"type": "Reboot", "retryLimit": 0, "timeout": "5m0s"}),
    );
    assert_eq!(timeout_secs(&r).unwrap(), 300);
    let (trace, r, h, _) = run(r, host(), 10_000);
    assert_eq!(trace, ["Running", "Waiting", "Deleting machine"]);
    assert_eq!(r.status.unwrap().retry_count, None);
    assert_eq!(
        h.metadata.annotations[UNHEALTHY_ANNOTATION_V1BETA1],
        "capm3/UnhealthyNode"
    );
}

#[test]
fn reboot_steps_in_detail() {
    let r = rem(
        "v1beta2",
        json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 600}),
    );
    let now = Time::from_unix(1000);
    // "" -> Running with lastRemediated.
    let s = reconcile(&r, &host(), &node(), now).unwrap();
    assert_eq!(
        s.remediation.status.as_ref().unwrap().phase.as_deref(),
        Some(PHASE_RUNNING)
    );
    assert_eq!(
        s.remediation.status.as_ref().unwrap().last_remediated,
        Some(now)
    );
    assert_eq!(s.requeue_secs, Some(1));
    // Running: finalizer, then reboot annotation, then wait for power off.
    let s = reconcile(&s.remediation, &s.host, &node(), now).unwrap();
    assert_eq!(s.remediation.metadata.finalizers, [REMEDIATION_FINALIZER]);
    let s = reconcile(&s.remediation, &s.host, &node(), now).unwrap();
    assert_eq!(
        s.host.metadata.annotations["reboot.metal3.io/metal3-remediation-1234"],
        r#"{"mode":"hard"}"#
    );
    assert_eq!(s.requeue_secs, Some(5));
    let s = reconcile(&s.remediation, &s.host, &node(), now).unwrap();
    assert_eq!(
        (s.requeue_secs, &s.node),
        (Some(5), &NodeAction::None),
        "still powered on"
    );
    let mut off = s.host.clone();
    off.status.as_mut().unwrap().powered_on = false;
    // Powered off: back up node meta, then delete the node.
    let s = reconcile(&s.remediation, &off, &node(), now).unwrap();
    assert_eq!(
        s.remediation.metadata.annotations[NODE_LABELS_BACKUP],
        r#"{"role":"worker"}"#
    );
    assert_eq!(
        s.remediation.metadata.annotations[NODE_ANNOTATIONS_BACKUP],
        r#"{"a":"1"}"#
    );
    let s = reconcile(&s.remediation, &off, &node(), now).unwrap();
    assert_eq!(s.node, NodeAction::Delete);
    let s = reconcile(&s.remediation, &off, &NodeView::Absent, now).unwrap();
    assert_eq!(
        s.remediation.status.as_ref().unwrap().phase.as_deref(),
        Some(PHASE_WAITING)
    );
    // Waiting: drop the reboot request; once on and the node is back, restore only missing keys.
    let s = reconcile(&s.remediation, &off, &NodeView::Absent, now).unwrap();
    assert!(!s
        .host
        .metadata
        .annotations
        .contains_key("reboot.metal3.io/metal3-remediation-1234"));
    let mut on = s.host.clone();
    on.status.as_mut().unwrap().powered_on = true;
    let back = NodeView::Present(NodeMeta {
        labels: [("role".to_string(), "new".to_string())].into(),
        ..Default::default()
    });
    let s = reconcile(&s.remediation, &on, &back, now).unwrap();
    assert_eq!(
        s.node,
        NodeAction::Update(NodeMeta {
            labels: [("role".to_string(), "new".to_string())].into(),
            annotations: [("a".to_string(), "1".to_string())].into(),
            ..Default::default()
        })
    );
    assert!(s.remediation.metadata.finalizers.is_empty());
    assert!(!s
        .remediation
        .metadata
        .annotations
        .contains_key(NODE_LABELS_BACKUP));
    // Before the timeout: keep waiting.
    let s = reconcile(&s.remediation, &on, &back, Time::from_unix(1599)).unwrap();
    assert_eq!(
        (
            s.requeue_secs,
            s.remediation.status.as_ref().unwrap().phase.as_deref()
        ),
        (Some(5), Some(PHASE_WAITING))
    );
    let s = reconcile(&s.remediation, &on, &back, Time::from_unix(1600)).unwrap();
    assert_eq!(
        s.remediation.status.as_ref().unwrap().phase.as_deref(),
        Some(PHASE_RUNNING)
    );
    assert_eq!(s.remediation.status.as_ref().unwrap().retry_count, Some(1));
}

#[test]
fn offline_host_fails_and_other_strategies_are_ignored() {
    let r = rem("v1beta2", json!({"type": "Reboot"}));
    let mut h = host();
    h.spec.online = false;
    let s = reconcile(&r, &h, &node(), Time::from_unix(1)).unwrap();
    assert_eq!(
        s.remediation.status.unwrap().phase.as_deref(),
        Some(PHASE_FAILED)
    );
    let r = rem("v1beta2", json!({"type": "Reprovision"}));
    let s = reconcile(&r, &host(), &node(), Time::from_unix(1)).unwrap();
    assert_eq!((s.remediation, s.requeue_secs), (r, None));
    let mut no_uid = rem("v1beta2", json!({"type": "Reboot"}));
    no_uid.metadata.uid = None;
    assert!(matches!(
        reconcile(&no_uid, &host(), &node(), Time::from_unix(1)),
        Err(RemediationError::NoUid { .. })
    ));
    let forbidden = rem("v1beta2", json!({"type": "Reboot", "timeout": "soon"}));
    assert!(matches!(
        timeout_secs(&forbidden),
        Err(RemediationError::BadTimeout { .. })
    ));
    assert_eq!(
        timeout_secs(&rem("v1beta2", json!({"type": "Reboot"}))).unwrap(),
        600
    );
}

#[test]
fn out_of_service_taint_mode() {
    let r = rem(
        "v1beta2",
        json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 600}),
    );
    let now = Time::from_unix(1000);
    let plain = NodeMeta::default();
    let tainted = NodeMeta {
        out_of_service_taint: true,
        ..Default::default()
    };
    let drained = NodeMeta {
        out_of_service_taint: true,
        drained: true,
        ..Default::default()
    };
    let mut s = reconcile_with(&r, &host(), &NodeView::Present(plain.clone()), now, true).unwrap();
    for _ in 0..2 {
        s = reconcile_with(
            &s.remediation,
            &s.host,
            &NodeView::Present(plain.clone()),
            now,
            true,
        )
        .unwrap();
    }
    let mut off = s.host.clone();
    off.status.as_mut().unwrap().powered_on = false;
    // Powered off: taint (no backup, no delete), wait for the drain, then Waiting.
    let s = reconcile_with(
        &s.remediation,
        &off,
        &NodeView::Present(plain.clone()),
        now,
        true,
    )
    .unwrap();
    assert_eq!(
        (s.node.clone(), s.requeue_secs),
        (NodeAction::AddOutOfServiceTaint, Some(1))
    );
    assert!(!s
        .remediation
        .metadata
        .annotations
        .contains_key(NODE_LABELS_BACKUP));
    let s = reconcile_with(&s.remediation, &off, &NodeView::Present(tainted), now, true).unwrap();
    assert_eq!(
        (s.node.clone(), s.requeue_secs),
        (NodeAction::None, Some(5))
    );
    assert_eq!(
        s.remediation.status.as_ref().unwrap().phase.as_deref(),
        Some(PHASE_RUNNING)
    );
    let s = reconcile_with(
        &s.remediation,
        &off,
        &NodeView::Present(drained.clone()),
        now,
        true,
    )
    .unwrap();
    assert_eq!(
        s.remediation.status.as_ref().unwrap().phase.as_deref(),
        Some(PHASE_WAITING)
    );
    // Waiting: after power-on the taint goes and the finalizer with it.
    let s = reconcile_with(
        &s.remediation,
        &off,
        &NodeView::Present(drained.clone()),
        now,
        true,
    )
    .unwrap();
    let mut on = s.host.clone();
    on.status.as_mut().unwrap().powered_on = true;
    let s = reconcile_with(&s.remediation, &on, &NodeView::Present(drained), now, true).unwrap();
    assert_eq!(s.node, NodeAction::RemoveOutOfServiceTaint);
    assert!(s.remediation.metadata.finalizers.is_empty());
}
