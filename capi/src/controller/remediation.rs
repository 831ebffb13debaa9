//! Metal3Remediation reconcile (reference §3.e), Reboot strategy, without a
//! workload cluster: the Node is reported as not accessible, so the node
//! backup/delete steps are skipped as CAPM3 does when access is forbidden.

use metal3_hostmodel::store::{ObjectKey, Store};
use metal3_hostmodel::time::Time;
use metal3_hostmodel::BareMetalHost;
use serde_json::json;

use super::{describe, get_opt, save, Next, ReconcileError, HOST_KIND, M3M_KIND, MACHINE_KIND};
use crate::remediation::{reconcile, NodeView, REMEDIATION_FINALIZER};
use crate::select::HOST_ANNOTATION;
use crate::types::{Machine, Metal3Machine, Metal3Remediation};

/// Where a remediation stands after a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemediationProgress {
    /// `status.phase` after the pass.
    pub phase: String,
    /// The host being rebooted.
    pub host: String,
    /// The reboot of the current attempt is over: the host is powered on
    /// again and the remediation dropped its finalizer (CAPI's
    /// MachineHealthCheck would now delete it once the node is healthy).
    pub rebooted: bool,
    /// When to look again.
    pub next: Next,
}

/// One pass of the Metal3Remediation controller for `key` at time `now`.
pub fn reconcile_remediation(
    store: &dyn Store,
    key: &ObjectKey,
    now: Time,
) -> Result<RemediationProgress, ReconcileError> {
    let invalid = |problem: String| ReconcileError::Invalid {
        object: describe(key),
        problem,
    };
    let rem: Metal3Remediation = get_opt(store, key)?.ok_or_else(|| invalid("not found".into()))?;
    let ns = rem.metadata.namespace.clone();
    let owner = rem
        .metadata
        .owner_references
        .iter()
        .find(|o| o.kind == MACHINE_KIND)
        .ok_or_else(|| invalid("metadata.ownerReferences has no Machine".into()))?;
    let machine: Machine = get_opt(store, &ObjectKey::new(MACHINE_KIND, &ns, &owner.name))?
        .ok_or_else(|| invalid(format!("Machine {ns}/{} not found", owner.name)))?;
    let m3m_name = machine
        .spec
        .infrastructure_ref
        .as_ref()
        .map(|r| r.name.clone())
        .ok_or_else(|| {
            invalid(format!(
                "Machine {ns}/{} has no infrastructureRef",
                owner.name
            ))
        })?;
    let m3m: Metal3Machine = get_opt(store, &ObjectKey::new(M3M_KIND, &ns, &m3m_name))?
        .ok_or_else(|| invalid(format!("Metal3Machine {ns}/{m3m_name} not found")))?;
    let (hns, hname) = m3m
        .metadata
        .annotations
        .get(HOST_ANNOTATION)
        .and_then(|v| v.split_once('/'))
        .ok_or_else(|| {
            invalid(format!(
                "Metal3Machine {m3m_name} has no {HOST_ANNOTATION} annotation"
            ))
        })?;
    let hkey = ObjectKey::new(HOST_KIND, hns, hname);
    let host: BareMetalHost = get_opt(store, &hkey)?
        .ok_or_else(|| invalid(format!("BareMetalHost {hns}/{hname} not found")))?;

    let step = reconcile(&rem, &host, &NodeView::Forbidden, now)?;
    let result = (|| -> Result<(), ReconcileError> {
        save(store, &host, &step.host)?;
        save(store, &rem, &step.remediation)?;
        if step.owner_remediated_false {
            set_owner_remediated_false(store, &machine, now)?;
        }
        Ok(())
    })();
    let next = match result {
        Ok(()) => match step.requeue_secs {
            Some(s) => Next::after(s, "remediating"),
            None => Next::Done,
        },
        Err(ReconcileError::Store(e)) if e.is_conflict() => Next::after(0, "write conflict"),
        Err(e) => return Err(e),
    };
    let r = &step.remediation;
    let phase = r
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let powered_on = step.host.status.as_ref().is_some_and(|s| s.powered_on);
    let rebooted = phase == crate::remediation::PHASE_WAITING
        && powered_on
        && !r
            .metadata
            .finalizers
            .iter()
            .any(|f| f == REMEDIATION_FINALIZER)
        && !step
            .host
            .metadata
            .annotations
            .keys()
            .any(|k| k.starts_with(crate::remediation::REBOOT_ANNOTATION_PREFIX));
    Ok(RemediationProgress {
        phase,
        host: hname.to_string(),
        rebooted,
        next,
    })
}

/// Sets the CAPI Machine's v1beta1 condition `OwnerRemediated=False` so CAPI
/// deletes the machine.
fn set_owner_remediated_false(
    store: &dyn Store,
    machine: &Machine,
    now: Time,
) -> Result<(), ReconcileError> {
    let mut next = machine.clone();
    let status = next.status.get_or_insert_with(Default::default);
    let mut conds: Vec<serde_json::Value> = status
        .other
        .get("conditions")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    conds.retain(|c| c.get("type").and_then(serde_json::Value::as_str) != Some("OwnerRemediated"));
    conds.push(json!({
        "type": "OwnerRemediated", "status": "False", "severity": "Warning",
        "reason": "WaitingForRemediation", "lastTransitionTime": now,
    }));
    status
        .other
        .insert("conditions".into(), serde_json::Value::Array(conds));
    save(store, machine, &next)?;
    Ok(())
}
