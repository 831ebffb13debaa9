//! Memory of `metal3ctl controller run` with 10 000 hosts registered
//! (target < 100 MiB).
//!
//! The store holds `HOSTS` provisioned hosts with their BMC Secrets and
//! inventory, their BMCs on a closed loopback port: the controller reconciles
//! every one (connect, fail, record the error, back off) with 16 workers.
//! Reported: peak RSS (VmHWM) and the last RSS sample, from
//! /proc/PID/status, once every host was reconciled or after `SECONDS_MAX`
//! (default 90) seconds, with how many hosts were reconciled by then.
//!
//! Run with `cargo bench -p metal3ctl --bench controller_rss` (`HOSTS=n`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use metal3_provisioning::store::{SqliteStore, Store};
use serde_json::{json, Value};

fn host(i: usize, port: u16) -> Value {
    json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": format!("host-{i:05}"), "namespace": "default",
                     "finalizers": ["baremetalhost.metal3.io"]},
        "spec": {
            "online": true,
            "bootMACAddress": format!("52:54:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff),
            "bmc": {"address": format!("redfish-virtualmedia+http://127.0.0.1:{port}/redfish/v1/Systems/{i}"), "credentialsName": format!("bmc-{i:05}")},
            "automatedCleaningMode": "disabled",
            "image": {"url": "http://127.0.0.1:8080/live.iso", "format": "live-iso"}
        },
        "status": {
            "operationalStatus": "OK", "poweredOn": true, "errorMessage": "", "errorCount": 0,
            "provisioning": {"state": "provisioned", "ID": format!("{i:08x}-0000-4000-8000-000000000000"),
                             "image": {"url": "http://127.0.0.1:8080/live.iso", "format": "live-iso"}},
            "hardware": {
                "systemVendor": {"manufacturer": "Dell Inc.", "productName": "PowerEdge R650", "serialNumber": format!("SN{i:08}")},
                "ramMebibytes": 262144,
                "cpu": {"arch": "x86_64", "model": "Intel(R) Xeon(R) Gold 6338", "clockMegahertz": 2000.0, "count": 64, "flags": ["avx2", "sse4_2"]},
                "nics": [{"name": "eno1", "model": "0x8086 0x1593", "mac": "52:54:00:00:00:01", "ip": "192.168.0.10", "speedGbps": 25, "pxe": true}],
                "storage": [{"name": "/dev/sda", "rotational": false, "type": "SSD", "sizeBytes": 960197124096u64, "vendor": "ATA", "model": "SSDSC2KG96"}]
            }
        }
    })
}

fn secret(i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("bmc-{i:05}"), "namespace": "default"},
        "type": "Opaque",
        "stringData": {"username": "admin", "password": "password"},
    })
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn rss(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let full = std::env::args().any(|a| a == "--bench");
    let hosts = std::env::var("HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        // Without `--bench` (`cargo test --all-targets`) a small smoke run.
        .unwrap_or(if full { 10_000usize } else { 200 });
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = std::env::temp_dir().join(format!("metal3ctl-rss-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("store.db");
    let store = SqliteStore::open(&path)?;
    for i in 0..hosts {
        store.create(secret(i))?;
        store.create(host(i, port))?;
    }
    eprintln!("store populated with {hosts} hosts and Secrets");
    let mut child = Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(["controller", "run", "--concurrency", "16", "--store"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let start = Instant::now();
    let mut idle_rss = 0;
    let mut reconciled = 0;
    let limit = Duration::from_secs(
        std::env::var("SECONDS_MAX")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if full { 90 } else { 10 }),
    );
    while start.elapsed() < limit {
        std::thread::sleep(Duration::from_secs(2));
        let list = store.list("BareMetalHost", Some("default"), None)?;
        reconciled = list
            .items
            .iter()
            .filter(|h| h.pointer("/status/errorType").is_some())
            .count();
        if let Some((now, _)) = rss(child.id()) {
            idle_rss = now;
        }
        eprintln!(
            "{:>5.0} s: {reconciled} of {hosts} reconciled, RSS {:.1} MiB",
            start.elapsed().as_secs_f64(),
            idle_rss as f64 / 1024.0
        );
        if reconciled == hosts {
            // Let the workers go idle before the last sample.
            std::thread::sleep(Duration::from_secs(3));
            if let Some((now, _)) = rss(child.id()) {
                idle_rss = now;
            }
            break;
        }
    }
    let peak = rss(child.id()).map(|r| r.1).unwrap_or(0);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait()?;
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "controller run, {hosts} hosts registered ({reconciled} reconciled in {:.1} s): peak RSS {:.1} MiB, last RSS {:.1} MiB (target < 100 MiB)",
        start.elapsed().as_secs_f64(),
        mib(peak),
        mib(idle_rss)
    );
    std::fs::remove_dir_all(&dir)?;
    if reconciled == 0 {
        return Err("no host was reconciled".into());
    }
    Ok(())
}
