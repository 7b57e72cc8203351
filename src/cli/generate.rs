//! `sluice generate`, what plugin.yaml runs: the app is the working directory and Argo CD's build
//! environment is the process environment. stdout gets the manifests only when the
//! whole pipeline succeeded. With `--stdin`, the manifests are read from stdin (the output of an
//! earlier step, e.g. `kustomize build . | argocd-vault-plugin generate - | sluice generate --stdin`)
//! instead of being rendered.

use super::error::{Error, Exit, Result};
use super::output;
use crate::generate::{self, ArgoEnv};
use clap::Args;
use std::io::Read;

#[derive(Debug, Args)]
pub(super) struct GenerateArgs {
    /// Read the manifests from stdin instead of rendering the app (for a chain of plugins).
    #[arg(long)]
    stdin: bool,
}

/// Runs the pipeline on the working directory.
///
/// # Errors
///
/// Any failure of the pipeline; nothing is written to stdout then.
pub(super) fn run(args: &GenerateArgs) -> Result<Exit> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let env = ArgoEnv::from_vars(std::env::vars());
    let root = generate::repo_root(&cwd, env.get("ARGOCD_APP_SOURCE_PATH"));
    let docs = if args.stdin {
        generate::generate_from(&cwd, &root, &env, read_stdin()?)?
    } else {
        generate::generate(&cwd, &root, &env)?
    };
    output::print_with(|out| docs.write_to(out))?;
    Ok(Exit::Success)
}

/// All of stdin as text, at most [`crate::render::MAX_RENDER_BYTES`].
pub(super) fn read_stdin() -> Result<String> {
    let limit = crate::render::MAX_RENDER_BYTES;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("stdin", e))?;
    if bytes.len() > limit {
        return Err(Error::Usage(format!(
            "stdin holds more than {limit} bytes of manifests"
        )));
    }
    String::from_utf8(bytes).map_err(|_| Error::Usage("stdin is not UTF-8 text".into()))
}
