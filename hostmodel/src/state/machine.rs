//! The reconcile pass (reference §2.2–§2.6) as a replayable pure function.

use std::time::Duration;

use super::{
    backoff, compute_conditions, profile_hints, profile_name, root_device_hints, ActionOutcome,
    ConditionInputs, Context, CredentialsOutcome, Event, EventType, OutcomeData, Performed,
    PrepareData, ProvisionerAction, Requeue, Step, HOST_ERROR_RETRY_DELAY,
    HOST_UPDATE_POLICY_ON_REBOOT, SOFT_POWER_OFF_FAILURE_PREFIX, STEADY_STATE_POLL,
    SUB_RESOURCE_NOT_READY_RETRY_DELAY, UNMANAGED_RETRY_DELAY,
};
use crate::annotations::{self as ann, Annotations, RebootMode, RebootRequest};
use crate::bmh::{
    BareMetalHost, BareMetalHostStatus, CredentialsStatus, ErrorType, OperationMetric,
    OperationalStatus, ProvisionStatus, ProvisioningState as S, RaidConfig, HOST_FINALIZER,
};
use crate::hardware::HardwareDetails;
use crate::meta::SecretReference;

/// Why a pass stopped before reaching a result.
enum Halt {
    /// The engine must run this action and call again with its outcome.
    Need(Box<ProvisionerAction>),
    /// The recorded outcome is for another action: the engine broke the protocol.
    Mismatch(String),
}

/// The controller's action results, reduced to what decides the requeue.
#[derive(Debug, Clone, PartialEq)]
enum Res {
    /// Done with this state (or saved a change): reconcile again now.
    Complete,
    /// Waiting: reconcile again after the delay (zero = now).
    Continue(Duration),
    /// A failure was recorded: back off by the error count.
    Failed,
    /// No provisioner capacity: back off as for one error.
    Delayed,
    /// Transient error, not recorded on the host.
    Error {
        message: String,
        needs_registration: bool,
    },
    /// Nothing will change until the object does.
    Stop,
}

type R<T> = Result<T, Halt>;

fn transient(prefix: &str, outcome: &ActionOutcome) -> Option<Res> {
    match outcome {
        ActionOutcome::Error {
            message,
            needs_registration,
        } => Some(Res::Error {
            message: format!("{prefix}{message}"),
            needs_registration: *needs_registration,
        }),
        _ => None,
    }
}

fn in_progress(outcome: &ActionOutcome) -> Option<Duration> {
    match outcome {
        ActionOutcome::InProgress { requeue_after } => Some(*requeue_after),
        _ => None,
    }
}

fn failure(outcome: &ActionOutcome) -> Option<&str> {
    match outcome {
        ActionOutcome::Failed { message } => Some(message),
        _ => None,
    }
}

struct Run<'a> {
    host: &'a BareMetalHost,
    ctx: &'a Context,
    st: BareMetalHostStatus,
    ann: Annotations,
    next: S,
    have_creds: bool,
    used: usize,
    events: Vec<Event>,
    reboot_warned: bool,
    finalizers_to_add: Vec<String>,
    finalizers_to_remove: Vec<String>,
    set_architecture: Option<String>,
    hardware_data: Option<HardwareDetails>,
    release_credentials: bool,
    claim_credentials: bool,
    ensure_firmware_resources: bool,
}

/// Run one step of the reconcile pass for `host` (see the module docs).
pub fn decide(host: &BareMetalHost, ctx: &Context) -> Step {
    let original = host.status.clone().unwrap_or_default();
    if ann::is_paused(&host.metadata.annotations) {
        // Paused hosts are left exactly as they are, not even requeued.
        return Step {
            status: original,
            status_changed: false,
            annotations_to_remove: Vec::new(),
            finalizers_to_add: Vec::new(),
            finalizers_to_remove: Vec::new(),
            set_architecture: None,
            hardware_data: None,
            release_hardware_data: false,
            release_credentials: false,
            claim_credentials: false,
            ensure_firmware_resources: false,
            events: Vec::new(),
            action: ProvisionerAction::None,
            requeue: Requeue::Never,
            transient_error: None,
        };
    }
    let mut run = Run {
        host,
        ctx,
        next: original.provisioning.state,
        st: original,
        ann: host.metadata.annotations.clone(),
        have_creds: false,
        used: 0,
        events: Vec::new(),
        reboot_warned: false,
        finalizers_to_add: Vec::new(),
        finalizers_to_remove: Vec::new(),
        set_architecture: None,
        hardware_data: None,
        release_credentials: false,
        claim_credentials: false,
        ensure_firmware_resources: false,
    };
    let result = run.reconcile();
    run.finish(result)
}

impl Run<'_> {
    fn deleting(&self) -> bool {
        self.host.metadata.deletion_timestamp.is_some()
    }

    fn event(&mut self, reason: &str, message: &str) {
        self.events.push(Event {
            reason: reason.to_string(),
            message: message.to_string(),
            type_: EventType::Normal,
        });
    }

    /// Consume the next recorded outcome if it answers `action`.
    fn call(&mut self, action: ProvisionerAction) -> R<Performed> {
        match self.ctx.outcomes.get(self.used) {
            None => Err(Halt::Need(Box::new(action))),
            Some(p) if p.action == action => {
                self.used += 1;
                Ok(p.clone())
            }
            Some(p) => Err(Halt::Mismatch(format!(
                "outcome {} is for {:?} but {:?} was asked",
                self.used, p.action, action
            ))),
        }
    }

    fn error_type(&self) -> Option<ErrorType> {
        self.st.error_type
    }

    fn set_error_message(&mut self, t: ErrorType, message: &str) {
        self.st.operational_status = OperationalStatus::Error;
        self.st.error_type = Some(t);
        self.st.error_message = message.to_string();
        self.st.error_count += 1;
    }

    fn record_failure(&mut self, t: ErrorType, message: &str) -> Res {
        self.set_error_message(t, message);
        self.event(t.event_reason(), message);
        Res::Failed
    }

    fn clear_error(&mut self) -> bool {
        let dirty = self.st.operational_status != OperationalStatus::Ok
            || self.st.error_type.is_some()
            || !self.st.error_message.is_empty();
        self.st.operational_status = OperationalStatus::Ok;
        self.st.error_type = None;
        self.st.error_message.clear();
        dirty
    }

    /// Reboot annotations; invalid values are reported once per pass.
    fn reboot(&mut self, only_forced: bool) -> RebootRequest {
        let req = ann::reboot_request(&self.ann, only_forced);
        if !self.reboot_warned {
            self.reboot_warned = true;
            for msg in &req.invalid {
                self.event("InvalidAnnotationValue", msg);
            }
        }
        req
    }

    fn clear_reboot_annotations(&mut self) -> bool {
        let keys = ann::reboot_keys(&self.ann);
        for k in &keys {
            self.ann.remove(k);
        }
        !keys.is_empty()
    }

    fn current_credentials(&self) -> CredentialsStatus {
        let version = match &self.ctx.credentials {
            CredentialsOutcome::Valid { secret_version } => secret_version.clone(),
            _ => String::new(),
        };
        CredentialsStatus {
            credentials: Some(SecretReference {
                name: self.host.spec.bmc.credentials_name.clone(),
                namespace: self.host.metadata.namespace.clone(),
            }),
            credentials_version: Some(version),
        }
    }

    fn metric(&mut self, state: S) -> Option<&mut OperationMetric> {
        let h = self
            .st
            .operation_history
            .get_or_insert_with(Default::default);
        match state {
            S::Registering => Some(&mut h.register),
            S::Inspecting => Some(&mut h.inspect),
            S::Provisioning => Some(&mut h.provision),
            S::Deprovisioning => Some(&mut h.deprovision),
            _ => None,
        }
    }

    fn record_state_begin(&mut self, state: S) {
        let now = self.ctx.now;
        if let Some(m) = self.metric(state) {
            if m.start.is_none() || m.end.is_some() {
                *m = OperationMetric {
                    start: Some(now),
                    end: None,
                };
            }
        }
    }

    fn record_state_end(&mut self, state: S) -> bool {
        let now = self.ctx.now;
        match self.metric(state) {
            Some(m) if m.start.is_some() && m.end.is_none() => {
                m.end = Some(now);
                true
            }
            _ => false,
        }
    }

    // ---- reconcile (§2.2) ------------------------------------------------

    fn reconcile(&mut self) -> R<Res> {
        // Restore status saved in the annotation (e.g. after a pivot).
        if self.st.last_updated.is_none() {
            if let Some(Ok(mut restored)) = ann::status(&self.ann) {
                if let Some(hw) = &self.ctx.hardware_data {
                    restored.hardware = Some(hw.clone());
                }
                if restored.last_updated.is_none() {
                    restored.last_updated = Some(self.ctx.now);
                }
                self.st = restored;
                return Ok(Res::Complete);
            }
        } else if self.ann.remove(ann::STATUS).is_some() {
            return Ok(Res::Complete);
        }

        if self
            .host
            .spec
            .architecture
            .as_deref()
            .unwrap_or("")
            .is_empty()
        {
            let arch = self
                .ctx
                .hardware_data
                .as_ref()
                .and_then(|h| h.cpu.as_ref())
                .map(|c| c.arch.clone())
                .filter(|a| !a.is_empty());
            if arch.is_some() {
                self.set_architecture = arch;
                return Ok(Res::Complete);
            }
        }

        if let Some(res) = self.update_hardware_details() {
            return Ok(res);
        }

        if !self.deleting()
            && !self
                .host
                .metadata
                .finalizers
                .iter()
                .any(|f| f == HOST_FINALIZER)
        {
            self.finalizers_to_add.push(HOST_FINALIZER.to_string());
            return Ok(Res::Complete);
        }

        if !matches!(self.st.provisioning.state, S::None | S::Unmanaged) {
            let key = format!(
                "{}/{}",
                self.host.metadata.namespace, self.host.spec.bmc.credentials_name
            );
            match self.ctx.credentials.message(&key) {
                None => {
                    self.have_creds = true;
                    self.claim_credentials = self.st.provisioning.state != S::Deleting;
                }
                // A host being deleted goes on without credentials.
                Some(_) if self.deleting() => {}
                Some(msg) => {
                    if self.st.error_type != Some(ErrorType::Registration)
                        || self.st.error_message != msg
                    {
                        self.set_error_message(ErrorType::Registration, &msg);
                    }
                    self.event("BMCCredentialError", &msg);
                    // Only a missing Secret may appear by itself later; the
                    // other errors need a spec/Secret change, which triggers
                    // a reconcile anyway.
                    return Ok(
                        if self.ctx.credentials == CredentialsOutcome::SecretNotFound {
                            Res::Continue(HOST_ERROR_RETRY_DELAY)
                        } else {
                            Res::Stop
                        },
                    );
                }
            }
        }

        self.reconcile_state()
    }

    fn update_hardware_details(&mut self) -> Option<Res> {
        let mut consumed = false;
        if self.st.hardware.is_none() || ann::inspection_disabled(self.host) {
            let source = match &self.ctx.hardware_data {
                Some(hd) => Some((hd.clone(), "Set HardwareDetails from HardwareData")),
                None => match ann::hardware_details(&self.ann) {
                    Some(Ok(d)) => Some((d, "Set HardwareDetails from annotation")),
                    Some(Err(message)) => {
                        return Some(Res::Error {
                            message,
                            needs_registration: false,
                        })
                    }
                    None => None,
                },
            };
            if let Some((details, msg)) = source {
                if self.st.hardware.as_ref() != Some(&details) {
                    self.st.hardware = Some(details);
                    self.event("UpdateHardwareDetails", msg);
                    consumed = true;
                }
            }
        }
        if self.ann.remove(ann::HARDWARE_DETAILS).is_some() {
            if !consumed {
                self.event(
                    "RemoveAnnotation",
                    "HardwareDetails annotation ignored, status already set and inspection is not disabled",
                );
            }
            return Some(Res::Complete);
        }
        consumed.then_some(Res::Complete)
    }

    // ---- ReconcileState (§2.3) -------------------------------------------

    fn reconcile_state(&mut self) -> R<Res> {
        let initial = self.st.provisioning.state;
        self.next = initial;
        let res = self.reconcile_state_inner(initial)?;
        if let Some(over) = self.update_host_state_from(initial)? {
            return Ok(over);
        }
        Ok(res)
    }

    fn reconcile_state_inner(&mut self, initial: S) -> R<Res> {
        if let Some(r) = self.check_delayed()? {
            return Ok(r);
        }
        if self.check_initiate_delete() {
            return Ok(Res::Complete);
        }
        if let Some(r) = self.check_detached()? {
            return Ok(r);
        }
        if let Some(r) = self.ensure_registered()? {
            return Ok(r);
        }
        self.handle(initial)
    }

    fn ensure_capacity(&mut self) -> R<Option<Res>> {
        let p = self.call(ProvisionerAction::HasCapacity)?;
        if let ActionOutcome::Error { message, .. } | ActionOutcome::Failed { message } = &p.outcome
        {
            return Ok(Some(Res::Error {
                message: format!("failed to determine current provisioner capacity: {message}"),
                needs_registration: false,
            }));
        }
        if p.data == OutcomeData::Capacity(false) {
            self.st.operational_status = OperationalStatus::Delayed;
            return Ok(Some(Res::Delayed));
        }
        Ok(None)
    }

    fn update_host_state_from(&mut self, initial: S) -> R<Option<Res>> {
        if self.next == initial {
            return Ok(None);
        }
        if matches!(
            self.next,
            S::Inspecting | S::Provisioning | S::Deprovisioning
        ) {
            if let Some(r) = self.ensure_capacity()? {
                return Ok(Some(r));
            }
        }
        self.record_state_end(initial);
        self.record_state_begin(self.next);
        self.st.provisioning.state = self.next;
        if matches!(self.next, S::Registering | S::Inspecting | S::Provisioning) {
            self.st.provisioning.boot_mode = Some(self.host.spec.effective_boot_mode());
        }
        Ok(None)
    }

    fn check_delayed(&mut self) -> R<Option<Res>> {
        if self.st.operational_status == OperationalStatus::Delayed {
            if let Some(r) = self.ensure_capacity()? {
                return Ok(Some(r));
            }
            self.clear_error();
            return Ok(Some(Res::Continue(Duration::ZERO)));
        }
        // Hosts not yet tracked by the provisioner are re-checked too.
        if matches!(
            self.st.provisioning.state,
            S::Inspecting | S::Provisioning | S::Deprovisioning
        ) {
            if let Some(r) = self.ensure_capacity()? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    fn check_initiate_delete(&mut self) -> bool {
        if !self.deleting() {
            return false;
        }
        let args = ann::detached(&self.ann);
        let status_detached = self.st.operational_status == OperationalStatus::Detached;
        if (status_detached || args.is_some()) && self.next != S::Deleting {
            let delay = match &args {
                Some(a) => ann::detached_delays_delete(a),
                // Detached but the annotation is gone: give re-attachment a chance.
                None => true,
            };
            if delay {
                return false;
            }
            // A detached host cannot be powered off or deprovisioned.
            self.next = S::Deleting;
            return true;
        }
        let gave_up =
            self.st.error_type == Some(ErrorType::Registration) && self.st.error_count > 3;
        self.next = match self.next {
            S::Registering | S::Unmanaged | S::None => S::Deleting,
            S::Provisioning | S::Provisioned => S::Deprovisioning,
            S::Deprovisioning | S::PoweringOffBeforeDelete if gave_up => S::Deleting,
            S::Deprovisioning | S::PoweringOffBeforeDelete | S::Deleting => return false,
            _ => S::PoweringOffBeforeDelete,
        };
        true
    }

    fn check_detached(&mut self) -> R<Option<Res>> {
        if let Some(args) = ann::detached(&self.ann) {
            let state = self.st.provisioning.state;
            if ann::detach_allowed_without_force(state) {
                return self.detach_host(false).map(Some);
            }
            if state != S::Deleting && args.force {
                return self.detach_host(true).map(Some);
            }
            // Otherwise wait for a steady state (or nothing to do when deleting).
            return Ok(None);
        }
        if self.error_type() == Some(ErrorType::Detach) {
            self.clear_error();
            self.st.error_count = 0;
            return Ok(Some(Res::Continue(Duration::ZERO)));
        }
        if self.st.operational_status == OperationalStatus::Detached {
            self.st.operational_status = if self.st.error_type.is_some() {
                OperationalStatus::Error
            } else {
                OperationalStatus::Ok
            };
            return Ok(Some(Res::Continue(Duration::ZERO)));
        }
        Ok(None)
    }

    fn detach_host(&mut self, force: bool) -> R<Res> {
        let p = self.call(ProvisionerAction::Detach { force })?;
        if let Some(r) = transient("failed to detach: ", &p.outcome) {
            return Ok(r);
        }
        if let Some(msg) = failure(&p.outcome) {
            return Ok(self.record_failure(ErrorType::Detach, msg));
        }
        if let Some(d) = in_progress(&p.outcome) {
            if self.error_type() == Some(ErrorType::Detach) {
                self.clear_error();
            }
            return Ok(Res::Continue(d));
        }
        if self.error_type() == Some(ErrorType::Detach) {
            self.clear_error();
            self.st.error_count = 0;
        }
        self.st.operational_status = OperationalStatus::Detached;
        Ok(Res::Continue(UNMANAGED_RETRY_DELAY))
    }

    fn ensure_registered(&mut self) -> R<Option<Res>> {
        if !self.have_creds {
            return Ok(None);
        }
        match self.next {
            S::None | S::Unmanaged | S::MatchProfile | S::Deleting => return Ok(None),
            S::Registering => {}
            _ => {
                let creds = self.current_credentials();
                if self.error_type() == Some(ErrorType::Registration)
                    || self.st.good_credentials.as_ref() != Some(&creds)
                {
                    self.record_state_begin(S::Registering);
                }
            }
        }
        let mut result = self.register_host()?;
        let complete = result == Some(Res::Complete);
        if (result.is_none() || complete)
            && self.next != S::Registering
            && self.record_state_end(S::Registering)
        {
            result = Some(Res::Continue(Duration::ZERO));
        }
        if complete {
            result = Some(Res::Continue(Duration::ZERO));
        }
        Ok(result)
    }

    fn register_host(&mut self) -> R<Option<Res>> {
        let creds = self.current_credentials();
        let credentials_changed = self.st.tried_credentials.as_ref() != Some(&creds);
        let mut dirty = false;
        if credentials_changed {
            self.st.tried_credentials = Some(creds.clone());
            dirty = true;
        }
        let p = self.call(ProvisionerAction::Register {
            credentials_changed,
            restart_on_failure: self.error_type() == Some(ErrorType::Registration),
        })?;
        if let Some(r) = transient("failed to validate BMC access: ", &p.outcome) {
            return Ok(Some(r));
        }
        if let Some(msg) = failure(&p.outcome) {
            return Ok(Some(self.record_failure(ErrorType::Registration, msg)));
        }
        if let OutcomeData::Registered { provisioner_id } = &p.data {
            if !provisioner_id.is_empty() && &self.st.provisioning.id != provisioner_id {
                self.st.provisioning.id = provisioner_id.clone();
                // A new node has none of the prepared settings.
                if self.st.provisioning.state == S::Preparing {
                    self.clear_host_provisioning_settings();
                }
                dirty = true;
            }
        }
        if let Some(d) = in_progress(&p.outcome) {
            self.clear_error();
            return Ok(Some(Res::Continue(d)));
        }
        match self.match_profile() {
            Err(msg) => return Ok(Some(self.record_failure(ErrorType::Registration, &msg))),
            Ok(true) => return Ok(Some(Res::Continue(Duration::ZERO))),
            Ok(false) => {}
        }
        // Not for hosts being deleted: the objects would outlive them.
        self.ensure_firmware_resources = !self.deleting();
        let new_creds = self.st.good_credentials.as_ref() != Some(&creds);
        if new_creds {
            self.st.good_credentials = Some(creds);
            self.event("BMCAccessValidated", "Verified access to BMC");
            dirty = true;
        }
        if self.error_type() == Some(ErrorType::Registration) || new_creds {
            dirty |= self.clear_error();
        }
        Ok(dirty.then_some(Res::Complete))
    }

    fn current_profile(&self) -> String {
        profile_name(&self.host.spec, self.st.hardware_profile.as_deref())
    }

    fn match_profile(&mut self) -> Result<bool, String> {
        let name = self.current_profile();
        if profile_hints(&name).is_none() {
            return Err(format!("invalid hardware profile {name:?}"));
        }
        let mut dirty = false;
        if self.st.hardware_profile.as_deref() != Some(name.as_str()) {
            self.st.hardware_profile = Some(name.clone());
            self.event("ProfileSet", &format!("Hardware profile set: {name}"));
            dirty = true;
        }
        let hints = root_device_hints(self.host, &name);
        if self.st.provisioning.root_device_hints != hints {
            self.st.provisioning.root_device_hints = hints;
            dirty = true;
        }
        Ok(dirty)
    }

    // ---- provisioning settings -------------------------------------------

    /// Settings that need preparing (hints, RAID, firmware) as they should be
    /// stored, and whether they differ from status.
    fn provisioning_settings(&self) -> (bool, ProvisionStatus) {
        let mut p = self.st.provisioning.clone();
        let mut dirty = false;
        let hints = root_device_hints(self.host, &self.current_profile());
        if p.root_device_hints != hints {
            p.root_device_hints = hints;
            dirty = true;
        }
        let mut spec_raid = self.host.spec.raid.clone();
        if spec_raid.is_none() || spec_raid == Some(RaidConfig::default()) {
            // No RAID asked: keep existing hardware volumes, drop software ones.
            if let Some(sr) = &p.raid {
                spec_raid = Some(RaidConfig {
                    hardware_raid_volumes: sr
                        .hardware_raid_volumes
                        .clone()
                        .filter(|v| !v.is_empty()),
                    software_raid_volumes: Some(Vec::new()),
                });
            }
        }
        if p.raid != spec_raid {
            p.raid = spec_raid;
            dirty = true;
        }
        if p.firmware != self.host.spec.firmware {
            p.firmware = self.host.spec.firmware.clone();
            dirty = true;
        }
        (dirty, p)
    }

    fn clear_host_provisioning_settings(&mut self) {
        let p = &mut self.st.provisioning;
        p.root_device_hints = None;
        // Hardware volumes stay so the same RAID is not configured twice.
        if let Some(raid) = &mut p.raid {
            raid.software_raid_volumes = None;
        }
        p.firmware = None;
    }

    fn needs_provisioning(&self) -> bool {
        let spec = &self.host.spec;
        if !spec.online {
            return false;
        }
        let spec_url = spec.image.as_ref().map(|i| i.url.as_str()).unwrap_or("");
        if spec_url.is_empty() {
            let method = spec.custom_deploy.as_ref().map(|c| c.method.as_str());
            return match method.filter(|m| !m.is_empty()) {
                Some(m) => {
                    self.st
                        .provisioning
                        .custom_deploy
                        .as_ref()
                        .map(|c| c.method.as_str())
                        != Some(m)
                }
                None => false,
            };
        }
        self.st
            .provisioning
            .image
            .as_ref()
            .map(|i| i.url.as_str())
            .unwrap_or("")
            .is_empty()
    }

    fn provisioning_cancelled(&self) -> bool {
        let spec = &self.host.spec;
        let spec_cd = spec
            .custom_deploy
            .as_ref()
            .map(|c| c.method.as_str())
            .filter(|m| !m.is_empty());
        let st_cd = self
            .st
            .provisioning
            .custom_deploy
            .as_ref()
            .map(|c| c.method.as_str())
            .filter(|m| !m.is_empty());
        let st_url = self
            .st
            .provisioning
            .image
            .as_ref()
            .map(|i| i.url.as_str())
            .unwrap_or("");
        let spec_url = spec.image.as_ref().map(|i| i.url.as_str()).unwrap_or("");
        if let Some(m) = spec_cd {
            if st_cd.is_some_and(|s| s != m) {
                return true;
            }
            return !st_url.is_empty() && spec_url != st_url;
        }
        if st_cd.is_some() {
            return true;
        }
        spec_url.is_empty() || (!st_url.is_empty() && spec_url != st_url)
    }

    // ---- per-state handlers (§2.4) ---------------------------------------

    fn handle(&mut self, state: S) -> R<Res> {
        match state {
            S::None => Ok(self.handle_none()),
            S::Unmanaged => Ok(self.handle_unmanaged()),
            S::Registering => Ok(self.handle_registering()),
            S::Inspecting => self.handle_inspecting(),
            S::MatchProfile => {
                self.next = S::Preparing;
                self.st.error_count = 0;
                Ok(Res::Complete)
            }
            S::Preparing => self.handle_preparing(),
            S::Available | S::Ready => self.handle_available(),
            S::Provisioning => self.handle_provisioning(),
            S::Provisioned => {
                if self.provisioning_cancelled() {
                    self.next = S::Deprovisioning;
                    return Ok(Res::Complete);
                }
                self.manage_steady_state()
            }
            S::ExternallyProvisioned => self.handle_externally_provisioned(),
            S::Deprovisioning => self.handle_deprovisioning(),
            S::PoweringOffBeforeDelete => self.handle_powering_off_before_delete(),
            S::Deleting => self.handle_deleting(),
        }
    }

    fn has_bmc_details(&self) -> bool {
        !self.host.spec.bmc.address.is_empty() || !self.host.spec.bmc.credentials_name.is_empty()
    }

    fn handle_none(&mut self) -> Res {
        if self.has_bmc_details() {
            self.next = S::Registering;
        } else {
            self.event("Discovered", "Discovered host with no BMC details");
            self.st.operational_status = OperationalStatus::Discovered;
            self.next = S::Unmanaged;
        }
        Res::Complete
    }

    fn handle_unmanaged(&mut self) -> Res {
        if self.has_bmc_details() {
            self.next = S::Registering;
            return Res::Complete;
        }
        Res::Continue(UNMANAGED_RETRY_DELAY)
    }

    fn handle_registering(&mut self) -> Res {
        // Reaching the handler means Register() succeeded with these credentials.
        self.next = if self.host.spec.is_externally_provisioned() {
            S::ExternallyProvisioned
        } else if ann::inspection_disabled(self.host) {
            S::Preparing
        } else {
            S::Inspecting
        };
        self.st.error_count = 0;
        Res::Complete
    }

    fn handle_inspecting(&mut self) -> R<Res> {
        let r = self.action_inspecting()?;
        if r == Res::Complete {
            self.next = S::Preparing;
            self.st.error_count = 0;
        }
        Ok(r)
    }

    fn action_inspecting(&mut self) -> R<Res> {
        if ann::inspection_disabled(self.host) {
            self.event("InspectionSkipped", "disabled by user");
            return Ok(Res::Complete);
        }
        let refresh = ann::inspection_refresh_requested(&self.ann);
        let force_reboot = self.reboot(true).requested;
        let p = self.call(ProvisionerAction::Inspect {
            restart: self.error_type() == Some(ErrorType::Inspection),
            refresh,
            force_reboot,
        })?;
        if let Some(r) = transient("hardware inspection failed: ", &p.outcome) {
            return Ok(r);
        }
        if let Some(msg) = failure(&p.outcome) {
            return Ok(self.record_failure(ErrorType::Inspection, msg));
        }
        let (started, details) = match p.data {
            OutcomeData::Inspection { started, details } => (started, details),
            _ => (false, None),
        };
        if started {
            // The requests are satisfied once inspection (re)starts.
            let mut dirty = false;
            if refresh {
                self.ann.remove(ann::INSPECT);
                dirty = true;
            }
            dirty |= self.clear_reboot_annotations();
            if dirty {
                return Ok(Res::Continue(Duration::ZERO));
            }
        }
        let wait = in_progress(&p.outcome);
        let Some(details) = details.filter(|_| wait.is_none()) else {
            self.clear_error();
            return Ok(Res::Continue(wait.unwrap_or(Duration::ZERO)));
        };
        self.clear_error();
        self.st.hardware = Some((*details).clone());
        if !self.deleting() {
            self.hardware_data = Some(*details);
        }
        Ok(Res::Complete)
    }

    fn handle_preparing(&mut self) -> R<Res> {
        let (mut dirty, target) = self.provisioning_settings();
        let mut actual_raid = self.st.provisioning.raid.clone();
        let restart = self.error_type() == Some(ErrorType::Preparation);
        if restart {
            // After a failed cleaning the recorded RAID cannot be trusted.
            actual_raid = None;
            dirty = true;
        }
        let hfs = self.ctx.firmware_settings_pending;
        let hfc = self.ctx.firmware_components_pending;
        let p = self.call(ProvisionerAction::Prepare(Box::new(PrepareData {
            unprepared: dirty || hfs || hfc,
            restart,
            target_raid: target.raid.clone(),
            actual_raid,
            root_device_hints: target.root_device_hints.clone(),
            firmware_settings: hfs,
            target_firmware_settings: if hfs {
                self.ctx.firmware_settings_changes.clone()
            } else {
                Default::default()
            },
            firmware_components: hfc,
        })))?;
        if let Some(r) = transient("error preparing host: ", &p.outcome) {
            return Ok(r);
        }
        if let Some(msg) = failure(&p.outcome) {
            if dirty {
                self.clear_host_provisioning_settings();
            }
            return Ok(self.record_failure(ErrorType::Preparation, msg));
        }
        let started = p.data == OutcomeData::Started(true);
        if dirty && started {
            self.st.provisioning.root_device_hints = target.root_device_hints;
            self.st.provisioning.raid = target.raid;
            self.st.provisioning.firmware = target.firmware;
        }
        if started {
            self.clear_error();
        }
        if let Some(d) = in_progress(&p.outcome) {
            return Ok(Res::Continue(d));
        }
        self.st.error_count = 0;
        self.next = S::Available;
        Ok(Res::Complete)
    }

    fn handle_available(&mut self) -> R<Res> {
        if self.host.spec.is_externally_provisioned() {
            self.next = S::ExternallyProvisioned;
            self.clear_host_provisioning_settings();
            return Ok(Res::Complete);
        }
        if ann::inspection_refresh_requested(&self.ann) {
            self.next = S::Inspecting;
            return Ok(Res::Complete);
        }
        if self.provisioning_settings().0
            || self.ctx.firmware_settings_pending
            || self.ctx.firmware_components_pending
        {
            self.next = S::Preparing;
            return Ok(Res::Complete);
        }

        let spec_image = self.host.spec.image.clone().filter(|i| !i.url.is_empty());
        match &spec_image {
            None => {
                // Removing the image resets the retry bookkeeping.
                self.st.provisioning_fail_count = 0;
                self.st.last_attempted_image = None;
            }
            Some(img) => {
                if self
                    .st
                    .last_attempted_image
                    .as_ref()
                    .is_some_and(|last| last != img)
                {
                    self.st.provisioning_fail_count = 0;
                }
            }
        }
        if self.needs_provisioning() {
            let limit = i64::from(self.ctx.max_provisioning_retries);
            let fails = self.st.provisioning_fail_count;
            if limit > 0 && fails >= limit && self.st.last_attempted_image == spec_image {
                let msg = format!(
                    "provisioning failed {fails} times, retry limit ({limit}) reached; change image or reset provisioningFailCount to retry"
                );
                if self.st.error_type != Some(ErrorType::Provisioning)
                    || self.st.error_message != msg
                {
                    self.record_failure(ErrorType::Provisioning, &msg);
                }
                // Only a spec or status edit can change the outcome.
                return Ok(Res::Stop);
            }
            self.clear_error();
            self.st.last_attempted_image = spec_image;
            self.next = S::Provisioning;
            return Ok(Res::Complete);
        }
        self.manage_host_power()
    }

    fn handle_provisioning(&mut self) -> R<Res> {
        if self.st.error_type.is_some() || self.provisioning_cancelled() {
            if self.st.error_type.is_some() {
                self.st.provisioning_fail_count += 1;
            }
            self.next = S::Deprovisioning;
            return Ok(Res::Complete);
        }
        let force_reboot = self.reboot(true).requested;
        let p = self.call(ProvisionerAction::Provision { force_reboot })?;
        if let Some(r) = transient("failed to provision: ", &p.outcome) {
            return Ok(r);
        }
        if let Some(msg) = failure(&p.outcome) {
            return Ok(self.record_failure(ErrorType::Provisioning, msg));
        }
        if self.clear_reboot_annotations() {
            return Ok(Res::Continue(Duration::ZERO));
        }
        if let Some(d) = in_progress(&p.outcome) {
            self.clear_error();
            return Ok(Res::Continue(d));
        }
        if let Some(img) = &self.host.spec.image {
            self.st.provisioning.image = Some(img.clone());
        }
        if let Some(cd) = &self.host.spec.custom_deploy {
            self.st.provisioning.custom_deploy = Some(cd.clone());
        }
        self.next = S::Provisioned;
        self.st.error_count = 0;
        self.st.provisioning_fail_count = 0;
        Ok(Res::Complete)
    }

    fn handle_externally_provisioned(&mut self) -> R<Res> {
        if self.host.spec.is_externally_provisioned() {
            return self.manage_steady_state();
        }
        // Copy what is deployed per spec so that the host is not
        // deprovisioned just because status has no image.
        let spec = &self.host.spec;
        if let Some(img) = spec.image.clone().filter(|i| !i.url.is_empty()) {
            self.st.provisioning.image = Some(img);
        }
        if let Some(cd) = spec.custom_deploy.clone().filter(|c| !c.method.is_empty()) {
            self.st.provisioning.custom_deploy = Some(cd);
        }
        self.next = S::Provisioned;
        Ok(Res::Complete)
    }

    fn manage_steady_state(&mut self) -> R<Res> {
        let p = self.call(ProvisionerAction::Adopt {
            restart: self.error_type() == Some(ErrorType::ProvisionedRegistration),
        })?;
        if let Some(r) = transient("", &p.outcome) {
            return Ok(r);
        }
        if let Some(msg) = failure(&p.outcome) {
            return Ok(self.record_failure(ErrorType::ProvisionedRegistration, msg));
        }
        if let Some(d) = in_progress(&p.outcome) {
            self.clear_error();
            return Ok(Res::Continue(d));
        }
        self.manage_host_power()
    }

    fn handle_deprovisioning(&mut self) -> R<Res> {
        let r = self.action_deprovisioning()?;
        if !self.deleting() {
            if r == Res::Complete {
                self.next = S::Available;
                self.st.error_count = 0;
            }
            return Ok(r);
        }
        match &r {
            Res::Complete => {
                self.next = S::PoweringOffBeforeDelete;
                self.st.error_count = 0;
            }
            // Deletion requested and cleaning keeps failing: give up on it.
            Res::Failed if self.st.error_count > 3 => {
                self.next = S::PoweringOffBeforeDelete;
                return Ok(Res::Complete);
            }
            Res::Error {
                needs_registration: true,
                ..
            } if !self.have_creds => {
                self.next = S::Deleting;
                return Ok(Res::Complete);
            }
            _ => {}
        }
        Ok(r)
    }

    fn action_deprovisioning(&mut self) -> R<Res> {
        let has_image = self
            .st
            .provisioning
            .image
            .as_ref()
            .is_some_and(|i| !i.url.is_empty());
        if has_image || self.st.provisioning.custom_deploy.is_some() {
            // The node may have been re-registered mid-way: adopt it first.
            let p = self.call(ProvisionerAction::Adopt {
                restart: self.error_type() == Some(ErrorType::ProvisionedRegistration),
            })?;
            if let Some(r) = transient("", &p.outcome) {
                return Ok(r);
            }
            if let Some(msg) = failure(&p.outcome) {
                return Ok(self.record_failure(ErrorType::ProvisionedRegistration, msg));
            }
            if let Some(d) = in_progress(&p.outcome) {
                self.clear_error();
                return Ok(Res::Continue(d));
            }
        }
        let p = self.call(ProvisionerAction::Deprovision {
            restart: self.error_type() == Some(ErrorType::Provisioning),
            cleaning_mode: self.host.spec.effective_cleaning_mode(),
        })?;
        if let Some(r) = transient("failed to deprovision: ", &p.outcome) {
            return Ok(r);
        }
        if let Some(msg) = failure(&p.outcome) {
            return Ok(self.record_failure(ErrorType::Provisioning, msg));
        }
        if let Some(d) = in_progress(&p.outcome) {
            self.clear_error();
            return Ok(Res::Continue(d));
        }
        if self.clear_reboot_annotations() {
            return Ok(Res::Continue(Duration::ZERO));
        }
        self.st.provisioning.image = None;
        self.st.provisioning.custom_deploy = None;
        self.clear_host_provisioning_settings();
        Ok(Res::Complete)
    }

    fn handle_powering_off_before_delete(&mut self) -> R<Res> {
        let r = if self.host.spec.power_off_disabled() {
            Res::Complete
        } else {
            let p = self.call(ProvisionerAction::PowerOff {
                mode: RebootMode::Hard,
                force: self.error_type() == Some(ErrorType::PowerManagement),
            })?;
            if let Some(r) = transient("failed to power off before deleting node: ", &p.outcome) {
                r
            } else if let Some(msg) = failure(&p.outcome) {
                self.record_failure(ErrorType::PowerManagement, msg)
            } else if let Some(d) = in_progress(&p.outcome) {
                self.clear_error();
                Res::Continue(d)
            } else {
                Res::Complete
            }
        };
        match &r {
            Res::Complete => {
                self.next = S::Deleting;
                self.st.error_count = 0;
                self.st.powered_on = false;
            }
            Res::Failed if self.st.error_count > 3 => {
                self.next = S::Deleting;
                return Ok(Res::Complete);
            }
            Res::Error {
                needs_registration: true,
                ..
            } if !self.have_creds => {
                self.next = S::Deleting;
                return Ok(Res::Complete);
            }
            _ => {}
        }
        Ok(r)
    }

    fn handle_deleting(&mut self) -> R<Res> {
        if !self
            .host
            .metadata
            .finalizers
            .iter()
            .any(|f| f == HOST_FINALIZER)
        {
            return Ok(Res::Stop);
        }
        let p = self.call(ProvisionerAction::Delete)?;
        match &p.outcome {
            ActionOutcome::Error { message, .. } | ActionOutcome::Failed { message } => {
                return Ok(Res::Error {
                    message: format!("failed to delete: {message}"),
                    needs_registration: false,
                })
            }
            ActionOutcome::InProgress { requeue_after } => {
                return Ok(Res::Continue(*requeue_after))
            }
            ActionOutcome::Done => {}
        }
        self.release_credentials = true;
        self.finalizers_to_remove.push(HOST_FINALIZER.to_string());
        Ok(Res::Stop)
    }

    // ---- power (§2.5) ----------------------------------------------------

    fn manage_host_power(&mut self) -> R<Res> {
        let p = self.call(ProvisionerAction::UpdateHardwareState)?;
        if let ActionOutcome::Error { message, .. } | ActionOutcome::Failed { message } = &p.outcome
        {
            return Ok(Res::Error {
                message: format!("failed to update the host power status: {message}"),
                needs_registration: false,
            });
        }
        if let OutcomeData::PowerState(Some(on)) = p.data {
            if on != self.st.powered_on {
                self.st.powered_on = on;
                if self.st.operational_status == OperationalStatus::Error
                    && self.error_type() == Some(ErrorType::PowerManagement)
                {
                    self.clear_error();
                }
                return Ok(Res::Continue(Duration::ZERO));
            }
        }

        let mut desired = self.host.spec.online;
        let is_provisioned = ann::reboot_applies_without_force(self.st.provisioning.state);
        // The one-shot reboot is done once the host has been seen off.
        if !self.st.powered_on && self.ann.remove(ann::REBOOT).is_some() {
            return Ok(Res::Continue(Duration::ZERO));
        }
        let servicing_allowed = is_provisioned && !self.st.powered_on && self.host.spec.online;
        if servicing_allowed
            || self.st.operational_status == OperationalStatus::Servicing
            || self.error_type() == Some(ErrorType::Servicing)
        {
            if let Some(r) = self.service_if_needed()? {
                return Ok(r);
            }
        }
        let reboot = self.reboot(!is_provisioned);
        if reboot.requested {
            desired = false;
        }
        if self.st.powered_on == desired {
            return Ok(Res::Continue(STEADY_STATE_POLL));
        }

        let force = self.error_type() == Some(ErrorType::PowerManagement);
        let mut mode = reboot.mode;
        let action = if desired {
            ProvisionerAction::PowerOn { force }
        } else {
            // After any error the next power off is hard.
            if self.st.error_count > 0 {
                mode = RebootMode::Hard;
            }
            ProvisionerAction::PowerOff { mode, force }
        };
        let p = self.call(action)?;
        if let Some(r) = transient("failed to change power state: ", &p.outcome) {
            return Ok(r);
        }
        // With disablePowerOff the provisioner rebooted instead: the one-shot
        // reboot is complete without a power-on.
        if self.host.spec.power_off_disabled() && self.ann.remove(ann::REBOOT).is_some() {
            return Ok(Res::Continue(Duration::ZERO));
        }
        if let Some(msg) = failure(&p.outcome) {
            let msg = if !desired
                && mode == RebootMode::Soft
                && self.error_type() != Some(ErrorType::PowerManagement)
            {
                format!("{SOFT_POWER_OFF_FAILURE_PREFIX}{msg}")
            } else {
                msg.to_string()
            };
            return Ok(self.record_failure(ErrorType::PowerManagement, &msg));
        }
        if let Some(d) = in_progress(&p.outcome) {
            self.clear_error();
            return Ok(Res::Continue(d));
        }
        self.st.powered_on = self.host.spec.online;
        self.st.error_count = 0;
        Ok(Res::Continue(STEADY_STATE_POLL))
    }

    /// Live updates while a provisioned host is off and should be on (§2.5).
    fn service_if_needed(&mut self) -> R<Option<Res>> {
        let policy = self.ctx.host_update_policy.clone().unwrap_or_default();
        let on_reboot = |v: &Option<String>| v.as_deref() == Some(HOST_UPDATE_POLICY_ON_REBOOT);
        let mut fw_dirty = false;
        let mut hfs_dirty = false;
        let mut hfc_dirty = false;
        if on_reboot(&policy.firmware_settings) {
            fw_dirty = self.st.provisioning.firmware != self.host.spec.firmware;
            hfs_dirty = self.ctx.firmware_settings_pending;
        }
        if on_reboot(&policy.firmware_updates) {
            hfc_dirty = self.ctx.firmware_components_pending;
        }
        let has_changes = fw_dirty || hfs_dirty || hfc_dirty;
        let servicing = self.st.operational_status == OperationalStatus::Servicing;
        let failed = self.error_type() == Some(ErrorType::Servicing);
        if !has_changes && !servicing && !failed {
            return Ok(None);
        }
        if !servicing {
            // Save the status before calling the provisioner, so that the
            // next pass registers the host for servicing first.
            self.st.operational_status = OperationalStatus::Servicing;
            return Ok(Some(Res::Continue(Duration::ZERO)));
        }
        let p = self.call(ProvisionerAction::Service {
            unprepared: has_changes,
            restart: failed,
            firmware_config: fw_dirty,
            firmware_settings: hfs_dirty,
            firmware_components: hfc_dirty,
        })?;
        if let Some(r) = transient("error servicing host: ", &p.outcome) {
            return Ok(Some(r));
        }
        if let Some(msg) = failure(&p.outcome) {
            self.st.provisioning.firmware = None;
            return Ok(Some(self.record_failure(ErrorType::Servicing, msg)));
        }
        let mut dirty = self.error_type().is_some() || !self.st.error_message.is_empty();
        self.st.error_type = None;
        self.st.error_message.clear();
        self.st.operational_status = OperationalStatus::Servicing;
        let started = p.data == OutcomeData::Started(true);
        if started && fw_dirty {
            self.st.provisioning.firmware = self.host.spec.firmware.clone();
            dirty = true;
        }
        let wait = in_progress(&p.outcome);
        if dirty || wait.is_some() {
            return Ok(Some(Res::Continue(wait.unwrap_or(Duration::ZERO))));
        }
        // Finished: back to OK, and give the firmware objects time to catch up.
        if self.clear_error() {
            return Ok(Some(Res::Continue(SUB_RESOURCE_NOT_READY_RETRY_DELAY)));
        }
        Ok(None)
    }

    // ---- result ----------------------------------------------------------

    fn finish(mut self, result: R<Res>) -> Step {
        let mut transient_error = None;
        let (action, requeue) = match result {
            Err(Halt::Need(action)) => (*action, Requeue::Immediately),
            Err(Halt::Mismatch(msg)) => {
                transient_error = Some(msg);
                (ProvisionerAction::None, Requeue::Immediately)
            }
            Ok(res) => {
                let requeue = match res {
                    Res::Complete => Requeue::Immediately,
                    Res::Continue(d) if d.is_zero() => Requeue::Immediately,
                    Res::Continue(d) => Requeue::After(d),
                    Res::Failed => Requeue::After(backoff(self.st.error_count, self.ctx.jitter)),
                    Res::Delayed => Requeue::After(backoff(1, self.ctx.jitter)),
                    Res::Error { message, .. } => {
                        transient_error = Some(message);
                        Requeue::Immediately
                    }
                    Res::Stop => Requeue::Never,
                };
                (ProvisionerAction::None, requeue)
            }
        };

        let inputs = ConditionInputs {
            generation: self.host.metadata.generation,
            health: self.ctx.health.clone(),
            power_failure: self.ctx.power_failure,
        };
        let previous = self.st.conditions.clone().unwrap_or_default();
        self.st.conditions = Some(compute_conditions(
            &self.st,
            &inputs,
            &previous,
            self.ctx.now,
        ));
        let original = self.host.status.clone().unwrap_or_default();
        let status_changed = self.st != original;
        if status_changed {
            self.st.last_updated = Some(self.ctx.now);
        }
        let annotations_to_remove = self
            .host
            .metadata
            .annotations
            .keys()
            .filter(|k| !self.ann.contains_key(*k))
            .cloned()
            .collect();
        Step {
            status: self.st,
            status_changed,
            annotations_to_remove,
            finalizers_to_add: self.finalizers_to_add,
            finalizers_to_remove: self.finalizers_to_remove,
            set_architecture: self.set_architecture,
            hardware_data: self.hardware_data,
            release_hardware_data: self.host.metadata.deletion_timestamp.is_some(),
            release_credentials: self.release_credentials,
            claim_credentials: self.claim_credentials,
            ensure_firmware_resources: self.ensure_firmware_resources,
            events: self.events,
            action,
            requeue,
            transient_error,
        }
    }
}
