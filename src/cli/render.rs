//! `sluice render DIR [-o yaml|json] [--show-secrets] [--env K=V]... [--repo-root DIR]`: the generate
//! pipeline for people and CI, with Argo CD's environment given on the command line instead of taken
//! from the process. YAML by default (`# Source:` before each document, every ambiguous string
//! quoted, README "How generate reads and writes manifests"); JSON documents as `generate` prints
//! them with `-o json`. Secret values are hidden unless `--show-secrets`.

use super::error::{Error, Exit, Result};
use super::output;
use crate::generate::{self, ArgoEnv};
use crate::manifest::{emit, redact, Document};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// How `render` writes documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    /// Block-style YAML for people, `# Source: <file>` before each document.
    Yaml,
    /// JSON documents separated by `---`, as `generate` prints them for Argo CD.
    Json,
}

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
    /// Output format.
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = Format::Yaml)]
    output: Format,
    #[allow(clippy::doc_markdown)]
    /// Print the values of Secrets and SealedSecrets (hidden by default: render output ends up in CI logs).
    #[arg(long)]
    show_secrets: bool,
}

/// Renders `args.dir`.
///
/// # Errors
///
/// A malformed `--env`, a DIR that is not a directory (usage), or any failure of the pipeline;
/// nothing is written to stdout then.
pub(super) fn run(args: RenderArgs) -> Result<Exit> {
    let env = argo_env(&args.env)?;
    let dir = args.dir;
    if !dir.is_dir() {
        return Err(Error::Usage(format!("{}: not a directory", dir.display())));
    }
    let root = args
        .repo_root
        .unwrap_or_else(|| generate::repo_root(&dir, None));
    let stdin = if args.stdin {
        Some(super::generate::read_stdin()?)
    } else {
        None
    };
    let (docs, warnings) = generate::documents_and_warnings(&dir, &root, &env, stdin)?;
    // The render tools' own warnings (kustomize deprecations) go to stderr, as the tools print them.
    let mut stderr = std::io::stderr().lock();
    for warning in warnings {
        let _ =
            std::io::Write::write_fmt(&mut stderr, format_args!("sluice: warning: {warning}\n"));
    }
    drop(stderr);
    output::print(write(&docs, args.output, args.show_secrets).as_bytes())?;
    Ok(Exit::Success)
}

/// Argo CD's environment from `--env` pairs, plus the caller's `PATH` (to find the render tools),
/// `SLUICE_IMAGE` (the guard image) and `SLUICE_SINK_URL` (where the guard asks for approvals) unless
/// given.
pub(super) fn argo_env(pairs: &[String]) -> Result<ArgoEnv> {
    let mut env = ArgoEnv::from_vars(parse_pairs(pairs)?);
    env.set_default("PATH", std::env::var("PATH").ok());
    env.set_default("SLUICE_IMAGE", std::env::var("SLUICE_IMAGE").ok());
    env.set_default("SLUICE_SINK_URL", std::env::var("SLUICE_SINK_URL").ok());
    Ok(env)
}

/// The documents in `format`, Secret values hidden unless `show_secrets`.
fn write(docs: &[Document], format: Format, show_secrets: bool) -> String {
    let mut out = String::with_capacity(docs.len() * 1024);
    for doc in docs {
        let mut object = doc.to_object();
        let hidden = !show_secrets && redact::hide_secret_values(&mut object);
        match format {
            Format::Json => {
                out.push_str("---\n");
                if hidden {
                    // A Map<String, Value> serialises without error.
                    out.push_str(&serde_json::to_string(&object).unwrap_or_default());
                } else {
                    out.push_str(doc.json());
                }
                out.push('\n');
            }
            Format::Yaml => {
                emit::push_document(
                    &mut out,
                    &doc.source.file,
                    &serde_json::Value::Object(object),
                );
            }
        }
    }
    out
}

/// Splits `--env` values into variables.
pub(super) fn parse_pairs(pairs: &[String]) -> Result<Vec<(String, String)>> {
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
