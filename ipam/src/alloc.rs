//! The allocator: one IPPool's in-use set as coalesced intervals, so every
//! allocation and release costs O(log n) in the number of allocated runs and
//! nothing in the pool size (a /64 is as cheap as a /30).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use metal3_hostmodel::{meta::OwnerReference, Condition, ObjectMeta, ObjectReference, Time};

use crate::addr::{self, Range};
use crate::error::IpamError;
use crate::types::*;
use crate::validate;

/// Set of used addresses stored as disjoint, non-adjacent `[start, end]` runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsedSet {
    runs: BTreeMap<u128, u128>,
    len: u128,
}

impl UsedSet {
    /// Number of used addresses.
    pub fn len(&self) -> u128 {
        self.len
    }

    /// True when nothing is used.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of stored runs (memory footprint).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The run containing `x`, if any.
    fn run_of(&self, x: u128) -> Option<(u128, u128)> {
        self.runs
            .range(..=x)
            .next_back()
            .filter(|(_, e)| **e >= x)
            .map(|(s, e)| (*s, *e))
    }

    /// True when `x` is used.
    pub fn contains(&self, x: u128) -> bool {
        self.run_of(x).is_some()
    }

    /// Lowest free address in `[lo, hi]`.
    pub fn first_free(&self, lo: u128, hi: u128) -> Option<u128> {
        if lo > hi {
            return None;
        }
        // Runs are coalesced, so the address after a run is always free.
        let c = match self.run_of(lo) {
            None => lo,
            Some((_, e)) => e.checked_add(1)?,
        };
        (c <= hi).then_some(c)
    }

    /// Marks `x` used; false if it already was.
    pub fn insert(&mut self, x: u128) -> bool {
        if self.contains(x) {
            return false;
        }
        let left = x
            .checked_sub(1)
            .and_then(|p| self.run_of(p))
            .map(|(s, _)| s);
        let right = x
            .checked_add(1)
            .and_then(|n| self.runs.get(&n).map(|e| (n, *e)));
        let start = left.unwrap_or(x);
        let end = match right {
            Some((n, e)) => {
                self.runs.remove(&n);
                e
            }
            None => x,
        };
        self.runs.insert(start, end);
        self.len += 1;
        true
    }

    /// Frees `x`; false if it was not used.
    pub fn remove(&mut self, x: u128) -> bool {
        let Some((s, e)) = self.run_of(x) else {
            return false;
        };
        self.runs.remove(&s);
        if s < x {
            self.runs.insert(s, x - 1);
        }
        if x < e {
            self.runs.insert(x + 1, e);
        }
        self.len -= 1;
        true
    }
}

/// Small seedable PRNG (SplitMix64) for the `random` strategy; the caller
/// seeds it so tests are reproducible and the crate needs no RNG dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with the given seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform value in `[0, n)` (`n` fits in i64 here), by rejection sampling.
    pub fn below(&mut self, n: u128) -> u128 {
        if n <= 1 {
            return 0;
        }
        let n64 = n as u64;
        // Reject the top partial bucket to stay exactly uniform.
        let zone = u64::MAX - (u64::MAX % n64 + 1) % n64;
        loop {
            let r = self.next_u64();
            if r <= zone {
                return u128::from(r % n64);
            }
        }
    }
}

/// One compiled `spec.pools` entry.
#[derive(Debug, Clone)]
struct CompiledPool {
    /// Addresses the sequential scan visits (also used for requested/pre-allocated IPs).
    seq: Option<Range>,
    /// `(base, size, valid)` for the random walk; `None` when the pool is skipped.
    random: Option<(u128, u128, Option<Range>)>,
    prefix: Option<i32>,
    gateway: Option<String>,
    dns_servers: Vec<String>,
}

/// What a claim needs from the allocator: its name and `ipAddress` annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRequest<'a> {
    /// Claim name (pre-allocations and `status.indexes` are keyed by it).
    pub name: &'a str,
    /// Value of the `ipAddress` annotation; empty or `None` means none.
    pub requested: Option<&'a str>,
    /// CAPI IPAddressClaim: no DNS servers and a prefix range check.
    pub capi: bool,
}

impl<'a> ClaimRequest<'a> {
    /// Request for a Metal³ IPClaim.
    pub fn from_ipclaim(claim: &'a IPClaim) -> Self {
        ClaimRequest {
            name: &claim.metadata.name,
            requested: claim
                .metadata
                .annotations
                .get(IP_ADDRESS_ANNOTATION)
                .map(String::as_str),
            capi: false,
        }
    }

    /// Request for a CAPI IPAddressClaim.
    pub fn from_capi_claim(claim: &'a CapiIPAddressClaim) -> Self {
        ClaimRequest {
            name: &claim.metadata.name,
            requested: claim
                .metadata
                .annotations
                .get(IP_ADDRESS_ANNOTATION)
                .map(String::as_str),
            capi: true,
        }
    }
}

/// An address bound to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// Claim name.
    pub claim: String,
    /// Canonical address text.
    pub address: String,
    /// IPAddress object name (`formatAddressName`).
    pub name: String,
    /// Prefix length (0 when neither pool nor range sets one).
    pub prefix: i32,
    /// Gateway, if any.
    pub gateway: Option<String>,
    /// DNS servers (always empty for CAPI claims).
    pub dns_servers: Vec<String>,
}

impl Allocation {
    /// The `ipam.metal3.io` IPAddress object upstream creates for this allocation.
    pub fn to_ipaddress(&self, pool: &IPPool, claim: &IPClaim) -> IPAddress {
        let ns = pool.metadata.namespace.clone();
        IPAddress {
            api_version: IPAM_API_VERSION.into(),
            kind: "IPAddress".into(),
            metadata: ObjectMeta {
                name: self.name.clone(),
                namespace: ns.clone(),
                labels: claim.metadata.labels.clone(),
                finalizers: vec![IPADDRESS_FINALIZER.into()],
                owner_references: vec![
                    owner(IPAM_API_VERSION, "IPPool", &pool.metadata),
                    owner(IPAM_API_VERSION, "IPClaim", &claim.metadata),
                ],
                ..ObjectMeta::default()
            },
            spec: IPAddressSpec {
                claim: ObjectReference {
                    name: claim.metadata.name.clone(),
                    namespace: claim.metadata.namespace.clone(),
                    ..ObjectReference::default()
                },
                pool: ObjectReference {
                    name: pool.metadata.name.clone(),
                    namespace: ns,
                    ..ObjectReference::default()
                },
                address: self.address.clone(),
                prefix: (self.prefix != 0).then_some(self.prefix),
                gateway: self.gateway.clone(),
                dns_servers: self.dns_servers.clone(),
            },
        }
    }

    /// `IPClaim.status` after success: a reference to the IPAddress, no error.
    pub fn ipclaim_status(&self, pool_namespace: &str) -> IPClaimStatus {
        IPClaimStatus {
            address: Some(ObjectReference {
                name: self.name.clone(),
                namespace: pool_namespace.into(),
                ..ObjectReference::default()
            }),
            error_message: None,
        }
    }

    /// CAPI `IPAddressClaim.status` after success: `addressRef` and `Ready=True`.
    pub fn capi_claim_status(&self, now: Time) -> CapiIPAddressClaimStatus {
        CapiIPAddressClaimStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(now),
                ..Condition::default()
            }],
            address_ref: Some(LocalReference {
                name: self.name.clone(),
            }),
        }
    }

    /// The CAPI `ipam.cluster.x-k8s.io/v1beta2` IPAddress upstream creates.
    pub fn to_capi_ipaddress(&self, pool: &IPPool, claim: &CapiIPAddressClaim) -> CapiIPAddress {
        CapiIPAddress {
            api_version: CAPI_IPAM_API_VERSION.into(),
            kind: "IPAddress".into(),
            metadata: ObjectMeta {
                name: self.name.clone(),
                namespace: pool.metadata.namespace.clone(),
                labels: claim.metadata.labels.clone(),
                finalizers: vec![CAPI_ADDRESS_FINALIZER.into()],
                owner_references: vec![
                    owner(IPAM_API_VERSION, "IPPool", &pool.metadata),
                    owner(CAPI_IPAM_API_VERSION, "IPAddressClaim", &claim.metadata),
                ],
                ..ObjectMeta::default()
            },
            spec: CapiIPAddressSpec {
                claim_ref: LocalReference {
                    name: claim.metadata.name.clone(),
                },
                pool_ref: TypedLocalReference {
                    api_group: IPAM_GROUP.into(),
                    kind: if pool.kind.is_empty() {
                        "IPPool".into()
                    } else {
                        pool.kind.clone()
                    },
                    name: pool.metadata.name.clone(),
                },
                address: self.address.clone(),
                prefix: Some(self.prefix),
                gateway: Some(self.gateway.clone().unwrap_or_default()),
            },
        }
    }
}

/// Non-controller owner reference to `meta`.
fn owner(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: meta.name.clone(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: None,
        block_owner_deletion: None,
    }
}

/// What the allocator keeps per claim; its own allocations stay compact and
/// are expanded into an [`Allocation`] on demand.
#[derive(Debug, Clone)]
enum Held {
    /// Allocated here from `spec.pools[range]`.
    Range { ip: u128, range: usize, capi: bool },
    /// Restored verbatim from an IPAddress object.
    Object { ip: u128, alloc: Box<Allocation> },
}

impl Held {
    /// The held address.
    fn ip(&self) -> u128 {
        match self {
            Held::Range { ip, .. } | Held::Object { ip, .. } => *ip,
        }
    }
}

/// Allocation state of one IPPool, rebuilt from the pool and its IPAddress objects.
#[derive(Debug, Clone)]
pub struct PoolAllocator {
    pool_name: String,
    name_prefix: String,
    strategy: AllocationStrategy,
    deleting: bool,
    prefix: i32,
    gateway: Option<String>,
    dns_servers: Vec<String>,
    pools: Vec<CompiledPool>,
    /// Claim name -> pre-allocated address (`None` when the text is not an IP).
    pre_allocations: BTreeMap<String, Option<u128>>,
    /// Valid pre-allocated addresses; reserved in `used` unless the pool is deleting.
    pre_values: BTreeSet<u128>,
    /// Pre-allocated address -> claim holding it. Only these addresses need a
    /// holder: every other address is chosen only when free.
    pre_holders: HashMap<u128, String>,
    /// Holders beyond the first of an address several restored IPAddress
    /// objects share (inconsistent stores only); it stays used until all go.
    extra_holders: HashMap<u128, Vec<String>>,
    used: UsedSet,
    allocations: HashMap<String, Held>,
    rng: SplitMix64,
}

impl PoolAllocator {
    /// Compiles a pool that passes the IPPool create webhook; a pool being
    /// deleted does not reserve its pre-allocations (as upstream).
    pub fn from_pool(pool: &IPPool) -> Result<Self, IpamError> {
        validate::validate_ippool_create(pool).map_err(|e| IpamError::InvalidPool {
            pool: pool.metadata.name.clone(),
            message: e.to_string(),
        })?;
        let spec = &pool.spec;
        let deleting = pool.metadata.deletion_timestamp.is_some();
        let pools = spec
            .pools
            .iter()
            .map(|p| CompiledPool {
                seq: addr::sequential_range(p),
                random: addr::random_range(p),
                prefix: p.prefix,
                gateway: p.gateway.clone(),
                dns_servers: p.dns_servers.clone(),
            })
            .collect();
        let pre_allocations: BTreeMap<_, _> = spec
            .pre_allocations
            .iter()
            .map(|(k, v)| (k.clone(), addr::parse_ip(v)))
            .collect();
        let mut me = PoolAllocator {
            pool_name: pool.metadata.name.clone(),
            name_prefix: spec.name_prefix.clone(),
            strategy: spec.allocation_strategy.unwrap_or_default(),
            deleting,
            prefix: spec.prefix.unwrap_or(0),
            gateway: spec.gateway.clone(),
            dns_servers: spec.dns_servers.clone(),
            pools,
            pre_values: BTreeSet::new(),
            pre_allocations,
            pre_holders: HashMap::new(),
            extra_holders: HashMap::new(),
            used: UsedSet::default(),
            allocations: HashMap::new(),
            rng: SplitMix64::new(0),
        };
        me.pre_values = me.pre_allocations.values().flatten().copied().collect();
        if !deleting {
            for ip in &me.pre_values {
                me.used.insert(*ip);
            }
        }
        Ok(me)
    }

    /// `from_pool` plus every existing Metal³ and CAPI IPAddress: the state after a restart.
    pub fn from_state(
        pool: &IPPool,
        addresses: &[IPAddress],
        capi_addresses: &[CapiIPAddress],
    ) -> Result<Self, IpamError> {
        let mut me = Self::from_pool(pool)?;
        for a in addresses {
            if a.spec.pool.name.is_empty() || a.spec.pool.name != me.pool_name {
                continue;
            }
            me.record(
                &a.spec.claim.name,
                &a.spec.address,
                a.spec.prefix.unwrap_or(0),
                a.spec.gateway.clone(),
                a.spec.dns_servers.clone(),
            )?;
        }
        for a in capi_addresses {
            if a.spec.pool_ref.name.is_empty() || a.spec.pool_ref.name != me.pool_name {
                continue;
            }
            me.record(
                &a.spec.claim_ref.name,
                &a.spec.address,
                a.spec.prefix.unwrap_or(0),
                a.spec.gateway.clone().filter(|g| !g.is_empty()),
                Vec::new(),
            )?;
        }
        Ok(me)
    }

    /// Seeds the `random` strategy's generator (e.g. from the clock in a controller).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = SplitMix64::new(seed);
        self
    }

    /// Records an existing IPAddress object.
    fn record(
        &mut self,
        claim: &str,
        address: &str,
        prefix: i32,
        gateway: Option<String>,
        dns_servers: Vec<String>,
    ) -> Result<(), IpamError> {
        let ip = addr::parse_ip(address).ok_or_else(|| IpamError::InvalidStoredAddress {
            pool: self.pool_name.clone(),
            claim: claim.into(),
            address: address.into(),
        })?;
        let first_holder = if self.pre_values.contains(&ip) {
            self.used.insert(ip);
            match self.pre_holders.get(&ip) {
                None => {
                    self.pre_holders.insert(ip, claim.into());
                    true
                }
                Some(_) => false,
            }
        } else {
            self.used.insert(ip)
        };
        if !first_holder {
            self.extra_holders.entry(ip).or_default().push(claim.into());
        }
        let alloc = Allocation {
            claim: claim.into(),
            address: address.into(),
            name: addr::format_address_name(&self.name_prefix, address),
            prefix,
            gateway,
            dns_servers,
        };
        self.allocations.insert(
            claim.into(),
            Held::Object {
                ip,
                alloc: Box::new(alloc),
            },
        );
        Ok(())
    }

    /// Pool name.
    pub fn pool_name(&self) -> &str {
        &self.pool_name
    }

    /// The current allocation of a claim.
    pub fn get(&self, claim: &str) -> Option<Allocation> {
        self.allocations
            .get(claim)
            .map(|h| self.materialize(claim, h))
    }

    /// Prefix, gateway and DNS for an address from `spec.pools[range]`:
    /// range values override the pool-wide defaults when set (prefix: non-zero,
    /// DNS: non-empty); CAPI addresses carry no DNS.
    fn settings(&self, range: usize, capi: bool) -> (i32, Option<String>, Vec<String>) {
        let mut prefix = self.prefix;
        let mut gateway = &self.gateway;
        let mut dns = &self.dns_servers;
        if let Some(cp) = self.pools.get(range) {
            if let Some(p) = cp.prefix.filter(|p| *p != 0) {
                prefix = p;
            }
            if cp.gateway.is_some() {
                gateway = &cp.gateway;
            }
            if !cp.dns_servers.is_empty() {
                dns = &cp.dns_servers;
            }
        }
        let dns = if capi { Vec::new() } else { dns.clone() };
        (prefix, gateway.clone(), dns)
    }

    /// Expands a held entry into the full allocation.
    fn materialize(&self, claim: &str, held: &Held) -> Allocation {
        match held {
            Held::Object { alloc, .. } => (**alloc).clone(),
            Held::Range { ip, range, capi } => {
                let (prefix, gateway, dns_servers) = self.settings(*range, *capi);
                let address = addr::ip_string(*ip);
                Allocation {
                    name: addr::format_address_name(&self.name_prefix, &address),
                    claim: claim.into(),
                    address,
                    prefix,
                    gateway,
                    dns_servers,
                }
            }
        }
    }

    /// Number of claims holding an address.
    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// Size of the in-use set, pre-allocation reservations included (upstream's
    /// UpdateAddresses result).
    pub fn in_use_count(&self) -> u128 {
        self.used.len()
    }

    /// True when `address` is in the in-use set.
    pub fn is_in_use(&self, address: &str) -> bool {
        addr::parse_ip(address).is_some_and(|ip| self.used.contains(ip))
    }

    /// Number of intervals the in-use set is stored as.
    pub fn used_runs(&self) -> usize {
        self.used.runs()
    }

    /// `status.indexes`: claim name -> address.
    pub fn status_indexes(&self) -> BTreeMap<String, String> {
        self.allocations
            .iter()
            .map(|(k, h)| {
                let address = match h {
                    Held::Object { alloc, .. } => alloc.address.clone(),
                    Held::Range { ip, .. } => addr::ip_string(*ip),
                };
                (k.clone(), address)
            })
            .collect()
    }

    /// Whether the pool's finalizer may go: no IPAddress may reference it.
    pub fn check_deletable(&self) -> Result<(), IpamError> {
        if self.allocations.is_empty() {
            Ok(())
        } else {
            Err(IpamError::PoolInUse {
                pool: self.pool_name.clone(),
                count: self.allocations.len(),
            })
        }
    }

    /// Allocates for a Metal³ IPClaim.
    pub fn allocate(&mut self, claim: &IPClaim) -> Result<Allocation, IpamError> {
        self.allocate_request(ClaimRequest::from_ipclaim(claim))
    }

    /// Allocates for a CAPI IPAddressClaim.
    pub fn allocate_capi(&mut self, claim: &CapiIPAddressClaim) -> Result<Allocation, IpamError> {
        self.allocate_request(ClaimRequest::from_capi_claim(claim))
    }

    /// Allocates following upstream's `allocateAddress`; a claim that already
    /// holds an address gets it back unchanged.
    pub fn allocate_request(&mut self, req: ClaimRequest<'_>) -> Result<Allocation, IpamError> {
        if let Some(h) = self.allocations.get(req.name) {
            return Ok(self.materialize(req.name, h));
        }
        // Names for error values, built only on the error paths.
        let pool = || self.pool_name.clone();
        let claim = || req.name.to_string();
        let requested = match req.requested.filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => Some(
                addr::parse_ip(r).ok_or_else(|| IpamError::InvalidAnnotation {
                    pool: pool(),
                    claim: claim(),
                    value: r.into(),
                })?,
            ),
        };
        let pre = self.pre_allocations.get(req.name).copied();
        if let (Some(r), Some(p)) = (requested, pre) {
            if p != Some(r) {
                return Err(IpamError::Conflicting {
                    pool: pool(),
                    claim: claim(),
                });
            }
        }
        let mut seen_requested = false;
        let mut chosen: Option<(u128, usize)> = None;
        for (i, cp) in self.pools.iter().enumerate() {
            let found = if pre.is_some() || requested.is_some() {
                let Some((lo, hi)) = cp.seq else { continue };
                let inside = |x: u128| lo <= x && x <= hi;
                if let Some(r) = requested {
                    if !inside(r) {
                        continue;
                    }
                    seen_requested = true;
                }
                match pre {
                    // Pre-allocations sit in the in-use set themselves, so no free check.
                    Some(p) => p.filter(|p| inside(*p)),
                    None => requested.filter(|r| !self.used.contains(*r)),
                }
            } else {
                match self.strategy {
                    AllocationStrategy::Sequential => {
                        cp.seq.and_then(|(lo, hi)| self.used.first_free(lo, hi))
                    }
                    AllocationStrategy::Random => match cp.random {
                        Some((base, size, Some((lo, hi)))) => {
                            let t = base.saturating_add(self.rng.below(size));
                            self.used
                                .first_free(t.max(lo), hi)
                                .or_else(|| self.used.first_free(lo, hi))
                        }
                        _ => None,
                    },
                }
            };
            if let Some(ip) = found {
                chosen = Some((ip, i));
                break;
            }
        }
        let Some((ip, range)) = chosen else {
            let (pool, claim) = (pool(), claim());
            return Err(if requested.is_some() && seen_requested {
                IpamError::RequestedNotAvailable { pool, claim }
            } else if pre.is_some() {
                IpamError::PreAllocatedOutOfBounds { pool, claim }
            } else {
                IpamError::Exhausted { pool, claim }
            });
        };
        // Only the pre-allocation path can pick an address that is in use.
        let is_pre_value = self.pre_values.contains(&ip);
        if let Some(holder) = is_pre_value
            .then(|| self.pre_holders.get(&ip))
            .flatten()
            .filter(|h| *h != req.name)
        {
            return Err(IpamError::AddressHeld {
                pool: pool(),
                claim: claim(),
                address: addr::ip_string(ip),
                holder: holder.clone(),
            });
        }
        let held = Held::Range {
            ip,
            range,
            capi: req.capi,
        };
        let alloc = self.materialize(req.name, &held);
        if req.capi && !(0..=128).contains(&alloc.prefix) {
            return Err(IpamError::InvalidPrefix {
                pool: pool(),
                claim: claim(),
            });
        }
        self.used.insert(ip);
        if is_pre_value {
            self.pre_holders.insert(ip, claim());
        }
        self.allocations.insert(claim(), held);
        Ok(alloc)
    }

    /// Releases a deleted claim's address; pre-allocated addresses stay
    /// reserved unless the pool itself is being deleted.
    pub fn release(&mut self, claim: &str) -> Option<Allocation> {
        let held = self.allocations.remove(claim)?;
        let ip = held.ip();
        let alloc = self.materialize(claim, &held);
        if let Some(extra) = self.extra_holders.get_mut(&ip) {
            // Another restored object still holds the address: keep it used and
            // hand the pre-allocation holder role on if this claim had it.
            let next = match extra.iter().position(|h| h == claim) {
                Some(k) => {
                    extra.swap_remove(k);
                    None
                }
                None => extra.pop(),
            };
            if extra.is_empty() {
                self.extra_holders.remove(&ip);
            }
            if let Some(next) = next {
                if self.pre_values.contains(&ip) {
                    self.pre_holders.insert(ip, next);
                }
            }
            return Some(alloc);
        }
        if self.pre_values.contains(&ip) {
            self.pre_holders.remove(&ip);
            if !self.deleting {
                // Pre-allocations stay reserved even without a claim.
                return Some(alloc);
            }
        }
        self.used.remove(ip);
        Some(alloc)
    }
}
