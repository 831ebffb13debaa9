//! Metal3Cluster and Metal3RemediationTemplate defaults / validation (§2.2, §2.7).

// Test helpers outside #[test] fns fail loudly on bad fixtures, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use metal3_capi::webhook::*;
use metal3_capi::{Metal3Cluster, Metal3RemediationTemplate};
use serde_json::{json, Value};

fn cluster(version: &str, spec: Value) -> Metal3Cluster {
    serde_json::from_value(json!({"apiVersion": format!("infrastructure.cluster.x-k8s.io/{version}"), "kind": "Metal3Cluster",
        "metadata": {"name": "c"}, "spec": spec})).unwrap()
}

#[test]
fn metal3cluster_defaults_table() {
    // (version, noCloudProvider, cloudProviderEnabled) -> (noCloudProvider, cloudProviderEnabled)
    let cases = [
        ("v1beta1", None, None, (Some(false), Some(true))),
        ("v1beta1", Some(true), None, (Some(true), Some(false))),
        ("v1beta1", None, Some(false), (Some(true), Some(false))),
        (
            "v1beta1",
            Some(false),
            Some(true),
            (Some(false), Some(true)),
        ),
        ("v1beta2", None, None, (None, Some(false))),
        ("v1beta2", None, Some(true), (None, Some(true))),
    ];
    for (v, n, e, want) in cases {
        let mut spec = json!({"controlPlaneEndpoint": {"host": "1.2.3.4", "port": 0}});
        if let Some(n) = n {
            spec["noCloudProvider"] = json!(n);
        }
        if let Some(e) = e {
            spec["cloudProviderEnabled"] = json!(e);
        }
        let d = default_metal3_cluster(&cluster(v, spec));
        assert_eq!(
            (d.spec.no_cloud_provider, d.spec.cloud_provider_enabled),
            want,
            "{v} {n:?} {e:?}"
        );
        assert_eq!(d.spec.control_plane_endpoint.unwrap().port, 6443);
    }
}

#[test]
fn metal3cluster_validation_and_readiness() {
    let ok = cluster(
        "v1beta1",
        json!({"controlPlaneEndpoint": {"host": "h", "port": 6443}, "noCloudProvider": true, "cloudProviderEnabled": false}),
    );
    assert_eq!(validate_metal3_cluster(&ok), Ok(()));
    assert_eq!(metal3_cluster_provisioned(&ok), Ok(()));
    let conflict = cluster(
        "v1beta1",
        json!({"controlPlaneEndpoint": {"host": "h", "port": 6443}, "noCloudProvider": true, "cloudProviderEnabled": true}),
    );
    assert_eq!(
        validate_metal3_cluster(&conflict),
        Err(WebhookError::CloudProviderConflict { name: "c".into() })
    );
    let no_host = cluster(
        "v1beta2",
        json!({"controlPlaneEndpoint": {"host": "", "port": 6443}}),
    );
    assert_eq!(
        validate_metal3_cluster(&no_host),
        Err(WebhookError::HostRequired { name: "c".into() })
    );
    assert!(validate_metal3_cluster(&cluster("v1beta2", json!({}))).is_err());
    let no_port = cluster(
        "v1beta2",
        json!({"controlPlaneEndpoint": {"host": "h", "port": 0}}),
    );
    assert_eq!(
        metal3_cluster_provisioned(&no_port),
        Err(WebhookError::InvalidEndpoint { name: "c".into() })
    );
    assert_eq!(
        metal3_cluster_provisioned(&default_metal3_cluster(&no_port)),
        Ok(())
    );
}

fn rt(strategy: Value) -> Metal3RemediationTemplate {
    serde_json::from_value(json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "Metal3RemediationTemplate",
        "metadata": {"name": "t"}, "spec": {"template": {"spec": {"strategy": strategy}}}})).unwrap()
}

#[test]
fn remediation_template_defaults_and_validation() {
    let d = default_remediation_template(&rt(json!({"retryLimit": 0})));
    let s = d.spec.template.spec.strategy.clone().unwrap();
    assert_eq!(
        (s.type_.as_deref(), s.timeout_seconds, s.retry_limit),
        (Some("Reboot"), Some(600), Some(1))
    );
    assert_eq!(validate_remediation_template(&d), Ok(()));
    let kept = default_remediation_template(&rt(
        json!({"type": "Reboot", "retryLimit": 3, "timeoutSeconds": 300}),
    ));
    assert_eq!(
        kept,
        rt(json!({"type": "Reboot", "retryLimit": 3, "timeoutSeconds": 300}))
    );
    let cases = [
        (
            json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 99}),
            Some(WebhookError::TimeoutTooShort { name: "t".into() }),
        ),
        (
            json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 100}),
            None,
        ),
        (
            json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 0}),
            None,
        ),
        (
            json!({"type": "Reprovision", "retryLimit": 1}),
            Some(WebhookError::UnsupportedStrategy { name: "t".into() }),
        ),
        (
            json!({"type": "Reboot", "retryLimit": 0}),
            Some(WebhookError::RetryLimit { name: "t".into() }),
        ),
    ];
    for (s, want) in cases {
        assert_eq!(
            validate_remediation_template(&rt(s.clone())).err(),
            want,
            "{s}"
        );
    }
}
