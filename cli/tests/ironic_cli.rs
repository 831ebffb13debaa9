//! `metal3ctl` with the Ironic provisioner against a REAL standalone Ironic on
//! loopback (fake-hardware nodes through IRONIC_NODE_DEFAULTS), and the
//! direct provisioner's refusal of disk images. Ironic's node records and
//! sushy-tools' state are the witnesses.
//!
//! Needs the peers venv (METAL3_PEERS_VENV or <repo>/.venv): run
//! `bash scripts/setup-peers.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../provisioning/tests/common/ironic_peer.rs"]
mod ironic_peer;
#[path = "../../bmc/tests/support/sushy.rs"]
mod sushy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ironic_peer::Ironic;
use serde_json::{json, Value};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ctl(store: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_metal3ctl"));
    c.args(args)
        .env("METAL3CTL_STORE", store)
        .env_remove("IRONIC_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(store: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = ctl(store, env, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "metal3ctl {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Raw `GET` with an API version new enough for node names.
fn get_v1(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nX-OpenStack-Ironic-API-Version: 1.89\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Ironic's record of a node (plain HTTP, not our client).
fn node(ironic: &Ironic, name: &str) -> Option<Value> {
    let raw = get_v1(ironic.port, &format!("/v1/nodes/{name}"))?;
    let status: u16 = raw.split_whitespace().nth(1)?.parse().ok()?;
    if status == 404 {
        return None;
    }
    let body = raw.split("\r\n\r\n").nth(1)?;
    serde_json::from_str(body).ok()
}

const FAKE_DEFAULTS: &str = r#"{"driver": "fake-hardware", "boot_interface": "fake", "deploy_interface": "fake", "inspect_interface": "fake", "management_interface": "fake", "power_interface": "fake", "raid_interface": "fake", "bios_interface": "fake", "vendor_interface": "fake", "firmware_interface": "fake"}"#;

fn manifest(name: &str, address: &str, mac: &str, cleaning: &str) -> String {
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("{name}-bmc")},
        "type": "Opaque",
        "stringData": {"username": sushy::USER, "password": sushy::PASS},
    });
    let hw = json!({"cpu": {"arch": "x86_64", "count": 2}, "ramMebibytes": 2048,
                    "nics": [{"name": "eth0", "mac": mac, "pxe": true}],
                    "storage": [{"name": "/dev/vda", "sizeBytes": 21474836480_i64}]});
    let host = json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": name,
                     "annotations": {"inspect.metal3.io/hardwaredetails": hw.to_string()}},
        "spec": {
            "online": false,
            "bmc": {"address": address, "credentialsName": format!("{name}-bmc")},
            "bootMACAddress": mac,
            "automatedCleaningMode": cleaning,
            // The webhook wants inspection off when the hardware is given.
            "inspectionMode": "disabled",
        },
    });
    format!("{secret}\n---\n{host}\n")
}

#[test]
fn disk_image_lifecycle_with_the_ironic_provisioner() {
    let ironic = Ironic::start();
    let dir = Dir(ironic_peer::scratch("ctl-ironic"));
    let store = dir.0.join("store.db");
    let url = ironic.url();
    // Settings through a config file and the environment, as a deployment would.
    let conf = dir.0.join("provisioner.yaml");
    std::fs::write(
        &conf,
        format!("IRONIC_ENDPOINT: {url}\nDEPLOY_KERNEL_URL: http://127.0.0.1:9/ipa.kernel\n"),
    )
    .unwrap();
    let conf_s = conf.display().to_string();
    let env = [
        ("METAL3CTL_PROVISIONER_CONFIG", conf_s.as_str()),
        ("IRONIC_NODE_DEFAULTS", FAKE_DEFAULTS),
    ];
    let file = dir.0.join("h0.yaml");
    std::fs::write(
        &file,
        manifest(
            "h0",
            "redfish+http://127.0.0.1:9/redfish/v1/Systems/1",
            "52:54:00:20:00:01",
            "metadata",
        ),
    )
    .unwrap();

    let out = ok(&store, &env, &["enroll", "-f", file.to_str().unwrap()]);
    assert!(out.contains("→ available"), "{out}");
    let n = node(&ironic, "default~h0").expect("node registered");
    assert_eq!(n["driver"], "fake-hardware");
    assert_eq!(n["provision_state"], "manageable");
    assert_eq!(
        n["driver_info"]["deploy_kernel"],
        "http://127.0.0.1:9/ipa.kernel"
    );

    let out = ok(&store, &env, &["get", "bmh"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("h0") && l.contains("available")),
        "{out}"
    );

    let ud = dir.0.join("user-data.yaml");
    std::fs::write(&ud, "#cloud-config\nhostname: h0\n").unwrap();
    let out = ok(
        &store,
        &env,
        &[
            "provision",
            "h0",
            "--image",
            "http://127.0.0.1:9/os.qcow2",
            "--checksum",
            "http://127.0.0.1:9/os.qcow2.sha256",
            "--checksum-type",
            "sha256",
            "--format",
            "qcow2",
            "--user-data",
            ud.to_str().unwrap(),
            "--wait",
        ],
    );
    assert!(out.contains("→ provisioned"), "{out}");
    let n = node(&ironic, "default~h0").unwrap();
    assert_eq!(n["provision_state"], "active");
    assert_eq!(
        n["instance_info"]["image_source"],
        "http://127.0.0.1:9/os.qcow2"
    );
    assert_eq!(
        n["instance_info"]["image_os_hash_value"],
        "http://127.0.0.1:9/os.qcow2.sha256"
    );
    assert_eq!(n["instance_info"]["configdrive"], "******");
    assert_eq!(n["power_state"], "power on");

    // Reboot through Ironic (fake power: the node's log shows both changes).
    let out = ok(&store, &env, &["reboot", "h0", "--wait"]);
    assert!(out.contains("provisioned"), "{out}");
    let n = node(&ironic, "default~h0").unwrap();
    assert_eq!(n["provision_state"], "active");
    assert_eq!(n["power_state"], "power on");
    let h = ok(&store, &env, &["get", "bmh", "h0", "-o", "json"]);
    let h: Value = serde_json::from_str(&h).unwrap();
    assert!(
        h["metadata"]["annotations"]
            .as_object()
            .is_none_or(|a| !a.keys().any(|k| k.starts_with("reboot.metal3.io"))),
        "reboot annotation left: {h}"
    );

    let out = ok(&store, &env, &["deprovision", "h0", "--wait"]);
    assert!(out.contains("→ available"), "{out}");
    let n = node(&ironic, "default~h0").unwrap();
    assert_eq!(n["provision_state"], "available");
    assert_eq!(n["automated_clean"], true);

    ok(&store, &env, &["delete", "bmh", "h0", "--wait"]);
    assert!(node(&ironic, "default~h0").is_none(), "node deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_provisioner_refuses_disk_images_and_names_ironic() {
    let s = sushy::Sushy::start(false).await;
    let dir = Dir(ironic_peer::scratch("ctl-direct"));
    let store = dir.0.join("store.db");
    let file = dir.0.join("d0.yaml");
    let address = format!(
        "redfish-virtualmedia+http://127.0.0.1:{}/redfish/v1/Systems/{}",
        s.port,
        sushy::SYS[2]
    );
    std::fs::write(
        &file,
        manifest("d0", &address, "00:5c:52:31:3a:02", "disabled"),
    )
    .unwrap();
    // An endpoint in the environment would pick Ironic; the flag forces direct.
    let env = [("IRONIC_ENDPOINT", "http://127.0.0.1:9")];
    ok(
        &store,
        &env,
        &[
            "--provisioner",
            "direct",
            "enroll",
            "-f",
            file.to_str().unwrap(),
        ],
    );
    let out = ctl(
        &store,
        &env,
        &[
            "--provisioner",
            "direct",
            "provision",
            "d0",
            "--image",
            "http://127.0.0.1:9/os.qcow2",
            "--checksum",
            "6a1f2b0c",
            "--format",
            "qcow2",
            "--wait=60s",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("image format qcow2") && stderr.contains("needs the Ironic provisioner"),
        "{stderr}"
    );
}
