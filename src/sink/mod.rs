//! The notification sink (SPEC.md §5): HTTP on tiny_http with a bounded worker pool, limits, bearer
//! auth, and handlers that turn Argo CD Notifications events into audit records.

use crate::cli::ServeArgs;
use crate::{Error, Exit, Result};

/// Why the sink could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{0}")]
    Start(String),
}

/// `sluice serve`.
///
/// # Errors
///
/// The listener, the token file or the data directory cannot be opened.
pub fn serve(_args: ServeArgs) -> Result<Exit> {
    Err(Error::Usage("serve is not built yet".into()))
}
