//! `status.conditions` computed from the provisioning state (reference §2.7).

use crate::bmh::{BareMetalHostStatus, ErrorType, OperationalStatus, ProvisioningState};
use crate::meta::Condition;
use crate::time::Time;

/// Inputs besides the status.
#[derive(Debug, Clone, Default)]
pub struct ConditionInputs {
    /// Metadata generation the conditions are computed for.
    pub generation: Option<i64>,
    /// Provisioner-reported health (`OK`, `Warning`, `Critical`).
    pub health: Option<String>,
    /// The provisioner reports a power failure fault.
    pub power_failure: bool,
}

fn cond(type_: &str, ok: Option<bool>, reason: &str) -> Condition {
    let status = match ok {
        Some(true) => "True",
        Some(false) => "False",
        None => "Unknown",
    };
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        observed_generation: None,
        last_transition_time: None,
        reason: reason.to_string(),
        message: String::new(),
    }
}

/// The six host conditions for `status`; `lastTransitionTime` is kept from
/// `previous` when a condition's status did not change, else set to `now`.
pub fn compute_conditions(
    status: &BareMetalHostStatus,
    inputs: &ConditionInputs,
    previous: &[Condition],
    now: Time,
) -> Vec<Condition> {
    use ProvisioningState as S;
    let state = status.provisioning.state;
    let op = status.operational_status;
    let has_error = op == OperationalStatus::Error || status.error_type.is_some();
    let detached = op == OperationalStatus::Detached;

    let manageable = if inputs.power_failure {
        cond("Manageable", Some(false), "PowerFailure")
    } else if status.error_type == Some(ErrorType::Registration) {
        cond("Manageable", Some(false), "RegistrationFailed")
    } else {
        match state {
            S::None | S::Unmanaged => cond("Manageable", Some(false), "NotManaged"),
            S::Registering => cond("Manageable", Some(false), "Registering"),
            _ => cond("Manageable", Some(true), "Manageable"),
        }
    };

    let available = match state {
        S::Available | S::Ready if !has_error && !detached => {
            cond("AvailableForProvisioning", Some(true), "Available")
        }
        _ => cond("AvailableForProvisioning", Some(false), "NotAvailable"),
    };

    let provisioned = match state {
        S::Provisioned | S::ExternallyProvisioned => cond("Provisioned", Some(true), "Provisioned"),
        S::Provisioning => cond("Provisioned", Some(false), "Provisioning"),
        _ => cond("Provisioned", Some(false), "NotProvisioned"),
    };

    let ready = match state {
        S::Provisioned | S::ExternallyProvisioned => {
            if detached {
                cond("Ready", Some(false), "Detached")
            } else if has_error {
                cond("Ready", Some(false), "Error")
            } else if op == OperationalStatus::Servicing {
                cond("Ready", Some(false), "Servicing")
            } else {
                cond("Ready", Some(true), "Provisioned")
            }
        }
        _ => cond("Ready", Some(false), "NotProvisioned"),
    };

    let progressing = if op == OperationalStatus::Servicing {
        cond("Progressing", Some(true), "Servicing")
    } else {
        match state {
            S::Registering => cond("Progressing", Some(true), "Registering"),
            S::Inspecting => cond("Progressing", Some(true), "Inspecting"),
            S::Preparing | S::MatchProfile => cond("Progressing", Some(true), "Preparing"),
            S::Provisioning => cond("Progressing", Some(true), "Provisioning"),
            S::Deprovisioning => cond("Progressing", Some(true), "Deprovisioning"),
            S::PoweringOffBeforeDelete => {
                cond("Progressing", Some(true), "PoweringOffBeforeDelete")
            }
            S::Deleting => cond("Progressing", Some(true), "Deleting"),
            _ => cond("Progressing", Some(false), "NotProgressing"),
        }
    };

    let healthy = match inputs.health.as_deref() {
        Some("OK") => cond("Healthy", Some(true), "Healthy"),
        Some("Warning") => cond("Healthy", Some(false), "Warning"),
        Some("Critical") => cond("Healthy", Some(false), "CriticalError"),
        _ => cond("Healthy", None, "Unknown"),
    };

    [
        manageable,
        available,
        provisioned,
        ready,
        progressing,
        healthy,
    ]
    .into_iter()
    .map(|mut c| {
        c.observed_generation = inputs.generation;
        let prev = previous.iter().find(|p| p.type_ == c.type_);
        c.last_transition_time = match prev {
            Some(p) if p.status == c.status => p.last_transition_time.or(Some(now)),
            _ => Some(now),
        };
        c
    })
    .collect()
}
