use super::*;

fn ok(a: &str) -> BmcAddress {
    match BmcAddress::parse(a) {
        Ok(v) => v,
        Err(e) => panic!("{a}: {e}"),
    }
}

/// Every row of the user guide's "Supported hardware" tables, with and
/// without carriers where the driver accepts them.
#[test]
fn user_guide_rows() {
    let rows: &[(&str, &str, &str, Option<u16>, &str)] = &[
        // address, type, ironic driver, port, path
        ("ipmi://192.168.1.10:6230", "ipmi", "ipmi", Some(6230), ""),
        ("ipmi://192.168.1.10", "ipmi", "ipmi", None, ""),
        ("192.168.1.10:6230", "ipmi", "ipmi", Some(6230), ""),
        (
            "redfish://10.1.1.1:8000/redfish/v1/Systems/1",
            "redfish",
            "redfish",
            Some(8000),
            "/redfish/v1/Systems/1",
        ),
        (
            "redfish-virtualmedia://10.1.1.1:8000/redfish/v1/Systems/1",
            "redfish-virtualmedia",
            "redfish",
            Some(8000),
            "/redfish/v1/Systems/1",
        ),
        (
            "idrac-redfish://10.1.1.1/redfish/v1/Systems/System.Embedded.1",
            "idrac-redfish",
            "idrac",
            None,
            "/redfish/v1/Systems/System.Embedded.1",
        ),
        (
            "idrac-virtualmedia://10.1.1.1/redfish/v1/Systems/System.Embedded.1",
            "idrac-virtualmedia",
            "idrac",
            None,
            "/redfish/v1/Systems/System.Embedded.1",
        ),
        (
            "ilo5-redfish://10.1.1.1/redfish/v1/Systems/1",
            "ilo5-redfish",
            "redfish",
            None,
            "/redfish/v1/Systems/1",
        ),
        (
            "ilo5-virtualmedia://10.1.1.1/redfish/v1/Systems/1",
            "ilo5-virtualmedia",
            "redfish",
            None,
            "/redfish/v1/Systems/1",
        ),
        (
            "redfish-uefihttp://10.1.1.1/redfish/v1/Systems/1",
            "redfish-uefihttp",
            "redfish",
            None,
            "/redfish/v1/Systems/1",
        ),
        ("irmc://10.1.1.1:443", "irmc", "irmc", Some(443), ""),
        ("irmc://10.1.1.1", "irmc", "irmc", None, ""),
        ("ilo4://10.1.1.1:443", "ilo4", "ilo", Some(443), ""),
        (
            "ilo4-virtualmedia://10.1.1.1",
            "ilo4-virtualmedia",
            "ilo",
            None,
            "",
        ),
        ("ilo5://10.1.1.1", "ilo5", "ilo5", None, ""),
        (
            "libvirt://192.168.122.1:6233",
            "libvirt",
            "ipmi",
            Some(6233),
            "",
        ),
    ];
    for (addr, ty, drv, port, path) in rows {
        let a = ok(addr);
        assert_eq!(a.scheme(), *ty, "{addr}");
        assert_eq!(a.driver().ironic_driver, *drv, "{addr}");
        assert_eq!(a.port(), *port, "{addr}");
        assert_eq!(a.path(), *path, "{addr}");
    }
}

#[test]
fn every_carrier_of_every_driver() {
    for d in DRIVERS {
        for scheme in d.schemes() {
            let a = ok(&format!("{scheme}://bmc.example.com/redfish/v1/Systems/1"));
            assert_eq!(a.driver().name, d.name);
            assert_eq!(a.scheme(), scheme);
            if scheme.ends_with("+http") {
                assert!(!a.uses_tls());
                assert_eq!(a.http_base_url(), "http://bmc.example.com");
                assert_eq!(a.effective_port(), 80);
            } else {
                assert!(a.uses_tls());
            }
        }
        let bad = [
            format!("{}+ftp://h", d.name),
            format!("{}+http://h", d.name),
        ];
        if d.carriers == Carriers::None {
            for b in &bad {
                assert!(
                    matches!(BmcAddress::parse(b), Err(AddressError::UnknownType { .. })),
                    "{b}"
                );
            }
        }
    }
    assert!(BmcAddress::parse("ilo4+http://h").is_err());
    assert!(BmcAddress::parse("ilo4+https://h").is_ok());
}

#[test]
fn capabilities_match_the_registry() {
    let a = ok("redfish-virtualmedia+https://h/redfish/v1/Systems/1");
    let d = a.driver();
    assert!(d.virtual_media && d.secure_boot && !d.needs_mac && !d.needs_provisioning_network);
    assert_eq!(d.boot_interface, "redfish-virtual-media");
    let i = ok("ipmi://h");
    assert!(!i.driver().secure_boot && !i.driver().supports_hardware_raid());
    assert_eq!(i.effective_port(), 623);
    assert_eq!(i.protocol(), Protocol::Ipmi);
    assert!(ok("libvirt://h").driver().needs_mac);
    let idrac = ok("idrac-virtualmedia://h/x").driver();
    assert_eq!(idrac.boot_interface, "idrac-redfish-virtual-media");
    assert_eq!(idrac.power_interface, Some("idrac-redfish"));
    assert_eq!(
        ok("redfish-uefihttp://h").driver().boot_interface,
        "redfish-https"
    );
    assert_eq!(ok("irmc://h").effective_port(), 443);
    assert_eq!(ok("irmc://h").driver().removed_in, Some("v0.13"));
}

#[test]
fn go_parser_quirks() {
    // Bare IPv4 / host names / host:port become IPMI.
    assert_eq!(ok("192.168.122.1").scheme(), "ipmi");
    assert_eq!(ok("my.bmc.com").hostname(), "my.bmc.com");
    let v6 = ok("[fe80::1]:6233");
    assert_eq!(
        (v6.scheme(), v6.hostname(), v6.port()),
        ("ipmi", "fe80::1", Some(6233))
    );
    assert_eq!(v6.host_port(), "[fe80::1]:6233");
    // Opaque forms are fixed up.
    assert_eq!(ok("ipmi:192.168.122.1").hostname(), "192.168.122.1");
    assert_eq!(ok("redfish:10.0.0.1").scheme(), "redfish");
    // A DNS name with a port is read by Go as a scheme.
    assert_eq!(
        BmcAddress::parse("my.host.example.com:623")
            .unwrap_err()
            .to_string(),
        "Unknown BMC type 'my.host.example.com' for address my.host.example.com:623"
    );
    assert!(
        matches!(BmcAddress::parse("fe80::1"), Err(AddressError::UnknownType { scheme, .. }) if scheme == "fe80")
    );
    assert!(matches!(
        BmcAddress::parse("[fe80::1]"),
        Err(AddressError::Unparsable { .. })
    ));
    assert!(BmcAddress::parse("00:11:22:33:44:55").is_err());
    assert_eq!(ok("REDFISH://h/x").scheme(), "redfish");
    assert_eq!(ok("redfish://").hostname(), "");
    assert_eq!(
        BmcAddress::parse("test:127.0.1.1").unwrap_err().to_string(),
        "Unknown BMC type 'test' for address test:127.0.1.1"
    );
    assert_eq!(
        BmcAddress::parse("").unwrap_err().to_string(),
        "missing BMC address"
    );
}

#[test]
fn invalid_hostnames() {
    for h in ["-host.example.com.org", "host_name", "host.", "a..b"] {
        let e = BmcAddress::parse(&format!("redfish://{h}/x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("failed to parse BMC address information: BMC address hostname/IP : [{h}] is invalid")
        );
    }
    assert!(BmcAddress::parse("ipmi://[fe80::1%25eth0]:623").is_err());
    assert!(matches!(
        BmcAddress::parse("ipmi://h:70000"),
        Err(AddressError::InvalidPort { .. })
    ));
}

#[test]
fn credentials_never_shown() {
    let a = ok("redfish://admin:s3cret@10.0.0.1/redfish/v1/Systems/1");
    assert_eq!(a.to_string(), "redfish://10.0.0.1/redfish/v1/Systems/1");
    assert!(!format!("{a:?}").contains("s3cret"));
    let e = BmcAddress::parse("nope://admin:s3cret@10.0.0.1").unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
    assert!(!format!("{e:?}").contains("s3cret"));
}

#[test]
fn redfish_system_id_rule() {
    assert_eq!(
        ok("redfish://h/redfish/v1/Systems/1").redfish_system_id(),
        Some("/redfish/v1/Systems/1")
    );
    assert_eq!(ok("redfish://h/redfish/v1/").redfish_system_id(), None);
    assert_eq!(ok("redfish://h").redfish_system_id(), None);
    assert_eq!(
        ok("ipmi://h?privilegelevel=OPERATOR").ipmi_privilege_level(),
        "OPERATOR"
    );
    assert_eq!(ok("ipmi://h").ipmi_privilege_level(), "ADMINISTRATOR");
}

#[test]
fn summary_json_names() {
    let v = serde_json::to_value(
        ok("idrac-redfish+https://[2001:db8::5]:8443/redfish/v1/Systems/System.Embedded.1")
            .summary(),
    )
    .unwrap();
    assert_eq!(v["type"], "idrac-redfish+https");
    assert_eq!(v["driver"], "idrac");
    assert_eq!(v["host"], "2001:db8::5");
    assert_eq!(v["port"], 8443);
    assert_eq!(v["needsMAC"], false);
    assert_eq!(v["supportsSecureBoot"], true);
    assert_eq!(v["bootInterface"], "ipxe");
    assert_eq!(v["biosInterface"], "idrac-redfish");
    assert_eq!(v["firmwareInterface"], "redfish");
    assert_eq!(v["inspectInterface"], "agent");
    let i = serde_json::to_value(ok("10.0.0.1").summary()).unwrap();
    assert_eq!(i["port"], serde_json::Value::Null);
    assert_eq!(i["effectivePort"], 623);
}
