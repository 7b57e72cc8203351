//! sluice: change management for Argo CD, in two pipelines that share one crate.
//!
//! **generate** (the config-management plugin, run by argocd-cmp-server on every refresh):
//!
//! ```text
//! policy (.sluice.yaml) → render (directory | kustomize | helm) → manifest (read as Kubernetes reads YAML)
//!   → transform (checksums, guard, backup, migrations) → manifest::write (stdout, only on success)
//! ```
//!
//! **serve** (the notification sink, called by Argo CD Notifications on every sync outcome):
//!
//! ```text
//! sink (HTTP request → limits → auth → event) → audit (record → canonical bytes → hash chain → append + fsync)
//! ```
//!
//! `window` holds the Argo CD sync-window language and the decision rule, used by `window check`, by the
//! guard Job at sync time and by policy validation at generate time. Everything under `transform`,
//! `window` and the record hashing is pure: time and environment are passed in.

pub mod audit;
pub mod cli;
pub mod error;
pub mod generate;
pub mod manifest;
pub mod parallel;
pub mod policy;
pub mod render;
pub mod sink;
pub mod transform;
pub mod window;

pub use error::{Error, Exit, Result};

use cli::{AuditCommand, Cli, Command, LogFormat, WindowCommand};

/// Runs one command of the CLI.
///
/// # Errors
///
/// Whatever the command fails with; [`Error::exit`] gives the exit code.
pub fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Generate => generate::generate_from_process(),
        Command::Render(args) => generate::render_command(args),
        Command::Window(WindowCommand::Check(args)) => window::check_command(args),
        Command::Guard(args) => window::guard_command(args),
        Command::Serve(args) => sink::serve(args),
        Command::Audit(AuditCommand::Verify { data_dir }) => audit::verify_command(&data_dir),
        Command::Audit(AuditCommand::List(args)) => audit::list_command(args),
        Command::Audit(AuditCommand::Show {
            data_dir,
            change_id,
        }) => audit::show_command(&data_dir, &change_id),
        Command::LintCommit(args) => audit::lint_commit_command(args),
    }
}

/// Sets up tracing on stderr (stdout carries results only). `SLUICE_LOG` sets the filter (default `info`).
pub fn init_logging(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second initialisation (only possible in tests) is harmless, so its error is ignored.
    let _ = match cli.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.without_time().try_init(),
    };
}
