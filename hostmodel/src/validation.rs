//! Admission rules: the BMO validating webhooks (create and update) plus the
//! CRD (OpenAPI) checks the API server runs before them, as pure functions.
//!
//! Every rule reports a [`ValidationError`] naming the object and field; all
//! problems are collected, none stops the others (the webhook aggregates too).
//! Message texts follow upstream exactly where upstream has one, because
//! users and tests grep for them.

use std::collections::{BTreeMap, HashMap, HashSet};

use metal3_bmc::address::BmcAddress;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bmh::{BareMetalHost, DetachedAnnotationArguments, InspectionMode, ProvisioningState};
use crate::bmh::{BareMetalHostStatus, OperationalStatus, RebootAnnotationArguments};
use crate::hardware::HardwareDetails;
use crate::meta::IntOrString;
use crate::object::Object;
use crate::other::{
    BMCEventSubscription, DataImage, FirmwareSchema, HostFirmwareComponents, HostFirmwareSettings,
    HostNetworkAttachment,
};
use crate::secret::Secret;

/// `baremetalhost.metal3.io/status`: status to restore.
pub const STATUS_ANNOTATION: &str = "baremetalhost.metal3.io/status";
/// `reboot.metal3.io`, optionally `/<key>`.
pub const REBOOT_ANNOTATION: &str = "reboot.metal3.io";
/// `inspect.metal3.io`: `""` or `disabled`.
pub const INSPECT_ANNOTATION: &str = "inspect.metal3.io";
/// `inspect.metal3.io/hardwaredetails`: externally provided inventory.
pub const HARDWARE_DETAILS_ANNOTATION: &str = "inspect.metal3.io/hardwaredetails";
/// `baremetalhost.metal3.io/detached`.
pub const DETACHED_ANNOTATION: &str = "baremetalhost.metal3.io/detached";

/// One problem with one field of one object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {field}: {message}")]
pub struct ValidationError {
    /// `<kind>/<namespace>/<name>`.
    pub object: String,
    /// Field path, e.g. `spec.bmc.address`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Collects errors for one object.
struct Errors {
    object: String,
    list: Vec<ValidationError>,
}

impl Errors {
    fn new(kind: &str, namespace: &str, name: &str) -> Self {
        let ns = if namespace.is_empty() {
            "default"
        } else {
            namespace
        };
        Errors {
            object: format!("{kind}/{ns}/{name}"),
            list: Vec::new(),
        }
    }

    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.list.push(ValidationError {
            object: self.object.clone(),
            field: field.into(),
            message: message.into(),
        });
    }
}

// ---------------------------------------------------------------------------
// BareMetalHost

/// Rules checked when a BareMetalHost is created (and again on every update).
pub fn validate_create(host: &BareMetalHost) -> Vec<ValidationError> {
    let mut e = host_errors(host);
    validate_host(host, &mut e);
    e.list
}

/// Rules checked when `old` is replaced by `new`: all create rules on `new`
/// plus the transition rules.
pub fn validate_update(old: &BareMetalHost, new: &BareMetalHost) -> Vec<ValidationError> {
    let mut e = host_errors(new);
    validate_host(new, &mut e);
    validate_changes(old, new, &mut e);
    e.list
}

fn host_errors(host: &BareMetalHost) -> Errors {
    Errors::new(
        "BareMetalHost",
        &host.metadata.namespace,
        &host.metadata.name,
    )
}

fn validate_host(host: &BareMetalHost, e: &mut Errors) {
    let spec = &host.spec;
    let bmc = if spec.bmc.address.is_empty() {
        None
    } else {
        match BmcAddress::parse(&spec.bmc.address) {
            Ok(a) => Some(a),
            Err(err) => {
                e.add("spec.bmc.address", err.to_string());
                None
            }
        }
    };

    if spec.firmware.is_some() {
        e.add(
            "spec.firmware",
            "the Firmware field is no longer supported, use HostFirmwareSettings resource instead",
        );
    }

    // A manifest without a namespace lands in whatever namespace kubectl
    // applies it to, so only an explicit one can be compared.
    let host_ns = host.metadata.namespace.as_str();
    for (field, r) in [
        ("spec.userData", &spec.user_data),
        ("spec.networkData", &spec.network_data),
        ("spec.metaData", &spec.meta_data),
    ] {
        if let Some(r) = r {
            // An empty namespace means the host's own (how BMO reads it).
            if !host_ns.is_empty() && !r.namespace.is_empty() && r.namespace != host_ns {
                e.add(
                    field,
                    format!(
                        "baremetalhosts.metal3.io \"{}\" is forbidden: {field}: cross-namespace Secret references are not allowed",
                        host.metadata.name
                    ),
                );
            }
        }
    }

    validate_raid(host, e);
    validate_root_device_hints(host, e);

    if let Some(bmc) = &bmc {
        let scheme = bmc.scheme();
        let driver = bmc.driver();
        let hw_volumes = spec
            .raid
            .as_ref()
            .and_then(|r| r.hardware_raid_volumes.as_ref())
            .is_some_and(|v| !v.is_empty());
        if hw_volumes && !driver.supports_hardware_raid() {
            e.add(
                "spec.raid.hardwareRAIDVolumes",
                format!("BMC driver {scheme} does not support configuring RAID"),
            );
        }
        let mac_empty = spec.boot_mac_address.as_deref().unwrap_or("").is_empty();
        if (driver.needs_mac || inspection_disabled(host)) && mac_empty {
            e.add(
                "spec.bootMACAddress",
                format!("BMC driver {scheme} requires a BootMACAddress value"),
            );
        }
        if spec.boot_mode == Some(crate::bmh::BootMode::UefiSecureBoot) && !driver.secure_boot {
            e.add(
                "spec.bootMode",
                format!("BMC driver {scheme} does not support secure boot"),
            );
        }
        if spec.inspection_mode == Some(InspectionMode::Fast) && !driver.supports_oob_inspection() {
            e.add(
                "spec.inspectionMode",
                format!("BMC driver {scheme} does not support fast (out-of-band) inspection"),
            );
        }
    }

    if let Some(mac) = spec.boot_mac_address.as_deref().filter(|m| !m.is_empty()) {
        if let Err(err) = parse_mac(mac) {
            e.add("spec.bootMACAddress", err.to_string());
        } else if !contains_mac_pattern(mac) {
            e.add(
                "spec.bootMACAddress",
                format!("Invalid value: \"{mac}\": should match '[0-9a-fA-F]{{2}}(:[0-9a-fA-F]{{2}}){{5}}'"),
            );
        }
    }

    let name = &host.metadata.name;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        e.add(
            "metadata.name",
            "BareMetalHost resource name cannot contain characters other than [A-Za-z0-9._-]",
        );
    }
    if is_uuid(name) {
        e.add(
            "metadata.name",
            "BareMetalHost resource name cannot be a UUID",
        );
    }

    if let Some(image) = &spec.image {
        if let Err(msg) = check_url(&image.url) {
            e.add(
                "spec.image.url",
                format!("image URL {} is invalid: {msg}", image.url),
            );
        }
        let checksum = image.checksum.as_deref().unwrap_or("");
        if image.url.starts_with("oci://") {
            if !checksum.is_empty() {
                e.add(
                    "spec.image.checksum",
                    "spec.image.checksum must be empty for OCI images (oci:// images have embedded checksums)",
                );
            }
        } else if !image.is_live_iso() && checksum.is_empty() {
            e.add(
                "spec.image.checksum",
                "checksum is required for normal images",
            );
        }
        let ct = image.checksum_type.as_deref().unwrap_or("");
        if !matches!(ct, "" | "auto" | "md5" | "sha256" | "sha512") {
            e.add(
                "spec.image.checksumType",
                format!("unknown checksumType {ct}, supported are auto, md5, sha256, sha512"),
            );
        }
        if let Some(f) = &image.disk_format {
            enum_check(
                e,
                "spec.image.format",
                f,
                &["raw", "qcow2", "vdi", "vmdk", "live-iso"],
            );
        }
    }

    validate_annotations(host, e);

    if let (Some(ann), Some(mode)) = (
        host.metadata.annotations.get(INSPECT_ANNOTATION),
        spec.inspection_mode,
    ) {
        if (ann == "disabled") != (mode == InspectionMode::Disabled) {
            e.add(
                "spec.inspectionMode",
                "inspect.metal3.io annotation and inspectionMode field have contradicting values",
            );
        }
    }

    if spec.power_off_disabled() && !spec.online {
        e.add(
            "spec.disablePowerOff",
            "node can't simultaneously have online set to false and have power off disabled",
        );
    }

    validate_network_interfaces(host, e);
}

/// Inspection is off by field or by the legacy annotation.
fn inspection_disabled(host: &BareMetalHost) -> bool {
    host.spec.inspection_mode == Some(InspectionMode::Disabled)
        || host
            .metadata
            .annotations
            .get(INSPECT_ANNOTATION)
            .is_some_and(|v| v == "disabled")
}

fn validate_raid(host: &BareMetalHost, e: &mut Errors) {
    let Some(raid) = &host.spec.raid else {
        return;
    };
    let hw = raid.hardware_raid_volumes.as_deref().unwrap_or(&[]);
    let sw = raid.software_raid_volumes.as_deref().unwrap_or(&[]);
    if !hw.is_empty() && !sw.is_empty() {
        e.add(
            "spec.raid",
            "hardwareRAIDVolumes and softwareRAIDVolumes can not be set at the same time",
        );
    }
    for (i, v) in hw.iter().enumerate() {
        let p = format!("spec.raid.hardwareRAIDVolumes[{i}]");
        enum_check(
            e,
            &format!("{p}.level"),
            &v.level,
            &["0", "1", "2", "5", "6", "1+0", "5+0", "6+0"],
        );
        if let Some(name) = &v.name {
            if name.len() > 64 {
                e.add(
                    format!("{p}.name"),
                    "Too long: may not be more than 64 bytes",
                );
            }
        }
        if let Some(n) = v.number_of_physical_disks {
            min_check(e, &format!("{p}.numberOfPhysicalDisks"), n, 1);
        }
        if let Some(s) = v.size_gibibytes {
            min_check(e, &format!("{p}.sizeGibibytes"), s, 0);
        }
        let disks = v.physical_disks.as_deref().unwrap_or(&[]);
        if !disks.is_empty() && v.controller.as_deref().unwrap_or("").is_empty() {
            e.add(
                format!("{p}.controller"),
                format!(
                    "'physicalDisks' specified without 'controller' in hardware RAID volume {i}"
                ),
            );
        }
        if let Some(n) = v.number_of_physical_disks {
            if !disks.is_empty() && usize::try_from(n).ok() != Some(disks.len()) {
                e.add(
                    format!("{p}.numberOfPhysicalDisks"),
                    format!(
                        "the 'numberOfPhysicalDisks'[{n}] and number of 'physicalDisks'[{}] is not same for volume {i}",
                        disks.len()
                    ),
                );
            }
        }
    }
    if sw.len() > 2 {
        e.add(
            "spec.raid.softwareRAIDVolumes",
            format!("Too many: {}: must have at most 2 items", sw.len()),
        );
    }
    let mut roots = 0;
    for (i, v) in sw.iter().enumerate() {
        let p = format!("spec.raid.softwareRAIDVolumes[{i}]");
        enum_check(e, &format!("{p}.level"), &v.level, &["0", "1", "1+0"]);
        if let Some(s) = v.size_gibibytes {
            min_check(e, &format!("{p}.sizeGibibytes"), s, 0);
        }
        if let Some(disks) = &v.physical_disks {
            if disks.len() < 2 {
                e.add(
                    format!("{p}.physicalDisks"),
                    format!(
                        "Invalid value: {}: should have at least 2 items",
                        disks.len()
                    ),
                );
            }
            for (j, d) in disks.iter().enumerate() {
                if let Some(m) = d.min_size_gigabytes {
                    min_check(e, &format!("{p}.physicalDisks[{j}].minSizeGigabytes"), m, 0);
                }
            }
        }
        if v.root_volume == Some(true) {
            roots += 1;
            if roots == 2 {
                e.add(
                    "spec.raid.softwareRAIDVolumes",
                    "softwareRAIDVolumes[*].rootVolume can only be set once",
                );
            }
            if host.spec.root_device_hints.is_some() {
                e.add(
                    format!("{p}.rootVolume"),
                    "softwareRAIDVolumes[*].rootVolume and rootDeviceHints can not be set at the same time",
                );
            }
            if v.level != "1" {
                e.add(
                    format!("{p}.level"),
                    format!("softwareRAIDVolumes[{i}] with rootVolume set must use RAID level 1"),
                );
            }
        }
    }
}

fn validate_root_device_hints(host: &BareMetalHost, e: &mut Errors) {
    let Some(hints) = &host.spec.root_device_hints else {
        return;
    };
    if let Some(m) = hints.min_size_gigabytes {
        min_check(e, "spec.rootDeviceHints.minSizeGigabytes", m, 0);
    }
    let Some(dev) = &hints.device_name else {
        return;
    };
    let field = "spec.rootDeviceHints.deviceName";
    match dev.strip_prefix("/dev/") {
        None => e.add(
            field,
            format!("device name of root device hint must be a /dev/ path, not \"{dev}\""),
        ),
        Some(rest) => {
            let rest = rest.strip_prefix("disk/by-path/").unwrap_or(rest);
            if rest.contains('/') {
                e.add(
                    field,
                    format!("device name of root device hint must be path in /dev/ or /dev/disk/by-path/, not \"{dev}\""),
                );
            }
        }
    }
}

fn validate_annotations(host: &BareMetalHost, e: &mut Errors) {
    for (key, value) in &host.metadata.annotations {
        let field = format!("metadata.annotations[{key}]");
        if key == STATUS_ANNOTATION {
            validate_status_annotation(value, &field, e);
        } else if key == REBOOT_ANNOTATION || key.starts_with("reboot.metal3.io/") {
            if value.is_empty() {
                continue;
            }
            match serde_json::from_str::<RebootAnnotationArguments>(value) {
                Err(err) => e.add(
                    &field,
                    format!("failed to unmarshal the data from the {key} annotation: {err}"),
                ),
                Ok(args) => {
                    if !matches!(args.mode.as_str(), "hard" | "soft" | "") {
                        e.add(
                            &field,
                            format!("invalid mode in the {key} annotation, allowed are \"hard\", \"soft\" or \"\""),
                        );
                    }
                }
            }
        } else if key == DETACHED_ANNOTATION {
            // Any value detaches; only a JSON object carries arguments, and
            // a malformed one would be silently ignored by the controller.
            if !value.trim_start().starts_with('{') {
                continue;
            }
            match strict_json::<DetachedAnnotationArguments>(value) {
                Err(err) => e.add(
                    &field,
                    format!("failed to unmarshal the data from the {key} annotation: {err}"),
                ),
                Ok(args) => {
                    if !matches!(args.delete_action.as_str(), "" | "delay" | "delete") {
                        e.add(
                            &field,
                            format!(
                                "invalid deleteAction '{}' in the {key} annotation, allowed are \"delay\" or \"delete\"",
                                args.delete_action
                            ),
                        );
                    }
                }
            }
        } else if key == INSPECT_ANNOTATION {
            if !matches!(value.as_str(), "" | "disabled") {
                e.add(
                    &field,
                    "invalid value for the inspect.metal3.io annotation, allowed are \"disabled\" or \"\"",
                );
            }
        } else if key == HARDWARE_DETAILS_ANNOTATION {
            if !inspection_disabled(host) {
                e.add(
                    &field,
                    "when hardware details are provided, inspection must be disabled (either via inspect.metal3.io annotation or inspectionMode field)",
                );
            }
            if let Err(err) = strict_json::<HardwareDetails>(value) {
                e.add(
                    &field,
                    format!(
                        "error decoding the inspect.metal3.io/hardwaredetails annotation: {err}"
                    ),
                );
            }
        }
    }
}

fn validate_status_annotation(value: &str, field: &str, e: &mut Errors) {
    // The allowed sets are checked on the raw strings first so that the
    // message names the bad value as upstream does (the typed decode would
    // only say "unknown variant").
    if let Ok(raw) = serde_json::from_str::<Value>(value) {
        let op = raw.get("operationalStatus").and_then(Value::as_str);
        if let Some(op) = op {
            if !matches!(
                op,
                "" | "OK" | "discovered" | "error" | "delayed" | "detached"
            ) {
                e.add(
                    field,
                    format!(
                        "invalid operationalStatus '{op}' in the {STATUS_ANNOTATION} annotation"
                    ),
                );
                return;
            }
        }
        let et = raw.get("errorType").and_then(Value::as_str);
        if let Some(et) = et {
            if !matches!(
                et,
                "" | "provisioned registration error"
                    | "registration error"
                    | "inspection error"
                    | "preparation error"
                    | "provisioning error"
                    | "power management error"
            ) {
                e.add(
                    field,
                    format!("invalid errorType '{et}' in the {STATUS_ANNOTATION} annotation"),
                );
                return;
            }
        }
    }
    if let Err(err) = strict_json::<BareMetalHostStatus>(value) {
        e.add(field, format!("error decoding status annotation: {err}"));
    }
}

fn validate_network_interfaces(host: &BareMetalHost, e: &mut Errors) {
    let Some(nics) = &host.spec.network_interfaces else {
        return;
    };
    let mut seen = HashSet::new();
    for (i, nic) in nics.iter().enumerate() {
        let p = format!("spec.networkInterfaces[{i}]");
        let name = nic.name.as_deref().filter(|n| !n.is_empty());
        let mac = nic.mac_address.as_deref().filter(|m| !m.is_empty());
        if let Some(n) = name {
            if !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                e.add(
                    format!("{p}.name"),
                    format!("Invalid value: \"{n}\": should match '^[a-zA-Z0-9._-]+$'"),
                );
            }
        }
        if let Some(m) = mac {
            if !is_colon_mac(m) {
                e.add(
                    format!("{p}.macAddress"),
                    format!("Invalid value: \"{m}\": should match '^[0-9a-fA-F]{{2}}(:[0-9a-fA-F]{{2}}){{5}}$'"),
                );
            }
        }
        if let Some(sp) = &nic.switch_port {
            if !is_colon_mac(&sp.switch_id) {
                e.add(
                    format!("{p}.switchPort.switchID"),
                    format!(
                        "Invalid value: \"{}\": should match '^[0-9a-fA-F]{{2}}(:[0-9a-fA-F]{{2}}){{5}}$'",
                        sp.switch_id
                    ),
                );
            }
        }
        if let Some(att) = &nic.host_network_attachment {
            if att.name.len() > 253 {
                e.add(
                    format!("{p}.hostNetworkAttachment.name"),
                    "Too long: may not be more than 253 bytes",
                );
            }
            if att.namespace.len() > 63 {
                e.add(
                    format!("{p}.hostNetworkAttachment.namespace"),
                    "Too long: may not be more than 63 bytes",
                );
            }
        }
        let key = match (name, mac) {
            (None, None) => {
                e.add(
                    &p,
                    format!("networkInterfaces[{i}]: must specify either name or macAddress"),
                );
                continue;
            }
            (Some(_), Some(_)) => {
                e.add(
                    &p,
                    format!("networkInterfaces[{i}]: name and macAddress are mutually exclusive"),
                );
                continue;
            }
            (Some(n), None) => n.to_ascii_lowercase(),
            (None, Some(m)) => m.to_ascii_lowercase(),
        };
        if !seen.insert(key.clone()) {
            e.add(
                &p,
                format!("networkInterfaces[{i}]: duplicate interface selector for \"{key}\""),
            );
        }
    }
}

fn validate_changes(old: &BareMetalHost, new: &BareMetalHost, e: &mut Errors) {
    let state = |h: &BareMetalHost| {
        h.status
            .as_ref()
            .map(|s| s.provisioning.state)
            .unwrap_or_default()
    };
    let op = |h: &BareMetalHost| {
        h.status
            .as_ref()
            .map(|s| s.operational_status)
            .unwrap_or_default()
    };
    if !old.spec.bmc.address.is_empty() && old.spec.bmc.address != new.spec.bmc.address {
        let allowed = op(old) == OperationalStatus::Detached
            || op(new) == OperationalStatus::Detached
            || state(old) == ProvisioningState::Registering
            || state(new) == ProvisioningState::Registering;
        if !allowed {
            e.add(
                "spec.bmc.address",
                "BMC address can not be changed if the BMH is not in the Registering state, or if the BMH is not detached",
            );
        }
    }
    let old_mac = old.spec.boot_mac_address.as_deref().unwrap_or("");
    let new_mac = new.spec.boot_mac_address.as_deref().unwrap_or("");
    if !old_mac.is_empty() && !old_mac.eq_ignore_ascii_case(new_mac) {
        e.add(
            "spec.bootMACAddress",
            "bootMACAddress can not be changed once it is set",
        );
    }
    if !old.spec.is_externally_provisioned()
        && new.spec.is_externally_provisioned()
        && state(old) != ProvisioningState::Available
        && state(new) != ProvisioningState::Available
    {
        e.add(
            "spec.externallyProvisioned",
            format!(
                "externallyProvisioned can only be enabled when in Available state, currently in {}",
                state(old)
            ),
        );
    }
}

// ---------------------------------------------------------------------------
// Other kinds

/// BMCEventSubscription create rules.
pub fn validate_bmc_event_subscription(s: &BMCEventSubscription) -> Vec<ValidationError> {
    let mut e = Errors::new(
        "BMCEventSubscription",
        &s.metadata.namespace,
        &s.metadata.name,
    );
    let spec = s.spec.clone().unwrap_or_default();
    if spec.host_name.is_empty() {
        e.add("spec.hostName", "hostName cannot be empty");
    }
    if spec.destination.is_empty() {
        e.add("spec.destination", "destination cannot be empty");
    } else {
        match parse_request_uri(&spec.destination) {
            Err(msg) => e.add("spec.destination", format!("destination is invalid: {msg}")),
            Ok(u) if u.path.is_empty() => e.add(
                "spec.destination",
                "hostname-only destination must have a trailing slash",
            ),
            Ok(_) => {}
        }
    }
    if let Some(r) = &spec.http_headers_ref {
        if r.namespace != s.metadata.namespace_or_default() {
            e.add(
                "spec.httpHeadersRef.namespace",
                "http headers referenced secret must be in the same namespace as the subscription",
            );
        }
    }
    e.list
}

/// BMCEventSubscription update rules: create rules plus immutability.
pub fn validate_bmc_event_subscription_update(
    old: &BMCEventSubscription,
    new: &BMCEventSubscription,
) -> Vec<ValidationError> {
    let mut list = validate_bmc_event_subscription(new);
    if old.spec != new.spec {
        let mut e = Errors::new(
            "BMCEventSubscription",
            &new.metadata.namespace,
            &new.metadata.name,
        );
        e.add(
            "spec",
            "subscriptions cannot be updated, please recreate it",
        );
        list.extend(e.list);
    }
    list
}

/// DataImage rules: the URL must pass the image URL check.
pub fn validate_data_image(d: &DataImage) -> Vec<ValidationError> {
    let mut e = Errors::new("DataImage", &d.metadata.namespace, &d.metadata.name);
    let url = d.spec.as_ref().map(|s| s.url.as_str()).unwrap_or("");
    if let Err(msg) = check_url(url) {
        e.add("spec.url", format!("image URL {url} is invalid: {msg}"));
    }
    e.list
}

/// HostFirmwareComponents rules: update URLs (webhook) and component names
/// (controller, reported early here).
pub fn validate_host_firmware_components(h: &HostFirmwareComponents) -> Vec<ValidationError> {
    let mut e = Errors::new(
        "HostFirmwareComponents",
        &h.metadata.namespace,
        &h.metadata.name,
    );
    let updates = h.spec.as_ref().map(|s| s.updates.as_slice()).unwrap_or(&[]);
    for (i, u) in updates.iter().enumerate() {
        if !(u.component == "bmc" || u.component == "bios" || u.component.starts_with("nic:")) {
            e.add(
                format!("spec.updates[{i}].component"),
                format!(
                    "component {} is invalid, only 'bmc', 'bios', or names starting with 'nic:' are allowed as update names",
                    u.component
                ),
            );
        }
        if let Err(msg) = check_url(&u.url) {
            e.add(
                format!("spec.updates[{i}].url"),
                format!("image URL {} is invalid: {msg}", u.url),
            );
        }
    }
    e.list
}

/// HostNetworkAttachment CRD rules: mode enum, VLAN and MTU ranges, and
/// `allowedVLANs` entries of the form `100` or `100-200`.
pub fn validate_host_network_attachment(h: &HostNetworkAttachment) -> Vec<ValidationError> {
    let mut e = Errors::new(
        "HostNetworkAttachment",
        &h.metadata.namespace,
        &h.metadata.name,
    );
    let Some(spec) = &h.spec else {
        return e.list;
    };
    if let Some(mode) = &spec.mode {
        enum_check(&mut e, "spec.mode", mode, &["access", "trunk", "hybrid"]);
    }
    if let Some(v) = spec.native_vlan {
        range_check(&mut e, "spec.nativeVLAN", v, 1, 4094);
    }
    if let Some(m) = spec.mtu {
        range_check(&mut e, "spec.mtu", m, 68, 9216);
    }
    for (i, item) in spec
        .allowed_vlans
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let vlan = |t: &str| t.parse::<i64>().ok().filter(|v| (1..=4094).contains(v));
        let ok = match item.split_once('-') {
            None => vlan(item).is_some(),
            Some((lo, hi)) => matches!((vlan(lo), vlan(hi)), (Some(lo), Some(hi)) if lo <= hi),
        };
        if !ok {
            e.add(
                format!("spec.allowedVLANs[{i}]"),
                format!(
                    "Invalid value: \"{item}\": must be a VLAN ID (1-4094) or a range like 100-200"
                ),
            );
        }
    }
    e.list
}

/// HostFirmwareSettings desired values checked against a FirmwareSchema
/// (what the HFS controller reports in its `Valid` condition).
pub fn validate_firmware_settings(
    hfs: &HostFirmwareSettings,
    schema: &FirmwareSchema,
) -> Vec<ValidationError> {
    let mut e = Errors::new(
        "HostFirmwareSettings",
        &hfs.metadata.namespace,
        &hfs.metadata.name,
    );
    let empty = BTreeMap::new();
    let settings = hfs.spec.as_ref().map(|s| &s.settings).unwrap_or(&empty);
    let no_rules = BTreeMap::new();
    let rules = schema.spec.as_ref().map(|s| &s.schema).unwrap_or(&no_rules);
    for (name, value) in settings {
        let field = format!("spec.settings.{name}");
        let Some(rule) = rules.get(name) else {
            e.add(
                field,
                format!("Setting {name} is invalid, it is not in the associated schema"),
            );
            continue;
        };
        if let Err(why) = check_setting(name, value, rule) {
            e.add(field, format!("Setting {name} is invalid, {why}"));
        }
    }
    e.list
}

pub(crate) fn check_setting(
    name: &str,
    value: &IntOrString,
    rule: &crate::other::SettingSchema,
) -> Result<(), String> {
    if rule.read_only == Some(true) {
        return Err("it is ReadOnly".into());
    }
    if name.contains("Password") {
        return Err("Password fields can't be set".into());
    }
    let text = value.to_string();
    match rule.attribute_type.as_deref().unwrap_or("") {
        "Enumeration" => {
            if rule
                .allowable_values
                .as_deref()
                .unwrap_or(&[])
                .contains(&text)
            {
                Ok(())
            } else {
                Err(format!("unknown enumeration value - {text}"))
            }
        }
        "Integer" => {
            let n = match value {
                IntOrString::Int(n) => *n,
                IntOrString::String(s) => s
                    .parse::<i64>()
                    .map_err(|_| format!("String {s} entered while integer expected"))?,
            };
            if let Some(lo) = rule.lower_bound.filter(|lo| n < *lo) {
                return Err(format!("integer {n} is below minimum value {lo}"));
            }
            if let Some(hi) = rule.upper_bound.filter(|hi| n > *hi) {
                return Err(format!("integer {n} is above maximum value {hi}"));
            }
            Ok(())
        }
        "String" => {
            let len = i64::try_from(text.len()).unwrap_or(i64::MAX);
            if let Some(min) = rule.min_length.filter(|m| len < *m) {
                return Err(format!(
                    "string {text} length is below minimum length {min}"
                ));
            }
            if let Some(max) = rule.max_length.filter(|m| len > *m) {
                return Err(format!(
                    "string {text} length is above maximum length {max}"
                ));
            }
            Ok(())
        }
        "Boolean" => {
            if text == "true" || text == "false" {
                Ok(())
            } else {
                Err(format!("{text} is not a boolean"))
            }
        }
        "Password" => Err("Password fields can't be set".into()),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Whole inputs

/// Create rules for any object (kinds without webhook rules pass).
pub fn validate_object(obj: &Object) -> Vec<ValidationError> {
    match obj {
        Object::BareMetalHost(h) => validate_create(h),
        Object::BMCEventSubscription(s) => validate_bmc_event_subscription(s),
        Object::DataImage(d) => validate_data_image(d),
        Object::HostFirmwareComponents(h) => validate_host_firmware_components(h),
        Object::HostNetworkAttachment(h) => validate_host_network_attachment(h),
        _ => Vec::new(),
    }
}

/// Every object's rules plus the checks that need several objects of one
/// input: a host's BMC Secret, when present, must hold `username` and
/// `password`; HostFirmwareSettings are checked against a FirmwareSchema of
/// the input that their status names.
pub fn validate_objects(objects: &[Object]) -> Vec<ValidationError> {
    // Indexed once: inputs of thousands of hosts and Secrets stay linear.
    let mut secrets: HashMap<(&str, &str), &Secret> = HashMap::new();
    let mut schemas: HashMap<(&str, &str), &FirmwareSchema> = HashMap::new();
    for o in objects {
        match o {
            Object::Secret(s) => {
                secrets.insert((s.metadata.namespace_or_default(), &s.metadata.name), s);
            }
            Object::FirmwareSchema(f) => {
                schemas.insert((f.metadata.namespace_or_default(), &f.metadata.name), f);
            }
            _ => {}
        }
    }
    let check = |obj: &Object, out: &mut Vec<ValidationError>| {
        out.extend(validate_object(obj));
        match obj {
            Object::BareMetalHost(h) => {
                let name = h.spec.bmc.credentials_name.as_str();
                if name.is_empty() {
                    return;
                }
                if let Some(s) = secrets.get(&(h.metadata.namespace_or_default(), name)) {
                    let mut e = host_errors(h);
                    check_credentials(s, &mut e);
                    out.extend(e.list);
                }
            }
            Object::HostFirmwareSettings(hfs) => {
                let Some(sref) = hfs.status.as_ref().and_then(|s| s.schema.as_ref()) else {
                    return;
                };
                let ns = if sref.namespace.is_empty() {
                    hfs.metadata.namespace_or_default()
                } else {
                    &sref.namespace
                };
                if let Some(schema) = schemas.get(&(ns, sref.name.as_str())) {
                    out.extend(validate_firmware_settings(hfs, schema));
                }
            }
            _ => {}
        }
    };
    let check_all = |part: &[Object]| {
        let mut out = Vec::new();
        for obj in part {
            check(obj, &mut out);
        }
        out
    };
    // Objects are independent once indexed: large inputs use every core.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || objects.len() < PARALLEL_MIN_OBJECTS {
        return check_all(objects);
    }
    let check_all = &check_all;
    let parts: Vec<Option<Vec<ValidationError>>> = std::thread::scope(|s| {
        let handles: Vec<_> = objects
            .chunks(objects.len().div_ceil(threads))
            .map(|part| s.spawn(move || check_all(part)))
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    match parts.into_iter().collect::<Option<Vec<_>>>() {
        Some(parts) => parts.concat(),
        // Validation does not panic on any input (fuzzed); should it anyway,
        // running again on this thread hands the panic to the caller as
        // the one-thread path would.
        None => check_all(objects),
    }
}

/// Below this many objects one thread is faster than starting others.
const PARALLEL_MIN_OBJECTS: usize = 256;

fn check_credentials(secret: &Secret, e: &mut Errors) {
    let field = "spec.bmc.credentialsName";
    for (key, msg) in [
        (
            "username",
            "Missing BMC connection detail 'username' in credentials",
        ),
        (
            "password",
            "Missing BMC connection details 'password' in credentials",
        ),
    ] {
        match secret.get(key) {
            Ok(Some(v)) if !v.is_empty() => {}
            Ok(_) => e.add(field, format!("Secret {}: {msg}", secret.metadata.name)),
            Err(err) => e.add(field, err.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// Decodes JSON refusing unknown fields, with Go's wording for those.
fn strict_json<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let mut unknown: Option<String> = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let mut record = |p: serde_ignored::Path<'_>| {
        if unknown.is_none() {
            unknown = Some(last_segment(&p));
        }
    };
    let value = T::deserialize(serde_ignored::Deserializer::new(&mut de, &mut record))
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| e.to_string())?;
    match unknown {
        Some(field) => Err(format!("json: unknown field \"{field}\"")),
        None => Ok(value),
    }
}

fn last_segment(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Map { key, .. } => key.clone(),
        Path::Seq { index, .. } => index.to_string(),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => last_segment(parent),
        Path::Root => String::new(),
    }
}

fn enum_check(e: &mut Errors, field: &str, value: &str, allowed: &[&str]) {
    if !allowed.contains(&value) {
        let list = allowed
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ");
        e.add(
            field,
            format!("Unsupported value: \"{value}\": supported values: {list}"),
        );
    }
}

fn min_check(e: &mut Errors, field: &str, value: i64, min: i64) {
    if value < min {
        e.add(
            field,
            format!("Invalid value: {value}: should be greater than or equal to {min}"),
        );
    }
}

fn range_check(e: &mut Errors, field: &str, value: i64, min: i64, max: i64) {
    if value < min {
        min_check(e, field, value, min);
    } else if value > max {
        e.add(
            field,
            format!("Invalid value: {value}: should be less than or equal to {max}"),
        );
    }
}

/// `xx:xx:xx:xx:xx:xx` exactly (the anchored CRD pattern).
fn is_colon_mac(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 17
        && b.iter().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                *c == b':'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The unanchored CRD pattern of `bootMACAddress`: somewhere in the text.
fn contains_mac_pattern(s: &str) -> bool {
    s.len() >= 17 && (0..=s.len() - 17).any(|i| s.get(i..i + 17).is_some_and(is_colon_mac))
}

/// Go `net.ParseMAC` refused the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address {0}: invalid MAC address")]
pub struct MacError(pub String);

/// Go's `net.ParseMAC`: 6-, 8- or 20-byte addresses written with `:` or `-`
/// between bytes, or `.` between groups of two bytes.
pub fn parse_mac(s: &str) -> Result<Vec<u8>, MacError> {
    let err = || MacError(s.to_string());
    let b = s.as_bytes();
    if b.len() < 14 {
        return Err(err());
    }
    let hex2 = |x: &[u8]| -> Option<u8> {
        let h = |c: u8| (c as char).to_digit(16);
        u8::try_from(h(*x.first()?)? * 16 + h(*x.get(1)?)?).ok()
    };
    let mut out = Vec::new();
    if b[2] == b':' || b[2] == b'-' {
        let sep = b[2];
        if !(b.len() + 1).is_multiple_of(3) {
            return Err(err());
        }
        let n = (b.len() + 1) / 3;
        if !matches!(n, 6 | 8 | 20) {
            return Err(err());
        }
        for i in 0..n {
            let x = i * 3;
            if i + 1 < n && b[x + 2] != sep {
                return Err(err());
            }
            out.push(hex2(&b[x..x + 2]).ok_or_else(err)?);
        }
    } else if b[4] == b'.' {
        if !(b.len() + 1).is_multiple_of(5) {
            return Err(err());
        }
        let n = 2 * (b.len() + 1) / 5;
        if !matches!(n, 6 | 8 | 20) {
            return Err(err());
        }
        for g in 0..n / 2 {
            let x = g * 5;
            if g + 1 < n / 2 && b[x + 4] != b'.' {
                return Err(err());
            }
            out.push(hex2(&b[x..x + 2]).ok_or_else(err)?);
            out.push(hex2(&b[x + 2..x + 4]).ok_or_else(err)?);
        }
    } else {
        return Err(err());
    }
    Ok(out)
}

/// google/uuid `Parse`: plain, `{...}`, `urn:uuid:...` or 32 hex digits.
fn is_uuid(s: &str) -> bool {
    let canonical = |t: &str| {
        let b = t.as_bytes();
        b.len() == 36
            && b.iter().enumerate().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    *c == b'-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    match s.len() {
        36 => canonical(s),
        38 => s.starts_with('{') && s.ends_with('}') && canonical(&s[1..37]),
        45 => {
            s.get(..9)
                .is_some_and(|p| p.eq_ignore_ascii_case("urn:uuid:"))
                && canonical(&s[9..])
        }
        32 => s.bytes().all(|c| c.is_ascii_hexdigit()),
        _ => false,
    }
}

/// The parts of a request URI the rules look at.
struct RequestUri {
    scheme: String,
    path: String,
}

/// Go `url.ParseRequestURI`, far enough to produce its errors:
/// `parse "<u>": <reason>`.
fn parse_request_uri(raw: &str) -> Result<RequestUri, String> {
    let fail = |why: &str| Err(format!("parse \"{raw}\": {why}"));
    if raw.is_empty() {
        return fail("empty url");
    }
    if raw.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return fail("net/url: invalid control character in URL");
    }
    // Scheme: letters, then letters/digits/+-. up to ':'.
    let mut scheme = String::new();
    let mut rest = raw;
    for (i, c) in raw.char_indices() {
        if c.is_ascii_alphabetic() {
            continue;
        }
        if i > 0 && (c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
            continue;
        }
        if c == ':' {
            if i == 0 {
                return fail("missing protocol scheme");
            }
            scheme = raw[..i].to_ascii_lowercase();
            rest = &raw[i + 1..];
        }
        break;
    }
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            // Rootless: Go keeps it as an opaque URL.
            return Ok(RequestUri {
                scheme,
                path: String::new(),
            });
        }
        return fail("invalid URI for request");
    }
    let (authority, path) = if !scheme.is_empty() && rest.starts_with("//") {
        let r = &rest[2..];
        match r.find('/') {
            Some(i) => (&r[..i], &r[i..]),
            None => (r, ""),
        }
    } else {
        ("", rest)
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        match v6.split_once(']') {
            None => return fail("missing ']' in host"),
            Some((_, port)) => {
                if !port.is_empty() && !valid_port(port) {
                    return fail(&format!("invalid port \"{port}\" after host"));
                }
            }
        }
    } else if let Some(i) = host.rfind(':') {
        let port = &host[i..];
        if !valid_port(port) {
            return fail(&format!("invalid port \"{port}\" after host"));
        }
    }
    if let Some(c) = host.chars().find(|c| {
        matches!(
            c,
            ' ' | '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`'
        )
    }) {
        return fail(&format!("invalid character \"{c}\" in host name"));
    }
    Ok(RequestUri {
        scheme,
        path: path.to_string(),
    })
}

/// `:` followed by digits only (Go `validOptionalPort`).
fn valid_port(p: &str) -> bool {
    p.strip_prefix(':')
        .is_some_and(|d| d.bytes().all(|c| c.is_ascii_digit()))
}

/// The image URL rule: a request URI with an allowed scheme.
fn check_url(url: &str) -> Result<(), String> {
    let u = parse_request_uri(url)?;
    if !matches!(
        u.scheme.as_str(),
        "http" | "https" | "ftp" | "gopher" | "oci"
    ) {
        return Err(format!(
            "invalid scheme in URL, \"{}\" not allowed",
            u.scheme
        ));
    }
    Ok(())
}
