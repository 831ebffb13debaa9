//! `metal3ctl`: Metal³ bare-metal host management from the command line.
//!
//! Argument parsing, output and wiring only; the logic lives in the library crates.

mod bmc;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bmc(args) => bmc::run(args),
        Command::Validate(args) => return validate::main(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
