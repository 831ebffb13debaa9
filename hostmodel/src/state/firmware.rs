//! HostFirmwareSettings as BMO's HFS controller keeps it, as pure functions:
//! the status from the settings the BMC reports (`status.settings`,
//! `lastUpdated`, the `ChangeDetected` and `Valid` conditions), whether the
//! host has a valid pending change (which sends an available host to
//! `preparing`), and which settings to write.

use std::collections::BTreeMap;

use crate::meta::{Condition, IntOrString};
use crate::other::{HostFirmwareSettings, HostFirmwareSettingsStatus, SettingSchema};
use crate::time::Time;

/// Condition type: `spec.settings` differs from `status.settings`.
pub const CHANGE_DETECTED: &str = "ChangeDetected";
/// Condition type: `spec.settings` are valid for this host.
pub const VALID: &str = "Valid";
/// Condition reason when all is well.
pub const REASON_SUCCESS: &str = "Success";
/// Condition reason of an invalid `spec.settings`.
pub const REASON_CONFIGURATION_ERROR: &str = "ConfigurationError";

/// The settings a host's firmware reports, and their rules when the
/// provisioner knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentFirmwareSettings {
    /// Setting name → current value as text.
    pub settings: BTreeMap<String, String>,
    /// Setting name → rules (None: the BMC publishes no registry).
    pub schema: Option<BTreeMap<String, SettingSchema>>,
}

/// Why each invalid `spec.settings` entry is invalid (empty: all valid).
/// With a schema the rules are the FirmwareSchema ones; without, a name
/// must be one the firmware reports. Password settings are never set.
pub fn invalid_settings(
    spec: &BTreeMap<String, IntOrString>,
    current: &CurrentFirmwareSettings,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in spec {
        let why = match &current.schema {
            Some(schema) => match schema.get(name) {
                None => Some("it is not in the associated schema".to_string()),
                Some(rule) => crate::validation::check_setting(name, value, rule).err(),
            },
            None if name.contains("Password") => Some("Password fields can't be set".into()),
            None if !current.settings.contains_key(name) => {
                Some("the firmware does not report this setting".to_string())
            }
            None => None,
        };
        if let Some(why) = why {
            out.push(format!("Setting {name} is invalid, {why}"));
        }
    }
    out
}

/// A firmware setting value as text: the one form `status.settings` holds,
/// spec values are compared in and BIOS values are sent to a BMC or Ironic.
///
/// A string is itself; a number or boolean is written as JSON writes it
/// (`10`, `1.5`, `true`), so the int `10` of an int-or-string spec value
/// equals a BIOS's `"10"` or `10`. Null is the empty string: only a BMC
/// reports it (an attribute with no value), and `status.settings` is a
/// map of strings; a spec value cannot be null (int-or-string, and null
/// in a merge patch removes the key). Arrays and objects, which no BIOS
/// attribute should be, are compact JSON rather than dropped.
pub fn setting_value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// [`setting_value_text`] of an int-or-string `spec.settings` value.
fn spec_value_text(value: &IntOrString) -> String {
    let json = match value {
        IntOrString::Int(i) => serde_json::Value::from(*i),
        IntOrString::String(s) => serde_json::Value::from(s.as_str()),
    };
    setting_value_text(&json)
}

/// The `spec.settings` entries whose value differs from `status.settings`
/// (as [`setting_value_text`]; a missing one differs), i.e. what preparing
/// must write.
pub fn changed_settings(hfs: &HostFirmwareSettings) -> BTreeMap<String, String> {
    let empty = BTreeMap::new();
    let status = hfs
        .status
        .as_ref()
        .and_then(|s| s.settings.as_ref())
        .unwrap_or(&empty);
    hfs.spec
        .iter()
        .flat_map(|s| s.settings.iter())
        .map(|(k, v)| (k.clone(), spec_value_text(v)))
        .filter(|(k, v)| status.get(k) != Some(v))
        .collect()
}

fn condition(
    old: Option<&HostFirmwareSettingsStatus>,
    type_: &str,
    holds: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if holds { "True" } else { "False" };
    let previous = old
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_));
    // The transition time moves only when the status does.
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time,
        _ => Some(*now),
    };
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        observed_generation: generation,
        last_transition_time,
        reason: reason.to_string(),
        message,
    }
}

/// The status of `hfs` once the firmware reported `current` at `now`:
/// `settings` without password settings, `lastUpdated` moved only when
/// they changed, `ChangeDetected` (spec differs from the new settings) and
/// `Valid` (with the reasons of the invalid entries in its message), both
/// for the object's current generation.
pub fn firmware_settings_status(
    hfs: &HostFirmwareSettings,
    current: &CurrentFirmwareSettings,
    now: &Time,
) -> HostFirmwareSettingsStatus {
    let old = hfs.status.as_ref();
    let settings: BTreeMap<String, String> = current
        .settings
        .iter()
        .filter(|(k, _)| !k.contains("Password"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let last_updated = match old {
        Some(o) if o.settings.as_ref() == Some(&settings) && o.last_updated.is_some() => {
            o.last_updated
        }
        _ => Some(*now),
    };
    let mut next = HostFirmwareSettingsStatus {
        schema: old.and_then(|o| o.schema.clone()),
        settings: Some(settings),
        last_updated,
        conditions: None,
    };
    let probe = HostFirmwareSettings {
        spec: hfs.spec.clone(),
        status: Some(next.clone()),
        ..HostFirmwareSettings::default()
    };
    let changed = !changed_settings(&probe).is_empty();
    let empty = BTreeMap::new();
    let spec = hfs.spec.as_ref().map(|s| &s.settings).unwrap_or(&empty);
    let invalid = invalid_settings(spec, current);
    let generation = hfs.metadata.generation;
    next.conditions = Some(vec![
        condition(
            old,
            CHANGE_DETECTED,
            changed,
            REASON_SUCCESS,
            String::new(),
            generation,
            now,
        ),
        if invalid.is_empty() {
            condition(
                old,
                VALID,
                true,
                REASON_SUCCESS,
                String::new(),
                generation,
                now,
            )
        } else {
            condition(
                old,
                VALID,
                false,
                REASON_CONFIGURATION_ERROR,
                format!("Invalid BIOS setting: {}", invalid.join("; ")),
                generation,
                now,
            )
        },
    ]);
    next
}

fn condition_true_for_generation(hfs: &HostFirmwareSettings, type_: &str) -> bool {
    hfs.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_))
        .is_some_and(|c| {
            c.status == "True"
                && (hfs.metadata.generation.is_none()
                    || c.observed_generation == hfs.metadata.generation)
        })
}

/// Whether `hfs` has a valid pending change (`ChangeDetected` and `Valid`
/// both true for the current generation): what sends an available host
/// to `preparing`.
pub fn firmware_settings_pending(hfs: &HostFirmwareSettings) -> bool {
    condition_true_for_generation(hfs, CHANGE_DETECTED) && condition_true_for_generation(hfs, VALID)
}

/// Whether the status was computed for the current spec (both conditions
/// observed the object's generation); when not, the firmware is read again.
pub fn firmware_settings_observed(hfs: &HostFirmwareSettings) -> bool {
    let Some(conditions) = hfs.status.as_ref().and_then(|s| s.conditions.as_ref()) else {
        return false;
    };
    [CHANGE_DETECTED, VALID].iter().all(|t| {
        conditions
            .iter()
            .any(|c| c.type_ == *t && c.observed_generation == hfs.metadata.generation)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::other::HostFirmwareSettingsSpec;

    fn hfs(spec: &[(&str, IntOrString)], generation: i64) -> HostFirmwareSettings {
        let mut h = HostFirmwareSettings {
            spec: Some(HostFirmwareSettingsSpec {
                settings: spec
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            }),
            ..HostFirmwareSettings::default()
        };
        h.metadata.generation = Some(generation);
        h
    }

    fn current() -> CurrentFirmwareSettings {
        CurrentFirmwareSettings {
            settings: [
                ("ProcTurboMode", "Enabled"),
                ("NumCores", "10"),
                ("SysPassword", ""),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            schema: None,
        }
    }

    fn cond<'a>(st: &'a HostFirmwareSettingsStatus, t: &str) -> &'a Condition {
        st.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
    }

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.into())
    }

    #[test]
    fn a_changed_valid_setting_is_pending_until_the_firmware_reports_it() {
        let t0: Time = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: Time = "2026-01-01T00:05:00Z".parse().unwrap();
        let mut h = hfs(
            &[
                ("ProcTurboMode", s("Disabled")),
                ("NumCores", IntOrString::Int(10)),
            ],
            2,
        );
        assert!(!firmware_settings_observed(&h));
        let st = firmware_settings_status(&h, &current(), &t0);
        // Passwords are not reported.
        assert!(!st.settings.as_ref().unwrap().contains_key("SysPassword"));
        assert_eq!(st.last_updated, Some(t0));
        assert_eq!(cond(&st, CHANGE_DETECTED).status, "True");
        assert_eq!(cond(&st, VALID).status, "True");
        assert_eq!(cond(&st, VALID).observed_generation, Some(2));
        h.status = Some(st);
        assert!(firmware_settings_observed(&h));
        assert!(firmware_settings_pending(&h));
        // 10 as a number equals "10" as text: only the turbo mode changes.
        assert_eq!(
            changed_settings(&h),
            BTreeMap::from([("ProcTurboMode".to_string(), "Disabled".to_string())])
        );
        // A spec edit (new generation) is not pending until observed.
        h.metadata.generation = Some(3);
        assert!(!firmware_settings_pending(&h));
        assert!(!firmware_settings_observed(&h));
        h.metadata.generation = Some(2);

        // The firmware now reports the wanted value: no change, new lastUpdated.
        let mut applied = current();
        applied
            .settings
            .insert("ProcTurboMode".into(), "Disabled".into());
        let st2 = firmware_settings_status(&h, &applied, &t1);
        assert_eq!(cond(&st2, CHANGE_DETECTED).status, "False");
        assert_eq!(cond(&st2, CHANGE_DETECTED).last_transition_time, Some(t1));
        // Valid did not change: its transition time stays.
        assert_eq!(cond(&st2, VALID).last_transition_time, Some(t0));
        assert_eq!(st2.last_updated, Some(t1));
        h.status = Some(st2.clone());
        assert!(!firmware_settings_pending(&h));
        assert!(changed_settings(&h).is_empty());
        // Same settings again: lastUpdated kept.
        let t2: Time = "2026-01-01T00:10:00Z".parse().unwrap();
        let st3 = firmware_settings_status(&h, &applied, &t2);
        assert_eq!(st3.last_updated, st2.last_updated);
    }

    #[test]
    fn a_setting_value_has_one_text_form() {
        use serde_json::json;
        assert_eq!(setting_value_text(&json!("Enabled")), "Enabled");
        assert_eq!(setting_value_text(&json!("")), "");
        // Text that looks like another type stays as written.
        assert_eq!(setting_value_text(&json!("True")), "True");
        assert_eq!(setting_value_text(&json!("null")), "null");
        assert_eq!(setting_value_text(&json!(true)), "true");
        assert_eq!(setting_value_text(&json!(false)), "false");
        assert_eq!(setting_value_text(&json!(10)), "10");
        assert_eq!(setting_value_text(&json!(-3)), "-3");
        assert_eq!(setting_value_text(&json!(1.5)), "1.5");
        assert_eq!(setting_value_text(&json!(u64::MAX)), u64::MAX.to_string());
        // No value is no text, not the word "null".
        assert_eq!(setting_value_text(&json!(null)), "");
        assert_eq!(setting_value_text(&json!([1, "a"])), r#"[1,"a"]"#);
        // An int-or-string spec value takes the same form as its JSON.
        assert_eq!(spec_value_text(&IntOrString::Int(10)), "10");
        assert_eq!(spec_value_text(&s("10")), "10");
        assert_eq!(spec_value_text(&s("")), "");
    }

    #[test]
    fn changed_settings_compare_by_text() {
        let mut h = hfs(
            &[
                ("NumCores", IntOrString::Int(10)),
                ("QuietBoot", s("true")),
                ("Label", s("")),
                ("ProcTurboMode", s("Disabled")),
                ("NotReported", s("x")),
            ],
            1,
        );
        // The status as a BMC reporting 10, true and null would give it.
        let reported = serde_json::json!({
            "NumCores": 10, "QuietBoot": true, "Label": null, "ProcTurboMode": "Enabled"
        });
        let settings = reported
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), setting_value_text(v)))
            .collect();
        h.status = Some(HostFirmwareSettingsStatus {
            settings: Some(settings),
            ..HostFirmwareSettingsStatus::default()
        });
        assert_eq!(
            changed_settings(&h),
            BTreeMap::from([
                ("NotReported".to_string(), "x".to_string()),
                ("ProcTurboMode".to_string(), "Disabled".to_string()),
            ])
        );
        // Without a status every spec entry is a change.
        h.status = None;
        assert_eq!(changed_settings(&h).len(), 5);
    }

    #[test]
    fn unknown_and_password_settings_are_invalid_and_never_pending() {
        let t0: Time = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut h = hfs(&[("NoSuchKnob", s("On")), ("SysPassword", s("secret"))], 1);
        let st = firmware_settings_status(&h, &current(), &t0);
        let valid = cond(&st, VALID);
        assert_eq!(valid.status, "False");
        assert_eq!(valid.reason, REASON_CONFIGURATION_ERROR);
        assert!(
            valid.message.contains("Setting NoSuchKnob is invalid"),
            "{}",
            valid.message
        );
        assert!(valid.message.contains("SysPassword"), "{}", valid.message);
        assert!(!valid.message.contains("secret"), "{}", valid.message);
        assert_eq!(cond(&st, CHANGE_DETECTED).status, "True");
        h.status = Some(st);
        assert!(!firmware_settings_pending(&h));
    }

    #[test]
    fn a_schema_decides_validity_when_known() {
        let mut cur = current();
        cur.schema = Some(BTreeMap::from([
            (
                "ProcTurboMode".to_string(),
                SettingSchema {
                    attribute_type: Some("Enumeration".into()),
                    allowable_values: Some(vec!["Enabled".into(), "Disabled".into()]),
                    ..SettingSchema::default()
                },
            ),
            (
                "NumCores".to_string(),
                SettingSchema {
                    attribute_type: Some("Integer".into()),
                    lower_bound: Some(1),
                    upper_bound: Some(64),
                    ..SettingSchema::default()
                },
            ),
        ]));
        let spec = |k: &str, v: IntOrString| BTreeMap::from([(k.to_string(), v)]);
        assert!(invalid_settings(&spec("ProcTurboMode", s("Disabled")), &cur).is_empty());
        assert_eq!(
            invalid_settings(&spec("ProcTurboMode", s("Maybe")), &cur),
            ["Setting ProcTurboMode is invalid, unknown enumeration value - Maybe"]
        );
        assert_eq!(
            invalid_settings(&spec("NumCores", IntOrString::Int(100)), &cur),
            ["Setting NumCores is invalid, integer 100 is above maximum value 64"]
        );
        assert_eq!(
            invalid_settings(&spec("Other", s("x")), &cur),
            ["Setting Other is invalid, it is not in the associated schema"]
        );
    }
}
