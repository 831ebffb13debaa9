//! Sans-IO mapping from Redfish JSON to data: every function takes
//! `serde_json::Value`s and returns data or a description of what is wrong,
//! so they are unit-testable without a BMC and never panic on odd input.

use serde_json::Value;

use super::hardware::{Bios, Cpu, DiskType, Firmware, HardwareDetails, Nic, Storage, SystemVendor};
use crate::ops::{BootDevice, BootMode, BootOverride, PowerAction, PowerState};

/// The string at `key`, if it is a string.
pub fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `v[key]["@odata.id"]`: the link a resource gives to another.
pub fn link(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(|l| l.get("@odata.id"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The `@odata.id` of every member of a collection.
pub fn member_links(collection: &Value) -> Vec<String> {
    collection
        .get("Members")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|x| x.get("@odata.id").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a collection member was returned expanded (more than a bare link).
pub fn is_expanded(member: &Value) -> bool {
    member
        .as_object()
        .is_some_and(|o| o.keys().any(|k| !k.starts_with("@odata")))
}

/// Whether `body` is the resource at `path` (an action or PATCH that
/// answers 200 with the resource, which then serves as the read-back).
pub fn is_resource(body: &Value, path: &str) -> bool {
    str_at(body, "@odata.id")
        .is_some_and(|id| id.trim_end_matches('/') == path.trim_end_matches('/'))
}

/// Where a Bios resource at `path` takes pending settings: its
/// `@Redfish.Settings.SettingsObject`, else `<path>/Settings`.
pub fn bios_settings_path(path: &str, bios: &Value) -> String {
    bios.get("@Redfish.Settings")
        .and_then(|s| link(s, "SettingsObject"))
        .unwrap_or_else(|| format!("{}/Settings", path.trim_end_matches('/')))
}

/// The managers of a system (`Links.ManagedBy`).
pub fn managers(system: &Value) -> Vec<String> {
    system
        .get("Links")
        .and_then(|l| l.get("ManagedBy"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| str_at(m, "@odata.id").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A response body as JSON: an empty body is `null` (204 and many actions),
/// anything else must be JSON; the error says why it is not.
pub fn response_body(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// The message of an error response: its Redfish error text when the body
/// has one, else the body itself when short, else the status's reason.
pub fn http_error_message(text: &str, reason: &str) -> String {
    let body = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    error_message(&body).unwrap_or_else(|| {
        let t = text.trim();
        if t.is_empty() || t.len() > 300 {
            reason.to_string()
        } else {
            t.to_string()
        }
    })
}

/// The Redfish error text of an error body: every
/// `error.@Message.ExtendedInfo[].Message`, else `error.message`.
pub fn error_message(body: &Value) -> Option<String> {
    let err = body.get("error")?;
    let infos: Vec<&str> = err
        .get("@Message.ExtendedInfo")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| i.get("Message").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if !infos.is_empty() {
        return Some(infos.join("; "));
    }
    str_at(err, "message").map(str::to_string)
}

/// Whether the service root advertises `$expand=.($levels=1)` support.
pub fn supports_expand(root: &Value) -> bool {
    let Some(e) = root
        .get("ProtocolFeaturesSupported")
        .and_then(|p| p.get("ExpandQuery"))
    else {
        return false;
    };
    let flag = |k: &str| e.get(k).and_then(Value::as_bool).unwrap_or(false);
    flag("NoLinks") && flag("Levels")
}

/// How many levels `$expand` may go (`ExpandQuery.MaxLevels`); 1 when the
/// service expands but does not say, 0 when it does not expand.
pub fn expand_max_levels(root: &Value) -> u64 {
    if !supports_expand(root) {
        return 0;
    }
    root.get("ProtocolFeaturesSupported")
        .and_then(|p| p.get("ExpandQuery"))
        .and_then(|e| e.get("MaxLevels"))
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1)
}

/// The session collection to log in to, if the service has one.
pub fn sessions_link(root: &Value) -> Option<String> {
    root.get("Links")
        .and_then(|l| l.get("Sessions"))
        .and_then(|s| s.get("@odata.id"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| link(root, "SessionService").map(|s| format!("{s}/Sessions")))
}

/// BMC vendor, for the few vendor quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Vendor {
    /// Dell iDRAC.
    Dell,
    /// HPE iLO.
    Hpe,
    /// Lenovo XClarity.
    Lenovo,
    /// Supermicro.
    Supermicro,
    /// NVIDIA (OpenBMC-based).
    Nvidia,
    /// Fujitsu iRMC.
    Fujitsu,
    /// Anything else, including emulators.
    Generic,
}

fn vendor_from_name(name: &str) -> Option<Vendor> {
    let n = name.to_ascii_lowercase();
    if n.contains("dell") {
        Some(Vendor::Dell)
    } else if n.contains("hpe") || n == "hp" || n.contains("hewlett") {
        Some(Vendor::Hpe)
    } else if n.contains("lenovo") {
        Some(Vendor::Lenovo)
    } else if n.contains("supermicro") {
        Some(Vendor::Supermicro)
    } else if n.contains("nvidia") {
        Some(Vendor::Nvidia)
    } else if n.contains("fujitsu") || n.contains("ts_fujitsu") {
        Some(Vendor::Fujitsu)
    } else if n.contains("sushy") {
        // sushy-tools (the emulator of Metal³'s development and CI setups)
        // names itself in the system's Manufacturer: a known implementation
        // without vendor quirks, no need to ask its manager.
        Some(Vendor::Generic)
    } else {
        None
    }
}

/// The vendor the service root names: its `Vendor` (Redfish 1.5+), else an
/// `Oem` key.
pub fn vendor_from_root(root: &Value) -> Option<Vendor> {
    str_at(root, "Vendor")
        .and_then(vendor_from_name)
        .or_else(|| oem_vendor(root))
}

fn oem_vendor(v: &Value) -> Option<Vendor> {
    v.get("Oem")
        .and_then(Value::as_object)
        .and_then(|o| o.keys().find_map(|k| vendor_from_name(k)))
}

/// The vendor a ComputerSystem's `Manufacturer` names.
pub fn vendor_from_system(system: &Value) -> Option<Vendor> {
    str_at(system, "Manufacturer").and_then(vendor_from_name)
}

/// The vendor a Manager (the BMC itself) names: its `Manufacturer`, an
/// `Oem` key (also under `Links`), or a product `Model` ("iLO 5",
/// "Lenovo XClarity Controller", "iDRAC").
pub fn vendor_from_manager(manager: &Value) -> Option<Vendor> {
    str_at(manager, "Manufacturer")
        .and_then(vendor_from_name)
        .or_else(|| oem_vendor(manager))
        .or_else(|| manager.get("Links").and_then(oem_vendor))
        .or_else(|| {
            let model = str_at(manager, "Model")?.to_ascii_lowercase();
            if model.starts_with("ilo") {
                Some(Vendor::Hpe)
            } else if model.contains("idrac") {
                Some(Vendor::Dell)
            } else if model.contains("xclarity") {
                Some(Vendor::Lenovo)
            } else if model.contains("irmc") {
                Some(Vendor::Fujitsu)
            } else {
                vendor_from_name(&model)
            }
        })
}

/// Vendor from the service root, else a manufacturer name (of the system
/// or the manager), else [`Vendor::Generic`].
pub fn detect_vendor(root: &Value, manufacturer: Option<&str>) -> Vendor {
    vendor_from_root(root)
        .or_else(|| manufacturer.and_then(vendor_from_name))
        .unwrap_or(Vendor::Generic)
}

/// Picks the system to manage among the `/Systems` members.
pub fn choose_system(members: &[String]) -> Result<String, String> {
    match members {
        [one] => Ok(one.clone()),
        [] => Err("the BMC lists no systems".to_string()),
        many => Err(format!(
            "the BMC manages {} systems; put one in the address path: {}",
            many.len(),
            many.join(", ")
        )),
    }
}

/// The power state of a ComputerSystem.
pub fn power_state(system: &Value) -> Result<PowerState, String> {
    match str_at(system, "PowerState") {
        Some("On") => Ok(PowerState::On),
        Some("Off") => Ok(PowerState::Off),
        Some("PoweringOn") => Ok(PowerState::PoweringOn),
        Some("PoweringOff") => Ok(PowerState::PoweringOff),
        Some(other) => Err(format!("unknown PowerState {other:?}")),
        None => Err("the system has no PowerState".to_string()),
    }
}

/// `ResetType@Redfish.AllowableValues` of the reset action, if advertised.
pub fn allowed_reset_types(system: &Value) -> Option<Vec<String>> {
    let a = system
        .get("Actions")?
        .get("#ComputerSystem.Reset")?
        .get("ResetType@Redfish.AllowableValues")?
        .as_array()?;
    Some(
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
    )
}

/// Target of the reset action (the standard path when not advertised).
pub fn reset_target(system: &Value, system_path: &str) -> String {
    system
        .get("Actions")
        .and_then(|a| a.get("#ComputerSystem.Reset"))
        .and_then(|r| str_at(r, "target"))
        .map(str::to_string)
        .unwrap_or_else(|| format!("{system_path}/Actions/ComputerSystem.Reset"))
}

/// How a power action is carried out on a given system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetPlan {
    /// One `ResetType`.
    Single(String),
    /// `ForceOff`, wait until off, then `On` (for BMCs without `PowerCycle`).
    OffThenOn,
}

/// Maps a power action to the reset types the system accepts. `allowed` is
/// `None` when the system does not advertise them (then the standard name is sent).
pub fn plan_reset(action: PowerAction, allowed: Option<&[String]>) -> Result<ResetPlan, String> {
    let wanted: &[&str] = match action {
        PowerAction::On => &["On", "ForceOn"],
        PowerAction::ForceOff => &["ForceOff"],
        PowerAction::GracefulShutdown => &["GracefulShutdown"],
        PowerAction::ForceRestart => &["ForceRestart"],
        PowerAction::GracefulRestart => &["GracefulRestart"],
        PowerAction::PowerCycle => &["PowerCycle"],
    };
    let Some(allowed) = allowed else {
        return Ok(ResetPlan::Single(wanted[0].to_string()));
    };
    if let Some(w) = wanted.iter().find(|w| allowed.iter().any(|a| a == *w)) {
        return Ok(ResetPlan::Single((*w).to_string()));
    }
    let has = |t: &str| allowed.iter().any(|a| a == t);
    if action == PowerAction::PowerCycle && has("ForceOff") && (has("On") || has("ForceOn")) {
        return Ok(ResetPlan::OffThenOn);
    }
    Err(format!(
        "reset type {} is not among the allowed values [{}]",
        wanted[0],
        allowed.join(", ")
    ))
}

/// Redfish `BootSourceOverrideTarget` for a device.
pub fn boot_target(device: BootDevice) -> &'static str {
    match device {
        BootDevice::Pxe => "Pxe",
        BootDevice::Disk => "Hdd",
        BootDevice::Cd => "Cd",
        BootDevice::BiosSetup => "BiosSetup",
        BootDevice::UefiHttp => "UefiHttp",
        BootDevice::None => "None",
    }
}

/// The `PATCH` body for a boot override, or why the system cannot take it.
pub fn boot_patch(system: &Value, boot: &BootOverride) -> Result<Value, String> {
    let target = boot_target(boot.device);
    let b = system.get("Boot");
    let allowed: Option<Vec<&str>> = b
        .and_then(|b| b.get("BootSourceOverrideTarget@Redfish.AllowableValues"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    if let Some(allowed) = &allowed {
        if boot.device != BootDevice::None && !allowed.contains(&target) {
            return Err(format!(
                "boot target {target} is not among the allowed values [{}]",
                allowed.join(", ")
            ));
        }
    }
    let mut body = serde_json::Map::new();
    body.insert("BootSourceOverrideTarget".into(), target.into());
    let enabled = match (boot.device, boot.persistent) {
        (BootDevice::None, _) => "Disabled",
        (_, true) => "Continuous",
        (_, false) => "Once",
    };
    body.insert("BootSourceOverrideEnabled".into(), enabled.into());
    if let Some(mode) = boot.mode {
        let m = match mode {
            BootMode::Uefi => "UEFI",
            BootMode::Legacy => "Legacy",
        };
        body.insert("BootSourceOverrideMode".into(), m.into());
    }
    if let Some(uri) = &boot.http_boot_uri {
        if boot.device != BootDevice::UefiHttp {
            return Err("an HTTP boot URI needs the uefi-http device".to_string());
        }
        body.insert("HttpBootUri".into(), uri.as_str().into());
    }
    Ok(serde_json::json!({ "Boot": Value::Object(body) }))
}

/// The boot override a system reports.
pub fn boot_override(system: &Value) -> Result<BootOverride, String> {
    let b = system
        .get("Boot")
        .filter(|b| b.is_object())
        .ok_or_else(|| "the system has no Boot object".to_string())?;
    let enabled = str_at(b, "BootSourceOverrideEnabled").unwrap_or("Disabled");
    let device = match (enabled, str_at(b, "BootSourceOverrideTarget")) {
        ("Disabled", _) | (_, None | Some("None")) => BootDevice::None,
        (_, Some("Pxe")) => BootDevice::Pxe,
        (_, Some("Hdd")) => BootDevice::Disk,
        (_, Some("Cd")) => BootDevice::Cd,
        (_, Some("BiosSetup")) => BootDevice::BiosSetup,
        (_, Some("UefiHttp")) => BootDevice::UefiHttp,
        (_, Some(other)) => return Err(format!("unsupported boot target {other:?}")),
    };
    let mode = match str_at(b, "BootSourceOverrideMode") {
        Some("UEFI") => Some(BootMode::Uefi),
        Some("Legacy") => Some(BootMode::Legacy),
        _ => None,
    };
    Ok(BootOverride {
        device,
        persistent: enabled == "Continuous",
        mode,
        // sushy-tools reports the literal string "None" when unset.
        http_boot_uri: str_at(b, "HttpBootUri")
            .filter(|s| !s.is_empty() && *s != "None")
            .map(str::to_string),
    })
}

/// Whether a virtual media slot takes CD/DVD images.
pub fn is_cd_slot(slot: &Value) -> bool {
    slot.get("MediaTypes")
        .and_then(Value::as_array)
        .is_some_and(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .any(|t| t.eq_ignore_ascii_case("CD") || t.eq_ignore_ascii_case("DVD"))
        })
}

/// Whether a virtual media slot's path names it a CD/DVD slot (`.../Cd`,
/// `.../CD1`, `.../VirtualDVD`): a hint for which member to read first,
/// never a substitute for [`is_cd_slot`].
pub fn names_cd_slot(slot_path: &str) -> bool {
    let last = slot_path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    last.contains("cd") || last.contains("dvd")
}

/// State of a virtual media slot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaStatus {
    /// The slot resource.
    pub slot: String,
    /// Whether media is inserted.
    pub inserted: bool,
    /// The image URL, when inserted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `ConnectedVia` (`URI`, `Applet`, `NotConnected`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_via: Option<String>,
}

/// The status of a slot resource.
pub fn media_status(slot_path: &str, slot: &Value) -> MediaStatus {
    let image = str_at(slot, "Image")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    MediaStatus {
        slot: slot_path.to_string(),
        inserted: slot
            .get("Inserted")
            .and_then(Value::as_bool)
            .unwrap_or(image.is_some()),
        image,
        connected_via: str_at(slot, "ConnectedVia").map(str::to_string),
    }
}

/// Whether a slot read back after inserting `image_url` shows another
/// image: the slot was occupied and the BMC kept what it held.
pub fn shows_other_image(now: &MediaStatus, image_url: &str) -> bool {
    now.image.as_deref().is_some_and(|i| i != image_url)
}

/// Target of a virtual media action (`InsertMedia`/`EjectMedia`).
pub fn media_action_target(slot: &Value, action: &str) -> Option<String> {
    slot.get("Actions")
        .and_then(|a| a.get(format!("#VirtualMedia.{action}")))
        .and_then(|r| str_at(r, "target"))
        .map(str::to_string)
}

/// The parts of the inventory, fetched separately; `None` means unavailable.
#[derive(Debug, Default)]
pub struct InventoryParts {
    /// Processor resources.
    pub processors: Option<Vec<Value>>,
    /// Memory module resources.
    pub memory: Option<Vec<Value>>,
    /// EthernetInterface resources.
    pub nics: Option<Vec<Value>>,
    /// Drive resources (from Storage), or SimpleStorage `Devices` entries.
    pub drives: Option<Vec<Value>>,
}

fn u64_at(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(|x| {
        x.as_u64()
            .or_else(|| x.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
    })
}

fn trimmed(v: &Value, key: &str) -> String {
    str_at(v, key).unwrap_or_default().trim().to_string()
}

fn arch_of(p: &Value) -> String {
    let isa = str_at(p, "InstructionSet").unwrap_or_default();
    let arch = str_at(p, "ProcessorArchitecture").unwrap_or_default();
    match (arch, isa) {
        (_, "x86-64") => "x86_64".into(),
        (_, "ARM-A64") => "aarch64".into(),
        (_, "PowerISA") | ("Power", _) => "ppc64le".into(),
        ("x86", _) => "x86_64".into(),
        ("ARM", _) => "aarch64".into(),
        _ => String::new(),
    }
}

/// CPU summary: logical CPU count (threads, as the Ironic agent counts), model,
/// max speed and architecture of the CPU-type processors.
pub fn cpu_from(system: &Value, processors: Option<&[Value]>) -> Cpu {
    let mut cpu = Cpu::default();
    let cpus: Vec<&Value> = processors
        .unwrap_or_default()
        .iter()
        .filter(|p| matches!(str_at(p, "ProcessorType"), None | Some("CPU")))
        // Empty sockets are listed by some BMCs with Status.State "Absent".
        .filter(|p| {
            p.get("Status")
                .and_then(|s| str_at(s, "State"))
                .is_none_or(|s| s != "Absent")
        })
        .collect();
    if let Some(first) = cpus.first() {
        cpu.model = trimmed(first, "Model");
        cpu.clock_megahertz = first
            .get("MaxSpeedMHz")
            .or_else(|| first.get("OperatingSpeedMHz"))
            .and_then(Value::as_f64)
            .unwrap_or_default();
        cpu.arch = arch_of(first);
        let threads: u64 = cpus.iter().filter_map(|p| u64_at(p, "TotalThreads")).sum();
        cpu.count = u32::try_from(threads).unwrap_or(u32::MAX);
    }
    let summary = system.get("ProcessorSummary");
    if cpu.count == 0 {
        cpu.count = summary
            .and_then(|s| u64_at(s, "LogicalProcessorCount").or_else(|| u64_at(s, "Count")))
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or_default();
    }
    if cpu.model.is_empty() {
        cpu.model = summary.map(|s| trimmed(s, "Model")).unwrap_or_default();
    }
    cpu
}

/// RAM in MiB: the sum of the modules' `CapacityMiB` when known, else
/// `MemorySummary.TotalSystemMemoryGiB`.
pub fn ram_mebibytes(system: &Value, memory: Option<&[Value]>) -> u64 {
    let from_modules: u64 = memory
        .unwrap_or_default()
        .iter()
        .filter(|m| {
            m.get("Status")
                .and_then(|s| str_at(s, "State"))
                .is_none_or(|s| s != "Absent")
        })
        .filter_map(|m| u64_at(m, "CapacityMiB"))
        .sum();
    if from_modules > 0 {
        return from_modules;
    }
    system
        .get("MemorySummary")
        .and_then(|m| m.get("TotalSystemMemoryGiB"))
        .and_then(Value::as_f64)
        .map(|g| (g * 1024.0).round() as u64)
        .unwrap_or_default()
}

fn first_address(v: &Value, key: &str) -> Option<String> {
    v.get(key)?
        .as_array()?
        .iter()
        .filter_map(|a| str_at(a, "Address"))
        .find(|a| !a.is_empty() && *a != "0.0.0.0" && *a != "::")
        .map(str::to_string)
}

/// A NIC from an EthernetInterface; `None` without a MAC (Metal³ requires one).
pub fn nic_from(iface: &Value) -> Option<Nic> {
    let mac = str_at(iface, "MACAddress")
        .or_else(|| str_at(iface, "PermanentMACAddress"))
        .filter(|m| m.len() == 17)?
        .to_ascii_lowercase();
    let vlan = iface.get("VLAN");
    let vlan_id = vlan
        .filter(|v| {
            v.get("VLANEnable")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .and_then(|v| u64_at(v, "VLANId"))
        .and_then(|id| i32::try_from(id).ok())
        .unwrap_or_default();
    Some(Nic {
        name: str_at(iface, "Id")
            .or_else(|| str_at(iface, "Name"))
            .unwrap_or_default()
            .to_string(),
        mac,
        ip: first_address(iface, "IPv4Addresses")
            .or_else(|| first_address(iface, "IPv6Addresses"))
            .unwrap_or_default(),
        speed_gbps: u64_at(iface, "SpeedMbps").unwrap_or_default() / 1000,
        vlan_id,
        ..Nic::default()
    })
}

/// A disk from a Drive (or a SimpleStorage device).
pub fn disk_from(drive: &Value) -> Storage {
    let media = str_at(drive, "MediaType").unwrap_or_default();
    let protocol = str_at(drive, "Protocol").unwrap_or_default();
    // iDRAC reports NVMe drives as Protocol "PCIe": a PCIe-attached SSD is NVMe.
    let nvme = protocol.eq_ignore_ascii_case("NVMe")
        || (protocol.eq_ignore_ascii_case("PCIe") && media != "HDD");
    let type_ = if nvme {
        Some(DiskType::Nvme)
    } else if media == "HDD" {
        Some(DiskType::Hdd)
    } else if media == "SSD" {
        Some(DiskType::Ssd)
    } else {
        None
    };
    let wwn = drive
        .get("Identifiers")
        .and_then(Value::as_array)
        .and_then(|ids| {
            ids.iter()
                .filter(|i| {
                    matches!(
                        str_at(i, "DurableNameFormat"),
                        Some("NAA" | "EUI" | "NGUID")
                    )
                })
                .find_map(|i| str_at(i, "DurableName"))
        })
        .unwrap_or_default()
        .to_string();
    Storage {
        name: str_at(drive, "Name")
            .or_else(|| str_at(drive, "Id"))
            .unwrap_or_default()
            .to_string(),
        rotational: type_ == Some(DiskType::Hdd),
        type_,
        size_bytes: drive
            .get("CapacityBytes")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
        vendor: trimmed(drive, "Manufacturer"),
        model: trimmed(drive, "Model"),
        serial_number: trimmed(drive, "SerialNumber"),
        wwn,
        ..Storage::default()
    }
}

/// Maps a system and its fetched parts to Metal³ `HardwareDetails`.
pub fn hardware_details(system: &Value, parts: &InventoryParts) -> HardwareDetails {
    HardwareDetails {
        system_vendor: SystemVendor {
            manufacturer: trimmed(system, "Manufacturer"),
            product_name: trimmed(system, "Model"),
            serial_number: trimmed(system, "SerialNumber"),
        },
        firmware: Firmware {
            bios: Bios {
                date: String::new(),
                vendor: trimmed(system, "Manufacturer"),
                version: trimmed(system, "BiosVersion"),
            },
        },
        ram_mebibytes: ram_mebibytes(system, parts.memory.as_deref()),
        nics: parts
            .nics
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(nic_from)
            .collect(),
        storage: parts
            .drives
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(disk_from)
            .collect(),
        cpu: cpu_from(system, parts.processors.as_deref()),
        hostname: trimmed(system, "HostName"),
    }
}

/// One firmware component from `UpdateService/FirmwareInventory`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareComponent {
    /// Resource id.
    pub id: String,
    /// Component name.
    pub name: String,
    /// Version string.
    pub version: String,
    /// Whether it can be updated.
    pub updateable: bool,
}

/// A firmware component from a SoftwareInventory resource.
pub fn firmware_component(v: &Value) -> FirmwareComponent {
    FirmwareComponent {
        id: trimmed(v, "Id"),
        name: trimmed(v, "Name"),
        version: trimmed(v, "Version"),
        updateable: v
            .get("Updateable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

/// Progress of a Redfish task, from a task monitor answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskPoll {
    /// Still running.
    Running,
    /// Finished successfully.
    Done,
    /// Failed, with the reason.
    Failed(String),
}

/// Interprets a task (monitor) answer: 202 means running; a Task body tells
/// its `TaskState`; any other 2xx without a Task is the finished operation.
pub fn task_poll(status: u16, body: &Value) -> TaskPoll {
    if status == 202 {
        return TaskPoll::Running;
    }
    let messages = || {
        body.get("Messages")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| str_at(m, "Message"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    };
    match str_at(body, "TaskState") {
        Some("Completed") => match str_at(body, "TaskStatus") {
            Some("Critical") | Some("Warning") if !messages().is_empty() => {
                TaskPoll::Failed(messages())
            }
            _ => TaskPoll::Done,
        },
        Some("Exception" | "Killed" | "Cancelled") => {
            let m = messages();
            TaskPoll::Failed(if m.is_empty() {
                format!(
                    "task ended in state {}",
                    str_at(body, "TaskState").unwrap_or_default()
                )
            } else {
                m
            })
        }
        Some(_) => TaskPoll::Running,
        None => TaskPoll::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extended_info_messages_are_joined() {
        let b = json!({"error": {"code": "x", "message": "generic",
            "@Message.ExtendedInfo": [{"Message": "A"}, {"Message": "B"}]}});
        assert_eq!(error_message(&b).as_deref(), Some("A; B"));
        let b = json!({"error": {"message": "generic"}});
        assert_eq!(error_message(&b).as_deref(), Some("generic"));
        assert_eq!(error_message(&json!([1, 2])), None);
    }

    #[test]
    fn cd_slot_names_are_a_hint_only() {
        for p in [
            "/redfish/v1/Systems/1/VirtualMedia/Cd",
            "/redfish/v1/Managers/1/VirtualMedia/CD1/",
            "/redfish/v1/Managers/1/VirtualMedia/VirtualDVD",
        ] {
            assert!(names_cd_slot(p), "{p}");
        }
        for p in [
            "/redfish/v1/Managers/1/VirtualMedia/2",
            "EXT1",
            "",
            "/",
            "RDOC1",
        ] {
            assert!(!names_cd_slot(p), "{p}");
        }
    }

    #[test]
    fn power_cycle_falls_back_to_off_then_on() {
        let allowed: Vec<String> = ["On", "ForceOff", "GracefulShutdown"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            plan_reset(PowerAction::PowerCycle, Some(&allowed)),
            Ok(ResetPlan::OffThenOn)
        );
        assert_eq!(
            plan_reset(PowerAction::On, Some(&allowed)),
            Ok(ResetPlan::Single("On".into()))
        );
        let e = plan_reset(PowerAction::ForceRestart, Some(&allowed)).unwrap_err();
        assert!(
            e.contains("ForceRestart") && e.contains("GracefulShutdown"),
            "{e}"
        );
        assert_eq!(
            plan_reset(PowerAction::PowerCycle, None),
            Ok(ResetPlan::Single("PowerCycle".into()))
        );
        let only_force_on = vec!["ForceOn".to_string()];
        assert_eq!(
            plan_reset(PowerAction::On, Some(&only_force_on)),
            Ok(ResetPlan::Single("ForceOn".into()))
        );
    }

    #[test]
    fn boot_patch_respects_allowable_targets() {
        let sys =
            json!({"Boot": {"BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", "Hdd"]}});
        let pxe = BootOverride {
            device: BootDevice::Pxe,
            persistent: false,
            mode: Some(BootMode::Uefi),
            http_boot_uri: None,
        };
        let p = boot_patch(&sys, &pxe).unwrap_or_default();
        assert_eq!(
            p,
            json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "UEFI"}})
        );
        let cd = BootOverride {
            device: BootDevice::Cd,
            ..pxe.clone()
        };
        assert!(boot_patch(&sys, &cd).is_err());
        let round = boot_override(
            &json!({"Boot": {"BootSourceOverrideTarget": "Hdd", "BootSourceOverrideEnabled": "Continuous", "BootSourceOverrideMode": "Legacy"}}),
        );
        assert_eq!(
            round,
            Ok(BootOverride {
                device: BootDevice::Disk,
                persistent: true,
                mode: Some(BootMode::Legacy),
                http_boot_uri: None
            })
        );
    }

    #[test]
    fn vendor_from_manager_fields() {
        let m = |v: Value| vendor_from_manager(&v);
        assert_eq!(m(json!({"Model": "iLO 5"})), Some(Vendor::Hpe));
        assert_eq!(
            m(json!({"Model": "Lenovo XClarity Controller"})),
            Some(Vendor::Lenovo)
        );
        assert_eq!(m(json!({"Model": "iDRAC 8"})), Some(Vendor::Dell));
        assert_eq!(
            m(json!({"Manufacturer": "Supermicro"})),
            Some(Vendor::Supermicro)
        );
        assert_eq!(m(json!({"Oem": {"Hpe": {}}})), Some(Vendor::Hpe));
        assert_eq!(
            m(json!({"Links": {"Oem": {"Dell": {}}}})),
            Some(Vendor::Dell)
        );
        // "Silo" is not iLO; an unknown BMC names no vendor.
        assert_eq!(m(json!({"Model": "Silo 3"})), None);
        assert_eq!(m(json!({"Model": "OpenBmc", "Oem": {"Ami": {}}})), None);
        assert_eq!(
            vendor_from_system(&json!({"Manufacturer": "Sushy Emulator"})),
            Some(Vendor::Generic)
        );
    }

    #[test]
    fn expand_levels_from_the_root() {
        let root = |e: Value| json!({"ProtocolFeaturesSupported": {"ExpandQuery": e}});
        let full = json!({"NoLinks": true, "Levels": true, "MaxLevels": 3});
        assert_eq!(expand_max_levels(&root(full)), 3);
        assert_eq!(
            expand_max_levels(&root(json!({"NoLinks": true, "Levels": true}))),
            1
        );
        assert_eq!(expand_max_levels(&root(json!({"ExpandAll": true}))), 0);
        assert_eq!(expand_max_levels(&json!({})), 0);
    }

    #[test]
    fn odd_values_do_not_panic() {
        for v in [
            json!(null),
            json!(1),
            json!("x"),
            json!([]),
            json!({"PowerState": 3, "Boot": 1,
            "ProcessorSummary": "x", "MemorySummary": {"TotalSystemMemoryGiB": "a"}, "Members": 5}),
        ] {
            let _ = power_state(&v);
            let _ = boot_override(&v);
            let _ = allowed_reset_types(&v);
            let _ = member_links(&v);
            let _ = hardware_details(
                &v,
                &InventoryParts {
                    processors: Some(vec![v.clone()]),
                    memory: Some(vec![v.clone()]),
                    nics: Some(vec![v.clone()]),
                    drives: Some(vec![v.clone()]),
                },
            );
            let _ = media_status("/x", &v);
            let _ = task_poll(200, &v);
            let _ = detect_vendor(&v, None);
        }
    }

    #[test]
    fn systems_choice() {
        assert_eq!(choose_system(&["/a".into()]), Ok("/a".into()));
        let e = choose_system(&["/a".into(), "/b".into()]).unwrap_err();
        assert!(e.contains("/a") && e.contains("/b"));
        assert!(choose_system(&[]).is_err());
    }

    #[test]
    fn task_states() {
        assert_eq!(task_poll(202, &json!({})), TaskPoll::Running);
        assert_eq!(
            task_poll(200, &json!({"TaskState": "Running"})),
            TaskPoll::Running
        );
        assert_eq!(
            task_poll(200, &json!({"TaskState": "Completed", "TaskStatus": "OK"})),
            TaskPoll::Done
        );
        assert_eq!(
            task_poll(
                200,
                &json!({"TaskState": "Exception", "Messages": [{"Message": "bad image"}]})
            ),
            TaskPoll::Failed("bad image".into())
        );
    }

    /// Random JSON built from the keys the mappers look at, so odd types
    /// and shapes reach every branch; any panic fails the test.
    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    fn random_value(seed: &mut u64, depth: u32) -> Value {
        const KEYS: &[&str] = &[
            "PowerState",
            "Boot",
            "BootSourceOverrideTarget",
            "BootSourceOverrideEnabled",
            "BootSourceOverrideMode",
            "HttpBootUri",
            "Actions",
            "#ComputerSystem.Reset",
            "ResetType@Redfish.AllowableValues",
            "target",
            "Members",
            "@odata.id",
            "MediaTypes",
            "Inserted",
            "Image",
            "ProcessorType",
            "TotalThreads",
            "MaxSpeedMHz",
            "Model",
            "CapacityMiB",
            "MemorySummary",
            "TotalSystemMemoryGiB",
            "MACAddress",
            "IPv4Addresses",
            "Address",
            "SpeedMbps",
            "VLAN",
            "VLANEnable",
            "VLANId",
            "CapacityBytes",
            "MediaType",
            "Protocol",
            "Identifiers",
            "DurableName",
            "DurableNameFormat",
            "TaskState",
            "Messages",
            "Message",
            "error",
            "@Message.ExtendedInfo",
            "Status",
            "State",
            "ProcessorSummary",
            "Vendor",
            "Oem",
        ];

        match next(seed) % if depth == 0 { 6 } else { 8 } {
            0 => Value::Null,
            1 => Value::Bool(next(seed).is_multiple_of(2)),
            2 => json!((next(seed) % 5000) as i64 - 100),
            3 => json!(f64::from((next(seed) % 1000) as u32) / 7.0),
            4 => json!(
                [
                    "On",
                    "Off",
                    "Pxe",
                    "CD",
                    "HDD",
                    "SSD",
                    "NVMe",
                    "x86-64",
                    "Completed",
                    "",
                    "aa:bb:cc:dd:ee:ff"
                ][(next(seed) % 11) as usize]
            ),
            5 => json!(-1.5e300),
            6 => Value::Array(
                (0..next(seed) % 4)
                    .map(|_| random_value(seed, depth - 1))
                    .collect(),
            ),
            _ => {
                let mut m = serde_json::Map::new();
                for _ in 0..next(seed) % 6 {
                    let k = KEYS[(next(seed) % KEYS.len() as u64) as usize];
                    m.insert(k.to_string(), random_value(seed, depth - 1));
                }
                Value::Object(m)
            }
        }
    }

    #[test]
    fn random_shapes_never_panic() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..3000 {
            let v = random_value(&mut seed, 4);
            let list = vec![random_value(&mut seed, 3), v.clone()];
            let _ = power_state(&v);
            let _ = boot_override(&v);
            let _ = boot_patch(
                &v,
                &BootOverride {
                    device: BootDevice::UefiHttp,
                    persistent: true,
                    mode: None,
                    http_boot_uri: Some("u".into()),
                },
            );
            let _ = allowed_reset_types(&v);
            let _ = reset_target(&v, "/s");
            let _ = member_links(&v);
            let _ = error_message(&v);
            let _ = supports_expand(&v);
            let _ = sessions_link(&v);
            let _ = is_cd_slot(&v);
            let _ = names_cd_slot(str_at(&v, "@odata.id").unwrap_or_default());
            let _ = media_action_target(&v, "InsertMedia");
            let _ = firmware_component(&v);
            let _ = task_poll(200, &v);
            let _ = detect_vendor(&v, str_at(&v, "Vendor"));
            let _ = vendor_from_manager(&v);
            let _ = vendor_from_system(&v);
            let _ = expand_max_levels(&v);
            let _ = managers(&v);
            let _ = is_resource(&v, "/s");
            let _ = bios_settings_path("/s/Bios", &v);
            let h = hardware_details(
                &v,
                &InventoryParts {
                    processors: Some(list.clone()),
                    memory: Some(list.clone()),
                    nics: Some(list.clone()),
                    drives: Some(list),
                },
            );
            assert!(serde_json::to_string(&h).is_ok());
        }
    }
}
