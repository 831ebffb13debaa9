//! The store verbs run as the built `metal3ctl` binary against a temporary store.

// Test helpers outside #[test] fns: failing loudly is their job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh store directory, removed when dropped.
struct Env {
    dir: PathBuf,
}

impl Env {
    fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("metal3ctl-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Env { dir }
    }

    fn store(&self) -> PathBuf {
        self.dir.join("state").join("store.db")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_metal3ctl"));
        c.args(args).env("METAL3CTL_STORE", self.store());
        c
    }

    /// Runs metal3ctl with `stdin` as its input.
    fn run_in(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_in(args, "")
    }

    /// Runs and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The shared fixtures: `METAL3_SHARED` or `../../shared` from this crate.
fn fixture(rel: &str) -> String {
    let base = std::env::var_os("METAL3_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let p = base.join("fixtures/upstream/bmh").join(rel);
    assert!(
        p.exists(),
        "fixture {} missing; set METAL3_SHARED",
        p.display()
    );
    p.display().to_string()
}

const EXAMPLE: &str = "baremetal-operator__examples_example-host.yaml";
const SYNTHETIC: &str = "synthetic__all_fields.yaml";

const OWN: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: rack1-bmc
stringData:
  username: admin
  password: s3cr3t-Value
---
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata:
  name: rack1-host-0
  labels:
    rack: r1
spec:
  online: false
  bootMACAddress: 52:54:00:00:00:01
  bmc:
    address: redfish://10.0.0.5/redfish/v1/Systems/1
    credentialsName: rack1-bmc
";

#[test]
fn apply_get_describe_upstream_examples() {
    let env = Env::new();
    let out = env.ok(&["apply", "-f", &fixture(EXAMPLE)]);
    assert_eq!(
        out,
        "secret/example-baremetalhost-secret created\nbaremetalhost.metal3.io/example-baremetalhost created\n"
    );
    let out = env.ok(&["apply", "-f", &fixture(EXAMPLE)]);
    assert!(
        out.contains("baremetalhost.metal3.io/example-baremetalhost unchanged"),
        "{out}"
    );

    let table = env.ok(&["get", "bmh"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "STATE", "CONSUMER", "ONLINE", "ERROR", "AGE"]
    );
    assert!(lines[1].starts_with("example-baremetalhost   "), "{table}");
    assert!(lines[1].contains(" true "), "{table}");
    let age = lines[1].split_whitespace().last().unwrap();
    assert!(age.ends_with('s'), "age {age}");

    let wide = env.ok(&["get", "baremetalhosts", "-o", "wide"]);
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "STATUS", "STATE", "CONSUMER", "BMC", "ONLINE", "ERROR", "AGE"]
    );
    assert!(wide.contains("ipmi://192.168.122.1:6233"), "{wide}");

    // The synthetic host carries status and hardware: columns and describe.
    env.ok(&["apply", "-f", &fixture(SYNTHETIC)]);
    let all = env.ok(&["get", "bmhost", "-A"]);
    let row = all
        .lines()
        .find(|l| l.contains("synthetic-host-0"))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..5],
        [
            "metal3",
            "synthetic-host-0",
            "provisioned",
            "worker-0",
            "true"
        ],
        "{all}"
    );
    assert!(
        all.lines().next().unwrap().starts_with("NAMESPACE   NAME"),
        "{all}"
    );

    let d = env.ok(&["describe", "bmh", "synthetic-host-0", "-n", "metal3"]);
    for want in [
        "Name:",
        "BMC address:",
        "redfish-virtualmedia+https://192.0.2.10:443",
        "State:",
        "provisioned",
        "Hardware:",
        "CPU:",
        "RAM:",
        "NICs:",
        "Disks:",
        "Operation history:",
        "Events:",
    ] {
        assert!(d.contains(want), "describe lacks {want:?}:\n{d}");
    }

    let names = env.ok(&["get", "secret", "-o", "name"]);
    assert_eq!(names, "secret/example-baremetalhost-secret\n");
    let missing = env.run(&["get", "bmh", "nope"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("BareMetalHost/default/nope: not found"),
        "{}",
        stderr(&missing)
    );
    let bad_kind = env.run(&["get", "pods"]);
    assert!(!bad_kind.status.success());
    assert!(stderr(&bad_kind).contains("unknown resource type \"pods\""));
}

#[test]
fn namespaces_default_and_flag() {
    let env = Env::new();
    let f = env.write("own.yaml", OWN);
    env.ok(&["apply", "-f", &f, "-n", "lab"]);
    let empty = env.run(&["get", "bmh"]);
    assert!(empty.status.success());
    assert_eq!(stdout(&empty), "");
    assert!(stderr(&empty).contains("No resources found in default namespace."));
    assert!(env
        .ok(&["get", "bmh", "-n", "lab"])
        .contains("rack1-host-0"));
    assert!(env.ok(&["get", "hd", "-A"]).is_empty());
}

#[test]
fn secrets_never_show_values_outside_yaml_and_json() {
    let env = Env::new();
    let f = env.write("own.yaml", OWN);
    env.ok(&["apply", "-f", &f]);
    let b64 = "czNjcjN0LVZhbHVl"; // base64 of the password
    for args in [
        &["get", "secrets"][..],
        &["get", "secret", "rack1-bmc", "-o", "wide"],
        &["describe", "secret", "rack1-bmc"],
        &["annotate", "secret", "rack1-bmc", "x=1"],
    ] {
        let out = env.run(args);
        let text = stdout(&out) + &stderr(&out);
        assert!(
            !text.contains("s3cr3t") && !text.contains(b64),
            "{args:?} leaked: {text}"
        );
    }
    let table = env.ok(&["get", "secrets"]);
    assert!(table.contains("rack1-bmc   Opaque   2"), "{table}");
    assert!(env
        .ok(&["describe", "secret", "rack1-bmc"])
        .contains("12 bytes"));
    // Like kubectl, yaml and json show the base64 data.
    assert!(env
        .ok(&["get", "secret", "rack1-bmc", "-o", "yaml"])
        .contains(b64));
    assert!(env
        .ok(&["get", "secret", "rack1-bmc", "-o", "json"])
        .contains(b64));
    // A bad data value is reported by key, not value.
    let bad = env.write(
        "bad.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\ndata:\n  password: not*base64\n",
    );
    let out = env.run(&["apply", "-f", &bad]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("data.password") && !stderr(&out).contains("not*base64"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn one_bad_document_means_nothing_is_written() {
    let env = Env::new();
    let bad = format!("{OWN}---\napiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\nmetadata:\n  name: typo\nspec:\n  online: true\n  bmc:\n    adress: ipmi://1.2.3.4\n");
    let f = env.write("bad.yaml", &bad);
    let out = env.run(&["apply", "-f", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("spec.bmc.adress: unknown field"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("nothing was applied"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
    assert!(env.ok(&["get", "bmh", "-A", "-o", "name"]).is_empty());
    assert!(env.ok(&["get", "secrets", "-A", "-o", "name"]).is_empty());
    // A directory is read as a whole: the bad file blocks the good one.
    let dir = env.dir.join("manifests");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.yaml"), OWN).unwrap();
    std::fs::write(dir.join("b.yaml"), "kind: BareMetalHost\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
    let out = env.run(&["apply", "-f", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("apiVersion: Required value"),
        "{}",
        stderr(&out)
    );
    assert!(env.ok(&["get", "bmh", "-A", "-o", "name"]).is_empty());
    std::fs::remove_file(dir.join("b.yaml")).unwrap();
    let out = env.ok(&["apply", "-f", dir.to_str().unwrap()]);
    assert_eq!(
        out,
        "secret/rack1-bmc created\nbaremetalhost.metal3.io/rack1-host-0 created\n"
    );
}

#[test]
fn yaml_and_json_round_trip_unchanged() {
    let env = Env::new();
    env.ok(&["apply", "-f", &fixture(SYNTHETIC)]);
    env.ok(&["apply", "-f", &fixture(EXAMPLE)]);
    let before = env.ok(&["get", "bmh", "-A", "-o", "yaml"]);
    let out = env.run_in(&["apply", "-f", "-"], &before);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "baremetalhost.metal3.io/example-baremetalhost unchanged\nbaremetalhost.metal3.io/synthetic-host-0 unchanged\n"
    );
    assert_eq!(env.ok(&["get", "bmh", "-A", "-o", "yaml"]), before);
    let single = env.ok(&[
        "get",
        "secret",
        "example-baremetalhost-secret",
        "-o",
        "json",
    ]);
    let out = env.run_in(&["apply", "-f", "-"], &single);
    assert_eq!(
        stdout(&out),
        "secret/example-baremetalhost-secret unchanged\n",
        "{}",
        stderr(&out)
    );

    // Exported objects import into a new store with their status.
    let other = Env::new();
    let out = other.run_in(&["apply", "-f", "-"], &before);
    assert!(out.status.success(), "{}", stderr(&out));
    let d = other.ok(&["get", "bmh", "synthetic-host-0", "-n", "metal3"]);
    assert!(d.contains("provisioned"), "{d}");
}

#[test]
fn apply_updates_spec_keeps_status_and_labels() {
    let env = Env::new();
    env.ok(&["apply", "-f", &fixture(SYNTHETIC)]);
    let mut yaml = env.ok(&[
        "get",
        "bmh",
        "synthetic-host-0",
        "-n",
        "metal3",
        "-o",
        "yaml",
    ]);
    assert!(yaml.contains("  online: true"));
    yaml = yaml.replacen("  online: true", "  online: false", 1);
    // A stale status in the input must not roll back the stored one.
    yaml = yaml.replace("state: provisioned", "state: available");
    let out = env.run_in(&["apply", "-f", "-"], &yaml);
    assert_eq!(
        stdout(&out),
        "baremetalhost.metal3.io/synthetic-host-0 configured\n",
        "{}",
        stderr(&out)
    );
    let row = env.ok(&["get", "bmh", "-n", "metal3"]);
    assert!(
        row.contains("provisioned") && row.contains("false") && !row.contains("available"),
        "{row}"
    );
    let json = env.ok(&[
        "get",
        "bmh",
        "synthetic-host-0",
        "-n",
        "metal3",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["metadata"]["generation"], 2,
        "a spec change bumps the generation"
    );
}

#[test]
fn annotate_like_kubectl() {
    let env = Env::new();
    env.ok(&["apply", "-f", &fixture(EXAMPLE)]);
    let out = env.ok(&[
        "annotate",
        "bmh",
        "example-baremetalhost",
        "baremetalhost.metal3.io/paused=true",
        "note=x",
    ]);
    assert_eq!(
        out,
        "baremetalhost.metal3.io/example-baremetalhost annotated\n"
    );
    let refused = env.run(&["annotate", "bmh", "example-baremetalhost", "note=y"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("BareMetalHost/default/example-baremetalhost")
            && stderr(&refused).contains("--overwrite")
    );
    env.ok(&[
        "annotate",
        "bmh",
        "example-baremetalhost",
        "note=y",
        "--overwrite",
    ]);
    env.ok(&[
        "annotate",
        "bmh",
        "example-baremetalhost",
        "baremetalhost.metal3.io/paused-",
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["get", "bmh", "example-baremetalhost", "-o", "json"]))
            .unwrap();
    assert_eq!(
        v["metadata"]["annotations"],
        serde_json::json!({"note": "y"})
    );
    let bad = env.run(&["annotate", "bmh", "example-baremetalhost", "justakey"]);
    assert!(!bad.status.success());
    let missing = env.run(&["annotate", "bmh", "ghost", "a=b"]);
    assert!(stderr(&missing).contains("BareMetalHost/default/ghost: not found"));
}

#[test]
fn delete_with_finalizers_and_wait() {
    let env = Env::new();
    let host = "apiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\nmetadata:\n  name: fin\n  finalizers: [baremetalhost.metal3.io, example.com/keep]\nspec:\n  online: true\n";
    let f = env.write("fin.yaml", host);
    env.ok(&["apply", "-f", &f]);
    let out = env.ok(&["delete", "bmh", "fin"]);
    assert_eq!(out, "baremetalhost.metal3.io \"fin\" marked for deletion (finalizers: baremetalhost.metal3.io, example.com/keep)\n");
    // Times out while a finalizer that is not the engine's stays.
    let start = std::time::Instant::now();
    let out = env.run(&["delete", "bmh", "fin", "--wait=300ms"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("timed out") && stderr(&out).contains("example.com/keep"),
        "{}",
        stderr(&out)
    );
    assert!(start.elapsed() >= std::time::Duration::from_millis(300));
    // Another process removes the finalizer while we wait (as the controller would).
    let waiter = env
        .cmd(&["delete", "bmh", "fin", "--wait=30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let json = env.ok(&["get", "bmh", "fin", "-o", "json"]);
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["metadata"]["deletionTimestamp"].is_string());
    v["metadata"]["finalizers"] = serde_json::json!([]);
    let store = metal3_provisioning_store(&env);
    update(&store, v);
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("baremetalhost.metal3.io \"fin\" deleted\n"),
        "{}",
        stdout(&out)
    );
    assert!(!env.run(&["get", "bmh", "fin"]).status.success());
    // Without finalizers the object goes at once.
    env.ok(&["apply", "-f", &fixture(EXAMPLE)]);
    assert_eq!(
        env.ok(&["delete", "secret", "example-baremetalhost-secret"]),
        "secret \"example-baremetalhost-secret\" deleted\n"
    );
    let gone = env.run(&["delete", "secret", "example-baremetalhost-secret"]);
    assert!(stderr(&gone).contains("Secret/default/example-baremetalhost-secret: not found"));
}

fn metal3_provisioning_store(env: &Env) -> metal3_provisioning::store::SqliteStore {
    metal3_provisioning::store::SqliteStore::open(env.store()).unwrap()
}

fn update(store: &metal3_provisioning::store::SqliteStore, obj: serde_json::Value) {
    use metal3_provisioning::store::Store;
    store.update(obj).unwrap();
}

#[test]
fn store_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.ok(&["apply", "-f", &fixture(EXAMPLE)]);
    let file = std::fs::metadata(env.store()).unwrap().permissions().mode() & 0o777;
    assert_eq!(file, 0o600);
    let dir = std::fs::metadata(env.store().parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir, 0o700);
    // The XDG default is used when no store is given.
    let out = Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(["apply", "-f", &fixture(EXAMPLE)])
        .env_remove("METAL3CTL_STORE")
        .env("XDG_DATA_HOME", env.dir.join("xdg"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.dir.join("xdg/metal3ctl/store.db").exists());
}

#[test]
fn concurrent_applies_from_two_processes() {
    let env = Env::new();
    let mut docs = String::new();
    for i in 0..20 {
        docs.push_str(&format!(
            "---\napiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\nmetadata:\n  name: c-{i:02}\nspec:\n  online: true\n  bmc:\n    address: ipmi://10.0.0.{i}\n    credentialsName: c-{i:02}-bmc\n"
        ));
    }
    let f = env.write("many.yaml", &docs);
    let spawn = || {
        env.cmd(&["apply", "-f", &f])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    // Each host is created by exactly one of the two.
    let created = |o: &Output| {
        stdout(o)
            .lines()
            .filter(|l| l.ends_with(" created"))
            .count()
    };
    assert_eq!(
        created(&a) + created(&b),
        20,
        "{}\n{}",
        stdout(&a),
        stdout(&b)
    );
    assert_eq!(env.ok(&["get", "bmh", "-o", "name"]).lines().count(), 20);
}

#[test]
fn every_command_has_help_with_an_example() {
    for verb in ["apply", "get", "describe", "delete", "annotate"] {
        let out = Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
            .args([verb, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{verb}");
        let text = stdout(&out);
        assert!(
            text.contains("Examples:") && text.contains(&format!("metal3ctl {verb} ")),
            "{verb}: {text}"
        );
        assert!(
            text.contains("--store") && text.contains("--namespace"),
            "{verb}: {text}"
        );
    }
}

#[test]
fn describe_lists_the_engines_events() {
    use metal3_provisioning::store::Store;
    let env = Env::new();
    env.ok(&["apply", "-f", &fixture(EXAMPLE)]);
    assert!(env
        .ok(&["describe", "bmh", "example-baremetalhost"])
        .contains("Events:                   <none>"));
    let store = metal3_provisioning_store(&env);
    let uid = store
        .get(&metal3_provisioning::store::ObjectKey::new(
            "BareMetalHost",
            "default",
            "example-baremetalhost",
        ))
        .unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    // The shape the reconcile engine records (core/v1 Event, the host
    // instance's uid in involvedObject and in the label).
    for (name, host, host_uid, reason, count) in [
        ("e1", "example-baremetalhost", uid.as_str(), "Registered", 1),
        ("e2", "other-host", "other-uid", "Deprovisioned", 1),
        (
            "e3",
            "example-baremetalhost",
            uid.as_str(),
            "InspectionStarted",
            4,
        ),
        // A deleted host of the same name.
        ("e4", "example-baremetalhost", "old-uid", "PowerOff", 1),
    ] {
        store
            .create(serde_json::json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": "default",
                             "labels": {"metal3.io/host-uid": host_uid}},
                "involvedObject": {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                                   "name": host, "namespace": "default", "uid": host_uid},
                "reason": reason, "message": format!("{reason} message"), "type": "Normal",
                "firstTimestamp": "2026-01-01T00:00:00Z",
                "lastTimestamp": format!("2026-01-01T00:00:0{}Z", &name[1..]),
                "count": count, "source": {"component": "metal3-baremetal-controller"}
            }))
            .unwrap();
    }
    let d = env.ok(&["describe", "bmh", "example-baremetalhost"]);
    let events: Vec<&str> = d.lines().skip_while(|l| *l != "Events:").skip(3).collect();
    assert_eq!(events.len(), 2, "{d}");
    assert!(
        events[0].contains("Registered") && events[0].contains("Registered message"),
        "{d}"
    );
    assert!(events[1].contains("InspectionStarted"), "{d}");
    assert!(events[1].contains("(x4 over "), "{d}");
    assert!(!d.contains("Deprovisioned"), "{d}");
    assert!(!d.contains("PowerOff"), "{d}");
}

#[test]
fn admission_rules_block_the_whole_apply() {
    let env = Env::new();
    // Create rules across objects: the BMC Secret of the input lacks a password.
    let out = env.run(&[
        "apply",
        "-f",
        &fixture("baremetal-operator__examples_example-host-bad-credentials.yaml"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Missing BMC connection details 'password'"),
        "{}",
        stderr(&out)
    );
    assert!(env.ok(&["get", "secrets", "-A", "-o", "name"]).is_empty());

    // Update rules between the stored host and the applied one.
    let f = env.write("own.yaml", OWN);
    env.ok(&["apply", "-f", &f]);
    let changed = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: extra\nstringData:\n  a: b\n",
        OWN.replace("52:54:00:00:00:01", "52:54:00:00:00:99")
    );
    let f = env.write("changed.yaml", &changed);
    let out = env.run(&["apply", "-f", &f]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("BareMetalHost/default/rack1-host-0: spec.bootMACAddress: bootMACAddress can not be changed once it is set"), "{err}");
    assert_eq!(
        err.matches("bootMACAddress can not be changed").count(),
        1,
        "{err}"
    );
    assert!(!env.ok(&["get", "secrets", "-o", "name"]).contains("extra"));
    assert!(env
        .ok(&["get", "bmh", "rack1-host-0", "-o", "yaml"])
        .contains("52:54:00:00:00:01"));
}
