//! The IPMI client against a real peer: OpenIPMI's `ipmi_sim`, with `ipmitool`
//! as the independent witness of every state change (and the reverse).

#![cfg(feature = "clients")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metal3_bmc::address::BmcAddress;
use metal3_bmc::ipmi::{IpmiClient, IpmiOptions, IpmiVersion, V15Auth};
use metal3_bmc::{
    BmcErrorKind, BootDevice, BootMode, BootOverride, Credentials, PowerAction, PowerBootControl,
    PowerState,
};

#[path = "support/ipmi_sim.rs"]
mod ipmi_peer;
use ipmi_peer::*;

fn admin() -> Credentials {
    Credentials::new("admin", "password")
}

fn opts(suite: Option<u8>, version: IpmiVersion) -> IpmiOptions {
    IpmiOptions {
        cipher_suite: suite,
        version,
        ..IpmiOptions::default()
    }
}

/// Every power action and boot device, each checked by ipmitool, then ipmitool
/// changes state and our client must read it.
async fn power_and_boot_round(sim: &Sim, c: &IpmiClient) {
    let id = c.device_id().await.unwrap();
    let mc = sim.ipmitool(&["mc", "info"]);
    let field = |name: &str| {
        mc.lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {mc}"))
    };
    assert_eq!(id.device_id.to_string(), field("Device ID"));
    assert_eq!(id.device_revision.to_string(), field("Device Revision"));
    assert_eq!(id.firmware_revision, field("Firmware Revision"));
    assert_eq!(id.ipmi_version, field("IPMI Version"));
    assert_eq!(id.manufacturer_id.to_string(), field("Manufacturer ID"));
    assert!(
        field("Product ID").starts_with(&id.product_id.to_string()),
        "{mc}"
    );
    let wait = Duration::from_secs(5);
    let poll = Duration::from_millis(50);
    for (action, want) in [
        (PowerAction::On, PowerState::On),
        (PowerAction::ForceOff, PowerState::Off),
        (PowerAction::On, PowerState::On),
        (PowerAction::PowerCycle, PowerState::On),
        (PowerAction::ForceRestart, PowerState::On),
        (PowerAction::ForceOff, PowerState::Off),
        (PowerAction::PowerCycle, PowerState::On),
    ] {
        let got = c.set_power_and_wait(action, wait, poll).await.unwrap();
        assert_eq!(got, want, "{action:?}");
        assert_eq!(
            sim.witness_power(),
            want,
            "ipmitool disagrees after {action:?}"
        );
    }
    // Soft shutdown is accepted (0x00) but ipmi_sim has no OS to honour the ACPI
    // request, so the host stays on: the read-back must say so, not pretend.
    let soft = c
        .set_power_and_wait(
            PowerAction::GracefulShutdown,
            Duration::from_millis(300),
            poll,
        )
        .await;
    assert_eq!(soft.unwrap_err().kind(), BmcErrorKind::TimedOut);
    assert_eq!(sim.witness_power(), PowerState::On);
    let err = c.set_power(PowerAction::GracefulRestart).await.unwrap_err();
    assert_eq!(err.kind(), BmcErrorKind::NotSupported);

    for dev in [
        BootDevice::Pxe,
        BootDevice::Disk,
        BootDevice::Cd,
        BootDevice::BiosSetup,
    ] {
        let b = BootOverride {
            device: dev,
            persistent: false,
            mode: Some(BootMode::Legacy),
            http_boot_uri: None,
        };
        c.set_boot(&b).await.unwrap();
        let (seen, valid) = sim.witness_boot();
        assert_eq!(seen, dev, "ipmitool disagrees after set_boot({dev:?})");
        let flags = c.boot_flags().await.unwrap();
        assert_eq!((flags.device, flags.valid), (Some(dev), valid));
        // ipmi_sim keeps the device but drops the valid bit (and EFI/persistent):
        // the override in effect is then "none", as firmware would treat it.
        let eff = c.boot_override().await.unwrap();
        assert_eq!(eff.device, if valid { dev } else { BootDevice::None });
    }
    let uefi_http = BootOverride {
        device: BootDevice::UefiHttp,
        persistent: false,
        mode: None,
        http_boot_uri: None,
    };
    assert_eq!(
        c.set_boot(&uefi_http).await.unwrap_err().kind(),
        BmcErrorKind::NotSupported
    );

    // Reverse direction: ipmitool changes, we read.
    sim.ipmitool(&["chassis", "bootdev", "cdrom"]);
    assert_eq!(c.boot_flags().await.unwrap().device, Some(BootDevice::Cd));
    sim.ipmitool(&["chassis", "bootdev", "pxe"]);
    assert_eq!(c.boot_flags().await.unwrap().device, Some(BootDevice::Pxe));
    sim.ipmitool(&["power", "on"]);
    assert_eq!(c.power_state().await.unwrap(), PowerState::On);
    sim.ipmitool(&["power", "off"]);
    assert_eq!(c.power_state().await.unwrap(), PowerState::Off);
}

#[tokio::test]
async fn suite3_power_and_boot_agree_with_ipmitool() {
    let sim = Sim::start();
    let c = IpmiClient::connect(&sim.address(), &admin(), opts(Some(3), IpmiVersion::Auto))
        .await
        .unwrap();
    assert_eq!(c.session_info().cipher_suite, Some(3));
    assert_eq!(c.session_info().version, IpmiVersion::V20);
    let dbg = format!("{c:?}");
    assert!(
        dbg.contains(&format!("127.0.0.1:{}", sim.port)) && !dbg.contains("password"),
        "{dbg}"
    );
    power_and_boot_round(&sim, &c).await;
    c.close().await.unwrap();
    let after = c.power_state().await.unwrap_err();
    assert_eq!(after.kind(), BmcErrorKind::InvalidRequest, "{after}");
}

#[tokio::test]
async fn ipmi15_md5_power_and_boot_agree_with_ipmitool() {
    let sim = Sim::start();
    let c = IpmiClient::connect(&sim.address(), &admin(), opts(None, IpmiVersion::V15))
        .await
        .unwrap();
    let info = c.session_info();
    assert_eq!(
        (info.version, info.v15_auth, info.cipher_suite),
        (IpmiVersion::V15, Some(V15Auth::Md5), None)
    );
    power_and_boot_round(&sim, &c).await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn negotiation_falls_back_from_17_to_3_quickly() {
    let sim = Sim::start();
    let t = Instant::now();
    let c = IpmiClient::connect(&sim.address(), &admin(), IpmiOptions::default())
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(c.session_info().cipher_suite, Some(3));
    // ipmi_sim refuses 17 with a status code at once: no timeout is involved.
    assert!(
        took < Duration::from_millis(500),
        "negotiation took {took:?}"
    );
    assert_eq!(c.power_state().await.unwrap(), sim.witness_power());
    c.close().await.unwrap();

    let forced = IpmiClient::connect(&sim.address(), &admin(), opts(Some(17), IpmiVersion::Auto))
        .await
        .unwrap_err();
    assert_eq!(forced.kind(), BmcErrorKind::NotSupported, "{forced}");
    assert!(
        forced
            .to_string()
            .contains("suite 17: status 0x04 invalid authentication algorithm"),
        "{forced}"
    );
    let bogus = IpmiClient::connect(&sim.address(), &admin(), opts(Some(1), IpmiVersion::Auto))
        .await
        .unwrap_err();
    assert_eq!(bogus.kind(), BmcErrorKind::NotSupported, "{bogus}");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_fail_auth() {
    let sim = Sim::start();
    let fast = |suite, version| IpmiOptions {
        timeout: Duration::from_millis(300),
        retries: 2,
        ..opts(suite, version)
    };
    for version in [IpmiVersion::Auto, IpmiVersion::V15] {
        let bad_pw = Credentials::new("admin", "s3cr3t-wrong");
        let e = IpmiClient::connect(&sim.address(), &bad_pw, fast(None, version))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), BmcErrorKind::AuthFailed, "{version:?}: {e}");
        let text = format!("{e} {e:?}");
        assert!(!text.contains("s3cr3t-wrong"), "password leaked: {text}");
        assert!(text.contains(&format!("127.0.0.1:{}", sim.port)), "{text}");

        let bad_user = Credentials::new("nobody", "password");
        let e = IpmiClient::connect(&sim.address(), &bad_user, fast(None, version))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), BmcErrorKind::AuthFailed, "{version:?}: {e}");
        assert!(e.to_string().contains("nobody"), "{e}");
    }
    // No half-open session is left behind (1 = ipmitool's own).
    assert_eq!(sim.active_sessions(), 1);
    // The simulator still serves the right credentials afterwards.
    let c = IpmiClient::connect(&sim.address(), &admin(), IpmiOptions::default())
        .await
        .unwrap();
    c.device_id().await.unwrap();
}

#[tokio::test]
async fn closed_port_is_unreachable_fast() {
    let port = free_udp_port();
    let addr = BmcAddress::parse(&format!("ipmi://127.0.0.1:{port}")).unwrap();
    let t = Instant::now();
    let e = IpmiClient::connect(&addr, &admin(), IpmiOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::Unreachable, "{e}");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "took {:?}",
        t.elapsed()
    );
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(e.to_string().contains("refused"), "{e}");
}

/// What the test proxy does to traffic.
#[derive(Clone, Copy)]
enum Fault {
    /// Drop every other datagram in each direction.
    DropEveryOther,
    /// Flip one byte in every other in-session datagram from the BMC (past the
    /// RMCP header). Pre-session RMCP+ messages have no integrity field to check.
    CorruptEveryOtherAnswer,
    /// Flip one byte in every in-session datagram from the BMC.
    CorruptEveryAnswer,
    /// Silently drop Open Session requests for RAKP-HMAC-SHA256 (suite 17), as
    /// some BMCs do instead of refusing the suite.
    SwallowSuite17,
}

/// Whether a datagram belongs to an established session (authenticated RMCP+,
/// or IPMI 1.5 with an auth type and a session ID).
fn in_session(p: &[u8]) -> bool {
    match p.get(4) {
        Some(0x06) => p.get(5).is_some_and(|t| t & 0x40 != 0),
        Some(0) | None => false,
        Some(_) => p.get(9..13).is_some_and(|sid| sid != [0, 0, 0, 0]),
    }
}

/// A UDP proxy between client and BMC applying `fault`; returns its port and
/// the count of datagrams it dropped or damaged.
async fn faulty_proxy(bmc_port: u16, fault: Fault) -> (u16, Arc<AtomicUsize>) {
    let front = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    back.connect(("127.0.0.1", bmc_port)).await.unwrap();
    let port = front.local_addr().unwrap().port();
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    tokio::spawn(async move {
        let (mut up, mut down) = (0usize, 0usize);
        let mut client = None;
        let (mut b1, mut b2) = ([0u8; 1024], [0u8; 1024]);
        loop {
            tokio::select! {
                r = front.recv_from(&mut b1) => {
                    let Ok((n, from)) = r else { return };
                    client = Some(from);
                    up += 1;
                    if matches!(fault, Fault::DropEveryOther) && up % 2 == 0 { d.fetch_add(1, Ordering::SeqCst); continue; }
                    // RMCP+ Open Session Request (payload 0x10) whose authentication algorithm
                    // (payload byte 12, datagram byte 28) is 0x03 RAKP-HMAC-SHA256.
                    if matches!(fault, Fault::SwallowSuite17) && b1.get(5) == Some(&0x10) && b1.get(28) == Some(&0x03) {
                        d.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    let _ = back.send(&b1[..n]).await;
                }
                r = back.recv(&mut b2) => {
                    let Ok(n) = r else { return };
                    // Corruption targets in-session answers only; dropping targets all.
                    let touch = match fault {
                        Fault::DropEveryOther => true,
                        Fault::CorruptEveryAnswer | Fault::CorruptEveryOtherAnswer => in_session(&b2[..n]),
                        Fault::SwallowSuite17 => false,
                    };
                    if !touch {
                        if let Some(to) = client { let _ = front.send_to(&b2[..n], to).await; }
                        continue;
                    }
                    down += 1;
                    match fault {
                        Fault::DropEveryOther if down % 2 == 0 => { d.fetch_add(1, Ordering::SeqCst); continue; }
                        Fault::CorruptEveryOtherAnswer if down % 2 == 0 => { d.fetch_add(1, Ordering::SeqCst); b2[(down * 7) % (n - 4) + 4] ^= 0x20; }
                        Fault::CorruptEveryAnswer => { d.fetch_add(1, Ordering::SeqCst); b2[(down * 7) % (n - 4) + 4] ^= 0x20; }
                        _ => {}
                    }
                    if let Some(to) = client { let _ = front.send_to(&b2[..n], to).await; }
                }
            }
        }
    });
    (port, dropped)
}

#[tokio::test]
async fn retransmission_survives_a_lossy_link() {
    let sim = Sim::start();
    for version in [IpmiVersion::Auto, IpmiVersion::V15] {
        let (port, dropped) = faulty_proxy(sim.port, Fault::DropEveryOther).await;
        let addr = BmcAddress::parse(&format!("ipmi://127.0.0.1:{port}")).unwrap();
        let o = IpmiOptions {
            timeout: Duration::from_millis(150),
            retries: 6,
            ..opts(None, version)
        };
        let c = IpmiClient::connect(&addr, &admin(), o).await.unwrap();
        for action in [PowerAction::On, PowerAction::ForceOff, PowerAction::On] {
            c.set_power(action).await.unwrap();
            assert_eq!(c.power_state().await.unwrap(), action.target_state());
            assert_eq!(
                sim.witness_power(),
                action.target_state(),
                "{version:?} {action:?}"
            );
        }
        let b = BootOverride {
            device: BootDevice::Disk,
            persistent: false,
            mode: None,
            http_boot_uri: None,
        };
        c.set_boot(&b).await.unwrap();
        assert_eq!(sim.witness_boot().0, BootDevice::Disk);
        c.close().await.unwrap();
        assert!(
            dropped.load(Ordering::SeqCst) >= 5,
            "the proxy dropped only {}",
            dropped.load(Ordering::SeqCst)
        );
    }
}

impl Sim {
    /// Active sessions as ipmitool sees them (its own session included).
    fn active_sessions(&self) -> usize {
        let t = self.ipmitool(&["session", "info", "all"]);
        t.lines()
            .find(|l| l.starts_with("active sessions"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no session count in {t}"))
    }
}

#[tokio::test]
async fn sessions_are_closed_on_close_and_on_drop() {
    let sim = Sim::start();
    let base = sim.active_sessions();
    for version in [IpmiVersion::Auto, IpmiVersion::V15] {
        let c = IpmiClient::connect(&sim.address(), &admin(), opts(None, version))
            .await
            .unwrap();
        assert_eq!(sim.active_sessions(), base + 1, "{version:?}");
        c.close().await.unwrap();
        assert_eq!(sim.active_sessions(), base, "{version:?} after close");

        let c = IpmiClient::connect(&sim.address(), &admin(), opts(None, version))
            .await
            .unwrap();
        assert_eq!(sim.active_sessions(), base + 1, "{version:?}");
        drop(c);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(sim.active_sessions(), base, "{version:?} after drop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_session() {
    let sim = Sim::start();
    let c = Arc::new(
        IpmiClient::connect(&sim.address(), &admin(), IpmiOptions::default())
            .await
            .unwrap(),
    );
    c.set_power(PowerAction::On).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                if i % 2 == 0 {
                    assert_eq!(c.power_state().await.unwrap(), PowerState::On);
                } else {
                    assert_eq!(c.device_id().await.unwrap().manufacturer_id, 0x1291);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // All 80 requests went through the one session.
    assert_eq!(sim.active_sessions(), 2);
    c.close().await.unwrap();
}

#[tokio::test]
async fn corrupted_answers_are_rejected_and_retried() {
    let sim = Sim::start();
    for version in [IpmiVersion::Auto, IpmiVersion::V15] {
        let (port, damaged) = faulty_proxy(sim.port, Fault::CorruptEveryOtherAnswer).await;
        let addr = BmcAddress::parse(&format!("ipmi://127.0.0.1:{port}")).unwrap();
        let o = IpmiOptions {
            timeout: Duration::from_millis(150),
            retries: 6,
            ..opts(None, version)
        };
        let c = IpmiClient::connect(&addr, &admin(), o).await.unwrap();
        for action in [PowerAction::On, PowerAction::ForceOff] {
            c.set_power(action).await.unwrap();
            assert_eq!(
                c.power_state().await.unwrap(),
                action.target_state(),
                "{version:?}"
            );
            assert_eq!(sim.witness_power(), action.target_state(), "{version:?}");
        }
        assert!(damaged.load(Ordering::SeqCst) >= 4);
        c.close().await.unwrap();
    }
    // When every answer is damaged the failure says so instead of "timed out".
    let (port, _) = faulty_proxy(sim.port, Fault::CorruptEveryAnswer).await;
    let addr = BmcAddress::parse(&format!("ipmi://127.0.0.1:{port}")).unwrap();
    let o = IpmiOptions {
        timeout: Duration::from_millis(100),
        retries: 2,
        ..IpmiOptions::default()
    };
    let e = IpmiClient::connect(&addr, &admin(), o).await.unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::BadResponse, "{e}");
}

#[tokio::test]
async fn negotiation_falls_back_when_suite_17_gets_no_answer() {
    let sim = Sim::start();
    let (port, swallowed) = faulty_proxy(sim.port, Fault::SwallowSuite17).await;
    let addr = BmcAddress::parse(&format!("ipmi://127.0.0.1:{port}")).unwrap();
    let o = IpmiOptions {
        timeout: Duration::from_millis(200),
        retries: 2,
        ..IpmiOptions::default()
    };
    let t = Instant::now();
    let c = IpmiClient::connect(&addr, &admin(), o.clone())
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(c.session_info().cipher_suite, Some(3));
    assert_eq!(
        swallowed.load(Ordering::SeqCst),
        2,
        "both suite 17 tries were swallowed"
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(c.power_state().await.unwrap(), sim.witness_power());
    c.close().await.unwrap();
    // Forced suite 17 does not fall back: it times out.
    let e = IpmiClient::connect(
        &addr,
        &admin(),
        IpmiOptions {
            cipher_suite: Some(17),
            ..o
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::TimedOut, "{e}");
}

#[tokio::test]
async fn privilege_level_from_the_address_is_applied() {
    let sim = Sim::start();
    let addr = BmcAddress::parse(&format!(
        "ipmi://127.0.0.1:{}?privilegelevel=USER",
        sim.port
    ))
    .unwrap();
    let c = IpmiClient::connect(&addr, &admin(), IpmiOptions::default())
        .await
        .unwrap();
    assert_eq!(c.session_info().privilege, 2);
    // Reading is allowed at USER level, Chassis Control is not.
    assert_eq!(c.power_state().await.unwrap(), sim.witness_power());
    let e = c.set_power(PowerAction::On).await.unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::Rejected, "{e}");
    let text = e.to_string();
    assert!(text.contains(&format!("127.0.0.1:{}", sim.port)), "{text}");
    assert!(text.contains("Chassis Control (PowerUp)"), "{text}");
    assert!(text.contains("0xd4 insufficient privilege level"), "{text}");
    assert_eq!(sim.witness_power(), PowerState::Off);
    c.close().await.unwrap();

    let bad = BmcAddress::parse(&format!(
        "ipmi://127.0.0.1:{}?privilegelevel=ROOT",
        sim.port
    ))
    .unwrap();
    let e = IpmiClient::connect(&bad, &admin(), IpmiOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::InvalidRequest, "{e}");
}
