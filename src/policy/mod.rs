//! `.sluice.yaml`: loading (with the same bounded YAML 1.1 reader as manifests), the schema, defaults
//! and validation. Errors name the file and the key path, and say the fix.

pub mod schema;

pub use schema::*;

/// A policy that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: {path}: {message}")]
    Invalid {
        file: String,
        path: String,
        message: String,
    },
}
