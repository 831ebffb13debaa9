//! The `Provisioner` trait: the backend operations a host lifecycle needs,
//! one per `ProvisionerAction` of the state machine (reference §6.1).
//!
//! Every operation returns at once with an [`Outcome`] (done, in progress
//! with a poll delay, failed, or a transient error) instead of waiting for
//! the hardware, so an engine worker is never held by a slow BMC operation.
//! Methods return boxed futures so the engine can hold `Arc<dyn Provisioner>`.

use std::time::Duration;

use metal3_bmc::Credentials;
use metal3_hostmodel::annotations::RebootMode;
use metal3_hostmodel::state::{
    ActionOutcome, CurrentFirmwareSettings, OutcomeData, Performed, PrepareData, ProvisionerAction,
};
use metal3_hostmodel::{AutomatedCleaningMode, BareMetalHost};

use crate::store::BoxFuture;

/// The host an operation is about, as the engine read it for this pass.
#[derive(Debug, Clone)]
pub struct HostRef<'a> {
    /// `namespace/name`: the key under which backends keep per-host state.
    pub id: String,
    /// The host object.
    pub host: &'a BareMetalHost,
    /// BMC credentials from the host's Secret (None when it could not be loaded).
    pub credentials: Option<Credentials>,
}

impl<'a> HostRef<'a> {
    /// A reference to `host` with the given credentials.
    pub fn new(host: &'a BareMetalHost, credentials: Option<Credentials>) -> Self {
        let m = &host.metadata;
        HostRef {
            id: format!("{}/{}", m.namespace_or_default(), m.name),
            host,
            credentials,
        }
    }
}

/// What a provisioner call returns: its result and any extra data.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Done / in progress / failed / transient error.
    pub outcome: ActionOutcome,
    /// Extra data (registration id, inspection result, power state, ...).
    pub data: OutcomeData,
}

impl Outcome {
    /// Finished, no data.
    pub fn done() -> Self {
        Outcome {
            outcome: ActionOutcome::Done,
            data: OutcomeData::None,
        }
    }

    /// Still running: call again after `requeue_after`.
    pub fn in_progress(requeue_after: Duration) -> Self {
        Outcome {
            outcome: ActionOutcome::InProgress { requeue_after },
            data: OutcomeData::None,
        }
    }

    /// Failed; the message is recorded on the host as its error message.
    pub fn failed(message: impl Into<String>) -> Self {
        Outcome {
            outcome: ActionOutcome::Failed {
                message: message.into(),
            },
            data: OutcomeData::None,
        }
    }

    /// Transient error (not recorded on the host; retried with backoff).
    pub fn error(message: impl Into<String>) -> Self {
        Outcome {
            outcome: ActionOutcome::Error {
                message: message.into(),
                needs_registration: false,
            },
            data: OutcomeData::None,
        }
    }

    /// The same outcome with extra data attached.
    pub fn with_data(mut self, data: OutcomeData) -> Self {
        self.data = data;
        self
    }
}

/// Backend operations on one host. Each call must return promptly: long
/// operations return [`Outcome::in_progress`] and continue on the next call.
pub trait Provisioner: Send + Sync {
    /// Verify BMC access and create/update the backend's view of the host.
    fn register<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        credentials_changed: bool,
        restart_on_failure: bool,
    ) -> BoxFuture<'a, Outcome>;

    /// Start or poll inspection; the finished outcome carries `Inspection` data.
    fn inspect<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        restart: bool,
        refresh: bool,
    ) -> BoxFuture<'a, Outcome>;

    /// Apply RAID / firmware settings before the host becomes available.
    fn prepare<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        data: &'a PrepareData,
    ) -> BoxFuture<'a, Outcome>;

    /// Live-update a provisioned host (servicing).
    fn service<'a>(&'a self, host: &'a HostRef<'a>, restart: bool) -> BoxFuture<'a, Outcome>;

    /// Provision `spec.image` (or run the custom deploy).
    fn provision<'a>(&'a self, host: &'a HostRef<'a>, force_reboot: bool)
        -> BoxFuture<'a, Outcome>;

    /// Tear the host down (and clean, as `cleaning_mode` says).
    fn deprovision<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        restart: bool,
        cleaning_mode: AutomatedCleaningMode,
    ) -> BoxFuture<'a, Outcome>;

    /// Take over an already provisioned host.
    fn adopt<'a>(&'a self, host: &'a HostRef<'a>, restart: bool) -> BoxFuture<'a, Outcome>;

    /// Power the host on.
    fn power_on<'a>(&'a self, host: &'a HostRef<'a>, force: bool) -> BoxFuture<'a, Outcome>;

    /// Power the host off (soft falls back to hard).
    fn power_off<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        mode: RebootMode,
        force: bool,
    ) -> BoxFuture<'a, Outcome>;

    /// Forget the host without touching it.
    fn detach<'a>(&'a self, host: &'a HostRef<'a>, force: bool) -> BoxFuture<'a, Outcome>;

    /// Remove the host from the backend.
    fn delete<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome>;

    /// Whether a provisioning slot is free; data `Capacity(bool)`.
    fn has_capacity<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome>;

    /// Read the power state; data `PowerState(Option<bool>)`.
    fn update_hardware_state<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome>;

    /// The host's current firmware (BIOS) settings, with their rules when
    /// the backend knows them (BMO's `GetFirmwareSettings`); the engine
    /// keeps HostFirmwareSettings' status with it. A backend without
    /// firmware settings keeps this default, which says so.
    fn firmware_settings<'a>(
        &'a self,
        _host: &'a HostRef<'a>,
    ) -> BoxFuture<'a, Result<CurrentFirmwareSettings, String>> {
        Box::pin(async { Err("this provisioner does not read firmware settings".to_string()) })
    }
}

/// Runs `action` on `provisioner` and wraps the result for
/// `Context::outcomes`. `ProvisionerAction::None` is answered as done
/// without calling anything (the engine never asks for it).
pub async fn perform(
    provisioner: &dyn Provisioner,
    host: &HostRef<'_>,
    action: &ProvisionerAction,
) -> Performed {
    let out = match action {
        ProvisionerAction::None => Outcome::done(),
        ProvisionerAction::HasCapacity => provisioner.has_capacity(host).await,
        ProvisionerAction::Register {
            credentials_changed,
            restart_on_failure,
        } => {
            provisioner
                .register(host, *credentials_changed, *restart_on_failure)
                .await
        }
        ProvisionerAction::Inspect {
            restart, refresh, ..
        } => provisioner.inspect(host, *restart, *refresh).await,
        ProvisionerAction::Prepare(data) => provisioner.prepare(host, data).await,
        ProvisionerAction::Service { restart, .. } => provisioner.service(host, *restart).await,
        ProvisionerAction::Provision { force_reboot } => {
            provisioner.provision(host, *force_reboot).await
        }
        ProvisionerAction::Deprovision {
            restart,
            cleaning_mode,
        } => {
            provisioner
                .deprovision(host, *restart, *cleaning_mode)
                .await
        }
        ProvisionerAction::Adopt { restart } => provisioner.adopt(host, *restart).await,
        ProvisionerAction::PowerOn { force } => provisioner.power_on(host, *force).await,
        ProvisionerAction::PowerOff { mode, force } => {
            provisioner.power_off(host, *mode, *force).await
        }
        ProvisionerAction::Detach { force } => provisioner.detach(host, *force).await,
        ProvisionerAction::Delete => provisioner.delete(host).await,
        ProvisionerAction::UpdateHardwareState => provisioner.update_hardware_state(host).await,
    };
    Performed {
        action: action.clone(),
        outcome: out.outcome,
        data: out.data,
    }
}
