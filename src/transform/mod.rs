//! Pure transforms over rendered documents: config checksums and the PreSync hooks (guard, backup, migrations).

/// A transform that cannot be applied to these documents with this policy.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("{0}")]
    Invalid(String),
}
