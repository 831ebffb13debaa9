//! The store-backed layer: reconciles IPClaims, CAPI IPAddressClaims and
//! IPPools through any [`Store`], persisting `status.indexes`, IPAddress
//! objects and claim status the way Metal³'s IPPool controller does.
//!
//! # Why several processes never hand out one address twice
//!
//! Every allocation is first *reserved* in the pool's `status.indexes` by a
//! status update carrying the pool's `resourceVersion` as read (optimistic
//! concurrency). The in-use set an allocation is computed from is built
//! *after* that read, from the pool's pre-allocations and the reservations in
//! `status.indexes`. So a writer whose read preceded another writer's
//! reservation loses the compare-and-swap, re-reads and recomputes. Only
//! after the reservation does the IPAddress object get created (its name is
//! derived from the address, so the object store refuses a second holder as
//! well), then the claim's status. A process that stops between the two
//! steps leaves a reservation that the next reconcile of that claim completes.
//!
//! Release runs in the opposite order: the IPAddress object goes first, then
//! the reservation, so the address is in the in-use set until both are gone.
//!
//! IPAddress objects created some other way are folded into `status.indexes`
//! by [`sync_indexes`], upstream's recomputation from every object, which runs
//! on pool reconcile, from [`adopt_address`], and when an address object turns
//! out to be taken (the claim then chooses again).

use std::collections::BTreeMap;

use metal3_hostmodel::store::{
    ObjectKey, Store, StoreError, StoreExt, Subresource, UPDATE_ATTEMPTS,
};
use metal3_hostmodel::{ObjectMeta, Time};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::addr;
use crate::alloc::{Allocation, ClaimRequest, PoolAllocator};
use crate::error::IpamError;
use crate::types::*;

/// Store kind of IPPool objects.
pub const IPPOOL_KIND: &str = "IPPool";
/// Store kind of IPClaim objects.
pub const IPCLAIM_KIND: &str = "IPClaim";
/// Store kind of both IPAddress flavours (told apart by `apiVersion`; their
/// names are derived from the address, so one address has one object).
pub const IPADDRESS_KIND: &str = "IPAddress";
/// Store kind of CAPI IPAddressClaim objects.
pub const CAPI_CLAIM_KIND: &str = "IPAddressClaim";

/// What went wrong persisting an allocation. Allocation failures that
/// upstream records on the claim are not errors: see [`ClaimOutcome::Failed`].
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The store refused an operation.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pool cannot be used (invalid spec) or the claim hit a transient
    /// conflict upstream would requeue (`AddressHeld`).
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// An IPAddress object with the allocated name belongs to another claim:
    /// the store holds an object the pool's allocations do not account for.
    #[error("{key}: exists for claim {holder:?}, not for claim {claim:?}; the pool's status.indexes and its IPAddress objects disagree")]
    AddressObjectTaken {
        /// The IPAddress key.
        key: ObjectKey,
        /// Claim the object names.
        holder: String,
        /// Claim being allocated.
        claim: String,
    },
    /// The pool stayed contended for every attempt.
    #[error(
        "pool {pool}: still conflicting after {attempts} attempts; too many concurrent writers"
    )]
    Contended {
        /// The pool key.
        pool: ObjectKey,
        /// Attempts made.
        attempts: u32,
    },
}

/// Result type of this module.
pub type Result<T, E = PersistError> = std::result::Result<T, E>;

/// What reconciling one claim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The claim holds this address (newly or already).
    Allocated(Allocation),
    /// Allocation failed; the message was written to the claim's status.
    Failed(String),
    /// The claim failed earlier; upstream does not retry errored claims.
    AlreadyFailed(String),
    /// The referenced IPPool does not exist (yet); applying it allocates.
    PoolMissing(String),
    /// The claim was being deleted and its address is released (the claim is gone).
    Released(Option<String>),
    /// The claim is being deleted but other finalizers keep its address.
    StillInUse(Vec<String>),
}

/// What reconciling a pool did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolOutcome {
    /// The pool is live; `status.indexes` matches its addresses.
    Ready {
        /// Number of claims holding an address.
        allocations: usize,
    },
    /// The pool is being deleted but IPAddress objects still reference it.
    DeletionBlocked {
        /// Number of them.
        addresses: usize,
    },
    /// The pool was being deleted and is now gone.
    Deleted,
}

/// Capacity and allocations of one pool, for `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsage {
    /// Addresses the ranges span (`None` when a range is unbounded, i.e. `start` only).
    pub capacity: Option<u128>,
    /// Addresses in use: allocations plus unclaimed pre-allocations.
    pub used: u128,
    /// `capacity - used` when the capacity is known.
    pub free: Option<u128>,
    /// Claim name -> address (`status.indexes` as recomputed from the store).
    pub allocations: BTreeMap<String, String>,
    /// Pre-allocated addresses no claim holds yet.
    pub reserved: BTreeMap<String, String>,
}

/// The two claim flavours, handled by one code path.
trait Claim: Serialize + DeserializeOwned {
    const FINALIZER: &'static str;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    fn pool_name(&self) -> &str;
    fn request(&self) -> ClaimRequest<'_>;
    /// `status.address` / `status.addressRef` is set.
    fn has_address(&self) -> bool {
        self.address_name().is_some()
    }
    /// The IPAddress name in `status.address` / `status.addressRef`.
    fn address_name(&self) -> Option<&str>;
    /// The error an earlier reconcile recorded, if any.
    fn recorded_error(&self) -> Option<String>;
    fn set_success(&mut self, a: &Allocation, pool_namespace: &str);
    fn set_failure(&mut self, e: &IpamError);
    fn clear(&mut self);
    fn address_object(&self, a: &Allocation, pool: &IPPool) -> Result<Value>;
}

fn encode<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| {
        PersistError::Store(StoreError::Encode {
            type_name: std::any::type_name::<T>(),
            reason: format!("{:?} error", e.classify()),
        })
    })
}

impl Claim for IPClaim {
    const FINALIZER: &'static str = IPCLAIM_FINALIZER;
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn pool_name(&self) -> &str {
        &self.spec.pool.name
    }
    fn request(&self) -> ClaimRequest<'_> {
        ClaimRequest::from_ipclaim(self)
    }
    fn address_name(&self) -> Option<&str> {
        self.status
            .as_ref()
            .and_then(|s| s.address.as_ref())
            .map(|a| a.name.as_str())
            .filter(|n| !n.is_empty())
    }
    fn recorded_error(&self) -> Option<String> {
        self.status
            .as_ref()
            .and_then(|s| s.error_message.clone())
            .filter(|m| !m.is_empty())
    }
    fn set_success(&mut self, a: &Allocation, pool_namespace: &str) {
        self.status = Some(a.ipclaim_status(pool_namespace));
    }
    fn set_failure(&mut self, e: &IpamError) {
        self.status = Some(e.ipclaim_status());
    }
    fn clear(&mut self) {
        if let Some(s) = &mut self.status {
            s.address = None;
        }
    }
    fn address_object(&self, a: &Allocation, pool: &IPPool) -> Result<Value> {
        encode(&a.to_ipaddress(pool, self))
    }
}

impl Claim for CapiIPAddressClaim {
    const FINALIZER: &'static str = CAPI_CLAIM_FINALIZER;
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn pool_name(&self) -> &str {
        &self.spec.pool_ref.name
    }
    fn request(&self) -> ClaimRequest<'_> {
        ClaimRequest::from_capi_claim(self)
    }
    fn address_name(&self) -> Option<&str> {
        self.status
            .as_ref()
            .and_then(|s| s.address_ref.as_ref())
            .map(|r| r.name.as_str())
            .filter(|n| !n.is_empty())
    }
    fn recorded_error(&self) -> Option<String> {
        let first = self.status.as_ref()?.conditions.first()?;
        matches!(first.reason.as_str(), "AllocationFailed" | "PoolExhausted")
            .then(|| first.message.clone())
    }
    fn set_success(&mut self, a: &Allocation, _pool_namespace: &str) {
        self.status = Some(a.capi_claim_status(Time::now()));
    }
    fn set_failure(&mut self, e: &IpamError) {
        self.status = Some(e.capi_claim_status(Time::now()));
    }
    fn clear(&mut self) {
        if let Some(s) = &mut self.status {
            s.address_ref = None;
        }
    }
    fn address_object(&self, a: &Allocation, pool: &IPPool) -> Result<Value> {
        encode(&a.to_capi_ipaddress(pool, self))
    }
}

/// Reconciles one IPClaim: allocates (reserving in the pool, creating the
/// IPAddress, writing the claim status) or, when it is being deleted,
/// releases its address and removes its finalizer.
pub fn reconcile_ipclaim(store: &dyn Store, namespace: &str, name: &str) -> Result<ClaimOutcome> {
    reconcile_claim::<IPClaim>(store, &ObjectKey::new(IPCLAIM_KIND, namespace, name))
}

/// [`reconcile_ipclaim`] for a CAPI `ipam.cluster.x-k8s.io` IPAddressClaim.
pub fn reconcile_capi_claim(
    store: &dyn Store,
    namespace: &str,
    name: &str,
) -> Result<ClaimOutcome> {
    reconcile_claim::<CapiIPAddressClaim>(store, &ObjectKey::new(CAPI_CLAIM_KIND, namespace, name))
}

/// Deletes an IPClaim and releases its address (pre-allocated addresses stay
/// reserved); the claim stays while other finalizers hold it.
pub fn delete_ipclaim(store: &dyn Store, namespace: &str, name: &str) -> Result<ClaimOutcome> {
    delete_claim::<IPClaim>(store, &ObjectKey::new(IPCLAIM_KIND, namespace, name))
}

/// [`delete_ipclaim`] for a CAPI IPAddressClaim.
pub fn delete_capi_claim(store: &dyn Store, namespace: &str, name: &str) -> Result<ClaimOutcome> {
    delete_claim::<CapiIPAddressClaim>(store, &ObjectKey::new(CAPI_CLAIM_KIND, namespace, name))
}

fn delete_claim<C: Claim>(store: &dyn Store, key: &ObjectKey) -> Result<ClaimOutcome> {
    store.delete(key)?;
    match store.get(key) {
        Err(e) if e.is_not_found() => Ok(ClaimOutcome::Released(None)),
        Err(e) => Err(e.into()),
        Ok(_) => reconcile_claim::<C>(store, key),
    }
}

fn reconcile_claim<C: Claim>(store: &dyn Store, key: &ObjectKey) -> Result<ClaimOutcome> {
    let claim: C = store.get_as(key)?;
    let pool_key = ObjectKey::new(IPPOOL_KIND, &key.namespace, claim.pool_name());
    if claim.meta().deletion_timestamp.is_some() {
        return release::<C>(store, key, &claim, &pool_key);
    }
    if let Some(name) = claim.address_name() {
        // Already done; report what it holds.
        if let Some(a) = held_allocation(store, &key.namespace, name, &key.name, &pool_key.name)? {
            return Ok(ClaimOutcome::Allocated(a));
        }
    }
    if let Some(message) = claim.recorded_error() {
        return Ok(ClaimOutcome::AlreadyFailed(message));
    }
    allocate::<C>(store, key, &pool_key)
}

/// `apiVersion` prefix of the CAPI IPAM kinds.
const CAPI_IPAM_GROUP_PREFIX: &str = "ipam.cluster.x-k8s.io/";

/// The fields of either IPAddress flavour the in-use set needs; serde skips
/// the rest without building it, since every reconcile reads all of them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressRow {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    spec: AddressRowSpec,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressRowSpec {
    #[serde(default)]
    pool: NameRef,
    #[serde(default)]
    pool_ref: NameRef,
    #[serde(default)]
    claim: NameRef,
    #[serde(default)]
    claim_ref: NameRef,
    #[serde(default)]
    address: String,
    prefix: Option<i32>,
    gateway: Option<String>,
    #[serde(default)]
    dns_servers: Vec<String>,
}

#[derive(Default, Deserialize)]
struct NameRef {
    #[serde(default)]
    name: String,
}

impl AddressRow {
    /// The pool the object references (`spec.pool` or CAPI `spec.poolRef`).
    fn pool_name(&self) -> &str {
        if self.api_version.starts_with(CAPI_IPAM_GROUP_PREFIX) {
            &self.spec.pool_ref.name
        } else {
            &self.spec.pool.name
        }
    }

    /// The claim the object records (`spec.claim` or CAPI `spec.claimRef`).
    fn claim_name(&self) -> &str {
        if self.api_version.starts_with(CAPI_IPAM_GROUP_PREFIX) {
            &self.spec.claim_ref.name
        } else {
            &self.spec.claim.name
        }
    }
}

/// Where [`PoolState::load`] takes the in-use set from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Every IPAddress object referencing the pool plus its reservations, as
    /// upstream rebuilds it on every reconcile (cost grows with the namespace).
    Objects,
    /// Only `status.indexes` and the pre-allocations: every allocation made
    /// here is reserved there first, and objects created some other way are
    /// folded in by [`sync_indexes`] (on pool reconcile, when an IPAddress is
    /// applied, and when creating an address object finds it taken).
    Indexes,
}

/// A pool with its in-use set as recomputed from the store.
struct PoolState {
    allocator: PoolAllocator,
    /// Reservations in `status.indexes` without an IPAddress object yet.
    pending: BTreeMap<String, String>,
    /// IPAddress objects referencing the pool (both flavours).
    objects: usize,
}

impl PoolState {
    /// Builds the in-use set from the pool as read, every IPAddress object
    /// referencing it and its pending reservations (see the module docs).
    fn load(store: &dyn Store, pool: &IPPool, scan: Scan) -> Result<Self> {
        let mut metal3 = Vec::new();
        let mut capi = Vec::new();
        let pool_name = pool.metadata.name.as_str();
        if scan == Scan::Objects {
            store.list_with(
                IPADDRESS_KIND,
                Some(&pool.metadata.namespace),
                None,
                &mut |o| {
                    let row: AddressRow = o.decode()?;
                    if row.pool_name() != pool_name || pool_name.is_empty() {
                        return Ok(());
                    }
                    let spec = row.spec;
                    if row.api_version.starts_with(CAPI_IPAM_GROUP_PREFIX) {
                        capi.push(CapiIPAddress {
                            spec: CapiIPAddressSpec {
                                claim_ref: LocalReference {
                                    name: spec.claim_ref.name,
                                },
                                pool_ref: TypedLocalReference {
                                    name: spec.pool_ref.name,
                                    ..TypedLocalReference::default()
                                },
                                address: spec.address,
                                prefix: spec.prefix,
                                gateway: spec.gateway,
                            },
                            ..CapiIPAddress::default()
                        });
                    } else {
                        let reference = |r: NameRef| metal3_hostmodel::ObjectReference {
                            name: r.name,
                            ..Default::default()
                        };
                        metal3.push(IPAddress {
                            spec: IPAddressSpec {
                                claim: reference(spec.claim),
                                pool: reference(spec.pool),
                                address: spec.address,
                                prefix: spec.prefix,
                                gateway: spec.gateway,
                                dns_servers: spec.dns_servers,
                            },
                            ..IPAddress::default()
                        });
                    }
                    Ok(())
                },
            )?;
        }
        let objects = metal3.len() + capi.len();
        let mut allocator = PoolAllocator::from_state(pool, &metal3, &capi)?.with_seed(seed());
        let indexes = pool
            .status
            .as_ref()
            .map(|s| s.allocations.clone())
            .unwrap_or_default();
        let mut pending = BTreeMap::new();
        for (claim, address) in indexes {
            if allocator.get(&claim).is_some() {
                continue;
            }
            // Reserve the pending address for its claim as it was chosen.
            let req = ClaimRequest {
                name: &claim,
                requested: Some(&address),
                capi: false,
            };
            if allocator.allocate_request(req).is_ok() {
                pending.insert(claim, address);
            }
        }
        Ok(PoolState {
            allocator,
            pending,
            objects,
        })
    }
}

/// The allocation an IPAddress object (either flavour) records for `claim`
/// in `pool`, if that object exists and says so.
fn held_allocation(
    store: &dyn Store,
    namespace: &str,
    name: &str,
    claim: &str,
    pool: &str,
) -> Result<Option<Allocation>> {
    let v = match store.get(&ObjectKey::new(IPADDRESS_KIND, namespace, name)) {
        Ok(v) => v,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let row: AddressRow = serde_json::from_value(v).map_err(|e| {
        PersistError::Store(StoreError::Decode {
            key: ObjectKey::new(IPADDRESS_KIND, namespace, name),
            reason: e.to_string(),
        })
    })?;
    if row.claim_name() != claim || row.pool_name() != pool {
        return Ok(None);
    }
    Ok(Some(Allocation {
        claim: claim.into(),
        name: name.into(),
        prefix: row.spec.prefix.unwrap_or(0),
        gateway: row.spec.gateway.filter(|g| !g.is_empty()),
        dns_servers: row.spec.dns_servers,
        address: row.spec.address,
    }))
}

/// A seed for the `random` strategy that differs between processes and calls.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// Sleeps a short, random, growing time so writers that collided on the pool
/// do not collide again in lock step.
fn backoff(attempt: u32) {
    let ceiling_us = 200u64 << attempt.min(6);
    std::thread::sleep(std::time::Duration::from_micros(seed() % ceiling_us));
}

fn allocate<C: Claim>(
    store: &dyn Store,
    key: &ObjectKey,
    pool_key: &ObjectKey,
) -> Result<ClaimOutcome> {
    // Upstream puts its finalizer on the claim before allocating, so a claim
    // deleted meanwhile cannot leave an unreleased reservation behind.
    store.update_typed_with_retry::<C, _>(key, Subresource::Main, |c| {
        let f = &mut c.meta_mut().finalizers;
        if !f.iter().any(|x| x == C::FINALIZER) {
            f.push(C::FINALIZER.into());
        }
        Ok(())
    })?;
    for attempt in 0..UPDATE_ATTEMPTS {
        let claim: C = store.get_as(key)?;
        let pool: IPPool = match store.get_as(pool_key) {
            Ok(p) => p,
            Err(e) if e.is_not_found() => {
                return Ok(ClaimOutcome::PoolMissing(pool_key.name.clone()))
            }
            Err(e) => return Err(e.into()),
        };
        ensure_pool_finalizer(store, pool_key, &pool)?;
        let mut state = PoolState::load(store, &pool, Scan::Indexes)?;
        // A reservation of this claim from an interrupted run is completed
        // with the address it reserved.
        let own_pending = state.pending.remove(&key.name);
        if own_pending.is_some() {
            state.allocator.release(&key.name);
        }
        let mut request = claim.request();
        let reuse = own_pending
            .as_deref()
            .filter(|_| request.requested.is_none());
        if let Some(addr) = reuse {
            request.requested = Some(addr);
        }
        let result = state
            .allocator
            .allocate_request(request)
            .or_else(|e| match reuse {
                // The pool changed under the reservation: allocate afresh.
                Some(_) => state.allocator.allocate_request(claim.request()),
                None => Err(e),
            });
        let allocation = match result {
            Ok(a) => a,
            Err(e @ IpamError::AddressHeld { .. }) => return Err(e.into()),
            Err(e @ (IpamError::InvalidPool { .. } | IpamError::InvalidStoredAddress { .. })) => {
                return Err(e.into())
            }
            Err(e) => {
                let message = e.status_message();
                store.update_typed_with_retry::<C, _>(key, Subresource::Status, |c| {
                    c.set_failure(&e);
                    Ok(())
                })?;
                return Ok(ClaimOutcome::Failed(message));
            }
        };
        // Reserve in the pool (compare-and-swap on its resourceVersion).
        let indexes = pool.status.as_ref().map(|s| &s.allocations);
        if indexes.and_then(|i| i.get(&key.name)) != Some(&allocation.address) {
            let mut next = pool.clone();
            let status = next.status.get_or_insert_with(IPPoolStatus::default);
            status
                .allocations
                .insert(key.name.clone(), allocation.address.clone());
            status.last_updated = Some(Time::now());
            match store.update_status(encode(&next)?) {
                Ok(_) => {}
                Err(e) if e.is_conflict() => {
                    backoff(attempt);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        match create_address_object(store, &claim, &allocation, &pool) {
            Ok(()) => {}
            Err(PersistError::AddressObjectTaken { .. }) if attempt + 1 < UPDATE_ATTEMPTS => {
                // An object this pool's status.indexes did not account for
                // (created some other way): fold it in, which also drops this
                // claim's reservation of that address, and choose again.
                sync_indexes(store, pool_key)?;
                continue;
            }
            Err(e) => return Err(e),
        }
        let ns = pool.metadata.namespace.clone();
        store.update_typed_with_retry::<C, _>(key, Subresource::Status, |c| {
            c.set_success(&allocation, &ns);
            Ok(())
        })?;
        return Ok(ClaimOutcome::Allocated(allocation));
    }
    Err(PersistError::Contended {
        pool: pool_key.clone(),
        attempts: UPDATE_ATTEMPTS,
    })
}

/// The claim name an IPAddress object (either flavour) records.
fn claim_of_address(v: &Value) -> &str {
    v.pointer("/spec/claim/name")
        .or_else(|| v.pointer("/spec/claimRef/name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn create_address_object<C: Claim>(
    store: &dyn Store,
    claim: &C,
    a: &Allocation,
    pool: &IPPool,
) -> Result<()> {
    let obj = claim.address_object(a, pool)?;
    match store.create(obj) {
        Ok(_) => Ok(()),
        Err(StoreError::AlreadyExists { key }) => {
            let existing = store.get(&key)?;
            let holder = claim_of_address(&existing);
            if holder == claim.meta().name {
                Ok(())
            } else {
                Err(PersistError::AddressObjectTaken {
                    holder: holder.into(),
                    claim: claim.meta().name.clone(),
                    key,
                })
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn release<C: Claim>(
    store: &dyn Store,
    key: &ObjectKey,
    claim: &C,
    pool_key: &ObjectKey,
) -> Result<ClaimOutcome> {
    let foreign: Vec<String> = claim
        .meta()
        .finalizers
        .iter()
        .filter(|f| *f != C::FINALIZER)
        .cloned()
        .collect();
    if !foreign.is_empty() {
        return Ok(ClaimOutcome::StillInUse(foreign));
    }
    let mut released = None;
    // The IPAddress object first, so the address stays in use until the
    // reservation below is gone too.
    let mut objects = Vec::new();
    store.list_with(IPADDRESS_KIND, Some(&key.namespace), None, &mut |o| {
        let row: AddressRow = o.decode()?;
        if row.claim_name() == key.name && row.pool_name() == pool_key.name {
            objects.push((o.key(), row.spec.address));
        }
        Ok(())
    })?;
    for (akey, address) in objects {
        released = Some(address);
        remove_address_object(store, &akey)?;
    }
    // Then the reservation in the pool, if the pool still exists.
    for attempt in 0..UPDATE_ATTEMPTS {
        let mut pool: IPPool = match store.get_as(pool_key) {
            Ok(p) => p,
            Err(e) if e.is_not_found() => break,
            Err(e) => return Err(e.into()),
        };
        let Some(status) = pool.status.as_mut() else {
            break;
        };
        let Some(addr) = status.allocations.remove(&key.name) else {
            break;
        };
        released.get_or_insert(addr);
        status.last_updated = Some(Time::now());
        match store.update_status(encode(&pool)?) {
            Ok(_) => break,
            Err(e) if e.is_conflict() => backoff(attempt),
            Err(e) => return Err(e.into()),
        }
    }
    // Finally the claim's finalizer; removing the last one removes the claim.
    let removed = store.update_typed_with_retry::<C, _>(key, Subresource::Main, |c| {
        c.clear();
        c.meta_mut().finalizers.retain(|f| f != C::FINALIZER);
        Ok(())
    });
    match removed {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    // A pool waiting for its last address can go now.
    match store.get_as::<IPPool>(pool_key) {
        Ok(p) if p.metadata.deletion_timestamp.is_some() => {
            reconcile_pool(store, &pool_key.namespace, &pool_key.name)?;
        }
        _ => {}
    }
    Ok(ClaimOutcome::Released(released))
}

/// Deletes an IPAddress object, removing the finalizer that holds it.
fn remove_address_object(store: &dyn Store, key: &ObjectKey) -> Result<()> {
    let gone = |e: &StoreError| e.is_not_found();
    match store.delete(key) {
        Ok(_) => {}
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let r = metal3_hostmodel::store::update_with_retry(store, key, Subresource::Main, |v| {
        if let Some(f) = v
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            f.retain(|x| {
                x.as_str() != Some(IPADDRESS_FINALIZER)
                    && x.as_str() != Some(CAPI_ADDRESS_FINALIZER)
            });
        }
        Ok(())
    });
    match r {
        Ok(_) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reconciles an IPPool as the IPPool controller does: adds its finalizer,
/// allocates for every waiting claim that references it, recomputes
/// `status.indexes` from the store and, when the pool is being deleted,
/// removes its finalizer once no IPAddress references it.
pub fn reconcile_pool(store: &dyn Store, namespace: &str, name: &str) -> Result<PoolOutcome> {
    let key = ObjectKey::new(IPPOOL_KIND, namespace, name);
    let pool: IPPool = store.get_as(&key)?;
    ensure_pool_finalizer(store, &key, &pool)?;
    // The metal3 pass, then the CAPI pass (upstream's order).
    let claims: Vec<IPClaim> = store.list_as(IPCLAIM_KIND, Some(namespace), None)?;
    for c in claims.iter().filter(|c| c.spec.pool.name == name) {
        if (!c.has_address() && c.recorded_error().is_none())
            || c.meta().deletion_timestamp.is_some()
        {
            reconcile_ipclaim(store, namespace, &c.metadata.name)?;
        }
    }
    let claims: Vec<CapiIPAddressClaim> = store.list_as(CAPI_CLAIM_KIND, Some(namespace), None)?;
    for c in claims.iter().filter(|c| c.spec.pool_ref.name == name) {
        if (!c.has_address() && c.recorded_error().is_none())
            || c.meta().deletion_timestamp.is_some()
        {
            reconcile_capi_claim(store, namespace, &c.metadata.name)?;
        }
    }
    sync_indexes(store, &key)
}

/// Recomputes a pool's `status.indexes` from every IPAddress object that
/// references it plus its live reservations (upstream's getIndexes), and
/// removes the finalizer of a pool being deleted once nothing references it.
pub fn sync_indexes(store: &dyn Store, key: &ObjectKey) -> Result<PoolOutcome> {
    let namespace = key.namespace.as_str();
    for attempt in 0..UPDATE_ATTEMPTS {
        let mut pool: IPPool = match store.get_as(key) {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Ok(PoolOutcome::Deleted),
            Err(e) => return Err(e.into()),
        };
        let mut state = PoolState::load(store, &pool, Scan::Objects)?;
        // Reservations of claims that no longer exist were left by a process
        // that stopped mid-allocation; live claims always exist while they
        // allocate (their finalizer is set first).
        let stale: Vec<String> = state
            .pending
            .keys()
            .filter(|claim| !claim_exists(store, namespace, claim))
            .cloned()
            .collect();
        for claim in &stale {
            state.pending.remove(claim);
            state.allocator.release(claim);
        }
        let indexes = state.allocator.status_indexes();
        let deleting = pool.metadata.deletion_timestamp.is_some();
        if deleting && state.objects == 0 && state.pending.is_empty() {
            let r = store.update_typed_with_retry::<IPPool, _>(key, Subresource::Main, |p| {
                p.metadata.finalizers.retain(|f| f != IPPOOL_FINALIZER);
                Ok(())
            });
            return match r {
                Ok(_) => Ok(PoolOutcome::Deleted),
                Err(e) if e.is_not_found() => Ok(PoolOutcome::Deleted),
                Err(e) => Err(e.into()),
            };
        }
        let status = pool.status.get_or_insert_with(IPPoolStatus::default);
        let stale = status.allocations != indexes || status.last_updated.is_none();
        if stale {
            if status.allocations != indexes {
                status.last_updated = Some(Time::now());
            } else if status.last_updated.is_none() {
                status.last_updated = pool.metadata.creation_timestamp;
            }
            status.allocations = indexes.clone();
            match store.update_status(encode(&pool)?) {
                Ok(_) => {}
                Err(e) if e.is_conflict() => {
                    backoff(attempt);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(if deleting {
            PoolOutcome::DeletionBlocked {
                addresses: state.objects + state.pending.len(),
            }
        } else {
            PoolOutcome::Ready {
                allocations: indexes.len(),
            }
        });
    }
    Err(PersistError::Contended {
        pool: key.clone(),
        attempts: UPDATE_ATTEMPTS,
    })
}

/// Label IPAM puts on a pool naming its `spec.clusterName`.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Label IPAM puts on a pool with a `spec.clusterName` (value `ipam-metal3`).
pub const PROVIDER_LABEL: &str = "cluster.x-k8s.io/provider";

/// Whether a pool lacks what the controller puts on it: the IPPool finalizer
/// (so it cannot disappear while IPAddress objects reference it) and, with a
/// `clusterName`, the cluster labels. Applies them when `fix` is true.
fn pool_metadata_missing(p: &mut IPPool, fix: bool) -> bool {
    let mut missing = false;
    if p.metadata.deletion_timestamp.is_none()
        && !p.metadata.finalizers.iter().any(|f| f == IPPOOL_FINALIZER)
    {
        missing = true;
        if fix {
            p.metadata.finalizers.push(IPPOOL_FINALIZER.into());
        }
    }
    if let Some(cluster) = p.spec.cluster_name.clone().filter(|c| !c.is_empty()) {
        for (k, v) in [
            (CLUSTER_NAME_LABEL, cluster.as_str()),
            (PROVIDER_LABEL, "ipam-metal3"),
        ] {
            if p.metadata.labels.get(k).map(String::as_str) != Some(v) {
                missing = true;
                if fix {
                    p.metadata.labels.insert(k.into(), v.into());
                }
            }
        }
    }
    missing
}

/// Puts the finalizer and cluster labels on a pool that lacks them.
fn ensure_pool_finalizer(store: &dyn Store, key: &ObjectKey, pool: &IPPool) -> Result<()> {
    if !pool_metadata_missing(&mut pool.clone(), false) {
        return Ok(());
    }
    store.update_typed_with_retry::<IPPool, _>(key, Subresource::Main, |p| {
        pool_metadata_missing(p, true);
        Ok(())
    })?;
    Ok(())
}

/// Whether an IPClaim or CAPI IPAddressClaim of that name exists (errors count
/// as existing, so a store hiccup never drops a reservation).
fn claim_exists(store: &dyn Store, namespace: &str, name: &str) -> bool {
    [IPCLAIM_KIND, CAPI_CLAIM_KIND].iter().any(|kind| {
        !store
            .get(&ObjectKey::new(kind, namespace, name))
            .is_err_and(|e| e.is_not_found())
    })
}

/// Folds an IPAddress object created outside this layer (e.g. applied from
/// a manifest) into its pool's `status.indexes`; `None` when it names no
/// existing pool.
pub fn adopt_address(
    store: &dyn Store,
    namespace: &str,
    name: &str,
) -> Result<Option<PoolOutcome>> {
    let v = store.get(&ObjectKey::new(IPADDRESS_KIND, namespace, name))?;
    let row: AddressRow = serde_json::from_value(v).map_err(|e| {
        PersistError::Store(StoreError::Decode {
            key: ObjectKey::new(IPADDRESS_KIND, namespace, name),
            reason: e.to_string(),
        })
    })?;
    let pool_key = ObjectKey::new(IPPOOL_KIND, namespace, row.pool_name());
    match store.get(&pool_key) {
        Ok(_) => sync_indexes(store, &pool_key).map(Some),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Deletes an IPPool: gone at once when no IPAddress references it, else
/// kept (with `deletionTimestamp`) until the last claim is released.
pub fn delete_pool(store: &dyn Store, namespace: &str, name: &str) -> Result<PoolOutcome> {
    let key = ObjectKey::new(IPPOOL_KIND, namespace, name);
    let pool: IPPool = store.get_as(&key)?;
    ensure_pool_finalizer(store, &key, &pool)?;
    store.delete(&key)?;
    match store.get(&key) {
        Err(e) if e.is_not_found() => Ok(PoolOutcome::Deleted),
        Err(e) => Err(e.into()),
        Ok(_) => reconcile_pool(store, namespace, name),
    }
}

/// Capacity, use and the allocation map of a stored pool.
pub fn pool_usage(store: &dyn Store, namespace: &str, name: &str) -> Result<PoolUsage> {
    let pool: IPPool = store.get_as(&ObjectKey::new(IPPOOL_KIND, namespace, name))?;
    let state = PoolState::load(store, &pool, Scan::Objects)?;
    let allocations = state.allocator.status_indexes();
    let held: std::collections::HashSet<&str> = allocations.keys().map(String::as_str).collect();
    let reserved: BTreeMap<String, String> = if pool.metadata.deletion_timestamp.is_some() {
        BTreeMap::new()
    } else {
        pool.spec
            .pre_allocations
            .iter()
            .filter(|(c, _)| !held.contains(c.as_str()))
            .map(|(c, a)| (c.clone(), a.clone()))
            .collect()
    };
    let capacity = pool_capacity(&pool);
    let used = state.allocator.in_use_count();
    Ok(PoolUsage {
        capacity,
        used,
        free: capacity.map(|c| c.saturating_sub(used)),
        allocations,
        reserved,
    })
}

/// Addresses the sequential scan can hand out over all ranges (`None` for
/// an unbounded `start`-only range). Overlapping ranges count once each.
pub fn pool_capacity(pool: &IPPool) -> Option<u128> {
    let mut total: u128 = 0;
    for p in &pool.spec.pools {
        if let Some((lo, hi)) = addr::sequential_range(p) {
            if p.end.is_none() && p.subnet.is_none() {
                return None;
            }
            total = total.saturating_add((hi - lo).saturating_add(1));
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests;
