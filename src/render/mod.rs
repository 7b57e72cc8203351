//! Render tools: directory | kustomize | helm → bytes of manifests, with policy paths confined to the repository.

/// A render that failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Failed(String),
}
