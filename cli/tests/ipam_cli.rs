//! The IPAM kinds through the built `metal3ctl` binary: apply allocates,
//! get/describe/delete, and several processes claiming from one pool at once.

// Test helpers outside #[test] fns: failing loudly is their job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh store directory, removed when dropped.
struct Env {
    dir: PathBuf,
}

impl Env {
    fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("metal3ctl-ipam-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Env { dir }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_metal3ctl"));
        c.args(args)
            .env("METAL3CTL_STORE", self.dir.join("store.db"))
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const POOL: &str = r#"
apiVersion: ipam.metal3.io/v1alpha1
kind: IPPool
metadata:
  name: pool1
spec:
  clusterName: cluster1
  namePrefix: test1-prov
  prefix: 24
  gateway: 192.168.0.1
  pools:
    - start: 192.168.0.10
      end: 192.168.0.13
  preAllocations:
    fixed: 192.168.0.11
"#;

fn claim(name: &str, pool: &str) -> String {
    format!(
        "---\napiVersion: ipam.metal3.io/v1alpha1\nkind: IPClaim\nmetadata:\n  name: {name}\nspec:\n  pool:\n    name: {pool}\n"
    )
}

/// Rows of a table without its header, split on runs of spaces.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|l| {
            l.split("   ")
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect()
}

#[test]
fn several_processes_claiming_from_one_pool_never_share_an_address() {
    let env = Env::new();
    let pool = env.write(
        "pool.yaml",
        "apiVersion: ipam.metal3.io/v1alpha1\nkind: IPPool\nmetadata:\n  name: big\nspec:\n  namePrefix: big\n  pools:\n    - subnet: 10.1.0.0/24\n",
    );
    env.ok(&["apply", "-f", &pool]);
    const PROCESSES: usize = 6;
    const CLAIMS: usize = 8;
    let files: Vec<String> = (0..PROCESSES)
        .map(|p| {
            let text: String = (0..CLAIMS)
                .map(|c| claim(&format!("p{p}-c{c}"), "big"))
                .collect();
            env.write(&format!("claims-{p}.yaml"), &text)
        })
        .collect();
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            env.cmd(&["apply", "-f", f])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut printed = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        printed.extend(text.lines().filter_map(|l| {
            l.split_once(" address ")
                .map(|(_, r)| r.split('/').next().unwrap().to_string())
        }));
    }
    let total = PROCESSES * CLAIMS;
    assert_eq!(printed.len(), total, "every claim reports its address");
    let distinct: BTreeSet<&String> = printed.iter().collect();
    assert_eq!(
        distinct.len(),
        total,
        "an address was handed out twice: {printed:?}"
    );

    // The store agrees: one IPAddress per claim, status.indexes equal to
    // them, and every claim's status pointing at its object.
    let addresses = env.json(&["get", "ipa"]);
    let objects: BTreeMap<String, String> = addresses["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["spec"]["claim"]["name"].as_str().unwrap().to_string(),
                a["spec"]["address"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(objects.len(), total);
    let pool = env.json(&["get", "ipp", "big"]);
    let indexes: BTreeMap<String, String> =
        serde_json::from_value(pool["status"]["indexes"].clone()).unwrap();
    assert_eq!(indexes, objects);
    // Sequential strategy: exactly the lowest `total` addresses of the subnet.
    let want: BTreeSet<String> = (1..=total).map(|i| format!("10.1.0.{i}")).collect();
    assert_eq!(objects.values().cloned().collect::<BTreeSet<_>>(), want);
    for c in env.json(&["get", "ipc"])["items"].as_array().unwrap() {
        let name = c["metadata"]["name"].as_str().unwrap();
        let addr = &objects[name];
        assert_eq!(
            c["status"]["address"]["name"],
            format!("big-{}", addr.replace('.', "-")),
            "{name}"
        );
    }
}

#[test]
fn apply_allocates_get_describe_and_delete_release() {
    let env = Env::new();
    let f = env.write(
        "all.yaml",
        &format!(
            "{POOL}{}{}",
            claim("node-0", "pool1"),
            claim("node-1", "pool1")
        ),
    );
    let out = env.ok(&["apply", "-f", &f]);
    assert!(out.contains("ippool.ipam.metal3.io/pool1 created"), "{out}");
    assert!(
        out.contains("ipclaim.ipam.metal3.io/node-0 address 192.168.0.10/24 gateway 192.168.0.1 (ipaddress test1-prov-192-168-0-10)"),
        "{out}"
    );
    // .11 is pre-allocated to "fixed".
    assert!(
        out.contains("ipclaim.ipam.metal3.io/node-1 address 192.168.0.12/24"),
        "{out}"
    );

    let table = env.ok(&["get", "ippools"]);
    assert!(table.starts_with("NAME    CLUSTER    AGE\n"), "{table}");
    assert_eq!(rows(&table)[0][..2], ["pool1", "cluster1"]);
    let wide = env.ok(&["get", "ipc", "-o", "wide"]);
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "AGE", "POOL", "ADDRESS", "PREFIX", "GATEWAY", "ERROR"]
    );
    let r = rows(&wide);
    assert_eq!(r[0][0], "node-0");
    assert_eq!(r[0][2..6], ["pool1", "192.168.0.10", "24", "192.168.0.1"]);
    let ipa = env.ok(&["get", "ipa", "-o", "wide"]);
    assert_eq!(rows(&ipa)[1][0], "test1-prov-192-168-0-12");
    assert_eq!(
        rows(&ipa)[1][2..],
        ["192.168.0.12", "24", "192.168.0.1", "pool1", "node-1"]
    );
    assert_eq!(
        env.ok(&["get", "ipa", "-o", "name"]),
        "ipaddress.ipam.metal3.io/test1-prov-192-168-0-10\nipaddress.ipam.metal3.io/test1-prov-192-168-0-12\n"
    );

    let d = env.ok(&["describe", "ippool", "pool1"]);
    assert!(
        d.contains("Capacity:   4\n  Used:       3\n  Free:       1\n"),
        "{d}"
    );
    assert!(d.contains("192.168.0.10   node-0"), "{d}");
    assert!(
        d.contains("192.168.0.11   fixed    (pre-allocated, unclaimed)"),
        "{d}"
    );
    assert!(d.contains("192.168.0.12   node-1"), "{d}");

    // The pool waits for its addresses.
    let del = env.ok(&["delete", "ipp", "pool1"]);
    assert!(
        del.contains("marked for deletion; kept until its 2 IPAddress object(s) are released"),
        "{del}"
    );
    let del = env.ok(&["delete", "ipclaim", "node-0"]);
    assert_eq!(
        del,
        "ipclaim.ipam.metal3.io \"node-0\" deleted (released 192.168.0.10)\n"
    );
    assert!(
        env.run(&["get", "ipa", "test1-prov-192-168-0-10"])
            .status
            .code()
            != Some(0)
    );
    assert!(env.ok(&["get", "ipp", "pool1"]).contains("pool1"));
    env.ok(&["delete", "ipc", "node-1"]);
    let gone = env.run(&["get", "ipp", "pool1"]);
    assert!(
        !gone.status.success(),
        "the pool is gone once its last address is released"
    );
}

#[test]
fn released_addresses_are_reused_and_exhaustion_fails_the_apply() {
    let env = Env::new();
    let f = env.write("pool.yaml", POOL);
    env.ok(&["apply", "-f", &f]);
    let claims = env.write(
        "c.yaml",
        &format!(
            "{}{}{}",
            claim("a", "pool1"),
            claim("b", "pool1"),
            claim("c", "pool1")
        ),
    );
    env.ok(&["apply", "-f", &claims]);
    let more = env.write("d.yaml", &claim("d", "pool1"));
    let out = env.run(&["apply", "-f", &more]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ipclaim.ipam.metal3.io/d allocation failed: Exhausted IP Pools"),
        "{err}"
    );
    let d = env.json(&["get", "ipc", "d"]);
    assert_eq!(d["status"]["errorMessage"], "Exhausted IP Pools");

    env.ok(&["delete", "ipc", "b"]);
    let e = env.write("e.yaml", &claim("e", "pool1"));
    let out = env.ok(&["apply", "-f", &e]);
    assert!(
        out.contains("ipclaim.ipam.metal3.io/e address 192.168.0.12/24"),
        "{out}"
    );
    // Re-applying an allocated claim keeps its address.
    let out = env.ok(&["apply", "-f", &e]);
    assert!(out.contains("ipclaim.ipam.metal3.io/e unchanged"), "{out}");
    assert!(
        out.contains("ipclaim.ipam.metal3.io/e address 192.168.0.12/24"),
        "{out}"
    );
}

#[test]
fn apply_refuses_what_the_webhooks_refuse() {
    let env = Env::new();
    let bad = env.write(
        "bad.yaml",
        "apiVersion: ipam.metal3.io/v1alpha1\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  namePrefix: p\n  pools:\n    - start: 10.0.0.1\n      end: 10.0.0.5\n  preAllocations:\n    x: 10.0.1.1\n---\napiVersion: ipam.metal3.io/v1alpha1\nkind: IPClaim\nmetadata:\n  name: c\n  annotations:\n    ipAddress: not-an-ip\nspec:\n  pool:\n    name: p\n",
    );
    let out = env.run(&["apply", "-f", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.preAllocations"), "{err}");
    assert!(err.contains("is out of bonds of the pools given"), "{err}");
    assert!(err.contains("metadata.annotations[ipAddress]"), "{err}");
    assert!(err.contains("nothing was applied"), "{err}");
    let listed = env.run(&["get", "ipp"]);
    assert!(String::from_utf8_lossy(&listed.stderr).contains("No resources found"));

    // Immutable fields are checked against the stored pool.
    let f = env.write("pool.yaml", POOL);
    env.ok(&["apply", "-f", &f]);
    let changed = env.write(
        "pool2.yaml",
        &POOL.replace("namePrefix: test1-prov", "namePrefix: other"),
    );
    let out = env.run(&["apply", "-f", &changed]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.namePrefix"));

    // Unknown fields are errors with their path, as for the host kinds.
    let typo = env.write("typo.yaml", &POOL.replace("prefix: 24", "prefx: 24"));
    let out = env.run(&["validate", "-f", &typo]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("IPPool/default/pool1: spec.prefx: unknown field"));
    let out = env.ok(&["validate", "-f", &f]);
    assert_eq!(out, "1 objects valid\n");
}

#[test]
fn capi_claims_allocate_from_the_same_pool() {
    let env = Env::new();
    let text = format!(
        "{POOL}{}---\napiVersion: ipam.cluster.x-k8s.io/v1beta2\nkind: IPAddressClaim\nmetadata:\n  name: capi-0\nspec:\n  poolRef:\n    apiGroup: ipam.metal3.io\n    kind: IPPool\n    name: pool1\n",
        claim("m3", "pool1")
    );
    let f = env.write("all.yaml", &text);
    let out = env.ok(&["apply", "-f", &f]);
    assert!(
        out.contains("ipaddressclaim.ipam.cluster.x-k8s.io/capi-0 created"),
        "{out}"
    );
    assert!(
        out.contains("ipaddressclaim.ipam.cluster.x-k8s.io/capi-0 address 192.168.0.12/24"),
        "{out}"
    );
    let claims = env.ok(&["get", "ipaddressclaims"]);
    assert!(
        claims.starts_with("NAME     POOL NAME   POOL KIND   AGE\n"),
        "{claims}"
    );
    assert_eq!(rows(&claims)[0][..3], ["capi-0", "pool1", "IPPool"]);
    let capi = env.ok(&["get", "ipaddresses.ipam.cluster.x-k8s.io"]);
    assert!(capi.starts_with("NAME"), "{capi}");
    let r = rows(&capi);
    assert_eq!(r.len(), 1, "only the CAPI IPAddress: {capi}");
    assert_eq!(
        r[0][..4],
        ["test1-prov-192-168-0-12", "192.168.0.12", "pool1", "IPPool"]
    );
    // `ipa` lists only Metal³'s IPAddress objects.
    assert_eq!(rows(&env.ok(&["get", "ipa"])).len(), 1);
    let del = env.ok(&["delete", "ipaddressclaim", "capi-0"]);
    assert!(del.contains("deleted (released 192.168.0.12)"), "{del}");
}
