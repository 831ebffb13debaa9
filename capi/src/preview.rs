//! Offline rendering of a Metal3DataTemplate for one host (`metal3ctl render`):
//! the metaData and networkData CAPM3 would write, with IP addresses allocated
//! from the pools as they stand in the given manifests, without storing anything.

use std::collections::BTreeMap;

use metal3_hostmodel::BareMetalHost;
use metal3_ipam::{Allocation, IPAddress, IPClaim, IPPool, IpamError, PoolAllocator};

use crate::render::{self, RenderContext, RenderError};
use crate::select::HOST_ANNOTATION;
use crate::types::{Machine, MachineSpec, Metal3DataTemplate, Metal3Machine};

/// What an offline render needs. Pools and addresses are the manifests' ones;
/// pools not referenced by the template are ignored.
#[derive(Debug, Clone, Copy)]
pub struct PreviewInput<'a> {
    /// The template.
    pub template: &'a Metal3DataTemplate,
    /// The host the machine would be associated with.
    pub host: &'a BareMetalHost,
    /// Metal³ IPPools available by name (same namespace as the template).
    pub pools: &'a [IPPool],
    /// Existing IPAddress objects (their addresses count as taken).
    pub addresses: &'a [IPAddress],
    /// Metal3Data index.
    pub index: i64,
    /// The Metal3Machine, if the manifests hold one; else a stand-in named `machine_name`.
    pub m3m: Option<&'a Metal3Machine>,
    /// Name of the stand-in Metal3Machine.
    pub machine_name: &'a str,
    /// The CAPI Machine, if the manifests hold one; else one named like the Metal3Machine.
    pub machine: Option<&'a Machine>,
}

/// The rendered documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// Metal3Data name `<template>-<index>`.
    pub data_name: String,
    /// IP allocations by pool name.
    pub allocations: BTreeMap<String, Allocation>,
    /// Rendered metaData (`None` when the template has none).
    pub meta_data: Option<String>,
    /// Rendered networkData (`None` when the template has none).
    pub network_data: Option<String>,
}

/// Why an offline render failed.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The template or host is not renderable.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The template references a pool the manifests do not hold.
    #[error("Metal3DataTemplate {template}: IPPool {pool:?} not found in namespace {namespace:?}")]
    PoolMissing {
        /// Template name.
        template: String,
        /// Pool name.
        pool: String,
        /// Namespace searched.
        namespace: String,
    },
    /// The template references a CAPI (non-metal3) pool, which needs its provider.
    #[error("Metal3DataTemplate {template}: pool {pool:?} is a {group}/{kind}; only ipam.metal3.io IPPools can be rendered offline")]
    ForeignPool {
        /// Template name.
        template: String,
        /// Pool name.
        pool: String,
        /// Pool API group.
        group: String,
        /// Pool kind.
        kind: String,
    },
    /// Allocation from a pool failed.
    #[error(transparent)]
    Ipam(#[from] IpamError),
}

/// The Metal3Machine and Machine a render is for: the given ones, else
/// stand-ins named `name` in `namespace` annotated with the host.
pub fn machine_pair(
    name: &str,
    namespace: &str,
    cluster_name: &str,
    host: &BareMetalHost,
    m3m: Option<&Metal3Machine>,
    machine: Option<&Machine>,
) -> (Metal3Machine, Machine) {
    let mut m = m3m.cloned().unwrap_or_else(|| {
        let mut m = Metal3Machine {
            api_version: crate::types::V1BETA1.into(),
            kind: "Metal3Machine".into(),
            ..Default::default()
        };
        m.metadata.name = name.into();
        m.metadata.namespace = namespace.into();
        m
    });
    m.metadata.annotations.insert(
        HOST_ANNOTATION.into(),
        format!("{}/{}", host.metadata.namespace, host.metadata.name),
    );
    let machine = machine.cloned().unwrap_or_else(|| {
        let mut mc = Machine {
            api_version: "cluster.x-k8s.io/v1beta1".into(),
            kind: "Machine".into(),
            spec: MachineSpec {
                cluster_name: cluster_name.into(),
                ..Default::default()
            },
            ..Default::default()
        };
        mc.metadata.name = m.metadata.name.clone();
        mc.metadata.namespace = m.metadata.namespace.clone();
        mc
    });
    (m, machine)
}

/// Renders `input.template` for `input.host` at `input.index`, allocating one
/// address per referenced pool for claim `<template>-<index>-<pool>`.
pub fn preview(input: PreviewInput<'_>) -> Result<Preview, PreviewError> {
    let t = input.template;
    let ns = t.metadata.namespace.as_str();
    let data_name = render::data_name(&t.metadata.name, input.index);
    let cluster = t.spec.cluster_name.clone().unwrap_or_default();
    let (m3m, machine) = machine_pair(
        input.machine_name,
        ns,
        &cluster,
        input.host,
        input.m3m,
        input.machine,
    );
    let ctx = RenderContext {
        data_name: &data_name,
        namespace: ns,
        index: input.index,
        machine: &machine,
        m3m: &m3m,
        host: input.host,
    };
    let mut allocations = BTreeMap::new();
    for claim in render::ip_claims(&t.spec, &ctx)? {
        if !claim.is_metal3() {
            return Err(PreviewError::ForeignPool {
                template: t.metadata.name.clone(),
                pool: claim.pool.name,
                group: claim.pool.api_group,
                kind: claim.pool.kind,
            });
        }
        let pool = input
            .pools
            .iter()
            .find(|p| p.metadata.name == claim.pool.name && p.metadata.namespace == ns)
            .ok_or_else(|| PreviewError::PoolMissing {
                template: t.metadata.name.clone(),
                pool: claim.pool.name.clone(),
                namespace: ns.into(),
            })?;
        let mut alloc = PoolAllocator::from_state(pool, input.addresses, &[])?;
        let mut ipclaim = IPClaim::default();
        ipclaim.metadata.name = claim.claim_name.clone();
        ipclaim.metadata.namespace = ns.into();
        let a = match alloc.get(&claim.claim_name) {
            Some(a) => a,
            None => alloc.allocate(&ipclaim)?,
        };
        allocations.insert(claim.pool.name, a);
    }
    let meta_data = render::render_metadata(&t.spec, &ctx, &allocations)?;
    let network_data = render::render_network_data(&t.spec, &ctx, &allocations)?;
    Ok(Preview {
        data_name,
        allocations,
        meta_data,
        network_data,
    })
}
