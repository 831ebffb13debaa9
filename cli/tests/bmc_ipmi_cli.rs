//! `metal3ctl bmc` against a real IPMI BMC (OpenIPMI ipmi_sim on loopback),
//! with ipmitool as the independent witness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use metal3_bmc::PowerState;

// The ipmi_sim harness shared with the IPMI client tests.
#[path = "../../bmc/tests/support/ipmi_sim.rs"]
mod ipmi_peer;
use ipmi_peer::Sim;

fn metal3ctl(args: &[&str], password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metal3ctl"))
        .args(args)
        .env("METAL3_BMC_USERNAME", "admin")
        .env("METAL3_BMC_PASSWORD", password)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn power_boot_and_info_over_ipmi_agree_with_ipmitool() {
    let sim = Sim::start();
    let addr = sim.address().to_string();

    let info = metal3ctl(
        &["bmc", "info", "--address", &addr, "-o", "json"],
        "password",
    );
    assert!(info.status.success(), "{info:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
    assert_eq!(v["manufacturerId"], 0x1291);
    assert_eq!(v["productId"], 0xf02);

    let on = metal3ctl(
        &["bmc", "power", "on", "--wait=20", "--address", &addr],
        "password",
    );
    assert!(on.status.success(), "{on:?}");
    assert_eq!(stdout(&on).trim(), "on");
    assert_eq!(sim.witness_power(), PowerState::On);

    let boot = metal3ctl(
        &["bmc", "boot", "--device", "pxe", "--address", &addr],
        "password",
    );
    assert!(boot.status.success(), "{boot:?}");
    let witness = sim.ipmitool(&["chassis", "bootparam", "get", "5"]);
    assert!(witness.contains("Force PXE"), "{witness}");

    let off = metal3ctl(
        &[
            "bmc",
            "power",
            "off",
            "--wait=20",
            "--address",
            &addr,
            "-o",
            "json",
        ],
        "password",
    );
    assert!(off.status.success(), "{off:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&off)).unwrap();
    assert_eq!(v["powerState"], "off");
    assert_eq!(sim.witness_power(), PowerState::Off);

    // ipmitool changes it, we read it.
    sim.ipmitool(&["power", "on"]);
    let st = metal3ctl(&["bmc", "power", "status", "--address", &addr], "password");
    assert_eq!(stdout(&st).trim(), "on");
}

#[test]
fn redfish_only_verbs_and_bad_passwords_fail_clearly() {
    let sim = Sim::start();
    let addr = sim.address().to_string();
    let media = metal3ctl(&["bmc", "media", "status", "--address", &addr], "password");
    assert!(!media.status.success());
    let err = String::from_utf8_lossy(&media.stderr);
    assert!(
        err.contains("not supported over IPMI; use a Redfish address"),
        "{err}"
    );

    let bad = metal3ctl(
        &["bmc", "power", "status", "--address", &addr],
        "s3cret-wrong",
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("authentication failed"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{}", sim.port)), "{err}");
    assert!(!err.contains("s3cret-wrong"), "{err}");
}
