//! `metal3ctl remediate M3M`: the Reboot remediation strategy, as CAPI's
//! MachineHealthCheck would start it for an unhealthy machine.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use metal3_capi::controller::{
    reconcile_remediation, HOST_KIND, M3M_KIND, MACHINE_KIND, REMEDIATION_KIND,
};
use metal3_capi::remediation::{PHASE_DELETING, PHASE_FAILED};
use metal3_capi::{Metal3Machine, Metal3RemediationTemplate};
use metal3_hostmodel::time::Time;
use metal3_hostmodel::BareMetalHost;
use metal3_provisioning::store::{ObjectKey, Store, StoreExt};
use serde_json::json;

use super::{drive, Pass};
use crate::store_cmd::{fail, StoreOpts, VerbResult};

/// Arguments of `metal3ctl remediate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl remediate worker-1\n  \
    metal3ctl remediate worker-1 --template workers-remediation --wait=20m")]
pub struct RemediateArgs {
    /// Metal3Machine to remediate.
    machine: String,
    /// Metal3RemediationTemplate to take the strategy from [default: Reboot, retryLimit 1, timeout 10m].
    #[arg(long, value_name = "M3RT")]
    template: Option<String>,
    /// How long to wait for the reboot.
    #[arg(long, value_name = "TIMEOUT", default_value = "10m",
          value_parser = crate::store_cmd::delete::parse_duration)]
    wait: Duration,
    #[command(flatten)]
    opts: StoreOpts,
}

/// Runs `remediate`: creates Metal3Remediation `<machine>` owned by the
/// machine's CAPI Machine and runs it with the engine until the host has
/// been powered off and on again; then deletes it, as the MachineHealthCheck
/// does once the node is healthy.
pub fn run(args: RemediateArgs) -> VerbResult {
    let store: Arc<dyn Store> = Arc::new(args.opts.open()?);
    let ns = args.opts.namespace.clone();
    let m3m: Metal3Machine = store
        .get_as(&ObjectKey::new(M3M_KIND, &ns, &args.machine))
        .map_err(|e| {
            if e.is_not_found() {
                fail(format!(
                    "metal3machine {:?} not found in namespace {ns:?}",
                    args.machine
                ))
            } else {
                e.into()
            }
        })?;
    let owner = m3m
        .metadata
        .owner_references
        .iter()
        .find(|o| o.kind == MACHINE_KIND)
        .ok_or_else(|| {
            fail(format!(
                "metal3machine {:?} has no owner Machine",
                args.machine
            ))
        })?;
    let strategy = match &args.template {
        Some(t) => {
            let tmpl: Metal3RemediationTemplate = store
                .get_as(&ObjectKey::new("Metal3RemediationTemplate", &ns, t))
                .map_err(|e| {
                    if e.is_not_found() {
                        fail(format!(
                            "metal3remediationtemplate {t:?} not found in namespace {ns:?}"
                        ))
                    } else {
                        e.into()
                    }
                })?;
            serde_json::to_value(tmpl.spec.template.spec.strategy)?
        }
        None => json!({"type": "Reboot", "retryLimit": 1, "timeout": "10m0s"}),
    };
    let rkey = ObjectKey::new(REMEDIATION_KIND, &ns, &args.machine);
    store
        .create(json!({
            "apiVersion": m3m.api_version, "kind": REMEDIATION_KIND,
            "metadata": {"name": args.machine, "namespace": ns,
                         "ownerReferences": [{"apiVersion": owner.api_version, "kind": MACHINE_KIND,
                                              "name": owner.name, "uid": owner.uid}]},
            "spec": {"strategy": strategy},
        }))
        .map_err(|e| match e {
            metal3_provisioning::store::StoreError::AlreadyExists { .. } => fail(format!(
                "metal3remediation {:?} already exists in namespace {ns:?} (a remediation is running)",
                args.machine
            )),
            e => e.into(),
        })?;
    println!(
        "metal3remediation.infrastructure.cluster.x-k8s.io/{} created",
        args.machine
    );
    let name = args.machine.clone();
    drive(store.clone(), args.wait, |s| {
        let p = reconcile_remediation(s, &rkey, Time::now()).map_err(|e| fail(e.to_string()))?;
        let power = s
            .get_as::<BareMetalHost>(&ObjectKey::new(HOST_KIND, &ns, &p.host))
            .ok()
            .and_then(|h| h.status)
            .map(|st| if st.powered_on { "on" } else { "off" })
            .unwrap_or("unknown");
        let lines = BTreeMap::from([(
            name.clone(),
            format!("{} (host {} power {power})", p.phase, p.host),
        )]);
        if p.rebooted {
            return Ok(Pass::Done(lines));
        }
        if p.phase == PHASE_FAILED || p.phase == PHASE_DELETING {
            return Ok(Pass::Failed(format!(
                "{name}: remediation ended in phase {:?} (host {})",
                p.phase, p.host
            )));
        }
        Ok(Pass::Continue(lines))
    })?;
    store.delete(&rkey)?;
    println!("{}: remediated (host rebooted)", args.machine);
    Ok(ExitCode::SUCCESS)
}
