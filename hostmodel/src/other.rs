//! The metal3.io kinds besides BareMetalHost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hardware::HardwareDetails;
use crate::meta::{Condition, IntOrString, ObjectMeta, SecretReference};
use crate::time::Time;

/// Declares a kind with `apiVersion`, `kind`, `metadata`, `spec` and optional `status`.
macro_rules! kind {
    ($(#[$doc:meta])* $name:ident, $spec:ty, $status:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// API version.
            pub api_version: String,
            /// Kind.
            pub kind: String,
            /// Object metadata.
            #[serde(default)]
            pub metadata: ObjectMeta,
            /// Desired state.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub spec: Option<$spec>,
            /// Observed state.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<$status>,
        }
    };
}

/// A kind without status fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoStatus {}

kind!(
    /// Inspection result of a host (same name as the host).
    HardwareData, HardwareDataSpec, NoStatus
);

/// `HardwareData.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HardwareDataSpec {
    /// Hardware details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareDetails>,
}

kind!(
    /// Desired and actual BIOS settings of a host.
    HostFirmwareSettings, HostFirmwareSettingsSpec, HostFirmwareSettingsStatus
);

/// `HostFirmwareSettings.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFirmwareSettingsSpec {
    /// Desired values.
    #[serde(default)]
    pub settings: BTreeMap<String, IntOrString>,
}

/// `HostFirmwareSettings.status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostFirmwareSettingsStatus {
    /// FirmwareSchema in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaReference>,
    /// Actual values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<BTreeMap<String, String>>,
    /// Last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// `ChangeDetected`, `Valid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// Reference to a FirmwareSchema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaReference {
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Name.
    #[serde(default)]
    pub name: String,
}

kind!(
    /// Allowed BIOS settings of a hardware model.
    FirmwareSchema, FirmwareSchemaSpec, NoStatus
);

/// `FirmwareSchema.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareSchemaSpec {
    /// Vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_vendor: Option<String>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_model: Option<String>,
    /// Setting name → rules.
    #[serde(default)]
    pub schema: BTreeMap<String, SettingSchema>,
}

/// Rules of one BIOS setting (snake_case JSON keys, as upstream).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingSchema {
    /// `Enumeration`, `String`, `Integer`, `Boolean` or `Password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_type: Option<String>,
    /// Allowed values of an enumeration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowable_values: Option<Vec<String>>,
    /// Integer minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<i64>,
    /// Integer maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<i64>,
    /// String minimum length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<i64>,
    /// String maximum length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<i64>,
    /// Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Value must be unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<bool>,
}

kind!(
    /// Firmware components of a host and updates to apply.
    HostFirmwareComponents, HostFirmwareComponentsSpec, HostFirmwareComponentsStatus
);

/// `HostFirmwareComponents.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFirmwareComponentsSpec {
    /// Updates to apply.
    #[serde(default)]
    pub updates: Vec<FirmwareUpdate>,
}

/// One firmware update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareUpdate {
    /// `bios`, `bmc` or `nic:<id>`.
    pub component: String,
    /// Firmware image URL.
    pub url: String,
}

/// `HostFirmwareComponents.status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostFirmwareComponentsStatus {
    /// Updates last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<Vec<FirmwareUpdate>>,
    /// Component versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<FirmwareComponentStatus>>,
    /// Last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// `ChangeDetected`, `Valid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// Version information of one component.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareComponentStatus {
    /// Component.
    pub component: String,
    /// Version at registration.
    #[serde(default)]
    pub initial_version: String,
    /// Current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// Version last flashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_version_flashed: Option<String>,
    /// When it was flashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
}

kind!(
    /// A ramdisk image built for one host.
    PreprovisioningImage, PreprovisioningImageSpec, PreprovisioningImageStatus
);

/// `PreprovisioningImage.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreprovisioningImageSpec {
    /// Secret with network data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data_name: Option<String>,
    /// CPU architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// `iso` and/or `initrd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_formats: Option<Vec<String>>,
}

/// `PreprovisioningImage.status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreprovisioningImageStatus {
    /// Image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Kernel URL (initrd format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_url: Option<String>,
    /// Extra kernel parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_kernel_params: Option<String>,
    /// `iso` or `initrd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Network data built in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretStatus>,
    /// CPU architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// `Ready`, `Error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// A Secret and the version used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretStatus {
    /// Name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// resourceVersion.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

kind!(
    /// An ISO attached as virtual media to a provisioned host.
    DataImage, DataImageSpec, DataImageStatus
);

/// `DataImage.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataImageSpec {
    /// ISO URL.
    pub url: String,
}

/// `DataImage.status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataImageStatus {
    /// Last reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconciled: Option<Time>,
    /// Image attached now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_image: Option<AttachedImage>,
    /// Errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<DataImageError>,
}

/// `DataImage.status.attachedImage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedImage {
    /// URL.
    #[serde(default)]
    pub url: String,
}

/// `DataImage.status.error`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataImageError {
    /// Consecutive failures.
    #[serde(default)]
    pub count: i64,
    /// Last message.
    #[serde(default)]
    pub message: String,
}

kind!(
    /// A Redfish event subscription on a host's BMC.
    BMCEventSubscription, BMCEventSubscriptionSpec, BMCEventSubscriptionStatus
);

/// `BMCEventSubscription.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BMCEventSubscriptionSpec {
    /// The BareMetalHost.
    #[serde(default)]
    pub host_name: String,
    /// Webhook URL.
    #[serde(default)]
    pub destination: String,
    /// Opaque context sent with events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Secret whose data become HTTP headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_headers_ref: Option<SecretReference>,
}

/// `BMCEventSubscription.status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BMCEventSubscriptionStatus {
    /// ID at the BMC.
    #[serde(
        default,
        rename = "subscriptionID",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscription_id: Option<String>,
    /// Last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

kind!(
    /// When to apply firmware settings/updates to a provisioned host.
    HostUpdatePolicy, HostUpdatePolicySpec, NoStatus
);

/// `HostUpdatePolicy.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostUpdatePolicySpec {
    /// `onPreparing` or `onReboot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_settings: Option<String>,
    /// `onPreparing` or `onReboot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_updates: Option<String>,
}

kind!(
    /// Switch-port configuration for host NICs.
    HostNetworkAttachment, HostNetworkAttachmentSpec, NoStatus
);

/// `HostNetworkAttachment.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostNetworkAttachmentSpec {
    /// `access`, `trunk` or `hybrid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Untagged VLAN 1..4094.
    #[serde(
        default,
        rename = "nativeVLAN",
        skip_serializing_if = "Option::is_none"
    )]
    pub native_vlan: Option<i64>,
    /// Allowed VLANs (`"100"` or `"100-200"`).
    #[serde(
        default,
        rename = "allowedVLANs",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_vlans: Option<Vec<String>>,
    /// MTU 68..9216.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i64>,
}
