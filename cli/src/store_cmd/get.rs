//! `metal3ctl get`: tables, names, YAML and JSON of stored objects.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use metal3_hostmodel::Time;
use metal3_provisioning::store::{ObjectKey, RawRef, Store, StoreError};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{resolve_kind, KindInfo, StoreOpts, VerbResult};

/// Output formats of `get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The table with extra columns.
    Wide,
    /// YAML that `apply -f` reads back.
    Yaml,
    /// JSON that `apply -f` reads back.
    Json,
    /// `<resource>/<name>` lines.
    Name,
}

/// Arguments of `metal3ctl get`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl get bmh\n  \
    metal3ctl get bmh -A -o wide\n  \
    metal3ctl get baremetalhost host-0 -n lab -o yaml\n  \
    metal3ctl get secrets -o name")]
pub struct GetArgs {
    /// Kind: baremetalhost (bmh, bmhost), secret, hardwaredata (hd), hostfirmwaresettings (hfs), ...
    kind: String,
    /// Only this object.
    name: Option<String>,
    /// List in every namespace.
    #[arg(short = 'A', long, conflicts_with = "name")]
    all_namespaces: bool,
    /// Output format (a table when not given).
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
    #[command(flatten)]
    opts: StoreOpts,
}

/// Runs `get`.
pub fn run(args: GetArgs) -> VerbResult {
    let info = resolve_kind(&args.kind)?;
    let store = args.opts.open()?;
    let namespace = (!args.all_namespaces).then_some(args.opts.namespace.as_str());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let wide = args.output == Some(Format::Wide);
    match (args.output, &args.name) {
        (Some(Format::Yaml | Format::Json), name) => {
            let doc = match name {
                Some(n) => get_owned(&store, info, &args.opts.namespace, n)?,
                None => {
                    let mut list = store.list(info.kind, namespace, None)?;
                    list.items.retain(|o| info.owns(o));
                    json!({"apiVersion": "v1", "kind": "List", "items": list.items})
                }
            };
            if args.output == Some(Format::Json) {
                writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            } else {
                let text = metal3_hostmodel::yaml::to_string_multi(std::slice::from_ref(&doc))
                    .map_err(|e| super::fail(format!("cannot write YAML: {}", e.message)))?;
                out.write_all(text.as_bytes())?;
            }
        }
        (Some(Format::Name), Some(n)) => {
            get_owned(&store, info, &args.opts.namespace, n)?;
            writeln!(out, "{}/{n}", info.resource())?;
        }
        (Some(Format::Name), None) => {
            let prefix = info.resource();
            store.list_with(info.kind, namespace, None, &mut |o| {
                if info.ext.is_some() && !info.owns(&o.decode::<Value>()?) {
                    return Ok(());
                }
                writeln!(out, "{prefix}/{}", o.name).map_err(io_to_store)
            })?;
        }
        (_, name) if info.ext.is_some() => {
            let now = Time::now().unix();
            let mut table = Table::new(info, wide, args.all_namespaces, now);
            let objects = match name {
                Some(n) => vec![get_owned(&store, info, &args.opts.namespace, n)?],
                None => store.list(info.kind, namespace, None)?.items,
            };
            for o in objects.iter().filter(|o| info.owns(o)) {
                table.add_ext(&store, o)?;
            }
            if table.rows.is_empty() {
                match namespace {
                    Some(ns) => eprintln!("No resources found in {ns} namespace."),
                    None => eprintln!("No resources found"),
                }
            } else {
                table.print(&mut out)?;
            }
        }
        (_, name) => {
            let now = Time::now().unix();
            let mut table = Table::new(info, wide, args.all_namespaces, now);
            match name {
                Some(n) => {
                    let key = ObjectKey::new(info.kind, &args.opts.namespace, n);
                    let json = serde_json::to_string(&store.get(&key)?)?;
                    table.add(RawRef {
                        kind: info.kind,
                        namespace: &key.namespace,
                        name: n,
                        json: &json,
                    })?;
                }
                None => {
                    store.list_with(info.kind, namespace, None, &mut |o| table.add(o))?;
                }
            }
            if table.rows.is_empty() {
                match namespace {
                    Some(ns) => eprintln!("No resources found in {ns} namespace."),
                    None => eprintln!("No resources found"),
                }
            } else {
                table.print(&mut out)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One object of the row's kind; an object of another group under the same
/// store kind (`IPAddress`) counts as not found.
fn get_owned(
    store: &dyn Store,
    info: &KindInfo,
    namespace: &str,
    name: &str,
) -> Result<Value, StoreError> {
    let key = ObjectKey::new(info.kind, namespace, name);
    let obj = store.get(&key)?;
    if info.owns(&obj) {
        Ok(obj)
    } else {
        Err(StoreError::NotFound { key })
    }
}

fn io_to_store(e: std::io::Error) -> StoreError {
    StoreError::Io {
        path: "stdout".into(),
        what: "write",
        source: e,
    }
}

/// The `kubectl get bmh -o wide` columns; serde skips every other field
/// without building it, which keeps listing 10 000 hosts fast.
#[derive(Deserialize)]
struct BmhRow {
    metadata: RowMeta,
    #[serde(default)]
    spec: BmhRowSpec,
    #[serde(default)]
    status: BmhRowStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RowMeta {
    creation_timestamp: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BmhRowSpec {
    #[serde(default)]
    online: bool,
    consumer_ref: Option<NameOnly>,
    bmc: Option<AddressOnly>,
}

#[derive(Deserialize)]
struct NameOnly {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct AddressOnly {
    #[serde(default)]
    address: String,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BmhRowStatus {
    operational_status: Option<String>,
    error_type: Option<String>,
    provisioning: Option<StateOnly>,
}

#[derive(Deserialize)]
struct StateOnly {
    #[serde(default)]
    state: String,
}

/// Secret columns: the type and how many keys, never the data.
#[derive(Deserialize)]
struct SecretRow {
    metadata: RowMeta,
    #[serde(rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    data: BTreeMap<String, IgnoredAny>,
}

/// Any other kind: name and age.
#[derive(Deserialize)]
struct PlainRow {
    metadata: RowMeta,
}

/// A table being filled; columns padded like kubectl's (3 spaces apart).
struct Table {
    info: &'static KindInfo,
    wide: bool,
    namespaced: bool,
    now: i64,
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(info: &'static KindInfo, wide: bool, namespaced: bool, now: i64) -> Self {
        let mut header = Vec::new();
        if namespaced {
            header.push("NAMESPACE");
        }
        header.push("NAME");
        if let Some(ext) = info.ext {
            header.extend((ext.columns)(wide));
        } else {
            match info.kind {
                "BareMetalHost" if wide => header.extend([
                    "STATUS", "STATE", "CONSUMER", "BMC", "ONLINE", "ERROR", "AGE",
                ]),
                "BareMetalHost" => header.extend(["STATE", "CONSUMER", "ONLINE", "ERROR", "AGE"]),
                "Secret" => header.extend(["TYPE", "DATA", "AGE"]),
                _ => header.push("AGE"),
            }
        }
        Table {
            info,
            wide,
            namespaced,
            now,
            header,
            rows: Vec::new(),
        }
    }

    /// A row of a kind another crate models (its row function decides).
    fn add_ext(
        &mut self,
        store: &dyn Store,
        obj: &Value,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let Some(ext) = self.info.ext else {
            return Ok(());
        };
        let mut row = Vec::with_capacity(self.header.len());
        if self.namespaced {
            row.push(
                obj.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            );
        }
        row.push(
            obj.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        );
        row.extend((ext.row)(store, obj, self.wide, self.now)?);
        self.rows.push(row);
        Ok(())
    }

    fn add(&mut self, o: RawRef<'_>) -> Result<(), StoreError> {
        let mut row = Vec::with_capacity(self.header.len());
        if self.namespaced {
            row.push(o.namespace.to_string());
        }
        row.push(o.name.to_string());
        match self.info.kind {
            "BareMetalHost" => {
                let h: BmhRow = o.decode()?;
                if self.wide {
                    row.push(h.status.operational_status.unwrap_or_default());
                }
                row.push(h.status.provisioning.map(|p| p.state).unwrap_or_default());
                row.push(h.spec.consumer_ref.map(|c| c.name).unwrap_or_default());
                if self.wide {
                    row.push(h.spec.bmc.map(|b| b.address).unwrap_or_default());
                }
                row.push(h.spec.online.to_string());
                row.push(h.status.error_type.unwrap_or_default());
                row.push(age(h.metadata.creation_timestamp.as_deref(), self.now));
            }
            "Secret" => {
                let s: SecretRow = o.decode()?;
                row.push(s.type_.unwrap_or_else(|| "Opaque".into()));
                row.push(s.data.len().to_string());
                row.push(age(s.metadata.creation_timestamp.as_deref(), self.now));
            }
            _ => {
                let p: PlainRow = o.decode()?;
                row.push(age(p.metadata.creation_timestamp.as_deref(), self.now));
            }
        }
        self.rows.push(row);
        Ok(())
    }

    fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            let last = row.len().saturating_sub(1);
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                line.push_str(cell);
                if i < last {
                    let pad = w - cell.chars().count() + 3;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}

/// kubectl's AGE column (`HumanDuration`): `45s`, `3m20s`, `12m`, `5h3m`,
/// `30h`, `4d5h`, `40d`, `2y30d`, `9y`.
pub fn age(created: Option<&str>, now: i64) -> String {
    let Some(created) = created.and_then(|c| c.parse::<Time>().ok()) else {
        return "<unknown>".into();
    };
    let secs = (now - created.unix()).max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        match secs % 60 {
            0 => format!("{m}m"),
            s => format!("{m}m{s}s"),
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            mm => format!("{h}h{mm}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        match h % 24 {
            0 => format!("{d}d"),
            hh => format!("{d}d{hh}h"),
        }
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else if h < 24 * 365 * 8 {
        let y = d / 365;
        match d % 365 {
            0 => format!("{y}y"),
            dd => format!("{y}y{dd}d"),
        }
    } else {
        format!("{}y", d / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_like_kubectl() {
        let t0 = "2026-01-01T00:00:00Z";
        let base = t0.parse::<Time>().unwrap().unix();
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (200, "3m20s"),
            (180, "3m"),
            (12 * 60 + 5, "12m"),
            (5 * 3600 + 3 * 60, "5h3m"),
            (2 * 3600 + 60 * 5, "125m"),
            (30 * 3600, "30h"),
            (4 * 86400 + 5 * 3600, "4d5h"),
            (40 * 86400, "40d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(age(Some(t0), base + secs), want, "{secs}s");
        }
        assert_eq!(age(None, base), "<unknown>");
        assert_eq!(age(Some(t0), base - 10), "0s", "clock skew shows 0s");
    }

    #[test]
    fn table_pads_columns_three_apart() {
        let info = resolve_kind("bmh").unwrap();
        let mut t = Table::new(info, false, false, 0);
        t.rows.push(vec![
            "host-0".into(),
            "available".into(),
            "".into(),
            "true".into(),
            "".into(),
            "5s".into(),
        ]);
        let mut out = Vec::new();
        t.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "NAME     STATE       CONSUMER   ONLINE   ERROR   AGE\n\
             host-0   available              true             5s\n"
        );
    }
}
