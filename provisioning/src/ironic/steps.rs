//! Pure builders for Ironic manual-cleaning and servicing steps: RAID
//! (`logical_disks` and the delete/create steps), BIOS settings and firmware
//! updates (reference §6.3 Prepare).

use std::collections::BTreeMap;

use metal3_hostmodel::state::PrepareData;
use metal3_hostmodel::{RaidConfig, RootDeviceHints};
use serde_json::{json, Map, Value};

use super::mapping::root_device_hints;

/// Ironic `target_raid_config.logical_disks` for a Metal³ RAID spec.
/// Hardware volumes come first; the first one is the root volume unless the
/// host has root device hints or a software RAID (which then holds `/`).
pub fn logical_disks(raid: &RaidConfig, have_root_hints: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let sw = raid.software_raid_volumes.as_deref().unwrap_or(&[]);
    for (i, v) in raid
        .hardware_raid_volumes
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let mut d = Map::new();
        d.insert("size_gb".into(), size_gb(v.size_gibibytes));
        d.insert("raid_level".into(), v.level.clone().into());
        if let Some(n) = v.name.as_deref().filter(|n| !n.is_empty()) {
            d.insert("volume_name".into(), n.into());
        }
        if let Some(r) = v.rotational {
            d.insert("disk_type".into(), if r { "hdd" } else { "ssd" }.into());
        }
        if let Some(n) = v.number_of_physical_disks.filter(|n| *n > 0) {
            d.insert("number_of_physical_disks".into(), n.into());
        }
        if let Some(c) = v.controller.as_deref().filter(|c| !c.is_empty()) {
            d.insert("controller".into(), c.into());
        }
        if let Some(p) = v.physical_disks.as_ref().filter(|p| !p.is_empty()) {
            d.insert("physical_disks".into(), json!(p));
        }
        let sw_root = sw
            .iter()
            .enumerate()
            .any(|(j, v)| v.root_volume.unwrap_or(j == 0));
        if i == 0 && !have_root_hints && !sw_root {
            d.insert("is_root_volume".into(), true.into());
        }
        out.push(Value::Object(d));
    }
    for (i, v) in sw.iter().enumerate() {
        let mut d = Map::new();
        d.insert("size_gb".into(), size_gb(v.size_gibibytes));
        d.insert("raid_level".into(), v.level.clone().into());
        d.insert("controller".into(), "software".into());
        if let Some(disks) = v.physical_disks.as_ref().filter(|p| !p.is_empty()) {
            let hints: Vec<Value> = disks.iter().map(disk_hint).collect();
            d.insert("physical_disks".into(), Value::Array(hints));
        }
        if v.root_volume.unwrap_or(i == 0) {
            d.insert("is_root_volume".into(), true.into());
        }
        out.push(Value::Object(d));
    }
    out
}

fn size_gb(size: Option<i64>) -> Value {
    match size.filter(|s| *s > 0) {
        Some(s) => s.into(),
        None => "MAX".into(),
    }
}

fn disk_hint(h: &RootDeviceHints) -> Value {
    Value::Object(root_device_hints(h))
}

/// Whether a RAID configuration asks for any volume.
pub fn has_volumes(raid: Option<&RaidConfig>) -> bool {
    raid.is_some_and(|r| {
        r.hardware_raid_volumes
            .as_ref()
            .is_some_and(|v| !v.is_empty())
            || r.software_raid_volumes
                .as_ref()
                .is_some_and(|v| !v.is_empty())
    })
}

/// Whether a RAID configuration has software volumes.
pub fn has_software_volumes(raid: Option<&RaidConfig>) -> bool {
    raid.is_some_and(|r| {
        r.software_raid_volumes
            .as_ref()
            .is_some_and(|v| !v.is_empty())
    })
}

/// One clean/service step.
fn step(interface: &str, name: &str, args: Value) -> Value {
    json!({"interface": interface, "step": name, "args": args})
}

/// RAID clean steps moving from `actual` to `target`: delete the old
/// configuration (and wipe metadata for software RAID), then create the
/// new one. Empty when nothing changes.
pub fn raid_steps(target: Option<&RaidConfig>, actual: Option<&RaidConfig>) -> Vec<Value> {
    if target == actual || (!has_volumes(target) && !has_volumes(actual)) {
        return Vec::new();
    }
    let mut steps = vec![step("raid", "delete_configuration", json!({}))];
    if has_software_volumes(target) || has_software_volumes(actual) {
        steps.push(step("deploy", "erase_devices_metadata", json!({})));
    }
    if has_volumes(target) {
        steps.push(step("raid", "create_configuration", json!({})));
    }
    steps
}

/// BIOS `apply_configuration` step for settings (`name` → value as
/// `state::setting_value_text`), if any: an empty list would make Ironic
/// clean (and reboot) the node for nothing.
pub fn bios_step(settings: &BTreeMap<String, String>) -> Option<Value> {
    if settings.is_empty() {
        return None;
    }
    let list: Vec<Value> = settings
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    Some(step(
        "bios",
        "apply_configuration",
        json!({"settings": list}),
    ))
}

/// Firmware `update` step for `(component, url)` pairs, if any.
pub fn firmware_step(updates: &[(String, String)]) -> Option<Value> {
    if updates.is_empty() {
        return None;
    }
    let list: Vec<Value> = updates
        .iter()
        .map(|(c, u)| json!({"component": c, "url": u}))
        .collect();
    Some(step("firmware", "update", json!({"settings": list})))
}

/// HostFirmwareComponents `spec.updates` as `(component, url)` pairs.
pub fn firmware_updates_from_spec(spec: &Value) -> Vec<(String, String)> {
    spec.get("updates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| {
            let c = u.get("component")?.as_str()?;
            let url = u.get("url")?.as_str()?;
            Some((c.to_string(), url.to_string()))
        })
        .collect()
}

/// Ironic's BIOS settings list (`GET /v1/nodes/{id}/bios`) as name → value
/// text (`state::setting_value_text`); entries without a name are skipped.
pub fn ironic_bios_values(list: &[Value]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|item| {
            let name = item.get("name")?.as_str()?;
            let value = item
                .get("value")
                .map(metal3_hostmodel::state::setting_value_text)
                .unwrap_or_default();
            Some((name.to_string(), value))
        })
        .collect()
}

/// The `wanted` settings whose value Ironic does not report yet (`bios_now`,
/// from [`ironic_bios_values`]).
pub fn not_applied(
    wanted: &BTreeMap<String, String>,
    bios_now: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    wanted
        .iter()
        .filter(|(k, v)| bios_now.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The manual-cleaning steps of a preparation, in Ironic's order: RAID
/// (only when the host's settings changed), BIOS `apply_configuration` with
/// the HostFirmwareSettings values the engine found differing from the
/// firmware's (`data.target_firmware_settings`, as BMO sends) less those
/// Ironic already reports (`bios_now`: the status the engine compared with
/// is refreshed only once preparing ends, so a finished cleaning must not
/// start again), firmware `update` for the HostFirmwareComponents `updates`
/// (read by the caller).
pub fn prepare_clean_steps(
    data: &PrepareData,
    bios_now: &BTreeMap<String, String>,
    firmware_updates: &[(String, String)],
) -> Vec<Value> {
    let mut out = Vec::new();
    if data.unprepared {
        out.extend(raid_steps(
            data.target_raid.as_ref(),
            data.actual_raid.as_ref(),
        ));
    }
    if data.firmware_settings {
        out.extend(bios_step(&not_applied(
            &data.target_firmware_settings,
            bios_now,
        )));
    }
    if data.firmware_components {
        out.extend(firmware_step(firmware_updates));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_hostmodel::bmh::{HardwareRaidVolume, SoftwareRaidVolume};

    fn hw(level: &str, size: Option<i64>) -> HardwareRaidVolume {
        HardwareRaidVolume {
            level: level.into(),
            size_gibibytes: size,
            ..HardwareRaidVolume::default()
        }
    }

    #[test]
    fn hardware_volumes_map_to_logical_disks_with_first_as_root() {
        let raid = RaidConfig {
            hardware_raid_volumes: Some(vec![
                HardwareRaidVolume {
                    name: Some("os".into()),
                    rotational: Some(false),
                    controller: Some("RAID.Integrated.1-1".into()),
                    ..hw("1", Some(100))
                },
                hw("5", None),
            ]),
            software_raid_volumes: None,
        };
        assert_eq!(
            logical_disks(&raid, false),
            vec![
                json!({"size_gb": 100, "raid_level": "1", "volume_name": "os",
                       "disk_type": "ssd", "controller": "RAID.Integrated.1-1",
                       "is_root_volume": true}),
                json!({"size_gb": "MAX", "raid_level": "5"}),
            ]
        );
        // Root device hints choose the root disk instead.
        assert!(logical_disks(&raid, true)[0]
            .get("is_root_volume")
            .is_none());
    }

    #[test]
    fn software_volumes_use_the_software_controller_and_hint_disks() {
        let raid = RaidConfig {
            hardware_raid_volumes: None,
            software_raid_volumes: Some(vec![SoftwareRaidVolume {
                root_volume: None,
                level: "1".into(),
                size_gibibytes: Some(10),
                physical_disks: Some(vec![
                    RootDeviceHints {
                        device_name: Some("/dev/sda".into()),
                        ..RootDeviceHints::default()
                    },
                    RootDeviceHints {
                        device_name: Some("/dev/sdb".into()),
                        ..RootDeviceHints::default()
                    },
                ]),
            }]),
        };
        assert_eq!(
            logical_disks(&raid, false),
            vec![
                json!({"size_gb": 10, "raid_level": "1", "controller": "software",
                        "physical_disks": [{"name": "s== /dev/sda"}, {"name": "s== /dev/sdb"}],
                        "is_root_volume": true})
            ]
        );
        let steps = raid_steps(Some(&raid), None);
        let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
        assert_eq!(
            names,
            [
                "delete_configuration",
                "erase_devices_metadata",
                "create_configuration"
            ]
        );
    }

    #[test]
    fn raid_steps_only_for_changes() {
        let raid = RaidConfig {
            hardware_raid_volumes: Some(vec![hw("1", None)]),
            software_raid_volumes: None,
        };
        assert!(raid_steps(Some(&raid), Some(&raid)).is_empty());
        assert!(raid_steps(None, None).is_empty());
        let empty = RaidConfig::default();
        assert!(raid_steps(Some(&empty), None).is_empty());
        // Removing every volume deletes the old configuration only.
        let steps = raid_steps(Some(&empty), Some(&raid));
        assert_eq!(steps, vec![step("raid", "delete_configuration", json!({}))]);
    }

    fn text_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bios_and_firmware_steps_from_resource_specs() {
        let settings = text_map(&[("ProcVirtualization", "Enabled"), ("NumCores", "8")]);
        assert_eq!(
            bios_step(&settings),
            Some(
                json!({"interface": "bios", "step": "apply_configuration", "args": {
                "settings": [{"name": "NumCores", "value": "8"},
                             {"name": "ProcVirtualization", "value": "Enabled"}]}})
            )
        );
        assert_eq!(bios_step(&BTreeMap::new()), None);
        let hfc = json!({"updates": [{"component": "bmc", "url": "http://fw/bmc.bin"},
                                     {"component": "bios"}]});
        assert_eq!(
            firmware_step(&firmware_updates_from_spec(&hfc)),
            Some(json!({"interface": "firmware", "step": "update", "args": {
                "settings": [{"component": "bmc", "url": "http://fw/bmc.bin"}]}}))
        );
    }

    #[test]
    fn ironic_bios_values_are_text() {
        let list = [
            json!({"name": "NumCores", "value": "8"}),
            json!({"name": "QuietBoot", "value": true}),
            json!({"name": "Label", "value": null}),
            json!({"name": "NoValue"}),
            json!({"value": "nameless"}),
        ];
        assert_eq!(
            ironic_bios_values(&list),
            text_map(&[
                ("Label", ""),
                ("NoValue", ""),
                ("NumCores", "8"),
                ("QuietBoot", "true")
            ])
        );
    }

    #[test]
    fn preparing_sends_only_the_changed_bios_settings() {
        let none = BTreeMap::new();
        let changed = text_map(&[("ProcVirtualization", "Enabled")]);
        let data = PrepareData {
            unprepared: true,
            firmware_settings: true,
            target_firmware_settings: changed.clone(),
            ..PrepareData::default()
        };
        assert_eq!(
            prepare_clean_steps(&data, &none, &[]),
            vec![step(
                "bios",
                "apply_configuration",
                json!({"settings": [{"name": "ProcVirtualization", "value": "Enabled"}]})
            )]
        );
        // Ironic already reports the value (a cleaning that applied it has
        // ended; the engine's status is older): nothing left to apply.
        let applied = ironic_bios_values(&[
            json!({"name": "ProcVirtualization", "value": "Enabled"}),
            json!({"name": "NumCores", "value": "8"}),
        ]);
        assert!(prepare_clean_steps(&data, &applied, &[]).is_empty());
        let other =
            ironic_bios_values(&[json!({"name": "ProcVirtualization", "value": "Disabled"})]);
        assert_eq!(prepare_clean_steps(&data, &other, &[]).len(), 1);
        // Pending but nothing differs: no BIOS step, so no cleaning at all.
        let nothing = PrepareData {
            target_firmware_settings: BTreeMap::new(),
            ..data.clone()
        };
        assert!(prepare_clean_steps(&nothing, &none, &[]).is_empty());
        // Values without the flag are not applied.
        let not_pending = PrepareData {
            firmware_settings: false,
            ..data.clone()
        };
        assert!(prepare_clean_steps(&not_pending, &none, &[]).is_empty());
        // RAID first, then BIOS, then firmware updates.
        let all = PrepareData {
            target_raid: Some(RaidConfig {
                hardware_raid_volumes: Some(vec![hw("1", None)]),
                software_raid_volumes: None,
            }),
            firmware_components: true,
            ..data
        };
        let order: Vec<(Value, Value)> =
            prepare_clean_steps(&all, &none, &[("bmc".into(), "http://fw/bmc.bin".into())])
                .into_iter()
                .map(|s| (s["interface"].clone(), s["step"].clone()))
                .collect();
        assert_eq!(
            order,
            [
                (json!("raid"), json!("delete_configuration")),
                (json!("raid"), json!("create_configuration")),
                (json!("bios"), json!("apply_configuration")),
                (json!("firmware"), json!("update")),
            ]
        );
    }
}
