//! Crash safety of `metal3ctl controller run`: a fleet on two sushy-tools
//! processes goes through enroll → live-ISO provision → deprovision →
//! delete while the controller is killed with SIGKILL at random points and
//! restarted. After each phase every host must have converged with nothing
//! lost or duplicated, and the emulators must agree with the store.
//!
//! Kill points come from a seeded generator: set `CRASH_SEED` to replay a
//! failure (the seed is printed in every assertion message).
//!
//! Needs the peers venv (METAL3_PEERS_VENV or <repo>/.venv).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../bmc/tests/support/sushy.rs"]
mod sushy;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sushy::{Sushy, PASS, SYS, USER};

/// SIGKILLs per phase; four phases ⇒ 24 trials.
const KILLS_PER_PHASE: usize = 6;
const CONVERGE: Duration = Duration::from_secs(90);

/// splitmix64: small, seedable, good enough to spread kill points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

struct Fleet {
    emulators: Vec<Sushy>,
    dir: PathBuf,
    store: PathBuf,
    seed: u64,
    /// (host name, emulator index, system index)
    hosts: Vec<(String, usize, usize)>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ctl(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(args)
        .env("METAL3CTL_STORE", store)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

impl Fleet {
    fn ok(&self, args: &[&str]) -> String {
        let out = ctl(&self.store, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "seed {}: metal3ctl {args:?} failed:\n{stdout}\n{}",
            self.seed,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn hosts_json(&self) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.ok(&["get", "bmh", "-o", "json"])).unwrap();
        v["items"].as_array().cloned().unwrap_or_default()
    }

    fn list(&self, kind: &str) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.ok(&["get", kind, "-o", "json"])).unwrap();
        v["items"].as_array().cloned().unwrap_or_default()
    }

    fn start_controller(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
            .args(["controller", "run", "--concurrency", "4"])
            .env("METAL3CTL_STORE", &self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    async fn raw_system(&self, e: usize, i: usize) -> Value {
        self.emulators[e]
            .raw_get(&format!("/redfish/v1/Systems/{}", SYS[i]))
            .await
    }

    async fn raw_cd(&self, e: usize, i: usize) -> Value {
        let s = &self.emulators[e];
        let coll = s
            .raw_get(&format!("/redfish/v1/Systems/{}/VirtualMedia", SYS[i]))
            .await;
        for m in coll["Members"].as_array().unwrap() {
            let slot = s.raw_get(m["@odata.id"].as_str().unwrap()).await;
            let types = slot["MediaTypes"].as_array().cloned().unwrap_or_default();
            if types.iter().any(|t| t == "CD" || t == "DVD") {
                return slot;
            }
        }
        panic!("no CD slot: {coll}");
    }

    /// Events of one host by reason, read from `describe`.
    fn event_count(&self, host: &str, reason: &str) -> usize {
        let text = self.ok(&["describe", "bmh", host]);
        text.lines()
            .skip_while(|l| *l != "Events:")
            .filter(|l| l.split_whitespace().nth(1) == Some(reason))
            .count()
    }

    /// Runs the controller, SIGKILLing it `KILLS_PER_PHASE` times at random
    /// points, then lets it run until `done` holds for the host list.
    async fn phase(&self, rng: &mut Rng, name: &str, done: impl Fn(&[Value]) -> bool) {
        for k in 0..KILLS_PER_PHASE {
            let mut c = self.start_controller();
            // Early kills hit start-up and the first BMC calls, later ones
            // land mid-operation.
            let at = rng.range(30, 1500);
            tokio::time::sleep(Duration::from_millis(at)).await;
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
            eprintln!("seed {}: {name}: kill {k} after {at} ms", self.seed);
        }
        let mut c = self.start_controller();
        let start = Instant::now();
        loop {
            let hosts = self.hosts_json();
            if done(&hosts) {
                break;
            }
            if start.elapsed() > CONVERGE {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "seed {}: {name}: hosts did not converge in {CONVERGE:?}: {}",
                    self.seed,
                    serde_json::to_string_pretty(&hosts).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let st = c.wait().unwrap();
        assert!(st.success(), "seed {}: controller exit {st:?}", self.seed);
        eprintln!(
            "seed {}: {name}: converged {:.1}s after the last restart",
            self.seed,
            start.elapsed().as_secs_f64()
        );
    }

    /// Store invariants that hold in every phase.
    fn check_no_duplicates(&self, hosts: &[Value]) {
        let seed = self.seed;
        for h in hosts {
            let fins = h["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut sorted: Vec<String> = fins.iter().map(|f| f.to_string()).collect();
            sorted.sort();
            sorted.dedup();
            assert_eq!(
                sorted.len(),
                fins.len(),
                "seed {seed}: duplicate finalizers {h}"
            );
            let st = &h["status"];
            assert_eq!(st["operationalStatus"], "OK", "seed {seed}: {h}");
            assert_eq!(
                st["errorCount"].as_i64().unwrap_or(0),
                0,
                "seed {seed}: {h}"
            );
            assert_eq!(
                st["provisioningFailCount"].as_i64().unwrap_or(0),
                0,
                "seed {seed}: {h}"
            );
            for op in ["register", "inspect"] {
                let o = &st["operationHistory"][op];
                assert!(finished(o), "seed {seed}: {op} history {h}");
            }
        }
        for s in self.list("secret") {
            let owners = s["metadata"]["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(owners.len() <= 1, "seed {seed}: duplicate owners {s}");
            let fins = s["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(fins.len() <= 1, "seed {seed}: duplicate finalizers {s}");
        }
        let hd = self.list("hd");
        assert_eq!(hd.len(), hosts.len(), "seed {seed}: HardwareData {hd:?}");
        for kind in ["hfs", "hfc"] {
            assert_eq!(self.list(kind).len(), hosts.len(), "seed {seed}: {kind}");
        }
    }
}

/// A finished operation: start and end set, end not before start (RFC 3339
/// UTC strings of one format compare in time order).
fn finished(o: &Value) -> bool {
    match (o["start"].as_str(), o["end"].as_str()) {
        (Some(s), Some(e)) => e >= s,
        _ => false,
    }
}

fn state(h: &Value) -> &str {
    h["status"]["provisioning"]["state"].as_str().unwrap_or("")
}

fn all_in(hosts: &[Value], want: &str, powered: bool, n: usize) -> bool {
    hosts.len() == n
        && hosts.iter().all(|h| {
            state(h) == want
                && h["status"]["poweredOn"] == powered
                && h["status"]["operationalStatus"] == "OK"
                && h["metadata"]["annotations"]
                    .as_object()
                    .is_none_or(|a| a.keys().all(|k| !k.starts_with("reboot.metal3.io")))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_controller_converges_without_loss_or_duplicates() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("crash_safety: CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let emulators = vec![Sushy::start(false).await, Sushy::start(false).await];
    let iso_port = sushy::serve_file(b"not really an iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/live.iso");
    let dir = std::env::temp_dir().join(format!("metal3ctl-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut hosts = Vec::new();
    let mut docs = String::new();
    for (e, s) in emulators.iter().enumerate() {
        for (i, sys) in SYS.iter().enumerate() {
            let name = format!("h{e}{i}");
            let secret = json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("{name}-bmc")},
                "type": "Opaque",
                "stringData": {"username": USER, "password": PASS},
            });
            let host = json!({
                "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                "metadata": {"name": name},
                "spec": {
                    "online": false,
                    "bmc": {
                        "address": format!("redfish-virtualmedia+http://127.0.0.1:{}/redfish/v1/Systems/{}", s.port, sys),
                        "credentialsName": format!("{name}-bmc"),
                    },
                    "bootMACAddress": format!("00:5c:52:31:3a:0{i}"),
                    "automatedCleaningMode": "disabled",
                },
            });
            docs.push_str(&format!("{secret}\n---\n{host}\n---\n"));
            hosts.push((name, e, i));
        }
    }
    let fleet = Fleet {
        emulators,
        store: dir.join("store.db"),
        dir,
        seed,
        hosts,
    };
    let n = fleet.hosts.len();
    let file = fleet.dir.join("fleet.yaml");
    std::fs::write(&file, docs).unwrap();

    // 1. Enroll: register + inspect to available.
    fleet.ok(&["apply", "-f", file.to_str().unwrap()]);
    fleet
        .phase(&mut rng, "enroll", |h| all_in(h, "available", false, n))
        .await;
    let enrolled = fleet.hosts_json();
    fleet.check_no_duplicates(&enrolled);
    let history = |hs: &[Value], name: &str, op: &str| {
        hs.iter()
            .find(|h| h["metadata"]["name"] == name)
            .map(|h| h["status"]["operationHistory"][op].clone())
            .unwrap()
    };

    // 2. Live-ISO provision.
    for (name, _, _) in &fleet.hosts {
        fleet.ok(&["provision", name, "--image", &iso, "--format", "live-iso"]);
    }
    fleet
        .phase(&mut rng, "provision", |h| all_in(h, "provisioned", true, n))
        .await;
    let provisioned = fleet.hosts_json();
    fleet.check_no_duplicates(&provisioned);
    for (name, e, i) in &fleet.hosts {
        for op in ["register", "inspect"] {
            assert_eq!(
                history(&provisioned, name, op),
                history(&enrolled, name, op),
                "seed {seed}: {name} redid {op}"
            );
        }
        let p = history(&provisioned, name, "provision");
        assert!(finished(&p), "seed {seed}: {p}");
        let sys = fleet.raw_system(*e, *i).await;
        assert_eq!(sys["PowerState"], "On", "seed {seed}: {name} {sys}");
        assert_eq!(
            sys["Boot"]["BootSourceOverrideTarget"], "Cd",
            "seed {seed}: {sys}"
        );
        let cd = fleet.raw_cd(*e, *i).await;
        assert!(
            cd["Inserted"] == true && cd["Image"] == iso.as_str(),
            "seed {seed}: {cd}"
        );
        for reason in [
            "InspectionStarted",
            "ProvisioningStarted",
            "ProvisioningComplete",
        ] {
            let c = fleet.event_count(name, reason);
            assert!(c <= 1, "seed {seed}: {name}: {c} {reason} events");
        }
    }

    // 3. Deprovision and power off.
    for (name, _, _) in &fleet.hosts {
        fleet.ok(&["deprovision", name]);
        fleet.ok(&["power", "off", name]);
    }
    fleet
        .phase(&mut rng, "deprovision", |h| {
            all_in(h, "available", false, n)
        })
        .await;
    let deprovisioned = fleet.hosts_json();
    fleet.check_no_duplicates(&deprovisioned);
    for (name, e, i) in &fleet.hosts {
        assert_eq!(
            history(&deprovisioned, name, "provision"),
            history(&provisioned, name, "provision"),
            "seed {seed}: {name} provision history changed"
        );
        let d = history(&deprovisioned, name, "deprovision");
        assert!(finished(&d), "seed {seed}: {d}");
        assert_eq!(
            fleet.raw_system(*e, *i).await["PowerState"],
            "Off",
            "seed {seed}: {name}"
        );
        assert_eq!(
            fleet.raw_cd(*e, *i).await["Inserted"],
            false,
            "seed {seed}: {name}"
        );
        assert!(
            fleet.event_count(name, "DeprovisioningStarted") <= 1,
            "seed {seed}: {name}"
        );
    }

    // 4. Delete: every host goes, Secrets released, HardwareData removed.
    for (name, _, _) in &fleet.hosts {
        fleet.ok(&["delete", "bmh", name]);
    }
    fleet.phase(&mut rng, "delete", |h| h.is_empty()).await;
    for s in fleet.list("secret") {
        assert!(
            s["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty()),
            "seed {seed}: secret not released {s}"
        );
    }
    assert!(
        fleet.list("hd").is_empty(),
        "seed {seed}: HardwareData left"
    );
    for (name, e, i) in &fleet.hosts {
        assert_eq!(
            fleet.raw_system(*e, *i).await["PowerState"],
            "Off",
            "seed {seed}: {name}"
        );
    }
}
