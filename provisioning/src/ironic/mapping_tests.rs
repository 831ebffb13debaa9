use super::*;
use serde_json::json;

fn addr(a: &str) -> BmcAddress {
    match BmcAddress::parse(a) {
        Ok(x) => x,
        Err(e) => panic!("{a}: {e}"),
    }
}

fn creds() -> Credentials {
    Credentials::new("admin", "s3cret")
}

fn di(a: &str, insecure: bool) -> Value {
    serde_json::to_value(driver_info(
        &addr(a),
        &creds(),
        insecure,
        &DeployImages::default(),
    ))
    .unwrap_or(Value::Null)
}

#[test]
fn node_name_joins_with_tilde() {
    assert_eq!(node_name("ns", "host-0"), "ns~host-0");
}

#[test]
fn ipmi_driver_info_defaults_port_and_privilege() {
    assert_eq!(
        di("ipmi://10.0.0.1", false),
        json!({"ipmi_address": "10.0.0.1", "ipmi_port": "623", "ipmi_username": "admin",
               "ipmi_password": "s3cret", "ipmi_priv_level": "ADMINISTRATOR"})
    );
    assert_eq!(
        di("ipmi://[fe80::1]:6230?privilegelevel=OPERATOR", true),
        json!({"ipmi_address": "fe80::1", "ipmi_port": "6230", "ipmi_username": "admin",
               "ipmi_password": "s3cret", "ipmi_priv_level": "OPERATOR", "ipmi_verify_ca": false})
    );
}

#[test]
fn redfish_system_id_only_when_path_names_a_system() {
    assert_eq!(
        di("redfish+http://h:8000/redfish/v1/Systems/1", false),
        json!({"redfish_address": "http://h:8000", "redfish_username": "admin",
               "redfish_password": "s3cret", "redfish_system_id": "/redfish/v1/Systems/1"})
    );
    assert_eq!(
        di("redfish://h/redfish/v1/", true),
        json!({"redfish_address": "https://h", "redfish_username": "admin",
               "redfish_password": "s3cret", "redfish_verify_ca": false})
    );
    assert_eq!(
        di("redfish-uefihttp://h", false),
        json!({"redfish_address": "https://h", "redfish_username": "admin",
               "redfish_password": "s3cret", "redfish_system_id": ""})
    );
}

#[test]
fn legacy_ilo_and_irmc_driver_info() {
    assert_eq!(
        di("ilo4://h:8443", true),
        json!({"ilo_address": "h", "ilo_username": "admin", "ilo_password": "s3cret",
               "client_port": "8443", "ilo_verify_ca": false})
    );
    assert_eq!(
        di("irmc://h", false),
        json!({"irmc_address": "h", "irmc_username": "admin", "irmc_password": "s3cret",
               "ipmi_address": "h", "ipmi_username": "admin", "ipmi_password": "s3cret"})
    );
}

#[test]
fn deploy_iso_only_for_virtual_media_drivers() {
    let deploy = DeployImages {
        kernel: Some("http://i/k".into()),
        ramdisk: Some("http://i/r".into()),
        iso: Some("http://i/iso".into()),
    };
    let pxe = driver_info(
        &addr("redfish://h/redfish/v1/Systems/1"),
        &creds(),
        false,
        &deploy,
    );
    assert_eq!(pxe.0.get("deploy_kernel"), Some(&json!("http://i/k")));
    assert_eq!(pxe.0.get("deploy_ramdisk"), Some(&json!("http://i/r")));
    assert_eq!(pxe.0.get("deploy_iso"), None);
    let vm = driver_info(
        &addr("redfish-virtualmedia://h/redfish/v1/Systems/1"),
        &creds(),
        false,
        &deploy,
    );
    assert_eq!(vm.0.get("deploy_iso"), Some(&json!("http://i/iso")));
}

#[test]
fn driver_info_debug_hides_password() {
    let d = driver_info(&addr("ipmi://h"), &creds(), false, &DeployImages::default());
    let dbg = format!("{d:?}");
    assert!(!dbg.contains("s3cret"), "{dbg}");
    assert!(dbg.contains("ipmi_password"), "{dbg}");
    let body = node_create(&addr("ipmi://h"), &creds(), &NodeHostInfo::default());
    assert!(!format!("{body:?}").contains("s3cret"));
}

#[test]
fn node_create_idrac_virtualmedia_secure_boot_fast_inspection() {
    let host = NodeHostInfo {
        namespace: "ns".into(),
        name: "h0".into(),
        boot_mode: Some(BootMode::UefiSecureBoot),
        cpu_arch: Some("x86_64".into()),
        disable_power_off: true,
        fast_inspection: true,
        live_iso: true,
        ..NodeHostInfo::default()
    };
    let body = node_create(
        &addr("idrac-virtualmedia://h/redfish/v1/Systems/System.Embedded.1"),
        &creds(),
        &host,
    );
    assert_eq!(
        serde_json::to_value(&body).unwrap_or(Value::Null),
        json!({
            "name": "ns~h0", "driver": "idrac",
            "driver_info": {"redfish_address": "https://h", "redfish_username": "admin",
                "redfish_password": "s3cret",
                "redfish_system_id": "/redfish/v1/Systems/System.Embedded.1"},
            "boot_interface": "idrac-redfish-virtual-media",
            "bios_interface": "idrac-redfish", "management_interface": "idrac-redfish",
            "power_interface": "idrac-redfish", "raid_interface": "idrac-redfish",
            "vendor_interface": "idrac-redfish", "firmware_interface": "redfish",
            "inspect_interface": "redfish", "deploy_interface": "ramdisk",
            "properties": {"capabilities": "boot_mode:uefi,secure_boot:true", "cpu_arch": "x86_64"},
            "disable_power_off": true,
        })
    );
}

#[test]
fn node_create_ipmi_legacy_boot_agent_inspection() {
    let host = NodeHostInfo {
        namespace: "ns".into(),
        name: "h1".into(),
        boot_mode: Some(BootMode::Legacy),
        fast_inspection: true, // ipmi has no OOB inspection: stays agent
        custom_deploy: true,
        ..NodeHostInfo::default()
    };
    let v = serde_json::to_value(node_create(&addr("10.0.0.5:6230"), &creds(), &host))
        .unwrap_or(Value::Null);
    assert_eq!(
        v,
        json!({
            "name": "ns~h1", "driver": "ipmi",
            "driver_info": {"ipmi_address": "10.0.0.5", "ipmi_port": "6230",
                "ipmi_username": "admin", "ipmi_password": "s3cret",
                "ipmi_priv_level": "ADMINISTRATOR"},
            "boot_interface": "ipxe", "raid_interface": "no-raid",
            "inspect_interface": "agent", "deploy_interface": "custom-agent",
            "properties": {"capabilities": "boot_mode:bios"},
        })
    );
}

#[test]
fn root_device_hints_use_ironic_operators() {
    let h = RootDeviceHints {
        device_name: Some("/dev/disk/by-path/pci-0000:00:1f.2-ata-1".into()),
        hctl: Some("0:0:0:0".into()),
        model: Some("Samsung".into()),
        vendor: Some("ATA".into()),
        serial_number: Some("S1".into()),
        min_size_gigabytes: Some(100),
        wwn: Some("0x1".into()),
        wwn_with_extension: Some("0x1x2".into()),
        wwn_vendor_extension: Some("0x2".into()),
        rotational: Some(false),
    };
    assert_eq!(
        Value::Object(root_device_hints(&h)),
        json!({"by_path": "s== /dev/disk/by-path/pci-0000:00:1f.2-ata-1", "hctl": "s== 0:0:0:0",
               "model": "<in> Samsung", "vendor": "<in> ATA", "serial": "s== S1",
               "size": ">= 100", "wwn": "s== 0x1", "wwn_with_extension": "s== 0x1x2",
               "wwn_vendor_extension": "s== 0x2", "rotational": "false"})
    );
    let plain = RootDeviceHints {
        device_name: Some("/dev/sda".into()),
        min_size_gigabytes: Some(0),
        ..RootDeviceHints::default()
    };
    assert_eq!(
        Value::Object(root_device_hints(&plain)),
        json!({"name": "s== /dev/sda"})
    );
}

fn image(url: &str, sum: Option<&str>, ty: Option<&str>, fmt: Option<&str>) -> Image {
    Image {
        url: url.into(),
        checksum: sum.map(Into::into),
        checksum_type: ty.map(Into::into),
        disk_format: fmt.map(Into::into),
        oci_auth_secret_name: None,
    }
}

#[test]
fn deploy_plan_for_image_with_untyped_and_typed_checksums() {
    let hints = RootDeviceHints {
        device_name: Some("/dev/vda".into()),
        ..RootDeviceHints::default()
    };
    let img = image(
        "http://i/os.qcow2",
        Some("abc"),
        Some("auto"),
        Some("qcow2"),
    );
    let plan = deploy_plan(
        DeployTarget::Image(&img),
        Some(BootMode::UefiSecureBoot),
        Some(&hints),
    );
    assert_eq!(
        Value::Object(plan.instance_info.clone()),
        json!({"capabilities": {"secure_boot": "true"}, "root_device": {"name": "s== /dev/vda"},
               "image_source": "http://i/os.qcow2", "image_disk_format": "qcow2",
               "image_checksum": "abc"})
    );
    assert_eq!(plan.deploy_interface, None);
    assert!(plan.deploy_steps.is_empty());
    // A node left in ramdisk deploy by a previous live-iso gets reset.
    assert_eq!(
        plan.patch(Some("ramdisk"))[1],
        json!({"op": "remove", "path": "/deploy_interface"})
    );
    assert_eq!(plan.patch(Some("direct")).len(), 1);

    let typed = image("http://i/os.raw", Some("ff"), Some("sha256"), None);
    let plan = deploy_plan(DeployTarget::Image(&typed), None, None);
    assert_eq!(
        Value::Object(plan.instance_info),
        json!({"image_source": "http://i/os.raw", "image_os_hash_algo": "sha256",
               "image_os_hash_value": "ff"})
    );
}

#[test]
fn deploy_plan_for_live_iso_and_custom_deploy() {
    let iso = image("http://i/live.iso", None, None, Some("live-iso"));
    let plan = deploy_plan(DeployTarget::Image(&iso), None, None);
    assert_eq!(
        Value::Object(plan.instance_info.clone()),
        json!({"boot_iso": "http://i/live.iso"})
    );
    assert_eq!(
        plan.patch(None),
        vec![
            json!({"op": "add", "path": "/instance_info", "value": {"boot_iso": "http://i/live.iso"}}),
            json!({"op": "add", "path": "/deploy_interface", "value": "ramdisk"}),
        ]
    );
    let plan = deploy_plan(
        DeployTarget::Custom {
            method: "install_coreos",
            image: None,
        },
        None,
        None,
    );
    assert_eq!(plan.deploy_interface, Some("custom-agent"));
    assert_eq!(
        plan.deploy_steps,
        vec![json!({"interface": "deploy", "step": "install_coreos", "args": {}, "priority": 80})]
    );
    assert!(plan.instance_info.is_empty());
    assert_eq!(plan.patch(Some("custom-agent")).len(), 1);
}

#[test]
fn config_drive_defaults_overlaid_by_user_meta_data() {
    let host = ConfigDriveHost {
        uid: "u-1",
        namespace: "ns",
        name: "h0",
    };
    let mut user_meta = Map::new();
    user_meta.insert("local-hostname".into(), json!("custom"));
    user_meta.insert("extra".into(), json!(1));
    let drive = config_drive(
        &host,
        Some("#cloud-config\n"),
        Some(json!({"links": []})),
        Some(&user_meta),
    );
    assert_eq!(
        drive,
        json!({
            "user_data": "#cloud-config\n",
            "network_data": {"links": []},
            "meta_data": {"uuid": "u-1", "metal3-namespace": "ns", "metal3-name": "h0",
                "local-hostname": "custom", "local_hostname": "h0", "name": "h0", "extra": 1},
        })
    );
    assert_eq!(
        config_drive(&host, None, None, None),
        json!({"meta_data": {"uuid": "u-1", "metal3-namespace": "ns", "metal3-name": "h0",
            "local-hostname": "h0", "local_hostname": "h0", "name": "h0"}})
    );
}

#[test]
fn inventory_maps_to_hardware_details() {
    let body = json!({"inventory": {
        "system_vendor": {"manufacturer": "Dell", "product_name": "R640", "serial_number": "SN1",
            "firmware": {"vendor": "Dell", "version": "2.1", "build_date": "01/01/2024"}},
        "memory": {"total": 1, "physical_mb": 65536},
        "cpu": {"model_name": "Xeon", "frequency": "2399.9990", "count": 32,
            "architecture": "x86_64", "flags": ["vmx", "aes", "sse"]},
        "boot": {"current_boot_mode": "uefi", "pxe_interface": "AA:BB:CC:DD:EE:01"},
        "interfaces": [
            {"name": "eth0", "mac_address": "aa:bb:cc:dd:ee:01", "ipv4_address": "10.0.0.2",
             "ipv6_address": "fd00::2", "vendor": "0x8086", "product": "0x1572",
             "speed_mbps": 25000},
            {"name": "eth1", "mac_address": "aa:bb:cc:dd:ee:02"}
        ],
        "disks": [
            {"name": "/dev/sda", "rotational": true, "size": 1000, "by_path": "/dev/disk/by-path/p1",
             "model": "M", "vendor": "V", "serial": "S", "wwn": "W", "hctl": "0:0:0:0"},
            {"name": "/dev/nvme0n1", "rotational": false, "size": 2000},
            {"name": "/dev/sdb", "rotational": false, "size": 3000}
        ],
        "hostname": "node-0"
    }});
    let hw = serde_json::to_value(hardware_details(&body)).unwrap_or(Value::Null);
    assert_eq!(
        hw,
        json!({
            "systemVendor": {"manufacturer": "Dell", "productName": "R640", "serialNumber": "SN1"},
            "firmware": {"bios": {"date": "01/01/2024", "vendor": "Dell", "version": "2.1"}},
            "ramMebibytes": 65536,
            "nics": [
                {"name": "eth0", "model": "0x8086 0x1572", "mac": "aa:bb:cc:dd:ee:01",
                 "ip": "10.0.0.2", "speedGbps": 25, "pxe": true},
                {"name": "eth0", "model": "0x8086 0x1572", "mac": "aa:bb:cc:dd:ee:01",
                 "ip": "fd00::2", "speedGbps": 25, "pxe": true},
                {"name": "eth1", "mac": "aa:bb:cc:dd:ee:02", "pxe": false}
            ],
            "storage": [
                {"name": "/dev/disk/by-path/p1", "alternateNames": ["/dev/sda", "/dev/disk/by-path/p1"],
                 "rotational": true, "type": "HDD", "sizeBytes": 1000, "vendor": "V", "model": "M",
                 "serialNumber": "S", "wwn": "W", "hctl": "0:0:0:0"},
                {"name": "/dev/nvme0n1", "rotational": false, "type": "NVME", "sizeBytes": 2000},
                {"name": "/dev/sdb", "rotational": false, "type": "SSD", "sizeBytes": 3000}
            ],
            "cpu": {"arch": "x86_64", "model": "Xeon", "clockMegahertz": 2400,
                    "flags": ["aes", "sse", "vmx"], "count": 32},
            "hostname": "node-0"
        })
    );
}

#[test]
fn deploy_failures_name_the_image_or_the_custom_step() {
    let img = Image {
        url: "http://h/i.qcow2".into(),
        checksum: Some("http://h/i.qcow2.sha256".into()),
        ..Image::default()
    };
    assert_eq!(
        DeployTarget::Image(&img).failure(),
        "Image provisioning failed (url: http://h/i.qcow2, checksum: http://h/i.qcow2.sha256)"
    );
    let custom = DeployTarget::Custom {
        method: "install_coreos",
        image: None,
    };
    assert_eq!(custom.failure(), "Custom deploy install_coreos failed");
    let bare = Image {
        checksum: None,
        ..img.clone()
    };
    let custom = DeployTarget::Custom {
        method: "install_coreos",
        image: Some(&bare),
    };
    assert_eq!(
        custom.failure(),
        "Custom deploy install_coreos failed (url: http://h/i.qcow2)"
    );
}
