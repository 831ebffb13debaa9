//! Memory of `metal3ctl controller run` with 10 000 hosts registered
//! (target < 100 MiB).
//!
//! The store holds `HOSTS` provisioned hosts with their BMC Secrets and
//! inventory. Each host has its own BMC address (127.x.y.z, a loopback
//! address per host, on a port nobody listens on), as in a real fleet:
//! with one shared address every host would queue behind that one BMC's
//! request budget (2 at a time) and only a tenth of the fleet would be
//! reconciled in the time limit. The controller reconciles every one
//! (connect, fail, record the error, back off) with `CONCURRENCY` workers
//! (default 64: a refused BMC takes 1.4 s of connection retries, so 16
//! workers would need a quarter of an hour for one round of 10 000 hosts;
//! more workers also means more hosts in memory at once).
//! Reported, from /proc/PID/status: peak RSS as the kernel kept it (VmHWM,
//! read just before the controller is stopped), the last RSS sample and how
//! it splits into heap and other anonymous memory (RssAnon) and mapped files
//! (RssFile: the binary and the store file SQLite maps for reads), once every
//! host was reconciled or after `SECONDS_MAX` (default 600) seconds, with how
//! many hosts were reconciled by then.
//!
//! Run with `cargo bench -p metal3ctl --bench controller_rss` (`HOSTS=n`,
//! `CONCURRENCY=n`, `SECONDS_MAX=n`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use metal3_provisioning::store::{SqliteStore, Store};
use serde_json::{json, Value};

/// A loopback address of its own for host `i` (127.1.0.1 upwards, never a
/// .0 or .255 octet).
fn bmc_ip(i: usize) -> String {
    format!(
        "127.{}.{}.{}",
        1 + i / (254 * 254),
        (i / 254) % 254 + 1,
        i % 254 + 1
    )
}

fn host(i: usize, port: u16) -> Value {
    json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": format!("host-{i:05}"), "namespace": "default",
                     "finalizers": ["baremetalhost.metal3.io"]},
        "spec": {
            "online": true,
            "bootMACAddress": format!("52:54:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff),
            "bmc": {"address": format!("redfish-virtualmedia+http://{}:{port}/redfish/v1/Systems/1", bmc_ip(i)), "credentialsName": format!("bmc-{i:05}")},
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

/// Memory figures of a process from /proc/PID/status, in KiB.
#[derive(Default, Clone, Copy)]
struct Mem {
    /// Resident now.
    rss: u64,
    /// Peak resident (the kernel's high-water mark).
    hwm: u64,
    /// Resident anonymous memory (heap, stacks).
    anon: u64,
    /// Resident file-backed memory (the binary, the mapped store file).
    file: u64,
}

fn mem(pid: u32) -> Option<Mem> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some(Mem {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
        anon: field("RssAnon:")?,
        file: field("RssFile:")?,
    })
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
    let concurrency: usize = std::env::var("CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut child = Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(["controller", "run", "--concurrency"])
        .arg(concurrency.to_string())
        .arg("--store")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let start = Instant::now();
    let mut last = Mem::default();
    let mut reconciled = 0;
    let limit = Duration::from_secs(
        std::env::var("SECONDS_MAX")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if full { 600 } else { 10 }),
    );
    let mib = |k: u64| k as f64 / 1024.0;
    while start.elapsed() < limit {
        std::thread::sleep(Duration::from_secs(2));
        // Only the field counted: decoding 10 000 whole hosts here every
        // two seconds would compete with the controller for the CPU.
        reconciled = 0;
        store.list_with("BareMetalHost", Some("default"), None, &mut |raw| {
            if raw.json.contains("\"errorType\"") {
                reconciled += 1;
            }
            Ok(())
        })?;
        if let Some(m) = mem(child.id()) {
            last = m;
        }
        eprintln!(
            "{:>5.0} s: {reconciled} of {hosts} reconciled, RSS {:.1} MiB (anon {:.1}, file {:.1}), peak {:.1} MiB",
            start.elapsed().as_secs_f64(),
            mib(last.rss),
            mib(last.anon),
            mib(last.file),
            mib(last.hwm),
        );
        if reconciled == hosts {
            // Let the workers go idle before the last sample.
            std::thread::sleep(Duration::from_secs(3));
            if let Some(m) = mem(child.id()) {
                last = m;
            }
            break;
        }
    }
    let peak = mem(child.id()).map(|m| m.hwm).unwrap_or(0);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait()?;
    println!(
        "controller run --concurrency {concurrency}, {hosts} hosts registered ({reconciled} reconciled in {:.1} s): peak RSS (VmHWM) {:.1} MiB, last RSS {:.1} MiB = anon {:.1} + file {:.1} (target < 100 MiB)",
        start.elapsed().as_secs_f64(),
        mib(peak),
        mib(last.rss),
        mib(last.anon),
        mib(last.file),
    );
    std::fs::remove_dir_all(&dir)?;
    if reconciled == 0 {
        return Err("no host was reconciled".into());
    }
    Ok(())
}
