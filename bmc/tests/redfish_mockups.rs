//! Discovery, inventory mapping and virtual media slot lookup against real
//! vendor Redfish trees (captured from iDRAC, iLO, XCC, Supermicro and AMI
//! BMCs), served read-only by a tiny in-process HTTP server with sessions.
//!
//! The trees are read from `$METAL3_SHARED/fixtures/redfish-mockups` (default
//! `<repo>/../shared`); they are never copied into the repository.

// Test harness helpers outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metal3_bmc::address::BmcAddress;
use metal3_bmc::redfish::hardware::DiskType;
use metal3_bmc::redfish::parse::Vendor;
use metal3_bmc::redfish::quirks;
use metal3_bmc::redfish::{RedfishAuth, RedfishClient, RedfishOptions};
use metal3_bmc::{BmcErrorKind, Credentials, PowerBootControl, PowerState};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn mockups() -> PathBuf {
    let shared = std::env::var_os("METAL3_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let dir = shared.join("fixtures/redfish-mockups");
    assert!(
        dir.join("dell/redfish/v1/index.json").exists(),
        "vendor mockups not found in {}: set METAL3_SHARED to the shared directory",
        dir.display()
    );
    dir
}

/// Finds `<root>/<path>/index.json`, matching path segments case-insensitively
/// (iLO links `/redfish/v1/systems/1/bios` while the tree has `Systems`).
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let mut cur = root.to_path_buf();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let exact = cur.join(seg);
        if exact.is_dir() {
            cur = exact;
            continue;
        }
        let found = std::fs::read_dir(&cur).ok()?.flatten().find(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(seg))
        })?;
        cur = found.path();
    }
    let f = cur.join("index.json");
    f.exists().then_some(f)
}

fn load(root: &Path, path: &str) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(resolve(root, path)?).ok()?).ok()
}

/// `$levels=N` of an `$expand=.(...)` query (1 when absent).
fn expand_levels(query: &str) -> u32 {
    query
        .split("$levels=")
        .nth(1)
        .and_then(|r| {
            r.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or(1)
}

/// `$expand=.` as DSP0266 has it: every reference of the resource outside
/// `Links` (and `Oem`) replaced by the resource it names, `levels` deep.
fn expand(root: &Path, v: &mut Value, levels: u32) {
    if levels == 0 {
        return;
    }
    if let Some(o) = v.as_object_mut() {
        for (k, child) in o.iter_mut() {
            if k != "Links" && k != "Oem" && !k.starts_with('@') {
                expand_refs(root, child, levels);
            }
        }
    }
}

fn expand_refs(root: &Path, v: &mut Value, levels: u32) {
    match v {
        Value::Array(items) => {
            for item in items {
                expand_refs(root, item, levels);
            }
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("@odata.id") => {
            let id = o["@odata.id"].as_str().unwrap_or_default().to_string();
            if let Some(mut full) = load(root, &id) {
                expand(root, &mut full, levels - 1);
                *v = full;
            }
        }
        _ => {}
    }
}

/// What the server saw: (method, path with query, auth kind).
type Log = Arc<Mutex<Vec<(String, String, &'static str)>>>;

/// Serves one vendor tree. GET answers from the files (with `$expand`
/// implemented for collections); POST to Sessions creates a session; every
/// other request is refused with 405. Requests need the session token or
/// basic auth.
async fn serve(vendor: &str) -> (u16, Log) {
    serve_edited(vendor, |_, _| {}).await
}

/// [`serve`], with `edit(path, body)` applied to every body served (to
/// play firmware that leaves fields out).
async fn serve_edited(vendor: &str, edit: fn(&str, &mut Value)) -> (u16, Log) {
    let root = mockups().join(vendor);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let log2 = log.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let root = root.clone();
            let log = log2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.lines();
                let mut first = lines.next().unwrap_or_default().split_whitespace();
                let method = first.next().unwrap_or_default().to_string();
                let target = first.next().unwrap_or_default().to_string();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let h = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
                let auth = if h("x-auth-token").as_deref() == Some("tok-1") {
                    "session"
                } else if h("authorization").is_some_and(|a| a.starts_with("Basic ")) {
                    "basic"
                } else {
                    "none"
                };
                log.lock()
                    .unwrap()
                    .push((method.clone(), target.clone(), auth));
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let path = path.trim_end_matches('/');
                let (status, extra, body) = match method.as_str() {
                    "POST" if path == "/redfish/v1/SessionService/Sessions" => (
                        "201 Created",
                        "X-Auth-Token: tok-1\r\nLocation: /redfish/v1/SessionService/Sessions/1\r\n",
                        "{}".to_string(),
                    ),
                    "DELETE" if path == "/redfish/v1/SessionService/Sessions/1" => {
                        ("204 No Content", "", String::new())
                    }
                    _ if auth == "none" && path != "/redfish/v1" => {
                        ("401 Unauthorized", "", "{}".to_string())
                    }
                    "GET" => match load(&root, path) {
                        Some(mut v) => {
                            edit(path, &mut v);
                            if query.contains("$expand") {
                                expand(&root, &mut v, expand_levels(query));
                            }
                            ("200 OK", "", v.to_string())
                        }
                        None => (
                            "404 Not Found",
                            "",
                            r#"{"error":{"code":"Base.1.0.ResourceMissingAtURI","message":"missing","@Message.ExtendedInfo":[{"Message":"The resource at the URI is not found."}]}}"#.to_string(),
                        ),
                    },
                    _ => ("405 Method Not Allowed", "", "{}".to_string()),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (port, log)
}

async fn client(vendor: &str, path: &str) -> (RedfishClient, Log) {
    client_with(vendor, path, RedfishAuth::Auto).await
}

/// [`client`] authenticating as `auth` says (the server takes basic and sessions).
async fn client_with(vendor: &str, path: &str, auth: RedfishAuth) -> (RedfishClient, Log) {
    let (port, log) = serve(vendor).await;
    let addr = BmcAddress::parse(&format!("redfish+http://127.0.0.1:{port}{path}")).unwrap();
    let c = RedfishClient::connect(
        &addr,
        &Credentials::new("root", "calvin"),
        RedfishOptions {
            auth,
            ..RedfishOptions::default()
        },
    )
    .await
    .unwrap();
    (c, log)
}

#[tokio::test]
async fn dell_discovery_session_and_inventory() {
    let (c, log) = client_with("dell", "", RedfishAuth::Session).await;
    assert_eq!(c.vendor().await.unwrap(), Vendor::Dell);
    assert_eq!(c.system_path(), "/redfish/v1/Systems/System.Embedded.1");
    assert_eq!(c.power_state().await.unwrap(), PowerState::On);
    let inv = c.inventory().await.unwrap();
    let h = &inv.hardware;
    assert_eq!(h.system_vendor.manufacturer, "Dell Inc.");
    assert_eq!(h.system_vendor.product_name, "PowerEdge R750");
    assert_eq!(h.firmware.bios.version, "1.8.2");
    // Two Xeon Gold 6354 (18 cores, 36 threads each); the H100 GPU is not a CPU.
    assert_eq!(h.cpu.count, 72);
    assert_eq!(h.cpu.model, "Intel(R) Xeon(R) Gold 6354 CPU @ 3.00GHz");
    assert_eq!(h.cpu.clock_megahertz, 4000.0);
    assert_eq!(h.cpu.arch, "x86_64");
    assert_eq!(h.ram_mebibytes, 512 * 1024);
    let macs: Vec<&str> = h.nics.iter().map(|n| n.mac.as_str()).collect();
    assert_eq!(h.nics.len(), 5);
    assert!(
        macs.contains(&"70:b5:e8:f0:52:dc") && macs.contains(&"b8:3f:d2:90:97:c4"),
        "{macs:?}"
    );
    assert_eq!(h.storage.len(), 3);
    assert!(h
        .storage
        .iter()
        .all(|d| d.size_bytes == 1_920_383_410_176 && d.type_ == Some(DiskType::Nvme)));
    // Session auth: logged in once, every later request used the token,
    // collections were fetched expanded (the root advertises it).
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|(m, _, _)| m == "POST").count(), 1);
    assert!(
        seen.iter().skip(2).all(|(_, _, a)| *a == "session"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(_, p, _)| p.ends_with("/Processors?$expand=.($levels=1)")),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|(_, p, _)| p.contains("/Processors/")),
        "expanded, no member GETs: {seen:?}"
    );
    c.close().await;
    let seen = log.lock().unwrap().clone();
    assert!(seen
        .iter()
        .any(|(m, p, _)| m == "DELETE" && p == "/redfish/v1/SessionService/Sessions/1"));
}

#[tokio::test]
async fn hpe_lenovo_supermicro_inventory() {
    let (c, _) = client("hpe", "").await;
    assert_eq!(c.vendor().await.unwrap(), Vendor::Hpe);
    let h = c.inventory().await.unwrap().hardware;
    assert_eq!(h.system_vendor.product_name, "ProLiant DL385 Gen10 Plus v2");
    assert_eq!(
        (h.cpu.count, h.cpu.model.as_str()),
        (256, "AMD EPYC 7763 64-Core Processor")
    );
    assert_eq!(h.ram_mebibytes, 1024 * 1024);
    assert_eq!(h.nics.len(), 7);
    assert_eq!(h.nics[0].mac, "50:7c:6f:11:f2:a6");
    assert_eq!(h.storage.len(), 18);
    assert_eq!(
        h.storage
            .iter()
            .filter(|d| d.type_ == Some(DiskType::Nvme))
            .count(),
        16
    );
    assert_eq!(
        h.storage
            .iter()
            .filter(|d| d.type_ == Some(DiskType::Ssd) && d.size_bytes == 480_103_981_056)
            .count(),
        2
    );

    let (c, _) = client("lenovo", "/redfish/v1/Systems/1").await;
    assert_eq!(c.vendor().await.unwrap(), Vendor::Lenovo);
    let h = c.inventory().await.unwrap().hardware;
    assert_eq!((h.cpu.count, h.cpu.clock_megahertz), (128, 3600.0));
    assert_eq!(h.ram_mebibytes, 1024 * 1024);
    assert_eq!(h.nics.len(), 5);
    assert!(h.nics.iter().any(|n| n.mac == "00:62:0b:4c:28:4e"));
    let sizes: Vec<i64> = h.storage.iter().map(|d| d.size_bytes).collect();
    assert_eq!(
        sizes.iter().filter(|s| **s == 7_680_000_000_000).count(),
        2,
        "{sizes:?}"
    );

    let (c, _) = client("supermicro", "").await;
    assert_eq!(c.vendor().await.unwrap(), Vendor::Supermicro);
    let inv = c.inventory().await.unwrap();
    let h = inv.hardware;
    assert_eq!(h.cpu.model, "Intel(R) Xeon(R) Platinum 8462Y+");
    assert_eq!(h.cpu.count, 128);
    assert_eq!(h.ram_mebibytes, 2048 * 1024);
    assert_eq!(h.nics.len(), 12);
    assert_eq!(h.storage.len(), 8);
    assert!(h.storage.iter().all(|d| d.size_bytes == 7_681_501_126_656));
}

#[tokio::test]
async fn virtual_media_slot_discovery() {
    let cases = [
        // iDRAC 9 offers the slots under the system too; those come first.
        (
            "dell",
            "/redfish/v1/Systems/System.Embedded.1/VirtualMedia/1",
        ),
        ("hpe", "/redfish/v1/Managers/1/VirtualMedia/2"),
        ("lenovo", "/redfish/v1/Systems/1/VirtualMedia/EXT1"),
        (
            "supermicro",
            "/redfish/v1/Managers/1/VirtualMedia/VirtualMedia1",
        ),
    ];
    for (vendor, want) in cases {
        let (c, _) = client(vendor, "").await;
        let st = c.media_status().await.unwrap();
        assert!(st.slot.ends_with(want), "{vendor}: {st:?}");
        assert!(!st.inserted, "{vendor}");
    }
}

#[tokio::test]
async fn bios_firmware_secure_boot_reads() {
    let (c, _) = client("dell", "").await;
    let attrs = c.bios_attributes().await.unwrap();
    assert!(attrs.len() > 50, "{}", attrs.len());
    let fw = c.firmware_inventory().await.unwrap();
    assert!(
        fw.iter()
            .any(|f| f.id.contains("BIOS.Setup") && f.version == "1.8.2"),
        "{fw:?}"
    );
    let _ = c.secure_boot().await.unwrap();
    // The static server refuses writes: the error carries the HTTP status.
    let e = c.set_secure_boot(true).await.unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::NotSupported, "{e}");
    assert!(e.to_string().contains("HTTP 405"), "{e}");
}

#[tokio::test]
async fn nvidia_viking_needs_a_system_path() {
    let (port, log) = serve("nvidia_viking").await;
    let addr = BmcAddress::parse(&format!("redfish+http://127.0.0.1:{port}")).unwrap();
    let e = RedfishClient::connect(
        &addr,
        &Credentials::new("u", "p"),
        RedfishOptions {
            auth: RedfishAuth::Session,
            ..RedfishOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::InvalidRequest);
    assert!(e.to_string().contains("/redfish/v1/Systems/DGX"), "{e}");
    // The session opened before the system lookup failed is closed.
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|(m, p, _)| m == "DELETE" && p == "/redfish/v1/SessionService/Sessions/1"),
        "{:?}",
        log.lock().unwrap()
    );
    let (c, _) = client("nvidia_viking", "/redfish/v1/Systems/DGX").await;
    assert_eq!(c.system_path(), "/redfish/v1/Systems/DGX");
    let inv = c.inventory().await.unwrap();
    assert!(inv.hardware.cpu.count > 0, "{inv:?}");
}

#[tokio::test]
async fn dropping_the_client_deletes_the_session() {
    let (c, log) = client_with("lenovo", "", RedfishAuth::Session).await;
    drop(c);
    for _ in 0..50 {
        if log.lock().unwrap().iter().any(|(m, _, _)| m == "DELETE") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no DELETE of the session after drop: {:?}",
        log.lock().unwrap()
    );
}

/// Older firmware names no vendor in the service root, and OEM or whitebox
/// systems no known manufacturer: the vendor then comes from the Manager
/// (the BMC itself), read once and only when a quirk needs it.
#[tokio::test]
async fn vendor_from_the_manager_when_root_and_system_are_silent() {
    fn anonymous(path: &str, v: &mut Value) {
        let Some(o) = v.as_object_mut() else { return };
        if path == "/redfish/v1" {
            o.remove("Vendor");
            o.remove("Oem");
        }
        // The system itself (/redfish/v1/Systems/<id>), not its parts.
        if path.starts_with("/redfish/v1/Systems/") && path.matches('/').count() == 4 {
            o.remove("Manufacturer");
        }
    }
    let manager_reads = |log: &Log| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _)| m == "GET" && p.starts_with("/redfish/v1/Managers/"))
            .count()
    };
    let cases = [
        ("dell", "", Vendor::Dell),
        ("hpe", "", Vendor::Hpe),
        ("lenovo", "/redfish/v1/Systems/1", Vendor::Lenovo),
        ("supermicro", "", Vendor::Supermicro),
        (
            "nvidia_viking",
            "/redfish/v1/Systems/HGX_Baseboard_0",
            Vendor::Nvidia,
        ),
        // The DGX's manager is an AMI MegaRAC: no vendor with quirks.
        ("nvidia_viking", "/redfish/v1/Systems/DGX", Vendor::Generic),
    ];
    for (vendor, path, want) in cases {
        let (port, log) = serve_edited(vendor, anonymous).await;
        let addr = BmcAddress::parse(&format!("redfish+http://127.0.0.1:{port}{path}")).unwrap();
        let c = RedfishClient::connect(
            &addr,
            &Credentials::new("root", "calvin"),
            RedfishOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(manager_reads(&log), 0, "{vendor}{path}: not needed yet");
        assert_eq!(c.vendor().await.unwrap(), want, "{vendor}{path}");
        assert_eq!(c.vendor().await.unwrap(), want, "{vendor}{path}");
        assert_eq!(manager_reads(&log), 1, "{vendor}{path}: read once");
        // The quirks follow the vendor found there: iDRAC and the others
        // infer the SimpleUpdate target, generic services want Targets.
        assert_eq!(
            quirks::simple_update_needs_targets(want),
            want == Vendor::Generic,
            "{vendor}{path}"
        );
    }
    // With the root naming the vendor, the manager is never read for it.
    for vendor in ["dell", "hpe", "lenovo", "supermicro"] {
        let (c, log) = client(vendor, "").await;
        assert_ne!(c.vendor().await.unwrap(), Vendor::Generic, "{vendor}");
        assert_eq!(manager_reads(&log), 0, "{vendor}");
    }
}

/// Requests per inventory on real vendor trees: collections expanded one
/// level; storage two levels where the service allows it (XCC, Supermicro,
/// AMI), else one expanded read per controller with several drives (iDRAC)
/// and one read per drive otherwise (iLO: one drive per controller). With
/// the system in the address the client has not read the service root at
/// connect (basic auth works): the inventory reads it, once, to learn
/// whether the BMC expands.
#[tokio::test]
async fn inventory_requests_per_vendor() {
    let cases = [
        ("dell", "", 5, 3),
        ("hpe", "", 21, 18),
        ("lenovo", "/redfish/v1/Systems/1", 1 + 4, 4),
        ("supermicro", "", 4, 8),
        ("nvidia_viking", "/redfish/v1/Systems/DGX", 1 + 4, 0),
    ];
    for (vendor, path, requests, drives) in cases {
        let (c, log) = client(vendor, path).await;
        let before = log.lock().unwrap().len();
        let inv = c.inventory().await.unwrap();
        let seen: Vec<_> = log.lock().unwrap()[before..].to_vec();
        assert_eq!(seen.len(), requests, "{vendor}: {seen:?}");
        assert_eq!(inv.hardware.storage.len(), drives, "{vendor}");
        assert!(inv.warnings.is_empty(), "{vendor}: {:?}", inv.warnings);
        if matches!(vendor, "lenovo" | "supermicro") {
            assert!(
                seen.iter()
                    .any(|(_, p, _)| p.ends_with("/Storage?$expand=.($levels=2)")),
                "{vendor}: {seen:?}"
            );
        }
    }
}
