//! metal3-ipam: Metal³'s IP Address Manager (`ipam.metal3.io/v1alpha1` IPPool,
//! IPClaim, IPAddress) as pure allocation logic with a thin persistence layer.
//!
//! Nothing lives here yet; the IPAM issue fills this crate.
