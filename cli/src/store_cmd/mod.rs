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
use metal3_provisioning::store::{SqliteOptions, SqliteStore};

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
        self.open_with(SqliteOptions::default())
    }

    /// [`StoreOpts::open`] with store tuning (the controller's differs).
    pub fn open_with(
        &self,
        options: SqliteOptions,
    ) -> Result<SqliteStore, Box<dyn std::error::Error>> {
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
        Ok(SqliteStore::open_with(&path, options)?)
    }
}

pub use crate::kinds::{kind_info_of, resolve_kind, KindInfo};
