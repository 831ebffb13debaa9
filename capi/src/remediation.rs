//! Metal3Remediation Reboot strategy (reference §3.e) as a pure step function:
//! given the remediation, its host, the Node and the time, return the updated
//! objects and when to reconcile again.

use std::collections::BTreeMap;

use metal3_hostmodel::{BareMetalHost, Time};

use crate::select::{UNHEALTHY_ANNOTATION, UNHEALTHY_ANNOTATION_V1BETA1};
use crate::types::{Metal3Remediation, Metal3RemediationStatus};

/// Finalizer on Metal3Remediation while the node is being handled.
pub const REMEDIATION_FINALIZER: &str = "metal3remediation.infrastructure.cluster.x-k8s.io";
/// Prefix of the per-remediation reboot annotation on the host.
pub const REBOOT_ANNOTATION_PREFIX: &str = "reboot.metal3.io/metal3-remediation-";
/// Value of the reboot annotation (BMO's `{"mode":"hard"}`).
pub const REBOOT_ANNOTATION_VALUE: &str = r#"{"mode":"hard"}"#;
/// Backup of the Node's annotations on the Metal3Remediation.
pub const NODE_ANNOTATIONS_BACKUP: &str = "remediation.metal3.io/node-annotations-backup";
/// Backup of the Node's labels on the Metal3Remediation.
pub const NODE_LABELS_BACKUP: &str = "remediation.metal3.io/node-labels-backup";
/// Value of the unhealthy annotation set when remediation gives up.
pub const UNHEALTHY_VALUE: &str = "capm3/UnhealthyNode";
/// Default timeout when none is given.
pub const DEFAULT_TIMEOUT_SECS: i64 = 600;

/// Phase `Running`.
pub const PHASE_RUNNING: &str = "Running";
/// Phase `Waiting`.
pub const PHASE_WAITING: &str = "Waiting";
/// Phase `Deleting machine`.
pub const PHASE_DELETING: &str = "Deleting machine";
/// Phase `Failed`.
pub const PHASE_FAILED: &str = "Failed";

/// Remediation errors, naming the object and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemediationError {
    /// `spec.strategy.timeout` is not a Go duration.
    #[error("Metal3Remediation {name}: spec.strategy.timeout {value:?} is not a duration")]
    BadTimeout {
        /// Remediation name.
        name: String,
        /// Value given.
        value: String,
    },
    /// The remediation has no UID, so the reboot annotation cannot be named.
    #[error("Metal3Remediation {name}: metadata.uid is empty")]
    NoUid {
        /// Remediation name.
        name: String,
    },
    /// A node backup annotation holds invalid JSON.
    #[error("Metal3Remediation {name}: annotation {annotation} is not a JSON string map")]
    BadBackup {
        /// Remediation name.
        name: String,
        /// Annotation key.
        annotation: &'static str,
    },
}

/// Labels and annotations of the workload-cluster Node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeMeta {
    /// Node labels.
    pub labels: BTreeMap<String, String>,
    /// Node annotations.
    pub annotations: BTreeMap<String, String>,
    /// The `node.kubernetes.io/out-of-service` taint is present (taint mode).
    pub out_of_service_taint: bool,
    /// No pod on the node is terminating and no VolumeAttachment references it (taint mode).
    pub drained: bool,
}

/// Taint CAPM3 adds in out-of-service mode (`key=value:effect`).
pub const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute";

/// What the controller can see of the Node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeView {
    /// The Node exists.
    Present(NodeMeta),
    /// No Node (deleted, not re-registered yet, or no nodeRef).
    Absent,
    /// Workload-cluster access is forbidden.
    Forbidden,
}

/// Action on the Node requested by a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeAction {
    /// Leave it.
    None,
    /// Delete the Node (default mode, after backing it up).
    Delete,
    /// Write back these labels / annotations (restore after reboot).
    Update(NodeMeta),
    /// Add [`OUT_OF_SERVICE_TAINT`] (taint mode).
    AddOutOfServiceTaint,
    /// Remove [`OUT_OF_SERVICE_TAINT`] (taint mode).
    RemoveOutOfServiceTaint,
}

/// Result of one reconcile step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Updated remediation (status, finalizers, backup annotations).
    pub remediation: Metal3Remediation,
    /// Updated host (reboot / unhealthy annotations).
    pub host: BareMetalHost,
    /// Node action.
    pub node: NodeAction,
    /// Set CAPI Machine condition `OwnerRemediated=False` (reason `WaitingForRemediation`).
    pub owner_remediated_false: bool,
    /// Requeue after this many seconds; `None` = stop.
    pub requeue_secs: Option<u64>,
}

/// Parses a Go `time.Duration` string (`5m0s`, `300s`, `1h30m`, `1.5h`) into whole seconds.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += num * mult;
        rest = &rest[u..];
    }
    let secs = (nanos / 1e9) as i64;
    Some(if neg { -secs } else { secs })
}

/// Effective timeout in seconds: `timeoutSeconds`, else the `timeout` duration, else 600.
pub fn timeout_secs(rem: &Metal3Remediation) -> Result<i64, RemediationError> {
    let Some(s) = &rem.spec.strategy else {
        return Ok(DEFAULT_TIMEOUT_SECS);
    };
    if let Some(t) = s.timeout_seconds.filter(|&t| t > 0) {
        return Ok(t);
    }
    match &s.timeout {
        Some(d) => match parse_go_duration(d) {
            Some(0) => Ok(DEFAULT_TIMEOUT_SECS),
            Some(v) => Ok(v),
            None => Err(RemediationError::BadTimeout {
                name: rem.metadata.name.clone(),
                value: d.clone(),
            }),
        },
        None => Ok(DEFAULT_TIMEOUT_SECS),
    }
}

/// The host annotation naming this remediation's reboot request.
pub fn reboot_annotation(rem: &Metal3Remediation) -> Result<String, RemediationError> {
    match rem.metadata.uid.as_deref().filter(|u| !u.is_empty()) {
        Some(uid) => Ok(format!("{REBOOT_ANNOTATION_PREFIX}{uid}")),
        None => Err(RemediationError::NoUid {
            name: rem.metadata.name.clone(),
        }),
    }
}

fn json_map(s: &str) -> Option<BTreeMap<String, String>> {
    serde_json::from_str(s).ok()
}

/// One reconcile of a Metal3Remediation with the Reboot strategy in the default
/// node mode (back up and delete the Node).
pub fn reconcile(
    rem: &Metal3Remediation,
    host: &BareMetalHost,
    node: &NodeView,
    now: Time,
) -> Result<Step, RemediationError> {
    reconcile_with(rem, host, node, now, false)
}

/// One reconcile; `out_of_service_taint` selects the taint mode CAPM3 enables on
/// management clusters with Kubernetes >= 1.28 (taint the Node instead of deleting it).
pub fn reconcile_with(
    rem: &Metal3Remediation,
    host: &BareMetalHost,
    node: &NodeView,
    now: Time,
    out_of_service_taint: bool,
) -> Result<Step, RemediationError> {
    let mut r = rem.clone();
    let mut h = host.clone();
    let step = |r: Metal3Remediation,
                h: BareMetalHost,
                node: NodeAction,
                owner: bool,
                requeue: Option<u64>| Step {
        remediation: r,
        host: h,
        node,
        owner_remediated_false: owner,
        requeue_secs: requeue,
    };
    let status = r
        .status
        .get_or_insert_with(Metal3RemediationStatus::default);
    if !h.spec.online {
        status.phase = Some(PHASE_FAILED.into());
        return Ok(step(r, h, NodeAction::None, false, None));
    }
    let strategy = rem.spec.strategy.clone().unwrap_or_default();
    if strategy.type_.as_deref() != Some("Reboot") {
        return Ok(step(rem.clone(), h, NodeAction::None, false, None));
    }
    let phase = status.phase.clone().unwrap_or_default();
    let powered_on = h.status.as_ref().is_some_and(|s| s.powered_on);
    let reboot_key = reboot_annotation(rem)?;
    match phase.as_str() {
        "" => {
            status.phase = Some(PHASE_RUNNING.into());
            status.last_remediated = Some(now);
            Ok(step(r, h, NodeAction::None, false, Some(1)))
        }
        PHASE_RUNNING => {
            if !r
                .metadata
                .finalizers
                .iter()
                .any(|f| f == REMEDIATION_FINALIZER)
            {
                r.metadata.finalizers.push(REMEDIATION_FINALIZER.into());
                return Ok(step(r, h, NodeAction::None, false, Some(1)));
            }
            if let std::collections::btree_map::Entry::Vacant(e) =
                h.metadata.annotations.entry(reboot_key)
            {
                e.insert(REBOOT_ANNOTATION_VALUE.into());
                return Ok(step(r, h, NodeAction::None, false, Some(5)));
            }
            if powered_on {
                return Ok(step(r, h, NodeAction::None, false, Some(5)));
            }
            if let (NodeView::Present(n), true) = (node, out_of_service_taint) {
                if !n.out_of_service_taint {
                    return Ok(step(r, h, NodeAction::AddOutOfServiceTaint, false, Some(1)));
                }
                if !n.drained {
                    return Ok(step(r, h, NodeAction::None, false, Some(5)));
                }
            } else if let NodeView::Present(n) = node {
                let backups = [
                    (NODE_ANNOTATIONS_BACKUP, &n.annotations),
                    (NODE_LABELS_BACKUP, &n.labels),
                ];
                let mut changed = false;
                for (key, map) in backups {
                    // BTreeMap serialises with sorted keys, as Go's json.Marshal does for maps.
                    let v = serde_json::to_string(map).unwrap_or_default();
                    if r.metadata.annotations.get(key) != Some(&v) {
                        r.metadata.annotations.insert(key.into(), v);
                        changed = true;
                    }
                }
                if changed {
                    return Ok(step(r, h, NodeAction::None, false, Some(1)));
                }
                return Ok(step(r, h, NodeAction::Delete, false, Some(5)));
            }
            if let Some(s) = r.status.as_mut() {
                s.phase = Some(PHASE_WAITING.into());
            }
            Ok(step(r, h, NodeAction::None, false, Some(5)))
        }
        PHASE_WAITING => {
            // Removing the reboot request powers the host back on.
            if h.metadata.annotations.remove(&reboot_key).is_some() || !powered_on {
                return Ok(step(r, h, NodeAction::None, false, Some(5)));
            }
            let has_finalizer = r
                .metadata
                .finalizers
                .iter()
                .any(|f| f == REMEDIATION_FINALIZER);
            if has_finalizer {
                match node {
                    NodeView::Present(n) if out_of_service_taint => {
                        r.metadata.finalizers.retain(|f| f != REMEDIATION_FINALIZER);
                        let action = if n.out_of_service_taint {
                            NodeAction::RemoveOutOfServiceTaint
                        } else {
                            NodeAction::None
                        };
                        return Ok(step(r, h, action, false, Some(5)));
                    }
                    NodeView::Present(n) => {
                        let mut restored = n.clone();
                        for (key, target) in [
                            (NODE_ANNOTATIONS_BACKUP, &mut restored.annotations),
                            (NODE_LABELS_BACKUP, &mut restored.labels),
                        ] {
                            if let Some(raw) = r.metadata.annotations.remove(key) {
                                let backup =
                                    json_map(&raw).ok_or_else(|| RemediationError::BadBackup {
                                        name: r.metadata.name.clone(),
                                        annotation: key,
                                    })?;
                                for (k, v) in backup {
                                    target.entry(k).or_insert(v);
                                }
                            }
                        }
                        r.metadata.finalizers.retain(|f| f != REMEDIATION_FINALIZER);
                        let action = if &restored == n {
                            NodeAction::None
                        } else {
                            NodeAction::Update(restored)
                        };
                        return Ok(step(r, h, action, false, Some(5)));
                    }
                    NodeView::Forbidden => {
                        r.metadata.finalizers.retain(|f| f != REMEDIATION_FINALIZER);
                        return Ok(step(r, h, NodeAction::None, false, Some(5)));
                    }
                    NodeView::Absent => {}
                }
            }
            let timeout = timeout_secs(rem)?;
            let started = r
                .status
                .as_ref()
                .and_then(|s| s.last_remediated)
                .map_or(0, |t| t.unix());
            if now.unix() < started + timeout {
                return Ok(step(r, h, NodeAction::None, false, Some(5)));
            }
            let retry_limit = strategy.retry_limit.unwrap_or(0);
            let status = r
                .status
                .get_or_insert_with(Metal3RemediationStatus::default);
            let retries = status.retry_count.unwrap_or(0);
            if retry_limit > 0 && retries != retry_limit {
                status.phase = Some(PHASE_RUNNING.into());
                status.last_remediated = Some(now);
                status.retry_count = Some(retries + 1);
                return Ok(step(r, h, NodeAction::None, false, Some(1)));
            }
            let key = if rem.is_v1beta2() {
                UNHEALTHY_ANNOTATION
            } else {
                UNHEALTHY_ANNOTATION_V1BETA1
            };
            h.metadata
                .annotations
                .insert(key.into(), UNHEALTHY_VALUE.into());
            status.phase = Some(PHASE_DELETING.into());
            Ok(step(r, h, NodeAction::None, true, None))
        }
        _ => Ok(step(rem.clone(), h, NodeAction::None, false, None)),
    }
}
