//! The reconcile engine: drives every BareMetalHost in a [`Store`] through
//! the `metal3-hostmodel` state machine with a [`Provisioner`].
//!
//! One pass ([`Engine::reconcile_once`]) reads the host, its BMC Secret and
//! HardwareData, calls `decide` and runs the provisioner action it asks for
//! until the step is final, then applies the step to the store. Long
//! operations never hold a worker: the provisioner answers "in progress"
//! and the host is put back in the work queue with a due time.
//!
//! Events are kept in the store as `Event` objects (Kubernetes `core/v1`
//! shape, `involvedObject` = the host instance) so `describe` can list them
//! with [`host_events`]: the state machine's own plus those
//! [`crate::events::transition_events`] derives from the status change. They
//! are bounded per host and removed with the host (see [`crate::events`]).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use metal3_bmc::Credentials;
use metal3_hostmodel::annotations::{self, HARDWARE_DATA_FINALIZER, SECRET_FINALIZER};
use metal3_hostmodel::other::HostFirmwareSettings;
use metal3_hostmodel::state::{
    decide, ActionOutcome, Context, CredentialsOutcome, Performed, ProvisionerAction, Requeue, Step,
};
use metal3_hostmodel::{
    BareMetalHost, HardwareDetails, OperationalStatus, ProvisioningState, Secret, Time,
};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::provisioner::{perform, HostRef, Provisioner};
use crate::store::{DeleteOutcome, ObjectKey, Store, StoreError, StoreExt, Subresource};

/// Default `PROVISIONING_LIMIT`: hosts (de)provisioning or inspecting at once.
pub const DEFAULT_PROVISIONING_LIMIT: usize = 20;
/// Kind of the stored host events.
pub const EVENT_KIND: &str = crate::events::EVENT_KIND;
/// Kind of the hosts.
pub const HOST_KIND: &str = "BareMetalHost";
/// Kind of the hosts' BIOS settings (same name as the host).
const HFS_KIND: &str = "HostFirmwareSettings";
/// Change-feed events read at once: a watcher far behind (10 000 hosts
/// written at start-up) holds at most this many changed objects.
const WATCH_BATCH: usize = 256;
/// Most provisioner calls in one pass before it is cut short (a guard
/// against a state machine/provisioner disagreement looping forever).
const MAX_ACTIONS_PER_PASS: usize = 32;

/// `BMO_CONCURRENCY` if set to a positive number, else the CPU count
/// clamped to 2..=8 (reference §8).
pub fn default_concurrency() -> usize {
    std::env::var("BMO_CONCURRENCY")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(2, 8)
        })
}

/// `PROVISIONING_LIMIT` if set to a positive number, else 20.
pub fn default_provisioning_limit() -> usize {
    std::env::var("PROVISIONING_LIMIT")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PROVISIONING_LIMIT)
}

/// Settings of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Hosts reconciled at once (workers).
    pub concurrency: usize,
    /// Hosts allowed in inspecting/provisioning/deprovisioning at once;
    /// over it a host waits with `operationalStatus: delayed`.
    pub provisioning_limit: usize,
    /// `--max-provisioning-retries` (0 = unlimited).
    pub max_provisioning_retries: u32,
    /// Only hosts of this namespace (None = all).
    pub namespace: Option<String>,
    /// First retry delay after a transient error (doubles up to `error_retry_max`).
    pub error_retry_base: Duration,
    /// Longest retry delay after transient errors.
    pub error_retry_max: Duration,
    /// Events kept per host (the newest; see [`crate::events`]).
    pub events_per_host: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            concurrency: default_concurrency(),
            provisioning_limit: default_provisioning_limit(),
            max_provisioning_retries: metal3_hostmodel::state::DEFAULT_MAX_PROVISIONING_RETRIES,
            namespace: None,
            error_retry_base: Duration::from_secs(1),
            error_retry_max: Duration::from_secs(60),
            events_per_host: crate::events::DEFAULT_EVENTS_PER_HOST,
        }
    }
}

/// What went wrong in the engine itself (not on a host).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// [`Engine::run_hosts_until_settled`] ran out of time.
    #[error("timed out after {}s waiting for hosts to settle: {}", after.as_secs(), unsettled.join(", "))]
    Timeout {
        /// How long it waited.
        after: Duration,
        /// `namespace/name (state)` of the hosts still busy.
        unsettled: Vec<String>,
    },
}

/// Result of one reconcile pass.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileResult {
    /// When to reconcile again (None = only on a change).
    pub requeue_after: Option<Duration>,
    /// A transient error of this pass (retried with backoff).
    pub transient_error: Option<String>,
    /// Provisioning state after the pass (None = the host is gone).
    pub state: Option<ProvisioningState>,
    /// The provisioner calls made in this pass.
    pub performed: Vec<Performed>,
}

/// One recorded host event, as [`host_events`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEvent {
    /// When it last happened (RFC 3339).
    pub time: String,
    /// `Normal` or `Warning`.
    pub type_: String,
    /// CamelCase reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// How many times it happened in a row.
    pub count: u64,
}

/// The events recorded for the host `namespace/name` as it exists now,
/// oldest first (none for a host that is gone; a re-created host of the
/// same name does not inherit the old one's events).
pub fn host_events(
    store: &dyn Store,
    namespace: &str,
    name: &str,
) -> Result<Vec<HostEvent>, StoreError> {
    Ok(crate::events::host_events(store, namespace, name)?
        .into_iter()
        .map(|e| HostEvent {
            time: e.last_time,
            type_: e.type_,
            reason: e.reason,
            message: e.message,
            count: e.count,
        })
        .collect())
}

/// Whether a host needs no more work from a one-shot command: gone, in an
/// error/detached state, or in a steady state with power as wanted and no
/// pending request annotation.
pub fn host_settled(host: &BareMetalHost) -> bool {
    if host.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let Some(st) = host.status.as_ref() else {
        return false;
    };
    let a = &host.metadata.annotations;
    if annotations::is_paused(a) {
        return true;
    }
    match st.operational_status {
        OperationalStatus::Error | OperationalStatus::Detached => return true,
        OperationalStatus::Delayed | OperationalStatus::Servicing => return false,
        _ => {}
    }
    if a.keys().any(|k| annotations::is_reboot(k))
        || a.contains_key(annotations::HARDWARE_DETAILS)
        || annotations::inspection_refresh_requested(a)
    {
        return false;
    }
    match st.provisioning.state {
        ProvisioningState::Unmanaged => true,
        ProvisioningState::Available
        | ProvisioningState::Ready
        | ProvisioningState::Provisioned
        | ProvisioningState::ExternallyProvisioned => {
            host.spec.power_off_disabled() || st.powered_on == host.spec.online
        }
        _ => false,
    }
}

/// The part of a host the capacity and delayed-host scans read.
#[derive(serde::Deserialize)]
struct SlimHost {
    #[serde(default)]
    status: Option<SlimStatus>,
}

/// `status.operationalStatus` and `status.provisioning.state` only.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SlimStatus {
    #[serde(default)]
    operational_status: OperationalStatus,
    #[serde(default)]
    provisioning: SlimProvisioning,
}

#[derive(serde::Deserialize, Default)]
struct SlimProvisioning {
    #[serde(default)]
    state: ProvisioningState,
}

/// `spec.bmc.credentialsName` only: what a Secret change needs to find the
/// hosts using it without decoding every host whole.
#[derive(serde::Deserialize, Default)]
struct SlimCredentialsRef {
    #[serde(default)]
    spec: SlimSpec,
}

#[derive(serde::Deserialize, Default)]
struct SlimSpec {
    #[serde(default)]
    bmc: SlimBmc,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SlimBmc {
    #[serde(default)]
    credentials_name: String,
}

#[derive(Default)]
struct Queue {
    /// Hosts waiting, with the time they are due.
    due: HashMap<ObjectKey, Instant>,
    /// Hosts being reconciled now.
    running: HashSet<ObjectKey>,
    /// Consecutive transient errors per host (backoff).
    errors: HashMap<ObjectKey, u32>,
    /// Finished passes per host (one-shot runs wait for a fresh pass).
    passes: HashMap<ObjectKey, u64>,
    /// Revisions the engine wrote itself: their change events are not
    /// re-queued, so the step's own requeue decides the next pass.
    own_writes: HashSet<u64>,
    /// Hosts whose firmware settings could not be read, and when to try
    /// again (a BMC without BIOS settings is not asked on every pass).
    firmware_retry: HashMap<ObjectKey, Instant>,
}

/// How long after a failed firmware-settings read the engine asks again
/// (unless the settings spec changes or preparing ends).
const FIRMWARE_RETRY: Duration = Duration::from_secs(600);

struct Inner {
    store: Arc<dyn Store>,
    provisioner: Arc<dyn Provisioner>,
    opts: EngineOptions,
    queue: Mutex<Queue>,
    wake: tokio::sync::Notify,
    /// See [`Inner::writing`].
    write_gate: std::sync::RwLock<()>,
    /// Hosts let past the capacity check whose busy state the store does
    /// not show yet: counted against the limit so that workers checking at
    /// the same moment cannot let more hosts in than it allows.
    admitted: Mutex<HashSet<ObjectKey>>,
}

/// A host's place among [`Inner::admitted`], given up when its pass ends
/// (by then the store shows the busy state, or the host did not enter it).
struct Admission<'a> {
    admitted: &'a Mutex<HashSet<ObjectKey>>,
    key: ObjectKey,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        lock(self.admitted).remove(&self.key);
    }
}

/// The host reconcile engine. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (r >> 11) as f64 / (1u64 << 53) as f64
}

fn rv_of(v: &Value) -> Option<u64> {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

fn invalid(key: &ObjectKey, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        key: key.clone(),
        reason: reason.into(),
    }
}

fn meta_array<'v>(
    obj: &'v mut Value,
    field: &str,
    key: &ObjectKey,
) -> Result<&'v mut Vec<Value>, StoreError> {
    let meta = obj
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| invalid(key, "no metadata"))?;
    let arr = meta.entry(field).or_insert_with(|| json!([]));
    if !arr.is_array() {
        *arr = json!([]);
    }
    arr.as_array_mut()
        .ok_or_else(|| invalid(key, "bad metadata array"))
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(f)))
}

fn owner_ref(host: &BareMetalHost) -> Value {
    json!({
        "apiVersion": metal3_hostmodel::API_VERSION,
        "kind": HOST_KIND,
        "name": host.metadata.name,
        "uid": host.metadata.uid.clone().unwrap_or_default(),
    })
}

impl Engine {
    /// An engine over `store` using `provisioner`.
    pub fn new(
        store: Arc<dyn Store>,
        provisioner: Arc<dyn Provisioner>,
        options: EngineOptions,
    ) -> Self {
        Engine {
            inner: Arc::new(Inner {
                store,
                provisioner,
                opts: options,
                queue: Mutex::new(Queue::default()),
                wake: tokio::sync::Notify::new(),
                write_gate: std::sync::RwLock::new(()),
                admitted: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// The store the engine works on.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// One full reconcile pass of one host (decide loop + applying the step).
    /// A missing host is not an error: the result has `state: None`.
    pub async fn reconcile_once(&self, key: &ObjectKey) -> Result<ReconcileResult, EngineError> {
        self.inner.reconcile(key).await
    }

    /// Controller mode: reconciles every host (of the namespace, if set),
    /// following the store's change feed, until `stop` resolves.
    pub async fn run_until<F: Future<Output = ()>>(&self, stop: F) -> Result<(), EngineError> {
        // Events of hosts removed while no engine ran.
        let store = self.inner.store.as_ref();
        match crate::events::sweep_orphans(store, self.inner.opts.namespace.as_deref()) {
            Ok(r) if r.deleted > 0 || r.labelled > 0 => tracing::info!(
                deleted = r.deleted,
                labelled = r.labelled,
                "events of removed hosts deleted"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot sweep the events of removed hosts: {e}"),
        }
        // And what they owned (firmware settings and components, policies).
        match crate::owners::sweep(store, self.inner.opts.namespace.as_deref()) {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(deleted = gone.len(), "objects of removed hosts deleted")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot sweep the objects of removed hosts: {e}"),
        }
        let keys = self.host_keys()?;
        self.run(None, keys, stop).await
    }

    /// One-shot mode: reconciles `keys` until every one is settled
    /// ([`host_settled`]) or gone; [`EngineError::Timeout`] after `timeout`.
    pub async fn run_hosts_until_settled(
        &self,
        keys: &[ObjectKey],
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let only: HashSet<ObjectKey> = keys.iter().cloned().collect();
        let store = self.inner.store.clone();
        let check_keys = keys.to_vec();
        let inner = self.inner.clone();
        let start_passes: HashMap<ObjectKey, u64> = {
            let q = lock(&self.inner.queue);
            keys.iter()
                .map(|k| (k.clone(), q.passes.get(k).copied().unwrap_or(0)))
                .collect()
        };
        // Busy = not yet reconciled in this run, being reconciled, or due
        // again within a second (an operation in progress).
        let busy = move |k: &ObjectKey| {
            let q = lock(&inner.queue);
            let soon = Instant::now() + Duration::from_secs(1);
            q.passes.get(k).copied().unwrap_or(0) <= start_passes.get(k).copied().unwrap_or(0)
                || q.running.contains(k)
                || q.due.get(k).is_some_and(|at| *at <= soon)
        };
        let unsettled = move || -> Result<Vec<String>, StoreError> {
            let mut out = Vec::new();
            for k in &check_keys {
                match store.get_as::<BareMetalHost>(k) {
                    Ok(h) if host_settled(&h) && !busy(k) => {}
                    Ok(h) => out.push(format!(
                        "{}/{} ({})",
                        k.namespace,
                        k.name,
                        h.status
                            .map(|s| s.provisioning.state.as_str().to_string())
                            .unwrap_or_default()
                    )),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        };
        let start = Instant::now();
        let result: Arc<Mutex<Result<(), EngineError>>> = Arc::new(Mutex::new(Ok(())));
        let result2 = result.clone();
        let stop = async move {
            loop {
                match unsettled() {
                    Ok(v) if v.is_empty() => return,
                    Ok(v) if start.elapsed() >= timeout => {
                        *lock(&result2) = Err(EngineError::Timeout {
                            after: timeout,
                            unsettled: v,
                        });
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        *lock(&result2) = Err(e.into());
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        self.run(Some(only), keys.to_vec(), stop).await?;
        let out = std::mem::replace(&mut *lock(&result), Ok(()));
        out
    }

    fn host_keys(&self) -> Result<Vec<ObjectKey>, EngineError> {
        // Keys only: decoding every host into a JSON tree here cost ~100 MiB
        // of heap (never returned to the OS) with 10 000 hosts.
        let mut keys = Vec::new();
        self.inner.store.list_with(
            HOST_KIND,
            self.inner.opts.namespace.as_deref(),
            None,
            &mut |raw| {
                keys.push(raw.key());
                Ok(())
            },
        )?;
        Ok(keys)
    }

    /// Puts `key` in the queue, due now.
    pub fn enqueue(&self, key: ObjectKey) {
        self.inner.schedule(key, Duration::ZERO);
    }

    async fn run<F: Future<Output = ()>>(
        &self,
        only: Option<HashSet<ObjectKey>>,
        initial: Vec<ObjectKey>,
        stop: F,
    ) -> Result<(), EngineError> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let revision = self.inner.store.revision()?;
        for k in initial {
            self.enqueue(k);
        }
        let mut tasks = Vec::new();
        for _ in 0..self.inner.opts.concurrency.max(1) {
            let inner = self.inner.clone();
            let rx = stop_rx.clone();
            tasks.push(tokio::spawn(async move { inner.worker(rx).await }));
        }
        let watcher = {
            let inner = self.inner.clone();
            let rx = stop_rx.clone();
            tokio::spawn(async move { inner.watch(revision, only, rx).await })
        };
        stop.await;
        let _ = stop_tx.send(true);
        self.inner.wake.notify_waiters();
        for t in tasks {
            let _ = t.await;
        }
        match watcher.await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Holders never leave the queue half-updated, so poisoned data is usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn schedule(&self, key: ObjectKey, after: Duration) {
        let at = Instant::now() + after;
        {
            let mut q = lock(&self.queue);
            let e = q.due.entry(key).or_insert(at);
            if at < *e {
                *e = at;
            }
        }
        self.wake.notify_waiters();
    }

    /// Held while the engine writes an object and notes the write's
    /// revision in `own_writes`; the watcher takes it exclusively while it
    /// reads the change feed, so every engine write it reads is already
    /// noted. (Without it a Secret update of the engine, read before being
    /// noted, looked like a user's change and made the watcher scan every
    /// host for its users: with 10 000 hosts, seconds of CPU and a spike of
    /// the whole store file mapped in.)
    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.write_gate.read().unwrap_or_else(|p| p.into_inner())
    }

    fn note_write(&self, v: &Value) {
        if let Some(rv) = rv_of(v) {
            let mut q = lock(&self.queue);
            // Bounded: entries are removed when their event is seen.
            if q.own_writes.len() > 10_000 {
                q.own_writes.clear();
            }
            q.own_writes.insert(rv);
        }
    }

    /// The host due longest ago that is not being reconciled, or the
    /// earliest due time. Longest-due first: taking any due host (the first
    /// in hash order) starved some hosts for minutes while others, failing
    /// and retried after a short backoff, kept being picked.
    fn take(&self) -> Result<ObjectKey, Option<Instant>> {
        let mut q = lock(&self.queue);
        let now = Instant::now();
        let mut earliest: Option<(Instant, &ObjectKey)> = None;
        for (k, at) in &q.due {
            if q.running.contains(k) {
                continue;
            }
            if earliest.is_none_or(|(e, _)| *at < e) {
                earliest = Some((*at, k));
            }
        }
        let k = match earliest {
            Some((at, k)) if at <= now => k.clone(),
            Some((at, _)) => return Err(Some(at)),
            None => return Err(None),
        };
        q.due.remove(&k);
        q.running.insert(k.clone());
        Ok(k)
    }

    async fn worker(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.take() {
                Ok(key) => {
                    let r = self.reconcile(&key).await;
                    self.finish(&key, r);
                }
                Err(until) => {
                    let sleep = tokio::time::sleep_until(
                        until.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
                    );
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = sleep => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }

    fn finish(&self, key: &ObjectKey, r: Result<ReconcileResult, EngineError>) {
        let next = {
            let mut q = lock(&self.queue);
            q.running.remove(key);
            if matches!(&r, Ok(res) if res.state.is_none()) {
                // Gone: nothing to keep about it (one-shot runs skip hosts
                // that are gone before looking at their passes).
                q.passes.remove(key);
                q.errors.remove(key);
                drop(q);
                self.wake.notify_waiters();
                return;
            }
            *q.passes.entry(key.clone()).or_insert(0) += 1;
            let failed = match &r {
                Ok(res) => res.transient_error.clone(),
                Err(e) => Some(e.to_string()),
            };
            match failed {
                Some(message) => {
                    let n = q.errors.entry(key.clone()).or_insert(0);
                    *n = n.saturating_add(1);
                    let delay = self
                        .opts
                        .error_retry_base
                        .saturating_mul(1u32 << (*n - 1).min(16))
                        .min(self.opts.error_retry_max);
                    tracing::warn!(host = %key, retry_in = ?delay, "reconcile error: {message}");
                    Some(delay)
                }
                None => {
                    q.errors.remove(key);
                    r.ok().and_then(|res| res.requeue_after)
                }
            }
        };
        match next {
            Some(d) => self.schedule(key.clone(), d),
            // A change seen while running was queued already; wake a worker for it.
            None => self.wake.notify_waiters(),
        }
    }

    async fn watch(
        self: Arc<Self>,
        mut revision: u64,
        only: Option<HashSet<ObjectKey>>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), EngineError> {
        let wanted = |k: &ObjectKey| {
            only.as_ref().is_none_or(|o| o.contains(k))
                && self
                    .opts
                    .namespace
                    .as_deref()
                    .is_none_or(|n| n == k.namespace)
        };
        // A full batch means more may be waiting: read on without waiting.
        let mut behind = false;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if !behind {
                tokio::select! {
                    r = self.store.wait_for_change(revision) => {
                        if let Err(e) = r {
                            // Keep the controller alive through store hiccups;
                            // the queued due times still drive the workers.
                            tracing::warn!("waiting for store changes: {e}; retrying in 1s");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    }
                    _ = stop.changed() => return Ok(()),
                }
            }
            let batch = {
                let _gate = self.write_gate.write().unwrap_or_else(|p| p.into_inner());
                self.store.watch_limited(revision, WATCH_BATCH)
            };
            let events = match batch {
                Ok(e) => e,
                Err(StoreError::Expired { .. }) => {
                    // Missed changes: look at every host again (keys only).
                    let mut keys = Vec::new();
                    revision = self.store.list_with(
                        HOST_KIND,
                        self.opts.namespace.as_deref(),
                        None,
                        &mut |raw| {
                            keys.push(raw.key());
                            Ok(())
                        },
                    )?;
                    lock(&self.queue).own_writes.clear();
                    for k in keys.into_iter().filter(|k| wanted(k)) {
                        self.schedule(k, Duration::ZERO);
                    }
                    behind = false;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            behind = events.len() >= WATCH_BATCH;
            let mut secrets: HashSet<(String, String)> = HashSet::new();
            for ev in events {
                revision = revision.max(ev.revision);
                if lock(&self.queue).own_writes.remove(&ev.revision) {
                    continue;
                }
                let deleted = ev.event_type == crate::store::EventType::Deleted;
                let host = match ev.key.kind.as_str() {
                    HOST_KIND if deleted => {
                        // Removed by someone else (the engine deletes the
                        // events of the hosts it removes itself).
                        self.forget_host(&ev.key, &ev.object);
                        None
                    }
                    HOST_KIND => Some(ev.key.clone()),
                    "HardwareData" | HFS_KIND => {
                        Some(ObjectKey::new(HOST_KIND, &ev.key.namespace, &ev.key.name))
                    }
                    "Secret" => {
                        secrets.insert((ev.key.namespace.clone(), ev.key.name.clone()));
                        None
                    }
                    _ => None,
                };
                if let Some(k) = host.filter(|k| wanted(k)) {
                    self.schedule(k, Duration::ZERO);
                }
            }
            if !secrets.is_empty() {
                // One scan for all the Secrets of the batch, decoding only
                // each host's credentialsName.
                let namespace = match secrets.iter().next() {
                    Some((ns, _)) if secrets.iter().all(|(n, _)| n == ns) => Some(ns.clone()),
                    _ => None,
                };
                let mut users = Vec::new();
                self.store
                    .list_with(HOST_KIND, namespace.as_deref(), None, &mut |raw| {
                        let slim: SlimCredentialsRef =
                            serde_json::from_str(raw.json).map_err(|e| StoreError::Decode {
                                key: raw.key(),
                                reason: e.to_string(),
                            })?;
                        if secrets
                            .contains(&(raw.namespace.to_string(), slim.spec.bmc.credentials_name))
                        {
                            users.push(raw.key());
                        }
                        Ok(())
                    })?;
                for k in users.into_iter().filter(|k| wanted(k)) {
                    self.schedule(k, Duration::ZERO);
                }
            }
        }
    }

    /// Drops what the engine keeps about a host removed by someone else,
    /// and its events.
    fn forget_host(&self, key: &ObjectKey, last: &Value) {
        {
            let mut q = lock(&self.queue);
            q.errors.remove(key);
            q.passes.remove(key);
        }
        let uid = last
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !uid.is_empty() {
            if let Err(e) =
                crate::events::delete_host_events(self.store.as_ref(), &key.namespace, uid)
            {
                tracing::warn!(host = %key, "cannot delete the events of a removed host: {e}");
            }
            if let Err(e) =
                crate::owners::collect(self.store.as_ref(), &key.namespace, &key.name, uid)
            {
                tracing::warn!(host = %key, "cannot delete the objects of a removed host: {e}");
            }
        }
    }

    /// Loads the credentials check and, when valid, the credentials.
    fn credentials(
        &self,
        host: &BareMetalHost,
    ) -> Result<(CredentialsOutcome, Option<Credentials>), StoreError> {
        let ns = host.metadata.namespace_or_default();
        let name = &host.spec.bmc.credentials_name;
        let secret: Option<Secret> = if name.is_empty() {
            None
        } else {
            match self
                .store
                .get_as::<Secret>(&ObjectKey::new("Secret", ns, name))
            {
                Ok(s) => Some(s),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            }
        };
        let outcome = CredentialsOutcome::evaluate(host, secret.as_ref());
        let creds = match (&outcome, &secret) {
            (CredentialsOutcome::Valid { .. }, Some(s)) => {
                let get = |k: &str| s.get_string(k).ok().flatten().unwrap_or_default();
                Some(Credentials::new(get("username"), get("password")))
            }
            _ => None,
        };
        Ok((outcome, creds))
    }

    fn hardware_data(&self, key: &ObjectKey) -> Result<Option<HardwareDetails>, StoreError> {
        let hd_key = ObjectKey::new("HardwareData", &key.namespace, &key.name);
        match self.store.get(&hd_key) {
            Ok(v) => Ok(v
                .pointer("/spec/hardware")
                .cloned()
                .and_then(|h| serde_json::from_value(h).ok())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The capacity check: whether `key` may be in a busy state
    /// (inspecting, provisioning, deprovisioning). Counted against the
    /// limit: the other hosts the store shows busy, and those admitted by a
    /// pass that has not written their state yet. A delayed host holds no
    /// slot even in a busy state (a race let it in, the next pass sent it
    /// back): counting it let a few such hosts keep each other delayed
    /// forever. One check at a time, so the count and the admission are one
    /// step; an admitted host holds its place until its pass ends.
    fn admit(&self, key: &ObjectKey) -> Result<Option<Admission<'_>>, StoreError> {
        let mut admitted = lock(&self.admitted);
        let (mut busy, mut busy_and_admitted) = (0, 0);
        self.visit_host_states(None, &mut |k, st| {
            if k != *key
                && st.operational_status != OperationalStatus::Delayed
                && matches!(
                    st.provisioning.state,
                    ProvisioningState::Inspecting
                        | ProvisioningState::Provisioning
                        | ProvisioningState::Deprovisioning
                )
            {
                busy += 1;
                if admitted.contains(&k) {
                    busy_and_admitted += 1;
                }
            }
        })?;
        let pending = admitted.iter().filter(|k| *k != key).count() - busy_and_admitted;
        if busy + pending >= self.opts.provisioning_limit {
            return Ok(None);
        }
        admitted.insert(key.clone());
        Ok(Some(Admission {
            admitted: &self.admitted,
            key: key.clone(),
        }))
    }

    async fn reconcile(&self, key: &ObjectKey) -> Result<ReconcileResult, EngineError> {
        let host: BareMetalHost = match self.store.get_as(key) {
            Ok(h) => h,
            Err(e) if e.is_not_found() => {
                return Ok(ReconcileResult {
                    requeue_after: None,
                    transient_error: None,
                    state: None,
                    performed: Vec::new(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let (cred_outcome, creds) = self.credentials(&host)?;
        let mut ctx = Context::new(Time::now(), random_unit(), cred_outcome);
        ctx.hardware_data = self.hardware_data(key)?;
        ctx.max_provisioning_retries = self.opts.max_provisioning_retries;
        let href = HostRef::new(&host, creds);
        if let Some(hfs) = self.firmware_settings(key, &host, &href, false).await? {
            ctx.firmware_settings_pending =
                metal3_hostmodel::state::firmware_settings_pending(&hfs);
            ctx.firmware_settings_changes = metal3_hostmodel::state::changed_settings(&hfs);
        }
        let mut step = decide(&host, &ctx);
        let mut _slot = None;
        while step.action != ProvisionerAction::None {
            if ctx.outcomes.len() >= MAX_ACTIONS_PER_PASS {
                step.transient_error = Some(format!(
                    "more than {MAX_ACTIONS_PER_PASS} provisioner calls in one pass (last asked: {:?})",
                    step.action
                ));
                break;
            }
            let performed = if step.action == ProvisionerAction::HasCapacity {
                match self.admit(key)? {
                    None => Performed::capacity(false),
                    Some(slot) => {
                        _slot = Some(slot);
                        perform(self.inner_provisioner(), &href, &step.action).await
                    }
                }
            } else {
                perform(self.inner_provisioner(), &href, &step.action).await
            };
            tracing::debug!(host = %key, action = ?performed.action, outcome = ?performed.outcome, "provisioner call");
            if let ActionOutcome::Failed { message } | ActionOutcome::Error { message, .. } =
                &performed.outcome
            {
                tracing::info!(host = %key, action = ?performed.action, "{message}");
            }
            ctx.outcomes.push(performed);
            step = decide(&host, &ctx);
        }
        if step.action != ProvisionerAction::None {
            // Cut short: apply nothing, retry later.
            return Ok(ReconcileResult {
                requeue_after: None,
                transient_error: step.transient_error,
                state: host.status.as_ref().map(|s| s.provisioning.state),
                performed: ctx.outcomes,
            });
        }
        let gone = self.apply(key, &host, &step)?;
        let busy = |s: Option<ProvisioningState>| {
            matches!(
                s,
                Some(
                    ProvisioningState::Inspecting
                        | ProvisioningState::Provisioning
                        | ProvisioningState::Deprovisioning
                )
            )
        };
        let before = host.status.as_ref().map(|s| s.provisioning.state);
        let after = (!gone).then_some(step.status.provisioning.state);
        if before == Some(ProvisioningState::Preparing) && after != before && !gone {
            // Preparing wrote the settings: show what the firmware has now.
            self.firmware_settings(key, &host, &href, true).await?;
        }
        if busy(before) && !busy(after) {
            // A slot was freed: retry delayed hosts now rather than after
            // their backoff.
            self.wake_delayed()?;
        }
        Ok(ReconcileResult {
            requeue_after: match step.requeue {
                Requeue::After(d) => Some(d),
                Requeue::Immediately => Some(Duration::ZERO),
                Requeue::Never => None,
            },
            transient_error: step.transient_error.clone(),
            state: if gone {
                None
            } else {
                Some(step.status.provisioning.state)
            },
            performed: ctx.outcomes,
        })
    }

    /// The host's HostFirmwareSettings, its status first brought up to date
    /// from the firmware when it was never read for the current spec (or
    /// `force`), for registered hosts in a state where the settings matter.
    /// A failed read is logged and leaves the status as it was.
    async fn firmware_settings(
        &self,
        key: &ObjectKey,
        host: &BareMetalHost,
        href: &HostRef<'_>,
        force: bool,
    ) -> Result<Option<HostFirmwareSettings>, StoreError> {
        let Some(st) = host.status.as_ref() else {
            return Ok(None);
        };
        let registered = st.good_credentials.is_some()
            && host.metadata.deletion_timestamp.is_none()
            && matches!(
                st.provisioning.state,
                ProvisioningState::Preparing
                    | ProvisioningState::Available
                    | ProvisioningState::Ready
                    | ProvisioningState::Provisioned
                    | ProvisioningState::ExternallyProvisioned
            );
        if !registered {
            return Ok(None);
        }
        let hfs_key = ObjectKey::new(HFS_KIND, &key.namespace, &key.name);
        let hfs: HostFirmwareSettings = match self.store.get_as(&hfs_key) {
            Ok(h) => h,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        if !force && metal3_hostmodel::state::firmware_settings_observed(&hfs) {
            return Ok(Some(hfs));
        }
        // The generation the failed read was for: a spec edit retries at once.
        let retry_key = ObjectKey::new(
            HFS_KIND,
            &key.namespace,
            &format!("{}@{}", key.name, hfs.metadata.generation.unwrap_or(0)),
        );
        if !force
            && lock(&self.queue)
                .firmware_retry
                .get(&retry_key)
                .is_some_and(|at| *at > Instant::now())
        {
            return Ok(Some(hfs));
        }
        let current = match self.provisioner.firmware_settings(href).await {
            Ok(c) => {
                lock(&self.queue).firmware_retry.remove(&retry_key);
                c
            }
            Err(e) => {
                tracing::info!(host = %key, "cannot read firmware settings: {e}");
                let mut q = lock(&self.queue);
                // Bounded like own_writes: entries of gone hosts age out.
                if q.firmware_retry.len() > 10_000 {
                    let now = Instant::now();
                    q.firmware_retry.retain(|_, at| *at > now);
                }
                q.firmware_retry
                    .insert(retry_key, Instant::now() + FIRMWARE_RETRY);
                return Ok(Some(hfs));
            }
        };
        let status =
            metal3_hostmodel::state::firmware_settings_status(&hfs, &current, &Time::now());
        if let (Some(rules), Some(reference)) = (&current.schema, &status.schema) {
            self.ensure_firmware_schema(&hfs, host, &reference.name, rules)?;
        }
        if hfs.status.as_ref() == Some(&status) {
            return Ok(Some(hfs));
        }
        let encoded = serde_json::to_value(&status)
            .map_err(|e| invalid(&hfs_key, format!("cannot encode status: {e}")))?;
        let _gate = self.writing();
        let v = crate::store::update_with_retry(
            self.store.as_ref(),
            &hfs_key,
            Subresource::Status,
            |o| {
                if let Some(m) = o.as_object_mut() {
                    m.insert("status".into(), encoded.clone());
                }
                Ok(())
            },
        );
        match v {
            Ok(v) => {
                self.note_write(&v);
                Ok(Some(crate::store::decode(&hfs_key, v)?))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn wake_delayed(&self) -> Result<(), StoreError> {
        let mut delayed = Vec::new();
        self.visit_host_states(self.opts.namespace.as_deref(), &mut |key, st| {
            if st.operational_status == OperationalStatus::Delayed {
                delayed.push(key);
            }
        })?;
        for k in delayed {
            self.schedule(k, Duration::ZERO);
        }
        Ok(())
    }

    /// Each host's key with only its state fields decoded: these scans run
    /// on many passes, and decoding whole hosts (inventory included) there
    /// dominated the controller's memory and CPU with thousands of hosts.
    fn visit_host_states(
        &self,
        namespace: Option<&str>,
        f: &mut dyn FnMut(ObjectKey, &SlimStatus),
    ) -> Result<(), StoreError> {
        self.store
            .list_with(HOST_KIND, namespace, None, &mut |raw| {
                let slim: SlimHost =
                    serde_json::from_str(raw.json).map_err(|e| StoreError::Decode {
                        key: raw.key(),
                        reason: e.to_string(),
                    })?;
                f(raw.key(), &slim.status.unwrap_or_default());
                Ok(())
            })?;
        Ok(())
    }

    fn inner_provisioner(&self) -> &dyn Provisioner {
        self.provisioner.as_ref()
    }

    /// Writes a final step to the store; true when the host is gone after it.
    fn apply(
        &self,
        key: &ObjectKey,
        host: &BareMetalHost,
        step: &Step,
    ) -> Result<bool, StoreError> {
        let store = self.store.as_ref();
        if step.status_changed {
            let _gate = self.writing();
            let status = serde_json::to_value(&step.status)
                .map_err(|e| invalid(key, format!("cannot encode status: {e}")))?;
            let v = crate::store::update_with_retry(store, key, Subresource::Status, |obj| {
                if let Some(m) = obj.as_object_mut() {
                    m.insert("status".into(), status.clone());
                }
                Ok(())
            })?;
            self.note_write(&v);
        }
        for e in &step.events {
            self.record_event(host, e);
        }
        if step.status_changed {
            let derived = crate::events::transition_events(
                host.status.as_ref(),
                &step.status,
                host.spec.image.as_ref().map(|i| i.url.as_str()),
                host.metadata.deletion_timestamp.is_some(),
            );
            for e in &derived {
                self.record_event(host, e);
            }
        }
        let a = &host.metadata.annotations;
        let f = &host.metadata.finalizers;
        let remove_ann: Vec<&String> = step
            .annotations_to_remove
            .iter()
            .filter(|k| a.contains_key(*k))
            .collect();
        let add_fin: Vec<&String> = step
            .finalizers_to_add
            .iter()
            .filter(|x| !f.contains(x))
            .collect();
        let rm_fin: Vec<&String> = step
            .finalizers_to_remove
            .iter()
            .filter(|x| f.contains(x))
            .collect();
        let set_arch = step
            .set_architecture
            .as_ref()
            .filter(|arch| host.spec.architecture.as_ref() != Some(*arch));
        let mut gone = false;
        if !remove_ann.is_empty() || !add_fin.is_empty() || !rm_fin.is_empty() || set_arch.is_some()
        {
            let _gate = self.writing();
            let v = crate::store::update_with_retry(store, key, Subresource::Main, |obj| {
                if let Some(m) = obj
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    for k in &remove_ann {
                        m.remove(k.as_str());
                    }
                }
                let fins = meta_array(obj, "finalizers", key)?;
                fins.retain(|x| !rm_fin.iter().any(|r| x.as_str() == Some(r.as_str())));
                for x in &add_fin {
                    if !fins.iter().any(|y| y.as_str() == Some(x.as_str())) {
                        fins.push(json!(x));
                    }
                }
                if let Some(arch) = set_arch {
                    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.insert("architecture".into(), json!(arch));
                    }
                }
                Ok(())
            });
            match v {
                Ok(v) => {
                    self.note_write(&v);
                    gone = v.pointer("/metadata/deletionTimestamp").is_some()
                        && v.pointer("/metadata/finalizers")
                            .and_then(Value::as_array)
                            .is_none_or(|a| a.is_empty());
                }
                Err(e) if e.is_not_found() => gone = true,
                Err(e) => return Err(e),
            }
        }
        if let Some(hw) = &step.hardware_data {
            self.replace_hardware_data(key, host, hw)?;
        }
        if step.release_hardware_data {
            self.release(
                &ObjectKey::new("HardwareData", &key.namespace, &key.name),
                HARDWARE_DATA_FINALIZER,
                true,
            )?;
        }
        if step.ensure_firmware_resources && !gone {
            self.ensure_firmware_resources(key, host)?;
        }
        let secret_key = ObjectKey::new("Secret", &key.namespace, &host.spec.bmc.credentials_name);
        if step.claim_credentials && !host.spec.bmc.credentials_name.is_empty() {
            self.claim_secret(&secret_key, host)?;
        }
        if step.release_credentials && !host.spec.bmc.credentials_name.is_empty() {
            self.release(&secret_key, SECRET_FINALIZER, false)?;
        }
        if !gone {
            gone = match store.get(key) {
                Ok(_) => false,
                Err(e) if e.is_not_found() => true,
                Err(e) => return Err(e),
            };
        }
        if gone {
            // The events belong to this host instance and go with it, and
            // so does what it owns.
            if let Some(uid) = host.metadata.uid.as_deref().filter(|u| !u.is_empty()) {
                crate::events::delete_host_events(store, &key.namespace, uid)?;
                crate::owners::collect(store, &key.namespace, &key.name, uid)?;
            }
        }
        Ok(gone)
    }

    /// The FirmwareSchema `name` with `rules`, shared by the settings of
    /// every host of the same model: created when missing, and owned by
    /// each HostFirmwareSettings that uses it (so it goes with the last).
    fn ensure_firmware_schema(
        &self,
        hfs: &HostFirmwareSettings,
        host: &BareMetalHost,
        name: &str,
        rules: &std::collections::BTreeMap<String, metal3_hostmodel::other::SettingSchema>,
    ) -> Result<(), StoreError> {
        let ns = hfs.metadata.namespace_or_default();
        let key = ObjectKey::new("FirmwareSchema", ns, name);
        let uid = hfs.metadata.uid.clone().unwrap_or_default();
        let owner = json!({
            "apiVersion": metal3_hostmodel::API_VERSION,
            "kind": HFS_KIND,
            "name": hfs.metadata.name,
            "uid": uid,
        });
        let _gate = self.writing();
        match self.store.get(&key) {
            Ok(existing) => {
                if crate::owners::owner_uids(&existing).contains(&uid) {
                    return Ok(());
                }
                let v = crate::store::update_with_retry(
                    self.store.as_ref(),
                    &key,
                    Subresource::Main,
                    |o| {
                        let refs = meta_array(o, "ownerReferences", &key)?;
                        if !refs.iter().any(|r| r.get("uid") == owner.get("uid")) {
                            refs.push(owner.clone());
                        }
                        Ok(())
                    },
                )?;
                self.note_write(&v);
                Ok(())
            }
            Err(e) if e.is_not_found() => {
                let vendor = host
                    .status
                    .as_ref()
                    .and_then(|s| s.hardware.as_ref())
                    .and_then(|h| h.system_vendor.as_ref());
                let spec = metal3_hostmodel::other::FirmwareSchemaSpec {
                    hardware_vendor: vendor
                        .map(|v| v.manufacturer.clone())
                        .filter(|v| !v.is_empty()),
                    hardware_model: vendor
                        .map(|v| v.product_name.clone())
                        .filter(|v| !v.is_empty()),
                    schema: rules.clone(),
                };
                let spec = serde_json::to_value(&spec)
                    .map_err(|e| invalid(&key, format!("cannot encode the schema: {e}")))?;
                let obj = json!({
                    "apiVersion": metal3_hostmodel::API_VERSION,
                    "kind": "FirmwareSchema",
                    "metadata": {"name": name, "namespace": ns, "ownerReferences": [owner]},
                    "spec": spec,
                });
                match self.store.create(obj) {
                    Ok(v) => {
                        self.note_write(&v);
                        Ok(())
                    }
                    // Another host of the same model created it meanwhile:
                    // own it on the next read.
                    Err(StoreError::AlreadyExists { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Creates the same-named HostFirmwareSettings and HostFirmwareComponents
    /// (empty desired state, owned by the host) when missing, and makes the
    /// host own a same-named HostUpdatePolicy.
    fn ensure_firmware_resources(
        &self,
        key: &ObjectKey,
        host: &BareMetalHost,
    ) -> Result<(), StoreError> {
        let owner = owner_ref(host);
        for (kind, spec) in [
            ("HostFirmwareSettings", json!({"settings": {}})),
            ("HostFirmwareComponents", json!({"updates": []})),
        ] {
            let k = ObjectKey::new(kind, &key.namespace, &key.name);
            match self.store.get(&k) {
                Ok(_) => continue,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            let obj = json!({
                "apiVersion": metal3_hostmodel::API_VERSION,
                "kind": kind,
                "metadata": {
                    "name": key.name,
                    "namespace": key.namespace,
                    "ownerReferences": [owner.clone()],
                },
                "spec": spec,
            });
            let _gate = self.writing();
            match self.store.create(obj) {
                Ok(v) => self.note_write(&v),
                // Created concurrently: that is what we wanted.
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let hup = ObjectKey::new("HostUpdatePolicy", &key.namespace, &key.name);
        let obj = match self.store.get(&hup) {
            Ok(o) => o,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let owned = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|o| {
                    o.get("kind") == owner.get("kind") && o.get("name") == owner.get("name")
                })
            });
        if !owned {
            let _gate = self.writing();
            let v = crate::store::update_with_retry(
                self.store.as_ref(),
                &hup,
                Subresource::Main,
                |o| {
                    let owners = meta_array(o, "ownerReferences", &hup)?;
                    if !owners.iter().any(|x| {
                        x.get("kind") == owner.get("kind") && x.get("name") == owner.get("name")
                    }) {
                        owners.push(owner.clone());
                    }
                    Ok(())
                },
            )?;
            self.note_write(&v);
        }
        Ok(())
    }

    /// Removes `finalizer` from the object (and deletes it when `delete`).
    fn release(&self, key: &ObjectKey, finalizer: &str, delete: bool) -> Result<(), StoreError> {
        let obj = match self.store.get(key) {
            Ok(o) => o,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        if has_finalizer(&obj, finalizer) {
            let _gate = self.writing();
            let r =
                crate::store::update_with_retry(self.store.as_ref(), key, Subresource::Main, |o| {
                    meta_array(o, "finalizers", key)?.retain(|x| x.as_str() != Some(finalizer));
                    Ok(())
                });
            match r {
                Ok(v) => self.note_write(&v),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        if delete {
            let _gate = self.writing();
            match self.store.delete(key) {
                Ok(DeleteOutcome::Deleted(v) | DeleteOutcome::Pending(v)) => self.note_write(&v),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn replace_hardware_data(
        &self,
        key: &ObjectKey,
        host: &BareMetalHost,
        hw: &HardwareDetails,
    ) -> Result<(), StoreError> {
        let hd_key = ObjectKey::new("HardwareData", &key.namespace, &key.name);
        self.release(&hd_key, HARDWARE_DATA_FINALIZER, true)?;
        let obj = json!({
            "apiVersion": metal3_hostmodel::API_VERSION,
            "kind": "HardwareData",
            "metadata": {
                "name": key.name,
                "namespace": key.namespace,
                "finalizers": [HARDWARE_DATA_FINALIZER],
                "ownerReferences": [owner_ref(host)],
            },
            "spec": { "hardware": hw },
        });
        let _gate = self.writing();
        let v = self.store.create(obj)?;
        self.note_write(&v);
        Ok(())
    }

    fn claim_secret(&self, key: &ObjectKey, host: &BareMetalHost) -> Result<(), StoreError> {
        let obj = match self.store.get(key) {
            Ok(o) => o,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let labelled = obj
            .pointer(&format!(
                "/metadata/labels/{}",
                annotations::SECRET_ENVIRONMENT_LABEL.replace('/', "~1")
            ))
            .and_then(Value::as_str)
            == Some(annotations::SECRET_ENVIRONMENT_VALUE);
        let owned = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|o| {
                    o.get("kind").and_then(Value::as_str) == Some(HOST_KIND)
                        && o.get("name").and_then(Value::as_str)
                            == Some(host.metadata.name.as_str())
                })
            });
        if labelled && owned && has_finalizer(&obj, SECRET_FINALIZER) {
            return Ok(());
        }
        let owner = owner_ref(host);
        let _gate = self.writing();
        let v =
            crate::store::update_with_retry(self.store.as_ref(), key, Subresource::Main, |o| {
                let meta = o
                    .get_mut("metadata")
                    .and_then(Value::as_object_mut)
                    .ok_or_else(|| invalid(key, "no metadata"))?;
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert(
                        annotations::SECRET_ENVIRONMENT_LABEL.into(),
                        json!(annotations::SECRET_ENVIRONMENT_VALUE),
                    );
                }
                let fins = meta_array(o, "finalizers", key)?;
                if !fins.iter().any(|x| x.as_str() == Some(SECRET_FINALIZER)) {
                    fins.push(json!(SECRET_FINALIZER));
                }
                let owners = meta_array(o, "ownerReferences", key)?;
                if !owners.iter().any(|x| {
                    x.get("name") == owner.get("name") && x.get("kind") == owner.get("kind")
                }) {
                    owners.push(owner.clone());
                }
                Ok(())
            })?;
        self.note_write(&v);
        Ok(())
    }

    /// Stores one event; failures are logged, never fatal for the pass.
    fn record_event(&self, host: &BareMetalHost, e: &metal3_hostmodel::state::Event) {
        if let Err(err) =
            crate::events::record(self.store.as_ref(), host, e, self.opts.events_per_host)
        {
            tracing::warn!(host = %host.metadata.name, "cannot record event {}: {err}", e.reason);
        }
    }
}
