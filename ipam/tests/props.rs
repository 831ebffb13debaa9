//! Property tests: the interval-set allocator agrees with a literal transcription
//! of upstream's scanning algorithm (sequential), never hands out an address
//! twice, keeps every address inside a pool, and survives release/reallocate and
//! restarts, for IPv4 and IPv6.

// Test helpers outside #[test] fns fail loudly on bad fixtures, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap, HashSet};

use metal3_ipam::addr::{get_ip_address, ip_string, parse_ip, pool_size};
use metal3_ipam::{
    AllocationStrategy, ClaimRequest, IPAddress, IPClaim, IPPool, Pool, PoolAllocator,
};
use proptest::prelude::*;

/// Upstream's `allocateAddress` + `deleteAddress`, scanning index by index.
struct Model {
    spec_pools: Vec<Pool>,
    pre: BTreeMap<String, String>,
    /// canonical address -> claim ("" for a pre-allocation reservation)
    used: HashMap<String, String>,
    allocs: BTreeMap<String, String>,
}

fn canon(s: &str) -> Option<String> {
    parse_ip(s).map(ip_string)
}

impl Model {
    fn new(p: &IPPool) -> Self {
        let used = p
            .spec
            .pre_allocations
            .values()
            .filter_map(|v| canon(v))
            .map(|v| (v, String::new()))
            .collect();
        Model {
            spec_pools: p.spec.pools.clone(),
            pre: p.spec.pre_allocations.clone(),
            used,
            allocs: BTreeMap::new(),
        }
    }

    fn allocate(&mut self, name: &str, requested: Option<&str>) -> Result<String, String> {
        if let Some(a) = self.allocs.get(name) {
            return Ok(a.clone());
        }
        let requested = match requested.filter(|r| !r.is_empty()) {
            Some(r) => Some(canon(r).ok_or_else(|| {
                format!("Invalid ipAddress annotation {r:?}: not a valid IP address")
            })?),
            None => None,
        };
        let pre = self.pre.get(name).map(|p| canon(p));
        if let (Some(r), Some(p)) = (&requested, &pre) {
            if p.as_ref() != Some(r) {
                return Err("PreAllocation and requested ip address are conflicting".into());
            }
        }
        let mut seen = false;
        let mut got = None;
        'pools: for pool in &self.spec_pools {
            let mut idx = 0u128;
            while let Ok(c) = get_ip_address(pool, idx) {
                idx += 1;
                if pre.is_some() || requested.is_some() {
                    if let Some(r) = &requested {
                        if &c != r {
                            continue;
                        }
                        seen = true;
                    }
                    if let Some(p) = &pre {
                        if p.as_ref() != Some(&c) {
                            continue;
                        }
                        got = Some(c);
                        break 'pools;
                    }
                    if !self.used.contains_key(&c) {
                        got = Some(c);
                        break 'pools;
                    }
                } else if !self.used.contains_key(&c) {
                    got = Some(c);
                    break 'pools;
                }
            }
        }
        let Some(c) = got else {
            return Err(if requested.is_some() && seen {
                "Requested IP not available"
            } else if pre.is_some() {
                "Pre-allocated IP out of bounds"
            } else {
                "Exhausted IP Pools"
            }
            .into());
        };
        self.used.insert(c.clone(), name.into());
        self.allocs.insert(name.into(), c.clone());
        Ok(c)
    }

    fn release(&mut self, name: &str) {
        if let Some(a) = self.allocs.remove(name) {
            if !self.pre.contains_key(name) {
                self.used.remove(&a);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Alloc { claim: u8, requested: Option<u16> },
    Release { claim: u8 },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (0u8..14, proptest::option::weighted(0.25, 0u16..90))
            .prop_map(|(claim, requested)| Op::Alloc { claim, requested }),
        1 => (0u8..14).prop_map(|claim| Op::Release { claim }),
    ];
    proptest::collection::vec(op, 1..80)
}

/// A range description relative to a base address.
#[derive(Debug, Clone)]
enum Shape {
    StartEnd(u16, u16),
    StartSubnet(u16, u32),
    Subnet(u16, u32),
    EndOnly(u16),
}

fn shapes() -> impl Strategy<Value = Vec<Shape>> {
    let s = prop_oneof![
        (0u16..64, 0u16..16).prop_map(|(s, l)| Shape::StartEnd(s, l)),
        (0u16..64, 26u32..31).prop_map(|(s, b)| Shape::StartSubnet(s, b)),
        (0u16..64, 26u32..31).prop_map(|(s, b)| Shape::Subnet(s, b)),
        (0u16..64).prop_map(Shape::EndOnly),
    ];
    proptest::collection::vec(s, 0..4)
}

/// Address at `base + off` for the family; `bits` are IPv4 prefix lengths, shifted for IPv6.
fn at(v6: bool, off: u16) -> String {
    if v6 {
        ip_string(parse_ip("2001:db8::").unwrap() + u128::from(off))
    } else {
        ip_string(parse_ip("10.0.0.0").unwrap() + u128::from(off))
    }
}

fn cidr(v6: bool, off: u16, bits: u32) -> String {
    format!("{}/{}", at(v6, off), if v6 { bits + 96 } else { bits })
}

fn build_pool(
    v6: bool,
    shapes: &[Shape],
    pre: &[(u8, u16)],
    strategy: AllocationStrategy,
) -> IPPool {
    let pools: Vec<Pool> = shapes
        .iter()
        .map(|s| match *s {
            Shape::StartEnd(st, len) => Pool {
                start: Some(at(v6, st)),
                end: Some(at(v6, st + len)),
                ..Pool::default()
            },
            Shape::StartSubnet(st, bits) => Pool {
                start: Some(at(v6, st)),
                subnet: Some(cidr(v6, st, bits)),
                prefix: Some(bits as i32),
                ..Pool::default()
            },
            Shape::Subnet(st, bits) => Pool {
                subnet: Some(cidr(v6, st, bits)),
                ..Pool::default()
            },
            Shape::EndOnly(e) => Pool {
                end: Some(at(v6, e)),
                ..Pool::default()
            },
        })
        .collect();
    let mut p = IPPool::default();
    p.metadata.name = "pool".into();
    p.metadata.namespace = "ns".into();
    p.spec.name_prefix = "pp".into();
    p.spec.allocation_strategy = Some(strategy);
    p.spec.pools = pools;
    let mut seen = HashSet::new();
    for (c, off) in pre {
        if seen.insert(*off) {
            p.spec.pre_allocations.insert(format!("c{c}"), at(v6, *off));
        }
    }
    // Keep only pre-allocations the webhook accepts (in bounds of some range).
    let candidates: Vec<(String, String)> = p.spec.pre_allocations.clone().into_iter().collect();
    p.spec.pre_allocations.clear();
    for (k, v) in candidates {
        p.spec.pre_allocations.insert(k.clone(), v);
        if metal3_ipam::validate::validate_ippool_create(&p).is_err() {
            p.spec.pre_allocations.remove(&k);
        }
    }
    p
}

fn request(claim: u8, requested: &Option<String>) -> (String, Option<String>) {
    (format!("c{claim}"), requested.clone())
}

/// All addresses a pool range can ever hand out (sequential scan or random walk).
fn candidates(pool: &Pool) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut i = 0;
    while let Ok(c) = get_ip_address(pool, i) {
        out.insert(c);
        i += 1;
    }
    if let Ok(size) = pool_size(pool) {
        for i in 0..size {
            if let Ok(c) = get_ip_address(pool, i) {
                out.insert(c);
            }
        }
    }
    out
}

fn run_sequential(
    v6: bool,
    shapes: Vec<Shape>,
    pre: Vec<(u8, u16)>,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let p = build_pool(v6, &shapes, &pre, AllocationStrategy::Sequential);
    let mut a = PoolAllocator::from_pool(&p).unwrap();
    let mut m = Model::new(&p);
    let mut objects: BTreeMap<String, IPAddress> = BTreeMap::new();
    for op in &ops {
        match op {
            Op::Alloc { claim, requested } => {
                let (name, req) = request(*claim, &requested.map(|o| at(v6, o)));
                let got = a
                    .allocate_request(ClaimRequest {
                        name: &name,
                        requested: req.as_deref(),
                        capi: false,
                    })
                    .map_err(|e| e.status_message());
                let want = m.allocate(&name, req.as_deref());
                prop_assert_eq!(
                    got.as_ref().map(|x| &x.address),
                    want.as_ref(),
                    "op {:?}",
                    op
                );
                if let Ok(x) = got {
                    let mut c = IPClaim::default();
                    c.metadata.name = name.clone();
                    objects.insert(name, x.to_ipaddress(&p, &c));
                }
            }
            Op::Release { claim } => {
                let name = format!("c{claim}");
                a.release(&name);
                m.release(&name);
                objects.remove(&name);
            }
        }
        // No address twice; each live address belongs to exactly its claim.
        let live: Vec<&String> = m.allocs.values().collect();
        let uniq: HashSet<_> = live.iter().collect();
        prop_assert_eq!(uniq.len(), live.len());
        prop_assert_eq!(a.status_indexes(), m.allocs.clone());
    }
    // Restart: rebuilding from the IPAddress objects gives the same state and choices.
    let objs: Vec<IPAddress> = objects.into_values().collect();
    let mut r = PoolAllocator::from_state(&p, &objs, &[]).unwrap();
    prop_assert_eq!(r.status_indexes(), a.status_indexes());
    prop_assert_eq!(r.in_use_count(), a.in_use_count());
    for i in 20..24 {
        let name = format!("c{i}");
        let x = r
            .allocate_request(ClaimRequest {
                name: &name,
                requested: None,
                capi: false,
            })
            .map(|x| x.address)
            .map_err(|e| e.status_message());
        let y = a
            .allocate_request(ClaimRequest {
                name: &name,
                requested: None,
                capi: false,
            })
            .map(|x| x.address)
            .map_err(|e| e.status_message());
        prop_assert_eq!(x, y);
    }
    Ok(())
}

fn run_random(
    v6: bool,
    shapes: Vec<Shape>,
    pre: Vec<(u8, u16)>,
    ops: Vec<Op>,
    seed: u64,
) -> Result<(), TestCaseError> {
    let p = build_pool(v6, &shapes, &pre, AllocationStrategy::Random);
    // Random pools need a computable size; the webhook rejects the rest.
    let Ok(a) = PoolAllocator::from_pool(&p) else {
        return Ok(());
    };
    let mut a = a.with_seed(seed);
    let per_pool: Vec<HashSet<String>> = p.spec.pools.iter().map(candidates).collect();
    let pre_values: HashSet<String> = p.spec.pre_allocations.values().cloned().collect();
    let mut live: HashMap<String, String> = HashMap::new();
    for op in &ops {
        match op {
            Op::Alloc { claim, .. } => {
                let name = format!("c{claim}");
                let was = live.get(&name).cloned();
                let held: HashSet<String> = live
                    .values()
                    .cloned()
                    .chain(pre_values.iter().cloned())
                    .collect();
                match a.allocate_request(ClaimRequest {
                    name: &name,
                    requested: None,
                    capi: false,
                }) {
                    Ok(x) => {
                        if let Some(w) = was {
                            prop_assert_eq!(&x.address, &w);
                            continue;
                        }
                        if let Some(pv) = p.spec.pre_allocations.get(&name) {
                            prop_assert_eq!(&x.address, pv);
                        } else {
                            prop_assert!(
                                !held.contains(&x.address),
                                "handed out twice: {}",
                                x.address
                            );
                            let k = per_pool.iter().position(|s| s.contains(&x.address));
                            prop_assert!(k.is_some(), "{} outside every pool", x.address);
                            // Earlier pools must have been full.
                            for s in &per_pool[..k.unwrap_or(0)] {
                                prop_assert!(s.iter().all(|c| held.contains(c)));
                            }
                        }
                        live.insert(name, x.address);
                    }
                    Err(e) => {
                        if !p.spec.pre_allocations.contains_key(&name) {
                            prop_assert_eq!(e.status_message(), "Exhausted IP Pools");
                            prop_assert!(per_pool.iter().flatten().all(|c| held.contains(c)));
                        }
                    }
                }
            }
            Op::Release { claim } => {
                let name = format!("c{claim}");
                a.release(&name);
                live.remove(&name);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sequential_matches_upstream_scan_v4(shapes in shapes(), pre in proptest::collection::vec((0u8..14, 0u16..90), 0..4), ops in ops()) {
        run_sequential(false, shapes, pre, ops)?;
    }

    #[test]
    fn sequential_matches_upstream_scan_v6(shapes in shapes(), pre in proptest::collection::vec((0u8..14, 0u16..90), 0..4), ops in ops()) {
        run_sequential(true, shapes, pre, ops)?;
    }

    #[test]
    fn random_never_duplicates_v4(shapes in shapes(), pre in proptest::collection::vec((0u8..14, 0u16..90), 0..4), ops in ops(), seed in any::<u64>()) {
        run_random(false, shapes, pre, ops, seed)?;
    }

    #[test]
    fn random_never_duplicates_v6(shapes in shapes(), pre in proptest::collection::vec((0u8..14, 0u16..90), 0..4), ops in ops(), seed in any::<u64>()) {
        run_random(true, shapes, pre, ops, seed)?;
    }
}

/// Values clustered at both ends of u128 so overflow edges are hit.
fn edge_value() -> impl Strategy<Value = u128> {
    prop_oneof![
        (0u128..48),
        (0u128..48).prop_map(|d| u128::MAX - d),
        (0u128..48).prop_map(|d| (1u128 << 64) + d),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The interval set behaves exactly like a plain set of addresses.
    #[test]
    fn used_set_matches_btreeset(
        ops in proptest::collection::vec((any::<bool>(), edge_value()), 1..200),
        queries in proptest::collection::vec((edge_value(), edge_value()), 1..20),
    ) {
        let mut set = metal3_ipam::UsedSet::default();
        let mut model = std::collections::BTreeSet::new();
        for (insert, x) in ops {
            if insert {
                prop_assert_eq!(set.insert(x), model.insert(x));
            } else {
                prop_assert_eq!(set.remove(x), model.remove(&x));
            }
            prop_assert_eq!(set.len(), model.len() as u128);
            prop_assert!(set.runs() <= model.len());
        }
        for (a, b) in queries {
            let (lo, hi) = (a.min(b), a.max(b));
            // Written as c - 1 == hi - lo so [0, u128::MAX] cannot overflow.
            let c = model.range(lo..=hi).count() as u128;
            let want = if c > 0 && c - 1 == hi - lo {
                None
            } else {
                // The answer is at most len(model) steps above lo.
                (lo..=hi).find(|x| !model.contains(x))
            };
            prop_assert_eq!(set.first_free(lo, hi), want, "lo {} hi {}", lo, hi);
            prop_assert_eq!(set.contains(lo), model.contains(&lo));
        }
    }
}
