//! Metal3Data: index allocation, IP claims and metaData / networkData rendering
//! (reference §3.f), byte-compatible with CAPM3's secrets.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use metal3_hostmodel::BareMetalHost;
use metal3_ipam::{Allocation, TypedLocalReference};
use serde_json::{json, Map, Value};

use metal3_hostmodel::meta::OwnerReference;
use metal3_hostmodel::{ObjectReference, SecretReference};

use crate::goyaml;
use crate::types::{
    FromAnnotation, IndexEntry, MacAddress, Machine, Metal3Data, Metal3DataClaim, Metal3DataSpec,
    Metal3DataTemplate, Metal3DataTemplateSpec, Metal3Machine, NetworkStatic, Route, RouteGateway,
    Services, GROUP,
};

/// Finalizer CAPM3 puts on Metal3DataClaims and the Metal3Data it creates for them.
pub const DATA_CLAIM_FINALIZER: &str = "metal3dataclaim.infrastructure.cluster.x-k8s.io";

/// API group of metal3 IP pools.
pub const METAL3_IPAM_GROUP: &str = "ipam.metal3.io";
/// Kind of metal3 IP pools.
pub const METAL3_IPPOOL_KIND: &str = "IPPool";

/// Rendering errors, naming the Metal3Data and the template field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// One pool name used with two different apiGroup/kind pairs.
    #[error("Metal3Data {data}: pool {pool}: multiple references with the same name but different resource types")]
    PoolConflict {
        /// Metal3Data name.
        data: String,
        /// Pool name.
        pool: String,
    },
    /// A referenced pool has no allocation.
    #[error("Metal3Data {data}: {field}: pool {pool} not found in cache")]
    PoolNotFound {
        /// Metal3Data name.
        data: String,
        /// Template field.
        field: String,
        /// Pool name.
        pool: String,
    },
    /// `object` is not machine / metal3machine / baremetalhost.
    #[error("Metal3Data {data}: {field}: unknown object type {object:?}")]
    UnknownObject {
        /// Metal3Data name.
        data: String,
        /// Template field.
        field: String,
        /// Object as written.
        object: String,
    },
    /// No MAC for a host interface (missing NIC or empty boot MAC).
    #[error("Metal3Data {data}: {field}: no MAC address for host interface {interface:?} on BareMetalHost {host}")]
    HostInterface {
        /// Metal3Data name.
        data: String,
        /// Template field.
        field: String,
        /// Interface name (`bootMACAddress` for fromBootMAC).
        interface: String,
        /// Host name.
        host: String,
    },
    /// A link MAC is not `xx:xx:xx:xx:xx:xx`.
    #[error("Metal3Data {data}: link {link}: bad MAC address: {mac}")]
    BadMac {
        /// Metal3Data name.
        data: String,
        /// Link id.
        link: String,
        /// Value found.
        mac: String,
    },
    /// A VLAN link without `vlanID`.
    #[error("Metal3Data {data}: link {link}: vlanID is required")]
    MissingVlanId {
        /// Metal3Data name.
        data: String,
        /// Link id.
        link: String,
    },
    /// Bond parameters colliding with bond keys.
    #[error(
        "Metal3Data {data}: illegal params \"{names}\" into bond params blob into link id={link}"
    )]
    IllegalBondParams {
        /// Metal3Data name.
        data: String,
        /// Link id.
        link: String,
        /// Colliding parameter names, comma-separated.
        names: String,
    },
    /// A new claim has no Metal3Machine owner reference.
    #[error("Metal3DataClaim {claim}: metadata.ownerReferences has no Metal3Machine")]
    NoOwnerMachine {
        /// Claim name.
        claim: String,
    },
    /// A `fromPoolAnnotation` annotation is missing.
    #[error("Metal3Data {data}: {field}: annotation {annotation:?} not found on {object}")]
    PoolAnnotationMissing {
        /// Metal3Data name.
        data: String,
        /// Template field.
        field: String,
        /// Object kind.
        object: String,
        /// Annotation key.
        annotation: String,
    },
}

/// Lowest non-negative index not in `used` (CAPM3 scans 0..len for a gap).
pub fn lowest_free_index(used: &[i64]) -> i64 {
    let mut i = 0;
    while used.contains(&i) {
        i += 1;
    }
    i
}

/// Metal3Data name: `<template>-<index>`.
pub fn data_name(template: &str, index: i64) -> String {
    format!("{template}-{index}")
}

/// Rendered metadata secret name: `<m3m>-metadata`.
pub fn metadata_secret_name(m3m: &str) -> String {
    format!("{m3m}-metadata")
}

/// Rendered network data secret name: `<m3m>-networkdata`.
pub fn network_data_secret_name(m3m: &str) -> String {
    format!("{m3m}-networkdata")
}

/// The template's index list rebuilt from its Metal3Data objects (those naming
/// the template and a claim), sorted by index.
pub fn template_indexes(template: &Metal3DataTemplate, datas: &[Metal3Data]) -> Vec<IndexEntry> {
    let mut out: Vec<IndexEntry> = datas
        .iter()
        .filter(|d| d.metadata.namespace == template.metadata.namespace)
        .filter(|d| {
            d.spec
                .template
                .as_ref()
                .is_some_and(|t| t.name == template.metadata.name)
        })
        .filter_map(|d| {
            let claim = d.spec.claim.as_ref().filter(|c| !c.name.is_empty())?;
            Some(IndexEntry {
                name: claim.name.clone(),
                index: d.spec.index.unwrap_or(0),
            })
        })
        .collect();
    out.sort_by_key(|e| e.index);
    out
}

/// The Metal3Data CAPM3 creates for `claim`: the claim's existing index if it
/// has one, else the lowest free index (then the claim must be owned by a
/// Metal3Machine, which becomes the second owner).
pub fn new_metal3_data(
    template: &Metal3DataTemplate,
    claim: &Metal3DataClaim,
    indexes: &[IndexEntry],
) -> Result<Metal3Data, RenderError> {
    let ns = claim.metadata.namespace.clone();
    let m3m_owner = claim
        .metadata
        .owner_references
        .iter()
        .find(|o| o.kind == "Metal3Machine" && o.api_version.split('/').next() == Some(GROUP));
    let index = match indexes.iter().find(|e| e.name == claim.metadata.name) {
        Some(e) => e.index,
        None => {
            if m3m_owner.is_none() {
                return Err(RenderError::NoOwnerMachine {
                    claim: claim.metadata.name.clone(),
                });
            }
            let used: Vec<i64> = indexes.iter().map(|e| e.index).collect();
            lowest_free_index(&used)
        }
    };
    let mut d = Metal3Data {
        api_version: template.api_version.clone(),
        kind: "Metal3Data".into(),
        ..Default::default()
    };
    d.metadata.name = data_name(&template.metadata.name, index);
    d.metadata.namespace = ns.clone();
    d.metadata.labels = claim.metadata.labels.clone();
    d.metadata.finalizers = vec![DATA_CLAIM_FINALIZER.into()];
    d.metadata.owner_references.push(OwnerReference {
        api_version: claim.api_version.clone(),
        kind: "Metal3DataClaim".into(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    });
    if let Some(o) = m3m_owner {
        d.metadata.owner_references.push(OwnerReference {
            controller: None,
            block_owner_deletion: None,
            ..o.clone()
        });
    }
    d.spec = Metal3DataSpec {
        index: Some(index),
        template: Some(ObjectReference {
            name: template.metadata.name.clone(),
            namespace: template.metadata.namespace.clone(),
            ..Default::default()
        }),
        claim: Some(ObjectReference {
            name: claim.metadata.name.clone(),
            namespace: ns,
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(d)
}

/// Secret references a Metal3Data records, only for the parts the template defines.
pub fn data_secret_refs(
    spec: &Metal3DataTemplateSpec,
    m3m_name: &str,
    namespace: &str,
) -> (Option<SecretReference>, Option<SecretReference>) {
    let r = |name: String| SecretReference {
        name,
        namespace: namespace.to_string(),
    };
    (
        spec.meta_data
            .as_ref()
            .map(|_| r(metadata_secret_name(m3m_name))),
        spec.network_data
            .as_ref()
            .map(|_| r(network_data_secret_name(m3m_name))),
    )
}

/// The objects a Metal3Data is rendered for.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// Metal3Data name.
    pub data_name: &'a str,
    /// Metal3Data namespace.
    pub namespace: &'a str,
    /// Metal3Data index.
    pub index: i64,
    /// CAPI Machine owning the Metal3Machine.
    pub machine: &'a Machine,
    /// The Metal3Machine.
    pub m3m: &'a Metal3Machine,
    /// The associated BareMetalHost.
    pub host: &'a BareMetalHost,
}

/// An IP claim CAPM3 creates for one referenced pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolClaim {
    /// Claim name `<metal3data>-<pool>`.
    pub claim_name: String,
    /// The pool (group/kind defaulted to `ipam.metal3.io`/`IPPool`).
    pub pool: TypedLocalReference,
}

impl PoolClaim {
    /// True for metal3 IPPools (IPClaim), false for CAPI pools (IPAddressClaim).
    pub fn is_metal3(&self) -> bool {
        self.pool.api_group == METAL3_IPAM_GROUP && self.pool.kind == METAL3_IPPOOL_KIND
    }
}

struct Obj<'a> {
    name: &'a str,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
}

impl<'a> RenderContext<'a> {
    fn object(&self, field: &str, object: &str) -> Result<Obj<'a>, RenderError> {
        let meta = match object.to_lowercase().as_str() {
            "machine" => &self.machine.metadata,
            "metal3machine" => &self.m3m.metadata,
            "baremetalhost" => &self.host.metadata,
            _ => {
                return Err(RenderError::UnknownObject {
                    data: self.data_name.into(),
                    field: field.into(),
                    object: object.into(),
                })
            }
        };
        Ok(Obj {
            name: &meta.name,
            labels: &meta.labels,
            annotations: &meta.annotations,
        })
    }

    fn pool_from_annotation(&self, field: &str, a: &FromAnnotation) -> Result<String, RenderError> {
        let o = self.object(field, &a.object)?;
        o.annotations.get(&a.annotation).cloned().ok_or_else(|| {
            RenderError::PoolAnnotationMissing {
                data: self.data_name.into(),
                field: field.into(),
                object: a.object.clone(),
                annotation: a.annotation.clone(),
            }
        })
    }

    /// Pool of a static network: annotation > poolRef > ipAddressFromIPPool.
    fn network_pool(
        &self,
        field: &str,
        n: &NetworkStatic,
    ) -> Result<Option<TypedLocalReference>, RenderError> {
        if let Some(a) = &n.from_pool_annotation {
            return Ok(Some(metal3_ref(self.pool_from_annotation(field, a)?)));
        }
        if let Some(r) = &n.from_pool_ref {
            return Ok(Some(defaulted(r)));
        }
        Ok(n.ip_address_from_ippool.clone().map(metal3_ref))
    }

    /// Pool of a route gateway (a literal string wins, so no pool then).
    fn gateway_pool(
        &self,
        field: &str,
        g: &RouteGateway,
    ) -> Result<Option<TypedLocalReference>, RenderError> {
        if g.string.is_some() {
            return Ok(None);
        }
        if let Some(a) = &g.from_pool_annotation {
            return Ok(Some(metal3_ref(self.pool_from_annotation(field, a)?)));
        }
        if let Some(r) = &g.from_pool_ref {
            return Ok(Some(defaulted(r)));
        }
        Ok(g.from_ippool.clone().map(metal3_ref))
    }
}

fn metal3_ref(name: String) -> TypedLocalReference {
    TypedLocalReference {
        api_group: METAL3_IPAM_GROUP.into(),
        kind: METAL3_IPPOOL_KIND.into(),
        name,
    }
}

fn defaulted(r: &TypedLocalReference) -> TypedLocalReference {
    if r.api_group.is_empty() || r.kind.is_empty() {
        metal3_ref(r.name.clone())
    } else {
        r.clone()
    }
}

/// Every pool the template references, keyed by pool name.
pub fn pool_refs(
    spec: &Metal3DataTemplateSpec,
    ctx: &RenderContext<'_>,
) -> Result<BTreeMap<String, TypedLocalReference>, RenderError> {
    let mut refs: Vec<TypedLocalReference> = Vec::new();
    if let Some(md) = &spec.meta_data {
        // Metadata pool entries are always metal3 pools.
        for p in md
            .ip_addresses()
            .chain(md.prefixes())
            .chain(md.gateways())
            .chain(md.dns_servers())
        {
            refs.push(metal3_ref(p.name.clone()));
        }
    }
    let add_routes = |routes: &Option<Vec<Route>>,
                      refs: &mut Vec<TypedLocalReference>|
     -> Result<(), RenderError> {
        for r in routes.iter().flatten() {
            if let Some(g) = &r.gateway {
                if let Some(p) = ctx.gateway_pool("networkData.networks.routes.gateway", g)? {
                    refs.push(p);
                }
            }
            if let Some(p) = r.services.as_ref().and_then(|s| s.dns_from_ippool.clone()) {
                refs.push(metal3_ref(p));
            }
        }
        Ok(())
    };
    if let Some(nd) = &spec.network_data {
        if let Some(n) = &nd.networks {
            for s in n.ipv4.iter().flatten().chain(n.ipv6.iter().flatten()) {
                if let Some(p) = ctx.network_pool("networkData.networks", s)? {
                    refs.push(p);
                }
                add_routes(&s.routes, &mut refs)?;
            }
            for d in n
                .ipv4_dhcp
                .iter()
                .flatten()
                .chain(n.ipv6_dhcp.iter().flatten())
                .chain(n.ipv6_slaac.iter().flatten())
            {
                add_routes(&d.routes, &mut refs)?;
            }
        }
        if let Some(p) = nd.services.as_ref().and_then(|s| s.dns_from_ippool.clone()) {
            refs.push(metal3_ref(p));
        }
    }
    let mut out: BTreeMap<String, TypedLocalReference> = BTreeMap::new();
    for r in refs {
        match out.get(&r.name) {
            Some(prev) if prev != &r => {
                return Err(RenderError::PoolConflict {
                    data: ctx.data_name.into(),
                    pool: r.name,
                })
            }
            Some(_) => {}
            None => {
                out.insert(r.name.clone(), r);
            }
        }
    }
    Ok(out)
}

/// The IP claims (`<metal3data>-<pool>`) CAPM3 creates for the template.
pub fn ip_claims(
    spec: &Metal3DataTemplateSpec,
    ctx: &RenderContext<'_>,
) -> Result<Vec<PoolClaim>, RenderError> {
    Ok(pool_refs(spec, ctx)?
        .into_values()
        .map(|pool| PoolClaim {
            claim_name: format!("{}-{}", ctx.data_name, pool.name),
            pool,
        })
        .collect())
}

fn pool<'p>(
    ctx: &RenderContext<'_>,
    pools: &'p BTreeMap<String, Allocation>,
    field: &str,
    name: &str,
) -> Result<&'p Allocation, RenderError> {
    pools.get(name).ok_or_else(|| RenderError::PoolNotFound {
        data: ctx.data_name.into(),
        field: field.into(),
        pool: name.into(),
    })
}

/// Rendered metaData (`None` when the template has none), keyed map → YAML.
pub fn render_metadata(
    spec: &Metal3DataTemplateSpec,
    ctx: &RenderContext<'_>,
    pools: &BTreeMap<String, Allocation>,
) -> Result<Option<String>, RenderError> {
    let Some(md) = &spec.meta_data else {
        return Ok(None);
    };
    // Later writers win on duplicate keys, in CAPM3's processing order.
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    for h in md.from_host_interfaces.iter().flatten() {
        m.insert(
            h.key.clone(),
            host_interface_mac(ctx, h.interface.as_deref(), h.from_boot_mac == Some(true))?,
        );
    }
    for p in md.ip_addresses() {
        m.insert(
            p.key.clone(),
            pool(ctx, pools, "metaData.ipAddressesFromIPPool", &p.name)?
                .address
                .clone(),
        );
    }
    for p in md.prefixes() {
        m.insert(
            p.key.clone(),
            pool(ctx, pools, "metaData.prefixesFromIPPool", &p.name)?
                .prefix
                .to_string(),
        );
    }
    for p in md.gateways() {
        let a = pool(ctx, pools, "metaData.gatewaysFromIPPool", &p.name)?;
        m.insert(p.key.clone(), a.gateway.clone().unwrap_or_default());
    }
    for i in md.indexes.iter().flatten() {
        let step = match i.step.unwrap_or(1) {
            0 => 1,
            s => s,
        };
        let n = i.offset.unwrap_or(0) + ctx.index * step;
        let v = format!(
            "{}{n}{}",
            i.prefix.as_deref().unwrap_or(""),
            i.suffix.as_deref().unwrap_or("")
        );
        m.insert(i.key.clone(), v);
    }
    for n in md.namespaces.iter().flatten() {
        m.insert(n.key.clone(), ctx.namespace.to_string());
    }
    for o in md.object_names.iter().flatten() {
        m.insert(
            o.key.clone(),
            ctx.object("metaData.objectNames", &o.object)?
                .name
                .to_string(),
        );
    }
    for l in md.from_labels.iter().flatten() {
        let o = ctx.object("metaData.fromLabels", &l.object)?;
        m.insert(
            l.key.clone(),
            o.labels.get(&l.label).cloned().unwrap_or_default(),
        );
    }
    for a in md.from_annotations.iter().flatten() {
        let o = ctx.object("metaData.fromAnnotations", &a.object)?;
        m.insert(
            a.key.clone(),
            o.annotations
                .get(&a.annotation)
                .cloned()
                .unwrap_or_default(),
        );
    }
    for s in md.strings.iter().flatten() {
        m.insert(s.key.clone(), s.value.clone());
    }
    m.insert(
        "providerid".into(),
        format!(
            "{}/{}/{}",
            ctx.m3m.metadata.namespace, ctx.host.metadata.name, ctx.m3m.metadata.name
        ),
    );
    let v = Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
    Ok(Some(goyaml::to_string(&v)))
}

fn host_interface_mac(
    ctx: &RenderContext<'_>,
    interface: Option<&str>,
    boot_mac: bool,
) -> Result<String, RenderError> {
    let err = |i: &str| RenderError::HostInterface {
        data: ctx.data_name.into(),
        field: "fromHostInterface".into(),
        interface: i.into(),
        host: ctx.host.metadata.name.clone(),
    };
    if boot_mac {
        return ctx
            .host
            .spec
            .boot_mac_address
            .clone()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| err("bootMACAddress"));
    }
    let name = interface.unwrap_or_default();
    ctx.host
        .status
        .as_ref()
        .and_then(|s| s.hardware.as_ref())
        .and_then(|h| h.nics.iter().find(|n| n.name == name))
        .map(|n| n.mac.clone())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| err(name))
}

fn valid_mac(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 17
        && b.chunks(3).enumerate().all(|(i, c)| {
            c[0].is_ascii_hexdigit()
                && c[1].is_ascii_hexdigit()
                && (i == 5 || c.get(2).is_some_and(|&d| d == b':' || d == b'-'))
        })
}

fn link_mac(ctx: &RenderContext<'_>, link: &str, mac: &MacAddress) -> Result<String, RenderError> {
    let v = if let Some(s) = &mac.string {
        s.clone()
    } else if let Some(i) = &mac.from_host_interface {
        host_interface_mac(ctx, Some(i), false)?
    } else if let Some(a) = &mac.from_annotation {
        let o = ctx.object("networkData.links.macAddress.fromAnnotation", &a.object)?;
        o.annotations
            .get(&a.annotation)
            .cloned()
            .unwrap_or_default()
    } else {
        String::new()
    };
    if valid_mac(&v) {
        Ok(v)
    } else {
        Err(RenderError::BadMac {
            data: ctx.data_name.into(),
            link: link.into(),
            mac: v,
        })
    }
}

fn netmask(prefix: i64, v6: bool) -> String {
    let p = prefix.clamp(0, if v6 { 128 } else { 32 }) as u32;
    if v6 {
        let m = if p == 0 { 0 } else { u128::MAX << (128 - p) };
        Ipv6Addr::from(m).to_string()
    } else {
        let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
        Ipv4Addr::from(m).to_string()
    }
}

fn dns_list(
    ctx: &RenderContext<'_>,
    pools: &BTreeMap<String, Allocation>,
    field: &str,
    s: Option<&Services>,
) -> Result<Vec<Value>, RenderError> {
    let mut out = Vec::new();
    let Some(s) = s else {
        return Ok(out);
    };
    for d in s.dns.iter().flatten() {
        out.push(json!({"type": "dns", "address": d}));
    }
    if let Some(p) = &s.dns_from_ippool {
        for d in &pool(ctx, pools, field, p)?.dns_servers {
            out.push(json!({"type": "dns", "address": d}));
        }
    }
    Ok(out)
}

fn routes(
    ctx: &RenderContext<'_>,
    pools: &BTreeMap<String, Allocation>,
    rs: &Option<Vec<Route>>,
    v6: bool,
) -> Result<Value, RenderError> {
    let mut out = Vec::new();
    for r in rs.iter().flatten() {
        let field = "networkData.networks.routes";
        let gateway = match &r.gateway {
            Some(g) => match (&g.string, ctx.gateway_pool(field, g)?) {
                (Some(s), _) => s.clone(),
                (None, Some(p)) => pool(ctx, pools, field, &p.name)?
                    .gateway
                    .clone()
                    .unwrap_or_default(),
                (None, None) => String::new(),
            },
            None => String::new(),
        };
        out.push(json!({
            "network": r.network.clone().unwrap_or_default(),
            "netmask": netmask(r.prefix.unwrap_or(0), v6),
            "gateway": gateway,
            "services": dns_list(ctx, pools, field, r.services.as_ref())?,
        }));
    }
    Ok(Value::Array(out))
}

/// Rendered networkData in OpenStack `network_data.json` layout (`None` when the
/// template has none).
pub fn render_network_data(
    spec: &Metal3DataTemplateSpec,
    ctx: &RenderContext<'_>,
    pools: &BTreeMap<String, Allocation>,
) -> Result<Option<String>, RenderError> {
    let Some(nd) = &spec.network_data else {
        return Ok(None);
    };
    let mut links = Vec::new();
    if let Some(l) = &nd.links {
        for b in l.bonds.iter().flatten() {
            let mut o = Map::new();
            o.insert("type".into(), json!("bond"));
            o.insert("id".into(), json!(b.id));
            o.insert("mtu".into(), json!(b.mtu.unwrap_or(1500)));
            o.insert(
                "bond_mode".into(),
                json!(b.bond_mode.clone().unwrap_or_default()),
            );
            o.insert(
                "bond_xmit_hash_policy".into(),
                json!(b.bond_xmit_hash_policy.clone().unwrap_or_default()),
            );
            o.insert(
                "bond_links".into(),
                json!(b.bond_links.clone().unwrap_or_default()),
            );
            if let Some(n) = &b.name {
                o.insert("name".into(), json!(n));
            }
            if let Some(m) = &b.mac_address {
                o.insert(
                    "ethernet_mac_address".into(),
                    json!(link_mac(ctx, &b.id, m)?),
                );
            }
            let params: Vec<(String, Value)> = match &b.parameters {
                Some(crate::types::BondParameters::Map(m)) => {
                    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                }
                Some(crate::types::BondParameters::List(l)) => l
                    .iter()
                    .map(|p| (p.name.clone(), p.value.clone()))
                    .collect(),
                None => Vec::new(),
            };
            let mut illegal = Vec::new();
            for (name, value) in params {
                let key = format!("bond_{name}");
                if o.contains_key(&key) {
                    illegal.push(name);
                } else {
                    o.insert(key, value);
                }
            }
            if !illegal.is_empty() {
                return Err(RenderError::IllegalBondParams {
                    data: ctx.data_name.into(),
                    link: b.id.clone(),
                    names: illegal.join(","),
                });
            }
            links.push(Value::Object(o));
        }
        for e in l.ethernets.iter().flatten() {
            let mut o = Map::new();
            o.insert("type".into(), json!(e.type_));
            o.insert("id".into(), json!(e.id));
            o.insert("mtu".into(), json!(e.mtu.unwrap_or(1500)));
            if let Some(n) = &e.name {
                o.insert("name".into(), json!(n));
            }
            if let Some(m) = &e.mac_address {
                o.insert(
                    "ethernet_mac_address".into(),
                    json!(link_mac(ctx, &e.id, m)?),
                );
            }
            links.push(Value::Object(o));
        }
        for v in l.vlans.iter().flatten() {
            let vlan_id = v.vlan_id.ok_or_else(|| RenderError::MissingVlanId {
                data: ctx.data_name.into(),
                link: v.id.clone(),
            })?;
            let mut o = Map::new();
            o.insert("type".into(), json!("vlan"));
            o.insert("id".into(), json!(v.id));
            o.insert("mtu".into(), json!(v.mtu.unwrap_or(1500)));
            o.insert(
                "vlan_link".into(),
                json!(v.vlan_link.clone().unwrap_or_default()),
            );
            o.insert("vlan_id".into(), json!(vlan_id));
            if let Some(n) = &v.name {
                o.insert("name".into(), json!(n));
            }
            if let Some(m) = &v.mac_address {
                o.insert("vlan_mac_address".into(), json!(link_mac(ctx, &v.id, m)?));
            }
            links.push(Value::Object(o));
        }
    }
    let mut networks = Vec::new();
    if let Some(n) = &nd.networks {
        for (list, v6, ty) in [(&n.ipv4, false, "ipv4"), (&n.ipv6, true, "ipv6")] {
            for s in list.iter().flatten() {
                let field = format!("networkData.networks.{ty}");
                let (address, mask) = match ctx.network_pool(&field, s)? {
                    Some(p) => {
                        let a = pool(ctx, pools, &field, &p.name)?;
                        (a.address.clone(), netmask(i64::from(a.prefix), v6))
                    }
                    None => (String::new(), String::new()),
                };
                networks.push(json!({
                    "type": ty, "id": s.id, "link": s.link,
                    "ip_address": address, "netmask": mask,
                    "routes": routes(ctx, pools, &s.routes, v6)?,
                }));
            }
        }
        for (list, v6, ty) in [
            (&n.ipv4_dhcp, false, "ipv4_dhcp"),
            (&n.ipv6_dhcp, true, "ipv6_dhcp"),
            (&n.ipv6_slaac, true, "ipv6_slaac"),
        ] {
            for d in list.iter().flatten() {
                networks.push(json!({
                    "type": ty, "id": d.id, "link": d.link,
                    "routes": routes(ctx, pools, &d.routes, v6)?,
                }));
            }
        }
    }
    let services = dns_list(ctx, pools, "networkData.services", nd.services.as_ref())?;
    let v = json!({"links": links, "networks": networks, "services": services});
    Ok(Some(goyaml::to_string(&v)))
}
