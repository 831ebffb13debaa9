//! The Ironic provisioner: the [`Provisioner`] trait on top of a standalone
//! OpenStack Ironic, following Metal³'s Ironic provisioner (reference
//! §6.2–6.4). Every call reads the node, makes at most a few requests that
//! move it one step on, and answers "in progress" while Ironic works, so a
//! host never holds an engine worker while it waits.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use metal3_bmc::address::BmcAddress;
use metal3_hostmodel::annotations::RebootMode;
use metal3_hostmodel::other::{HostFirmwareSettings, SettingSchema};
use metal3_hostmodel::state::{ActionOutcome, CurrentFirmwareSettings, OutcomeData, PrepareData};
use metal3_hostmodel::{
    AutomatedCleaningMode, BareMetalHost, BootMode, Image, InspectionMode, ProvisioningState,
    RootDeviceHints,
};
use serde_json::{Map, Value};

use super::client::{
    patch_add, patch_remove, IronicClient, IronicError, Microversion, Node, PowerTarget,
    ProvisionTarget, NODE_STATE_FIELDS,
};
use super::configdrive::{self, SecretSource};
use super::mapping::{
    boot_mode_capabilities, deploy_plan, driver_info, hardware_details, node_create, node_name,
    DeployImages, DeployTarget, NodeHostInfo,
};
use super::steps;
use crate::provisioner::{HostRef, Outcome, Provisioner};
use crate::store::{BoxFuture, ObjectKey, Store, StoreExt};

/// Maintenance reason set before deleting a node that is not idle.
pub const FORCED_DELETION_REASON: &str = "forcing deletion in baremetal-operator";

/// Settings of an [`IronicProvisioner`].
#[derive(Debug, Clone)]
pub struct IronicOptions {
    /// Deploy ramdisk locations put into every node's `driver_info`.
    pub deploy_images: DeployImages,
    /// Poll delay for quick transitions (manage, provide, abort, power).
    pub short_poll: Duration,
    /// Poll delay for long operations (inspection, cleaning, deployment).
    pub long_poll: Duration,
    /// `PROVISIONING_LIMIT`: nodes busy at once on non-virtual-media drivers.
    pub provisioning_limit: usize,
    /// `LIVE_ISO_FORCE_PERSISTENT_BOOT_DEVICE` (`Default`/`Always`/`Never`).
    pub live_iso_force_persistent_boot_device: Option<String>,
    /// `DIRECT_DEPLOY_FORCE_PERSISTENT_BOOT_DEVICE`.
    pub direct_deploy_force_persistent_boot_device: Option<String>,
    /// Seconds Ironic waits for a soft power off before it reports failure
    /// (we then power off hard).
    pub soft_power_off_timeout_secs: u32,
    /// Fields merged over every new node's create body, e.g. a lab Ironic's
    /// `{"driver": "fake-hardware", "deploy_interface": "fake", …}`.
    pub node_overrides: Map<String, Value>,
}

impl Default for IronicOptions {
    fn default() -> Self {
        IronicOptions {
            deploy_images: DeployImages::default(),
            short_poll: Duration::from_secs(3),
            long_poll: Duration::from_secs(10),
            provisioning_limit: crate::engine::DEFAULT_PROVISIONING_LIMIT,
            live_iso_force_persistent_boot_device: None,
            direct_deploy_force_persistent_boot_device: None,
            soft_power_off_timeout_secs: 180,
            node_overrides: Map::new(),
        }
    }
}

/// A power change we asked Ironic for and have not yet seen done.
#[derive(Debug, Clone, Copy)]
struct PowerRequest {
    on: bool,
    soft: bool,
    since: Instant,
}

/// Provisioner backed by OpenStack Ironic. See the module docs.
pub struct IronicProvisioner {
    client: IronicClient,
    opts: IronicOptions,
    secrets: Option<Arc<dyn Store>>,
    power: Mutex<HashMap<String, PowerRequest>>,
    /// Nodes read moments ago, so the several calls of one engine pass
    /// share one GET; dropped on every write of ours.
    recent: Mutex<HashMap<String, (Instant, Node)>>,
    /// `(node UUID, MAC)` pairs whose port was seen or created.
    ports_seen: Mutex<HashSet<(String, String)>>,
    /// Node UUID → hash of the `driver_info` we last wrote to it: Ironic
    /// masks passwords, so a credentials change cannot be compared with
    /// the node, and without this every pass flagged as "credentials
    /// changed" would rewrite the node.
    driver_info_sent: Mutex<HashMap<String, u64>>,
    /// The last node list for capacity checks: every host in a busy state
    /// asks each pass, and one list serves them all for a poll interval.
    busy_nodes: tokio::sync::Mutex<Option<(Instant, Vec<Node>)>>,
    /// Node UUID → (our writes in flight, when the last one finished):
    /// a list sent before a write finished must not answer for that node.
    writes: Mutex<HashMap<String, (usize, Instant)>>,
    /// Node UUID → when a pass last read it (how many hosts are polling).
    reads: Mutex<HashMap<String, Instant>>,
    /// One node list answering the polls of many hosts (see
    /// [`IronicProvisioner::listed_unchanged`]).
    bulk: tokio::sync::Mutex<Option<NodeList>>,
    /// Node UUID → the node as last read in full, and when.
    full: Mutex<HashMap<String, (Instant, Node)>>,
}

/// How long a full read of a node may stand in for a GET while a node
/// list shows its state unchanged (its configuration fields, which only
/// writes change, are then re-read at least this often).
const FULL_READ_REUSE: Duration = Duration::from_secs(30);

/// The list entry shows the node exactly as the full read did.
fn unchanged(listed: &Node, full: &Node) -> bool {
    listed.provision_state == full.provision_state
        && listed.target_provision_state == full.target_provision_state
        && listed.power_state == full.power_state
        && listed.target_power_state == full.target_power_state
        && listed.maintenance == full.maintenance
        && listed.fault == full.fault
        && listed.last_error == full.last_error
        && listed.maintenance_reason == full.maintenance_reason
}

/// A list of every node's state fields ([`NODE_STATE_FIELDS`]) and when
/// its request was sent.
struct NodeList {
    sent: Instant,
    nodes: HashMap<String, Node>,
}

/// Polling hosts from which one list of all nodes replaces their GETs.
const BULK_MIN_POLLING: usize = 8;

/// Marks a write of ours to a node in flight until dropped: reads of that
/// node skip node lists sent before it finished.
#[must_use = "hold the guard until the write has finished"]
struct WriteGuard<'a> {
    p: &'a IronicProvisioner,
    uuid: String,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let mut w = self.p.writes();
        if let Some(e) = w.get_mut(&self.uuid) {
            e.0 = e.0.saturating_sub(1);
            e.1 = Instant::now();
        }
    }
}

/// Ironic provision states the code matches on (reference §6.3).
mod st {
    pub const ENROLL: &str = "enroll";
    pub const VERIFYING: &str = "verifying";
    pub const MANAGEABLE: &str = "manageable";
    pub const AVAILABLE: &str = "available";
    pub const ACTIVE: &str = "active";
    pub const WAIT_CALLBACK: &str = "wait call-back";
    pub const DEPLOYING: &str = "deploying";
    pub const DEPLOY_FAILED: &str = "deploy failed";
    pub const DELETING: &str = "deleting";
    pub const CLEANING: &str = "cleaning";
    pub const CLEAN_WAIT: &str = "clean wait";
    pub const CLEAN_FAILED: &str = "clean failed";
    pub const ERROR: &str = "error";
    pub const INSPECTING: &str = "inspecting";
    pub const INSPECT_WAIT: &str = "inspect wait";
    pub const INSPECT_FAILED: &str = "inspect failed";
    pub const ADOPTING: &str = "adopting";
    pub const ADOPT_FAILED: &str = "adopt failed";
    pub const SERVICING: &str = "servicing";
    pub const SERVICE_WAIT: &str = "service wait";
    pub const SERVICE_FAILED: &str = "service failed";
}

fn label(n: &Node) -> &str {
    n.name
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(&n.uuid)
}

fn last_error(n: &Node) -> &str {
    n.last_error
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("no error reported")
}

/// Transient error that tells the state machine to register again.
fn needs_registration(message: impl Into<String>) -> Outcome {
    Outcome {
        outcome: ActionOutcome::Error {
            message: message.into(),
            needs_registration: true,
        },
        data: OutcomeData::None,
    }
}

/// An Ironic error during an operation on `node`: a refusal (4xx other than
/// not-found/conflict) is recorded on the host; the rest is retried.
fn api_outcome(node: &str, what: &str, e: &IronicError) -> Outcome {
    let msg = format!("node {node}: {what}: {e}");
    match e.status() {
        Some(s) if (400..500).contains(&s) && s != 404 && s != 409 => Outcome::failed(msg),
        _ => Outcome::error(msg),
    }
}

/// Ironic states in which register also configures the node (the others
/// are busy, or not yet verified).
fn configurable(n: &Node) -> bool {
    !matches!(n.provision_state.as_str(), st::ENROLL | st::VERIFYING) && !working(n)
}

/// Whether Ironic is working on the node (a step or an agent is running).
fn working(n: &Node) -> bool {
    matches!(
        n.provision_state.as_str(),
        st::CLEANING
            | st::CLEAN_WAIT
            | st::DEPLOYING
            | st::WAIT_CALLBACK
            | st::INSPECTING
            | st::INSPECT_WAIT
            | st::ADOPTING
            | st::DELETING
            | st::SERVICING
            | st::SERVICE_WAIT
    )
}

/// A stable in-memory fingerprint of a JSON value (never logged or stored).
fn hash_json(v: &impl serde::Serialize) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(v).unwrap_or_default().hash(&mut h);
    h.finish()
}

fn is_failed_state(s: &str) -> bool {
    s.ends_with("failed") || s == st::ERROR
}

fn host_state(h: &BareMetalHost) -> Option<ProvisioningState> {
    h.status.as_ref().map(|s| s.provisioning.state)
}

/// Root device hints for a deployment: those the state machine recorded
/// (spec or hardware profile), else the spec's.
fn deploy_hints(h: &BareMetalHost) -> Option<RootDeviceHints> {
    h.status
        .as_ref()
        .and_then(|s| s.provisioning.root_device_hints.clone())
        .or_else(|| h.spec.root_device_hints.clone())
}

impl IronicProvisioner {
    /// A provisioner using `client`; Secrets (user/network/meta data,
    /// firmware resources) are read from `objects` when given.
    pub fn new(client: IronicClient, opts: IronicOptions, objects: Option<Arc<dyn Store>>) -> Self {
        IronicProvisioner {
            client,
            opts,
            secrets: objects,
            power: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
            ports_seen: Mutex::new(HashSet::new()),
            driver_info_sent: Mutex::new(HashMap::new()),
            busy_nodes: tokio::sync::Mutex::new(None),
            writes: Mutex::new(HashMap::new()),
            reads: Mutex::new(HashMap::new()),
            bulk: tokio::sync::Mutex::new(None),
            full: Mutex::new(HashMap::new()),
        }
    }

    /// The Ironic client (for request counts and direct queries).
    pub fn client(&self) -> &IronicClient {
        &self.client
    }

    fn power_requests(&self) -> MutexGuard<'_, HashMap<String, PowerRequest>> {
        // Single inserts/removes cannot leave the map inconsistent.
        self.power.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn recent(&self) -> MutexGuard<'_, HashMap<String, (Instant, Node)>> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a read node is reused: well under the poll delay, so the
    /// next poll always sees Ironic's progress.
    fn recent_ttl(&self) -> Duration {
        (self.opts.short_poll / 2).min(Duration::from_millis(500))
    }

    /// Forgets the cached read of a node we are about to change; the
    /// returned guard marks the write in flight until dropped.
    fn forget(&self, uuid: &str) -> WriteGuard<'_> {
        self.recent().remove(uuid);
        // A list cannot tell a node that went there and back (inspect on
        // fake hardware: manageable → inspecting → manageable) from one
        // that never moved: after a write, only a full read will do.
        self.full().remove(uuid);
        let mut w = self.writes();
        w.retain(|_, (n, at)| *n > 0 || at.elapsed() < Duration::from_secs(60));
        w.entry(uuid.to_string()).or_insert((0, Instant::now())).0 += 1;
        WriteGuard {
            p: self,
            uuid: uuid.to_string(),
        }
    }

    fn writes(&self) -> MutexGuard<'_, HashMap<String, (usize, Instant)>> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reads(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.reads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether one list of all nodes is cheaper than per-node GETs: many
    /// hosts are polling (read within the last four long polls) and Ironic
    /// holds at most three times as many nodes (the last list's size).
    fn bulk_worthwhile(&self, last_total: Option<usize>) -> bool {
        let window = (self.opts.long_poll * 4).max(Duration::from_secs(2));
        let polling = {
            let mut r = self.reads();
            r.retain(|_, at| at.elapsed() < window);
            r.len()
        };
        polling >= BULK_MIN_POLLING && last_total.is_none_or(|t| t <= polling * 3)
    }

    /// The node as last read in full, when a recent list of every node's
    /// state fields shows it unchanged since and many hosts poll at once:
    /// one light list per poll interval then answers all their polls, and
    /// only nodes that moved on are read in full. `None` sends the caller
    /// to a GET: list not worthwhile or failed, node not in it or changed,
    /// no full read to reuse, or a write of ours not finished before the
    /// list was sent.
    async fn listed_unchanged(&self, uuid: &str) -> Option<Node> {
        let mut bulk = self.bulk.lock().await;
        if !self.bulk_worthwhile(bulk.as_ref().map(|l| l.nodes.len())) {
            return None;
        }
        let stale = bulk
            .as_ref()
            .is_none_or(|l| l.sent.elapsed() >= self.recent_ttl());
        if stale {
            let sent = Instant::now();
            match self.client.list_nodes(&NODE_STATE_FIELDS).await {
                Ok(nodes) => {
                    *bulk = Some(NodeList {
                        sent,
                        nodes: nodes.into_iter().map(|n| (n.uuid.clone(), n)).collect(),
                    })
                }
                Err(e) => {
                    tracing::debug!("node list for polling failed, reading nodes one by one: {e}");
                    *bulk = None;
                    return None;
                }
            }
        }
        let list = bulk.as_ref()?;
        let written_after = match self.writes().get(uuid) {
            Some((in_flight, _)) if *in_flight > 0 => true,
            Some((_, done)) => *done >= list.sent,
            None => false,
        };
        if written_after {
            return None;
        }
        let listed = list.nodes.get(uuid)?;
        let full = self.full();
        let (_, n) = full
            .get(uuid)
            .filter(|(at, n)| at.elapsed() < FULL_READ_REUSE && unchanged(listed, n))?;
        Some(n.clone())
    }

    /// Caches a node Ironic just returned from a write of ours (create,
    /// PATCH answer with the whole updated node): the next read in this
    /// pass needs no GET.
    fn remember(&self, n: &Node) {
        self.recent()
            .insert(n.uuid.clone(), (Instant::now(), n.clone()));
        self.remember_full(n);
    }

    fn full(&self) -> MutexGuard<'_, HashMap<String, (Instant, Node)>> {
        self.full.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember_full(&self, n: &Node) {
        let mut full = self.full();
        full.retain(|_, (at, _)| at.elapsed() < FULL_READ_REUSE);
        full.insert(n.uuid.clone(), (Instant::now(), n.clone()));
    }

    fn driver_info_sent(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.driver_info_sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// GET of a node by UUID, reusing a read of the last moments.
    async fn node_by_uuid(&self, uuid: &str) -> Result<Option<Node>, IronicError> {
        if let Some((at, n)) = self.recent().get(uuid) {
            if at.elapsed() < self.recent_ttl() {
                return Ok(Some(n.clone()));
            }
        }
        self.reads().insert(uuid.to_string(), Instant::now());
        if let Some(n) = self.listed_unchanged(uuid).await {
            return Ok(Some(n));
        }
        let n = self.client.find_node(uuid).await?;
        if let Some(n) = &n {
            self.remember_full(n);
        }
        let mut recent = self.recent();
        recent.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(5));
        match &n {
            Some(n) => {
                recent.insert(uuid.to_string(), (Instant::now(), n.clone()));
            }
            None => {
                recent.remove(uuid);
            }
        }
        Ok(n)
    }

    fn in_progress_short(&self) -> Outcome {
        Outcome::in_progress(self.opts.short_poll)
    }

    fn in_progress_long(&self) -> Outcome {
        Outcome::in_progress(self.opts.long_poll)
    }

    /// The host's node: by the recorded node UUID, then by
    /// `<namespace>~<name>`, then (legacy) by the bare host name.
    async fn find(&self, h: &HostRef<'_>) -> Result<Option<Node>, IronicError> {
        self.find_with(h, true).await
    }

    /// [`Self::find`]; `legacy` false skips the bare-name lookup (register
    /// finds such nodes by their boot MAC's port instead).
    async fn find_with(&self, h: &HostRef<'_>, legacy: bool) -> Result<Option<Node>, IronicError> {
        let m = &h.host.metadata;
        if let Some(id) = h
            .host
            .status
            .as_ref()
            .map(|s| s.provisioning.id.as_str())
            .filter(|id| !id.is_empty())
        {
            if let Some(n) = self.node_by_uuid(id).await? {
                return Ok(Some(n));
            }
        }
        let name = node_name(m.namespace_or_default(), &m.name);
        if let Some(n) = self.client.find_node(&name).await? {
            return Ok(Some(n));
        }
        if legacy && !m.name.contains('~') {
            if let Some(n) = self.client.find_node(&m.name).await? {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    /// The node or an outcome to return instead (not registered / API error).
    async fn node(&self, h: &HostRef<'_>) -> Result<Node, Outcome> {
        match self.find(h).await {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err(needs_registration(format!(
                "host not registered: no Ironic node for {}",
                node_name(
                    h.host.metadata.namespace_or_default(),
                    &h.host.metadata.name
                )
            ))),
            Err(e) => Err(Outcome::error(e.to_string())),
        }
    }

    async fn set_state(&self, n: &Node, target: ProvisionTarget, then: Outcome) -> Outcome {
        let what = format!("{:?}", target.body().get("target"));
        let _write = self.forget(&n.uuid);
        match self.client.set_provision_state(&n.uuid, &target).await {
            Ok(()) => then,
            // Locked past the client's retries, or the state moved under us.
            Err(e) if e.is_conflict() => Outcome::in_progress(self.opts.short_poll),
            Err(e) => api_outcome(label(n), &format!("provision state {what}"), &e),
        }
    }

    async fn patch(&self, n: &Node, ops: Vec<Value>) -> Result<Node, Outcome> {
        if ops.is_empty() {
            return Ok(n.clone());
        }
        let _write = self.forget(&n.uuid);
        let updated = self
            .client
            .update_node(&n.uuid, &ops)
            .await
            .map_err(|e| api_outcome(label(n), "update", &e))?;
        self.remember(&updated);
        Ok(updated)
    }

    /// Maintenance set by someone else (a fault, an operator) blocks work:
    /// Ironic refuses most actions, so the host shows why.
    fn maintenance_failure(&self, n: &Node) -> Option<Outcome> {
        if !n.maintenance {
            return None;
        }
        let reason = n.maintenance_reason.as_deref().unwrap_or("");
        if reason == FORCED_DELETION_REASON {
            return None;
        }
        let fault = n
            .fault
            .as_deref()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        Some(Outcome::failed(format!(
            "node {} is in maintenance{fault}: {}",
            label(n),
            if reason.is_empty() {
                last_error(n)
            } else {
                reason
            }
        )))
    }

    fn host_info(&self, h: &BareMetalHost) -> NodeHostInfo {
        let spec = &h.spec;
        let current_image = h
            .status
            .as_ref()
            .and_then(|s| s.provisioning.image.as_ref())
            .or(spec.image.as_ref());
        NodeHostInfo {
            namespace: h.metadata.namespace_or_default().to_string(),
            name: h.metadata.name.clone(),
            boot_mode: spec.boot_mode,
            cpu_arch: spec.architecture.clone(),
            disable_power_off: spec.power_off_disabled(),
            fast_inspection: spec.inspection_mode == Some(InspectionMode::Fast),
            live_iso: current_image.is_some_and(Image::is_live_iso),
            custom_deploy: spec.custom_deploy.is_some(),
            disable_certificate_verification: spec.bmc.disable_certificate_verification
                == Some(true),
            deploy_images: self.opts.deploy_images.clone(),
        }
    }

    // ---------------------------------------------------------------- register

    async fn do_register(
        &self,
        h: &HostRef<'_>,
        credentials_changed: bool,
        restart: bool,
    ) -> Outcome {
        let host = h.host;
        let addr = match BmcAddress::parse(&host.spec.bmc.address) {
            Ok(a) => a,
            Err(e) => return Outcome::failed(e.to_string()),
        };
        let Some(creds) = h.credentials.clone() else {
            return Outcome::error("no BMC credentials loaded for this host");
        };
        let d = addr.driver();
        if host.spec.boot_mode == Some(BootMode::UefiSecureBoot) && !d.secure_boot {
            return Outcome::failed(format!(
                "BMC driver {} does not support secure boot",
                d.name
            ));
        }
        if host.spec.inspection_mode == Some(InspectionMode::Fast)
            && d.oob_inspect_interface.is_none()
        {
            return Outcome::failed(format!(
                "BMC driver {} does not support fast (out-of-band) inspection",
                d.name
            ));
        }
        if host.spec.power_off_disabled() && self.client.microversion() < Microversion(1, 95) {
            return Outcome::failed(format!(
                "disablePowerOff needs Ironic API 1.95; {} negotiated {}",
                self.client.endpoint(),
                self.client.microversion()
            ));
        }
        let boot_mac = host
            .spec
            .boot_mac_address
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(str::to_ascii_lowercase);
        if boot_mac.is_none() && d.needs_mac {
            return Outcome::failed(format!(
                "BMC driver {} requires a BootMACAddress value",
                d.name
            ));
        }
        let name = node_name(host.metadata.namespace_or_default(), &host.metadata.name);
        // With a boot MAC, a legacy node (named by the bare host name) is
        // found through its port: one lookup fewer for every new host.
        let found = match self.find_with(h, boot_mac.is_none()).await {
            Ok(n) => n,
            Err(e) => return Outcome::error(e.to_string()),
        };
        let legacy_name = &host.metadata.name;
        // No port with the boot MAC: a node we create gets its port
        // without looking again.
        let mut mac_unused = false;
        let found = match (found, &boot_mac) {
            (Some(n), _) => Some(n),
            (None, Some(mac)) => match self.node_by_mac(mac, &name, legacy_name).await {
                Ok(None) => {
                    mac_unused = true;
                    None
                }
                Ok(n) => n,
                Err(o) => return o,
            },
            (None, None) => None,
        };
        let info = self.host_info(host);
        let want_di = driver_info(
            &addr,
            &creds,
            info.disable_certificate_verification,
            &self.opts.deploy_images,
        );
        let di_hash = hash_json(&want_di);
        let node = match found {
            None => {
                let body = node_create(&addr, &creds, &info);
                let mut body = match serde_json::to_value(&body) {
                    Ok(Value::Object(m)) => m,
                    _ => return Outcome::failed("cannot encode the node create request"),
                };
                // Set at creation what configure_node would patch later.
                let clean = host.spec.effective_cleaning_mode() != AutomatedCleaningMode::Disabled;
                body.insert("automated_clean".into(), Value::Bool(clean));
                for (k, v) in &self.opts.node_overrides {
                    body.insert(k.clone(), v.clone());
                }
                match self.client.create_node(&Value::Object(body)).await {
                    Ok(n) => {
                        tracing::info!(node = %name, uuid = %n.uuid, "registered Ironic node");
                        self.driver_info_sent().insert(n.uuid.clone(), di_hash);
                        if let (Some(mac), true) = (&boot_mac, mac_unused) {
                            if let Err(e) = self.client.create_port(&n.uuid, mac, true).await {
                                return api_outcome(&name, "create port", &e).with_data(
                                    OutcomeData::Registered {
                                        provisioner_id: n.uuid.clone(),
                                    },
                                );
                            }
                            self.ports_seen().insert((n.uuid.clone(), mac.clone()));
                        }
                        self.remember(&n);
                        n
                    }
                    Err(e) => return api_outcome(&name, "create node", &e),
                }
            }
            Some(n) => {
                let mut ops = Vec::new();
                if n.name.as_deref() != Some(name.as_str()) {
                    ops.push(patch_add("/name", &name));
                }
                let addr_key = want_di.0.keys().find(|k| k.ends_with("_address")).cloned();
                let addr_changed = addr_key
                    .as_ref()
                    .is_some_and(|k| n.driver_info.0.get(k) != want_di.0.get(k));
                let sent = self.driver_info_sent().get(&n.uuid).copied();
                let di_changed = credentials_changed && sent != Some(di_hash);
                if di_changed || addr_changed {
                    ops.push(patch_add("/driver_info", &want_di));
                }
                if self.client.microversion() >= Microversion(1, 95)
                    && n.disable_power_off.unwrap_or(false) != info.disable_power_off
                {
                    ops.push(patch_add("/disable_power_off", info.disable_power_off));
                }
                if let Some(arch) = info.cpu_arch.as_deref().filter(|a| !a.is_empty()) {
                    if n.properties.get("cpu_arch").and_then(Value::as_str) != Some(arch) {
                        ops.push(patch_add("/properties/cpu_arch", arch));
                    }
                }
                let writes_di = di_changed || addr_changed;
                // One PATCH for registration and configuration.
                if configurable(&n) {
                    ops.extend(self.configure_ops(host, &n));
                }
                match self.patch(&n, ops).await {
                    Ok(n) => {
                        if writes_di {
                            self.driver_info_sent().insert(n.uuid.clone(), di_hash);
                        }
                        n
                    }
                    Err(o) => return o,
                }
            }
        };
        let registered = OutcomeData::Registered {
            provisioner_id: node.uuid.clone(),
        };
        let state = node.provision_state.as_str();
        let ports_ok = matches!(
            state,
            st::ENROLL | st::MANAGEABLE | st::AVAILABLE | st::ACTIVE
        ) || is_failed_state(state);
        if let (Some(mac), true) = (&boot_mac, ports_ok) {
            if let Err(o) = self.ensure_port(&node, mac).await {
                return o.with_data(registered);
            }
        }
        let out = match state {
            st::ENROLL => {
                if node.target_provision_state.as_deref() == Some(st::MANAGEABLE) {
                    self.in_progress_short()
                } else if node.last_error.is_some() && !(credentials_changed || restart) {
                    Outcome::failed(format!("node {}: {}", label(&node), last_error(&node)))
                } else {
                    self.set_state(&node, ProvisionTarget::Manage, self.in_progress_short())
                        .await
                }
            }
            st::VERIFYING => self.in_progress_short(),
            _ if working(&node) => Outcome::done(),
            // A node found in a configurable state was configured in the
            // PATCH above; one created just now is in enroll.
            _ => match self.configure_node(host, &node).await {
                Ok(()) => Outcome::done(),
                Err(o) => o,
            },
        };
        out.with_data(registered)
    }

    /// The node owning a port with `mac`: adopted when nameless, an error
    /// when it belongs to another host.
    async fn node_by_mac(
        &self,
        mac: &str,
        name: &str,
        legacy_name: &str,
    ) -> Result<Option<Node>, Outcome> {
        let ports = self
            .client
            .list_ports_by_address(mac)
            .await
            .map_err(|e| Outcome::error(e.to_string()))?;
        let Some(port) = ports.first() else {
            return Ok(None);
        };
        let node = match self.client.find_node(&port.node_uuid).await {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Outcome::error(e.to_string())),
        };
        match node.name.as_deref().filter(|n| !n.is_empty()) {
            Some(other) if other != name && other != legacy_name => Err(Outcome::failed(format!(
                "MAC address {mac} conflicts with existing node {other}"
            ))),
            _ => Ok(Some(node)),
        }
    }

    fn ports_seen(&self) -> MutexGuard<'_, HashSet<(String, String)>> {
        self.ports_seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn ensure_port(&self, node: &Node, mac: &str) -> Result<(), Outcome> {
        let seen = (node.uuid.clone(), mac.to_string());
        if self.ports_seen().contains(&seen) {
            return Ok(());
        }
        let r = self.check_port(node, mac).await;
        if r.is_ok() {
            self.ports_seen().insert(seen);
        }
        r
    }

    async fn check_port(&self, node: &Node, mac: &str) -> Result<(), Outcome> {
        let ports = self
            .client
            .list_ports_by_address(mac)
            .await
            .map_err(|e| Outcome::error(e.to_string()))?;
        match ports.first() {
            Some(p) if p.node_uuid == node.uuid => Ok(()),
            Some(p) => {
                let other = match self.client.find_node(&p.node_uuid).await {
                    Ok(Some(n)) => label(&n).to_string(),
                    _ => p.node_uuid.clone(),
                };
                Err(Outcome::failed(format!(
                    "MAC address {mac} conflicts with existing node {other}"
                )))
            }
            None => self
                .client
                .create_port(&node.uuid, mac, true)
                .await
                .map(drop)
                .map_err(|e| api_outcome(label(node), "create port", &e)),
        }
    }

    /// Keeps deploy images, automated cleaning and boot capabilities in sync.
    async fn configure_node(&self, host: &BareMetalHost, n: &Node) -> Result<(), Outcome> {
        let ops = self.configure_ops(host, n);
        self.patch(n, ops).await.map(drop)
    }

    /// The PATCH operations [`Self::configure_node`] sends (none when the
    /// node is in sync).
    fn configure_ops(&self, host: &BareMetalHost, n: &Node) -> Vec<Value> {
        let mut ops = Vec::new();
        let di = &self.opts.deploy_images;
        let virtual_media = BmcAddress::parse(&host.spec.bmc.address)
            .map(|a| a.driver().virtual_media)
            .unwrap_or(false);
        let iso = di.iso.clone().filter(|_| virtual_media);
        for (key, want) in [
            ("deploy_kernel", &di.kernel),
            ("deploy_ramdisk", &di.ramdisk),
            ("deploy_iso", &iso),
        ] {
            if let Some(w) = want {
                if n.driver_info.0.get(key).and_then(Value::as_str) != Some(w.as_str()) {
                    ops.push(patch_add(&format!("/driver_info/{key}"), w));
                }
            }
        }
        let clean = host.spec.effective_cleaning_mode() != AutomatedCleaningMode::Disabled;
        if n.automated_clean != Some(clean) {
            ops.push(patch_add("/automated_clean", clean));
        }
        let caps = boot_mode_capabilities(host.spec.boot_mode);
        if n.properties.get("capabilities").and_then(Value::as_str) != Some(caps) {
            ops.push(patch_add("/properties/capabilities", caps));
        }
        ops
    }

    // ----------------------------------------------------------------- inspect

    async fn do_inspect(&self, h: &HostRef<'_>, restart: bool, refresh: bool) -> Outcome {
        let n = match self.node(h).await {
            Ok(n) => n,
            Err(o) => return o,
        };
        if let Some(o) = self.maintenance_failure(&n) {
            return o;
        }
        let not_started = |o: Outcome| {
            o.with_data(OutcomeData::Inspection {
                started: false,
                details: None,
            })
        };
        let poll = if h.host.spec.inspection_mode == Some(InspectionMode::Fast) {
            self.opts.short_poll
        } else {
            self.opts.long_poll
        };
        match n.provision_state.as_str() {
            st::AVAILABLE => not_started(
                self.set_state(&n, ProvisionTarget::Manage, self.in_progress_short())
                    .await,
            ),
            st::MANAGEABLE if n.target_provision_state.is_some() => {
                not_started(Outcome::in_progress(poll))
            }
            st::MANAGEABLE => {
                // Ironic stores an inventory only when an inspection
                // finishes: a node never inspected has none to fetch.
                if !refresh && n.inspection_finished_at.is_some() {
                    match self.client.inventory(&n.uuid).await {
                        Ok(inv) => {
                            return Outcome::done().with_data(OutcomeData::Inspection {
                                started: false,
                                details: Some(Box::new(hardware_details(&inv))),
                            })
                        }
                        Err(e) if e.is_not_found() && n.inspection_finished_at.is_some() => {
                            return self.inspected_without_inventory(h, &n)
                        }
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return not_started(Outcome::error(e.to_string())),
                    }
                }
                let out = self
                    .set_state(&n, ProvisionTarget::Inspect, Outcome::in_progress(poll))
                    .await;
                let started = matches!(out.outcome, ActionOutcome::InProgress { .. });
                out.with_data(OutcomeData::Inspection {
                    started,
                    details: None,
                })
            }
            st::INSPECTING | st::INSPECT_WAIT => not_started(Outcome::in_progress(poll)),
            st::INSPECT_FAILED if restart => not_started(
                self.set_state(&n, ProvisionTarget::Manage, self.in_progress_short())
                    .await,
            ),
            st::INSPECT_FAILED => Outcome::failed(format!(
                "node {}: inspection failed: {}",
                label(&n),
                last_error(&n)
            )),
            st::ENROLL | st::VERIFYING => not_started(needs_registration(format!(
                "node {} is {}; register it first",
                label(&n),
                n.provision_state
            ))),
            other => not_started(Outcome::error(format!(
                "node {} is {other}; cannot inspect it",
                label(&n)
            ))),
        }
    }

    /// Ironic finished an inspection that stored no inventory (an inspect
    /// interface such as `fake` or `no-inspect`): hardware details given on
    /// the host (the hardwaredetails annotation) stand in, as with the
    /// direct provisioner; without them the inspection cannot complete.
    fn inspected_without_inventory(&self, h: &HostRef<'_>, n: &Node) -> Outcome {
        match h.host.status.as_ref().and_then(|s| s.hardware.clone()) {
            Some(hw) => Outcome::done().with_data(OutcomeData::Inspection {
                started: false,
                details: Some(Box::new(hw)),
            }),
            None => Outcome::failed(format!(
                "node {}: inspection finished but Ironic holds no inventory (inspect interface {}); give the hardware in the inspect.metal3.io/hardwaredetails annotation or use the agent inspect interface",
                label(n),
                n.inspect_interface.as_deref().unwrap_or("unknown")
            )),
        }
    }

    // ----------------------------------------------------------------- prepare

    /// A firmware resource's `spec`, if the store has one.
    fn resource_spec(&self, h: &BareMetalHost, kind: &str) -> Result<Option<Value>, Outcome> {
        let Some(store) = &self.secrets else {
            return Ok(None);
        };
        let key = ObjectKey::new(kind, h.metadata.namespace_or_default(), &h.metadata.name);
        match store.get(&key) {
            Ok(v) => Ok(v.get("spec").cloned()),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(Outcome::error(e.to_string())),
        }
    }

    /// The HostFirmwareSettings values that differ from its status (none
    /// without the object): servicing, unlike preparing, gets no computed
    /// values, so it diffs the stored object the way the engine does.
    fn changed_firmware_settings(
        &self,
        h: &BareMetalHost,
    ) -> Result<std::collections::BTreeMap<String, String>, Outcome> {
        let Some(store) = &self.secrets else {
            return Ok(Default::default());
        };
        let key = ObjectKey::new(
            "HostFirmwareSettings",
            h.metadata.namespace_or_default(),
            &h.metadata.name,
        );
        match store.get_as::<HostFirmwareSettings>(&key) {
            Ok(hfs) => Ok(metal3_hostmodel::state::changed_settings(&hfs)),
            Err(e) if e.is_not_found() => Ok(Default::default()),
            Err(e) => Err(Outcome::error(e.to_string())),
        }
    }

    async fn do_prepare(&self, h: &HostRef<'_>, data: &PrepareData) -> Outcome {
        let not_started = |o: Outcome| o.with_data(OutcomeData::Started(false));
        let n = match self.node(h).await {
            Ok(n) => n,
            Err(o) => return not_started(o),
        };
        // The BIOS values come computed (only those differing from the
        // firmware's); the firmware updates are still read here.
        let updates = if data.firmware_components {
            match self.resource_spec(h.host, "HostFirmwareComponents") {
                Ok(s) => steps::firmware_updates_from_spec(&s.unwrap_or(Value::Null)),
                Err(o) => return not_started(o),
            }
        } else {
            Vec::new()
        };
        // Only read when a cleaning could start with a BIOS step.
        let idle = n.target_provision_state.is_none()
            && matches!(n.provision_state.as_str(), st::AVAILABLE | st::MANAGEABLE);
        let bios_now =
            if idle && data.firmware_settings && !data.target_firmware_settings.is_empty() {
                match self.client.bios_settings(&n.uuid, false).await {
                    Ok(list) => steps::ironic_bios_values(&list),
                    Err(e) => return not_started(api_outcome(label(&n), "read BIOS settings", &e)),
                }
            } else {
                Default::default()
            };
        let clean_steps = steps::prepare_clean_steps(data, &bios_now, &updates);
        let wanted = data.unprepared && !clean_steps.is_empty();
        match n.provision_state.as_str() {
            st::AVAILABLE if wanted => {
                if let Some(o) = self.maintenance_failure(&n) {
                    return not_started(o);
                }
                not_started(
                    self.set_state(&n, ProvisionTarget::Manage, self.in_progress_short())
                        .await,
                )
            }
            st::MANAGEABLE if wanted && n.target_provision_state.is_none() => {
                if let Some(o) = self.maintenance_failure(&n) {
                    return not_started(o);
                }
                if let Some(target) = data.target_raid.as_ref().filter(|t| {
                    steps::has_volumes(Some(t))
                        && clean_steps
                            .iter()
                            .any(|s| s["step"] == "create_configuration")
                }) {
                    if steps::has_software_volumes(Some(target))
                        && n.raid_interface.as_deref() != Some("agent")
                    {
                        if let Err(o) = self
                            .patch(&n, vec![patch_add("/raid_interface", "agent")])
                            .await
                        {
                            return not_started(o);
                        }
                    }
                    let disks = steps::logical_disks(target, data.root_device_hints.is_some());
                    let _write = self.forget(&n.uuid);
                    if let Err(e) = self.client.set_target_raid_config(&n.uuid, &disks).await {
                        return not_started(api_outcome(label(&n), "set RAID configuration", &e));
                    }
                }
                let out = self
                    .set_state(
                        &n,
                        ProvisionTarget::Clean { clean_steps },
                        self.in_progress_long(),
                    )
                    .await;
                let started = matches!(out.outcome, ActionOutcome::InProgress { .. });
                out.with_data(OutcomeData::Started(started))
            }
            st::MANAGEABLE if n.target_provision_state.is_some() => {
                not_started(self.in_progress_short())
            }
            st::CLEANING | st::CLEAN_WAIT => not_started(self.in_progress_long()),
            st::CLEAN_FAILED if data.restart => {
                not_started(self.retry_after_clean_failure(&n).await)
            }
            st::CLEAN_FAILED => not_started(Outcome::failed(format!(
                "node {}: cleaning failed: {}",
                label(&n),
                last_error(&n)
            ))),
            st::ENROLL | st::VERIFYING => not_started(needs_registration(format!(
                "node {} is {}; register it first",
                label(&n),
                n.provision_state
            ))),
            _ => not_started(Outcome::done()),
        }
    }

    /// `clean failed` → clear maintenance (Ironic sets it) → `manage`.
    async fn retry_after_clean_failure(&self, n: &Node) -> Outcome {
        if n.maintenance {
            let _write = self.forget(&n.uuid);
            if let Err(e) = self.client.unset_maintenance(&n.uuid).await {
                return api_outcome(label(n), "clear maintenance", &e);
            }
        }
        self.set_state(n, ProvisionTarget::Manage, self.in_progress_short())
            .await
    }

    // --------------------------------------------------------------- provision

    async fn do_provision(&self, h: &HostRef<'_>, force_reboot: bool) -> Outcome {
        let n = match self.node(h).await {
            Ok(n) => n,
            Err(o) => return o,
        };
        let spec = &h.host.spec;
        let target = match (&spec.custom_deploy, &spec.image) {
            (Some(cd), image) => DeployTarget::Custom {
                method: &cd.method,
                image: image.as_ref(),
            },
            (None, Some(image)) if !image.url.is_empty() => DeployTarget::Image(image),
            (None, _) => return Outcome::failed("no spec.image to provision"),
        };
        if n.provision_state != st::ACTIVE {
            if let Some(o) = self.maintenance_failure(&n) {
                return o;
            }
        }
        match n.provision_state.as_str() {
            st::MANAGEABLE if n.target_provision_state.is_none() => {
                self.set_state(&n, ProvisionTarget::Provide, self.in_progress_short())
                    .await
            }
            st::CLEAN_FAILED => self.retry_after_clean_failure(&n).await,
            st::AVAILABLE if n.target_provision_state.is_none() => {
                self.start_deploy(h, &n, target).await
            }
            st::DEPLOY_FAILED => {
                let url = match target {
                    DeployTarget::Image(i) => Some(i),
                    DeployTarget::Custom { image, .. } => image,
                };
                let same = url.is_some_and(|i| {
                    n.instance_info.get("image_source").and_then(Value::as_str)
                        == Some(i.url.as_str())
                        || n.instance_info.get("boot_iso").and_then(Value::as_str)
                            == Some(i.url.as_str())
                });
                if same || url.is_none() {
                    let (u, c) = url
                        .map(|i| (i.url.as_str(), i.checksum.as_deref().unwrap_or("")))
                        .unwrap_or(("", ""));
                    Outcome::failed(format!(
                        "Image provisioning failed (url: {u}, checksum: {c}): node {}: {}",
                        label(&n),
                        last_error(&n)
                    ))
                } else {
                    self.start_deploy(h, &n, target).await
                }
            }
            st::WAIT_CALLBACK if force_reboot => {
                self.set_state(&n, ProvisionTarget::Deleted, self.in_progress_short())
                    .await
            }
            st::ACTIVE => Outcome::done(),
            st::ENROLL | st::VERIFYING => needs_registration(format!(
                "node {} is {}; register it first",
                label(&n),
                n.provision_state
            )),
            _ => self.in_progress_long(),
        }
    }

    async fn start_deploy(&self, h: &HostRef<'_>, n: &Node, target: DeployTarget<'_>) -> Outcome {
        let host = h.host;
        let live_iso = matches!(target, DeployTarget::Image(i) if i.is_live_iso());
        let plan = deploy_plan(target, host.spec.boot_mode, deploy_hints(host).as_ref());
        let mut ops = plan.patch(n.deploy_interface.as_deref());
        if let Some(uid) = host.metadata.uid.as_deref().filter(|u| !u.is_empty()) {
            if n.instance_uuid.as_deref() != Some(uid) {
                ops.push(patch_add("/instance_uuid", uid));
            }
        }
        let fpbd = if live_iso {
            &self.opts.live_iso_force_persistent_boot_device
        } else {
            &self.opts.direct_deploy_force_persistent_boot_device
        };
        match fpbd {
            Some(v) => ops.push(patch_add("/driver_info/force_persistent_boot_device", v)),
            None if n.driver_info.0.contains_key("force_persistent_boot_device") => {
                ops.push(patch_remove("/driver_info/force_persistent_boot_device"))
            }
            None => {}
        }
        let n = match self.patch(n, ops).await {
            Ok(n) => n,
            Err(o) => return o,
        };
        match self.client.validate(&n.uuid).await {
            Ok(v) => {
                let bad: Vec<String> = ["boot", "deploy"]
                    .iter()
                    .filter_map(|k| {
                        let r = v.get(*k)?;
                        (r.result == Some(false))
                            .then(|| format!("{k}: {}", r.reason.as_deref().unwrap_or("invalid")))
                    })
                    .collect();
                if !bad.is_empty() {
                    return Outcome::failed(format!(
                        "node {}: host validation error: {}",
                        label(&n),
                        bad.join("; ")
                    ));
                }
            }
            Err(e) => return api_outcome(label(&n), "validate", &e),
        }
        let configdrive = if live_iso {
            None
        } else {
            let src = SecretSource::new(self.secrets.as_deref());
            match configdrive::for_host(host, &src) {
                Ok(cd) => Some(cd),
                Err(e) => return Outcome::failed(e.to_string()),
            }
        };
        tracing::info!(node = %label(&n), "starting deployment");
        self.set_state(
            &n,
            ProvisionTarget::Active {
                configdrive,
                deploy_steps: plan.deploy_steps,
            },
            self.in_progress_long(),
        )
        .await
    }

    // ------------------------------------------------------------- deprovision

    async fn sync_automated_clean(
        &self,
        n: &Node,
        mode: AutomatedCleaningMode,
    ) -> Result<Node, Outcome> {
        let clean = mode != AutomatedCleaningMode::Disabled;
        if n.automated_clean == Some(clean) {
            return Ok(n.clone());
        }
        self.patch(n, vec![patch_add("/automated_clean", clean)])
            .await
    }

    async fn do_deprovision(
        &self,
        h: &HostRef<'_>,
        restart: bool,
        mode: AutomatedCleaningMode,
    ) -> Outcome {
        let n = match self.node(h).await {
            Ok(n) => n,
            Err(o) => return o,
        };
        match n.provision_state.as_str() {
            st::ACTIVE | st::DEPLOY_FAILED | st::WAIT_CALLBACK => {
                if let Some(o) = self.maintenance_failure(&n) {
                    return o;
                }
                let n = match self.sync_automated_clean(&n, mode).await {
                    Ok(n) => n,
                    Err(o) => return o,
                };
                tracing::info!(node = %label(&n), "deprovisioning");
                self.set_state(&n, ProvisionTarget::Deleted, self.in_progress_long())
                    .await
            }
            st::AVAILABLE if n.target_provision_state.is_none() => Outcome::done(),
            st::MANAGEABLE if n.target_provision_state.is_none() => {
                let n = match self.sync_automated_clean(&n, mode).await {
                    Ok(n) => n,
                    Err(o) => return o,
                };
                self.set_state(&n, ProvisionTarget::Provide, self.in_progress_short())
                    .await
            }
            st::CLEAN_FAILED if restart => self.retry_after_clean_failure(&n).await,
            st::CLEAN_FAILED => Outcome::failed(format!(
                "Cleaning failed: node {}: {}",
                label(&n),
                last_error(&n)
            )),
            st::ERROR if restart => {
                self.set_state(&n, ProvisionTarget::Deleted, self.in_progress_long())
                    .await
            }
            st::ERROR => Outcome::failed(format!(
                "node {}: deprovisioning failed: {}",
                label(&n),
                last_error(&n)
            )),
            st::ENROLL | st::VERIFYING => needs_registration(format!(
                "node {} is {}; register it first",
                label(&n),
                n.provision_state
            )),
            _ => self.in_progress_long(),
        }
    }

    // ------------------------------------------------------------------- adopt

    async fn do_adopt(&self, h: &HostRef<'_>, restart: bool) -> Outcome {
        let n = match self.node(h).await {
            Ok(n) => n,
            Err(o) => return o,
        };
        let deprovisioning = host_state(h.host) == Some(ProvisioningState::Deprovisioning);
        match n.provision_state.as_str() {
            st::MANAGEABLE if deprovisioning => Outcome::done(),
            st::MANAGEABLE if n.target_provision_state.is_none() => {
                // Ironic needs the deployment's instance_info to take the
                // node over as active (it validates the deploy interface).
                let host = h.host;
                let image = host
                    .status
                    .as_ref()
                    .and_then(|s| s.provisioning.image.as_ref())
                    .filter(|i| !i.url.is_empty());
                let custom = host
                    .status
                    .as_ref()
                    .and_then(|s| s.provisioning.custom_deploy.as_ref())
                    .or(host.spec.custom_deploy.as_ref());
                let target = match (custom, image) {
                    (Some(cd), img) => Some(DeployTarget::Custom {
                        method: &cd.method,
                        image: img,
                    }),
                    (None, Some(img)) => Some(DeployTarget::Image(img)),
                    (None, None) => None,
                };
                let mut ops = Vec::new();
                if let Some(t) = target {
                    let plan = deploy_plan(t, host.spec.boot_mode, deploy_hints(host).as_ref());
                    ops = plan.patch(n.deploy_interface.as_deref());
                }
                if let Some(uid) = host.metadata.uid.as_deref().filter(|u| !u.is_empty()) {
                    if n.instance_uuid.as_deref() != Some(uid) {
                        ops.push(patch_add("/instance_uuid", uid));
                    }
                }
                let n = match self.patch(&n, ops).await {
                    Ok(n) => n,
                    Err(o) => return o,
                };
                tracing::info!(node = %label(&n), "adopting");
                self.set_state(&n, ProvisionTarget::Adopt, self.in_progress_short())
                    .await
            }
            st::ADOPTING => self.in_progress_short(),
            st::ADOPT_FAILED if restart => {
                self.set_state(&n, ProvisionTarget::Adopt, self.in_progress_short())
                    .await
            }
            st::ADOPT_FAILED => Outcome::failed(format!(
                "Host adoption failed: node {}: {}",
                label(&n),
                last_error(&n)
            )),
            st::ACTIVE if n.maintenance && n.fault.is_none() => {
                let _write = self.forget(&n.uuid);
                match self.client.unset_maintenance(&n.uuid).await {
                    Ok(()) => Outcome::done(),
                    Err(e) => api_outcome(label(&n), "clear maintenance", &e),
                }
            }
            st::ENROLL | st::VERIFYING => Outcome::error(format!(
                "node {} is {}; not ready for adoption",
                label(&n),
                n.provision_state
            )),
            _ if n.target_provision_state.is_some() => self.in_progress_short(),
            _ => Outcome::done(),
        }
    }

    // ---------------------------------------------------------- delete/detach

    async fn real_delete(&self, h: &HostRef<'_>, force: bool) -> Outcome {
        let n = match self.find(h).await {
            Ok(Some(n)) => n,
            Ok(None) => return Outcome::done(),
            Err(e) => return Outcome::error(e.to_string()),
        };
        self.power_requests().remove(&n.uuid);
        let _write = self.forget(&n.uuid);
        self.ports_seen().retain(|(u, _)| *u != n.uuid);
        self.driver_info_sent().remove(&n.uuid);
        match n.provision_state.as_str() {
            st::VERIFYING => return self.in_progress_short(),
            st::ENROLL => {}
            st::AVAILABLE | st::MANAGEABLE if n.target_provision_state.is_none() => {}
            st::DEPLOYING
            | st::CLEANING
            | st::INSPECTING
            | st::SERVICING
            | st::DELETING
            | st::ADOPTING
            | st::AVAILABLE
            | st::MANAGEABLE => return self.in_progress_long(),
            st::WAIT_CALLBACK | st::INSPECT_WAIT | st::CLEAN_WAIT | st::SERVICE_WAIT => {
                if !force {
                    return self.in_progress_long();
                }
                let target = if n.provision_state == st::WAIT_CALLBACK
                    && self.client.microversion() < Microversion(1, 110)
                {
                    ProvisionTarget::Deleted
                } else {
                    ProvisionTarget::Abort
                };
                return self.set_state(&n, target, self.in_progress_short()).await;
            }
            _ => {
                if !n.maintenance {
                    if let Err(e) = self
                        .client
                        .set_maintenance(&n.uuid, FORCED_DELETION_REASON)
                        .await
                    {
                        return api_outcome(label(&n), "set maintenance", &e);
                    }
                }
            }
        }
        // Ironic refuses to delete a node bound to an instance.
        if n.instance_uuid.is_some() {
            if let Err(e) = self
                .client
                .update_node(&n.uuid, &[patch_remove("/instance_uuid")])
                .await
            {
                if !e.is_not_found() {
                    return api_outcome(label(&n), "clear instance_uuid", &e);
                }
            }
        }
        let _write = self.forget(&n.uuid);
        match self.client.delete_node(&n.uuid).await {
            Ok(()) => {
                tracing::info!(node = %label(&n), "deleted Ironic node");
                Outcome::done()
            }
            Err(e) if e.is_not_found() => Outcome::done(),
            Err(e) if e.is_conflict() => self.in_progress_short(),
            Err(e) => api_outcome(label(&n), "delete node", &e),
        }
    }

    // ------------------------------------------------------------------- power

    async fn do_power(&self, h: &HostRef<'_>, on: bool, mode: RebootMode) -> Outcome {
        let n = match self.node(h).await {
            Ok(n) => n,
            Err(o) => return o,
        };
        // Ironic refuses power changes while a provision action runs.
        if n.target_provision_state.is_some() || n.target_power_state.is_some() {
            return self.in_progress_short();
        }
        let is_on = match n.power_state.as_deref() {
            Some("power on") => Some(true),
            Some("power off") => Some(false),
            _ => None,
        };
        if is_on == Some(on) {
            self.power_requests().remove(&n.uuid);
            return Outcome::done();
        }
        if let Some(o) = self.maintenance_failure(&n) {
            return o;
        }
        let pending = self
            .power_requests()
            .get(&n.uuid)
            .copied()
            .filter(|r| r.on == on);
        let target = match pending {
            // Ironic may not have picked the request up yet.
            Some(r) if r.since.elapsed() < self.opts.short_poll.min(Duration::from_secs(2)) => {
                return self.in_progress_short()
            }
            Some(r) if r.soft => {
                tracing::info!(node = %label(&n), "soft power off did not finish; powering off hard");
                PowerTarget::Off
            }
            Some(_) => {
                self.power_requests().remove(&n.uuid);
                return Outcome::failed(format!(
                    "node {}: power {} failed: {}",
                    label(&n),
                    if on { "on" } else { "off" },
                    last_error(&n)
                ));
            }
            None if on => PowerTarget::On,
            None if mode == RebootMode::Soft => PowerTarget::SoftOff,
            None => PowerTarget::Off,
        };
        let timeout =
            (target == PowerTarget::SoftOff).then_some(self.opts.soft_power_off_timeout_secs);
        let _write = self.forget(&n.uuid);
        match self.client.set_power_state(&n.uuid, target, timeout).await {
            Ok(()) => {
                self.power_requests().insert(
                    n.uuid.clone(),
                    PowerRequest {
                        on,
                        soft: target == PowerTarget::SoftOff,
                        since: Instant::now(),
                    },
                );
                self.in_progress_short()
            }
            Err(e) if e.is_conflict() => self.in_progress_short(),
            Err(e) => api_outcome(label(&n), target.as_str(), &e),
        }
    }

    async fn do_power_off(&self, h: &HostRef<'_>, mode: RebootMode) -> Outcome {
        if !h.host.spec.power_off_disabled() {
            return self.do_power(h, false, mode).await;
        }
        // disablePowerOff: Ironic refuses power off; a reboot stands in.
        let n = match self.node(h).await {
            Ok(n) => n,
            Err(o) => return o,
        };
        if n.target_provision_state.is_some() || n.target_power_state.is_some() {
            return self.in_progress_short();
        }
        let _write = self.forget(&n.uuid);
        match self
            .client
            .set_power_state(&n.uuid, PowerTarget::Reboot, None)
            .await
        {
            Ok(()) => Outcome::done(),
            Err(e) => api_outcome(label(&n), "rebooting", &e),
        }
    }

    // ---------------------------------------------------------------- capacity

    async fn do_has_capacity(&self, h: &HostRef<'_>) -> Outcome {
        let vm = BmcAddress::parse(&h.host.spec.bmc.address)
            .map(|a| a.driver().virtual_media)
            .unwrap_or(false);
        if vm {
            return Outcome::done().with_data(OutcomeData::Capacity(true));
        }
        let polled: Option<Vec<Node>> = {
            let bulk = self.bulk.lock().await;
            bulk.as_ref()
                .filter(|l| l.sent.elapsed() < self.opts.short_poll)
                .map(|l| l.nodes.values().cloned().collect())
        };
        let nodes = if let Some(nodes) = polled {
            // The polls' list is as fresh as a capacity list would be.
            nodes
        } else {
            // Held across the request so concurrent checks share one list.
            let mut cached = self.busy_nodes.lock().await;
            match cached.as_ref() {
                Some((at, nodes)) if at.elapsed() < self.opts.short_poll => nodes.clone(),
                _ => match self
                    .client
                    .list_nodes(&["uuid", "name", "provision_state", "boot_interface"])
                    .await
                {
                    Ok(n) => {
                        *cached = Some((Instant::now(), n.clone()));
                        n
                    }
                    Err(e) => return Outcome::error(e.to_string()),
                },
            }
        };
        let me = node_name(
            h.host.metadata.namespace_or_default(),
            &h.host.metadata.name,
        );
        let busy = nodes
            .iter()
            .filter(|n| n.name.as_deref() != Some(me.as_str()))
            .filter(|n| {
                matches!(
                    n.provision_state.as_str(),
                    st::CLEANING
                        | st::CLEAN_WAIT
                        | st::INSPECTING
                        | st::INSPECT_WAIT
                        | st::DEPLOYING
                        | st::WAIT_CALLBACK
                        | st::DELETING
                )
            })
            .filter(|n| {
                !n.boot_interface
                    .as_deref()
                    .is_some_and(|b| b.contains("virtual-media"))
            })
            .count();
        Outcome::done().with_data(OutcomeData::Capacity(busy < self.opts.provisioning_limit))
    }

    // ----------------------------------------------------------------- service

    async fn do_service(&self, h: &HostRef<'_>, restart: bool) -> Outcome {
        let not_started = |o: Outcome| o.with_data(OutcomeData::Started(false));
        let n = match self.node(h).await {
            Ok(n) => n,
            Err(o) => return not_started(o),
        };
        match n.provision_state.as_str() {
            st::SERVICING | st::SERVICE_WAIT => not_started(self.in_progress_long()),
            st::SERVICE_FAILED if restart => {
                if n.maintenance {
                    let _write = self.forget(&n.uuid);
                    if let Err(e) = self.client.unset_maintenance(&n.uuid).await {
                        return not_started(api_outcome(label(&n), "clear maintenance", &e));
                    }
                }
                not_started(
                    self.set_state(&n, ProvisionTarget::Abort, self.in_progress_short())
                        .await,
                )
            }
            st::SERVICE_FAILED => not_started(Outcome::failed(format!(
                "node {}: servicing failed: {}",
                label(&n),
                last_error(&n)
            ))),
            _ => {
                let mut settings = match self.changed_firmware_settings(h.host) {
                    Ok(s) => s,
                    Err(o) => return not_started(o),
                };
                // As in preparing: the HFS status is older than a servicing
                // that just ended, Ironic's BIOS record is not.
                if n.provision_state == st::ACTIVE && !settings.is_empty() {
                    match self.client.bios_settings(&n.uuid, false).await {
                        Ok(list) => {
                            settings =
                                steps::not_applied(&settings, &steps::ironic_bios_values(&list))
                        }
                        Err(e) => {
                            return not_started(api_outcome(label(&n), "read BIOS settings", &e))
                        }
                    }
                }
                let updates = match self.resource_spec(h.host, "HostFirmwareComponents") {
                    Ok(s) => s.unwrap_or(Value::Null),
                    Err(o) => return not_started(o),
                };
                let service_steps: Vec<Value> = steps::bios_step(&settings)
                    .into_iter()
                    .chain(steps::firmware_step(&steps::firmware_updates_from_spec(
                        &updates,
                    )))
                    .collect();
                if n.provision_state != st::ACTIVE || service_steps.is_empty() {
                    return not_started(Outcome::done());
                }
                let out = self
                    .set_state(
                        &n,
                        ProvisionTarget::Service { service_steps },
                        self.in_progress_long(),
                    )
                    .await;
                let started = matches!(out.outcome, ActionOutcome::InProgress { .. });
                out.with_data(OutcomeData::Started(started))
            }
        }
    }
}

impl IronicProvisioner {
    /// `GET /v1/nodes/{id}/bios?detail=true`: values and, when Ironic
    /// has them, each setting's rules (same snake_case names as a
    /// FirmwareSchema entry).
    async fn do_firmware_settings(
        &self,
        h: &HostRef<'_>,
    ) -> Result<CurrentFirmwareSettings, String> {
        let n = self.node(h).await.map_err(|o| match o.outcome {
            ActionOutcome::Failed { message } | ActionOutcome::Error { message, .. } => message,
            other => format!("{other:?}"),
        })?;
        let list = self
            .client
            .bios_settings(&n.uuid, true)
            .await
            .map_err(|e| e.to_string())?;
        let mut schema = std::collections::BTreeMap::new();
        for item in &list {
            let Some(name) = item.get("name").and_then(Value::as_str) else {
                continue;
            };
            if let Ok(rule) = serde_json::from_value::<SettingSchema>(item.clone()) {
                if rule.attribute_type.is_some() {
                    schema.insert(name.to_string(), rule);
                }
            }
        }
        Ok(CurrentFirmwareSettings {
            settings: steps::ironic_bios_values(&list),
            schema: (!schema.is_empty()).then_some(schema),
        })
    }
}

impl Provisioner for IronicProvisioner {
    fn firmware_settings<'a>(
        &'a self,
        host: &'a HostRef<'a>,
    ) -> BoxFuture<'a, Result<CurrentFirmwareSettings, String>> {
        Box::pin(self.do_firmware_settings(host))
    }

    fn register<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        credentials_changed: bool,
        restart_on_failure: bool,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_register(host, credentials_changed, restart_on_failure))
    }

    fn inspect<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        restart: bool,
        refresh: bool,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_inspect(host, restart, refresh))
    }

    fn prepare<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        data: &'a PrepareData,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_prepare(host, data))
    }

    fn service<'a>(&'a self, host: &'a HostRef<'a>, restart: bool) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_service(host, restart))
    }

    fn provision<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        force_reboot: bool,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_provision(host, force_reboot))
    }

    fn deprovision<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        restart: bool,
        cleaning_mode: AutomatedCleaningMode,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_deprovision(host, restart, cleaning_mode))
    }

    fn adopt<'a>(&'a self, host: &'a HostRef<'a>, restart: bool) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_adopt(host, restart))
    }

    fn power_on<'a>(&'a self, host: &'a HostRef<'a>, _force: bool) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_power(host, true, RebootMode::Hard))
    }

    fn power_off<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        mode: RebootMode,
        _force: bool,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_power_off(host, mode))
    }

    fn detach<'a>(&'a self, host: &'a HostRef<'a>, force: bool) -> BoxFuture<'a, Outcome> {
        Box::pin(self.real_delete(host, force))
    }

    fn delete<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(self.real_delete(host, false))
    }

    fn has_capacity<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(self.do_has_capacity(host))
    }

    fn update_hardware_state<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match self.find(host).await {
                Ok(Some(n)) => Outcome::done().with_data(OutcomeData::PowerState(
                    match n.power_state.as_deref() {
                        Some("power on") => Some(true),
                        Some("power off") => Some(false),
                        _ => None,
                    },
                )),
                Ok(None) => Outcome::done().with_data(OutcomeData::PowerState(None)),
                Err(e) => Outcome::error(e.to_string()),
            }
        })
    }
}
