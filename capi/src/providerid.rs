//! Provider ID handling after the host is provisioned (reference §3.b): which
//! workload-cluster Node to tie to the Metal3Machine and what to write.

use std::collections::BTreeMap;

use crate::select::{provider_id, SelectError};
use crate::types::Metal3Machine;

/// Node label carrying the BareMetalHost UID (set by the kubeadm templates).
pub const UUID_LABEL: &str = "metal3.io/uuid";
/// Node label with the kubelet's hostname.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// What CAPM3 reads of a workload-cluster Node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// `spec.providerID` (empty when unset).
    pub provider_id: String,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
}

/// Decision of one provider-ID pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderIdDecision {
    /// The Metal3Machine's providerID is on exactly one Node: mark provisioned.
    Provisioned,
    /// Set the Metal3Machine providerID (the Node already carries it); mark provisioned.
    Adopt {
        /// The provider ID.
        provider_id: String,
    },
    /// Set the Metal3Machine providerID, mark provisioned and patch the Node's
    /// `spec.providerID`; without a node the caller requeues after 30s.
    SetOnNode {
        /// The provider ID.
        provider_id: String,
        /// The Node to patch, when exactly one was found.
        node: Option<String>,
    },
    /// Nothing to decide yet; requeue after 30s.
    Requeue,
}

/// Provider-ID errors, naming the machine and nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderIdError {
    /// The host annotation is unusable.
    #[error(transparent)]
    Annotation(#[from] SelectError),
    /// Several nodes share a provider ID (or the host's prefix).
    #[error("Metal3Machine {machine}: nodes {nodes:?} share provider ID {provider_id}")]
    Duplicate {
        /// Metal3Machine name.
        machine: String,
        /// Offending provider ID or prefix.
        provider_id: String,
        /// Node names.
        nodes: Vec<String>,
    },
    /// More than one node has the host's `metal3.io/uuid` label.
    #[error("Metal3Machine {machine}: nodes {nodes:?} all carry label metal3.io/uuid={uid}")]
    MultipleLabelled {
        /// Metal3Machine name.
        machine: String,
        /// Host UID.
        uid: String,
        /// Node names.
        nodes: Vec<String>,
    },
    /// The labelled node has another provider ID.
    #[error("Metal3Machine {machine}: node {node} using unsupported providerID format {found:?}")]
    Mismatch {
        /// Metal3Machine name.
        machine: String,
        /// Node name.
        node: String,
        /// Provider ID on the node.
        found: String,
    },
}

fn duplicate_check(
    m3m: &Metal3Machine,
    nodes: &[NodeInfo],
    expected: &str,
) -> Result<(), ProviderIdError> {
    let mut by_id: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for n in nodes.iter().filter(|n| !n.provider_id.is_empty()) {
        by_id
            .entry(&n.provider_id)
            .or_default()
            .push(n.name.clone());
    }
    if let Some((id, names)) = by_id.iter().find(|(_, v)| v.len() > 1) {
        return Err(ProviderIdError::Duplicate {
            machine: m3m.metadata.name.clone(),
            provider_id: id.to_string(),
            nodes: names.clone(),
        });
    }
    // metal3://<ns>/<bmh>/ : one host can back only one node.
    let host_prefix = match expected.rfind('/') {
        Some(i) => &expected[..=i],
        None => expected,
    };
    let same_host: Vec<String> = nodes
        .iter()
        .filter(|n| n.provider_id.contains(host_prefix))
        .map(|n| n.name.clone())
        .collect();
    if same_host.len() > 1 {
        return Err(ProviderIdError::Duplicate {
            machine: m3m.metadata.name.clone(),
            provider_id: host_prefix.to_string(),
            nodes: same_host,
        });
    }
    Ok(())
}

/// One provider-ID pass for a provisioned host. `bmh_uid` is the host's UID,
/// `bootstrap_config_ref` whether the Machine has a bootstrap configRef, and
/// `hostnames` the Metal3Machine's `Hostname` addresses.
pub fn decide(
    m3m: &Metal3Machine,
    nodes: &[NodeInfo],
    cloud_provider_enabled: bool,
    bmh_uid: &str,
    bootstrap_config_ref: bool,
    hostnames: &[String],
) -> Result<ProviderIdDecision, ProviderIdError> {
    let current = m3m.spec.provider_id.clone().unwrap_or_default();
    if !current.is_empty() && nodes.iter().filter(|n| n.provider_id == current).count() == 1 {
        return Ok(ProviderIdDecision::Provisioned);
    }
    let expected = provider_id(m3m)?;
    if cloud_provider_enabled {
        duplicate_check(m3m, nodes, &expected)?;
        return Ok(if nodes.iter().any(|n| n.provider_id == expected) {
            ProviderIdDecision::Adopt {
                provider_id: expected,
            }
        } else {
            ProviderIdDecision::Requeue
        });
    }
    let labelled: Vec<&NodeInfo> = nodes
        .iter()
        .filter(|n| n.labels.get(UUID_LABEL).map(String::as_str) == Some(bmh_uid))
        .collect();
    match labelled.as_slice() {
        [] if bootstrap_config_ref => Ok(ProviderIdDecision::Requeue),
        [] if current.is_empty() => {
            let by_host: Vec<&NodeInfo> = nodes
                .iter()
                .filter(|n| {
                    n.labels
                        .get(HOSTNAME_LABEL)
                        .is_some_and(|h| hostnames.contains(h))
                })
                .collect();
            let node = match by_host.as_slice() {
                [n] => Some(n.name.clone()),
                _ => None,
            };
            Ok(ProviderIdDecision::SetOnNode {
                provider_id: expected,
                node,
            })
        }
        [] => Ok(ProviderIdDecision::Requeue),
        [n] if n.provider_id.is_empty() => Ok(ProviderIdDecision::SetOnNode {
            provider_id: expected,
            node: Some(n.name.clone()),
        }),
        [n] if n.provider_id == expected => Ok(ProviderIdDecision::Adopt {
            provider_id: expected,
        }),
        [n] => Err(ProviderIdError::Mismatch {
            machine: m3m.metadata.name.clone(),
            node: n.name.clone(),
            found: n.provider_id.clone(),
        }),
        many => Err(ProviderIdError::MultipleLabelled {
            machine: m3m.metadata.name.clone(),
            uid: bmh_uid.to_string(),
            nodes: many.iter().map(|n| n.name.clone()).collect(),
        }),
    }
}
