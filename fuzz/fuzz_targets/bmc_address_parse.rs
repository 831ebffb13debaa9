//! Any text as `spec.bmc.address`: no panic, and a parsed address answers
//! every accessor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metal3_bmc::address::BmcAddress;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match BmcAddress::parse(text) {
        Ok(a) => {
            let _ = (a.scheme(), a.driver(), a.hostname(), a.port(), a.path(), a.query());
            let _ = (a.effective_port(), a.host_port(), a.http_base_url(), a.summary());
            let _ = a.to_string();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
