//! The direct provisioner: drives hosts straight through their BMC with the
//! `metal3-bmc` Redfish and IPMI clients, without OpenStack Ironic.
//!
//! What it can do without Ironic's agent ramdisk:
//! * register: parse the address, connect (Redfish or IPMI), read power;
//! * inspect: Redfish out-of-band inventory (IPMI hosts need inspection
//!   disabled or the `inspect.metal3.io/hardwaredetails` annotation);
//! * provision: `image.format: live-iso` through Redfish virtual media, as
//!   separate short steps (media, boot + power, verify) with `InProgress`
//!   between them; disk images fail with a message naming the Ironic provisioner;
//! * deprovision: eject virtual media and power off. Automated cleaning
//!   needs Ironic: a host with `automatedCleaningMode: metadata` (the CRD
//!   default) gets a registration error telling the user to set `disabled`,
//!   so nothing is half-done before the user can act;
//! * prepare: HostFirmwareSettings changes written to the Redfish BIOS
//!   pending settings, then a reset (restart, or power on when off) unless
//!   the BIOS shows them at once, then polled until it does; RAID and
//!   firmware updates need Ironic;
//! * power on/off (soft falls back to hard), detach/delete (forget the
//!   connection), adopt (nothing to do), capacity (per-engine limit).
//!
//! One connection per host is cached and reused; it is dropped on detach,
//! delete, and when the credentials change. Waits for the BMC return
//! `InProgress` with a delay that grows with the time waited ([`poll_delay`]),
//! and a pass only reads what the wait is for (not the virtual media slot
//! while power comes on, not the BMC at all to re-register a host whose
//! access was checked moments ago).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use metal3_bmc::address::{BmcAddress, Protocol};
use metal3_bmc::ipmi::{IpmiClient, IpmiOptions};
use metal3_bmc::redfish::{hardware as rf, RedfishClient, RedfishOptions};
use metal3_bmc::{
    BmcError, BootDevice, BootOverride, Credentials, PowerAction, PowerBootControl, PowerState,
};
use metal3_hostmodel::annotations::{self, RebootMode};
use metal3_hostmodel::hardware as hm;
use metal3_hostmodel::state::{ActionOutcome, CurrentFirmwareSettings, OutcomeData, PrepareData};
use metal3_hostmodel::{AutomatedCleaningMode, BareMetalHost, HardwareDetails};

use crate::provisioner::{HostRef, Outcome, Provisioner};
use crate::store::BoxFuture;

/// Settings of a [`DirectProvisioner`].
#[derive(Debug, Clone)]
pub struct DirectOptions {
    /// How long a soft power off may take before a hard one is sent.
    pub soft_power_off_timeout: Duration,
    /// How long a power change may take before it is reported as failed.
    pub power_timeout: Duration,
    /// First poll delay while waiting for the BMC to reach a state; later
    /// polls come after half the time waited so far (BMCs take seconds to
    /// tens of seconds to act), up to `max_poll_interval`.
    pub poll_interval: Duration,
    /// Longest poll delay while waiting for the BMC.
    pub max_poll_interval: Duration,
    /// How long a successful BMC access check stands: registration passes
    /// within it (the engine registers on every pass) reuse the connection
    /// without asking the BMC again. New credentials or address always check.
    pub access_check_interval: Duration,
    /// Redfish connection settings (`insecure` is also set per host from
    /// `spec.bmc.disableCertificateVerification`).
    pub redfish: RedfishOptions,
    /// IPMI session settings.
    pub ipmi: IpmiOptions,
}

impl Default for DirectOptions {
    fn default() -> Self {
        DirectOptions {
            soft_power_off_timeout: Duration::from_secs(180),
            power_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(5),
            max_poll_interval: Duration::from_secs(30),
            access_check_interval: Duration::from_secs(60),
            redfish: RedfishOptions::default(),
            ipmi: IpmiOptions::default(),
        }
    }
}

/// A connected BMC of either protocol.
enum Client {
    Redfish(RedfishClient),
    Ipmi(IpmiClient),
}

impl Client {
    async fn power_state(&self) -> Result<PowerState, BmcError> {
        match self {
            Client::Redfish(c) => c.power_state().await,
            Client::Ipmi(c) => c.power_state().await,
        }
    }

    async fn set_power(&self, action: PowerAction) -> Result<(), BmcError> {
        match self {
            Client::Redfish(c) => c.set_power(action).await,
            Client::Ipmi(c) => c.set_power(action).await,
        }
    }
}

/// A cached connection and the credentials/address it was made with.
struct Conn {
    client: Arc<Client>,
    address: String,
    credentials: Credentials,
    /// When BMC access was last shown to work (connect or a register read).
    checked: Instant,
}

/// Where a live-ISO provisioning is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LiveIsoStep {
    /// Media inserted; next: boot override and power.
    MediaInserted,
    /// Boot override set and power requested; next: verify.
    Booting { since: Instant },
}

/// A power change that was sent.
#[derive(Debug, Clone, Copy)]
struct PowerRequest {
    /// Towards on (else off).
    on: bool,
    /// A soft power off (falls back to hard after the soft timeout).
    soft: bool,
    /// When it was sent.
    since: Instant,
}

/// Per-host operation progress kept between calls.
#[derive(Default)]
struct HostState {
    /// Live-ISO progress, with the image URL it is for.
    live_iso: Option<(String, LiveIsoStep)>,
    /// The power change sent and not yet seen done.
    power_request: Option<PowerRequest>,
    /// BIOS settings written and waiting for a reset to take effect.
    bios: Option<BiosApply>,
    /// Deprovisioning ejected the media and waits for the power off: the
    /// slot is not read again on every pass of that wait.
    deprovision_ejected: bool,
}

/// BIOS settings written to the pending settings object, and the reset
/// that applies them.
#[derive(Debug, Clone)]
struct BiosApply {
    /// The settings asked for (name → value as text).
    wanted: std::collections::BTreeMap<String, String>,
    /// When the reset was sent.
    since: Instant,
}

/// The `wanted` settings the BIOS does not report yet (name → wanted text).
pub fn bios_differences(
    current: &serde_json::Map<String, serde_json::Value>,
    wanted: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    wanted
        .iter()
        .filter(|(k, v)| {
            current
                .get(*k)
                .map(metal3_hostmodel::state::setting_value_text)
                .as_ref()
                != Some(*v)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The PATCH body attributes for `changes`, each typed like the current
/// value (a Redfish Boolean or Integer attribute refuses a string): text
/// that does not parse as that type is sent as text, for the BMC to judge.
pub fn bios_patch(
    current: &serde_json::Map<String, serde_json::Value>,
    changes: &std::collections::BTreeMap<String, String>,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    changes
        .iter()
        .map(|(k, text)| {
            let typed = match current.get(k) {
                Some(Value::Bool(_)) => text.parse::<bool>().ok().map(Value::Bool),
                Some(Value::Number(_)) => text.parse::<i64>().ok().map(Value::from),
                _ => None,
            };
            (
                k.clone(),
                typed.unwrap_or_else(|| Value::String(text.clone())),
            )
        })
        .collect()
}

/// The delay before the next poll of a wait that has lasted `waited`: half
/// of that (so a wait of T costs about log1.5(T / first) polls and ends at
/// most half of T late), at least `first` and at most `max`.
pub fn poll_delay(waited: Duration, first: Duration, max: Duration) -> Duration {
    (waited / 2).min(max).max(first)
}

#[derive(Default)]
struct Shared {
    conns: HashMap<String, Conn>,
    hosts: HashMap<String, HostState>,
}

/// Provisioner that talks to BMCs directly (no Ironic). See the module docs.
pub struct DirectProvisioner {
    opts: DirectOptions,
    shared: Mutex<Shared>,
}

const LIVE_ISO_HINT: &str = "set spec.image.format: live-iso to boot an ISO through virtual media";
/// Message for hosts whose cleaning mode needs Ironic.
pub const CLEANING_NEEDS_IRONIC: &str = "automatedCleaningMode metadata needs the Ironic provisioner (it wipes disks from the agent ramdisk); set spec.automatedCleaningMode: disabled to manage this host with the direct provisioner";

fn msg(e: &BmcError) -> String {
    e.to_string()
}

/// Converts the Redfish inventory into the hostmodel `HardwareDetails`.
pub fn hardware_from_redfish(src: &rf::HardwareDetails) -> HardwareDetails {
    let sv = &src.system_vendor;
    let bios = &src.firmware.bios;
    HardwareDetails {
        system_vendor: (sv != &rf::SystemVendor::default()).then(|| hm::HardwareSystemVendor {
            manufacturer: sv.manufacturer.clone(),
            product_name: sv.product_name.clone(),
            serial_number: sv.serial_number.clone(),
        }),
        firmware: (bios != &rf::Bios::default()).then(|| hm::Firmware {
            bios: Some(hm::BiosFirmware {
                date: bios.date.clone(),
                vendor: bios.vendor.clone(),
                version: bios.version.clone(),
            }),
        }),
        ram_mebibytes: i64::try_from(src.ram_mebibytes).unwrap_or(i64::MAX),
        nics: src
            .nics
            .iter()
            .map(|n| hm::Nic {
                name: n.name.clone(),
                model: n.model.clone(),
                mac: n.mac.clone(),
                ip: n.ip.clone(),
                speed_gbps: i32::try_from(n.speed_gbps).unwrap_or(i32::MAX),
                vlans: n
                    .vlans
                    .iter()
                    .map(|v| hm::Vlan {
                        id: v.id,
                        name: v.name.clone(),
                    })
                    .collect(),
                vlan_id: n.vlan_id,
                // Out of band we only know PXE when the BMC says so.
                pxe: n.pxe.then_some(true),
                lldp: None,
                pci_address: String::new(),
            })
            .collect(),
        storage: src
            .storage
            .iter()
            .map(|s| hm::Storage {
                name: s.name.clone(),
                alternate_names: s.alternate_names.clone(),
                rotational: Some(s.rotational),
                type_: s.type_.map(|t| match t {
                    rf::DiskType::Hdd => hm::DiskType::Hdd,
                    rf::DiskType::Ssd => hm::DiskType::Ssd,
                    rf::DiskType::Nvme => hm::DiskType::Nvme,
                }),
                size_bytes: s.size_bytes,
                vendor: s.vendor.clone(),
                model: s.model.clone(),
                serial_number: s.serial_number.clone(),
                wwn: s.wwn.clone(),
                wwn_vendor_extension: s.wwn_vendor_extension.clone(),
                wwn_with_extension: s.wwn_with_extension.clone(),
                hctl: s.hctl.clone(),
            })
            .collect(),
        cpu: (src.cpu != rf::Cpu::default()).then(|| hm::Cpu {
            arch: src.cpu.arch.clone(),
            model: src.cpu.model.clone(),
            clock_megahertz: src.cpu.clock_megahertz,
            flags: src.cpu.flags.clone(),
            count: i32::try_from(src.cpu.count).unwrap_or(i32::MAX),
        }),
        hostname: src.hostname.clone(),
    }
}

/// Why the direct provisioner cannot manage `host`, if it cannot.
fn unsupported_reason(host: &BareMetalHost, address: &BmcAddress) -> Option<String> {
    if host.spec.effective_cleaning_mode() == AutomatedCleaningMode::Metadata {
        return Some(CLEANING_NEEDS_IRONIC.to_string());
    }
    let has_details = host
        .metadata
        .annotations
        .contains_key(annotations::HARDWARE_DETAILS)
        || host.status.as_ref().is_some_and(|s| s.hardware.is_some());
    if address.protocol() == Protocol::Ipmi
        && !annotations::inspection_disabled(host)
        && !has_details
    {
        return Some(format!(
            "IPMI BMC {}: the direct provisioner inspects only through Redfish; set spec.inspectionMode: disabled (or the annotation inspect.metal3.io: disabled) or give the hardware in the {} annotation",
            address.host_port(),
            annotations::HARDWARE_DETAILS
        ));
    }
    None
}

impl DirectProvisioner {
    /// A direct provisioner with the given options.
    pub fn new(opts: DirectOptions) -> Self {
        DirectProvisioner {
            opts,
            shared: Mutex::new(Shared::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panicking holder cannot leave the maps inconsistent (single
        // inserts/removes), so the poisoned data is still usable.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of cached BMC connections (for tests and status output).
    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    /// When to poll again a wait for the BMC that began at `since`.
    fn poll_after(&self, since: Instant) -> Duration {
        poll_delay(
            since.elapsed(),
            self.opts.poll_interval,
            self.opts.max_poll_interval,
        )
    }

    /// Whether the cached connection, made with the host's current address
    /// and credentials, showed BMC access within `access_check_interval`.
    fn access_checked_recently(&self, h: &HostRef<'_>) -> bool {
        let Some(creds) = h.credentials.as_ref() else {
            return false;
        };
        self.lock().conns.get(&h.id).is_some_and(|c| {
            c.address == h.host.spec.bmc.address
                && &c.credentials == creds
                && c.checked.elapsed() < self.opts.access_check_interval
        })
    }

    fn forget(&self, id: &str) {
        let mut s = self.lock();
        s.conns.remove(id);
        s.hosts.remove(id);
    }

    /// The cached client for the host, connecting when there is none or the
    /// address/credentials changed.
    async fn client(&self, h: &HostRef<'_>) -> Result<Arc<Client>, String> {
        let address_text = h.host.spec.bmc.address.clone();
        let Some(creds) = h.credentials.clone() else {
            return Err("no BMC credentials loaded for this host".to_string());
        };
        {
            let s = self.lock();
            if let Some(c) = s.conns.get(&h.id) {
                if c.address == address_text && c.credentials == creds {
                    return Ok(c.client.clone());
                }
            }
        }
        let address = BmcAddress::parse(&address_text).map_err(|e| e.to_string())?;
        let client = match address.protocol() {
            Protocol::Redfish => {
                let mut o = self.opts.redfish.clone();
                o.insecure =
                    o.insecure || h.host.spec.bmc.disable_certificate_verification == Some(true);
                Client::Redfish(
                    RedfishClient::connect(&address, &creds, o)
                        .await
                        .map_err(|e| msg(&e))?,
                )
            }
            Protocol::Ipmi => Client::Ipmi(
                IpmiClient::connect(&address, &creds, self.opts.ipmi.clone())
                    .await
                    .map_err(|e| msg(&e))?,
            ),
        };
        let client = Arc::new(client);
        self.lock().conns.insert(
            h.id.clone(),
            Conn {
                client: client.clone(),
                address: address_text,
                credentials: creds,
                checked: Instant::now(),
            },
        );
        Ok(client)
    }

    async fn do_register(&self, h: &HostRef<'_>, credentials_changed: bool) -> Outcome {
        let address = match BmcAddress::parse(&h.host.spec.bmc.address) {
            Ok(a) => a,
            Err(e) => return Outcome::failed(e.to_string()),
        };
        if let Some(reason) = unsupported_reason(h.host, &address) {
            return Outcome::failed(reason);
        }
        if credentials_changed {
            self.lock().conns.remove(&h.id);
        }
        let registered = || {
            Outcome::done().with_data(OutcomeData::Registered {
                provisioner_id: h.id.clone(),
            })
        };
        // The engine registers on every pass: a host waiting on its BMC
        // would otherwise cost a system read per pass on top of its polls.
        if self.access_checked_recently(h) {
            return registered();
        }
        let client = match self.client(h).await {
            Ok(c) => c,
            Err(e) => return Outcome::failed(e),
        };
        match client.power_state().await {
            Ok(_) => {
                if let Some(c) = self.lock().conns.get_mut(&h.id) {
                    c.checked = Instant::now();
                }
                registered()
            }
            Err(e) => {
                // A stale session may have expired: reconnect next time.
                self.lock().conns.remove(&h.id);
                Outcome::failed(msg(&e))
            }
        }
    }

    async fn do_inspect(&self, h: &HostRef<'_>) -> Outcome {
        let client = match self.client(h).await {
            Ok(c) => c,
            Err(e) => return Outcome::error(e),
        };
        match client.as_ref() {
            Client::Redfish(c) => match c.inventory().await {
                Ok(inv) => {
                    for w in &inv.warnings {
                        tracing::warn!(host = %h.id, "inspection: {w}");
                    }
                    Outcome::done().with_data(OutcomeData::Inspection {
                        started: true,
                        details: Some(Box::new(hardware_from_redfish(&inv.hardware))),
                    })
                }
                Err(e) => Outcome::failed(format!("out-of-band inspection failed: {e}")),
            },
            // Hardware given in the hardwaredetails annotation (copied into
            // status by the state machine) stands in for an inspection.
            Client::Ipmi(_) if h.host.status.as_ref().is_some_and(|s| s.hardware.is_some()) => {
                Outcome::done().with_data(OutcomeData::Inspection {
                    started: true,
                    details: h
                        .host
                        .status
                        .as_ref()
                        .and_then(|s| s.hardware.clone())
                        .map(Box::new),
                })
            }
            Client::Ipmi(_) => Outcome::failed(
                "inspection over IPMI is not possible with the direct provisioner; disable inspection (spec.inspectionMode: disabled) or provide inspect.metal3.io/hardwaredetails",
            ),
        }
    }

    async fn do_prepare(&self, h: &HostRef<'_>, data: &PrepareData) -> Outcome {
        let wants_raid = data.target_raid.as_ref().is_some_and(|r| {
            r.hardware_raid_volumes
                .as_ref()
                .is_some_and(|v| !v.is_empty())
                || r.software_raid_volumes
                    .as_ref()
                    .is_some_and(|v| !v.is_empty())
        });
        if wants_raid {
            return Outcome::failed(
                "RAID configuration needs the Ironic provisioner; remove spec.raid to use the direct provisioner",
            );
        }
        if data.firmware_components {
            return Outcome::failed(
                "firmware updates (HostFirmwareComponents) need the Ironic provisioner",
            );
        }
        if data.firmware_settings && !data.target_firmware_settings.is_empty() {
            return self.apply_bios(h, &data.target_firmware_settings).await;
        }
        Outcome::done().with_data(OutcomeData::Started(false))
    }

    /// One step of applying BIOS settings: write the ones that differ to the
    /// pending settings, reset the host (on → restart, off → power on) when
    /// the BIOS does not show them at once, and poll until it does.
    async fn apply_bios(
        &self,
        h: &HostRef<'_>,
        wanted: &std::collections::BTreeMap<String, String>,
    ) -> Outcome {
        let client = match self.client(h).await {
            Ok(c) => c,
            Err(e) => return Outcome::error(e),
        };
        let Client::Redfish(rf) = client.as_ref() else {
            return Outcome::failed("BIOS settings need a Redfish BMC (IPMI has no BIOS settings)");
        };
        let current = match rf.bios_attributes().await {
            Ok(c) => c,
            Err(e) => return Outcome::error(msg(&e)),
        };
        let pending = self
            .lock()
            .hosts
            .get(&h.id)
            .and_then(|s| s.bios.clone())
            .filter(|b| &b.wanted == wanted);
        let missing = bios_differences(&current, wanted);
        if missing.is_empty() {
            self.lock().hosts.entry(h.id.clone()).or_default().bios = None;
            // Started: the settings were written in this or an earlier call.
            let started = pending.is_some();
            return Outcome::done().with_data(OutcomeData::Started(started));
        }
        if let Some(p) = pending {
            if p.since.elapsed() > self.opts.power_timeout {
                self.lock().hosts.entry(h.id.clone()).or_default().bios = None;
                return Outcome::failed(format!(
                    "BIOS settings {} still differ {}s after the reset that should apply them",
                    missing.keys().cloned().collect::<Vec<_>>().join(", "),
                    self.opts.power_timeout.as_secs()
                ));
            }
            return Outcome::in_progress(self.poll_after(p.since))
                .with_data(OutcomeData::Started(true));
        }
        if let Err(e) = rf.set_bios_attributes(bios_patch(&current, &missing)).await {
            return Outcome::failed(format!("writing BIOS settings: {}", msg(&e)));
        }
        // Some BMCs apply at once; most at the next boot.
        match rf.bios_attributes().await {
            Ok(now) if bios_differences(&now, wanted).is_empty() => {
                return Outcome::done().with_data(OutcomeData::Started(true))
            }
            Ok(_) => {}
            Err(e) => return Outcome::error(msg(&e)),
        }
        let reset = match client.power_state().await {
            Ok(PowerState::On) => PowerAction::ForceRestart,
            Ok(_) => PowerAction::On,
            Err(e) => return Outcome::error(msg(&e)),
        };
        if let Err(e) = client.set_power(reset).await {
            return Outcome::failed(format!(
                "resetting the host to apply BIOS settings: {}",
                msg(&e)
            ));
        }
        self.lock().hosts.entry(h.id.clone()).or_default().bios = Some(BiosApply {
            wanted: wanted.clone(),
            since: Instant::now(),
        });
        Outcome::in_progress(self.opts.poll_interval).with_data(OutcomeData::Started(true))
    }

    async fn do_firmware_settings(
        &self,
        h: &HostRef<'_>,
    ) -> Result<CurrentFirmwareSettings, String> {
        let client = self.client(h).await?;
        let Client::Redfish(rf) = client.as_ref() else {
            return Err("BIOS settings need a Redfish BMC (IPMI has no BIOS settings)".into());
        };
        let attrs = rf.bios_attributes().await.map_err(|e| msg(&e))?;
        Ok(CurrentFirmwareSettings {
            settings: attrs
                .iter()
                .map(|(k, v)| (k.clone(), metal3_hostmodel::state::setting_value_text(v)))
                .collect(),
            // The BMC's attribute registry is not read (yet): validity is
            // then judged by the setting names the BIOS reports.
            schema: None,
        })
    }

    async fn do_provision(&self, h: &HostRef<'_>) -> Outcome {
        if h.host.spec.custom_deploy.is_some() {
            return Outcome::failed(format!(
                "spec.customDeploy needs the Ironic provisioner; {LIVE_ISO_HINT}"
            ));
        }
        let Some(image) = h.host.spec.image.as_ref() else {
            return Outcome::failed("no spec.image to provision");
        };
        if !image.is_live_iso() {
            let format = image
                .disk_format
                .as_deref()
                .unwrap_or("unspecified (disk image)");
            return Outcome::failed(format!(
                "image format {format} is written to disk by the Ironic agent and needs the Ironic provisioner; {LIVE_ISO_HINT}"
            ));
        }
        let client = match self.client(h).await {
            Ok(c) => c,
            Err(e) => return Outcome::error(e),
        };
        let Client::Redfish(rc) = client.as_ref() else {
            return Outcome::failed(
                "live-iso provisioning needs virtual media: use a redfish-virtualmedia BMC address",
            );
        };
        let step = {
            let mut s = self.lock();
            let st = s.hosts.entry(h.id.clone()).or_default();
            match &st.live_iso {
                Some((url, step)) if *url == image.url => Some(step.clone()),
                _ => {
                    st.live_iso = None;
                    st.deprovision_ejected = false;
                    None
                }
            }
        };
        let set_step = |step: LiveIsoStep| {
            self.lock().hosts.entry(h.id.clone()).or_default().live_iso =
                Some((image.url.clone(), step));
        };
        match step {
            None => {
                // The insert ejects what the slot holds first (so a previous
                // image never boots by mistake) and reads the slot back.
                if let Err(e) = rc.media_insert(&image.url).await {
                    return Outcome::failed(format!("live-iso: {e}"));
                }
                set_step(LiveIsoStep::MediaInserted);
                Outcome::in_progress(Duration::ZERO)
            }
            Some(LiveIsoStep::MediaInserted) => {
                let boot = BootOverride {
                    device: BootDevice::Cd,
                    persistent: false,
                    mode: None,
                    http_boot_uri: None,
                };
                if let Err(e) = rc.set_boot(&boot).await {
                    return Outcome::failed(format!("live-iso: set boot from CD: {e}"));
                }
                let action = match rc.power_state().await {
                    Ok(PowerState::On) => PowerAction::ForceRestart,
                    Ok(_) => PowerAction::On,
                    Err(e) => return Outcome::failed(format!("live-iso: {e}")),
                };
                if let Err(e) = rc.set_power(action).await {
                    return Outcome::failed(format!("live-iso: power on: {e}"));
                }
                set_step(LiveIsoStep::Booting {
                    since: Instant::now(),
                });
                Outcome::in_progress(self.opts.poll_interval)
            }
            Some(LiveIsoStep::Booting { since }) => {
                // Only power is polled while the host boots; the slot (its
                // insert verified by read-back) is read once, at the end.
                match rc.power_state().await {
                    Ok(PowerState::On) => {
                        self.lock().hosts.entry(h.id.clone()).or_default().live_iso = None;
                        let media = match rc.media_status().await {
                            Ok(m) => m,
                            Err(e) => return Outcome::failed(format!("live-iso: {e}")),
                        };
                        if !media.inserted || media.image.as_deref() != Some(image.url.as_str()) {
                            return Outcome::failed(format!(
                                "live-iso: the BMC no longer has {} inserted",
                                image.url
                            ));
                        }
                        Outcome::done()
                    }
                    Ok(now) if since.elapsed() > self.opts.power_timeout => {
                        self.lock().hosts.entry(h.id.clone()).or_default().live_iso = None;
                        Outcome::failed(format!(
                            "live-iso: the host still reports {now:?} {}s after power on",
                            since.elapsed().as_secs()
                        ))
                    }
                    Ok(_) => Outcome::in_progress(self.poll_after(since)),
                    Err(e) => Outcome::failed(format!("live-iso: {e}")),
                }
            }
        }
    }

    async fn do_deprovision(&self, h: &HostRef<'_>, mode: AutomatedCleaningMode) -> Outcome {
        if mode == AutomatedCleaningMode::Metadata {
            return Outcome::failed(CLEANING_NEEDS_IRONIC);
        }
        let client = match self.client(h).await {
            Ok(c) => c,
            Err(e) => return Outcome::error(e),
        };
        let ejected = self
            .lock()
            .hosts
            .get(&h.id)
            .is_some_and(|st| st.deprovision_ejected);
        if let (Client::Redfish(rc), false) = (client.as_ref(), ejected) {
            if let Err(e) = rc.media_eject().await {
                // Hosts without virtual media have nothing to eject.
                if e.kind() != metal3_bmc::BmcErrorKind::NotSupported {
                    return Outcome::failed(format!("deprovision: {e}"));
                }
            }
        }
        {
            let mut s = self.lock();
            let st = s.hosts.entry(h.id.clone()).or_default();
            st.live_iso = None;
            st.deprovision_ejected = true;
        }
        let out = self.do_power(h, false, RebootMode::Hard).await;
        if !matches!(out.outcome, ActionOutcome::InProgress { .. }) {
            // Done or failed: a later deprovisioning ejects again.
            if let Some(st) = self.lock().hosts.get_mut(&h.id) {
                st.deprovision_ejected = false;
            }
        }
        match out.outcome {
            ActionOutcome::Failed { message } => {
                Outcome::failed(format!("deprovision: power off: {message}"))
            }
            _ => out,
        }
    }

    async fn do_power(&self, h: &HostRef<'_>, on: bool, mode: RebootMode) -> Outcome {
        let client = match self.client(h).await {
            Ok(c) => c,
            Err(e) => return Outcome::error(e),
        };
        let now = match client.power_state().await {
            Ok(s) => s,
            Err(e) => return Outcome::failed(msg(&e)),
        };
        let target = if on { PowerState::On } else { PowerState::Off };
        let pending = self
            .lock()
            .hosts
            .get(&h.id)
            .and_then(|s| s.power_request)
            .filter(|r| r.on == on);
        if now == target {
            if let Some(st) = self.lock().hosts.get_mut(&h.id) {
                st.power_request = None;
            }
            return Outcome::done();
        }
        // A request for this target was sent: wait for it instead of
        // re-sending (BMCs take seconds to act; re-sending can restart that).
        let action = match pending {
            Some(r) if r.soft && r.since.elapsed() >= self.opts.soft_power_off_timeout => {
                tracing::info!(host = %h.id, "soft power off timed out; powering off hard");
                PowerAction::ForceOff
            }
            Some(r) if r.since.elapsed() < self.opts.power_timeout => {
                return Outcome::in_progress(self.poll_after(r.since));
            }
            Some(r) => {
                self.set_power_request(&h.id, None);
                return Outcome::failed(format!(
                    "the BMC accepted the power {} request but still reports {now:?} after {}s",
                    if on { "on" } else { "off" },
                    r.since.elapsed().as_secs()
                ));
            }
            None if on => PowerAction::On,
            None if mode == RebootMode::Hard => PowerAction::ForceOff,
            None => PowerAction::GracefulShutdown,
        };
        let sent = match client.set_power(action).await {
            Ok(()) => action,
            Err(e) if action == PowerAction::GracefulShutdown => {
                tracing::info!(host = %h.id, "soft power off refused ({e}); powering off hard");
                match client.set_power(PowerAction::ForceOff).await {
                    Ok(()) => PowerAction::ForceOff,
                    Err(e) => return Outcome::failed(msg(&e)),
                }
            }
            Err(e) => return Outcome::failed(msg(&e)),
        };
        self.set_power_request(
            &h.id,
            Some(PowerRequest {
                on,
                soft: sent == PowerAction::GracefulShutdown,
                since: Instant::now(),
            }),
        );
        Outcome::in_progress(self.opts.poll_interval)
    }

    fn set_power_request(&self, id: &str, r: Option<PowerRequest>) {
        self.lock()
            .hosts
            .entry(id.to_string())
            .or_default()
            .power_request = r;
    }
}

impl Provisioner for DirectProvisioner {
    fn register<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        credentials_changed: bool,
        _restart_on_failure: bool,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_register(host, credentials_changed))
    }

    fn inspect<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        _restart: bool,
        _refresh: bool,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_inspect(host))
    }

    fn prepare<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        data: &'a PrepareData,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_prepare(host, data))
    }

    fn firmware_settings<'a>(
        &'a self,
        host: &'a HostRef<'a>,
    ) -> BoxFuture<'a, Result<CurrentFirmwareSettings, String>> {
        Box::pin(self.do_firmware_settings(host))
    }

    fn service<'a>(&'a self, _host: &'a HostRef<'a>, _restart: bool) -> BoxFuture<'a, Outcome> {
        Box::pin(async {
            Outcome::failed("servicing (live firmware updates) needs the Ironic provisioner")
        })
    }

    fn provision<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        _force_reboot: bool,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_provision(host))
    }

    fn deprovision<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        _restart: bool,
        cleaning_mode: AutomatedCleaningMode,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_deprovision(host, cleaning_mode))
    }

    fn adopt<'a>(&'a self, _host: &'a HostRef<'a>, _restart: bool) -> BoxFuture<'a, Outcome> {
        // Nothing is kept on a backend: the host is taken as it is.
        Box::pin(async { Outcome::done() })
    }

    fn power_on<'a>(&'a self, host: &'a HostRef<'a>, _force: bool) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_power(host, true, RebootMode::Hard))
    }

    fn power_off<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        mode: RebootMode,
        _force: bool,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if host.host.spec.power_off_disabled() {
                // disablePowerOff: a reboot stands in for the power off.
                let client = match self.client(host).await {
                    Ok(c) => c,
                    Err(e) => return Outcome::error(e),
                };
                return match client.set_power(PowerAction::ForceRestart).await {
                    Ok(()) => Outcome::done(),
                    Err(e) => Outcome::failed(msg(&e)),
                };
            }
            self.do_power(host, false, mode).await
        })
    }

    fn detach<'a>(&'a self, host: &'a HostRef<'a>, _force: bool) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.forget(&host.id);
            Outcome::done()
        })
    }

    fn delete<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.forget(&host.id);
            Outcome::done()
        })
    }

    fn has_capacity<'a>(&'a self, _host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        // No backend-side limit: the engine enforces its provisioning_limit
        // over the hosts in the store before asking.
        Box::pin(async { Outcome::done().with_data(OutcomeData::Capacity(true)) })
    }

    fn update_hardware_state<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let client = match self.client(host).await {
                Ok(c) => c,
                Err(e) => return Outcome::error(e),
            };
            match client.power_state().await {
                Ok(s) => Outcome::done().with_data(OutcomeData::PowerState(match s {
                    PowerState::On | PowerState::PoweringOff => Some(true),
                    PowerState::Off | PowerState::PoweringOn => Some(false),
                })),
                Err(e) => {
                    self.lock().conns.remove(&host.id);
                    Outcome::error(msg(&e))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redfish_inventory_maps_to_hostmodel_with_empty_parts_omitted() {
        let src = rf::HardwareDetails {
            system_vendor: rf::SystemVendor {
                manufacturer: "Sushy".into(),
                ..Default::default()
            },
            ram_mebibytes: 4096,
            nics: vec![rf::Nic {
                name: "eth0".into(),
                mac: "00:5c:52:31:3a:00".into(),
                speed_gbps: 10,
                pxe: true,
                ..Default::default()
            }],
            storage: vec![rf::Storage {
                name: "sda".into(),
                type_: Some(rf::DiskType::Ssd),
                size_bytes: 1 << 30,
                ..Default::default()
            }],
            cpu: rf::Cpu {
                arch: "x86_64".into(),
                count: 4,
                ..Default::default()
            },
            ..Default::default()
        };
        let h = hardware_from_redfish(&src);
        assert_eq!(
            h.system_vendor.as_ref().map(|v| v.manufacturer.as_str()),
            Some("Sushy")
        );
        assert_eq!(h.firmware, None, "empty BIOS info is omitted, not {{}}");
        assert_eq!(h.ram_mebibytes, 4096);
        assert_eq!(h.nics[0].mac, "00:5c:52:31:3a:00");
        assert_eq!((h.nics[0].speed_gbps, h.nics[0].pxe), (10, Some(true)));
        assert_eq!(h.storage[0].type_, Some(hm::DiskType::Ssd));
        assert_eq!(h.storage[0].size_bytes, 1 << 30);
        assert_eq!(
            h.cpu.as_ref().map(|c| (c.arch.as_str(), c.count)),
            Some(("x86_64", 4))
        );
        let empty = hardware_from_redfish(&rf::HardwareDetails::default());
        assert_eq!(empty, HardwareDetails::default());
    }

    #[test]
    fn bios_changes_are_the_differing_settings_typed_like_the_bios() {
        let current: serde_json::Map<String, serde_json::Value> = serde_json::from_value(
            serde_json::json!({"ProcTurboMode": "Enabled", "QuietBoot": true, "NumCores": 10, "Empty": null}),
        )
        .unwrap();
        let wanted: std::collections::BTreeMap<String, String> = [
            ("ProcTurboMode", "Disabled"),
            ("QuietBoot", "false"),
            ("NumCores", "10"),
            // A null attribute reads as no text: asking for "" is no change.
            ("Empty", ""),
            ("Unknown", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let diff = bios_differences(&current, &wanted);
        assert_eq!(
            diff.keys().collect::<Vec<_>>(),
            ["ProcTurboMode", "QuietBoot", "Unknown"]
        );
        let patch = bios_patch(&current, &diff);
        assert_eq!(
            serde_json::Value::Object(patch),
            serde_json::json!({"ProcTurboMode": "Disabled", "QuietBoot": false, "Unknown": "x"})
        );
        // Text that is not of the attribute's type goes as text.
        let odd = bios_patch(
            &current,
            &[("NumCores".to_string(), "many".to_string())].into(),
        );
        assert_eq!(odd["NumCores"], serde_json::json!("many"));
    }

    #[test]
    fn waits_poll_after_half_the_time_waited_within_bounds() {
        let (ms, secs) = (Duration::from_millis, Duration::from_secs);
        assert_eq!(poll_delay(ms(0), ms(500), secs(30)), ms(500));
        assert_eq!(poll_delay(secs(4), ms(500), secs(30)), secs(2));
        assert_eq!(poll_delay(secs(600), ms(500), secs(30)), secs(30));
        // A maximum below the first delay does not shorten it.
        assert_eq!(poll_delay(secs(600), secs(5), secs(1)), secs(5));
        // Polls (and lateness) of waits as long as sushy-tools' power
        // changes (1-11 s): a fixed 500 ms poll needed up to 22.
        for wait in [secs(1), secs(6), secs(11)] {
            let (mut t, mut polls) = (Duration::ZERO, 0);
            while t < wait {
                t += poll_delay(t, ms(500), secs(30));
                polls += 1;
            }
            assert!(polls <= 8, "{polls} polls for {wait:?}");
            assert!(t <= wait + wait / 2 + ms(500), "{wait:?} seen at {t:?}");
        }
    }

    #[test]
    fn unsupported_hosts_get_messages_naming_the_fix() {
        let mut host = BareMetalHost::default();
        let ipmi = BmcAddress::parse("ipmi://127.0.0.1:623");
        let Ok(ipmi) = ipmi else {
            return assert!(ipmi.is_ok());
        };
        let m = unsupported_reason(&host, &ipmi).unwrap_or_default();
        assert!(m.contains("automatedCleaningMode: disabled"), "{m}");
        host.spec.automated_cleaning_mode = Some(AutomatedCleaningMode::Disabled);
        let m = unsupported_reason(&host, &ipmi).unwrap_or_default();
        assert!(m.contains("inspectionMode: disabled"), "{m}");
        host.metadata
            .annotations
            .insert(annotations::HARDWARE_DETAILS.into(), "{}".into());
        assert_eq!(unsupported_reason(&host, &ipmi), None);
    }
}
