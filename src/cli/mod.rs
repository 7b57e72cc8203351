//! The commands layer: the command line (README, "Commands") as clap types, and one file per command. This is
//! the only code that reads arguments, the process environment, stdin and stdout, and the only code
//! that maps errors to exit codes. Each command turns its raw arguments into the validated
//! configuration of the stage it drives, calls it, and prints the result. Nothing below imports it.

mod archive;
mod audit;
mod diff;
mod error;
mod generate;
mod guard;
mod lint_commit;
mod output;
mod render;
mod serve;
mod verify;
mod window;
mod witness;

#[cfg(test)]
mod grammar_tests;

pub use error::{Error, Exit, Result};
pub use output::report;

use clap::{Parser, Subcommand, ValueEnum};

/// Change management for Argo CD: a config-management plugin and an audit-log notification sink.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr [default: text].
    // No clap default: a global argument with a default shows up in the usage line of every error.
    #[arg(long, global = true, value_enum, env = "SLUICE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

/// How log lines on stderr look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// clap prints these doc lines as help text, where backticks would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Render the app in the working directory with Argo CD's environment (what plugin.yaml runs).
    Generate(generate::GenerateArgs),
    /// Render DIR as `generate` would, with the given environment instead of the process's.
    Render(render::RenderArgs),
    /// Render the app at two Git revisions and show what changes: summary, weakened controls, YAML diffs.
    Diff(diff::DiffArgs),
    /// Evaluate maintenance windows and freezes.
    #[command(subcommand)]
    Window(window::WindowCommand),
    /// The PreSync guard: allow, wait for, or refuse the sync now (runs inside the hook Job).
    Guard(guard::GuardArgs),
    /// The PostSync verification: run the policy's checks, report them, fail the sync if asked (runs inside the hook Job).
    Verify(verify::VerifyArgs),
    /// Run the notification sink that appends every sync outcome to the audit log.
    // Boxed: the sink's options make it the largest variant by far.
    Serve(Box<serve::ServeArgs>),
    /// Read and verify the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Check a commit message: change id in the subject, required trailers.
    LintCommit(lint_commit::LintCommitArgs),
    /// A witness for audit logs (run by another party): cosigns checkpoints that extend what it saw.
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
}

/// Runs one command of the CLI.
///
/// # Errors
///
/// Whatever the command fails with; [`Error::exit`] gives the exit code.
pub fn run(cli: Cli) -> Result<Exit> {
    crate::net::install_provider();
    match cli.command {
        Command::Generate(args) => generate::run(&args),
        Command::Render(args) => render::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Window(window::WindowCommand::Check(args)) => window::check(args),
        Command::Guard(args) => guard::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Audit(command) => audit::run(command),
        Command::LintCommit(args) => lint_commit::run(&args),
        Command::Witness(command) => witness::run(command),
    }
}

/// Sets up tracing on stderr (stdout carries results only). `SLUICE_LOG` sets the filter (default
/// `info`). A log line that cannot be written is dropped: see [`output::LogWriter`].
pub fn init_logging(format: Option<LogFormat>) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(output::LogWriter)
        .log_internal_errors(false)
        .with_target(false);
    // A second initialisation (only possible in tests) is harmless, so its error is ignored.
    let _ = match format.unwrap_or(LogFormat::Text) {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.without_time().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every argument of every command, with the path of commands to it, that has no help text.
    fn without_help(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = ["help", "version"].contains(&arg.get_id().as_str());
            if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() && sub.get_name() != "help" {
                out.push(format!("{path} {} (the command itself)", sub.get_name()));
            }
            without_help(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_and_command_has_help_text() {
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        without_help(&cmd, "sluice", &mut missing);
        assert_eq!(missing, Vec::<String>::new(), "arguments without help text");
        // The control: the walk does reach the audit flags.
        let list = cmd
            .find_subcommand("audit")
            .and_then(|a| a.find_subcommand("list"))
            .expect("audit list");
        for flag in [
            "data_dir",
            "server",
            "token_file",
            "since",
            "limit",
            "output",
        ] {
            assert!(
                list.get_arguments().any(|a| a.get_id() == flag),
                "audit list has no {flag}"
            );
        }
    }
}
