//! 50 hosts through enrol → provision → deprovision → delete on one real
//! Ironic standalone (fake-hardware nodes): once with metal3-rs's engine and
//! `IronicProvisioner`, once with Ironic's own python-ironicclient driving
//! the same node lifecycle (`benches/ironicclient_flow.py`). Reports wall
//! time per phase, API requests sent and the Ironic process's CPU time.
//!
//! `cargo bench -p metal3-provisioning --bench ironic_lifecycle`
//! Needs the peers venv (`scripts/setup-peers.sh`); python-ironicclient is
//! installed on first run into `target/bench-ironicclient-venv` (override
//! with `METAL3_IRONICCLIENT_VENV`). `BENCH_HOSTS` changes the host count.

// A benchmark harness: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/ironic_peer.rs"]
mod ironic_peer;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ironic_peer::Ironic;
use metal3_hostmodel::hardware::{HardwareDetails, Nic};
use metal3_hostmodel::BareMetalHost;
use metal3_provisioning::engine::{Engine, EngineOptions};
use metal3_provisioning::ironic::{IronicClient, IronicConfig, IronicOptions, IronicProvisioner};
use metal3_provisioning::store::{
    update_with_retry, MemoryStore, ObjectKey, Store, StoreExt, Subresource,
};
use serde_json::{json, Map, Value};

/// Poll interval for both flows, so polling does not decide the comparison.
const POLL: Duration = Duration::from_millis(500);
/// Hosts (ours: engine workers; theirs: client threads) in flight at once.
const WORKERS: usize = 8;

fn fake_hardware() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("driver".into(), json!("fake-hardware"));
    for i in [
        "boot",
        "deploy",
        "inspect",
        "management",
        "power",
        "raid",
        "bios",
        "vendor",
        "firmware",
    ] {
        m.insert(format!("{i}_interface"), json!("fake"));
    }
    m
}

fn key(i: usize) -> ObjectKey {
    ObjectKey::new("BareMetalHost", "bench", &format!("host-{i}"))
}

fn add_hosts(store: &dyn Store, n: usize) {
    for i in 0..n {
        let mac = format!("52:54:02:00:{:02x}:{:02x}", i / 256, i % 256);
        store
            .create(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("host-{i}-bmc"), "namespace": "bench"},
                "stringData": {"username": "admin", "password": "pw"},
            }))
            .unwrap();
        let hw = HardwareDetails {
            ram_mebibytes: 4096,
            nics: vec![Nic {
                name: "eth0".into(),
                mac: mac.clone(),
                pxe: Some(true),
                ..Nic::default()
            }],
            ..HardwareDetails::default()
        };
        store
            .create(json!({
                "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                "metadata": {"name": format!("host-{i}"), "namespace": "bench",
                    "annotations": {"inspect.metal3.io/hardwaredetails": serde_json::to_string(&hw).unwrap()}},
                "spec": {
                    "online": false,
                    "bmc": {"address": format!("redfish+http://127.0.0.1:9/redfish/v1/Systems/{i}"),
                            "credentialsName": format!("host-{i}-bmc")},
                    "bootMACAddress": mac,
                    "automatedCleaningMode": "metadata",
                },
            }))
            .unwrap();
        store
            .create(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("host-{i}-ud"), "namespace": "bench"},
                "stringData": {"userData": "#cloud-config\n"},
            }))
            .unwrap();
    }
}

fn edit_all(store: &dyn Store, n: usize, f: impl Fn(&mut Value)) {
    for i in 0..n {
        update_with_retry(store, &key(i), Subresource::Main, |v| {
            f(v);
            Ok(())
        })
        .unwrap();
    }
}

fn expect_state(store: &dyn Store, n: usize, want: &str) {
    for i in 0..n {
        let h: BareMetalHost = store.get_as(&key(i)).unwrap();
        let st = h.status.unwrap();
        assert_eq!(
            st.provisioning.state.as_str(),
            want,
            "host-{i}: {}",
            st.error_message
        );
    }
}

struct Figures {
    phases: Vec<(&'static str, Duration)>,
    requests: u64,
    cpu: f64,
}

async fn ours(ironic: &Ironic, n: usize) -> Figures {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let client = IronicClient::connect(&IronicConfig::new(ironic.url()))
        .await
        .unwrap();
    let p = Arc::new(IronicProvisioner::new(
        client,
        IronicOptions {
            short_poll: POLL,
            long_poll: POLL,
            provisioning_limit: n,
            node_overrides: fake_hardware(),
            ..IronicOptions::default()
        },
        Some(store.clone()),
    ));
    let engine = Engine::new(
        store.clone(),
        p.clone(),
        EngineOptions {
            concurrency: WORKERS,
            provisioning_limit: n,
            error_retry_base: Duration::from_millis(200),
            error_retry_max: Duration::from_secs(2),
            ..EngineOptions::default()
        },
    );
    let keys: Vec<ObjectKey> = (0..n).map(key).collect();
    let settle = |what: &'static str| {
        let engine = engine.clone();
        let keys = keys.clone();
        async move {
            engine
                .run_hosts_until_settled(&keys, Duration::from_secs(900))
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
        }
    };
    let cpu0 = ironic.cpu_seconds();
    let req0 = p.client().requests_sent();
    let mut phases = Vec::new();

    add_hosts(store.as_ref(), n);
    let t = Instant::now();
    settle("enrol").await;
    phases.push(("enrol (register, manage, inspect)", t.elapsed()));
    expect_state(store.as_ref(), n, "available");

    edit_all(store.as_ref(), n, |v| {
        v["spec"]["image"] = json!({"url": "http://127.0.0.1:9/os.qcow2", "checksum": "6a1f2b0c",
                                    "checksumType": "sha256", "format": "qcow2"});
        v["spec"]["userData"] =
            json!({"name": v["metadata"]["name"].as_str().map(|s| format!("{s}-ud"))});
        v["spec"]["online"] = json!(true);
    });
    let t = Instant::now();
    settle("provision").await;
    phases.push(("provision (provide, deploy, power on)", t.elapsed()));
    expect_state(store.as_ref(), n, "provisioned");

    edit_all(store.as_ref(), n, |v| {
        v["spec"]["image"] = Value::Null;
        v["spec"]["online"] = json!(false);
    });
    let t = Instant::now();
    settle("deprovision").await;
    phases.push(("deprovision (tear down, clean)", t.elapsed()));
    expect_state(store.as_ref(), n, "available");

    for k in &keys {
        store.delete(k).unwrap();
    }
    let t = Instant::now();
    settle("delete").await;
    phases.push(("delete", t.elapsed()));
    let left = store
        .list_as::<BareMetalHost>("BareMetalHost", Some("bench"), None)
        .unwrap();
    assert!(left.is_empty(), "hosts left after delete");
    Figures {
        phases,
        requests: p.client().requests_sent() - req0,
        cpu: ironic.cpu_seconds() - cpu0,
    }
}

fn client_venv() -> PathBuf {
    if let Some(v) = std::env::var_os("METAL3_IRONICCLIENT_VENV") {
        return PathBuf::from(v);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-ironicclient-venv")
}

fn ensure_ironicclient(venv: &Path) -> PathBuf {
    let py = venv.join("bin/python");
    let has = |py: &Path| {
        Command::new(py)
            .args(["-c", "import ironicclient"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has(&py) {
        eprintln!("installing python-ironicclient into {}", venv.display());
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "python3 -m venv {} failed", venv.display());
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "python-ironicclient"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip install python-ironicclient failed");
        assert!(has(&py), "ironicclient still not importable");
    }
    py
}

fn theirs(ironic: &Ironic, n: usize, py: &Path) -> Figures {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ironicclient_flow.py");
    let cpu0 = ironic.cpu_seconds();
    let out = Command::new(py)
        .arg(&script)
        .arg(ironic.url())
        .arg(n.to_string())
        .arg("pybench")
        .arg(WORKERS.to_string())
        .arg(POLL.as_secs_f64().to_string())
        .output()
        .expect("run the ironicclient flow");
    assert!(
        out.status.success(),
        "ironicclient flow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("flow output JSON");
    let secs = |k: &str| Duration::from_secs_f64(v[k].as_f64().unwrap_or(0.0));
    Figures {
        phases: vec![
            ("enrol (register, manage, inspect)", secs("enrol_s")),
            ("provision (provide, deploy, power on)", secs("provision_s")),
            ("deprovision (tear down, clean)", secs("deprovision_s")),
            ("delete", secs("delete_s")),
        ],
        requests: v["requests"].as_u64().unwrap_or(0),
        cpu: ironic.cpu_seconds() - cpu0,
    }
}

fn print(name: &str, f: &Figures) {
    let total: Duration = f.phases.iter().map(|(_, d)| *d).sum();
    println!("{name}");
    for (p, d) in &f.phases {
        println!("  {p:<40} {:>8.1} s", d.as_secs_f64());
    }
    println!("  {:<40} {:>8.1} s", "total wall", total.as_secs_f64());
    println!("  {:<40} {:>8}", "Ironic API requests", f.requests);
    println!("  {:<40} {:>8.1} s", "Ironic CPU (user+system)", f.cpu);
}

fn main() {
    // `cargo test --benches` runs bench binaries with no `--bench`: skip the
    // minutes-long run there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let py = ensure_ironicclient(&client_venv());
    let ironic = Ironic::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{n} fake-hardware hosts, {WORKERS} in flight, {} ms polls, one Ironic {}",
        POLL.as_millis(),
        ironic.url()
    );
    let a = rt.block_on(ours(&ironic, n));
    print("metal3-rs engine + IronicProvisioner", &a);
    let b = theirs(&ironic, n, &py);
    print("python-ironicclient script (same node lifecycle)", &b);
}
