//! Pure translations between Metal³ host data and Ironic request/response
//! bodies. No I/O here, so every rule is unit-tested against expected JSON.

use std::fmt;

use metal3_bmc::address::BmcAddress;
use metal3_bmc::Credentials;
use metal3_hostmodel::hardware::{
    BiosFirmware, Cpu, DiskType, Firmware, HardwareSystemVendor, Nic, Storage,
};
use metal3_hostmodel::{BootMode, HardwareDetails, Image, RootDeviceHints};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Ironic node name for a host: `<namespace>~<name>`.
pub fn node_name(namespace: &str, name: &str) -> String {
    format!("{namespace}~{name}")
}

/// Deploy ramdisk locations (from `DEPLOY_*_URL` or a PreprovisioningImage).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployImages {
    /// `deploy_kernel`.
    pub kernel: Option<String>,
    /// `deploy_ramdisk`.
    pub ramdisk: Option<String>,
    /// `deploy_iso`; only sent for drivers that can boot ISOs.
    pub iso: Option<String>,
}

/// A node's `driver_info`; `Debug` hides every password value.
#[derive(Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct NodeDriverInfo(pub Map<String, Value>);

impl fmt::Debug for NodeDriverInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.0 {
            if k.contains("password") {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

/// Builds `driver_info` for an address per Metal³'s driver registry.
pub fn driver_info(
    addr: &BmcAddress,
    creds: &Credentials,
    insecure: bool,
    deploy: &DeployImages,
) -> NodeDriverInfo {
    let mut m = Map::new();
    let user = Value::String(creds.username.clone());
    let pass = Value::String(creds.password().to_string());
    let port = addr.port();
    match addr.driver().name {
        "ipmi" | "libvirt" => {
            m.insert("ipmi_address".into(), addr.hostname().into());
            // Ironic expects the port as a string.
            let p = port.map_or_else(|| "623".to_string(), |p| p.to_string());
            m.insert("ipmi_port".into(), p.into());
            m.insert("ipmi_username".into(), user);
            m.insert("ipmi_password".into(), pass);
            m.insert("ipmi_priv_level".into(), addr.ipmi_privilege_level().into());
            if insecure {
                m.insert("ipmi_verify_ca".into(), false.into());
            }
        }
        "ilo4" | "ilo4-virtualmedia" | "ilo5" => {
            m.insert("ilo_address".into(), addr.hostname().into());
            m.insert("ilo_username".into(), user);
            m.insert("ilo_password".into(), pass);
            if let Some(p) = port {
                m.insert("client_port".into(), p.to_string().into());
            }
            if insecure {
                m.insert("ilo_verify_ca".into(), false.into());
            }
        }
        "irmc" => {
            m.insert("irmc_address".into(), addr.hostname().into());
            m.insert("irmc_username".into(), user.clone());
            m.insert("irmc_password".into(), pass.clone());
            m.insert("ipmi_address".into(), addr.hostname().into());
            m.insert("ipmi_username".into(), user);
            m.insert("ipmi_password".into(), pass);
            if let Some(p) = port {
                m.insert("irmc_port".into(), p.to_string().into());
            }
            if insecure {
                m.insert("irmc_verify_ca".into(), false.into());
            }
        }
        name => {
            // Every other registered driver is in the Redfish family.
            m.insert("redfish_address".into(), addr.http_base_url().into());
            m.insert("redfish_username".into(), user);
            m.insert("redfish_password".into(), pass);
            if name == "redfish-uefihttp" {
                // This driver always names the system, even as "".
                m.insert("redfish_system_id".into(), addr.path().into());
            } else if let Some(id) = addr.redfish_system_id() {
                m.insert("redfish_system_id".into(), id.into());
            }
            if insecure {
                m.insert("redfish_verify_ca".into(), false.into());
            }
        }
    }
    if let Some(k) = &deploy.kernel {
        m.insert("deploy_kernel".into(), k.clone().into());
    }
    if let Some(r) = &deploy.ramdisk {
        m.insert("deploy_ramdisk".into(), r.clone().into());
    }
    if let (Some(iso), true) = (&deploy.iso, addr.driver().virtual_media) {
        m.insert("deploy_iso".into(), iso.clone().into());
    }
    NodeDriverInfo(m)
}

/// Host facts that shape a new node besides its BMC.
#[derive(Debug, Clone, Default)]
pub struct NodeHostInfo {
    /// Host namespace.
    pub namespace: String,
    /// Host name.
    pub name: String,
    /// Boot mode; `None` is UEFI.
    pub boot_mode: Option<BootMode>,
    /// CPU architecture, e.g. `x86_64`.
    pub cpu_arch: Option<String>,
    /// Reboot instead of powering off (needs API ≥ 1.95).
    pub disable_power_off: bool,
    /// `inspectionMode: fast`: use the driver's out-of-band inspect interface.
    pub fast_inspection: bool,
    /// The current image is a live ISO (`deploy_interface = ramdisk`).
    pub live_iso: bool,
    /// The host uses a custom deploy (`deploy_interface = custom-agent`).
    pub custom_deploy: bool,
    /// Skip TLS verification of the BMC.
    pub disable_certificate_verification: bool,
    /// Deploy ramdisk locations.
    pub deploy_images: DeployImages,
}

/// `POST /v1/nodes` body. `Debug` hides the BMC password.
#[derive(Debug, Clone, Serialize)]
pub struct NodeCreate {
    /// Node name.
    pub name: String,
    /// Ironic hardware type.
    pub driver: String,
    /// BMC access.
    pub driver_info: NodeDriverInfo,
    /// Hardware interfaces (`boot_interface`, …) set explicitly.
    #[serde(flatten)]
    pub interfaces: Map<String, Value>,
    /// `capabilities`, `cpu_arch`.
    pub properties: Map<String, Value>,
    /// Only sent when true, since older Ironic rejects the field.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable_power_off: bool,
}

/// Ironic `properties.capabilities` for a boot mode.
pub fn boot_mode_capabilities(mode: Option<BootMode>) -> &'static str {
    match mode {
        None | Some(BootMode::Uefi) => "boot_mode:uefi",
        Some(BootMode::UefiSecureBoot) => "boot_mode:uefi,secure_boot:true",
        Some(BootMode::Legacy) => "boot_mode:bios",
    }
}

/// Builds the node-creation body for a host (§4.2 of the reference).
pub fn node_create(addr: &BmcAddress, creds: &Credentials, host: &NodeHostInfo) -> NodeCreate {
    let d = addr.driver();
    let mut interfaces = Map::new();
    interfaces.insert("boot_interface".into(), d.boot_interface.into());
    let optional = [
        ("bios_interface", d.bios_interface),
        ("management_interface", d.management_interface),
        ("power_interface", d.power_interface),
        ("raid_interface", d.raid_interface),
        ("vendor_interface", d.vendor_interface),
        ("firmware_interface", d.firmware_interface),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            interfaces.insert(k.into(), v.into());
        }
    }
    let inspect = match (host.fast_inspection, d.oob_inspect_interface) {
        (true, Some(oob)) => oob,
        _ => "agent",
    };
    interfaces.insert("inspect_interface".into(), inspect.into());
    if host.live_iso {
        interfaces.insert("deploy_interface".into(), "ramdisk".into());
    } else if host.custom_deploy {
        interfaces.insert("deploy_interface".into(), "custom-agent".into());
    }
    let mut properties = Map::new();
    properties.insert(
        "capabilities".into(),
        boot_mode_capabilities(host.boot_mode).into(),
    );
    if let Some(arch) = host.cpu_arch.as_deref().filter(|a| !a.is_empty()) {
        properties.insert("cpu_arch".into(), arch.into());
    }
    NodeCreate {
        name: node_name(&host.namespace, &host.name),
        driver: d.ironic_driver.to_string(),
        driver_info: driver_info(
            addr,
            creds,
            host.disable_certificate_verification,
            &host.deploy_images,
        ),
        interfaces,
        properties,
        disable_power_off: host.disable_power_off,
    }
}

/// Ironic `instance_info.root_device` for Metal³ root device hints.
pub fn root_device_hints(h: &RootDeviceHints) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), Value::String(v));
    };
    let present = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    if let Some(d) = present(&h.device_name) {
        let key = if d.starts_with("/dev/disk/by-path/") {
            "by_path"
        } else {
            "name"
        };
        put(key, format!("s== {d}"));
    }
    if let Some(v) = present(&h.hctl) {
        put("hctl", format!("s== {v}"));
    }
    if let Some(v) = present(&h.model) {
        put("model", format!("<in> {v}"));
    }
    if let Some(v) = present(&h.vendor) {
        put("vendor", format!("<in> {v}"));
    }
    if let Some(v) = present(&h.serial_number) {
        put("serial", format!("s== {v}"));
    }
    if let Some(n) = h.min_size_gigabytes.filter(|n| *n > 0) {
        put("size", format!(">= {n}"));
    }
    if let Some(v) = present(&h.wwn) {
        put("wwn", format!("s== {v}"));
    }
    if let Some(v) = present(&h.wwn_with_extension) {
        put("wwn_with_extension", format!("s== {v}"));
    }
    if let Some(v) = present(&h.wwn_vendor_extension) {
        put("wwn_vendor_extension", format!("s== {v}"));
    }
    if let Some(r) = h.rotational {
        put("rotational", r.to_string());
    }
    m
}

/// What to deploy onto a host.
#[derive(Debug, Clone, Copy)]
pub enum DeployTarget<'a> {
    /// An image written to disk, or live-booted if its format is `live-iso`.
    Image(&'a Image),
    /// A custom deploy step (`customDeploy.method`), optionally with an image.
    Custom {
        /// Deploy step name.
        method: &'a str,
        /// Image handed to the custom step.
        image: Option<&'a Image>,
    },
}

impl DeployTarget<'_> {
    /// What failed, for a deploy that ended in `deploy failed`: the image
    /// and its checksum as BMO words it, or the custom deploy step (with its
    /// image when one was given) rather than an empty URL.
    pub fn failure(self) -> String {
        let image = |i: &Image| match i.checksum.as_deref() {
            Some(c) => format!("url: {}, checksum: {c}", i.url),
            None => format!("url: {}", i.url),
        };
        match self {
            DeployTarget::Image(i) => format!("Image provisioning failed ({})", image(i)),
            DeployTarget::Custom {
                method,
                image: Some(i),
            } => format!("Custom deploy {method} failed ({})", image(i)),
            DeployTarget::Custom {
                method,
                image: None,
            } => format!("Custom deploy {method} failed"),
        }
    }
}

/// Node changes that prepare a deployment: `instance_info`, deploy interface and steps.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployPlan {
    /// Full `instance_info` to set (replaces the previous one, dropping stale image keys).
    pub instance_info: Map<String, Value>,
    /// Deploy interface to set; `None` resets it to Ironic's default.
    pub deploy_interface: Option<&'static str>,
    /// `deploy_steps` for the `active` provision-state call.
    pub deploy_steps: Vec<Value>,
}

fn image_fields(image: &Image, info: &mut Map<String, Value>) {
    info.insert("image_source".into(), image.url.clone().into());
    if let Some(f) = image.disk_format.as_deref().filter(|f| !f.is_empty()) {
        info.insert("image_disk_format".into(), f.into());
    }
    if let Some(sum) = image.checksum.as_deref().filter(|c| !c.is_empty()) {
        match image.checksum_type.as_deref() {
            // Untyped: Ironic detects the algorithm (or fetches a checksum URL).
            None | Some("") | Some("auto") => {
                info.insert("image_checksum".into(), sum.into());
            }
            Some(algo) => {
                info.insert("image_os_hash_algo".into(), algo.into());
                info.insert("image_os_hash_value".into(), sum.into());
            }
        }
    }
}

/// Plans a deployment (§6.3 Provision): normal image, live ISO or custom deploy.
pub fn deploy_plan(
    target: DeployTarget<'_>,
    boot_mode: Option<BootMode>,
    hints: Option<&RootDeviceHints>,
) -> DeployPlan {
    let mut info = Map::new();
    if boot_mode == Some(BootMode::UefiSecureBoot) {
        info.insert("capabilities".into(), json!({"secure_boot": "true"}));
    }
    if let Some(h) = hints {
        let rd = root_device_hints(h);
        if !rd.is_empty() {
            info.insert("root_device".into(), Value::Object(rd));
        }
    }
    match target {
        DeployTarget::Image(image) if image.is_live_iso() => {
            info.insert("boot_iso".into(), image.url.clone().into());
            DeployPlan {
                instance_info: info,
                deploy_interface: Some("ramdisk"),
                deploy_steps: Vec::new(),
            }
        }
        DeployTarget::Image(image) => {
            image_fields(image, &mut info);
            DeployPlan {
                instance_info: info,
                deploy_interface: None,
                deploy_steps: Vec::new(),
            }
        }
        DeployTarget::Custom { method, image } => {
            if let Some(image) = image.filter(|i| !i.url.is_empty()) {
                image_fields(image, &mut info);
            }
            DeployPlan {
                instance_info: info,
                deploy_interface: Some("custom-agent"),
                deploy_steps: vec![json!({
                    "interface": "deploy",
                    "step": method,
                    "args": {},
                    "priority": 80,
                })],
            }
        }
    }
}

impl DeployPlan {
    /// JSON-patch operations applying the plan to a node whose deploy
    /// interface is currently `current_deploy_interface`.
    pub fn patch(&self, current_deploy_interface: Option<&str>) -> Vec<Value> {
        let mut ops = vec![json!({
            "op": "add", "path": "/instance_info", "value": self.instance_info,
        })];
        match self.deploy_interface {
            Some(di) if current_deploy_interface != Some(di) => {
                ops.push(json!({"op": "add", "path": "/deploy_interface", "value": di}));
            }
            // Removing an interface field resets it to the driver default; only
            // the two Metal³ sets itself need undoing.
            None if matches!(current_deploy_interface, Some("ramdisk" | "custom-agent")) => {
                ops.push(json!({"op": "remove", "path": "/deploy_interface"}));
            }
            _ => {}
        }
        ops
    }
}

/// Identity of the host the config drive is for.
#[derive(Debug, Clone)]
pub struct ConfigDriveHost<'a> {
    /// BMH UID.
    pub uid: &'a str,
    /// BMH namespace.
    pub namespace: &'a str,
    /// BMH name.
    pub name: &'a str,
}

/// JSON config drive: `user_data`, `network_data` and `meta_data` with
/// Metal³'s defaults overlaid by the user's metaData.
pub fn config_drive(
    host: &ConfigDriveHost<'_>,
    user_data: Option<&str>,
    network_data: Option<Value>,
    meta_data: Option<&Map<String, Value>>,
) -> Value {
    let mut meta = Map::new();
    meta.insert("uuid".into(), host.uid.into());
    meta.insert("metal3-namespace".into(), host.namespace.into());
    meta.insert("metal3-name".into(), host.name.into());
    meta.insert("local-hostname".into(), host.name.into());
    meta.insert("local_hostname".into(), host.name.into());
    meta.insert("name".into(), host.name.into());
    if let Some(user) = meta_data {
        for (k, v) in user {
            meta.insert(k.clone(), v.clone());
        }
    }
    let mut drive = Map::new();
    if let Some(u) = user_data {
        drive.insert("user_data".into(), u.into());
    }
    if let Some(n) = network_data {
        drive.insert("network_data".into(), n);
    }
    drive.insert("meta_data".into(), Value::Object(meta));
    Value::Object(drive)
}

fn s(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn i(v: &Value, key: &str) -> i64 {
    match v.get(key) {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Some(Value::String(t)) => t.trim().parse::<f64>().map_or(0, |f| f as i64),
        _ => 0,
    }
}

/// Maps `GET /v1/nodes/{id}/inventory` (or just its `inventory` member) to `HardwareDetails`.
pub fn hardware_details(body: &Value) -> HardwareDetails {
    let inv = body.get("inventory").unwrap_or(body);
    let null = Value::Null;
    let sv = inv.get("system_vendor").unwrap_or(&null);
    let fw = sv.get("firmware").unwrap_or(&null);
    let system_vendor = HardwareSystemVendor {
        manufacturer: s(sv, "manufacturer"),
        product_name: s(sv, "product_name"),
        serial_number: s(sv, "serial_number"),
    };
    let bios = BiosFirmware {
        date: s(fw, "build_date"),
        vendor: s(fw, "vendor"),
        version: s(fw, "version"),
    };
    let pxe_mac = inv
        .get("boot")
        .map(|b| s(b, "pxe_interface"))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut nics = Vec::new();
    for intf in inv
        .get("interfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mac = s(intf, "mac_address");
        let base = Nic {
            name: s(intf, "name"),
            model: format!("{} {}", s(intf, "vendor"), s(intf, "product"))
                .trim()
                .to_string(),
            mac: mac.clone(),
            speed_gbps: (i(intf, "speed_mbps") / 1000) as i32,
            pxe: Some(!pxe_mac.is_empty() && mac.to_ascii_lowercase() == pxe_mac),
            pci_address: s(intf, "pci_address"),
            ..Nic::default()
        };
        // One NIC entry per IP family, as Metal³ reports dual-stack NICs.
        let ips: Vec<String> = ["ipv4_address", "ipv6_address"]
            .iter()
            .map(|k| s(intf, k))
            .filter(|ip| !ip.is_empty())
            .collect();
        if ips.is_empty() {
            nics.push(base);
        } else {
            for ip in ips {
                nics.push(Nic { ip, ..base.clone() });
            }
        }
    }
    let mut storage = Vec::new();
    for d in inv
        .get("disks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s(d, "name");
        let by_path = s(d, "by_path");
        let rotational = d
            .get("rotational")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let type_ = if rotational {
            DiskType::Hdd
        } else if name.starts_with("/dev/nvme") {
            DiskType::Nvme
        } else {
            DiskType::Ssd
        };
        let (primary, alternate_names) = if by_path.is_empty() {
            (name.clone(), Vec::new())
        } else {
            (by_path.clone(), vec![name.clone(), by_path])
        };
        storage.push(Storage {
            name: primary,
            alternate_names,
            rotational: Some(rotational),
            type_: Some(type_),
            size_bytes: i(d, "size"),
            vendor: s(d, "vendor"),
            model: s(d, "model"),
            serial_number: s(d, "serial"),
            wwn: s(d, "wwn"),
            wwn_vendor_extension: s(d, "wwn_vendor_extension"),
            wwn_with_extension: s(d, "wwn_with_extension"),
            hctl: s(d, "hctl"),
        });
    }
    let cpu = inv.get("cpu").map(|c| {
        let mhz = match c.get("frequency") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(Value::String(t)) => t.trim().parse::<f64>().unwrap_or(0.0),
            _ => 0.0,
        };
        let mut flags: Vec<String> = c
            .get("flags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        flags.sort();
        Cpu {
            arch: s(c, "architecture"),
            model: s(c, "model_name"),
            clock_megahertz: mhz.round(),
            flags,
            count: i(c, "count") as i32,
        }
    });
    let ram = inv.get("memory").map_or(0, |m| i(m, "physical_mb"));
    HardwareDetails {
        system_vendor: Some(system_vendor),
        firmware: Some(Firmware { bios: Some(bios) }),
        ram_mebibytes: ram,
        nics,
        storage,
        cpu,
        hostname: s(inv, "hostname"),
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
