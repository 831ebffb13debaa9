//! What a client learned about a BMC's layout (the service root, where the
//! system is and which actions and reset types it advertises, its CD slot),
//! kept so that a later client of the same system starts where this one
//! left off instead of discovering it all again: kubectl's discovery cache,
//! for BMCs. Layout only, never state: a cached copy is used for links,
//! allowable values and action targets, never as the power state, boot
//! override or inserted media, which are always read from the BMC.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped when the meaning of a field changes: older files are ignored.
pub const DISCOVERY_VERSION: u32 = 1;

/// A BMC's layout as a [`super::RedfishClient`] found it. No credentials
/// and no session token: safe to write to a cache file.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    /// [`DISCOVERY_VERSION`] of the client that wrote it.
    pub version: u32,
    /// The system path as the address names it (`None`: the only member of
    /// `/Systems`); a discovery serves only an address naming the same.
    pub named: Option<String>,
    /// The system's canonical path (its `@odata.id`).
    pub system_path: String,
    /// The service root, when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Value>,
    /// The system resource as last read (for links and allowable values).
    pub system: Value,
    /// The system was last read without an ETag, so a PATCH needs no read
    /// first to get one (unknown: false, the careful way).
    #[serde(default)]
    pub system_untagged: bool,
    /// The CD/DVD virtual media slot found, when one was looked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cd_slot: Option<CdSlot>,
}

/// A virtual media slot as last read.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CdSlot {
    /// The slot resource's path.
    pub path: String,
    /// The slot resource (for its action targets).
    pub slot: Value,
}

impl std::fmt::Debug for Discovery {
    /// The paths only: the resources are long and say nothing more here.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("named", &self.named)
            .field("system_path", &self.system_path)
            .field("root", &self.root.is_some())
            .field("cd_slot", &self.cd_slot.as_ref().map(|s| &s.path))
            .finish()
    }
}

impl std::fmt::Debug for CdSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CdSlot").field("path", &self.path).finish()
    }
}

/// A file name for the discovery of the system at `base_url` (scheme, host
/// and port, no credentials) named `named`: readable, and told apart by a
/// hash of both where the readable part folds characters together.
pub fn cache_key(base_url: &str, named: Option<&str>) -> String {
    let full = format!("{base_url}{}", named.unwrap_or(""));
    let readable: String = full
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(96)
        .collect();
    // FNV-1a: stable across releases and platforms, unlike std's hasher.
    let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{readable}-{hash:016x}.json")
}

impl Discovery {
    /// Whether this discovery can stand in for discovering the system that
    /// `named` (as the address names it) leads to: same name, same version,
    /// and well-formed (a file may have been edited or cut short).
    pub fn serves(&self, named: Option<&str>) -> bool {
        self.version == DISCOVERY_VERSION
            && self.named.as_deref() == named
            && self.system_path.starts_with('/')
            && self.system.is_object()
            && self.root.as_ref().is_none_or(Value::is_object)
            && self
                .cd_slot
                .as_ref()
                .is_none_or(|s| s.path.starts_with('/') && s.slot.is_object())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Discovery {
        Discovery {
            version: DISCOVERY_VERSION,
            named: Some("/redfish/v1/Systems/1".into()),
            system_path: "/redfish/v1/Systems/1".into(),
            root: Some(json!({"Systems": {"@odata.id": "/redfish/v1/Systems"}})),
            system: json!({"@odata.id": "/redfish/v1/Systems/1"}),
            system_untagged: true,
            cd_slot: Some(CdSlot {
                path: "/redfish/v1/Systems/1/VirtualMedia/Cd".into(),
                slot: json!({"Id": "Cd"}),
            }),
        }
    }

    #[test]
    fn serves_only_the_same_name_and_version() {
        let d = sample();
        assert!(d.serves(Some("/redfish/v1/Systems/1")));
        assert!(!d.serves(Some("/redfish/v1/Systems/2")));
        assert!(!d.serves(None));
        let old = Discovery { version: 0, ..d };
        assert!(!old.serves(Some("/redfish/v1/Systems/1")));
    }

    #[test]
    fn malformed_discoveries_serve_nothing() {
        let named = Some("/redfish/v1/Systems/1");
        let mut d = sample();
        d.system = json!("x");
        assert!(!d.serves(named));
        let mut d = sample();
        d.system_path = "redfish/v1/Systems/1".into();
        assert!(!d.serves(named));
        let mut d = sample();
        d.root = Some(json!([]));
        assert!(!d.serves(named));
        let mut d = sample();
        d.cd_slot = Some(CdSlot {
            path: "/x".into(),
            slot: json!(null),
        });
        assert!(!d.serves(named));
    }

    #[test]
    fn cache_keys_tell_addresses_apart() {
        let a = cache_key("http://127.0.0.1:8000", Some("/redfish/v1/Systems/1"));
        assert!(a.starts_with("127.0.0.1_8000_redfish_v1_Systems_1-"), "{a}");
        assert!(a.ends_with(".json"));
        assert_eq!(
            a,
            cache_key("http://127.0.0.1:8000", Some("/redfish/v1/Systems/1"))
        );
        for other in [
            cache_key("https://127.0.0.1:8000", Some("/redfish/v1/Systems/1")),
            cache_key("http://127.0.0.1:8000", Some("/redfish/v1/Systems_1")),
            cache_key("http://127.0.0.1:8000", None),
            cache_key("http://[::1]:8000", Some("/redfish/v1/Systems/1")),
        ] {
            assert_ne!(a, other);
            assert!(!other.contains('/') && !other.contains(':'), "{other}");
        }
    }

    #[test]
    fn round_trips_and_debug_shows_paths_only() {
        let d = sample();
        let text = serde_json::to_string(&d).unwrap();
        let back: Discovery = serde_json::from_str(&text).unwrap();
        assert_eq!(back, d);
        let dbg = format!("{d:?}");
        assert!(dbg.contains("VirtualMedia/Cd"), "{dbg}");
        assert!(!dbg.contains("odata"), "{dbg}");
    }
}
