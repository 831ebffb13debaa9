//! `metal3ctl controller run`: the engine as a long-running controller.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use metal3_provisioning::engine::{default_concurrency, default_provisioning_limit, EngineOptions};
use metal3_provisioning::store::{SqliteOptions, Store};

use crate::store_cmd::{StoreOpts, VerbResult};

/// Arguments of `metal3ctl controller`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    #[command(subcommand)]
    command: ControllerCommand,
}

#[derive(Debug, Subcommand)]
enum ControllerCommand {
    /// Reconcile every host (and Metal3Machine) of the store until Ctrl-C or SIGTERM.
    #[command(after_help = "Examples:\n  \
        metal3ctl controller run\n  \
        metal3ctl controller run --concurrency 4 --provisioning-limit 10 --store lab.db")]
    Run(RunArgs),
}

/// Arguments of `metal3ctl controller run`.
#[derive(Debug, Args)]
struct RunArgs {
    /// Hosts reconciled at once [default: BMO_CONCURRENCY, else the CPU count clamped to 2..=8].
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Hosts inspecting/(de)provisioning at once [default: PROVISIONING_LIMIT, else 20].
    #[arg(long, value_name = "N")]
    provisioning_limit: Option<usize>,
    /// Only hosts of this namespace (default: all namespaces).
    #[arg(long, value_name = "NS")]
    watch_namespace: Option<String>,
    /// The store file [default: $XDG_DATA_HOME/metal3ctl/store.db or ~/.local/share/metal3ctl/store.db].
    #[arg(long, env = "METAL3CTL_STORE", value_name = "PATH")]
    store: Option<std::path::PathBuf>,
}

/// Runs `controller`.
pub fn run(args: ControllerArgs) -> VerbResult {
    let ControllerCommand::Run(args) = args.command;
    let opts = StoreOpts {
        store: args.store,
        namespace: "default".to_string(),
    };
    // No memory-mapped reads: the controller reads every host over time,
    // and mapped pages would keep the whole store file in its RSS.
    let store: Arc<dyn Store> = Arc::new(opts.open_with(SqliteOptions {
        mmap_size: 0,
        ..SqliteOptions::default()
    })?);
    let options = EngineOptions {
        concurrency: args
            .concurrency
            .filter(|n| *n > 0)
            .unwrap_or_else(default_concurrency),
        provisioning_limit: args
            .provisioning_limit
            .filter(|n| *n > 0)
            .unwrap_or_else(default_provisioning_limit),
        namespace: args.watch_namespace,
        ..EngineOptions::default()
    };
    eprintln!(
        "controller: concurrency {}, provisioning limit {}; Ctrl-C to stop",
        options.concurrency, options.provisioning_limit
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let namespace = options.namespace.clone();
        let engine = super::engine(store.clone(), options);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        // The Metal3Machine reconcilers run beside the host engine, once a second.
        let machines = async move {
            let ctx = crate::machine_cmd::machine::controller_context();
            loop {
                crate::machine_cmd::machine::reconcile_all(
                    store.as_ref(),
                    &ctx,
                    namespace.as_deref(),
                );
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        };
        let stop = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = machines => {}
            }
        };
        engine.run_until(stop).await?;
        eprintln!("controller: stopped");
        Ok(ExitCode::SUCCESS)
    })
}
