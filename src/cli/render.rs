//! `sluice render DIR [--env K=V]... [--repo-root DIR]`: the generate pipeline for people and CI, with
//! Argo CD's environment given on the command line instead of taken from the process.

use super::error::{Error, Exit, Result};
use super::output;
use crate::generate::{self, ArgoEnv};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(super) struct RenderArgs {
    /// The app's source directory (where `.sluice.yaml` is).
    dir: PathBuf,
    /// An environment variable as Argo CD would set it, e.g. `ARGOCD_APP_NAME=shop` (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The repository root that policy paths must stay inside (default: the nearest parent with `.git`, else DIR).
    #[arg(long)]
    repo_root: Option<PathBuf>,
    /// Read the manifests from stdin instead of rendering DIR, as `generate --stdin` does.
    #[arg(long)]
    stdin: bool,
}

/// Renders `args.dir`.
///
/// # Errors
///
/// A malformed `--env`, a DIR that is not a directory (usage), or any failure of the pipeline;
/// nothing is written to stdout then.
pub(super) fn run(args: RenderArgs) -> Result<Exit> {
    let mut env = ArgoEnv::from_vars(parse_pairs(&args.env)?);
    // Tools are found on the caller's PATH, and the guard image may come from the caller's environment.
    env.set_default("PATH", std::env::var("PATH").ok());
    env.set_default("SLUICE_IMAGE", std::env::var("SLUICE_IMAGE").ok());
    let dir = args.dir;
    if !dir.is_dir() {
        return Err(Error::Usage(format!("{}: not a directory", dir.display())));
    }
    let root = args
        .repo_root
        .unwrap_or_else(|| generate::repo_root(&dir, None));
    let out = if args.stdin {
        generate::generate_from(&dir, &root, &env, &super::generate::read_stdin()?)?
    } else {
        generate::generate(&dir, &root, &env)?
    };
    output::print(&out)?;
    Ok(Exit::Success)
}

/// Splits `--env` values into variables.
fn parse_pairs(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--env {pair:?}: expected KEY=VALUE, e.g. --env ARGOCD_APP_NAME=shop"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_split_at_the_first_equals_sign() {
        let vars = parse_pairs(&["A=b=c".into(), "E=".into()]).expect("pairs");
        assert_eq!(
            vars,
            vec![("A".into(), "b=c".into()), ("E".into(), String::new())]
        );
    }

    #[test]
    fn env_pair_without_equals_sign_is_a_usage_error() {
        let err = parse_pairs(&["ARGOCD_APP_NAME".into()]).expect_err("no =");
        assert_eq!(err.exit(), Exit::Usage);
        assert!(err.to_string().contains("expected KEY=VALUE"), "{err}");
    }
}
