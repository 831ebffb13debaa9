//! The BareMetalHost state machine as pure functions (reference §2).
//!
//! [`decide`] takes a host, a [`Context`] (time, jitter, credentials check,
//! HardwareData and the outcomes of provisioner calls made so far in this
//! reconcile pass) and returns a [`Step`]. A step either asks the engine to
//! run one [`ProvisionerAction`] and call `decide` again with the outcome
//! appended to [`Context::outcomes`], or is final: then the engine writes the
//! returned status/annotations/finalizers, publishes the events and requeues
//! as told. Within a pass the host must not change; `decide` replays the pass
//! from the start each time and consumes outcomes in order, so the same host
//! and outcomes always give the same step. See `docs/state-machine.md`.

mod backoff;
mod conditions;
mod firmware;
mod machine;
mod profile;

use std::time::Duration;

pub use backoff::{backoff, MAX_BACKOFF_COUNT};
pub use conditions::{compute_conditions, ConditionInputs};
pub use firmware::{
    changed_settings, firmware_settings_observed, firmware_settings_pending,
    firmware_settings_status, invalid_settings, setting_value_text, CurrentFirmwareSettings,
    CHANGE_DETECTED, REASON_CONFIGURATION_ERROR, REASON_SUCCESS, VALID,
};
pub use machine::decide;
pub use profile::{profile_hints, profile_name, root_device_hints, DEFAULT_PROFILE};

use crate::annotations::RebootMode;
use crate::bmh::{AutomatedCleaningMode, BareMetalHostStatus, RaidConfig, RootDeviceHints};
use crate::hardware::HardwareDetails;
use crate::other::HostUpdatePolicySpec;
use crate::time::Time;

/// Default of `--max-provisioning-retries`.
pub const DEFAULT_MAX_PROVISIONING_RETRIES: u32 = 5;
/// Requeue after a missing credentials Secret.
pub const HOST_ERROR_RETRY_DELAY: Duration = Duration::from_secs(10);
/// Re-check interval of unmanaged and detached hosts.
pub const UNMANAGED_RETRY_DELAY: Duration = Duration::from_secs(600);
/// Re-check delay after servicing finished (sub-resources catch up).
pub const SUB_RESOURCE_NOT_READY_RETRY_DELAY: Duration = Duration::from_secs(60);
/// HostUpdatePolicy value enabling live updates on reboot.
pub const HOST_UPDATE_POLICY_ON_REBOOT: &str = "onReboot";
/// Power monitoring interval in steady states.
pub const STEADY_STATE_POLL: Duration = Duration::from_secs(60);
/// Prefix of power-off failure messages when a soft power off failed.
pub const SOFT_POWER_OFF_FAILURE_PREFIX: &str =
    "Continuing with hard poweroff after soft poweroff fails. More details: ";

/// Result of loading and checking the BMC credentials (reference §2.2 step 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsOutcome {
    /// Secret found with non-empty username and password.
    Valid {
        /// `metadata.resourceVersion` of the Secret (recorded in
        /// `goodCredentials`/`triedCredentials`).
        secret_version: String,
    },
    /// `spec.bmc.credentialsName` is empty.
    EmptyCredentialsName,
    /// The Secret does not exist.
    SecretNotFound,
    /// `spec.bmc.address` is empty.
    EmptyAddress,
    /// The Secret has no (or a blank) `username`.
    MissingUsername,
    /// The Secret has no (or a blank) `password`.
    MissingPassword,
    /// The BMC address does not parse or names no known driver.
    BadAddress {
        /// The address parser's message.
        message: String,
    },
}

impl CredentialsOutcome {
    /// Check a host's BMC details against its Secret (`None` = not found)
    /// in the controller's order: secret reference, address, driver, keys.
    pub fn evaluate(
        host: &crate::bmh::BareMetalHost,
        secret: Option<&crate::secret::Secret>,
    ) -> Self {
        if host.spec.bmc.credentials_name.is_empty() {
            return CredentialsOutcome::EmptyCredentialsName;
        }
        let Some(secret) = secret else {
            return CredentialsOutcome::SecretNotFound;
        };
        if host.spec.bmc.address.is_empty() {
            return CredentialsOutcome::EmptyAddress;
        }
        if let Err(e) = metal3_bmc::address::BmcAddress::parse(&host.spec.bmc.address) {
            return CredentialsOutcome::BadAddress {
                message: e.to_string(),
            };
        }
        let value = |k: &str| {
            // Undecodable values count as missing, like empty ones.
            secret
                .get(k)
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .unwrap_or_default()
        };
        if value("username").is_empty() {
            return CredentialsOutcome::MissingUsername;
        }
        if value("password").is_empty() {
            return CredentialsOutcome::MissingPassword;
        }
        CredentialsOutcome::Valid {
            secret_version: secret.metadata.resource_version.clone().unwrap_or_default(),
        }
    }

    /// The controller's error message, `None` when valid. `secret_key` is
    /// `<namespace>/<credentialsName>`.
    pub fn message(&self, secret_key: &str) -> Option<String> {
        Some(match self {
            CredentialsOutcome::Valid { .. } => return None,
            CredentialsOutcome::EmptyCredentialsName => {
                "No BMC CredentialsName defined The BMC secret reference is empty".to_string()
            }
            CredentialsOutcome::SecretNotFound => format!(
                "BMC CredentialsName secret doesn't exist The BMC secret {secret_key} does not exist"
            ),
            CredentialsOutcome::EmptyAddress => {
                "Empty BMC address Missing BMC connection detail 'Address'".to_string()
            }
            CredentialsOutcome::MissingUsername => "Validation error with BMC credentials: Missing BMC connection detail 'username' in credentials".to_string(),
            CredentialsOutcome::MissingPassword => "Validation error with BMC credentials: Missing BMC connection details 'password' in credentials".to_string(),
            CredentialsOutcome::BadAddress { message } => message.clone(),
        })
    }
}

/// Everything [`decide`] needs besides the host. No clock or RNG is read
/// inside the state machine: `now` and `jitter` come from here.
#[derive(Debug, Clone)]
pub struct Context {
    /// Current time (operation history, restored `lastUpdated`, conditions).
    pub now: Time,
    /// Random number in [0, 1) for backoff jitter.
    pub jitter: f64,
    /// Result of the credentials check.
    pub credentials: CredentialsOutcome,
    /// `spec.hardware` of the same-named HardwareData, if any.
    pub hardware_data: Option<HardwareDetails>,
    /// Provisioning retry limit (0 = unlimited).
    pub max_provisioning_retries: u32,
    /// HostFirmwareSettings has a valid pending change
    /// ([`firmware_settings_pending`]).
    pub firmware_settings_pending: bool,
    /// The HostFirmwareSettings values to write when preparing: the
    /// `spec.settings` that differ from `status.settings` ([`changed_settings`]).
    pub firmware_settings_changes: std::collections::BTreeMap<String, String>,
    /// HostFirmwareComponents has a valid pending change.
    pub firmware_components_pending: bool,
    /// Spec of the same-named HostUpdatePolicy, if any (enables servicing).
    pub host_update_policy: Option<HostUpdatePolicySpec>,
    /// Provisioner-reported health (`OK`, `Warning`, `Critical`), if known.
    pub health: Option<String>,
    /// The provisioner reports a power failure fault.
    pub power_failure: bool,
    /// Outcomes of the provisioner calls made so far in this pass, in order.
    pub outcomes: Vec<Performed>,
}

impl Context {
    /// A context with defaults: no HardwareData, retry limit 5, nothing pending.
    pub fn new(now: Time, jitter: f64, credentials: CredentialsOutcome) -> Self {
        Context {
            now,
            jitter,
            credentials,
            hardware_data: None,
            max_provisioning_retries: DEFAULT_MAX_PROVISIONING_RETRIES,
            firmware_settings_pending: false,
            firmware_settings_changes: Default::default(),
            firmware_components_pending: false,
            host_update_policy: None,
            health: None,
            power_failure: false,
            outcomes: Vec::new(),
        }
    }
}

/// A provisioner call the engine should make (reference §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionerAction {
    /// Nothing to run: the step is final.
    None,
    /// Is there a free (de)provisioning slot?
    HasCapacity,
    /// Create/update the backend node and verify BMC access.
    Register {
        /// The credentials Secret changed since the last attempt.
        credentials_changed: bool,
        /// Retry a failed registration.
        restart_on_failure: bool,
    },
    /// Start or poll inspection.
    Inspect {
        /// Restart a failed inspection.
        restart: bool,
        /// Re-inspect even if an inventory exists.
        refresh: bool,
        /// Abort a waiting ramdisk boot (forced reboot annotation).
        force_reboot: bool,
    },
    /// Apply RAID / BIOS settings / firmware updates by manual cleaning
    /// (boxed: it is much larger than the other actions).
    Prepare(Box<PrepareData>),
    /// Live update of a provisioned host (Ironic servicing) during a reboot.
    Service {
        /// There are changes to apply (start servicing).
        unprepared: bool,
        /// Retry after a failed servicing.
        restart: bool,
        /// Apply the deprecated `spec.firmware` settings.
        firmware_config: bool,
        /// Apply pending HostFirmwareSettings.
        firmware_settings: bool,
        /// Apply pending HostFirmwareComponents.
        firmware_components: bool,
    },
    /// Write the image / run the custom deploy.
    Provision {
        /// Abort a waiting deploy ramdisk boot (forced reboot annotation).
        force_reboot: bool,
    },
    /// Tear down and clean.
    Deprovision {
        /// Retry after a failed deprovisioning.
        restart: bool,
        /// `spec.automatedCleaningMode` with its default.
        cleaning_mode: AutomatedCleaningMode,
    },
    /// Make the backend treat the host as already provisioned.
    Adopt {
        /// Retry a failed adoption.
        restart: bool,
    },
    /// Power on.
    PowerOn {
        /// Retry after a power failure.
        force: bool,
    },
    /// Power off; with `disablePowerOff` the provisioner reboots instead.
    PowerOff {
        /// Soft or hard.
        mode: RebootMode,
        /// Retry after a power failure.
        force: bool,
    },
    /// Remove the node from the backend without deprovisioning.
    Detach {
        /// Abort running operations.
        force: bool,
    },
    /// Remove the node from the backend.
    Delete,
    /// Read the current power state.
    UpdateHardwareState,
}

/// Arguments of [`ProvisionerAction::Prepare`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrepareData {
    /// Settings changed and must be (re)applied.
    pub unprepared: bool,
    /// Retry after a failed cleaning.
    pub restart: bool,
    /// RAID configuration wanted.
    pub target_raid: Option<RaidConfig>,
    /// RAID configuration applied (None after a preparation error).
    pub actual_raid: Option<RaidConfig>,
    /// Root device hints to use.
    pub root_device_hints: Option<RootDeviceHints>,
    /// Apply pending HostFirmwareSettings.
    pub firmware_settings: bool,
    /// The HostFirmwareSettings values to write (name → value as text) when
    /// `firmware_settings` (BMO's `TargetFirmwareSettings`).
    pub target_firmware_settings: std::collections::BTreeMap<String, String>,
    /// Apply pending HostFirmwareComponents.
    pub firmware_components: bool,
}

/// Outcome of a provisioner call (its `Result`).
#[derive(Debug, Clone, PartialEq)]
pub enum ActionOutcome {
    /// Finished.
    Done,
    /// Still running; poll again after the delay.
    InProgress {
        /// Suggested poll delay (zero = immediately).
        requeue_after: Duration,
    },
    /// Failed; recorded on the host as an error.
    Failed {
        /// Provisioner's message.
        message: String,
    },
    /// Transient error (not recorded on the host, retried with rate limiting).
    Error {
        /// What went wrong.
        message: String,
        /// The node is not registered with the provisioner.
        needs_registration: bool,
    },
}

/// Data some calls return besides their outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum OutcomeData {
    /// Nothing.
    #[default]
    None,
    /// Register: the backend ID of the node (may be empty).
    Registered {
        /// Provisioner ID.
        provisioner_id: String,
    },
    /// Inspect: whether inspection was (re)started now, and the details
    /// once finished.
    Inspection {
        /// Inspection started (or restarted) by this call.
        started: bool,
        /// Inventory when inspection is complete.
        details: Option<Box<HardwareDetails>>,
    },
    /// Prepare/Service: whether cleaning/servicing was started by this call.
    Started(bool),
    /// UpdateHardwareState: observed power (None = unknown).
    PowerState(Option<bool>),
    /// HasCapacity: a slot is free.
    Capacity(bool),
}

/// One provisioner call made in this pass and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Performed {
    /// The action that was run (as asked by a [`Step`]).
    pub action: ProvisionerAction,
    /// How it went.
    pub outcome: ActionOutcome,
    /// Extra data.
    pub data: OutcomeData,
}

impl Performed {
    /// `action` finished, no extra data.
    pub fn done(action: ProvisionerAction) -> Self {
        Performed {
            action,
            outcome: ActionOutcome::Done,
            data: OutcomeData::None,
        }
    }

    /// `action` is still running.
    pub fn in_progress(action: ProvisionerAction, requeue_after: Duration) -> Self {
        Performed {
            action,
            outcome: ActionOutcome::InProgress { requeue_after },
            data: OutcomeData::None,
        }
    }

    /// `action` failed with `message`.
    pub fn failed(action: ProvisionerAction, message: &str) -> Self {
        Performed {
            action,
            outcome: ActionOutcome::Failed {
                message: message.to_string(),
            },
            data: OutcomeData::None,
        }
    }

    /// Attach extra data.
    pub fn with_data(mut self, data: OutcomeData) -> Self {
        self.data = data;
        self
    }

    /// HasCapacity answered `free`.
    pub fn capacity(free: bool) -> Self {
        Performed::done(ProvisionerAction::HasCapacity).with_data(OutcomeData::Capacity(free))
    }

    /// UpdateHardwareState observed `powered_on`.
    pub fn power_state(powered_on: Option<bool>) -> Self {
        Performed::done(ProvisionerAction::UpdateHardwareState)
            .with_data(OutcomeData::PowerState(powered_on))
    }
}

/// When the engine should reconcile the host again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// After this delay.
    After(Duration),
    /// Only when the object changes.
    Never,
    /// Right away (after saving).
    Immediately,
}

/// Kubernetes event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `Normal` (the controller publishes every host event as Normal).
    Normal,
    /// `Warning`.
    Warning,
}

/// An event to publish on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// CamelCase reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// Type.
    pub type_: EventType,
}

/// What the engine should do after [`decide`].
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The host status after this step (conditions included).
    pub status: BareMetalHostStatus,
    /// `status` differs from the host's: save it (setting `lastUpdated`).
    pub status_changed: bool,
    /// Annotations to delete from the host.
    pub annotations_to_remove: Vec<String>,
    /// Finalizers to add to the host.
    pub finalizers_to_add: Vec<String>,
    /// Finalizers to remove from the host.
    pub finalizers_to_remove: Vec<String>,
    /// Set `spec.architecture` to this (copied from HardwareData).
    pub set_architecture: Option<String>,
    /// (Re)create the HardwareData with these details (delete the old one first).
    pub hardware_data: Option<HardwareDetails>,
    /// Remove the HardwareData finalizer (the host is being deleted).
    pub release_hardware_data: bool,
    /// Release the BMC Secret (remove its finalizer): the host is gone.
    pub release_credentials: bool,
    /// Claim the BMC Secret: label `environment.metal3.io=baremetal`, owner
    /// reference to the host, finalizer `baremetalhost.metal3.io/secret`
    /// (the credentials were loaded and the host is not in `deleting`).
    pub claim_credentials: bool,
    /// Registration succeeded: ensure the same-named HostFirmwareSettings and
    /// HostFirmwareComponents exist and own a same-named HostUpdatePolicy.
    pub ensure_firmware_resources: bool,
    /// Events to publish, in order.
    pub events: Vec<Event>,
    /// Provisioner call to run next; `None` means this step is final.
    pub action: ProvisionerAction,
    /// When to reconcile again (meaningful when `action` is `None`).
    pub requeue: Requeue,
    /// A transient error: report it as a reconcile error (rate-limited retry).
    pub transient_error: Option<String>,
}
