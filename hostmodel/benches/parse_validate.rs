//! Parse + validate throughput on one multi-document YAML stream of 10 000
//! varied BareMetalHosts (`cargo bench -p metal3-hostmodel`); criterion
//! reports elements/s, i.e. documents per second. The same objects as a
//! JSON array are measured too.

// Bench setup: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use metal3_hostmodel::manifest::{self, ParseOptions};
use metal3_hostmodel::validation;

const HOSTS: usize = 10_000;

/// A realistic mix: four BMC drivers, images of three kinds, some RAID,
/// root device hints, annotations, labels, consumers and status.
fn generate(n: usize) -> String {
    let mut out = String::with_capacity(n * 1200);
    for i in 0..n {
        let rack = i / 40;
        let (a, b) = (i / 256 % 256, i % 256);
        let mac = format!("52:54:{:02x}:{:02x}:{a:02x}:{b:02x}", rack % 256, i % 7);
        let bmc = match i % 4 {
            0 => format!("redfish-virtualmedia+https://10.{rack}.{a}.{b}/redfish/v1/Systems/1"),
            1 => format!("ipmi://10.{rack}.{a}.{b}:623"),
            2 => format!(
                "idrac-virtualmedia://10.{rack}.{a}.{b}/redfish/v1/Systems/System.Embedded.1"
            ),
            _ => format!("redfish://bmc-{i}.rack{rack}.example.com/redfish/v1/Systems/1"),
        };
        let _ = write!(
            out,
            "---\napiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\nmetadata:\n  name: rack{rack}-node{i}\n  namespace: dc{}\n  labels:\n    metal3.io/rack: rack{rack}\n    node-role.kubernetes.io/worker: \"\"\n",
            i % 3
        );
        if i % 5 == 0 {
            out.push_str("  annotations:\n    reboot.metal3.io/capm3: '{\"mode\":\"soft\"}'\n    inspect.metal3.io: \"\"\n");
        }
        let _ = write!(
            out,
            "spec:\n  online: {}\n  bootMode: {}\n  bootMACAddress: \"{mac}\"\n  bmc:\n    address: {bmc}\n    credentialsName: rack{rack}-node{i}-bmc\n    disableCertificateVerification: {}\n  automatedCleaningMode: {}\n",
            i % 9 != 0,
            if i % 4 == 1 { "legacy" } else { "UEFI" },
            i % 2 == 0,
            if i % 2 == 0 { "metadata" } else { "disabled" },
        );
        match i % 3 {
            0 => {
                let _ = write!(out, "  image:\n    url: https://images.example.com/ubuntu-24.04-{i}.qcow2\n    checksum: https://images.example.com/ubuntu-24.04-{i}.qcow2.sha256sum\n    checksumType: sha256\n    format: qcow2\n");
            }
            1 => out.push_str(
                "  image:\n    url: https://images.example.com/rescue.iso\n    format: live-iso\n",
            ),
            _ => out.push_str("  image:\n    url: oci://quay.io/metal3/os:9.4\n"),
        }
        if i % 4 == 2 && i % 8 == 2 {
            out.push_str("  raid:\n    hardwareRAIDVolumes:\n    - name: boot\n      level: \"1\"\n      sizeGibibytes: 480\n      numberOfPhysicalDisks: 2\n    - name: data\n      level: \"5\"\n      rotational: true\n");
        } else if i % 4 != 1 {
            out.push_str(
                "  rootDeviceHints:\n    deviceName: /dev/nvme0n1\n    minSizeGigabytes: 200\n",
            );
        }
        if i % 6 == 0 {
            let _ = write!(out, "  consumerRef:\n    apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\n    kind: Metal3Machine\n    name: workers-{i}\n    namespace: dc{}\n  userData:\n    name: workers-{i}-userdata\n", i % 3);
        }
        if i % 2 == 1 {
            let _ = write!(out, "status:\n  operationalStatus: OK\n  errorMessage: \"\"\n  poweredOn: true\n  errorCount: 0\n  provisioningFailCount: 0\n  lastUpdated: \"2026-05-01T10:{:02}:00Z\"\n  provisioning:\n    state: provisioned\n    ID: 6f1c{i:08x}-0000-4000-8000-000000000000\n    bootMode: UEFI\n  goodCredentials:\n    credentials:\n      name: rack{rack}-node{i}-bmc\n      namespace: dc{}\n    credentialsVersion: \"{}\"\n", i % 60, i % 3, 1000 + i);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let input = generate(HOSTS);
    // Sanity: every generated document is a valid host.
    let objs = manifest::parse_str(&input, ParseOptions::default()).unwrap();
    assert_eq!(objs.len(), HOSTS);
    let errs = validation::validate_objects(&objs);
    assert!(errs.is_empty(), "{}", errs[0]);

    let mut g = c.benchmark_group("bmh_10k");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(HOSTS as u64));
    g.bench_function("parse", |b| {
        b.iter(|| manifest::parse_str(&input, ParseOptions::default()).unwrap())
    });
    g.bench_function("validate", |b| {
        b.iter(|| validation::validate_objects(&objs))
    });
    g.bench_function("parse_validate", |b| {
        b.iter(|| {
            let objs = manifest::parse_str(&input, ParseOptions::default()).unwrap();
            validation::validate_objects(&objs)
        })
    });
    // The same hosts as one JSON array (`kubectl get -o json` style input).
    let json = manifest::to_json(&objs).unwrap();
    g.bench_function("parse_validate_json", |b| {
        b.iter(|| {
            let objs = manifest::parse_str(&json, ParseOptions::default()).unwrap();
            validation::validate_objects(&objs)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
