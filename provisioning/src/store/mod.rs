//! The object store backends: [`SqliteStore`] for the controller and the CLI,
//! [`MemoryStore`] for tests, both following the rules of one shared module
//! (`logic`) so they cannot drift apart.
//!
//! The interface itself ([`Store`], [`StoreExt`], [`ObjectKey`],
//! [`StoreError`], [`LabelSelector`], [`update_with_retry`], …) lives in
//! [`metal3_hostmodel::store`] so that crates above the model (ipam, capi)
//! can use it without depending on this crate; everything is re-exported
//! here, so `metal3_provisioning::store::X` keeps naming the same items.
//! See that module for the semantics every backend follows.

mod logic;
mod memory;
mod sqlite;

pub use metal3_hostmodel::store::*;

pub use memory::MemoryStore;
pub use sqlite::{SqliteOptions, SqliteStore, SCHEMA_VERSION};

#[cfg(test)]
mod tests;
