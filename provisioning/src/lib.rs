//! metal3-provisioning: the object store (trait, SQLite and in-memory
//! backends), the [`provisioner::Provisioner`] trait with its direct-to-BMC
//! backend ([`direct::DirectProvisioner`]), and the reconcile
//! [`engine::Engine`] that drives hosts through the `metal3-hostmodel`
//! state machine, and an OpenStack Ironic REST client ([`ironic`]) with the
//! mappings the Ironic backend needs.

pub mod direct;
pub mod engine;
pub mod events;
pub mod ironic;
pub mod owners;
pub mod provisioner;
pub mod store;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
