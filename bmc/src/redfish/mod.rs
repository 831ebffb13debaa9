//! Async Redfish client: power, boot override, virtual media, inventory,
//! BIOS settings, secure boot and firmware, for every Redfish-speaking
//! address type (`redfish*`, `idrac-*`, `ilo5-*`, legacy `ilo4*`/`ilo5`/`irmc`).
//!
//! Response mapping lives in [`parse`] (pure functions on `serde_json::Value`);
//! HTTP, authentication, budget and retries in a private transport.

pub mod discovery;
mod fresh;
pub mod hardware;
pub mod parse;
pub mod quirks;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::address::{BmcAddress, Protocol};
use crate::credentials::Credentials;
use crate::error::BmcError;
use crate::ops::{BootDevice, BootMode, BootOverride, PowerAction, PowerBootControl, PowerState};
use discovery::{CdSlot, Discovery, DISCOVERY_VERSION};
use fresh::LastRead;
use hardware::HardwareDetails;
use parse::{FirmwareComponent, InventoryParts, MediaStatus, ResetPlan, TaskPoll, Vendor};
use transport::{Reply, Transport};

/// Connection settings of a [`RedfishClient`].
#[derive(Debug, Clone)]
pub struct RedfishOptions {
    /// Skip TLS certificate verification (Metal³ `disableCertificateVerification`).
    pub insecure: bool,
    /// Extra PEM CA bundle to trust besides the built-in roots.
    pub ca_bundle: Option<PathBuf>,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Concurrent requests allowed to this BMC, process-wide.
    pub max_concurrent: usize,
    /// Retries of idempotent reads on 5xx or connection failure.
    pub retries: u32,
    /// How to authenticate: HTTP basic, a session, or basic first.
    pub auth: RedfishAuth,
    /// The layout an earlier client of the same address found
    /// ([`RedfishClient::discovery`]): connecting then reads nothing but
    /// what logging in needs, and operations skip the reads that only find
    /// paths, targets and allowable values. Ignored unless it
    /// [serves](Discovery::serves) the address.
    pub discovery: Option<Discovery>,
}

/// How a [`RedfishClient`] authenticates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RedfishAuth {
    /// A session whenever the service root links a SessionService (read at
    /// connect), else HTTP basic; a session that expires is renewed once per
    /// request and logged out on drop. The default, as Ironic's sushy does:
    /// BMCs that check basic credentials slowly (PAM, LDAP) on every request
    /// are spared that, at the price of reading the root at connect.
    #[default]
    Session,
    /// HTTP basic first; a session only when the BMC refuses basic (401/403)
    /// and offers a SessionService. Saves the root read when the address names
    /// the system, but a wrong password then counts as two failed logins
    /// (basic, then the session attempt), which brings lockouts sooner.
    Auto,
    /// HTTP basic only; never reads the service root to log in.
    Basic,
}

impl Default for RedfishOptions {
    fn default() -> Self {
        RedfishOptions {
            insecure: false,
            ca_bundle: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_concurrent: crate::budget::DEFAULT_PERMITS,
            retries: 3,
            auth: RedfishAuth::Session,
            discovery: None,
        }
    }
}

/// Out-of-band inventory: what could be read, and what could not.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Inventory {
    /// The hardware as Metal³ reports it.
    pub hardware: HardwareDetails,
    /// Parts that could not be read (their fields are left empty).
    pub warnings: Vec<String>,
}

/// Where [`RedfishClient::boot_from_media`] left the host, as the BMC reads back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaBoot {
    /// The CD slot, with the image inserted.
    pub media: MediaStatus,
    /// The one-time boot override from CD.
    pub boot: BootOverride,
    /// The power state reached (on).
    pub power: PowerState,
}

/// How long a `PowerCycle` emulated as ForceOff + On waits for "off".
const CYCLE_OFF_TIMEOUT: Duration = Duration::from_secs(120);
const EXPAND: &str = "$expand=.($levels=1)";
/// Two levels: a storage collection with its controllers and their drives.
const EXPAND_2: &str = "$expand=.($levels=2)";
/// Retries of a failing inventory subresource: one, not the full budget,
/// because a failing part only costs a warning, and BMCs that fail a
/// subresource (an unsupported Storage, a busy RAID controller) usually keep
/// failing it for longer than a backoff, while each retry loads the BMC.
const PART_RETRIES: u32 = 1;

/// The InsertMedia body most BMCs want; [`quirks::retry_insert_media_minimal`]
/// says when to fall back to the image alone.
fn insert_payload(image_url: &str) -> Value {
    json!({"Image": image_url, "Inserted": true, "WriteProtected": true})
}

/// A connected Redfish BMC, bound to one ComputerSystem.
pub struct RedfishClient {
    t: Arc<Transport>,
    /// The service root, read at connect only when connecting needs it (no
    /// system in the address, a session to open), else the first time
    /// something needs it (`$expand` support, UpdateService, the vendor).
    root: tokio::sync::OnceCell<Value>,
    /// The system path as the address names it (for [`Discovery::named`]);
    /// boxed: the client is a variant of `Bmc`, kept near the IPMI one's size.
    named: Option<Box<str>>,
    system_path: String,
    /// Resolved the first time a quirk needs it: from the service root, the
    /// system's manufacturer, else the system's manager.
    vendor: tokio::sync::OnceCell<Vendor>,
    /// The system as last read (at connect, by a read-back or a poll).
    system: tokio::sync::Mutex<LastRead>,
    /// The system was last read without an ETag (header or `@odata.etag`):
    /// a PATCH then has no tag to send, and needs no read to get one.
    system_untagged: std::sync::atomic::AtomicBool,
    /// The CD/DVD slot found by the first media operation, and its last read:
    /// later operations read the slot directly instead of searching again.
    cd_slot: tokio::sync::Mutex<Option<(String, LastRead)>>,
    /// Where pending BIOS settings go, once known.
    bios_settings: tokio::sync::OnceCell<String>,
}

impl std::fmt::Debug for RedfishClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedfishClient")
            .field("bmc", &self.t.bmc)
            .field("system", &self.system_path)
            .field("vendor", &self.vendor.get())
            .finish()
    }
}

fn invalid(bmc: &str, op: &str, detail: impl Into<String>) -> BmcError {
    BmcError::InvalidRequest {
        bmc: bmc.to_string(),
        operation: op.to_string(),
        detail: detail.into(),
    }
}

fn build_http(opts: &RedfishOptions, bmc: &str) -> Result<reqwest::Client, BmcError> {
    let op = "configure TLS";
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        // Redirects within the BMC only (sushy-tools sends a system's name
        // to its UUID path): reqwest drops `Authorization` on a redirect to
        // another host, but not `X-Auth-Token`.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if !same {
                attempt.stop()
            } else if attempt.previous().len() > 5 {
                attempt.error("more than 5 redirects")
            } else {
                attempt.follow()
            }
        }))
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.request_timeout)
        .danger_accept_invalid_certs(opts.insecure);
    if let Some(path) = &opts.ca_bundle {
        let pem = std::fs::read(path).map_err(|e| {
            invalid(
                bmc,
                op,
                format!("cannot read CA bundle {}: {e}", path.display()),
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| invalid(bmc, op, format!("bad CA bundle {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(invalid(
                bmc,
                op,
                format!("no certificate in {}", path.display()),
            ));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| invalid(bmc, op, format!("cannot build the HTTP client: {e}")))
}

/// Reads the service root; anything but a JSON object is not a Redfish service.
async fn read_root(t: &Transport) -> Result<Value, BmcError> {
    let op = "read the service root";
    let root = t.get("/redfish/v1/", op).await?.body;
    if !root.is_object() {
        return Err(t.bad(op, "the service root is not a JSON object"));
    }
    Ok(root)
}

/// A GET at connect. With [`RedfishAuth::Auto`], a refusal of HTTP basic
/// (401/403) opens a session when the service root links a SessionService
/// (reading the root if not yet read) and the GET is sent once more;
/// without one, the refusal is the answer.
async fn get_authed(
    t: &Transport,
    root: &tokio::sync::OnceCell<Value>,
    auth: RedfishAuth,
    path: &str,
    op: &str,
) -> Result<Reply, BmcError> {
    match t.get(path, op).await {
        Err(refused @ BmcError::AuthFailed { .. })
            if auth == RedfishAuth::Auto && !t.has_session().await =>
        {
            let r = root.get_or_try_init(|| read_root(t)).await?;
            let Some(sessions) = parse::sessions_link(r) else {
                return Err(refused);
            };
            if !t.login(&sessions, "log in").await? {
                return Err(refused);
            }
            t.get(path, op).await
        }
        other => other,
    }
}

impl RedfishClient {
    /// Connects: reads the system named by the address (or the only member
    /// of `/Systems`), authenticating as `options.auth` says. The service
    /// root is read here only when the address names no system or a session
    /// is to be opened; otherwise later, once, when something needs it.
    pub async fn connect(
        address: &BmcAddress,
        credentials: &Credentials,
        options: RedfishOptions,
    ) -> Result<RedfishClient, BmcError> {
        let base = address.http_base_url();
        let op = "connect";
        if address.protocol() != Protocol::Redfish {
            return Err(invalid(
                &base,
                op,
                format!("address type {} does not speak Redfish", address.scheme()),
            ));
        }
        if address.hostname().is_empty() {
            return Err(invalid(&base, op, "the address has no host"));
        }
        let http = build_http(&options, &base)?;
        let key = format!(
            "{}:{}",
            address.hostname().to_ascii_lowercase(),
            address.effective_port()
        );
        let budget = crate::budget::for_bmc(&key, options.max_concurrent);
        let t = Arc::new(Transport::new(
            http,
            base,
            credentials.clone(),
            budget,
            options.retries,
            options.request_timeout,
        ));
        let root = tokio::sync::OnceCell::new();
        let named = address
            .redfish_system_id()
            .map(|p| format!("/{}", p.trim_matches('/')));
        if let Some(known) = options.discovery.filter(|d| d.serves(named.as_deref())) {
            return Self::connect_known(t, named, known, options.auth).await;
        }
        if named.is_none() || options.auth == RedfishAuth::Session {
            let r = read_root(&t).await?;
            if options.auth == RedfishAuth::Session {
                if let Some(sessions) = parse::sessions_link(&r) {
                    // No session service (sushy-tools, some old firmware): basic auth.
                    t.login(&sessions, "log in").await?;
                }
            }
            let _ = root.set(r);
        }
        let found = async {
            let system_path = match named.clone() {
                Some(p) => p,
                None => {
                    let systems = root
                        .get()
                        .and_then(|r| parse::link(r, "Systems"))
                        .unwrap_or_else(|| "/redfish/v1/Systems".to_string());
                    let coll = get_authed(&t, &root, options.auth, &systems, "list systems")
                        .await?
                        .body;
                    parse::choose_system(&parse::member_links(&coll))
                        .map_err(|d| invalid(&t.bmc, "select the system", d))?
                }
            };
            let reply =
                get_authed(&t, &root, options.auth, &system_path, "read the system").await?;
            Ok::<_, BmcError>((system_path, reply))
        }
        .await;
        let (system_path, reply) = match found {
            Ok(f) => f,
            Err(e) => {
                // Logged in but no client to end the session later: end it now.
                t.logout().await;
                return Err(e);
            }
        };
        // Names redirect to the canonical path (sushy): use that from now on.
        let system_path = parse::str_at(&reply.body, "@odata.id")
            .map(|s| s.trim_end_matches('/').to_string())
            .unwrap_or(system_path);
        Ok(RedfishClient {
            t,
            root,
            named: named.map(String::into_boxed_str),
            system_path,
            vendor: tokio::sync::OnceCell::new(),
            system_untagged: reply.untagged().into(),
            system: tokio::sync::Mutex::new(LastRead::new(reply, true)),
            cd_slot: tokio::sync::Mutex::new(None),
            bios_settings: tokio::sync::OnceCell::new(),
        })
    }

    /// [`Self::connect`] from a discovery: sends nothing but the session
    /// login ([`RedfishAuth::Session`] on a BMC whose root links one), so
    /// unreachable BMCs and wrong credentials show at the first operation.
    /// The kept resources serve as layout only, never as current state.
    async fn connect_known(
        t: Arc<Transport>,
        named: Option<String>,
        known: Discovery,
        auth: RedfishAuth,
    ) -> Result<RedfishClient, BmcError> {
        let root = tokio::sync::OnceCell::new();
        if let Some(r) = known.root {
            let _ = root.set(r);
        }
        if auth == RedfishAuth::Session {
            let r = root.get_or_try_init(|| read_root(&t)).await?;
            if let Some(sessions) = parse::sessions_link(r) {
                t.login(&sessions, "log in").await?;
            }
        }
        let cd_slot = known
            .cd_slot
            .map(|s| (s.path, LastRead::new(Reply::kept(s.slot), false)));
        Ok(RedfishClient {
            t,
            root,
            named: named.map(String::into_boxed_str),
            system_path: known.system_path,
            vendor: tokio::sync::OnceCell::new(),
            system: tokio::sync::Mutex::new(LastRead::new(Reply::kept(known.system), false)),
            system_untagged: known.system_untagged.into(),
            cd_slot: tokio::sync::Mutex::new(cd_slot),
            bios_settings: tokio::sync::OnceCell::new(),
        })
    }

    /// The layout this client knows of the BMC (service root, system, CD
    /// slot), for [`RedfishOptions::discovery`] of a later client: a CLI
    /// run or a controller restart then skips rediscovering it.
    pub async fn discovery(&self) -> Discovery {
        let cd_slot = self
            .cd_slot
            .lock()
            .await
            .as_ref()
            .map(|(path, last)| CdSlot {
                path: path.clone(),
                slot: last.any().body.clone(),
            });
        Discovery {
            version: DISCOVERY_VERSION,
            named: self.named.as_deref().map(str::to_string),
            system_path: self.system_path.clone(),
            root: self.root.get().cloned(),
            system: self.system_links().await,
            system_untagged: self
                .system_untagged
                .load(std::sync::atomic::Ordering::Relaxed),
            cd_slot,
        }
    }

    /// The service root, read on first use.
    async fn root(&self) -> Result<&Value, BmcError> {
        self.root.get_or_try_init(|| read_root(&self.t)).await
    }

    /// Whether the service expands collections (`$expand`), reading the root
    /// if not yet read. A root that cannot be read means no: plain reads
    /// work everywhere.
    async fn expand(&self) -> bool {
        self.root().await.is_ok_and(parse::supports_expand)
    }

    /// [`Self::expand`] without a request: false while the root is unread.
    fn expand_known(&self) -> bool {
        self.root.get().is_some_and(parse::supports_expand)
    }

    /// The BMC vendor, resolved once on first use: from the service root if
    /// already read, else the system's manufacturer (read at connect), else
    /// the service root (read now), else the system's manager (read now).
    /// Where root and system both name one they agree on every vendor tree
    /// we have; the system is asked first only to spare a request.
    pub async fn vendor(&self) -> Result<Vendor, BmcError> {
        self.vendor
            .get_or_try_init(|| self.detect_vendor())
            .await
            .copied()
    }

    async fn detect_vendor(&self) -> Result<Vendor, BmcError> {
        let op = "detect the BMC vendor";
        let sys = self.system_links().await;
        let known = self.root.get().and_then(parse::vendor_from_root);
        if let Some(v) = known.or_else(|| parse::vendor_from_system(&sys)) {
            return Ok(v);
        }
        if let Some(v) = parse::vendor_from_root(self.root().await?) {
            return Ok(v);
        }
        let Some(manager) = parse::managers(&sys).into_iter().next() else {
            return Ok(Vendor::Generic);
        };
        let mgr = self.t.get(&manager, op).await?.body;
        Ok(parse::vendor_from_manager(&mgr).unwrap_or(Vendor::Generic))
    }

    /// The ComputerSystem this client manages.
    pub fn system_path(&self) -> &str {
        &self.system_path
    }

    /// Ends the session (if any) now instead of in the background on drop.
    pub async fn close(self) {
        self.t.logout().await;
    }

    /// The system's current state: the copy read moments ago by `connect`
    /// or by the previous operation's read-back when no caller has used it
    /// yet (see [`fresh`]), else a new read.
    async fn system_now(&self, op: &str) -> Result<Reply, BmcError> {
        if let Some(r) = self.system.lock().await.take_current() {
            return Ok(r);
        }
        // Not holding the lock while reading: concurrent callers each read.
        let r = self.t.get(&self.system_path, op).await?;
        self.note_tag(&r);
        *self.system.lock().await = LastRead::new(r.clone(), false);
        Ok(r)
    }

    /// The system for what does not change with its state: links, allowable
    /// values and action targets. Never a request.
    async fn system_links(&self) -> Value {
        self.system.lock().await.any().body.clone()
    }

    /// Keeps a read-back of the system: the next state query may use it.
    async fn system_read_back(&self, reply: Reply) {
        self.note_tag(&reply);
        *self.system.lock().await = LastRead::new(reply, true);
    }

    /// Remembers whether the system came with an ETag.
    fn note_tag(&self, r: &Reply) {
        self.system_untagged
            .store(r.untagged(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The system was written to: its copy is no longer its state.
    async fn system_written(&self) {
        self.system.lock().await.written();
    }

    /// The first CD/DVD slot of a virtual media collection, fetching members
    /// only until one is found, those named like a CD slot first. Expanded
    /// when the service root, if already read, says the BMC can: reading the
    /// root only for that costs as much as it saves on a two-slot collection.
    async fn first_cd_slot(
        &self,
        path: &str,
        op: &str,
    ) -> Result<Option<(String, Value)>, BmcError> {
        let query = self.expand_known().then_some(EXPAND);
        let coll = self.collection_expanded(path, op, u32::MAX, query).await?;
        let mut members = coll
            .get("Members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Stable: the BMC's order among equally likely slots.
        members.sort_by_key(|m| !parse::names_cd_slot(parse::str_at(m, "@odata.id").unwrap_or("")));
        for m in members {
            let Some(id) = parse::str_at(&m, "@odata.id").map(str::to_string) else {
                continue;
            };
            let slot = if parse::is_expanded(&m) {
                m
            } else {
                self.t.get(&id, op).await?.body
            };
            if parse::is_cd_slot(&slot) {
                return Ok(Some((id, slot)));
            }
        }
        Ok(None)
    }

    /// PATCHes `body` to `path` with `If-Match` set to the ETag of
    /// `current` (the resource as read), when the service gave one. On 412
    /// (changed since read) or 428 (a tag is required) it reads the resource
    /// again and retries once with the new tag; a second refusal is returned.
    async fn patch_if_match(
        &self,
        path: &str,
        current: Reply,
        body: &Value,
        op: &str,
    ) -> Result<Reply, BmcError> {
        let tag = current.if_match_tag();
        match self
            .t
            .request(Method::PATCH, path, Some(body), tag.as_deref(), op)
            .await
        {
            Err(e @ BmcError::Http { status, .. }) if quirks::etag_refused(status) => {
                let fresh = self.t.get(path, op).await?.if_match_tag();
                if fresh.is_none() && tag.is_none() {
                    // A retry would repeat the refused request as it was.
                    return Err(e);
                }
                self.t
                    .request(Method::PATCH, path, Some(body), fresh.as_deref(), op)
                    .await
            }
            other => other,
        }
    }

    /// Whether the override read back is the one asked for (persistence
    /// aside on BMCs known to report a one-time override as continuous).
    async fn check_boot(
        &self,
        wanted: &BootOverride,
        now: &BootOverride,
        op: &str,
    ) -> Result<(), BmcError> {
        let mode_ok = wanted.mode.is_none() || now.mode == wanted.mode;
        let persist_ok = now.persistent == wanted.persistent
            || quirks::boot_once_may_read_back_continuous(self.vendor().await?);
        if now.device != wanted.device || !mode_ok || !persist_ok {
            return Err(self.t.bad(
                op,
                format!("the BMC accepted {wanted:?} but reads back {now:?}"),
            ));
        }
        Ok(())
    }

    fn not_supported(&self, op: &str, detail: impl Into<String>) -> BmcError {
        BmcError::NotSupported {
            bmc: self.t.bmc.clone(),
            operation: op.to_string(),
            detail: detail.into(),
        }
    }

    /// A collection, with members expanded by `query` when given (the
    /// caller knows the service root offers it). Some firmware advertises
    /// `ExpandQuery` yet refuses the query (400/501): then the plain
    /// collection is read.
    async fn collection_expanded(
        &self,
        path: &str,
        op: &str,
        retries: u32,
        query: Option<&str>,
    ) -> Result<Value, BmcError> {
        if let Some(query) = query {
            match self
                .t
                .get_retrying(&format!("{path}?{query}"), op, retries)
                .await
            {
                Ok(r) => return Ok(r.body),
                Err(BmcError::Http { status, .. }) if quirks::expand_refused(status) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.t.get_retrying(path, op, retries).await?.body)
    }

    /// Every member of a collection, expanded in one request when the BMC
    /// can (reading the service root to know, if not yet read: worth it for
    /// collections read whole).
    async fn members(
        &self,
        path: &str,
        op: &str,
        retries: u32,
    ) -> Result<Vec<(String, Value)>, BmcError> {
        let query = self.expand().await.then_some(EXPAND);
        self.members_expanded(path, op, retries, query).await
    }

    /// [`Self::members`] with the given `$expand` query (`None`: plain).
    async fn members_expanded(
        &self,
        path: &str,
        op: &str,
        retries: u32,
        query: Option<&str>,
    ) -> Result<Vec<(String, Value)>, BmcError> {
        let coll = self.collection_expanded(path, op, retries, query).await?;
        let list = coll
            .get("Members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::with_capacity(list.len());
        for m in list {
            let Some(id) = parse::str_at(&m, "@odata.id").map(str::to_string) else {
                continue;
            };
            if parse::is_expanded(&m) {
                out.push((id, m));
            } else {
                let v = self.t.get_retrying(&id, op, retries).await?.body;
                out.push((id, v));
            }
        }
        Ok(out)
    }

    async fn post_reset(&self, target: &str, reset_type: &str, op: &str) -> Result<(), BmcError> {
        self.system_written().await;
        self.t
            .request(
                Method::POST,
                target,
                Some(&json!({ "ResetType": reset_type })),
                None,
                op,
            )
            .await
            .map(|_| ())
    }

    async fn wait_power(
        &self,
        target: PowerState,
        timeout: Duration,
        op: &str,
    ) -> Result<(), BmcError> {
        let start = Instant::now();
        loop {
            let now = self.power_state().await?;
            if now == target {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(BmcError::TimedOut {
                    bmc: self.t.bmc.clone(),
                    operation: op.to_string(),
                    after: start.elapsed(),
                    detail: format!("still {now:?}, expected {target:?}"),
                });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    // ---- virtual media ----

    /// The CD/DVD slot and its current state: the slot found before, read
    /// directly (or its read-back of moments ago), else a new search.
    async fn cd_slot(&self, op: &str) -> Result<(String, Value), BmcError> {
        let known = self
            .cd_slot
            .lock()
            .await
            .as_mut()
            .map(|(path, last)| (path.clone(), last.take_current()));
        if let Some((path, fresh)) = known {
            if let Some(r) = fresh {
                return Ok((path, r.body));
            }
            match self.t.get(&path, op).await {
                Ok(r) => {
                    self.keep_slot(&path, r.clone(), false).await;
                    return Ok((path, r.body));
                }
                // Gone (renumbered by a firmware update): search again.
                Err(BmcError::Http { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let (path, slot) = self.find_cd_slot(op).await?;
        let reply = Reply {
            status: 200,
            etag: None,
            location: None,
            body: slot.clone(),
        };
        self.keep_slot(&path, reply, false).await;
        Ok((path, slot))
    }

    /// Remembers the slot and its last read (`unused`: a read-back that the
    /// next media operation may take as the current state).
    async fn keep_slot(&self, path: &str, reply: Reply, unused: bool) {
        *self.cd_slot.lock().await = Some((path.to_string(), LastRead::new(reply, unused)));
    }

    /// Reads the slot back after an action: from the action's answer when it
    /// carries the slot (some BMCs answer 200 with the resource), else a GET.
    async fn slot_read_back(&self, path: &str, answer: Reply, op: &str) -> Result<Value, BmcError> {
        let r = if parse::is_resource(&answer.body, path) && answer.body.get("Inserted").is_some() {
            answer
        } else {
            self.t.get(path, op).await?
        };
        self.keep_slot(path, r.clone(), true).await;
        Ok(r.body)
    }

    /// The first CD/DVD-capable virtual media slot, looked up under the
    /// system (newer BMCs, sushy) and then under its managers.
    async fn find_cd_slot(&self, op: &str) -> Result<(String, Value), BmcError> {
        let sys = self.system_links().await;
        let mut collections: Vec<String> = parse::link(&sys, "VirtualMedia").into_iter().collect();
        let managers = parse::managers(&sys);
        let mut last_err = None;
        for path in collections.clone() {
            match self.first_cd_slot(&path, op).await {
                Ok(Some(s)) => return Ok(s),
                Ok(None) => {}
                Err(e) => last_err = Some(e),
            }
        }
        for m in managers {
            let mgr = match self.t.get(&m, op).await {
                Ok(r) => r.body,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            if let Some(c) = parse::link(&mgr, "VirtualMedia") {
                if collections.contains(&c) {
                    continue;
                }
                collections.push(c.clone());
                match self.first_cd_slot(&c, op).await {
                    Ok(Some(s)) => return Ok(s),
                    Ok(None) => {}
                    Err(e) => last_err = Some(e),
                }
            }
        }
        Err(match last_err {
            Some(e) => e,
            None => self.not_supported(
                op,
                "no CD/DVD virtual media slot under the system or its managers",
            ),
        })
    }

    /// Which virtual media slot is used and what it holds.
    pub async fn media_status(&self) -> Result<MediaStatus, BmcError> {
        let (path, slot) = self.cd_slot("virtual media status").await?;
        Ok(parse::media_status(&path, &slot))
    }

    /// Inserts the image at `image_url` into the CD slot (ejecting what is there first).
    pub async fn media_insert(&self, image_url: &str) -> Result<MediaStatus, BmcError> {
        let op = "insert virtual media";
        let (path, answer, blind) = self.insert_into_cd_slot(image_url, op).await?;
        let now = self.media_inserted(&path, answer, op).await?;
        if blind && parse::shows_other_image(&now, image_url) {
            // The slot held an image and the BMC kept it: eject, insert again.
            let (path, slot) = self.cd_slot(op).await?;
            let answer = self.insert_image(&path, &slot, image_url, op).await?;
            return self.media_inserted(&path, answer, op).await;
        }
        Ok(now)
    }

    /// Inserts `image_url` into the CD slot; returns the slot, the insert's
    /// answer, and whether it was sent without reading the slot first.
    ///
    /// A slot whose layout is known (from a discovery, or an earlier
    /// operation) but whose state is not is sent the insert straight away:
    /// a BMC refuses an insert into an occupied slot, and only then is the
    /// slot read, emptied and the insert sent again. That spares a read on
    /// every boot from an empty slot, the usual case; the caller's read-back
    /// tells an occupied slot the BMC silently kept
    /// ([`parse::shows_other_image`]).
    async fn insert_into_cd_slot(
        &self,
        image_url: &str,
        op: &str,
    ) -> Result<(String, Reply, bool), BmcError> {
        let known = self.cd_slot.lock().await.as_ref().and_then(|(path, last)| {
            let target = parse::media_action_target(&last.any().body, "InsertMedia")?;
            (!last.is_current()).then(|| (path.clone(), target))
        });
        if let Some((path, target)) = known {
            let full = insert_payload(image_url);
            match self
                .t
                .request(Method::POST, &target, Some(&full), None, op)
                .await
            {
                Ok(answer) => return Ok((path, answer, true)),
                Err(BmcError::Http { status, .. }) if quirks::blind_insert_refused(status) => {}
                Err(e) => return Err(e),
            }
        }
        let (path, slot) = self.cd_slot(op).await?;
        let answer = self.insert_image(&path, &slot, image_url, op).await?;
        Ok((path, answer, false))
    }

    /// Ejects what `slot` holds (an eject the BMC refuses as already done is
    /// fine), then inserts `image_url`: the full payload first, the minimal
    /// one when the BMC refuses that with 400. Returns the insert's answer.
    async fn insert_image(
        &self,
        path: &str,
        slot: &Value,
        image_url: &str,
        op: &str,
    ) -> Result<Reply, BmcError> {
        if parse::media_status(path, slot).inserted {
            if let Err(e) = self.eject_slot(path, slot, op).await {
                match e {
                    BmcError::Http { status, .. } if quirks::eject_error_is_harmless(status) => {}
                    other => return Err(other),
                }
            }
        }
        let Some(target) = parse::media_action_target(slot, "InsertMedia") else {
            return Err(self.not_supported(op, format!("{path} has no InsertMedia action")));
        };
        let full = insert_payload(image_url);
        match self
            .t
            .request(Method::POST, &target, Some(&full), None, op)
            .await
        {
            Ok(a) => Ok(a),
            Err(BmcError::Http { status, .. }) if quirks::retry_insert_media_minimal(status) => {
                let minimal = json!({ "Image": image_url });
                self.t
                    .request(Method::POST, &target, Some(&minimal), None, op)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    /// The slot read back after an insert, which must show media inserted.
    async fn media_inserted(
        &self,
        path: &str,
        answer: Reply,
        op: &str,
    ) -> Result<MediaStatus, BmcError> {
        let now = parse::media_status(path, &self.slot_read_back(path, answer, op).await?);
        if !now.inserted {
            return Err(self.t.bad(
                op,
                "the BMC accepted the image but reports nothing inserted",
            ));
        }
        Ok(now)
    }

    /// Boots the host from `image_url` on virtual media: ejects what the CD
    /// slot holds, inserts the image, sets a one-time boot from CD (in
    /// `mode` when given) and powers on (a force restart when already on),
    /// then waits up to `timeout` until the BMC reports the host on.
    ///
    /// Checked before anything is changed: the system takes a CD boot
    /// target and advertises the reset type. Verified once, at the end,
    /// instead of after each step: the first read of the system after the
    /// reset must show the override (firmware takes it when it starts,
    /// seconds later) and is polled until on; one read of the slot (or the
    /// insert's answer when it carries the slot) must show media inserted.
    pub async fn boot_from_media(
        &self,
        image_url: &str,
        mode: Option<BootMode>,
        timeout: Duration,
        poll_every: Duration,
    ) -> Result<MediaBoot, BmcError> {
        let op = "boot from virtual media";
        let wanted = BootOverride {
            device: BootDevice::Cd,
            persistent: false,
            mode,
            http_boot_uri: None,
        };
        let sys = self.system_now(op).await?;
        let patch = parse::boot_patch(&sys.body, &wanted).map_err(|d| self.not_supported(op, d))?;
        let action = match parse::power_state(&sys.body).map_err(|d| self.t.bad(op, d))? {
            PowerState::On | PowerState::PoweringOn => PowerAction::ForceRestart,
            PowerState::Off | PowerState::PoweringOff => PowerAction::On,
        };
        let allowed = parse::allowed_reset_types(&sys.body);
        let reset = match parse::plan_reset(action, allowed.as_deref())
            .map_err(|d| self.not_supported(op, d))?
        {
            ResetPlan::Single(t) => t,
            ResetPlan::OffThenOn => {
                return Err(self.not_supported(op, format!("no single reset type for {action:?}")))
            }
        };
        let reset_target = parse::reset_target(&sys.body, &self.system_path);

        let (slot_path, inserted, blind) = self.insert_into_cd_slot(image_url, op).await?;
        self.system_written().await;
        self.patch_if_match(&self.system_path, sys, &patch, op)
            .await?;
        self.post_reset(&reset_target, &reset, op).await?;

        let start = Instant::now();
        let mut boot = None;
        let power = loop {
            let r = self.t.get(&self.system_path, op).await?;
            let body = r.body.clone();
            self.note_tag(&r);
            *self.system.lock().await = LastRead::new(r, false);
            if boot.is_none() {
                let now = parse::boot_override(&body).map_err(|d| self.t.bad(op, d))?;
                self.check_boot(&wanted, &now, op).await?;
                boot = Some(now);
            }
            let now = parse::power_state(&body).map_err(|d| self.t.bad(op, d))?;
            if now == action.target_state() {
                break now;
            }
            if start.elapsed() >= timeout {
                return Err(BmcError::TimedOut {
                    bmc: self.t.bmc.clone(),
                    operation: op.to_string(),
                    after: start.elapsed(),
                    detail: format!(
                        "the BMC accepted {reset} but still reports {now:?}, expected {:?}",
                        action.target_state()
                    ),
                });
            }
            tokio::time::sleep(poll_every).await;
        };
        let media = self.media_inserted(&slot_path, inserted, op).await?;
        if blind && parse::shows_other_image(&media, image_url) {
            return Err(self.t.bad(
                op,
                format!(
                    "the CD slot reads back {} instead of {image_url}: it was occupied and \
                     the BMC kept that image, which the host may have booted",
                    media.image.as_deref().unwrap_or("")
                ),
            ));
        }
        Ok(MediaBoot {
            media,
            boot: boot.unwrap_or(wanted),
            power,
        })
    }

    async fn eject_slot(&self, path: &str, slot: &Value, op: &str) -> Result<Reply, BmcError> {
        let Some(target) = parse::media_action_target(slot, "EjectMedia") else {
            return Err(self.not_supported(op, format!("{path} has no EjectMedia action")));
        };
        self.t
            .request(Method::POST, &target, Some(&json!({})), None, op)
            .await
    }

    /// Ejects the CD slot's media (a no-op when empty).
    pub async fn media_eject(&self) -> Result<MediaStatus, BmcError> {
        let op = "eject virtual media";
        let (path, slot) = self.cd_slot(op).await?;
        if !parse::media_status(&path, &slot).inserted {
            return Ok(parse::media_status(&path, &slot));
        }
        let answer = self.eject_slot(&path, &slot, op).await?;
        Ok(parse::media_status(
            &path,
            &self.slot_read_back(&path, answer, op).await?,
        ))
    }

    // ---- inventory ----

    async fn part(
        &self,
        system: &Value,
        key: &str,
        what: &str,
        warnings: &mut Vec<String>,
    ) -> Option<Vec<Value>> {
        let Some(path) = parse::link(system, key) else {
            warnings.push(format!("{what}: the system does not link {key}"));
            return None;
        };
        match self
            .members(&path, &format!("read {what}"), PART_RETRIES)
            .await
        {
            Ok(m) => Some(m.into_iter().map(|(_, v)| v).collect()),
            Err(e) => {
                warnings.push(format!("{what}: {e}"));
                None
            }
        }
    }

    /// The drives of one storage controller: those it came with expanded,
    /// the others with one expanded read of the controller when it has
    /// several (and the service expands), else one read per drive.
    async fn controller_drives(
        &self,
        controller: &str,
        c: &Value,
        drives: &mut Vec<Value>,
        warnings: &mut Vec<String>,
    ) {
        let entries = c
            .get("Drives")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut links = Vec::new();
        for d in entries {
            if parse::is_expanded(&d) {
                drives.push(d);
            } else if let Some(id) = parse::str_at(&d, "@odata.id") {
                links.push(id.to_string());
            }
        }
        if links.len() >= 2 && self.expand_known() {
            let op = "read drives";
            match self
                .t
                .get_retrying(&format!("{controller}?{EXPAND}"), op, PART_RETRIES)
                .await
            {
                Ok(r) => {
                    for d in r
                        .body
                        .get("Drives")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let id = parse::str_at(d, "@odata.id").unwrap_or_default();
                        if parse::is_expanded(d) && links.iter().any(|l| l == id) {
                            links.retain(|l| l != id);
                            drives.push(d.clone());
                        }
                    }
                }
                Err(BmcError::Http { status, .. }) if quirks::expand_refused(status) => {}
                Err(e) => warnings.push(format!("storage: {e}")),
            }
        }
        for d in links {
            match self.t.get_retrying(&d, "read a drive", PART_RETRIES).await {
                Ok(r) => drives.push(r.body),
                Err(e) => warnings.push(format!("storage: {e}")),
            }
        }
    }

    async fn drives(&self, system: &Value, warnings: &mut Vec<String>) -> Option<Vec<Value>> {
        let mut storage_failed = None;
        if let Some(path) = parse::link(system, "Storage") {
            // Controllers and their drives in one request when the service
            // expands two levels.
            let levels = match self.root().await {
                Ok(r) => parse::expand_max_levels(r),
                Err(_) => 0,
            };
            let query = match levels {
                0 => None,
                1 => Some(EXPAND),
                _ => Some(EXPAND_2),
            };
            match self
                .members_expanded(&path, "read storage", PART_RETRIES, query)
                .await
            {
                Ok(controllers) => {
                    let mut drives = Vec::new();
                    for (controller, c) in controllers {
                        self.controller_drives(&controller, &c, &mut drives, warnings)
                            .await;
                    }
                    return Some(drives);
                }
                Err(e) => storage_failed = Some(e),
            }
        }
        // Older BMCs (and sushy's Storage failing) only offer SimpleStorage.
        if let Some(path) = parse::link(system, "SimpleStorage") {
            match self
                .members(&path, "read simple storage", PART_RETRIES)
                .await
            {
                Ok(ctrls) => {
                    if let Some(e) = storage_failed {
                        warnings.push(format!("storage (used SimpleStorage instead): {e}"));
                    }
                    return Some(
                        ctrls
                            .into_iter()
                            .flat_map(|(_, c)| {
                                c.get("Devices")
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .unwrap_or_default()
                            })
                            .collect(),
                    );
                }
                Err(e) => {
                    if let Some(s) = storage_failed.take() {
                        warnings.push(format!("storage: {s}"));
                    }
                    warnings.push(format!("simple storage: {e}"));
                    return None;
                }
            }
        }
        match storage_failed {
            Some(e) => warnings.push(format!("storage: {e}")),
            None => {
                warnings.push("storage: the system links neither Storage nor SimpleStorage".into())
            }
        }
        None
    }

    /// Reads the hardware inventory. Parts the BMC cannot give are left empty
    /// and named in `warnings`; only a failure to read the system fails the call.
    pub async fn inventory(&self) -> Result<Inventory, BmcError> {
        let system = self.system_now("read the system").await?.body;
        let mut warnings = Vec::new();
        let parts = InventoryParts {
            processors: self
                .part(&system, "Processors", "processors", &mut warnings)
                .await,
            memory: self.part(&system, "Memory", "memory", &mut warnings).await,
            nics: self
                .part(
                    &system,
                    "EthernetInterfaces",
                    "ethernet interfaces",
                    &mut warnings,
                )
                .await,
            drives: self.drives(&system, &mut warnings).await,
        };
        Ok(Inventory {
            hardware: parse::hardware_details(&system, &parts),
            warnings,
        })
    }

    // ---- BIOS, secure boot, firmware ----

    async fn bios_path(&self, op: &str) -> Result<String, BmcError> {
        let sys = self.system_links().await;
        parse::link(&sys, "Bios")
            .ok_or_else(|| self.not_supported(op, "the system has no Bios resource"))
    }

    fn attributes(&self, v: &Value, op: &str) -> Result<Map<String, Value>, BmcError> {
        v.get("Attributes")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| self.t.bad(op, "no Attributes object"))
    }

    /// Current BIOS attributes.
    pub async fn bios_attributes(&self) -> Result<Map<String, Value>, BmcError> {
        let op = "read BIOS attributes";
        let path = self.bios_path(op).await?;
        let bios = self.t.get(&path, op).await?.body;
        let _ = self
            .bios_settings
            .set(parse::bios_settings_path(&path, &bios));
        self.attributes(&bios, op)
    }

    /// The BIOS settings object, from the Bios resource (read once: it does
    /// not move).
    async fn bios_settings_path(&self, op: &str) -> Result<String, BmcError> {
        self.bios_settings
            .get_or_try_init(|| async {
                let path = self.bios_path(op).await?;
                let bios = self.t.get(&path, op).await?.body;
                Ok(parse::bios_settings_path(&path, &bios))
            })
            .await
            .cloned()
    }

    /// BIOS attributes pending for the next reboot.
    pub async fn bios_pending(&self) -> Result<Map<String, Value>, BmcError> {
        let op = "read pending BIOS attributes";
        let path = self.bios_settings_path(op).await?;
        let s = self.t.get(&path, op).await?.body;
        Ok(s.get("Attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default())
    }

    /// Writes BIOS attributes to the pending settings (applied on next reboot).
    pub async fn set_bios_attributes(
        &self,
        attributes: Map<String, Value>,
    ) -> Result<(), BmcError> {
        let op = "write BIOS attributes";
        let path = self.bios_settings_path(op).await?;
        let body = json!({ "Attributes": Value::Object(attributes) });
        // Read for its ETag: a settings object changed by someone else since
        // (another tool, a BIOS job) is then refused with 412, not overwritten.
        let current = self.t.get(&path, op).await?;
        self.patch_if_match(&path, current, &body, op)
            .await
            .map(|_| ())
    }

    async fn secure_boot_path(&self, op: &str) -> Result<String, BmcError> {
        let sys = self.system_links().await;
        parse::link(&sys, "SecureBoot")
            .ok_or_else(|| self.not_supported(op, "the system has no SecureBoot resource"))
    }

    /// Whether UEFI secure boot is enabled.
    pub async fn secure_boot(&self) -> Result<bool, BmcError> {
        let op = "read secure boot";
        let path = self.secure_boot_path(op).await?;
        let v = self.t.get(&path, op).await?.body;
        v.get("SecureBootEnable")
            .and_then(Value::as_bool)
            .ok_or_else(|| self.t.bad(op, "no SecureBootEnable"))
    }

    /// Enables or disables UEFI secure boot, and reads it back.
    pub async fn set_secure_boot(&self, enable: bool) -> Result<(), BmcError> {
        let op = if enable {
            "enable secure boot"
        } else {
            "disable secure boot"
        };
        let path = self.secure_boot_path(op).await?;
        let r = self.t.get(&path, op).await?;
        let answer = self
            .patch_if_match(&path, r, &json!({ "SecureBootEnable": enable }), op)
            .await?;
        let now = if parse::is_resource(&answer.body, &path)
            && answer.body.get("SecureBootEnable").is_some()
        {
            answer.body
        } else {
            self.t.get(&path, op).await?.body
        };
        match now.get("SecureBootEnable").and_then(Value::as_bool) {
            Some(v) if v == enable => Ok(()),
            other => Err(self.t.bad(
                op,
                format!("the BMC accepted but reads back SecureBootEnable={other:?}"),
            )),
        }
    }

    async fn update_service(&self, op: &str) -> Result<Value, BmcError> {
        let path = parse::link(self.root().await?, "UpdateService")
            .ok_or_else(|| self.not_supported(op, "the service has no UpdateService"))?;
        Ok(self.t.get(&path, op).await?.body)
    }

    /// Installed firmware components.
    pub async fn firmware_inventory(&self) -> Result<Vec<FirmwareComponent>, BmcError> {
        let op = "list firmware";
        let us = self.update_service(op).await?;
        let path = parse::link(&us, "FirmwareInventory")
            .ok_or_else(|| self.not_supported(op, "the UpdateService has no FirmwareInventory"))?;
        Ok(self
            .members(&path, op, u32::MAX)
            .await?
            .iter()
            .map(|(_, v)| parse::firmware_component(v))
            .collect())
    }

    async fn simple_update_body(&self, image_uri: &str) -> Result<Value, BmcError> {
        Ok(
            if quirks::simple_update_needs_targets(self.vendor().await?) {
                json!({ "ImageURI": image_uri, "Targets": [self.system_path.as_str()] })
            } else {
                json!({ "ImageURI": image_uri })
            },
        )
    }

    /// Starts `UpdateService.SimpleUpdate` from `image_uri` and follows the
    /// task until it completes, fails, or `timeout` passes.
    pub async fn simple_update(
        &self,
        image_uri: &str,
        timeout: Duration,
        poll_every: Duration,
    ) -> Result<(), BmcError> {
        let op = "firmware update";
        let us = self.update_service(op).await?;
        let target = us
            .get("Actions")
            .and_then(|a| a.get("#UpdateService.SimpleUpdate"))
            .and_then(|s| parse::str_at(s, "target"))
            .map(str::to_string)
            .ok_or_else(|| {
                self.not_supported(op, "the UpdateService has no SimpleUpdate action")
            })?;
        let r = self
            .t
            .request(
                Method::POST,
                &target,
                Some(&self.simple_update_body(image_uri).await?),
                None,
                op,
            )
            .await?;
        let Some(monitor) = r
            .location
            .or_else(|| parse::str_at(&r.body, "@odata.id").map(str::to_string))
        else {
            // No task: the BMC finished synchronously (200/204).
            return Ok(());
        };
        let start = Instant::now();
        loop {
            let reply = self.t.get(&monitor, op).await?;
            match parse::task_poll(reply.status, &reply.body) {
                TaskPoll::Done => return Ok(()),
                TaskPoll::Failed(m) => {
                    return Err(BmcError::Http {
                        bmc: self.t.bmc.clone(),
                        operation: op.to_string(),
                        status: reply.status,
                        message: format!("task failed: {m}"),
                    })
                }
                TaskPoll::Running => {}
            }
            if start.elapsed() >= timeout {
                return Err(BmcError::TimedOut {
                    bmc: self.t.bmc.clone(),
                    operation: op.to_string(),
                    after: start.elapsed(),
                    detail: format!("task {monitor} still running"),
                });
            }
            tokio::time::sleep(poll_every).await;
        }
    }
}

impl Drop for RedfishClient {
    fn drop(&mut self) {
        self.t.logout_in_background();
    }
}

impl PowerBootControl for RedfishClient {
    fn bmc_name(&self) -> String {
        self.t.bmc.clone()
    }

    async fn power_state(&self) -> Result<PowerState, BmcError> {
        let op = "read power state";
        let sys = self.system_now(op).await?.body;
        parse::power_state(&sys).map_err(|d| self.t.bad(op, d))
    }

    async fn set_power(&self, action: PowerAction) -> Result<(), BmcError> {
        let op = format!("power {action:?}");
        // Allowed reset types and the action target do not change with the
        // power state: the copy at hand serves.
        let sys = self.system_links().await;
        let allowed = parse::allowed_reset_types(&sys);
        let plan = parse::plan_reset(action, allowed.as_deref())
            .map_err(|d| self.not_supported(&op, d))?;
        let target = parse::reset_target(&sys, &self.system_path);
        match plan {
            ResetPlan::Single(t) => self.post_reset(&target, &t, &op).await,
            ResetPlan::OffThenOn => {
                let on = parse::plan_reset(PowerAction::On, allowed.as_deref())
                    .map_err(|d| self.not_supported(&op, d))?;
                let ResetPlan::Single(on) = on else {
                    return Err(self.not_supported(&op, "no reset type to power on"));
                };
                if self.power_state().await.ok() != Some(PowerState::Off) {
                    self.post_reset(&target, "ForceOff", &op).await?;
                    self.wait_power(PowerState::Off, CYCLE_OFF_TIMEOUT, &op)
                        .await?;
                }
                self.post_reset(&target, &on, &op).await
            }
        }
    }

    async fn set_boot(&self, boot: &BootOverride) -> Result<(), BmcError> {
        let op = "set boot override";
        if let Some(answer) = self.patch_boot_untagged(boot, op).await? {
            return self.boot_read_back(answer, boot, op).await;
        }
        // The current state: allowed targets depend on the boot mode, and
        // the ETag must be the latest the client knows.
        let r = self.system_now(op).await?;
        let patch = parse::boot_patch(&r.body, boot).map_err(|d| self.not_supported(op, d))?;
        self.system_written().await;
        let answer = self
            .patch_if_match(&self.system_path, r, &patch, op)
            .await?;
        self.boot_read_back(answer, boot, op).await
    }

    async fn boot_override(&self) -> Result<BootOverride, BmcError> {
        let op = "read boot override";
        let sys = self.system_now(op).await?.body;
        parse::boot_override(&sys).map_err(|d| self.t.bad(op, d))
    }
}

impl RedfishClient {
    /// The boot override PATCHed without reading the system first, when
    /// that read would only give what is at hand: the system gives no ETag
    /// (last read without one) and the copy at hand, which is not current,
    /// allows the target. A refusal that a fresh read may explain (400: the
    /// allowed targets changed with the boot mode; 412/428: the service
    /// wants a tag after all) returns `None`, and the caller goes the long
    /// way; the read-back verifies either way.
    async fn patch_boot_untagged(
        &self,
        boot: &BootOverride,
        op: &str,
    ) -> Result<Option<Reply>, BmcError> {
        if !self
            .system_untagged
            .load(std::sync::atomic::Ordering::Relaxed)
            || self.system.lock().await.is_current()
        {
            return Ok(None);
        }
        let Ok(patch) = parse::boot_patch(&self.system_links().await, boot) else {
            return Ok(None);
        };
        self.system_written().await;
        match self
            .t
            .request(Method::PATCH, &self.system_path, Some(&patch), None, op)
            .await
        {
            Ok(answer) => Ok(Some(answer)),
            Err(BmcError::Http { status, .. }) if quirks::untagged_patch_refused(status) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the boot override back after its PATCH and checks it.
    async fn boot_read_back(
        &self,
        answer: Reply,
        boot: &BootOverride,
        op: &str,
    ) -> Result<(), BmcError> {
        // Read back: a BMC may answer 2xx and keep another target. A 200
        // carrying the system already is the read-back.
        let back = if parse::is_resource(&answer.body, &self.system_path)
            && answer.body.get("Boot").is_some()
        {
            answer
        } else {
            self.t.get(&self.system_path, op).await?
        };
        let now = parse::boot_override(&back.body).map_err(|d| self.t.bad(op, d));
        // The next state query (power on, typically) may use this read.
        self.system_read_back(back).await;
        self.check_boot(boot, &now?, op).await
    }
}
