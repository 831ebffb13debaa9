//! OpenStack Ironic backend: a REST client for a standalone Ironic and the
//! pure mappings between Metal³ host data and Ironic nodes.

pub mod client;
pub mod mapping;

pub use client::{IronicClient, IronicConfig, IronicError, Microversion};
