//! Address arithmetic over the 16-byte address form (Go `net.IP.To16`).
//!
//! Every address is a `u128` in IPv6 space; IPv4 addresses live in the
//! IPv4-mapped range `::ffff:0:0/96`, exactly as Go stores them, so ordering
//! and "same family" checks behave like upstream's big-integer arithmetic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::types::Pool;

/// First address of the IPv4-mapped range (`::ffff:0.0.0.0`).
const V4_BASE: u128 = 0xffff_0000_0000;
/// Last address of the IPv4-mapped range (`::ffff:255.255.255.255`).
const V4_MAX: u128 = 0xffff_ffff_ffff;

/// Errors of the address arithmetic; texts follow upstream where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    /// Neither `start` nor `subnet` in a pool.
    #[error("either Start or Subnet is required for ipAddress")]
    MissingStartOrSubnet,
    /// The candidate lies past `end` or outside `subnet`.
    #[error("IP address out of bounds")]
    OutOfBounds,
    /// Adding the index overflowed the address family.
    #[error("IP address overflow for : {0}")]
    Overflow(String),
    /// A string that should be an IP is not one.
    #[error("invalid IP address {0:?}")]
    InvalidIp(String),
    /// A string that should be a CIDR is not one.
    #[error("invalid CIDR address: {0}")]
    InvalidCidr(String),
    /// The pool size cannot be computed (start-only, start after end, or too big for an int).
    #[error("cannot compute pool size: {0}")]
    Size(&'static str),
}

/// Parses an IP like Go's `net.ParseIP`; IPv4-mapped IPv6 text counts as IPv4.
pub fn parse_ip(s: &str) -> Option<u128> {
    s.parse::<IpAddr>().ok().map(ip_to_u128)
}

/// The 16-byte integer form of an address.
pub fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => V4_BASE | u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// True when the value is an IPv4 address (IPv4-mapped range).
pub fn is_v4(x: u128) -> bool {
    (V4_BASE..=V4_MAX).contains(&x)
}

/// Converts back to a std address, IPv4 for the mapped range.
pub fn u128_to_ip(x: u128) -> IpAddr {
    if is_v4(x) {
        // Truncation keeps exactly the low 32 bits, which is the IPv4 address.
        IpAddr::V4(Ipv4Addr::from(x as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(x))
    }
}

/// Canonical text (dotted quad / RFC 5952), as Go's `net.IP.String()`.
pub fn ip_string(x: u128) -> String {
    u128_to_ip(x).to_string()
}

/// Largest address of the family `x` belongs to.
fn family_max(x: u128) -> u128 {
    if is_v4(x) {
        V4_MAX
    } else {
        u128::MAX
    }
}

/// Adds an offset, failing past the end of the base address's family.
fn add_offset(base: u128, offset: u128) -> Result<u128, AddrError> {
    match base.checked_add(offset) {
        Some(v) if v <= family_max(base) => Ok(v),
        _ => Err(AddrError::Overflow(ip_string(base))),
    }
}

/// A parsed CIDR as Go's `net.ParseCIDR` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address literally written before the `/` (host bits kept).
    pub literal: u128,
    /// Network address (host bits cleared).
    pub network: u128,
    /// Last address of the subnet.
    pub last: u128,
}

impl Cidr {
    /// Parses `addr/len`; `len` is decimal digits only, at most 32 (IPv4) or 128.
    pub fn parse(s: &str) -> Result<Cidr, AddrError> {
        let bad = || AddrError::InvalidCidr(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let n: u32 = len.parse().map_err(|_| bad())?;
        // Go sizes the mask by the textual family, so `::ffff:a.b.c.d/n` takes a 128-bit mask.
        let width = if ip.is_ipv4() { 32 } else { 128 };
        if n > width {
            return Err(bad());
        }
        let literal = ip_to_u128(ip);
        let host_bits = 128 - (128 - width + n);
        let host_mask = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let network = literal & !host_mask;
        Ok(Cidr {
            literal,
            network,
            last: network | host_mask,
        })
    }

    /// Go `IPNet.Contains`: same family and inside the range.
    pub fn contains(&self, x: u128) -> bool {
        is_v4(x) == is_v4(self.network) && self.network <= x && x <= self.last
    }
}

/// Parses an optional IP field, naming the value on failure.
fn opt_ip(s: Option<&String>) -> Result<Option<u128>, AddrError> {
    s.map(|v| parse_ip(v).ok_or_else(|| AddrError::InvalidIp(v.clone())))
        .transpose()
}

/// `GetIPAddress(pool, index)` as an integer: the index-th candidate of a pool.
pub fn candidate(pool: &Pool, index: u128) -> Result<u128, AddrError> {
    let subnet = pool.subnet.as_deref().map(Cidr::parse).transpose()?;
    if let Some(start) = opt_ip(pool.start.as_ref())? {
        let end = opt_ip(pool.end.as_ref())?;
        let ip = add_offset(start, index)?;
        if end.is_some_and(|e| ip > e) {
            return Err(AddrError::OutOfBounds);
        }
        if subnet.is_some_and(|c| !c.contains(ip)) {
            return Err(AddrError::OutOfBounds);
        }
        Ok(ip)
    } else if let Some(c) = subnet {
        // Upstream starts from the literal CIDR address, not the network address.
        let ip = add_offset(c.literal, index)
            .and_then(|v| add_offset(v, 1))
            .map_err(|_| AddrError::Overflow(ip_string(c.literal)))?;
        if !c.contains(ip) {
            return Err(AddrError::OutOfBounds);
        }
        Ok(ip)
    } else {
        Err(AddrError::MissingStartOrSubnet)
    }
}

/// `GetIPAddress(pool, index)`: the canonical text of the index-th candidate.
pub fn get_ip_address(pool: &Pool, index: u128) -> Result<String, AddrError> {
    candidate(pool, index).map(ip_string)
}

/// Inclusive address range `[first, last]`.
pub type Range = (u128, u128);

/// Addresses the sequential scan (index 0, 1, … until the first error) visits.
///
/// Candidates are monotone in the index and every bound is an interval, so the
/// scan visits exactly one contiguous range; `None` when index 0 already fails.
pub fn sequential_range(pool: &Pool) -> Option<Range> {
    let first = candidate(pool, 0).ok()?;
    let mut last = family_max(first);
    if pool.start.is_some() {
        if let Ok(Some(e)) = opt_ip(pool.end.as_ref()) {
            last = last.min(e);
        }
    }
    if let Some(Ok(c)) = pool.subnet.as_deref().map(Cidr::parse) {
        last = last.min(c.last);
    }
    Some((first, last))
}

/// `GetPoolSize(pool)`; the result must fit Go's `int` (i64) to be usable.
pub fn pool_size(pool: &Pool) -> Result<u128, AddrError> {
    let subnet = pool.subnet.as_deref().map(Cidr::parse).transpose()?;
    let start = opt_ip(pool.start.as_ref())?;
    let end = opt_ip(pool.end.as_ref())?;
    let size = match (start, end, subnet) {
        (Some(s), Some(e), _) => e
            .checked_sub(s)
            .map(|d| d.saturating_add(1))
            .ok_or(AddrError::Size("start is after end"))?,
        (Some(s), None, Some(c)) => c
            .last
            .checked_sub(s)
            .map(|d| d.saturating_add(1))
            .ok_or(AddrError::Size("start is after the end of the subnet"))?,
        (Some(_), None, None) => return Err(AddrError::Size("start without end or subnet")),
        (None, _, Some(c)) => c.last - c.network,
        (None, _, None) => return Err(AddrError::MissingStartOrSubnet),
    };
    if size > i64::MAX as u128 {
        return Err(AddrError::Size("does not fit in an int"));
    }
    Ok(size)
}

/// Range walked by the `random` strategy: `(base, size, valid)` where index `i`
/// maps to `base + i` for `i < size` and `valid` is the sub-range of those
/// candidates that `GetIPAddress` accepts. `None` when the pool is skipped.
pub fn random_range(pool: &Pool) -> Option<(u128, u128, Option<Range>)> {
    let size = pool_size(pool).ok().filter(|s| *s > 0)?;
    let subnet = pool.subnet.as_deref().map(Cidr::parse).transpose().ok()?;
    let start = opt_ip(pool.start.as_ref()).ok()?;
    let base = match (start, subnet) {
        (Some(s), _) => s,
        (None, Some(c)) => c.literal.checked_add(1)?,
        (None, None) => return None,
    };
    let mut lo = base;
    let mut hi = base.saturating_add(size - 1).min(family_max(base));
    if start.is_some() {
        if let Ok(Some(e)) = opt_ip(pool.end.as_ref()) {
            hi = hi.min(e);
        }
    }
    if let Some(c) = subnet {
        if is_v4(c.network) != is_v4(base) {
            return Some((base, size, None));
        }
        lo = lo.max(c.network);
        hi = hi.min(c.last);
    }
    Some((base, size, (lo <= hi).then_some((lo, hi))))
}

/// `formatAddressName`: `prefix-address` with `.`/`:` turned into `-` and
/// trailing dashes trimmed.
pub fn format_address_name(name_prefix: &str, address: &str) -> String {
    let mut out = String::with_capacity(name_prefix.len() + 1 + address.len());
    for c in name_prefix.chars().chain(['-']).chain(address.chars()) {
        out.push(if c == ':' || c == '.' { '-' } else { c });
    }
    let kept = out.trim_end_matches('-').len();
    out.truncate(kept);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(start: Option<&str>, end: Option<&str>, subnet: Option<&str>) -> Pool {
        Pool {
            start: start.map(String::from),
            end: end.map(String::from),
            subnet: subnet.map(String::from),
            ..Pool::default()
        }
    }

    #[test]
    fn subnet_only_starts_at_literal_plus_one() {
        let p = pool(None, None, Some("192.168.0.0/24"));
        assert_eq!(get_ip_address(&p, 0).as_deref(), Ok("192.168.0.1"));
        let p = pool(None, None, Some("192.168.0.10/24"));
        assert_eq!(get_ip_address(&p, 1).as_deref(), Ok("192.168.0.12"));
        assert_eq!(get_ip_address(&p, 244).as_deref(), Ok("192.168.0.255"));
        assert_eq!(get_ip_address(&p, 245), Err(AddrError::OutOfBounds));
    }

    #[test]
    fn broadcast_not_excluded() {
        let p = pool(None, None, Some("192.168.0.0/30"));
        let got: Vec<_> = (0..4).map(|i| get_ip_address(&p, i)).collect();
        assert_eq!(
            got,
            vec![
                Ok("192.168.0.1".to_string()),
                Ok("192.168.0.2".to_string()),
                Ok("192.168.0.3".to_string()),
                Err(AddrError::OutOfBounds)
            ]
        );
        assert_eq!(
            sequential_range(&p),
            parse_ip("192.168.0.1").zip(parse_ip("192.168.0.3"))
        );
    }

    #[test]
    fn start_end_subnet_bounds() {
        let p = pool(Some("192.168.0.10"), Some("192.168.0.30"), None);
        assert_eq!(get_ip_address(&p, 0).as_deref(), Ok("192.168.0.10"));
        assert_eq!(get_ip_address(&p, 20).as_deref(), Ok("192.168.0.30"));
        assert_eq!(get_ip_address(&p, 21), Err(AddrError::OutOfBounds));
        let p = pool(Some("192.168.0.250"), None, Some("192.168.0.0/24"));
        assert_eq!(get_ip_address(&p, 5).as_deref(), Ok("192.168.0.255"));
        assert_eq!(get_ip_address(&p, 6), Err(AddrError::OutOfBounds));
        // The network address written as start is allocatable.
        let p = pool(Some("10.0.0.0"), None, Some("10.0.0.0/24"));
        assert_eq!(get_ip_address(&p, 0).as_deref(), Ok("10.0.0.0"));
        // Start outside its subnet: index 0 already fails.
        let p = pool(Some("10.0.1.0"), None, Some("10.0.0.0/24"));
        assert_eq!(get_ip_address(&p, 0), Err(AddrError::OutOfBounds));
        assert_eq!(sequential_range(&p), None);
    }

    #[test]
    fn missing_start_and_subnet() {
        let p = pool(None, Some("10.0.0.5"), None);
        assert_eq!(
            get_ip_address(&p, 0).map_err(|e| e.to_string()),
            Err("either Start or Subnet is required for ipAddress".to_string())
        );
        assert_eq!(sequential_range(&p), None);
    }

    #[test]
    fn overflow_v4_and_v6() {
        let p = pool(Some("255.255.255.254"), None, None);
        assert_eq!(get_ip_address(&p, 1).as_deref(), Ok("255.255.255.255"));
        assert_eq!(
            get_ip_address(&p, 2),
            Err(AddrError::Overflow("255.255.255.254".into()))
        );
        let p = pool(Some("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), None, None);
        assert_eq!(
            get_ip_address(&p, 1).as_deref(),
            Ok("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
        assert!(matches!(get_ip_address(&p, 2), Err(AddrError::Overflow(_))));
        let p = pool(None, None, Some("255.255.255.255/32"));
        assert!(matches!(get_ip_address(&p, 0), Err(AddrError::Overflow(_))));
    }

    #[test]
    fn ipv6_canonical_output() {
        let p = pool(Some("2001:DB8:0:0::0005"), None, None);
        assert_eq!(get_ip_address(&p, 0).as_deref(), Ok("2001:db8::5"));
        let p = pool(None, None, Some("2001:ABC::0/96"));
        assert_eq!(get_ip_address(&p, 0).as_deref(), Ok("2001:abc::1"));
        assert_eq!(get_ip_address(&p, 0xffff).as_deref(), Ok("2001:abc::1:0"));
        let p = pool(Some("::ffff:10.0.0.1"), None, None);
        assert_eq!(get_ip_address(&p, 0).as_deref(), Ok("10.0.0.1"));
        let p = pool(None, None, Some("2001:db8::/64"));
        assert_eq!(
            get_ip_address(&p, u128::from(u64::MAX) - 1).as_deref(),
            Ok("2001:db8::ffff:ffff:ffff:ffff")
        );
        assert_eq!(
            get_ip_address(&p, u128::from(u64::MAX)),
            Err(AddrError::OutOfBounds)
        );
    }

    #[test]
    fn family_mismatch_is_out_of_bounds() {
        let p = pool(Some("10.0.0.1"), None, Some("::/0"));
        assert_eq!(get_ip_address(&p, 0), Err(AddrError::OutOfBounds));
    }

    #[test]
    fn cidr_parsing() {
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0.0/+8").is_err());
        assert!(Cidr::parse("10.0.0.0").is_err());
        assert!(Cidr::parse("2001::/129").is_err());
        let c = Cidr::parse("192.168.1.1/26").ok();
        assert_eq!(
            c.map(|c| ip_string(c.network)).as_deref(),
            Some("192.168.1.0")
        );
        assert_eq!(
            c.map(|c| ip_string(c.last)).as_deref(),
            Some("192.168.1.63")
        );
    }

    #[test]
    fn pool_sizes() {
        let size = |p: &Pool| pool_size(p).ok();
        assert_eq!(
            size(&pool(Some("10.0.0.10"), Some("10.0.0.30"), None)),
            Some(21)
        );
        assert_eq!(
            size(&pool(Some("10.0.0.250"), None, Some("10.0.0.0/24"))),
            Some(6)
        );
        assert_eq!(size(&pool(Some("10.0.0.1"), None, None)), None);
        assert_eq!(size(&pool(None, None, Some("10.0.0.77/24"))), Some(255));
        assert_eq!(size(&pool(None, None, Some("10.0.0.0/16"))), Some(65535));
        assert_eq!(size(&pool(None, None, Some("2001:db8::/64"))), None);
        assert_eq!(
            size(&pool(None, None, Some("2001:db8::/65"))),
            Some((1 << 63) - 1)
        );
        assert_eq!(size(&pool(Some("10.0.0.9"), Some("10.0.0.1"), None)), None);
    }

    #[test]
    fn address_names() {
        let n = |a: &str| format_address_name("p", a);
        assert_eq!(
            format_address_name("test1-prov", "192.168.0.13"),
            "test1-prov-192-168-0-13"
        );
        assert_eq!(n("2001:db8::5"), "p-2001-db8--5");
        assert_eq!(n("2001::"), "p-2001");
        assert_eq!(n("::1"), "p---1");
        assert_eq!(n("fe80::2001:38"), "p-fe80--2001-38");
    }
}
