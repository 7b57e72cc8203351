//! The archive options shared by `serve`, `audit verify`, `audit archive` and `audit export`: the URL
//! and the store settings, which `object_store` reads from the environment (`AWS_*`, `GOOGLE_*`,
//! `AZURE_*`, lower-cased into its config keys), collected here because only the commands layer reads
//! the environment.

use super::error::{Error, Exit, Result};
use crate::archive::retention::Retention;
use crate::archive::Archive;

/// The store settings in the environment: `AWS_REGION=x` → `("aws_region", "x")`.
fn store_settings() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            ["AWS_", "GOOGLE_", "AZURE_"]
                .iter()
                .any(|p| k.starts_with(p))
        })
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// A current-thread runtime for one archive call from a command.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))
}

/// Opens `url` and, with `retention`, refuses it unless the store locks objects at least that long.
///
/// # Errors
///
/// The URL or settings are wrong, the lock cannot be read, or it is weaker.
pub(super) fn open(url: &str, retention: Option<Retention>) -> Result<Archive> {
    let archive = Archive::open(url, &store_settings()).map_err(failure)?;
    if let Some(want) = retention {
        runtime()?
            .block_on(archive.check_retention(want))
            .map_err(failure)?;
    }
    Ok(archive)
}

/// An archive failure as the command's error (exit 1).
pub(super) fn failure(e: impl std::fmt::Display) -> Error {
    Error::Reported {
        exit: Exit::Failure,
        message: e.to_string(),
    }
}
