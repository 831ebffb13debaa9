//! `metal3ctl machine create|delete`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use metal3_capi::controller::{
    machine_phase, reconcile_machine, MachineContext, Next, DEPLOYMENT_NAME_LABEL, HOST_KIND,
    M3MT_KIND, M3M_KIND, MACHINE_KIND, SECRET_KIND,
};
use metal3_capi::lifecycle::{CLONED_FROM_GROUPKIND, CLONED_FROM_NAME, M3MT_GROUPKIND};
use metal3_capi::select::{CLUSTER_NAME_LABEL, HOST_ANNOTATION};
use metal3_capi::{Metal3Machine, Metal3MachineTemplate};
use metal3_hostmodel::BareMetalHost;
use metal3_provisioning::store::{ObjectKey, Store, StoreError, StoreExt};
use serde_json::json;

use super::{drive, Pass};
use crate::store_cmd::{fail, StoreOpts, VerbResult};

/// Arguments of `metal3ctl machine`.
#[derive(Debug, Args)]
pub struct MachineArgs {
    #[command(subcommand)]
    command: MachineCommand,
}

#[derive(Debug, Subcommand)]
enum MachineCommand {
    /// Create Metal3Machines from a Metal3MachineTemplate: choose hosts, render data, provision.
    #[command(after_help = "Examples:\n  \
        metal3ctl machine create --template workers --name worker --count 3 --user-data cloud-init.yaml --wait=30m\n  \
        metal3ctl machine create --template workers --name worker-9 --data-template workers-data --wait")]
    Create(CreateArgs),
    /// Delete a Metal3Machine: deprovision its host, release its IPs and data, free the host.
    #[command(
        after_help = "Examples:\n  metal3ctl machine delete worker-2\n  metal3ctl machine delete worker-2 --wait=30m"
    )]
    Delete(DeleteArgs),
    /// List Metal3Machines: NAME PROVIDERID READY HOST PHASE (same as `get m3m`).
    #[command(after_help = "Examples:\n  metal3ctl machine list -n lab")]
    List(ListArgs),
}

/// Arguments of `machine list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    opts: StoreOpts,
}

/// Arguments of `machine create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Metal3MachineTemplate to clone.
    #[arg(long, value_name = "M3MT")]
    template: String,
    /// Machine name; with --count N the machines are NAME-0 .. NAME-(N-1).
    #[arg(long)]
    name: String,
    /// How many machines.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// User data (cloud-init) file, stored as Secret `<machine>-user-data` (default: empty).
    #[arg(long, value_name = "FILE")]
    user_data: Option<PathBuf>,
    /// Metal3DataTemplate to render metaData/networkData with (overrides the template's).
    #[arg(long, value_name = "M3DT")]
    data_template: Option<String>,
    /// Cluster name [default: the data template's clusterName, else the template name].
    #[arg(long)]
    cluster: Option<String>,
    /// MachineDeployment name for node reuse [default: the template name].
    #[arg(long)]
    deployment: Option<String>,
    /// Run the reconcilers and the engine until the machines are provisioned (default timeout 10m).
    #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, require_equals = true,
          default_missing_value = "10m", value_parser = crate::store_cmd::delete::parse_duration)]
    wait: Option<Duration>,
    #[command(flatten)]
    opts: StoreOpts,
}

/// Arguments of `machine delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Metal3Machine names.
    #[arg(required = true)]
    names: Vec<String>,
    /// How long to wait for deprovisioning.
    #[arg(long, value_name = "TIMEOUT", default_value = "10m",
          value_parser = crate::store_cmd::delete::parse_duration)]
    wait: Duration,
    #[command(flatten)]
    opts: StoreOpts,
}

/// Runs `machine`.
pub fn run(args: MachineArgs) -> VerbResult {
    match args.command {
        MachineCommand::Create(a) => create(a),
        MachineCommand::Delete(a) => delete(a),
        MachineCommand::List(a) => list(a),
    }
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id())
}

fn create(args: CreateArgs) -> VerbResult {
    if args.count == 0 {
        return Err(fail("--count must be at least 1"));
    }
    let store: Arc<dyn Store> = Arc::new(args.opts.open()?);
    let ns = args.opts.namespace.clone();
    let tkey = ObjectKey::new(M3MT_KIND, &ns, &args.template);
    let template: Metal3MachineTemplate = store.get_as(&tkey).map_err(|e| {
        if e.is_not_found() {
            fail(format!(
                "Metal3MachineTemplate {:?} not found in namespace {ns:?}",
                args.template
            ))
        } else {
            e.into()
        }
    })?;
    let mut spec = template.spec.template.spec.clone();
    if let Some(dt) = &args.data_template {
        spec.data_template = Some(metal3_hostmodel::ObjectReference {
            name: dt.clone(),
            ..Default::default()
        });
    }
    let cluster = match &args.cluster {
        Some(c) => c.clone(),
        None => {
            let from_dt = match &spec.data_template {
                Some(dt) => store
                    .get_as::<metal3_capi::Metal3DataTemplate>(&ObjectKey::new(
                        metal3_capi::controller::M3DT_KIND,
                        &ns,
                        &dt.name,
                    ))
                    .ok()
                    .and_then(|t| t.spec.cluster_name)
                    .filter(|c| !c.is_empty()),
                None => None,
            };
            from_dt.unwrap_or_else(|| args.template.clone())
        }
    };
    let deployment = args
        .deployment
        .clone()
        .unwrap_or_else(|| args.template.clone());
    let user_data = match &args.user_data {
        Some(f) => std::fs::read_to_string(f).map_err(|e| fail(format!("{}: {e}", f.display())))?,
        None => String::new(),
    };
    let names: Vec<String> = if args.count == 1 {
        vec![args.name.clone()]
    } else {
        (0..args.count)
            .map(|i| format!("{}-{i}", args.name))
            .collect()
    };
    for name in &names {
        if store.get(&ObjectKey::new(M3M_KIND, &ns, name)).is_ok() {
            return Err(fail(format!(
                "metal3machine {name:?} already exists in namespace {ns:?}"
            )));
        }
    }
    for name in &names {
        let secret = format!("{name}-user-data");
        let s = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret, "namespace": ns, "labels": {CLUSTER_NAME_LABEL: cluster}},
            "type": "Opaque",
            "stringData": {"value": user_data},
        });
        match store.create(s) {
            Ok(_) => {}
            Err(StoreError::AlreadyExists { .. }) => {
                return Err(fail(format!(
                    "secret {secret:?} already exists in namespace {ns:?}"
                )))
            }
            Err(e) => return Err(e.into()),
        }
        let machine = store.create(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": MACHINE_KIND,
            "metadata": {"name": name, "namespace": ns,
                         "labels": {CLUSTER_NAME_LABEL: cluster, DEPLOYMENT_NAME_LABEL: deployment}},
            "spec": {"clusterName": cluster,
                     "bootstrap": {"dataSecretName": secret},
                     "infrastructureRef": {"apiVersion": template.api_version, "kind": M3M_KIND,
                                           "name": name, "namespace": ns}},
        }))?;
        let mut m = Metal3Machine {
            api_version: template.api_version.clone(),
            kind: M3M_KIND.into(),
            spec: spec.clone(),
            ..Default::default()
        };
        m.metadata.name = name.clone();
        m.metadata.namespace = ns.clone();
        m.metadata
            .labels
            .insert(CLUSTER_NAME_LABEL.into(), cluster.clone());
        m.metadata
            .annotations
            .insert(CLONED_FROM_NAME.into(), args.template.clone());
        m.metadata
            .annotations
            .insert(CLONED_FROM_GROUPKIND.into(), M3MT_GROUPKIND.into());
        m.metadata
            .owner_references
            .push(metal3_hostmodel::meta::OwnerReference {
                api_version: "cluster.x-k8s.io/v1beta1".into(),
                kind: MACHINE_KIND.into(),
                name: name.clone(),
                uid: machine
                    .pointer("/metadata/uid")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            });
        store.create_typed(&m)?;
        println!("metal3machine.infrastructure.cluster.x-k8s.io/{name} created");
    }
    let ctx = context();
    let keys: Vec<ObjectKey> = names
        .iter()
        .map(|n| ObjectKey::new(M3M_KIND, &ns, n))
        .collect();
    match args.wait {
        None => {
            // Associate and configure the hosts now; provisioning is the engine's
            // (`controller run`, or `machine create --wait`).
            for _ in 0..50 {
                let (busy, lines) = step(store.as_ref(), &ctx, &keys)?;
                if !busy {
                    for (k, v) in lines {
                        println!("{k}: {v}");
                    }
                    break;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(timeout) => {
            drive(store, timeout, |s| {
                let (_, lines) = step(s, &ctx, &keys)?;
                let failed: Vec<String> = keys.iter().filter_map(|k| host_error(s, k)).collect();
                if !failed.is_empty() {
                    return Ok(Pass::Failed(failed.join("; ")));
                }
                if lines.values().all(|v| v.starts_with("provisioned")) {
                    Ok(Pass::Done(lines))
                } else {
                    Ok(Pass::Continue(lines))
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One reconcile pass over `keys`; returns whether any machine wants an
/// immediate new pass, and a progress line per machine.
fn step(
    store: &dyn Store,
    ctx: &MachineContext,
    keys: &[ObjectKey],
) -> Result<(bool, BTreeMap<String, String>), Box<dyn std::error::Error>> {
    let mut busy = false;
    let mut lines = BTreeMap::new();
    for k in keys {
        let next = reconcile_machine(store, ctx, k).map_err(|e| fail(e.to_string()))?;
        let line = match next {
            Next::Done => match store.get_as::<Metal3Machine>(k) {
                Ok(m) => format!("provisioned ({})", m.spec.provider_id.unwrap_or_default()),
                Err(e) if e.is_not_found() => "deleted".to_string(),
                Err(e) => return Err(e.into()),
            },
            Next::Requeue { after, reason } => {
                if after.is_zero() {
                    busy = true;
                }
                reason
            }
        };
        lines.insert(k.name.clone(), line);
    }
    Ok((busy, lines))
}

/// `"<machine>: host <bmh>: <error>"` when the machine's host is in error.
fn host_error(store: &dyn Store, key: &ObjectKey) -> Option<String> {
    let m: Metal3Machine = store.get_as(key).ok()?;
    let (ns, name) = m
        .metadata
        .annotations
        .get(HOST_ANNOTATION)?
        .split_once('/')?;
    let h: BareMetalHost = store.get_as(&ObjectKey::new(HOST_KIND, ns, name)).ok()?;
    let st = h.status?;
    (!st.error_message.is_empty())
        .then(|| format!("{}: host {name}: {}", key.name, st.error_message))
}

fn delete(args: DeleteArgs) -> VerbResult {
    let store: Arc<dyn Store> = Arc::new(args.opts.open()?);
    let ns = args.opts.namespace.clone();
    let keys: Vec<ObjectKey> = args
        .names
        .iter()
        .map(|n| ObjectKey::new(M3M_KIND, &ns, n))
        .collect();
    for k in &keys {
        match store.delete(k) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                return Err(fail(format!(
                    "metal3machine {:?} not found in namespace {ns:?}",
                    k.name
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let ctx = context();
    drive(store.clone(), args.wait, |s| {
        let (_, lines) = step(s, &ctx, &keys)?;
        if lines.values().all(|v| v == "deleted") {
            Ok(Pass::Done(lines))
        } else {
            Ok(Pass::Continue(lines))
        }
    })?;
    // The Machine and the bootstrap Secret `machine create` made go with it.
    for k in &keys {
        let mkey = ObjectKey::new(MACHINE_KIND, &ns, &k.name);
        if let Ok(m) = store.get_as::<metal3_capi::Machine>(&mkey) {
            if let Some(secret) = m.spec.bootstrap.and_then(|b| b.data_secret_name) {
                if secret == format!("{}-user-data", k.name) {
                    quiet(store.delete(&ObjectKey::new(SECRET_KIND, &ns, &secret)))?;
                }
            }
            quiet(store.delete(&mkey))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn quiet<T>(r: Result<T, StoreError>) -> Result<(), StoreError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// `get m3m` columns: NAME, PROVIDERID, READY, HOST, PHASE.
pub fn m3m_row(store: &dyn Store, m: &Metal3Machine) -> [String; 5] {
    let host = m
        .metadata
        .annotations
        .get(HOST_ANNOTATION)
        .and_then(|v| v.split_once('/'))
        .and_then(|(ns, n)| {
            store
                .get_as::<BareMetalHost>(&ObjectKey::new(HOST_KIND, ns, n))
                .ok()
        });
    let ready = m
        .status
        .as_ref()
        .and_then(|s| {
            s.ready
                .or(s.initialization.as_ref().and_then(|i| i.provisioned))
        })
        .unwrap_or(false);
    [
        m.metadata.name.clone(),
        m.spec.provider_id.clone().unwrap_or_default(),
        ready.to_string(),
        host.as_ref()
            .map(|h| h.metadata.name.clone())
            .unwrap_or_default(),
        machine_phase(m, host.as_ref()).to_string(),
    ]
}

fn list(args: ListArgs) -> VerbResult {
    let store = args.opts.open()?;
    let ns = &args.opts.namespace;
    let machines: Vec<Metal3Machine> = store.list_as(M3M_KIND, Some(ns), None)?;
    if machines.is_empty() {
        eprintln!("No resources found in {ns} namespace.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![[
        "NAME".to_string(),
        "PROVIDERID".to_string(),
        "READY".to_string(),
        "HOST".to_string(),
        "PHASE".to_string(),
    ]];
    rows.extend(machines.iter().map(|m| m3m_row(&store, m)));
    print!("{}", table(&rows));
    Ok(ExitCode::SUCCESS)
}

/// Left-aligned columns separated by three spaces, as kubectl prints them.
fn table(rows: &[[String; 5]]) -> String {
    let mut widths = [0usize; 5];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}   "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One reconcile pass over every Metal3Machine of the store (or of
/// `namespace`), for `controller run`; a failing machine is reported on
/// stderr and does not stop the others.
pub fn reconcile_all(store: &dyn Store, ctx: &MachineContext, namespace: Option<&str>) {
    let machines = match store.list(M3M_KIND, namespace, None) {
        Ok(l) => l.items,
        Err(e) => {
            eprintln!("controller: listing Metal3Machines: {e}");
            return;
        }
    };
    for m in machines {
        let key = ObjectKey::of(&m);
        // A few passes so that association, data and host spec land in one tick.
        for _ in 0..5 {
            match reconcile_machine(store, ctx, &key) {
                Ok(Next::Requeue { after, .. }) if after.is_zero() => continue,
                Ok(_) => break,
                Err(e) => {
                    eprintln!("controller: {e}");
                    break;
                }
            }
        }
    }
}

/// A machine context seeded from the clock, for `controller run`.
pub fn controller_context() -> MachineContext {
    context()
}

/// The reconcilers' context: random tie-break seeded from the clock, fast
/// track from `CAPM3_FAST_TRACK` as CAPM3's manager reads it.
fn context() -> MachineContext {
    let mut ctx = MachineContext::new(seed());
    ctx.fast_track = std::env::var("CAPM3_FAST_TRACK").is_ok_and(|v| v == "true");
    ctx
}
