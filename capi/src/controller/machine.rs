//! Metal3Machine reconcile (reference §3.a–§3.d): associate a host, drive the
//! data template for it, set the host spec, wait for provisioning, set the
//! provider ID; on deletion release metadata, deprovision, free the host
//! (marking it for node reuse).

use std::sync::Mutex;

use metal3_hostmodel::store::{ObjectKey, Store, StoreExt};
use metal3_hostmodel::{BareMetalHost, ProvisioningState};
use metal3_ipam::SplitMix64;

use super::data::{delete_claim, reconcile_claim, reconcile_data};
use super::{
    absorb, add_finalizer, get_opt, save, Next, ReconcileError, CLAIM_KIND, CLUSTER_KIND,
    DATA_KIND, DEPLOYMENT_NAME_LABEL, HOST_KIND, M3MT_KIND, M3M_FINALIZER, M3M_KIND, MACHINE_KIND,
};
use crate::lifecycle::{
    ensure_block_move, is_paused, mark_for_reuse, node_reuse_value, sync_cleaning_mode, sync_pause,
    CLONED_FROM_NAME,
};
use crate::providerid::{decide, ProviderIdDecision};
use crate::select::{
    annotated_host, associate, choose_host, dissociate, machine_addresses, set_host_spec,
    Dissociation, HOST_ANNOTATION,
};
use crate::types::{
    Cluster, Initialization, Machine, Metal3DataClaim, Metal3Machine, Metal3MachineStatus,
    Metal3MachineTemplate,
};
use metal3_hostmodel::meta::OwnerReference;
use metal3_hostmodel::ObjectReference;

/// What a Metal3Machine reconcile needs besides the store.
#[derive(Debug)]
pub struct MachineContext {
    /// Breaks ties among equally good hosts.
    pub rng: Mutex<SplitMix64>,
    /// `CAPM3_FAST_TRACK`: keep deprovisioned hosts powered on.
    pub fast_track: bool,
}

impl MachineContext {
    /// A context with the random tie-break seeded by `seed`.
    pub fn new(seed: u64) -> Self {
        MachineContext {
            rng: Mutex::new(SplitMix64::new(seed)),
            fast_track: false,
        }
    }
}

/// One pass of the Metal3Machine controller for `key`.
pub fn reconcile_machine(
    store: &dyn Store,
    ctx: &MachineContext,
    key: &ObjectKey,
) -> Result<Next, ReconcileError> {
    absorb(pass(store, ctx, key))
}

fn is_ready(m: &Metal3Machine) -> bool {
    let st = m.status.as_ref();
    st.and_then(|s| s.ready) == Some(true)
        || st
            .and_then(|s| s.initialization.as_ref())
            .and_then(|i| i.provisioned)
            == Some(true)
}

fn host_of(store: &dyn Store, m: &Metal3Machine) -> Result<Option<BareMetalHost>, ReconcileError> {
    let Some((ns, name)) = m
        .metadata
        .annotations
        .get(HOST_ANNOTATION)
        .and_then(|v| v.split_once('/'))
    else {
        return Ok(None);
    };
    Ok(get_opt(store, &ObjectKey::new(HOST_KIND, ns, name))?)
}

fn owner_machine(store: &dyn Store, m: &Metal3Machine) -> Result<Option<Machine>, ReconcileError> {
    let ns = &m.metadata.namespace;
    match m
        .metadata
        .owner_references
        .iter()
        .find(|o| o.kind == MACHINE_KIND && o.api_version.starts_with("cluster.x-k8s.io/"))
    {
        Some(o) => Ok(get_opt(store, &ObjectKey::new(MACHINE_KIND, ns, &o.name))?),
        None => Ok(None),
    }
}

/// The Machine's Cluster; a stand-in (not paused, not deleting) when the
/// store has none, as for machines created by `metal3ctl machine create`.
fn cluster_of(store: &dyn Store, machine: &Machine) -> Result<Cluster, ReconcileError> {
    let ns = &machine.metadata.namespace;
    let name = &machine.spec.cluster_name;
    Ok(
        get_opt(store, &ObjectKey::new(CLUSTER_KIND, ns, name))?.unwrap_or_else(|| {
            let mut c = Cluster {
                api_version: "cluster.x-k8s.io/v1beta1".into(),
                kind: CLUSTER_KIND.into(),
                ..Default::default()
            };
            c.metadata.name = name.clone();
            c.metadata.namespace = ns.clone();
            c
        }),
    )
}

/// The node-reuse value of the machine: `cp-<kcp>` for control-plane
/// machines, else `md-<deployment>` from the Machine's deployment-name label.
fn reuse_value(machine: &Machine) -> Option<String> {
    node_reuse_value(
        machine,
        machine
            .metadata
            .labels
            .get(DEPLOYMENT_NAME_LABEL)
            .map(String::as_str),
    )
}

fn pass(store: &dyn Store, ctx: &MachineContext, key: &ObjectKey) -> Result<Next, ReconcileError> {
    let Some(m3m) = get_opt::<Metal3Machine>(store, key)? else {
        return Ok(Next::Done);
    };
    let Some(machine) = owner_machine(store, &m3m)? else {
        if m3m.metadata.deletion_timestamp.is_some() {
            return delete(store, ctx, &m3m, None);
        }
        return Ok(Next::after(30, "WaitingForMetal3MachineOwnerRef"));
    };
    if m3m.metadata.deletion_timestamp.is_some() {
        return delete(store, ctx, &m3m, Some(&machine));
    }
    let cluster = cluster_of(store, &machine)?;
    if let Some(host) = host_of(store, &m3m)? {
        // Block-move on the associated host, then the pause annotation follows the Cluster.
        let mut current = host;
        if let Some(h) = ensure_block_move(&current) {
            if let Some(saved) = save(store, &current, &h)? {
                current = saved;
            }
        }
        for step in sync_pause(&current, &cluster).map_err(|e| ReconcileError::Invalid {
            object: format!(
                "BareMetalHost {}/{}",
                current.metadata.namespace, current.metadata.name
            ),
            problem: e.to_string(),
        })? {
            // The steps differ only in annotations; each goes on top of the last write.
            let mut want = current.clone();
            want.metadata.annotations = step.metadata.annotations;
            if let Some(saved) = save(store, &current, &want)? {
                current = saved;
            }
        }
    }
    if is_paused(&cluster, &m3m.metadata.annotations) {
        return Ok(Next::after(30, "paused"));
    }
    let mut next = m3m.clone();
    // The Metal3MachineTemplate controller's cleaning-mode sync, for this machine.
    if let Some(t) = m3m.metadata.annotations.get(CLONED_FROM_NAME) {
        let tkey = ObjectKey::new(M3MT_KIND, &m3m.metadata.namespace, t);
        if let Some(template) = get_opt::<Metal3MachineTemplate>(store, &tkey)? {
            // A paused template only delays the sync, as upstream requeues it.
            if let Ok(synced) = sync_cleaning_mode(&template, std::slice::from_ref(&m3m)) {
                if let Some(s) = synced.into_iter().next() {
                    next.spec.automated_cleaning_mode = s.spec.automated_cleaning_mode;
                }
            }
        }
    }
    next.spec.failure_domain = machine
        .spec
        .failure_domain
        .clone()
        .or(next.spec.failure_domain);
    add_finalizer(&mut next.metadata.finalizers, M3M_FINALIZER);
    if next != m3m {
        save(store, &m3m, &next)?;
        return Ok(Next::after(0, "updated"));
    }

    if m3m
        .spec
        .provider_id
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && is_ready(&m3m)
    {
        // Provisioned: re-assert the host spec (cleaning mode sync) and addresses.
        if let Some(host) = host_of(store, &m3m)? {
            let want = set_host_spec(&host, &m3m)?;
            save(store, &host, &want)?;
        }
        return Ok(Next::Done);
    }

    let bootstrap = machine.spec.bootstrap.as_ref();
    let bootstrap_ready = m3m.spec.user_data.is_some()
        || bootstrap.is_some_and(|b| b.data_secret_name.is_some() || b.config_ref.is_some());
    if !bootstrap_ready {
        return Ok(Next::after(30, "waiting for bootstrap data"));
    }

    let host = match host_of(store, &m3m)? {
        Some(h) => h,
        None => return associate_host(store, ctx, &m3m, &machine),
    };

    // Metadata: claim → Metal3Data → Secrets, then the refs on the machine.
    let mut next = m3m.clone();
    if let Some(dt) = &m3m.spec.data_template {
        let ns = m3m.metadata.namespace.clone();
        {
            let st = next.status.get_or_insert_with(Metal3MachineStatus::default);
            if let Some(md) = &m3m.spec.meta_data {
                st.meta_data = Some(md.clone());
            }
            if let Some(nd) = &m3m.spec.network_data {
                st.network_data = Some(nd.clone());
            }
        }
        let ckey = ObjectKey::new(CLAIM_KIND, &ns, &m3m.metadata.name);
        if get_opt::<Metal3DataClaim>(store, &ckey)?.is_none() {
            let mut c = Metal3DataClaim {
                api_version: m3m.api_version.clone(),
                kind: CLAIM_KIND.into(),
                ..Default::default()
            };
            c.metadata.name = m3m.metadata.name.clone();
            c.metadata.namespace = ns.clone();
            c.metadata.labels = m3m.metadata.labels.clone();
            c.metadata.finalizers = vec![M3M_FINALIZER.into()];
            c.metadata.owner_references = vec![OwnerReference {
                api_version: m3m.api_version.clone(),
                kind: M3M_KIND.into(),
                name: m3m.metadata.name.clone(),
                uid: m3m.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: None,
            }];
            c.spec.template = ObjectReference {
                name: dt.name.clone(),
                namespace: ns.clone(),
                ..Default::default()
            };
            store.create_typed(&c)?;
        }
        let Some(data) = reconcile_claim(store, &ckey)? else {
            return Ok(Next::after(1, "waiting for Metal3Data"));
        };
        let dkey = ObjectKey::new(DATA_KIND, &ns, &data.metadata.name);
        if let Next::Requeue { after, reason } = reconcile_data(store, &dkey)? {
            return Ok(Next::Requeue { after, reason });
        }
        let data: crate::types::Metal3Data = match get_opt(store, &dkey)? {
            Some(d) => d,
            None => return Ok(Next::after(1, "waiting for Metal3Data")),
        };
        let st = next.status.get_or_insert_with(Metal3MachineStatus::default);
        st.rendered_data = Some(ObjectReference {
            name: data.metadata.name.clone(),
            namespace: ns.clone(),
            ..Default::default()
        });
        if data.status.as_ref().and_then(|s| s.ready) != Some(true) {
            save(store, &m3m, &next)?;
            return Ok(Next::after(1, "WaitingForMetal3Data"));
        }
        if m3m.spec.meta_data.is_none() {
            st.meta_data = data.spec.meta_data.clone();
        }
        if m3m.spec.network_data.is_none() {
            st.network_data = data.spec.network_data.clone();
        }
    }
    let Some(m3m) = save(store, &m3m, &next)? else {
        return Ok(Next::Done);
    };

    // Update: host spec (image, data, cleaning mode, online).
    let want = set_host_spec(&host, &m3m)?;
    let Some(host) = save(store, &host, &want)? else {
        return Ok(Next::after(1, "host vanished"));
    };
    let state = host
        .status
        .as_ref()
        .map(|s| s.provisioning.state)
        .unwrap_or(ProvisioningState::None);
    if state != ProvisioningState::Provisioned {
        let shown = if state == ProvisioningState::None {
            "registering"
        } else {
            state.as_str()
        };
        return Ok(Next::after(
            2,
            format!("host {} {shown}", host.metadata.name),
        ));
    }

    // Provider ID: no workload cluster to look at, so the default format goes
    // on the machine (reference §3.b case 4 without a Node to patch).
    let hostnames: Vec<String> = machine_addresses(&host)
        .iter()
        .filter(|a| a.get("type").and_then(serde_json::Value::as_str) == Some("Hostname"))
        .filter_map(|a| {
            a.get("address")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        })
        .collect();
    let decision = decide(
        &m3m,
        &[],
        false,
        host.metadata.uid.as_deref().unwrap_or_default(),
        false,
        &hostnames,
    )?;
    let mut next = m3m.clone();
    match decision {
        ProviderIdDecision::Provisioned => {}
        ProviderIdDecision::Adopt { provider_id }
        | ProviderIdDecision::SetOnNode { provider_id, .. } => {
            next.spec.provider_id = Some(provider_id);
        }
        ProviderIdDecision::Requeue => return Ok(Next::after(30, "waiting for the Node")),
    }
    let v1beta2 = next.is_v1beta2();
    let st = next.status.get_or_insert_with(Metal3MachineStatus::default);
    st.addresses = Some(machine_addresses(&host));
    if v1beta2 {
        st.initialization = Some(Initialization {
            provisioned: Some(true),
        });
    } else {
        st.ready = Some(true);
    }
    st.last_updated = Some(metal3_hostmodel::time::Time::now());
    save(store, &m3m, &next)?;
    Ok(Next::Done)
}

/// `Associate`: choose a host (or take the annotated one), claim it with a
/// versioned write, then annotate the machine.
fn associate_host(
    store: &dyn Store,
    ctx: &MachineContext,
    m3m: &Metal3Machine,
    machine: &Machine,
) -> Result<Next, ReconcileError> {
    let ns = &m3m.metadata.namespace;
    let hosts: Vec<BareMetalHost> = store.list_as(HOST_KIND, Some(ns), None)?;
    let index = match annotated_host(m3m, &hosts) {
        Some(i) => i,
        None => {
            let reuse = reuse_value(machine);
            let choice = {
                let mut rng = ctx.rng.lock().unwrap_or_else(|p| p.into_inner());
                choose_host(m3m, reuse.as_deref(), &hosts, &mut rng)?
            };
            match choice {
                Some(c) => c.index,
                None => return Ok(Next::after(30, "no available host found. Requeuing")),
            }
        }
    };
    let chosen = &hosts[index];
    let a = associate(chosen, m3m, machine)?;
    // A stale resourceVersion here means another machine got the host first.
    save(store, chosen, &a.host)?;
    label_bmc_secret(
        store,
        ns,
        &chosen.spec.bmc.credentials_name,
        Some(&machine.spec.cluster_name),
    )?;
    save(store, m3m, &a.machine)?;
    Ok(Next::after(
        0,
        format!("associated with host {}", chosen.metadata.name),
    ))
}

/// Sets (`Some`) or removes the cluster-name label of the host's BMC Secret.
fn label_bmc_secret(
    store: &dyn Store,
    ns: &str,
    name: &str,
    cluster: Option<&str>,
) -> Result<(), ReconcileError> {
    if name.is_empty() {
        return Ok(());
    }
    let key = ObjectKey::new(super::SECRET_KIND, ns, name);
    let label = crate::select::CLUSTER_NAME_LABEL;
    let r = metal3_hostmodel::store::update_with_retry(
        store,
        &key,
        metal3_hostmodel::store::Subresource::Main,
        |v| {
            let Some(meta) = v
                .get_mut("metadata")
                .and_then(serde_json::Value::as_object_mut)
            else {
                return Ok(());
            };
            let labels = meta
                .entry("labels")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(l) = labels.as_object_mut() {
                match cluster {
                    Some(c) => {
                        l.insert(label.into(), serde_json::Value::String(c.into()));
                    }
                    None => {
                        l.remove(label);
                    }
                }
            }
            Ok(())
        },
    );
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Metal3Machine deletion: metadata first, then the host (deprovision, wait,
/// release, node reuse), then the finalizer.
fn delete(
    store: &dyn Store,
    ctx: &MachineContext,
    m3m: &Metal3Machine,
    machine: Option<&Machine>,
) -> Result<Next, ReconcileError> {
    let ns = &m3m.metadata.namespace;
    // DissociateM3Metadata.
    let mut next = m3m.clone();
    if let Some(st) = next.status.as_mut() {
        if m3m.spec.meta_data.is_none() {
            st.meta_data = None;
        }
        if m3m.spec.network_data.is_none() {
            st.network_data = None;
        }
        st.rendered_data = None;
    }
    let ckey = ObjectKey::new(CLAIM_KIND, ns, &m3m.metadata.name);
    delete_claim(store, &ckey)?;

    let cluster_name = machine
        .map(|m| m.spec.cluster_name.clone())
        .unwrap_or_default();
    if let Some(host) = host_of(store, m3m)? {
        match dissociate(&host, m3m, &cluster_name, ctx.fast_track) {
            Dissociation::Patched(h) => {
                save(store, &host, &h)?;
                save(store, m3m, &next)?;
                return Ok(Next::after(
                    1,
                    format!("deprovisioning host {}", host.metadata.name),
                ));
            }
            Dissociation::Wait => {
                save(store, m3m, &next)?;
                let state = host
                    .status
                    .as_ref()
                    .map(|s| s.provisioning.state.as_str())
                    .unwrap_or_default();
                return Ok(Next::after(
                    2,
                    format!("host {} {state}", host.metadata.name),
                ));
            }
            Dissociation::Done(h) => {
                let mut h = h;
                if let Some(machine) = machine {
                    let template: Option<Metal3MachineTemplate> =
                        match m3m.metadata.annotations.get(CLONED_FROM_NAME) {
                            Some(t) => get_opt(store, &ObjectKey::new(M3MT_KIND, ns, t))?,
                            None => None,
                        };
                    if let Some(t) = template {
                        let cluster = cluster_of(store, machine)?;
                        h = mark_for_reuse(&h, &t, &cluster, reuse_value(machine).as_deref());
                    }
                }
                save(store, &host, &h)?;
                label_bmc_secret(
                    store,
                    &host.metadata.namespace,
                    &host.spec.bmc.credentials_name,
                    None,
                )?;
            }
        }
    }
    next.metadata.finalizers.retain(|f| f != M3M_FINALIZER);
    save(store, m3m, &next)?;
    Ok(Next::Done)
}

/// A one-word phase for `get m3m`: Pending (no host yet), Associated,
/// Provisioning, Provisioned, Deleting, Failed (host in error).
pub fn machine_phase(m3m: &Metal3Machine, host: Option<&BareMetalHost>) -> &'static str {
    if m3m.metadata.deletion_timestamp.is_some() {
        return "Deleting";
    }
    if m3m
        .spec
        .provider_id
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && is_ready(m3m)
    {
        return "Provisioned";
    }
    let Some(host) = host else {
        return "Pending";
    };
    let Some(st) = host.status.as_ref() else {
        return "Associated";
    };
    if !st.error_message.is_empty() {
        return "Failed";
    }
    if host.spec.image.is_some() || host.spec.custom_deploy.is_some() {
        return "Provisioning";
    }
    "Associated"
}
