//! metal3-provisioning: the `Provisioner` trait with its direct-to-BMC and
//! OpenStack Ironic backends, the reconcile engine that drives hosts through the
//! `metal3-hostmodel` state machine, and the store trait with its SQLite
//! implementation.
//!
//! Nothing lives here yet; the engine/store issue fills this crate.
