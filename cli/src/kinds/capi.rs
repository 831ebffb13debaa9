//! Rows for the Cluster API kinds: CAPM3's `infrastructure.cluster.x-k8s.io`
//! (Metal3Machine, Metal3MachineTemplate, Metal3DataTemplate, Metal3Data,
//! Metal3DataClaim, Metal3Remediation(Template), Metal3Cluster(Template))
//! and the CAPI core `Machine` and `Cluster` the mapping reads. Types and
//! webhooks are `metal3-capi`'s; this module only wires them to the verbs.

use metal3_capi::webhook::{
    default_metal3_cluster, default_remediation_template, validate_metal3_cluster,
    validate_remediation_template,
};
use metal3_capi::{
    Cluster, Machine, Metal3Cluster, Metal3ClusterTemplate, Metal3Data, Metal3DataClaim,
    Metal3DataTemplate, Metal3Machine, Metal3MachineTemplate, Metal3Remediation,
    Metal3RemediationTemplate,
};
use metal3_hostmodel::manifest::{parse_typed, Location, ManifestError, ParseOptions};
use metal3_provisioning::store::Store;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{created, s, scalar, KindExt, KindInfo, KindResult};

const INFRA: &str = "infrastructure.cluster.x-k8s.io";
const INFRA_VERSIONS: &[&str] = &[metal3_capi::V1BETA1, metal3_capi::V1BETA2];
const CORE: &str = "cluster.x-k8s.io";
const CORE_VERSIONS: &[&str] = &["cluster.x-k8s.io/v1beta1", "cluster.x-k8s.io/v1beta2"];

/// A row of a kind with no update rules and no controller action on apply
/// (the machine reconcilers run from `machine` verbs and `controller run`).
const fn row(
    kind: &'static str,
    group: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    ext: &'static KindExt,
) -> KindInfo {
    KindInfo {
        kind,
        group,
        plural,
        short,
        ext: Some(ext),
    }
}

const fn ext(
    api_versions: &'static [&'static str],
    parse: fn(&Value, &Location, ParseOptions) -> Result<Value, Vec<ManifestError>>,
    columns: fn(bool) -> &'static [&'static str],
    row: fn(&dyn Store, &Value, bool, i64) -> KindResult<Vec<String>>,
) -> KindExt {
    KindExt {
        api_versions,
        parse,
        validate_update: no_update_rules,
        after_apply: None,
        delete: None,
        columns,
        row,
        describe: None,
    }
}

/// The CAPM3 and CAPI rows, short names as the CRDs declare them.
pub const CAPI_KINDS: &[KindInfo] = &[
    row(
        "Metal3Machine",
        INFRA,
        "metal3machines",
        &["m3m", "m3machine", "m3machines", "metal3m", "metal3machine"],
        &KindExt {
            describe: Some(describe_m3m),
            ..ext(INFRA_VERSIONS, parse_m3m, m3m_columns, m3m_row)
        },
    ),
    row(
        "Metal3MachineTemplate",
        INFRA,
        "metal3machinetemplates",
        &[
            "m3mt",
            "m3machinetemplate",
            "m3machinetemplates",
            "metal3mt",
            "metal3machinetemplate",
        ],
        &ext(INFRA_VERSIONS, parse_m3mt, m3mt_columns, m3mt_row),
    ),
    row(
        "Metal3DataTemplate",
        INFRA,
        "metal3datatemplates",
        &[
            "m3dt",
            "m3datatemplate",
            "m3datatemplates",
            "metal3dt",
            "metal3datatemplate",
        ],
        &ext(INFRA_VERSIONS, parse_m3dt, age_columns, age_row),
    ),
    row(
        "Metal3Data",
        INFRA,
        "metal3datas",
        &["m3d", "m3data", "m3datas", "metal3d", "metal3data"],
        &ext(INFRA_VERSIONS, parse_m3d, m3d_columns, m3d_row),
    ),
    row(
        "Metal3DataClaim",
        INFRA,
        "metal3dataclaims",
        &[
            "m3dc",
            "m3dataclaim",
            "m3dataclaims",
            "metal3dc",
            "metal3dataclaim",
        ],
        &ext(INFRA_VERSIONS, parse_m3dc, m3dc_columns, m3dc_row),
    ),
    row(
        "Metal3Remediation",
        INFRA,
        "metal3remediations",
        &["m3r", "m3remediation"],
        &ext(INFRA_VERSIONS, parse_m3r, m3r_columns, m3r_row),
    ),
    row(
        "Metal3RemediationTemplate",
        INFRA,
        "metal3remediationtemplates",
        &[
            "m3rt",
            "m3remediationtemplate",
            "m3remediationtemplates",
            "metal3rt",
            "metal3remediationtemplate",
        ],
        &ext(INFRA_VERSIONS, parse_m3rt, age_columns, age_row),
    ),
    row(
        "Metal3Cluster",
        INFRA,
        "metal3clusters",
        &["m3c", "m3cluster", "m3clusters", "metal3c", "metal3cluster"],
        &ext(INFRA_VERSIONS, parse_m3c, age_columns, age_row),
    ),
    row(
        "Metal3ClusterTemplate",
        INFRA,
        "metal3clustertemplates",
        &[
            "m3ct",
            "m3clustertemplate",
            "m3clustertemplates",
            "metal3ct",
            "metal3clustertemplate",
        ],
        &ext(INFRA_VERSIONS, parse_m3ct, age_columns, age_row),
    ),
    row(
        "Machine",
        CORE,
        "machines",
        &["ma"],
        &ext(CORE_VERSIONS, parse_machine, machine_columns, machine_row),
    ),
    row(
        "Cluster",
        CORE,
        "clusters",
        &["cl"],
        &ext(CORE_VERSIONS, parse_cluster, age_columns, age_row),
    ),
];

fn no_update_rules(_: &Value, _: &Value) -> Vec<String> {
    Vec::new()
}

/// Strict parse (unknown fields are errors unless `--lenient`), then
/// defaulting/validation; the value as it will be stored.
fn parse_with<T: DeserializeOwned + Serialize>(
    doc: &Value,
    at: &Location,
    options: ParseOptions,
    check: fn(T) -> Result<T, String>,
) -> Result<Value, Vec<ManifestError>> {
    let typed: T = parse_typed(doc, at, options)?;
    let typed = check(typed).map_err(|text| {
        // Webhook errors read `<Kind> <name>: <field path>: <message>`; the
        // location already names the object.
        let rest = text.split_once(": ").map_or(text.as_str(), |(_, r)| r);
        let (path, message) = rest.split_once(": ").unwrap_or(("spec", rest));
        vec![ManifestError::Invalid {
            at: at.clone(),
            path: path.to_string(),
            message: message.to_string(),
        }]
    })?;
    serde_json::to_value(&typed).map_err(|e| vec![ManifestError::Serialize(e.to_string())])
}

fn plain<T>(t: T) -> Result<T, String> {
    Ok(t)
}

fn parse_m3m(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<Metal3Machine>(d, at, o, plain)
}

fn parse_m3mt(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<Metal3MachineTemplate>(d, at, o, plain)
}

fn parse_m3dt(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<Metal3DataTemplate>(d, at, o, plain)
}

fn parse_m3d(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<Metal3Data>(d, at, o, plain)
}

fn parse_m3dc(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<Metal3DataClaim>(d, at, o, plain)
}

fn parse_m3r(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<Metal3Remediation>(d, at, o, plain)
}

fn parse_m3rt(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    // The defaulting/validating webhook exists for v1beta2 only.
    parse_with::<Metal3RemediationTemplate>(d, at, o, |t| {
        if !t.is_v1beta2() {
            return Ok(t);
        }
        let t = default_remediation_template(&t);
        validate_remediation_template(&t).map_err(|e| e.to_string())?;
        Ok(t)
    })
}

fn parse_m3c(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<Metal3Cluster>(d, at, o, |c| {
        let c = default_metal3_cluster(&c);
        validate_metal3_cluster(&c).map_err(|e| e.to_string())?;
        Ok(c)
    })
}

fn parse_m3ct(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<Metal3ClusterTemplate>(d, at, o, plain)
}

fn parse_machine(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<Machine>(d, at, o, plain)
}

fn parse_cluster(d: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<Cluster>(d, at, o, plain)
}

// ---- table columns (NAME and NAMESPACE are added by `get`) ----

fn age_columns(_: bool) -> &'static [&'static str] {
    &["AGE"]
}

fn age_row(_: &dyn Store, v: &Value, _: bool, now: i64) -> KindResult<Vec<String>> {
    Ok(vec![created(v, now)])
}

fn m3m_columns(wide: bool) -> &'static [&'static str] {
    if wide {
        &[
            "PROVIDERID",
            "READY",
            "HOST",
            "PHASE",
            "AGE",
            "CLUSTER",
            "DATA",
        ]
    } else {
        &["PROVIDERID", "READY", "HOST", "PHASE", "AGE"]
    }
}

fn m3m_row(store: &dyn Store, v: &Value, wide: bool, now: i64) -> KindResult<Vec<String>> {
    let m: Metal3Machine = serde_json::from_value(v.clone())?;
    let [_, pid, ready, host, phase] = crate::machine_cmd::machine::m3m_row(store, &m);
    let mut row = vec![pid, ready, host, phase, created(v, now)];
    if wide {
        row.push(s(v, "/metadata/labels/cluster.x-k8s.io~1cluster-name").to_string());
        row.push(s(v, "/status/renderedData/name").to_string());
    }
    Ok(row)
}

fn m3mt_columns(_: bool) -> &'static [&'static str] {
    &["NODEREUSE", "DATATEMPLATE", "AGE"]
}

fn m3mt_row(_: &dyn Store, v: &Value, _: bool, now: i64) -> KindResult<Vec<String>> {
    let reuse = v
        .pointer("/spec/nodeReuse")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(vec![
        reuse.to_string(),
        s(v, "/spec/template/spec/dataTemplate/name").to_string(),
        created(v, now),
    ])
}

fn m3d_columns(_: bool) -> &'static [&'static str] {
    &["INDEX", "READY", "CLAIM", "AGE"]
}

fn m3d_row(_: &dyn Store, v: &Value, _: bool, now: i64) -> KindResult<Vec<String>> {
    let ready = v
        .pointer("/status/ready")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(vec![
        scalar(v, "/spec/index"),
        ready.to_string(),
        s(v, "/spec/claim/name").to_string(),
        created(v, now),
    ])
}

fn m3dc_columns(_: bool) -> &'static [&'static str] {
    &["TEMPLATE", "DATA", "ERROR", "AGE"]
}

fn m3dc_row(_: &dyn Store, v: &Value, _: bool, now: i64) -> KindResult<Vec<String>> {
    Ok(vec![
        s(v, "/spec/template/name").to_string(),
        s(v, "/status/renderedData/name").to_string(),
        s(v, "/status/errorMessage").to_string(),
        created(v, now),
    ])
}

fn m3r_columns(_: bool) -> &'static [&'static str] {
    &["PHASE", "RETRIES", "LASTREMEDIATED", "AGE"]
}

fn m3r_row(_: &dyn Store, v: &Value, _: bool, now: i64) -> KindResult<Vec<String>> {
    Ok(vec![
        s(v, "/status/phase").to_string(),
        scalar(v, "/status/retryCount"),
        s(v, "/status/lastRemediated").to_string(),
        created(v, now),
    ])
}

fn machine_columns(_: bool) -> &'static [&'static str] {
    &["CLUSTER", "INFRASTRUCTURE", "AGE"]
}

fn machine_row(_: &dyn Store, v: &Value, _: bool, now: i64) -> KindResult<Vec<String>> {
    Ok(vec![
        s(v, "/spec/clusterName").to_string(),
        s(v, "/spec/infrastructureRef/name").to_string(),
        created(v, now),
    ])
}

/// `describe m3m`: the host, the rendered data and the addresses it holds.
fn describe_m3m(store: &dyn Store, v: &Value) -> KindResult<String> {
    use std::fmt::Write as _;
    let m: Metal3Machine = serde_json::from_value(v.clone())?;
    let [_, pid, ready, host, phase] = crate::machine_cmd::machine::m3m_row(store, &m);
    let ns = m.metadata.namespace.as_str();
    let mut out = String::from("Machine:\n");
    let dash = |x: &str| {
        if x.is_empty() {
            "<none>".to_string()
        } else {
            x.to_string()
        }
    };
    let _ = writeln!(out, "  Phase:        {phase}");
    let _ = writeln!(out, "  Ready:        {ready}");
    let _ = writeln!(out, "  Provider ID:  {}", dash(&pid));
    let _ = writeln!(out, "  Host:         {}", dash(&host));
    let data = s(v, "/status/renderedData/name");
    let _ = writeln!(out, "  Metal3Data:   {}", dash(data));
    let secrets: Vec<&str> = [
        s(v, "/status/metaData/name"),
        s(v, "/status/networkData/name"),
    ]
    .into_iter()
    .filter(|x| !x.is_empty())
    .collect();
    let _ = writeln!(out, "  Data Secrets: {}", dash(&secrets.join(", ")));
    if !data.is_empty() {
        let claims = store.list("IPClaim", Some(ns), None)?.items;
        let mut lines = Vec::new();
        for c in claims.iter().filter(|c| {
            c.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|o| {
                    o.iter()
                        .any(|o| s(o, "/kind") == "Metal3Data" && s(o, "/name") == data)
                })
        }) {
            let addr = match store.get(&metal3_provisioning::store::ObjectKey::new(
                "IPAddress",
                ns,
                s(c, "/status/address/name"),
            )) {
                Ok(a) => format!("{}/{}", s(&a, "/spec/address"), scalar(&a, "/spec/prefix")),
                Err(e) if e.is_not_found() => "<pending>".to_string(),
                Err(e) => return Err(e.into()),
            };
            lines.push(format!(
                "  {}: {addr} (IPClaim {})",
                s(c, "/spec/pool/name"),
                s(c, "/metadata/name")
            ));
        }
        let _ = writeln!(out, "IP Addresses:");
        if lines.is_empty() {
            let _ = writeln!(out, "  <none>");
        }
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    Ok(out)
}
