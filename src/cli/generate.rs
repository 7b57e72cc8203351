//! `sluice generate`, what plugin.yaml runs: the app is the working directory and Argo CD's build
//! environment is the process environment. stdout gets the manifests only when the
//! whole pipeline succeeded.

use super::error::{Error, Exit, Result};
use super::output;
use crate::generate::{self, ArgoEnv};

/// Runs the pipeline on the working directory.
///
/// # Errors
///
/// Any failure of the pipeline; nothing is written to stdout then.
pub(super) fn run() -> Result<Exit> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let env = ArgoEnv::from_vars(std::env::vars());
    let root = generate::repo_root(&cwd, env.get("ARGOCD_APP_SOURCE_PATH"));
    output::print(&generate::generate(&cwd, &root, &env)?)?;
    Ok(Exit::Success)
}
