//! The Cluster API verbs: `machine create|delete`, `remediate` and `render`.
//!
//! Argument handling, the objects a user (or CAPI) would create, and
//! progress output only: the reconcilers are `metal3_capi::controller`, and
//! the host engine (direct provisioner) provisions the hosts they configure.
//! Both run in this process until the machines settle.

pub mod machine;
pub mod remediate;
pub mod render;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metal3_provisioning::engine::EngineOptions;
use metal3_provisioning::store::Store;

use crate::store_cmd::fail;

/// What one pass of the CAPI loop found.
pub enum Pass {
    /// Keep going; these lines (object → state) are shown when they change.
    Continue(BTreeMap<String, String>),
    /// Finished successfully, with final lines.
    Done(BTreeMap<String, String>),
    /// Finished with a failure message.
    Failed(String),
}

/// Runs the host engine over the whole store while `pass` is called every
/// 300 ms, printing each changed progress line, until `pass` finishes or
/// `timeout` passes.
pub fn drive(
    store: Arc<dyn Store>,
    timeout: Duration,
    mut pass: impl FnMut(&dyn Store) -> Result<Pass, Box<dyn std::error::Error>> + Send,
) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let engine = crate::host_cmd::engine(store.clone(), EngineOptions::default());
    let mut outcome: Result<(), Box<dyn std::error::Error + Send + Sync>> = Ok(());
    let out = &mut outcome;
    let start = Instant::now();
    let loop_store = store.clone();
    let stop = async move {
        let mut last: BTreeMap<String, String> = BTreeMap::new();
        let mut show = |lines: &BTreeMap<String, String>| {
            for (k, v) in lines {
                if last.get(k) != Some(v) {
                    println!("{k}: {v}");
                    last.insert(k.clone(), v.clone());
                }
            }
        };
        loop {
            match pass(loop_store.as_ref()) {
                Ok(Pass::Continue(lines)) => show(&lines),
                Ok(Pass::Done(lines)) => {
                    show(&lines);
                    return;
                }
                Ok(Pass::Failed(msg)) => {
                    *out = Err(msg.into());
                    return;
                }
                Err(e) => {
                    *out = Err(e.to_string().into());
                    return;
                }
            }
            if start.elapsed() >= timeout {
                let waiting: Vec<String> = last.iter().map(|(k, v)| format!("{k} ({v})")).collect();
                *out = Err(format!(
                    "timed out after {}s waiting for {}",
                    timeout.as_secs(),
                    waiting.join(", ")
                )
                .into());
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    runtime.block_on(engine.run_until(stop))?;
    outcome.map_err(|e| fail(e.to_string()))
}
