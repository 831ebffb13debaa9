//! `metal3ctl bmc` against a real Redfish BMC: sushy-tools' emulator on
//! loopback (fake driver; the libvirt driver for BIOS and secure boot), each
//! verb checked with an independent raw read of the emulator's state, and
//! the layout cache the command keeps between runs checked against the
//! emulator's access log.
//!
//! Needs the peers venv (scripts/setup-peers.sh or METAL3_PEERS_VENV).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The sushy-tools harness shared with the bmc and provisioning tests.
#[path = "../../bmc/tests/support/sushy.rs"]
mod sushy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use sushy::*;

/// A directory of its own under the target dir for each test's cache.
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bmc-redfish-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `metal3ctl bmc ARGS --address ADDRESS [EXTRA...]` with the
/// credentials in the environment and the layout cache in `cache`.
fn bmc_with(cache: &Path, address: &str, password: &str, args: &[&str], extra: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .arg("bmc")
        .args(args)
        .args(["--address", address])
        .args(extra)
        .env("METAL3_BMC_USERNAME", USER)
        .env("METAL3_BMC_PASSWORD", password)
        .env("METAL3CTL_CACHE_DIR", cache)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(PASS), "the password was printed: {all}");
    out
}

fn bmc(cache: &Path, address: &str, password: &str, args: &[&str]) -> Output {
    bmc_with(cache, address, password, args, &[])
}

/// [`bmc_with`] that must succeed; its stdout.
fn ok_with(cache: &Path, address: &str, args: &[&str], extra: &[&str]) -> String {
    let out = bmc_with(cache, address, PASS, args, extra);
    assert!(
        out.status.success(),
        "metal3ctl bmc {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(cache: &Path, address: &str, args: &[&str]) -> String {
    ok_with(cache, address, args, &[])
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redfish_verb_through_the_cli() {
    let s = Sushy::start(false).await;
    every_verb(&s, &scratch("verbs"), &[]).await;
}

/// The same over HTTPS, verified against the emulator's CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redfish_verb_through_the_cli_over_https() {
    let s = Sushy::start(true).await;
    let ca = s.ca().display().to_string();
    every_verb(&s, &scratch("verbs-tls"), &["--ca-file", &ca]).await;
}

async fn every_verb(s: &Sushy, cache: &Path, extra: &[&str]) {
    let ok = |_: &Path, addr: &str, args: &[&str]| ok_with(cache, addr, args, extra);
    let cache = cache.to_path_buf();
    let addr = s.system_address(2).to_string();
    let sys = format!("/redfish/v1/Systems/{}", SYS[2]);
    let slot = format!("{sys}/VirtualMedia/Cd");
    let iso_port = serve_file(b"iso".to_vec()).await;
    let iso = format!("http://127.0.0.1:{iso_port}/live.iso");
    let wait = ["--wait=60"];

    let st = json(&ok(&cache, &addr, &["power", "status", "-o", "json"]));
    assert_eq!(st, serde_json::json!({"powerState": "off"}));
    assert_eq!(s.raw_get(&sys).await["PowerState"], "Off");

    ok(&cache, &addr, &["power", "on", wait[0]]);
    assert_eq!(s.raw_get(&sys).await["PowerState"], "On");

    ok(
        &cache,
        &addr,
        &["boot", "--device", "pxe", "--mode", "uefi"],
    );
    let boot = &s.raw_get(&sys).await["Boot"];
    assert_eq!(boot["BootSourceOverrideTarget"], "Pxe");
    // sushy-tools takes "Once" and reads back "Continuous" (a known quirk).
    assert_eq!(boot["BootSourceOverrideMode"], "UEFI");

    let ins = json(&ok(&cache, &addr, &["media", "insert", &iso, "-o", "json"]));
    assert_eq!(ins["inserted"], true);
    let raw = s.raw_get(&slot).await;
    assert_eq!(
        (&raw["Inserted"], &raw["Image"]),
        (&true.into(), &iso.clone().into())
    );
    let status = json(&ok(&cache, &addr, &["media", "status", "-o", "json"]));
    assert_eq!(
        (&status["slot"], &status["image"]),
        (&slot.clone().into(), &iso.clone().into())
    );
    ok(&cache, &addr, &["media", "eject"]);
    assert_eq!(s.raw_get(&slot).await["Inserted"], false);

    // One call: insert, one-time boot from CD, restart (the host is on).
    let done = json(&ok(
        &cache,
        &addr,
        &[
            "media", "boot", &iso, "--mode", "uefi", "--wait", "60", "-o", "json",
        ],
    ));
    assert_eq!(done["power"], "on");
    assert_eq!(done["boot"]["device"], "cd");
    let raw = s.raw_get(&sys).await;
    assert_eq!(raw["PowerState"], "On");
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Cd");
    assert_eq!(raw["Boot"]["BootSourceOverrideMode"], "UEFI");
    assert_eq!(s.raw_get(&slot).await["Image"], iso.as_str());

    let inv = json(&ok(&cache, &addr, &["inventory", "-o", "json"]));
    let mac = s
        .raw_get(&format!("{sys}/EthernetInterfaces/00:5c:52:31:3a:02"))
        .await["MACAddress"]
        .clone();
    assert_eq!(inv["nics"][0]["mac"], mac);
    assert_eq!(inv["systemVendor"]["manufacturer"], "Sushy Emulator");

    ok(&cache, &addr, &["power", "off", wait[0]]);
    assert_eq!(s.raw_get(&sys).await["PowerState"], "Off");

    // What the fake driver lacks is an error that names the BMC, not a crash.
    let fw = bmc_with(&cache, &addr, PASS, &["firmware", "list"], extra);
    assert!(!fw.status.success());
    let err = String::from_utf8_lossy(&fw.stderr);
    assert!(err.contains(&s.base()) && err.contains("firmware"), "{err}");
}

/// BIOS settings and secure boot need sushy-tools' libvirt driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bios_and_secure_boot_through_the_cli() {
    let s = Sushy::start_libvirt().await;
    let cache = scratch("bios");
    let sys = format!("/redfish/v1/Systems/{LIBVIRT_SYS}");
    let addr = s.address(&sys).to_string();

    let before = json(&ok(&cache, &addr, &["bios", "get", "-o", "json"]));
    let attrs = s.raw_get(&format!("{sys}/BIOS")).await["Attributes"].clone();
    assert_eq!(before["attributes"], attrs, "{before}");
    ok(&cache, &addr, &["bios", "set", "ProcTurboMode=Disabled"]);
    let attrs = s.raw_get(&format!("{sys}/BIOS")).await["Attributes"].clone();
    assert_eq!(attrs["ProcTurboMode"], "Disabled");

    // Secure boot wants UEFI: the boot mode first.
    ok(
        &cache,
        &addr,
        &["boot", "--device", "disk", "--mode", "uefi", "--persistent"],
    );
    ok(&cache, &addr, &["secure-boot", "on"]);
    let sb = format!("{sys}/SecureBoot");
    assert_eq!(s.raw_get(&sb).await["SecureBootEnable"], true);
    let off = ok(&cache, &addr, &["secure-boot", "off", "-o", "json"]);
    assert_eq!(json(&off)["secureBoot"], false);
    assert_eq!(s.raw_get(&sb).await["SecureBootEnable"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_ca_file_or_insecure() {
    let s = Sushy::start(true).await;
    let cache = scratch("https");
    let addr = s.system_address(0).to_string();
    let ca = s.ca().display().to_string();
    let st = ok(
        &cache,
        &addr,
        &["power", "status", "--ca-file", &ca, "-o", "json"],
    );
    assert_eq!(json(&st)["powerState"], "off");
    let st = ok(
        &cache,
        &addr,
        &["power", "status", "--insecure", "-o", "json"],
    );
    assert_eq!(json(&st)["powerState"], "off");
    let refused = bmc(&cache, &addr, PASS, &["power", "status", "--no-cache"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{err}");
}

/// The second run against a system reads only what the verb needs: the
/// layout the first run found is kept (without the password), `--no-cache`
/// neither uses nor keeps it, and a failed run forgets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layout_cache_spares_rediscovery() {
    let s = Sushy::start(false).await;
    let cache = scratch("cache");
    let addr = s.system_address(1).to_string();
    let sys = format!("/redfish/v1/Systems/{}", SYS[1]);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let status = ["power", "status", "-o", "json"];
    let before = requests_in_log(&s).len();
    ok(&cache, &addr, &status);
    let cold = logged_since(&s, before, 2).await;
    assert_eq!(
        cold,
        ["GET /redfish/v1/ 200".to_string(), format!("GET {sys} 200")]
    );

    let files: Vec<_> = std::fs::read_dir(cache.join("redfish"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let kept = std::fs::read_to_string(&files[0]).unwrap();
    assert!(kept.contains(&sys) && !kept.contains(PASS), "{kept}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
    }

    let before = requests_in_log(&s).len();
    ok(&cache, &addr, &status);
    assert_eq!(
        logged_since(&s, before, 1).await,
        [format!("GET {sys} 200")]
    );

    let before = requests_in_log(&s).len();
    ok(&cache, &addr, &["power", "status", "--no-cache"]);
    assert_eq!(logged_since(&s, before, 2).await.len(), 2);

    let wrong = bmc(&cache, &addr, "not-the-password", &status);
    assert!(!wrong.status.success());
    assert!(!files[0].exists(), "a failed run keeps the layout");
    let before = requests_in_log(&s).len();
    ok(&cache, &addr, &status);
    assert_eq!(logged_since(&s, before, 2).await.len(), 2);
}
