//! `metal3ctl bmc ...`: ad-hoc BMC work, no store involved.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use metal3_bmc::address::{AddressError, BmcAddress};

/// Output formats of the `bmc` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
}

/// Arguments of `metal3ctl bmc`.
#[derive(Debug, Args)]
pub struct BmcArgs {
    #[command(subcommand)]
    verb: BmcVerb,
}

#[derive(Debug, Subcommand)]
enum BmcVerb {
    /// Parse a BMC address and show the driver, Ironic interfaces and capabilities.
    #[command(after_help = "Examples:\n  \
        metal3ctl bmc parse redfish-virtualmedia://10.0.0.5/redfish/v1/Systems/1\n  \
        metal3ctl bmc parse 192.168.122.1:6230 -o json\n  \
        metal3ctl bmc parse 'idrac-virtualmedia+https://[2001:db8::5]/redfish/v1/Systems/System.Embedded.1' -o json")]
    Parse {
        /// The address as written in `spec.bmc.address`.
        address: String,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

/// Runs a `bmc` verb.
pub fn run(args: BmcArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match args.verb {
        BmcVerb::Parse { address, output } => parse(&address, output),
    }
}

fn parse(address: &str, output: Output) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let parsed = match BmcAddress::parse(address) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            if matches!(
                e,
                AddressError::UnknownType { .. } | AddressError::Unparsable { .. }
            ) {
                eprintln!(
                    "accepted types: {} (or a bare host[:port] for IPMI)",
                    AddressError::accepted_types().join(", ")
                );
            }
            return Ok(ExitCode::from(2));
        }
    };
    let s = parsed.summary();
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        Output::Text => {
            let opt = |o: Option<&str>| o.unwrap_or("(Ironic default)").to_string();
            println!("address:              {}", s.address);
            println!("type:                 {}", s.type_);
            println!("ironic driver:        {}", s.driver);
            println!("protocol:             {:?}", s.protocol);
            println!(
                "host:                 {}",
                if s.host.is_empty() { "(none)" } else { &s.host }
            );
            match s.port {
                Some(p) => println!("port:                 {p}"),
                None => println!("port:                 {} (default)", s.effective_port),
            }
            if let Some(sys) = &s.system_id {
                println!("system:               {sys}");
            }
            println!("needs boot MAC:       {}", s.needs_mac);
            println!("secure boot:          {}", s.supports_secure_boot);
            println!("virtual media:        {}", s.virtual_media);
            println!("provisioning network: {}", s.needs_provisioning_network);
            println!("hardware RAID:        {}", s.supports_hardware_raid);
            println!("firmware settings:    {}", s.supports_firmware_settings);
            println!("firmware updates:     {}", s.supports_firmware_updates);
            println!("fast inspection:      {}", s.supports_fast_inspection);
            println!("interfaces:           boot={} management={} power={} raid={} bios={} vendor={} firmware={} inspect={}",
                s.boot_interface, opt(s.management_interface), opt(s.power_interface),
                opt(s.raid_interface), opt(s.bios_interface), opt(s.vendor_interface),
                opt(s.firmware_interface), s.inspect_interface);
            if let Some(r) = s.removed_upstream_in {
                println!("note:                 legacy driver, removed from Metal³ in {r}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
