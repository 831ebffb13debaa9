//! Every schema-valid upstream manifest parses strictly and serializes back
//! to the same document; the known-invalid ones fail at the expected field.

// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use metal3_hostmodel::manifest::{self, ManifestError, ParseOptions};
use serde_json::Value;

/// `../shared` beside the repository, or `$METAL3_SHARED`.
fn shared() -> PathBuf {
    let dir = std::env::var_os("METAL3_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    assert!(
        dir.join("fixtures/upstream/bmh").is_dir(),
        "shared fixtures not found at {}: set METAL3_SHARED to the shared/ directory",
        dir.display()
    );
    dir
}

fn bmh_dir() -> PathBuf {
    shared().join("fixtures/upstream/bmh")
}

/// Files INDEX.md marks as not schema-valid.
const INVALID: &[&str] = &[
    "baremetal-operator__config_samples_metal3.io_v1alpha1_baremetalhost.yaml",
    "metal3-docs__introduction__1.yaml",
    "metal3-docs__status_annotation__0.yaml",
    "baremetal-operator__metal3.io_v1alpha1_firmwareschema.yaml",
    "baremetal-operator__metal3.io_v1alpha1_hostfirmwarecomponents.yaml",
    "baremetal-operator__metal3.io_v1alpha1_hostfirmwaresettings.yaml",
    // Not listed in INDEX.md, but the scaffold has `spec.foo` like the BMH one.
    "baremetal-operator__metal3.io_v1alpha1_preprovisioningimage.yaml",
    // `QuietBoot: true`: a boolean is not an int-or-string, the API server
    // refuses it as well.
    "metal3-docs__firmware_settings__2.yaml",
];

/// Kinds in the fixtures that metal3-rs does not model (yet).
const UNMODELLED: &[&str] = &[
    "Machine",
    "BareMetalSwitch",
    "HostClaim",
    "HostDeployPolicy",
];

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// `key: null` and an absent key are the same object to the API server
/// (e.g. `status:` with only a comment under it).
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

#[test]
fn valid_fixtures_round_trip() {
    let mut files = yaml_files(&bmh_dir());
    files.extend(yaml_files(&bmh_dir().join("other_crds")));
    let mut checked = 0;
    for file in files.iter().filter(|f| !INVALID.contains(&name(f))) {
        let text = std::fs::read_to_string(file).unwrap();
        let docs = manifest::read_documents(&text).unwrap();
        for (i, doc) in docs.into_iter().enumerate() {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            if UNMODELLED.contains(&kind.as_str()) {
                // The whole file must then be refused, naming the document.
                let err = manifest::parse_str(&text, ParseOptions::default()).unwrap_err();
                assert!(
                    matches!(&err, ManifestError::UnknownKind { kind: k, .. } if *k == kind),
                    "{}: {err}",
                    name(file)
                );
                continue;
            }
            let obj = manifest::parse_value(doc.clone(), ParseOptions::default())
                .unwrap_or_else(|e| panic!("{} doc {i}: {e:?}", name(file)));
            let back: Value = serde_json::to_value(&obj).unwrap();
            assert_eq!(
                without_nulls(back),
                without_nulls(doc),
                "{} doc {i} does not round-trip",
                name(file)
            );
            // And through our own YAML writer and reader.
            let yaml = manifest::to_yaml(std::slice::from_ref(&obj)).unwrap();
            let again = manifest::parse_str(&yaml, ParseOptions::default()).unwrap();
            assert_eq!(again, vec![obj], "{} doc {i} via YAML", name(file));
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} documents checked");
}

#[test]
fn config_sample_fails_on_online_and_foo() {
    let file = bmh_dir().join(INVALID[0]);
    let text = std::fs::read_to_string(file).unwrap();
    let results = manifest::parse_each(&text, ParseOptions::default()).unwrap();
    let errs = results.into_iter().next().unwrap().unwrap_err();
    let paths: Vec<&str> = errs.iter().filter_map(ManifestError::path).collect();
    assert_eq!(paths, ["spec.online", "spec.foo"]);
    assert_eq!(
        errs[0].to_string(),
        "document 0 (BareMetalHost/default/baremetalhost-sample): spec.online: Required value"
    );
    assert_eq!(
        errs[1].to_string(),
        "document 0 (BareMetalHost/default/baremetalhost-sample): spec.foo: unknown field"
    );
}

#[test]
fn other_invalid_fixtures_fail_with_paths() {
    let cases = [
        (
            "other_crds/baremetal-operator__metal3.io_v1alpha1_preprovisioningimage.yaml",
            "spec.foo",
        ),
        (
            "other_crds/baremetal-operator__metal3.io_v1alpha1_hostfirmwaresettings.yaml",
            "spec.settings",
        ),
        (
            "other_crds/baremetal-operator__metal3.io_v1alpha1_hostfirmwarecomponents.yaml",
            "spec.updates[0].component",
        ),
        (
            "other_crds/baremetal-operator__metal3.io_v1alpha1_firmwareschema.yaml",
            "status.referenceCount",
        ),
        (
            "other_crds/metal3-docs__firmware_settings__2.yaml",
            "spec.settings.QuietBoot",
        ),
    ];
    for (file, path) in cases {
        let text = std::fs::read_to_string(bmh_dir().join(file)).unwrap();
        let results = manifest::parse_each(&text, ParseOptions::default()).unwrap();
        let errs = results.into_iter().next().unwrap().unwrap_err();
        let paths: Vec<&str> = errs.iter().filter_map(ManifestError::path).collect();
        assert!(paths.contains(&path), "{file}: {paths:?}");
        if path == "spec.settings.QuietBoot" {
            assert_eq!(errs[0].message(), "must be an integer or a string");
        }
    }
}

#[test]
fn lenient_parse_drops_unknown_fields() {
    let file = bmh_dir().join(INVALID[0]);
    let text = std::fs::read_to_string(file)
        .unwrap()
        .replace("spec:\n", "spec:\n  online: true\n");
    assert!(manifest::parse_str(&text, ParseOptions::default()).is_err());
    let objs = manifest::parse_str(&text, ParseOptions { strict: false }).unwrap();
    let v = serde_json::to_value(&objs[0]).unwrap();
    assert!(v["spec"].get("foo").is_none());
    assert_eq!(v["spec"]["networkInterfaces"][1]["name"], "ens3f1");
}

#[test]
fn partial_status_parses_but_gains_go_defaults() {
    // The status written by older controllers lacks fields Go always writes
    // today; it is accepted, and written back complete.
    for file in [
        "metal3-docs__introduction__1.yaml",
        "metal3-docs__status_annotation__0.yaml",
    ] {
        let text = std::fs::read_to_string(bmh_dir().join(file)).unwrap();
        let doc = manifest::read_documents(&text).unwrap().remove(0);
        let obj = manifest::parse_value(doc.clone(), ParseOptions::default()).unwrap();
        let back = serde_json::to_value(&obj).unwrap();
        assert_ne!(back, doc, "{file}");
        assert_eq!(back["spec"], doc["spec"], "{file}");
        assert_eq!(back["metadata"], doc["metadata"], "{file}");
    }
}
