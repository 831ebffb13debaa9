//! IP allocation for the IPClaims a Metal3Data creates: the IPPool
//! controller's work for one claim (reference §1.5), over the store.
//!
//! The in-use set is rebuilt from the pool's IPAddress objects on every call,
//! as upstream does; the IPAddress name (`<namePrefix>-<address>`) is unique
//! per address, so two processes allocating at once cannot hand out the same
//! address: the second `create` fails with AlreadyExists and the pass is
//! retried.

use metal3_hostmodel::store::{ObjectKey, Store, StoreExt};
use metal3_hostmodel::ObjectReference;
use metal3_ipam::{
    Allocation, IPAddress, IPClaim, IPPool, PoolAllocator, IPADDRESS_FINALIZER, IPCLAIM_FINALIZER,
};

use super::{
    add_finalizer, describe, get_opt, remove_finalizer_and_delete, save, ReconcileError,
    IPADDRESS_KIND, IPCLAIM_KIND, IPPOOL_KIND,
};

fn allocation_of(a: &IPAddress) -> Allocation {
    Allocation {
        claim: a.spec.claim.name.clone(),
        address: a.spec.address.clone(),
        name: a.metadata.name.clone(),
        prefix: a.spec.prefix.unwrap_or(0),
        gateway: a.spec.gateway.clone(),
        dns_servers: a.spec.dns_servers.clone(),
    }
}

fn pool_of(store: &dyn Store, claim: &IPClaim) -> Result<IPPool, ReconcileError> {
    let ns = if claim.spec.pool.namespace.is_empty() {
        claim.metadata.namespace.as_str()
    } else {
        claim.spec.pool.namespace.as_str()
    };
    let key = ObjectKey::new(IPPOOL_KIND, ns, &claim.spec.pool.name);
    get_opt(store, &key)?.ok_or_else(|| ReconcileError::Invalid {
        object: format!(
            "IPClaim {}/{}",
            claim.metadata.namespace, claim.metadata.name
        ),
        problem: format!("IPPool {ns}/{} not found", claim.spec.pool.name),
    })
}

/// The address of IPClaim `key`, allocating it (IPAddress object, claim
/// finalizer and status, pool `status.indexes`) if the claim has none yet.
/// `Ok(None)` when the claim does not exist.
pub fn allocate_ip(
    store: &dyn Store,
    key: &ObjectKey,
) -> Result<Option<Allocation>, ReconcileError> {
    let Some(claim) = get_opt::<IPClaim>(store, key)? else {
        return Ok(None);
    };
    if let Some(addr) = claim.status.as_ref().and_then(|s| s.address.as_ref()) {
        let akey = ObjectKey::new(IPADDRESS_KIND, &addr.namespace, &addr.name);
        if let Some(a) = get_opt::<IPAddress>(store, &akey)? {
            return Ok(Some(allocation_of(&a)));
        }
    }
    let pool = pool_of(store, &claim)?;
    let pool_ns = pool.metadata.namespace.clone();
    let addresses: Vec<IPAddress> = store.list_as(IPADDRESS_KIND, Some(&pool_ns), None)?;
    let ipam_err = |e: metal3_ipam::IpamError| ReconcileError::Ipam {
        object: describe(key),
        pool: pool.metadata.name.clone(),
        message: e.status_message(),
    };
    let mut alloc = PoolAllocator::from_state(&pool, &addresses, &[]).map_err(ipam_err)?;
    let (a, created) = match alloc.get(&claim.metadata.name) {
        Some(a) => (a, false),
        None => (alloc.allocate(&claim).map_err(ipam_err)?, true),
    };
    if created {
        let obj = a.to_ipaddress(&pool, &claim);
        store.create_typed(&obj)?;
    }
    let mut next = claim.clone();
    add_finalizer(&mut next.metadata.finalizers, IPCLAIM_FINALIZER);
    let status = a.ipclaim_status(&pool_ns);
    next.status = Some(status);
    save(store, &claim, &next)?;
    record_indexes(store, &pool, &alloc)?;
    Ok(Some(a))
}

/// Writes the pool's `status.indexes` (claim → address) if it changed.
fn record_indexes(
    store: &dyn Store,
    pool: &IPPool,
    alloc: &PoolAllocator,
) -> Result<(), ReconcileError> {
    let key = ObjectKey::new(IPPOOL_KIND, &pool.metadata.namespace, &pool.metadata.name);
    let indexes = alloc.status_indexes();
    let r = metal3_hostmodel::store::update_with_retry(
        store,
        &key,
        metal3_hostmodel::store::Subresource::Status,
        |v| {
            let cur = v.pointer("/status/indexes").cloned();
            let want = serde_json::to_value(&indexes).unwrap_or_default();
            if cur.as_ref() != Some(&want) {
                if !v.get("status").is_some_and(serde_json::Value::is_object) {
                    v["status"] = serde_json::json!({});
                }
                v["status"]["indexes"] = want;
                v["status"]["lastUpdated"] =
                    serde_json::to_value(metal3_hostmodel::time::Time::now()).unwrap_or_default();
            }
            Ok(())
        },
    );
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Releases IPClaim `key`: deletes its IPAddress, then the claim itself
/// (both losing their finalizers), and updates the pool's `status.indexes`.
pub fn release_ip(store: &dyn Store, key: &ObjectKey) -> Result<(), ReconcileError> {
    let Some(claim) = get_opt::<IPClaim>(store, key)? else {
        return Ok(());
    };
    let addr: Option<ObjectReference> = claim.status.as_ref().and_then(|s| s.address.clone());
    if let Some(addr) = addr {
        let akey = ObjectKey::new(IPADDRESS_KIND, &addr.namespace, &addr.name);
        remove_finalizer_and_delete(store, &akey, IPADDRESS_FINALIZER)?;
    }
    let ckey = ObjectKey::new(
        IPCLAIM_KIND,
        &claim.metadata.namespace,
        &claim.metadata.name,
    );
    // The claim may carry our data finalizer and IPAM's; both go.
    let r = metal3_hostmodel::store::update_with_retry(
        store,
        &ckey,
        metal3_hostmodel::store::Subresource::Main,
        |v| {
            if let Some(m) = v
                .get_mut("metadata")
                .and_then(serde_json::Value::as_object_mut)
            {
                m.insert("finalizers".into(), serde_json::json!([]));
            }
            Ok(())
        },
    );
    match r {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    super::delete_quietly(store, &ckey)?;
    if let Ok(pool) = pool_of(store, &claim) {
        let addresses: Vec<IPAddress> =
            store.list_as(IPADDRESS_KIND, Some(&pool.metadata.namespace), None)?;
        if let Ok(alloc) = PoolAllocator::from_state(&pool, &addresses, &[]) {
            record_indexes(store, &pool, &alloc)?;
        }
    }
    Ok(())
}
