//! Counts HTTP requests per operation against sushy-emulator (from its access
//! log on stderr): metal3-bmc's Redfish client vs Ironic's Python `sushy`
//! library doing the same operation. Run with
//! `cargo bench -p metal3-bmc --bench redfish_requests` (needs the peers venv,
//! see scripts/setup-peers.sh). Counts include connecting (service root,
//! login, system lookup) because every operation in Metal³ starts fresh.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/support/sushy.rs"]
mod sushy;

use std::process::Command;
use std::time::{Duration, Instant};

use metal3_bmc::{BootDevice, BootMode, BootOverride, PowerAction, PowerBootControl};
use sushy::*;

fn requests_in_log(s: &Sushy) -> usize {
    std::fs::read_to_string(s.dir.join("sushy.log"))
        .unwrap_or_default()
        .lines()
        // Error lines are wrapped in ANSI colour codes, so no leading quote.
        .filter(|l| {
            l.contains(" HTTP/1.")
                && ["GET /", "POST /", "PATCH /", "DELETE /", "PUT /"]
                    .iter()
                    .any(|m| l.contains(m))
        })
        .count()
}

/// Requests the emulator logged while `f` ran (the log is flushed async).
async fn count<F: std::future::Future<Output = ()>>(s: &Sushy, f: F) -> (usize, Duration) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = requests_in_log(s);
    let t = Instant::now();
    f.await;
    let took = t.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    (requests_in_log(s) - before, took)
}

const PY: &str = r#"
import sys, sushy
base, user, pw, sysid, op, iso = sys.argv[1:7]
c = sushy.Sushy(base + '/redfish/v1', username=user, password=pw, verify=False)
s = c.get_system('/redfish/v1/Systems/' + sysid)
if op == 'power-on':
    s.reset_system(sushy.ResetType.ON)
elif op == 'pxe-once':
    s.set_system_boot_options(sushy.BootSource.PXE, enabled=sushy.BootSourceOverrideEnabled.ONCE, mode=sushy.BootSourceOverrideMode.UEFI)
elif op == 'vmedia-boot':
    for vm in s.virtual_media.get_members():
        if sushy.VirtualMediaType.CD in vm.media_types or sushy.VirtualMediaType.DVD in vm.media_types:
            if vm.inserted:
                vm.eject_media()
            vm.insert_media(iso, inserted=True, write_protected=True)
            break
    s.set_system_boot_options(sushy.BootSource.CD, enabled=sushy.BootSourceOverrideEnabled.ONCE)
    s.reset_system(sushy.ResetType.ON)
elif op == 'inventory':
    parts = []
    for name in ('processors', 'memory', 'ethernet_interfaces', 'storage', 'simple_storage'):
        try:
            coll = getattr(s, name)
            parts.append([m.identity for m in coll.get_members()])
        except Exception as e:
            parts.append(str(e)[:20])
    _ = (s.manufacturer, s.model, s.serial_number, s.bios_version, s.memory_summary)
"#;

async fn python(s: &Sushy, sys: &str, op: &str, iso: &str) -> (usize, Duration) {
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

#[tokio::main]
async fn main() {
    let s = Sushy::start(false).await;
    let iso_port = serve_file(b"iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/boot.iso");
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
    let ours = [
        count(&s, async {
            connect(&s, 0)
                .await
                .set_power(PowerAction::On)
                .await
                .unwrap();
        })
        .await,
        count(&s, async {
            connect(&s, 0).await.set_boot(&pxe).await.unwrap();
        })
        .await,
        count(&s, async {
            let c = connect(&s, 1).await;
            c.media_insert(&iso).await.unwrap();
            c.set_boot(&cd).await.unwrap();
            c.set_power(PowerAction::On).await.unwrap();
        })
        .await,
        count(&s, async {
            connect(&s, 0).await.inventory().await.unwrap();
        })
        .await,
    ];
    let ops = ["power-on", "pxe-once", "vmedia-boot", "inventory"];
    let systems = [SYS[2], SYS[2], SYS[2], SYS[2]];
    let mut theirs = Vec::new();
    for (op, sys) in ops.iter().zip(systems) {
        theirs.push(python(&s, sys, op, &iso).await);
    }
    println!("requests per operation against sushy-emulator (fake driver, basic auth)");
    println!(
        "{:<14} {:>6} {:>10} {:>12} {:>12}",
        "operation", "ours", "sushy (py)", "ours ms", "sushy ms"
    );
    for (i, op) in ops.iter().enumerate() {
        println!(
            "{:<14} {:>6} {:>10} {:>12} {:>12}",
            op,
            ours[i].0,
            theirs[i].0,
            ours[i].1.as_millis(),
            theirs[i].1.as_millis()
        );
    }
}
