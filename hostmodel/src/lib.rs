//! metal3-hostmodel: the `metal3.io/v1alpha1` API as Rust types, webhook
//! validation and the BareMetalHost state machine as pure functions. No I/O.

pub mod annotations;
pub mod bmh;
pub mod hardware;
pub mod manifest;
pub mod meta;
pub mod object;
pub mod other;
pub mod secret;
pub mod state;
pub mod store;
pub mod time;
pub mod validation;
pub mod yaml;

pub use bmh::*;
pub use hardware::HardwareDetails;
pub use meta::{Condition, ObjectMeta, ObjectReference, SecretReference};
pub use object::Object;
pub use secret::Secret;
pub use time::Time;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
