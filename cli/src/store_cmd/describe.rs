//! `metal3ctl describe`: a readable summary of one stored object.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use metal3_hostmodel::Time;
use metal3_provisioning::events;
use metal3_provisioning::store::{ObjectKey, Store, StoreError};
use serde::Deserialize;
use serde_json::Value;

use super::{resolve_kind, StoreOpts, VerbResult};

/// Arguments of `metal3ctl describe`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl describe bmh host-0\n  \
    metal3ctl describe secret host-0-bmc -n lab")]
pub struct DescribeArgs {
    /// Kind: baremetalhost (bmh), secret, hardwaredata (hd), ...
    kind: String,
    /// Object name.
    name: String,
    #[command(flatten)]
    opts: StoreOpts,
}

/// Runs `describe`.
pub fn run(args: DescribeArgs) -> VerbResult {
    let info = resolve_kind(&args.kind)?;
    let store = args.opts.open()?;
    let key = ObjectKey::new(info.kind, &args.opts.namespace, &args.name);
    let obj = store.get(&key)?;
    if !info.owns(&obj) {
        return Err(StoreError::NotFound { key }.into());
    }
    let events = events_of(&store, &obj)?;
    let extra = match info.ext.and_then(|e| e.describe) {
        Some(f) => f(&store, &obj)?,
        None => String::new(),
    };
    print!(
        "{}",
        describe_with(&obj, &events, Time::now().unix(), &extra)
    );
    Ok(ExitCode::SUCCESS)
}

/// One stored event, just the fields `describe` shows.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventRow {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// CamelCase reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// When it last happened (RFC 3339).
    pub last_timestamp: Option<String>,
    /// When it first happened (RFC 3339), for repeated events.
    pub first_timestamp: Option<String>,
    /// How many times it happened in a row (0 or 1: once).
    pub count: u64,
    /// The reporting component.
    pub source: EventSource,
}

/// Who reported an event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct EventSource {
    /// Component name.
    pub component: String,
}

/// The events about this instance of the object (its uid: a re-created
/// object of the same name does not show its predecessor's), oldest first.
fn events_of(store: &dyn Store, obj: &Value) -> Result<Vec<EventRow>, StoreError> {
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    if uid.is_empty() {
        return Ok(Vec::new());
    }
    Ok(events::events_of_uid(store, namespace, uid)?
        .into_iter()
        .map(|e| EventRow {
            type_: e.type_,
            reason: e.reason,
            message: e.message,
            last_timestamp: Some(e.last_time),
            first_timestamp: Some(e.first_time),
            count: e.count,
            source: EventSource {
                component: events::EVENT_SOURCE.to_string(),
            },
        })
        .collect())
}

/// kubectl's event age: `5s`, or `5s (x3 over 10m)` for a repeated event.
fn age_column(e: &EventRow, now: i64) -> String {
    let last = super::get::age(e.last_timestamp.as_deref(), now);
    if e.count > 1 {
        let first = super::get::age(
            e.first_timestamp.as_deref().or(e.last_timestamp.as_deref()),
            now,
        );
        format!("{last} (x{} over {first})", e.count)
    } else {
        last
    }
}

/// The events section, laid out like kubectl's.
fn events_section(out: &mut String, events: &[EventRow], now: i64) {
    if events.is_empty() {
        line(out, 0, "Events", "");
        return;
    }
    let _ = writeln!(out, "Events:");
    let mut rows = vec![
        ["Type", "Reason", "Age", "From", "Message"].map(String::from),
        ["----", "------", "----", "----", "-------"].map(String::from),
    ];
    for e in events {
        rows.push([
            e.type_.clone(),
            e.reason.clone(),
            age_column(e, now),
            e.source.component.clone(),
            e.message.clone(),
        ]);
    }
    let mut widths = [0usize; 5];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in &rows {
        let mut text = String::from("  ");
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            text.push_str(c);
            if i < 4 {
                text.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
}

/// A string at a JSON pointer, or `""`.
fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Any scalar at a JSON pointer as text, `""` when absent.
fn scalar(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(x)) => x.clone(),
        Some(other) => other.to_string(),
    }
}

fn line(out: &mut String, indent: usize, label: &str, value: &str) {
    let value = if value.is_empty() { "<none>" } else { value };
    // A label longer than the column still gets one space before its value.
    let label = format!("{label}: ");
    let _ = writeln!(
        out,
        "{:indent$}{label:<width$}{value}",
        "",
        width = 26 - indent
    );
}

fn map_lines(out: &mut String, label: &str, map: Option<&Value>) {
    match map.and_then(Value::as_object).filter(|m| !m.is_empty()) {
        None => line(out, 0, label, ""),
        Some(m) => {
            for (i, (k, v)) in m.iter().enumerate() {
                let text = format!("{k}={}", v.as_str().unwrap_or(""));
                line(out, 0, if i == 0 { label } else { "" }, &text);
            }
        }
    }
}

/// The description of any object and its events; Secret values are never
/// included.
#[cfg(test)]
pub fn describe(obj: &Value, events: &[EventRow], now: i64) -> String {
    describe_with(obj, events, now, "")
}

/// [`describe`] with a kind's own section (e.g. a pool's usage) before the events.
pub fn describe_with(obj: &Value, events: &[EventRow], now: i64, extra: &str) -> String {
    let mut out = String::new();
    line(&mut out, 0, "Name", s(obj, "/metadata/name"));
    line(&mut out, 0, "Namespace", s(obj, "/metadata/namespace"));
    line(&mut out, 0, "Kind", s(obj, "/kind"));
    map_lines(&mut out, "Labels", obj.pointer("/metadata/labels"));
    map_lines(
        &mut out,
        "Annotations",
        obj.pointer("/metadata/annotations"),
    );
    let finalizers: Vec<&str> = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    line(&mut out, 0, "Finalizers", &finalizers.join(", "));
    line(
        &mut out,
        0,
        "Created",
        s(obj, "/metadata/creationTimestamp"),
    );
    if let Some(t) = obj
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
    {
        line(&mut out, 0, "Deletion requested", t);
    }
    line(
        &mut out,
        0,
        "Resource version",
        s(obj, "/metadata/resourceVersion"),
    );
    match s(obj, "/kind") {
        "BareMetalHost" => describe_bmh(&mut out, obj),
        "Secret" => describe_secret(&mut out, obj),
        _ => {
            for part in ["spec", "status"] {
                if let Some(v) = obj.get(part).filter(|v| !v.is_null()) {
                    let _ = writeln!(out, "{}:", capitalize(part));
                    let text = metal3_hostmodel::yaml::to_string_multi(std::slice::from_ref(v))
                        .unwrap_or_default();
                    for l in text.lines().filter(|l| *l != "---") {
                        let _ = writeln!(out, "  {l}");
                    }
                }
            }
        }
    }
    out.push_str(extra);
    events_section(&mut out, events, now);
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn describe_secret(out: &mut String, obj: &Value) {
    line(
        out,
        0,
        "Type",
        obj.get("type").and_then(Value::as_str).unwrap_or("Opaque"),
    );
    let _ = writeln!(out, "Data:");
    if let Some(data) = obj.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            // kubectl shows sizes only: the values are credentials.
            let len = v.as_str().map(decoded_len).unwrap_or(0);
            line(out, 2, k, &format!("{len} bytes"));
        }
    }
}

/// Decoded size of standard base64 text, without decoding it.
fn decoded_len(b64: &str) -> usize {
    let pad = b64.bytes().rev().take_while(|b| *b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad)
}

fn describe_bmh(out: &mut String, h: &Value) {
    let _ = writeln!(out, "Spec:");
    line(out, 2, "BMC address", s(h, "/spec/bmc/address"));
    line(out, 2, "BMC credentials", s(h, "/spec/bmc/credentialsName"));
    line(out, 2, "Boot MAC", s(h, "/spec/bootMACAddress"));
    line(out, 2, "Online", &scalar(h, "/spec/online"));
    line(out, 2, "Boot mode", s(h, "/spec/bootMode"));
    line(out, 2, "Image", s(h, "/spec/image/url"));
    line(out, 2, "Consumer", s(h, "/spec/consumerRef/name"));
    line(
        out,
        2,
        "Externally provisioned",
        &scalar(h, "/spec/externallyProvisioned"),
    );
    line(
        out,
        2,
        "Automated cleaning",
        s(h, "/spec/automatedCleaningMode"),
    );
    let _ = writeln!(out, "Status:");
    line(out, 2, "State", s(h, "/status/provisioning/state"));
    line(
        out,
        2,
        "Operational status",
        s(h, "/status/operationalStatus"),
    );
    line(out, 2, "Error type", s(h, "/status/errorType"));
    line(out, 2, "Error message", s(h, "/status/errorMessage"));
    line(out, 2, "Error count", &scalar(h, "/status/errorCount"));
    line(out, 2, "Powered on", &scalar(h, "/status/poweredOn"));
    line(out, 2, "Provisioning ID", s(h, "/status/provisioning/ID"));
    line(
        out,
        2,
        "Provisioned image",
        s(h, "/status/provisioning/image/url"),
    );
    line(out, 2, "Last updated", s(h, "/status/lastUpdated"));
    if let Some(hw) = h.pointer("/status/hardware").filter(|v| v.is_object()) {
        let _ = writeln!(out, "Hardware:");
        let vendor = format!(
            "{} {}",
            s(hw, "/systemVendor/manufacturer"),
            s(hw, "/systemVendor/productName")
        );
        line(out, 2, "System", vendor.trim());
        line(out, 2, "Serial number", s(hw, "/systemVendor/serialNumber"));
        let cpu = match s(hw, "/cpu/model") {
            "" => String::new(),
            model => format!(
                "{} x {model} ({}, {} MHz)",
                scalar(hw, "/cpu/count"),
                s(hw, "/cpu/arch"),
                scalar(hw, "/cpu/clockMegahertz")
            ),
        };
        line(out, 2, "CPU", &cpu);
        let ram = hw
            .get("ramMebibytes")
            .and_then(Value::as_u64)
            .map(|m| format!("{} GiB", m / 1024))
            .unwrap_or_default();
        line(out, 2, "RAM", &ram);
        let nics: Vec<&Value> = hw
            .get("nics")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        line(out, 2, "NICs", &nics.len().to_string());
        for n in nics {
            let speed = match scalar(n, "/speedGbps") {
                sp if sp.is_empty() => sp,
                sp => format!("{sp}Gbps"),
            };
            let text = format!(
                "{} {} {} {}{}",
                s(n, "/name"),
                s(n, "/mac"),
                s(n, "/ip"),
                speed,
                if n.get("pxe").and_then(Value::as_bool) == Some(true) {
                    " pxe"
                } else {
                    ""
                }
            );
            line(
                out,
                4,
                "-",
                &text.split_whitespace().collect::<Vec<_>>().join(" "),
            );
        }
        let disks: Vec<&Value> = hw
            .get("storage")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        line(out, 2, "Disks", &disks.len().to_string());
        for d in disks {
            let size = d
                .get("sizeBytes")
                .and_then(Value::as_u64)
                .map(|b| format!("{} GB", b / 1_000_000_000))
                .unwrap_or_default();
            let text = format!(
                "{} {} {} {}",
                s(d, "/name"),
                s(d, "/type"),
                size,
                s(d, "/model")
            );
            line(out, 4, "-", text.trim());
        }
    }
    let _ = writeln!(out, "Operation history:");
    for op in ["register", "inspect", "provision", "deprovision"] {
        let start = s(h, &format!("/status/operationHistory/{op}/start")).to_string();
        let end = s(h, &format!("/status/operationHistory/{op}/end")).to_string();
        let text = match (start.is_empty(), end.is_empty()) {
            (true, _) => String::new(),
            (false, true) => format!("started {start}"),
            (false, false) => format!("{start} .. {end}"),
        };
        line(out, 2, &capitalize(op), &text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_description_shows_sizes_not_values() {
        let text = describe(
            &json!({"kind": "Secret", "metadata": {"name": "s"},
            "data": {"password": "MWYyZDFlMmU2N2Rm", "username": "YWRtaW4="}}),
            &[],
            0,
        );
        assert!(text.contains("password:               12 bytes"), "{text}");
        assert!(text.contains("username:               5 bytes"), "{text}");
        assert!(!text.contains("MWYy") && !text.contains("admin"), "{text}");
    }

    #[test]
    fn bmh_description_has_spec_status_and_hardware() {
        let text = describe(
            &json!({"kind": "BareMetalHost", "metadata": {"name": "h", "namespace": "ns"},
            "spec": {"online": true, "bmc": {"address": "ipmi://1.2.3.4"}, "bootMACAddress": "aa:bb:cc:dd:ee:ff"},
            "status": {"provisioning": {"state": "available", "ID": "uuid-1"}, "poweredOn": false,
                       "hardware": {"ramMebibytes": 8192, "cpu": {"count": 4, "model": "Xeon", "arch": "x86_64", "clockMegahertz": 2000.0},
                                    "nics": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "speedGbps": 10, "pxe": true},
                                             {"name": "eth1", "mac": "aa:bb:cc:dd:ee:01"}],
                                    "storage": [{"name": "/dev/sda", "type": "SSD", "sizeBytes": 500000000000u64}]},
                       "operationHistory": {"register": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"}}}}),
            &[],
            0,
        );
        for want in [
            "BMC address:            ipmi://1.2.3.4",
            "State:                  available",
            "Provisioning ID:        uuid-1",
            "Powered on:             false",
            "RAM:                    8 GiB",
            "CPU:                    4 x Xeon (x86_64, 2000.0 MHz)",
            "eth0 aa:bb:cc:dd:ee:ff 10Gbps pxe",
            // No speed reported: no dangling unit.
            "-:                    eth1 aa:bb:cc:dd:ee:01\n",
            "/dev/sda SSD 500 GB",
            "Register:               2026-01-01T00:00:00Z .. 2026-01-01T00:01:00Z",
            "Events:                   <none>",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn events_are_listed_like_kubectl() {
        let ev = |t: &str, reason: &str, at: &str, msg: &str| EventRow {
            type_: t.into(),
            reason: reason.into(),
            message: msg.into(),
            last_timestamp: Some(at.into()),
            source: EventSource {
                component: "metal3-baremetal-controller".into(),
            },
            ..EventRow::default()
        };
        let now = "2026-01-01T00:10:00Z".parse::<Time>().unwrap().unix();
        let events = [
            ev(
                "Normal",
                "Registered",
                "2026-01-01T00:00:00Z",
                "Registered new host",
            ),
            EventRow {
                first_timestamp: Some("2026-01-01T00:05:00Z".into()),
                count: 3,
                ..ev(
                    "Warning",
                    "PowerOnFailed",
                    "2026-01-01T00:09:55Z",
                    "BMC timed out",
                )
            },
        ];
        let text = describe(
            &json!({"kind": "DataImage", "metadata": {"name": "d"}}),
            &events,
            now,
        );
        let tail: Vec<&str> = text.lines().skip_while(|l| *l != "Events:").collect();
        assert_eq!(
            tail,
            [
                "Events:",
                "  Type     Reason         Age              From                         Message",
                "  ----     ------         ----             ----                         -------",
                "  Normal   Registered     10m              metal3-baremetal-controller  Registered new host",
                "  Warning  PowerOnFailed  5s (x3 over 5m)  metal3-baremetal-controller  BMC timed out",
            ]
        );
    }
}
