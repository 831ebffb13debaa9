//! Host events derived from what a reconcile pass changed: the state
//! machine itself only names the events of registration (`BMCAccessValidated`,
//! `ProfileSet`); the lifecycle events BMO publishes from its provisioner
//! (`InspectionStarted`, `ProvisioningComplete`, ...) and from
//! `recordActionFailure` (`RegistrationError`, ...) follow from comparing the
//! host status before and after the pass, so they are computed here as a
//! pure function and the engine stores them next to the state machine's own.

use metal3_hostmodel::state::{Event, EventType};
use metal3_hostmodel::{BareMetalHostStatus, ErrorType, OperationalStatus, ProvisioningState as S};

fn ev(reason: &str, message: impl Into<String>) -> Event {
    Event {
        reason: reason.to_string(),
        message: message.into(),
        // BMO publishes every host event as Normal.
        type_: EventType::Normal,
    }
}

/// A URL without its `user:password@` part, for messages.
fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// BMO's event reason for a recorded failure (the CamelCase error name).
pub fn error_reason(t: ErrorType) -> &'static str {
    match t {
        ErrorType::ProvisionedRegistration => "ProvisionedRegistrationError",
        ErrorType::Registration => "RegistrationError",
        ErrorType::Inspection => "InspectionError",
        ErrorType::Preparation => "PreparationError",
        ErrorType::Provisioning => "ProvisioningError",
        ErrorType::PowerManagement => "PowerManagementError",
        ErrorType::Servicing => "ServicingError",
        ErrorType::Detach => "DetachError",
    }
}

fn image_url(st: &BareMetalHostStatus, spec_url: Option<&str>) -> String {
    st.provisioning
        .image
        .as_ref()
        .map(|i| i.url.as_str())
        .filter(|u| !u.is_empty())
        .or(spec_url)
        .map(without_userinfo)
        .unwrap_or_default()
}

/// Events for a pass that turned `before` (None: a host never reconciled)
/// into `after`. `spec_image_url` is the host's `spec.image.url` (named in
/// the provisioning messages); `deleting` says the host has a deletion
/// timestamp.
pub fn transition_events(
    before: Option<&BareMetalHostStatus>,
    after: &BareMetalHostStatus,
    spec_image_url: Option<&str>,
    deleting: bool,
) -> Vec<Event> {
    let mut out = Vec::new();
    let old = before.map(|b| b.provisioning.state).unwrap_or(S::None);
    let new = after.provisioning.state;

    // A recorded failure: errorCount went up (or an error type appeared).
    let old_count = before.map(|b| b.error_count).unwrap_or(0);
    let old_type = before.and_then(|b| b.error_type);
    if let Some(t) = after.error_type {
        if after.error_count > old_count || old_type != Some(t) {
            out.push(ev(error_reason(t), after.error_message.clone()));
        }
    }

    if old != new {
        // End of the old state's work.
        match (old, new) {
            (
                S::Registering,
                S::Inspecting
                | S::Preparing
                | S::MatchProfile
                | S::Available
                | S::Ready
                | S::ExternallyProvisioned
                | S::Provisioned,
            ) => {
                out.push(ev("Registered", "Registered new host"));
            }
            (S::Inspecting, _) if after.hardware.is_some() => {
                out.push(ev("InspectionComplete", "Hardware inspection completed"));
            }
            (S::Provisioning, S::Provisioned) => out.push(ev(
                "ProvisioningComplete",
                format!(
                    "Image provisioning completed for {}",
                    image_url(after, spec_image_url)
                ),
            )),
            (S::Provisioning, S::Deprovisioning) => out.push(ev(
                "ProvisioningCancelled",
                "Image provisioning stopped; deprovisioning",
            )),
            (S::Deprovisioning, _) => out.push(ev(
                "DeprovisioningComplete",
                "Image deprovisioning completed",
            )),
            (S::Preparing, S::Available | S::Ready) => {
                out.push(ev("PreparationComplete", "Host preparation completed"))
            }
            _ => {}
        }
        // Start of the new state's work.
        match new {
            S::Unmanaged => out.push(ev(
                "Discovered",
                "Discovered host without BMC address or credentials",
            )),
            S::Registering => out.push(ev("Registering", "Registering host with its BMC")),
            S::Inspecting => out.push(ev("InspectionStarted", "Hardware inspection started")),
            S::Preparing
                if matches!(old, S::Registering | S::Inspecting) && after.hardware.is_none() =>
            {
                out.push(ev("InspectionSkipped", "Hardware inspection skipped"))
            }
            S::Preparing => out.push(ev("PreparationStarted", "Host preparation started")),
            S::Available | S::Ready if !matches!(old, S::Preparing | S::Deprovisioning) => {
                out.push(ev("Available", "Host is available"))
            }
            S::Provisioning => out.push(ev(
                "ProvisioningStarted",
                format!(
                    "Image provisioning started for {}",
                    without_userinfo(spec_image_url.unwrap_or_default())
                ),
            )),
            S::Deprovisioning => out.push(ev(
                "DeprovisioningStarted",
                if deleting {
                    "Image deprovisioning started (host is being deleted)"
                } else {
                    "Image deprovisioning started"
                },
            )),
            S::ExternallyProvisioned => out.push(ev(
                "ExternallyProvisioned",
                "Host is externally provisioned",
            )),
            S::PoweringOffBeforeDelete => out.push(ev(
                "PoweringOffBeforeDelete",
                "Powering host off before deleting it",
            )),
            S::Deleting => out.push(ev("Deleting", "Removing host from the provisioner")),
            _ => {}
        }
    }

    if let Some(b) = before {
        if b.powered_on != after.powered_on && b.provisioning.state != S::None {
            out.push(if after.powered_on {
                ev("PowerOn", "Host powered on")
            } else {
                ev("PowerOff", "Host powered off")
            });
        }
    }

    let old_op = before.map(|b| b.operational_status).unwrap_or_default();
    let new_op = after.operational_status;
    if old_op != new_op {
        match (old_op, new_op) {
            (_, OperationalStatus::Detached) => {
                out.push(ev("Detached", "Host detached from the provisioner"))
            }
            (OperationalStatus::Detached, _) => {
                out.push(ev("Attached", "Host attached to the provisioner again"))
            }
            (_, OperationalStatus::Delayed) => out.push(ev(
                "Delayed",
                format!(
                    "Waiting for a free provisioning slot before {}",
                    new.as_str()
                ),
            )),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn st(state: S) -> BareMetalHostStatus {
        let mut s = BareMetalHostStatus::default();
        s.provisioning.state = state;
        s.operational_status = OperationalStatus::Ok;
        s
    }

    fn reasons(v: &[Event]) -> Vec<&str> {
        v.iter().map(|e| e.reason.as_str()).collect()
    }

    #[test]
    fn lifecycle_transitions_name_bmo_reasons() {
        let none = transition_events(None, &st(S::Registering), None, false);
        assert_eq!(reasons(&none), ["Registering"]);

        let reg = st(S::Registering);
        let insp = st(S::Inspecting);
        assert_eq!(
            reasons(&transition_events(Some(&reg), &insp, None, false)),
            ["Registered", "InspectionStarted"]
        );

        let mut prep = st(S::Preparing);
        prep.hardware = Some(Default::default());
        assert_eq!(
            reasons(&transition_events(Some(&insp), &prep, None, false)),
            ["InspectionComplete", "PreparationStarted"]
        );
        let skipped = transition_events(Some(&reg), &st(S::Preparing), None, false);
        assert_eq!(reasons(&skipped), ["Registered", "InspectionSkipped"]);

        let avail = st(S::Available);
        assert_eq!(
            reasons(&transition_events(Some(&prep), &avail, None, false)),
            ["PreparationComplete"]
        );
        let url = Some("http://user:secret@10.0.0.1/live.iso");
        let prov = transition_events(Some(&avail), &st(S::Provisioning), url, false);
        assert_eq!(reasons(&prov), ["ProvisioningStarted"]);
        assert_eq!(
            prov[0].message,
            "Image provisioning started for http://10.0.0.1/live.iso"
        );
        assert!(!prov[0].message.contains("secret"));

        let mut done = st(S::Provisioned);
        done.powered_on = true;
        let mut provisioning = st(S::Provisioning);
        provisioning.powered_on = false;
        assert_eq!(
            reasons(&transition_events(Some(&provisioning), &done, url, false)),
            ["ProvisioningComplete", "PowerOn"]
        );
        let dep = transition_events(Some(&done), &st(S::Deprovisioning), None, true);
        assert_eq!(reasons(&dep), ["DeprovisioningStarted", "PowerOff"]);
        assert!(dep[0].message.contains("deleted"));
        assert_eq!(
            reasons(&transition_events(
                Some(&st(S::Deprovisioning)),
                &st(S::PoweringOffBeforeDelete),
                None,
                true
            )),
            ["DeprovisioningComplete", "PoweringOffBeforeDelete"]
        );
        assert_eq!(
            reasons(&transition_events(
                Some(&st(S::PoweringOffBeforeDelete)),
                &st(S::Deleting),
                None,
                true
            )),
            ["Deleting"]
        );
        // No change, no event.
        assert!(transition_events(Some(&avail), &avail, None, false).is_empty());
    }

    #[test]
    fn recorded_failures_and_operational_status() {
        let reg = st(S::Registering);
        let mut failed = st(S::Registering);
        failed.operational_status = OperationalStatus::Error;
        failed.error_type = Some(ErrorType::Registration);
        failed.error_count = 1;
        failed.error_message = "Failed to connect to BMC".into();
        let e = transition_events(Some(&reg), &failed, None, false);
        assert_eq!(reasons(&e), ["RegistrationError"]);
        assert_eq!(e[0].message, "Failed to connect to BMC");
        // The same error seen again without a new failure: no repeat.
        assert!(transition_events(Some(&failed), &failed, None, false).is_empty());
        // A retry that failed again is a new event.
        let mut again = failed.clone();
        again.error_count = 2;
        assert_eq!(
            reasons(&transition_events(Some(&failed), &again, None, false)),
            ["RegistrationError"]
        );
        // Registration failing while leaving registering is no "Registered".
        let mut to_unmanaged = failed.clone();
        to_unmanaged.provisioning.state = S::Unmanaged;
        assert_eq!(
            reasons(&transition_events(Some(&reg), &to_unmanaged, None, false)),
            ["RegistrationError", "Discovered"]
        );

        let avail = st(S::Available);
        let mut det = st(S::Available);
        det.operational_status = OperationalStatus::Detached;
        assert_eq!(
            reasons(&transition_events(Some(&avail), &det, None, false)),
            ["Detached"]
        );
        assert_eq!(
            reasons(&transition_events(Some(&det), &avail, None, false)),
            ["Attached"]
        );
        let mut delayed = st(S::Available);
        delayed.operational_status = OperationalStatus::Delayed;
        assert_eq!(
            reasons(&transition_events(Some(&avail), &delayed, None, false)),
            ["Delayed"]
        );
    }

    #[test]
    fn userinfo_is_stripped() {
        assert_eq!(without_userinfo("http://a:b@h:8/x@y"), "http://h:8/x@y");
        assert_eq!(without_userinfo("http://h/x"), "http://h/x");
        assert_eq!(without_userinfo("not a url"), "not a url");
    }
}
