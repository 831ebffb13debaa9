//! The engine + direct provisioner on an IPMI host against a real peer: OpenIPMI's `ipmi_sim`, with `ipmitool`
//! as the independent witness of every state change (and the reverse).
//! Needs Debian packages openipmi and ipmitool (scripts/setup-peers.sh).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::UdpSocket as StdUdp;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use metal3_bmc::ipmi::packet;
use metal3_hostmodel::OperationalStatus;
use metal3_provisioning::direct::{DirectOptions, DirectProvisioner};
use metal3_provisioning::engine::{Engine, EngineOptions};
use metal3_provisioning::store::{MemoryStore, Store};
use serde_json::json;

const LAB: &str = "/work/shared/lab";
fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

fn free_udp_port() -> u16 {
    StdUdp::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One ipmi_sim in its own temp dir, killed (by PID) and cleaned up on drop.
struct Sim {
    child: Child,
    dir: PathBuf,
    port: u16,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Sim {
    fn start() -> Sim {
        for tool in ["ipmi_sim", "ipmitool"] {
            assert!(
                on_path(tool),
                "{tool} is not installed: run scripts/setup-peers.sh (Debian packages openipmi ipmitool)"
            );
        }
        let dir = std::env::temp_dir().join(format!(
            "metal3-ipmi-sim-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let port = free_udp_port();
        let d = dir.to_str().unwrap();
        let read =
            |f: &str| std::fs::read_to_string(Path::new(LAB).join(f)).expect("lab example config");
        let lan = read("ipmi_sim-lan.conf.example")
            .replace("STATE_DIR", d)
            .replace("addr 127.0.0.1 19623", &format!("addr 127.0.0.1 {port}"));
        assert!(
            lan.contains(&format!("127.0.0.1 {port}")),
            "lan.conf example changed shape"
        );
        std::fs::write(dir.join("lan.conf"), lan).unwrap();
        std::fs::write(dir.join("bmc.emu"), read("ipmi_sim-bmc.emu.example")).unwrap();
        let script = dir.join("chassis.sh");
        std::fs::write(
            &script,
            read("ipmi_sim-chassis.sh.example").replace("STATE_DIR", d),
        )
        .unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        let log = std::fs::File::create(dir.join("sim.log")).unwrap();
        let child = Command::new("ipmi_sim")
            .arg("-c")
            .arg(dir.join("lan.conf"))
            .arg("-f")
            .arg(dir.join("bmc.emu"))
            .arg("-n")
            .arg("-s")
            .arg(dir.join("state"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start ipmi_sim");
        let sim = Sim { child, dir, port };
        sim.wait_ready();
        sim
    }

    /// Polls with a pre-session Get Channel Authentication Capabilities.
    fn wait_ready(&self) {
        let s = StdUdp::bind("127.0.0.1:0").unwrap();
        s.connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let msg = packet::encode_request(0x06, 0x38, 1, &[0x0E, 0x04]);
        let pkt = packet::encode_v15(&packet::V15Packet {
            auth_type: 0,
            seq: 0,
            session_id: 0,
            auth_code: None,
            msg,
        });
        let start = Instant::now();
        let mut buf = [0u8; 512];
        while start.elapsed() < Duration::from_secs(10) {
            let _ = s.send(&pkt);
            if s.recv(&mut buf).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "ipmi_sim did not answer on port {} within 10 s; log: {}",
            self.port,
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sim.log")).unwrap_or_default()
    }

    /// ipmitool over lanplus suite 3 against this simulator.
    fn ipmitool(&self, args: &[&str]) -> String {
        let out = Command::new("ipmitool")
            .args([
                "-I",
                "lanplus",
                "-C",
                "3",
                "-H",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
            ])
            .args(["-U", "admin", "-P", "password"])
            .args(args)
            .output()
            .expect("run ipmitool");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ipmitool {args:?} failed: {text}");
        text
    }

    fn witness_power(&self) -> &'static str {
        let t = self.ipmitool(&["power", "status"]);
        if t.contains("Chassis Power is on") {
            "on"
        } else if t.contains("Chassis Power is off") {
            "off"
        } else {
            panic!("unexpected ipmitool power status: {t}")
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const SETTLE: Duration = Duration::from_secs(90);

fn setup() -> (Arc<MemoryStore>, Engine) {
    let store = Arc::new(MemoryStore::new());
    let p = Arc::new(DirectProvisioner::new(DirectOptions {
        poll_interval: Duration::from_millis(200),
        // ipmi_sim's chassis may ignore a soft off: fall back to hard quickly.
        soft_power_off_timeout: Duration::from_secs(3),
        power_timeout: Duration::from_secs(30),
        ..DirectOptions::default()
    }));
    let e = Engine::new(
        store.clone(),
        p,
        EngineOptions {
            concurrency: 2,
            ..EngineOptions::default()
        },
    );
    (store, e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmi_host_power_on_and_off_with_ipmitool_witness() {
    let sim = Sim::start();
    let (store, e) = setup();
    let key = host_key("ipmi0");
    let addr = format!("ipmi://127.0.0.1:{}", sim.port);
    store
        .create(secret("ipmi0-bmc", "admin", "password"))
        .unwrap();
    store
        .create(host("ipmi0", &addr, json!({"inspectionMode": "disabled"})))
        .unwrap();
    if sim.witness_power() == "on" {
        sim.ipmitool(&["power", "off"]);
    }
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    assert_eq!(state(store.as_ref(), "ipmi0"), "available");
    assert_eq!(sim.witness_power(), "off");

    edit_host(store.as_ref(), "ipmi0", |v| {
        v["spec"]["online"] = json!(true)
    });
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    assert_eq!(sim.witness_power(), "on");
    assert!(
        get_host(store.as_ref(), "ipmi0")
            .unwrap()
            .status
            .unwrap()
            .powered_on
    );

    edit_host(store.as_ref(), "ipmi0", |v| {
        v["spec"]["online"] = json!(false)
    });
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    assert_eq!(sim.witness_power(), "off");
    assert!(
        !get_host(store.as_ref(), "ipmi0")
            .unwrap()
            .status
            .unwrap()
            .powered_on
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmi_host_with_inspection_enabled_gets_a_registration_error_naming_the_fix() {
    let sim = Sim::start();
    let (store, e) = setup();
    let key = host_key("ipmi1");
    let addr = format!("ipmi://127.0.0.1:{}", sim.port);
    store
        .create(secret("ipmi1-bmc", "admin", "password"))
        .unwrap();
    store.create(host("ipmi1", &addr, json!({}))).unwrap();
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    let st = get_host(store.as_ref(), "ipmi1").unwrap().status.unwrap();
    assert_eq!(st.operational_status, OperationalStatus::Error);
    assert_eq!(
        st.error_type.map(|t| t.as_str()),
        Some("registration error")
    );
    assert!(
        st.error_message.contains("inspectionMode: disabled"),
        "{}",
        st.error_message
    );
    assert!(
        st.error_message
            .contains("inspect.metal3.io/hardwaredetails"),
        "{}",
        st.error_message
    );
    // Following the message: hardware details given by annotation recover it.
    edit_host(store.as_ref(), "ipmi1", |v| {
        v["metadata"]["annotations"] = json!({
            "inspect.metal3.io/hardwaredetails":
                r#"{"cpu":{"arch":"x86_64","count":2},"nics":[{"name":"eth0","mac":"00:11:22:33:44:55"}]}"#
        });
    });
    e.run_hosts_until_settled(std::slice::from_ref(&key), SETTLE)
        .await
        .unwrap();
    let h = get_host(store.as_ref(), "ipmi1").unwrap();
    let st = h.status.unwrap();
    assert_eq!(
        st.provisioning.state.as_str(),
        "available",
        "{}",
        st.error_message
    );
    assert_eq!(st.operational_status, OperationalStatus::Ok);
    assert_eq!(st.hardware.unwrap().nics[0].mac, "00:11:22:33:44:55");
    assert!(!h
        .metadata
        .annotations
        .contains_key("inspect.metal3.io/hardwaredetails"));
}
