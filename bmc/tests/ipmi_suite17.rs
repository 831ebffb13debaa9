//! Cipher suite 17 end to end against `fixtures/fake_bmc_suite17.py`, a small
//! RMCP+ BMC written separately in Python (hmac/hashlib + `cryptography` AES)
//! from the spec. ipmi_sim refuses suite 17, so this and the vectors in
//! ipmi_vectors.rs are what verifies it; no real BMC was available.

#![cfg(feature = "clients")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/peer_process.rs"]
mod peer_process;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use peer_process::PeerProcess;

use metal3_bmc::address::BmcAddress;
use metal3_bmc::ipmi::{ChassisControl, IpmiClient, IpmiOptions};
use metal3_bmc::{BmcErrorKind, Credentials, PowerBootControl, PowerState};

/// The fake BMC process, killed on drop or when the test process dies.
struct FakeBmc {
    _process: PeerProcess,
    port: u16,
}

/// The peers venv's python (scripts/setup-peers.sh installs `cryptography` there),
/// so the test does not depend on packages of the system interpreter.
fn peers_python() -> std::path::PathBuf {
    let venv = std::env::var_os("METAL3_PEERS_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    venv.join("bin/python")
}

impl FakeBmc {
    fn start() -> FakeBmc {
        let python = peers_python();
        let probe = Command::new(&python)
            .args(["-c", "import cryptography"])
            .status();
        assert!(
            probe.map(|s| s.success()).unwrap_or(false),
            "{} with the `cryptography` package is needed: run scripts/setup-peers.sh",
            python.display()
        );
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/fake_bmc_suite17.py"
        );
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "metal3-suite17-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let log: PathBuf = dir.join("fake_bmc.log");
        let process = PeerProcess::spawn(&python, &[script], &log, Some(&dir));
        // The script prints its port first (flushed), then serves.
        let start = Instant::now();
        let port = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text.lines().next().filter(|_| text.contains('\n')) {
                break line
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("fake BMC printed {text:?}"));
            }
            assert!(
                !process.exited() && start.elapsed() < Duration::from_secs(20),
                "fake BMC gave no port; output: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        FakeBmc {
            _process: process,
            port,
        }
    }

    fn address(&self) -> BmcAddress {
        BmcAddress::parse(&format!("ipmi://127.0.0.1:{}", self.port)).unwrap()
    }
}

#[tokio::test]
async fn suite17_session_and_commands() {
    let bmc = FakeBmc::start();
    let c = IpmiClient::connect(
        &bmc.address(),
        &Credentials::new("admin", "password"),
        IpmiOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(c.session_info().cipher_suite, Some(17));
    let id = c.device_id().await.unwrap();
    assert_eq!(
        (id.device_id, id.manufacturer_id, id.product_id),
        (0x17, 0x157, 0x1234)
    );
    assert_eq!(id.firmware_revision, "2.15");
    assert_eq!(c.power_state().await.unwrap(), PowerState::Off);
    c.chassis_control(ChassisControl::PowerUp).await.unwrap();
    assert_eq!(c.power_state().await.unwrap(), PowerState::On);
    let e = c.boot_flags().await.unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::Rejected);
    assert!(e.to_string().contains("0xc1 invalid command"), "{e}");
    c.close().await.unwrap();
}

#[tokio::test]
async fn suite17_wrong_password_and_forced_suite3() {
    let bmc = FakeBmc::start();
    let fast = IpmiOptions {
        timeout: Duration::from_millis(300),
        retries: 2,
        ..IpmiOptions::default()
    };
    let e = IpmiClient::connect(
        &bmc.address(),
        &Credentials::new("admin", "wrong"),
        fast.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::AuthFailed, "{e}");
    let e = IpmiClient::connect(
        &bmc.address(),
        &Credentials::new("root", "password"),
        fast.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::AuthFailed, "{e}");
    // This BMC only does 17: forcing 3 is refused with a status code.
    let e = IpmiClient::connect(
        &bmc.address(),
        &Credentials::new("admin", "password"),
        IpmiOptions {
            cipher_suite: Some(3),
            ..fast
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::NotSupported, "{e}");
    assert!(e.to_string().contains("suite 3: status 0x04"), "{e}");
}
