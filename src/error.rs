//! The crate's top-level error: one variant per stage, each carrying that stage's typed error, and the
//! mapping from an error to the exit code that SPEC.md fixes.

use std::path::PathBuf;

/// Exit codes of the `sluice` binary (SPEC.md §3–§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The command did what was asked (generate wrote manifests, a window check allowed the sync, ...).
    Success = 0,
    /// The command failed: bad input, a failed render, a broken audit chain, a failed lint.
    Failure = 1,
    /// Usage error: bad arguments, or (for `window check`) an invalid policy.
    Usage = 2,
    /// `window check`: the sync is blocked.
    Blocked = 3,
}

/// Everything that can stop a `sluice` command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Wrong arguments or environment; exits 2.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error(transparent)]
    Transform(#[from] crate::transform::TransformError),
    #[error(transparent)]
    Window(#[from] crate::window::WindowError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    /// A failure that has already been explained on stderr; carries its exit code.
    #[error("{message}")]
    Reported { exit: Exit, message: String },
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::Reported { exit, .. } => *exit,
            _ => Exit::Failure,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
