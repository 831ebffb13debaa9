//! `metal3ctl bmc` against a real IPMI BMC (OpenIPMI ipmi_sim on loopback),
//! with ipmitool as the independent witness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const LAN_CONF: &str = include_str!("../../bmc/tests/fixtures/ipmi_sim/lan.conf.in");
const BMC_EMU: &str = include_str!("../../bmc/tests/fixtures/ipmi_sim/bmc.emu");
const CHASSIS_SH: &str = include_str!("../../bmc/tests/fixtures/ipmi_sim/chassis.sh.in");

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct Sim {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Sim {
    fn start() -> Sim {
        for tool in ["ipmi_sim", "ipmitool"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            assert!(found, "{tool} is not installed: run scripts/setup-peers.sh");
        }
        let dir = std::env::temp_dir().join(format!(
            "metal3ctl-ipmi-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.to_str().unwrap();
        let lan = LAN_CONF
            .replace("STATE_DIR", d)
            .replace("addr 127.0.0.1 19623", &format!("addr 127.0.0.1 {port}"));
        std::fs::write(dir.join("lan.conf"), lan).unwrap();
        std::fs::write(dir.join("bmc.emu"), BMC_EMU).unwrap();
        let script = dir.join("chassis.sh");
        std::fs::write(&script, CHASSIS_SH.replace("STATE_DIR", d)).unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        let child = Command::new("ipmi_sim")
            .arg("-c")
            .arg(dir.join("lan.conf"))
            .arg("-f")
            .arg(dir.join("bmc.emu"))
            .arg("-n")
            .arg("-s")
            .arg(dir.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ipmi_sim");
        let sim = Sim { child, dir, port };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if sim.ipmitool(&["mc", "info"]).status.success() {
                return sim;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("ipmi_sim did not come up on 127.0.0.1:{port}");
    }

    fn address(&self) -> String {
        format!("ipmi://127.0.0.1:{}", self.port)
    }

    fn ipmitool(&self, args: &[&str]) -> Output {
        let port = self.port.to_string();
        let mut all = vec![
            "-I",
            "lanplus",
            "-C",
            "3",
            "-H",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "admin",
            "-P",
            "password",
        ];
        all.extend_from_slice(args);
        Command::new("ipmitool").args(&all).output().unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn metal3ctl(args: &[&str], password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(args)
        .env("METAL3_BMC_USERNAME", "admin")
        .env("METAL3_BMC_PASSWORD", password)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn power_boot_and_info_over_ipmi_agree_with_ipmitool() {
    let sim = Sim::start();
    let addr = sim.address();

    let info = metal3ctl(
        &["bmc", "info", "--address", &addr, "-o", "json"],
        "password",
    );
    assert!(info.status.success(), "{info:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
    assert_eq!(v["manufacturerId"], 0x1291);
    assert_eq!(v["productId"], 0xf02);

    let on = metal3ctl(
        &["bmc", "power", "on", "--wait=20", "--address", &addr],
        "password",
    );
    assert!(on.status.success(), "{on:?}");
    assert_eq!(stdout(&on).trim(), "on");
    assert!(stdout(&sim.ipmitool(&["power", "status"])).contains("is on"));

    let boot = metal3ctl(
        &["bmc", "boot", "--device", "pxe", "--address", &addr],
        "password",
    );
    assert!(boot.status.success(), "{boot:?}");
    let witness = stdout(&sim.ipmitool(&["chassis", "bootparam", "get", "5"]));
    assert!(witness.contains("Force PXE"), "{witness}");

    let off = metal3ctl(
        &[
            "bmc",
            "power",
            "off",
            "--wait=20",
            "--address",
            &addr,
            "-o",
            "json",
        ],
        "password",
    );
    assert!(off.status.success(), "{off:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&off)).unwrap();
    assert_eq!(v["powerState"], "off");
    assert!(stdout(&sim.ipmitool(&["power", "status"])).contains("is off"));

    // ipmitool changes it, we read it.
    assert!(sim.ipmitool(&["power", "on"]).status.success());
    let st = metal3ctl(&["bmc", "power", "status", "--address", &addr], "password");
    assert_eq!(stdout(&st).trim(), "on");
}

#[test]
fn redfish_only_verbs_and_bad_passwords_fail_clearly() {
    let sim = Sim::start();
    let addr = sim.address();
    let media = metal3ctl(&["bmc", "media", "status", "--address", &addr], "password");
    assert!(!media.status.success());
    let err = String::from_utf8_lossy(&media.stderr);
    assert!(
        err.contains("not supported over IPMI; use a Redfish address"),
        "{err}"
    );

    let bad = metal3ctl(
        &["bmc", "power", "status", "--address", &addr],
        "s3cret-wrong",
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("authentication failed"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{}", sim.port)), "{err}");
    assert!(!err.contains("s3cret-wrong"), "{err}");
}
