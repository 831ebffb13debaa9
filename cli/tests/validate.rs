//! `metal3ctl validate` run as a user would: the built binary on files.

// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn metal3ctl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh directory under the system temp dir for one test.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("metal3ctl-validate-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const HOST: &str = "apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata:
  name: h1
  namespace: lab
spec:
  online: true
  bootMACAddress: \"00:11:22:33:44:55\"
  bmc:
    address: redfish://10.0.0.1/redfish/v1/Systems/1
    credentialsName: h1-bmc
";

#[test]
fn valid_directory_exits_zero() {
    let d = temp_dir("valid");
    std::fs::write(d.join("a.yaml"), HOST).unwrap();
    std::fs::write(
        d.join("b.json"),
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"h1-bmc","namespace":"lab"},"stringData":{"username":"u","password":"p"}}"#,
    )
    .unwrap();
    std::fs::write(d.join("notes.txt"), "not a manifest").unwrap();
    let out = metal3ctl(&["validate", "-f", d.to_str().unwrap()], None);
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), "2 objects valid\n");
    assert!(out.status.success());
}

#[test]
fn problems_one_per_line_and_nonzero_exit() {
    let d = temp_dir("invalid");
    let bad = HOST
        .replace(
            "  online: true\n",
            "  online: false\n  disablePowerOff: true\n",
        )
        .replace("    address:", "    adress: x\n    address:");
    let f = d.join("bad.yaml");
    std::fs::write(
        &f,
        format!(
            "{bad}---\n{}",
            HOST.replace("name: h1", "name: 8f2c1a8e-3b4d-4a5e-9f6a-7b8c9d0e1f2a")
        ),
    )
    .unwrap();
    let out = metal3ctl(&["validate", "-f", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "BareMetalHost/lab/h1: spec.bmc.adress: unknown field\n\
         BareMetalHost/lab/8f2c1a8e-3b4d-4a5e-9f6a-7b8c9d0e1f2a: metadata.name: BareMetalHost resource name cannot be a UUID\n"
    );
    // --lenient drops the typo; the webhook rule still fires.
    let out = metal3ctl(&["validate", "--lenient", "-f", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "BareMetalHost/lab/h1: spec.disablePowerOff: node can't simultaneously have online set to false and have power off disabled\n\
         BareMetalHost/lab/8f2c1a8e-3b4d-4a5e-9f6a-7b8c9d0e1f2a: metadata.name: BareMetalHost resource name cannot be a UUID\n"
    );
}

#[test]
fn stdin_and_json_output_keep_objects_as_written() {
    let out = metal3ctl(&["validate", "-f", "-", "-o", "json"], Some(HOST));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "metadata": {"name": "h1", "namespace": "lab"},
            "spec": {
                "online": true,
                "bootMACAddress": "00:11:22:33:44:55",
                "bmc": {"address": "redfish://10.0.0.1/redfish/v1/Systems/1", "credentialsName": "h1-bmc"}
            }
        }])
    );
    // YAML output reads back to the same objects.
    let out = metal3ctl(&["validate", "-f", "-", "-o", "yaml"], Some(HOST));
    assert!(out.status.success());
    let again = metal3ctl(
        &["validate", "-f", "-", "-o", "json"],
        Some(&text(&out.stdout)),
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&again.stdout).unwrap(),
        v
    );
}

#[test]
fn unreadable_input_exits_two() {
    let out = metal3ctl(&["validate", "-f", "/nonexistent/hosts.yaml"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("error: /nonexistent/hosts.yaml: "),
        "{}",
        text(&out.stderr)
    );
    let out = metal3ctl(&["validate", "-f", "-"], Some("a: [1,\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("<stdin>: syntax error"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_has_an_example() {
    let out = metal3ctl(&["validate", "--help"], None);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("metal3ctl validate -f hosts.yaml"));
}

#[test]
fn own_sample_hosts_are_valid() {
    let out = metal3ctl(
        &[
            "validate",
            "-f",
            repo().join("fixtures/hosts").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), "10 objects valid\n");
}

#[test]
fn each_invalid_fixture_reports_its_expected_line() {
    let dir = repo().join("fixtures/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 8);
    for f in files {
        let content = std::fs::read_to_string(&f).unwrap();
        let expect = content
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no '# expect:' first line", f.display()));
        let out = metal3ctl(&["validate", "-f", f.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(1), "{}", f.display());
        assert_eq!(text(&out.stderr), format!("{expect}\n"), "{}", f.display());
    }
}

/// `../shared` beside the repository, or `$METAL3_SHARED`.
fn shared_bmh() -> PathBuf {
    let dir = std::env::var_os("METAL3_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared"));
    let bmh = dir.join("fixtures/upstream/bmh");
    assert!(
        bmh.is_dir(),
        "shared fixtures not found at {}: set METAL3_SHARED",
        bmh.display()
    );
    bmh
}

#[test]
fn upstream_examples() {
    let bmh = shared_bmh();
    let example = bmh.join("baremetal-operator__examples_example-host.yaml");
    let out = metal3ctl(&["validate", "-f", example.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "2 objects valid\n");

    let sample =
        bmh.join("baremetal-operator__config_samples_metal3.io_v1alpha1_baremetalhost.yaml");
    let out = metal3ctl(&["validate", "-f", sample.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "BareMetalHost/default/baremetalhost-sample: spec.online: Required value\n\
         BareMetalHost/default/baremetalhost-sample: spec.foo: unknown field\n"
    );

    // The whole directory: the known-bad sample, a Machine (not a kind of
    // ours) and the example whose Secret lacks a password, nothing else.
    let out = metal3ctl(&["validate", "-f", bmh.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert_eq!(
        lines[0],
        "BareMetalHost/default/baremetalhost-sample: spec.online: Required value"
    );
    assert_eq!(
        lines[1],
        "BareMetalHost/default/baremetalhost-sample: spec.foo: unknown field"
    );
    assert!(lines[2].starts_with("Machine/openshift-machine-api/demo-ostest-worker: kind: unsupported kind machine.openshift.io/v1beta1/Machine; supported kinds: "), "{err}");
    assert_eq!(lines[3], "BareMetalHost/default/example-baremetalhost: spec.bmc.credentialsName: Secret example-baremetalhost-secret-no-password: Missing BMC connection details 'password' in credentials");
}

/// Provisioner settings are only checked by commands that drive hosts: a
/// malformed `IRONIC_INSECURE` does not stop an offline `validate`, while a
/// store command refuses it and names the setting.
#[test]
fn offline_commands_ignore_provisioner_settings() {
    let file = repo().join("fixtures/hosts/ipmi.yaml");
    let file = file.to_str().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
            .args(args)
            .env("IRONIC_ENDPOINT", "http://127.0.0.1:9")
            .env("IRONIC_INSECURE", "maybe")
            .output()
            .unwrap()
    };
    let out = run(&["validate", "-f", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = temp_dir("offline-settings");
    let store = dir.join("store.db");
    let out = run(&["get", "bmh", "--store", store.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("IRONIC_INSECURE"),
        "{}",
        text(&out.stderr)
    );
}
