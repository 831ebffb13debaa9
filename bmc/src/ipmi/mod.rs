//! IPMI over LAN: an async client for IPMI 2.0 (RMCP+, cipher suites 17 and 3)
//! and IPMI 1.5 sessions, implementing [`crate::ops::PowerBootControl`].
//!
//! The packet codec ([`packet`]) and cryptography ([`crypto`]) are pure
//! functions over bytes so they can be tested without a BMC.

mod client;
pub mod codes;
pub mod crypto;
pub mod packet;

pub use client::{
    BootFlags, ChassisControl, DeviceId, IpmiClient, IpmiOptions, IpmiVersion, SessionInfo,
};
pub use crypto::V15Auth;
