//! Host events: which ones a reconcile pass produces, and how they are kept.
//!
//! The state machine itself only names the events of registration
//! (`BMCAccessValidated`, `ProfileSet`); the lifecycle events BMO publishes
//! from its provisioner (`InspectionStarted`, `ProvisioningComplete`, ...) and
//! from `recordActionFailure` (`RegistrationError`, ...) follow from comparing
//! the host status before and after the pass, so [`transition_events`]
//! computes them as a pure function and the engine stores them next to the
//! state machine's own.
//!
//! Stored events (kind `Event`, Kubernetes `core/v1` shape) belong to one
//! host *instance*: they carry the host's uid in `involvedObject.uid` and in
//! the [`HOST_UID_LABEL`] label (indexed by the store), so a host deleted and
//! created again under the same name starts with no events, and the events
//! go away with the host ([`delete_host_events`], [`sweep_orphans`]).
//!
//! Each host keeps at most a fixed number of events (newest kept, default
//! [`DEFAULT_EVENTS_PER_HOST`]), and an event equal to the host's newest one
//! (type, reason, message) only raises that one's `count` and
//! `lastTimestamp`, as Kubernetes' event aggregation does: a host retrying a
//! failing BMC every backoff period adds one line, not one per attempt.
//! There is no age limit (Kubernetes drops events after one hour): here the
//! store is the only record a user has, `describe` is often run long after
//! the fact, and a count limit bounds the store whatever the age, which a
//! time limit does not for a host that fails many times within the hour.

use std::sync::atomic::{AtomicU64, Ordering};

use metal3_hostmodel::store::{
    LabelSelector, ObjectKey, Requirement, Store, StoreError, Subresource,
};
use metal3_hostmodel::{BareMetalHost, Time};
use serde_json::{json, Value};

use metal3_hostmodel::state::{Event, EventType};
use metal3_hostmodel::{BareMetalHostStatus, ErrorType, OperationalStatus, ProvisioningState as S};

/// Kind of the stored events.
pub const EVENT_KIND: &str = "Event";
/// Label on every stored host event: the uid of the host instance it is about.
pub const HOST_UID_LABEL: &str = "metal3.io/host-uid";
/// Events kept per host unless configured otherwise (the newest ones).
pub const DEFAULT_EVENTS_PER_HOST: usize = 100;
/// `involvedObject.kind` of host events.
const HOST_KIND: &str = "BareMetalHost";
/// `source.component` of the events the engine records.
pub const EVENT_SOURCE: &str = "metal3-baremetal-controller";

fn ev(reason: &str, message: impl Into<String>) -> Event {
    Event {
        reason: reason.to_string(),
        message: message.into(),
        // BMO publishes every host event as Normal.
        type_: EventType::Normal,
    }
}

/// A URL without its `user:password@` part, for messages.
fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// BMO's event reason for a recorded failure (the CamelCase error name).
pub fn error_reason(t: ErrorType) -> &'static str {
    match t {
        ErrorType::ProvisionedRegistration => "ProvisionedRegistrationError",
        ErrorType::Registration => "RegistrationError",
        ErrorType::Inspection => "InspectionError",
        ErrorType::Preparation => "PreparationError",
        ErrorType::Provisioning => "ProvisioningError",
        ErrorType::PowerManagement => "PowerManagementError",
        ErrorType::Servicing => "ServicingError",
        ErrorType::Detach => "DetachError",
    }
}

fn image_url(st: &BareMetalHostStatus, spec_url: Option<&str>) -> String {
    st.provisioning
        .image
        .as_ref()
        .map(|i| i.url.as_str())
        .filter(|u| !u.is_empty())
        .or(spec_url)
        .map(without_userinfo)
        .unwrap_or_default()
}

/// Events for a pass that turned `before` (None: a host never reconciled)
/// into `after`. `spec_image_url` is the host's `spec.image.url` (named in
/// the provisioning messages); `deleting` says the host has a deletion
/// timestamp.
pub fn transition_events(
    before: Option<&BareMetalHostStatus>,
    after: &BareMetalHostStatus,
    spec_image_url: Option<&str>,
    deleting: bool,
) -> Vec<Event> {
    let mut out = Vec::new();
    let old = before.map(|b| b.provisioning.state).unwrap_or(S::None);
    let new = after.provisioning.state;

    // A recorded failure: errorCount went up (or an error type appeared).
    let old_count = before.map(|b| b.error_count).unwrap_or(0);
    let old_type = before.and_then(|b| b.error_type);
    if let Some(t) = after.error_type {
        if after.error_count > old_count || old_type != Some(t) {
            out.push(ev(error_reason(t), after.error_message.clone()));
        }
    }

    if old != new {
        // End of the old state's work.
        match (old, new) {
            (
                S::Registering,
                S::Inspecting
                | S::Preparing
                | S::MatchProfile
                | S::Available
                | S::Ready
                | S::ExternallyProvisioned
                | S::Provisioned,
            ) => {
                out.push(ev("Registered", "Registered new host"));
            }
            (S::Inspecting, _) if after.hardware.is_some() => {
                out.push(ev("InspectionComplete", "Hardware inspection completed"));
            }
            (S::Provisioning, S::Provisioned) => out.push(ev(
                "ProvisioningComplete",
                format!(
                    "Image provisioning completed for {}",
                    image_url(after, spec_image_url)
                ),
            )),
            (S::Provisioning, S::Deprovisioning) => out.push(ev(
                "ProvisioningCancelled",
                "Image provisioning stopped; deprovisioning",
            )),
            (S::Deprovisioning, _) => out.push(ev(
                "DeprovisioningComplete",
                "Image deprovisioning completed",
            )),
            (S::Preparing, S::Available | S::Ready) => {
                out.push(ev("PreparationComplete", "Host preparation completed"))
            }
            _ => {}
        }
        // Start of the new state's work.
        match new {
            S::Unmanaged => out.push(ev(
                "Discovered",
                "Discovered host without BMC address or credentials",
            )),
            S::Registering => out.push(ev("Registering", "Registering host with its BMC")),
            S::Inspecting => out.push(ev("InspectionStarted", "Hardware inspection started")),
            S::Preparing
                if matches!(old, S::Registering | S::Inspecting) && after.hardware.is_none() =>
            {
                out.push(ev("InspectionSkipped", "Hardware inspection skipped"))
            }
            S::Preparing => out.push(ev("PreparationStarted", "Host preparation started")),
            S::Available | S::Ready if !matches!(old, S::Preparing | S::Deprovisioning) => {
                out.push(ev("Available", "Host is available"))
            }
            S::Provisioning => out.push(ev(
                "ProvisioningStarted",
                format!(
                    "Image provisioning started for {}",
                    without_userinfo(spec_image_url.unwrap_or_default())
                ),
            )),
            S::Deprovisioning => out.push(ev(
                "DeprovisioningStarted",
                if deleting {
                    "Image deprovisioning started (host is being deleted)"
                } else {
                    "Image deprovisioning started"
                },
            )),
            S::ExternallyProvisioned => out.push(ev(
                "ExternallyProvisioned",
                "Host is externally provisioned",
            )),
            S::PoweringOffBeforeDelete => out.push(ev(
                "PoweringOffBeforeDelete",
                "Powering host off before deleting it",
            )),
            S::Deleting => out.push(ev("Deleting", "Removing host from the provisioner")),
            _ => {}
        }
    }

    if let Some(b) = before {
        if b.powered_on != after.powered_on && b.provisioning.state != S::None {
            out.push(if after.powered_on {
                ev("PowerOn", "Host powered on")
            } else {
                ev("PowerOff", "Host powered off")
            });
        }
    }

    let old_op = before.map(|b| b.operational_status).unwrap_or_default();
    let new_op = after.operational_status;
    if old_op != new_op {
        match (old_op, new_op) {
            (_, OperationalStatus::Detached) => {
                out.push(ev("Detached", "Host detached from the provisioner"))
            }
            (OperationalStatus::Detached, _) => {
                out.push(ev("Attached", "Host attached to the provisioner again"))
            }
            (_, OperationalStatus::Delayed) => out.push(ev(
                "Delayed",
                format!(
                    "Waiting for a free provisioning slot before {}",
                    new.as_str()
                ),
            )),
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The stored event log

/// A stored host event, as [`host_events`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Object name: `<host>.<16 hex digits of Unix nanoseconds>`, so that
    /// name order is time order within one host.
    pub name: String,
    /// `Normal` or `Warning`.
    pub type_: String,
    /// CamelCase reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// How many times it happened in a row.
    pub count: u64,
    /// First occurrence (RFC 3339).
    pub first_time: String,
    /// Last occurrence (RFC 3339).
    pub last_time: String,
}

/// The fields of a stored event that the log reads (kept small: a host's
/// events are listed on every recorded event).
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct EventFields {
    metadata: EventMeta,
    #[serde(rename = "type")]
    type_: String,
    reason: String,
    message: String,
    count: u64,
    first_timestamp: Option<String>,
    last_timestamp: Option<String>,
    involved_object: Involved,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct EventMeta {
    name: String,
    namespace: String,
    labels: std::collections::BTreeMap<String, String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Involved {
    kind: String,
    uid: String,
}

impl EventFields {
    fn stored(self) -> StoredEvent {
        let last = self.last_timestamp.unwrap_or_default();
        StoredEvent {
            name: self.metadata.name,
            type_: self.type_,
            reason: self.reason,
            message: self.message,
            count: self.count.max(1),
            first_time: self.first_timestamp.unwrap_or_else(|| last.clone()),
            last_time: last,
        }
    }
}

/// What recording one event does to a host's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPlan {
    /// The newest stored event is the same event: raise its count instead
    /// of storing a new one.
    pub repeat_of: Option<String>,
    /// Oldest events to delete so that at most the limit remain.
    pub prune: Vec<String>,
}

fn type_str(t: EventType) -> &'static str {
    match t {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

/// Plans recording `new` into a host's log `existing` (oldest first) that
/// keeps at most `limit` events (at least one).
pub fn plan_record(existing: &[StoredEvent], new: &Event, limit: usize) -> RecordPlan {
    let limit = limit.max(1);
    let repeat_of = existing
        .last()
        .filter(|e| {
            e.type_ == type_str(new.type_) && e.reason == new.reason && e.message == new.message
        })
        .map(|e| e.name.clone());
    let total = existing.len() + usize::from(repeat_of.is_none());
    let prune = existing
        .iter()
        .take(total.saturating_sub(limit))
        .map(|e| e.name.clone())
        .collect();
    RecordPlan { repeat_of, prune }
}

/// Name of an event about `host` at `nanos` (Unix nanoseconds), in
/// Kubernetes' `<object>.<hex time>` form; fixed width so that names sort by
/// time.
pub fn event_name(host: &str, nanos: u64) -> String {
    format!("{host}.{nanos:016x}")
}

/// Unix nanoseconds, strictly increasing within this process (two events
/// of one pass get distinct, ordered names even on a coarse clock).
fn unique_nanos() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev.saturating_add(1));
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

fn uid_selector(uid: &str) -> LabelSelector {
    LabelSelector {
        requirements: vec![Requirement::Equals(
            HOST_UID_LABEL.to_string(),
            uid.to_string(),
        )],
    }
}

/// The events of the host instance `uid` in `namespace`, oldest first.
pub fn events_of_uid(
    store: &dyn Store,
    namespace: &str,
    uid: &str,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut out = Vec::new();
    store.list_with(
        EVENT_KIND,
        Some(namespace),
        Some(&uid_selector(uid)),
        &mut |raw| {
            let e: EventFields = raw.decode()?;
            // The label is the index; the involved object is the truth.
            if e.involved_object.uid == uid {
                out.push(e.stored());
            }
            Ok(())
        },
    )?;
    // Names sort by time within one host; the store lists by name already,
    // but a host renamed by nobody still gets a stable order this way.
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The events of the host `namespace/name` as it exists now (none when
/// there is no such host: a deleted host's events are not shown for a new
/// one of the same name).
pub fn host_events(
    store: &dyn Store,
    namespace: &str,
    name: &str,
) -> Result<Vec<StoredEvent>, StoreError> {
    let key = ObjectKey::new(HOST_KIND, namespace, name);
    let host = match store.get(&key) {
        Ok(h) => h,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    match host.pointer("/metadata/uid").and_then(Value::as_str) {
        Some(uid) if !uid.is_empty() => events_of_uid(store, namespace, uid),
        _ => Ok(Vec::new()),
    }
}

/// Stores `e` about `host`, raising the count of the host's newest event
/// instead when it is the same event, and deleting the oldest events beyond
/// `limit`.
pub fn record(
    store: &dyn Store,
    host: &BareMetalHost,
    e: &Event,
    limit: usize,
) -> Result<(), StoreError> {
    let ns = host.metadata.namespace_or_default();
    let uid = host.metadata.uid.clone().unwrap_or_default();
    let existing = events_of_uid(store, ns, &uid)?;
    let plan = plan_record(&existing, e, limit);
    let now = Time::now();
    let mut repeated = false;
    if let Some(name) = &plan.repeat_of {
        let key = ObjectKey::new(EVENT_KIND, ns, name);
        match metal3_hostmodel::store::update_with_retry(store, &key, Subresource::Main, |o| {
            let count = o.get("count").and_then(Value::as_u64).unwrap_or(1);
            if let Some(m) = o.as_object_mut() {
                m.insert("count".into(), json!(count.saturating_add(1)));
                m.insert("lastTimestamp".into(), json!(now));
            }
            Ok(())
        }) {
            Ok(_) => repeated = true,
            // Pruned meanwhile by another writer: store it anew.
            Err(err) if err.is_not_found() => {}
            Err(err) => return Err(err),
        }
    }
    if !repeated {
        let obj = json!({
            "apiVersion": "v1",
            "kind": EVENT_KIND,
            "metadata": {
                "name": event_name(&host.metadata.name, unique_nanos()),
                "namespace": ns,
                "labels": { HOST_UID_LABEL: uid },
            },
            "involvedObject": {
                "apiVersion": metal3_hostmodel::API_VERSION,
                "kind": HOST_KIND,
                "name": host.metadata.name,
                "namespace": ns,
                "uid": uid,
            },
            "reason": e.reason,
            "message": e.message,
            "type": type_str(e.type_),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": { "component": EVENT_SOURCE },
        });
        store.create(obj)?;
    }
    for name in &plan.prune {
        delete_quietly(store, &ObjectKey::new(EVENT_KIND, ns, name))?;
    }
    Ok(())
}

fn delete_quietly(store: &dyn Store, key: &ObjectKey) -> Result<(), StoreError> {
    match store.delete(key) {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes every event of the host instance `uid`; returns how many.
pub fn delete_host_events(
    store: &dyn Store,
    namespace: &str,
    uid: &str,
) -> Result<usize, StoreError> {
    let events = events_of_uid(store, namespace, uid)?;
    for e in &events {
        delete_quietly(store, &ObjectKey::new(EVENT_KIND, namespace, &e.name))?;
    }
    Ok(events.len())
}

/// What [`sweep_orphans`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Host events whose host instance no longer exists, deleted.
    pub deleted: usize,
    /// Events of existing hosts stored without [`HOST_UID_LABEL`] (by an
    /// older version), labelled.
    pub labelled: usize,
}

/// Deletes the host events (of `namespace`, or all) whose host instance is
/// gone: deleted while no engine ran, or re-created under the same name.
/// Events of existing hosts that lack the uid label get it, so they are
/// found by [`host_events`]. Reads only uids and names.
pub fn sweep_orphans(
    store: &dyn Store,
    namespace: Option<&str>,
) -> Result<SweepReport, StoreError> {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Uid {
        metadata: UidMeta,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct UidMeta {
        uid: String,
    }
    let mut hosts = std::collections::HashSet::new();
    store.list_with(HOST_KIND, namespace, None, &mut |raw| {
        let h: Uid = raw.decode()?;
        hosts.insert(h.metadata.uid);
        Ok(())
    })?;
    let mut orphans = Vec::new();
    let mut unlabelled = Vec::new();
    store.list_with(EVENT_KIND, namespace, None, &mut |raw| {
        let e: EventFields = raw.decode()?;
        if e.involved_object.kind != HOST_KIND {
            return Ok(());
        }
        let key = ObjectKey::new(EVENT_KIND, &e.metadata.namespace, &e.metadata.name);
        if !hosts.contains(&e.involved_object.uid) {
            orphans.push(key);
        } else if e.metadata.labels.get(HOST_UID_LABEL) != Some(&e.involved_object.uid) {
            unlabelled.push((key, e.involved_object.uid));
        }
        Ok(())
    })?;
    for key in &orphans {
        delete_quietly(store, key)?;
    }
    for (key, uid) in &unlabelled {
        let r = metal3_hostmodel::store::update_with_retry(store, key, Subresource::Main, |o| {
            let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) else {
                return Ok(());
            };
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            if let Some(l) = labels.as_object_mut() {
                l.insert(HOST_UID_LABEL.into(), json!(uid));
            }
            Ok(())
        });
        match r {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(SweepReport {
        deleted: orphans.len(),
        labelled: unlabelled.len(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn st(state: S) -> BareMetalHostStatus {
        let mut s = BareMetalHostStatus::default();
        s.provisioning.state = state;
        s.operational_status = OperationalStatus::Ok;
        s
    }

    fn reasons(v: &[Event]) -> Vec<&str> {
        v.iter().map(|e| e.reason.as_str()).collect()
    }

    #[test]
    fn lifecycle_transitions_name_bmo_reasons() {
        let none = transition_events(None, &st(S::Registering), None, false);
        assert_eq!(reasons(&none), ["Registering"]);

        let reg = st(S::Registering);
        let insp = st(S::Inspecting);
        assert_eq!(
            reasons(&transition_events(Some(&reg), &insp, None, false)),
            ["Registered", "InspectionStarted"]
        );

        let mut prep = st(S::Preparing);
        prep.hardware = Some(Default::default());
        assert_eq!(
            reasons(&transition_events(Some(&insp), &prep, None, false)),
            ["InspectionComplete", "PreparationStarted"]
        );
        let skipped = transition_events(Some(&reg), &st(S::Preparing), None, false);
        assert_eq!(reasons(&skipped), ["Registered", "InspectionSkipped"]);

        let avail = st(S::Available);
        assert_eq!(
            reasons(&transition_events(Some(&prep), &avail, None, false)),
            ["PreparationComplete"]
        );
        let url = Some("http://user:secret@10.0.0.1/live.iso");
        let prov = transition_events(Some(&avail), &st(S::Provisioning), url, false);
        assert_eq!(reasons(&prov), ["ProvisioningStarted"]);
        assert_eq!(
            prov[0].message,
            "Image provisioning started for http://10.0.0.1/live.iso"
        );
        assert!(!prov[0].message.contains("secret"));

        let mut done = st(S::Provisioned);
        done.powered_on = true;
        let mut provisioning = st(S::Provisioning);
        provisioning.powered_on = false;
        assert_eq!(
            reasons(&transition_events(Some(&provisioning), &done, url, false)),
            ["ProvisioningComplete", "PowerOn"]
        );
        let dep = transition_events(Some(&done), &st(S::Deprovisioning), None, true);
        assert_eq!(reasons(&dep), ["DeprovisioningStarted", "PowerOff"]);
        assert!(dep[0].message.contains("deleted"));
        assert_eq!(
            reasons(&transition_events(
                Some(&st(S::Deprovisioning)),
                &st(S::PoweringOffBeforeDelete),
                None,
                true
            )),
            ["DeprovisioningComplete", "PoweringOffBeforeDelete"]
        );
        assert_eq!(
            reasons(&transition_events(
                Some(&st(S::PoweringOffBeforeDelete)),
                &st(S::Deleting),
                None,
                true
            )),
            ["Deleting"]
        );
        // No change, no event.
        assert!(transition_events(Some(&avail), &avail, None, false).is_empty());
    }

    #[test]
    fn recorded_failures_and_operational_status() {
        let reg = st(S::Registering);
        let mut failed = st(S::Registering);
        failed.operational_status = OperationalStatus::Error;
        failed.error_type = Some(ErrorType::Registration);
        failed.error_count = 1;
        failed.error_message = "Failed to connect to BMC".into();
        let e = transition_events(Some(&reg), &failed, None, false);
        assert_eq!(reasons(&e), ["RegistrationError"]);
        assert_eq!(e[0].message, "Failed to connect to BMC");
        // The same error seen again without a new failure: no repeat.
        assert!(transition_events(Some(&failed), &failed, None, false).is_empty());
        // A retry that failed again is a new event.
        let mut again = failed.clone();
        again.error_count = 2;
        assert_eq!(
            reasons(&transition_events(Some(&failed), &again, None, false)),
            ["RegistrationError"]
        );
        // Registration failing while leaving registering is no "Registered".
        let mut to_unmanaged = failed.clone();
        to_unmanaged.provisioning.state = S::Unmanaged;
        assert_eq!(
            reasons(&transition_events(Some(&reg), &to_unmanaged, None, false)),
            ["RegistrationError", "Discovered"]
        );

        let avail = st(S::Available);
        let mut det = st(S::Available);
        det.operational_status = OperationalStatus::Detached;
        assert_eq!(
            reasons(&transition_events(Some(&avail), &det, None, false)),
            ["Detached"]
        );
        assert_eq!(
            reasons(&transition_events(Some(&det), &avail, None, false)),
            ["Attached"]
        );
        let mut delayed = st(S::Available);
        delayed.operational_status = OperationalStatus::Delayed;
        assert_eq!(
            reasons(&transition_events(Some(&avail), &delayed, None, false)),
            ["Delayed"]
        );
    }

    fn stored(name: &str, reason: &str) -> StoredEvent {
        StoredEvent {
            name: name.into(),
            type_: "Normal".into(),
            reason: reason.into(),
            message: format!("{reason} happened"),
            count: 1,
            first_time: String::new(),
            last_time: String::new(),
        }
    }

    fn event(reason: &str) -> Event {
        ev(reason, format!("{reason} happened"))
    }

    #[test]
    fn plan_counts_a_repeat_of_the_newest_and_prunes_the_oldest() {
        let log = vec![stored("h.1", "A"), stored("h.2", "B"), stored("h.3", "C")];
        // Same as the newest: counted, nothing added, nothing pruned.
        let p = plan_record(&log, &event("C"), 3);
        assert_eq!(p.repeat_of.as_deref(), Some("h.3"));
        assert!(p.prune.is_empty());
        // Same as an older one only: a new event, and the oldest goes.
        let p = plan_record(&log, &event("A"), 3);
        assert_eq!(p.repeat_of, None);
        assert_eq!(p.prune, ["h.1"]);
        // A smaller limit (lowered setting) prunes down to it.
        let p = plan_record(&log, &event("D"), 1);
        assert_eq!(p.prune, ["h.1", "h.2", "h.3"]);
        let p = plan_record(&log, &event("C"), 2);
        assert_eq!(p.prune, ["h.1"]);
        // A different message is a different event.
        let mut other = event("C");
        other.message = "something else".into();
        assert_eq!(plan_record(&log, &other, 10).repeat_of, None);
        // Limit 0 still keeps the event being recorded.
        assert_eq!(plan_record(&[], &event("A"), 0).prune, Vec::<String>::new());
    }

    #[test]
    fn names_sort_by_time() {
        let a = event_name("h", 0x0187_0000_0000_0000);
        let b = event_name("h", 0x0187_0000_0000_0001);
        let c = event_name("h", 0x1_0000_0000);
        assert!(c < a && a < b, "{c} {a} {b}");
        let (x, y) = (unique_nanos(), unique_nanos());
        assert!(y > x);
    }

    fn store_with_host(name: &str) -> (crate::store::MemoryStore, BareMetalHost) {
        let store = crate::store::MemoryStore::new();
        let v = store
            .create(json!({
                "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"online": false},
            }))
            .unwrap();
        let host: BareMetalHost = serde_json::from_value(v).unwrap();
        (store, host)
    }

    fn stored_events(store: &dyn Store) -> Vec<Value> {
        store.list(EVENT_KIND, None, None).unwrap().items
    }

    #[test]
    fn recording_counts_repeats_and_keeps_the_newest_per_host() {
        let (store, host) = store_with_host("h0");
        for _ in 0..3 {
            record(&store, &host, &event("RegistrationError"), 4).unwrap();
        }
        let evs = host_events(&store, "default", "h0").unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].count, 3);
        assert!(evs[0].first_time <= evs[0].last_time);
        for i in 0..10 {
            record(&store, &host, &event(&format!("R{i}")), 4).unwrap();
        }
        let reasons: Vec<String> = host_events(&store, "default", "h0")
            .unwrap()
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(reasons, ["R6", "R7", "R8", "R9"]);
        assert_eq!(stored_events(&store).len(), 4);
        // Stored like Kubernetes events, with the uid in label and involvedObject.
        let e = &stored_events(&store)[0];
        let uid = host.metadata.uid.clone().unwrap();
        assert_eq!(e["involvedObject"]["uid"], json!(uid));
        assert_eq!(e["metadata"]["labels"][HOST_UID_LABEL], json!(uid));
        assert_eq!(e["source"]["component"], EVENT_SOURCE);
    }

    #[test]
    fn a_recreated_host_does_not_see_the_old_instances_events() {
        let (store, old) = store_with_host("h0");
        record(&store, &old, &event("Old"), 10).unwrap();
        store
            .delete(&ObjectKey::new(HOST_KIND, "default", "h0"))
            .unwrap();
        assert!(host_events(&store, "default", "h0").unwrap().is_empty());
        let v = store
            .create(json!({
                "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                "metadata": {"name": "h0", "namespace": "default"},
            }))
            .unwrap();
        let new: BareMetalHost = serde_json::from_value(v).unwrap();
        assert_ne!(new.metadata.uid, old.metadata.uid);
        assert!(host_events(&store, "default", "h0").unwrap().is_empty());
        record(&store, &new, &event("New"), 10).unwrap();
        let reasons: Vec<String> = host_events(&store, "default", "h0")
            .unwrap()
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(reasons, ["New"]);
        // The old instance's event is an orphan: the sweep removes it and
        // leaves the new one.
        let r = sweep_orphans(&store, None).unwrap();
        assert_eq!(
            r,
            SweepReport {
                deleted: 1,
                labelled: 0
            }
        );
        assert_eq!(stored_events(&store).len(), 1);
        assert_eq!(
            delete_host_events(&store, "default", new.metadata.uid.as_deref().unwrap()).unwrap(),
            1
        );
        assert!(stored_events(&store).is_empty());
    }

    #[test]
    fn sweep_labels_events_stored_without_the_uid_label() {
        let (store, host) = store_with_host("h0");
        let uid = host.metadata.uid.clone().unwrap();
        store
            .create(json!({
                "apiVersion": "v1", "kind": EVENT_KIND,
                "metadata": {"name": "h0.legacy", "namespace": "default"},
                "involvedObject": {"kind": HOST_KIND, "name": "h0", "namespace": "default", "uid": uid},
                "reason": "Registered", "message": "Registered new host", "type": "Normal",
                "lastTimestamp": "2026-01-01T00:00:00Z",
            }))
            .unwrap();
        // Not an event about a host: left alone.
        store
            .create(json!({
                "apiVersion": "v1", "kind": EVENT_KIND,
                "metadata": {"name": "m.1", "namespace": "default"},
                "involvedObject": {"kind": "Metal3Machine", "name": "m", "uid": "x"},
            }))
            .unwrap();
        assert!(host_events(&store, "default", "h0").unwrap().is_empty());
        let r = sweep_orphans(&store, Some("default")).unwrap();
        assert_eq!(
            r,
            SweepReport {
                deleted: 0,
                labelled: 1
            }
        );
        let evs = host_events(&store, "default", "h0").unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].count, 1);
        assert_eq!(stored_events(&store).len(), 2);
    }

    #[test]
    fn userinfo_is_stripped() {
        assert_eq!(without_userinfo("http://a:b@h:8/x@y"), "http://h:8/x@y");
        assert_eq!(without_userinfo("http://h/x"), "http://h/x");
        assert_eq!(without_userinfo("not a url"), "not a url");
    }
}
