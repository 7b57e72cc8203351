//! Credentials in memory and on disk: a [`Secret`] never prints (its `Debug` and `Display` show
//! `[redacted]`), and token files (a Kubernetes Secret mounted in the sink) are read when a token is
//! needed, so a rotated Secret is used from the next request on. Errors name files, never content.

use std::path::Path;

/// A credential in memory. `Debug` and `Display` print `[redacted]`; the only way to the text is
/// [`Secret::expose`], used where a header is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    /// The credential itself, for a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a credential cannot be had. The messages name files, never their content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{path}: not an RSA private key in PEM form (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY): {reason}")]
    Key { path: String, reason: String },
}

/// Reads a token file (trimmed: `echo` adds a newline).
///
/// # Errors
///
/// The file cannot be read or is empty.
pub fn read_token(path: &Path) -> Result<Secret, SecretError> {
    let file_error = |reason: String| SecretError::File {
        path: path.display().to_string(),
        reason,
    };
    let raw = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let token = raw.trim();
    if token.is_empty() {
        return Err(file_error("the token file is empty".into()));
    }
    Ok(Secret(token.to_owned()))
}
