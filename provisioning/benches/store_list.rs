//! `get bmh` budget check: list 10 000 BareMetalHosts from a SQLite store and
//! decode them to typed objects; the target is < 100 ms.
//!
//! Run with `cargo bench -p metal3-provisioning --bench store_list`
//! (`HOSTS=n` changes the host count).

use std::time::{Duration, Instant};

use metal3_hostmodel::BareMetalHost;
use metal3_provisioning::store::{
    LabelSelector, ObjectKey, SqliteStore, Store, StoreError, StoreExt,
};
use serde_json::{json, Value};

/// A host as the controller leaves it after inspection: spec, status and
/// hardware details, about 2 KiB of JSON.
fn host(i: usize) -> Value {
    let ns = format!("ns-{}", i % 10);
    json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {
            "name": format!("host-{i:05}"),
            "namespace": ns,
            "labels": {"rack": format!("r{}", i % 40), "role": if i.is_multiple_of(3) { "master" } else { "worker" }},
            "annotations": {"note": "benchmark host"},
            "finalizers": ["baremetalhost.metal3.io"]
        },
        "spec": {
            "online": true,
            "bootMACAddress": format!("52:54:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff),
            "bmc": {"address": format!("redfish://10.{}.{}.{}/redfish/v1/Systems/1", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff), "credentialsName": format!("bmc-{i:05}")},
            "bootMode": "UEFI",
            "rootDeviceHints": {"deviceName": "/dev/sda"},
            "image": {"url": "http://images.example/ubuntu-24.04.qcow2", "checksum": "http://images.example/ubuntu-24.04.qcow2.sha256sum", "checksumType": "sha256", "format": "qcow2"}
        },
        "status": {
            "operationalStatus": "OK",
            "lastUpdated": "2026-11-24T12:00:00Z",
            "hardwareProfile": "unknown",
            "poweredOn": true,
            "errorMessage": "",
            "errorCount": 0,
            "provisioning": {"state": "provisioned", "ID": format!("{:08x}-0000-4000-8000-000000000000", i), "bootMode": "UEFI"},
            "goodCredentials": {"credentials": {"name": format!("bmc-{i:05}"), "namespace": ns}, "credentialsVersion": "1234"},
            "hardware": {
                "systemVendor": {"manufacturer": "Dell Inc.", "productName": "PowerEdge R650", "serialNumber": format!("SN{i:08}")},
                "firmware": {"bios": {"date": "01/01/2024", "vendor": "Dell Inc.", "version": "1.2.3"}},
                "ramMebibytes": 262144,
                "hostname": format!("host-{i:05}"),
                "cpu": {"arch": "x86_64", "model": "Intel(R) Xeon(R) Gold 6338", "clockMegahertz": 2000.0, "count": 64, "flags": ["avx2", "sse4_2"]},
                "nics": [
                    {"name": "eno1", "model": "0x8086 0x1593", "mac": "52:54:00:00:00:01", "ip": "192.168.0.10", "speedGbps": 25, "pxe": true},
                    {"name": "eno2", "model": "0x8086 0x1593", "mac": "52:54:00:00:00:02", "ip": "", "speedGbps": 25, "pxe": false}
                ],
                "storage": [
                    {"name": "/dev/sda", "rotational": false, "type": "SSD", "sizeBytes": 960197124096u64, "vendor": "ATA", "model": "SSDSC2KG96", "serialNumber": "BTYG0000", "hctl": "0:0:0:0"},
                    {"name": "/dev/nvme0n1", "rotational": false, "type": "NVME", "sizeBytes": 3840755982336u64, "vendor": "Samsung", "model": "PM9A3", "serialNumber": "S64H0000", "hctl": ""}
                ]
            }
        }
    })
}

/// CPU time this thread has run, from /proc (nanoseconds); `None` where
/// unavailable. Reported next to wall time because the build machine is
/// shared: wall time there includes waiting for a core.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `f` `runs` times; returns the median wall time and the median CPU time.
/// Just the `kubectl get bmh -o wide` columns: what `metal3ctl get bmh` needs.
/// serde skips every other field without building it.
#[derive(serde::Deserialize)]
#[allow(dead_code)] // Read by the printer in the CLI; here only decoded.
struct BmhRow {
    metadata: RowMeta,
    #[serde(default)]
    spec: RowSpec,
    #[serde(default)]
    status: RowStatus,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct RowMeta {
    name: String,
    namespace: String,
    creation_timestamp: Option<String>,
}

#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct RowSpec {
    #[serde(default)]
    online: bool,
    consumer_ref: Option<serde_json::Map<String, Value>>,
    bmc: Option<RowBmc>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct RowBmc {
    address: String,
}

#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct RowStatus {
    operational_status: Option<String>,
    error_type: Option<String>,
    provisioning: Option<RowProvisioning>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct RowProvisioning {
    state: String,
}

fn time<T>(label: &str, runs: usize, mut f: impl FnMut() -> T) -> (Duration, Option<Duration>) {
    let mut wall = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (start, start_cpu) = (Instant::now(), thread_cpu());
        let out = std::hint::black_box(f());
        wall.push(start.elapsed());
        if let (Some(a), Some(b)) = (start_cpu, thread_cpu()) {
            cpu.push(b.saturating_sub(a));
        }
        // Freeing the result is not part of the operation timed.
        drop(out);
    }
    wall.sort();
    cpu.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median_cpu = cpu.get(cpu.len() / 2).copied();
    println!(
        "{label}: wall median {:.1} ms (min {:.1}, max {:.1}), CPU median {} over {runs} runs",
        ms(wall[runs / 2]),
        ms(wall[0]),
        ms(wall[runs - 1]),
        median_cpu.map_or("n/a".to_string(), |c| format!("{:.1} ms", ms(c)))
    );
    (wall[runs / 2], median_cpu)
}

fn main() -> Result<(), StoreError> {
    let hosts: usize = std::env::var("HOSTS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("metal3-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
        path: dir.display().to_string(),
        what: "create bench directory",
        source,
    })?;
    let store = SqliteStore::open(dir.join("bench.db"))?;

    let start = Instant::now();
    for i in 0..hosts {
        store.create(host(i))?;
    }
    let insert = start.elapsed();
    let bytes = host(0).to_string().len();
    println!(
        "insert {hosts} hosts (~{bytes} B JSON each, one transaction each): {:.2} s ({:.0} µs/host)",
        insert.as_secs_f64(),
        insert.as_secs_f64() * 1e6 / hosts as f64
    );

    let runs = 15;
    time("list_raw, all namespaces (JSON text)", runs, || {
        store.list_raw("BareMetalHost", None, None)
    });
    time("list, all namespaces (serde_json::Value)", runs, || {
        store.list("BareMetalHost", None, None)
    });
    let (typed, typed_cpu) = time("list_as::<BareMetalHost>, all namespaces", runs, || {
        store.list_as::<BareMetalHost>("BareMetalHost", None, None)
    });
    let (rows, rows_cpu) = time(
        "list_as::<BmhRow> (only the `get bmh -o wide` columns)",
        runs,
        || store.list_as::<BmhRow>("BareMetalHost", None, None),
    );
    let all = store.list_as::<BareMetalHost>("BareMetalHost", None, None)?;
    assert_eq!(all.len(), hosts, "every host listed");
    let mut all = Some(all);
    time("drop the typed hosts (a CLI can exit instead)", 1, || {
        drop(all.take())
    });
    let selector = LabelSelector::parse("rack=r7,role=worker").unwrap_or_default();
    time(
        "list with selector rack=r7,role=worker + decode",
        runs,
        || {
            store
                .list_as::<BareMetalHost>("BareMetalHost", None, Some(&selector))
                .map(|l| l.len())
        },
    );
    time("list one namespace + decode", runs, || {
        store
            .list_as::<BareMetalHost>("BareMetalHost", Some("ns-3"), None)
            .map(|l| l.len())
    });
    let key = ObjectKey::new("BareMetalHost", "ns-7", "host-00007");
    time("get one host", 1000, || store.get(&key).map(|_| ()));

    let verdict = |d: Duration| {
        if d < Duration::from_millis(100) {
            "within"
        } else {
            "OVER"
        }
    };
    println!(
        "target: list + decode {hosts} hosts < 100 ms: wall {:.1} ms {}; CPU {}",
        typed.as_secs_f64() * 1e3,
        verdict(typed),
        typed_cpu.map_or("n/a".to_string(), |c| format!(
            "{:.1} ms {}",
            c.as_secs_f64() * 1e3,
            verdict(c)
        ))
    );
    println!(
        "target: list + decode get-bmh columns of {hosts} hosts < 100 ms: wall {:.1} ms {}; CPU {}",
        rows.as_secs_f64() * 1e3,
        verdict(rows),
        rows_cpu.map_or("n/a".to_string(), |c| format!(
            "{:.1} ms {}",
            c.as_secs_f64() * 1e3,
            verdict(c)
        ))
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
