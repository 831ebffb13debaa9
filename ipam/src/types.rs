//! `ipam.metal3.io/v1alpha1` and `ipam.cluster.x-k8s.io/v1beta2` API types with
//! their exact JSON field names.

use std::collections::BTreeMap;

use metal3_hostmodel::{Condition, ObjectMeta, ObjectReference, Time};
use serde::{Deserialize, Serialize};

/// API version of the Metal³ IPAM kinds.
pub const IPAM_API_VERSION: &str = "ipam.metal3.io/v1alpha1";
/// API group of the Metal³ IPAM kinds.
pub const IPAM_GROUP: &str = "ipam.metal3.io";
/// API version of the CAPI IPAM contract kinds.
pub const CAPI_IPAM_API_VERSION: &str = "ipam.cluster.x-k8s.io/v1beta2";
/// Finalizer IPAM puts on an IPPool.
pub const IPPOOL_FINALIZER: &str = "ippool.ipam.metal3.io";
/// Finalizer IPAM puts on an IPClaim.
pub const IPCLAIM_FINALIZER: &str = "ipclaim.ipam.metal3.io";
/// Finalizer IPAM puts on a Metal³ IPAddress.
pub const IPADDRESS_FINALIZER: &str = "ipaddress.ipam.metal3.io";
/// Finalizer IPAM puts on a CAPI IPAddressClaim.
pub const CAPI_CLAIM_FINALIZER: &str = "ipam.metal3.io/ipaddressclaim";
/// Finalizer IPAM puts on a CAPI IPAddress.
pub const CAPI_ADDRESS_FINALIZER: &str = "ipam.metal3.io/ipaddress";
/// Claim annotation (literally `ipAddress`) requesting a specific address.
pub const IP_ADDRESS_ANNOTATION: &str = "ipAddress";

/// How free addresses are picked inside one pool range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllocationStrategy {
    /// Lowest free address in pool order (the historical behaviour).
    #[default]
    Sequential,
    /// Uniformly random start offset, then the next free address (wrapping).
    Random,
}

/// `kind: IPPool`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IPPool {
    /// `ipam.metal3.io/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `IPPool`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired pool layout.
    #[serde(default)]
    pub spec: IPPoolSpec,
    /// Allocations observed by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<IPPoolStatus>,
}

/// `IPPool.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IPPoolSpec {
    /// CAPI Cluster in the same namespace (owner reference + pause check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Address ranges, consumed in declaration order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<Pool>,
    /// `sequential` (default) or `random`; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_strategy: Option<AllocationStrategy>,
    /// Claim name -> fixed address.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pre_allocations: BTreeMap<String, String>,
    /// Pool-wide default prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<i32>,
    /// Pool-wide default gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Pool-wide default DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<String>,
    /// Prefix of generated IPAddress names; required and immutable.
    #[serde(default)]
    pub name_prefix: String,
}

/// One element of `IPPool.spec.pools`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    /// First address; index 0 maps to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Last address (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// CIDR bounding the range; without `start`, index 0 is the CIDR literal + 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Prefix override, applied when non-zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<i32>,
    /// Gateway override, applied when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// DNS override, applied when non-empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<String>,
}

/// `IPPool.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IPPoolStatus {
    /// Last time the allocations changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Claim name -> address (Go field `Allocations`, JSON `indexes`).
    #[serde(
        default,
        rename = "indexes",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub allocations: BTreeMap<String, String>,
}

/// `kind: IPClaim`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IPClaim {
    /// `ipam.metal3.io/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `IPClaim`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata (the `ipAddress` annotation lives here).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Which pool to draw from.
    #[serde(default)]
    pub spec: IPClaimSpec,
    /// Allocation result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<IPClaimStatus>,
}

/// `IPClaim.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IPClaimSpec {
    /// The IPPool (only `name` matters).
    #[serde(default)]
    pub pool: ObjectReference,
}

/// `IPClaim.status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IPClaimStatus {
    /// The IPAddress created for the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<ObjectReference>,
    /// Why allocation failed (not retried automatically).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// `kind: IPAddress` (`ipam.metal3.io`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IPAddress {
    /// `ipam.metal3.io/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `IPAddress`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The allocated address.
    #[serde(default)]
    pub spec: IPAddressSpec,
}

/// `IPAddress.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressSpec {
    /// The claim holding the address.
    #[serde(default)]
    pub claim: ObjectReference,
    /// The pool the address came from.
    #[serde(default)]
    pub pool: ObjectReference,
    /// The address, canonical text form.
    #[serde(default)]
    pub address: String,
    /// Prefix length (0..=128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<i32>,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<String>,
}

/// CAPI `IPPoolReference` / typed local reference (`apiGroup`, `kind`, `name`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypedLocalReference {
    /// API group of the referent, e.g. `ipam.metal3.io`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// Kind of the referent, e.g. `IPPool`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name of the referent.
    #[serde(default)]
    pub name: String,
}

/// A reference by name only (CAPI `claimRef` / `addressRef`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalReference {
    /// Name of the referent.
    #[serde(default)]
    pub name: String,
}

/// `ipam.cluster.x-k8s.io/v1beta2` `IPAddressClaim`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapiIPAddressClaim {
    /// `ipam.cluster.x-k8s.io/v1beta2`.
    #[serde(default)]
    pub api_version: String,
    /// `IPAddressClaim`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Which pool to draw from.
    #[serde(default)]
    pub spec: CapiIPAddressClaimSpec,
    /// Allocation result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CapiIPAddressClaimStatus>,
}

/// `IPAddressClaim.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapiIPAddressClaimSpec {
    /// Cluster the claim belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// The pool (only `name` is compared by Metal³ IPAM).
    #[serde(default)]
    pub pool_ref: TypedLocalReference,
}

/// `IPAddressClaim.status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapiIPAddressClaimStatus {
    /// Conditions; Metal³ IPAM writes a single `Ready` condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The created CAPI IPAddress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_ref: Option<LocalReference>,
}

/// `ipam.cluster.x-k8s.io/v1beta2` `IPAddress`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapiIPAddress {
    /// `ipam.cluster.x-k8s.io/v1beta2`.
    #[serde(default)]
    pub api_version: String,
    /// `IPAddress`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The allocated address.
    #[serde(default)]
    pub spec: CapiIPAddressSpec,
}

/// CAPI `IPAddress.spec` (no DNS field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapiIPAddressSpec {
    /// The claim holding the address.
    #[serde(default)]
    pub claim_ref: LocalReference,
    /// The pool the address came from.
    #[serde(default)]
    pub pool_ref: TypedLocalReference,
    /// The address.
    #[serde(default)]
    pub address: String,
    /// Prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<i32>,
    /// Gateway (`""` when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}
