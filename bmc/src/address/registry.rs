//! The table of BMC drivers Metal³ knows: one row per address scheme.
//!
//! Facts from the baremetal-operator driver registry (current drivers) and its
//! older releases (legacy drivers that the user guide still lists).

use serde::Serialize;

/// Which wire protocol a metal3-rs client speaks to a BMC of this driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// IPMI over LAN (RMCP/RMCP+), UDP.
    Ipmi,
    /// Redfish over HTTP(S).
    Redfish,
}

/// Which `+http`/`+https` suffixes a driver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carriers {
    /// No suffix allowed (`ipmi`, `libvirt`, `irmc`).
    None,
    /// Both `+http` and `+https` (the Redfish family).
    HttpAndHttps,
    /// Only `+https` (legacy iLO drivers).
    HttpsOnly,
}

/// One BMC driver: how Metal³ registers it with Ironic and what it can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverInfo {
    /// Address scheme without carrier suffix, e.g. `redfish-virtualmedia`.
    pub name: &'static str,
    /// Accepted carrier suffixes.
    pub carriers: Carriers,
    /// Ironic hardware type (`driver` field of the node).
    pub ironic_driver: &'static str,
    /// Ironic `boot_interface` set at node creation.
    pub boot_interface: &'static str,
    /// Ironic `bios_interface`; `None` leaves Ironic's default for the driver.
    pub bios_interface: Option<&'static str>,
    /// Ironic `management_interface`; `None` leaves Ironic's default.
    pub management_interface: Option<&'static str>,
    /// Ironic `power_interface`; `None` leaves Ironic's default.
    pub power_interface: Option<&'static str>,
    /// Ironic `raid_interface`; `no-raid` means hardware RAID is unsupported.
    pub raid_interface: Option<&'static str>,
    /// Ironic `vendor_interface`; `None` leaves Ironic's default.
    pub vendor_interface: Option<&'static str>,
    /// Ironic `firmware_interface`; `None` means no firmware updates.
    pub firmware_interface: Option<&'static str>,
    /// Out-of-band inspect interface (`inspectionMode: fast`); `None` if unsupported.
    pub oob_inspect_interface: Option<&'static str>,
    /// A `bootMACAddress` is always required (any driver needs one when inspection is disabled).
    pub needs_mac: bool,
    /// `bootMode: UEFISecureBoot` is allowed.
    pub secure_boot: bool,
    /// Can boot an ISO over virtual media (no provisioning network needed).
    pub virtual_media: bool,
    /// Needs a provisioning network (PXE/iPXE over DHCP).
    pub needs_provisioning_network: bool,
    /// BIOS settings can be read and changed (HostFirmwareSettings).
    pub firmware_settings: bool,
    /// The protocol metal3-rs's own clients use for this driver.
    pub protocol: Protocol,
    /// Port used when the address names none (`None`: the carrier's default, 443/80).
    pub default_port: Option<u16>,
    /// For drivers removed upstream: the Metal³ release that removed them.
    pub removed_in: Option<&'static str>,
}

impl DriverInfo {
    /// Hardware RAID can be configured (`raid_interface` other than `no-raid`).
    pub fn supports_hardware_raid(&self) -> bool {
        !matches!(self.raid_interface, None | Some("no-raid"))
    }

    /// Firmware components can be updated (an Ironic firmware interface exists).
    pub fn supports_firmware_updates(&self) -> bool {
        self.firmware_interface.is_some()
    }

    /// Out-of-band (`fast`) inspection is possible.
    pub fn supports_oob_inspection(&self) -> bool {
        self.oob_inspect_interface.is_some()
    }

    /// Every scheme this driver accepts, base name first.
    pub fn schemes(&self) -> Vec<String> {
        let mut v = vec![self.name.to_string()];
        match self.carriers {
            Carriers::None => {}
            Carriers::HttpAndHttps => {
                v.push(format!("{}+http", self.name));
                v.push(format!("{}+https", self.name));
            }
            Carriers::HttpsOnly => v.push(format!("{}+https", self.name)),
        }
        v
    }
}

const IPMI: DriverInfo = DriverInfo {
    name: "ipmi",
    carriers: Carriers::None,
    ironic_driver: "ipmi",
    boot_interface: "ipxe",
    bios_interface: None,
    management_interface: None,
    power_interface: None,
    raid_interface: Some("no-raid"),
    vendor_interface: None,
    firmware_interface: None,
    oob_inspect_interface: None,
    needs_mac: false,
    secure_boot: false,
    virtual_media: false,
    needs_provisioning_network: true,
    firmware_settings: false,
    protocol: Protocol::Ipmi,
    default_port: Some(623),
    removed_in: None,
};

const REDFISH: DriverInfo = DriverInfo {
    name: "redfish",
    carriers: Carriers::HttpAndHttps,
    ironic_driver: "redfish",
    boot_interface: "ipxe",
    bios_interface: None,
    management_interface: None,
    power_interface: None,
    raid_interface: Some("redfish"),
    vendor_interface: None,
    firmware_interface: Some("redfish"),
    oob_inspect_interface: Some("redfish"),
    needs_mac: false,
    secure_boot: true,
    virtual_media: false,
    needs_provisioning_network: true,
    firmware_settings: true,
    protocol: Protocol::Redfish,
    default_port: None,
    removed_in: None,
};

const IDRAC_REDFISH: DriverInfo = DriverInfo {
    name: "idrac-redfish",
    ironic_driver: "idrac",
    bios_interface: Some("idrac-redfish"),
    management_interface: Some("idrac-redfish"),
    power_interface: Some("idrac-redfish"),
    raid_interface: Some("idrac-redfish"),
    vendor_interface: Some("idrac-redfish"),
    ..REDFISH
};

const REDFISH_VIRTUALMEDIA: DriverInfo = DriverInfo {
    name: "redfish-virtualmedia",
    boot_interface: "redfish-virtual-media",
    virtual_media: true,
    needs_provisioning_network: false,
    ..REDFISH
};

const ILO4: DriverInfo = DriverInfo {
    name: "ilo4",
    carriers: Carriers::HttpsOnly,
    ironic_driver: "ilo",
    boot_interface: "ilo-ipxe",
    raid_interface: Some("no-raid"),
    firmware_interface: None,
    oob_inspect_interface: None,
    needs_mac: true,
    default_port: Some(443),
    removed_in: Some("v0.12"),
    ..REDFISH
};

/// Every driver, current ones first, in the order the user guide lists them.
pub static DRIVERS: &[DriverInfo] = &[
    IPMI,
    DriverInfo {
        name: "libvirt",
        needs_mac: true,
        ..IPMI
    },
    REDFISH,
    REDFISH_VIRTUALMEDIA,
    IDRAC_REDFISH,
    DriverInfo {
        name: "idrac-virtualmedia",
        boot_interface: "idrac-redfish-virtual-media",
        virtual_media: true,
        needs_provisioning_network: false,
        ..IDRAC_REDFISH
    },
    DriverInfo {
        name: "ilo5-redfish",
        ..REDFISH
    },
    DriverInfo {
        name: "ilo5-virtualmedia",
        ..REDFISH_VIRTUALMEDIA
    },
    DriverInfo {
        name: "redfish-uefihttp",
        boot_interface: "redfish-https",
        ..REDFISH_VIRTUALMEDIA
    },
    ILO4,
    DriverInfo {
        name: "ilo4-virtualmedia",
        boot_interface: "ilo-virtual-media",
        virtual_media: true,
        needs_provisioning_network: false,
        ..ILO4
    },
    DriverInfo {
        name: "ilo5",
        ironic_driver: "ilo5",
        raid_interface: Some("ilo5"),
        ..ILO4
    },
    DriverInfo {
        name: "irmc",
        carriers: Carriers::None,
        ironic_driver: "irmc",
        boot_interface: "ipxe",
        raid_interface: Some("irmc"),
        power_interface: Some("ipmitool"),
        removed_in: Some("v0.13"),
        ..ILO4
    },
];

/// Looks a full scheme (`name`, `name+http` or `name+https`) up in [`DRIVERS`].
///
/// Returns the driver and whether the suffix was `+http` (`Some(false)`),
/// `+https` (`Some(true)`) or absent (`None`).
pub fn lookup(scheme: &str) -> Option<(&'static DriverInfo, Option<bool>)> {
    let (base, tls) = if let Some(b) = scheme.strip_suffix("+https") {
        (b, Some(true))
    } else if let Some(b) = scheme.strip_suffix("+http") {
        (b, Some(false))
    } else {
        (scheme, None)
    };
    let d = DRIVERS.iter().find(|d| d.name == base)?;
    let ok = match (d.carriers, tls) {
        (_, None) => true,
        (Carriers::None, Some(_)) => false,
        (Carriers::HttpAndHttps, Some(_)) => true,
        (Carriers::HttpsOnly, Some(t)) => t,
    };
    ok.then_some((d, tls))
}

/// All accepted schemes, for error messages and `--help`.
pub fn accepted_schemes() -> Vec<String> {
    DRIVERS.iter().flat_map(DriverInfo::schemes).collect()
}
