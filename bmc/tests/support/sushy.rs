//! sushy-emulator harness shared by the Redfish integration tests, the
//! request-count bench and the provisioning engine tests: fake-driver config with three systems, bcrypt
//! htpasswd, optional TLS with a test CA, fresh state dir, killed on drop
//! or when the test process dies (see [`peer_process`]).

// Each including target uses a subset of these helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use metal3_bmc::address::BmcAddress;
use metal3_bmc::redfish::{RedfishClient, RedfishOptions};
use metal3_bmc::Credentials;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// Harnesses included together each bring their own copy (no shared state).
#[allow(clippy::duplicate_mod)]
#[path = "peer_process.rs"]
pub mod peer_process;
use peer_process::PeerProcess;

pub const USER: &str = "admin";
pub const PASS: &str = "s3cr3t-pw";
pub const SYS: [&str; 3] = [
    "27946b59-9e44-4fa7-8e91-f3527a1ef001",
    "27946b59-9e44-4fa7-8e91-f3527a1ef002",
    "27946b59-9e44-4fa7-8e91-f3527a1ef003",
];

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn venv() -> PathBuf {
    std::env::var_os("METAL3_PEERS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"))
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running sushy-emulator with its own state dir; killed on drop or when
/// the test process dies.
pub struct Sushy {
    /// The emulator under its watchdog.
    pub process: PeerProcess,
    /// Config, state, certificates and the request log.
    pub dir: PathBuf,
    /// Listening port on 127.0.0.1.
    pub port: u16,
    tls: bool,
}

/// The one domain of libvirt's mock hypervisor (`test:///default`), as
/// served by [`Sushy::start_libvirt`].
pub const LIBVIRT_SYS: &str = "6695eb01-f6a4-8304-79aa-97f2502e193f";

pub static SEQ: AtomicU32 = AtomicU32::new(0);

/// UUID of fake system `i` of [`Sushy::start_with`]: the [`SYS`] ones
/// first, then generated ones.
pub fn system_uuid(i: usize) -> String {
    match SYS.get(i) {
        Some(u) => u.to_string(),
        None => format!(
            "27946b59-9e44-4fa7-8e91-{:012x}",
            0xf3527a1e0000u64 + i as u64
        ),
    }
}

impl Sushy {
    pub async fn start(tls: bool) -> Sushy {
        Sushy::start_with(tls, SYS.len()).await
    }

    /// An emulator with `systems` fake systems (fleet benchmarks).
    pub async fn start_with(tls: bool, systems: usize) -> Sushy {
        let mut conf =
            String::from("SUSHY_EMULATOR_FAKE_DRIVER = True\nSUSHY_EMULATOR_FAKE_SYSTEMS = [\n");
        for i in 0..systems {
            let uuid = system_uuid(i);
            conf.push_str(&format!(
                "  {{'uuid': '{uuid}', 'name': 'node-{i}', 'power_state': 'Off', \
                 'nics': [{{'mac': '00:5c:52:31:{:02x}:{:02x}', 'ip': '172.22.{}.{}'}}]}},\n",
                0x3a + (i >> 8),
                i & 0xff,
                i >> 8,
                100 + (i & 0x7f)
            ));
        }
        conf.push_str("]\n");
        Sushy::spawn(tls, &conf).await
    }

    /// An emulator on sushy-tools' libvirt driver over libvirt's in-process
    /// mock hypervisor (`test:///default`): one system, [`LIBVIRT_SYS`],
    /// with the BIOS, secure boot and boot mode the fake driver lacks.
    ///
    /// The mock's state lives as long as one connection to it is open;
    /// sushy-tools keeps the domain it looked up (and so its connection)
    /// for the life of the process, so writes persist until the emulator stops.
    pub async fn start_libvirt() -> Sushy {
        let ok = Command::new(venv().join("bin/python"))
            .args(["-c", "import libvirt"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "libvirt-python is not in {}: run `bash scripts/setup-peers.sh`",
            venv().display()
        );
        // The mock domain is i686 with no firmware loader: the driver needs
        // a loader path per boot mode to rewrite <os> (the mock never reads
        // the files, so the usual Debian paths serve).
        let conf = "SUSHY_EMULATOR_LIBVIRT_URI = 'test:///default'\n\
                    SUSHY_EMULATOR_BOOT_LOADER_MAP = {\n\
                    \x20 'UEFI': {'i686': '/usr/share/OVMF/OVMF_CODE.secboot.fd', 'x86_64': '/usr/share/OVMF/OVMF_CODE.secboot.fd'},\n\
                    \x20 'Legacy': {'i686': '/usr/share/seabios/bios.bin', 'x86_64': '/usr/share/seabios/bios.bin'},\n\
                    }\n";
        Sushy::spawn(false, conf).await
    }

    /// Starts sushy-emulator with the common settings (loopback port, state
    /// dir, bcrypt htpasswd, optional TLS) plus the driver's `driver_conf`.
    async fn spawn(tls: bool, driver_conf: &str) -> Sushy {
        let bin = venv().join("bin/sushy-emulator");
        assert!(
            bin.exists(),
            "{} not found: run `bash scripts/setup-peers.sh` (or set METAL3_PEERS_VENV)",
            bin.display()
        );
        let dir = std::env::temp_dir().join(format!(
            "metal3-sushy-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        // sushy-tools only accepts bcrypt entries in its htpasswd file.
        let hash = run(Command::new(venv().join("bin/python")).args([
            "-c",
            "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(4)).decode())",
            PASS,
        ]));
        std::fs::write(dir.join("htpasswd"), format!("{USER}:{}\n", hash.trim())).unwrap();
        let port = free_port();
        let mut conf = format!(
            "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n\
             SUSHY_EMULATOR_LISTEN_PORT = {port}\n\
             SUSHY_EMULATOR_STATE_DIR = '{state}'\n\
             SUSHY_EMULATOR_AUTH_FILE = '{auth}'\n",
            state = dir.join("state").display(),
            auth = dir.join("htpasswd").display(),
        );
        conf.push_str(driver_conf);
        if tls {
            make_certs(&dir);
            conf.push_str(&format!(
                "SUSHY_EMULATOR_SSL_CERT = '{}'\nSUSHY_EMULATOR_SSL_KEY = '{}'\n",
                dir.join("cert.pem").display(),
                dir.join("key.pem").display()
            ));
        }
        std::fs::write(dir.join("conf.py"), conf).unwrap();
        let conf_py = dir.join("conf.py");
        let process = PeerProcess::spawn(
            &bin,
            &[OsStr::new("--config"), conf_py.as_os_str()],
            &dir.join("sushy.log"),
            Some(&dir),
        );
        let s = Sushy {
            process,
            dir,
            port,
            tls,
        };
        s.wait_ready().await;
        s
    }

    pub fn base(&self) -> String {
        let carrier = if self.tls { "https" } else { "http" };
        format!("{carrier}://127.0.0.1:{}", self.port)
    }

    pub fn address(&self, path: &str) -> BmcAddress {
        let carrier = if self.tls { "https" } else { "http" };
        BmcAddress::parse(&format!(
            "redfish+{carrier}://127.0.0.1:{}{path}",
            self.port
        ))
        .unwrap()
    }

    pub fn system_address(&self, i: usize) -> BmcAddress {
        self.address(&format!("/redfish/v1/Systems/{}", SYS[i]))
    }

    /// An HTTP client independent of ours (no sessions, no retries).
    pub fn raw(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap()
    }

    pub async fn raw_get(&self, path: &str) -> Value {
        let r = self
            .raw()
            .get(format!("{}{path}", self.base()))
            .basic_auth(USER, Some(PASS))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let r = self
                .raw()
                .get(format!("{}/redfish/v1/", self.base()))
                .basic_auth(USER, Some(PASS))
                .send()
                .await;
            if matches!(&r, Ok(r) if r.status().is_success()) {
                return;
            }
            assert!(
                !self.process.exited(),
                "sushy-emulator exited before it was ready; log: {}",
                self.process.log_tail(40)
            );
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "sushy-emulator not ready after 60 s; log: {}",
                self.process.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The emulator's process id (benchmarks read its CPU time).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

impl Drop for Sushy {
    fn drop(&mut self) {
        // The watchdog removes the directory once the emulator is gone.
        self.process.stop();
    }
}

/// A test CA and a server certificate for IP 127.0.0.1 signed by it.
pub fn make_certs(dir: &Path) {
    let d = |f: &str| dir.join(f).display().to_string();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=metal3-test-ca",
        "-keyout",
        &d("ca.key"),
        "-out",
        &d("ca.pem"),
    ]));
    run(Command::new("openssl").args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &d("key.pem"),
        "-out",
        &d("leaf.csr"),
    ]));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &d("leaf.csr"),
        "-CA",
        &d("ca.pem"),
        "-CAkey",
        &d("ca.key"),
        "-CAcreateserial",
        "-extfile",
        &d("ext.cnf"),
        "-out",
        &d("cert.pem"),
    ]));
}

/// The requests in the emulator's access log, as "METHOD /path STATUS".
pub fn requests_in_log(s: &Sushy) -> Vec<String> {
    std::fs::read_to_string(s.dir.join("sushy.log"))
        .unwrap_or_default()
        .lines()
        // Error lines are wrapped in ANSI colour codes, so no leading quote.
        .filter_map(|l| {
            let start = ["GET /", "POST /", "PATCH /", "DELETE /", "PUT /"]
                .iter()
                .filter_map(|m| l.find(m))
                .min()?;
            let rest = &l[start..];
            let proto = rest.find(" HTTP/1.")?;
            let status = rest[proto..].split_whitespace().nth(1).unwrap_or("?");
            let status: String = status.chars().filter(char::is_ascii_digit).collect();
            Some(format!("{} {status}", &rest[..proto]))
        })
        .collect()
}

/// The requests the emulator logs from `before` on, once `n` more are
/// there (its log is written asynchronously; gives up after 5 s).
pub async fn logged_since(s: &Sushy, before: usize, n: usize) -> Vec<String> {
    for _ in 0..50 {
        if requests_in_log(s).len() >= before + n {
            tokio::time::sleep(Duration::from_millis(200)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    requests_in_log(s).split_off(before)
}

pub fn creds() -> Credentials {
    Credentials::new(USER, PASS)
}

pub fn quick() -> RedfishOptions {
    RedfishOptions {
        request_timeout: Duration::from_secs(30),
        ..RedfishOptions::default()
    }
}

pub async fn connect(s: &Sushy, i: usize) -> RedfishClient {
    RedfishClient::connect(&s.system_address(i), &creds(), quick())
        .await
        .unwrap()
}

/// Serves `body` for any GET/HEAD on 127.0.0.1 (the ISO sushy downloads).
pub async fn serve_file(body: Vec<u8>) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                if !buf.starts_with(b"HEAD") {
                    let _ = sock.write_all(&body).await;
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    port
}
