//! What no peer produces on demand: 401 mid-session, ETag conflicts, 5xx
//! bursts, slow answers, garbage bodies, BMCs that accept and ignore, task
//! monitors, the InsertMedia 400 quirk. Scripted with mockito.

// Test harness helpers outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use metal3_bmc::address::BmcAddress;
use metal3_bmc::redfish::discovery::{CdSlot, Discovery, DISCOVERY_VERSION};
use metal3_bmc::redfish::{RedfishAuth, RedfishClient, RedfishOptions};
use metal3_bmc::{
    BmcErrorKind, BootDevice, BootMode, BootOverride, Credentials, PowerAction, PowerBootControl,
};
use mockito::{Matcher, Server, ServerGuard};
use serde_json::{json, Value};

const SYS: &str = "/redfish/v1/Systems/1";
const PASSWORD: &str = "pa55-w0rd";

fn root(sessions: bool) -> String {
    let mut r = json!({
        "@odata.id": "/redfish/v1/",
        "Vendor": "Dell",
        "Systems": {"@odata.id": "/redfish/v1/Systems"},
        "UpdateService": {"@odata.id": "/redfish/v1/UpdateService"},
    });
    if sessions {
        r["Links"] = json!({"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}});
    }
    r.to_string()
}

fn system(power: &str, extra: Value) -> String {
    let mut s = json!({
        "@odata.id": SYS,
        "PowerState": power,
        "Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once",
                 "BootSourceOverrideMode": "UEFI"},
        "Actions": {"#ComputerSystem.Reset": {
            "target": format!("{SYS}/Actions/ComputerSystem.Reset"),
            "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "GracefulShutdown"]}},
        "VirtualMedia": {"@odata.id": format!("{SYS}/VirtualMedia")},
    });
    if let (Some(o), Some(e)) = (s.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    s.to_string()
}

async fn base(server: &mut ServerGuard, sessions: bool) {
    server
        .mock("GET", "/redfish/v1/")
        .with_body(root(sessions))
        .create_async()
        .await;
}

fn opts() -> RedfishOptions {
    RedfishOptions {
        request_timeout: Duration::from_secs(5),
        ..RedfishOptions::default()
    }
}

/// What an earlier client of [`SYS`] kept: the root without sessions, the
/// system (`power`, no ETag) and maybe a CD slot.
fn discovery(power: &str, cd_slot: Option<CdSlot>) -> Discovery {
    Discovery {
        version: DISCOVERY_VERSION,
        named: Some(SYS.to_string()),
        system_path: SYS.to_string(),
        root: Some(serde_json::from_str(&root(false)).unwrap()),
        system: serde_json::from_str(&system(power, json!({}))).unwrap(),
        system_untagged: true,
        cd_slot,
    }
}

async fn connect(
    server: &ServerGuard,
    o: RedfishOptions,
) -> Result<RedfishClient, metal3_bmc::BmcError> {
    let addr =
        BmcAddress::parse(&format!("redfish+http://{}{SYS}", server.host_with_port())).unwrap();
    RedfishClient::connect(&addr, &Credentials::new("admin", PASSWORD), o).await
}

#[tokio::test]
async fn expired_session_logs_in_again_once() {
    let mut s = Server::new_async().await;
    base(&mut s, true).await;
    let login = s
        .mock("POST", "/redfish/v1/SessionService/Sessions")
        .match_body(Matcher::PartialJson(
            json!({"UserName": "admin", "Password": PASSWORD}),
        ))
        .with_status(201)
        .with_header("X-Auth-Token", "tok")
        .with_header("Location", "/redfish/v1/SessionService/Sessions/7")
        .expect(2)
        .create_async()
        .await;
    // The first system read finds the session expired.
    s.mock("GET", SYS)
        .match_header("X-Auth-Token", "tok")
        .with_status(401)
        .expect(1)
        .create_async()
        .await;
    let ok = s
        .mock("GET", SYS)
        .match_header("X-Auth-Token", "tok")
        .with_body(system("On", json!({})))
        .create_async()
        .await;
    let logout = s
        .mock("DELETE", "/redfish/v1/SessionService/Sessions/7")
        .with_status(204)
        .create_async()
        .await;
    let session = RedfishOptions {
        auth: RedfishAuth::Session,
        ..opts()
    };
    let c = connect(&s, session).await.unwrap();
    c.close().await;
    login.assert_async().await;
    ok.assert_async().await;
    logout.assert_async().await;
}

/// Auto: HTTP basic first; a BMC that refuses it (401) gets a session, the
/// service root read only then to find the SessionService; the session is
/// ended on close.
#[tokio::test]
async fn auto_auth_opens_a_session_only_when_basic_is_refused() {
    let mut s = Server::new_async().await;
    let root = s
        .mock("GET", "/redfish/v1/")
        .with_body(root(true))
        .expect(1)
        .create_async()
        .await;
    let basic = s
        .mock("GET", SYS)
        .match_header("authorization", Matcher::Regex("^Basic ".into()))
        .with_status(401)
        .expect(1)
        .create_async()
        .await;
    let login = s
        .mock("POST", "/redfish/v1/SessionService/Sessions")
        .with_status(201)
        .with_header("X-Auth-Token", "tok")
        .with_header("Location", "/redfish/v1/SessionService/Sessions/9")
        .expect(1)
        .create_async()
        .await;
    let ok = s
        .mock("GET", SYS)
        .match_header("X-Auth-Token", "tok")
        .with_body(system("On", json!({})))
        .expect(1)
        .create_async()
        .await;
    let logout = s
        .mock("DELETE", "/redfish/v1/SessionService/Sessions/9")
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let auto = RedfishOptions {
        auth: RedfishAuth::Auto,
        ..opts()
    };
    let c = connect(&s, auto).await.unwrap();
    assert_eq!(c.power_state().await.unwrap(), metal3_bmc::PowerState::On);
    c.close().await;
    for m in [root, basic, login, ok, logout] {
        m.assert_async().await;
    }
}

/// Auto and Basic with a BMC that takes basic: no service root, no session,
/// even though the root links a SessionService; Session logs in.
#[tokio::test]
async fn basic_that_works_needs_no_service_root() {
    for (auth, root_reads, logins) in [
        (RedfishAuth::Auto, 0, 0),
        (RedfishAuth::Basic, 0, 0),
        (RedfishAuth::Session, 1, 1),
    ] {
        let mut s = Server::new_async().await;
        let root = s
            .mock("GET", "/redfish/v1/")
            .with_body(root(true))
            .expect(root_reads)
            .create_async()
            .await;
        let login = s
            .mock("POST", "/redfish/v1/SessionService/Sessions")
            .with_status(201)
            .with_header("X-Auth-Token", "tok")
            .expect(logins)
            .create_async()
            .await;
        let sys = s
            .mock("GET", SYS)
            .with_body(system("Off", json!({})))
            .expect(1)
            .create_async()
            .await;
        let c = connect(&s, RedfishOptions { auth, ..opts() })
            .await
            .unwrap();
        assert_eq!(c.power_state().await.unwrap(), metal3_bmc::PowerState::Off);
        for m in [root, login, sys] {
            m.assert_async().await;
        }
    }
}

#[tokio::test]
async fn bad_password_fails_login_without_leaking_it() {
    for auth in [RedfishAuth::Auto, RedfishAuth::Session] {
        let mut s = Server::new_async().await;
        base(&mut s, true).await;
        // Auto tries basic first: refused, then the session login is refused too.
        let basic = s
            .mock("GET", SYS)
            .with_status(401)
            .expect(if auth == RedfishAuth::Auto { 1 } else { 0 })
            .create_async()
            .await;
        let login = s.mock("POST", "/redfish/v1/SessionService/Sessions")
        .with_status(401)
        .with_body(
            r#"{"error":{"@Message.ExtendedInfo":[{"Message":"Invalid username or password."}]}}"#,
        )
        .expect(1)
        .create_async()
        .await;
        let e = connect(&s, RedfishOptions { auth, ..opts() })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), BmcErrorKind::AuthFailed);
        let m = e.to_string();
        assert!(
            m.contains("Invalid username or password.") && m.contains(&s.host_with_port()),
            "{m}"
        );
        assert!(!m.contains(PASSWORD) && !format!("{e:?}").contains(PASSWORD));
        basic.assert_async().await;
        login.assert_async().await;
    }
}

#[tokio::test]
async fn etag_conflict_retries_once_with_fresh_etag() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_header("ETag", "\"v1\"")
        .with_body(system("On", json!({})))
        .expect(1)
        .create_async()
        .await;
    s.mock("GET", SYS)
        .with_header("ETag", "\"v2\"")
        .with_body(system("On", json!({})))
        .create_async()
        .await;
    let stale = s
        .mock("PATCH", SYS)
        .match_header("If-Match", "\"v1\"")
        .with_status(412)
        .expect(1)
        .create_async()
        .await;
    let fresh = s
        .mock("PATCH", SYS)
        .match_header("If-Match", "\"v2\"")
        .match_body(Matcher::Json(
            json!({"Boot": {"BootSourceOverrideTarget": "Pxe",
            "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "UEFI"}}),
        ))
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    c.set_boot(&BootOverride {
        device: BootDevice::Pxe,
        persistent: false,
        mode: Some(BootMode::Uefi),
        http_boot_uri: None,
    })
    .await
    .unwrap();
    stale.assert_async().await;
    fresh.assert_async().await;
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_but_not_on_actions() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    let burst = s
        .mock("GET", SYS)
        .with_status(503)
        .expect(2)
        .create_async()
        .await;
    s.mock("GET", SYS)
        .with_body(system("Off", json!({})))
        .create_async()
        .await;
    let reset = s
        .mock(
            "POST",
            format!("{SYS}/Actions/ComputerSystem.Reset").as_str(),
        )
        .with_status(500)
        .with_body(r#"{"error":{"message":"controller busy"}}"#)
        .expect(1)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    burst.assert_async().await;
    let e = c.set_power(PowerAction::On).await.unwrap_err();
    assert!(e.to_string().contains("HTTP 500: controller busy"), "{e}");
    reset.assert_async().await;
    // With retries off the burst is the answer.
    let mut s2 = Server::new_async().await;
    base(&mut s2, false).await;
    s2.mock("GET", SYS).with_status(503).create_async().await;
    let e = connect(
        &s2,
        RedfishOptions {
            retries: 0,
            ..opts()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::Rejected, "{e}");
}

#[tokio::test]
async fn slow_answer_times_out() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_chunked_body(|w| {
            std::thread::sleep(Duration::from_secs(2));
            w.write_all(b"{}")
        })
        .create_async()
        .await;
    let o = RedfishOptions {
        request_timeout: Duration::from_millis(400),
        retries: 0,
        ..opts()
    };
    let e = connect(&s, o).await.unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::TimedOut, "{e}");
}

#[tokio::test]
async fn garbage_is_a_bad_response() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_body("<html>not json{")
        .create_async()
        .await;
    let e = connect(&s, opts()).await.unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::BadResponse, "{e}");

    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_body(system("Sideways", json!({"Boot": 7})))
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    assert_eq!(
        c.power_state().await.unwrap_err().kind(),
        BmcErrorKind::BadResponse
    );
    assert_eq!(
        c.boot_override().await.unwrap_err().kind(),
        BmcErrorKind::BadResponse
    );
}

#[tokio::test]
async fn accepted_but_ignored_reset_times_out() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_body(system("Off", json!({})))
        .create_async()
        .await;
    let reset = s
        .mock(
            "POST",
            format!("{SYS}/Actions/ComputerSystem.Reset").as_str(),
        )
        .match_body(Matcher::Json(json!({"ResetType": "On"})))
        .with_status(204)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    let e = c
        .set_power_and_wait(
            PowerAction::On,
            Duration::from_millis(800),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::TimedOut, "{e}");
    reset.assert_async().await;
    // ForceRestart is not advertised and has no fallback: refused, nothing sent.
    let e = c.set_power(PowerAction::ForceRestart).await.unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::NotSupported);
    assert!(
        e.to_string().contains("On, ForceOff, GracefulShutdown"),
        "{e}"
    );
}

#[tokio::test]
async fn insert_media_falls_back_to_minimal_payload_on_400() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_body(system("On", json!({})))
        .create_async()
        .await;
    let vm = format!("{SYS}/VirtualMedia");
    let slot = format!("{vm}/CD1");
    s.mock("GET", vm.as_str())
        .with_body(
            json!({"Members": [{"@odata.id": format!("{vm}/Floppy")}, {"@odata.id": slot}]})
                .to_string(),
        )
        .create_async()
        .await;
    s.mock("GET", format!("{vm}/Floppy").as_str())
        .with_body(json!({"MediaTypes": ["Floppy"]}).to_string())
        .create_async()
        .await;
    let insert = format!("{slot}/Actions/VirtualMedia.InsertMedia");
    let slot_body = |inserted: bool| {
        json!({"@odata.id": slot, "MediaTypes": ["CD", "DVD"], "Inserted": inserted,
               "Image": if inserted { "http://h/x.iso" } else { "" },
               "Actions": {"#VirtualMedia.InsertMedia": {"target": insert},
                           "#VirtualMedia.EjectMedia": {"target": format!("{slot}/Actions/VirtualMedia.EjectMedia")}}})
        .to_string()
    };
    s.mock("GET", slot.as_str())
        .with_body(slot_body(false))
        .expect(1)
        .create_async()
        .await;
    s.mock("GET", slot.as_str())
        .with_body(slot_body(true))
        .create_async()
        .await;
    let full = s
        .mock("POST", insert.as_str())
        .match_body(Matcher::PartialJson(json!({"Inserted": true, "WriteProtected": true})))
        .with_status(400)
        .with_body(r#"{"error":{"@Message.ExtendedInfo":[{"Message":"The property Inserted is not supported."}]}}"#)
        .expect(1)
        .create_async()
        .await;
    let minimal = s
        .mock("POST", insert.as_str())
        .match_body(Matcher::Json(json!({"Image": "http://h/x.iso"})))
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    let st = c.media_insert("http://h/x.iso").await.unwrap();
    assert!(st.inserted && st.slot == slot, "{st:?}");
    full.assert_async().await;
    minimal.assert_async().await;
}

#[tokio::test]
async fn simple_update_follows_the_task_monitor() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_body(system("On", json!({})))
        .create_async()
        .await;
    s.mock("GET", "/redfish/v1/UpdateService")
        .with_body(
            json!({"Actions": {"#UpdateService.SimpleUpdate": {
            "target": "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"}}})
            .to_string(),
        )
        .create_async()
        .await;
    s.mock(
        "POST",
        "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
    )
    .match_body(Matcher::Json(json!({"ImageURI": "http://h/fw.bin"})))
    .with_status(202)
    .with_header("Location", "/redfish/v1/TaskService/TaskMonitors/5")
    .create_async()
    .await;
    let running = s
        .mock("GET", "/redfish/v1/TaskService/TaskMonitors/5")
        .with_status(202)
        .with_body(r#"{"TaskState":"Running"}"#)
        .expect(2)
        .create_async()
        .await;
    s.mock("GET", "/redfish/v1/TaskService/TaskMonitors/5")
        .with_body(
            r#"{"TaskState":"Exception","Messages":[{"Message":"Image signature invalid."}]}"#,
        )
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    let e = c
        .simple_update(
            "http://h/fw.bin",
            Duration::from_secs(10),
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Image signature invalid."), "{e}");
    running.assert_async().await;
}

#[tokio::test]
async fn bios_settings_are_written_to_the_settings_object() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_body(system(
            "On",
            json!({"Bios": {"@odata.id": format!("{SYS}/Bios")}}),
        ))
        .create_async()
        .await;
    // Read once: the settings link it gives is remembered.
    let bios = s
        .mock("GET", format!("{SYS}/Bios").as_str())
        .with_body(
            json!({"Attributes": {"BootMode": "Uefi", "ProcVirtualization": "Disabled"},
            "@Redfish.Settings": {"SettingsObject": {"@odata.id": format!("{SYS}/Bios/Pending")}}})
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    // The settings object has no ETag here: no If-Match is sent.
    let patch = s
        .mock("PATCH", format!("{SYS}/Bios/Pending").as_str())
        .match_header("If-Match", Matcher::Missing)
        .match_body(Matcher::Json(
            json!({"Attributes": {"ProcVirtualization": "Enabled"}}),
        ))
        .with_status(202)
        .expect(1)
        .create_async()
        .await;
    s.mock("GET", format!("{SYS}/Bios/Pending").as_str())
        .with_body(json!({"Attributes": {"ProcVirtualization": "Enabled"}}).to_string())
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    assert_eq!(c.bios_attributes().await.unwrap()["BootMode"], "Uefi");
    let mut attrs = serde_json::Map::new();
    attrs.insert("ProcVirtualization".into(), "Enabled".into());
    c.set_bios_attributes(attrs).await.unwrap();
    patch.assert_async().await;
    assert_eq!(
        c.bios_pending().await.unwrap()["ProcVirtualization"],
        "Enabled"
    );
    bios.assert_async().await;
}

async fn bios_mocks(s: &mut ServerGuard) {
    base(s, false).await;
    s.mock("GET", SYS)
        .with_body(system(
            "On",
            json!({"Bios": {"@odata.id": format!("{SYS}/Bios")}}),
        ))
        .create_async()
        .await;
    s.mock("GET", format!("{SYS}/Bios").as_str())
        .with_body(
            json!({"Attributes": {"ProcVirtualization": "Disabled"},
            "@Redfish.Settings": {"SettingsObject": {"@odata.id": format!("{SYS}/Bios/Settings")}}})
            .to_string(),
        )
        .create_async()
        .await;
}

fn virtualization(value: &str) -> serde_json::Map<String, Value> {
    let mut attrs = serde_json::Map::new();
    attrs.insert("ProcVirtualization".into(), value.into());
    attrs
}

#[tokio::test]
async fn bios_settings_patch_sends_if_match_and_retries_once_on_412() {
    let mut s = Server::new_async().await;
    bios_mocks(&mut s).await;
    let settings = format!("{SYS}/Bios/Settings");
    // Someone else changes the pending settings between our read and write.
    s.mock("GET", settings.as_str())
        .with_header("ETag", "W/\"gen-1\"")
        .with_body(json!({"Attributes": {}}).to_string())
        .expect(1)
        .create_async()
        .await;
    s.mock("GET", settings.as_str())
        .with_body(json!({"@odata.etag": "W/\"gen-2\"", "Attributes": {"X": 1}}).to_string())
        .expect(1)
        .create_async()
        .await;
    let stale = s
        .mock("PATCH", settings.as_str())
        .match_header("If-Match", "W/\"gen-1\"")
        .with_status(412)
        .with_body(
            r#"{"error":{"@Message.ExtendedInfo":[{"Message":"The ETag does not match."}]}}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let fresh = s
        .mock("PATCH", settings.as_str())
        .match_header("If-Match", "W/\"gen-2\"")
        .match_body(Matcher::Json(
            json!({"Attributes": {"ProcVirtualization": "Enabled"}}),
        ))
        .with_status(202)
        .expect(1)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    c.set_bios_attributes(virtualization("Enabled"))
        .await
        .unwrap();
    stale.assert_async().await;
    fresh.assert_async().await;
}

#[tokio::test]
async fn bios_settings_patch_gives_up_after_a_second_412() {
    let mut s = Server::new_async().await;
    bios_mocks(&mut s).await;
    let settings = format!("{SYS}/Bios/Settings");
    s.mock("GET", settings.as_str())
        .with_header("ETag", "\"busy\"")
        .with_body(json!({"Attributes": {}}).to_string())
        .expect(2)
        .create_async()
        .await;
    let patch = s
        .mock("PATCH", settings.as_str())
        .match_header("If-Match", "\"busy\"")
        .with_status(412)
        .with_body(
            r#"{"error":{"@Message.ExtendedInfo":[{"Message":"The ETag does not match."}]}}"#,
        )
        .expect(2)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    let e = c
        .set_bios_attributes(virtualization("Enabled"))
        .await
        .unwrap_err();
    patch.assert_async().await;
    assert_eq!(e.kind(), BmcErrorKind::Rejected, "{e}");
    let m = e.to_string();
    assert!(
        m.contains("412") && m.contains("The ETag does not match.") && m.contains("BIOS"),
        "{m}"
    );
}

#[tokio::test]
async fn a_patch_answering_with_the_system_is_the_read_back() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    // Read at connect, then only by the second state query: the PATCH
    // answer serves as the boot read-back and as the first state query.
    let reads = s
        .mock("GET", SYS)
        .with_body(system("Off", json!({})))
        .expect(2)
        .create_async()
        .await;
    s.mock("PATCH", SYS)
        .with_status(200)
        .with_body(system(
            "Off",
            json!({"Boot": {"BootSourceOverrideTarget": "Cd",
                    "BootSourceOverrideEnabled": "Once"}}),
        ))
        .expect(1)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    c.set_boot(&BootOverride {
        device: BootDevice::Cd,
        persistent: false,
        mode: None,
        http_boot_uri: None,
    })
    .await
    .unwrap();
    assert_eq!(c.boot_override().await.unwrap().device, BootDevice::Cd);
    // A second query (a poll) reads the BMC again.
    assert_eq!(
        c.boot_override().await.unwrap().device,
        BootDevice::Pxe,
        "the mock's GET says Pxe"
    );
    reads.assert_async().await;
}

#[tokio::test]
async fn boot_then_power_on_reads_the_system_three_times() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    // Connect, then the boot read-back (which also gives the reset types
    // and action target for the power on), then the power read-back.
    let off = s
        .mock("GET", SYS)
        .with_body(system("Off", json!({})))
        .expect(2)
        .create_async()
        .await;
    let on = s
        .mock("GET", SYS)
        .with_body(system("On", json!({})))
        .expect(1)
        .create_async()
        .await;
    s.mock("PATCH", SYS)
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let reset = s
        .mock(
            "POST",
            format!("{SYS}/Actions/ComputerSystem.Reset").as_str(),
        )
        .match_body(Matcher::Json(json!({"ResetType": "On"})))
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    c.set_boot(&BootOverride {
        device: BootDevice::Pxe,
        persistent: false,
        mode: Some(BootMode::Uefi),
        http_boot_uri: None,
    })
    .await
    .unwrap();
    let now = c
        .set_power_and_wait(
            PowerAction::On,
            Duration::from_secs(5),
            Duration::from_millis(50),
        )
        .await
        .unwrap();
    assert_eq!(now, metal3_bmc::PowerState::On);
    off.assert_async().await;
    on.assert_async().await;
    reset.assert_async().await;
}

const BUDGET_PERMITS: usize = 2;

/// Every request holds a permit of the per-BMC budget: with two permits,
/// never more than two requests are in flight, however many callers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_bmc_budget_limits_parallel_requests() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (now2, max2) = (now.clone(), max.clone());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let (now, max) = (now2.clone(), max2.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 2048];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let inflight = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(inflight, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                let body = if buf.starts_with(b"GET /redfish/v1/ ") {
                    root(false)
                } else {
                    system("On", json!({}))
                };
                now.fetch_sub(1, Ordering::SeqCst);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    let addr = BmcAddress::parse(&format!("redfish+http://127.0.0.1:{port}{SYS}")).unwrap();
    let o = RedfishOptions {
        max_concurrent: BUDGET_PERMITS,
        ..opts()
    };
    let c = Arc::new(
        RedfishClient::connect(&addr, &Credentials::new("a", "b"), o)
            .await
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.power_state().await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(max.load(Ordering::SeqCst), BUDGET_PERMITS.min(8));
}

#[tokio::test]
async fn non_redfish_addresses_are_refused_before_any_request() {
    for a in ["ipmi://127.0.0.1:1", "127.0.0.1:1", "libvirt://127.0.0.1:1"] {
        let addr = BmcAddress::parse(a).unwrap();
        let e = RedfishClient::connect(&addr, &Credentials::new("a", "b"), opts())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), BmcErrorKind::InvalidRequest, "{a}: {e}");
    }
}

#[tokio::test]
async fn storage_failure_falls_back_to_simple_storage_and_refused_expand_to_plain() {
    let mut s = Server::new_async().await;
    let mut r: Value = serde_json::from_str(&root(false)).unwrap();
    r["ProtocolFeaturesSupported"] = json!({"ExpandQuery": {"NoLinks": true, "Levels": true}});
    s.mock("GET", "/redfish/v1/")
        .with_body(r.to_string())
        .create_async()
        .await;
    s.mock("GET", SYS)
        .with_body(system(
            "On",
            json!({"Storage": {"@odata.id": format!("{SYS}/Storage")},
                   "SimpleStorage": {"@odata.id": format!("{SYS}/SimpleStorage")},
                   "EthernetInterfaces": {"@odata.id": format!("{SYS}/EthernetInterfaces")}}),
        ))
        .create_async()
        .await;
    let storage = s
        .mock("GET", Matcher::Regex(format!("^{SYS}/Storage")))
        .with_status(500)
        .with_body(r#"{"error":{"message":"storage agent down"}}"#)
        // An optional part is retried once, not with the full budget of 3.
        .expect(2)
        .create_async()
        .await;
    // SimpleStorage refuses $expand although the root advertises it.
    s.mock("GET", Matcher::Regex(format!(r"^{SYS}/SimpleStorage\?")))
        .with_status(400)
        .create_async()
        .await;
    s.mock("GET", format!("{SYS}/SimpleStorage").as_str())
        .with_body(
            json!({"Members": [{"@odata.id": format!("{SYS}/SimpleStorage/1")}]}).to_string(),
        )
        .create_async()
        .await;
    s.mock("GET", format!("{SYS}/SimpleStorage/1").as_str())
        .with_body(
            json!({"Devices": [{"Name": "Disk 0", "CapacityBytes": 480103981056_i64,
            "Manufacturer": "ATA", "Model": "SSD 480"}]})
            .to_string(),
        )
        .create_async()
        .await;
    // Ethernet interfaces come expanded.
    s.mock(
        "GET",
        Matcher::Regex(format!(r"^{SYS}/EthernetInterfaces\?")),
    )
    .with_body(
        json!({"Members": [{"@odata.id": format!("{SYS}/EthernetInterfaces/1"), "Id": "1",
            "MACAddress": "AA:BB:CC:00:11:22", "SpeedMbps": 25000,
            "IPv4Addresses": [{"Address": "192.0.2.7"}]}]})
        .to_string(),
    )
    .create_async()
    .await;
    let c = connect(&s, opts()).await.unwrap();
    let inv = c.inventory().await.unwrap();
    storage.assert_async().await;
    let d = &inv.hardware.storage;
    assert_eq!(
        (d.len(), d[0].size_bytes, d[0].name.as_str()),
        (1, 480103981056, "Disk 0")
    );
    let n = &inv.hardware.nics[0];
    assert_eq!(
        (n.mac.as_str(), n.ip.as_str(), n.speed_gbps),
        ("aa:bb:cc:00:11:22", "192.0.2.7", 25)
    );
    let w = inv.warnings.join("\n");
    assert!(
        w.contains("used SimpleStorage instead") && w.contains("storage agent down"),
        "{w}"
    );
    assert!(w.contains("Processors") && w.contains("Memory"), "{w}");
}

#[tokio::test]
async fn credentials_in_the_address_never_reach_messages() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS).with_status(404).create_async().await;
    let addr = BmcAddress::parse(&format!(
        "redfish+http://admin:in-url-secret@{}{SYS}",
        s.host_with_port()
    ))
    .unwrap();
    let e = RedfishClient::connect(&addr, &Credentials::new("admin", PASSWORD), opts())
        .await
        .unwrap_err();
    let all = format!("{e} {e:?}");
    assert!(all.contains(&s.host_with_port()), "{all}");
    assert!(
        !all.contains("in-url-secret") && !all.contains(PASSWORD),
        "{all}"
    );
}

#[tokio::test]
async fn a_slot_gone_after_a_firmware_update_is_searched_again() {
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_body(system("On", json!({})))
        .create_async()
        .await;
    let vm = format!("{SYS}/VirtualMedia");
    let slot_body = |slot: &str| {
        json!({"@odata.id": slot, "MediaTypes": ["CD"], "Inserted": false, "Image": ""}).to_string()
    };
    let (old, new) = (format!("{vm}/CD1"), format!("{vm}/CD2"));
    // First search finds CD1; later the collection lists CD2 only.
    s.mock("GET", vm.as_str())
        .with_body(json!({"Members": [{"@odata.id": old}]}).to_string())
        .expect(1)
        .create_async()
        .await;
    s.mock("GET", vm.as_str())
        .with_body(json!({"Members": [{"@odata.id": new}]}).to_string())
        .expect(1)
        .create_async()
        .await;
    let old_slot = s
        .mock("GET", old.as_str())
        .with_body(slot_body(&old))
        .expect(2)
        .create_async()
        .await;
    s.mock("GET", old.as_str())
        .with_status(404)
        .expect(1)
        .create_async()
        .await;
    s.mock("GET", new.as_str())
        .with_body(slot_body(&new))
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    // Search (collection + CD1), then CD1 read directly.
    assert_eq!(c.media_status().await.unwrap().slot, old);
    assert_eq!(c.media_status().await.unwrap().slot, old);
    old_slot.assert_async().await;
    // CD1 answers 404: searched again, CD2 found and kept.
    assert_eq!(c.media_status().await.unwrap().slot, new);
    assert_eq!(c.media_status().await.unwrap().slot, new);
}

#[tokio::test]
async fn a_bmc_requiring_if_match_gets_it_on_the_retry() {
    let mut s = Server::new_async().await;
    bios_mocks(&mut s).await;
    let settings = format!("{SYS}/Bios/Settings");
    // No ETag on the first read; the BMC insists on one (428) and gives it
    // on the next read.
    s.mock("GET", settings.as_str())
        .with_body(json!({"Attributes": {}}).to_string())
        .expect(1)
        .create_async()
        .await;
    s.mock("GET", settings.as_str())
        .with_header("ETag", "\"t-7\"")
        .with_body(json!({"Attributes": {}}).to_string())
        .expect(1)
        .create_async()
        .await;
    let without = s
        .mock("PATCH", settings.as_str())
        .match_header("If-Match", Matcher::Missing)
        .with_status(428)
        .expect(1)
        .create_async()
        .await;
    let with = s
        .mock("PATCH", settings.as_str())
        .match_header("If-Match", "\"t-7\"")
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    c.set_bios_attributes(virtualization("Enabled"))
        .await
        .unwrap();
    without.assert_async().await;
    with.assert_async().await;
}

/// Virtual media mocks: one CD slot under the system, empty; the insert
/// answered with 204. Returns the insert mock.
async fn cd_slot_mocks(s: &mut ServerGuard, inserts: usize) -> mockito::Mock {
    let slot = format!("{SYS}/VirtualMedia/CD1");
    s.mock("GET", format!("{SYS}/VirtualMedia").as_str())
        .with_body(json!({"Members": [{"@odata.id": slot}]}).to_string())
        .expect(inserts)
        .create_async()
        .await;
    s.mock("GET", slot.as_str())
        .with_body(
            json!({"@odata.id": slot, "MediaTypes": ["CD", "DVD"], "Inserted": false,
                "Actions": {"#VirtualMedia.InsertMedia": {
                    "target": format!("{slot}/Actions/VirtualMedia.InsertMedia")}}})
            .to_string(),
        )
        .expect(inserts)
        .create_async()
        .await;
    s.mock(
        "POST",
        format!("{slot}/Actions/VirtualMedia.InsertMedia").as_str(),
    )
    .with_status(204)
    .expect(inserts)
    .create_async()
    .await
}

/// boot_from_media on a host that is on: a force restart, refused before
/// any change when the system does not advertise one; and a BMC that
/// accepts the CD override but keeps another is caught by the one read of
/// the system after the reset.
#[tokio::test]
async fn boot_from_media_checks_first_and_verifies_at_the_end() {
    let wait = Duration::from_secs(5);
    let every = Duration::from_millis(50);
    // No ForceRestart among the reset types: nothing is touched.
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_body(system("On", json!({})))
        .expect(1)
        .create_async()
        .await;
    let insert = cd_slot_mocks(&mut s, 0).await;
    let c = connect(&s, opts()).await.unwrap();
    let e = c
        .boot_from_media("http://images/x.iso", None, wait, every)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::NotSupported, "{e}");
    assert!(e.to_string().contains("ForceRestart"), "{e}");
    insert.assert_async().await;

    // ForceRestart advertised; the BMC takes the PATCH but keeps Pxe.
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    let actions = json!({"Actions": {"#ComputerSystem.Reset": {
        "target": format!("{SYS}/Actions/ComputerSystem.Reset"),
        "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart"]}}});
    let reads = s
        .mock("GET", SYS)
        .with_body(system("On", actions))
        .expect(2)
        .create_async()
        .await;
    let insert = cd_slot_mocks(&mut s, 1).await;
    let patch = s
        .mock("PATCH", SYS)
        .match_body(Matcher::PartialJson(json!({"Boot": {
            "BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}})))
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let reset = s
        .mock(
            "POST",
            format!("{SYS}/Actions/ComputerSystem.Reset").as_str(),
        )
        .match_body(Matcher::Json(json!({"ResetType": "ForceRestart"})))
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    let e = c
        .boot_from_media("http://images/x.iso", None, wait, every)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BmcErrorKind::BadResponse, "{e}");
    assert!(e.to_string().contains("reads back"), "{e}");
    for m in [reads, insert, patch, reset] {
        m.assert_async().await;
    }
}

/// A BMC that takes an insert into an occupied slot and keeps the image it
/// held (no peer does this; the Redfish schema leaves it open). Inserting
/// straight into a slot known from a discovery must catch it: `media_insert`
/// ejects and inserts again; `boot_from_media`, which learns it only after
/// the reset, fails and says the host may have booted the old image.
#[tokio::test]
async fn an_insert_the_bmc_silently_ignores_is_caught() {
    use metal3_bmc::redfish::discovery::CdSlot;
    let old = "http://h/old.iso";
    let new = "http://h/new.iso";
    let slot = format!("{SYS}/VirtualMedia/CD1");
    let insert = format!("{slot}/Actions/VirtualMedia.InsertMedia");
    let eject = format!("{slot}/Actions/VirtualMedia.EjectMedia");
    let slot_body = |image: &str| {
        json!({"@odata.id": slot, "MediaTypes": ["CD", "DVD"], "Inserted": !image.is_empty(),
               "Image": image,
               "Actions": {"#VirtualMedia.InsertMedia": {"target": insert},
                           "#VirtualMedia.EjectMedia": {"target": eject}}})
    };
    let known = discovery(
        "Off",
        Some(CdSlot {
            path: slot.clone(),
            slot: slot_body(""),
        }),
    );
    let with = RedfishOptions {
        discovery: Some(known),
        ..opts()
    };

    // media_insert: the read-back after the blind insert shows the old
    // image (and serves as the slot's state for the eject), the read-back
    // after the second insert the new one.
    let mut s = Server::new_async().await;
    s.mock("GET", slot.as_str())
        .with_body(slot_body(old).to_string())
        .expect(1)
        .create_async()
        .await;
    s.mock("GET", slot.as_str())
        .with_body(slot_body(new).to_string())
        .create_async()
        .await;
    let inserts = s
        .mock("POST", insert.as_str())
        .with_status(204)
        .expect(2)
        .create_async()
        .await;
    let ejects = s
        .mock("POST", eject.as_str())
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let c = connect(&s, with.clone()).await.unwrap();
    let st = c.media_insert(new).await.unwrap();
    assert_eq!(st.image.as_deref(), Some(new));
    inserts.assert_async().await;
    ejects.assert_async().await;

    // boot_from_media: off, then on with the CD override; the slot keeps
    // the old image.
    let mut s = Server::new_async().await;
    s.mock("GET", SYS)
        .with_body(system("Off", json!({})))
        .expect(1)
        .create_async()
        .await;
    s.mock("GET", SYS)
        .with_body(system(
            "On",
            json!({"Boot": {"BootSourceOverrideTarget": "Cd",
                            "BootSourceOverrideEnabled": "Once"}}),
        ))
        .create_async()
        .await;
    s.mock("GET", slot.as_str())
        .with_body(slot_body(old).to_string())
        .create_async()
        .await;
    for (m, p) in [
        ("POST", insert.as_str()),
        ("PATCH", SYS),
        ("POST", &format!("{SYS}/Actions/ComputerSystem.Reset")),
    ] {
        s.mock(m, p).with_status(204).create_async().await;
    }
    let c = connect(&s, with).await.unwrap();
    let e = c
        .boot_from_media(new, None, Duration::from_secs(5), Duration::from_millis(10))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains(old) && text.contains(new), "{text}");
    assert!(text.contains("may have booted"), "{text}");
}

/// Links from the BMC that lead to another host (an action target, a
/// session service, a redirect, a path written to read as a host) get no
/// request there: it would carry the password or the session token.
#[tokio::test]
async fn nothing_is_sent_to_another_host() {
    let mut other = Server::new_async().await;
    let stolen = other
        .mock("POST", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let stolen_get = other
        .mock("GET", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let elsewhere = format!("http://{}/steal", other.host_with_port());

    // An action target on another host.
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    let target = json!({"Actions": {"#ComputerSystem.Reset": {"target": elsewhere,
        "ResetType@Redfish.AllowableValues": ["On", "ForceOff"]}}});
    s.mock("GET", SYS)
        .with_body(system("Off", target))
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    let e = c.set_power(PowerAction::On).await.unwrap_err();
    assert!(e.to_string().contains("another host"), "{e}");
    assert!(e.to_string().contains(&other.host_with_port()), "{e}");

    // A target written to read as a host after the base URL (`@host/...`)
    // stays a path on the BMC.
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    let sneaky = format!("@{}/steal", other.host_with_port());
    let target = json!({"Actions": {"#ComputerSystem.Reset": {"target": sneaky,
        "ResetType@Redfish.AllowableValues": ["On", "ForceOff"]}}});
    s.mock("GET", SYS)
        .with_body(system("Off", target))
        .create_async()
        .await;
    let on_bmc = s
        .mock("POST", format!("/{sneaky}").as_str())
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let c = connect(&s, opts()).await.unwrap();
    c.set_power(PowerAction::On).await.unwrap();
    on_bmc.assert_async().await;

    // A session service on another host: the password is not posted there.
    let mut s = Server::new_async().await;
    let mut r: Value = serde_json::from_str(&root(false)).unwrap();
    r["Links"] = json!({"Sessions": {"@odata.id": format!("{elsewhere}/Sessions")}});
    s.mock("GET", "/redfish/v1/")
        .with_body(r.to_string())
        .create_async()
        .await;
    let session = RedfishOptions {
        auth: RedfishAuth::Session,
        ..opts()
    };
    let e = connect(&s, session).await.unwrap_err();
    assert!(e.to_string().contains("another host"), "{e}");
    assert!(!e.to_string().contains(PASSWORD), "{e}");

    // A redirect to another host is not followed.
    let mut s = Server::new_async().await;
    base(&mut s, false).await;
    s.mock("GET", SYS)
        .with_status(302)
        .with_header("Location", &format!("{elsewhere}/Systems/1"))
        .create_async()
        .await;
    let e = connect(&s, opts()).await.unwrap_err();
    assert!(e.to_string().contains("302"), "{e}");

    stolen.assert_async().await;
    stolen_get.assert_async().await;
}

/// A boot override PATCHed without a read (no ETag known, target allowed
/// by the copy at hand) that the BMC refuses with 400 — its allowed
/// targets changed since that copy — goes the long way: a fresh read, the
/// PATCH again, the read-back.
#[tokio::test]
async fn an_untagged_patch_refused_is_retried_after_a_fresh_read() {
    let mut s = Server::new_async().await;
    let reads = s
        .mock("GET", SYS)
        .with_body(system("Off", json!({})))
        .expect(2)
        .create_async()
        .await;
    let refused = s
        .mock("PATCH", SYS)
        .with_status(400)
        .with_body(
            r#"{"error":{"@Message.ExtendedInfo":[{"Message":"Not allowed in this mode."}]}}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let taken = s
        .mock("PATCH", SYS)
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    let known = discovery("On", None);
    let c = connect(
        &s,
        RedfishOptions {
            discovery: Some(known),
            ..opts()
        },
    )
    .await
    .unwrap();
    c.set_boot(&BootOverride {
        device: BootDevice::Pxe,
        persistent: false,
        mode: Some(BootMode::Uefi),
        http_boot_uri: None,
    })
    .await
    .unwrap();
    refused.assert_async().await;
    taken.assert_async().await;
    reads.assert_async().await;
}
