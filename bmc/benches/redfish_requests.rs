//! Counts HTTP requests per operation against sushy-emulator (from its access
//! log on stderr): metal3-bmc's Redfish client vs Ironic's Python `sushy`
//! library doing the same operation with the same guarantees. Run with
//! `cargo bench -p metal3-bmc --bench redfish_requests` (needs the peers venv,
//! see scripts/setup-peers.sh).
//!
//! Like for like: each side gets its own emulator in the same initial state
//! and runs the same operations on the same systems in the same order; each
//! operation starts from a fresh connection (service root, login attempt,
//! system lookup are counted) and ends when the BMC reports the result, as
//! metal3-bmc's operations do: power on polls the system until it reads
//! `On` (as Ironic does after `reset_system`), a boot override and an inserted
//! image are read back once. The sushy script does this with sushy's own
//! calls (`refresh()`); sushy has no Memory collection accessor, so it reads
//! that collection through its connector.
//!
//! sushy-tools' fake driver applies a power change 1 to 11 s (at random)
//! after the request, so the number of polls while waiting says nothing
//! about either client: the repeated reads of the system after a reset (both
//! sides poll every 200 ms) are counted once, as the read-back, and shown
//! apart as "polls".

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/support/sushy.rs"]
mod sushy;

use std::process::Command;
use std::time::{Duration, Instant};

use metal3_bmc::{BootDevice, BootMode, BootOverride, PowerAction, PowerBootControl};
use sushy::*;

/// Folds the repeated system reads after a reset (the wait for the new
/// power state) into one: returns the requests and the number folded.
fn fold_polls(reqs: Vec<String>) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut after_reset = false;
    let mut polls = 0;
    for r in reqs {
        if r.contains("/Actions/ComputerSystem.Reset") {
            after_reset = true;
        } else if after_reset && r.starts_with("GET ") && out.last() == Some(&r) {
            polls += 1;
            continue;
        } else if !r.starts_with("GET ") {
            after_reset = false;
        }
        out.push(r);
    }
    (out, polls)
}

/// Requests the emulator logged while `f` ran (the log is flushed async).
async fn count<F: std::future::Future<Output = ()>>(s: &Sushy, f: F) -> (Vec<String>, Duration) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = requests_in_log(s).len();
    let t = Instant::now();
    f.await;
    let took = t.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    (requests_in_log(s).split_off(before), took)
}

const PY: &str = r#"
import sys, time, sushy
base, user, pw, sysid, op, iso = sys.argv[1:7]
c = sushy.Sushy(base + '/redfish/v1', username=user, password=pw, verify=False)
path = '/redfish/v1/Systems/' + sysid
s = c.get_system(path)

# Reads back as Ironic does: a new System object (one GET; s.refresh() would
# also re-read every sub-resource already loaded, e.g. virtual media).
def power_on():
    s.reset_system(sushy.ResetType.ON)
    deadline = time.time() + 60
    while True:
        now = c.get_system(path).power_state
        if now == sushy.PowerState.ON:
            return
        assert time.time() < deadline, 'still ' + str(now)
        time.sleep(0.2)

def boot(target, mode=None):
    s.set_system_boot_options(target, enabled=sushy.BootSourceOverrideEnabled.ONCE, mode=mode)
    now = c.get_system(path).boot.target
    assert now == target, now

if op == 'power-on':
    power_on()
elif op == 'pxe-once':
    boot(sushy.BootSource.PXE, sushy.BootSourceOverrideMode.UEFI)
elif op == 'vmedia-boot':
    for vm in s.virtual_media.get_members():
        if sushy.VirtualMediaType.CD in vm.media_types or sushy.VirtualMediaType.DVD in vm.media_types:
            if vm.inserted:
                vm.eject_media()
            vm.insert_media(iso, inserted=True, write_protected=True)
            vm.refresh()
            assert vm.inserted
            break
    boot(sushy.BootSource.CD)
    power_on()
elif op == 'inventory':
    parts = []
    for name in ('processors', 'ethernet_interfaces', 'storage', 'simple_storage'):
        try:
            coll = getattr(s, name)
            parts.append([m.identity for m in coll.get_members()])
        except Exception as e:
            parts.append(str(e)[:20])
    try:
        coll = s._conn.get(s.json['Memory']['@odata.id']).json()
        parts.append([s._conn.get(m['@odata.id']).json() for m in coll.get('Members', [])])
    except Exception as e:
        parts.append(str(e)[:20])
    _ = (s.manufacturer, s.model, s.serial_number, s.bios_version, s.memory_summary)
"#;

async fn python(s: &Sushy, sys: &str, op: &str, iso: &str) -> (Vec<String>, Duration) {
    let py = venv().join("bin/python");
    let (base, sys, op, iso) = (s.base(), sys.to_string(), op.to_string(), iso.to_string());
    count(s, async move {
        let out = tokio::task::spawn_blocking(move || {
            Command::new(py)
                .args(["-c", PY, &base, USER, PASS, &sys, &op, &iso])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "python sushy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await
}

/// The operations, each on the system it uses (the same on both sides).
const OPS: [(&str, usize); 4] = [
    ("power-on", 0),
    ("pxe-once", 1),
    ("vmedia-boot", 2),
    ("inventory", 0),
];

async fn ours(s: &Sushy, op: &str, sys: usize, iso: &str) -> (Vec<String>, Duration) {
    let wait = Duration::from_secs(60);
    let every = Duration::from_millis(200);
    let pxe = BootOverride {
        device: BootDevice::Pxe,
        persistent: false,
        mode: Some(BootMode::Uefi),
        http_boot_uri: None,
    };
    let cd = BootOverride {
        device: BootDevice::Cd,
        persistent: false,
        mode: None,
        http_boot_uri: None,
    };
    count(s, async {
        let c = connect(s, sys).await;
        match op {
            "power-on" => {
                c.set_power_and_wait(PowerAction::On, wait, every)
                    .await
                    .unwrap();
            }
            "pxe-once" => c.set_boot(&pxe).await.unwrap(),
            "vmedia-boot" => {
                c.media_insert(iso).await.unwrap();
                c.set_boot(&cd).await.unwrap();
                c.set_power_and_wait(PowerAction::On, wait, every)
                    .await
                    .unwrap();
            }
            "inventory" => {
                c.inventory().await.unwrap();
            }
            other => panic!("unknown operation {other}"),
        }
    })
    .await
}

#[tokio::main]
async fn main() {
    let (mine, theirs_emu) = (Sushy::start(false).await, Sushy::start(false).await);
    let iso_port = serve_file(b"iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/boot.iso");
    let mut us = Vec::new();
    let mut theirs = Vec::new();
    for (op, sys) in OPS {
        us.push(ours(&mine, op, sys, &iso).await);
        theirs.push(python(&theirs_emu, SYS[sys], op, &iso).await);
    }
    let ours: Vec<_> = us.into_iter().map(|(r, t)| (fold_polls(r), t)).collect();
    let theirs: Vec<_> = theirs
        .into_iter()
        .map(|(r, t)| (fold_polls(r), t))
        .collect();
    let ops: Vec<&str> = OPS.iter().map(|(op, _)| *op).collect();
    println!("requests per operation against sushy-emulator (fake driver, basic auth)");
    println!(
        "{:<14} {:>6} {:>10} {:>7} {:>12} {:>12}  (polls while waiting: ours/sushy)",
        "operation", "ours", "sushy (py)", "ratio", "ours ms", "sushy ms"
    );
    for (i, op) in ops.iter().enumerate() {
        println!(
            "{:<14} {:>6} {:>10} {:>6.0}% {:>12} {:>12}  ({}/{})",
            op,
            ours[i].0 .0.len(),
            theirs[i].0 .0.len(),
            100.0 * ours[i].0 .0.len() as f64 / theirs[i].0 .0.len().max(1) as f64,
            ours[i].1.as_millis(),
            theirs[i].1.as_millis(),
            ours[i].0 .1,
            theirs[i].0 .1,
        );
    }
    println!("\nrequests, in order (ours | sushy):");
    for (i, op) in ops.iter().enumerate() {
        println!("{op}:");
        let (a, b) = (&ours[i].0 .0, &theirs[i].0 .0);
        for n in 0..a.len().max(b.len()) {
            println!(
                "  {:<70} | {}",
                a.get(n).map(String::as_str).unwrap_or(""),
                b.get(n).map(String::as_str).unwrap_or("")
            );
        }
    }
}
