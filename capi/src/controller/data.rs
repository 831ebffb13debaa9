//! Metal3DataClaim → Metal3Data → rendered Secrets (reference §3.f): the data
//! template controller's create/delete for one claim and the Metal3Data
//! controller's render/release.

use std::collections::BTreeMap;

use metal3_hostmodel::meta::OwnerReference;
use metal3_hostmodel::store::{ObjectKey, Store, StoreError, StoreExt};
use metal3_hostmodel::ObjectReference;
use metal3_ipam::{Allocation, IPClaim};
use serde_json::json;

use super::ip::{allocate_ip, release_ip};
use super::{
    add_finalizer, delete_quietly, describe, get_opt, save, Next, ReconcileError, CLAIM_KIND,
    DATA_FINALIZER, DATA_KIND, DATA_SECRET_TYPE, HOST_KIND, IPCLAIM_KIND, M3DT_KIND, M3M_KIND,
    MACHINE_KIND, SECRET_KIND,
};
use crate::render::{
    self, data_secret_refs, ip_claims, new_metal3_data, template_indexes, RenderContext,
    DATA_CLAIM_FINALIZER,
};
use crate::select::{CLUSTER_NAME_LABEL, HOST_ANNOTATION};
use crate::types::{
    Indexes, Machine, Metal3Data, Metal3DataClaim, Metal3DataClaimStatus, Metal3DataStatus,
    Metal3DataTemplate, Metal3Machine, GROUP,
};

fn claim_key(c: &Metal3DataClaim) -> ObjectKey {
    ObjectKey::new(CLAIM_KIND, &c.metadata.namespace, &c.metadata.name)
}

fn data_key(ns: &str, name: &str) -> ObjectKey {
    ObjectKey::new(DATA_KIND, ns, name)
}

/// Data template controller, create half, for one claim: gives it a
/// Metal3Data (`<template>-<lowest free index>`) and records it in
/// `status.renderedData`. Returns the Metal3Data once it exists.
pub fn reconcile_claim(
    store: &dyn Store,
    key: &ObjectKey,
) -> Result<Option<Metal3Data>, ReconcileError> {
    let Some(claim) = get_opt::<Metal3DataClaim>(store, key)? else {
        return Ok(None);
    };
    if claim.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let ns = claim.metadata.namespace.clone();
    if let Some(r) = claim.status.as_ref().and_then(|s| s.rendered_data.as_ref()) {
        if let Some(d) = get_opt::<Metal3Data>(store, &data_key(&ns, &r.name))? {
            return Ok(Some(d));
        }
    }
    let tname = claim.spec.template.name.clone();
    let tkey = ObjectKey::new(M3DT_KIND, &ns, &tname);
    let template: Metal3DataTemplate =
        get_opt(store, &tkey)?.ok_or_else(|| ReconcileError::Invalid {
            object: describe(key),
            problem: format!("Metal3DataTemplate {ns}/{tname} not found"),
        })?;
    let datas: Vec<Metal3Data> = store.list_as(DATA_KIND, Some(&ns), None)?;
    let indexes = template_indexes(&template, &datas);
    let mut next = claim.clone();
    add_finalizer(&mut next.metadata.finalizers, DATA_CLAIM_FINALIZER);
    let data = match indexes.iter().find(|e| e.name == claim.metadata.name) {
        Some(e) => {
            let name = render::data_name(&tname, e.index);
            get_opt::<Metal3Data>(store, &data_key(&ns, &name))?
        }
        None => None,
    };
    let data = match data {
        Some(d) => d,
        None => {
            let d = new_metal3_data(&template, &claim, &indexes)?;
            // AlreadyExists (another claim took the index first) makes the pass retry.
            store.create_typed(&d)?
        }
    };
    next.status
        .get_or_insert_with(Metal3DataClaimStatus::default)
        .rendered_data = Some(ObjectReference {
        name: data.metadata.name.clone(),
        namespace: ns.clone(),
        ..Default::default()
    });
    save(store, &claim, &next)?;
    record_indexes(store, &ns, &tname)?;
    Ok(Some(data))
}

/// Writes the template's `status.indexes` (claim → index, rebuilt from its
/// Metal3Data; a map in v1beta1, a list sorted by index in v1beta2) and
/// `lastUpdated`, when they changed.
fn record_indexes(store: &dyn Store, ns: &str, template: &str) -> Result<(), ReconcileError> {
    let key = ObjectKey::new(M3DT_KIND, ns, template);
    let Some(t) = get_opt::<Metal3DataTemplate>(store, &key)? else {
        return Ok(());
    };
    let datas: Vec<Metal3Data> = store.list_as(DATA_KIND, Some(ns), None)?;
    let entries = template_indexes(&t, &datas);
    let indexes = if t.is_v1beta2() {
        Indexes::List(entries)
    } else {
        Indexes::Map(entries.into_iter().map(|e| (e.name, e.index)).collect())
    };
    let current = t.status.as_ref().and_then(|s| s.indexes.as_ref());
    let empty = matches!(&indexes, Indexes::List(l) if l.is_empty())
        || matches!(&indexes, Indexes::Map(m) if m.is_empty());
    if current == Some(&indexes) || (current.is_none() && empty) {
        return Ok(());
    }
    let mut next = t.clone();
    let st = next.status.get_or_insert_with(Default::default);
    st.indexes = Some(indexes);
    st.last_updated = Some(metal3_hostmodel::time::Time::now());
    match save(store, &t, &next) {
        Ok(_) => Ok(()),
        // Someone else recorded first; the next pass writes the fresh list.
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Metal3Data controller for one Metal3Data: IP claims and addresses, then
/// the rendered Secrets, then `status.ready`. Existing Secrets are never
/// re-rendered (so a host can be re-provisioned identically).
pub fn reconcile_data(store: &dyn Store, key: &ObjectKey) -> Result<Next, ReconcileError> {
    super::absorb(reconcile_data_pass(store, key))
}

fn owner<'a>(d: &'a Metal3Data, kind: &str) -> Option<&'a OwnerReference> {
    d.metadata
        .owner_references
        .iter()
        .find(|o| o.kind == kind && o.api_version.split('/').next() == Some(GROUP))
}

fn reconcile_data_pass(store: &dyn Store, key: &ObjectKey) -> Result<Next, ReconcileError> {
    let Some(data) = get_opt::<Metal3Data>(store, key)? else {
        return Ok(Next::Done);
    };
    if data.metadata.deletion_timestamp.is_some() {
        release_data(store, key)?;
        return Ok(Next::Done);
    }
    if data.status.as_ref().and_then(|s| s.ready) == Some(true) {
        return Ok(Next::Done);
    }
    let ns = data.metadata.namespace.clone();
    let tname = data
        .spec
        .template
        .as_ref()
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let template: Metal3DataTemplate = get_opt(store, &ObjectKey::new(M3DT_KIND, &ns, &tname))?
        .ok_or_else(|| ReconcileError::Invalid {
            object: describe(key),
            problem: format!("Metal3DataTemplate {ns}/{tname} not found"),
        })?;
    let m3m_name = owner(&data, M3M_KIND)
        .map(|o| o.name.clone())
        .ok_or_else(|| ReconcileError::Invalid {
            object: describe(key),
            problem: "metadata.ownerReferences has no Metal3Machine".into(),
        })?;
    let (md_ref, nd_ref) = data_secret_refs(&template.spec, &m3m_name, &ns);
    let exists = |r: &Option<metal3_hostmodel::SecretReference>| -> Result<bool, StoreError> {
        match r {
            None => Ok(true),
            Some(r) => Ok(store
                .get(&ObjectKey::new(SECRET_KIND, &ns, &r.name))
                .map(|_| true)
                .or_else(|e| if e.is_not_found() { Ok(false) } else { Err(e) })?),
        }
    };
    let mut next = data.clone();
    add_finalizer(&mut next.metadata.finalizers, DATA_FINALIZER);
    if !(exists(&md_ref)? && exists(&nd_ref)?) {
        let m3m: Metal3Machine = match get_opt(store, &ObjectKey::new(M3M_KIND, &ns, &m3m_name))? {
            Some(m) => m,
            None => {
                return Ok(Next::after(
                    30,
                    format!("Metal3Machine {m3m_name} not found"),
                ))
            }
        };
        let machine: Option<Machine> = m3m
            .metadata
            .owner_references
            .iter()
            .find(|o| o.kind == MACHINE_KIND)
            .map(|o| get_opt(store, &ObjectKey::new(MACHINE_KIND, &ns, &o.name)))
            .transpose()?
            .flatten();
        let Some(machine) = machine else {
            return Ok(Next::after(30, "waiting for the Machine"));
        };
        let host = match m3m
            .metadata
            .annotations
            .get(HOST_ANNOTATION)
            .and_then(|v| v.split_once('/'))
        {
            Some((hns, hname)) => get_opt(store, &ObjectKey::new(HOST_KIND, hns, hname))?,
            None => None,
        };
        let Some(host) = host else {
            return Ok(Next::after(30, "waiting for the BareMetalHost"));
        };
        let index = data.spec.index.unwrap_or(0);
        let ctx = RenderContext {
            data_name: &data.metadata.name,
            namespace: &ns,
            index,
            machine: &machine,
            m3m: &m3m,
            host: &host,
        };
        let mut pools: BTreeMap<String, Allocation> = BTreeMap::new();
        for pc in ip_claims(&template.spec, &ctx)? {
            if !pc.is_metal3() {
                return Err(ReconcileError::Invalid {
                    object: describe(key),
                    problem: format!(
                        "pool {} is a {}/{}; only ipam.metal3.io IPPools are supported",
                        pc.pool.name, pc.pool.api_group, pc.pool.kind
                    ),
                });
            }
            let ckey = ObjectKey::new(IPCLAIM_KIND, &ns, &pc.claim_name);
            if get_opt::<IPClaim>(store, &ckey)?.is_none() {
                let mut c = IPClaim {
                    api_version: "ipam.metal3.io/v1alpha1".into(),
                    kind: IPCLAIM_KIND.into(),
                    ..Default::default()
                };
                c.metadata.name = pc.claim_name.clone();
                c.metadata.namespace = ns.clone();
                c.metadata.labels = data.metadata.labels.clone();
                c.metadata.finalizers = vec![DATA_FINALIZER.into()];
                c.metadata.owner_references = vec![OwnerReference {
                    api_version: data.api_version.clone(),
                    kind: DATA_KIND.into(),
                    name: data.metadata.name.clone(),
                    uid: data.metadata.uid.clone().unwrap_or_default(),
                    controller: Some(true),
                    block_owner_deletion: None,
                }];
                c.spec.pool = ObjectReference {
                    name: pc.pool.name.clone(),
                    namespace: ns.clone(),
                    ..Default::default()
                };
                store.create_typed(&c)?;
            }
            match allocate_ip(store, &ckey, &pc.pool.name)? {
                Some(a) => {
                    pools.insert(pc.pool.name.clone(), a);
                }
                None => {
                    return Ok(Next::after(
                        1,
                        format!("waiting for IPClaim {}", pc.claim_name),
                    ))
                }
            }
        }
        let owner = OwnerReference {
            api_version: data.api_version.clone(),
            kind: DATA_KIND.into(),
            name: data.metadata.name.clone(),
            uid: data.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        let rendered = [
            (
                md_ref.as_ref(),
                "metaData",
                render::render_metadata(&template.spec, &ctx, &pools)?,
            ),
            (
                nd_ref.as_ref(),
                "networkData",
                render::render_network_data(&template.spec, &ctx, &pools)?,
            ),
        ];
        for (r, field, text) in rendered {
            let (Some(r), Some(text)) = (r, text) else {
                continue;
            };
            let secret = json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": r.name, "namespace": ns,
                             "labels": {CLUSTER_NAME_LABEL: machine.spec.cluster_name},
                             "ownerReferences": [owner]},
                "type": DATA_SECRET_TYPE,
                "stringData": {field: text},
            });
            match store.create(secret) {
                Ok(_) => {}
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    next.spec.meta_data = md_ref;
    next.spec.network_data = nd_ref;
    let st = next.status.get_or_insert_with(Metal3DataStatus::default);
    st.ready = Some(true);
    st.error_message = None;
    save(store, &data, &next)?;
    Ok(Next::Done)
}

/// Metal3Data deletion: releases its IP claims, deletes its rendered Secrets
/// (the API server's garbage collector would, through their owner reference)
/// and drops its finalizers so it goes.
pub fn release_data(store: &dyn Store, key: &ObjectKey) -> Result<(), ReconcileError> {
    let Some(data) = get_opt::<Metal3Data>(store, key)? else {
        return Ok(());
    };
    let ns = &data.metadata.namespace;
    let claims: Vec<IPClaim> = store.list_as(IPCLAIM_KIND, Some(ns), None)?;
    for c in claims.iter().filter(|c| {
        c.metadata
            .owner_references
            .iter()
            .any(|o| o.kind == DATA_KIND && o.name == data.metadata.name)
    }) {
        release_ip(store, &ObjectKey::new(IPCLAIM_KIND, ns, &c.metadata.name))?;
    }
    for r in [&data.spec.meta_data, &data.spec.network_data]
        .into_iter()
        .flatten()
    {
        delete_quietly(store, &ObjectKey::new(SECRET_KIND, ns, &r.name))?;
    }
    let mut next = data.clone();
    next.metadata
        .finalizers
        .retain(|f| f != DATA_FINALIZER && f != DATA_CLAIM_FINALIZER);
    if next.metadata.deletion_timestamp.is_none() {
        save(store, &data, &next)?;
        delete_quietly(store, key)?;
    } else {
        save(store, &data, &next)?;
    }
    Ok(())
}

/// Data template controller, delete half: the claim's Metal3Data is released
/// and deleted, then the claim loses its finalizers and goes.
pub fn delete_claim(store: &dyn Store, key: &ObjectKey) -> Result<(), ReconcileError> {
    let Some(claim) = get_opt::<Metal3DataClaim>(store, key)? else {
        return Ok(());
    };
    let ns = claim.metadata.namespace.clone();
    let mut data_names: Vec<String> = Vec::new();
    if let Some(r) = claim.status.as_ref().and_then(|s| s.rendered_data.as_ref()) {
        data_names.push(r.name.clone());
    }
    let datas: Vec<Metal3Data> = store.list_as(DATA_KIND, Some(&ns), None)?;
    for d in &datas {
        if d.spec
            .claim
            .as_ref()
            .is_some_and(|c| c.name == claim.metadata.name)
            && d.spec
                .template
                .as_ref()
                .is_some_and(|t| t.name == claim.spec.template.name)
            && !data_names.contains(&d.metadata.name)
        {
            data_names.push(d.metadata.name.clone());
        }
    }
    for name in data_names {
        release_data(store, &data_key(&ns, &name))?;
    }
    let current: Option<Metal3DataClaim> = get_opt(store, &claim_key(&claim))?;
    if let Some(c) = current {
        let mut next = c.clone();
        next.metadata.finalizers.clear();
        if let Some(s) = next.status.as_mut() {
            s.rendered_data = None;
        }
        if c.metadata.deletion_timestamp.is_none() {
            save(store, &c, &next)?;
            delete_quietly(store, key)?;
        } else {
            save(store, &c, &next)?;
        }
    }
    record_indexes(store, &ns, &claim.spec.template.name)?;
    Ok(())
}
