//! `metal3ctl render`: a Metal3DataTemplate rendered for a host, offline.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use metal3_capi::preview::{preview, PreviewInput};
use metal3_capi::render::{metadata_secret_name, network_data_secret_name};
use metal3_capi::{Machine, Metal3DataTemplate, Metal3Machine};
use metal3_hostmodel::manifest::read_documents;
use metal3_hostmodel::BareMetalHost;
use metal3_ipam::{IPAddress, IPPool};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::store_cmd::{fail, VerbResult};

/// Which rendered document `render` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// Both, each headed by a comment naming its Secret.
    All,
    /// Only metaData, as the Secret's value.
    Metadata,
    /// Only networkData, as the Secret's value.
    Networkdata,
}

/// Arguments of `metal3ctl render`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl render workers-template --host node-0 -f cluster.yaml -f hosts/\n  \
    metal3ctl render workers-template --host node-0 --index 3 --only networkdata -f cluster.yaml")]
pub struct RenderArgs {
    /// Metal3DataTemplate name.
    template: String,
    /// BareMetalHost the machine would be associated with.
    #[arg(long, value_name = "BMH")]
    host: String,
    /// Metal3Data index (`<template>-<index>`).
    #[arg(long, default_value_t = 0)]
    index: i64,
    /// Metal3Machine name (taken from the manifests if present; default: the host name).
    #[arg(long, value_name = "M3M")]
    machine: Option<String>,
    /// Print only one document.
    #[arg(long, value_enum, default_value_t = Part::All)]
    only: Part,
    /// Manifest file, directory (its .yaml, .yml and .json files) or `-`; repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        required = true,
        value_name = "FILE|DIR|-"
    )]
    files: Vec<PathBuf>,
    /// Namespace of objects that do not name one.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
}

/// The documents of every input, with `List`s expanded and namespaces defaulted.
pub fn read_manifests(
    files: &[PathBuf],
    namespace: &str,
) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let texts = crate::store_cmd::apply::read_inputs(files)?;
    let mut out = Vec::new();
    for (name, text) in texts {
        let docs = read_documents(&text).map_err(|e| fail(format!("{name}: {e}")))?;
        for d in docs {
            match d.get("items").and_then(Value::as_array) {
                Some(items)
                    if d.get("kind")
                        .and_then(Value::as_str)
                        .is_some_and(|k| k.ends_with("List")) =>
                {
                    out.extend(items.iter().cloned())
                }
                _ => out.push(d),
            }
        }
    }
    for d in &mut out {
        if let Some(meta) = d.get_mut("metadata").and_then(Value::as_object_mut) {
            let empty = meta
                .get("namespace")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            if empty {
                meta.insert("namespace".into(), Value::String(namespace.into()));
            }
        }
    }
    Ok(out)
}

fn name_of(d: &Value) -> (&str, &str) {
    let s = |f: &str| {
        d.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    (s("namespace"), s("name"))
}

/// Decodes every document of `kind` (any namespace).
fn all_of<T: DeserializeOwned>(
    docs: &[Value],
    kind: &str,
) -> Result<Vec<T>, Box<dyn std::error::Error>> {
    docs.iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some(kind))
        .map(|d| {
            let (ns, name) = name_of(d);
            serde_path_to_error::deserialize(d.clone()).map_err(|e| {
                fail(format!(
                    "{kind} {ns}/{name}: field {}: {}",
                    e.path(),
                    e.inner()
                ))
            })
        })
        .collect()
}

/// The one document of `kind` named `name` in `ns`.
fn one_of<T: DeserializeOwned>(
    docs: &[Value],
    kind: &str,
    ns: &str,
    name: &str,
) -> Result<Option<T>, Box<dyn std::error::Error>> {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some(kind) && name_of(d) == (ns, name))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [d] => serde_path_to_error::deserialize((*d).clone())
            .map(Some)
            .map_err(|e| {
                fail(format!(
                    "{kind} {ns}/{name}: field {}: {}",
                    e.path(),
                    e.inner()
                ))
            }),
        _ => Err(fail(format!(
            "{kind} {ns}/{name}: defined more than once in the input"
        ))),
    }
}

/// Runs `render`.
pub fn render(args: RenderArgs) -> VerbResult {
    let docs = read_manifests(&args.files, &args.namespace)?;
    let ns = args.namespace.as_str();
    let template: Metal3DataTemplate = one_of(&docs, "Metal3DataTemplate", ns, &args.template)?
        .ok_or_else(|| {
            fail(format!(
                "Metal3DataTemplate {:?} not found in namespace {ns:?} of the input",
                args.template
            ))
        })?;
    let host: BareMetalHost = one_of(&docs, "BareMetalHost", ns, &args.host)?.ok_or_else(|| {
        fail(format!(
            "BareMetalHost {:?} not found in namespace {ns:?} of the input",
            args.host
        ))
    })?;
    let m3m_name = args.machine.clone().unwrap_or_else(|| args.host.clone());
    let m3m: Option<Metal3Machine> = one_of(&docs, "Metal3Machine", ns, &m3m_name)?;
    let machines: Vec<Machine> = all_of(&docs, "Machine")?;
    // The CAPI Machine is the one whose infrastructureRef names the Metal3Machine.
    let machine = machines.iter().find(|m| {
        m.metadata.namespace == ns
            && m.spec
                .infrastructure_ref
                .as_ref()
                .is_some_and(|r| r.name == m3m_name)
    });
    let pools: Vec<IPPool> = all_of(&docs, "IPPool")?;
    let addresses: Vec<IPAddress> = all_of(&docs, "IPAddress")?;
    let p = preview(PreviewInput {
        template: &template,
        host: &host,
        pools: &pools,
        addresses: &addresses,
        index: args.index,
        m3m: m3m.as_ref(),
        machine_name: &m3m_name,
        machine,
    })?;
    let mut out = String::new();
    let show = |part: Part| args.only == Part::All || args.only == part;
    if show(Part::Metadata) {
        match &p.meta_data {
            Some(md) => {
                if args.only == Part::All {
                    out.push_str(&format!(
                        "# metaData (Secret {}, Metal3Data {})\n",
                        metadata_secret_name(&m3m_name),
                        p.data_name
                    ));
                }
                out.push_str(md);
            }
            None if args.only == Part::All => {
                out.push_str("# metaData: none (the template has no metaData)\n")
            }
            None => {
                return Err(fail(format!(
                    "Metal3DataTemplate {:?} has no metaData",
                    args.template
                )))
            }
        }
    }
    if show(Part::Networkdata) {
        if args.only == Part::All {
            out.push_str("---\n");
        }
        match &p.network_data {
            Some(nd) => {
                if args.only == Part::All {
                    out.push_str(&format!(
                        "# networkData (Secret {}, Metal3Data {})\n",
                        network_data_secret_name(&m3m_name),
                        p.data_name
                    ));
                }
                out.push_str(nd);
            }
            None if args.only == Part::All => {
                out.push_str("# networkData: none (the template has no networkData)\n")
            }
            None => {
                return Err(fail(format!(
                    "Metal3DataTemplate {:?} has no networkData",
                    args.template
                )))
            }
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
