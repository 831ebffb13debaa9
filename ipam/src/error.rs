//! Allocation errors; each names the pool and claim and keeps upstream's text.

/// Why an allocation, release or pool operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// The claim's `ipAddress` annotation is not an IP.
    #[error("pool {pool:?}, claim {claim:?}: Invalid ipAddress annotation {value:?}: not a valid IP address")]
    InvalidAnnotation {
        /// Pool name.
        pool: String,
        /// Claim name.
        claim: String,
        /// The annotation value.
        value: String,
    },
    /// The annotation and the pre-allocation name different addresses.
    #[error(
        "pool {pool:?}, claim {claim:?}: PreAllocation and requested ip address are conflicting"
    )]
    Conflicting {
        /// Pool name.
        pool: String,
        /// Claim name.
        claim: String,
    },
    /// The requested address is in a pool but already taken.
    #[error("pool {pool:?}, claim {claim:?}: Requested IP not available")]
    RequestedNotAvailable {
        /// Pool name.
        pool: String,
        /// Claim name.
        claim: String,
    },
    /// The pre-allocated address lies in no pool range.
    #[error("pool {pool:?}, claim {claim:?}: Pre-allocated IP out of bounds")]
    PreAllocatedOutOfBounds {
        /// Pool name.
        pool: String,
        /// Claim name.
        claim: String,
    },
    /// No pool range has a free address (or the requested one is in none).
    #[error("pool {pool:?}, claim {claim:?}: Exhausted IP Pools")]
    Exhausted {
        /// Pool name.
        pool: String,
        /// Claim name.
        claim: String,
    },
    /// CAPI claims only: the resulting prefix is outside 0..=128.
    #[error("pool {pool:?}, claim {claim:?}: Invalid prefix value, it must be between 0 and 128")]
    InvalidPrefix {
        /// Pool name.
        pool: String,
        /// Claim name.
        claim: String,
    },
    /// The pre-allocated address is held by another claim's IPAddress; upstream
    /// hits an AlreadyExists conflict creating the object and retries.
    #[error(
        "pool {pool:?}, claim {claim:?}: address {address} is already held by claim {holder:?}"
    )]
    AddressHeld {
        /// Pool name.
        pool: String,
        /// Claim name.
        claim: String,
        /// The contested address.
        address: String,
        /// Claim currently holding it.
        holder: String,
    },
    /// A stored IPAddress carries an address that does not parse.
    #[error("pool {pool:?}, claim {claim:?}: stored IPAddress has invalid address {address:?}")]
    InvalidStoredAddress {
        /// Pool name.
        pool: String,
        /// Claim name.
        claim: String,
        /// The bad value.
        address: String,
    },
    /// The pool cannot lose its finalizer while addresses reference it.
    #[error("pool {pool:?}: still referenced by {count} IPAddress object(s)")]
    PoolInUse {
        /// Pool name.
        pool: String,
        /// Number of live allocations.
        count: usize,
    },
    /// The pool spec fails webhook validation.
    #[error("pool {pool:?}: invalid spec: {message}")]
    InvalidPool {
        /// Pool name.
        pool: String,
        /// The webhook's aggregated message.
        message: String,
    },
}

impl IpamError {
    /// The exact text upstream writes to `status.errorMessage` / the condition message.
    pub fn status_message(&self) -> String {
        match self {
            IpamError::InvalidAnnotation { value, .. } => {
                format!("Invalid ipAddress annotation {value:?}: not a valid IP address")
            }
            IpamError::Conflicting { .. } => {
                "PreAllocation and requested ip address are conflicting".into()
            }
            IpamError::RequestedNotAvailable { .. } => "Requested IP not available".into(),
            IpamError::PreAllocatedOutOfBounds { .. } => "Pre-allocated IP out of bounds".into(),
            IpamError::Exhausted { .. } => "Exhausted IP Pools".into(),
            IpamError::InvalidPrefix { .. } => {
                "Invalid prefix value, it must be between 0 and 128".into()
            }
            IpamError::AddressHeld { .. }
            | IpamError::InvalidStoredAddress { .. }
            | IpamError::PoolInUse { .. }
            | IpamError::InvalidPool { .. } => self.to_string(),
        }
    }

    /// `IPClaim.status` after a failed allocation (errored claims are not retried).
    pub fn ipclaim_status(&self) -> crate::types::IPClaimStatus {
        crate::types::IPClaimStatus {
            address: None,
            error_message: Some(self.status_message()),
        }
    }

    /// CAPI `IPAddressClaim.status` after a failure: one `Ready=False` condition.
    pub fn capi_claim_status(
        &self,
        now: metal3_hostmodel::Time,
    ) -> crate::types::CapiIPAddressClaimStatus {
        crate::types::CapiIPAddressClaimStatus {
            conditions: vec![metal3_hostmodel::Condition {
                type_: "Ready".into(),
                status: "False".into(),
                reason: self.capi_reason().into(),
                message: self.status_message(),
                last_transition_time: Some(now),
                observed_generation: None,
            }],
            address_ref: None,
        }
    }

    /// Reason of the CAPI `Ready=False` condition: `PoolExhausted` or `AllocationFailed`.
    pub fn capi_reason(&self) -> &'static str {
        match self {
            IpamError::Exhausted { .. } => "PoolExhausted",
            _ => "AllocationFailed",
        }
    }
}
