//! Metal³ `HardwareDetails` (`status.hardware`) as plain serde types, with
//! exactly the upstream JSON names. Every field is omitted when empty, as Go's
//! `omitempty` does; the lead converts this into the hostmodel type.

use serde::{Deserialize, Serialize};

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Hardware inventory of a host, as Metal³ reports it in `status.hardware`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareDetails {
    /// Manufacturer, product and serial number.
    #[serde(default, skip_serializing_if = "is_default")]
    pub system_vendor: SystemVendor,
    /// Firmware (BIOS) identification.
    #[serde(default, skip_serializing_if = "is_default")]
    pub firmware: Firmware,
    /// Installed memory in MiB.
    #[serde(default, skip_serializing_if = "is_default")]
    pub ram_mebibytes: u64,
    /// Network interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<Nic>,
    /// Disks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage: Vec<Storage>,
    /// Processors.
    #[serde(default, skip_serializing_if = "is_default")]
    pub cpu: Cpu,
    /// Host name, when the BMC knows it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
}

/// `systemVendor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemVendor {
    /// Manufacturer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manufacturer: String,
    /// Product (model) name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub product_name: String,
    /// Serial number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial_number: String,
}

/// `firmware`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firmware {
    /// `firmware.bios`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub bios: Bios,
}

/// `firmware.bios`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bios {
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

/// One entry of `nics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Nic {
    /// Interface name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `<vendor> <product>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// MAC address, lower case.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// IP address (one entry per address family).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Link speed in Gbit/s.
    #[serde(default, skip_serializing_if = "is_default")]
    pub speed_gbps: u64,
    /// VLANs seen on the interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<Vlan>,
    /// Untagged VLAN id.
    #[serde(default, skip_serializing_if = "is_default")]
    pub vlan_id: i32,
    /// Whether the NIC PXE boots.
    #[serde(default, skip_serializing_if = "is_default")]
    pub pxe: bool,
}

/// One entry of `nics[].vlans`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vlan {
    /// VLAN id.
    #[serde(default, skip_serializing_if = "is_default")]
    pub id: i32,
    /// VLAN name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Disk technology as Metal³ names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskType {
    /// Rotational disk.
    #[serde(rename = "HDD")]
    Hdd,
    /// Solid-state (SATA/SAS).
    #[serde(rename = "SSD")]
    Ssd,
    /// NVMe.
    #[serde(rename = "NVME")]
    Nvme,
}

/// One entry of `storage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// Disk name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Other names of the disk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternate_names: Vec<String>,
    /// Spinning disk.
    #[serde(default, skip_serializing_if = "is_default")]
    pub rotational: bool,
    /// HDD, SSD or NVME.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<DiskType>,
    /// Capacity in bytes.
    #[serde(default, skip_serializing_if = "is_default")]
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
    /// SCSI host:channel:target:lun.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hctl: String,
}

/// `cpu`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    /// Architecture (`x86_64`, `aarch64`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// Model name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Clock speed in MHz.
    #[serde(default, skip_serializing_if = "is_default")]
    pub clock_megahertz: f64,
    /// CPU flags (not known out of band; empty from Redfish).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Logical CPU count.
    #[serde(default, skip_serializing_if = "is_default")]
    pub count: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_serialises_to_empty_object() {
        let h = HardwareDetails::default();
        assert_eq!(serde_json::to_string(&h).ok().as_deref(), Some("{}"));
    }

    #[test]
    fn json_names_match_metal3() {
        let h = HardwareDetails {
            system_vendor: SystemVendor {
                manufacturer: "Dell Inc.".into(),
                ..Default::default()
            },
            ram_mebibytes: 1024,
            nics: vec![Nic {
                mac: "aa:bb:cc:dd:ee:ff".into(),
                speed_gbps: 25,
                vlan_id: 3,
                ..Default::default()
            }],
            storage: vec![Storage {
                type_: Some(DiskType::Nvme),
                size_bytes: 10,
                serial_number: "S".into(),
                ..Default::default()
            }],
            cpu: Cpu {
                clock_megahertz: 2100.0,
                count: 8,
                ..Default::default()
            },
            ..Default::default()
        };
        let v = serde_json::to_value(&h).unwrap_or_default();
        assert_eq!(v["systemVendor"]["manufacturer"], "Dell Inc.");
        assert_eq!(v["ramMebibytes"], 1024);
        assert_eq!(v["nics"][0]["speedGbps"], 25);
        assert_eq!(v["nics"][0]["vlanId"], 3);
        assert_eq!(v["storage"][0]["type"], "NVME");
        assert_eq!(v["storage"][0]["sizeBytes"], 10);
        assert_eq!(v["storage"][0]["serialNumber"], "S");
        assert_eq!(v["cpu"]["clockMegahertz"], 2100.0);
        assert!(v.get("firmware").is_none());
        assert!(v["nics"][0].get("pxe").is_none());
    }
}
