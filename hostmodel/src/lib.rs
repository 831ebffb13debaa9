//! metal3-hostmodel: the metal3.io/v1alpha1 API as Rust types.
