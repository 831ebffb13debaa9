//! Async Redfish client: power, boot override, virtual media, inventory,
//! BIOS settings, secure boot and firmware, for every Redfish-speaking
//! address type (`redfish*`, `idrac-*`, `ilo5-*`, legacy `ilo4*`/`ilo5`/`irmc`).
//!
//! Response mapping lives in [`parse`] (pure functions on `serde_json::Value`);
//! HTTP, authentication, budget and retries in a private transport.

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
use crate::ops::{BootOverride, PowerAction, PowerBootControl, PowerState};
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

/// How long a `PowerCycle` emulated as ForceOff + On waits for "off".
const CYCLE_OFF_TIMEOUT: Duration = Duration::from_secs(120);
const EXPAND: &str = "$expand=.($levels=1)";

/// A connected Redfish BMC, bound to one ComputerSystem.
pub struct RedfishClient {
    t: Arc<Transport>,
    root: Value,
    system_path: String,
    vendor: Vendor,
    expand: bool,
    fresh_system: tokio::sync::Mutex<Option<Reply>>,
}

impl std::fmt::Debug for RedfishClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedfishClient")
            .field("bmc", &self.t.bmc)
            .field("system", &self.system_path)
            .field("vendor", &self.vendor)
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

impl RedfishClient {
    /// Connects: reads the service root, logs in (session, else HTTP basic),
    /// and resolves the system from the address path or the only `/Systems` member.
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
        let root = t.get("/redfish/v1/", "read the service root").await?.body;
        if !root.is_object() {
            return Err(t.bad(
                "read the service root",
                "the service root is not a JSON object",
            ));
        }
        if let Some(sessions) = parse::sessions_link(&root) {
            // No session service (sushy-tools, some old firmware): basic auth.
            t.login(&sessions, "log in").await?;
        }
        let mut client = RedfishClient {
            t,
            expand: parse::supports_expand(&root),
            root,
            system_path: String::new(),
            vendor: Vendor::Generic,
            fresh_system: tokio::sync::Mutex::new(None),
        };
        let system_path = match address.redfish_system_id() {
            Some(p) => format!("/{}", p.trim_matches('/')),
            None => {
                let systems = parse::link(&client.root, "Systems")
                    .unwrap_or_else(|| "/redfish/v1/Systems".to_string());
                let coll = client.t.get(&systems, "list systems").await?.body;
                parse::choose_system(&parse::member_links(&coll))
                    .map_err(|d| invalid(&client.t.bmc, "select the system", d))?
            }
        };
        let reply = client.t.get(&system_path, "read the system").await?;
        let sys = reply.body.clone();
        // Names redirect to the canonical path (sushy): use that from now on.
        client.system_path = parse::str_at(&sys, "@odata.id")
            .map(|s| s.trim_end_matches('/').to_string())
            .unwrap_or(system_path);
        client.vendor = parse::detect_vendor(&client.root, parse::str_at(&sys, "Manufacturer"));
        *client.fresh_system.lock().await = Some(reply);
        Ok(client)
    }

    /// The detected BMC vendor.
    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    /// The ComputerSystem this client manages.
    pub fn system_path(&self) -> &str {
        &self.system_path
    }

    /// Ends the session (if any) now instead of in the background on drop.
    pub async fn close(self) {
        self.t.logout().await;
    }

    /// The system resource: the copy read by `connect` for the first
    /// operation (it is milliseconds old and saves a request on every
    /// one-shot use), a fresh read afterwards.
    async fn system(&self, op: &str) -> Result<Reply, BmcError> {
        if let Some(r) = self.fresh_system.lock().await.take() {
            return Ok(r);
        }
        self.t.get(&self.system_path, op).await
    }

    /// The first CD/DVD slot of a virtual media collection, fetching members
    /// only until one is found.
    async fn first_cd_slot(
        &self,
        path: &str,
        op: &str,
    ) -> Result<Option<(String, Value)>, BmcError> {
        let coll = self.collection(path, op).await?;
        for m in coll
            .get("Members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
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

    fn not_supported(&self, op: &str, detail: impl Into<String>) -> BmcError {
        BmcError::NotSupported {
            bmc: self.t.bmc.clone(),
            operation: op.to_string(),
            detail: detail.into(),
        }
    }

    /// A collection, with members expanded when the service root offers it.
    /// Some firmware advertises `ExpandQuery` yet refuses the query (400/501):
    /// then the plain collection is read.
    async fn collection(&self, path: &str, op: &str) -> Result<Value, BmcError> {
        if self.expand {
            match self.t.get(&format!("{path}?{EXPAND}"), op).await {
                Ok(r) => return Ok(r.body),
                Err(BmcError::Http { status, .. }) if quirks::expand_refused(status) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.t.get(path, op).await?.body)
    }

    /// Every member of a collection, expanded in one request when the BMC can.
    async fn members(&self, path: &str, op: &str) -> Result<Vec<(String, Value)>, BmcError> {
        let coll = self.collection(path, op).await?;
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
                let v = self.t.get(&id, op).await?.body;
                out.push((id, v));
            }
        }
        Ok(out)
    }

    async fn post_reset(&self, target: &str, reset_type: &str, op: &str) -> Result<(), BmcError> {
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

    /// The first CD/DVD-capable virtual media slot, looked up under the
    /// system (newer BMCs, sushy) and then under its managers.
    async fn cd_slot(&self, op: &str) -> Result<(String, Value), BmcError> {
        let sys = self.system(op).await?.body;
        let mut collections: Vec<String> = parse::link(&sys, "VirtualMedia").into_iter().collect();
        let managers: Vec<String> = sys
            .get("Links")
            .and_then(|l| l.get("ManagedBy"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| parse::str_at(m, "@odata.id").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
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
        let (path, slot) = self.cd_slot(op).await?;
        if parse::media_status(&path, &slot).inserted {
            if let Err(e) = self.eject_slot(&path, &slot, op).await {
                match e {
                    BmcError::Http { status, .. } if quirks::eject_error_is_harmless(status) => {}
                    other => return Err(other),
                }
            }
        }
        let Some(target) = parse::media_action_target(&slot, "InsertMedia") else {
            return Err(self.not_supported(op, format!("{path} has no InsertMedia action")));
        };
        let full = json!({"Image": image_url, "Inserted": true, "WriteProtected": true});
        match self
            .t
            .request(Method::POST, &target, Some(&full), None, op)
            .await
        {
            Ok(_) => {}
            Err(BmcError::Http { status, .. })
                if quirks::retry_insert_media_minimal(self.vendor, status) =>
            {
                let minimal = json!({ "Image": image_url });
                self.t
                    .request(Method::POST, &target, Some(&minimal), None, op)
                    .await?;
            }
            Err(e) => return Err(e),
        }
        let now = parse::media_status(&path, &self.t.get(&path, op).await?.body);
        if !now.inserted {
            return Err(self.t.bad(
                op,
                "the BMC accepted the image but reports nothing inserted",
            ));
        }
        Ok(now)
    }

    async fn eject_slot(&self, path: &str, slot: &Value, op: &str) -> Result<(), BmcError> {
        let Some(target) = parse::media_action_target(slot, "EjectMedia") else {
            return Err(self.not_supported(op, format!("{path} has no EjectMedia action")));
        };
        self.t
            .request(Method::POST, &target, Some(&json!({})), None, op)
            .await
            .map(|_| ())
    }

    /// Ejects the CD slot's media (a no-op when empty).
    pub async fn media_eject(&self) -> Result<MediaStatus, BmcError> {
        let op = "eject virtual media";
        let (path, slot) = self.cd_slot(op).await?;
        if !parse::media_status(&path, &slot).inserted {
            return Ok(parse::media_status(&path, &slot));
        }
        self.eject_slot(&path, &slot, op).await?;
        Ok(parse::media_status(
            &path,
            &self.t.get(&path, op).await?.body,
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
        match self.members(&path, &format!("read {what}")).await {
            Ok(m) => Some(m.into_iter().map(|(_, v)| v).collect()),
            Err(e) => {
                warnings.push(format!("{what}: {e}"));
                None
            }
        }
    }

    async fn drives(&self, system: &Value, warnings: &mut Vec<String>) -> Option<Vec<Value>> {
        let mut storage_failed = None;
        if let Some(path) = parse::link(system, "Storage") {
            match self.members(&path, "read storage").await {
                Ok(controllers) => {
                    let mut drives = Vec::new();
                    for (_, c) in controllers {
                        let links: Vec<String> = c
                            .get("Drives")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(|d| {
                                        parse::str_at(d, "@odata.id").map(str::to_string)
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        for d in links {
                            match self.t.get(&d, "read a drive").await {
                                Ok(r) => drives.push(r.body),
                                Err(e) => warnings.push(format!("storage: {e}")),
                            }
                        }
                    }
                    return Some(drives);
                }
                Err(e) => storage_failed = Some(e),
            }
        }
        // Older BMCs (and sushy's Storage failing) only offer SimpleStorage.
        if let Some(path) = parse::link(system, "SimpleStorage") {
            match self.members(&path, "read simple storage").await {
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
        let system = self.system("read the system").await?.body;
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
        let sys = self.system(op).await?.body;
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
        self.attributes(&bios, op)
    }

    async fn bios_settings_path(&self, op: &str) -> Result<String, BmcError> {
        let path = self.bios_path(op).await?;
        let bios = self.t.get(&path, op).await?.body;
        Ok(bios
            .get("@Redfish.Settings")
            .and_then(|s| parse::link(s, "SettingsObject"))
            .unwrap_or_else(|| format!("{path}/Settings")))
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
        self.t
            .request(Method::PATCH, &path, Some(&body), None, op)
            .await
            .map(|_| ())
    }

    async fn secure_boot_path(&self, op: &str) -> Result<String, BmcError> {
        let sys = self.system(op).await?.body;
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
        let tag = r
            .etag
            .or_else(|| parse::str_at(&r.body, "@odata.etag").map(str::to_string));
        self.t
            .request(
                Method::PATCH,
                &path,
                Some(&json!({ "SecureBootEnable": enable })),
                tag.as_deref(),
                op,
            )
            .await?;
        let now = self.t.get(&path, op).await?.body;
        match now.get("SecureBootEnable").and_then(Value::as_bool) {
            Some(v) if v == enable => Ok(()),
            other => Err(self.t.bad(
                op,
                format!("the BMC accepted but reads back SecureBootEnable={other:?}"),
            )),
        }
    }

    async fn update_service(&self, op: &str) -> Result<Value, BmcError> {
        let path = parse::link(&self.root, "UpdateService")
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
            .members(&path, op)
            .await?
            .iter()
            .map(|(_, v)| parse::firmware_component(v))
            .collect())
    }

    fn simple_update_body(&self, image_uri: &str) -> Value {
        if quirks::simple_update_needs_targets(self.vendor) {
            json!({ "ImageURI": image_uri, "Targets": [self.system_path.as_str()] })
        } else {
            json!({ "ImageURI": image_uri })
        }
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
                Some(&self.simple_update_body(image_uri)),
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
        let sys = self.system(op).await?.body;
        parse::power_state(&sys).map_err(|d| self.t.bad(op, d))
    }

    async fn set_power(&self, action: PowerAction) -> Result<(), BmcError> {
        let op = format!("power {action:?}");
        let sys = self.system(&op).await?.body;
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
                if parse::power_state(&sys).ok() != Some(PowerState::Off) {
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
        let mut r = self.system(op).await?;
        let patch = parse::boot_patch(&r.body, boot).map_err(|d| self.not_supported(op, d))?;
        let mut retried = false;
        loop {
            let tag = r
                .etag
                .clone()
                .or_else(|| parse::str_at(&r.body, "@odata.etag").map(str::to_string));
            match self
                .t
                .request(
                    Method::PATCH,
                    &self.system_path,
                    Some(&patch),
                    tag.as_deref(),
                    op,
                )
                .await
            {
                Ok(_) => break,
                // Someone changed the system since we read it: re-read once.
                Err(BmcError::Http { status: 412, .. }) if !retried => {
                    retried = true;
                    r = self.system(op).await?;
                }
                Err(e) => return Err(e),
            }
        }
        let now = self.boot_override().await?;
        let mode_ok = boot.mode.is_none() || now.mode == boot.mode;
        let persist_ok = now.persistent == boot.persistent
            || quirks::boot_once_may_read_back_continuous(self.vendor);
        if now.device != boot.device || !mode_ok || !persist_ok {
            return Err(self.t.bad(
                op,
                format!("the BMC accepted {boot:?} but reads back {now:?}"),
            ));
        }
        Ok(())
    }

    async fn boot_override(&self) -> Result<BootOverride, BmcError> {
        let op = "read boot override";
        let sys = self.system(op).await?.body;
        parse::boot_override(&sys).map_err(|d| self.t.bad(op, d))
    }
}
