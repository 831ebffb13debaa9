//! The kinds the store verbs know: one row per kind, naming it on the command
//! line and, for kinds modelled outside `metal3-hostmodel`, saying how to
//! parse, validate, print and reconcile it. Adding kinds of another crate is
//! adding a table of rows (see [`ipam`]) to [`TABLES`].

pub mod capi;
pub mod ipam;

use std::error::Error;

use metal3_hostmodel::manifest::{Location, ManifestError, ParseOptions};
use metal3_provisioning::store::{ObjectKey, Store};
use serde_json::Value;

use crate::store_cmd::fail;

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

/// The AGE column of an object.
fn created(v: &Value, now: i64) -> String {
    crate::store_cmd::get::age(
        v.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str),
        now,
    )
}

/// Result of a row's functions.
pub type KindResult<T> = Result<T, Box<dyn Error>>;

/// [`KindExt::after_apply`]: lines to print and whether the object reached its goal.
pub type AfterApply = fn(&dyn Store, &ObjectKey) -> KindResult<(Vec<String>, bool)>;
/// [`KindExt::delete`]: the line to print.
pub type DeleteFn = fn(&dyn Store, &ObjectKey) -> KindResult<String>;
/// [`KindExt::describe`]: the extra section.
pub type DescribeFn = fn(&dyn Store, &Value) -> KindResult<String>;

/// How a kind is named on the command line and in output.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The kind, e.g. `BareMetalHost` (also its store kind).
    pub kind: &'static str,
    /// The API group (`""` for core kinds).
    pub group: &'static str,
    /// Lower-case plural resource name.
    pub plural: &'static str,
    /// Short names.
    pub short: &'static [&'static str],
    /// Behaviour of a kind `metal3-hostmodel` does not model; `None` for its kinds.
    pub ext: Option<&'static KindExt>,
}

/// What the verbs do with a kind modelled by another crate.
#[derive(Debug, Clone, Copy)]
pub struct KindExt {
    /// The `apiVersion`s `apply` and `validate` accept.
    pub api_versions: &'static [&'static str],
    /// Strict parse plus defaulting and the create webhook; the JSON to
    /// store, or every problem with its location and field path.
    pub parse: fn(&Value, &Location, ParseOptions) -> Result<Value, Vec<ManifestError>>,
    /// The update webhook: problems of replacing `old` by `new`.
    pub validate_update: fn(old: &Value, new: &Value) -> Vec<String>,
    /// Runs the kind's controller once after `apply` wrote the object; returns
    /// lines to print and whether the object reached its goal.
    pub after_apply: Option<AfterApply>,
    /// Replaces the plain store delete (e.g. to release an address); returns the line to print.
    pub delete: Option<DeleteFn>,
    /// Table header, normal or wide (`NAME` and `NAMESPACE` are added).
    pub columns: fn(wide: bool) -> &'static [&'static str],
    /// One table row matching [`KindExt::columns`]; `now` is for AGE.
    pub row: fn(&dyn Store, &Value, wide: bool, now: i64) -> KindResult<Vec<String>>,
    /// Extra `describe` lines (before the events).
    pub describe: Option<DescribeFn>,
}

impl KindInfo {
    /// `baremetalhost.metal3.io` / `secret`: the prefix kubectl prints.
    pub fn resource(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_ascii_lowercase()
        } else {
            format!("{}.{}", self.kind.to_ascii_lowercase(), self.group)
        }
    }

    /// Whether a stored object of this row's kind belongs to this row: kinds
    /// of different groups may share a store kind (`IPAddress`), so rows of
    /// other crates also check the `apiVersion` group.
    pub fn owns(&self, obj: &Value) -> bool {
        match self.ext {
            None => true,
            Some(_) => {
                let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                api.split_once('/').map_or("", |(g, _)| g) == self.group
            }
        }
    }
}

/// The kinds of `metal3-hostmodel` (`metal3.io` and core Secret).
pub const HOST_KINDS: &[KindInfo] = &[
    host(
        "BareMetalHost",
        "metal3.io",
        "baremetalhosts",
        &["bmh", "bmhost"],
    ),
    host("Secret", "", "secrets", &[]),
    host("HardwareData", "metal3.io", "hardwaredata", &["hd"]),
    host(
        "HostFirmwareSettings",
        "metal3.io",
        "hostfirmwaresettings",
        &["hfs"],
    ),
    host(
        "HostFirmwareComponents",
        "metal3.io",
        "hostfirmwarecomponents",
        &["hfc"],
    ),
    host("FirmwareSchema", "metal3.io", "firmwareschemas", &[]),
    host(
        "PreprovisioningImage",
        "metal3.io",
        "preprovisioningimages",
        &["ppimg"],
    ),
    host("DataImage", "metal3.io", "dataimages", &[]),
    host(
        "BMCEventSubscription",
        "metal3.io",
        "bmceventsubscriptions",
        &["bes"],
    ),
    host("HostUpdatePolicy", "metal3.io", "hostupdatepolicies", &[]),
    host(
        "HostNetworkAttachment",
        "metal3.io",
        "hostnetworkattachments",
        &[],
    ),
];

const fn host(
    kind: &'static str,
    group: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
) -> KindInfo {
    KindInfo {
        kind,
        group,
        plural,
        short,
        ext: None,
    }
}

/// Every table of kinds, searched in order (earlier rows win a shared name).
pub const TABLES: &[&[KindInfo]] = &[HOST_KINDS, ipam::IPAM_KINDS, capi::CAPI_KINDS];

fn all() -> impl Iterator<Item = &'static KindInfo> {
    TABLES.iter().flat_map(|t| t.iter())
}

/// Resolves what the user typed (kind, plural, short name, optionally with
/// `.group`, any case) to a kind.
pub fn resolve_kind(input: &str) -> KindResult<&'static KindInfo> {
    let lower = input.to_ascii_lowercase();
    let (name, group) = match lower.split_once('.') {
        Some((n, g)) => (n, Some(g)),
        None => (lower.as_str(), None),
    };
    let found = all().find(|k| {
        if group.is_some_and(|g| g != k.group) {
            return false;
        }
        name == k.kind.to_ascii_lowercase() || name == k.plural || k.short.contains(&name)
    });
    found.ok_or_else(|| {
        let known: Vec<String> = all()
            .map(|k| {
                let mut names = vec![k.plural.to_string()];
                names.extend(k.short.iter().map(|s| s.to_string()));
                names.join("/")
            })
            .collect();
        fail(format!(
            "unknown resource type {input:?}; known: {}",
            known.join(", ")
        ))
    })
}

/// The row of a stored kind (every parsed kind has one); for kinds several
/// groups share, the first row.
#[cfg(test)]
pub fn kind_info(kind: &str) -> KindResult<&'static KindInfo> {
    all()
        .find(|k| k.kind == kind)
        .ok_or_else(|| fail(format!("kind {kind} has no command-line name")))
}

/// The row of an object, told apart by its `apiVersion` group.
pub fn kind_info_of(obj: &Value) -> KindResult<&'static KindInfo> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    all()
        .find(|k| k.kind == kind && k.owns(obj))
        .or_else(|| all().find(|k| k.kind == kind))
        .ok_or_else(|| fail(format!("kind {kind} has no command-line name")))
}

/// The extension row that parses `(apiVersion, kind)`, if any.
pub fn ext_for(api_version: &str, kind: &str) -> Option<(&'static KindInfo, &'static KindExt)> {
    all().find_map(|k| {
        let ext = k.ext?;
        (k.kind == kind && ext.api_versions.contains(&api_version)).then_some((k, ext))
    })
}

/// Whether another crate than hostmodel parses `(apiVersion, kind)`.
pub fn is_ext(api_version: &str, kind: &str) -> bool {
    ext_for(api_version, kind).is_some()
}

/// Parses a document of an extension kind (see [`KindExt::parse`]).
pub fn parse_ext(
    doc: &Value,
    at: &Location,
    options: ParseOptions,
) -> Result<Value, Vec<ManifestError>> {
    let s = |f: &str| doc.get(f).and_then(Value::as_str).unwrap_or("");
    match ext_for(s("apiVersion"), s("kind")) {
        Some((_, ext)) => (ext.parse)(doc, at, options),
        None => Err(vec![ManifestError::UnknownKind {
            at: at.clone(),
            api_version: s("apiVersion").to_string(),
            kind: s("kind").to_string(),
            supported: supported_kinds(),
        }]),
    }
}

/// Every `apiVersion/kind` apply and validate accept, for messages.
pub fn supported_kinds() -> String {
    let mut all = vec![metal3_hostmodel::manifest::supported_kinds()];
    for k in self::all() {
        if let Some(ext) = k.ext {
            for v in ext.api_versions {
                all.push(format!("{v}/{}", k.kind));
            }
        }
    }
    all.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_resolve_by_every_name() {
        for name in [
            "bmh",
            "BMHost",
            "baremetalhost",
            "baremetalhosts",
            "baremetalhosts.metal3.io",
            "BareMetalHost",
        ] {
            assert_eq!(resolve_kind(name).unwrap().kind, "BareMetalHost", "{name}");
        }
        assert_eq!(resolve_kind("hd").unwrap().kind, "HardwareData");
        assert_eq!(resolve_kind("hfs").unwrap().kind, "HostFirmwareSettings");
        assert_eq!(resolve_kind("hfc").unwrap().kind, "HostFirmwareComponents");
        assert_eq!(resolve_kind("ppimg").unwrap().kind, "PreprovisioningImage");
        assert_eq!(resolve_kind("bes").unwrap().kind, "BMCEventSubscription");
        assert_eq!(resolve_kind("secrets").unwrap().kind, "Secret");
        assert!(resolve_kind("secret.metal3.io").is_err());
        assert!(resolve_kind("pods").is_err());
    }

    #[test]
    fn ipam_kinds_resolve_by_metal3_short_names() {
        for (name, kind, group) in [
            ("ipp", "IPPool", "ipam.metal3.io"),
            ("m3ippool", "IPPool", "ipam.metal3.io"),
            ("ipc", "IPClaim", "ipam.metal3.io"),
            ("ipclaims", "IPClaim", "ipam.metal3.io"),
            ("ipa", "IPAddress", "ipam.metal3.io"),
            ("ipaddress", "IPAddress", "ipam.metal3.io"),
            (
                "ipaddresses.ipam.cluster.x-k8s.io",
                "IPAddress",
                "ipam.cluster.x-k8s.io",
            ),
            ("ipaddressclaim", "IPAddressClaim", "ipam.cluster.x-k8s.io"),
        ] {
            let k = resolve_kind(name).unwrap();
            assert_eq!((k.kind, k.group), (kind, group), "{name}");
        }
    }

    #[test]
    fn shared_store_kinds_are_told_apart_by_api_version() {
        let capi =
            serde_json::json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress"});
        let m3 = serde_json::json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPAddress"});
        assert_eq!(kind_info_of(&capi).unwrap().group, "ipam.cluster.x-k8s.io");
        assert_eq!(kind_info_of(&m3).unwrap().group, "ipam.metal3.io");
        assert!(!resolve_kind("ipa").unwrap().owns(&capi));
    }

    #[test]
    fn every_parsable_kind_has_a_name() {
        for (_, kind) in metal3_hostmodel::object::KINDS {
            assert!(kind_info(kind).is_ok(), "{kind}");
        }
    }
}
