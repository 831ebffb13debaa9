//! Annotations the BareMetalHost controller reads (reference §3) and pure
//! parsers for their values. Nothing here touches the API server: callers
//! pass the annotation map of the host.

use std::collections::BTreeMap;

use crate::bmh::{
    BareMetalHost, BareMetalHostStatus, DetachedAnnotationArguments, InspectionMode,
    ProvisioningState, RebootAnnotationArguments,
};
use crate::hardware::HardwareDetails;

/// Any value pauses reconciliation of the host entirely.
pub const PAUSED: &str = "baremetalhost.metal3.io/paused";
/// Value of [`PAUSED`] used by Cluster API Provider Metal3.
pub const PAUSED_VALUE_CAPM3: &str = "metal3.io/capm3";
/// Value of [`PAUSED`] used by the HostClaim controller.
pub const PAUSED_VALUE_HOSTCLAIM: &str = "metal3.io/hostclaim";
/// Detach the host from the provisioner without deprovisioning it.
pub const DETACHED: &str = "baremetalhost.metal3.io/detached";
/// `deleteAction` of [`DETACHED`] that blocks deletion while detached.
pub const DETACHED_DELETE_ACTION_DELAY: &str = "delay";
/// `deleteAction` of [`DETACHED`] that deletes straight away (the default).
pub const DETACHED_DELETE_ACTION_DELETE: &str = "delete";
/// JSON status used to restore `status` after a move/pivot.
pub const STATUS: &str = "baremetalhost.metal3.io/status";
/// Request re-inspection (any value but `disabled`) or disable inspection.
pub const INSPECT: &str = "inspect.metal3.io";
/// Value of [`INSPECT`] that disables inspection.
pub const INSPECT_DISABLED: &str = "disabled";
/// Externally supplied hardware details (JSON of `HardwareDetails`).
pub const HARDWARE_DETAILS: &str = "inspect.metal3.io/hardwaredetails";
/// One-shot reboot; `reboot.metal3.io/<key>` is the phased form.
pub const REBOOT: &str = "reboot.metal3.io";

/// Finalizer on the HardwareData the controller creates.
pub const HARDWARE_DATA_FINALIZER: &str = "baremetalhost.metal3.io/hardwareData";
/// Finalizer on the BMC credentials Secret.
pub const SECRET_FINALIZER: &str = "baremetalhost.metal3.io/secret";
/// Finalizer the host controller adds to its PreprovisioningImage.
pub const PREPROVISIONING_IMAGE_FINALIZER: &str = "baremetalhost.metal3.io/preprovisioningImage";
/// Label put on BMC credential Secrets (the controller's cache selector).
pub const SECRET_ENVIRONMENT_LABEL: &str = "environment.metal3.io";
/// Value of [`SECRET_ENVIRONMENT_LABEL`].
pub const SECRET_ENVIRONMENT_VALUE: &str = "baremetal";

/// Annotations as stored in `metadata.annotations`.
pub type Annotations = BTreeMap<String, String>;

/// True when reconciliation is paused (any value).
pub fn is_paused(annotations: &Annotations) -> bool {
    annotations.contains_key(PAUSED)
}

/// The detached annotation's arguments if it is present. Empty, arbitrary
/// or invalid JSON values give the defaults, as the controller only logs them.
pub fn detached(annotations: &Annotations) -> Option<DetachedAnnotationArguments> {
    let value = annotations.get(DETACHED)?;
    Some(serde_json::from_str(value).unwrap_or_default())
}

/// True when the detached annotation asks to keep the host until the
/// annotation is removed on deletion.
pub fn detached_delays_delete(args: &DetachedAnnotationArguments) -> bool {
    args.delete_action == DETACHED_DELETE_ACTION_DELAY
}

/// The status annotation, parsed: `None` when absent, `Err` with a message
/// when the JSON does not decode.
pub fn status(annotations: &Annotations) -> Option<Result<BareMetalHostStatus, String>> {
    let value = annotations.get(STATUS)?;
    Some(
        serde_json::from_str(value)
            .map_err(|e| format!("failed to fetch status from annotation: {e}")),
    )
}

/// Inspection disabled by annotation (`inspect.metal3.io: disabled`) or by
/// `spec.inspectionMode: disabled`.
pub fn inspection_disabled(host: &BareMetalHost) -> bool {
    host.metadata.annotations.get(INSPECT).map(String::as_str) == Some(INSPECT_DISABLED)
        || host.spec.inspection_mode == Some(InspectionMode::Disabled)
}

/// Re-inspection requested: the inspect annotation with any value other
/// than `disabled` (the webhook only allows `""`, the controller accepts any).
pub fn inspection_refresh_requested(annotations: &Annotations) -> bool {
    annotations
        .get(INSPECT)
        .is_some_and(|v| v != INSPECT_DISABLED)
}

/// The hardware details annotation, parsed: `None` when absent.
pub fn hardware_details(annotations: &Annotations) -> Option<Result<HardwareDetails, String>> {
    let value = annotations.get(HARDWARE_DETAILS)?;
    Some(
        serde_json::from_str(value)
            .map_err(|e| format!("error parsing HardwareDetails from annotation: {e}")),
    )
}

/// True for `reboot.metal3.io` and every `reboot.metal3.io/<key>`.
pub fn is_reboot(key: &str) -> bool {
    key == REBOOT
        || key
            .strip_prefix(REBOOT)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// How a power-off (or reboot) is done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum RebootMode {
    /// ACPI soft power off first (hard fallback in the provisioner).
    #[default]
    Soft,
    /// Immediate power off.
    Hard,
}

impl RebootMode {
    /// `soft` or `hard`, as in the annotation JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RebootMode::Soft => "soft",
            RebootMode::Hard => "hard",
        }
    }
}

/// A reboot annotation value: `""` means soft; invalid JSON also means soft
/// but is reported so the caller can emit `InvalidAnnotationValue`.
pub fn parse_reboot_value(value: &str) -> Result<RebootAnnotationArguments, String> {
    if value.is_empty() {
        return Ok(RebootAnnotationArguments::default());
    }
    serde_json::from_str(value).map_err(|_| {
        format!("could not parse reboot annotation ({value}) - invalid json, assuming soft-reboot")
    })
}

/// The combined effect of all reboot annotations on a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebootRequest {
    /// At least one applicable annotation is present.
    pub requested: bool,
    /// Hard if any applicable annotation asks for hard ("hard wins").
    pub mode: RebootMode,
    /// Messages for values that were not valid JSON (treated as soft).
    pub invalid: Vec<String>,
}

/// Combine the reboot annotations. With `only_forced`, only annotations whose
/// JSON has `"force": true` count (used outside provisioned states and to
/// force-abort inspection/deploy waits).
pub fn reboot_request(annotations: &Annotations, only_forced: bool) -> RebootRequest {
    let mut req = RebootRequest::default();
    for (key, value) in annotations {
        if !is_reboot(key) {
            continue;
        }
        let args = match parse_reboot_value(value) {
            Ok(args) => args,
            Err(msg) => {
                req.invalid.push(msg);
                RebootAnnotationArguments::default()
            }
        };
        if only_forced && !args.force {
            continue;
        }
        req.requested = true;
        // Every annotation is looked at: several owners may set one each and
        // a hard request must be honoured whoever made it.
        if args.mode == RebootMode::Hard.as_str() {
            req.mode = RebootMode::Hard;
        }
    }
    req
}

/// Whether reboot annotations drive power in `state` without `force`:
/// only provisioned and externally provisioned hosts are rebooted on request.
pub fn reboot_applies_without_force(state: ProvisioningState) -> bool {
    matches!(
        state,
        ProvisioningState::Provisioned | ProvisioningState::ExternallyProvisioned
    )
}

/// Keys of every reboot annotation present.
pub fn reboot_keys(annotations: &Annotations) -> Vec<String> {
    annotations
        .keys()
        .filter(|k| is_reboot(k))
        .cloned()
        .collect()
}

/// States in which the detached annotation is acted on without `force`.
pub fn detach_allowed_without_force(state: ProvisioningState) -> bool {
    matches!(
        state,
        ProvisioningState::Provisioned
            | ProvisioningState::ExternallyProvisioned
            | ProvisioningState::Ready
            | ProvisioningState::Available
    )
}

/// States in which the inspect annotation triggers re-inspection.
pub fn inspect_request_applies(state: ProvisioningState) -> bool {
    matches!(
        state,
        ProvisioningState::Available | ProvisioningState::Ready
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> Annotations {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reboot_keys_are_base_or_slash_suffixed() {
        assert!(is_reboot("reboot.metal3.io"));
        assert!(is_reboot("reboot.metal3.io/capm3"));
        assert!(!is_reboot("reboot.metal3.iox"));
        assert!(!is_reboot("inspect.metal3.io"));
    }

    #[test]
    fn hard_wins_and_invalid_is_soft() {
        let a = ann(&[
            ("reboot.metal3.io", ""),
            ("reboot.metal3.io/a", r#"{"mode":"hard"}"#),
            ("reboot.metal3.io/b", "{not json"),
        ]);
        let r = reboot_request(&a, false);
        assert!(r.requested);
        assert_eq!(r.mode, RebootMode::Hard);
        assert_eq!(
            r.invalid,
            vec!["could not parse reboot annotation ({not json) - invalid json, assuming soft-reboot"]
        );
        let forced = reboot_request(&a, true);
        assert!(!forced.requested);
    }

    #[test]
    fn detached_invalid_json_means_defaults() {
        let a = ann(&[("baremetalhost.metal3.io/detached", "yes please")]);
        assert_eq!(detached(&a), Some(DetachedAnnotationArguments::default()));
        let a = ann(&[(
            "baremetalhost.metal3.io/detached",
            r#"{"deleteAction":"delay","force":true}"#,
        )]);
        let args = detached(&a).unwrap();
        assert!(args.force);
        assert!(detached_delays_delete(&args));
        assert_eq!(detached(&Annotations::new()), None);
    }
}
