//! Kubernetes documents: read as Kubernetes reads YAML (YAML 1.1 scalars, bounded), split, flatten
//! `kind: List`, and write deterministically.

/// A manifest stream that is not a list of Kubernetes objects.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{0}")]
    Invalid(String),
}
