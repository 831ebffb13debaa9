//! The one-host verbs and `enroll`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use metal3_hostmodel::annotations;
use metal3_provisioning::store::{ObjectKey, Store, StoreError};
use serde_json::{json, Value};

use super::{edit_host, finish, host_key, set_annotation, settle, WaitOpts};
use crate::store_cmd::apply::{apply, ApplyArgs};
use crate::store_cmd::{fail, StoreOpts, VerbResult};

/// Arguments of `metal3ctl enroll`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl enroll -f host-0.yaml                # Secret + BareMetalHost\n  \
    metal3ctl enroll -f hosts/ --wait=30m")]
pub struct EnrollArgs {
    #[command(flatten)]
    apply: ApplyArgs,
    /// How long to wait for the hosts to become available.
    #[arg(long, value_name = "TIMEOUT", default_value = "10m",
          value_parser = crate::store_cmd::delete::parse_duration)]
    wait: std::time::Duration,
}

/// Runs `enroll`: apply, then the engine until the applied hosts settle.
pub fn enroll(args: EnrollArgs) -> VerbResult {
    let (code, keys) = apply(&args.apply)?;
    if keys.is_empty() {
        return Ok(code);
    }
    let hosts: Vec<ObjectKey> = keys
        .into_iter()
        .filter(|k| k.kind == "BareMetalHost")
        .collect();
    if hosts.is_empty() {
        return Ok(code);
    }
    let store: Arc<dyn Store> = Arc::new(args.apply.store_opts().open()?);
    settle(store, &hosts, args.wait)
}

/// A verb on one host.
#[derive(Debug, Args)]
pub struct HostArgs {
    /// Host (BareMetalHost) name.
    host: String,
    #[command(flatten)]
    wait: WaitOpts,
    #[command(flatten)]
    opts: StoreOpts,
}

/// Arguments of `metal3ctl provision`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl provision host-0 --image http://10.0.0.1/live.iso --format live-iso --wait\n  \
    metal3ctl provision host-0 --image http://10.0.0.1/os.qcow2 --checksum http://10.0.0.1/os.qcow2.sha256 \\\n      \
    --checksum-type sha256 --user-data cloud-init.yaml --wait=30m")]
pub struct ProvisionArgs {
    /// Host (BareMetalHost) name.
    host: String,
    /// Image URL (spec.image.url).
    #[arg(long, value_name = "URL")]
    image: String,
    /// Checksum or checksum URL (spec.image.checksum).
    #[arg(long)]
    checksum: Option<String>,
    /// Checksum algorithm: md5, sha256, sha512, auto.
    #[arg(long, value_name = "TYPE")]
    checksum_type: Option<String>,
    /// Disk format: raw, qcow2, vdi, vmdk, live-iso.
    #[arg(long)]
    format: Option<String>,
    /// User data file, stored as Secret `<host>-user-data`.
    #[arg(long, value_name = "FILE")]
    user_data: Option<PathBuf>,
    /// Network data file, stored as Secret `<host>-network-data`.
    #[arg(long, value_name = "FILE")]
    network_data: Option<PathBuf>,
    /// Meta data file, stored as Secret `<host>-meta-data`.
    #[arg(long, value_name = "FILE")]
    meta_data: Option<PathBuf>,
    #[command(flatten)]
    wait: WaitOpts,
    #[command(flatten)]
    opts: StoreOpts,
}

/// Writes Secret `name` with `key: contents of file`, creating or replacing it.
fn put_secret(
    store: &dyn Store,
    ns: &str,
    name: &str,
    key: &str,
    file: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let text =
        std::fs::read_to_string(file).map_err(|e| fail(format!("{}: {e}", file.display())))?;
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "type": "Opaque",
        "stringData": {key: text},
    });
    match store.create(obj.clone()) {
        Ok(_) => Ok(()),
        Err(StoreError::AlreadyExists { .. }) => {
            let skey = ObjectKey::new("Secret", ns, name);
            metal3_provisioning::store::update_with_retry(
                store,
                &skey,
                metal3_provisioning::store::Subresource::Main,
                |v| {
                    v["data"] = json!({});
                    v["stringData"] = json!({key: text.clone()});
                    Ok(())
                },
            )?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs `provision`.
pub fn provision(args: ProvisionArgs) -> VerbResult {
    let store: Arc<dyn Store> = Arc::new(args.opts.open()?);
    let key = host_key(&args.opts, &args.host);
    // Fail on a missing host before writing any Secret.
    store.get(&key).map_err(|e| {
        if e.is_not_found() {
            fail(format!(
                "baremetalhost {:?} not found in namespace {:?}",
                key.name, key.namespace
            ))
        } else {
            e.into()
        }
    })?;
    let ns = args.opts.namespace.as_str();
    let mut refs: Vec<(&str, String)> = Vec::new();
    for (field, suffix, data_key, file) in [
        ("userData", "user-data", "userData", &args.user_data),
        (
            "networkData",
            "network-data",
            "networkData",
            &args.network_data,
        ),
        ("metaData", "meta-data", "metaData", &args.meta_data),
    ] {
        if let Some(f) = file {
            let name = format!("{}-{suffix}", args.host);
            put_secret(store.as_ref(), ns, &name, data_key, f)?;
            refs.push((field, name));
        }
    }
    let mut image = json!({"url": args.image});
    for (k, v) in [
        ("checksum", &args.checksum),
        ("checksumType", &args.checksum_type),
        ("format", &args.format),
    ] {
        if let Some(v) = v {
            image[k] = json!(v);
        }
    }
    edit_host(store.as_ref(), &key, |v| {
        v["spec"]["image"] = image.clone();
        v["spec"]["online"] = json!(true);
        for (field, name) in &refs {
            v["spec"][*field] = json!({"name": name, "namespace": ns});
        }
    })?;
    println!(
        "baremetalhost.metal3.io/{} provisioning requested",
        args.host
    );
    finish(store, &[key], &args.wait)
}

/// Runs `deprovision`: removes image and customDeploy.
pub fn deprovision(args: HostArgs) -> VerbResult {
    simple(&args, "deprovisioning requested", |v| {
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("image");
            spec.remove("customDeploy");
        }
    })
}

/// Arguments of `metal3ctl power`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl power on host-0 --wait\n  \
    metal3ctl power off host-0")]
pub struct PowerArgs {
    #[command(subcommand)]
    to: PowerTo,
}

#[derive(Debug, Subcommand)]
enum PowerTo {
    /// Set spec.online=true.
    #[command(after_help = "Examples:\n  metal3ctl power on host-0 --wait")]
    On(HostArgs),
    /// Set spec.online=false.
    #[command(after_help = "Examples:\n  metal3ctl power off host-0 --wait=5m")]
    Off(HostArgs),
}

/// Runs `power on|off`.
pub fn power(args: PowerArgs) -> VerbResult {
    let (on, host) = match &args.to {
        PowerTo::On(h) => (true, h),
        PowerTo::Off(h) => (false, h),
    };
    let what = if on {
        "power on requested"
    } else {
        "power off requested"
    };
    simple(host, what, |v| v["spec"]["online"] = json!(on))
}

/// Arguments of `metal3ctl reboot`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl reboot host-0 --wait\n  \
    metal3ctl reboot host-0 --hard")]
pub struct RebootArgs {
    #[command(flatten)]
    host: HostArgs,
    /// Hard power off instead of a soft one ({\"mode\":\"hard\"}).
    #[arg(long)]
    hard: bool,
}

/// Runs `reboot`: the `reboot.metal3.io` annotation.
pub fn reboot(args: RebootArgs) -> VerbResult {
    let value = if args.hard { r#"{"mode":"hard"}"# } else { "" };
    simple(&args.host, "reboot requested", |v| {
        set_annotation(v, annotations::REBOOT, Some(value))
    })
}

/// Runs `inspect`: the `inspect.metal3.io` annotation.
pub fn inspect(args: HostArgs) -> VerbResult {
    simple(&args, "inspection requested", |v| {
        set_annotation(v, annotations::INSPECT, Some(""))
    })
}

/// Runs `detach`: the `baremetalhost.metal3.io/detached` annotation.
pub fn detach(args: HostArgs) -> VerbResult {
    simple(&args, "detach requested", |v| {
        set_annotation(v, annotations::DETACHED, Some(""))
    })
}

/// Runs `attach`: removes the `baremetalhost.metal3.io/detached` annotation.
pub fn attach(args: HostArgs) -> VerbResult {
    simple(&args, "attach requested", |v| {
        set_annotation(v, annotations::DETACHED, None)
    })
}

fn simple(args: &HostArgs, what: &str, mutate: impl FnMut(&mut Value)) -> VerbResult {
    let store: Arc<dyn Store> = Arc::new(args.opts.open()?);
    let key = host_key(&args.opts, &args.host);
    edit_host(store.as_ref(), &key, mutate)?;
    println!("baremetalhost.metal3.io/{} {what}", args.host);
    finish(store, &[key], &args.wait)
}

/// Arguments of `metal3ctl export`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl export host-0 host-1 > moved.yaml\n  \
    metal3ctl apply -f moved.yaml --store other.db   # adopted, not re-inspected\n  \
    metal3ctl delete bmh host-0 --wait                # detached: no deprovisioning")]
pub struct ExportArgs {
    /// Hosts (BareMetalHost names) to move.
    #[arg(required = true)]
    hosts: Vec<String>,
    /// How long to wait for the hosts to be detached.
    #[arg(long, value_name = "TIMEOUT", default_value = "5m",
          value_parser = crate::store_cmd::delete::parse_duration)]
    wait: std::time::Duration,
    #[command(flatten)]
    opts: StoreOpts,
}

/// Metadata not carried over to another store.
const NOT_EXPORTED: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "finalizers",
    "ownerReferences",
];

fn strip_for_export(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in NOT_EXPORTED {
            meta.remove(*f);
        }
    }
    if let Some(map) = obj.as_object_mut() {
        map.remove("status");
    }
}

/// Runs `export`: Metal³'s move procedure. Detaches the hosts, waits until
/// they are detached, then prints each host (without the detached annotation,
/// with its status in `baremetalhost.metal3.io/status`) and its BMC Secret.
pub fn export(args: ExportArgs) -> VerbResult {
    let store: Arc<dyn Store> = Arc::new(args.opts.open()?);
    let keys: Vec<ObjectKey> = args.hosts.iter().map(|h| host_key(&args.opts, h)).collect();
    for key in &keys {
        edit_host(store.as_ref(), key, |v| {
            set_annotation(v, annotations::DETACHED, Some(""))
        })?;
        eprintln!("baremetalhost.metal3.io/{} detach requested", key.name);
    }
    // Progress goes to stderr: stdout is the exported manifest.
    let code = super::settle_to(store.clone(), &keys, args.wait, false)?;
    if code != std::process::ExitCode::SUCCESS {
        return Ok(code);
    }
    let mut docs: Vec<Value> = Vec::new();
    for key in &keys {
        let mut host = store.get(key)?;
        let detached = host
            .pointer("/status/operationalStatus")
            .and_then(Value::as_str)
            == Some("detached");
        if !detached {
            return Err(fail(format!(
                "{}: not detached (state {})",
                key.name,
                host.pointer("/status/provisioning/state")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
            )));
        }
        let status = serde_json::to_string(&host["status"])?;
        set_annotation(&mut host, annotations::DETACHED, None);
        set_annotation(&mut host, annotations::STATUS, Some(&status));
        let secret = host
            .pointer("/spec/bmc/credentialsName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| ObjectKey::new("Secret", &key.namespace, s));
        if let Some(skey) = secret {
            let mut s = store.get(&skey)?;
            strip_for_export(&mut s);
            docs.push(s);
        }
        strip_for_export(&mut host);
        docs.push(host);
    }
    let text = metal3_hostmodel::yaml::to_string_multi(&docs)
        .map_err(|e| fail(format!("cannot write YAML: {}", e.message)))?;
    print!("{text}");
    Ok(std::process::ExitCode::SUCCESS)
}
