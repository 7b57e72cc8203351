//! `sluice serve --listen ADDR --data-dir DIR [--token-file F] [--read-token-file F] [--max-body BYTES]
//! [--max-connections N] [--change-pattern RE] [--workers N] [--watch-applications [--watch-namespaces
//! NS,...] [--watch-grace D] [--kubeconfig F]]
//! [--checkpoint-key-file F [--checkpoint-every N] [--checkpoint-interval D]] [--archive URL [--retention P]]`:
//! the notification sink (docs/audit-log.md). Reads the token and key files, opens the archive (and
//! checks its retention), and validates the arguments into a [`sink::Config`]; the sink does the rest.

use super::error::{Error, Exit, Result};
use crate::archive::retention::Retention;
use crate::commit::DEFAULT_CHANGE_PATTERN;
use crate::evidence::checkpoint::SigningKey;
use crate::ledger::Rolling;
use crate::sink;
use crate::watch::WatchConfig;
use crate::window::duration::parse_go_duration;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: String,
    /// Directory holding audit.jsonl.
    #[arg(long)]
    data_dir: PathBuf,
    /// File holding the write token: the bearer token that POST /v1/events must present (Argo CD
    /// Notifications). Required, unless --insecure-no-auth.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// File holding the read token that GET /v1/records must present (auditors, `sluice audit --server`).
    /// Without it, reading over HTTP is off; the write token never reads.
    #[arg(long)]
    read_token_file: Option<PathBuf>,
    /// Accept every request without a token: only for a trial on this machine, so only with a loopback
    /// --listen address (127.0.0.1, ::1); a warning is logged at every start.
    #[arg(long, conflicts_with_all = ["token_file", "read_token_file", "guard_token_review"])]
    insecure_no_auth: bool,
    /// Take guard reports (POST /v1/guard) with the guard Job's projected `ServiceAccount` token, checked
    /// with the Kubernetes `TokenReview` API (needs create on tokenreviews): a guard may then report only
    /// for apps deployed to its own namespace, and never writes /v1/events. Uses --kubeconfig, else the
    /// in-cluster `ServiceAccount`.
    #[arg(long)]
    guard_token_review: bool,
    /// The audience a guard's token must be issued for (the serviceAccountToken projection's audience).
    #[arg(long, default_value = "sluice", requires = "guard_token_review")]
    guard_audience: String,
    /// Largest request body in bytes (413 past it).
    #[arg(long, default_value_t = sink::http::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Most connections served at once; further ones wait in the listen backlog.
    #[arg(long, default_value_t = sink::server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Pattern the change id at the start of a commit subject must match (`change.idPattern`).
    #[arg(long, default_value = DEFAULT_CHANGE_PATTERN)]
    change_pattern: String,
    /// Seal the active segment (audit.jsonl) into segments/ once it holds this much: bytes, or a
    /// number with KiB, MiB or GiB.
    #[arg(long, default_value = "256MiB")]
    segment_size: String,
    /// Seal the active segment once its first record is this old: a number with s, m, h or d.
    #[arg(long, default_value = "30d")]
    segment_age: String,
    /// Threads that serve the connections (default: one per CPU).
    #[arg(long)]
    workers: Option<usize>,
    /// Also watch Argo CD Applications through the Kubernetes API and record every finished operation
    /// the webhook has not delivered within --watch-grace (needs get/list/watch on applications).
    #[arg(long)]
    watch_applications: bool,
    /// Namespaces whose Applications are watched, comma-separated; default: all namespaces.
    #[arg(long, value_delimiter = ',', requires = "watch_applications")]
    watch_namespaces: Vec<String>,
    /// How long the webhook has to deliver an outcome before the watch records it (Go duration).
    #[arg(long, default_value = "2m", requires = "watch_applications")]
    watch_grace: String,
    /// The kubeconfig for the watch and --guard-token-review; default: KUBECONFIG, else the in-cluster
    /// service account.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// File holding the checkpoint signing key (from `sluice audit keygen`, mounted from a Secret):
    /// the sink then signs checkpoints of the log into DATA_DIR/checkpoints/.
    #[arg(long, env = "SLUICE_CHECKPOINT_KEY_FILE")]
    checkpoint_key_file: Option<PathBuf>,
    /// Sign a checkpoint after this many new records.
    #[arg(long, default_value_t = 1000, env = "SLUICE_CHECKPOINT_EVERY")]
    checkpoint_every: u64,
    /// Sign a checkpoint at least this often while new records come in (Go duration), and at shutdown.
    #[arg(long, default_value = "10m", env = "SLUICE_CHECKPOINT_INTERVAL")]
    checkpoint_interval: String,
    /// Copy sealed segments and checkpoints to this object store: s3://bucket/prefix, gs://…, az://…,
    /// or a directory. Credentials and endpoint come from the store's usual environment (AWS_*, …).
    #[arg(long, env = "SLUICE_ARCHIVE")]
    archive: Option<String>,
    /// Refuse to start unless the archive bucket locks objects at least this long (S3 Object Lock,
    /// COMPLIANCE mode), e.g. 7y or 2555d.
    #[arg(long, requires = "archive", env = "SLUICE_RETENTION")]
    retention: Option<Retention>,
}

/// Serves until SIGTERM or SIGINT.
///
/// # Errors
///
/// Invalid arguments, an unreadable or empty token file, or whatever stops the sink.
pub(super) fn run(args: ServeArgs) -> Result<Exit> {
    // First, before the data directory is opened (and maybe created and verified).
    let listen = listen_addresses(&args.listen)?;
    if args.insecure_no_auth && !listen.iter().all(|a| a.ip().is_loopback()) {
        return Err(Error::Usage(format!(
            "--insecure-no-auth accepts writes from anyone, so only on a loopback address: --listen \
             127.0.0.1:{port} (or give the sink its tokens with --token-file and --read-token-file)",
            port = listen.first().map_or(8080, std::net::SocketAddr::port)
        )));
    }
    if args.token_file.is_none() && !args.insecure_no_auth {
        return Err(Error::Usage(
            "serve needs a write token, or anyone who reaches it could write to the audit log: give \
             --token-file FILE (the token Argo CD Notifications sends; make one with \
             `openssl rand -hex 32 | tr -d '\\n' > FILE`) and --read-token-file FILE for readers \
             (docs/install.md, \"The sink tokens\"); for a trial on this machine only: --listen \
             127.0.0.1:8080 --insecure-no-auth"
                .into(),
        ));
    }
    let change_pattern = regex::Regex::new(&args.change_pattern)
        .map_err(|e| Error::Usage(format!("--change-pattern {:?}: {e}", args.change_pattern)))?;
    if args.max_body == 0 {
        return Err(Error::Usage(
            "--max-body must be at least 1 (bytes; the default is 4194304, 4 MiB)".into(),
        ));
    }
    if args.max_connections == 0 {
        return Err(Error::Usage("--max-connections must be at least 1".into()));
    }
    let token = args
        .token_file
        .as_deref()
        .map(|p| read_token(p, "--token-file"))
        .transpose()?;
    let every = parse_go_duration(&args.checkpoint_interval)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Error::Usage(format!(
                "--checkpoint-interval {:?}: give a positive Go duration such as 10m or 1h",
                args.checkpoint_interval
            ))
        })?;
    if args.checkpoint_every == 0 {
        return Err(Error::Usage("--checkpoint-every must be at least 1".into()));
    }
    let read_token = args
        .read_token_file
        .as_deref()
        .map(|p| read_token(p, "--read-token-file"))
        .transpose()?;
    if read_token.is_some() && read_token == token {
        return Err(Error::Usage(
            "--read-token-file holds the write token: give readers a token of their own".into(),
        ));
    }
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    let watch = args
        .watch_applications
        .then(|| watch_config(&args))
        .transpose()?;
    let guard_review = args.guard_token_review.then(|| sink::GuardReview {
        kubeconfig: kubeconfig(&args),
        audience: args.guard_audience.clone(),
    });
    // The Kubernetes configuration is read now, not after the log was opened.
    if watch.is_some() || guard_review.is_some() {
        crate::watch::check_config(kubeconfig(&args).as_deref())
            .map_err(|e| Error::Usage(e.to_string()))?;
    }
    let rolling = Rolling {
        max_bytes: parse_size(&args.segment_size)?,
        max_age: parse_age(&args.segment_age)?,
    };
    // Last, once every argument is valid: reading the bucket's lock is a request to the store.
    let key = args
        .checkpoint_key_file
        .as_deref()
        .map(read_key)
        .transpose()?;
    let archive = args
        .archive
        .as_deref()
        .map(|url| super::archive::open(url, args.retention))
        .transpose()?;
    if args.insecure_no_auth {
        tracing::warn!(
            listen = %args.listen,
            "--insecure-no-auth: anyone who reaches this address can write to and read the audit log; \
             never run a sink like this for real (give it --token-file and --read-token-file)"
        );
    }
    sink::serve(sink::Config {
        listen: args.listen,
        data_dir: args.data_dir,
        token,
        read_token,
        guard_review,
        change_pattern,
        workers,
        max_body: args.max_body,
        max_connections: args.max_connections,
        watch,
        rolling,
        evidence: sink::evidence::Config {
            key,
            every_records: args.checkpoint_every,
            every: Duration::from_nanos(every.unsigned_abs()),
            archive,
        },
    })?;
    Ok(Exit::Success)
}

/// `--listen` resolved, so that a wrong address is refused before anything else is done.
fn listen_addresses(listen: &str) -> Result<Vec<std::net::SocketAddr>> {
    use std::net::ToSocketAddrs as _;
    let bad = |why: String| {
        Error::Usage(format!(
            "--listen {listen:?}: {why}; give HOST:PORT, e.g. 0.0.0.0:8080 (every interface) or 127.0.0.1:8080 (this machine only)"
        ))
    };
    let addrs: Vec<_> = listen
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(bad("it names no address".into()));
    }
    Ok(addrs)
}

/// `--segment-size`: bytes, or a number with KiB, MiB or GiB (at least 1 byte).
fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => 0,
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Error::Usage(format!(
                "--segment-size {text:?}: give a size such as 268435456, 64KiB, 256MiB or 1GiB"
            ))
        })
}

/// `--segment-age`: a number with s, m, h or d (at least one second).
fn parse_age(text: &str) -> Result<std::time::Duration> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let scale: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => 0,
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| {
            Error::Usage(format!(
                "--segment-age {text:?}: give an age such as 30d, 12h, 90m or 3600s"
            ))
        })
}

/// The bearer token in `path`, without surrounding white space (`echo` adds a newline).
fn read_token(path: &std::path::Path, option: &str) -> Result<String> {
    let raw = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "{option} {}: cannot read the token ({e}); in the install kit it is mounted from the Secret \
             sluice-sink-token (docs/install.md, \"The sink tokens\")",
            path.display()
        ))
    })?;
    let token = raw.trim();
    if token.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the token file is empty; put the bearer token in it (openssl rand -hex 32 | tr -d '\\n' > {})",
            path.display(),
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// The checkpoint signing key in `path`.
pub(super) fn read_key(path: &std::path::Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "--checkpoint-key-file {}: cannot read the key ({e}); make a key pair with `sluice audit keygen --name NAME --out PREFIX` and give PREFIX.key",
            path.display()
        ))
    })?;
    SigningKey::parse(&text).map_err(|e| {
        Error::Usage(format!(
            "{}: {e}; make a key pair with `sluice audit keygen --name NAME --out PREFIX`",
            path.display()
        ))
    })
}

/// The kubeconfig file: `--kubeconfig` or the first of `KUBECONFIG` (which may list several files;
/// kube-rs reads one); `None`: in-cluster.
fn kubeconfig(args: &ServeArgs) -> Option<PathBuf> {
    args.kubeconfig
        .as_ref()
        .and_then(|k| std::env::split_paths(k).find(|p| !p.as_os_str().is_empty()))
}

/// The watch's configuration from the arguments.
fn watch_config(args: &ServeArgs) -> Result<WatchConfig> {
    let nanos = parse_go_duration(&args.watch_grace)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            Error::Usage(format!(
                "--watch-grace {:?}: give a duration of 0 or more, such as 2m or 90s",
                args.watch_grace
            ))
        })?;
    let namespaces = args
        .watch_namespaces
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    Ok(WatchConfig {
        kubeconfig: kubeconfig(args),
        namespaces,
        grace: Duration::from_nanos(nanos),
    })
}
