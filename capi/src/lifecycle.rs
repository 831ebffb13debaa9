//! Node reuse (§3.c), automatedCleaningMode sync (§3.d), pause / move (§3.h)
//! as pure functions over the objects involved.

use metal3_hostmodel::{BareMetalHost, ObjectReference};

use crate::select::{CLUSTER_NAME_LABEL, NODE_REUSE_LABEL, PAUSED_ANNOTATION};
use crate::types::{Cluster, Machine, Metal3Machine, Metal3MachineTemplate};

/// CAPI pause annotation on Metal3Machines, templates and clusters.
pub const CAPI_PAUSED_ANNOTATION: &str = "cluster.x-k8s.io/paused";
/// Value CAPM3 writes into the host pause annotation.
pub const CAPM3_PAUSE_VALUE: &str = "metal3.io/capm3";
/// Host annotation holding the status while paused.
pub const STATUS_ANNOTATION: &str = "baremetalhost.metal3.io/status";
/// clusterctl annotation blocking `clusterctl move`.
pub const BLOCK_MOVE_ANNOTATION: &str = "clusterctl.cluster.x-k8s.io/block-move";
/// Annotation naming the template a Metal3Machine was cloned from.
pub const CLONED_FROM_NAME: &str = "cluster.x-k8s.io/cloned-from-name";
/// Annotation naming the template's group-kind.
pub const CLONED_FROM_GROUPKIND: &str = "cluster.x-k8s.io/cloned-from-groupkind";
/// Group-kind of Metal3MachineTemplate as written in [`CLONED_FROM_GROUPKIND`].
pub const M3MT_GROUPKIND: &str = "Metal3MachineTemplate.infrastructure.cluster.x-k8s.io";
/// API group of CAPI control-plane providers.
pub const CONTROLPLANE_GROUP: &str = "controlplane.cluster.x-k8s.io";

/// Lifecycle errors, naming the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The template is paused; the caller requeues after 30s.
    #[error(
        "Metal3MachineTemplate {template} is paused (cluster.x-k8s.io/paused), requeue in 30s"
    )]
    TemplatePaused {
        /// Template name.
        template: String,
    },
    /// The host status could not be serialised for the status annotation.
    #[error("BareMetalHost {host}: status cannot be serialised: {message}")]
    StatusEncode {
        /// Host name.
        host: String,
        /// serde_json's message.
        message: String,
    },
}

/// `cp-<kcp>` when the Machine is owned by a control plane, else `md-<md>` when
/// the caller resolved the MachineSet's MachineDeployment, else `None`.
pub fn node_reuse_value(machine: &Machine, machine_deployment: Option<&str>) -> Option<String> {
    let cp = machine
        .metadata
        .owner_references
        .iter()
        .find(|o| o.api_version.split('/').next() == Some(CONTROLPLANE_GROUP));
    match (cp, machine_deployment) {
        (Some(o), _) => Some(format!("cp-{}", o.name)),
        (None, Some(md)) if !md.is_empty() => Some(format!("md-{md}")),
        _ => None,
    }
}

/// On Metal3Machine deletion (host deprovisioned, consumerRef cleared): when the
/// template has `nodeReuse` and the Cluster is not being deleted, label the host
/// for its KCP / MachineDeployment and give it a Cluster consumerRef so no other
/// cluster takes it. Returns the host unchanged otherwise.
pub fn mark_for_reuse(
    host: &BareMetalHost,
    template: &Metal3MachineTemplate,
    cluster: &Cluster,
    reuse_value: Option<&str>,
) -> BareMetalHost {
    let mut host = host.clone();
    let enabled = template.spec.node_reuse == Some(true);
    let Some(value) =
        reuse_value.filter(|_| enabled && cluster.metadata.deletion_timestamp.is_none())
    else {
        return host;
    };
    host.metadata
        .labels
        .insert(NODE_REUSE_LABEL.into(), value.into());
    host.spec.consumer_ref = Some(ObjectReference {
        kind: "Cluster".into(),
        api_version: cluster.api_version.clone(),
        name: cluster.metadata.name.clone(),
        namespace: cluster.metadata.namespace.clone(),
        ..Default::default()
    });
    host
}

/// Metal3MachineTemplate controller: the Metal3Machines cloned from `template`
/// (same namespace, both cloned-from annotations) whose `automatedCleaningMode`
/// differs from a non-empty template value, updated. Empty template value: none.
pub fn sync_cleaning_mode(
    template: &Metal3MachineTemplate,
    machines: &[Metal3Machine],
) -> Result<Vec<Metal3Machine>, LifecycleError> {
    if template
        .metadata
        .annotations
        .contains_key(CAPI_PAUSED_ANNOTATION)
    {
        return Err(LifecycleError::TemplatePaused {
            template: template.metadata.name.clone(),
        });
    }
    let Some(mode) = template
        .spec
        .template
        .spec
        .automated_cleaning_mode
        .as_ref()
        .filter(|m| !m.is_empty())
    else {
        return Ok(Vec::new());
    };
    Ok(machines
        .iter()
        .filter(|m| {
            let a = &m.metadata.annotations;
            m.metadata.namespace == template.metadata.namespace
                && a.get(CLONED_FROM_NAME) == Some(&template.metadata.name)
                && a.get(CLONED_FROM_GROUPKIND).map(String::as_str) == Some(M3MT_GROUPKIND)
                && m.spec.automated_cleaning_mode.as_ref() != Some(mode)
        })
        .map(|m| {
            let mut m = m.clone();
            m.spec.automated_cleaning_mode = Some(mode.clone());
            m
        })
        .collect())
}

/// True when reconciliation must wait (requeue 30s): Cluster `spec.paused` or the
/// `cluster.x-k8s.io/paused` annotation on the Cluster or the object.
pub fn is_paused(
    cluster: &Cluster,
    object_annotations: &std::collections::BTreeMap<String, String>,
) -> bool {
    cluster.spec.paused == Some(true)
        || cluster
            .metadata
            .annotations
            .contains_key(CAPI_PAUSED_ANNOTATION)
        || object_annotations.contains_key(CAPI_PAUSED_ANNOTATION)
}

/// The successive host states CAPM3 patches when syncing the pause annotation
/// with the Cluster (empty when nothing changes). Pausing writes block-move
/// first so `clusterctl move` cannot start between the steps.
pub fn sync_pause(
    host: &BareMetalHost,
    cluster: &Cluster,
) -> Result<Vec<BareMetalHost>, LifecycleError> {
    let mut steps = Vec::new();
    let mut h = host.clone();
    let ann_has = |h: &BareMetalHost, k: &str| h.metadata.annotations.contains_key(k);
    if cluster.spec.paused == Some(true) {
        if ann_has(&h, PAUSED_ANNOTATION) {
            if ann_has(&h, BLOCK_MOVE_ANNOTATION) {
                h.metadata.annotations.remove(BLOCK_MOVE_ANNOTATION);
                steps.push(h);
            }
            return Ok(steps);
        }
        h.metadata
            .annotations
            .insert(BLOCK_MOVE_ANNOTATION.into(), String::new());
        steps.push(h.clone());
        h.metadata
            .annotations
            .insert(PAUSED_ANNOTATION.into(), CAPM3_PAUSE_VALUE.into());
        if let Some(status) = &h.status {
            // The status (minus the bulky hardware details) travels with the host
            // so BMO on the target cluster can restore it after the move.
            let mut st = status.clone();
            st.hardware = None;
            let json = serde_json::to_string(&st).map_err(|e| LifecycleError::StatusEncode {
                host: h.metadata.name.clone(),
                message: e.to_string(),
            })?;
            h.metadata
                .annotations
                .insert(STATUS_ANNOTATION.into(), json);
        }
        steps.push(h.clone());
        h.metadata.annotations.remove(BLOCK_MOVE_ANNOTATION);
        steps.push(h);
        return Ok(steps);
    }
    let ours = h.metadata.labels.get(CLUSTER_NAME_LABEL) == Some(&cluster.metadata.name)
        && h.metadata
            .annotations
            .get(PAUSED_ANNOTATION)
            .map(String::as_str)
            == Some(CAPM3_PAUSE_VALUE);
    if ours {
        h.metadata.annotations.remove(PAUSED_ANNOTATION);
        steps.push(h);
    }
    Ok(steps)
}

/// Re-adds the block-move annotation on an associated, non-paused host (every
/// reconcile); `None` when nothing changes.
pub fn ensure_block_move(host: &BareMetalHost) -> Option<BareMetalHost> {
    let a = &host.metadata.annotations;
    if a.contains_key(PAUSED_ANNOTATION) || a.contains_key(BLOCK_MOVE_ANNOTATION) {
        return None;
    }
    let mut h = host.clone();
    h.metadata
        .annotations
        .insert(BLOCK_MOVE_ANNOTATION.into(), String::new());
    Some(h)
}
