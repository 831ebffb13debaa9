//! Legacy hardware profiles: only their root device hints still matter
//! (reference §2.3 step 4 and §6.4).

use crate::bmh::{BareMetalHost, BareMetalHostSpec, RootDeviceHints};

/// Profile used when nothing else matches.
pub const DEFAULT_PROFILE: &str = "unknown";

/// Root device hints of a known profile; `None` when the name is unknown.
/// The inner `None` is the `empty` profile, which has no hints.
pub fn profile_hints(name: &str) -> Option<Option<RootDeviceHints>> {
    let device = |d: &str| {
        Some(RootDeviceHints {
            device_name: Some(d.to_string()),
            ..RootDeviceHints::default()
        })
    };
    let hctl = |h: &str| {
        Some(RootDeviceHints {
            hctl: Some(h.to_string()),
            ..RootDeviceHints::default()
        })
    };
    match name {
        "unknown" => Some(device("/dev/sda")),
        "libvirt" => Some(device("/dev/vda")),
        "openstack" => Some(device("/dev/vdb")),
        "dell" => Some(hctl("0:0:0:0")),
        "dell-raid" => Some(hctl("0:2:0:0")),
        "empty" => Some(None),
        _ => None,
    }
}

/// The profile a host uses: the one already in status, else the spec's,
/// else `libvirt` for libvirt BMC addresses, else [`DEFAULT_PROFILE`].
pub fn profile_name(spec: &BareMetalHostSpec, status_profile: Option<&str>) -> String {
    if let Some(p) = status_profile.filter(|p| !p.is_empty()) {
        return p.to_string();
    }
    if let Some(p) = spec.hardware_profile.clone().filter(|p| !p.is_empty()) {
        return p;
    }
    if spec.bmc.address.starts_with("libvirt") {
        return "libvirt".to_string();
    }
    DEFAULT_PROFILE.to_string()
}

/// Root device hints to store in status: the spec's hints, else the
/// profile's. None when a software RAID root volume is requested, since
/// the RAID device is then the root and disk hints would contradict it.
pub fn root_device_hints(host: &BareMetalHost, profile: &str) -> Option<RootDeviceHints> {
    let sw_root = host
        .spec
        .raid
        .as_ref()
        .and_then(|r| r.software_raid_volumes.as_ref())
        .and_then(|v| v.first())
        .is_some_and(|v| v.root_volume.unwrap_or(true));
    if sw_root {
        return None;
    }
    if let Some(h) = &host.spec.root_device_hints {
        return Some(h.clone());
    }
    profile_hints(profile).flatten()
}
