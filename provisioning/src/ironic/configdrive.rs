//! The config drive for a deployment, built from the host's userData,
//! networkData and metaData Secrets (reference §6.3 "Config drive").

use metal3_hostmodel::{BareMetalHost, Secret, SecretReference};
use serde_json::{Map, Value};

use super::mapping::{config_drive, ConfigDriveHost};
use crate::store::{ObjectKey, Store, StoreExt};

/// Why the config drive could not be built. Names the Secret, never its content.
#[derive(Debug, thiserror::Error)]
pub enum ConfigDriveError {
    /// The host refers to Secrets but the provisioner has no object store.
    #[error("host {host}: spec.{field} refers to Secret {secret}, but the Ironic provisioner was given no object store to read Secrets from")]
    NoStore {
        /// `namespace/name` of the host.
        host: String,
        /// `userData`, `networkData`, …
        field: &'static str,
        /// Secret name.
        secret: String,
    },
    /// The Secret is in another namespace (Metal³ refuses that).
    #[error(
        "host {host}: spec.{field}: Secret {namespace}/{secret} must be in the host's namespace"
    )]
    OtherNamespace {
        /// `namespace/name` of the host.
        host: String,
        /// Field.
        field: &'static str,
        /// Secret namespace.
        namespace: String,
        /// Secret name.
        secret: String,
    },
    /// Reading or decoding the Secret failed.
    #[error("host {host}: spec.{field}: Secret {secret}: {message}")]
    Secret {
        /// `namespace/name` of the host.
        host: String,
        /// Field.
        field: &'static str,
        /// Secret name.
        secret: String,
        /// What went wrong.
        message: String,
    },
}

/// Where Secrets come from (an optional object store).
pub struct SecretSource<'a> {
    store: Option<&'a dyn Store>,
}

impl<'a> SecretSource<'a> {
    /// Reads Secrets from `store`; `None` means there are none to read.
    pub fn new(store: Option<&'a dyn Store>) -> Self {
        SecretSource { store }
    }

    /// The string under the first of `keys` present in the referenced Secret,
    /// `None` when the Secret has none of them.
    fn read(
        &self,
        host: &BareMetalHost,
        field: &'static str,
        r: &SecretReference,
        keys: &[&str],
    ) -> Result<Option<String>, ConfigDriveError> {
        let ns = host.metadata.namespace_or_default();
        let host_id = format!("{ns}/{}", host.metadata.name);
        if !r.namespace.is_empty() && r.namespace != ns {
            return Err(ConfigDriveError::OtherNamespace {
                host: host_id,
                field,
                namespace: r.namespace.clone(),
                secret: r.name.clone(),
            });
        }
        let Some(store) = self.store else {
            return Err(ConfigDriveError::NoStore {
                host: host_id,
                field,
                secret: r.name.clone(),
            });
        };
        let err = |message: String| ConfigDriveError::Secret {
            host: host_id.clone(),
            field,
            secret: r.name.clone(),
            message,
        };
        let secret: Secret = store
            .get_as(&ObjectKey::new("Secret", ns, &r.name))
            .map_err(|e| err(e.to_string()))?;
        for k in keys {
            if let Some(v) = secret.get_string(k).map_err(|e| err(e.to_string()))? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

fn parse_doc(text: &str) -> Result<Value, String> {
    let docs = metal3_hostmodel::yaml::from_str_multi(text).map_err(|e| e.to_string())?;
    Ok(docs.into_iter().next().unwrap_or(Value::Null))
}

/// The JSON config drive for `host`: user data as is, network data and
/// meta data parsed (YAML or JSON), meta data over Metal³'s defaults.
pub fn for_host(host: &BareMetalHost, src: &SecretSource<'_>) -> Result<Value, ConfigDriveError> {
    let spec = &host.spec;
    let named = |r: &Option<SecretReference>| r.clone().filter(|r| !r.name.is_empty());
    let parse_err =
        |field: &'static str, r: &SecretReference, message: String| ConfigDriveError::Secret {
            host: format!(
                "{}/{}",
                host.metadata.namespace_or_default(),
                host.metadata.name
            ),
            field,
            secret: r.name.clone(),
            message,
        };
    let user_data = match named(&spec.user_data) {
        Some(r) => src.read(host, "userData", &r, &["userData", "value"])?,
        None => None,
    };
    let (net_field, net_ref) = match named(&spec.network_data) {
        Some(r) => ("networkData", Some(r)),
        None => (
            "preprovisioningNetworkDataName",
            spec.preprovisioning_network_data_name
                .clone()
                .filter(|n| !n.is_empty())
                .map(|name| SecretReference {
                    name,
                    namespace: String::new(),
                }),
        ),
    };
    let network_data = match net_ref {
        Some(r) => match src.read(host, net_field, &r, &["networkData", "value"])? {
            Some(text) => Some(parse_doc(&text).map_err(|m| parse_err(net_field, &r, m))?),
            None => None,
        },
        None => None,
    };
    let meta: Option<Map<String, Value>> = match named(&spec.meta_data) {
        Some(r) => match src.read(host, "metaData", &r, &["metaData", "value"])? {
            Some(text) => match parse_doc(&text).map_err(|m| parse_err("metaData", &r, m))? {
                Value::Object(m) => Some(m),
                Value::Null => None,
                _ => {
                    return Err(parse_err(
                        "metaData",
                        &r,
                        "meta data is not a mapping".into(),
                    ))
                }
            },
            None => None,
        },
        None => None,
    };
    let uid = host.metadata.uid.clone().unwrap_or_default();
    Ok(config_drive(
        &ConfigDriveHost {
            uid: &uid,
            namespace: host.metadata.namespace_or_default(),
            name: &host.metadata.name,
        },
        user_data.as_deref(),
        network_data,
        meta.as_ref(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use serde_json::json;

    fn host(spec: Value) -> BareMetalHost {
        serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": "h0", "namespace": "lab", "uid": "u-1"},
            "spec": spec,
        }))
        .unwrap_or_default()
    }

    fn store_with(secrets: &[Value]) -> MemoryStore {
        let s = MemoryStore::new();
        for v in secrets {
            assert!(s.create(v.clone()).is_ok());
        }
        s
    }

    fn secret(name: &str, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": name, "namespace": "lab"}, "stringData": data})
    }

    #[test]
    fn builds_drive_from_all_three_secrets() {
        let store = store_with(&[
            secret("ud", json!({"userData": "#cloud-config\n"})),
            secret("nd", json!({"networkData": "links: []\nnetworks: []\n"})),
            secret(
                "md",
                json!({"value": "{\"role\": \"worker\", \"name\": \"x\"}"}),
            ),
        ]);
        let h = host(
            json!({"bmc": {"address": "", "credentialsName": ""}, "online": true,
            "userData": {"name": "ud"}, "networkData": {"name": "nd"}, "metaData": {"name": "md"}}),
        );
        let cd = for_host(&h, &SecretSource::new(Some(&store))).map_err(|e| e.to_string());
        assert_eq!(
            cd,
            Ok(json!({
                "user_data": "#cloud-config\n",
                "network_data": {"links": [], "networks": []},
                "meta_data": {"uuid": "u-1", "metal3-namespace": "lab", "metal3-name": "h0",
                              "local-hostname": "h0", "local_hostname": "h0",
                              "name": "x", "role": "worker"},
            }))
        );
    }

    #[test]
    fn preprovisioning_network_data_is_the_fallback_and_errors_name_the_secret() {
        let store = store_with(&[secret("pre", json!({"networkData": "{\"links\": [1]}"}))]);
        let h = host(
            json!({"bmc": {"address": "", "credentialsName": ""}, "online": true,
            "preprovisioningNetworkDataName": "pre"}),
        );
        let cd = for_host(&h, &SecretSource::new(Some(&store))).map_err(|e| e.to_string());
        assert_eq!(
            cd.map(|v| v["network_data"].clone()),
            Ok(json!({"links": [1]}))
        );
        let h = host(
            json!({"bmc": {"address": "", "credentialsName": ""}, "online": true,
            "userData": {"name": "missing"}}),
        );
        let e = for_host(&h, &SecretSource::new(Some(&store)))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            e.as_ref()
                .is_err_and(|m| m.contains("spec.userData") && m.contains("missing")),
            "{e:?}"
        );
        let e = for_host(&h, &SecretSource::new(None))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            e.as_ref().is_err_and(|m| m.contains("no object store")),
            "{e:?}"
        );
        let h = host(
            json!({"bmc": {"address": "", "credentialsName": ""}, "online": true,
            "userData": {"name": "ud", "namespace": "other"}}),
        );
        let e = for_host(&h, &SecretSource::new(Some(&store)))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            e.as_ref()
                .is_err_and(|m| m.contains("must be in the host's namespace")),
            "{e:?}"
        );
    }
}
