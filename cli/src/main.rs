//! `metal3ctl`: Metal³ bare-metal host management from the command line.
//!
//! Argument parsing, output and wiring only; the logic lives in the library crates.

mod bmc;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bmc(args) => bmc::run(args),
        Command::Validate(args) => return validate::main(args),
        Command::Apply(args) => store_cmd::apply::run(args),
        Command::Get(args) => store_cmd::get::run(args),
        Command::Describe(args) => store_cmd::describe::run(args),
        Command::Delete(args) => store_cmd::delete::run(args),
        Command::Annotate(args) => store_cmd::annotate::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
