//! Any JSON body a BMC might answer with, through every Redfish response
//! mapper the client runs: none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metal3_bmc::redfish::parse::{self, InventoryParts};
use metal3_bmc::{BootDevice, BootOverride, PowerAction};
use serde_json::Value;

fn array(v: &Value, key: &str) -> Option<Vec<Value>> {
    v.get(key).and_then(Value::as_array).cloned()
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = parse::error_message(&v);
    let _ = parse::supports_expand(&v);
    let _ = parse::sessions_link(&v);
    let _ = parse::detect_vendor(&v, v.get("Manufacturer").and_then(Value::as_str));
    let _ = parse::power_state(&v);
    let allowed = parse::allowed_reset_types(&v);
    let _ = parse::reset_target(&v, "/redfish/v1/Systems/1");
    for a in [PowerAction::On, PowerAction::PowerCycle, PowerAction::GracefulRestart] {
        let _ = parse::plan_reset(a, allowed.as_deref());
    }
    let boot = BootOverride {
        device: BootDevice::UefiHttp,
        persistent: false,
        mode: None,
        http_boot_uri: Some("http://127.0.0.1/x.efi".into()),
    };
    let _ = parse::boot_patch(&v, &boot);
    let _ = parse::boot_override(&v);
    let _ = parse::is_cd_slot(&v);
    let _ = parse::media_status("/redfish/v1/Managers/1/VirtualMedia/Cd", &v);
    let _ = parse::media_action_target(&v, "InsertMedia");
    let parts = InventoryParts {
        processors: array(&v, "Processors"),
        memory: array(&v, "Memory"),
        nics: array(&v, "Nics"),
        drives: array(&v, "Drives"),
    };
    let _ = parse::cpu_from(&v, parts.processors.as_deref());
    let _ = parse::ram_mebibytes(&v, parts.memory.as_deref());
    let _ = parse::nic_from(&v);
    let _ = parse::disk_from(&v);
    let _ = parse::hardware_details(&v, &parts);
    let _ = parse::firmware_component(&v);
    for status in [200, 202, 404, 500] {
        let _ = parse::task_poll(status, &v);
    }
    if let Some(members) = v.get("Members").and_then(Value::as_array) {
        let links: Vec<String> = members
            .iter()
            .filter_map(|m| m.get("@odata.id").and_then(Value::as_str).map(str::to_string))
            .collect();
        let _ = parse::choose_system(&links);
    }
});
