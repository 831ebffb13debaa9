//! Any bytes a BMC might answer with, taken the way the client takes them:
//! the body turned into JSON (or refused), the message of an error answer,
//! then every mapper the `redfish_parse` target does not already run (service
//! root, manager and vendor, `$expand` levels, links and collections, BIOS
//! settings, virtual media slot names) and the inventory as Metal³ JSON.
//! None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metal3_bmc::redfish::parse::{self, InventoryParts};
use serde_json::Value;

fn array(v: &Value, key: &str) -> Option<Vec<Value>> {
    v.get(key).and_then(Value::as_array).cloned()
}

fuzz_target!(|data: &[u8]| {
    // reqwest hands the transport text decoded lossily the same way.
    let text = String::from_utf8_lossy(data);
    let _ = parse::http_error_message(&text, "Bad Request");
    let Ok(v) = parse::response_body(&text) else {
        return;
    };
    let _ = parse::str_at(&v, "@odata.etag");
    let _ = parse::vendor_from_root(&v);
    let _ = parse::vendor_from_system(&v);
    let _ = parse::vendor_from_manager(&v);
    let _ = parse::expand_max_levels(&v);
    let _ = parse::sessions_link(&v);
    for key in [
        "Systems",
        "VirtualMedia",
        "Bios",
        "SecureBoot",
        "UpdateService",
    ] {
        let _ = parse::link(&v, key);
    }
    let _ = parse::managers(&v);
    let members = parse::member_links(&v);
    for m in &members {
        let _ = parse::names_cd_slot(m);
    }
    if let Some(list) = v.get("Members").and_then(Value::as_array) {
        for m in list {
            let _ = parse::is_expanded(m);
            let _ = parse::is_cd_slot(m);
        }
    }
    let id = parse::str_at(&v, "@odata.id").unwrap_or("/redfish/v1/Systems/1/Bios");
    let _ = parse::is_resource(&v, id);
    let _ = parse::names_cd_slot(id);
    let _ = parse::bios_settings_path(id, &v);
    let _ = parse::media_status(id, &v);
    let parts = InventoryParts {
        processors: array(&v, "Processors"),
        memory: array(&v, "Memory"),
        nics: array(&v, "Nics"),
        drives: array(&v, "Drives"),
    };
    let h = parse::hardware_details(&v, &parts);
    assert!(serde_json::to_string(&h).is_ok());
});
