//! The Redfish client against a real peer: sushy-tools' emulator (fake
//! driver) on loopback, checked with independent raw reads of its state.
//!
//! Needs the peers venv: run `bash scripts/setup-peers.sh` (or set
//! METAL3_PEERS_VENV to a venv with sushy-tools installed).

// Test harness helpers outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/sushy.rs"]
mod sushy;

use std::time::Duration;

use metal3_bmc::address::BmcAddress;
use metal3_bmc::redfish::{RedfishClient, RedfishOptions};
use metal3_bmc::{
    BmcErrorKind, BootDevice, BootMode, BootOverride, Credentials, PowerAction, PowerBootControl,
    PowerState,
};
use sushy::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_on_cycle_off_with_read_back() {
    let s = Sushy::start(false).await;
    let c = connect(&s, 0).await;
    let sys = format!("/redfish/v1/Systems/{}", SYS[0]);
    assert_eq!(c.power_state().await.unwrap(), PowerState::Off);
    let wait = Duration::from_secs(60);
    let every = Duration::from_millis(500);
    assert_eq!(
        c.set_power_and_wait(PowerAction::On, wait, every)
            .await
            .unwrap(),
        PowerState::On
    );
    assert_eq!(s.raw_get(&sys).await["PowerState"], "On");
    // sushy does not advertise PowerCycle: the client does ForceOff, waits, On.
    assert_eq!(
        c.set_power_and_wait(PowerAction::PowerCycle, wait, every)
            .await
            .unwrap(),
        PowerState::On
    );
    let log = std::fs::read_to_string(s.dir.join("sushy.log")).unwrap();
    assert!(
        log.matches("POST /redfish/v1/Systems/").count() >= 3,
        "{log}"
    );
    assert_eq!(s.raw_get(&sys).await["PowerState"], "On");
    assert_eq!(
        c.set_power_and_wait(PowerAction::ForceOff, wait, every)
            .await
            .unwrap(),
        PowerState::Off
    );
    assert_eq!(s.raw_get(&sys).await["PowerState"], "Off");
    // Another system was not touched.
    assert_eq!(
        s.raw_get(&format!("/redfish/v1/Systems/{}", SYS[1])).await["PowerState"],
        "Off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_selection_and_auth() {
    let s = Sushy::start(false).await;
    // Three systems and none in the address: refuse, listing them.
    let e = RedfishClient::connect(&s.address(""), &creds(), quick())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::InvalidRequest);
    let msg = e.to_string();
    for id in SYS {
        assert!(msg.contains(id), "{msg}");
    }
    // A system given by name resolves (sushy redirects) to its canonical path.
    let c = RedfishClient::connect(&s.address("/redfish/v1/Systems/node-1"), &creds(), quick())
        .await
        .unwrap();
    assert_eq!(c.system_path(), format!("/redfish/v1/Systems/{}", SYS[1]));
    // Every Redfish-speaking address type reaches the same service.
    for scheme in [
        "redfish-virtualmedia+http",
        "redfish-uefihttp+http",
        "idrac-virtualmedia+http",
        "ilo5-redfish+http",
    ] {
        let a = BmcAddress::parse(&format!(
            "{scheme}://127.0.0.1:{}/redfish/v1/Systems/{}",
            s.port, SYS[2]
        ))
        .unwrap();
        let c = RedfishClient::connect(&a, &creds(), quick()).await.unwrap();
        assert_eq!(c.power_state().await.unwrap(), PowerState::Off, "{scheme}");
    }
    // Wrong password: AuthFailed, and the password is in no message.
    let bad = Credentials::new(USER, "wrong-password");
    let e = RedfishClient::connect(&s.system_address(0), &bad, quick())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::AuthFailed, "{e}");
    assert!(!e.to_string().contains("wrong-password"));
    // Unknown system: NotSupported (404) naming the BMC.
    let e = RedfishClient::connect(&s.address("/redfish/v1/Systems/nope"), &creds(), quick())
        .await
        .unwrap_err();
    assert!(e.to_string().contains(&s.base()), "{e}");
    assert_eq!(e.kind(), BmcErrorKind::NotSupported, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_override_round_trip() {
    let s = Sushy::start(false).await;
    let c = connect(&s, 1).await;
    let sys = format!("/redfish/v1/Systems/{}", SYS[1]);
    let pxe = BootOverride {
        device: BootDevice::Pxe,
        persistent: false,
        mode: Some(BootMode::Uefi),
        http_boot_uri: None,
    };
    c.set_boot(&pxe).await.unwrap();
    let raw = s.raw_get(&sys).await;
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Pxe");
    assert_eq!(raw["Boot"]["BootSourceOverrideMode"], "UEFI");
    let cd = BootOverride {
        device: BootDevice::Cd,
        persistent: true,
        mode: None,
        http_boot_uri: None,
    };
    c.set_boot(&cd).await.unwrap();
    assert_eq!(
        s.raw_get(&sys).await["Boot"]["BootSourceOverrideTarget"],
        "Cd"
    );
    let back = c.boot_override().await.unwrap();
    assert_eq!((back.device, back.persistent), (BootDevice::Cd, true));
    let http = BootOverride {
        device: BootDevice::UefiHttp,
        persistent: false,
        mode: Some(BootMode::Uefi),
        http_boot_uri: None,
    };
    // sushy's fake driver answers 204 to UefiHttp but stores Pxe: the
    // read-back catches the accept-and-ignore instead of reporting success.
    let e = c.set_boot(&http).await.unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::BadResponse, "{e}");
    assert!(e.to_string().contains("reads back"), "{e}");
    assert_eq!(
        s.raw_get(&sys).await["Boot"]["BootSourceOverrideTarget"],
        "Pxe"
    );
    // With a URI sushy downloads it (served here), then its fake driver
    // cannot store it and answers 400: that message must reach the caller.
    let port = serve_file(b"efi".to_vec()).await;
    let e = c
        .set_boot(&BootOverride {
            http_boot_uri: Some(format!("http://127.0.0.1:{port}/boot.efi")),
            ..http.clone()
        })
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("HTTP 400: Failed to save HttpBootUri"),
        "{e}"
    );
    // BiosSetup is not in sushy's allowable targets: refused before sending.
    let e = c
        .set_boot(&BootOverride {
            device: BootDevice::BiosSetup,
            ..pxe
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::NotSupported, "{e}");
    assert!(e.to_string().contains("Pxe, Cd, Hdd, UefiHttp"), "{e}");
    // Legacy mode (sushy then drops UefiHttp from the allowed targets).
    let legacy_disk = BootOverride {
        device: BootDevice::Disk,
        persistent: true,
        mode: Some(BootMode::Legacy),
        http_boot_uri: None,
    };
    c.set_boot(&legacy_disk).await.unwrap();
    let raw = s.raw_get(&sys).await;
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Hdd");
    assert_eq!(raw["Boot"]["BootSourceOverrideMode"], "Legacy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_media_insert_status_eject() {
    let s = Sushy::start(false).await;
    let iso_port = serve_file(b"not really an ISO, but sushy only downloads it".to_vec()).await;
    let url = format!("http://127.0.0.1:{iso_port}/boot.iso");
    let c = connect(&s, 2).await;
    let slot = format!("/redfish/v1/Systems/{}/VirtualMedia/Cd", SYS[2]);
    let st = c.media_status().await.unwrap();
    assert_eq!(st.slot, slot);
    assert!(!st.inserted);
    let st = c.media_insert(&url).await.unwrap();
    assert!(st.inserted);
    assert_eq!(st.image.as_deref(), Some(url.as_str()));
    let raw = s.raw_get(&slot).await;
    assert_eq!(raw["Inserted"], true);
    assert_eq!(raw["Image"], url.as_str());
    // Inserting again ejects first, then inserts the new image.
    let url2 = format!("http://127.0.0.1:{iso_port}/other.iso");
    c.media_insert(&url2).await.unwrap();
    assert_eq!(s.raw_get(&slot).await["Image"], url2.as_str());
    let st = c.media_eject().await.unwrap();
    assert!(!st.inserted);
    assert_eq!(s.raw_get(&slot).await["Inserted"], false);
    // An unreachable image URL: sushy answers 500 with the fetch error.
    let e = c
        .media_insert("http://127.0.0.1:9/missing.iso")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::Rejected, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_secure_boot_firmware() {
    let s = Sushy::start(false).await;
    let c = connect(&s, 0).await;
    let inv = c.inventory().await.unwrap();
    let h = &inv.hardware;
    assert_eq!(h.system_vendor.manufacturer, "Sushy Emulator");
    assert_eq!(h.nics.len(), 1);
    assert_eq!(h.nics[0].mac, "00:5c:52:31:3a:00");
    // The configured IP is not exposed by sushy's EthernetInterface.
    assert_eq!(h.nics[0].name, "00:5c:52:31:3a:00");
    // The fake driver has no processors, memory (404) nor storage (500).
    let w = inv.warnings.join("\n");
    assert!(w.contains("processors"), "{w}");
    assert!(w.contains("memory") && w.contains("404"), "{w}");
    assert!(w.contains("storage") && w.contains("500"), "{w}");
    assert!(h.storage.is_empty() && h.ram_mebibytes == 0);

    let sb = format!("/redfish/v1/Systems/{}/SecureBoot", SYS[0]);
    assert!(!c.secure_boot().await.unwrap());
    c.set_secure_boot(true).await.unwrap();
    assert_eq!(s.raw_get(&sb).await["SecureBootEnable"], true);
    c.set_secure_boot(false).await.unwrap();
    assert_eq!(s.raw_get(&sb).await["SecureBootEnable"], false);

    // No FirmwareInventory and no Bios on the fake driver: NotSupported.
    let e = c.firmware_inventory().await.unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::NotSupported, "{e}");
    let e = c.bios_attributes().await.unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::NotSupported, "{e}");
    // SimpleUpdate: sushy wants Targets (sent for generic BMCs; without them
    // it answers 400 "Missing ImageURI and/or Targets"), then its fake driver
    // cannot read BIOS versions and answers 500 with its own message.
    let e = c
        .simple_update(
            "http://127.0.0.1:9/fw.bin",
            Duration::from_secs(10),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("HTTP 500: Failed fetching BIOS information"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_needs_ca_or_insecure() {
    let s = Sushy::start(true).await;
    let addr = s.system_address(0);
    // Verified against the test CA.
    let with_ca = RedfishOptions {
        ca_bundle: Some(s.ca()),
        ..quick()
    };
    let c = RedfishClient::connect(&addr, &creds(), with_ca)
        .await
        .unwrap();
    assert_eq!(c.power_state().await.unwrap(), PowerState::Off);
    // Verification off.
    let insecure = RedfishOptions {
        insecure: true,
        ..quick()
    };
    let c = RedfishClient::connect(&addr, &creds(), insecure)
        .await
        .unwrap();
    assert_eq!(c.power_state().await.unwrap(), PowerState::Off);
    // Neither: the handshake fails, and says why.
    let e = RedfishClient::connect(&addr, &creds(), quick())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::Unreachable, "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}

/// Connect, one-time boot, power on: the system read at connect serves the
/// boot override, the boot read-back serves the power on; a state query
/// after the reset reads the BMC, and so does every further query (a poll).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_and_power_on_reuse_the_reads_just_made() {
    let s = Sushy::start(false).await;
    let sys = format!("/redfish/v1/Systems/{}", SYS[1]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = requests_in_log(&s).len();
    let c = connect(&s, 1).await;
    c.set_boot(&BootOverride {
        device: BootDevice::Pxe,
        persistent: false,
        mode: Some(BootMode::Uefi),
        http_boot_uri: None,
    })
    .await
    .unwrap();
    c.set_power(PowerAction::On).await.unwrap();
    let _ = c.power_state().await.unwrap();
    let _ = c.power_state().await.unwrap();
    // Default auth reads the root once (sushy-tools links no SessionService,
    // so basic it is); after that, reads just made are reused.
    let want = [
        "GET /redfish/v1/ 200".to_string(),
        format!("GET {sys} 200"),
        format!("PATCH {sys} 204"),
        format!("GET {sys} 200"),
        format!("POST {sys}/Actions/ComputerSystem.Reset 204"),
        format!("GET {sys} 200"),
        format!("GET {sys} 200"),
    ];
    assert_eq!(logged_since(&s, before, want.len()).await, want);
    // And the emulator did what was asked (the power change lands 1-11 s later).
    let raw = s.raw_get(&sys).await;
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Pxe");
}

/// sushy-tools gives no ETags. This front makes it behave like a BMC that
/// does: it forwards every request to the emulator, tags each GET with the
/// resource's generation (`W/"gen-N"`), refuses a PATCH whose `If-Match` is
/// not the current tag (412) or that has none (428), and bumps the
/// generation when a PATCH lands. `bump` plays someone else's write.
struct EtagFront {
    port: u16,
    generations: Shared<std::collections::HashMap<String, u32>>,
    log: Shared<Vec<Seen>>,
}

type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;
/// A request the front saw: method, path, If-Match sent, status answered.
type Seen = (String, String, Option<String>, u16);

impl EtagFront {
    async fn start(s: &Sushy) -> EtagFront {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let front = EtagFront {
            port,
            generations: Default::default(),
            log: Default::default(),
        };
        let (gens, log, base, http) = (
            front.generations.clone(),
            front.log.clone(),
            s.base(),
            s.raw(),
        );
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = l.accept().await {
                let (gens, log, base, http) =
                    (gens.clone(), log.clone(), base.clone(), http.clone());
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
                    let len: usize = h("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = buf[head_end + 4..].to_vec();
                    while body.len() < len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => body.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let path = target.trim_end_matches('/').to_string();
                    let tag = |gens: &std::collections::HashMap<String, u32>| {
                        format!("W/\"gen-{}\"", gens.get(&path).copied().unwrap_or(1))
                    };
                    let current = tag(&gens.lock().unwrap());
                    let if_match = h("if-match");
                    let refusal = match (method.as_str(), &if_match) {
                        ("PATCH", None) => Some(428),
                        ("PATCH", Some(t)) if *t != current => Some(412),
                        _ => None,
                    };
                    let (status, text) = match refusal {
                        Some(code) => (
                            code,
                            r#"{"error":{"@Message.ExtendedInfo":[{"Message":"The resource has changed."}]}}"#
                                .to_string(),
                        ),
                        None => {
                            let mut req = http
                                .request(method.parse().unwrap(), format!("{base}{target}"))
                                .body(body);
                            for k in ["authorization", "content-type", "accept"] {
                                if let Some(v) = h(k) {
                                    req = req.header(k, v);
                                }
                            }
                            let r = req.send().await.unwrap();
                            let code = r.status().as_u16();
                            (code, r.text().await.unwrap_or_default())
                        }
                    };
                    if method == "PATCH" && (200..300).contains(&status) {
                        *gens.lock().unwrap().entry(path.clone()).or_insert(1) += 1;
                    }
                    log.lock()
                        .unwrap()
                        .push((method.clone(), path.clone(), if_match, status));
                    let etag = if method == "GET" {
                        format!("ETag: {}\r\n", tag(&gens.lock().unwrap()))
                    } else {
                        String::new()
                    };
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{etag}Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        front
    }

    fn address(&self, i: usize) -> BmcAddress {
        BmcAddress::parse(&format!(
            "redfish+http://127.0.0.1:{}/redfish/v1/Systems/{}",
            self.port, SYS[i]
        ))
        .unwrap()
    }

    fn bump(&self, path: &str) {
        *self
            .generations
            .lock()
            .unwrap()
            .entry(path.to_string())
            .or_insert(1) += 1;
    }

    fn patches(&self) -> Vec<(String, Option<String>, u16)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _, _, _)| m == "PATCH")
            .map(|(_, p, t, s)| (p.clone(), t.clone(), *s))
            .collect()
    }
}

/// If-Match against the emulator's real state, with ETags added in front:
/// PATCHes carry the tag read, and a write by someone else between our read
/// and our PATCH (412) is retried once with the new tag, landing in sushy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_and_412_retry_against_sushy_with_etags() {
    let s = Sushy::start(false).await;
    let front = EtagFront::start(&s).await;
    let sys = format!("/redfish/v1/Systems/{}", SYS[0]);
    let sb = format!("{sys}/SecureBoot");
    let c = RedfishClient::connect(&front.address(0), &creds(), quick())
        .await
        .unwrap();
    c.set_secure_boot(true).await.unwrap();
    assert_eq!(s.raw_get(&sb).await["SecureBootEnable"], true);
    // Someone else writes the system after our read at connect.
    front.bump(&sys);
    c.set_boot(&BootOverride {
        device: BootDevice::Cd,
        persistent: true,
        mode: None,
        http_boot_uri: None,
    })
    .await
    .unwrap();
    assert_eq!(
        s.raw_get(&sys).await["Boot"]["BootSourceOverrideTarget"],
        "Cd"
    );
    let tag = |n: u32| Some(format!("W/\"gen-{n}\""));
    assert_eq!(
        front.patches(),
        [
            (sb.clone(), tag(1), 204),
            (sys.clone(), tag(1), 412),
            (sys.clone(), tag(2), 204),
        ]
    );

    // A client starting from this one's discovery reads the system before
    // its PATCH all the same: the service gives ETags, the PATCH carries
    // the current one.
    let known = c.discovery().await;
    assert!(!known.system_untagged);
    let c = RedfishClient::connect(
        &front.address(0),
        &creds(),
        RedfishOptions {
            discovery: Some(known),
            ..quick()
        },
    )
    .await
    .unwrap();
    front.bump(&sys);
    c.set_boot(&BootOverride {
        device: BootDevice::Pxe,
        persistent: true,
        mode: None,
        http_boot_uri: None,
    })
    .await
    .unwrap();
    let patches = front.patches();
    assert_eq!(patches.len(), 4, "{patches:?}");
    assert_eq!(patches[3], (sys.clone(), tag(4), 204));
}

/// The CD slot is searched once per client; later media operations read it
/// directly, and an action's read-back serves the next operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_operations_search_the_slot_once() {
    let s = Sushy::start(false).await;
    let iso_port = serve_file(b"iso".to_vec()).await;
    let url = format!("http://127.0.0.1:{iso_port}/boot.iso");
    let sys = format!("/redfish/v1/Systems/{}", SYS[2]);
    let slot = format!("{sys}/VirtualMedia/Cd");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = requests_in_log(&s).len();
    let c = connect(&s, 2).await;
    assert!(!c.media_status().await.unwrap().inserted);
    assert!(c.media_insert(&url).await.unwrap().inserted);
    assert!(!c.media_eject().await.unwrap().inserted);
    let want = [
        "GET /redfish/v1/ 200".to_string(),
        format!("GET {sys} 200"),
        // status: the search
        format!("GET {sys}/VirtualMedia 200"),
        format!("GET {slot} 200"),
        // insert: the slot's layout is known, its state not (status used
        // that read): the action straight away, then its read-back
        format!("POST {slot}/Actions/VirtualMedia.InsertMedia 204"),
        format!("GET {slot} 200"),
        // eject: the insert's read-back is the current state
        format!("POST {slot}/Actions/VirtualMedia.EjectMedia 204"),
        format!("GET {slot} 200"),
    ];
    assert_eq!(logged_since(&s, before, want.len()).await, want);
    assert_eq!(s.raw_get(&slot).await["Inserted"], false);
}

// ---- BIOS, secure boot and boot mode on sushy-tools' libvirt driver ----
//
// The fake driver has no BIOS; the libvirt driver over libvirt's mock
// hypervisor has. sushy-tools applies a PATCH to Bios/Settings at once (its
// driver stores the attributes in the domain's metadata: "Updates to
// attributes are immediate unlike in real BIOS that would require system
// reboot"), so Bios and Bios/Settings read the same before and after a reset.

fn map(pairs: &[(&str, &str)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect()
}

async fn connect_libvirt(s: &Sushy) -> RedfishClient {
    RedfishClient::connect(
        &s.address(&format!("/redfish/v1/Systems/{LIBVIRT_SYS}")),
        &creds(),
        quick(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bios_get_set_on_the_libvirt_driver() {
    let s = Sushy::start_libvirt().await;
    let c = connect_libvirt(&s).await;
    let bios = format!("/redfish/v1/Systems/{LIBVIRT_SYS}/BIOS");
    let settings = format!("{bios}/Settings");

    // bios get: what the emulator serves, attribute for attribute.
    let before = c.bios_attributes().await.unwrap();
    let raw = s.raw_get(&bios).await;
    assert_eq!(raw["Attributes"].as_object().unwrap(), &before);
    assert_eq!(before["ProcTurboMode"], "Enabled");
    assert_eq!(before["NumCores"], "10");
    assert_eq!(
        c.bios_pending().await.unwrap(),
        *s.raw_get(&settings).await["Attributes"]
            .as_object()
            .unwrap()
    );

    // bios set: written to the settings object, only the named attributes.
    c.set_bios_attributes(map(&[("ProcTurboMode", "Disabled"), ("NumCores", "8")]))
        .await
        .unwrap();
    let pending = s.raw_get(&settings).await;
    assert_eq!(pending["Attributes"]["ProcTurboMode"], "Disabled");
    assert_eq!(pending["Attributes"]["NumCores"], "8");
    assert_eq!(pending["Attributes"]["SerialNumber"], "QPX12345");
    assert_eq!(c.bios_pending().await.unwrap()["NumCores"], "8");
    // sushy-tools applies at once: the current attributes already changed.
    let now = s.raw_get(&bios).await;
    assert_eq!(now["Attributes"]["ProcTurboMode"], "Disabled");
    // A reset (where a real BMC would apply pending settings) keeps them.
    let sys = format!("/redfish/v1/Systems/{LIBVIRT_SYS}");
    assert_eq!(s.raw_get(&sys).await["PowerState"], "On");
    c.set_power_and_wait(
        PowerAction::ForceRestart,
        Duration::from_secs(30),
        Duration::from_millis(200),
    )
    .await
    .unwrap();
    let after = c.bios_attributes().await.unwrap();
    assert_eq!(after["ProcTurboMode"], "Disabled");
    assert_eq!(after["NumCores"], "8");
    assert_eq!(
        s.raw_get(&bios).await["Attributes"].as_object().unwrap(),
        &after
    );
    // Our writes went to Settings only, never to the current Bios resource.
    let log = requests_in_log(&s);
    assert!(
        log.iter().any(|l| l == &format!("PATCH {settings} 204")),
        "{log:?}"
    );
    assert!(
        !log.iter().any(|l| l.starts_with(&format!("PATCH {bios} "))),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_boot_and_boot_mode_on_the_libvirt_driver() {
    let s = Sushy::start_libvirt().await;
    let c = connect_libvirt(&s).await;
    let sys = format!("/redfish/v1/Systems/{LIBVIRT_SYS}");
    let sb = format!("{sys}/SecureBoot");
    let boot = |device, mode| BootOverride {
        device,
        // The libvirt driver only keeps a persistent boot order.
        persistent: true,
        mode: Some(mode),
        http_boot_uri: None,
    };

    // Boot mode Legacy: set, read back, seen by an independent read.
    c.set_boot(&boot(BootDevice::Pxe, BootMode::Legacy))
        .await
        .unwrap();
    let raw = s.raw_get(&sys).await;
    assert_eq!(raw["Boot"]["BootSourceOverrideMode"], "Legacy");
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Pxe");
    // Secure boot needs UEFI: the emulator refuses it in Legacy mode.
    let e = c.set_secure_boot(true).await.unwrap_err();
    assert!(e.to_string().contains("Legacy boot mode"), "{e}");
    // ... and serves no SecureBoot state at all (501) while in Legacy.
    let r = s
        .raw()
        .get(format!("{}{sb}", s.base()))
        .basic_auth(USER, Some(PASS))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 501);

    // UEFI, then secure boot on and off.
    c.set_boot(&boot(BootDevice::Disk, BootMode::Uefi))
        .await
        .unwrap();
    let raw = s.raw_get(&sys).await;
    assert_eq!(raw["Boot"]["BootSourceOverrideMode"], "UEFI");
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Hdd");
    assert!(!c.secure_boot().await.unwrap());
    c.set_secure_boot(true).await.unwrap();
    let raw = s.raw_get(&sb).await;
    assert_eq!(raw["SecureBootEnable"], true);
    assert_eq!(raw["SecureBootCurrentBoot"], "Enabled");
    assert!(c.secure_boot().await.unwrap());
    c.set_secure_boot(false).await.unwrap();
    let raw = s.raw_get(&sb).await;
    assert_eq!(raw["SecureBootEnable"], false);
    assert_eq!(raw["SecureBootCurrentBoot"], "Disabled");

    // Back to Legacy: the mode really flips both ways.
    // (The mock domain has a disk and a NIC but no CD drive.)
    c.set_boot(&boot(BootDevice::Pxe, BootMode::Legacy))
        .await
        .unwrap();
    let raw = s.raw_get(&sys).await;
    assert_eq!(raw["Boot"]["BootSourceOverrideMode"], "Legacy");
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Pxe");
}

/// The requests after a reset with the repeated reads of the system while
/// waiting for the new power state (sushy-tools applies it 1 to 11 s
/// later) folded into one.
fn fold_polls(reqs: Vec<String>, sys: &str) -> Vec<String> {
    let read = format!("GET {sys} 200");
    let mut out: Vec<String> = Vec::new();
    let mut after_reset = false;
    for r in reqs {
        if r.contains("/Actions/ComputerSystem.Reset") {
            after_reset = true;
        } else if after_reset && r == read && out.last() == Some(&r) {
            continue;
        } else if r != read {
            after_reset = false;
        }
        out.push(r);
    }
    out
}

/// Virtual media boot in one call: insert (ejecting first when needed),
/// one-time boot from CD, power on (force restart when on), verified at
/// the end with one read of the system (polled until on) and one of the
/// slot; the emulator's state checked with raw reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_from_media_in_one_call() {
    let s = Sushy::start(false).await;
    let iso_port = serve_file(b"iso".to_vec()).await;
    let first = format!("http://127.0.0.1:{iso_port}/first.iso");
    let second = format!("http://127.0.0.1:{iso_port}/second.iso");
    let sys = format!("/redfish/v1/Systems/{}", SYS[2]);
    let slot = format!("{sys}/VirtualMedia/Cd");
    let wait = Duration::from_secs(60);
    let every = Duration::from_millis(200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = requests_in_log(&s).len();
    let c = connect(&s, 2).await;
    let done = c
        .boot_from_media(&first, Some(BootMode::Uefi), wait, every)
        .await
        .unwrap();
    assert_eq!(done.power, PowerState::On);
    assert_eq!(done.boot.device, BootDevice::Cd);
    assert_eq!(done.media.image.as_deref(), Some(first.as_str()));
    let want = [
        "GET /redfish/v1/ 200".to_string(),
        format!("GET {sys} 200"),
        format!("GET {sys}/VirtualMedia 200"),
        format!("GET {slot} 200"),
        format!("POST {slot}/Actions/VirtualMedia.InsertMedia 204"),
        format!("PATCH {sys} 204"),
        format!("POST {sys}/Actions/ComputerSystem.Reset 204"),
        format!("GET {sys} 200"),
        format!("GET {slot} 200"),
    ];
    let seen = fold_polls(logged_since(&s, before, want.len()).await, &sys);
    assert_eq!(seen, want);
    let raw = s.raw_get(&sys).await;
    assert_eq!(raw["PowerState"], "On");
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Cd");
    assert_eq!(raw["Boot"]["BootSourceOverrideMode"], "UEFI");
    let raw = s.raw_get(&slot).await;
    assert_eq!(
        (&raw["Inserted"], &raw["Image"]),
        (&true.into(), &first.clone().into())
    );

    // Again, with the host on and the first image in: eject, insert, and a
    // force restart; the slot's read at the end of the first call serves as
    // its current state, the system is read again (polled, so seen).
    s.raw()
        .patch(format!("{}{sys}", s.base()))
        .basic_auth(USER, Some(PASS))
        .json(&serde_json::json!({"Boot": {"BootSourceOverrideTarget": "Hdd"}}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = requests_in_log(&s).len();
    let done = c.boot_from_media(&second, None, wait, every).await.unwrap();
    assert_eq!(done.media.image.as_deref(), Some(second.as_str()));
    let want = [
        format!("GET {sys} 200"),
        format!("POST {slot}/Actions/VirtualMedia.EjectMedia 204"),
        format!("POST {slot}/Actions/VirtualMedia.InsertMedia 204"),
        format!("PATCH {sys} 204"),
        format!("POST {sys}/Actions/ComputerSystem.Reset 204"),
        format!("GET {sys} 200"),
        format!("GET {slot} 200"),
    ];
    let seen = fold_polls(logged_since(&s, before, want.len()).await, &sys);
    assert_eq!(seen, want);
    let raw = s.raw_get(&sys).await;
    assert_eq!(raw["PowerState"], "On");
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Cd");
    assert_eq!(s.raw_get(&slot).await["Image"], second.as_str());
}

/// A client of system `i` starting from `known`.
async fn known_client(
    s: &Sushy,
    i: usize,
    known: metal3_bmc::redfish::discovery::Discovery,
) -> RedfishClient {
    let o = RedfishOptions {
        discovery: Some(known),
        ..quick()
    };
    RedfishClient::connect(&s.system_address(i), &creds(), o)
        .await
        .unwrap()
}

/// A discovery saved by one client (as the CLI keeps it between runs) lets
/// the next client of the same system connect without a request and skip
/// every read that only finds paths and targets: power on is the reset and
/// its read-back, a boot from media inserts into the known slot straight
/// away. The emulator's state is checked with raw reads; a discovery whose
/// slot is gone falls back to searching, and one for another system is
/// ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_discovery_spares_the_next_client_the_search() {
    use metal3_bmc::redfish::discovery::Discovery;
    let s = Sushy::start(false).await;
    let iso_port = serve_file(b"iso".to_vec()).await;
    let first = format!("http://127.0.0.1:{iso_port}/first.iso");
    let second = format!("http://127.0.0.1:{iso_port}/second.iso");
    let sys = format!("/redfish/v1/Systems/{}", SYS[2]);
    let slot = format!("{sys}/VirtualMedia/Cd");
    let wait = Duration::from_secs(60);
    let every = Duration::from_millis(200);

    // The first client finds the slot and leaves the first image in it.
    let c = connect(&s, 2).await;
    c.media_insert(&first).await.unwrap();
    let saved = serde_json::to_string(&c.discovery().await).unwrap();
    c.close().await;
    let known: Discovery = serde_json::from_str(&saved).unwrap();
    assert!(!saved.contains(PASS), "a discovery carries no password");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = requests_in_log(&s).len();
    let c = known_client(&s, 2, known.clone()).await;
    c.set_power_and_wait(PowerAction::On, wait, every)
        .await
        .unwrap();
    let want = [
        format!("POST {sys}/Actions/ComputerSystem.Reset 204"),
        format!("GET {sys} 200"),
    ];
    let seen = fold_polls(logged_since(&s, before, want.len()).await, &sys);
    assert_eq!(seen, want);
    assert_eq!(s.raw_get(&sys).await["PowerState"], "On");

    // Boot from media into the occupied slot: the insert goes straight to
    // the known slot (sushy-tools replaces the image), the host is on so a
    // force restart; one read of the slot at the end shows the new image.
    c.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = requests_in_log(&s).len();
    let c = known_client(&s, 2, known.clone()).await;
    let done = c.boot_from_media(&second, None, wait, every).await.unwrap();
    assert_eq!(done.media.image.as_deref(), Some(second.as_str()));
    let want = [
        format!("GET {sys} 200"),
        format!("POST {slot}/Actions/VirtualMedia.InsertMedia 204"),
        format!("PATCH {sys} 204"),
        format!("POST {sys}/Actions/ComputerSystem.Reset 204"),
        format!("GET {sys} 200"),
        format!("GET {slot} 200"),
    ];
    let seen = fold_polls(logged_since(&s, before, want.len()).await, &sys);
    assert_eq!(seen, want);
    assert_eq!(s.raw_get(&slot).await["Image"], second.as_str());
    assert_eq!(
        s.raw_get(&sys).await["Boot"]["BootSourceOverrideTarget"],
        "Cd"
    );

    // A one-time boot: the service gives no ETag and the kept system
    // allows the target, so the PATCH goes without a read, then the
    // read-back.
    c.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = requests_in_log(&s).len();
    let c = known_client(&s, 2, known.clone()).await;
    c.set_boot(&BootOverride {
        device: BootDevice::Pxe,
        persistent: false,
        mode: Some(BootMode::Uefi),
        http_boot_uri: None,
    })
    .await
    .unwrap();
    let want = [format!("PATCH {sys} 204"), format!("GET {sys} 200")];
    assert_eq!(logged_since(&s, before, want.len()).await, want);
    let raw = s.raw_get(&sys).await;
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Pxe");
    assert_eq!(raw["Boot"]["BootSourceOverrideMode"], "UEFI");

    // A slot renumbered since (a firmware update): the insert is refused,
    // the slot searched again, and the image goes in.
    let mut stale = known.clone();
    let gone = format!("{sys}/VirtualMedia/Gone");
    if let Some(cd) = stale.cd_slot.as_mut() {
        cd.path = gone.clone();
        cd.slot["Actions"]["#VirtualMedia.InsertMedia"]["target"] =
            format!("{gone}/Actions/VirtualMedia.InsertMedia").into();
    }
    let c = known_client(&s, 2, stale).await;
    let now = c.media_insert(&first).await.unwrap();
    assert_eq!(now.slot, slot);
    assert_eq!(s.raw_get(&slot).await["Image"], first.as_str());

    // Another system's discovery is not used: the client reads its own.
    let c = known_client(&s, 1, known).await;
    assert_eq!(c.system_path(), format!("/redfish/v1/Systems/{}", SYS[1]));
}
