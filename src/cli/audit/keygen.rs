//! `sluice audit keygen --name NAME --out PREFIX`: a new Ed25519 key pair for signed checkpoints, in the
//! text forms of Go's `note` package: `PREFIX.key` (the private key, mode 0600, for the sink's Secret)
//! and `PREFIX.pub` (the public key, for `audit verify --public-key`). Neither file may exist.

use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use crate::evidence::note::{KeyKind, SigningKey};
use clap::Args;
use std::io::Write as _;
use std::path::{Path, PathBuf};

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(in crate::cli) struct KeygenArgs {
    /// The key's name, which is also the origin line of every checkpoint it signs: name the log, e.g.
    /// argocd.example.com/sluice (no spaces, no '+').
    #[arg(long)]
    name: String,
    /// Where to write: PREFIX.key (private) and PREFIX.pub (public).
    #[arg(long)]
    out: PathBuf,
}

/// Writes the pair and prints the public key.
///
/// # Errors
///
/// The name is not valid (usage), a file exists already or cannot be written.
pub(super) fn run(args: &KeygenArgs) -> Result<Exit> {
    let key = SigningKey::generate(&args.name, KeyKind::Log)
        .map_err(|e| Error::Usage(format!("--name: {e}")))?;
    write_pair(&key, &args.out)
}

/// Writes `key` as `out.key` (0600) and its public key as `out.pub`, neither existing before, and
/// prints the public key.
///
/// # Errors
///
/// A file exists already or cannot be written.
pub(in crate::cli) fn write_pair(key: &SigningKey, out: &Path) -> Result<Exit> {
    let with = |ext: &str| {
        let mut path = out.to_path_buf().into_os_string();
        path.push(ext);
        PathBuf::from(path)
    };
    let (private, public) = (with(".key"), with(".pub"));
    for path in [&private, &public] {
        if path.exists() {
            return Err(Error::Reported {
                exit: Exit::Failure,
                message: format!(
                    "{}: exists already; keygen never replaces a key (move it away, or choose another --out)",
                    path.display()
                ),
            });
        }
    }
    let verifier = key.verifier().to_text();
    write_new(&private, &key.to_private_text(), 0o600)?;
    if let Err(e) = write_new(&public, &verifier, 0o644) {
        // Nothing half made: without its public half the private key is of no use.
        let _ = std::fs::remove_file(&private);
        return Err(e);
    }
    output::print_line(&verifier)?;
    Ok(Exit::Success)
}

/// Creates `path` (never replacing a file) with `mode` from the start, writes `text` and a newline.
fn write_new(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(path, e))
}
