//! core/v1 `Secret`, as used for BMC credentials and user/network/meta data.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;

/// A Kubernetes Secret. `Debug` shows key names only, never values.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// `v1`.
    pub api_version: String,
    /// `Secret`.
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Secret type, e.g. `Opaque`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Base64-encoded values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Plain-text values (merged over `data` when read).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// Immutable secrets cannot be updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&String> = self.data.keys().chain(self.string_data.keys()).collect();
        f.debug_struct("Secret")
            .field("metadata.name", &self.metadata.name)
            .field("metadata.namespace", &self.metadata.namespace)
            .field("type", &self.type_)
            .field("keys", &keys)
            .finish()
    }
}

/// A Secret value that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Secret {namespace}/{name}: data.{key}: {problem}")]
pub struct SecretValueError {
    /// Secret namespace.
    pub namespace: String,
    /// Secret name.
    pub name: String,
    /// The key.
    pub key: String,
    /// What is wrong (never the value).
    pub problem: String,
}

impl Secret {
    /// The value of `key`: `stringData` wins (as on the API server), else `data` decoded.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SecretValueError> {
        if let Some(v) = self.string_data.get(key) {
            return Ok(Some(v.as_bytes().to_vec()));
        }
        let Some(encoded) = self.data.get(key) else {
            return Ok(None);
        };
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map(Some)
            .map_err(|e| self.value_error(key, format!("not valid base64: {e}")))
    }

    /// The value of `key` as UTF-8 text.
    pub fn get_string(&self, key: &str) -> Result<Option<String>, SecretValueError> {
        match self.get(key)? {
            None => Ok(None),
            Some(b) => String::from_utf8(b)
                .map(Some)
                .map_err(|_| self.value_error(key, "not valid UTF-8".into())),
        }
    }

    /// Sets `key` in `data` (base64) and removes it from `stringData`.
    pub fn set(&mut self, key: &str, value: &[u8]) {
        self.string_data.remove(key);
        self.data.insert(
            key.to_string(),
            base64::engine::general_purpose::STANDARD.encode(value),
        );
    }

    fn value_error(&self, key: &str, problem: String) -> SecretValueError {
        SecretValueError {
            namespace: self.metadata.namespace_or_default().to_string(),
            name: self.metadata.name.clone(),
            key: key.to_string(),
            problem,
        }
    }
}
