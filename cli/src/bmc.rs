//! `metal3ctl bmc ...`: ad-hoc BMC work, no store involved.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use metal3_bmc::address::{AddressError, BmcAddress, Protocol};

use crate::bmc_cache::DiscoveryCache;
use metal3_bmc::ipmi::IpmiOptions;
use metal3_bmc::redfish::{RedfishClient, RedfishOptions};
use metal3_bmc::{
    Bmc, BootDevice, BootMode, BootOverride, ConnectOptions, Credentials, PowerAction,
    PowerBootControl, PowerState,
};

/// Output formats of the `bmc` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
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
    /// Read or change the power state.
    #[command(after_help = "Examples:\n  \
        metal3ctl bmc power status --address redfish+https://10.0.0.5/redfish/v1/Systems/1 --username admin --credentials-file creds.txt -o json\n  \
        metal3ctl bmc power on --wait --address redfish://10.0.0.5 --credentials-file creds.txt\n  \
        METAL3_BMC_USERNAME=admin METAL3_BMC_PASSWORD=... metal3ctl bmc power cycle --wait=120 --address idrac-virtualmedia://10.0.0.6")]
    Power {
        #[command(subcommand)]
        action: PowerCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Set the boot device for the next boot (or every boot with --persistent).
    #[command(after_help = "Examples:\n  \
        metal3ctl bmc boot --device pxe --mode uefi --address redfish://10.0.0.5 --credentials-file creds.txt\n  \
        metal3ctl bmc boot --device cd --persistent --address redfish+http://127.0.0.1:8000/redfish/v1/Systems/node-0 --username admin --password x\n  \
        metal3ctl bmc boot --device uefi-http --uri http://10.0.0.1/boot.efi --address redfish-uefihttp://10.0.0.5 --credentials-file creds.txt")]
    Boot {
        /// Device to boot from.
        #[arg(long, value_enum)]
        device: DeviceArg,
        /// Keep the override for every boot instead of the next one only.
        #[arg(long)]
        persistent: bool,
        /// Firmware boot mode to use.
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// URI for UEFI HTTP boot (with --device uefi-http).
        #[arg(long)]
        uri: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Virtual media (CD/DVD slot): insert an image URL, eject, show status, or boot from it.
    #[command(after_help = "Examples:\n  \
        metal3ctl bmc media insert http://10.0.0.1/images/ipa.iso --address redfish-virtualmedia://10.0.0.5 --credentials-file creds.txt\n  \
        metal3ctl bmc media status --address redfish-virtualmedia://10.0.0.5 --credentials-file creds.txt -o json\n  \
        metal3ctl bmc media eject --address redfish-virtualmedia://10.0.0.5 --credentials-file creds.txt\n  \
        metal3ctl bmc media boot http://10.0.0.1/images/live.iso --mode uefi --address redfish-virtualmedia://10.0.0.5 --credentials-file creds.txt")]
    Media {
        #[command(subcommand)]
        action: MediaCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Out-of-band hardware inventory, as Metal³ status.hardware (HardwareDetails).
    ///
    /// Output is JSON (also for `-o text`) or YAML with `-o yaml`. Parts the BMC
    /// cannot report are left out and listed as warnings on stderr.
    #[command(after_help = "Example:\n  \
        metal3ctl bmc inventory --address idrac-virtualmedia://10.0.0.6/redfish/v1/Systems/System.Embedded.1 --credentials-file creds.txt -o json")]
    Inventory {
        #[command(flatten)]
        conn: Conn,
    },
    /// BIOS settings: show current and pending attributes, or stage new values.
    #[command(after_help = "Examples:\n  \
        metal3ctl bmc bios get --address redfish://10.0.0.5 --credentials-file creds.txt -o json\n  \
        metal3ctl bmc bios set ProcVirtualization=Enabled BootMode=Uefi --address redfish://10.0.0.5 --credentials-file creds.txt")]
    Bios {
        #[command(subcommand)]
        action: BiosCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Firmware components and their versions.
    #[command(after_help = "Example:\n  \
        metal3ctl bmc firmware list --address redfish://10.0.0.5 --credentials-file creds.txt -o json")]
    Firmware {
        #[command(subcommand)]
        action: FirmwareCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// IPMI Get Device ID: BMC firmware, IPMI version, manufacturer and product IDs.
    #[command(after_help = "Examples:\n  \
        metal3ctl bmc info --address ipmi://10.0.0.7 --credentials-file creds.txt\n  \
        metal3ctl bmc info --address 10.0.0.7:623 --cipher-suite 3 --credentials-file creds.txt -o json")]
    Info {
        #[command(flatten)]
        conn: Conn,
    },
    /// Enable or disable UEFI secure boot (read back after the change).
    #[command(after_help = "Example:\n  \
        metal3ctl bmc secure-boot on --address redfish://10.0.0.5 --credentials-file creds.txt")]
    SecureBoot {
        /// on or off.
        #[arg(value_enum)]
        state: OnOff,
        #[command(flatten)]
        conn: Conn,
    },
}

/// How to reach and log in to the BMC.
#[derive(Debug, Args)]
struct Conn {
    /// BMC address as in `spec.bmc.address`.
    #[arg(long, global = true)]
    address: Option<String>,
    /// BMC user name.
    #[arg(long, global = true, env = "METAL3_BMC_USERNAME")]
    username: Option<String>,
    /// BMC password (prefer the environment or --credentials-file: arguments are visible in ps).
    #[arg(
        long,
        global = true,
        env = "METAL3_BMC_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,
    /// File with `username: U` and `password: P` lines, or the user name and the password on two lines.
    #[arg(long, global = true)]
    credentials_file: Option<PathBuf>,
    /// Do not verify the BMC's TLS certificate (disableCertificateVerification).
    #[arg(long, global = true)]
    insecure: bool,
    /// PEM CA bundle to verify the BMC's certificate with.
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
    /// IPMI only: use this RMCP+ cipher suite (default: try 17, fall back to 3).
    #[arg(long, global = true, value_parser = ["3", "17"])]
    cipher_suite: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Redfish: neither use nor keep the BMC's layout found by earlier runs
    /// (kept in $METAL3CTL_CACHE_DIR, else ~/.cache/metal3ctl).
    #[arg(long, global = true)]
    no_cache: bool,
}

#[derive(Debug, Subcommand)]
enum PowerCmd {
    /// Show the power state.
    Status,
    /// Power on.
    On(WaitArg),
    /// Power off immediately.
    Off(WaitArg),
    /// Ask the OS to shut down (ACPI).
    SoftOff(WaitArg),
    /// Reset immediately.
    Reset(WaitArg),
    /// Power off then on.
    Cycle(WaitArg),
}

#[derive(Debug, Args)]
struct WaitArg {
    /// Wait until the BMC reports the target state (default 300 s).
    #[arg(long, num_args = 0..=1, default_missing_value = "300", value_name = "SECS")]
    wait: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum MediaCmd {
    /// Insert the image at URL into the CD/DVD slot (ejects what is there first).
    Insert {
        /// Image URL the BMC downloads.
        url: String,
    },
    /// Eject the CD/DVD slot.
    Eject,
    /// Show the CD/DVD slot.
    Status,
    /// Boot the host from the image at URL: insert it (ejecting what is
    /// there), set a one-time boot from CD, power on (or force a restart
    /// when on) and wait until the BMC reports it on.
    Boot {
        /// Image URL the BMC downloads.
        url: String,
        /// Firmware boot mode to boot the CD in.
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// How long to wait for the host to report on.
        #[arg(long, default_value_t = 300, value_name = "SECS")]
        wait: u64,
    },
}

#[derive(Debug, Subcommand)]
enum BiosCmd {
    /// Show current and pending BIOS attributes.
    Get,
    /// Stage attributes (KEY=VALUE; numbers and true/false are typed) for the next reboot.
    Set {
        /// KEY=VALUE pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum FirmwareCmd {
    /// List components and versions.
    List,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DeviceArg {
    Pxe,
    Disk,
    Cd,
    Bios,
    UefiHttp,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Uefi,
    Legacy,
}

impl From<ModeArg> for BootMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Uefi => BootMode::Uefi,
            ModeArg::Legacy => BootMode::Legacy,
        }
    }
}

/// A power state as text output shows it (its JSON name: `on`, `off`, ...).
fn power_text(s: PowerState) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{s:?}"))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

/// Runs a `bmc` verb.
pub fn run(args: BmcArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match args.verb {
        BmcVerb::Parse { address, output } => parse(&address, output),
        verb => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(remote(verb))
        }
    }
}

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// A plain error message for the CLI.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CliError(String);

fn fail(msg: impl Into<String>) -> Box<dyn std::error::Error> {
    Box::new(CliError(msg.into()))
}

/// Reads `username: x` / `password: y` lines, or two bare lines (user, password).
fn parse_credentials_file(text: &str) -> Option<(String, String)> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let keyed = |key: &str| {
        lines.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(key)
                .then(|| v.trim().to_string())
        })
    };
    if let (Some(u), Some(p)) = (keyed("username"), keyed("password")) {
        return Some((u, p));
    }
    match lines.as_slice() {
        [u, p] => Some((u.to_string(), p.to_string())),
        _ => None,
    }
}

fn credentials(conn: &Conn) -> Result<Credentials, Box<dyn std::error::Error>> {
    let (mut user, mut pass) = (conn.username.clone(), conn.password.clone());
    if let Some(f) = &conn.credentials_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| fail(format!("cannot read {}: {e}", f.display())))?;
        let (u, p) = parse_credentials_file(&text).ok_or_else(|| {
            fail(format!(
                "{}: expected `username: U` and `password: P` lines, or two lines",
                f.display()
            ))
        })?;
        user = user.or(Some(u));
        pass = Some(p);
    }
    match (user, pass) {
        (Some(u), Some(p)) => Ok(Credentials::new(u, p)),
        _ => Err(fail(
            "credentials needed: --username/--password, METAL3_BMC_USERNAME/METAL3_BMC_PASSWORD or --credentials-file",
        )),
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Prints structured output as JSON or YAML.
fn print_data(out: Output, v: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    match out {
        Output::Yaml => {
            let value = serde_json::to_value(v)?;
            print!("{}", metal3_hostmodel::yaml::to_string_multi(&[value])?);
            Ok(())
        }
        _ => print_json(v),
    }
}

async fn remote(verb: BmcVerb) -> CliResult {
    let conn = match &verb {
        BmcVerb::Parse { .. } => return Ok(ExitCode::SUCCESS),
        BmcVerb::Power { conn, .. }
        | BmcVerb::Boot { conn, .. }
        | BmcVerb::Media { conn, .. }
        | BmcVerb::Inventory { conn }
        | BmcVerb::Bios { conn, .. }
        | BmcVerb::Firmware { conn, .. }
        | BmcVerb::Info { conn }
        | BmcVerb::SecureBoot { conn, .. } => conn,
    };
    let Some(text) = conn.address.as_deref() else {
        return Err(fail("--address is required"));
    };
    let address = BmcAddress::parse(text)?;
    let creds = credentials(conn)?;
    let cache = (address.protocol() == Protocol::Redfish && !conn.no_cache)
        .then(|| DiscoveryCache::locate(&address))
        .flatten();
    let opts = ConnectOptions {
        redfish: RedfishOptions {
            insecure: conn.insecure,
            ca_bundle: conn.ca_file.clone(),
            discovery: cache.as_ref().and_then(DiscoveryCache::load),
            ..RedfishOptions::default()
        },
        ipmi: IpmiOptions {
            cipher_suite: conn.cipher_suite.as_deref().and_then(|c| c.parse().ok()),
            ..IpmiOptions::default()
        },
    };
    let client = match Bmc::connect(&address, &creds, opts).await {
        Ok(c) => c,
        Err(e) => {
            cache.iter().for_each(DiscoveryCache::forget);
            return Err(e.into());
        }
    };
    let out = conn.output;
    let result = run_verb(&client, verb, out).await;
    if let (Some(cache), Bmc::Redfish(rf)) = (&cache, &client) {
        if result.is_ok() {
            if let Err(e) = cache.save(&rf.discovery().await) {
                eprintln!(
                    "warning: cannot keep the BMC layout in {}: {e}",
                    cache.path().display()
                );
            }
        } else {
            // The failure may come from a layout that changed (a firmware
            // update): the next run discovers the BMC again.
            cache.forget();
        }
    }
    // Closing ends the BMC session; its failure must not hide the verb's result.
    if let Err(e) = client.close().await {
        eprintln!("warning: {e}");
    }
    result
}

async fn run_verb(client: &Bmc, verb: BmcVerb, out: Output) -> CliResult {
    match verb {
        BmcVerb::Power { action, .. } => power(client, action, out).await,
        BmcVerb::Boot {
            device,
            persistent,
            mode,
            uri,
            ..
        } => boot(client, device, persistent, mode, uri, out).await,
        BmcVerb::Media { action, .. } => media(client.redfish("media")?, action, out).await,
        BmcVerb::Inventory { .. } => inventory(client.redfish("inventory")?, out).await,
        BmcVerb::Bios { action, .. } => bios(client.redfish("bios")?, action, out).await,
        BmcVerb::Firmware {
            action: FirmwareCmd::List,
            ..
        } => firmware(client.redfish("firmware list")?, out).await,
        BmcVerb::Info { .. } => {
            let id = client.ipmi("info")?.device_id().await?;
            match out {
                Output::Text => print_json(&id)?,
                _ => print_data(out, &id)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        BmcVerb::SecureBoot { state, .. } => {
            let client = client.redfish("secure-boot")?;
            client.set_secure_boot(matches!(state, OnOff::On)).await?;
            let now = client.secure_boot().await?;
            match out {
                Output::Json | Output::Yaml => {
                    print_data(out, &serde_json::json!({ "secureBoot": now }))?
                }
                Output::Text => println!("secure boot: {}", if now { "on" } else { "off" }),
            }
            Ok(ExitCode::SUCCESS)
        }
        BmcVerb::Parse { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// Power verbs over any [`PowerBootControl`] (Redfish or IPMI).
async fn power<C: PowerBootControl>(c: &C, cmd: PowerCmd, out: Output) -> CliResult {
    let (action, wait) = match cmd {
        PowerCmd::Status => {
            let s = c.power_state().await?;
            match out {
                Output::Json | Output::Yaml => {
                    print_data(out, &serde_json::json!({ "powerState": s }))?
                }
                Output::Text => println!("{}", power_text(s)),
            }
            return Ok(ExitCode::SUCCESS);
        }
        PowerCmd::On(w) => (PowerAction::On, w.wait),
        PowerCmd::Off(w) => (PowerAction::ForceOff, w.wait),
        PowerCmd::SoftOff(w) => (PowerAction::GracefulShutdown, w.wait),
        PowerCmd::Reset(w) => (PowerAction::ForceRestart, w.wait),
        PowerCmd::Cycle(w) => (PowerAction::PowerCycle, w.wait),
    };
    let state = match wait {
        Some(secs) => Some(
            c.set_power_and_wait(action, Duration::from_secs(secs), Duration::from_secs(1))
                .await?,
        ),
        None => {
            c.set_power(action).await?;
            None
        }
    };
    match (out, state) {
        (Output::Json | Output::Yaml, Some(s)) => {
            print_data(out, &serde_json::json!({ "powerState": s }))?
        }
        (Output::Json | Output::Yaml, None) => {
            print_data(out, &serde_json::json!({ "accepted": true }))?
        }
        (Output::Text, Some(s)) => println!("{}", power_text(s)),
        (Output::Text, None) => println!("accepted (use --wait to wait for the new state)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The boot verb over any [`PowerBootControl`].
async fn boot<C: PowerBootControl>(
    c: &C,
    device: DeviceArg,
    persistent: bool,
    mode: Option<ModeArg>,
    uri: Option<String>,
    out: Output,
) -> CliResult {
    let wanted = BootOverride {
        device: match device {
            DeviceArg::Pxe => BootDevice::Pxe,
            DeviceArg::Disk => BootDevice::Disk,
            DeviceArg::Cd => BootDevice::Cd,
            DeviceArg::Bios => BootDevice::BiosSetup,
            DeviceArg::UefiHttp => BootDevice::UefiHttp,
        },
        persistent,
        mode: mode.map(BootMode::from),
        http_boot_uri: uri,
    };
    c.set_boot(&wanted).await?;
    let now = c.boot_override().await?;
    match out {
        Output::Json | Output::Yaml => print_data(out, &now)?,
        Output::Text => println!(
            "boot override: {:?}{}",
            now.device,
            if now.persistent {
                " (every boot)"
            } else {
                " (next boot)"
            }
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn media(c: &RedfishClient, cmd: MediaCmd, out: Output) -> CliResult {
    let st = match cmd {
        MediaCmd::Insert { url } => c.media_insert(&url).await?,
        MediaCmd::Eject => c.media_eject().await?,
        MediaCmd::Status => c.media_status().await?,
        MediaCmd::Boot { url, mode, wait } => {
            let done = c
                .boot_from_media(
                    &url,
                    mode.map(BootMode::from),
                    Duration::from_secs(wait),
                    Duration::from_secs(1),
                )
                .await?;
            match out {
                Output::Json | Output::Yaml => print_data(out, &done)?,
                Output::Text => println!(
                    "{}: {}, booting once from CD, power {}",
                    done.media.slot,
                    done.media.image.as_deref().unwrap_or(&url),
                    power_text(done.power)
                ),
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    match out {
        Output::Json | Output::Yaml => print_data(out, &st)?,
        Output::Text => println!(
            "{}: {}",
            st.slot,
            st.image
                .as_deref()
                .filter(|_| st.inserted)
                .unwrap_or("empty")
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn inventory(c: &RedfishClient, out: Output) -> CliResult {
    let inv = c.inventory().await?;
    for w in &inv.warnings {
        eprintln!("warning: {w}");
    }
    print_data(out, &inv.hardware)?;
    Ok(ExitCode::SUCCESS)
}

/// `KEY=VALUE` with integers and booleans typed, as BIOS registries expect.
fn bios_value(raw: &str) -> serde_json::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return i.into();
    }
    match raw {
        "true" => true.into(),
        "false" => false.into(),
        _ => raw.into(),
    }
}

async fn bios(c: &RedfishClient, cmd: BiosCmd, out: Output) -> CliResult {
    match cmd {
        BiosCmd::Get => {
            let current = c.bios_attributes().await?;
            let pending = c.bios_pending().await.unwrap_or_default();
            match out {
                Output::Json | Output::Yaml => print_data(
                    out,
                    &serde_json::json!({ "attributes": current, "pending": pending }),
                )?,
                Output::Text => {
                    for (k, v) in &current {
                        match pending.get(k) {
                            Some(p) if p != v => println!("{k} = {v} (pending {p})"),
                            _ => println!("{k} = {v}"),
                        }
                    }
                }
            }
        }
        BiosCmd::Set { pairs } => {
            let mut attrs = serde_json::Map::new();
            for p in pairs {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| fail(format!("{p:?}: expected KEY=VALUE")))?;
                attrs.insert(k.trim().to_string(), bios_value(v.trim()));
            }
            c.set_bios_attributes(attrs).await?;
            let pending = c.bios_pending().await?;
            match out {
                Output::Json | Output::Yaml => {
                    print_data(out, &serde_json::json!({ "pending": pending }))?
                }
                Output::Text => println!("staged; applied on the next reboot"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn firmware(c: &RedfishClient, out: Output) -> CliResult {
    let list = c.firmware_inventory().await?;
    match out {
        Output::Json | Output::Yaml => print_data(out, &list)?,
        Output::Text => {
            for f in list {
                println!("{:<50} {}", f.name, f.version);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
        Output::Json | Output::Yaml => println!("{}", serde_json::to_string_pretty(&s)?),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_forms() {
        assert_eq!(
            parse_credentials_file("username: admin\npassword: se:cret\n"),
            Some(("admin".into(), "se:cret".into()))
        );
        assert_eq!(
            parse_credentials_file("admin\nsecret\n"),
            Some(("admin".into(), "secret".into()))
        );
        assert_eq!(parse_credentials_file("only-one-line"), None);
    }

    #[test]
    fn bios_values_are_typed() {
        assert_eq!(bios_value("3"), serde_json::json!(3));
        assert_eq!(bios_value("true"), serde_json::json!(true));
        assert_eq!(bios_value("Enabled"), serde_json::json!("Enabled"));
    }

    #[derive(Debug, clap::Parser)]
    struct T {
        #[command(subcommand)]
        verb: BmcVerb,
    }

    fn parse_args(args: &[&str]) -> BmcVerb {
        use clap::Parser;
        let mut all = vec!["metal3ctl"];
        all.extend_from_slice(args);
        T::try_parse_from(all).map(|t| t.verb).unwrap()
    }

    #[test]
    fn wait_takes_an_optional_value() {
        let wait_of = |args: &[&str]| match parse_args(args) {
            BmcVerb::Power {
                action: PowerCmd::On(w),
                ..
            } => w.wait,
            other => panic!("{other:?}"),
        };
        assert_eq!(wait_of(&["power", "on", "--address", "a"]), None);
        assert_eq!(
            wait_of(&["power", "on", "--wait", "--address", "a"]),
            Some(300)
        );
        assert_eq!(
            wait_of(&["power", "on", "--wait=5", "--address", "a"]),
            Some(5)
        );
    }

    #[test]
    fn every_verb_has_an_example() {
        use clap::CommandFactory;
        let cmd = T::command();
        for sub in cmd.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("metal3ctl bmc "),
                "{} has no example",
                sub.get_name()
            );
        }
    }

    #[test]
    fn unreachable_ipmi_bmc_fails_without_leaking_the_password() {
        // A closed loopback UDP port: the IPMI client gets ICMP port-unreachable.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("ipmi://127.0.0.1:{port}");
        let verb = parse_args(&[
            "power",
            "status",
            "--address",
            &addr,
            "--username",
            "u",
            "--password",
            "hunter2",
        ]);
        let e = run(BmcArgs { verb }).unwrap_err().to_string();
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}
