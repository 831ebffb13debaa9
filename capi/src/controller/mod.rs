//! Store-backed reconcilers: the CAPM3 controllers (Metal3Machine, data
//! template / Metal3DataClaim / Metal3Data, Metal3Remediation) as one-pass
//! functions over any [`Store`]. Each pass reads the objects, calls the pure
//! functions of this crate, writes what changed and says when to look again.
//!
//! Provisioning itself is not done here: the reconcilers write the host spec
//! (image, user data, rendered metaData / networkData, cleaning mode, online)
//! and the host engine (`metal3-provisioning`) does the BMC work, as BMO does
//! for CAPM3. Writes use the `resourceVersion` read, so two reconcilers racing
//! for one host cannot both associate it: the loser gets a conflict and
//! chooses again on its next pass (CAPM3 uses a process-wide mutex instead,
//! which would not cover two `metal3ctl` processes).

mod data;
mod ip;
mod machine;
mod remediation;

use std::time::Duration;

use metal3_hostmodel::store::{decode, ObjectKey, Store, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use data::{delete_claim, reconcile_claim, reconcile_data, release_data};
pub use ip::{allocate_ip, release_ip};
pub use machine::{machine_phase, reconcile_machine, MachineContext};
pub use remediation::{reconcile_remediation, RemediationProgress};

/// Store kind of Metal3Machines.
pub const M3M_KIND: &str = "Metal3Machine";
/// Store kind of Metal3MachineTemplates.
pub const M3MT_KIND: &str = "Metal3MachineTemplate";
/// Store kind of Metal3DataTemplates.
pub const M3DT_KIND: &str = "Metal3DataTemplate";
/// Store kind of Metal3DataClaims.
pub const CLAIM_KIND: &str = "Metal3DataClaim";
/// Store kind of Metal3Data.
pub const DATA_KIND: &str = "Metal3Data";
/// Store kind of Metal3Remediations.
pub const REMEDIATION_KIND: &str = "Metal3Remediation";
/// Store kind of CAPI Machines.
pub const MACHINE_KIND: &str = "Machine";
/// Store kind of CAPI Clusters.
pub const CLUSTER_KIND: &str = "Cluster";
/// Store kind of BareMetalHosts.
pub const HOST_KIND: &str = "BareMetalHost";
/// Store kind of Secrets.
pub const SECRET_KIND: &str = "Secret";
/// Store kind of IPPools.
pub const IPPOOL_KIND: &str = "IPPool";
/// Store kind of IPClaims.
pub const IPCLAIM_KIND: &str = "IPClaim";
/// Store kind of IPAddresses.
pub const IPADDRESS_KIND: &str = "IPAddress";

/// Finalizer CAPM3 puts on Metal3Machines (and on the Metal3DataClaim it creates).
pub const M3M_FINALIZER: &str = "metal3machine.infrastructure.cluster.x-k8s.io";
/// Finalizer of the Metal3Data controller (Metal3Data and its IPClaims).
pub const DATA_FINALIZER: &str = "metal3data.infrastructure.cluster.x-k8s.io";
/// Secret type of rendered metaData / networkData.
pub const DATA_SECRET_TYPE: &str = "infrastructure.cluster.x-k8s.io/secret";
/// CAPI label naming a Machine's MachineDeployment (node reuse without MachineSets).
pub const DEPLOYMENT_NAME_LABEL: &str = "cluster.x-k8s.io/deployment-name";

/// Why a reconcile pass failed. Transient store conflicts are not errors:
/// they come back as a [`Next::Requeue`].
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Store access failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Host selection / association failed.
    #[error(transparent)]
    Select(#[from] crate::select::SelectError),
    /// Metal3Data rendering failed.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// IP allocation failed.
    #[error("{object}: IP Allocation for {pool} failed : {message}")]
    Ipam {
        /// The Metal3Data.
        object: String,
        /// The pool.
        pool: String,
        /// Upstream's status message.
        message: String,
    },
    /// Provider ID decision failed.
    #[error(transparent)]
    ProviderId(#[from] crate::providerid::ProviderIdError),
    /// Remediation step failed.
    #[error(transparent)]
    Remediation(#[from] crate::remediation::RemediationError),
    /// A referenced object is missing or unusable.
    #[error("{object}: {problem}")]
    Invalid {
        /// The object being reconciled (`Kind namespace/name`).
        object: String,
        /// What is wrong.
        problem: String,
    },
}

/// When to reconcile again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing more to do until something changes.
    Done,
    /// Look again after this long; `reason` says what is awaited.
    Requeue {
        /// Delay.
        after: Duration,
        /// What the object waits for (for progress output).
        reason: String,
    },
}

impl Next {
    /// Requeue after `secs` seconds for `reason`.
    pub fn after(secs: u64, reason: impl Into<String>) -> Next {
        Next::Requeue {
            after: Duration::from_secs(secs),
            reason: reason.into(),
        }
    }
}

/// Runs one pass, turning a store conflict (someone else wrote first) into an
/// immediate requeue and a vanished object into `Done`.
fn absorb(r: Result<Next, ReconcileError>) -> Result<Next, ReconcileError> {
    match r {
        Err(ReconcileError::Store(e)) if e.is_conflict() => Ok(Next::after(0, "write conflict")),
        Err(ReconcileError::Store(StoreError::AlreadyExists { key })) => {
            Ok(Next::after(0, format!("{key} created concurrently")))
        }
        other => other,
    }
}

/// `Kind namespace/name` of a key, for messages.
fn describe(key: &ObjectKey) -> String {
    format!("{} {}/{}", key.kind, key.namespace, key.name)
}

/// The object under `key`, `None` if there is none.
fn get_opt<T: DeserializeOwned>(
    store: &dyn Store,
    key: &ObjectKey,
) -> Result<Option<T>, StoreError> {
    match store.get(key) {
        Ok(v) => decode(key, v).map(Some),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn encode<T: Serialize>(obj: &T) -> Result<Value, StoreError> {
    serde_json::to_value(obj).map_err(|e| StoreError::Encode {
        type_name: std::any::type_name::<T>(),
        reason: e.to_string(),
    })
}

/// Writes `new` over `old` (both as read/changed by the caller): the main
/// part with `update` if it changed, then `status` with `update_status` if it
/// changed. Conflicts surface as errors (the caller's pass requeues). Returns
/// the stored object, or `None` when the update removed its last finalizer
/// while it was being deleted.
fn save<T: Serialize + DeserializeOwned>(
    store: &dyn Store,
    old: &T,
    new: &T,
) -> Result<Option<T>, StoreError> {
    let o = encode(old)?;
    let n = encode(new)?;
    let key = ObjectKey::of(&n);
    if o == n {
        return decode(&key, n).map(Some);
    }
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("status");
        }
        v
    };
    let mut current = n.clone();
    if strip(&o) != strip(&n) {
        current = store.update(n.clone())?;
        if current
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|d| !d.is_null())
            && current
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty())
        {
            return Ok(None);
        }
    }
    if o.get("status") != n.get("status") {
        let mut s = current.clone();
        if let Some(m) = s.as_object_mut() {
            match n.get("status") {
                Some(st) => {
                    m.insert("status".into(), st.clone());
                }
                None => {
                    m.remove("status");
                }
            }
        }
        current = store.update_status(s)?;
    }
    decode(&key, current).map(Some)
}

/// Adds `f` to `finalizers` if missing; true if added.
fn add_finalizer(finalizers: &mut Vec<String>, f: &str) -> bool {
    if finalizers.iter().any(|x| x == f) {
        return false;
    }
    finalizers.push(f.to_string());
    true
}

/// Deletes `key`, ignoring a missing object.
fn delete_quietly(store: &dyn Store, key: &ObjectKey) -> Result<(), StoreError> {
    match store.delete(key) {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}
