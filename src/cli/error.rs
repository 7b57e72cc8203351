//! What ends a command, and the exit code it ends with: one table for the whole binary (README, "Exit
//! codes"). The stages return their own typed errors; this is the one place that wraps them and decides
//! the code. 1 means the command ran and the answer is no (a check failed, something refused or broke
//! while it ran); 2 means it could not run as called (arguments, or an input it was pointed at).

use crate::commit::LintError;
use crate::generate::GenerateError;
use crate::ledger::LedgerError;
use crate::record::ReadError;
use crate::sink::SinkError;
use crate::window::WindowError;
use std::path::PathBuf;

/// Exit codes of the `sluice` binary, the same for every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The command did what was asked (generate wrote manifests, a window check allowed the sync, ...).
    Success = 0,
    /// The check failed or the action was refused: a broken audit chain, a commit message that breaks
    /// the rules, a head that does not render (`diff`), changes with `diff --exit-code`, a sink that
    /// refuses or cannot be reached, a sink that stopped with an error.
    Failure = 1,
    /// Usage or input error: bad arguments, a file that is missing or cannot be read, an invalid
    /// policy, manifests that do not render, no audit log where one was expected. Nothing was done.
    Usage = 2,
    /// The maintenance window is closed (`window check`, and the guard).
    Blocked = 3,
}

/// Everything that can stop a `sluice` command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Wrong arguments or environment, or an input the command was pointed at that is unusable (a
    /// missing audit log, a malformed key file); exits 2. The message names it and the fix.
    #[error("{0}")]
    Usage(String),

    /// A file named on the command line could not be read or written; exits 2.
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
            Error::Usage(_) | Error::Io { .. } | Error::Generate(_) | Error::Window(_) => {
                Exit::Usage
            }
            Error::StdoutClosed => Exit::Success,
            Error::Reported { exit, .. } => *exit,
            Error::Sink(e) if e.is_usage() => Exit::Usage,
            Error::Ledger(_) | Error::Read(_) | Error::Lint(_) | Error::Sink(_) => Exit::Failure,
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
    fn every_generate_error_is_an_input_error() {
        let no_policy = Error::from(GenerateError::NoPolicy {
            path: "a/.sluice.yaml".into(),
        });
        assert_eq!(no_policy.exit(), Exit::Usage);
        let io = Error::from(GenerateError::Io {
            path: "a".into(),
            source: std::io::Error::other("x"),
        });
        assert_eq!(io.exit(), Exit::Usage);
    }
}
