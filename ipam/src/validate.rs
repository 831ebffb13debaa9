//! Admission rules of the IPPool, IPClaim and IPAddress webhooks.
//!
//! Messages follow the Kubernetes `field.Error` layout
//! (`<path>: Invalid value: "<v>": <detail>`); the details quoted by the
//! upstream reference are kept verbatim, including its "out of bonds" typo.
//! The `prefix <= 128` checks stand in for the CRD schema's `maximum: 128`
//! (there is no minimum upstream, which is why CAPI allocation re-checks it).

use std::collections::BTreeSet;
use std::fmt;

use crate::addr::{self, Cidr};
use crate::types::*;

/// One rejected field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path, e.g. `spec.preAllocations`.
    pub path: String,
    /// Full message for this field (`<path>: <kind>: <detail>`).
    pub message: String,
}

/// All rejected fields of one admission request.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
pub struct ValidationError {
    /// Individual field errors in check order.
    pub errors: Vec<FieldError>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msgs: Vec<&str> = self.errors.iter().map(|e| e.message.as_str()).collect();
        if msgs.len() == 1 {
            f.write_str(msgs[0])
        } else {
            write!(f, "[{}]", msgs.join(", "))
        }
    }
}

impl ValidationError {
    fn invalid(&mut self, path: &str, value: &str, detail: &str) {
        self.errors.push(FieldError {
            path: path.into(),
            message: format!("{path}: Invalid value: {value:?}: {detail}"),
        });
    }

    fn required(&mut self, path: &str, detail: &str) {
        self.errors.push(FieldError {
            path: path.into(),
            message: format!("{path}: Required value: {detail}"),
        });
    }

    fn forbidden(&mut self, path: &str, detail: &str) {
        self.errors.push(FieldError {
            path: path.into(),
            message: format!("{path}: Forbidden: {detail}"),
        });
    }

    fn into_result(self) -> Result<(), ValidationError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// Defaulting webhook: an unset `allocationStrategy` becomes `sequential`.
pub fn default_ippool(pool: &mut IPPool) {
    if pool.spec.allocation_strategy.is_none() {
        pool.spec.allocation_strategy = Some(AllocationStrategy::Sequential);
    }
}

/// Upstream `ValidatePool`: start/end/subnet parse and start <= end.
pub fn validate_pool_range(pool: &Pool) -> Result<(), String> {
    let start = match &pool.start {
        Some(s) => Some(addr::parse_ip(s).ok_or_else(|| format!("invalid start IP {s:?}"))?),
        None => None,
    };
    let end = match &pool.end {
        Some(s) => Some(addr::parse_ip(s).ok_or_else(|| format!("invalid end IP {s:?}"))?),
        None => None,
    };
    if let Some(s) = &pool.subnet {
        Cidr::parse(s).map_err(|e| e.to_string())?;
    }
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err("start IP is after end IP".into());
        }
    }
    Ok(())
}

/// True when `ip` is within the bounds a pool declares (each bound checked only if set).
fn in_pool_bounds(pool: &Pool, ip: u128) -> bool {
    if pool.start.is_none() && pool.end.is_none() && pool.subnet.is_none() {
        return false;
    }
    let start_ok = pool
        .start
        .as_deref()
        .is_none_or(|s| addr::parse_ip(s).is_some_and(|s| s <= ip));
    let end_ok = pool
        .end
        .as_deref()
        .is_none_or(|e| addr::parse_ip(e).is_some_and(|e| ip <= e));
    let subnet_ok = pool
        .subnet
        .as_deref()
        .is_none_or(|c| Cidr::parse(c).is_ok_and(|c| c.contains(ip)));
    start_ok && end_ok && subnet_ok
}

/// True when `ip` lies in at least one pool's bounds.
fn in_any_pool(spec: &IPPoolSpec, ip: u128) -> bool {
    spec.pools.iter().any(|p| in_pool_bounds(p, ip))
}

/// Range validation shared by create and update.
fn check_spec(spec: &IPPoolSpec, errs: &mut ValidationError) {
    if spec.name_prefix.is_empty() {
        errs.required("spec.namePrefix", "must not be empty");
    }
    if let Some(p) = spec.prefix.filter(|p| *p > 128) {
        errs.invalid(
            "spec.prefix",
            &p.to_string(),
            "should be less than or equal to 128",
        );
    }
    if let Some(g) = &spec.gateway {
        if addr::parse_ip(g).is_none() {
            errs.invalid("spec.gateway", g, "is not a valid IP address");
        }
    }
    for (i, d) in spec.dns_servers.iter().enumerate() {
        if addr::parse_ip(d).is_none() {
            errs.invalid(
                &format!("spec.dnsServers[{i}]"),
                d,
                "is not a valid IP address",
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (claim, value) in &spec.pre_allocations {
        let path = format!("spec.preAllocations[{claim}]");
        match addr::parse_ip(value) {
            None => errs.invalid(&path, value, "is not a valid IP address"),
            Some(ip) => {
                if !seen.insert(ip) {
                    errs.invalid(&path, value, "is a duplicate pre-allocated IP address");
                }
            }
        }
    }
    let random = spec.allocation_strategy == Some(AllocationStrategy::Random);
    for (i, p) in spec.pools.iter().enumerate() {
        let path = format!("spec.pools[{i}]");
        if p.start.is_none() && p.end.is_none() && p.subnet.is_none() {
            errs.required(&path, "either start, end or subnet is required");
            continue;
        }
        if let Some(pr) = p.prefix.filter(|p| *p > 128) {
            errs.invalid(
                &format!("{path}.prefix"),
                &pr.to_string(),
                "should be less than or equal to 128",
            );
        }
        if let Some(g) = &p.gateway {
            if addr::parse_ip(g).is_none() {
                errs.invalid(&format!("{path}.gateway"), g, "is not a valid IP address");
            }
        }
        for (j, d) in p.dns_servers.iter().enumerate() {
            if addr::parse_ip(d).is_none() {
                errs.invalid(
                    &format!("{path}.dnsServers[{j}]"),
                    d,
                    "is not a valid IP address",
                );
            }
        }
        if let Err(e) = validate_pool_range(p) {
            errs.invalid(&path, &describe(p), &e);
            continue;
        }
        if random {
            match addr::pool_size(p) {
                Ok(n) if n > 0 => {}
                Ok(_) => errs.invalid(
                    &path,
                    &describe(p),
                    "pool size must be greater than 0 with the random allocation strategy",
                ),
                Err(e) => errs.invalid(
                    &path,
                    &describe(p),
                    &format!("{e} (required by the random allocation strategy)"),
                ),
            }
        }
    }
    for value in spec.pre_allocations.values() {
        if let Some(ip) = addr::parse_ip(value) {
            if !in_any_pool(spec, ip) {
                errs.invalid(
                    "spec.preAllocations",
                    value,
                    "is out of bonds of the pools given",
                );
            }
        }
    }
}

/// Short text naming a pool range in messages.
fn describe(p: &Pool) -> String {
    let f = |o: &Option<String>| o.clone().unwrap_or_default();
    format!(
        "start={} end={} subnet={}",
        f(&p.start),
        f(&p.end),
        f(&p.subnet)
    )
}

/// IPPool create webhook.
pub fn validate_ippool_create(pool: &IPPool) -> Result<(), ValidationError> {
    let mut errs = ValidationError::default();
    check_spec(&pool.spec, &mut errs);
    errs.into_result()
}

/// IPPool update webhook: immutables, ranges, and in-use addresses still in bounds.
pub fn validate_ippool_update(old: &IPPool, new: &IPPool) -> Result<(), ValidationError> {
    let mut errs = ValidationError::default();
    if old.spec.name_prefix != new.spec.name_prefix {
        errs.forbidden("spec.namePrefix", "is immutable");
    }
    if old.spec.allocation_strategy.unwrap_or_default()
        != new.spec.allocation_strategy.unwrap_or_default()
    {
        errs.forbidden("spec.allocationStrategy", "is immutable");
    }
    check_spec(&new.spec, &mut errs);
    if let Some(status) = &old.status {
        for value in status.allocations.values() {
            let ok = addr::parse_ip(value).is_some_and(|ip| in_any_pool(&new.spec, ip));
            if !ok {
                errs.invalid(
                    "spec.pools",
                    value,
                    "is in use but out of bounds of the pools given",
                );
            }
        }
    }
    errs.into_result()
}

/// IPClaim create webhook.
pub fn validate_ipclaim_create(claim: &IPClaim) -> Result<(), ValidationError> {
    let mut errs = ValidationError::default();
    if claim.spec.pool.name.is_empty() {
        errs.required("spec.pool.name", "cannot be empty");
    }
    check_annotation(claim, &mut errs);
    errs.into_result()
}

/// The `ipAddress` annotation, when present and non-empty, must be an IP.
fn check_annotation(claim: &IPClaim, errs: &mut ValidationError) {
    if let Some(v) = claim.metadata.annotations.get(IP_ADDRESS_ANNOTATION) {
        if !v.is_empty() && addr::parse_ip(v).is_none() {
            errs.invalid(
                "metadata.annotations[ipAddress]",
                v,
                "not a valid IP address",
            );
        }
    }
}

/// IPClaim update webhook: pool name/namespace/kind are immutable.
pub fn validate_ipclaim_update(old: &IPClaim, new: &IPClaim) -> Result<(), ValidationError> {
    let mut errs = ValidationError::default();
    let (o, n) = (&old.spec.pool, &new.spec.pool);
    if o.name != n.name || o.namespace != n.namespace || o.kind != n.kind {
        errs.forbidden("spec.pool", "cannot be modified");
    }
    check_annotation(new, &mut errs);
    errs.into_result()
}

/// IPAddress create webhook.
pub fn validate_ipaddress_create(a: &IPAddress) -> Result<(), ValidationError> {
    let mut errs = ValidationError::default();
    if a.spec.pool.name.is_empty() {
        errs.required("spec.pool.name", "cannot be empty");
    }
    if a.spec.claim.name.is_empty() {
        errs.required("spec.claim.name", "cannot be empty");
    }
    if a.spec.address.is_empty() {
        errs.required("spec.address", "cannot be empty");
    } else if addr::parse_ip(&a.spec.address).is_none() {
        errs.invalid("spec.address", &a.spec.address, "is not a valid IP address");
    }
    if let Some(p) = a.spec.prefix.filter(|p| *p > 128) {
        errs.invalid(
            "spec.prefix",
            &p.to_string(),
            "should be less than or equal to 128",
        );
    }
    errs.into_result()
}

/// IPAddress update webhook: address, pool and claim are immutable.
pub fn validate_ipaddress_update(old: &IPAddress, new: &IPAddress) -> Result<(), ValidationError> {
    let mut errs = ValidationError::default();
    if old.spec.address != new.spec.address {
        errs.forbidden("spec.address", "cannot be modified");
    }
    let same = |a: &metal3_hostmodel::ObjectReference, b: &metal3_hostmodel::ObjectReference| {
        a.name == b.name && a.namespace == b.namespace && a.kind == b.kind
    };
    if !same(&old.spec.pool, &new.spec.pool) {
        errs.forbidden("spec.pool", "cannot be modified");
    }
    if !same(&old.spec.claim, &new.spec.claim) {
        errs.forbidden("spec.claim", "cannot be modified");
    }
    errs.into_result()
}

/// CAPI IPAddressClaim create rules as far as Metal³ IPAM relies on them:
/// a pool name to draw from and, when present, a parseable `ipAddress` annotation.
pub fn validate_capi_claim_create(claim: &CapiIPAddressClaim) -> Result<(), ValidationError> {
    let mut errs = ValidationError::default();
    if claim.spec.pool_ref.name.is_empty() {
        errs.required("spec.poolRef.name", "cannot be empty");
    }
    if let Some(v) = claim.metadata.annotations.get(IP_ADDRESS_ANNOTATION) {
        if !v.is_empty() && addr::parse_ip(v).is_none() {
            errs.invalid(
                "metadata.annotations[ipAddress]",
                v,
                "not a valid IP address",
            );
        }
    }
    errs.into_result()
}

/// CAPI IPAddressClaim update rules: `spec.poolRef` is immutable.
pub fn validate_capi_claim_update(
    old: &CapiIPAddressClaim,
    new: &CapiIPAddressClaim,
) -> Result<(), ValidationError> {
    let mut errs = ValidationError::default();
    if old.spec.pool_ref != new.spec.pool_ref {
        errs.forbidden("spec.poolRef", "field is immutable");
    }
    errs.into_result()
}

/// CAPI IPAddress create rules: claim, pool and a parseable address.
pub fn validate_capi_ipaddress_create(a: &CapiIPAddress) -> Result<(), ValidationError> {
    let mut errs = ValidationError::default();
    if a.spec.pool_ref.name.is_empty() {
        errs.required("spec.poolRef.name", "cannot be empty");
    }
    if a.spec.claim_ref.name.is_empty() {
        errs.required("spec.claimRef.name", "cannot be empty");
    }
    if a.spec.address.is_empty() {
        errs.required("spec.address", "cannot be empty");
    } else if addr::parse_ip(&a.spec.address).is_none() {
        errs.invalid("spec.address", &a.spec.address, "is not a valid IP address");
    }
    if let Some(p) = a.spec.prefix.filter(|p| !(0..=128).contains(p)) {
        errs.invalid("spec.prefix", &p.to_string(), "must be between 0 and 128");
    }
    errs.into_result()
}
