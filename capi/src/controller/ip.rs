//! The IPClaims a Metal3Data creates, allocated and released through
//! `metal3_ipam::persist` (the IPPool controller's work, over the store).

use metal3_hostmodel::store::{update_with_retry, ObjectKey, Store, Subresource};
use metal3_ipam::persist::{delete_ipclaim, reconcile_ipclaim, ClaimOutcome, PersistError};
use metal3_ipam::Allocation;
use serde_json::Value;

use super::{describe, ReconcileError, DATA_FINALIZER};

fn persist_error(key: &ObjectKey, e: PersistError) -> ReconcileError {
    match e {
        PersistError::Store(s) => ReconcileError::Store(s),
        other => ReconcileError::Invalid {
            object: describe(key),
            problem: other.to_string(),
        },
    }
}

/// The address of IPClaim `key`, allocating it if the claim has none yet.
/// `Ok(None)` while it cannot be allocated yet (claim or pool missing).
/// An allocation failure recorded on the claim is an error naming the pool.
pub fn allocate_ip(
    store: &dyn Store,
    key: &ObjectKey,
    pool: &str,
) -> Result<Option<Allocation>, ReconcileError> {
    match reconcile_ipclaim(store, &key.namespace, &key.name).map_err(|e| persist_error(key, e))? {
        ClaimOutcome::Allocated(a) => Ok(Some(a)),
        ClaimOutcome::Failed(message) | ClaimOutcome::AlreadyFailed(message) => {
            Err(ReconcileError::Ipam {
                object: describe(key),
                pool: pool.to_string(),
                message,
            })
        }
        ClaimOutcome::PoolMissing(_) | ClaimOutcome::Released(_) | ClaimOutcome::StillInUse(_) => {
            Ok(None)
        }
    }
}

/// Releases IPClaim `key`: drops the Metal3Data finalizer, then deletes the
/// claim so IPAM frees its address.
pub fn release_ip(store: &dyn Store, key: &ObjectKey) -> Result<(), ReconcileError> {
    let dropped = update_with_retry(store, key, Subresource::Main, |v| {
        if let Some(list) = v
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            list.retain(|f| f.as_str() != Some(DATA_FINALIZER));
        }
        Ok(())
    });
    match dropped {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    match delete_ipclaim(store, &key.namespace, &key.name) {
        Ok(_) => Ok(()),
        Err(PersistError::Store(e)) if e.is_not_found() => Ok(()),
        Err(e) => Err(persist_error(key, e)),
    }
}
