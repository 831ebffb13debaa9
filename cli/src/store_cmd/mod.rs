//! The store verbs (`apply`, `get`, `describe`, `delete`, `annotate`): the
//! kubectl habits on top of the local object store.
//!
//! Only argument handling and output formatting live here; the store rules
//! (finalizers, resourceVersion, Secret normalization) are the store's.

pub mod annotate;
pub mod apply;
pub mod delete;
pub mod describe;
pub mod get;

use std::path::PathBuf;

use clap::Args;
use metal3_provisioning::store::SqliteStore;

/// Result of a store verb: the exit code, or an error printed as `error: ...`.
pub type VerbResult = Result<std::process::ExitCode, Box<dyn std::error::Error>>;

/// Options every store verb takes: which store and which namespace.
#[derive(Debug, Clone, Args)]
pub struct StoreOpts {
    /// The store file [default: $XDG_DATA_HOME/metal3ctl/store.db or ~/.local/share/metal3ctl/store.db].
    #[arg(long, env = "METAL3CTL_STORE", value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// Namespace of objects that do not name one.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
}

/// An error message naming what failed.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

/// Boxes a message as a verb error.
pub fn fail(msg: impl Into<String>) -> Box<dyn std::error::Error> {
    Box::new(CliError(msg.into()))
}

impl StoreOpts {
    /// The store file to use: `--store`, `METAL3CTL_STORE`, or the XDG default.
    pub fn path(&self) -> Result<PathBuf, Box<dyn std::error::Error>> {
        if let Some(p) = &self.store {
            return Ok(p.clone());
        }
        let data_home = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(h) => PathBuf::from(h).join(".local/share"),
                None => {
                    return Err(fail(
                        "no store: set --store, METAL3CTL_STORE, XDG_DATA_HOME or HOME",
                    ))
                }
            },
        };
        Ok(data_home.join("metal3ctl").join("store.db"))
    }

    /// Opens (creating if needed) the store; a missing parent directory is
    /// created with mode 0700 because the store holds BMC credentials.
    pub fn open(&self) -> Result<SqliteStore, Box<dyn std::error::Error>> {
        let path = self.path()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| fail(format!("store directory {}: {e}", dir.display())))?;
            }
        }
        Ok(SqliteStore::open(&path)?)
    }
}

/// How a kind is named on the command line and in output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The kind, e.g. `BareMetalHost`.
    pub kind: &'static str,
    /// The API group (`""` for core kinds).
    pub group: &'static str,
    /// Lower-case plural resource name.
    pub plural: &'static str,
    /// Short names.
    pub short: &'static [&'static str],
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
}

/// Every kind the store verbs know.
pub const KIND_TABLE: &[KindInfo] = &[
    KindInfo {
        kind: "BareMetalHost",
        group: "metal3.io",
        plural: "baremetalhosts",
        short: &["bmh", "bmhost"],
    },
    KindInfo {
        kind: "Secret",
        group: "",
        plural: "secrets",
        short: &[],
    },
    KindInfo {
        kind: "HardwareData",
        group: "metal3.io",
        plural: "hardwaredata",
        short: &["hd"],
    },
    KindInfo {
        kind: "HostFirmwareSettings",
        group: "metal3.io",
        plural: "hostfirmwaresettings",
        short: &["hfs"],
    },
    KindInfo {
        kind: "HostFirmwareComponents",
        group: "metal3.io",
        plural: "hostfirmwarecomponents",
        short: &["hfc"],
    },
    KindInfo {
        kind: "FirmwareSchema",
        group: "metal3.io",
        plural: "firmwareschemas",
        short: &[],
    },
    KindInfo {
        kind: "PreprovisioningImage",
        group: "metal3.io",
        plural: "preprovisioningimages",
        short: &["ppimg"],
    },
    KindInfo {
        kind: "DataImage",
        group: "metal3.io",
        plural: "dataimages",
        short: &[],
    },
    KindInfo {
        kind: "BMCEventSubscription",
        group: "metal3.io",
        plural: "bmceventsubscriptions",
        short: &["bes"],
    },
    KindInfo {
        kind: "HostUpdatePolicy",
        group: "metal3.io",
        plural: "hostupdatepolicies",
        short: &[],
    },
    KindInfo {
        kind: "HostNetworkAttachment",
        group: "metal3.io",
        plural: "hostnetworkattachments",
        short: &[],
    },
];

/// Resolves what the user typed (kind, plural, short name, optionally with
/// `.group`, any case) to a kind.
pub fn resolve_kind(input: &str) -> Result<&'static KindInfo, Box<dyn std::error::Error>> {
    let lower = input.to_ascii_lowercase();
    let found = KIND_TABLE.iter().find(|k| {
        let (name, group) = match lower.split_once('.') {
            Some((n, g)) => (n, Some(g)),
            None => (lower.as_str(), None),
        };
        if group.is_some_and(|g| g != k.group) {
            return false;
        }
        name == k.kind.to_ascii_lowercase() || name == k.plural || k.short.contains(&name)
    });
    found.ok_or_else(|| {
        let known: Vec<String> = KIND_TABLE
            .iter()
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

/// The table entry of a stored kind (every parsed kind has one).
pub fn kind_info(kind: &str) -> Result<&'static KindInfo, Box<dyn std::error::Error>> {
    KIND_TABLE
        .iter()
        .find(|k| k.kind == kind)
        .ok_or_else(|| fail(format!("kind {kind} has no command-line name")))
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
    fn every_parsable_kind_has_a_name() {
        for (_, kind) in metal3_hostmodel::object::KINDS {
            assert!(kind_info(kind).is_ok(), "{kind}");
        }
    }
}
