//! BMC address parsing and the driver registry (no network code).
//!
//! [`BmcAddress::parse`] follows Metal³'s rules exactly, including the quirks
//! of Go's URL parser that decide between IPMI and an unknown type:
//!
//! | input | result |
//! |---|---|
//! | `10.0.0.1`, `10.0.0.1:6230`, `[fe80::1]:623`, `ipmi:10.0.0.1` | IPMI |
//! | `redfish+http://h:8000/redfish/v1/Systems/1` | Redfish over plain HTTP, system `/redfish/v1/Systems/1` |
//! | `bmc.example.com:623` | unknown type `bmc.example.com` (Go reads it as a scheme) |
//! | `[fe80::1]`, `fe80::1` | error / unknown type `fe80` |

mod goparse;
pub mod registry;

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

pub use registry::{accepted_schemes, Carriers, DriverInfo, Protocol, DRIVERS};

/// Why an address was refused. Messages follow Metal³'s wording; none of them
/// contains credentials embedded in the address (`user:pass@` is removed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The address is empty.
    #[error("missing BMC address")]
    Empty,
    /// The text is not a URL nor `host:port`.
    #[error("failed to parse BMC address information: {reason}")]
    Unparsable {
        /// The address, credentials removed.
        address: String,
        /// What the URL parser objected to.
        reason: String,
    },
    /// The host part is neither an IP literal nor a DNS name.
    #[error(
        "failed to parse BMC address information: BMC address hostname/IP : [{host}] is invalid"
    )]
    InvalidHost {
        /// The address, credentials removed.
        address: String,
        /// The offending host name.
        host: String,
    },
    /// The port is not a number from 1 to 65535.
    #[error("invalid port '{port}' in BMC address {address}: must be a number from 1 to 65535")]
    InvalidPort {
        /// The address, credentials removed.
        address: String,
        /// The port text.
        port: String,
    },
    /// The scheme names no known driver.
    #[error("Unknown BMC type '{scheme}' for address {address}")]
    UnknownType {
        /// The scheme as parsed (lower-cased).
        scheme: String,
        /// The address, credentials removed.
        address: String,
    },
}

impl AddressError {
    /// The schemes that would have been accepted (for hints after an error).
    pub fn accepted_types() -> Vec<String> {
        accepted_schemes()
    }
}

/// A parsed BMC address: driver, host, port, path and query.
#[derive(Clone, PartialEq, Eq)]
pub struct BmcAddress {
    display: String,
    scheme: String,
    driver: &'static DriverInfo,
    tls: Option<bool>,
    hostname: String,
    port: Option<u16>,
    path: String,
    query: String,
}

impl fmt::Debug for BmcAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BmcAddress")
            .field("address", &self.display)
            .field("type", &self.scheme)
            .finish()
    }
}

impl fmt::Display for BmcAddress {
    /// The address as given, with any `user:password@` removed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// Removes `user[:password]@` from an address so it can be shown in messages.
pub fn redact(address: &str) -> String {
    let (prefix, rest) = match address.find("://") {
        Some(i) => (&address[..i + 3], &address[i + 3..]),
        None => ("", address),
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..auth_end].rfind('@') {
        Some(at) => format!("{prefix}{}", &rest[at + 1..]),
        None => address.to_string(),
    }
}

/// Go's `net.ParseIP` accepts exactly the IPv4/IPv6 literals Rust does, minus zones.
fn is_ip_literal(h: &str) -> bool {
    h.parse::<IpAddr>().is_ok()
}

/// Metal³'s DNS-name check: dot-separated labels of 1–63 alphanumerics with
/// inner hyphens; no trailing dot, no underscore.
fn is_dns_name(h: &str) -> bool {
    !h.is_empty()
        && h.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

impl BmcAddress {
    /// Parses an address the way Metal³ does (see the module docs).
    pub fn parse(address: &str) -> Result<Self, AddressError> {
        if address.is_empty() {
            return Err(AddressError::Empty);
        }
        let display = redact(address);
        let unparsable = |reason: String| AddressError::Unparsable {
            address: display.clone(),
            reason,
        };
        let mut url = match goparse::parse(address) {
            Ok(u) => u,
            Err(e) => {
                if !address.contains(':') {
                    return Err(unparsable(e.0));
                }
                goparse::split_host_port(address).map_err(|_| unparsable(e.0.clone()))?;
                goparse::GoUrl {
                    scheme: "ipmi".into(),
                    host: address.to_string(),
                    has_authority: true,
                    ..Default::default()
                }
            }
        };
        if !url.opaque.is_empty() {
            // `ipmi:10.0.0.1` → `ipmi://10.0.0.1`
            let fixed = address.replacen(':', "://", 1);
            url = goparse::parse(&fixed).map_err(|e| unparsable(e.0))?;
        }
        if url.scheme.is_empty() && url.hostname().is_empty() {
            url = goparse::parse(&format!("ipmi://{address}")).map_err(|e| unparsable(e.0))?;
        }
        let hostname = url.hostname().to_string();
        if !hostname.is_empty() && !is_ip_literal(&hostname) && !is_dns_name(&hostname) {
            return Err(AddressError::InvalidHost {
                address: display,
                host: hostname,
            });
        }
        let Some((driver, tls)) = registry::lookup(&url.scheme) else {
            return Err(AddressError::UnknownType {
                scheme: url.scheme,
                address: display,
            });
        };
        let port = match url.port() {
            "" => None,
            p => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(AddressError::InvalidPort {
                        address: display,
                        port: p.to_string(),
                    })
                }
            },
        };
        Ok(BmcAddress {
            display,
            scheme: url.scheme,
            driver,
            tls,
            hostname,
            port,
            path: url.path,
            query: url.raw_query,
        })
    }

    /// The full scheme as registered, e.g. `idrac-virtualmedia+https` or `ipmi`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The driver row this address selects.
    pub fn driver(&self) -> &'static DriverInfo {
        self.driver
    }

    /// The protocol a metal3-rs client uses for it.
    pub fn protocol(&self) -> Protocol {
        self.driver.protocol
    }

    /// Host name or IP literal, IPv6 without brackets; may be empty (`redfish://`).
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The port written in the address, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port a client connects to: given, else the driver's, else the carrier's (443/80).
    pub fn effective_port(&self) -> u16 {
        self.port
            .or(self.driver.default_port)
            .unwrap_or(if self.uses_tls() { 443 } else { 80 })
    }

    /// `host[:port]` with IPv6 literals in brackets, as used in URLs.
    pub fn host_port(&self) -> String {
        let host = if self.hostname.contains(':') {
            format!("[{}]", self.hostname)
        } else {
            self.hostname.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// URL path (e.g. the Redfish system), possibly empty.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Raw query string (e.g. `privilegelevel=OPERATOR` for IPMI).
    pub fn query(&self) -> &str {
        &self.query
    }

    /// Whether an HTTP-based driver uses TLS: `+http` turns it off, default on.
    pub fn uses_tls(&self) -> bool {
        self.tls.unwrap_or(true)
    }

    /// `https://host[:port]` (or `http://` for `+http`): where the Redfish service lives.
    pub fn http_base_url(&self) -> String {
        let carrier = if self.uses_tls() { "https" } else { "http" };
        format!("{carrier}://{}", self.host_port())
    }

    /// The Redfish system path to manage, as Ironic's `redfish_system_id`: the
    /// address path unless it is empty or just `/redfish/v1`.
    pub fn redfish_system_id(&self) -> Option<&str> {
        let trimmed = self.path.trim_matches('/');
        (!trimmed.is_empty() && trimmed != "redfish/v1").then_some(self.path.as_str())
    }

    /// IPMI privilege level from `?privilegelevel=`, default `ADMINISTRATOR`.
    pub fn ipmi_privilege_level(&self) -> String {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "privilegelevel")
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| "ADMINISTRATOR".to_string())
    }

    /// A serialisable description (what `metal3ctl bmc parse -o json` prints).
    pub fn summary(&self) -> AddressSummary {
        let d = self.driver;
        AddressSummary {
            address: self.display.clone(),
            type_: self.scheme.clone(),
            driver: d.ironic_driver,
            protocol: d.protocol,
            host: self.hostname.clone(),
            port: self.port,
            effective_port: self.effective_port(),
            path: self.path.clone(),
            system_id: self.redfish_system_id().map(str::to_string),
            tls: matches!(d.protocol, Protocol::Redfish).then(|| self.uses_tls()),
            needs_mac: d.needs_mac,
            supports_secure_boot: d.secure_boot,
            virtual_media: d.virtual_media,
            needs_provisioning_network: d.needs_provisioning_network,
            supports_hardware_raid: d.supports_hardware_raid(),
            supports_firmware_settings: d.firmware_settings,
            supports_firmware_updates: d.supports_firmware_updates(),
            supports_fast_inspection: d.supports_oob_inspection(),
            boot_interface: d.boot_interface,
            management_interface: d.management_interface,
            power_interface: d.power_interface,
            raid_interface: d.raid_interface,
            bios_interface: d.bios_interface,
            vendor_interface: d.vendor_interface,
            firmware_interface: d.firmware_interface,
            inspect_interface: "agent",
            oob_inspect_interface: d.oob_inspect_interface,
            removed_upstream_in: d.removed_in,
        }
    }
}

/// Everything known about a parsed address, with the JSON names `metal3ctl` prints.
///
/// An interface of `null` is left to Ironic's default for the driver.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressSummary {
    /// The address, credentials removed.
    pub address: String,
    /// Driver type as registered (full scheme), e.g. `redfish-virtualmedia+https`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Ironic hardware type.
    pub driver: &'static str,
    /// Protocol metal3-rs speaks to it.
    pub protocol: Protocol,
    /// Host (IPv6 without brackets).
    pub host: String,
    /// Port written in the address.
    pub port: Option<u16>,
    /// Port actually used.
    pub effective_port: u16,
    /// URL path.
    pub path: String,
    /// Redfish system path, when the path names one.
    pub system_id: Option<String>,
    /// For Redfish: whether HTTPS is used.
    pub tls: Option<bool>,
    /// A boot MAC address is always required.
    #[serde(rename = "needsMAC")]
    pub needs_mac: bool,
    /// `UEFISecureBoot` allowed.
    pub supports_secure_boot: bool,
    /// Virtual media (ISO) boot.
    pub virtual_media: bool,
    /// Needs a provisioning network.
    pub needs_provisioning_network: bool,
    /// Hardware RAID configurable.
    pub supports_hardware_raid: bool,
    /// BIOS settings configurable.
    pub supports_firmware_settings: bool,
    /// Firmware updates possible.
    pub supports_firmware_updates: bool,
    /// `inspectionMode: fast` possible.
    pub supports_fast_inspection: bool,
    /// Ironic boot interface.
    pub boot_interface: &'static str,
    /// Ironic management interface.
    pub management_interface: Option<&'static str>,
    /// Ironic power interface.
    pub power_interface: Option<&'static str>,
    /// Ironic RAID interface.
    pub raid_interface: Option<&'static str>,
    /// Ironic BIOS interface.
    pub bios_interface: Option<&'static str>,
    /// Ironic vendor interface.
    pub vendor_interface: Option<&'static str>,
    /// Ironic firmware interface.
    pub firmware_interface: Option<&'static str>,
    /// Ironic inspect interface used by default.
    pub inspect_interface: &'static str,
    /// Ironic inspect interface for out-of-band (`fast`) inspection.
    pub oob_inspect_interface: Option<&'static str>,
    /// Metal³ release that removed this (legacy) driver.
    pub removed_upstream_in: Option<&'static str>,
}

#[cfg(test)]
mod tests;
