//! Ironic REST client: microversion negotiation, noauth / HTTP basic auth,
//! TLS (CA, mTLS, opt-in insecure), timeouts, a request budget and bounded
//! retries while a node is locked.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use super::mapping::{DeployImages, NodeDriverInfo};

/// Header carrying the API microversion on every request.
pub const VERSION_HEADER: &str = "X-OpenStack-Ironic-API-Version";

/// An Ironic API microversion such as `1.89`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Microversion(pub u32, pub u32);

impl Microversion {
    /// Oldest API Metal³ works with.
    pub const MINIMUM: Microversion = Microversion(1, 89);
    /// Optional features, newest first: deploy abort, health, disable_power_off, vmedia GET.
    pub const PREFERRED: [Microversion; 4] = [
        Microversion(1, 110),
        Microversion(1, 109),
        Microversion(1, 95),
        Microversion(1, 93),
    ];

    /// Parses `1.89`.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.trim().split_once('.')?;
        Some(Microversion(a.parse().ok()?, b.parse().ok()?))
    }

    /// The version to use against a server whose maximum is `max`, or `None`
    /// if the server is too old.
    pub fn negotiate(max: Microversion) -> Option<Self> {
        if max < Self::MINIMUM {
            return None;
        }
        Some(
            Self::PREFERRED
                .into_iter()
                .find(|v| *v <= max)
                .unwrap_or(Self::MINIMUM),
        )
    }
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// How the client authenticates to Ironic.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// `auth_strategy = noauth`.
    #[default]
    NoAuth,
    /// `auth_strategy = http_basic`.
    HttpBasic {
        /// User name.
        username: String,
        /// Password; never printed.
        password: String,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::NoAuth => f.write_str("NoAuth"),
            Auth::HttpBasic { username, .. } => f
                .debug_struct("HttpBasic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl Auth {
    /// Reads `<dir>/ironic/username` and `<dir>/ironic/password` (Metal³'s
    /// `METAL3_AUTH_ROOT_DIR` layout); `NoAuth` when the directory has none.
    pub fn from_dir(dir: &Path) -> Result<Self, IronicError> {
        let user_file = dir.join("ironic").join("username");
        let pass_file = dir.join("ironic").join("password");
        if !user_file.exists() && !pass_file.exists() {
            return Ok(Auth::NoAuth);
        }
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| IronicError::Config(format!("reading {}: {e}", p.display())))
        };
        Ok(Auth::HttpBasic {
            username: read(&user_file)?,
            password: read(&pass_file)?,
        })
    }
}

/// Client settings; see [`IronicConfig::from_env`].
#[derive(Debug, Clone)]
pub struct IronicConfig {
    /// Base URL, e.g. `http://127.0.0.1:6385` (a trailing `/v1` is accepted).
    pub endpoint: String,
    /// Authentication.
    pub auth: Auth,
    /// Extra CA bundle (PEM) trusted for the endpoint.
    pub ca_file: Option<PathBuf>,
    /// Skip TLS certificate verification (explicit opt-in only).
    pub insecure: bool,
    /// Client certificate (PEM) for mutual TLS.
    pub client_cert_file: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    pub client_key_file: Option<PathBuf>,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Maximum requests in flight at once.
    pub max_concurrent_requests: usize,
    /// Retries of a request refused because the node is locked (HTTP 409).
    pub conflict_retries: u32,
    /// Delay between those retries.
    pub conflict_delay: Duration,
    /// Deploy ramdisk locations for new nodes.
    pub deploy_images: DeployImages,
}

impl IronicConfig {
    /// Defaults for an endpoint: noauth, 30 s timeout, 10 s connect timeout,
    /// 20 concurrent requests, 5 retries 3 s apart on a locked node.
    pub fn new(endpoint: impl Into<String>) -> Self {
        IronicConfig {
            endpoint: endpoint.into(),
            auth: Auth::NoAuth,
            ca_file: None,
            insecure: false,
            client_cert_file: None,
            client_key_file: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_concurrent_requests: 20,
            conflict_retries: 5,
            conflict_delay: Duration::from_secs(3),
            deploy_images: DeployImages::default(),
        }
    }

    /// Reads the process environment (see [`IronicConfig::from_lookup`]).
    pub fn from_env() -> Result<Self, IronicError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the config from `IRONIC_ENDPOINT`, `IRONIC_CACERT_FILE`,
    /// `IRONIC_INSECURE`, `IRONIC_CLIENT_CERT_FILE`,
    /// `IRONIC_CLIENT_PRIVATE_KEY_FILE`, `IRONIC_CLIENT_TIMEOUT`,
    /// `DEPLOY_KERNEL_URL`, `DEPLOY_RAMDISK_URL`, `DEPLOY_ISO_URL`; HTTP basic
    /// credentials from `METAL3_AUTH_ROOT_DIR` or `IRONIC_USERNAME`/`IRONIC_PASSWORD`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, IronicError> {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let endpoint = var("IRONIC_ENDPOINT")
            .ok_or_else(|| IronicError::Config("IRONIC_ENDPOINT is not set".into()))?;
        let mut cfg = IronicConfig::new(endpoint);
        cfg.ca_file = var("IRONIC_CACERT_FILE").map(PathBuf::from);
        cfg.client_cert_file = var("IRONIC_CLIENT_CERT_FILE").map(PathBuf::from);
        cfg.client_key_file = var("IRONIC_CLIENT_PRIVATE_KEY_FILE").map(PathBuf::from);
        if let Some(v) = var("IRONIC_INSECURE") {
            cfg.insecure = parse_bool(&v).ok_or_else(|| {
                IronicError::Config(format!("IRONIC_INSECURE: '{v}' is not a boolean"))
            })?;
        }
        if let Some(v) = var("IRONIC_CLIENT_TIMEOUT") {
            cfg.timeout = parse_duration(&v).ok_or_else(|| {
                IronicError::Config(format!(
                    "IRONIC_CLIENT_TIMEOUT: '{v}' is not a duration (e.g. 30s, 2m)"
                ))
            })?;
        }
        cfg.deploy_images = DeployImages {
            kernel: var("DEPLOY_KERNEL_URL"),
            ramdisk: var("DEPLOY_RAMDISK_URL"),
            iso: var("DEPLOY_ISO_URL"),
        };
        cfg.auth = match (var("IRONIC_USERNAME"), var("IRONIC_PASSWORD")) {
            (Some(username), Some(password)) => Auth::HttpBasic { username, password },
            _ => match var("METAL3_AUTH_ROOT_DIR") {
                Some(dir) => Auth::from_dir(Path::new(&dir))?,
                None => Auth::NoAuth,
            },
        };
        Ok(cfg)
    }
}

/// Go's `strconv.ParseBool` spellings.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A Go-style duration (`500ms`, `30s`, `2m`, `1h`) or plain seconds.
fn parse_duration(v: &str) -> Option<Duration> {
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Everything that can go wrong talking to Ironic. Messages name the
/// endpoint and the call, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum IronicError {
    /// The settings are unusable (missing endpoint, unreadable files, …).
    #[error("invalid Ironic client configuration: {0}")]
    Config(String),
    /// The request did not get an HTTP response (connect, TLS, timeout).
    #[error("Ironic at {endpoint}: {method} {path} failed: {message}")]
    Transport {
        /// Ironic base URL.
        endpoint: String,
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// Cause.
        message: String,
    },
    /// Ironic answered with an error status.
    #[error("Ironic at {endpoint}: {method} {path} returned HTTP {status}: {message}")]
    Api {
        /// Ironic base URL.
        endpoint: String,
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// HTTP status code.
        status: u16,
        /// Ironic's fault string (unwrapped from `error_message`).
        message: String,
    },
    /// A success response whose body could not be understood.
    #[error("Ironic at {endpoint}: {method} {path}: unexpected response: {message}")]
    Decode {
        /// Ironic base URL.
        endpoint: String,
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The server's newest API is older than Metal³ needs.
    #[error(
        "Ironic at {endpoint} supports API microversions up to {max}; metal3-rs needs at least {}",
        Microversion::MINIMUM
    )]
    UnsupportedVersion {
        /// Ironic base URL.
        endpoint: String,
        /// The server's maximum microversion.
        max: String,
    },
}

impl IronicError {
    /// HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            IronicError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The resource does not exist (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Conflict (HTTP 409): node locked, duplicate name, wrong state.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }
}

/// Extracts Ironic's fault string from an error body. Ironic wraps a JSON
/// document in a string: `{"error_message": "{\"faultstring\": \"…\"}"}`.
pub fn error_message_from_body(body: &str) -> String {
    let fallback = || {
        let t = body.trim();
        let mut s: String = t.chars().take(500).collect();
        if s.len() < t.len() {
            s.push('…');
        }
        s
    };
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return fallback();
    };
    let fault = |o: &Value| {
        o.get("faultstring")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match v.get("error_message") {
        Some(Value::String(inner)) => match serde_json::from_str::<Value>(inner) {
            Ok(o) => fault(&o).unwrap_or_else(|| inner.clone()),
            Err(_) => inner.clone(),
        },
        Some(o @ Value::Object(_)) => fault(o).unwrap_or_else(fallback),
        _ => fault(&v).unwrap_or_else(fallback),
    }
}

/// The [`Node`] fields every supported microversion (≥ 1.89) knows;
/// `disable_power_off` (1.95) is added when negotiated.
const NODE_FIELDS: [&str; 22] = [
    "uuid",
    "name",
    "driver",
    "driver_info",
    "instance_info",
    "instance_uuid",
    "properties",
    "provision_state",
    "target_provision_state",
    "power_state",
    "target_power_state",
    "maintenance",
    "maintenance_reason",
    "fault",
    "last_error",
    "boot_interface",
    "deploy_interface",
    "inspect_interface",
    "power_interface",
    "automated_clean",
    "inspection_finished_at",
    "raid_interface",
];

/// The [`Node`] fields that say whether a node moved on: a list with
/// only these tells which nodes a poll must read in full.
pub const NODE_STATE_FIELDS: [&str; 11] = [
    "uuid",
    "name",
    "provision_state",
    "target_provision_state",
    "power_state",
    "target_power_state",
    "maintenance",
    "fault",
    "last_error",
    "boot_interface",
    "maintenance_reason",
];

/// An Ironic node (the fields Metal³ reads; others are ignored).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Node {
    /// Node UUID.
    pub uuid: String,
    /// Node name (`<namespace>~<name>`).
    pub name: Option<String>,
    /// Hardware type.
    pub driver: String,
    /// BMC access (Ironic masks passwords; `Debug` hides them anyway).
    pub driver_info: NodeDriverInfo,
    /// Deployment settings.
    pub instance_info: Map<String, Value>,
    /// Consumer UUID (BMH UID).
    pub instance_uuid: Option<String>,
    /// Hardware properties (capabilities, cpu_arch, …).
    pub properties: Map<String, Value>,
    /// Current provision state, e.g. `available`.
    pub provision_state: String,
    /// Provision state being moved to, if any.
    pub target_provision_state: Option<String>,
    /// `power on` / `power off` / null.
    pub power_state: Option<String>,
    /// Power state being moved to, if any.
    pub target_power_state: Option<String>,
    /// Maintenance mode.
    pub maintenance: bool,
    /// Why maintenance was set.
    pub maintenance_reason: Option<String>,
    /// Fault detected by Ironic (`power failure`, …).
    pub fault: Option<String>,
    /// Last error message.
    pub last_error: Option<String>,
    /// Boot interface.
    pub boot_interface: Option<String>,
    /// Deploy interface.
    pub deploy_interface: Option<String>,
    /// Inspect interface.
    pub inspect_interface: Option<String>,
    /// Power interface.
    pub power_interface: Option<String>,
    /// Automated cleaning override.
    pub automated_clean: Option<bool>,
    /// Reboot instead of power off (API ≥ 1.95).
    pub disable_power_off: Option<bool>,
    /// When the last inspection finished (ISO 8601), if one ever did.
    pub inspection_finished_at: Option<String>,
    /// RAID interface.
    pub raid_interface: Option<String>,
}

impl<'de> Deserialize<'de> for NodeDriverInfo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(NodeDriverInfo(Map::deserialize(d)?))
    }
}

/// An Ironic port (a NIC MAC bound to a node).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Port {
    /// Port UUID.
    pub uuid: String,
    /// MAC address.
    pub address: String,
    /// Owning node.
    pub node_uuid: String,
    /// PXE boots from this NIC.
    pub pxe_enabled: Option<bool>,
}

/// Result of validating one interface of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct InterfaceValidation {
    /// `true` valid, `false` invalid, `None` not applicable.
    pub result: Option<bool>,
    /// Why not.
    pub reason: Option<String>,
}

/// A provision-state change (`PUT /v1/nodes/{id}/states/provision`).
#[derive(Debug, Clone, PartialEq)]
pub enum ProvisionTarget {
    /// enroll → manageable (verifies BMC access).
    Manage,
    /// manageable → available (automated cleaning if enabled).
    Provide,
    /// manageable → inspecting.
    Inspect,
    /// available → active.
    Active {
        /// JSON config drive; `None` for live ISOs.
        configdrive: Option<Value>,
        /// Deploy steps (custom deploy).
        deploy_steps: Vec<Value>,
    },
    /// active → available (tear down).
    Deleted,
    /// Manual cleaning with these steps.
    Clean {
        /// Clean steps.
        clean_steps: Vec<Value>,
    },
    /// manageable → active without deploying.
    Adopt,
    /// Abort the running operation.
    Abort,
    /// Servicing of an active node with these steps.
    Service {
        /// Service steps.
        service_steps: Vec<Value>,
    },
}

impl ProvisionTarget {
    /// The request body.
    pub fn body(&self) -> Value {
        match self {
            ProvisionTarget::Manage => json!({"target": "manage"}),
            ProvisionTarget::Provide => json!({"target": "provide"}),
            ProvisionTarget::Inspect => json!({"target": "inspect"}),
            ProvisionTarget::Deleted => json!({"target": "deleted"}),
            ProvisionTarget::Adopt => json!({"target": "adopt"}),
            ProvisionTarget::Abort => json!({"target": "abort"}),
            ProvisionTarget::Clean { clean_steps } => {
                json!({"target": "clean", "clean_steps": clean_steps})
            }
            ProvisionTarget::Service { service_steps } => {
                json!({"target": "service", "service_steps": service_steps})
            }
            ProvisionTarget::Active {
                configdrive,
                deploy_steps,
            } => {
                let mut b = Map::new();
                b.insert("target".into(), "active".into());
                if let Some(cd) = configdrive {
                    b.insert("configdrive".into(), cd.clone());
                }
                if !deploy_steps.is_empty() {
                    b.insert("deploy_steps".into(), Value::Array(deploy_steps.clone()));
                }
                Value::Object(b)
            }
        }
    }
}

/// A power-state change (`PUT /v1/nodes/{id}/states/power`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerTarget {
    /// `power on`.
    On,
    /// `power off` (hard).
    Off,
    /// `rebooting` (hard).
    Reboot,
    /// `soft power off` (ACPI), falling back per Ironic after the timeout.
    SoftOff,
    /// `soft rebooting`.
    SoftReboot,
}

impl PowerTarget {
    /// Ironic's target string.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerTarget::On => "power on",
            PowerTarget::Off => "power off",
            PowerTarget::Reboot => "rebooting",
            PowerTarget::SoftOff => "soft power off",
            PowerTarget::SoftReboot => "soft rebooting",
        }
    }
}

/// JSON-patch `add` (also replaces an existing value).
pub fn patch_add(path: &str, value: impl Serialize) -> Value {
    json!({"op": "add", "path": path, "value": value})
}

/// JSON-patch `remove` (for interface fields: reset to the driver default).
pub fn patch_remove(path: &str) -> Value {
    json!({"op": "remove", "path": path})
}

struct Inner {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    version: Microversion,
    budget: Semaphore,
    conflict_retries: u32,
    conflict_delay: Duration,
    /// HTTP requests sent (each attempt counts), for benchmarks and status.
    sent: AtomicU64,
}

/// A connected Ironic client; cheap to clone (shares the connection pool and budget).
#[derive(Clone)]
pub struct IronicClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for IronicClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IronicClient")
            .field("endpoint", &self.inner.base)
            .field("microversion", &self.inner.version)
            .field("auth", &self.inner.auth)
            .finish()
    }
}

fn read_file(p: &Path, what: &str) -> Result<Vec<u8>, IronicError> {
    std::fs::read(p)
        .map_err(|e| IronicError::Config(format!("reading {what} {}: {e}", p.display())))
}

fn build_http(cfg: &IronicConfig) -> Result<reqwest::Client, IronicError> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.connect_timeout)
        .danger_accept_invalid_certs(cfg.insecure);
    if let Some(ca) = &cfg.ca_file {
        let pem = read_file(ca, "CA file")?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| IronicError::Config(format!("CA file {}: {e}", ca.display())))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    match (&cfg.client_cert_file, &cfg.client_key_file) {
        (Some(cert), Some(key)) => {
            // rustls wants certificate chain and key in one PEM buffer.
            let mut pem = read_file(cert, "client certificate")?;
            pem.push(b'\n');
            pem.extend(read_file(key, "client private key")?);
            let id = reqwest::Identity::from_pem(&pem)
                .map_err(|e| IronicError::Config(format!("client certificate/key: {e}")))?;
            b = b.identity(id);
        }
        (None, None) => {}
        _ => {
            return Err(IronicError::Config(
                "IRONIC_CLIENT_CERT_FILE and IRONIC_CLIENT_PRIVATE_KEY_FILE must be set together"
                    .into(),
            ))
        }
    }
    b.build()
        .map_err(|e| IronicError::Config(format!("building HTTP client: {e}")))
}

fn normalize_endpoint(e: &str) -> String {
    let t = e.trim().trim_end_matches('/');
    t.strip_suffix("/v1").unwrap_or(t).to_string()
}

impl IronicClient {
    /// Connects: builds the HTTP client and negotiates the API microversion
    /// (`GET /`), refusing servers older than 1.89.
    pub async fn connect(cfg: &IronicConfig) -> Result<Self, IronicError> {
        let base = normalize_endpoint(&cfg.endpoint);
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(IronicError::Config(format!(
                "IRONIC_ENDPOINT '{base}' must be an http:// or https:// URL"
            )));
        }
        let mut client = IronicClient {
            inner: Arc::new(Inner {
                http: build_http(cfg)?,
                base,
                auth: cfg.auth.clone(),
                version: Microversion::MINIMUM,
                budget: Semaphore::new(cfg.max_concurrent_requests.max(1)),
                conflict_retries: cfg.conflict_retries,
                conflict_delay: cfg.conflict_delay,
                sent: AtomicU64::new(0),
            }),
        };
        let max = client.max_server_version().await?;
        let chosen =
            Microversion::negotiate(max).ok_or_else(|| IronicError::UnsupportedVersion {
                endpoint: client.inner.base.clone(),
                max: max.to_string(),
            })?;
        // Nobody else holds the Arc yet; set the negotiated version in place.
        Arc::get_mut(&mut client.inner)
            .ok_or_else(|| IronicError::Config("client shared during negotiation".into()))?
            .version = chosen;
        tracing::debug!(endpoint = %client.inner.base, microversion = %chosen, "connected to Ironic");
        Ok(client)
    }

    /// The microversion sent with every request.
    pub fn microversion(&self) -> Microversion {
        self.inner.version
    }

    /// HTTP requests sent so far by this client and its clones.
    pub fn requests_sent(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    /// Ironic base URL.
    pub fn endpoint(&self) -> &str {
        &self.inner.base
    }

    async fn max_server_version(&self) -> Result<Microversion, IronicError> {
        let root = self.request(Method::GET, "/", None).await?;
        let decode = |message: String| IronicError::Decode {
            endpoint: self.inner.base.clone(),
            method: "GET".into(),
            path: "/".into(),
            message,
        };
        let versions = root
            .get("versions")
            .and_then(Value::as_array)
            .ok_or_else(|| decode("no 'versions' list".into()))?;
        let v1 = versions
            .iter()
            .find(|v| v.get("id").and_then(Value::as_str) == Some("v1"))
            .or_else(|| versions.first())
            .ok_or_else(|| decode("empty 'versions' list".into()))?;
        let text = v1.get("version").and_then(Value::as_str).unwrap_or("");
        Microversion::parse(text)
            .ok_or_else(|| decode(format!("maximum version '{text}' is not major.minor")))
    }

    /// Sends one request and returns the JSON body (`Null` when empty).
    /// Retries a 409 that says the node is locked, up to the configured bound.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, IronicError> {
        let inner = &self.inner;
        let url = format!("{}{path}", inner.base);
        let mut attempt = 0;
        loop {
            let resp = {
                // The budget bounds requests in flight, not the retry sleeps.
                let _permit = inner
                    .budget
                    .acquire()
                    .await
                    .map_err(|e| IronicError::Config(e.to_string()))?;
                inner.sent.fetch_add(1, Ordering::Relaxed);
                let mut req = inner
                    .http
                    .request(method.clone(), &url)
                    .header(VERSION_HEADER, inner.version.to_string())
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Auth::HttpBasic { username, password } = &inner.auth {
                    req = req.basic_auth(username, Some(password));
                }
                if let Some(b) = body {
                    req = req.json(b);
                }
                let resp = req.send().await.map_err(|e| IronicError::Transport {
                    endpoint: inner.base.clone(),
                    method: method.to_string(),
                    path: path.to_string(),
                    message: describe_reqwest(&e),
                })?;
                let status = resp.status();
                let text = resp.text().await.map_err(|e| IronicError::Transport {
                    endpoint: inner.base.clone(),
                    method: method.to_string(),
                    path: path.to_string(),
                    message: describe_reqwest(&e),
                })?;
                (status, text)
            };
            let (status, text) = resp;
            if status.is_success() {
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_str(&text).map_err(|e| IronicError::Decode {
                    endpoint: inner.base.clone(),
                    method: method.to_string(),
                    path: path.to_string(),
                    message: e.to_string(),
                });
            }
            let message = error_message_from_body(&text);
            let locked = status == StatusCode::CONFLICT && message.contains("locked");
            if locked && attempt < inner.conflict_retries {
                attempt += 1;
                tracing::debug!(%method, path, attempt, "Ironic node locked; retrying");
                tokio::time::sleep(inner.conflict_delay).await;
                continue;
            }
            return Err(IronicError::Api {
                endpoint: inner.base.clone(),
                method: method.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                message,
            });
        }
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, IronicError> {
        let v = self.request(method.clone(), path, body).await?;
        serde_json::from_value(v).map_err(|e| IronicError::Decode {
            endpoint: self.inner.base.clone(),
            method: method.to_string(),
            path: path.to_string(),
            message: e.to_string(),
        })
    }

    /// `POST /v1/nodes`.
    pub async fn create_node(&self, body: &impl Serialize) -> Result<Node, IronicError> {
        let body = to_value(body)?;
        self.typed(Method::POST, "/v1/nodes", Some(&body)).await
    }

    /// `GET /v1/nodes/{uuid-or-name}?fields=…`: only the fields [`Node`]
    /// holds, which spares Ironic building (and us parsing) the rest.
    pub async fn get_node(&self, id: &str) -> Result<Node, IronicError> {
        let path = format!("{}?fields={}", node_path(id, ""), self.node_fields());
        self.typed(Method::GET, &path, None).await
    }

    /// The `fields=` list for [`Node`] at the negotiated microversion.
    pub fn node_fields(&self) -> String {
        let mut f = NODE_FIELDS.join(",");
        if self.microversion() >= Microversion(1, 95) {
            f.push_str(",disable_power_off");
        }
        f
    }

    /// Like [`IronicClient::get_node`] but `Ok(None)` when there is no such node.
    pub async fn find_node(&self, id: &str) -> Result<Option<Node>, IronicError> {
        match self.get_node(id).await {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/nodes?fields=…`, following pagination.
    pub async fn list_nodes(&self, fields: &[&str]) -> Result<Vec<Node>, IronicError> {
        let mut path = "/v1/nodes".to_string();
        if !fields.is_empty() {
            path.push_str(&format!("?fields={}", fields.join(",")));
        }
        let mut out = Vec::new();
        // Bounded so a misbehaving server cannot loop us forever.
        for _ in 0..1000 {
            #[derive(Deserialize)]
            struct Page {
                #[serde(default)]
                nodes: Vec<Node>,
                #[serde(default)]
                next: Option<String>,
            }
            let page: Page = self.typed(Method::GET, &path, None).await?;
            out.extend(page.nodes);
            match page
                .next
                .as_deref()
                .and_then(|n| n.find("/v1/").map(|i| &n[i..]))
            {
                Some(next) => path = next.to_string(),
                None => break,
            }
        }
        Ok(out)
    }

    /// `PATCH /v1/nodes/{id}` with JSON-patch operations ([`patch_add`], [`patch_remove`]).
    pub async fn update_node(&self, id: &str, ops: &[Value]) -> Result<Node, IronicError> {
        let body = Value::Array(ops.to_vec());
        self.typed(Method::PATCH, &node_path(id, ""), Some(&body))
            .await
    }

    /// `DELETE /v1/nodes/{id}`.
    pub async fn delete_node(&self, id: &str) -> Result<(), IronicError> {
        self.request(Method::DELETE, &node_path(id, ""), None)
            .await
            .map(drop)
    }

    /// `POST /v1/ports`.
    pub async fn create_port(
        &self,
        node_uuid: &str,
        mac: &str,
        pxe_enabled: bool,
    ) -> Result<Port, IronicError> {
        let body = json!({"node_uuid": node_uuid, "address": mac, "pxe_enabled": pxe_enabled});
        self.typed(Method::POST, "/v1/ports", Some(&body)).await
    }

    /// `GET /v1/ports?address=<mac>`: the ports with this MAC (zero or one).
    pub async fn list_ports_by_address(&self, mac: &str) -> Result<Vec<Port>, IronicError> {
        #[derive(Deserialize)]
        struct Ports {
            #[serde(default)]
            ports: Vec<Port>,
        }
        let path = format!(
            "/v1/ports?address={}&fields=uuid,address,node_uuid,pxe_enabled",
            encode(mac)
        );
        let p: Ports = self.typed(Method::GET, &path, None).await?;
        Ok(p.ports)
    }

    /// `PUT /v1/nodes/{id}/states/provision`.
    pub async fn set_provision_state(
        &self,
        id: &str,
        target: &ProvisionTarget,
    ) -> Result<(), IronicError> {
        let body = target.body();
        self.request(
            Method::PUT,
            &node_path(id, "/states/provision"),
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// `PUT /v1/nodes/{id}/states/power`; `timeout_secs` for soft actions.
    pub async fn set_power_state(
        &self,
        id: &str,
        target: PowerTarget,
        timeout_secs: Option<u32>,
    ) -> Result<(), IronicError> {
        let mut body = json!({"target": target.as_str()});
        if let (Some(t), Some(o)) = (timeout_secs, body.as_object_mut()) {
            o.insert("timeout".into(), t.into());
        }
        self.request(Method::PUT, &node_path(id, "/states/power"), Some(&body))
            .await
            .map(drop)
    }

    /// `PUT /v1/nodes/{id}/maintenance`.
    pub async fn set_maintenance(&self, id: &str, reason: &str) -> Result<(), IronicError> {
        let body = json!({"reason": reason});
        self.request(Method::PUT, &node_path(id, "/maintenance"), Some(&body))
            .await
            .map(drop)
    }

    /// `DELETE /v1/nodes/{id}/maintenance`.
    pub async fn unset_maintenance(&self, id: &str) -> Result<(), IronicError> {
        self.request(Method::DELETE, &node_path(id, "/maintenance"), None)
            .await
            .map(drop)
    }

    /// `GET /v1/nodes/{id}/validate`: per-interface results.
    pub async fn validate(
        &self,
        id: &str,
    ) -> Result<std::collections::BTreeMap<String, InterfaceValidation>, IronicError> {
        self.typed(Method::GET, &node_path(id, "/validate"), None)
            .await
    }

    /// `PUT /v1/nodes/{id}/states/raid`: the target RAID configuration
    /// that the next `create_configuration` clean step applies.
    pub async fn set_target_raid_config(
        &self,
        id: &str,
        logical_disks: &[Value],
    ) -> Result<(), IronicError> {
        let body = json!({"logical_disks": logical_disks});
        self.request(Method::PUT, &node_path(id, "/states/raid"), Some(&body))
            .await
            .map(drop)
    }

    /// `GET /v1/nodes/{id}/inventory` (`{inventory, plugin_data}`).
    pub async fn inventory(&self, id: &str) -> Result<Value, IronicError> {
        self.request(Method::GET, &node_path(id, "/inventory"), None)
            .await
    }

    /// `GET /v1/nodes/{id}/bios[?detail=true]`: the `bios` settings list.
    pub async fn bios_settings(&self, id: &str, detail: bool) -> Result<Vec<Value>, IronicError> {
        let suffix = if detail { "/bios?detail=true" } else { "/bios" };
        let v = self
            .request(Method::GET, &node_path(id, suffix), None)
            .await?;
        Ok(v.get("bios")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// `GET /v1/nodes/{id}/vmedia` (API ≥ 1.93): attached virtual media.
    pub async fn get_vmedia(&self, id: &str) -> Result<Value, IronicError> {
        self.request(Method::GET, &node_path(id, "/vmedia"), None)
            .await
    }

    /// `POST /v1/nodes/{id}/vmedia`: insert an image as a virtual CD.
    pub async fn attach_vmedia(&self, id: &str, image_url: &str) -> Result<(), IronicError> {
        let body = json!({"device_type": "cdrom", "image_url": image_url});
        self.request(Method::POST, &node_path(id, "/vmedia"), Some(&body))
            .await
            .map(drop)
    }

    /// `DELETE /v1/nodes/{id}/vmedia?device_types=cdrom`: eject the virtual CD.
    pub async fn detach_vmedia(&self, id: &str) -> Result<(), IronicError> {
        self.request(
            Method::DELETE,
            &node_path(id, "/vmedia?device_types=cdrom"),
            None,
        )
        .await
        .map(drop)
    }
}

fn to_value(body: &impl Serialize) -> Result<Value, IronicError> {
    serde_json::to_value(body).map_err(|e| IronicError::Config(format!("encoding request: {e}")))
}

/// Percent-encodes a path segment or query value (node names contain `~`, which is safe).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn node_path(id: &str, suffix: &str) -> String {
    format!("/v1/nodes/{}{suffix}", encode(id))
}

/// reqwest's message plus its sources (the interesting part, e.g. "connection refused").
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
