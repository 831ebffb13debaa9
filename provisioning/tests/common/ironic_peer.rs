//! Starts real peers on loopback for the Ironic tests: an OpenStack Ironic
//! standalone (API + conductor in one process, SQLite) and a sushy-tools
//! Redfish emulator with fake systems. Both come from the peers venv that
//! `scripts/setup-peers.sh` builds.

// Each test binary uses part of the harness.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The peers venv: `METAL3_PEERS_VENV` or `<repo>/.venv`.
pub fn venv() -> PathBuf {
    match std::env::var_os("METAL3_PEERS_VENV") {
        Some(v) => PathBuf::from(v),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"),
    }
}

/// A venv executable; fails the test with setup instructions if missing.
pub fn venv_bin(name: &str) -> PathBuf {
    let p = venv().join("bin").join(name);
    assert!(
        p.is_file(),
        "{} not found: the Ironic tests need the peers venv with `ironic` and `sushy-tools`; \
         run scripts/setup-peers.sh (or set METAL3_PEERS_VENV to a venv with them installed)",
        p.display()
    );
    p
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A fresh scratch directory.
pub fn scratch(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "m3-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).expect("mkdir scratch");
    d
}

// Harnesses included together each bring their own copy (no shared state).
#[allow(clippy::duplicate_mod)]
#[path = "../../../bmc/tests/support/peer_process.rs"]
pub mod peer_process;
use peer_process::PeerProcess;

/// A peer process that dies with the test process: on drop, and however the
/// test binary ends (statics are never dropped; SIGKILL and Ctrl-C run no
/// drops), its whole process group (Ironic forks a worker) is killed and
/// its scratch directory removed. See [`peer_process`].
pub struct Watched {
    proc: PeerProcess,
}

impl Watched {
    /// Runs `program args…` with output to `<dir>/<name>.log`; `dir` is
    /// removed when the peer is gone.
    pub fn spawn(name: &str, dir: &Path, program: &Path, args: &[&str]) -> Watched {
        let log = dir.join(format!("{name}.log"));
        Watched {
            proc: PeerProcess::spawn(program, args, &log, Some(dir)),
        }
    }

    /// Process id of the watchdog shell (the peer runs below it).
    pub fn pid(&self) -> u32 {
        self.proc.watchdog_pid()
    }

    /// Process id of the peer itself.
    pub fn peer_pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The peer's output so far (for failure messages).
    pub fn log_tail(&self) -> String {
        self.proc.log_tail(40)
    }

    /// Waits until `GET path` on the port answers 200, or fails the test.
    pub fn wait_http_ok(&mut self, port: u16, path: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if http_status(port, path) == Some(200) {
                return;
            }
            if self.proc.exited() {
                panic!("peer exited before ready:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "peer on port {port} not ready after {within:?}:\n{}",
            self.log_tail()
        );
    }
}

impl Watched {
    /// Waits until something accepts TCP connections on the port.
    pub fn wait_port_open(&mut self, port: u16, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if self.proc.exited() {
                panic!("peer exited before ready:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "port {port} not open after {within:?}:\n{}",
            self.log_tail()
        );
    }
}

/// A throw-away PKI made with the `openssl` CLI: one CA signing a server
/// certificate for 127.0.0.1 and a client certificate.
pub struct Pki {
    /// CA certificate (PEM).
    pub ca: PathBuf,
    /// Server certificate (PEM, SAN IP:127.0.0.1).
    pub server_cert: PathBuf,
    /// Server key (PEM).
    pub server_key: PathBuf,
    /// Client certificate (PEM).
    pub client_cert: PathBuf,
    /// Client key (PEM).
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl (scripts/setup-peers.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// Generates the CA, server and client certificates in `dir`.
    pub fn generate(dir: &Path) -> Pki {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=metal3-test-ca"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(dir, &ca);
        for (name, ext) in [
            (
                "server",
                "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            ),
            ("client", "extendedKeyUsage=clientAuth\n"),
        ] {
            std::fs::write(dir.join(format!("{name}.ext")), ext).expect("write ext");
            let mut req = vec!["req", "-subj"];
            let subj = format!("/CN=metal3-test-{name}");
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let pem = format!("{name}.pem");
            let extf = format!("{name}.ext");
            req.push(&subj);
            req.extend(ec);
            req.extend(["-keyout", &key, "-out", &csr]);
            openssl(dir, &req);
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-out",
                    &pem,
                    "-extfile",
                    &extf,
                ],
            );
        }
        Pki {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        }
    }
}

/// Status of a plain HTTP/1.0 `GET` on loopback, `None` if nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let body = http_get(port, path)?;
    body.split_whitespace().nth(1)?.parse().ok()
}

/// Raw response (head and body) of a plain HTTP/1.0 `GET` on loopback.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Ironic standalone configuration (from the lab example, with `agent`
/// inspection enabled because Metal³ sets it on every new node).
const IRONIC_CONF: &str = r#"[DEFAULT]
auth_strategy = noauth
rpc_transport = none
enabled_hardware_types = fake-hardware,redfish,ipmi
enabled_boot_interfaces = fake,redfish-virtual-media,ipxe,pxe
enabled_deploy_interfaces = fake,direct,ramdisk,custom-agent
enabled_inspect_interfaces = fake,redfish,agent,no-inspect
enabled_management_interfaces = fake,redfish,ipmitool
enabled_power_interfaces = fake,redfish,ipmitool
enabled_raid_interfaces = fake,no-raid,redfish,agent
enabled_bios_interfaces = fake,no-bios,redfish
enabled_firmware_interfaces = fake,no-firmware,redfish
enabled_vendor_interfaces = fake,no-vendor,redfish,ipmitool
enabled_network_interfaces = noop
enabled_console_interfaces = no-console,fake
default_network_interface = noop
host = localhost
debug = false
log_file = STATE_DIR/ironic.log
[api]
host_ip = 127.0.0.1
port = API_PORT
[database]
connection = sqlite:///STATE_DIR/ironic.db
[conductor]
automated_clean = false
deploy_kernel = http://127.0.0.1:9/k
deploy_ramdisk = http://127.0.0.1:9/r
[dhcp]
dhcp_provider = none
[deploy]
default_boot_option = local
http_root = STATE_DIR/httpboot
http_url = http://127.0.0.1:8089
[json_rpc]
auth_strategy = noauth
[redfish]
# A dead BMC fails within seconds instead of Ironic's 5 attempts 4 s apart.
connection_attempts = 2
connection_retry_interval = 1
[pxe]
tftp_root = STATE_DIR/tftpboot
tftp_master_path = STATE_DIR/tftpboot/master
"#;

/// A running Ironic standalone.
pub struct Ironic {
    /// The process (killed on drop or when the test binary exits).
    pub process: Watched,
    /// API port on 127.0.0.1.
    pub port: u16,
    /// Its configuration file (names the process on its command line).
    pub conf: PathBuf,
}

impl Ironic {
    /// Base URL of the API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Writes the config, creates the schema, starts Ironic (noauth) and
    /// waits until the API answers.
    pub fn start() -> Ironic {
        Self::start_with(None)
    }

    /// Like [`Ironic::start`] with `auth_strategy = http_basic` and one user
    /// (bcrypt htpasswd made with the venv's `bcrypt`, which Ironic uses too).
    pub fn start_with_basic_auth(user: &str, password: &str) -> Ironic {
        Self::start_with(Some((user, password)))
    }

    /// Like [`Ironic::start`] serving HTTPS with `pki`'s server certificate.
    /// Readiness is only "port open": callers probe with a TLS client.
    pub fn start_with_tls(pki: &Pki) -> Ironic {
        Self::start_inner(None, Some(pki))
    }

    fn start_with(basic: Option<(&str, &str)>) -> Ironic {
        Self::start_inner(basic, None)
    }

    /// Stops this Ironic, throws its database away and starts a fresh one
    /// on the same port: what a Metal³ deployment's ephemeral Ironic does
    /// on a pod restart.
    pub fn restart_wiped(self) -> Ironic {
        let port = self.port;
        drop(self);
        Self::start_on(None, None, port)
    }

    fn start_inner(basic: Option<(&str, &str)>, tls: Option<&Pki>) -> Ironic {
        Self::start_on(basic, tls, free_port())
    }

    fn start_on(basic: Option<(&str, &str)>, tls: Option<&Pki>, port: u16) -> Ironic {
        let ironic = venv_bin("ironic");
        let dbsync = venv_bin("ironic-dbsync");
        let dir = scratch("ironic");
        for sub in ["httpboot", "tftpboot/master"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        let conf = dir.join("ironic.conf");
        let text = IRONIC_CONF
            .replace("STATE_DIR", &dir.display().to_string())
            .replace("API_PORT", &port.to_string());
        let text = match basic {
            None => text,
            Some((user, password)) => {
                let out = Command::new(venv().join("bin/python3"))
                    .arg("-c")
                    .arg("import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(4)).decode())")
                    .arg(password)
                    .output()
                    .expect("run venv python for bcrypt");
                assert!(
                    out.status.success(),
                    "bcrypt: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
                let htpasswd = dir.join("htpasswd");
                std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("write htpasswd");
                text.replacen(
                    "auth_strategy = noauth\n",
                    &format!(
                        "auth_strategy = http_basic\nhttp_basic_auth_user_file = {}\n",
                        htpasswd.display()
                    ),
                    1,
                )
            }
        };
        let text = match tls {
            None => text,
            Some(pki) => text.replacen(
                "[api]\n",
                &format!(
                    "[api]\nenable_ssl_api = true\n[ssl]\ncert_file = {}\nkey_file = {}\n[api]\n",
                    pki.server_cert.display(),
                    pki.server_key.display()
                ),
                1,
            ),
        };
        std::fs::write(&conf, text).expect("write ironic.conf");
        let out = Command::new(&dbsync)
            .arg("--config-file")
            .arg(&conf)
            .arg("create_schema")
            .output()
            .expect("run ironic-dbsync");
        assert!(
            out.status.success(),
            "ironic-dbsync create_schema failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf_s = conf.display().to_string();
        let mut proc = Watched::spawn("ironic", &dir, &ironic, &["--config-file", &conf_s]);
        if tls.is_some() {
            proc.wait_port_open(port, Duration::from_secs(120));
        } else {
            proc.wait_http_ok(port, "/", Duration::from_secs(120));
        }
        Ironic {
            process: proc,
            port,
            conf,
        }
    }

    /// CPU seconds (user + system, including reaped children) used so far
    /// by this Ironic: every process below its watchdog shell (Ironic
    /// renames its processes, so their command lines cannot be matched).
    pub fn cpu_seconds(&self) -> f64 {
        let tick = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(100.0);
        // pid -> (ppid, ticks) from /proc/<pid>/stat; fields after the
        // parenthesised command (0-based): ppid 1, utime 11, stime 12,
        // cutime 13, cstime 14.
        let mut procs = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            if let Some((_, rest)) = stat.rsplit_once(") ") {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                procs.push((pid, n(1) as u32, n(11) + n(12) + n(13) + n(14)));
            }
        }
        let mut tree = vec![self.process.pid()];
        let mut ticks = 0u64;
        while let Some(parent) = tree.pop() {
            for (pid, ppid, t) in &procs {
                if *ppid == parent {
                    ticks += t;
                    tree.push(*pid);
                }
            }
        }
        ticks as f64 / tick
    }
}

/// A running sushy-tools emulator with fake (in-memory) systems.
pub struct Sushy {
    /// The process, killed on drop or when the test binary exits.
    pub process: Watched,
    /// Port on 127.0.0.1.
    pub port: u16,
}

/// UUID of the single fake system the emulator serves.
pub const SUSHY_SYSTEM: &str = "27946b59-9e44-4fa7-8e91-f3527a1ef001";

impl Sushy {
    /// Starts the emulator with one powered-off fake system.
    pub fn start() -> Sushy {
        let bin = venv_bin("sushy-emulator");
        let dir = scratch("sushy");
        let port = free_port();
        let conf = dir.join("sushy.conf");
        std::fs::write(
            &conf,
            format!(
                "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n\
                 SUSHY_EMULATOR_LISTEN_PORT = {port}\n\
                 SUSHY_EMULATOR_FAKE_DRIVER = True\n\
                 SUSHY_EMULATOR_FAKE_SYSTEMS = [\n\
                 {{'uuid': '{SUSHY_SYSTEM}', 'name': 'node-0', 'power_state': 'Off',\n\
                 'nics': [{{'mac': '00:5c:52:31:3a:01', 'ip': '172.22.0.101'}}]}},\n\
                 ]\n"
            ),
        )
        .expect("write sushy.conf");
        let conf_s = conf.display().to_string();
        let mut proc = Watched::spawn("sushy", &dir, &bin, &["--config", &conf_s]);
        proc.wait_http_ok(port, "/redfish/v1/", Duration::from_secs(60));
        Sushy {
            process: proc,
            port,
        }
    }

    /// The fake system's `PowerState`, read straight from the emulator.
    pub fn power_state(&self) -> String {
        let raw =
            http_get(self.port, &format!("/redfish/v1/Systems/{SUSHY_SYSTEM}")).unwrap_or_default();
        let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        v["PowerState"].as_str().unwrap_or("").to_string()
    }
}
