//! One value for any kind metal3-rs stores.

use serde::Serialize;

use crate::bmh::BareMetalHost;
use crate::meta::ObjectMeta;
use crate::other::*;
use crate::secret::Secret;

/// Any supported object, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// `metal3.io/v1alpha1` BareMetalHost.
    BareMetalHost(Box<BareMetalHost>),
    /// `v1` Secret.
    Secret(Box<Secret>),
    /// `metal3.io/v1alpha1` HardwareData.
    HardwareData(Box<HardwareData>),
    /// `metal3.io/v1alpha1` HostFirmwareSettings.
    HostFirmwareSettings(Box<HostFirmwareSettings>),
    /// `metal3.io/v1alpha1` FirmwareSchema.
    FirmwareSchema(Box<FirmwareSchema>),
    /// `metal3.io/v1alpha1` HostFirmwareComponents.
    HostFirmwareComponents(Box<HostFirmwareComponents>),
    /// `metal3.io/v1alpha1` PreprovisioningImage.
    PreprovisioningImage(Box<PreprovisioningImage>),
    /// `metal3.io/v1alpha1` DataImage.
    DataImage(Box<DataImage>),
    /// `metal3.io/v1alpha1` BMCEventSubscription.
    BMCEventSubscription(Box<BMCEventSubscription>),
    /// `metal3.io/v1alpha1` HostUpdatePolicy.
    HostUpdatePolicy(Box<HostUpdatePolicy>),
    /// `metal3.io/v1alpha1` HostNetworkAttachment.
    HostNetworkAttachment(Box<HostNetworkAttachment>),
}

/// `(apiVersion, kind)` pairs of every supported kind.
pub const KINDS: &[(&str, &str)] = &[
    ("metal3.io/v1alpha1", "BareMetalHost"),
    ("v1", "Secret"),
    ("metal3.io/v1alpha1", "HardwareData"),
    ("metal3.io/v1alpha1", "HostFirmwareSettings"),
    ("metal3.io/v1alpha1", "FirmwareSchema"),
    ("metal3.io/v1alpha1", "HostFirmwareComponents"),
    ("metal3.io/v1alpha1", "PreprovisioningImage"),
    ("metal3.io/v1alpha1", "DataImage"),
    ("metal3.io/v1alpha1", "BMCEventSubscription"),
    ("metal3.io/v1alpha1", "HostUpdatePolicy"),
    ("metal3.io/v1alpha1", "HostNetworkAttachment"),
];

impl Object {
    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::BareMetalHost(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::HardwareData(o) => &o.metadata,
            Object::HostFirmwareSettings(o) => &o.metadata,
            Object::FirmwareSchema(o) => &o.metadata,
            Object::HostFirmwareComponents(o) => &o.metadata,
            Object::PreprovisioningImage(o) => &o.metadata,
            Object::DataImage(o) => &o.metadata,
            Object::BMCEventSubscription(o) => &o.metadata,
            Object::HostUpdatePolicy(o) => &o.metadata,
            Object::HostNetworkAttachment(o) => &o.metadata,
        }
    }

    /// The object's kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::BareMetalHost(_) => "BareMetalHost",
            Object::Secret(_) => "Secret",
            Object::HardwareData(_) => "HardwareData",
            Object::HostFirmwareSettings(_) => "HostFirmwareSettings",
            Object::FirmwareSchema(_) => "FirmwareSchema",
            Object::HostFirmwareComponents(_) => "HostFirmwareComponents",
            Object::PreprovisioningImage(_) => "PreprovisioningImage",
            Object::DataImage(_) => "DataImage",
            Object::BMCEventSubscription(_) => "BMCEventSubscription",
            Object::HostUpdatePolicy(_) => "HostUpdatePolicy",
            Object::HostNetworkAttachment(_) => "HostNetworkAttachment",
        }
    }

    /// `<kind>/<namespace>/<name>` as used in messages.
    pub fn key(&self) -> String {
        let m = self.metadata();
        format!("{}/{}/{}", self.kind(), m.namespace_or_default(), m.name)
    }
}
