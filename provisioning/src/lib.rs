//! metal3-provisioning: the object store (trait, SQLite and in-memory
//! backends) that the reconcile engine and `metal3ctl` share.
//!
//! The `Provisioner` trait with its direct-to-BMC and OpenStack Ironic
//! backends and the reconcile engine that drives hosts through the
//! `metal3-hostmodel` state machine come next.

pub mod ironic;
pub mod store;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
