//! The store-backed layer against the real backends (MemoryStore, SqliteStore).

use std::sync::Arc;

use metal3_provisioning::store::{MemoryStore, SqliteStore};
use serde_json::{json, Value};

use super::*;

fn pool_doc(spec: Value) -> Value {
    json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "pool1", "namespace": "default"},
        "spec": spec,
    })
}

fn small_pool() -> Value {
    pool_doc(json!({
        "namePrefix": "test1-prov", "prefix": 24, "gateway": "192.168.0.1",
        "pools": [{"start": "192.168.0.10", "end": "192.168.0.13"}],
        "preAllocations": {"fixed": "192.168.0.11"}
    }))
}

fn claim_doc(name: &str) -> Value {
    json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
        "metadata": {"name": name, "namespace": "default", "labels": {"role": "worker"}},
        "spec": {"pool": {"name": "pool1"}},
    })
}

fn capi_claim_doc(name: &str) -> Value {
    json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"poolRef": {"apiGroup": "ipam.metal3.io", "kind": "IPPool", "name": "pool1"}},
    })
}

fn claim(store: &dyn Store, name: &str) -> ClaimOutcome {
    store.create(claim_doc(name)).unwrap();
    reconcile_ipclaim(store, "default", name).unwrap()
}

fn address_of(o: &ClaimOutcome) -> &str {
    match o {
        ClaimOutcome::Allocated(a) => &a.address,
        other => panic!("not allocated: {other:?}"),
    }
}

fn indexes(store: &dyn Store) -> BTreeMap<String, String> {
    let p: IPPool = store
        .get_as(&ObjectKey::new(IPPOOL_KIND, "default", "pool1"))
        .unwrap();
    p.status.map(|s| s.allocations).unwrap_or_default()
}

#[test]
fn allocation_persists_address_object_pool_status_and_claim_status() {
    let store = MemoryStore::new();
    store.create(small_pool()).unwrap();
    assert_eq!(
        reconcile_pool(&store, "default", "pool1").unwrap(),
        PoolOutcome::Ready { allocations: 0 }
    );
    let out = claim(&store, "node-0");
    assert_eq!(address_of(&out), "192.168.0.10");

    let a = store
        .get(&ObjectKey::new(
            IPADDRESS_KIND,
            "default",
            "test1-prov-192-168-0-10",
        ))
        .unwrap();
    assert_eq!(a["apiVersion"], "ipam.metal3.io/v1alpha1");
    assert_eq!(a["spec"]["address"], "192.168.0.10");
    assert_eq!(a["spec"]["prefix"], 24);
    assert_eq!(a["spec"]["gateway"], "192.168.0.1");
    assert_eq!(a["spec"]["claim"]["name"], "node-0");
    assert_eq!(a["spec"]["pool"]["name"], "pool1");
    assert_eq!(
        a["metadata"]["finalizers"],
        json!(["ipaddress.ipam.metal3.io"])
    );
    assert_eq!(a["metadata"]["labels"], json!({"role": "worker"}));
    let owners: Vec<&str> = a["metadata"]["ownerReferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["IPPool", "IPClaim"]);

    let c = store
        .get(&ObjectKey::new(IPCLAIM_KIND, "default", "node-0"))
        .unwrap();
    assert_eq!(c["status"]["address"]["name"], "test1-prov-192-168-0-10");
    assert_eq!(
        c["metadata"]["finalizers"],
        json!(["ipclaim.ipam.metal3.io"])
    );
    let p = store
        .get(&ObjectKey::new(IPPOOL_KIND, "default", "pool1"))
        .unwrap();
    assert_eq!(p["status"]["indexes"], json!({"node-0": "192.168.0.10"}));
    assert!(p["status"]["lastUpdated"].is_string());
    assert_eq!(
        p["metadata"]["finalizers"],
        json!(["ippool.ipam.metal3.io"])
    );

    // Reconciling again hands back the same address and writes nothing.
    let rev = store.revision().unwrap();
    assert_eq!(
        address_of(&reconcile_ipclaim(&store, "default", "node-0").unwrap()),
        "192.168.0.10"
    );
    assert_eq!(store.revision().unwrap(), rev);
}

#[test]
fn pre_allocations_skip_and_exhaustion_is_recorded_on_the_claim() {
    let store = MemoryStore::new();
    store.create(small_pool()).unwrap();
    assert_eq!(address_of(&claim(&store, "a")), "192.168.0.10");
    // .11 is pre-allocated to "fixed".
    assert_eq!(address_of(&claim(&store, "b")), "192.168.0.12");
    assert_eq!(address_of(&claim(&store, "c")), "192.168.0.13");
    assert_eq!(address_of(&claim(&store, "fixed")), "192.168.0.11");
    assert_eq!(
        claim(&store, "d"),
        ClaimOutcome::Failed("Exhausted IP Pools".into())
    );
    let c = store
        .get(&ObjectKey::new(IPCLAIM_KIND, "default", "d"))
        .unwrap();
    assert_eq!(c["status"]["errorMessage"], "Exhausted IP Pools");
    // Errored claims are not retried (upstream), even once addresses free up.
    delete_ipclaim(&store, "default", "a").unwrap();
    assert_eq!(
        reconcile_ipclaim(&store, "default", "d").unwrap(),
        ClaimOutcome::AlreadyFailed("Exhausted IP Pools".into())
    );
}

#[test]
fn requested_address_errors_use_upstream_texts() {
    let store = MemoryStore::new();
    store.create(small_pool()).unwrap();
    claim(&store, "a");
    let mut c = claim_doc("want-taken");
    c["metadata"]["annotations"] = json!({"ipAddress": "192.168.0.10"});
    store.create(c).unwrap();
    assert_eq!(
        reconcile_ipclaim(&store, "default", "want-taken").unwrap(),
        ClaimOutcome::Failed("Requested IP not available".into())
    );
    let mut c = claim_doc("want-free");
    c["metadata"]["annotations"] = json!({"ipAddress": "192.168.0.13"});
    store.create(c).unwrap();
    assert_eq!(
        address_of(&reconcile_ipclaim(&store, "default", "want-free").unwrap()),
        "192.168.0.13"
    );
}

#[test]
fn release_frees_the_address_but_pre_allocations_stay_reserved() {
    let store = MemoryStore::new();
    store.create(small_pool()).unwrap();
    claim(&store, "a");
    claim(&store, "fixed");
    assert_eq!(
        delete_ipclaim(&store, "default", "a").unwrap(),
        ClaimOutcome::Released(Some("192.168.0.10".into()))
    );
    assert!(store
        .get(&ObjectKey::new(IPCLAIM_KIND, "default", "a"))
        .unwrap_err()
        .is_not_found());
    assert!(store
        .get(&ObjectKey::new(
            IPADDRESS_KIND,
            "default",
            "test1-prov-192-168-0-10"
        ))
        .unwrap_err()
        .is_not_found());
    assert_eq!(
        indexes(&store),
        BTreeMap::from([("fixed".to_string(), "192.168.0.11".to_string())])
    );
    delete_ipclaim(&store, "default", "fixed").unwrap();
    // .10 is free again; .11 stays reserved for "fixed".
    assert_eq!(address_of(&claim(&store, "x")), "192.168.0.10");
    assert_eq!(address_of(&claim(&store, "y")), "192.168.0.12");
    let usage = pool_usage(&store, "default", "pool1").unwrap();
    assert_eq!(usage.capacity, Some(4));
    assert_eq!(usage.used, 3);
    assert_eq!(usage.free, Some(1));
    assert_eq!(
        usage.reserved.get("fixed").map(String::as_str),
        Some("192.168.0.11")
    );
}

#[test]
fn foreign_finalizers_keep_the_address() {
    let store = MemoryStore::new();
    store.create(small_pool()).unwrap();
    let mut c = claim_doc("held");
    c["metadata"]["finalizers"] = json!(["example.com/keep"]);
    store.create(c).unwrap();
    reconcile_ipclaim(&store, "default", "held").unwrap();
    assert_eq!(
        delete_ipclaim(&store, "default", "held").unwrap(),
        ClaimOutcome::StillInUse(vec!["example.com/keep".into()])
    );
    assert_eq!(indexes(&store).len(), 1);
}

#[test]
fn pool_deletion_waits_for_its_addresses() {
    let store = MemoryStore::new();
    store.create(small_pool()).unwrap();
    claim(&store, "a");
    assert_eq!(
        delete_pool(&store, "default", "pool1").unwrap(),
        PoolOutcome::DeletionBlocked { addresses: 1 }
    );
    let pool_key = ObjectKey::new(IPPOOL_KIND, "default", "pool1");
    assert!(store.get(&pool_key).is_ok());
    // Releasing the last address lets the pool go.
    delete_ipclaim(&store, "default", "a").unwrap();
    assert!(store.get(&pool_key).unwrap_err().is_not_found());
}

#[test]
fn claim_before_its_pool_waits_and_the_pool_allocates() {
    let store = MemoryStore::new();
    store.create(claim_doc("early")).unwrap();
    assert_eq!(
        reconcile_ipclaim(&store, "default", "early").unwrap(),
        ClaimOutcome::PoolMissing("pool1".into())
    );
    store.create(small_pool()).unwrap();
    assert_eq!(
        reconcile_pool(&store, "default", "pool1").unwrap(),
        PoolOutcome::Ready { allocations: 1 }
    );
    let c = store
        .get(&ObjectKey::new(IPCLAIM_KIND, "default", "early"))
        .unwrap();
    assert_eq!(c["status"]["address"]["name"], "test1-prov-192-168-0-10");
}

#[test]
fn capi_claims_share_the_pool_and_get_capi_objects() {
    let store = MemoryStore::new();
    store.create(small_pool()).unwrap();
    claim(&store, "m3");
    store.create(capi_claim_doc("capi-0")).unwrap();
    let out = reconcile_capi_claim(&store, "default", "capi-0").unwrap();
    assert_eq!(address_of(&out), "192.168.0.12");
    let a = store
        .get(&ObjectKey::new(
            IPADDRESS_KIND,
            "default",
            "test1-prov-192-168-0-12",
        ))
        .unwrap();
    assert_eq!(a["apiVersion"], "ipam.cluster.x-k8s.io/v1beta2");
    assert_eq!(a["spec"]["claimRef"]["name"], "capi-0");
    assert_eq!(a["spec"]["poolRef"]["apiGroup"], "ipam.metal3.io");
    assert_eq!(
        a["metadata"]["finalizers"],
        json!(["ipam.metal3.io/ipaddress"])
    );
    let c = store
        .get(&ObjectKey::new(CAPI_CLAIM_KIND, "default", "capi-0"))
        .unwrap();
    assert_eq!(c["status"]["addressRef"]["name"], "test1-prov-192-168-0-12");
    assert_eq!(c["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(c["status"]["conditions"][0]["status"], "True");
    assert_eq!(indexes(&store).len(), 2);
    // Exhaustion on a CAPI claim is a PoolExhausted condition.
    store.create(capi_claim_doc("capi-1")).unwrap();
    reconcile_capi_claim(&store, "default", "capi-1").unwrap();
    store.create(capi_claim_doc("capi-2")).unwrap();
    assert_eq!(
        reconcile_capi_claim(&store, "default", "capi-2").unwrap(),
        ClaimOutcome::Failed("Exhausted IP Pools".into())
    );
    let c = store
        .get(&ObjectKey::new(CAPI_CLAIM_KIND, "default", "capi-2"))
        .unwrap();
    assert_eq!(c["status"]["conditions"][0]["reason"], "PoolExhausted");
    assert_eq!(
        delete_capi_claim(&store, "default", "capi-0").unwrap(),
        ClaimOutcome::Released(Some("192.168.0.12".into()))
    );
}

#[test]
fn an_interrupted_reservation_is_completed_with_its_address() {
    let store = MemoryStore::new();
    let mut pool = small_pool();
    // A process reserved .13 for "late" in the pool and stopped before
    // creating the IPAddress object.
    pool["status"] = json!({"indexes": {"late": "192.168.0.13"}});
    store.create(pool).unwrap();
    assert_eq!(address_of(&claim(&store, "other")), "192.168.0.10");
    assert_eq!(address_of(&claim(&store, "late")), "192.168.0.13");
    assert!(store
        .get(&ObjectKey::new(
            IPADDRESS_KIND,
            "default",
            "test1-prov-192-168-0-13"
        ))
        .is_ok());
}

#[test]
fn reservations_of_vanished_claims_are_dropped_by_the_pool() {
    let store = MemoryStore::new();
    let mut pool = small_pool();
    pool["status"] = json!({"indexes": {"gone": "192.168.0.10"}});
    store.create(pool).unwrap();
    assert_eq!(
        reconcile_pool(&store, "default", "pool1").unwrap(),
        PoolOutcome::Ready { allocations: 0 }
    );
    assert!(indexes(&store).is_empty());
}

#[test]
fn threads_on_one_sqlite_file_never_share_an_address() {
    let dir = std::env::temp_dir().join(format!("metal3-ipam-persist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.db");
    let setup = SqliteStore::open(&path).unwrap();
    setup
        .create(pool_doc(json!({
            "namePrefix": "p", "pools": [{"subnet": "10.0.0.0/24"}]
        })))
        .unwrap();
    drop(setup);
    const THREADS: usize = 4;
    const PER: usize = 12;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                // One connection per thread, as separate processes would have.
                let store = Arc::new(SqliteStore::open(&path).unwrap());
                (0..PER)
                    .map(|i| {
                        let name = format!("c-{t}-{i}");
                        store.create(claim_doc(&name)).unwrap();
                        let out = reconcile_ipclaim(store.as_ref(), "default", &name).unwrap();
                        address_of(&out).to_string()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "an address was handed out twice");
    let store = SqliteStore::open(&path).unwrap();
    let idx = indexes(&store);
    assert_eq!(idx.len(), THREADS * PER);
    let objects = store.list(IPADDRESS_KIND, Some("default"), None).unwrap();
    assert_eq!(objects.items.len(), THREADS * PER);
    // Sequential strategy: exactly the lowest THREADS*PER addresses.
    for i in 1..=THREADS * PER {
        assert!(
            idx.values().any(|a| *a == format!("10.0.0.{i}")),
            "10.0.0.{i} missing"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn address_objects_made_elsewhere_are_folded_in_not_handed_out_again() {
    let store = MemoryStore::new();
    store.create(small_pool()).unwrap();
    // An IPAddress created outside this layer (e.g. imported), unknown to
    // the pool's status.indexes.
    store
        .create(json!({
            "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPAddress",
            "metadata": {"name": "test1-prov-192-168-0-10", "namespace": "default"},
            "spec": {"address": "192.168.0.10", "pool": {"name": "pool1"}, "claim": {"name": "imported"}}
        }))
        .unwrap();
    assert_eq!(address_of(&claim(&store, "a")), "192.168.0.12");
    assert_eq!(
        indexes(&store),
        BTreeMap::from([
            ("a".to_string(), "192.168.0.12".to_string()),
            ("imported".to_string(), "192.168.0.10".to_string()),
        ])
    );
    // Adopting it explicitly (what `metal3ctl apply` does for IPAddress
    // objects) has the same effect up front.
    store
        .create(json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
            "metadata": {"name": "test1-prov-192-168-0-13", "namespace": "default"},
            "spec": {"address": "192.168.0.13", "poolRef": {"name": "pool1"}, "claimRef": {"name": "capi-imported"}}
        }))
        .unwrap();
    assert_eq!(
        adopt_address(&store, "default", "test1-prov-192-168-0-13").unwrap(),
        Some(PoolOutcome::Ready { allocations: 3 })
    );
    assert_eq!(
        claim(&store, "b"),
        ClaimOutcome::Failed("Exhausted IP Pools".into())
    );
}

/// A store that, just before the first pool status write it sees, lets
/// another writer allocate (as a second process would in that gap), and
/// counts creates refused because the key exists.
struct Interleaved {
    inner: MemoryStore,
    injected: std::sync::atomic::AtomicBool,
    refused_creates: std::sync::atomic::AtomicUsize,
}

impl Store for Interleaved {
    fn get(&self, key: &ObjectKey) -> metal3_hostmodel::store::Result<Value> {
        self.inner.get(key)
    }
    fn list_with(
        &self,
        kind: &str,
        namespace: Option<&str>,
        selector: Option<&metal3_hostmodel::store::LabelSelector>,
        visit: &mut dyn FnMut(
            metal3_hostmodel::store::RawRef<'_>,
        ) -> metal3_hostmodel::store::Result<()>,
    ) -> metal3_hostmodel::store::Result<u64> {
        self.inner.list_with(kind, namespace, selector, visit)
    }
    fn create(&self, obj: Value) -> metal3_hostmodel::store::Result<Value> {
        let r = self.inner.create(obj);
        if matches!(r, Err(StoreError::AlreadyExists { .. })) {
            self.refused_creates
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        r
    }
    fn update(&self, obj: Value) -> metal3_hostmodel::store::Result<Value> {
        self.inner.update(obj)
    }
    fn update_status(&self, obj: Value) -> metal3_hostmodel::store::Result<Value> {
        if obj["kind"] == "IPPool"
            && !self
                .injected
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            // The other writer reads the pool after us and commits first.
            self.inner.create(claim_doc("other")).unwrap();
            let out = reconcile_ipclaim(&self.inner, "default", "other").unwrap();
            assert_eq!(address_of(&out), "192.168.0.10");
        }
        self.inner.update_status(obj)
    }
    fn delete(
        &self,
        key: &ObjectKey,
    ) -> metal3_hostmodel::store::Result<metal3_hostmodel::store::DeleteOutcome> {
        self.inner.delete(key)
    }
    fn revision(&self) -> metal3_hostmodel::store::Result<u64> {
        self.inner.revision()
    }
    fn watch(
        &self,
        since: u64,
    ) -> metal3_hostmodel::store::Result<Vec<metal3_hostmodel::store::WatchEvent>> {
        self.inner.watch(since)
    }
    fn wait_for_change(
        &self,
        since: u64,
    ) -> metal3_hostmodel::store::BoxFuture<'_, metal3_hostmodel::store::Result<u64>> {
        self.inner.wait_for_change(since)
    }
}

#[test]
fn a_stale_pool_read_loses_the_compare_and_swap_and_chooses_again() {
    let store = Interleaved {
        inner: MemoryStore::new(),
        injected: false.into(),
        refused_creates: 0.into(),
    };
    // The pool already carries its finalizer, so the first status write is
    // the reservation.
    let mut pool = small_pool();
    pool["metadata"]["finalizers"] = json!(["ippool.ipam.metal3.io"]);
    store.create(pool).unwrap();
    store.create(claim_doc("mine")).unwrap();
    let out = reconcile_ipclaim(&store, "default", "mine").unwrap();
    assert!(store.injected.load(std::sync::atomic::Ordering::SeqCst));
    // Both chose .10 from the same pool state; the other writer committed
    // first, so this one's reservation conflicted and it took the next free
    // address, without ever colliding on the IPAddress object.
    assert_eq!(address_of(&out), "192.168.0.12");
    assert_eq!(
        store
            .refused_creates
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(
        indexes(&store),
        BTreeMap::from([
            ("mine".to_string(), "192.168.0.12".to_string()),
            ("other".to_string(), "192.168.0.10".to_string()),
        ])
    );
}
