//! `sluice serve --listen ADDR --data-dir DIR [--token-file F] [--read-token-file F] [--max-body BYTES]
//! [--max-connections N] [--change-pattern RE] [--workers N] [--watch-applications [--watch-namespaces
//! NS,...] [--watch-grace D] [--kubeconfig F]]
//! [--checkpoint-key-file F [--checkpoint-every N] [--checkpoint-interval D] [--witness URL --witness-key F]...]
//! [--archive URL [--retention P]]
//! [--ui-proxy-secret-file F]`:
//! the notification sink (docs/audit-log.md). Reads the token and key files, opens the archive (and
//! checks its retention), and validates the arguments into a [`sink::Config`]; the sink does the rest.

use super::error::{Error, Exit, Result};
use crate::approval::Floor;
use crate::archive::retention::Retention;
use crate::commit::DEFAULT_CHANGE_PATTERN;
use crate::evidence::note::{KeyKind, SigningKey};
use crate::host::client::{Auth, Endpoint};
use crate::host::secret::App;
use crate::ledger::Rolling;
use crate::sink;
use crate::sink::watch::WatchConfig;
use crate::window::duration::parse_span;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

// clap prints these doc lines as help text, where backticks and <> would show as they are. The
// booleans are independent command-line switches, as clap takes them.
#[allow(clippy::doc_markdown, clippy::struct_excessive_bools)]
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
    #[arg(long, default_value_t = sink::handlers::DEFAULT_MAX_BODY)]
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
    /// Seal the active segment once its first record is this old (a span: 30d, 12h, 1h30m, 2w).
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
    /// How long the webhook has to deliver an outcome before the watch records it (a span: 2m, 90s).
    #[arg(long, default_value = "2m", requires = "watch_applications")]
    watch_grace: String,
    /// How long the watch may fail (the API server unreachable, access forbidden) before /healthz says
    /// degraded and sluice_watch_healthy turns 0 (a span: Go duration, or with d and w).
    #[arg(long, default_value = "1m", requires = "watch_applications")]
    watch_unhealthy_after: String,
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
    /// Sign a checkpoint at least this often while new records come in (a span: 10m, 1h), and at
    /// shutdown.
    #[arg(long, default_value = "10m", env = "SLUICE_CHECKPOINT_INTERVAL")]
    checkpoint_interval: String,
    /// A witness (`sluice witness serve`, run by another party) to submit every checkpoint to: its
    /// submission URL (it answers POST URL/add-checkpoint). Repeat for several, each with a --witness-key.
    #[arg(long, requires = "checkpoint_key_file")]
    witness: Vec<String>,
    /// The public key of the --witness at the same position (from `sluice witness keygen`): its
    /// cosignatures are checked with it and kept in DATA_DIR/witnessed/.
    #[arg(long)]
    witness_key: Vec<PathBuf>,
    /// Copy sealed segments and checkpoints to this object store: s3://bucket/prefix, gs://…, az://…,
    /// or a directory. Credentials and endpoint come from the store's usual environment (AWS_*, …).
    #[arg(long, env = "SLUICE_ARCHIVE")]
    archive: Option<String>,
    /// Refuse to start unless the archive bucket locks objects at least this long (S3 Object Lock,
    /// COMPLIANCE mode), e.g. 7y or 2555d.
    #[arg(long, requires = "archive", env = "SLUICE_RETENTION")]
    retention: Option<Retention>,
    /// GitHub's REST API for approvals: https://api.github.com, or GitHub Enterprise Server's
    /// https://HOST/api/v3. Repositories on its host are checked there.
    #[arg(
        long,
        env = "SLUICE_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    github_api_url: String,
    /// File holding a GitHub token with read access to pull requests and contents (a Secret); or use
    /// a GitHub App.
    #[arg(
        long,
        env = "SLUICE_GITHUB_TOKEN_FILE",
        conflicts_with = "github_app_id"
    )]
    github_token_file: Option<PathBuf>,
    /// The GitHub App's id: the sink makes read-only installation tokens with its private key.
    #[arg(long, env = "SLUICE_GITHUB_APP_ID", requires = "github_app_key_file")]
    github_app_id: Option<String>,
    /// File holding the GitHub App's private key (PEM, from a Secret).
    #[arg(long, env = "SLUICE_GITHUB_APP_KEY_FILE", requires = "github_app_id")]
    github_app_key_file: Option<PathBuf>,
    /// The App's installation id; default: the installation of each repository.
    #[arg(
        long,
        env = "SLUICE_GITHUB_INSTALLATION_ID",
        requires = "github_app_id"
    )]
    github_installation_id: Option<u64>,
    /// GitLab for approvals: https://gitlab.com or a self-managed instance's URL.
    #[arg(long, env = "SLUICE_GITLAB_URL", default_value = "https://gitlab.com")]
    gitlab_url: String,
    /// File holding a GitLab token with read_api scope (a Secret).
    #[arg(long, env = "SLUICE_GITLAB_TOKEN_FILE")]
    gitlab_token_file: Option<PathBuf>,
    /// An org minimum for approvals, by project or cluster glob: project=GLOB:RULES or
    /// cluster=GLOB:RULES, RULES as required=N,codeOwners=true,… (repeat the option for several; in the
    /// environment, separate them with `;`).
    #[arg(
        long = "approvals-floor",
        value_name = "SCOPE=GLOB:RULES",
        env = "SLUICE_APPROVALS_FLOOR",
        value_delimiter = ';'
    )]
    approvals_floor: Vec<String>,
    /// Most first-parent commits one change may have to be judged (more: unverified, nothing cut).
    #[arg(long, default_value_t = sink::approvals::DEFAULT_MAX_COMMITS)]
    approvals_max_commits: usize,
    /// Timeout of each request to a Git host (a span: Go duration, or with d and w).
    #[arg(long, default_value = "10s")]
    host_timeout: String,
    /// The ServiceNow instance whose change requests gate syncs (ticket.system: servicenow), e.g.
    /// https://acme.service-now.com.
    #[arg(long, env = "SLUICE_SERVICENOW_URL")]
    servicenow_url: Option<String>,
    /// ServiceNow basic auth: the user (with the role sn_change_read; itil for work notes).
    #[arg(
        long,
        env = "SLUICE_SERVICENOW_USER",
        requires_all = ["servicenow_url", "servicenow_password_file"],
        conflicts_with = "servicenow_client_id"
    )]
    servicenow_user: Option<String>,
    /// File holding the ServiceNow user's password (a Secret).
    #[arg(
        long,
        env = "SLUICE_SERVICENOW_PASSWORD_FILE",
        requires = "servicenow_user"
    )]
    servicenow_password_file: Option<PathBuf>,
    /// ServiceNow OAuth client credentials: the application registry's client id.
    #[arg(
        long,
        env = "SLUICE_SERVICENOW_CLIENT_ID",
        requires_all = ["servicenow_url", "servicenow_client_secret_file"]
    )]
    servicenow_client_id: Option<String>,
    /// File holding the OAuth client secret (a Secret).
    #[arg(
        long,
        env = "SLUICE_SERVICENOW_CLIENT_SECRET_FILE",
        requires = "servicenow_client_id"
    )]
    servicenow_client_secret_file: Option<PathBuf>,
    /// The Jira Cloud site whose issues gate syncs (ticket.system: jira), e.g.
    /// https://acme.atlassian.net.
    #[arg(long, env = "SLUICE_JIRA_URL", requires_all = ["jira_email", "jira_token_file"])]
    jira_url: Option<String>,
    /// The e-mail address of the Atlassian account of the API token.
    #[arg(long, env = "SLUICE_JIRA_EMAIL", requires = "jira_url")]
    jira_email: Option<String>,
    /// File holding the Atlassian API token (a Secret).
    #[arg(long, env = "SLUICE_JIRA_TOKEN_FILE", requires = "jira_url")]
    jira_token_file: Option<PathBuf>,
    /// Timeout of each request to a ticket system (a span: Go duration, or with d and w).
    #[arg(long, default_value = "10s")]
    ticket_timeout: String,
    /// How long a ticket system's answer is reused (a span; 0s: never).
    #[arg(long, default_value = "30s")]
    ticket_cache_ttl: String,
    /// File holding a GitHub token that may push a branch and open pull requests (Contents and Pull
    /// requests: write), used only to open revert pull requests (onFailure: rollback).
    #[arg(long, env = "SLUICE_GITHUB_WRITE_TOKEN_FILE")]
    github_write_token_file: Option<PathBuf>,
    /// Let the GitHub App open revert pull requests: the sink asks it for write tokens (Contents and
    /// Pull requests) for that only; the App must be granted those permissions.
    #[arg(long, env = "SLUICE_GITHUB_APP_WRITES", requires = "github_app_id")]
    github_app_writes: bool,
    /// File holding a GitLab token with api scope, used only to open revert merge requests.
    #[arg(long, env = "SLUICE_GITLAB_WRITE_TOKEN_FILE")]
    gitlab_write_token_file: Option<PathBuf>,
    /// File holding the secret Argo CD's proxy extension adds as the Sluice-Proxy-Secret header
    /// (argocd-cm extension.config.sluice): turns on the UI extension's API (docs/ui.md).
    #[arg(long, env = "SLUICE_UI_PROXY_SECRET_FILE")]
    ui_proxy_secret_file: Option<PathBuf>,
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
    let every = span("--checkpoint-interval", &args.checkpoint_interval, true)?;
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
        crate::sink::watch::check_config(kubeconfig(&args).as_deref())
            .map_err(|e| Error::Usage(e.to_string()))?;
    }
    if args.witness.len() != args.witness_key.len() {
        return Err(Error::Usage(format!(
            "{} --witness but {} --witness-key: give each witness's URL and public key, in the same order",
            args.witness.len(),
            args.witness_key.len()
        )));
    }
    let witnesses = args
        .witness
        .iter()
        .zip(&args.witness_key)
        .map(|(url, path)| {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::Usage(format!(
                    "--witness {url:?}: give the witness's http:// or https:// URL"
                )));
            }
            let key = super::audit::read_public_key(path)?;
            key.kind()
                .expect(KeyKind::Witness)
                .map_err(|e| Error::Reported {
                    exit: Exit::Failure,
                    message: format!("{}: {e}", path.display()),
                })?;
            Ok((url.clone(), key))
        })
        .collect::<Result<Vec<_>>>()?;
    let rolling = Rolling {
        max_bytes: parse_size(&args.segment_size)?,
        max_age: span("--segment-age", &args.segment_age, true)?,
    };
    let approvals = approvals_config(&args)?;
    let tickets = tickets_config(&args)?;
    let rollback = rollback_endpoints(&args)?;
    let ui_proxy_secret = ui_proxy_secret(&args, token.as_deref(), read_token.as_deref())?;
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
            every,
            archive,
            witnesses,
        },
        approvals,
        tickets,
        rollback,
        ui_proxy_secret,
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

/// The ticket systems and their credentials. Credential files are checked now (readable, not empty)
/// and read again for every request (an OAuth token is kept until it expires), so a rotated Secret is
/// picked up.
fn tickets_config(args: &ServeArgs) -> Result<sink::tickets::Config> {
    use crate::itsm::client::{base_url, Config, Instance, ServiceNowAuth, Site};
    let usage = |m: String| Error::Usage(m);
    let servicenow = match &args.servicenow_url {
        None => None,
        Some(url) => {
            let url = base_url(url, "https://acme.service-now.com")
                .map_err(|e| usage(format!("--servicenow-url {e}")))?;
            let auth = match (
                &args.servicenow_user,
                &args.servicenow_password_file,
                &args.servicenow_client_id,
                &args.servicenow_client_secret_file,
            ) {
                (Some(user), Some(file), _, _) => {
                    read_token(file, "--servicenow-password-file")?;
                    ServiceNowAuth::Basic {
                        user: user.clone(),
                        password_file: file.clone(),
                    }
                }
                (_, _, Some(id), Some(file)) => {
                    read_token(file, "--servicenow-client-secret-file")?;
                    ServiceNowAuth::OAuth {
                        client_id: id.clone(),
                        secret_file: file.clone(),
                    }
                }
                _ => {
                    return Err(usage("--servicenow-url needs credentials: --servicenow-user with --servicenow-password-file, or --servicenow-client-id with --servicenow-client-secret-file".into()))
                }
            };
            Some(Instance { url, auth })
        }
    };
    let jira = match (&args.jira_url, &args.jira_email, &args.jira_token_file) {
        (Some(url), Some(email), Some(file)) => {
            read_token(file, "--jira-token-file")?;
            Some(Site {
                url: base_url(url, "https://acme.atlassian.net")
                    .map_err(|e| usage(format!("--jira-url {e}")))?,
                email: email.clone(),
                token_file: file.clone(),
            })
        }
        _ => None,
    };
    Ok(sink::tickets::Config {
        systems: Config {
            servicenow,
            jira,
            call_timeout: span("--ticket-timeout", &args.ticket_timeout, true)?,
            cache_ttl: span("--ticket-cache-ttl", &args.ticket_cache_ttl, false)?,
        },
        decide_budget: sink::tickets::DECIDE_BUDGET,
        after_budget: sink::tickets::AFTER_BUDGET,
        writeback_budget: sink::tickets::WRITEBACK_BUDGET,
    })
}

/// The hosts the sink may write to (revert pull requests), each with its write credential, checked
/// now. None: `onFailure: rollback` records the commands instead.
fn rollback_endpoints(args: &ServeArgs) -> Result<Vec<Endpoint>> {
    let usage = |m: String| Error::Usage(m);
    let mut out = Vec::new();
    let github = match (
        &args.github_write_token_file,
        args.github_app_writes,
        &args.github_app_id,
        &args.github_app_key_file,
    ) {
        (Some(file), _, _, _) => {
            read_token(file, "--github-write-token-file")?;
            Some(Auth::Token(file.clone()))
        }
        (None, true, Some(id), Some(key)) => Some(Auth::App(App {
            id: id.clone(),
            key_file: key.clone(),
            installation: args.github_installation_id,
        })),
        _ => None,
    };
    if let Some(auth) = github {
        out.push(
            Endpoint::github(&args.github_api_url, auth)
                .map_err(|e| usage(format!("--github-api-url: {e}")))?,
        );
    }
    if let Some(file) = &args.gitlab_write_token_file {
        read_token(file, "--gitlab-write-token-file")?;
        out.push(
            Endpoint::gitlab(&args.gitlab_url, Auth::Token(file.clone()))
                .map_err(|e| usage(format!("--gitlab-url: {e}")))?,
        );
    }
    Ok(out)
}

/// The Git hosts, their credentials and the floors. Credential files are checked now (readable, a
/// usable key) and read again whenever a token is made, so a rotated Secret is picked up.
fn approvals_config(args: &ServeArgs) -> Result<sink::approvals::Config> {
    let usage = |m: String| Error::Usage(m);
    let github_auth = match (
        &args.github_token_file,
        &args.github_app_id,
        &args.github_app_key_file,
    ) {
        (Some(file), _, _) => {
            read_token(file, "--github-token-file")?;
            Auth::Token(file.clone())
        }
        (None, Some(id), Some(key)) => {
            let app = App {
                id: id.clone(),
                key_file: key.clone(),
                installation: args.github_installation_id,
            };
            app.jwt(chrono::Utc::now().timestamp())
                .map_err(|e| Error::Reported {
                    exit: Exit::Failure,
                    message: e.to_string(),
                })?;
            Auth::App(app)
        }
        _ => Auth::None,
    };
    let gitlab_auth = match &args.gitlab_token_file {
        Some(file) => {
            read_token(file, "--gitlab-token-file")?;
            Auth::Token(file.clone())
        }
        None => Auth::None,
    };
    let endpoints = vec![
        Endpoint::github(&args.github_api_url, github_auth)
            .map_err(|e| usage(format!("--github-api-url: {e}")))?,
        Endpoint::gitlab(&args.gitlab_url, gitlab_auth)
            .map_err(|e| usage(format!("--gitlab-url: {e}")))?,
    ];
    let floors = args
        .approvals_floor
        .iter()
        .map(|f| Floor::parse(f).map_err(|e| usage(format!("--approvals-floor {e}"))))
        .collect::<Result<Vec<_>>>()?;
    if args.approvals_max_commits == 0 {
        return Err(usage("--approvals-max-commits must be at least 1".into()));
    }
    let call_timeout = span("--host-timeout", &args.host_timeout, true)?;
    Ok(sink::approvals::Config {
        endpoints,
        floors,
        max_commits: args.approvals_max_commits,
        call_timeout,
        decide_budget: sink::approvals::DECIDE_BUDGET,
        after_budget: sink::approvals::AFTER_BUDGET,
    })
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

/// A span flag (`parse_span`'s grammar); `positive`: zero is refused.
fn span(flag: &str, text: &str, positive: bool) -> Result<Duration> {
    match parse_span(text.trim()) {
        Ok(d) if positive && d.is_zero() => Err(Error::Usage(format!(
            "{flag} {text:?}: give a span longer than zero, such as 30d, 12h or 90s"
        ))),
        Ok(d) => Ok(d),
        Err(e) => Err(Error::Usage(format!("{flag}: {e}"))),
    }
}

/// The UI proxy's secret: never one of the tokens (the proxy adds it to every user's request).
fn ui_proxy_secret(
    args: &ServeArgs,
    write: Option<&str>,
    read: Option<&str>,
) -> Result<Option<String>> {
    let Some(path) = args.ui_proxy_secret_file.as_deref() else {
        return Ok(None);
    };
    let secret = read_token(path, "--ui-proxy-secret-file")?;
    if Some(secret.as_str()) == write || Some(secret.as_str()) == read {
        return Err(Error::Usage(
            "--ui-proxy-secret-file holds a sink token: give Argo CD's proxy a secret of its own"
                .into(),
        ));
    }
    Ok(Some(secret))
}

/// The bearer token in `path`, without surrounding white space (`echo` adds a newline).
fn read_token(path: &std::path::Path, option: &str) -> Result<String> {
    let raw = std::fs::read_to_string(path).map_err(|e| {
        // The sink's own tokens come from the kit's Secret; a Git host's or ticket system's
        // credential from the Secret its docs name.
        let from = if matches!(option, "--token-file" | "--read-token-file") {
            "in the install kit it is mounted from the Secret sluice-sink-token (docs/install.md, \"The sink tokens\")"
        } else {
            "mount the credential from its Secret and give the mounted file (docs/install.md)"
        };
        Error::Usage(format!(
            "{option} {}: cannot read the token ({e}); {from}",
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
    let key = SigningKey::parse(&text).map_err(|e| {
        Error::Usage(format!(
            "{}: {e}; make a key pair with `sluice audit keygen --name NAME --out PREFIX`",
            path.display()
        ))
    })?;
    key.kind()
        .expect(KeyKind::Log)
        .map_err(|e| Error::Reported {
            exit: Exit::Failure,
            message: format!("{}: {e}", path.display()),
        })?;
    Ok(key)
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
    let grace = span("--watch-grace", &args.watch_grace, false)?;
    let unhealthy_after = span(
        "--watch-unhealthy-after",
        &args.watch_unhealthy_after,
        false,
    )?;
    let namespaces = args
        .watch_namespaces
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    Ok(WatchConfig {
        kubeconfig: kubeconfig(args),
        namespaces,
        grace,
        // The sink decides from its data directory whether this is the first start.
        import: false,
        unhealthy_after,
    })
}
