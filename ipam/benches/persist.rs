//! Store-backed allocation benchmark: claims allocated one by one through
//! `persist::reconcile_ipclaim` against the in-memory and the SQLite store,
//! printing the total and the per-claim cost of the first vs the last claims.
//!
//! Unlike the pure allocator, each reconcile rebuilds the pool's in-use set
//! from the store (as Metal³'s controller does on every reconcile), so the
//! per-claim cost grows with the number of IPAddress objects in the
//! namespace; this bench shows by how much.
//!
//! `cargo bench -p metal3-ipam --bench persist` runs the full size; under
//! `cargo test` (no `--bench` argument) a small smoke version.

use std::time::{Duration, Instant};

use metal3_hostmodel::store::Store;
use metal3_ipam::persist::{self, ClaimOutcome};
use metal3_provisioning::store::{MemoryStore, SqliteStore};
use serde_json::json;

fn run(
    label: &str,
    store: &dyn Store,
    n: usize,
    window: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    store.create(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {"namePrefix": "b", "pools": [{"subnet": "10.0.0.0/16"}]}
    }))?;
    let t0 = Instant::now();
    let (mut first, mut mark) = (Duration::ZERO, t0);
    for i in 0..n {
        let name = format!("claim-{i}");
        store.create(json!({
            "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"pool": {"name": "bench"}}
        }))?;
        match persist::reconcile_ipclaim(store, "default", &name)? {
            ClaimOutcome::Allocated(_) => {}
            other => return Err(format!("{name}: not allocated: {other:?}").into()),
        }
        if i + 1 == window {
            first = mark.elapsed();
        }
        if i + 1 == n - window {
            mark = Instant::now();
        }
    }
    let last = mark.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / window as f64;
    println!(
        "{label}: {n} claims in {:.2} s; first {window}: {:.0} us/claim, last {window}: {:.0} us/claim",
        t0.elapsed().as_secs_f64(),
        per(first),
        per(last)
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, w) = if full { (2_000, 200) } else { (100, 20) };
    run("memory", &MemoryStore::new(), n, w)?;
    let dir = std::env::temp_dir().join(format!("metal3-ipam-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = SqliteStore::open(dir.join("store.db"))
        .map_err(Into::into)
        .and_then(|s| run("sqlite", &s, n, w));
    let _ = std::fs::remove_dir_all(&dir);
    result
}
