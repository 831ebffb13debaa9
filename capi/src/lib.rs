//! metal3-capi: the Cluster API mapping of CAPM3 (`infrastructure.cluster.x-k8s.io`
//! Metal3Machine host selection, Metal3DataTemplate rendering with IPAM, node reuse,
//! remediation), usable without Kubernetes.

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod controller;
pub mod goyaml;
pub mod lifecycle;
pub mod preview;
pub mod providerid;
pub mod remediation;
pub mod render;
pub mod select;
pub mod types;
pub mod webhook;

pub use types::*;
