//! `BareMetalHost` (`metal3.io/v1alpha1`): spec, status and their parts.
//!
//! Field presence follows what the document said: optional fields are
//! `Option`s so that `[]`/`""` written by a user survive a round trip, while
//! fields Go always writes (`spec.online`, `status.errorMessage`, ...) are
//! plain values that are always serialized.

use serde::{Deserialize, Deserializer, Serialize};

use crate::hardware::HardwareDetails;
use crate::meta::{Condition, ObjectMeta, ObjectReference, SecretReference, Taint};
use crate::time::Time;

/// API group/version of the metal3.io kinds.
pub const API_VERSION: &str = "metal3.io/v1alpha1";
/// Finalizer the controller puts on every host.
pub const HOST_FINALIZER: &str = "baremetalhost.metal3.io";

/// A physical host and its BMC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BareMetalHost {
    /// `metal3.io/v1alpha1`.
    pub api_version: String,
    /// `BareMetalHost`.
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state (absent in a document = all defaults).
    #[serde(default, skip_serializing_if = "BareMetalHostSpec::is_empty")]
    pub spec: BareMetalHostSpec,
    /// Observed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BareMetalHostStatus>,
}

/// `BareMetalHost.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BareMetalHostSpec {
    /// Deprecated, never implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
    /// How to reach the BMC.
    #[serde(default, skip_serializing_if = "BmcDetails::is_empty")]
    pub bmc: BmcDetails,
    /// RAID configuration to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raid: Option<RaidConfig>,
    /// Deprecated BIOS settings (rejected by validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<FirmwareConfig>,
    /// Deprecated hardware profile name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_profile: Option<String>,
    /// Hints selecting the root disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_device_hints: Option<RootDeviceHints>,
    /// Boot mode (effective default `UEFI`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<BootMode>,
    /// MAC of the NIC that boots from the provisioning network.
    #[serde(
        default,
        rename = "bootMACAddress",
        skip_serializing_if = "Option::is_none"
    )]
    pub boot_mac_address: Option<String>,
    /// Desired power state.
    pub online: bool,
    /// Who uses the host (a non-empty reference means "in use").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_ref: Option<ObjectReference>,
    /// Image to provision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Secret with cloud-init user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<SecretReference>,
    /// Secret with network data for the provisioning ramdisk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprovisioning_network_data_name: Option<String>,
    /// Secret with network data for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// Secret with meta data for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Provisioned by someone else; adopt it as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub externally_provisioned: Option<bool>,
    /// Disk cleaning on (de)provisioning (CRD default `metadata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_cleaning_mode: Option<AutomatedCleaningMode>,
    /// Custom deploy step instead of an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_deploy: Option<CustomDeploy>,
    /// CPU architecture, e.g. `x86_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Reboot instead of powering off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_power_off: Option<bool>,
    /// Inspection mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection_mode: Option<InspectionMode>,
    /// Switch-side network configuration per NIC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

impl BareMetalHostSpec {
    /// True when nothing is set (a document without `spec`).
    pub fn is_empty(&self) -> bool {
        self == &BareMetalHostSpec::default()
    }

    /// `externallyProvisioned` with its default.
    pub fn is_externally_provisioned(&self) -> bool {
        self.externally_provisioned.unwrap_or(false)
    }

    /// `disablePowerOff` with its default.
    pub fn power_off_disabled(&self) -> bool {
        self.disable_power_off.unwrap_or(false)
    }

    /// Boot mode with its default (`UEFI`).
    pub fn effective_boot_mode(&self) -> BootMode {
        self.boot_mode.unwrap_or(BootMode::Uefi)
    }

    /// Cleaning mode with its CRD default (`metadata`).
    pub fn effective_cleaning_mode(&self) -> AutomatedCleaningMode {
        self.automated_cleaning_mode
            .unwrap_or(AutomatedCleaningMode::Metadata)
    }
}

/// `spec.bmc`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BmcDetails {
    /// BMC address; the scheme selects the driver.
    #[serde(default)]
    pub address: String,
    /// Name of the Secret (same namespace) with `username` and `password`.
    #[serde(default)]
    pub credentials_name: String,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_certificate_verification: Option<bool>,
}

impl BmcDetails {
    /// True when no BMC is configured at all.
    pub fn is_empty(&self) -> bool {
        self == &BmcDetails::default()
    }
}

/// Boot mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BootMode {
    /// UEFI.
    #[serde(rename = "UEFI")]
    Uefi,
    /// UEFI with secure boot.
    #[serde(rename = "UEFISecureBoot")]
    UefiSecureBoot,
    /// Legacy BIOS.
    #[serde(rename = "legacy")]
    Legacy,
}

/// `spec.automatedCleaningMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutomatedCleaningMode {
    /// Remove partition tables (default).
    Metadata,
    /// No cleaning.
    Disabled,
}

/// `spec.inspectionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InspectionMode {
    /// No inspection.
    Disabled,
    /// In-band inspection by the agent ramdisk.
    Agent,
    /// Out-of-band inspection through the BMC.
    Fast,
}

/// An OS image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Image URL (http, https, ftp, oci).
    #[serde(default)]
    pub url: String,
    /// Checksum value or URL of a checksum file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// `md5`, `sha256`, `sha512` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// `raw`, `qcow2`, `vdi`, `vmdk` or `live-iso`.
    #[serde(default, rename = "format", skip_serializing_if = "Option::is_none")]
    pub disk_format: Option<String>,
    /// Pull secret for `oci://` images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_auth_secret_name: Option<String>,
}

impl Image {
    /// The image is booted live from an ISO, not written to disk.
    pub fn is_live_iso(&self) -> bool {
        self.disk_format.as_deref() == Some("live-iso")
    }
}

/// `spec.customDeploy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomDeploy {
    /// Deploy step name.
    pub method: String,
}

/// Root disk selection hints (all given hints must match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RootDeviceHints {
    /// `/dev/...` path or `/dev/disk/by-path/...` link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// SCSI address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hctl: Option<String>,
    /// Model substring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Vendor substring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Minimum size in GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size_gigabytes: Option<i64>,
    /// WWN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wwn: Option<String>,
    /// WWN with extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wwn_with_extension: Option<String>,
    /// WWN vendor extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wwn_vendor_extension: Option<String>,
    /// Rotational disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
}

/// `spec.raid`. `None` volumes mean "leave alone", `Some([])` "delete all";
/// both keys are always written, as Go does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RaidConfig {
    /// Hardware RAID volumes.
    #[serde(default, rename = "hardwareRAIDVolumes")]
    pub hardware_raid_volumes: Option<Vec<HardwareRaidVolume>>,
    /// Software RAID volumes (at most 2).
    #[serde(default, rename = "softwareRAIDVolumes")]
    pub software_raid_volumes: Option<Vec<SoftwareRaidVolume>>,
}

/// A hardware RAID volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareRaidVolume {
    /// Size; absent or 0 means the maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_gibibytes: Option<i64>,
    /// RAID level: 0, 1, 2, 5, 6, 1+0, 5+0, 6+0.
    pub level: String,
    /// Volume name (≤ 64 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Rotational (HDD) or not (SSD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
    /// Number of disks (≥ 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_physical_disks: Option<i64>,
    /// Controller name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// Controller-specific disk IDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_disks: Option<Vec<String>>,
}

/// A software RAID volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareRaidVolume {
    /// Holds the root file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_volume: Option<bool>,
    /// Size in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_gibibytes: Option<i64>,
    /// RAID level: 0, 1, 1+0.
    pub level: String,
    /// Disks (≥ 2), selected by hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_disks: Option<Vec<RootDeviceHints>>,
}

/// Deprecated `spec.firmware`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareConfig {
    /// VT-x/AMD-V.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualization_enabled: Option<bool>,
    /// Hyper-threading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simultaneous_multithreading_enabled: Option<bool>,
    /// SR-IOV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sriov_enabled: Option<bool>,
}

/// `spec.networkInterfaces[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    /// Interface name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Interface MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// HostNetworkAttachment to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network_attachment: Option<AttachmentRef>,
    /// Switch port the NIC is cabled to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_port: Option<SwitchPort>,
}

/// Reference to a HostNetworkAttachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// Name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace (default: the host's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// Switch and port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchPort {
    /// Switch MAC.
    #[serde(rename = "switchID")]
    pub switch_id: String,
    /// Port name.
    #[serde(rename = "portID")]
    pub port_id: String,
}

/// `status.provisioning.state`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProvisioningState {
    /// Brand new.
    #[default]
    #[serde(rename = "")]
    None,
    /// No BMC details.
    #[serde(rename = "unmanaged")]
    Unmanaged,
    /// Checking BMC access.
    #[serde(rename = "registering")]
    Registering,
    /// Legacy, moves straight to preparing.
    #[serde(rename = "match profile")]
    MatchProfile,
    /// RAID / firmware configuration.
    #[serde(rename = "preparing")]
    Preparing,
    /// Deprecated alias of available.
    #[serde(rename = "ready")]
    Ready,
    /// Ready to provision.
    #[serde(rename = "available")]
    Available,
    /// Writing the image.
    #[serde(rename = "provisioning")]
    Provisioning,
    /// Image written and booted.
    #[serde(rename = "provisioned")]
    Provisioned,
    /// Provisioned by someone else.
    #[serde(rename = "externally provisioned")]
    ExternallyProvisioned,
    /// Tearing down.
    #[serde(rename = "deprovisioning")]
    Deprovisioning,
    /// Reading the hardware.
    #[serde(rename = "inspecting")]
    Inspecting,
    /// Deletion: power off first.
    #[serde(rename = "powering off before delete")]
    PoweringOffBeforeDelete,
    /// Deletion: removing from the provisioner.
    #[serde(rename = "deleting")]
    Deleting,
}

impl ProvisioningState {
    /// The exact string used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisioningState::None => "",
            ProvisioningState::Unmanaged => "unmanaged",
            ProvisioningState::Registering => "registering",
            ProvisioningState::MatchProfile => "match profile",
            ProvisioningState::Preparing => "preparing",
            ProvisioningState::Ready => "ready",
            ProvisioningState::Available => "available",
            ProvisioningState::Provisioning => "provisioning",
            ProvisioningState::Provisioned => "provisioned",
            ProvisioningState::ExternallyProvisioned => "externally provisioned",
            ProvisioningState::Deprovisioning => "deprovisioning",
            ProvisioningState::Inspecting => "inspecting",
            ProvisioningState::PoweringOffBeforeDelete => "powering off before delete",
            ProvisioningState::Deleting => "deleting",
        }
    }
}

impl std::fmt::Display for ProvisioningState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `status.operationalStatus`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationalStatus {
    /// Not set yet.
    #[default]
    #[serde(rename = "")]
    None,
    /// Healthy.
    #[serde(rename = "OK")]
    Ok,
    /// Unmanaged host without BMC details.
    #[serde(rename = "discovered")]
    Discovered,
    /// Last operation failed.
    #[serde(rename = "error")]
    Error,
    /// Waiting for provisioner capacity.
    #[serde(rename = "delayed")]
    Delayed,
    /// Detached from the provisioner.
    #[serde(rename = "detached")]
    Detached,
    /// Live firmware update running.
    #[serde(rename = "servicing")]
    Servicing,
}

impl OperationalStatus {
    /// The exact string used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationalStatus::None => "",
            OperationalStatus::Ok => "OK",
            OperationalStatus::Discovered => "discovered",
            OperationalStatus::Error => "error",
            OperationalStatus::Delayed => "delayed",
            OperationalStatus::Detached => "detached",
            OperationalStatus::Servicing => "servicing",
        }
    }
}

/// `status.errorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorType {
    /// Adoption of a provisioned host failed.
    #[serde(rename = "provisioned registration error")]
    ProvisionedRegistration,
    /// BMC access or registration failed.
    #[serde(rename = "registration error")]
    Registration,
    /// Inspection failed.
    #[serde(rename = "inspection error")]
    Inspection,
    /// RAID/firmware preparation failed.
    #[serde(rename = "preparation error")]
    Preparation,
    /// Provisioning or deprovisioning failed.
    #[serde(rename = "provisioning error")]
    Provisioning,
    /// Power change failed.
    #[serde(rename = "power management error")]
    PowerManagement,
    /// Live update failed.
    #[serde(rename = "servicing error")]
    Servicing,
    /// Detach failed (used by the controller, not in the CRD enum).
    #[serde(rename = "detach error")]
    Detach,
}

impl ErrorType {
    /// The exact string used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::ProvisionedRegistration => "provisioned registration error",
            ErrorType::Registration => "registration error",
            ErrorType::Inspection => "inspection error",
            ErrorType::Preparation => "preparation error",
            ErrorType::Provisioning => "provisioning error",
            ErrorType::PowerManagement => "power management error",
            ErrorType::Servicing => "servicing error",
            ErrorType::Detach => "detach error",
        }
    }

    /// The event reason recorded with a failure of this type.
    pub fn event_reason(self) -> &'static str {
        match self {
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
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Go writes an empty error type as nothing; accept `""` as "none" on input.
fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ErrorType>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref() {
        None | Some("") => Ok(None),
        Some(v) => {
            ErrorType::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(v)).map(Some)
        }
    }
}

/// `BareMetalHost.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BareMetalHostStatus {
    /// Health summary.
    #[serde(default)]
    pub operational_status: OperationalStatus,
    /// Class of the last error (omitted when none).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_type: Option<ErrorType>,
    /// Last status write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Deprecated hardware profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_profile: Option<String>,
    /// Inspection result (deprecated in favour of HardwareData).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareDetails>,
    /// Provisioning progress.
    #[serde(default)]
    pub provisioning: ProvisionStatus,
    /// Last credentials that worked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good_credentials: Option<CredentialsStatus>,
    /// Last credentials tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tried_credentials: Option<CredentialsStatus>,
    /// Last error message.
    #[serde(default)]
    pub error_message: String,
    /// Observed power state.
    #[serde(default)]
    pub powered_on: bool,
    /// Start/end of the main operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_history: Option<OperationHistory>,
    /// Consecutive errors (drives backoff).
    #[serde(default)]
    pub error_count: i64,
    /// Consecutive failed provisioning attempts for the current image.
    #[serde(default)]
    pub provisioning_fail_count: i64,
    /// Image of the last provisioning attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_image: Option<Image>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// `status.provisioning`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionStatus {
    /// Provisioning state.
    #[serde(default)]
    pub state: ProvisioningState,
    /// Provisioner's ID for the host (Ironic node UUID); JSON name `ID`.
    #[serde(default, rename = "ID")]
    pub id: String,
    /// Last successfully provisioned image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Root device hints in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_device_hints: Option<RootDeviceHints>,
    /// Boot mode in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<BootMode>,
    /// RAID configuration applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raid: Option<RaidConfig>,
    /// Deprecated, always empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<FirmwareConfig>,
    /// Custom deploy applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_deploy: Option<CustomDeploy>,
}

/// `status.goodCredentials` / `triedCredentials`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsStatus {
    /// The Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<SecretReference>,
    /// The Secret's resourceVersion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_version: Option<String>,
}

/// `status.operationHistory`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationHistory {
    /// Registration.
    #[serde(default)]
    pub register: OperationMetric,
    /// Inspection.
    #[serde(default)]
    pub inspect: OperationMetric,
    /// Provisioning.
    #[serde(default)]
    pub provision: OperationMetric,
    /// Deprovisioning.
    #[serde(default)]
    pub deprovision: OperationMetric,
}

/// Start and end of one operation (`null` when not happened).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationMetric {
    /// Start.
    #[serde(default)]
    pub start: Option<Time>,
    /// End.
    #[serde(default)]
    pub end: Option<Time>,
}

/// Arguments of the `reboot.metal3.io[/key]` annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootAnnotationArguments {
    /// `hard`, `soft` or empty (soft).
    #[serde(default)]
    pub mode: String,
    /// Also act outside provisioned states.
    #[serde(default)]
    pub force: bool,
}

/// Arguments of the `baremetalhost.metal3.io/detached` annotation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetachedAnnotationArguments {
    /// `delay` or `delete` (default) on host deletion.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub delete_action: String,
    /// Detach even in transient states.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}
