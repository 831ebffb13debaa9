//! The host verbs (`controller run`, `enroll`, `provision`, `deprovision`,
//! `power`, `reboot`, `inspect`, `detach`, `attach`, `export`): each writes the
//! requested change to the store and, with `--wait`, runs the engine with the
//! configured provisioner (direct or Ironic) for the touched hosts until they settle.
//!
//! Only argument handling, the spec/annotation edits a user would make by
//! hand and progress output live here; the engine does the work.

pub mod controller;
mod progress;
pub mod verbs;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use metal3_hostmodel::validation::validate_update;
use metal3_hostmodel::{BareMetalHost, OperationalStatus};
use metal3_provisioning::engine::{host_settled, Engine, EngineOptions, HOST_KIND};
use metal3_provisioning::store::{
    decode, update_with_retry, ObjectKey, Store, StoreError, StoreExt, Subresource,
};
use serde_json::Value;

use crate::store_cmd::delete::parse_duration;
use crate::store_cmd::{fail, StoreOpts, VerbResult};

/// `--wait[=TIMEOUT]` of every verb that changes a host.
#[derive(Debug, Clone, Args)]
pub struct WaitOpts {
    /// Run the engine for the touched hosts until they settle (default timeout 10m).
    #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, require_equals = true,
          default_missing_value = "10m", value_parser = parse_duration)]
    pub wait: Option<Duration>,
}

/// An engine over `store` with the configured provisioner (see `provisioner_config`).
pub fn engine(store: Arc<dyn Store>, options: EngineOptions) -> Engine {
    Engine::new(
        store.clone(),
        crate::provisioner_config::provisioner(store),
        options,
    )
}

/// The key of host `name` in the namespace of `opts`.
pub fn host_key(opts: &StoreOpts, name: &str) -> ObjectKey {
    ObjectKey::new(HOST_KIND, &opts.namespace, name)
}

/// Edits host `key` with `mutate` (retrying on conflicts) after checking the
/// result against the admission rules for updates.
pub fn edit_host(
    store: &dyn Store,
    key: &ObjectKey,
    mut mutate: impl FnMut(&mut Value),
) -> Result<(), Box<dyn std::error::Error>> {
    let mut problems: Vec<String> = Vec::new();
    let written = update_with_retry(store, key, Subresource::Main, |obj| {
        let old: BareMetalHost = decode(key, obj.clone())?;
        mutate(obj);
        let new: BareMetalHost = decode(key, obj.clone())?;
        problems = validate_update(&old, &new)
            .iter()
            .map(ToString::to_string)
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid {
                key: key.clone(),
                reason: problems.join("; "),
            })
        }
    });
    match written {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Err(fail(format!(
            "baremetalhost {:?} not found in namespace {:?}",
            key.name, key.namespace
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Sets (`Some`) or removes (`None`) annotation `name` of `obj`.
pub fn set_annotation(obj: &mut Value, name: &str, value: Option<&str>) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let ann = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if !ann.is_object() {
        *ann = Value::Object(Default::default());
    }
    if let Some(map) = ann.as_object_mut() {
        match value {
            Some(v) => {
                map.insert(name.to_string(), Value::String(v.to_string()));
            }
            None => {
                map.remove(name);
            }
        }
    }
}

/// `state` of a host for progress lines (`detached`/`error` shown after it).
fn progress_state(h: &BareMetalHost) -> String {
    let Some(st) = h.status.as_ref() else {
        return "new".to_string();
    };
    let state = st.provisioning.state.as_str();
    let state = if state.is_empty() { "new" } else { state };
    match st.operational_status {
        OperationalStatus::Error => format!("{state} (error)"),
        OperationalStatus::Detached => format!("{state} (detached)"),
        _ => state.to_string(),
    }
}

/// Ends a verb: without a timeout just succeeds, else waits with [`settle`].
pub fn finish(store: Arc<dyn Store>, keys: &[ObjectKey], wait: &WaitOpts) -> VerbResult {
    match wait.wait {
        None => Ok(ExitCode::SUCCESS),
        Some(timeout) => settle(store, keys, timeout),
    }
}

/// Runs the engine (one-shot) for `keys` until they settle, printing one
/// line per state change; fails if a host ends in error, naming it and its
/// error message.
pub fn settle(store: Arc<dyn Store>, keys: &[ObjectKey], timeout: Duration) -> VerbResult {
    settle_to(store, keys, timeout, true)
}

/// [`settle`] with the progress lines on stdout (`true`) or stderr.
pub fn settle_to(
    store: Arc<dyn Store>,
    keys: &[ObjectKey],
    timeout: Duration,
    stdout: bool,
) -> VerbResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let engine = engine(
        store.clone(),
        EngineOptions {
            namespace: None,
            ..EngineOptions::default()
        },
    );
    let mut last: HashMap<ObjectKey, String> = keys
        .iter()
        .map(|k| (k.clone(), current(store.as_ref(), k)))
        .collect();
    let initial = last.clone();
    let progress = progress::Progress::new(keys, &initial, stdout);
    let result = runtime.block_on(async {
        let run = engine.run_hosts_until_settled(keys, timeout);
        tokio::pin!(run);
        loop {
            tokio::select! {
                r = &mut run => break r,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    report(store.as_ref(), keys, &mut last, &progress);
                }
            }
        }
    });
    report(store.as_ref(), keys, &mut last, &progress);
    progress.finish(&last);
    for k in keys {
        if let Some(state) = last.get(k).filter(|s| initial.get(k) == Some(*s)) {
            progress.line(&format!("{}: {state} (no state change)", k.name));
        }
    }
    result?;
    let mut failed = false;
    for k in keys {
        match store.get_as::<BareMetalHost>(k) {
            Ok(h) => {
                if let Some(st) = h.status.as_ref() {
                    if st.operational_status == OperationalStatus::Error {
                        failed = true;
                        let ty = st
                            .error_type
                            .as_ref()
                            .map(|t| t.as_str().to_string())
                            .unwrap_or_default();
                        eprintln!("error: {}: {ty}: {}", k.name, st.error_message);
                    }
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn current(store: &dyn Store, k: &ObjectKey) -> String {
    match store.get_as::<BareMetalHost>(k) {
        Ok(h) => progress_state(&h),
        Err(_) => "gone".to_string(),
    }
}

fn report(
    store: &dyn Store,
    keys: &[ObjectKey],
    last: &mut HashMap<ObjectKey, String>,
    progress: &progress::Progress,
) {
    let mut settled = 0;
    for k in keys {
        let (now, done) = match store.get_as::<BareMetalHost>(k) {
            Ok(h) => (progress_state(&h), host_settled(&h)),
            Err(_) => ("gone".to_string(), true),
        };
        settled += usize::from(done);
        let before = last.get(k).cloned().unwrap_or_default();
        if now != before {
            progress.changed(k, &before, &now);
            last.insert(k.clone(), now);
        }
    }
    progress.settled(settled);
}
