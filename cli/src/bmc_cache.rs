//! The Redfish layout cache of `metal3ctl bmc`: the [`Discovery`] a run
//! found, kept for the next run against the same system (as kubectl keeps
//! API discovery), so a one-shot command doesn't rediscover the BMC each
//! time. Layout only, no credentials; a failed command forgets its BMC.

use std::path::{Path, PathBuf};

use metal3_bmc::address::BmcAddress;
use metal3_bmc::redfish::discovery::{cache_key, Discovery};

/// Where one BMC system's discovery is kept.
pub struct DiscoveryCache {
    path: PathBuf,
}

/// The cache directory: `$METAL3CTL_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/metal3ctl`, else `~/.cache/metal3ctl`.
fn cache_dir() -> Option<PathBuf> {
    let from = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
    if let Some(d) = from("METAL3CTL_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = from("XDG_CACHE_HOME") {
        return Some(Path::new(&d).join("metal3ctl"));
    }
    from("HOME").map(|h| Path::new(&h).join(".cache").join("metal3ctl"))
}

impl DiscoveryCache {
    /// The cache entry of `address`'s system; `None` without a cache directory.
    pub fn locate(address: &BmcAddress) -> Option<DiscoveryCache> {
        let key = cache_key(&address.http_base_url(), address.redfish_system_id());
        Some(DiscoveryCache {
            path: cache_dir()?.join("redfish").join(key),
        })
    }

    /// The kept discovery; a missing, unreadable or malformed file is none
    /// (the client then discovers the BMC as on a first run).
    pub fn load(&self) -> Option<Discovery> {
        let text = std::fs::read(&self.path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Keeps `d`, written whole or not at all, readable by the user only.
    pub fn save(&self, d: &Discovery) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let text = serde_json::to_vec(d).map_err(std::io::Error::other)?;
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        write_private(&tmp, &text)?;
        std::fs::rename(&tmp, &self.path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// Drops the kept discovery (after a failure it may have caused).
    pub fn forget(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}
