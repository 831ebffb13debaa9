//! `metal3ctl`: Metal³ bare-metal host management from the command line.
//!
//! Argument parsing, output and wiring only; the logic lives in the library crates.

mod bmc;
mod bmc_cache;
mod host_cmd;
mod kinds;
mod machine_cmd;
mod provisioner_config;
mod store_cmd;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Metal³ bare-metal host management without Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "metal3ctl", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    provisioner: provisioner_config::ProvisionerOpts,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Talk to a BMC directly: parse addresses, power, boot, media, inventory.
    Bmc(bmc::BmcArgs),
    /// Check manifests offline: strict parsing plus the Metal³ admission rules.
    Validate(validate::ValidateArgs),
    /// Create or update objects in the store from manifest files.
    Apply(store_cmd::apply::ApplyArgs),
    /// List stored objects or show one (table, wide, yaml, json, name).
    Get(store_cmd::get::GetArgs),
    /// Show one stored object in detail.
    Describe(store_cmd::describe::DescribeArgs),
    /// Delete a stored object (honouring finalizers).
    Delete(store_cmd::delete::DeleteArgs),
    /// Set or remove annotations of a stored object.
    Annotate(store_cmd::annotate::AnnotateArgs),
    /// Run the host engine as a controller over the store.
    #[command(after_help = "Examples:\n  metal3ctl controller run --concurrency 4")]
    Controller(host_cmd::controller::ControllerArgs),
    /// Apply hosts and their Secrets, then run the engine until they are available.
    Enroll(host_cmd::verbs::EnrollArgs),
    /// Provision a host with an image (sets spec.image and online=true).
    Provision(host_cmd::verbs::ProvisionArgs),
    /// Deprovision a host (removes spec.image and spec.customDeploy).
    #[command(after_help = "Examples:\n  metal3ctl deprovision host-0 --wait")]
    Deprovision(host_cmd::verbs::HostArgs),
    /// Power a host on or off (spec.online).
    Power(host_cmd::verbs::PowerArgs),
    /// Reboot a host (reboot.metal3.io annotation).
    Reboot(host_cmd::verbs::RebootArgs),
    /// Inspect a host again (inspect.metal3.io annotation).
    #[command(after_help = "Examples:\n  metal3ctl inspect host-0 --wait")]
    Inspect(host_cmd::verbs::HostArgs),
    /// Detach a host from management (baremetalhost.metal3.io/detached annotation).
    #[command(after_help = "Examples:\n  metal3ctl detach host-0 --wait")]
    Detach(host_cmd::verbs::HostArgs),
    /// Attach a detached host again (removes the detached annotation).
    #[command(after_help = "Examples:\n  metal3ctl attach host-0 --wait")]
    Attach(host_cmd::verbs::HostArgs),
    /// Cluster API machines: create (choose hosts, render data, provision), delete, list.
    Machine(machine_cmd::machine::MachineArgs),
    /// Remediate a Metal3Machine with the Reboot strategy (power off, then on).
    Remediate(machine_cmd::remediate::RemediateArgs),
    /// Print the metaData and networkData a Metal3DataTemplate renders for a host (offline).
    Render(machine_cmd::render::RenderArgs),
    /// Move hosts out of this store: detach them and print them with their status and BMC Secrets.
    Export(host_cmd::verbs::ExportArgs),
}

/// Whether `a` is a namespace flag: `Some(true)` when its value is the next
/// argument (`-n`, `--namespace`), `Some(false)` when attached (`-nfoo`,
/// `--namespace=foo`).
fn namespace_flag(a: &str) -> Option<bool> {
    match a {
        "-n" | "--namespace" => Some(true),
        _ if a.starts_with("--namespace=") || (a.starts_with("-n") && a.len() > 2) => Some(false),
        _ => None,
    }
}

/// Whether `flag` (`--long` or `-s`) is an option of `metal3ctl` itself that
/// takes its value as the next argument.
fn top_level_takes_value(flag: &str) -> bool {
    use clap::CommandFactory;
    Cli::command().get_arguments().any(|arg| {
        let named = match flag.strip_prefix("--") {
            Some(long) => arg.get_long() == Some(long),
            None => flag.len() == 2 && flag.chars().nth(1) == arg.get_short(),
        };
        named && arg.get_action().takes_values()
    })
}

/// kubectl habit: `metal3ctl -n NS get bmh`. A namespace given before the
/// subcommand is moved to the end of the line, where the (innermost)
/// subcommand's own `-n` reads it; one given after the subcommand wins.
fn hoist_namespace(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut hoisted = Vec::new();
    let mut it = args.into_iter();
    out.extend(it.next());
    while let Some(a) = it.next() {
        let text = a.to_string_lossy().into_owned();
        match namespace_flag(&text) {
            Some(takes_next) => {
                hoisted.push(a);
                if takes_next {
                    hoisted.extend(it.next());
                }
            }
            None if text.starts_with('-') => {
                // A top-level option's separate value (`--provisioner ironic`)
                // is not the subcommand: keep scanning after it.
                let takes_value = !text.contains('=') && top_level_takes_value(&text);
                out.push(a);
                if takes_value {
                    out.extend(it.next());
                }
            }
            None => {
                out.push(a);
                break;
            }
        }
    }
    let rest: Vec<_> = it.collect();
    let explicit = rest
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| namespace_flag(&a.to_string_lossy()).is_some());
    out.extend(rest);
    if !explicit {
        out.extend(hoisted);
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(hoist_namespace(std::env::args_os().collect()));
    // Commands that never drive a host must not fail over provisioner
    // settings they do not use (e.g. a malformed IRONIC_ENDPOINT in the env).
    let offline = matches!(
        cli.command,
        Command::Bmc(_) | Command::Validate(_) | Command::Render(_)
    );
    if !offline {
        if let Err(e) = provisioner_config::init(&cli.provisioner) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cli.command {
        Command::Bmc(args) => bmc::run(args),
        Command::Validate(args) => return validate::main(args),
        Command::Apply(args) => store_cmd::apply::run(args),
        Command::Get(args) => store_cmd::get::run(args),
        Command::Describe(args) => store_cmd::describe::run(args),
        Command::Delete(args) => store_cmd::delete::run(args),
        Command::Annotate(args) => store_cmd::annotate::run(args),
        Command::Controller(args) => host_cmd::controller::run(args),
        Command::Enroll(args) => host_cmd::verbs::enroll(args),
        Command::Provision(args) => host_cmd::verbs::provision(args),
        Command::Deprovision(args) => host_cmd::verbs::deprovision(args),
        Command::Power(args) => host_cmd::verbs::power(args),
        Command::Reboot(args) => host_cmd::verbs::reboot(args),
        Command::Inspect(args) => host_cmd::verbs::inspect(args),
        Command::Detach(args) => host_cmd::verbs::detach(args),
        Command::Attach(args) => host_cmd::verbs::attach(args),
        Command::Export(args) => host_cmd::verbs::export(args),
        Command::Machine(args) => machine_cmd::machine::run(args),
        Command::Remediate(args) => machine_cmd::remediate::run(args),
        Command::Render(args) => machine_cmd::render::render(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn h(args: &[&str]) -> Vec<String> {
        hoist_namespace(args.iter().map(std::ffi::OsString::from).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn global_namespace_moves_after_the_subcommand() {
        assert_eq!(
            h(&["m", "-n", "foo", "get", "bmh"]),
            ["m", "get", "bmh", "-n", "foo"]
        );
        assert_eq!(
            h(&["m", "--namespace=foo", "power", "on", "h0"]),
            ["m", "power", "on", "h0", "--namespace=foo"]
        );
        assert_eq!(
            h(&["m", "-nfoo", "get", "bmh"]),
            ["m", "get", "bmh", "-nfoo"]
        );
        // The subcommand's own flag wins.
        assert_eq!(
            h(&["m", "-n", "a", "get", "bmh", "-n", "b"]),
            ["m", "get", "bmh", "-n", "b"]
        );
        // Nothing to move; flag-like values after the subcommand are left alone.
        assert_eq!(
            h(&["m", "get", "bmh", "-n", "x"]),
            ["m", "get", "bmh", "-n", "x"]
        );
        assert_eq!(h(&["m", "--version"]), ["m", "--version"]);
        // A top-level option's value is not mistaken for the subcommand.
        assert_eq!(
            h(&["m", "--provisioner", "direct", "-n", "x", "get", "bmh"]),
            ["m", "--provisioner", "direct", "get", "bmh", "-n", "x"]
        );
    }

    #[test]
    fn global_namespace_parses_like_the_subcommand_one() {
        let cli = Cli::try_parse_from(h(&["m", "-n", "lab", "get", "bmh"])).unwrap();
        let text = format!("{:?}", cli.command);
        assert!(
            text.starts_with("Get(") && text.contains("namespace: \"lab\""),
            "{text}"
        );
    }
}
