//! Allocation benchmark: fills a /16 (sequential and random) and a huge IPv6
//! pool, printing total time and the cost of the first vs last 1 000 claims.
//!
//! `cargo bench -p metal3-ipam` runs the full sizes; under `cargo test` (no
//! `--bench` argument) it runs a small smoke version so CI stays fast.

use std::time::{Duration, Instant};

use metal3_ipam::{ClaimRequest, IPPool, IpamError, PoolAllocator};

/// Builds a pool object from its spec JSON.
fn pool(spec: serde_json::Value) -> Result<IPPool, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": spec,
    }))
}

/// Fills `n` claims, returning total time and the time of the first and last `window` claims.
fn fill(
    alloc: &mut PoolAllocator,
    n: usize,
    window: usize,
) -> Result<(Duration, Duration, Duration), IpamError> {
    let names: Vec<String> = (0..n).map(|i| format!("claim-{i}")).collect();
    let mut first = Duration::ZERO;
    let mut last = Duration::ZERO;
    let t0 = Instant::now();
    let mut mark = t0;
    for (i, name) in names.iter().enumerate() {
        alloc.allocate_request(ClaimRequest {
            name,
            requested: None,
            capi: false,
        })?;
        if i + 1 == window {
            first = mark.elapsed();
        }
        if i + 1 == n - window {
            mark = Instant::now();
        }
    }
    last += mark.elapsed();
    Ok((t0.elapsed(), first, last))
}

/// Runs one scenario and prints its figures.
fn scenario(
    label: &str,
    spec: serde_json::Value,
    seed: u64,
    n: usize,
    window: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let p = pool(spec)?;
    let mut alloc = PoolAllocator::from_pool(&p)?.with_seed(seed);
    let (total, first, last) = fill(&mut alloc, n, window)?;
    let over = alloc.allocate_request(ClaimRequest {
        name: "one-more",
        requested: None,
        capi: false,
    });
    println!(
        "{label}: {n} claims in {:.3} s ({:.0} ns/claim); first {window}: {:.3} ms, last {window}: {:.3} ms; runs stored: {}; next claim: {}",
        total.as_secs_f64(),
        total.as_nanos() as f64 / n as f64,
        first.as_secs_f64() * 1e3,
        last.as_secs_f64() * 1e3,
        alloc.used_runs(),
        match over {
            Ok(a) => a.address,
            Err(e) => e.status_message(),
        }
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let full = std::env::args().any(|a| a == "--bench");
    let (v4, v6, w) = if full {
        (65_536, 1_000_000, 1_000)
    } else {
        (4_096, 20_000, 100)
    };
    let slash16 = serde_json::json!({"namePrefix": "b", "allocationStrategy": "sequential",
        "pools": [{"start": "10.0.0.0", "subnet": "10.0.0.0/16"}]});
    let slash16_random = serde_json::json!({"namePrefix": "b", "allocationStrategy": "random",
        "pools": [{"start": "10.0.0.0", "subnet": "10.0.0.0/16"}]});
    let (seq, rnd, v4_label) = if full {
        (slash16, slash16_random, "/16")
    } else {
        let small = |s: &str| {
            serde_json::json!({"namePrefix": "b", "allocationStrategy": s,
            "pools": [{"start": "10.0.0.0", "subnet": "10.0.0.0/20"}]})
        };
        (small("sequential"), small("random"), "/20")
    };
    scenario(&format!("v4 {v4_label} sequential"), seq, 1, v4, w)?;
    scenario(&format!("v4 {v4_label} random"), rnd, 42, v4, w)?;
    scenario(
        "v6 /64 sequential",
        serde_json::json!({"namePrefix": "b", "pools": [{"subnet": "2001:db8::/64"}]}),
        1,
        v6,
        w,
    )?;
    // A /64 is too big for upstream's int-sized random walk; /65 is the largest allowed.
    scenario(
        "v6 /65 random",
        serde_json::json!({"namePrefix": "b", "allocationStrategy": "random",
            "pools": [{"subnet": "2001:db8::/65"}]}),
        7,
        v6,
        w,
    )?;
    Ok(())
}
