//! ipmi_sim harness shared by the IPMI client tests, the provisioning engine
//! tests and the metal3ctl tests: an OpenIPMI `ipmi_sim` in its own temp dir on
//! a free loopback UDP port (user admin/password), with `ipmitool` as witness.
//! The simulator is killed on drop or when the test process dies (see
//! [`peer_process`]).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::OsStr;
use std::net::UdpSocket as StdUdp;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use metal3_bmc::address::BmcAddress;
use metal3_bmc::ipmi::packet;
use metal3_bmc::{BootDevice, PowerState};

// Harnesses included together each bring their own copy (no shared state).
#[allow(clippy::duplicate_mod)]
#[path = "peer_process.rs"]
pub mod peer_process;
use peer_process::PeerProcess;

/// ipmi_sim configuration (from the lab examples): LAN channel on 127.0.0.1,
/// user admin/password with admin privilege; STATE_DIR and the port are filled in.
pub const LAN_CONF: &str = include_str!("../fixtures/ipmi_sim/lan.conf.in");
/// The emulated BMC (device ID 0x23, manufacturer 0x1291, product 0xf02).
pub const BMC_EMU: &str = include_str!("../fixtures/ipmi_sim/bmc.emu");
/// Chassis control program keeping power and boot device in files in STATE_DIR.
pub const CHASSIS_SH: &str = include_str!("../fixtures/ipmi_sim/chassis.sh.in");

pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

pub fn free_udp_port() -> u16 {
    StdUdp::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One ipmi_sim in its own temp dir, killed with its process group and
/// cleaned up on drop or when the test process dies.
pub struct Sim {
    /// The simulator under its watchdog.
    pub process: PeerProcess,
    pub dir: PathBuf,
    pub port: u16,
}

pub static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Sim {
    pub fn start() -> Sim {
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
        let lan = LAN_CONF
            .replace("STATE_DIR", d)
            .replace("addr 127.0.0.1 19623", &format!("addr 127.0.0.1 {port}"));
        assert!(
            lan.contains(&format!("127.0.0.1 {port}")),
            "lan.conf example changed shape"
        );
        std::fs::write(dir.join("lan.conf"), lan).unwrap();
        std::fs::write(dir.join("bmc.emu"), BMC_EMU).unwrap();
        let script = dir.join("chassis.sh");
        std::fs::write(&script, CHASSIS_SH.replace("STATE_DIR", d)).unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        let (lan, emu, state) = (dir.join("lan.conf"), dir.join("bmc.emu"), dir.join("state"));
        let process = PeerProcess::spawn(
            Path::new("ipmi_sim"),
            &[
                OsStr::new("-c"),
                lan.as_os_str(),
                OsStr::new("-f"),
                emu.as_os_str(),
                OsStr::new("-n"),
                OsStr::new("-s"),
                state.as_os_str(),
            ],
            &dir.join("sim.log"),
            Some(&dir),
        );
        let sim = Sim { process, dir, port };
        sim.wait_ready();
        sim
    }

    /// Polls with a pre-session Get Channel Authentication Capabilities.
    pub fn wait_ready(&self) {
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
            assert!(
                !self.process.exited(),
                "ipmi_sim exited before it answered; log: {}",
                self.log()
            );
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sim.log")).unwrap_or_default()
    }

    pub fn address(&self) -> BmcAddress {
        BmcAddress::parse(&format!("ipmi://127.0.0.1:{}", self.port)).unwrap()
    }

    /// ipmitool over lanplus suite 3 against this simulator.
    pub fn ipmitool(&self, args: &[&str]) -> String {
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

    pub fn witness_power(&self) -> PowerState {
        let t = self.ipmitool(&["power", "status"]);
        if t.contains("Chassis Power is on") {
            PowerState::On
        } else if t.contains("Chassis Power is off") {
            PowerState::Off
        } else {
            panic!("unexpected ipmitool power status: {t}")
        }
    }

    /// The boot device selector and valid bit as ipmitool decodes parameter 5.
    pub fn witness_boot(&self) -> (BootDevice, bool) {
        let t = self.ipmitool(&["chassis", "bootparam", "get", "5"]);
        let valid = t.contains("Boot Flag Valid");
        assert!(valid || t.contains("Boot Flag Invalid"), "{t}");
        let sel = t
            .lines()
            .find(|l| l.contains("Boot Device Selector"))
            .unwrap_or_else(|| panic!("no selector in: {t}"));
        let dev = if sel.contains("No override") {
            BootDevice::None
        } else if sel.contains("Force PXE") {
            BootDevice::Pxe
        } else if sel.contains("Hard-Drive") {
            BootDevice::Disk
        } else if sel.contains("CD/DVD") {
            BootDevice::Cd
        } else if sel.contains("BIOS Setup") {
            BootDevice::BiosSetup
        } else {
            panic!("unexpected selector: {sel}")
        };
        (dev, valid)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // The watchdog removes the directory once the simulator is gone.
        self.process.stop();
    }
}
