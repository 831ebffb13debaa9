//! `HardwareDetails`: what inspection found (`status.hardware`, `HardwareData.spec.hardware`).

use serde::{Deserialize, Serialize, Serializer};

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}
fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// Go's encoding/json writes integral floats without a fraction (`2100`, not
/// `2100.0`); doing the same keeps documents equal after a round trip.
pub(crate) fn go_float<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// Hardware inventory of a host. Every field is omitted when empty, as in Go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareDetails {
    /// Vendor, product and serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_vendor: Option<HardwareSystemVendor>,
    /// Firmware versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<Firmware>,
    /// Memory in MiB.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub ram_mebibytes: i64,
    /// Network interfaces (one entry per IP family on dual-stack NICs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<Nic>,
    /// Disks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage: Vec<Storage>,
    /// Processors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// Host name seen by the inspection agent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
}

/// `systemVendor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareSystemVendor {
    /// Manufacturer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manufacturer: String,
    /// Product name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub product_name: String,
    /// Serial number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial_number: String,
}

/// `firmware`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firmware {
    /// BIOS/UEFI firmware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bios: Option<BiosFirmware>,
}

/// `firmware.bios`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BiosFirmware {
    /// Release date.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub date: String,
    /// Vendor.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vendor: String,
    /// Version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// One NIC (per IP family).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Nic {
    /// Interface name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `<vendor> <product>` IDs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// MAC address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// IP address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Link speed in Gbps.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub speed_gbps: i32,
    /// VLANs seen on the interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<Vlan>,
    /// Untagged VLAN ID (JSON name `vlanId`).
    #[serde(default, rename = "vlanId", skip_serializing_if = "is_zero_i32")]
    pub vlan_id: i32,
    /// PXE-capable (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pxe: Option<bool>,
    /// LLDP neighbour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lldp: Option<Lldp>,
    /// PCI address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pci_address: String,
}

/// A VLAN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vlan {
    /// VLAN ID 0..4094.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub id: i32,
    /// VLAN name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// LLDP neighbour data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lldp {
    /// Switch chassis ID.
    #[serde(default, rename = "switchID", skip_serializing_if = "String::is_empty")]
    pub switch_id: String,
    /// Switch port ID.
    #[serde(default, rename = "portID", skip_serializing_if = "String::is_empty")]
    pub port_id: String,
    /// Switch system name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub switch_system_name: String,
}

/// Disk type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskType {
    /// Rotational disk.
    #[serde(rename = "HDD")]
    Hdd,
    /// Solid-state disk.
    #[serde(rename = "SSD")]
    Ssd,
    /// NVMe device.
    #[serde(rename = "NVME")]
    Nvme,
}

/// One disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// Stable name (by-path when available).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Other names of the device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternate_names: Vec<String>,
    /// Rotational (kept as written: `false` and absent both occur).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
    /// HDD, SSD or NVME.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<DiskType>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub size_bytes: i64,
    /// Vendor.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vendor: String,
    /// Model.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Serial number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial_number: String,
    /// World-wide name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn: String,
    /// WWN vendor extension.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn_vendor_extension: String,
    /// WWN with extension.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn_with_extension: String,
    /// SCSI address H:C:T:L.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hctl: String,
}

/// Processors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    /// Architecture, e.g. `x86_64`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// Model name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Clock speed in MHz (a float in the API).
    #[serde(
        default,
        skip_serializing_if = "is_zero_f64",
        serialize_with = "go_float"
    )]
    pub clock_megahertz: f64,
    /// CPU flags, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Logical CPU count.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub count: i32,
}
