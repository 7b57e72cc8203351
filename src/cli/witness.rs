//! `sluice witness keygen --name NAME --out PREFIX` and `sluice witness serve --listen ADDR --state-dir
//! DIR --key-file F --log-key F... [--max-connections N]`: a witness for sluice's audit logs (C2SP
//! tlog-witness, docs/witness.md), run by another party than the sink's operator. Reads the key files
//! and builds the runtime; the witness serves until SIGTERM or SIGINT.

use super::error::{Error, Exit, Result};
use crate::evidence::note::{KeyKind, SigningKey};
use crate::evidence::witness::Witness;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub(super) enum WitnessCommand {
    /// Make an Ed25519 cosigning key pair for a witness (C2SP tlog-cosignature, type 0x04).
    Keygen(KeygenArgs),
    /// Run the witness: cosign each log's checkpoints that extend the last one it cosigned.
    Serve(ServeArgs),
}

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(super) struct KeygenArgs {
    /// The witness's name, e.g. witness.security.example.com/sluice (no spaces, no '+').
    #[arg(long)]
    name: String,
    /// Where to write: PREFIX.key (private, for the witness) and PREFIX.pub (public, for the sink's
    /// --witness-key and the auditors' --witness-key).
    #[arg(long)]
    out: PathBuf,
}

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8090")]
    listen: String,
    /// Directory keeping the last checkpoint cosigned for each log (persist it: a witness that forgets
    /// can be shown a rewritten history).
    #[arg(long)]
    state_dir: PathBuf,
    /// The witness's private key file (from `sluice witness keygen`).
    #[arg(long, env = "SLUICE_WITNESS_KEY_FILE")]
    key_file: PathBuf,
    /// A log's public key file (from `sluice audit keygen`; repeat for several logs): the witness
    /// cosigns only checkpoints signed by these keys, each log named by its key's name.
    #[arg(long, required = true)]
    log_key: Vec<PathBuf>,
    /// Most connections served at once.
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
}

/// Runs one witness command.
///
/// # Errors
///
/// Bad arguments or keys, a state directory in use, or a listener that cannot be bound.
pub(super) fn run(command: WitnessCommand) -> Result<Exit> {
    match command {
        WitnessCommand::Keygen(args) => {
            let key = SigningKey::generate(&args.name, KeyKind::Witness)
                .map_err(|e| Error::Usage(format!("--name: {e}")))?;
            super::audit::keygen::write_pair(&key, &args.out)
        }
        WitnessCommand::Serve(args) => serve(&args),
    }
}

fn failure(e: impl std::fmt::Display) -> Error {
    Error::Reported {
        exit: Exit::Failure,
        message: e.to_string(),
    }
}

fn serve(args: &ServeArgs) -> Result<Exit> {
    if args.max_connections == 0 {
        return Err(Error::Usage("--max-connections must be at least 1".into()));
    }
    let text = std::fs::read_to_string(&args.key_file).map_err(|e| Error::io(&args.key_file, e))?;
    let key = SigningKey::parse(&text)
        .map_err(|e| failure(format!("{}: {e}", args.key_file.display())))?;
    let logs = args
        .log_key
        .iter()
        .map(|p| super::audit::read_public_key(p))
        .collect::<Result<Vec<_>>>()?;
    let witness = Witness::new(key, logs, &args.state_dir)
        .map_err(|e| failure(format!("{}: {e}", args.key_file.display())))?;
    let _lock = crate::witness::lock_state(&args.state_dir).map_err(failure)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("witness")
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    // Handled from before the port is bound (src/signals.rs).
    let signals = crate::signals::Stop::listen_in(&runtime, "witness");
    let listener = std::net::TcpListener::bind(&args.listen)
        .map_err(|e| failure(format!("cannot listen on {}: {e}", args.listen)))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("listener", e))?;
    tracing::info!(key = %witness.verifier().to_text(), logs = ?witness.origins(), "witness started");
    runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| Error::io("listener", e))?;
        crate::witness::serve(
            listener,
            Arc::new(witness),
            args.max_connections,
            stop(signals),
        )
        .await;
        Ok::<_, Error>(())
    })?;
    Ok(Exit::Success)
}

/// Resolves on SIGTERM or SIGINT (never, if they cannot be listened for).
async fn stop(signals: Option<crate::signals::Stop>) {
    crate::signals::Stop::received_if(signals).await;
    tracing::info!("stopping: no longer accepting, requests in flight answered");
}
