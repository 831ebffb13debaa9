//! Fleet benchmark: `HOSTS` (default 100) emulated hosts spread over several
//! sushy-tools processes go through enroll → live-ISO provision →
//! deprovision with the `metal3ctl` binary, and the run is compared with
//! what the emulators allow.
//!
//! Reported: wall time per phase, total BMC requests (counted from the
//! emulators' request logs), the emulators' measured throughput (concurrent
//! GETs of a system, all emulators at once), their power-transition delay,
//! the emulator-bound limit = requests ÷ throughput + power delay, and our
//! ratio to it (target ≤ 1.5×).
//!
//! Run with `cargo bench -p metal3ctl --bench fleet`; `HOSTS=n`,
//! `PER_EMULATOR=n` (systems per sushy-tools process, default 25),
//! `BMO_CONCURRENCY` / `PROVISIONING_LIMIT` (default: the host count, so the
//! emulators are the bottleneck). Needs the peers venv (METAL3_PEERS_VENV).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../bmc/tests/support/sushy.rs"]
mod sushy;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sushy::{system_uuid, Sushy, PASS, USER};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Requests in an emulator's log (werkzeug's `"GET /path HTTP/1.1" 200` lines).
fn logged_requests(s: &Sushy) -> u64 {
    let log = std::fs::read_to_string(s.dir.join("sushy.log")).unwrap_or_default();
    log.lines()
        .filter(|l| {
            ["\"GET /", "\"POST /", "\"PATCH /", "\"PUT /", "\"DELETE /"]
                .iter()
                .any(|m| l.contains(m))
        })
        .count() as u64
}

fn total_requests(ems: &[Sushy]) -> u64 {
    ems.iter().map(logged_requests).sum()
}

/// Requests per second the emulators serve together: 8 concurrent GET
/// loops per emulator for `secs`, all emulators at once.
async fn throughput(ems: &[Sushy], secs: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for s in ems {
        for t in 0..8 {
            let url = format!("{}/redfish/v1/Systems/{}", s.base(), system_uuid(t));
            let c = s.raw();
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                while Instant::now() < until {
                    let r = c.get(&url).basic_auth(USER, Some(PASS)).send().await;
                    if let Ok(r) = r {
                        if r.status().is_success() && r.bytes().await.is_ok() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / secs as f64
}

/// Time from a power-on request until the emulator reports On (then off again).
async fn power_delay(s: &Sushy) -> Duration {
    let sys = format!("{}/redfish/v1/Systems/{}", s.base(), system_uuid(0));
    let c = s.raw();
    let reset = |kind: &'static str| {
        c.post(format!("{sys}/Actions/ComputerSystem.Reset"))
            .basic_auth(USER, Some(PASS))
            .json(&json!({"ResetType": kind}))
            .send()
    };
    let start = Instant::now();
    reset("On").await.unwrap();
    loop {
        let v: serde_json::Value = c
            .get(&sys)
            .basic_auth(USER, Some(PASS))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["PowerState"] == "On" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never powered on"
        );
    }
    let d = start.elapsed();
    reset("ForceOff").await.unwrap();
    d
}

fn manifest(ems: &[Sushy], per: usize, hosts: usize, phase: &str, iso: &str) -> String {
    let mut out = String::new();
    for n in 0..hosts {
        let (e, i) = (n / per, n % per);
        let name = format!("host-{n:04}");
        let mut spec = json!({
            "online": phase == "provision",
            "bmc": {
                "address": format!("redfish-virtualmedia+http://127.0.0.1:{}/redfish/v1/Systems/{}", ems[e].port, system_uuid(i)),
                "credentialsName": format!("{name}-bmc"),
            },
            "bootMACAddress": format!("00:5c:52:31:{:02x}:{:02x}", 0x3a + (i >> 8), i & 0xff),
            "automatedCleaningMode": "disabled",
        });
        if phase == "provision" {
            spec["image"] = json!({"url": iso, "format": "live-iso"});
        }
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("{name}-bmc")},
            "type": "Opaque",
            "stringData": {"username": USER, "password": PASS},
        });
        let host = json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": name},
            "spec": spec,
        });
        out.push_str(&format!("{secret}\n---\n{host}\n---\n"));
    }
    out
}

/// `metal3ctl enroll -f FILE --wait`: apply, then run the engine until every
/// host settles; fails unless all reach `want`.
fn run_phase(store: &Path, file: &Path, hosts: usize, want: &str) -> Duration {
    let conc = env_usize("BMO_CONCURRENCY", hosts).to_string();
    let limit = env_usize("PROVISIONING_LIMIT", hosts).to_string();
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(["enroll", "--wait=60m", "-f"])
        .arg(file)
        .env("METAL3CTL_STORE", store)
        .env("BMO_CONCURRENCY", &conc)
        .env("PROVISIONING_LIMIT", &limit)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "enroll failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(["get", "bmh", "-o", "json"])
        .env("METAL3CTL_STORE", store)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let items = v["items"].as_array().cloned().unwrap_or_default();
    let ok = items
        .iter()
        .filter(|h| h["status"]["provisioning"]["state"] == want)
        .count();
    assert_eq!(ok, hosts, "{ok} of {hosts} hosts reached {want}");
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: a 4-host
    // smoke run there keeps the bench working without costing CI minutes.
    let full = std::env::args().any(|a| a == "--bench");
    let hosts = env_usize("HOSTS", if full { 100 } else { 4 });
    let per = env_usize("PER_EMULATOR", 25);
    let n_ems = hosts.div_ceil(per);
    let mut ems = Vec::with_capacity(n_ems);
    for e in 0..n_ems {
        ems.push(Sushy::start_with(false, per.min(hosts - e * per)).await);
    }
    let iso_port = sushy::serve_file(b"not really an iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/live.iso");
    let dir = std::env::temp_dir().join(format!("metal3ctl-fleet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("store.db");

    let rps = throughput(&ems, 3).await;
    let delay = power_delay(&ems[0]).await;
    let before = total_requests(&ems);

    let mut phases = Vec::new();
    for (phase, want) in [
        ("enroll", "available"),
        ("provision", "provisioned"),
        ("deprovision", "available"),
    ] {
        let file = dir.join(format!("{phase}.yaml"));
        std::fs::write(&file, manifest(&ems, per, hosts, phase, &iso)).unwrap();
        let r0 = total_requests(&ems);
        let took = run_phase(&store, &file, hosts, want);
        // Werkzeug writes the log line after the response: let it land.
        tokio::time::sleep(Duration::from_millis(300)).await;
        phases.push((phase, took, total_requests(&ems) - r0));
    }
    let requests = total_requests(&ems) - before;
    let wall: Duration = phases.iter().map(|p| p.1).sum();
    let limit = requests as f64 / rps + delay.as_secs_f64();
    println!(
        "fleet: {hosts} hosts on {n_ems} sushy-tools processes ({per} systems each), concurrency {}, provisioning limit {}",
        env_usize("BMO_CONCURRENCY", hosts),
        env_usize("PROVISIONING_LIMIT", hosts)
    );
    for (phase, took, reqs) in &phases {
        println!(
            "  {phase:<12} {:>7.1} s  {reqs:>6} BMC requests  ({:.1} per host)",
            took.as_secs_f64(),
            *reqs as f64 / hosts as f64
        );
    }
    println!(
        "  total        {:>7.1} s  {requests:>6} BMC requests; emulators {rps:.0} req/s together, power transition {:.0} ms",
        wall.as_secs_f64(),
        delay.as_secs_f64() * 1e3
    );
    println!(
        "  emulator-bound limit {limit:.1} s (requests ÷ throughput + power delay); ratio {:.2}× (target ≤ 1.5×)",
        wall.as_secs_f64() / limit
    );
    let _ = std::fs::remove_dir_all(&dir);
}
