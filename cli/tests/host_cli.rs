//! The host verbs of the built `metal3ctl` against sushy-tools' Redfish
//! emulator on loopback, with raw GETs of the emulator as witness.
//!
//! Needs the peers venv (METAL3_PEERS_VENV or <repo>/.venv): run
//! `bash scripts/setup-peers.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The sushy-tools harness shared with the bmc and provisioning tests.
#[path = "../../bmc/tests/support/sushy.rs"]
mod sushy;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use sushy::{Sushy, PASS, SYS, USER};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("metal3ctl-host-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ctl(store: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_metal3ctl"));
    c.args(args)
        .env("METAL3CTL_STORE", store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn ok(store: &Path, args: &[&str]) -> String {
    let out = ctl(store, args, None);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "metal3ctl {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains(PASS) && !stderr.contains(PASS));
    stdout
}

fn manifest(s: &Sushy, name: &str, i: usize, user: &str, pass: &str) -> String {
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("{name}-bmc")},
        "type": "Opaque",
        "stringData": {"username": user, "password": pass},
    });
    let host = json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": name},
        "spec": {
            "online": false,
            "bmc": {
                "address": format!("redfish-virtualmedia+http://127.0.0.1:{}/redfish/v1/Systems/{}", s.port, SYS[i]),
                "credentialsName": format!("{name}-bmc"),
            },
            "bootMACAddress": format!("00:5c:52:31:3a:0{i}"),
            "automatedCleaningMode": "disabled",
        },
    });
    format!("{secret}\n---\n{host}\n")
}

fn state(store: &Path, name: &str) -> String {
    host_json(store, name)["status"]["provisioning"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn host_json(store: &Path, name: &str) -> Value {
    serde_json::from_str(&ok(store, &["get", "bmh", name, "-o", "json"])).unwrap()
}

async fn raw_cd(s: &Sushy, i: usize) -> Value {
    let coll = s
        .raw_get(&format!("/redfish/v1/Systems/{}/VirtualMedia", SYS[i]))
        .await;
    for m in coll["Members"].as_array().unwrap() {
        let slot = s.raw_get(m["@odata.id"].as_str().unwrap()).await;
        let types = slot["MediaTypes"].as_array().cloned().unwrap_or_default();
        if types.iter().any(|t| t == "CD" || t == "DVD") {
            return slot;
        }
    }
    panic!("no CD slot: {coll}");
}

async fn raw_power(s: &Sushy, i: usize) -> String {
    s.raw_get(&format!("/redfish/v1/Systems/{}", SYS[i])).await["PowerState"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_iso_lifecycle_through_the_cli() {
    let s = Sushy::start(false).await;
    let iso_port = sushy::serve_file(b"not really an iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/live.iso");
    let dir = Dir::new("life");
    let store = dir.0.join("store.db");
    let file = dir.0.join("h0.yaml");
    std::fs::write(&file, manifest(&s, "h0", 0, USER, PASS)).unwrap();

    let out = ok(&store, &["enroll", "-f", file.to_str().unwrap()]);
    assert!(out.contains("h0: ") && out.contains("→ available"), "{out}");
    assert_eq!(state(&store, "h0"), "available");
    let table = ok(&store, &["get", "bmh"]);
    assert!(
        table.contains("h0") && table.contains("available"),
        "{table}"
    );

    // A missing host is refused before anything is written.
    let missing = ctl(&store, &["provision", "nope", "--image", &iso], None);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("\"nope\" not found"));
    let ud = dir.0.join("user-data.yaml");
    std::fs::write(&ud, "#cloud-config\nhostname: h0\n").unwrap();
    let out = ok(
        &store,
        &[
            "provision",
            "h0",
            "--image",
            &iso,
            "--format",
            "live-iso",
            "--user-data",
            ud.to_str().unwrap(),
            "--wait",
        ],
    );
    let h = host_json(&store, "h0");
    assert_eq!(h["spec"]["userData"]["name"], "h0-user-data", "{h}");
    assert_eq!(h["spec"]["image"]["url"], iso.as_str(), "{h}");
    let secret: Value = serde_json::from_str(&ok(
        &store,
        &["get", "secret", "h0-user-data", "-o", "json"],
    ))
    .unwrap();
    assert!(secret["data"]["userData"].is_string(), "{secret}");
    assert!(out.contains("→ provisioned"), "{out}");
    assert_eq!(state(&store, "h0"), "provisioned");
    let cd = raw_cd(&s, 0).await;
    let cd_ok = cd["Inserted"] == true && cd["Image"] == iso.as_str();
    assert!(cd_ok, "{cd}");
    assert_eq!(raw_power(&s, 0).await, "On");

    ok(&store, &["reboot", "h0", "--wait"]);
    let h = host_json(&store, "h0");
    assert!(
        h["metadata"]["annotations"]
            .get("reboot.metal3.io")
            .is_none(),
        "{h}"
    );
    assert_eq!(raw_power(&s, 0).await, "On");
    assert_eq!(state(&store, "h0"), "provisioned");

    ok(&store, &["power", "off", "h0", "--wait"]);
    assert_eq!(raw_power(&s, 0).await, "Off");

    let out = ok(&store, &["deprovision", "h0", "--wait"]);
    assert!(out.contains("→ available"), "{out}");
    assert_eq!(raw_cd(&s, 0).await["Inserted"], false);

    ok(&store, &["delete", "bmh", "h0", "--wait"]);
    let gone = ctl(&store, &["get", "bmh", "h0"], None);
    assert!(!gone.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_fail_enroll_without_the_password() {
    let s = Sushy::start(false).await;
    let dir = Dir::new("badcreds");
    let store = dir.0.join("store.db");
    let wrong = "wr0ng-pa55word";
    let out = ctl(
        &store,
        &["enroll", "-f", "-", "--wait=2m"],
        Some(&manifest(&s, "h1", 1, USER, wrong)),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("error: h1:"), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{}", s.port)),
        "the error names the BMC: {stderr}"
    );
    assert!(!stderr.contains(wrong) && !stdout.contains(wrong));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_apply_adopts_without_inspection() {
    let s = Sushy::start(false).await;
    let dir = Dir::new("move");
    let a = dir.0.join("a.db");
    let b = dir.0.join("b.db");
    let file = dir.0.join("h2.yaml");
    std::fs::write(&file, manifest(&s, "h2", 2, USER, PASS)).unwrap();
    ok(&a, &["enroll", "-f", file.to_str().unwrap()]);
    let before = host_json(&a, "h2");
    assert_eq!(before["status"]["provisioning"]["state"], "available");
    let inspected = before["status"]["operationHistory"]["inspect"].clone();
    assert!(inspected["end"].is_string(), "{before}");

    let moved = ok(&a, &["export", "h2"]);
    let moved_file = dir.0.join("moved.yaml");
    std::fs::write(&moved_file, &moved).unwrap();
    assert!(moved.contains("baremetalhost.metal3.io/status"), "{moved}");
    assert!(moved.contains("kind: Secret"), "{moved}");
    assert!(
        !moved.contains("baremetalhost.metal3.io/detached"),
        "{moved}"
    );
    let in_a = host_json(&a, "h2");
    assert_eq!(in_a["status"]["operationalStatus"], "detached", "{in_a}");

    // The other store adopts the host: available again, no new inspection.
    let out = ok(&b, &["enroll", "-f", moved_file.to_str().unwrap()]);
    assert!(!out.contains("inspecting"), "{out}");
    let after = host_json(&b, "h2");
    assert_eq!(
        after["status"]["provisioning"]["state"], "available",
        "{after}"
    );
    assert_eq!(after["status"]["operationalStatus"], "OK", "{after}");
    assert_eq!(after["status"]["operationHistory"]["inspect"], inspected);
    assert!(after["metadata"]["annotations"]
        .get("baremetalhost.metal3.io/status")
        .is_none());
    assert!(after["status"]["hardware"]["nics"]
        .as_array()
        .is_some_and(|n| !n.is_empty()));

    // The old store lets go without touching the machine.
    ok(&a, &["delete", "bmh", "h2", "--wait"]);
    assert!(!ctl(&a, &["get", "bmh", "h2"], None).status.success());
    assert!(ctl(&b, &["get", "bmh", "h2"], None).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_run_picks_up_plain_writes_and_stops_on_sigterm() {
    let s = Sushy::start(false).await;
    let dir = Dir::new("controller");
    let store = dir.0.join("store.db");
    let file = dir.0.join("h1.yaml");
    std::fs::write(&file, manifest(&s, "h1", 1, USER, PASS)).unwrap();
    let mut controller = Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(["controller", "run", "--concurrency", "2"])
        .env("METAL3CTL_STORE", &store)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Plain writes (no --wait): the running controller does the work.
    ok(&store, &["apply", "-f", file.to_str().unwrap()]);
    let mut reached = false;
    for _ in 0..600 {
        if state(&store, "h1") == "available" {
            reached = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reached, "{}", host_json(&store, "h1"));
    ok(&store, &["power", "on", "h1"]);
    let mut on = false;
    for _ in 0..600 {
        if raw_power(&s, 1).await == "On" && host_json(&store, "h1")["status"]["poweredOn"] == true
        {
            on = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(on, "{}", host_json(&store, "h1"));
    let killed = Command::new("kill")
        .args(["-TERM", &controller.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = controller.wait().unwrap();
    assert!(status.success(), "controller exit: {status:?}");
    let _ = controller.stderr.take();
}
