//! Counts HTTP requests per operation against sushy-emulator (from its access
//! log on stderr): metal3-bmc's Redfish client vs Ironic's Python `sushy`
//! library doing the same operation with the same guarantees. Run with
//! `cargo bench -p metal3-bmc --bench redfish_requests` (needs the peers venv,
//! see scripts/setup-peers.sh).
//!
//! Like for like:
//! - Each side gets its own emulator in the same initial state (fake driver,
//!   HTTP basic auth, no SessionService) and runs the same operations on the
//!   same systems in the same order; each table starts from new emulators.
//! - An operation ends when the BMC reports the result, as metal3-bmc's
//!   operations do: power on polls the system until it reads `On` (as Ironic
//!   does after `reset_system`); a boot override and an inserted image are
//!   read back once. The sushy script does this with sushy's own calls
//!   (reading back through a new System object, one GET, as Ironic does);
//!   sushy has no Memory collection accessor, so it reads that collection
//!   through its connector.
//! - "vmedia-boot" is eject-if-needed + insert + one-time boot from CD +
//!   power on. Ours runs twice: with the per-step verbs (`media_insert`,
//!   `set_boot`, `set_power_and_wait`, each with its own read-back) and with
//!   the one-call `boot_from_media` (one read of the system and one of the
//!   slot at the end); sushy runs the same steps for both rows, on a system
//!   of its own for each.
//! - Table 1, fresh connection per operation: connecting is counted (ours:
//!   the service root (default auth, to find a SessionService) and the system
//!   read; sushy:
//!   the service root, its session-service probe and the system).
//! - Table 1b: the same with `RedfishAuth::Auto` on our side (HTTP basic
//!   first; the service root is read only when something needs it).
//! - Table 1c, fresh connection to a known BMC: ours connects with the
//!   [`Discovery`] an earlier client of the same system saved (as
//!   `metal3ctl bmc` keeps it between runs; that client only connected, and
//!   for the media rows read the slot's status, so no state is carried
//!   over); default auth. sushy keeps nothing between processes, so its
//!   column is fresh as in Table 1.
//! - Table 2, established connection: the connection is made before
//!   counting (ours: `connect`; sushy: the `Sushy` object and the `System`
//!   fetched), then both wait 2.5 s, longer than metal3-bmc takes a read as
//!   the current state (2 s), so ours reads again what it must (the current
//!   state and ETag before a PATCH) while sushy works from its cached System
//!   however old: the long-lived client case.
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

use metal3_bmc::redfish::discovery::Discovery;
use metal3_bmc::redfish::{RedfishAuth, RedfishClient, RedfishOptions};
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
/// The CPU time the last [`count`]ed operation took: this process's and
/// the emulator's, over the operation alone (not the log reading around it).
static LAST_CPU: std::sync::Mutex<(Duration, Duration)> =
    std::sync::Mutex::new((Duration::ZERO, Duration::ZERO));

async fn count<F: std::future::Future<Output = ()>>(s: &Sushy, f: F) -> (Vec<String>, Duration) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = requests_in_log(s).len();
    let t = Instant::now();
    let (me, emu) = (own_cpu(), process_cpu(s.pid()));
    f.await;
    let used = (own_cpu() - me, process_cpu(s.pid()) - emu);
    *LAST_CPU.lock().unwrap() = used;
    let took = t.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    (requests_in_log(s).split_off(before), took)
}

const PY: &str = r#"
import sys, time, sushy
base, user, pw, sysid, op, iso, mode = sys.argv[1:8]
path = '/redfish/v1/Systems/' + sysid

def connect():
    c = sushy.Sushy(base + '/redfish/v1', username=user, password=pw, verify=False)
    return c, c.get_system(path)

if mode == 'established':
    c, s = connect()
print('ready', flush=True)
sys.stdin.readline()
if mode == 'fresh':
    c, s = connect()

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

/// Whether the connection is made inside the count or before it.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Fresh,
    /// Fresh, with `RedfishAuth::Auto` (basic first, root read lazily).
    FreshAuto,
    /// Fresh, ours with a discovery saved by an earlier client.
    FreshKnown,
    Established,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Fresh | Mode::FreshAuto | Mode::FreshKnown => "fresh",
            Mode::Established => "established",
        }
    }
}

/// How long an established connection sits before the operation: past
/// metal3-bmc's FRESH_FOR (2 s).
const IDLE: Duration = Duration::from_millis(2500);

async fn python(s: &Sushy, sys: usize, op: &str, iso: &str, mode: Mode) -> (Vec<String>, Duration) {
    use std::io::{BufRead, BufReader, Write};
    let py = venv().join("bin/python");
    let mut child = Command::new(py)
        .args([
            "-c",
            PY,
            &s.base(),
            USER,
            PASS,
            &system_uuid(sys),
            op,
            iso,
            mode.name(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    assert_eq!(ready.trim(), "ready", "python sushy did not start");
    if mode == Mode::Established {
        tokio::time::sleep(IDLE).await;
    }
    count(s, async move {
        writeln!(stdin, "go").unwrap();
        drop(stdin);
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
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

/// The rows: operation name, what the sushy script runs, the system used.
const OPS: [(&str, &str, usize); 5] = [
    ("power-on", "power-on", 0),
    ("pxe-once", "pxe-once", 1),
    ("vmedia-boot (steps)", "vmedia-boot", 2),
    ("vmedia-boot (one call)", "vmedia-boot", 3),
    ("inventory", "inventory", 0),
];

async fn connect_to(
    s: &Sushy,
    sys: usize,
    mode: Mode,
    discovery: Option<Discovery>,
) -> RedfishClient {
    let auth = match mode {
        Mode::FreshAuto => RedfishAuth::Auto,
        Mode::Fresh | Mode::FreshKnown | Mode::Established => RedfishAuth::default(),
    };
    RedfishClient::connect(
        &s.address(&format!("/redfish/v1/Systems/{}", system_uuid(sys))),
        &creds(),
        RedfishOptions {
            auth,
            discovery,
            ..quick()
        },
    )
    .await
    .unwrap()
}

/// What an earlier client of system `sys` saved: it connected and, for the
/// media rows, read the slot's status (no state changed).
async fn earlier_discovery(s: &Sushy, sys: usize, row: &str) -> Discovery {
    let c = connect_to(s, sys, Mode::Fresh, None).await;
    if row.starts_with("vmedia") {
        c.media_status().await.unwrap();
    }
    let d = c.discovery().await;
    c.close().await;
    d
}

async fn run_op(c: &RedfishClient, row: &str, iso: &str) {
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
    match row {
        "power-on" => {
            c.set_power_and_wait(PowerAction::On, wait, every)
                .await
                .unwrap();
        }
        "pxe-once" => c.set_boot(&pxe).await.unwrap(),
        "vmedia-boot (steps)" => {
            c.media_insert(iso).await.unwrap();
            c.set_boot(&cd).await.unwrap();
            c.set_power_and_wait(PowerAction::On, wait, every)
                .await
                .unwrap();
        }
        "vmedia-boot (one call)" => {
            c.boot_from_media(iso, None, wait, every).await.unwrap();
        }
        "inventory" => {
            c.inventory().await.unwrap();
        }
        other => panic!("unknown operation {other}"),
    }
}

/// CPU time this process has used: the sum over its threads (tokio's
/// workers live through the whole bench), in nanoseconds.
fn own_cpu() -> Duration {
    let mut ns = 0u64;
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let stat = std::fs::read_to_string(t.unwrap().path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(ns)
}

/// CPU time process `pid` has used (user + system, exited threads
/// included), at the kernel's tick resolution.
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks = f[11] + f[12];
    Duration::from_millis(ticks * 1000 / 100)
}

/// [`ours`], with the CPU time the operation took here and in the emulator.
async fn ours_timed(
    s: &Sushy,
    row: &str,
    sys: usize,
    iso: &str,
    mode: Mode,
) -> ((Vec<String>, Duration), (Duration, Duration)) {
    let counted = ours(s, row, sys, iso, mode).await;
    (counted, *LAST_CPU.lock().unwrap())
}

async fn ours(s: &Sushy, row: &str, sys: usize, iso: &str, mode: Mode) -> (Vec<String>, Duration) {
    match mode {
        Mode::Fresh | Mode::FreshAuto => {
            count(s, async {
                let c = connect_to(s, sys, mode, None).await;
                run_op(&c, row, iso).await;
            })
            .await
        }
        Mode::FreshKnown => {
            let known = earlier_discovery(s, sys, row).await;
            count(s, async {
                let c = connect_to(s, sys, mode, Some(known)).await;
                run_op(&c, row, iso).await;
            })
            .await
        }
        Mode::Established => {
            let c = connect_to(s, sys, mode, None).await;
            tokio::time::sleep(IDLE).await;
            count(s, run_op(&c, row, iso)).await
        }
    }
}

type Counted = ((Vec<String>, usize), Duration);

fn print_table(title: &str, ours: &[Counted], theirs: &[Counted]) {
    println!("{title}");
    println!(
        "{:<23} {:>5} {:>10} {:>6} {:>9} {:>9}  (polls while waiting: ours/sushy)",
        "operation", "ours", "sushy (py)", "ratio", "ours ms", "sushy ms"
    );
    for (i, (row, _, _)) in OPS.iter().enumerate() {
        println!(
            "{:<23} {:>5} {:>10} {:>5.0}% {:>9} {:>9}  ({}/{})",
            row,
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
    for (i, (row, _, _)) in OPS.iter().enumerate() {
        println!("{row}:");
        let (a, b) = (&ours[i].0 .0, &theirs[i].0 .0);
        for n in 0..a.len().max(b.len()) {
            println!(
                "  {:<78} | {}",
                a.get(n).map(String::as_str).unwrap_or(""),
                b.get(n).map(String::as_str).unwrap_or("")
            );
        }
    }
    println!();
}

#[tokio::main]
async fn main() {
    let iso_port = serve_file(b"iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/boot.iso");
    for (mode, title) in [
        (
            Mode::Fresh,
            "Table 1: requests per operation, fresh connection per operation \
             (sushy-emulator, fake driver, basic auth; ours with the default \
             auth, RedfishAuth::Session: the root is read at connect)",
        ),
        (
            Mode::FreshAuto,
            "Table 1b: the same, ours with RedfishAuth::Auto (basic first, \
             the root read only when something needs it)",
        ),
        (
            Mode::FreshKnown,
            "Table 1c: the same, ours a fresh client of a known BMC (connected \
             with the Discovery an earlier client saved; default auth)",
        ),
        (
            Mode::Established,
            "Table 2: requests per operation, established connection \
             (made before counting, idle 2.5 s)",
        ),
    ] {
        let (mine, theirs_emu) = (
            Sushy::start_with(false, OPS.len() - 1).await,
            Sushy::start_with(false, OPS.len() - 1).await,
        );
        let mut us = Vec::new();
        let mut theirs = Vec::new();
        let mut cpu = Vec::new();
        for (row, py_op, sys) in OPS {
            let (counted, used) = ours_timed(&mine, row, sys, &iso, mode).await;
            us.push(counted);
            cpu.push(used);
            theirs.push(python(&theirs_emu, sys, py_op, &iso, mode).await);
        }
        let fold = |v: Vec<(Vec<String>, Duration)>| -> Vec<Counted> {
            v.into_iter().map(|(r, t)| (fold_polls(r), t)).collect()
        };
        print_table(title, &fold(us), &fold(theirs));
        println!("CPU per operation, ours: this process (client and the ISO server) / the emulator serving it");
        for ((row, _, _), (me, emu)) in OPS.iter().zip(&cpu) {
            println!(
                "  {:<23} {:>7.1} ms / {:>7.1} ms",
                row,
                me.as_secs_f64() * 1e3,
                emu.as_secs_f64() * 1e3
            );
        }
        println!();
    }
}
