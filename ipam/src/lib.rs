//! metal3-ipam: Metal³'s IP Address Manager (`ipam.metal3.io/v1alpha1` IPPool,
//! IPClaim, IPAddress, plus the CAPI `ipam.cluster.x-k8s.io/v1beta2`
//! IPAddressClaim/IPAddress contract) as pure logic without I/O.
//!
//! * [`types`]: the API objects with their exact JSON names.
//! * [`addr`]: upstream's address arithmetic (`GetIPAddress`, `GetPoolSize`,
//!   `formatAddressName`) for IPv4 and IPv6.
//! * [`validate`]: the admission webhooks' rules.
//! * [`alloc`]: [`PoolAllocator`], upstream's allocation semantics over an
//!   interval set, O(log n) per claim whatever the pool size.
//! * [`persist`]: the store-backed layer (IPPool controller semantics over
//!   `metal3_hostmodel::store::Store`), safe across processes by
//!   compare-and-swap on the pool's `resourceVersion`.
//!
//! ```
//! use metal3_ipam::{IPClaim, IPPool, PoolAllocator};
//!
//! let pool: IPPool = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
//!     "metadata": {"name": "pool1", "namespace": "default"},
//!     "spec": {"namePrefix": "test1-prov", "prefix": 24, "gateway": "192.168.0.1",
//!              "pools": [{"start": "192.168.0.10", "end": "192.168.0.30"}],
//!              "preAllocations": {"claim1": "192.168.0.12"}}
//! }))?;
//! let mut alloc = PoolAllocator::from_pool(&pool)?;
//! let mut claim = IPClaim::default();
//! claim.metadata.name = "node-0".into();
//! let a = alloc.allocate(&claim)?;
//! assert_eq!(a.address, "192.168.0.10");
//! assert_eq!(a.name, "test1-prov-192-168-0-10");
//! claim.metadata.name = "node-1".into();
//! alloc.allocate(&claim)?;
//! claim.metadata.name = "node-2".into();
//! // .12 is pre-allocated to claim1, so the next free address is .13.
//! assert_eq!(alloc.allocate(&claim)?.address, "192.168.0.13");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod addr;
pub mod alloc;
pub mod error;
pub mod persist;
pub mod types;
pub mod validate;

pub use alloc::{Allocation, ClaimRequest, PoolAllocator, SplitMix64, UsedSet};
pub use error::IpamError;
pub use types::*;
pub use validate::ValidationError;
