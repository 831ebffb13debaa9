//! The operations every protocol client offers (power and boot), so callers
//! don't care whether a BMC speaks Redfish or IPMI.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::BmcError;

/// Power state as reported by the BMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    /// Powered on.
    On,
    /// Powered off.
    Off,
    /// Transitioning to on (Redfish `PoweringOn`).
    PoweringOn,
    /// Transitioning to off (Redfish `PoweringOff`).
    PoweringOff,
}

/// A power change request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PowerAction {
    /// Power on.
    On,
    /// Immediate power off.
    ForceOff,
    /// Ask the OS to shut down (ACPI).
    GracefulShutdown,
    /// Immediate reset.
    ForceRestart,
    /// Ask the OS to reboot.
    GracefulRestart,
    /// Off, then on.
    PowerCycle,
}

impl PowerAction {
    /// The state the host should report once the action has taken effect.
    pub fn target_state(self) -> PowerState {
        match self {
            PowerAction::ForceOff | PowerAction::GracefulShutdown => PowerState::Off,
            _ => PowerState::On,
        }
    }
}

/// A boot device for the next or every boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootDevice {
    /// Network boot (PXE).
    Pxe,
    /// Local disk.
    Disk,
    /// CD/DVD, including virtual media.
    Cd,
    /// Firmware setup.
    BiosSetup,
    /// UEFI HTTP boot (Redfish only).
    UefiHttp,
    /// No override set.
    None,
}

/// Firmware boot mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BootMode {
    /// UEFI.
    Uefi,
    /// Legacy BIOS.
    Legacy,
}

/// A boot override to set, or as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootOverride {
    /// Device to boot.
    pub device: BootDevice,
    /// Every boot (`true`) or the next one only.
    pub persistent: bool,
    /// Boot mode to use, if it should be changed / as reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<BootMode>,
    /// URI for UEFI HTTP boot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_boot_uri: Option<String>,
}

/// Power and boot control, implemented by the Redfish and IPMI clients.
pub trait PowerBootControl: Sync {
    /// The BMC's name in messages (address without credentials).
    fn bmc_name(&self) -> String;

    /// Reads the current power state.
    fn power_state(&self) -> impl Future<Output = Result<PowerState, BmcError>> + Send;

    /// Sends a power change; returns once the BMC accepted it (not when done).
    fn set_power(&self, action: PowerAction) -> impl Future<Output = Result<(), BmcError>> + Send;

    /// Sets the boot override.
    fn set_boot(&self, boot: &BootOverride) -> impl Future<Output = Result<(), BmcError>> + Send;

    /// Reads the boot override back.
    fn boot_override(&self) -> impl Future<Output = Result<BootOverride, BmcError>> + Send;

    /// Sends a power change and polls until the BMC reports the target state,
    /// or fails with [`BmcError::TimedOut`] (some BMCs accept and ignore commands).
    fn set_power_and_wait(
        &self,
        action: PowerAction,
        timeout: Duration,
        poll_every: Duration,
    ) -> impl Future<Output = Result<PowerState, BmcError>> + Send {
        async move {
            self.set_power(action).await?;
            let target = action.target_state();
            let start = Instant::now();
            loop {
                let now = self.power_state().await?;
                if now == target {
                    return Ok(now);
                }
                if start.elapsed() >= timeout {
                    return Err(BmcError::TimedOut {
                        bmc: self.bmc_name(),
                        operation: format!("power {action:?}"),
                        after: start.elapsed(),
                        detail: format!(
                            "the BMC accepted the request but still reports {now:?}, expected {target:?}"
                        ),
                    });
                }
                tokio::time::sleep(poll_every).await;
            }
        }
    }
}
