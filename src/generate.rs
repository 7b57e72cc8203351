//! The generate pipeline: policy → render → manifest → transform → write. `generate` takes Argo CD's
//! environment from the process; `render` takes it from `--env`.

use crate::cli::RenderArgs;
use crate::{Error, Exit, Result};

/// `sluice generate`.
///
/// # Errors
///
/// Any failure of the pipeline; nothing is written to stdout then.
pub fn generate_from_process() -> Result<Exit> {
    Err(Error::Usage("generate is not built yet".into()))
}

/// `sluice render DIR`.
///
/// # Errors
///
/// Any failure of the pipeline; nothing is written to stdout then.
pub fn render_command(_args: RenderArgs) -> Result<Exit> {
    Err(Error::Usage("render is not built yet".into()))
}
