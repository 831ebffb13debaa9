//! Rows for the IPAM kinds: `ipam.metal3.io/v1alpha1` IPPool, IPClaim,
//! IPAddress and the CAPI contract kinds `ipam.cluster.x-k8s.io`
//! IPAddressClaim / IPAddress. Parsing, webhooks and allocation are
//! `metal3-ipam`'s; this module only wires them to the verbs and prints.

use std::fmt::Write as _;

use metal3_hostmodel::manifest::{parse_typed, Location, ManifestError, ParseOptions};
use metal3_ipam::persist::{self, ClaimOutcome, PoolOutcome};
use metal3_ipam::validate::{self, ValidationError};
use metal3_ipam::{CapiIPAddress, CapiIPAddressClaim, IPAddress, IPClaim, IPPool};
use metal3_provisioning::store::{ObjectKey, Store};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{created, s, scalar, KindExt, KindInfo, KindResult};
use crate::store_cmd::fail;

const M3: &[&str] = &["ipam.metal3.io/v1alpha1"];
const CAPI: &[&str] = &[
    "ipam.cluster.x-k8s.io/v1beta2",
    "ipam.cluster.x-k8s.io/v1beta1",
    "ipam.cluster.x-k8s.io/v1alpha1",
];

/// The IPAM rows, short names as Metal³'s CRDs declare them.
pub const IPAM_KINDS: &[KindInfo] = &[
    KindInfo {
        kind: "IPPool",
        group: "ipam.metal3.io",
        plural: "ippools",
        short: &[
            "ipp",
            "ippool",
            "m3ipp",
            "m3ippool",
            "m3ippools",
            "metal3ipp",
            "metal3ippool",
            "metal3ippools",
        ],
        ext: Some(&KindExt {
            api_versions: M3,
            parse: parse_pool,
            validate_update: update_pool,
            after_apply: Some(apply_pool),
            delete: Some(delete_pool),
            columns: pool_columns,
            row: pool_row,
            describe: Some(describe_pool),
        }),
    },
    KindInfo {
        kind: "IPClaim",
        group: "ipam.metal3.io",
        plural: "ipclaims",
        short: &[
            "ipc",
            "ipclaim",
            "m3ipc",
            "m3ipclaim",
            "m3ipclaims",
            "metal3ipc",
            "metal3ipclaim",
            "metal3ipclaims",
        ],
        ext: Some(&KindExt {
            api_versions: M3,
            parse: parse_claim,
            validate_update: update_claim,
            after_apply: Some(apply_claim),
            delete: Some(delete_claim),
            columns: claim_columns,
            row: claim_row,
            describe: None,
        }),
    },
    KindInfo {
        kind: "IPAddress",
        group: "ipam.metal3.io",
        plural: "ipaddresses",
        short: &[
            "ipa",
            "ipaddress",
            "m3ipa",
            "m3ipaddress",
            "m3ipaddresses",
            "metal3ipa",
            "metal3ipaddress",
            "metal3ipaddresses",
        ],
        ext: Some(&KindExt {
            api_versions: M3,
            parse: parse_address,
            validate_update: update_address,
            after_apply: Some(apply_address),
            delete: None,
            columns: address_columns,
            row: address_row,
            describe: None,
        }),
    },
    KindInfo {
        kind: "IPAddressClaim",
        group: "ipam.cluster.x-k8s.io",
        plural: "ipaddressclaims",
        short: &[],
        ext: Some(&KindExt {
            api_versions: CAPI,
            parse: parse_capi_claim,
            validate_update: update_capi_claim,
            after_apply: Some(apply_capi_claim),
            delete: Some(delete_capi_claim),
            columns: capi_claim_columns,
            row: capi_claim_row,
            describe: None,
        }),
    },
    KindInfo {
        kind: "IPAddress",
        group: "ipam.cluster.x-k8s.io",
        plural: "ipaddresses",
        short: &[],
        ext: Some(&KindExt {
            api_versions: CAPI,
            parse: parse_capi_address,
            validate_update: no_update_rules,
            after_apply: Some(apply_capi_address),
            delete: None,
            columns: capi_address_columns,
            row: capi_address_row,
            describe: None,
        }),
    },
];

// ---- parsing and webhooks ----

/// Strict parse, then `check` (defaulting and the create webhook); the typed
/// value as it will be stored, or every problem with its field path.
fn parse_with<T: DeserializeOwned + Serialize>(
    doc: &Value,
    at: &Location,
    options: ParseOptions,
    check: fn(&mut T) -> Result<(), ValidationError>,
) -> Result<Value, Vec<ManifestError>> {
    let mut typed: T = parse_typed(doc, at, options)?;
    check(&mut typed).map_err(|e| {
        e.errors
            .iter()
            .map(|f| ManifestError::Invalid {
                at: at.clone(),
                path: f.path.clone(),
                // The webhook's message starts with the path, which the
                // error prints on its own.
                message: f
                    .message
                    .strip_prefix(&format!("{}: ", f.path))
                    .unwrap_or(&f.message)
                    .to_string(),
            })
            .collect::<Vec<_>>()
    })?;
    serde_json::to_value(&typed).map_err(|e| vec![ManifestError::Serialize(e.to_string())])
}

fn webhook_lines(object: &str, e: &ValidationError) -> Vec<String> {
    e.errors
        .iter()
        .map(|f| format!("{object}: {}", f.message))
        .collect()
}

fn parse_pool(doc: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<IPPool>(doc, at, o, |p| {
        validate::default_ippool(p);
        validate::validate_ippool_create(p)
    })
}

fn parse_claim(doc: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<IPClaim>(doc, at, o, |c| validate::validate_ipclaim_create(c))
}

fn parse_address(doc: &Value, at: &Location, o: ParseOptions) -> Result<Value, Vec<ManifestError>> {
    parse_with::<IPAddress>(doc, at, o, |a| validate::validate_ipaddress_create(a))
}

fn parse_capi_claim(
    doc: &Value,
    at: &Location,
    o: ParseOptions,
) -> Result<Value, Vec<ManifestError>> {
    parse_with::<CapiIPAddressClaim>(doc, at, o, |c| validate::validate_capi_claim_create(c))
}

fn parse_capi_address(
    doc: &Value,
    at: &Location,
    o: ParseOptions,
) -> Result<Value, Vec<ManifestError>> {
    parse_with::<CapiIPAddress>(doc, at, o, |a| validate::validate_capi_ipaddress_create(a))
}

/// Runs an update webhook over the stored and the applied object.
fn update_with<T: DeserializeOwned>(
    old: &Value,
    new: &Value,
    check: fn(&T, &T) -> Result<(), ValidationError>,
) -> Vec<String> {
    let key = ObjectKey::of(new).to_string();
    let (o, n) = match (T::deserialize(old), T::deserialize(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return vec![format!("{key}: {e}")],
    };
    match check(&o, &n) {
        Ok(()) => Vec::new(),
        Err(e) => webhook_lines(&key, &e),
    }
}

fn update_pool(old: &Value, new: &Value) -> Vec<String> {
    update_with::<IPPool>(old, new, validate::validate_ippool_update)
}

fn update_claim(old: &Value, new: &Value) -> Vec<String> {
    update_with::<IPClaim>(old, new, validate::validate_ipclaim_update)
}

fn update_address(old: &Value, new: &Value) -> Vec<String> {
    update_with::<IPAddress>(old, new, validate::validate_ipaddress_update)
}

fn update_capi_claim(old: &Value, new: &Value) -> Vec<String> {
    update_with::<CapiIPAddressClaim>(old, new, validate::validate_capi_claim_update)
}

fn no_update_rules(_: &Value, _: &Value) -> Vec<String> {
    Vec::new()
}

// ---- controller actions ----

fn apply_pool(store: &dyn Store, key: &ObjectKey) -> KindResult<(Vec<String>, bool)> {
    let what = format!("ippool.ipam.metal3.io/{}", key.name);
    Ok(
        match persist::reconcile_pool(store, &key.namespace, &key.name)? {
            PoolOutcome::Ready { allocations } => (
                vec![format!("{what} ready: {allocations} allocation(s)")],
                true,
            ),
            PoolOutcome::DeletionBlocked { addresses } => (
                vec![format!(
                    "{what} being deleted: still referenced by {addresses} IPAddress object(s)"
                )],
                true,
            ),
            PoolOutcome::Deleted => (vec![format!("{what} deleted")], true),
        },
    )
}

fn claim_lines(what: &str, outcome: ClaimOutcome) -> (Vec<String>, bool) {
    match outcome {
        ClaimOutcome::Allocated(a) => {
            let mut line = format!("{what} address {}/{}", a.address, a.prefix);
            if let Some(g) = &a.gateway {
                let _ = write!(line, " gateway {g}");
            }
            let _ = write!(line, " (ipaddress {})", a.name);
            (vec![line], true)
        }
        ClaimOutcome::Failed(m) | ClaimOutcome::AlreadyFailed(m) => {
            (vec![format!("{what} allocation failed: {m}")], false)
        }
        ClaimOutcome::PoolMissing(p) => (
            vec![format!(
                "{what} waiting for IPPool {p:?} (applying it allocates)"
            )],
            true,
        ),
        ClaimOutcome::Released(a) => (vec![released(what, a.as_deref())], true),
        ClaimOutcome::StillInUse(f) => (vec![kept(what, &f)], true),
    }
}

fn released(what: &str, address: Option<&str>) -> String {
    match address {
        Some(a) => format!("{what} deleted (released {a})"),
        None => format!("{what} deleted"),
    }
}

fn kept(what: &str, finalizers: &[String]) -> String {
    format!(
        "{what} marked for deletion; address kept while other finalizers remain ({})",
        finalizers.join(", ")
    )
}

fn apply_claim(store: &dyn Store, key: &ObjectKey) -> KindResult<(Vec<String>, bool)> {
    let what = format!("ipclaim.ipam.metal3.io/{}", key.name);
    Ok(claim_lines(
        &what,
        persist::reconcile_ipclaim(store, &key.namespace, &key.name)?,
    ))
}

fn apply_capi_claim(store: &dyn Store, key: &ObjectKey) -> KindResult<(Vec<String>, bool)> {
    let what = format!("ipaddressclaim.ipam.cluster.x-k8s.io/{}", key.name);
    Ok(claim_lines(
        &what,
        persist::reconcile_capi_claim(store, &key.namespace, &key.name)?,
    ))
}

/// An IPAddress applied by hand holds its address: record it in its pool.
fn adopt(store: &dyn Store, key: &ObjectKey, resource: &str) -> KindResult<(Vec<String>, bool)> {
    let what = format!("{resource}/{}", key.name);
    let line = match persist::adopt_address(store, &key.namespace, &key.name)? {
        Some(_) => format!("{what} recorded in its IPPool's status.indexes"),
        None => format!("{what} references no existing IPPool"),
    };
    Ok((vec![line], true))
}

fn apply_address(store: &dyn Store, key: &ObjectKey) -> KindResult<(Vec<String>, bool)> {
    adopt(store, key, "ipaddress.ipam.metal3.io")
}

fn apply_capi_address(store: &dyn Store, key: &ObjectKey) -> KindResult<(Vec<String>, bool)> {
    adopt(store, key, "ipaddress.ipam.cluster.x-k8s.io")
}

fn delete_claim(store: &dyn Store, key: &ObjectKey) -> KindResult<String> {
    let what = format!("ipclaim.ipam.metal3.io {:?}", key.name);
    delete_lines(
        &what,
        persist::delete_ipclaim(store, &key.namespace, &key.name)?,
    )
}

fn delete_capi_claim(store: &dyn Store, key: &ObjectKey) -> KindResult<String> {
    let what = format!("ipaddressclaim.ipam.cluster.x-k8s.io {:?}", key.name);
    delete_lines(
        &what,
        persist::delete_capi_claim(store, &key.namespace, &key.name)?,
    )
}

fn delete_lines(what: &str, outcome: ClaimOutcome) -> KindResult<String> {
    match outcome {
        ClaimOutcome::Released(a) => Ok(released(what, a.as_deref())),
        ClaimOutcome::StillInUse(f) => Ok(kept(what, &f)),
        other => Err(fail(format!(
            "{what}: unexpected outcome of deletion: {other:?}"
        ))),
    }
}

fn delete_pool(store: &dyn Store, key: &ObjectKey) -> KindResult<String> {
    let what = format!("ippool.ipam.metal3.io {:?}", key.name);
    Ok(match persist::delete_pool(store, &key.namespace, &key.name)? {
        PoolOutcome::Deleted => format!("{what} deleted"),
        PoolOutcome::DeletionBlocked { addresses } => format!(
            "{what} marked for deletion; kept until its {addresses} IPAddress object(s) are released"
        ),
        PoolOutcome::Ready { .. } => format!("{what} not deleted"),
    })
}

// ---- tables ----

fn pool_columns(wide: bool) -> &'static [&'static str] {
    if wide {
        &[
            "CLUSTER",
            "AGE",
            "STRATEGY",
            "PREFIX",
            "GATEWAY",
            "ALLOCATIONS",
        ]
    } else {
        &["CLUSTER", "AGE"]
    }
}

fn pool_row(_: &dyn Store, v: &Value, wide: bool, now: i64) -> KindResult<Vec<String>> {
    let mut row = vec![
        s(v, "/metadata/labels/cluster.x-k8s.io~1cluster-name").to_string(),
        created(v, now),
    ];
    if wide {
        let strategy = match s(v, "/spec/allocationStrategy") {
            "" => "sequential",
            x => x,
        };
        let count = v
            .pointer("/status/indexes")
            .and_then(Value::as_object)
            .map_or(0, |m| m.len());
        row.extend([
            strategy.to_string(),
            scalar(v, "/spec/prefix"),
            s(v, "/spec/gateway").to_string(),
            count.to_string(),
        ]);
    }
    Ok(row)
}

fn claim_columns(wide: bool) -> &'static [&'static str] {
    if wide {
        &["AGE", "POOL", "ADDRESS", "PREFIX", "GATEWAY", "ERROR"]
    } else {
        &["AGE"]
    }
}

/// The IPAddress object a claim's status names, if it exists.
fn address_object(store: &dyn Store, namespace: &str, name: &str) -> KindResult<Option<Value>> {
    if name.is_empty() {
        return Ok(None);
    }
    match store.get(&ObjectKey::new("IPAddress", namespace, name)) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn claim_row(store: &dyn Store, v: &Value, wide: bool, now: i64) -> KindResult<Vec<String>> {
    let mut row = vec![created(v, now)];
    if wide {
        let ns = match s(v, "/status/address/namespace") {
            "" => s(v, "/metadata/namespace"),
            x => x,
        };
        let a = address_object(store, ns, s(v, "/status/address/name"))?.unwrap_or(Value::Null);
        row.extend([
            s(v, "/spec/pool/name").to_string(),
            s(&a, "/spec/address").to_string(),
            scalar(&a, "/spec/prefix"),
            s(&a, "/spec/gateway").to_string(),
            s(v, "/status/errorMessage").to_string(),
        ]);
    }
    Ok(row)
}

fn address_columns(wide: bool) -> &'static [&'static str] {
    if wide {
        &["AGE", "ADDRESS", "PREFIX", "GATEWAY", "POOL", "CLAIM"]
    } else {
        &["AGE"]
    }
}

fn address_row(_: &dyn Store, v: &Value, wide: bool, now: i64) -> KindResult<Vec<String>> {
    let mut row = vec![created(v, now)];
    if wide {
        row.extend([
            s(v, "/spec/address").to_string(),
            scalar(v, "/spec/prefix"),
            s(v, "/spec/gateway").to_string(),
            s(v, "/spec/pool/name").to_string(),
            s(v, "/spec/claim/name").to_string(),
        ]);
    }
    Ok(row)
}

fn capi_claim_columns(wide: bool) -> &'static [&'static str] {
    if wide {
        &[
            "POOL NAME",
            "POOL KIND",
            "AGE",
            "ADDRESS",
            "PREFIX",
            "GATEWAY",
            "READY",
        ]
    } else {
        &["POOL NAME", "POOL KIND", "AGE"]
    }
}

fn capi_claim_row(store: &dyn Store, v: &Value, wide: bool, now: i64) -> KindResult<Vec<String>> {
    let mut row = vec![
        s(v, "/spec/poolRef/name").to_string(),
        s(v, "/spec/poolRef/kind").to_string(),
        created(v, now),
    ];
    if wide {
        let ns = s(v, "/metadata/namespace");
        let a = address_object(store, ns, s(v, "/status/addressRef/name"))?.unwrap_or(Value::Null);
        row.extend([
            s(&a, "/spec/address").to_string(),
            scalar(&a, "/spec/prefix"),
            s(&a, "/spec/gateway").to_string(),
            s(v, "/status/conditions/0/status").to_string(),
        ]);
    }
    Ok(row)
}

fn capi_address_columns(wide: bool) -> &'static [&'static str] {
    if wide {
        &[
            "ADDRESS",
            "POOL NAME",
            "POOL KIND",
            "AGE",
            "PREFIX",
            "GATEWAY",
            "CLAIM",
        ]
    } else {
        &["ADDRESS", "POOL NAME", "POOL KIND", "AGE"]
    }
}

fn capi_address_row(_: &dyn Store, v: &Value, wide: bool, now: i64) -> KindResult<Vec<String>> {
    let mut row = vec![
        s(v, "/spec/address").to_string(),
        s(v, "/spec/poolRef/name").to_string(),
        s(v, "/spec/poolRef/kind").to_string(),
        created(v, now),
    ];
    if wide {
        row.extend([
            scalar(v, "/spec/prefix"),
            s(v, "/spec/gateway").to_string(),
            s(v, "/spec/claimRef/name").to_string(),
        ]);
    }
    Ok(row)
}

// ---- describe ----

fn describe_pool(store: &dyn Store, v: &Value) -> KindResult<String> {
    let (ns, name) = (s(v, "/metadata/namespace"), s(v, "/metadata/name"));
    let usage = persist::pool_usage(store, ns, name)?;
    let mut out = String::from("Usage:\n");
    let show = |n: Option<u128>| n.map_or_else(|| "unbounded".to_string(), |n| n.to_string());
    let _ = writeln!(out, "  Capacity:   {}", show(usage.capacity));
    let _ = writeln!(out, "  Used:       {}", usage.used);
    let _ = writeln!(out, "  Free:       {}", show(usage.free));
    let _ = writeln!(out, "Allocations:");
    if usage.allocations.is_empty() && usage.reserved.is_empty() {
        let _ = writeln!(out, "  <none>");
    }
    let mut rows: Vec<[String; 3]> = vec![["ADDRESS".into(), "CLAIM".into(), "".into()]];
    let mut entries: Vec<(u128, String, String, &str)> = usage
        .allocations
        .iter()
        .map(|(c, a)| (sort_key(a), a.clone(), c.clone(), ""))
        .chain(usage.reserved.iter().map(|(c, a)| {
            (
                sort_key(a),
                a.clone(),
                c.clone(),
                "(pre-allocated, unclaimed)",
            )
        }))
        .collect();
    entries.sort();
    if entries.is_empty() {
        return Ok(out);
    }
    for (_, a, c, note) in entries {
        rows.push([a, c, note.to_string()]);
    }
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
    for r in rows {
        let line = format!("  {:<w0$}   {:<w1$}   {}", r[0], r[1], r[2]);
        let _ = writeln!(out, "{}", line.trim_end());
    }
    Ok(out)
}

/// Addresses sort by value, not text (`10.0.0.9` before `10.0.0.10`).
fn sort_key(address: &str) -> u128 {
    metal3_ipam::addr::parse_ip(address).unwrap_or(u128::MAX)
}
