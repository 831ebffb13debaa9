//! Any text: parsing (strict and lenient), validating and writing back must
//! not panic; what parses must serialize (JSON and YAML) and re-parse to
//! the same objects; the direct YAML reading gives what the reference
//! reading through `serde_json::Value` gives, errors included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metal3_hostmodel::manifest::{self, ParseOptions};
use metal3_hostmodel::validation;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for strict in [true, false] {
        let options = ParseOptions { strict };
        let results = manifest::parse_each(text, options);
        assert_eq!(
            results,
            manifest::parse_each_via_values(text, options),
            "direct vs Value reading"
        );
        let Ok(results) = results else {
            continue;
        };
        let objects: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
        let _ = validation::validate_objects(&objects);
        if let Ok(json) = manifest::to_json(&objects) {
            let again = manifest::parse_str(&json, ParseOptions { strict: true });
            assert_eq!(again.as_ref().ok(), Some(&objects), "JSON round trip: {json}");
        }
        if let Ok(yaml) = manifest::to_yaml(&objects) {
            let again = manifest::parse_str(&yaml, ParseOptions { strict: true });
            assert_eq!(again.as_ref().ok(), Some(&objects), "YAML round trip: {yaml}");
        }
    }
});
