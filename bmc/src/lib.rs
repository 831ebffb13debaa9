//! metal3-bmc: everything needed to talk to a baseboard management controller.
//!
//! * [`address`] parses every BMC address form Metal³ accepts (`ipmi://`, bare
//!   `host:port`, `redfish[+http|+https]://`, `redfish-virtualmedia`, `idrac-*`,
//!   `ilo5-*`, `redfish-uefihttp`, the legacy `ilo4*`, `ilo5`, `irmc`, `libvirt`)
//!   into a [`address::BmcAddress`] that knows its driver and capabilities. It has
//!   no network code and is always available, also with `default-features = false`.
//! * With the `clients` feature (default), async protocol clients live beside it:
//!   [`ipmi`] is IPMI over LAN (RMCP+ cipher suites 17/3, IPMI 1.5) implementing
//!   [`ops::PowerBootControl`].
//!
//! ```
//! use metal3_bmc::address::BmcAddress;
//! let a = BmcAddress::parse("idrac-virtualmedia+https://10.0.0.5/redfish/v1/Systems/System.Embedded.1")?;
//! assert_eq!(a.driver().ironic_driver, "idrac");
//! assert!(a.driver().virtual_media);
//! # Ok::<(), metal3_bmc::address::AddressError>(())
//! ```

pub mod address;
pub mod credentials;

#[cfg(feature = "clients")]
pub mod budget;
#[cfg(feature = "clients")]
pub mod connect;
#[cfg(feature = "clients")]
pub mod error;
#[cfg(feature = "clients")]
pub mod ipmi;
#[cfg(feature = "clients")]
pub mod ops;
#[cfg(feature = "clients")]
pub mod redfish;

#[cfg(feature = "clients")]
pub use connect::{Bmc, ConnectOptions};
pub use credentials::Credentials;
#[cfg(feature = "clients")]
pub use error::{BmcError, BmcErrorKind};
#[cfg(feature = "clients")]
pub use ops::{BootDevice, BootMode, BootOverride, PowerAction, PowerBootControl, PowerState};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
