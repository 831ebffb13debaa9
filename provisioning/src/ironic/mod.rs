//! OpenStack Ironic backend: a REST client for a standalone Ironic, the
//! pure mappings between Metal³ host data and Ironic nodes, and the
//! [`IronicProvisioner`] that drives hosts through Ironic.

pub mod client;
pub mod configdrive;
pub mod lazy;
pub mod mapping;
pub mod provisioner;
pub mod steps;

pub use client::{IronicClient, IronicConfig, IronicError, Microversion};
pub use lazy::LazyIronicProvisioner;
pub use provisioner::{IronicOptions, IronicProvisioner};
