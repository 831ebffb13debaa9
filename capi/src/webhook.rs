//! Admission defaults / validation and the readiness rule for Metal3Cluster
//! (reference §2.2) and Metal3RemediationTemplate (§2.7).

use crate::types::{Metal3Cluster, Metal3RemediationTemplate, RemediationStrategy};

/// Webhook rejections, naming the object and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// `spec.controlPlaneEndpoint.host` is empty.
    #[error("Metal3Cluster {name}: spec.controlPlaneEndpoint.host: is required")]
    HostRequired {
        /// Object name.
        name: String,
    },
    /// v1beta1 `cloudProviderEnabled` equal to `noCloudProvider`.
    #[error("Metal3Cluster {name}: spec.cloudProviderEnabled: cloudProviderEnabled conflicts the value of noCloudProvider")]
    CloudProviderConflict {
        /// Object name.
        name: String,
    },
    /// Endpoint host or port missing at reconcile time.
    #[error("Metal3Cluster {name}: Invalid ControlPlaneEndpoint values")]
    InvalidEndpoint {
        /// Object name.
        name: String,
    },
    /// `timeoutSeconds` between 1 and 99.
    #[error("Metal3RemediationTemplate {name}: spec.template.spec.strategy.timeoutSeconds: min duration is 100 seconds")]
    TimeoutTooShort {
        /// Object name.
        name: String,
    },
    /// Strategy type other than `Reboot`.
    #[error("Metal3RemediationTemplate {name}: spec.template.spec.strategy.type: only supported remediation strategy is reboot")]
    UnsupportedStrategy {
        /// Object name.
        name: String,
    },
    /// `retryLimit` below 1.
    #[error("Metal3RemediationTemplate {name}: spec.template.spec.strategy.retryLimit: must be at least 1")]
    RetryLimit {
        /// Object name.
        name: String,
    },
}

/// Metal3Cluster defaulting: port 0 → 6443; cloud provider flags per version
/// (v1beta2: unset → false; v1beta1: derive the missing one, neither → enabled).
pub fn default_metal3_cluster(c: &Metal3Cluster) -> Metal3Cluster {
    let mut c = c.clone();
    if let Some(ep) = c.spec.control_plane_endpoint.as_mut() {
        if ep.port == 0 {
            ep.port = 6443;
        }
    }
    let s = &mut c.spec;
    if c.api_version.ends_with("/v1beta2") {
        s.cloud_provider_enabled.get_or_insert(false);
    } else {
        match (s.no_cloud_provider, s.cloud_provider_enabled) {
            (Some(n), None) => s.cloud_provider_enabled = Some(!n),
            (None, Some(e)) => s.no_cloud_provider = Some(!e),
            (None, None) => {
                s.cloud_provider_enabled = Some(true);
                s.no_cloud_provider = Some(false);
            }
            (Some(_), Some(_)) => {}
        }
    }
    c
}

/// Metal3Cluster validation (create / update).
pub fn validate_metal3_cluster(c: &Metal3Cluster) -> Result<(), WebhookError> {
    let name = c.metadata.name.clone();
    if c.spec
        .control_plane_endpoint
        .as_ref()
        .is_none_or(|e| e.host.is_empty())
    {
        return Err(WebhookError::HostRequired { name });
    }
    if !c.api_version.ends_with("/v1beta2") {
        if let (Some(n), Some(e)) = (c.spec.no_cloud_provider, c.spec.cloud_provider_enabled) {
            if n == e {
                return Err(WebhookError::CloudProviderConflict { name });
            }
        }
    }
    Ok(())
}

/// Controller rule: provisioned iff the endpoint has a host and a non-zero port.
pub fn metal3_cluster_provisioned(c: &Metal3Cluster) -> Result<(), WebhookError> {
    match &c.spec.control_plane_endpoint {
        Some(ep) if !ep.host.is_empty() && ep.port != 0 => Ok(()),
        _ => Err(WebhookError::InvalidEndpoint {
            name: c.metadata.name.clone(),
        }),
    }
}

/// v1beta2 Metal3RemediationTemplate defaulting: type `Reboot`, timeoutSeconds
/// 600 when unset/0, retryLimit 1 when below 1.
pub fn default_remediation_template(t: &Metal3RemediationTemplate) -> Metal3RemediationTemplate {
    let mut t = t.clone();
    let s = t
        .spec
        .template
        .spec
        .strategy
        .get_or_insert_with(RemediationStrategy::default);
    if s.type_.as_deref().is_none_or(str::is_empty) {
        s.type_ = Some("Reboot".into());
    }
    if s.timeout_seconds.is_none_or(|v| v == 0) {
        s.timeout_seconds = Some(600);
    }
    if s.retry_limit.is_none_or(|v| v < 1) {
        s.retry_limit = Some(1);
    }
    t
}

/// v1beta2 Metal3RemediationTemplate validation.
pub fn validate_remediation_template(t: &Metal3RemediationTemplate) -> Result<(), WebhookError> {
    let name = t.metadata.name.clone();
    let s = t.spec.template.spec.strategy.clone().unwrap_or_default();
    if s.timeout_seconds.is_some_and(|v| v != 0 && v < 100) {
        return Err(WebhookError::TimeoutTooShort { name });
    }
    if s.type_.as_deref() != Some("Reboot") {
        return Err(WebhookError::UnsupportedStrategy { name });
    }
    if s.retry_limit.is_none_or(|v| v < 1) {
        return Err(WebhookError::RetryLimit { name });
    }
    Ok(())
}
