//! 50 hosts through enrol → provision → deprovision → delete on one real
//! Ironic standalone (fake-hardware nodes): once with metal3-rs's engine and
//! `IronicProvisioner`, once with Ironic's own python-ironicclient driving
//! the same node lifecycle (`benches/ironicclient_flow.py`); and the steps
//! both backends support (enrol/inspect → live ISO → deprovision → delete)
//! with the same engine and the direct provisioner on sushy-tools' fake
//! systems. Reports wall time, API requests and the Ironic process's CPU
//! time per phase; requests are counted from Ironic's own request log (and
//! sushy-tools' access log for the direct column), with a per-phase
//! breakdown by request kind.
//!
//! `cargo bench -p metal3-provisioning --bench ironic_lifecycle`
//! Needs the peers venv (`scripts/setup-peers.sh`); python-ironicclient is
//! installed on first run into `target/bench-ironicclient-venv` (override
//! with `METAL3_IRONICCLIENT_VENV`). `BENCH_HOSTS` changes the host count,
//! `BENCH_ONLY=ours,theirs,direct` picks columns, `BENCH_IRONIC_LOG=FILE`
//! keeps Ironic's log. Without `--bench` (as
//! under `cargo test --all-targets`) it is a 2-host smoke run of our two
//! columns.

// A benchmark harness: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/ironic_peer.rs"]
mod ironic_peer;
#[path = "../../bmc/tests/support/sushy.rs"]
mod sushy;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ironic_peer::Ironic;
use metal3_hostmodel::hardware::{HardwareDetails, Nic};
use metal3_hostmodel::BareMetalHost;
use metal3_provisioning::direct::{DirectOptions, DirectProvisioner};
use metal3_provisioning::engine::{Engine, EngineOptions};
use metal3_provisioning::ironic::{IronicClient, IronicConfig, IronicOptions, IronicProvisioner};
use metal3_provisioning::provisioner::Provisioner;
use metal3_provisioning::store::{
    update_with_retry, MemoryStore, ObjectKey, Store, StoreExt, Subresource,
};
use serde_json::{json, Map, Value};
use sushy::Sushy;

/// Poll interval for both flows, so polling does not decide the comparison.
const POLL: Duration = Duration::from_millis(500);
/// Hosts (ours: engine workers; theirs: client threads) in flight at once.
const WORKERS: usize = 8;
/// `PROVISIONING_LIMIT` of the engine columns: every host
/// (`BENCH_PROVISIONING_LIMIT` to vary; see docs/ironic.md for why not 8).
fn limit(n: usize) -> usize {
    std::env::var("BENCH_PROVISIONING_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

/// The phases every column reports, in order.
const PHASES: [&str; 4] = [
    "enrol (register, manage, inspect)",
    "provision (provide, deploy, power on)",
    "deprovision (tear down, clean)",
    "delete",
];

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

/// Requests Ironic logged (its request-log middleware writes one INFO line
/// per API call: `<ip> - GET /v1/nodes/<id> - 200 (1.2ms)`), each as
/// "METHOD shape" with node names, UUIDs and query values folded so the
/// lines group by kind.
fn ironic_requests(ironic: &Ironic) -> Vec<String> {
    let log = ironic.conf.with_file_name("ironic.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let at = ["- GET /", "- POST /", "- PATCH /", "- PUT /", "- DELETE /"]
                .iter()
                .filter_map(|m| l.find(m))
                .min()?;
            let rest = &l[at + 2..];
            let (method, rest) = rest.split_once(' ')?;
            let path = rest.split(" - ").next()?;
            Some(format!("{method} {}", path_shape(path)))
        })
        .collect()
}

/// `/v1/nodes/bench~host-3/states/provision?x=1` → `/v1/nodes/{id}/states/provision?x`.
fn path_shape(path: &str) -> String {
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let mut segs: Vec<String> = Vec::new();
    for (i, s) in p.split('/').enumerate() {
        let prev = if i > 0 { p.split('/').nth(i - 1) } else { None };
        let id = matches!(prev, Some("nodes" | "ports")) && !s.is_empty() && s != "detail";
        segs.push(if id { "{id}".into() } else { s.to_string() });
    }
    let mut out = segs.join("/");
    if !q.is_empty() {
        let keys: Vec<&str> = q
            .split('&')
            .map(|kv| kv.split('=').next().unwrap_or(""))
            .collect();
        out.push('?');
        out.push_str(&keys.join("&"));
    }
    out
}

/// Sleeps a moment so the peers' log lines of the last requests land.
fn let_logs_land() {
    std::thread::sleep(Duration::from_millis(300));
}

/// One phase's figures.
struct Phase {
    name: &'static str,
    wall: Duration,
    requests: Vec<String>,
    cpu: f64,
}

struct Figures {
    title: String,
    hosts: usize,
    what: &'static str,
    phases: Vec<Phase>,
    /// Requests our client counted itself (a cross-check of the log).
    client_requests: Option<u64>,
}

/// Measures phases of one column: wall time, requests the peer logged,
/// Ironic CPU.
struct Meter<'a> {
    ironic: Option<&'a Ironic>,
    sushy: Option<&'a Sushy>,
    phases: Vec<Phase>,
    mark: (Instant, usize, f64),
}

impl<'a> Meter<'a> {
    fn new(ironic: Option<&'a Ironic>, sushy: Option<&'a Sushy>) -> Self {
        let mut m = Meter {
            ironic,
            sushy,
            phases: Vec::new(),
            mark: (Instant::now(), 0, 0.0),
        };
        m.start();
        m
    }

    fn log(&self) -> Vec<String> {
        match (self.ironic, self.sushy) {
            (Some(i), _) => ironic_requests(i),
            (None, Some(s)) => sushy::requests_in_log(s)
                .into_iter()
                .map(|r| {
                    // "GET /redfish/v1/Systems/<uuid>/… 200": fold the system id.
                    let mut parts: Vec<&str> = r.split('/').collect();
                    for i in 1..parts.len() {
                        if parts[i - 1] == "Systems" || parts[i - 1] == "Managers" {
                            parts[i] = "{id}";
                        }
                    }
                    parts
                        .join("/")
                        .trim_end_matches(|c: char| c.is_ascii_digit())
                        .trim_end()
                        .to_string()
                })
                .collect(),
            (None, None) => Vec::new(),
        }
    }

    fn cpu(&self) -> f64 {
        self.ironic.map(Ironic::cpu_seconds).unwrap_or(0.0)
    }

    fn start(&mut self) {
        let_logs_land();
        self.mark = (Instant::now(), self.log().len(), self.cpu());
    }

    fn end(&mut self, name: &'static str) {
        let wall = self.mark.0.elapsed();
        let_logs_land();
        let requests = self.log().split_off(self.mark.1);
        let cpu = self.cpu() - self.mark.2;
        self.phases.push(Phase {
            name,
            wall,
            requests,
            cpu,
        });
    }
}

/// The engine both of our columns run (same workers, limit and retries).
fn bench_engine(store: Arc<dyn Store>, p: Arc<dyn Provisioner>, n: usize) -> Engine {
    Engine::new(
        store,
        p,
        EngineOptions {
            concurrency: WORKERS,
            provisioning_limit: limit(n),
            error_retry_base: Duration::from_millis(200),
            error_retry_max: Duration::from_secs(2),
            ..EngineOptions::default()
        },
    )
}

/// Runs the engine until every host in `keys` has settled.
async fn settle(engine: &Engine, keys: &[ObjectKey], what: &str) {
    engine
        .run_hosts_until_settled(keys, Duration::from_secs(900))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Provision `image` (with user data when `user_data`) → deprovision →
/// delete, one phase each, checking the state after each.
async fn later_phases(
    store: &dyn Store,
    engine: &Engine,
    keys: &[ObjectKey],
    m: &mut Meter<'_>,
    image: Value,
    user_data: bool,
) {
    let n = keys.len();
    edit_all(store, n, |v| {
        v["spec"]["image"] = image.clone();
        if user_data {
            v["spec"]["userData"] =
                json!({"name": v["metadata"]["name"].as_str().map(|s| format!("{s}-ud"))});
        }
        v["spec"]["online"] = json!(true);
    });
    m.start();
    settle(engine, keys, "provision").await;
    m.end(PHASES[1]);
    expect_state(store, n, "provisioned");

    edit_all(store, n, |v| {
        v["spec"]["image"] = Value::Null;
        v["spec"]["online"] = json!(false);
    });
    m.start();
    settle(engine, keys, "deprovision").await;
    m.end(PHASES[2]);
    expect_state(store, n, "available");

    for k in keys {
        store.delete(k).unwrap();
    }
    m.start();
    settle(engine, keys, "delete").await;
    m.end(PHASES[3]);
    let left = store
        .list_as::<BareMetalHost>("BareMetalHost", Some("bench"), None)
        .unwrap();
    assert!(left.is_empty(), "hosts left after delete");
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
            provisioning_limit: limit(n),
            node_overrides: fake_hardware(),
            ..IronicOptions::default()
        },
        Some(store.clone()),
    ));
    let engine = bench_engine(store.clone(), p.clone(), n);
    let keys: Vec<ObjectKey> = (0..n).map(key).collect();
    let req0 = p.client().requests_sent();
    let mut m = Meter::new(Some(ironic), None);

    add_hosts(store.as_ref(), n);
    settle(&engine, &keys, "enrol").await;
    m.end(PHASES[0]);
    expect_state(store.as_ref(), n, "available");

    let qcow2 = json!({"url": "http://127.0.0.1:9/os.qcow2", "checksum": "6a1f2b0c",
                       "checksumType": "sha256", "format": "qcow2"});
    later_phases(store.as_ref(), &engine, &keys, &mut m, qcow2, true).await;
    let nodes = p.client().list_nodes(&["uuid"]).await.unwrap();
    assert!(
        nodes.is_empty(),
        "Ironic nodes left after delete: {}",
        nodes.len()
    );
    Figures {
        title: "metal3-rs engine + IronicProvisioner".into(),
        hosts: n,
        what: "Ironic API requests",
        phases: m.phases,
        client_requests: Some(p.client().requests_sent() - req0),
    }
}

/// The direct provisioner through the same engine on sushy-tools' fake
/// systems: the steps both backends support (Redfish inspection instead of
/// Ironic's, a live ISO by virtual media instead of a disk image, no
/// cleaning). Requests are the BMC requests the emulator logged.
async fn direct(n: usize) -> Figures {
    let s = Sushy::start_with(false, n).await;
    let iso_port = sushy::serve_file(b"not really an iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/live.iso");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = Arc::new(DirectProvisioner::new(DirectOptions {
        poll_interval: POLL,
        soft_power_off_timeout: Duration::from_secs(30),
        // sushy's fake driver applies power changes after 1-11 s.
        power_timeout: Duration::from_secs(60),
        redfish: sushy::quick(),
        ..DirectOptions::default()
    }));
    let engine = bench_engine(store.clone(), p.clone(), n);
    let keys: Vec<ObjectKey> = (0..n).map(key).collect();
    let mut m = Meter::new(None, Some(&s));
    for i in 0..n {
        store
            .create(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("host-{i}-bmc"), "namespace": "bench"},
                "stringData": {"username": sushy::USER, "password": sushy::PASS},
            }))
            .unwrap();
        store
            .create(json!({
                "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                "metadata": {"name": format!("host-{i}"), "namespace": "bench"},
                "spec": {
                    "online": false,
                    "bmc": {"address": format!("redfish-virtualmedia+http://127.0.0.1:{}/redfish/v1/Systems/{}",
                                               s.port, sushy::system_uuid(i)),
                            "credentialsName": format!("host-{i}-bmc")},
                    "bootMACAddress": format!("00:5c:52:31:{:02x}:{:02x}", 0x3a + (i >> 8), i & 0xff),
                    "automatedCleaningMode": "disabled",
                },
            }))
            .unwrap();
    }
    settle(&engine, &keys, "enrol").await;
    m.end(PHASES[0]);
    expect_state(store.as_ref(), n, "available");

    let live = json!({"url": iso, "format": "live-iso"});
    later_phases(store.as_ref(), &engine, &keys, &mut m, live, false).await;
    Figures {
        title: "metal3-rs engine + DirectProvisioner on sushy-tools (live ISO, no cleaning)".into(),
        hosts: n,
        what: "BMC requests",
        phases: m.phases,
        client_requests: None,
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
    use std::io::{BufRead, BufReader, Write};
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ironicclient_flow.py");
    let mut m = Meter::new(Some(ironic), None);
    let mut child = Command::new(py)
        .arg(&script)
        .arg(ironic.url())
        .arg(n.to_string())
        .arg("pybench")
        .arg(WORKERS.to_string())
        .arg(POLL.as_secs_f64().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the ironicclient flow");
    let mut stdin = child.stdin.take().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut client_requests = None;
    for line in lines {
        let v: Value = serde_json::from_str(&line.unwrap()).expect("flow output JSON");
        if let Some(name) = v["phase"].as_str() {
            let i = ["enrol", "provision", "deprovision", "delete"]
                .iter()
                .position(|p| *p == name)
                .expect("known phase");
            m.end(PHASES[i]);
            // The script's own timing excludes its start-up.
            if let Some(last) = m.phases.last_mut() {
                last.wall = Duration::from_secs_f64(v["secs"].as_f64().unwrap_or(0.0));
            }
            m.start();
            writeln!(stdin, "go").unwrap();
        } else {
            client_requests = v["requests"].as_u64();
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "ironicclient flow failed: {status}");
    Figures {
        title: "python-ironicclient script (same node lifecycle)".into(),
        hosts: n,
        what: "Ironic API requests",
        phases: m.phases,
        client_requests,
    }
}

fn print(f: &Figures) {
    println!("{}", f.title);
    println!(
        "  {:<40} {:>8} {:>9} {:>9} {:>8}",
        "phase", "wall s", "requests", "per host", "CPU s"
    );
    let mut total = (Duration::ZERO, 0usize, 0.0f64);
    for p in &f.phases {
        println!(
            "  {:<40} {:>8.1} {:>9} {:>9.1} {:>8.1}",
            p.name,
            p.wall.as_secs_f64(),
            p.requests.len(),
            p.requests.len() as f64 / f.hosts as f64,
            p.cpu
        );
        total.0 += p.wall;
        total.1 += p.requests.len();
        total.2 += p.cpu;
    }
    println!(
        "  {:<40} {:>8.1} {:>9} {:>9.1} {:>8.1}",
        "total",
        total.0.as_secs_f64(),
        total.1,
        total.1 as f64 / f.hosts as f64,
        total.2
    );
    println!(
        "  ({} from the peer's log{}; CPU is Ironic's user+system)",
        f.what,
        f.client_requests
            .map(|c| format!(", {c} counted by the client"))
            .unwrap_or_default()
    );
    for p in &f.phases {
        let mut kinds: Vec<(String, usize)> = Vec::new();
        for r in &p.requests {
            match kinds.iter_mut().find(|(k, _)| k == r) {
                Some((_, c)) => *c += 1,
                None => kinds.push((r.clone(), 1)),
            }
        }
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown: Vec<String> = kinds.iter().map(|(k, c)| format!("{c} {k}")).collect();
        println!("    {}: {}", p.name, shown.join(", "));
    }
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: a
    // 2-host smoke run of our columns there keeps the bench working without
    // costing CI minutes.
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 50 } else { 2 });
    let only = std::env::var("BENCH_ONLY").unwrap_or_else(|_| {
        if full {
            "ours,theirs,direct".into()
        } else {
            "ours,direct".into()
        }
    });
    let want = |c: &str| only.split(',').any(|o| o.trim() == c);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{n} hosts, {WORKERS} in flight (engine workers / script threads; provisioning limit {}), {} ms polls",
        limit(n),
        POLL.as_millis()
    );
    if want("ours") || want("theirs") {
        let py = want("theirs").then(|| ensure_ironicclient(&client_venv()));
        let ironic = Ironic::start();
        println!(
            "one Ironic standalone {} (fake-hardware nodes)",
            ironic.url()
        );
        if want("ours") {
            let a = rt.block_on(ours(&ironic, n));
            print(&a);
        }
        if let Some(py) = py {
            let b = theirs(&ironic, n, &py);
            print(&b);
        }
        if let Some(to) = std::env::var_os("BENCH_IRONIC_LOG") {
            std::fs::copy(ironic.conf.with_file_name("ironic.log"), to).unwrap();
        }
    }
    if want("direct") {
        let c = rt.block_on(direct(n));
        print(&c);
    }
}
