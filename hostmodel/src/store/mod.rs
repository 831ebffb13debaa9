//! The object-store interface: Kubernetes-API-shaped persistence for every
//! kind metal3-rs manages. This module holds only the contract (the [`Store`]
//! trait, keys, errors, label selectors and typed helpers); the backends
//! (SQLite, in-memory) live in `metal3-provisioning`, so crates above the
//! model (ipam, capi) can be written against the trait without depending on
//! the provisioning crate.
//!
//! # Model
//!
//! Objects are addressed by [`ObjectKey`] (kind, namespace, name) and kept as
//! their JSON ([`serde_json::Value`]); [`StoreExt`] adds typed access on top.
//! Every backend behaves like the API server for what the controllers rely on:
//!
//! * `create` assigns `uid` (UUID v4), `resourceVersion`, `generation` 1 and
//!   `creationTimestamp`, and refuses an existing key. Unlike the API server
//!   it keeps a given `status`, so hosts exported with their status (e.g. by
//!   `kubectl get -o yaml`) can be imported as they were.
//! * `update` needs the `resourceVersion` the caller read (optimistic
//!   concurrency); it bumps `generation` only when anything outside `metadata`
//!   and `status` changed and ignores `status` (status subresource semantics).
//!   `update_status` changes only `status` and never bumps `generation`.
//! * `delete` of an object with finalizers only sets `deletionTimestamp`; the
//!   update that removes its last finalizer removes it.
//! * Every write gets the next value of one global, monotonically increasing
//!   revision, which is also the object's `resourceVersion` (as with etcd).
//!   [`Store::watch`] returns the events after a revision and
//!   [`Store::wait_for_change`] waits for the next one.
//! * Lists are built on [`Store::list_with`], which hands out each object as
//!   borrowed JSON text: [`StoreExt::list_as`] decodes straight into the
//!   caller's type without building [`serde_json::Value`] trees.
//! * Secrets are kept as Kubernetes keeps them: `stringData` is merged into
//!   `data` (base64) on write and never stored. Errors name the object key and
//!   what is wrong, never Secret values.
//!
//! # Why a synchronous trait
//!
//! Every operation except waiting for a change is a short local call
//! (microseconds to a few milliseconds in SQLite). An `async` trait would force
//! each call of the synchronous CLI through a runtime and each SQLite call
//! through `spawn_blocking`, adding a thread hop per call, and would need boxed
//! futures to keep `dyn Store` usable. So the trait is synchronous and
//! object-safe; the async engine may call it directly for these short calls
//! (or through `spawn_blocking` when it must not block a worker at all). The
//! one operation that can wait for long, [`Store::wait_for_change`], is async.
//! A Kubernetes API backend can implement the same trait by driving its HTTP
//! client on a runtime of its own.

mod selector;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::Object;

pub use selector::{LabelSelector, Requirement, SelectorError};

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A boxed future as returned by [`Store::wait_for_change`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Address of an object: kind, namespace and name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Kind, e.g. `BareMetalHost`.
    pub kind: String,
    /// Namespace (`default` when the object gave none).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A key from its parts; an empty namespace means `default`.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        let namespace = if namespace.is_empty() {
            "default"
        } else {
            namespace
        };
        ObjectKey {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The key of a JSON object (`kind`, `metadata.namespace`, `metadata.name`).
    pub fn of(obj: &Value) -> Self {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let meta = obj.get("metadata");
        ObjectKey::new(
            &s(obj.get("kind")),
            &s(meta.and_then(|m| m.get("namespace"))),
            &s(meta.and_then(|m| m.get("name"))),
        )
    }
}

impl std::str::FromStr for ObjectKey {
    type Err = String;

    /// Parses `kind/namespace/name`, or `kind/name` for the `default` namespace.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [kind, ns, name] if !kind.is_empty() && !name.is_empty() => {
                Ok(ObjectKey::new(kind, ns, name))
            }
            [kind, name] if !kind.is_empty() && !name.is_empty() => {
                Ok(ObjectKey::new(kind, "", name))
            }
            _ => Err(format!(
                "object key {s:?}: expected kind/namespace/name or kind/name"
            )),
        }
    }
}

/// Debug shows the `kind/namespace/name` form so error dumps stay readable.
impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// What went wrong in a store operation. Messages name the object key and the
/// problem but never carry object data, so Secrets cannot leak through them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object under that key.
    #[error("{key}: not found")]
    NotFound {
        /// The key looked up.
        key: ObjectKey,
    },
    /// `create` of a key that exists.
    #[error("{key}: already exists")]
    AlreadyExists {
        /// The key.
        key: ObjectKey,
    },
    /// The caller's `resourceVersion` is stale: re-read and retry.
    #[error("{key}: conflict: resourceVersion {given} is stale, the stored object is at {current}; read it again and retry")]
    Conflict {
        /// The key.
        key: ObjectKey,
        /// The resourceVersion the caller sent.
        given: String,
        /// The stored resourceVersion.
        current: u64,
    },
    /// The object is not acceptable (missing name, bad resourceVersion, ...).
    #[error("{key}: invalid: {reason}")]
    Invalid {
        /// The key.
        key: ObjectKey,
        /// What is wrong.
        reason: String,
    },
    /// [`update_with_retry`] still conflicted after its last attempt.
    #[error("{key}: still conflicting after {attempts} attempts; too many concurrent writers")]
    RetriesExhausted {
        /// The key.
        key: ObjectKey,
        /// Attempts made.
        attempts: u32,
    },
    /// The JSON of an object does not fit the requested type.
    #[error("{key}: cannot decode: {reason}")]
    Decode {
        /// The key.
        key: ObjectKey,
        /// What did not fit (for Secrets only the position, never the value).
        reason: String,
    },
    /// Events before this revision were compacted away; list again.
    #[error("watch from revision {since}: events up to revision {compacted} were compacted; list again and watch from the list's revision")]
    Expired {
        /// The revision asked for.
        since: u64,
        /// Events up to and including this revision are gone.
        compacted: u64,
    },
    /// The store file could not be created, opened or secured.
    #[error("store {path}: {what}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The database refused an operation.
    #[error("store {path}: {context}: {source}")]
    Database {
        /// The file.
        path: String,
        /// The operation, with the object key when there is one.
        context: String,
        /// The backend's error (statement errors, never bound values).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A typed object could not be turned into JSON.
    #[error("cannot encode {type_name} as JSON: {reason}")]
    Encode {
        /// The Rust type.
        type_name: &'static str,
        /// What failed (the error class only, never values).
        reason: String,
    },
    /// The database does not offer what the store needs (e.g. WAL mode).
    #[error("store {path}: {reason}")]
    Unsupported {
        /// The file.
        path: String,
        /// What is missing.
        reason: String,
    },
    /// The file was written by a newer metal3-rs.
    #[error("store {path}: schema version {found} is newer than this build supports ({supported}); upgrade metal3-rs")]
    SchemaTooNew {
        /// The file.
        path: String,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
}

impl StoreError {
    /// Whether re-reading and retrying can succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// Whether the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// Objects returned by [`Store::list`] and the revision they were read at.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectList {
    /// Store revision of the snapshot; watch from here to follow changes.
    pub revision: u64,
    /// The objects, ordered by namespace and name.
    pub items: Vec<Value>,
}

/// An object as its stored JSON text, for callers that decode straight into
/// a type (skipping the intermediate [`Value`] halves the cost of a large list).
#[derive(Clone, PartialEq)]
pub struct RawObject {
    /// Which object.
    pub key: ObjectKey,
    /// Its JSON.
    pub json: String,
}

/// Debug leaves the JSON out: it may be a Secret.
impl fmt::Debug for RawObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawObject")
            .field("key", &self.key)
            .field("json_bytes", &self.json.len())
            .finish()
    }
}

/// One listed object as borrowed JSON text, as handed to [`Store::list_with`].
#[derive(Clone, Copy)]
pub struct RawRef<'a> {
    /// Kind.
    pub kind: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// The object's JSON.
    pub json: &'a str,
}

impl RawRef<'_> {
    /// The object's key.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.kind, self.namespace, self.name)
    }

    /// The JSON decoded as `T` (Secret-safe errors, see [`decode_str`]).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(self.json).map_err(|e| {
            let key = self.key();
            StoreError::Decode {
                reason: describe_json_error(&key, &e),
                key,
            }
        })
    }
}

/// Debug leaves the JSON out: it may be a Secret.
impl fmt::Debug for RawRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRef")
            .field("key", &self.key())
            .field("json_bytes", &self.json.len())
            .finish()
    }
}

/// Objects returned by [`Store::list_raw`] and the revision they were read at.
#[derive(Debug, Clone, PartialEq)]
pub struct RawList {
    /// Store revision of the snapshot.
    pub revision: u64,
    /// The objects as JSON text, ordered by namespace and name.
    pub items: Vec<RawObject>,
}

/// The kind of change an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object was changed (including a deletion request with finalizers).
    Modified,
    /// The object was removed.
    Deleted,
}

impl EventType {
    /// The Kubernetes watch name (`ADDED`, `MODIFIED`, `DELETED`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }

    /// The event type of a Kubernetes watch name (for backends reading their change feed).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ADDED" => Some(EventType::Added),
            "MODIFIED" => Some(EventType::Modified),
            "DELETED" => Some(EventType::Deleted),
            _ => None,
        }
    }
}

/// One change in the store's change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    /// Store revision of the change (the object's resourceVersion).
    pub revision: u64,
    /// What happened.
    pub event_type: EventType,
    /// Which object.
    pub key: ObjectKey,
    /// The object after the change (its last state for `Deleted`).
    pub object: Value,
}

/// What [`Store::delete`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    /// The object is gone; this was its last state.
    Deleted(Value),
    /// The object has finalizers: it is kept with `deletionTimestamp` set
    /// until an update removes the last finalizer.
    Pending(Value),
}

/// Kubernetes-API-shaped object storage. See the module documentation for the
/// semantics every implementation follows.
pub trait Store: Send + Sync {
    /// The object under `key`.
    fn get(&self, key: &ObjectKey) -> Result<Value>;

    /// Objects of `kind`, in one namespace or all, optionally filtered by labels.
    fn list(
        &self,
        kind: &str,
        namespace: Option<&str>,
        selector: Option<&LabelSelector>,
    ) -> Result<ObjectList> {
        let mut items = Vec::new();
        let revision = self.list_with(kind, namespace, selector, &mut |o| {
            items.push(o.decode()?);
            Ok(())
        })?;
        Ok(ObjectList { revision, items })
    }

    /// [`Store::list`] with each object as its JSON text.
    fn list_raw(
        &self,
        kind: &str,
        namespace: Option<&str>,
        selector: Option<&LabelSelector>,
    ) -> Result<RawList> {
        let mut items = Vec::new();
        let revision = self.list_with(kind, namespace, selector, &mut |o| {
            items.push(RawObject {
                key: o.key(),
                json: o.json.to_string(),
            });
            Ok(())
        })?;
        Ok(RawList { revision, items })
    }

    /// The primitive behind the list calls: hands each matching object, in
    /// namespace and name order, to `visit` as borrowed JSON text (so callers
    /// decode straight into their type without intermediate copies) and
    /// returns the revision of the snapshot. An error from `visit` ends the
    /// listing and is returned.
    fn list_with(
        &self,
        kind: &str,
        namespace: Option<&str>,
        selector: Option<&LabelSelector>,
        visit: &mut dyn FnMut(RawRef<'_>) -> Result<()>,
    ) -> Result<u64>;

    /// Stores a new object and returns it as stored.
    fn create(&self, obj: Value) -> Result<Value>;

    /// Replaces an object (all but `status`) if its `resourceVersion` matches.
    ///
    /// When this removes the last finalizer of an object being deleted, the
    /// object is removed and its final state is returned.
    fn update(&self, obj: Value) -> Result<Value>;

    /// Replaces only `status` if the object's `resourceVersion` matches.
    fn update_status(&self, obj: Value) -> Result<Value>;

    /// Deletes an object, or marks it for deletion while finalizers remain.
    fn delete(&self, key: &ObjectKey) -> Result<DeleteOutcome>;

    /// The current store revision (0 for an empty, never written store).
    fn revision(&self) -> Result<u64>;

    /// Events with a revision greater than `since`, oldest first.
    fn watch(&self, since: u64) -> Result<Vec<WatchEvent>>;

    /// The `limit` oldest events with a revision greater than `since`: a
    /// reader that fell far behind takes the feed in bounded batches instead
    /// of holding every changed object at once. The default reads the whole
    /// feed first; backends override it to read only the batch.
    fn watch_limited(&self, since: u64, limit: usize) -> Result<Vec<WatchEvent>> {
        let mut events = self.watch(since)?;
        events.truncate(limit);
        Ok(events)
    }

    /// Resolves with the current revision once it is greater than `since`,
    /// including changes made by other processes.
    fn wait_for_change(&self, since: u64) -> BoxFuture<'_, Result<u64>>;
}

/// Which part of an object [`update_with_retry`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// Everything but `status` ([`Store::update`]).
    Main,
    /// Only `status` ([`Store::update_status`]).
    Status,
}

/// How many times [`update_with_retry`] tries before giving up.
pub const UPDATE_ATTEMPTS: u32 = 64;

/// Reads `key`, applies `mutate` and writes it back; on a conflict re-reads
/// fresh data and applies `mutate` again, so concurrent writers never lose
/// updates. Gives up with [`StoreError::RetriesExhausted`] after
/// [`UPDATE_ATTEMPTS`] attempts; errors of `mutate` end the loop unchanged.
pub fn update_with_retry<S, F>(
    store: &S,
    key: &ObjectKey,
    subresource: Subresource,
    mut mutate: F,
) -> Result<Value>
where
    S: Store + ?Sized,
    F: FnMut(&mut Value) -> Result<()>,
{
    for attempt in 0..UPDATE_ATTEMPTS {
        let mut obj = store.get(key)?;
        mutate(&mut obj)?;
        let written = match subresource {
            Subresource::Main => store.update(obj),
            Subresource::Status => store.update_status(obj),
        };
        match written {
            Err(e) if e.is_conflict() => backoff(attempt),
            other => return other,
        }
    }
    Err(StoreError::RetriesExhausted {
        key: key.clone(),
        attempts: UPDATE_ATTEMPTS,
    })
}

/// Sleeps a short, random, growing time so that writers that just collided do
/// not collide again in lock step.
fn backoff(attempt: u32) {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let ceiling_us = 200u64 << attempt.min(5);
    std::thread::sleep(Duration::from_micros(random % ceiling_us));
}

/// Typed access on top of any [`Store`].
pub trait StoreExt: Store {
    /// The object under `key` decoded as `T`.
    fn get_as<T: DeserializeOwned>(&self, key: &ObjectKey) -> Result<T> {
        decode(key, self.get(key)?)
    }

    /// [`Store::list`] decoded as `T`.
    fn list_as<T: DeserializeOwned>(
        &self,
        kind: &str,
        namespace: Option<&str>,
        selector: Option<&LabelSelector>,
    ) -> Result<Vec<T>> {
        let mut items = Vec::new();
        self.list_with(kind, namespace, selector, &mut |o| {
            items.push(o.decode()?);
            Ok(())
        })?;
        Ok(items)
    }

    /// The object under `key` as the typed [`Object`] of its kind.
    fn get_object(&self, key: &ObjectKey) -> Result<Object> {
        to_object(key, self.get(key)?)
    }

    /// [`Store::create`] of a typed object, returning it as stored.
    fn create_typed<T: Serialize + DeserializeOwned>(&self, obj: &T) -> Result<T> {
        let value = encode(obj)?;
        let stored = self.create(value)?;
        decode(&ObjectKey::of(&stored), stored)
    }

    /// [`update_with_retry`] with a mutation of the typed object.
    fn update_typed_with_retry<T, F>(
        &self,
        key: &ObjectKey,
        subresource: Subresource,
        mut mutate: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(&mut T) -> Result<()>,
    {
        let stored = update_with_retry(self, key, subresource, |value| {
            let mut typed: T = decode(key, std::mem::take(value))?;
            mutate(&mut typed)?;
            *value = encode(&typed)?;
            Ok(())
        })?;
        decode(key, stored)
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

/// Decodes a stored object; for Secrets the error says where, never what.
pub fn decode<T: DeserializeOwned>(key: &ObjectKey, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| StoreError::Decode {
        key: key.clone(),
        reason: describe_json_error(key, &e),
    })
}

/// Decodes a stored object into the typed [`Object`] of `key.kind`.
pub fn to_object(key: &ObjectKey, value: Value) -> Result<Object> {
    use crate::other;
    Ok(match key.kind.as_str() {
        "BareMetalHost" => Object::BareMetalHost(Box::new(decode(key, value)?)),
        "Secret" => Object::Secret(Box::new(decode(key, value)?)),
        "HardwareData" => {
            Object::HardwareData(Box::new(decode::<other::HardwareData>(key, value)?))
        }
        "HostFirmwareSettings" => Object::HostFirmwareSettings(Box::new(decode::<
            other::HostFirmwareSettings,
        >(key, value)?)),
        "FirmwareSchema" => {
            Object::FirmwareSchema(Box::new(decode::<other::FirmwareSchema>(key, value)?))
        }
        "HostFirmwareComponents" => Object::HostFirmwareComponents(Box::new(decode::<
            other::HostFirmwareComponents,
        >(key, value)?)),
        "PreprovisioningImage" => Object::PreprovisioningImage(Box::new(decode::<
            other::PreprovisioningImage,
        >(key, value)?)),
        "DataImage" => Object::DataImage(Box::new(decode::<other::DataImage>(key, value)?)),
        "BMCEventSubscription" => Object::BMCEventSubscription(Box::new(decode::<
            other::BMCEventSubscription,
        >(key, value)?)),
        "HostUpdatePolicy" => {
            Object::HostUpdatePolicy(Box::new(decode::<other::HostUpdatePolicy>(key, value)?))
        }
        "HostNetworkAttachment" => Object::HostNetworkAttachment(Box::new(decode::<
            other::HostNetworkAttachment,
        >(key, value)?)),
        _ => {
            return Err(StoreError::Decode {
                key: key.clone(),
                reason: "no typed form for this kind".into(),
            })
        }
    })
}

/// Decodes stored JSON text; for Secrets the error says where, never what.
pub fn decode_str<T: DeserializeOwned>(key: &ObjectKey, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| StoreError::Decode {
        key: key.clone(),
        reason: describe_json_error(key, &e),
    })
}

fn encode<T: Serialize>(obj: &T) -> Result<Value> {
    serde_json::to_value(obj).map_err(|e| StoreError::Encode {
        type_name: std::any::type_name::<T>(),
        reason: format!("{:?} error", e.classify()),
    })
}

/// A JSON error as text fit for a [`StoreError`]: serde_json messages quote
/// offending values, so for Secrets only the error class is kept.
pub fn describe_json_error(key: &ObjectKey, e: &serde_json::Error) -> String {
    if key.kind == "Secret" {
        format!(
            "{:?} error (details withheld: Secret data is never shown)",
            e.classify()
        )
    } else {
        e.to_string()
    }
}
