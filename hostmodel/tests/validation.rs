//! One table row per webhook / CRD rule: exact field path and message.

// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use metal3_hostmodel::manifest::{self, ParseOptions};
use metal3_hostmodel::other::{
    BMCEventSubscription, DataImage, FirmwareSchema, HostFirmwareComponents, HostFirmwareSettings,
};
use metal3_hostmodel::validation::{self, parse_mac, ValidationError};
use metal3_hostmodel::{BareMetalHost, Object};

const BASE: &str = r#"
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata:
  name: worker-0
  namespace: metal3
spec:
  online: true
  bootMACAddress: "00:11:22:33:44:55"
  bmc:
    address: redfish-virtualmedia://10.0.0.5/redfish/v1/Systems/1
    credentialsName: worker-0-bmc
  image:
    url: http://example.com/img.qcow2
    checksum: http://example.com/img.qcow2.sha256sum
    checksumType: sha256
"#;

fn base() -> BareMetalHost {
    match manifest::parse_str(BASE, ParseOptions::default())
        .unwrap()
        .remove(0)
    {
        Object::BareMetalHost(h) => *h,
        o => panic!("{o:?}"),
    }
}

/// Parses a YAML snippet as the `spec` fragment to merge into the base.
fn with(yaml: &str) -> BareMetalHost {
    let mut v: serde_json::Value = manifest::read_documents(BASE).unwrap().remove(0);
    let patch = manifest::read_documents(yaml).unwrap().remove(0);
    merge(&mut v, patch);
    match manifest::parse_value(v, ParseOptions::default()).unwrap() {
        Object::BareMetalHost(h) => *h,
        o => panic!("{o:?}"),
    }
}

/// JSON merge patch (RFC 7386): null deletes.
fn merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge(t.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

fn lines(errs: &[ValidationError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

const OBJ: &str = "BareMetalHost/metal3/worker-0";

#[test]
fn base_host_is_valid() {
    assert_eq!(
        lines(&validation::validate_create(&base())),
        Vec::<String>::new()
    );
}

#[test]
fn create_rules() {
    let cases: &[(&str, &str, &str)] = &[
        // (patch, field, message)
        ("spec: {bmc: {address: 'test:127.0.1.1'}}", "spec.bmc.address",
         "Unknown BMC type 'test' for address test:127.0.1.1"),
        ("spec: {bmc: {address: 'redfish://-host.example.com.org/x'}}", "spec.bmc.address",
         "failed to parse BMC address information: BMC address hostname/IP : [-host.example.com.org] is invalid"),
        ("spec: {firmware: {sriovEnabled: true}}", "spec.firmware",
         "the Firmware field is no longer supported, use HostFirmwareSettings resource instead"),
        ("spec: {userData: {name: u, namespace: other}}", "spec.userData",
         "baremetalhosts.metal3.io \"worker-0\" is forbidden: spec.userData: cross-namespace Secret references are not allowed"),
        ("spec: {networkData: {name: u, namespace: other}}", "spec.networkData",
         "baremetalhosts.metal3.io \"worker-0\" is forbidden: spec.networkData: cross-namespace Secret references are not allowed"),
        ("spec: {metaData: {name: u, namespace: other}}", "spec.metaData",
         "baremetalhosts.metal3.io \"worker-0\" is forbidden: spec.metaData: cross-namespace Secret references are not allowed"),
        ("spec: {raid: {hardwareRAIDVolumes: [{level: '1'}], softwareRAIDVolumes: [{level: '1'}]}}", "spec.raid",
         "hardwareRAIDVolumes and softwareRAIDVolumes can not be set at the same time"),
        ("spec: {raid: {hardwareRAIDVolumes: [{level: '1', physicalDisks: [a, b]}]}}", "spec.raid.hardwareRAIDVolumes[0].controller",
         "'physicalDisks' specified without 'controller' in hardware RAID volume 0"),
        ("spec: {raid: {hardwareRAIDVolumes: [{level: '1', controller: c, numberOfPhysicalDisks: 3, physicalDisks: [a, b]}]}}",
         "spec.raid.hardwareRAIDVolumes[0].numberOfPhysicalDisks",
         "the 'numberOfPhysicalDisks'[3] and number of 'physicalDisks'[2] is not same for volume 0"),
        ("spec: {raid: {softwareRAIDVolumes: [{level: '1', rootVolume: true}, {level: '1', rootVolume: true}]}}",
         "spec.raid.softwareRAIDVolumes", "softwareRAIDVolumes[*].rootVolume can only be set once"),
        ("spec: {rootDeviceHints: {model: x}, raid: {softwareRAIDVolumes: [{level: '1', rootVolume: true}]}}",
         "spec.raid.softwareRAIDVolumes[0].rootVolume",
         "softwareRAIDVolumes[*].rootVolume and rootDeviceHints can not be set at the same time"),
        ("spec: {raid: {softwareRAIDVolumes: [{level: '0', rootVolume: true}]}}", "spec.raid.softwareRAIDVolumes[0].level",
         "softwareRAIDVolumes[0] with rootVolume set must use RAID level 1"),
        // CRD schema rules.
        ("spec: {raid: {hardwareRAIDVolumes: [{level: '7'}]}}", "spec.raid.hardwareRAIDVolumes[0].level",
         "Unsupported value: \"7\": supported values: \"0\", \"1\", \"2\", \"5\", \"6\", \"1+0\", \"5+0\", \"6+0\""),
        ("spec: {raid: {hardwareRAIDVolumes: [{level: '1', name: 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn'}]}}",
         "spec.raid.hardwareRAIDVolumes[0].name", "Too long: may not be more than 64 bytes"),
        ("spec: {raid: {hardwareRAIDVolumes: [{level: '1', numberOfPhysicalDisks: 0}]}}",
         "spec.raid.hardwareRAIDVolumes[0].numberOfPhysicalDisks", "Invalid value: 0: should be greater than or equal to 1"),
        ("spec: {raid: {hardwareRAIDVolumes: [{level: '1', sizeGibibytes: -1}]}}",
         "spec.raid.hardwareRAIDVolumes[0].sizeGibibytes", "Invalid value: -1: should be greater than or equal to 0"),
        ("spec: {raid: {softwareRAIDVolumes: [{level: '1'}, {level: '0'}, {level: '0'}]}}",
         "spec.raid.softwareRAIDVolumes", "Too many: 3: must have at most 2 items"),
        ("spec: {raid: {softwareRAIDVolumes: [{level: '5'}]}}", "spec.raid.softwareRAIDVolumes[0].level",
         "Unsupported value: \"5\": supported values: \"0\", \"1\", \"1+0\""),
        ("spec: {raid: {softwareRAIDVolumes: [{level: '1', physicalDisks: [{deviceName: /dev/sda}]}]}}",
         "spec.raid.softwareRAIDVolumes[0].physicalDisks", "Invalid value: 1: should have at least 2 items"),
        ("spec: {raid: {softwareRAIDVolumes: [{level: '1', sizeGibibytes: -5}]}}",
         "spec.raid.softwareRAIDVolumes[0].sizeGibibytes", "Invalid value: -5: should be greater than or equal to 0"),
        ("spec: {rootDeviceHints: {minSizeGigabytes: -1}}", "spec.rootDeviceHints.minSizeGigabytes",
         "Invalid value: -1: should be greater than or equal to 0"),
        ("spec: {image: {format: iso}}", "spec.image.format",
         "Unsupported value: \"iso\": supported values: \"raw\", \"qcow2\", \"vdi\", \"vmdk\", \"live-iso\""),
        // BMC capabilities.
        ("spec: {bmc: {address: 'ipmi://10.0.0.5'}, raid: {hardwareRAIDVolumes: [{level: '1'}]}}",
         "spec.raid.hardwareRAIDVolumes", "BMC driver ipmi does not support configuring RAID"),
        ("spec: {bmc: {address: 'libvirt://192.168.122.1:6230/'}, bootMACAddress: null}",
         "spec.bootMACAddress", "BMC driver libvirt requires a BootMACAddress value"),
        ("spec: {bmc: {address: 'idrac-virtualmedia+https://10.0.0.5/redfish/v1/Systems/System.Embedded.1'}, bootMACAddress: null, inspectionMode: disabled}",
         "spec.bootMACAddress", "BMC driver idrac-virtualmedia+https requires a BootMACAddress value"),
        ("metadata: {annotations: {inspect.metal3.io: disabled}}\nspec: {bmc: {address: 'redfish-virtualmedia://10.0.0.5/redfish/v1/Systems/1'}, bootMACAddress: null}",
         "spec.bootMACAddress", "BMC driver redfish-virtualmedia requires a BootMACAddress value"),
        ("spec: {bootMACAddress: '00:00:00:00:00'}", "spec.bootMACAddress",
         "address 00:00:00:00:00: invalid MAC address"),
        ("spec: {bootMACAddress: '00-11-22-33-44-55'}", "spec.bootMACAddress",
         "Invalid value: \"00-11-22-33-44-55\": should match '[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}'"),
        ("spec: {bmc: {address: 'ipmi://10.0.0.5'}, bootMode: UEFISecureBoot}", "spec.bootMode",
         "BMC driver ipmi does not support secure boot"),
        // Name.
        ("metadata: {name: 'worker_0:x'}", "metadata.name",
         "BareMetalHost resource name cannot contain characters other than [A-Za-z0-9._-]"),
        ("metadata: {name: 8f2c1a8e-3b4d-4a5e-9f6a-7b8c9d0e1f2a}", "metadata.name",
         "BareMetalHost resource name cannot be a UUID"),
        // Root device hints.
        ("spec: {rootDeviceHints: {deviceName: sda}}", "spec.rootDeviceHints.deviceName",
         "device name of root device hint must be a /dev/ path, not \"sda\""),
        ("spec: {rootDeviceHints: {deviceName: /dev/disk/by-uuid/abc}}", "spec.rootDeviceHints.deviceName",
         "device name of root device hint must be path in /dev/ or /dev/disk/by-path/, not \"/dev/disk/by-uuid/abc\""),
        // Image.
        ("spec: {image: {url: ''}}", "spec.image.url", "image URL  is invalid: parse \"\": empty url"),
        ("spec: {image: {url: example.com/img}}", "spec.image.url",
         "image URL example.com/img is invalid: parse \"example.com/img\": invalid URI for request"),
        ("spec: {image: {url: 'unix:///tmp/img'}}", "spec.image.url",
         "image URL unix:///tmp/img is invalid: invalid scheme in URL, \"unix\" not allowed"),
        ("spec: {image: {url: 'http://example.com:x/img'}}", "spec.image.url",
         "image URL http://example.com:x/img is invalid: parse \"http://example.com:x/img\": invalid port \":x\" after host"),
        ("spec: {image: {url: 'oci://quay.io/x/img:1', checksumType: null}}", "spec.image.checksum",
         "spec.image.checksum must be empty for OCI images (oci:// images have embedded checksums)"),
        ("spec: {image: {checksum: null, checksumType: null}}", "spec.image.checksum", "checksum is required for normal images"),
        ("spec: {image: {checksumType: SHA42}}", "spec.image.checksumType",
         "unknown checksumType SHA42, supported are auto, md5, sha256, sha512"),
        // Annotations.
        ("metadata: {annotations: {baremetalhost.metal3.io/status: '{\"operationalStatus\":\"NotOK\"}'}}",
         "metadata.annotations[baremetalhost.metal3.io/status]",
         "invalid operationalStatus 'NotOK' in the baremetalhost.metal3.io/status annotation"),
        ("metadata: {annotations: {baremetalhost.metal3.io/status: '{\"operationalStatus\":\"servicing\"}'}}",
         "metadata.annotations[baremetalhost.metal3.io/status]",
         "invalid operationalStatus 'servicing' in the baremetalhost.metal3.io/status annotation"),
        ("metadata: {annotations: {baremetalhost.metal3.io/status: '{\"errorType\":\"No Error\"}'}}",
         "metadata.annotations[baremetalhost.metal3.io/status]",
         "invalid errorType 'No Error' in the baremetalhost.metal3.io/status annotation"),
        ("metadata: {annotations: {baremetalhost.metal3.io/status: '{\"errorType\":\"servicing error\"}'}}",
         "metadata.annotations[baremetalhost.metal3.io/status]",
         "invalid errorType 'servicing error' in the baremetalhost.metal3.io/status annotation"),
        ("metadata: {annotations: {baremetalhost.metal3.io/status: '{\"operationalStatus\":\"OK\",\"foo\":1}'}}",
         "metadata.annotations[baremetalhost.metal3.io/status]",
         "error decoding status annotation: json: unknown field \"foo\""),
        ("metadata: {annotations: {reboot.metal3.io: '{\"mode\":\"medium\"}'}}", "metadata.annotations[reboot.metal3.io]",
         "invalid mode in the reboot.metal3.io annotation, allowed are \"hard\", \"soft\" or \"\""),
        ("metadata: {annotations: {reboot.metal3.io/capm3: 'hard'}}", "metadata.annotations[reboot.metal3.io/capm3]",
         "failed to unmarshal the data from the reboot.metal3.io/capm3 annotation: expected value at line 1 column 1"),
        ("metadata: {annotations: {baremetalhost.metal3.io/detached: '{\"deleteAction\":\"later\"}'}}",
         "metadata.annotations[baremetalhost.metal3.io/detached]",
         "invalid deleteAction 'later' in the baremetalhost.metal3.io/detached annotation, allowed are \"delay\" or \"delete\""),
        ("metadata: {annotations: {baremetalhost.metal3.io/detached: '{\"force\":\"yes\"}'}}",
         "metadata.annotations[baremetalhost.metal3.io/detached]",
         "failed to unmarshal the data from the baremetalhost.metal3.io/detached annotation: invalid type: string \"yes\", expected a boolean at line 1 column 14"),
        ("metadata: {annotations: {inspect.metal3.io: enabled}}", "metadata.annotations[inspect.metal3.io]",
         "invalid value for the inspect.metal3.io annotation, allowed are \"disabled\" or \"\""),
        ("metadata: {annotations: {inspect.metal3.io/hardwaredetails: '{\"ramMebibytes\":4096}'}}",
         "metadata.annotations[inspect.metal3.io/hardwaredetails]",
         "when hardware details are provided, inspection must be disabled (either via inspect.metal3.io annotation or inspectionMode field)"),
        ("metadata: {annotations: {inspect.metal3.io/hardwaredetails: '{\"ramMB\":4096}'}}\nspec: {inspectionMode: disabled}",
         "metadata.annotations[inspect.metal3.io/hardwaredetails]",
         "error decoding the inspect.metal3.io/hardwaredetails annotation: json: unknown field \"ramMB\""),
        // inspectionMode.
        ("metadata: {annotations: {inspect.metal3.io: disabled}}\nspec: {inspectionMode: agent}", "spec.inspectionMode",
         "inspect.metal3.io annotation and inspectionMode field have contradicting values"),
        ("metadata: {annotations: {inspect.metal3.io: ''}}\nspec: {inspectionMode: disabled}", "spec.inspectionMode",
         "inspect.metal3.io annotation and inspectionMode field have contradicting values"),
        ("spec: {bmc: {address: 'ipmi://10.0.0.5'}, inspectionMode: fast}", "spec.inspectionMode",
         "BMC driver ipmi does not support fast (out-of-band) inspection"),
        // Power.
        ("spec: {online: false, disablePowerOff: true}", "spec.disablePowerOff",
         "node can't simultaneously have online set to false and have power off disabled"),
        // networkInterfaces.
        ("spec: {networkInterfaces: [{switchPort: {switchID: '00:11:22:33:44:55', portID: p1}}]}", "spec.networkInterfaces[0]",
         "networkInterfaces[0]: must specify either name or macAddress"),
        ("spec: {networkInterfaces: [{name: eth0, macAddress: '00:11:22:33:44:55'}]}", "spec.networkInterfaces[0]",
         "networkInterfaces[0]: name and macAddress are mutually exclusive"),
        ("spec: {networkInterfaces: [{macAddress: 'AA:11:22:33:44:55'}, {macAddress: 'aa:11:22:33:44:55'}]}", "spec.networkInterfaces[1]",
         "networkInterfaces[1]: duplicate interface selector for \"aa:11:22:33:44:55\""),
        ("spec: {networkInterfaces: [{name: 'eth 0'}]}", "spec.networkInterfaces[0].name",
         "Invalid value: \"eth 0\": should match '^[a-zA-Z0-9._-]+$'"),
        ("spec: {networkInterfaces: [{macAddress: '00:11:22:33:44'}]}", "spec.networkInterfaces[0].macAddress",
         "Invalid value: \"00:11:22:33:44\": should match '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$'"),
        ("spec: {networkInterfaces: [{name: eth0, switchPort: {switchID: sw1, portID: p1}}]}", "spec.networkInterfaces[0].switchPort.switchID",
         "Invalid value: \"sw1\": should match '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$'"),
    ];
    for (patch, field, message) in cases {
        let host = with(patch);
        let errs = validation::validate_create(&host);
        let want = format!("{OBJ}: {field}: {message}")
            .replace(OBJ, &format!("BareMetalHost/metal3/{}", host.metadata.name));
        assert_eq!(lines(&errs), vec![want], "patch: {patch}");
    }
}

#[test]
fn errors_are_aggregated() {
    let host = with(
        "spec: {firmware: {}, online: false, disablePowerOff: true, image: {checksumType: X}}",
    );
    let fields: Vec<String> = validation::validate_create(&host)
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        [
            "spec.firmware",
            "spec.image.checksumType",
            "spec.disablePowerOff"
        ]
    );
}

#[test]
fn accepted_variants() {
    for patch in [
        "spec: {bmc: {address: ''}}",
        "spec: {image: {url: 'oci://quay.io/x/img:1', checksum: null, checksumType: null}}",
        "spec: {image: {format: live-iso, checksum: null, url: 'https://example.com/live.iso'}}",
        "spec: {rootDeviceHints: {deviceName: /dev/disk/by-path/pci-0000:00:1f.2-ata-1}}",
        "spec: {userData: {name: u, namespace: metal3}, networkData: {name: n}}",
        "metadata: {annotations: {reboot.metal3.io: '', reboot.metal3.io/a: '{\"mode\":\"hard\",\"force\":true}'}}",
        "metadata: {annotations: {baremetalhost.metal3.io/detached: 'anything', inspect.metal3.io: ''}}",
        "metadata: {annotations: {inspect.metal3.io: disabled, inspect.metal3.io/hardwaredetails: '{\"ramMebibytes\":4096}'}}",
        "metadata: {annotations: {baremetalhost.metal3.io/status: '{\"operationalStatus\":\"OK\",\"errorType\":\"\",\"provisioning\":{\"state\":\"provisioned\",\"ID\":\"x\"}}'}}",
        "spec: {inspectionMode: fast}",
        "metadata: {namespace: null}\nspec: {userData: {name: u, namespace: metal3}}",
        "spec: {bootMACAddress: null}",
        "spec: {networkInterfaces: [{name: eth0}, {macAddress: '00:11:22:33:44:66'}]}",
        "spec: {raid: {hardwareRAIDVolumes: [{level: '1+0', controller: c, numberOfPhysicalDisks: 2, physicalDisks: [a, b]}]}}",
        "spec: {raid: {softwareRAIDVolumes: [{level: '1', rootVolume: true}, {level: '0'}]}}",
        "metadata: {name: not-a-uuid-8f2c1a8e3b4d4a5e9f6a7b8c9d0e1f2}",
    ] {
        let host = with(patch);
        assert_eq!(lines(&validation::validate_create(&host)), Vec::<String>::new(), "{patch}");
    }
}

#[test]
fn go_parse_mac_forms() {
    for ok in [
        "00:00:5e:00:53:01",
        "02:00:5e:10:00:00:00:01",
        "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
        "00-00-5e-00-53-01",
        "0000.5e00.5301",
        "0200.5e10.0000.0001",
        "0000.0000.fe80.0000.0000.0000.0200.5e10.0000.0001",
    ] {
        assert!(parse_mac(ok).is_ok(), "{ok}");
    }
    assert_eq!(
        parse_mac("0000.5e00.5301").unwrap(),
        [0, 0, 0x5e, 0, 0x53, 1]
    );
    for bad in [
        "",
        "01.02.03.04.05.06",
        "01:02:03:04:05:06:",
        "x1:02:03:04:05:06",
        "01002:03:04:05:06",
        "01:02003:04:05:06",
        "01:02:03:04:05:06:07",
        "01-02:03-04-05-06",
        "0123:4567:89AF",
        "0123-4567-89AF",
    ] {
        assert_eq!(
            parse_mac(bad).unwrap_err().to_string(),
            format!("address {bad}: invalid MAC address")
        );
    }
}

#[test]
fn update_rules() {
    let provisioned = |h: &mut BareMetalHost, state: &str, op: &str| {
        let mut v = serde_json::to_value(&*h).unwrap();
        v["status"] = serde_json::json!({
            "operationalStatus": op, "errorMessage": "", "poweredOn": true,
            "provisioning": {"state": state, "ID": "x"},
            "errorCount": 0, "provisioningFailCount": 0
        });
        *h = serde_json::from_value(v).unwrap();
    };
    let mut old = base();
    provisioned(&mut old, "provisioned", "OK");

    let mut new = old.clone();
    new.spec.bmc.address = "redfish-virtualmedia://10.0.0.6/redfish/v1/Systems/1".into();
    assert_eq!(
        lines(&validation::validate_update(&old, &new)),
        [format!("{OBJ}: spec.bmc.address: BMC address can not be changed if the BMH is not in the Registering state, or if the BMH is not detached")]
    );
    let mut detached = new.clone();
    provisioned(&mut detached, "provisioned", "detached");
    assert!(validation::validate_update(&old, &detached).is_empty());
    let mut registering = old.clone();
    provisioned(&mut registering, "registering", "OK");
    assert!(validation::validate_update(&registering, &new).is_empty());

    let mut new = old.clone();
    new.spec.boot_mac_address = Some("00:11:22:33:44:66".into());
    assert_eq!(
        lines(&validation::validate_update(&old, &new)),
        [format!(
            "{OBJ}: spec.bootMACAddress: bootMACAddress can not be changed once it is set"
        )]
    );
    new.spec.boot_mac_address = Some("00:11:22:33:44:55".to_uppercase());
    assert!(validation::validate_update(&old, &new).is_empty());

    let mut new = old.clone();
    new.spec.externally_provisioned = Some(true);
    assert_eq!(
        lines(&validation::validate_update(&old, &new)),
        [format!("{OBJ}: spec.externallyProvisioned: externallyProvisioned can only be enabled when in Available state, currently in provisioned")]
    );
    let mut available = old.clone();
    provisioned(&mut available, "available", "OK");
    let mut new = available.clone();
    new.spec.externally_provisioned = Some(true);
    assert!(validation::validate_update(&available, &new).is_empty());
}

fn parse_one<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    let v = manifest::read_documents(yaml).unwrap().remove(0);
    serde_json::from_value(v).unwrap()
}

#[test]
fn bmc_event_subscription_rules() {
    let s: BMCEventSubscription = parse_one(
        "apiVersion: metal3.io/v1alpha1\nkind: BMCEventSubscription\nmetadata: {name: s, namespace: ns}\nspec: {hostName: h, destination: 'https://events.example.com/hook', httpHeadersRef: {name: hdr, namespace: ns}}\n",
    );
    assert!(validation::validate_bmc_event_subscription(&s).is_empty());
    let cases = [
        ("spec.hostName", "hostName cannot be empty", {
            let mut x = s.clone();
            x.spec.as_mut().unwrap().host_name.clear();
            x
        }),
        ("spec.destination", "destination cannot be empty", {
            let mut x = s.clone();
            x.spec.as_mut().unwrap().destination.clear();
            x
        }),
        (
            "spec.destination",
            "hostname-only destination must have a trailing slash",
            {
                let mut x = s.clone();
                x.spec.as_mut().unwrap().destination = "https://events.example.com".into();
                x
            },
        ),
        (
            "spec.destination",
            "destination is invalid: parse \"events\": invalid URI for request",
            {
                let mut x = s.clone();
                x.spec.as_mut().unwrap().destination = "events".into();
                x
            },
        ),
        (
            "spec.httpHeadersRef.namespace",
            "http headers referenced secret must be in the same namespace as the subscription",
            {
                let mut x = s.clone();
                x.spec
                    .as_mut()
                    .unwrap()
                    .http_headers_ref
                    .as_mut()
                    .unwrap()
                    .namespace = "other".into();
                x
            },
        ),
    ];
    for (field, message, obj) in cases {
        assert_eq!(
            lines(&validation::validate_bmc_event_subscription(&obj)),
            [format!("BMCEventSubscription/ns/s: {field}: {message}")]
        );
    }
    let mut changed = s.clone();
    changed.spec.as_mut().unwrap().context = Some("c".into());
    assert_eq!(
        lines(&validation::validate_bmc_event_subscription_update(
            &s, &changed
        )),
        ["BMCEventSubscription/ns/s: spec: subscriptions cannot be updated, please recreate it"]
    );
    assert!(validation::validate_bmc_event_subscription_update(&s, &s).is_empty());
}

#[test]
fn data_image_and_firmware_components_rules() {
    let d: DataImage = parse_one("apiVersion: metal3.io/v1alpha1\nkind: DataImage\nmetadata: {name: d}\nspec: {url: 'ftp://x/y.iso'}\n");
    assert!(validation::validate_data_image(&d).is_empty());
    let d: DataImage = parse_one("apiVersion: metal3.io/v1alpha1\nkind: DataImage\nmetadata: {name: d}\nspec: {url: 'file:///y.iso'}\n");
    assert_eq!(
        lines(&validation::validate_data_image(&d)),
        ["DataImage/default/d: spec.url: image URL file:///y.iso is invalid: invalid scheme in URL, \"file\" not allowed"]
    );
    let h: HostFirmwareComponents = parse_one(
        "apiVersion: metal3.io/v1alpha1\nkind: HostFirmwareComponents\nmetadata: {name: h, namespace: n}\nspec:\n  updates:\n  - {component: bios, url: 'https://x/bios.bin'}\n  - {component: 'nic:NIC.1', url: 'https://x/nic.bin'}\n  - {component: cpld, url: 'https://x/c.bin'}\n  - {component: bmc, url: 'x/bmc.bin'}\n",
    );
    assert_eq!(
        lines(&validation::validate_host_firmware_components(&h)),
        [
            "HostFirmwareComponents/n/h: spec.updates[2].component: component cpld is invalid, only 'bmc', 'bios', or names starting with 'nic:' are allowed as update names",
            "HostFirmwareComponents/n/h: spec.updates[3].url: image URL x/bmc.bin is invalid: parse \"x/bmc.bin\": invalid URI for request",
        ]
    );
}

#[test]
fn firmware_settings_against_schema() {
    let schema: FirmwareSchema = parse_one(
        r#"
apiVersion: metal3.io/v1alpha1
kind: FirmwareSchema
metadata: {name: schema-1234abcd, namespace: n}
spec:
  schema:
    ProcVirtualization: {attribute_type: Enumeration, allowable_values: [Enabled, Disabled]}
    Cores: {attribute_type: Integer, lower_bound: 1, upper_bound: 64}
    AssetTag: {attribute_type: String, min_length: 2, max_length: 4}
    QuietBoot: {attribute_type: Boolean}
    SerialNumber: {attribute_type: String, read_only: true}
    AdminPassword: {attribute_type: Password}
    Other: {}
"#,
    );
    let hfs: HostFirmwareSettings = parse_one(
        r#"
apiVersion: metal3.io/v1alpha1
kind: HostFirmwareSettings
metadata: {name: w, namespace: n}
spec:
  settings:
    ProcVirtualization: Maybe
    Cores: 65
    AssetTag: "abcdef"
    QuietBoot: "yes"
    SerialNumber: "1"
    AdminPassword: "x"
    Unknown: "1"
    Other: "anything"
"#,
    );
    let errs = lines(&validation::validate_firmware_settings(&hfs, &schema));
    assert_eq!(
        errs,
        [
            "HostFirmwareSettings/n/w: spec.settings.AdminPassword: Setting AdminPassword is invalid, Password fields can't be set",
            "HostFirmwareSettings/n/w: spec.settings.AssetTag: Setting AssetTag is invalid, string abcdef length is above maximum length 4",
            "HostFirmwareSettings/n/w: spec.settings.Cores: Setting Cores is invalid, integer 65 is above maximum value 64",
            "HostFirmwareSettings/n/w: spec.settings.ProcVirtualization: Setting ProcVirtualization is invalid, unknown enumeration value - Maybe",
            "HostFirmwareSettings/n/w: spec.settings.QuietBoot: Setting QuietBoot is invalid, yes is not a boolean",
            "HostFirmwareSettings/n/w: spec.settings.SerialNumber: Setting SerialNumber is invalid, it is ReadOnly",
            "HostFirmwareSettings/n/w: spec.settings.Unknown: Setting Unknown is invalid, it is not in the associated schema",
        ]
    );
    let ok: HostFirmwareSettings = parse_one(
        "apiVersion: metal3.io/v1alpha1\nkind: HostFirmwareSettings\nmetadata: {name: w, namespace: n}\nspec:\n  settings: {ProcVirtualization: Enabled, Cores: \"8\", AssetTag: ab, QuietBoot: \"true\"}\n",
    );
    assert!(validation::validate_firmware_settings(&ok, &schema).is_empty());
    let bad_int: HostFirmwareSettings = parse_one(
        "apiVersion: metal3.io/v1alpha1\nkind: HostFirmwareSettings\nmetadata: {name: w, namespace: n}\nspec:\n  settings: {Cores: eight, AssetTag: a}\n",
    );
    assert_eq!(
        lines(&validation::validate_firmware_settings(&bad_int, &schema)),
        [
            "HostFirmwareSettings/n/w: spec.settings.AssetTag: Setting AssetTag is invalid, string a length is below minimum length 2",
            "HostFirmwareSettings/n/w: spec.settings.Cores: Setting Cores is invalid, String eight entered while integer expected",
        ]
    );
}

#[test]
fn cross_object_credentials() {
    let secret = |data: &str| {
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: worker-0-bmc, namespace: metal3}}\n{data}\n---\n{BASE}")
    };
    let ok = manifest::parse_str(
        &secret("stringData: {username: admin, password: pw}"),
        ParseOptions::default(),
    )
    .unwrap();
    assert!(validation::validate_objects(&ok).is_empty());
    let missing = manifest::parse_str(
        &secret("data: {username: YWRtaW4=}"),
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(
        lines(&validation::validate_objects(&missing)),
        [format!("{OBJ}: spec.bmc.credentialsName: Secret worker-0-bmc: Missing BMC connection details 'password' in credentials")]
    );
    // A Secret elsewhere (other namespace) is not looked at.
    let elsewhere = secret("data: {}").replace("namespace: metal3}", "namespace: other}");
    let objs = manifest::parse_str(&elsewhere, ParseOptions::default()).unwrap();
    assert!(validation::validate_objects(&objs).is_empty());
}

#[test]
fn firmware_settings_checked_against_schema_in_same_input() {
    let input = r#"
apiVersion: metal3.io/v1alpha1
kind: FirmwareSchema
metadata: {name: schema-1, namespace: n}
spec:
  schema:
    Cores: {attribute_type: Integer, upper_bound: 8}
---
apiVersion: metal3.io/v1alpha1
kind: HostFirmwareSettings
metadata: {name: w, namespace: n}
spec:
  settings: {Cores: 9}
status:
  schema: {name: schema-1, namespace: n}
"#;
    let objs = manifest::parse_str(input, ParseOptions::default()).unwrap();
    assert_eq!(
        lines(&validation::validate_objects(&objs)),
        ["HostFirmwareSettings/n/w: spec.settings.Cores: Setting Cores is invalid, integer 9 is above maximum value 8"]
    );
}

#[test]
fn host_network_attachment_rules() {
    let ok = "apiVersion: metal3.io/v1alpha1\nkind: HostNetworkAttachment\nmetadata: {name: a, namespace: n}\nspec: {mode: hybrid, nativeVLAN: 10, allowedVLANs: [\"100\", \"200-300\"], mtu: 9000}\n";
    let objs = manifest::parse_str(ok, ParseOptions::default()).unwrap();
    assert!(validation::validate_objects(&objs).is_empty());
    let cases = [
        ("mode: hybrid", "mode: bridge", "spec.mode: Unsupported value: \"bridge\": supported values: \"access\", \"trunk\", \"hybrid\""),
        ("nativeVLAN: 10", "nativeVLAN: 0", "spec.nativeVLAN: Invalid value: 0: should be greater than or equal to 1"),
        ("nativeVLAN: 10", "nativeVLAN: 4095", "spec.nativeVLAN: Invalid value: 4095: should be less than or equal to 4094"),
        ("mtu: 9000", "mtu: 67", "spec.mtu: Invalid value: 67: should be greater than or equal to 68"),
        ("mtu: 9000", "mtu: 9217", "spec.mtu: Invalid value: 9217: should be less than or equal to 9216"),
        ("\"200-300\"", "\"300-200\"", "spec.allowedVLANs[1]: Invalid value: \"300-200\": must be a VLAN ID (1-4094) or a range like 100-200"),
        ("\"100\"", "\"vlan100\"", "spec.allowedVLANs[0]: Invalid value: \"vlan100\": must be a VLAN ID (1-4094) or a range like 100-200"),
    ];
    for (from, to, want) in cases {
        let objs = manifest::parse_str(&ok.replace(from, to), ParseOptions::default()).unwrap();
        assert_eq!(
            lines(&validation::validate_objects(&objs)),
            [format!("HostNetworkAttachment/n/a: {want}")],
            "{to}"
        );
    }
}

#[test]
fn large_inputs_keep_error_order() {
    // Enough objects for the parallel path: every third host is invalid
    // and every fifth has its BMC Secret (without a password) in the input.
    let mut input = String::new();
    for i in 0..600 {
        let host = BASE.replace("worker-0", &format!("worker-{i}"));
        let host = if i % 3 == 0 {
            host.replace("\"00:11:22:33:44:55\"", "\"nope\"")
        } else {
            host
        };
        input.push_str("---\n");
        input.push_str(&host);
        if i % 5 == 0 {
            input.push_str(&format!(
                "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: worker-{i}-bmc, namespace: metal3}}\nstringData: {{username: u}}\n"
            ));
        }
    }
    let objects = manifest::parse_str(&input, ParseOptions::default()).unwrap();
    let all = lines(&validation::validate_objects(&objects));
    let mut expected = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        let Object::BareMetalHost(h) = obj else {
            continue;
        };
        // The host alone, or with the Secret that follows it.
        let mut own = vec![obj.clone()];
        if let Some(Object::Secret(s)) = objects.get(i + 1) {
            if s.metadata.name == h.spec.bmc.credentials_name {
                own.push(objects[i + 1].clone());
            }
        }
        expected.extend(lines(&validation::validate_objects(&own)));
    }
    assert_eq!(all.len(), 200 + 120);
    assert!(all == expected, "order differs");
}
