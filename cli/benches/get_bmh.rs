//! End-to-end `metal3ctl get bmh -A` on a store of 10 000 hosts, process
//! spawn included; the target is < 100 ms.
//!
//! Run with `cargo bench -p metal3ctl --bench get_bmh` (`HOSTS=n` changes the
//! host count, `RUNS=n` the number of timed runs).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use metal3_provisioning::store::{SqliteStore, Store};
use serde_json::{json, Value};

/// A host as the controller leaves it after inspection (about 2 KiB of JSON).
fn host(i: usize) -> Value {
    let ns = format!("ns-{}", i % 10);
    json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": format!("host-{i:05}"), "namespace": ns,
                     "labels": {"rack": format!("r{}", i % 40)},
                     "finalizers": ["baremetalhost.metal3.io"]},
        "spec": {
            "online": true,
            "bootMACAddress": format!("52:54:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff),
            "bmc": {"address": format!("redfish://10.0.{}.{}/redfish/v1/Systems/1", (i >> 8) & 0xff, i & 0xff), "credentialsName": format!("bmc-{i:05}")},
            "bootMode": "UEFI",
            "consumerRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Machine", "name": format!("m-{i}"), "namespace": ns},
            "image": {"url": "http://images.example/ubuntu-24.04.qcow2", "checksum": "http://images.example/ubuntu-24.04.qcow2.sha256sum", "checksumType": "sha256", "format": "qcow2"}
        },
        "status": {
            "operationalStatus": "OK", "poweredOn": true, "errorMessage": "", "errorCount": 0,
            "provisioning": {"state": "provisioned", "ID": format!("{i:08x}-0000-4000-8000-000000000000"), "bootMode": "UEFI"},
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

/// CPU time (user + system) of this process's waited-for children, from
/// /proc (clock ticks, assumed 100 Hz as on every Linux build we use); `None`
/// where unavailable. Reported next to wall time because the build machine
/// is shared: wall time there includes waiting for a core.
fn children_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; cutime and cstime are
    // fields 16 and 17 of the whole line.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some(Duration::from_millis((cutime + cstime) * 10))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hosts = env_usize("HOSTS", 10_000);
    let runs = env_usize("RUNS", 15).max(1);
    let dir = std::env::temp_dir().join(format!("metal3ctl-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("store.db");
    {
        let store = SqliteStore::open(&path)?;
        for i in 0..hosts {
            store.create(host(i))?;
        }
    }
    let bin = env!("CARGO_BIN_EXE_metal3ctl");
    let run = || -> Result<(Duration, usize), Box<dyn std::error::Error>> {
        let start = Instant::now();
        let out = Command::new(bin)
            .args(["get", "bmh", "-A", "--store"])
            .arg(&path)
            .stderr(Stdio::inherit())
            .output()?;
        let elapsed = start.elapsed();
        if !out.status.success() {
            return Err(format!("metal3ctl failed: {}", out.status).into());
        }
        Ok((elapsed, out.stdout.iter().filter(|b| **b == b'\n').count()))
    };
    // One warm-up run so the file is in the page cache, as it is for a user.
    let (_, lines) = run()?;
    if lines != hosts + 1 {
        return Err(format!("expected {} lines, got {lines}", hosts + 1).into());
    }
    let mut times = Vec::with_capacity(runs);
    let cpu_before = children_cpu();
    for _ in 0..runs {
        times.push(run()?.0);
    }
    let cpu = match (cpu_before, children_cpu()) {
        (Some(a), Some(b)) => format!(
            ", CPU {:.0} ms per run",
            b.saturating_sub(a).as_secs_f64() * 1e3 / runs as f64
        ),
        _ => String::new(),
    };
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "metal3ctl get bmh -A, {hosts} hosts, {runs} runs: median {:.1} ms, min {:.1} ms, max {:.1} ms{cpu} (target < 100 ms)",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
