//! What ends a command, and the exit code it ends with (README, "Commands"). The stages return their own
//! typed errors; this is the one place that wraps them and decides between exit 1 (the input or a
//! stage failed) and exit 2 (the command was called wrongly, or `window check` got an invalid policy).

use crate::commit::LintError;
use crate::generate::GenerateError;
use crate::ledger::LedgerError;
use crate::record::ReadError;
use crate::sink::SinkError;
use crate::window::WindowError;
use std::path::PathBuf;

/// Exit codes of the `sluice` binary.
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
    /// The reader of stdout went away (`| head`): the command stops quietly with exit 0, as
    /// ripgrep and the coreutils do.
    #[error("stdout is closed")]
    StdoutClosed,
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Lint(#[from] LintError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A failure whose message is the whole story (the guard's "blocked: …"); carries its exit code.
    #[error("{message}")]
    Reported { exit: Exit, message: String },
}

impl Error {
    /// The exit code this error ends the process with.
    #[must_use]
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::StdoutClosed => Exit::Success,
            Error::Reported { exit, .. } => *exit,
            Error::Generate(e) if e.is_usage() => Exit::Usage,
            _ => Exit::Failure,
        }
    }

    /// Whether the error deserves the one line on stderr (a closed stdout does not).
    #[must_use]
    pub fn is_reported(&self) -> bool {
        !matches!(self, Error::StdoutClosed)
    }

    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with the commands' [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_stdout_exits_zero_without_a_message() {
        assert_eq!(Error::StdoutClosed.exit(), Exit::Success);
        assert!(!Error::StdoutClosed.is_reported());
        assert!(Error::Usage("x".into()).is_reported());
    }

    #[test]
    fn generate_errors_that_mean_a_wrong_call_exit_two() {
        let no_policy = Error::from(GenerateError::NoPolicy {
            path: "a/.sluice.yaml".into(),
        });
        assert_eq!(no_policy.exit(), Exit::Usage);
        let io = Error::from(GenerateError::Io {
            path: "a".into(),
            source: std::io::Error::other("x"),
        });
        assert_eq!(io.exit(), Exit::Failure);
    }
}
