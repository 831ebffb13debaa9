//! Which provisioner the host verbs and the controller drive hosts with, and
//! its settings, as in Metal³'s baremetal-operator: the Ironic provisioner
//! when an Ironic endpoint is configured (`IRONIC_ENDPOINT`), else the
//! direct one; `--provisioner ironic|direct` forces the choice.
//!
//! Each setting is looked up as: command-line flag, then environment
//! variable (same name as Metal³'s), then the `--provisioner-config` file (a
//! YAML or JSON map keyed by those variable names).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::{Args, ValueEnum};
use metal3_provisioning::direct::{DirectOptions, DirectProvisioner};
use metal3_provisioning::engine::DEFAULT_PROVISIONING_LIMIT;
use metal3_provisioning::ironic::{IronicConfig, IronicOptions, LazyIronicProvisioner};
use metal3_provisioning::provisioner::Provisioner;
use metal3_provisioning::store::Store;
use serde_json::{Map, Value};

/// The provisioner backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// OpenStack Ironic (Metal³'s production path: disk images, cleaning, RAID).
    Ironic,
    /// BMCs spoken to directly (live ISOs, power, out-of-band inspection).
    Direct,
}

/// Provisioner flags, accepted by every command.
#[derive(Debug, Clone, Default, Args)]
pub struct ProvisionerOpts {
    /// Provisioner for host verbs and the controller [default: ironic when an Ironic endpoint is configured, else direct].
    #[arg(long, global = true, value_enum, env = "METAL3CTL_PROVISIONER")]
    pub provisioner: Option<Kind>,
    /// Settings file: a YAML/JSON map keyed by the environment variable names (IRONIC_ENDPOINT, DEPLOY_KERNEL_URL, …).
    #[arg(
        long,
        global = true,
        env = "METAL3CTL_PROVISIONER_CONFIG",
        value_name = "FILE"
    )]
    pub provisioner_config: Option<PathBuf>,
    /// Ironic API URL [env: IRONIC_ENDPOINT].
    #[arg(long, global = true, value_name = "URL")]
    pub ironic_endpoint: Option<String>,
    /// CA bundle for Ironic's TLS certificate [env: IRONIC_CACERT_FILE].
    #[arg(long, global = true, value_name = "PATH")]
    pub ironic_cacert_file: Option<PathBuf>,
    /// Skip verifying Ironic's TLS certificate [env: IRONIC_INSECURE].
    #[arg(long, global = true)]
    pub ironic_insecure: bool,
    /// Client certificate for mutual TLS [env: IRONIC_CLIENT_CERT_FILE].
    #[arg(long, global = true, value_name = "PATH")]
    pub ironic_client_cert_file: Option<PathBuf>,
    /// Client private key for mutual TLS [env: IRONIC_CLIENT_PRIVATE_KEY_FILE].
    #[arg(long, global = true, value_name = "PATH")]
    pub ironic_client_private_key_file: Option<PathBuf>,
    /// Deploy ramdisk kernel URL [env: DEPLOY_KERNEL_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub deploy_kernel_url: Option<String>,
    /// Deploy ramdisk initrd URL [env: DEPLOY_RAMDISK_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub deploy_ramdisk_url: Option<String>,
    /// Deploy ISO URL for virtual-media drivers [env: DEPLOY_ISO_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub deploy_iso_url: Option<String>,
    /// JSON object merged into new Ironic nodes, e.g. a lab's fake-hardware interfaces [env: IRONIC_NODE_DEFAULTS].
    #[arg(long, global = true, value_name = "JSON")]
    pub ironic_node_defaults: Option<String>,
}

/// Keys a settings file may hold.
pub const FILE_KEYS: &[&str] = &[
    "PROVISIONER",
    "IRONIC_ENDPOINT",
    "IRONIC_CACERT_FILE",
    "IRONIC_INSECURE",
    "IRONIC_CLIENT_CERT_FILE",
    "IRONIC_CLIENT_PRIVATE_KEY_FILE",
    "IRONIC_CLIENT_TIMEOUT",
    "METAL3_AUTH_ROOT_DIR",
    "DEPLOY_KERNEL_URL",
    "DEPLOY_RAMDISK_URL",
    "DEPLOY_ISO_URL",
    "PROVISIONING_LIMIT",
    "BMO_CONCURRENCY",
    "LIVE_ISO_FORCE_PERSISTENT_BOOT_DEVICE",
    "DIRECT_DEPLOY_FORCE_PERSISTENT_BOOT_DEVICE",
    "IRONIC_NODE_DEFAULTS",
];

/// Bad provisioner settings, naming the setting and where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings file cannot be read or parsed.
    #[error("provisioner config {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A setting has an unusable value.
    #[error("provisioner setting {key}: {message}")]
    Value {
        /// Variable name.
        key: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The Ironic client settings are unusable.
    #[error(transparent)]
    Ironic(#[from] metal3_provisioning::ironic::IronicError),
}

/// The chosen provisioner and its settings.
#[derive(Debug, Clone)]
pub enum Selected {
    /// Direct to BMCs.
    Direct,
    /// Through Ironic.
    Ironic(Box<(IronicConfig, IronicOptions)>),
}

/// Reads a settings file into variable → value strings.
pub fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let err = |message: String| ConfigError::File {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let docs = metal3_hostmodel::yaml::from_str_multi(&text).map_err(|e| err(e.to_string()))?;
    let mut out = BTreeMap::new();
    let Some(doc) = docs.into_iter().next() else {
        return Ok(out);
    };
    let Value::Object(map) = doc else {
        return Err(err("expected a map of settings".into()));
    };
    for (k, v) in map {
        if !FILE_KEYS.contains(&k.as_str()) {
            return Err(err(format!(
                "unknown setting {k:?} (known: {})",
                FILE_KEYS.join(", ")
            )));
        }
        let text = match v {
            Value::String(s) => s,
            Value::Null => continue,
            Value::Object(_) | Value::Array(_) => v.to_string(),
            other => other.to_string(),
        };
        out.insert(k, text);
    }
    Ok(out)
}

/// Decides the provisioner from flags, then `env`, then the file's values.
pub fn resolve(
    opts: &ProvisionerOpts,
    env: &dyn Fn(&str) -> Option<String>,
    file: &BTreeMap<String, String>,
) -> Result<Selected, ConfigError> {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let flag = |k: &str| -> Option<String> {
        match k {
            "IRONIC_ENDPOINT" => opts.ironic_endpoint.clone(),
            "IRONIC_CACERT_FILE" => path(&opts.ironic_cacert_file),
            "IRONIC_INSECURE" => opts.ironic_insecure.then(|| "true".to_string()),
            "IRONIC_CLIENT_CERT_FILE" => path(&opts.ironic_client_cert_file),
            "IRONIC_CLIENT_PRIVATE_KEY_FILE" => path(&opts.ironic_client_private_key_file),
            "DEPLOY_KERNEL_URL" => opts.deploy_kernel_url.clone(),
            "DEPLOY_RAMDISK_URL" => opts.deploy_ramdisk_url.clone(),
            "DEPLOY_ISO_URL" => opts.deploy_iso_url.clone(),
            "IRONIC_NODE_DEFAULTS" => opts.ironic_node_defaults.clone(),
            _ => None,
        }
    };
    let lookup = |k: &str| -> Option<String> {
        flag(k)
            .or_else(|| env(k))
            .or_else(|| file.get(k).cloned())
            .filter(|v| !v.trim().is_empty())
    };
    let kind = match opts.provisioner {
        Some(k) => k,
        None => match lookup("PROVISIONER").as_deref().map(str::trim) {
            Some("ironic") => Kind::Ironic,
            Some("direct") => Kind::Direct,
            Some(other) => {
                return Err(ConfigError::Value {
                    key: "PROVISIONER",
                    message: format!("{other:?} is not ironic or direct"),
                })
            }
            None if lookup("IRONIC_ENDPOINT").is_some() => Kind::Ironic,
            None => Kind::Direct,
        },
    };
    if kind == Kind::Direct {
        return Ok(Selected::Direct);
    }
    let config = IronicConfig::from_lookup(lookup)?;
    let limit = match lookup("PROVISIONING_LIMIT") {
        None => DEFAULT_PROVISIONING_LIMIT,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ConfigError::Value {
                key: "PROVISIONING_LIMIT",
                message: format!("{v:?} is not a positive number"),
            })?,
    };
    let node_overrides = match lookup("IRONIC_NODE_DEFAULTS") {
        None => Map::new(),
        Some(v) => match serde_json::from_str::<Value>(&v) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(ConfigError::Value {
                    key: "IRONIC_NODE_DEFAULTS",
                    message: "expected a JSON object of node fields".into(),
                })
            }
        },
    };
    let opts = IronicOptions {
        deploy_images: config.deploy_images.clone(),
        // One-shot commands are watched by a person: poll a little faster
        // than the controller defaults.
        short_poll: Duration::from_secs(1),
        long_poll: Duration::from_secs(3),
        provisioning_limit: limit,
        live_iso_force_persistent_boot_device: lookup("LIVE_ISO_FORCE_PERSISTENT_BOOT_DEVICE"),
        direct_deploy_force_persistent_boot_device: lookup(
            "DIRECT_DEPLOY_FORCE_PERSISTENT_BOOT_DEVICE",
        ),
        node_overrides,
        ..IronicOptions::default()
    };
    Ok(Selected::Ironic(Box::new((config, opts))))
}

static SELECTED: OnceLock<Selected> = OnceLock::new();

/// Resolves the settings once for this process (call at start-up, before
/// any thread is spawned). Engine settings found only in the file
/// (`PROVISIONING_LIMIT`, `BMO_CONCURRENCY`) are exported to the
/// environment, where the engine reads its defaults.
pub fn init(opts: &ProvisionerOpts) -> Result<(), ConfigError> {
    let file = match &opts.provisioner_config {
        Some(p) => read_file(p)?,
        None => BTreeMap::new(),
    };
    for key in ["PROVISIONING_LIMIT", "BMO_CONCURRENCY"] {
        if let (Some(v), None) = (file.get(key), std::env::var_os(key)) {
            std::env::set_var(key, v);
        }
    }
    let selected = resolve(opts, &|k| std::env::var(k).ok(), &file)?;
    let _ = SELECTED.set(selected);
    Ok(())
}

/// The provisioner chosen by [`init`] (direct when `init` was not called),
/// reading Secrets from `store`.
pub fn provisioner(store: Arc<dyn Store>) -> Arc<dyn Provisioner> {
    match SELECTED.get() {
        Some(Selected::Ironic(b)) => {
            let (config, opts) = b.as_ref();
            Arc::new(LazyIronicProvisioner::new(
                config.clone(),
                opts.clone(),
                Some(store),
            ))
        }
        _ => Arc::new(DirectProvisioner::new(DirectOptions {
            poll_interval: Duration::from_secs(1),
            ..DirectOptions::default()
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn ironic(s: Result<Selected, ConfigError>) -> (IronicConfig, IronicOptions) {
        match s {
            Ok(Selected::Ironic(b)) => *b,
            other => panic!("expected ironic, got {other:?}"),
        }
    }

    #[test]
    fn direct_without_an_endpoint_and_ironic_with_one() {
        let none = BTreeMap::new();
        let d = resolve(&ProvisionerOpts::default(), &env_of(&[]), &none);
        assert!(matches!(d, Ok(Selected::Direct)), "{d:?}");
        let (cfg, opts) = ironic(resolve(
            &ProvisionerOpts::default(),
            &env_of(&[
                ("IRONIC_ENDPOINT", "http://127.0.0.1:6385"),
                ("DEPLOY_KERNEL_URL", "http://h/k"),
                ("PROVISIONING_LIMIT", "7"),
            ]),
            &none,
        ));
        assert_eq!(cfg.endpoint, "http://127.0.0.1:6385");
        assert_eq!(opts.deploy_images.kernel.as_deref(), Some("http://h/k"));
        assert_eq!(opts.provisioning_limit, 7);
        // --provisioner direct wins over a configured endpoint.
        let forced = ProvisionerOpts {
            provisioner: Some(Kind::Direct),
            ..ProvisionerOpts::default()
        };
        let d = resolve(
            &forced,
            &env_of(&[("IRONIC_ENDPOINT", "http://127.0.0.1:6385")]),
            &none,
        );
        assert!(matches!(d, Ok(Selected::Direct)), "{d:?}");
        // --provisioner ironic without an endpoint says what is missing.
        let forced = ProvisionerOpts {
            provisioner: Some(Kind::Ironic),
            ..ProvisionerOpts::default()
        };
        let e = resolve(&forced, &env_of(&[]), &none).map(|_| ());
        assert!(
            e.as_ref()
                .is_err_and(|e| e.to_string().contains("IRONIC_ENDPOINT is not set")),
            "{e:?}"
        );
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let dir = std::env::temp_dir().join(format!("m3ctl-provcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let path = dir.join("prov.yaml");
        std::fs::write(
            &path,
            "IRONIC_ENDPOINT: http://file:6385\nDEPLOY_RAMDISK_URL: http://file/r\nDEPLOY_ISO_URL: http://file/iso\nIRONIC_INSECURE: true\nIRONIC_NODE_DEFAULTS: {\"driver\": \"fake-hardware\"}\n",
        )
        .unwrap_or_default();
        let file = read_file(&path).map_err(|e| e.to_string());
        let Ok(file) = file else {
            panic!("{file:?}");
        };
        let flags = ProvisionerOpts {
            deploy_iso_url: Some("http://flag/iso".into()),
            ..ProvisionerOpts::default()
        };
        let (cfg, opts) = ironic(resolve(
            &flags,
            &env_of(&[("DEPLOY_RAMDISK_URL", "http://env/r")]),
            &file,
        ));
        assert_eq!(cfg.endpoint, "http://file:6385");
        assert!(cfg.insecure);
        assert_eq!(opts.deploy_images.ramdisk.as_deref(), Some("http://env/r"));
        assert_eq!(opts.deploy_images.iso.as_deref(), Some("http://flag/iso"));
        assert_eq!(
            opts.node_overrides.get("driver"),
            Some(&Value::String("fake-hardware".into()))
        );
        std::fs::write(&path, "IRONIC_ENDPOINTS: x\n").unwrap_or_default();
        let e = read_file(&path).map(|_| ()).map_err(|e| e.to_string());
        assert!(
            e.as_ref()
                .is_err_and(|m| m.contains("unknown setting \"IRONIC_ENDPOINTS\"")),
            "{e:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap_or_default();
    }

    #[test]
    fn bad_values_name_the_setting() {
        let none = BTreeMap::new();
        let e = resolve(
            &ProvisionerOpts::default(),
            &env_of(&[
                ("IRONIC_ENDPOINT", "http://127.0.0.1:6385"),
                ("PROVISIONING_LIMIT", "lots"),
            ]),
            &none,
        )
        .map(|_| ())
        .map_err(|e| e.to_string());
        assert!(
            e.as_ref().is_err_and(|m| m.contains("PROVISIONING_LIMIT")),
            "{e:?}"
        );
        let e = resolve(
            &ProvisionerOpts::default(),
            &env_of(&[
                ("IRONIC_ENDPOINT", "http://127.0.0.1:6385"),
                ("IRONIC_INSECURE", "maybe"),
            ]),
            &none,
        )
        .map(|_| ())
        .map_err(|e| e.to_string());
        assert!(
            e.as_ref().is_err_and(|m| m.contains("IRONIC_INSECURE")),
            "{e:?}"
        );
    }
}
