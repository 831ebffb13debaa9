//! The Ironic client and mappings against a REAL OpenStack Ironic standalone
//! (and a sushy-tools Redfish emulator), all on loopback. Needs the peers
//! venv from `scripts/setup-peers.sh`; fails with instructions without it.

// Test harness code: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/ironic_peer.rs"]
mod ironic_peer;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ironic_peer::{Ironic, Sushy, SUSHY_SYSTEM};
use metal3_bmc::address::BmcAddress;
use metal3_bmc::Credentials;
use metal3_hostmodel::{BootMode, Image, RootDeviceHints};
use metal3_provisioning::ironic::client::{patch_add, Auth, Node, PowerTarget, ProvisionTarget};
use metal3_provisioning::ironic::mapping::{
    config_drive, deploy_plan, node_create, node_name, ConfigDriveHost, DeployTarget, NodeHostInfo,
};
use metal3_provisioning::ironic::{IronicClient, IronicConfig, Microversion};
use serde_json::json;

/// One Ironic for the whole test binary: starting it costs 10–20 s. The
/// watchdog kills it when the binary exits (statics are never dropped).
fn ironic() -> &'static Ironic {
    static IRONIC: OnceLock<Ironic> = OnceLock::new();
    IRONIC.get_or_init(Ironic::start)
}

async fn client() -> IronicClient {
    let mut cfg = IronicConfig::new(format!("{}/v1/", ironic().url()));
    cfg.conflict_delay = Duration::from_millis(500);
    IronicClient::connect(&cfg)
        .await
        .expect("connect to Ironic")
}

/// Polls the node until `done` holds; fails with the node's last state and error.
async fn wait_for(c: &IronicClient, id: &str, what: &str, done: impl Fn(&Node) -> bool) -> Node {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let n = c.get_node(id).await.expect("get node");
        if done(&n) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} never reached {what}: provision_state={} target={:?} power={:?} last_error={:?}",
            n.provision_state,
            n.target_provision_state,
            n.power_state,
            n.last_error
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn wait_state(c: &IronicClient, id: &str, state: &str) -> Node {
    wait_for(c, id, state, |n| {
        n.provision_state == state && n.target_provision_state.is_none()
    })
    .await
}

#[tokio::test]
async fn negotiates_newest_supported_microversion() {
    let c = client().await;
    // Ironic 39 serves up to 1.115, so the newest optional feature wins.
    assert_eq!(c.microversion(), Microversion(1, 110));
    assert_eq!(c.endpoint(), ironic().url());
}

fn fake_node(name: &str) -> serde_json::Value {
    json!({
        "name": name,
        "driver": "fake-hardware",
        "boot_interface": "fake",
        "deploy_interface": "fake",
        "inspect_interface": "fake",
        "management_interface": "fake",
        "power_interface": "fake",
        "raid_interface": "fake",
        "bios_interface": "fake",
        "vendor_interface": "fake",
        "firmware_interface": "fake",
        "properties": {"capabilities": "boot_mode:uefi", "cpu_arch": "x86_64"},
    })
}

#[tokio::test]
async fn fake_hardware_node_full_lifecycle() {
    let c = client().await;
    let name = node_name("lifecycle", "host-0");
    let created = c.create_node(&fake_node(&name)).await.expect("create node");
    assert_eq!(created.provision_state, "enroll");
    let id = created.uuid.clone();
    assert_eq!(c.get_node(&name).await.expect("by name").uuid, id);

    c.set_provision_state(&id, &ProvisionTarget::Manage)
        .await
        .expect("manage");
    wait_state(&c, &id, "manageable").await;
    c.set_provision_state(&id, &ProvisionTarget::Provide)
        .await
        .expect("provide");
    wait_state(&c, &id, "available").await;

    let image = Image {
        url: "http://127.0.0.1:9/os.qcow2".into(),
        checksum: Some("6a1f2b".into()),
        checksum_type: Some("sha256".into()),
        disk_format: Some("qcow2".into()),
        oci_auth_secret_name: None,
    };
    let hints = RootDeviceHints {
        device_name: Some("/dev/vda".into()),
        ..RootDeviceHints::default()
    };
    let plan = deploy_plan(
        DeployTarget::Image(&image),
        Some(BootMode::Uefi),
        Some(&hints),
    );
    let mut ops = plan.patch(created.deploy_interface.as_deref());
    ops.push(patch_add(
        "/instance_uuid",
        "0b5e7c0e-8d2c-4f43-9d5f-1c2a3b4c5d6e",
    ));
    let patched = c.update_node(&id, &ops).await.expect("patch instance_info");
    assert_eq!(patched.instance_info["image_source"], json!(image.url));
    assert_eq!(patched.instance_info["image_os_hash_algo"], json!("sha256"));
    assert_eq!(
        patched.instance_info["root_device"],
        json!({"name": "s== /dev/vda"})
    );

    let validation = c.validate(&id).await.expect("validate");
    for iface in ["boot", "deploy", "power", "management"] {
        assert_eq!(
            validation.get(iface).and_then(|v| v.result),
            Some(true),
            "{iface}: {:?}",
            validation.get(iface)
        );
    }

    let drive = config_drive(
        &ConfigDriveHost {
            uid: "0b5e7c0e-8d2c-4f43-9d5f-1c2a3b4c5d6e",
            namespace: "lifecycle",
            name: "host-0",
        },
        Some("#cloud-config\n"),
        Some(json!({"links": [], "networks": [], "services": []})),
        None,
    );
    c.set_provision_state(
        &id,
        &ProvisionTarget::Active {
            configdrive: Some(drive),
            deploy_steps: vec![],
        },
    )
    .await
    .expect("deploy");
    let active = wait_state(&c, &id, "active").await;
    assert_eq!(active.last_error, None);
    assert_eq!(
        active.instance_uuid.as_deref(),
        Some("0b5e7c0e-8d2c-4f43-9d5f-1c2a3b4c5d6e")
    );

    // Maintenance round trip on the provisioned node.
    c.set_maintenance(&id, "metal3-rs test")
        .await
        .expect("maintenance on");
    let n = c.get_node(&id).await.expect("get");
    assert!(n.maintenance);
    assert_eq!(n.maintenance_reason.as_deref(), Some("metal3-rs test"));
    c.unset_maintenance(&id).await.expect("maintenance off");
    assert!(!c.get_node(&id).await.expect("get").maintenance);

    c.set_provision_state(&id, &ProvisionTarget::Deleted)
        .await
        .expect("undeploy");
    wait_state(&c, &id, "available").await;

    c.update_node(
        &id,
        &[serde_json::json!({"op": "remove", "path": "/instance_uuid"})],
    )
    .await
    .expect("clear instance_uuid");
    c.delete_node(&id).await.expect("delete node");
    assert!(c.find_node(&id).await.expect("find").is_none());
}

#[tokio::test]
async fn ports_are_found_by_mac() {
    let c = client().await;
    let node = c
        .create_node(&fake_node(&node_name("ports", "host-0")))
        .await
        .expect("create node");
    let mac = "52:54:00:aa:bb:01";
    let port = c
        .create_port(&node.uuid, mac, true)
        .await
        .expect("create port");
    assert_eq!(port.node_uuid, node.uuid);
    let found = c.list_ports_by_address(mac).await.expect("list ports");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].uuid, port.uuid);
    assert_eq!(found[0].node_uuid, node.uuid);
    assert_eq!(found[0].pxe_enabled, Some(true));
    assert!(c
        .list_ports_by_address("52:54:00:aa:bb:99")
        .await
        .expect("list ports")
        .is_empty());

    // A MAC can belong to one port only: Ironic answers 409, message unwrapped.
    let err = c.create_port(&node.uuid, mac, false).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("POST /v1/ports") && msg.contains("HTTP 409") && msg.contains(mac),
        "{msg}"
    );
    assert!(!msg.contains("faultstring"), "{msg}");
}

#[tokio::test]
async fn api_errors_carry_ironics_message() {
    let c = client().await;
    let err = c.get_node("no-such~node").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("GET /v1/nodes/no-such~node")
            && msg.contains("HTTP 404")
            && msg.contains("could not be found"),
        "{msg}"
    );
    assert!(!msg.contains("faultstring"), "{msg}");

    let name = node_name("errors", "dup");
    c.create_node(&fake_node(&name)).await.expect("create node");
    let err = c.create_node(&fake_node(&name)).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");

    // A transition the state machine refuses is a 400 with Ironic's reason.
    let err = c
        .set_provision_state(&name, &ProvisionTarget::Provide)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("enroll"), "{err}");
}

#[tokio::test]
async fn redfish_node_manages_and_powers_a_sushy_system() {
    let sushy = Sushy::start();
    assert_eq!(sushy.power_state(), "Off");
    let c = client().await;
    let addr = BmcAddress::parse(&format!(
        "redfish+http://127.0.0.1:{}/redfish/v1/Systems/{SUSHY_SYSTEM}",
        sushy.port
    ))
    .expect("parse BMC address");
    let host = NodeHostInfo {
        namespace: "redfish".into(),
        name: "host-0".into(),
        boot_mode: Some(BootMode::Uefi),
        cpu_arch: Some("x86_64".into()),
        ..NodeHostInfo::default()
    };
    let body = node_create(&addr, &Credentials::new("admin", "password"), &host);
    let node = c.create_node(&body).await.expect("create redfish node");
    assert_eq!(node.driver, "redfish");
    assert_eq!(node.name.as_deref(), Some("redfish~host-0"));
    assert_eq!(node.boot_interface.as_deref(), Some("ipxe"));
    assert_eq!(node.inspect_interface.as_deref(), Some("agent"));
    assert_eq!(
        node.driver_info.0["redfish_system_id"],
        json!(format!("/redfish/v1/Systems/{SUSHY_SYSTEM}"))
    );
    // Ironic masks the password it stores.
    assert_ne!(node.driver_info.0["redfish_password"], json!("password"));

    // manage makes Ironic verify BMC access for real over Redfish.
    c.set_provision_state(&node.uuid, &ProvisionTarget::Manage)
        .await
        .expect("manage");
    let managed = wait_state(&c, &node.uuid, "manageable").await;
    assert_eq!(managed.power_state.as_deref(), Some("power off"));

    c.set_power_state(&node.uuid, PowerTarget::On, None)
        .await
        .expect("power on");
    wait_for(&c, &node.uuid, "power on", |n| {
        n.power_state.as_deref() == Some("power on") && n.target_power_state.is_none()
    })
    .await;
    assert_eq!(sushy.power_state(), "On", "sushy's own view of the system");

    c.set_power_state(&node.uuid, PowerTarget::Off, None)
        .await
        .expect("power off");
    wait_for(&c, &node.uuid, "power off", |n| {
        n.power_state.as_deref() == Some("power off") && n.target_power_state.is_none()
    })
    .await;
    assert_eq!(sushy.power_state(), "Off");

    c.delete_node(&node.uuid).await.expect("delete node");
}

#[tokio::test]
async fn bios_and_inventory_subresources() {
    let c = client().await;
    let node = c
        .create_node(&fake_node(&node_name("subres", "host-0")))
        .await
        .expect("create node");
    // The fake BIOS interface stores no settings until they are cached.
    let bios = c.bios_settings(&node.uuid, false).await.expect("bios");
    assert!(bios.is_empty(), "{bios:?}");
    // Never inspected: Ironic has no inventory and says so.
    let err = c.inventory(&node.uuid).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("GET /v1/nodes/{}/inventory", node.uuid)),
        "{err}"
    );
    c.delete_node(&node.uuid).await.expect("delete node");
}

#[tokio::test]
async fn http_basic_auth_from_metal3_auth_root_dir() {
    let secured = Ironic::start_with_basic_auth("metal3", "ir0nic-pw");
    let auth_root = ironic_peer::scratch("auth");
    std::fs::create_dir_all(auth_root.join("ironic")).expect("mkdir");
    std::fs::write(auth_root.join("ironic/username"), "metal3\n").expect("write");
    std::fs::write(auth_root.join("ironic/password"), "ir0nic-pw\n").expect("write");

    let mut cfg = IronicConfig::new(secured.url());
    cfg.auth = Auth::from_dir(&auth_root).expect("read auth dir");
    let c = IronicClient::connect(&cfg).await.expect("connect");
    c.list_nodes(&["uuid", "name"])
        .await
        .expect("authorised list");

    cfg.auth = Auth::HttpBasic {
        username: "metal3".into(),
        password: "wrong-pw".into(),
    };
    let err = IronicClient::connect(&cfg)
        .await
        .expect("GET / is public")
        .list_nodes(&[])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(!err.to_string().contains("wrong-pw"), "{err}");

    cfg.auth = Auth::NoAuth;
    let err = IronicClient::connect(&cfg)
        .await
        .expect("connect")
        .list_nodes(&[])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    std::fs::remove_dir_all(&auth_root).expect("cleanup");
}

#[tokio::test]
async fn tls_with_ca_file_client_identity_and_insecure() {
    let pki_dir = ironic_peer::scratch("pki");
    let pki = ironic_peer::Pki::generate(&pki_dir);
    let secured = Ironic::start_with_tls(&pki);
    let url = format!("https://127.0.0.1:{}", secured.port);

    let mut cfg = IronicConfig::new(&url);
    cfg.ca_file = Some(pki.ca.clone());
    cfg.client_cert_file = Some(pki.client_cert.clone());
    cfg.client_key_file = Some(pki.client_key.clone());
    // The port opens before the API serves; probe with the real TLS client.
    let deadline = Instant::now() + Duration::from_secs(90);
    let c = loop {
        match IronicClient::connect(&cfg).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "Ironic over TLS never answered: {e}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert_eq!(c.microversion(), Microversion(1, 110));
    c.list_nodes(&["uuid"]).await.expect("list over TLS");

    // Without our CA the server certificate is not trusted.
    let mut untrusted = cfg.clone();
    untrusted.ca_file = None;
    let err = IronicClient::connect(&untrusted).await.unwrap_err();
    assert!(
        matches!(
            err,
            metal3_provisioning::ironic::IronicError::Transport { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&url), "{err}");

    // Insecure skips server verification (the client identity is still presented;
    // this Ironic does not demand one, so enforcement is not tested here).
    let mut insecure = untrusted.clone();
    insecure.insecure = true;
    IronicClient::connect(&insecure)
        .await
        .expect("insecure with client cert");
    // Half an identity is a configuration error, caught before connecting.
    let mut half = cfg.clone();
    half.client_key_file = None;
    let err = IronicClient::connect(&half).await.unwrap_err();
    assert!(err.to_string().contains("must be set together"), "{err}");
    drop(secured);
    std::fs::remove_dir_all(&pki_dir).expect("cleanup");
}
