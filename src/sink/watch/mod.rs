//! The Application watch (docs/audit-log.md, "The Application watch"): a recorder that does not
//! depend on Argo CD Notifications delivering. It lists and watches `argoproj.io/v1alpha1`
//! Applications through the Kubernetes API (kube-rs' `watcher`: list, then watch from the list's
//! `resourceVersion` with bookmarks; a dropped connection resumes from the last version seen; a
//! watch that expired, `410 Gone`, relists), and hands every finished operation the webhook has not
//! delivered within the grace period to the sink's append path, in the shape the webhook posts, so
//! both paths share one idempotency key and never double-count.
//!
//! ```text
//! Kubernetes API → watcher (list | watch | relist on 410) → tracker (grace period, history backfill)
//!   → Recorder (the sink: record → group-commit writer → audit.jsonl)
//! ```
//!
//! It is a task on the sink's runtime ([`run`]), stopped with the rest of the sink; it reads no
//! environment itself (the commands layer passes the kubeconfig path; in-cluster configuration is
//! kube-rs' own). When it is stopped it first records every operation still waiting for the webhook
//! (the writer still runs then): a webhook that comes later is a duplicate, and nothing seen is lost.
//! Its health (failing since when, and why) goes to the recorder, for `/healthz`, `/metrics` and the
//! alert.

mod tracker;

pub use tracker::Tracker;

use crate::ledger::Outcome;
use crate::record::Via;
use futures_util::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// How often pending operations are checked for being due.
const TICK: Duration = Duration::from_millis(250);

/// How the watch runs, validated by the commands layer.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// A kubeconfig file; `None`: the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// Namespaces whose Applications are watched; empty: all (Argo CD's apps in any namespace).
    pub namespaces: Vec<String>,
    /// How long the webhook has to deliver an outcome before the watch records it.
    pub grace: Duration,
    /// The first start over this log: what the first listing holds predates sluice and is imported
    /// (`via: import`), once; then [`Recorder::imported`].
    pub import: bool,
    /// How long the watch may fail before the sink reports itself degraded (the sink's `/healthz`).
    pub unhealthy_after: Duration,
}

/// The sink's append path, as the watch sees it.
pub trait Recorder: Send + Sync + 'static {
    /// Records an event body (`{"event", "app"}`) learnt of by `via`: appended, or found already
    /// recorded under its idempotency key.
    ///
    /// # Errors
    ///
    /// The record could not be made durable (the watch tries again later), or the body is not an
    /// event (it is dropped, with a warning).
    fn record(
        &self,
        body: &Value,
        via: Via,
    ) -> impl Future<Output = Result<Outcome, RecordError>> + Send;

    /// The watch is listing every Application (at start, and after a watch expired).
    fn relisted(&self) {}

    /// The first listing's operations are all recorded (as `via: import`): never import again.
    fn imported(&self) {}

    /// The watch failed (the API server unreachable, access forbidden, …); it retries with backoff.
    fn failing(&self, _error: &str) {}

    /// The watch works (an event or a listing came in).
    fn working(&self) {}

    /// How many finished operations wait for their grace period (or a retry).
    fn waiting(&self, _operations: usize) {}
}

/// Why a record was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The log could not take it now; try again.
    #[error("{0}")]
    Unavailable(String),
    /// Not a valid event (an Application without a name): never recordable.
    #[error("{0}")]
    Invalid(String),
}

/// Why the watch could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot read the kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("no Kubernetes configuration: not in a cluster ({0}); set KUBECONFIG or --kubeconfig")]
    InCluster(#[source] kube::config::InClusterError),
    #[error("cannot make a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

impl WatchError {
    /// Whether the configuration is missing or unreadable (the sink cannot start as called).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            WatchError::Kubeconfig { .. } | WatchError::InCluster(_)
        )
    }
}

/// Checks that the watch's Kubernetes configuration can be read (the kubeconfig file, or the
/// in-cluster service account), without contacting the API server: so that `serve` refuses a wrong
/// configuration before it opens the log.
///
/// # Errors
///
/// As [`client_for`] for a configuration that cannot be read.
pub fn check_config(kubeconfig: Option<&std::path::Path>) -> Result<(), WatchError> {
    match kubeconfig {
        Some(path) => kube::config::Kubeconfig::read_from(path)
            .map(drop)
            .map_err(|source| WatchError::Kubeconfig {
                path: path.to_path_buf(),
                source,
            }),
        None => kube::Config::incluster()
            .map(drop)
            .map_err(WatchError::InCluster),
    }
}

/// A Kubernetes client for the watch, from the kubeconfig or the in-cluster service account.
///
/// # Errors
///
/// The Kubernetes configuration cannot be read or a client made from it. Failures of the API server
/// later (unreachable, forbidden) are logged and retried with backoff by [`run`].
pub async fn client(config: &WatchConfig) -> Result<Client, WatchError> {
    client_for(config.kubeconfig.as_deref()).await
}

/// A Kubernetes client from `kubeconfig`, else the in-cluster configuration (the watch's, and the
/// sink's `TokenReview` client), with the one trust store (src/net.rs). Must be called inside a tokio
/// runtime.
///
/// # Errors
///
/// The configuration cannot be read, or a client made from it.
pub async fn client_for(kubeconfig: Option<&std::path::Path>) -> Result<Client, WatchError> {
    let kube_config = match kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|source| {
                WatchError::Kubeconfig {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|source| WatchError::Kubeconfig {
                path: path.to_path_buf(),
                source,
            })?
        }
        None => kube::Config::incluster().map_err(WatchError::InCluster)?,
    };
    Client::try_from(crate::net::trust_kube(kube_config)).map_err(WatchError::Client)
}

/// `argoproj.io/v1alpha1` `Application`, plural `applications`.
fn application_resource() -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    }
}

/// Watches until `stop` says so (or the watch ends), handing due operations to `recorder`; when
/// stopped, first hands it every operation still waiting, inside its grace period or not.
pub async fn run<R: Recorder>(
    client: Client,
    config: &WatchConfig,
    recorder: &R,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let resource = application_resource();
    let apis: Vec<Api<DynamicObject>> = if config.namespaces.is_empty() {
        vec![Api::all_with(client, &resource)]
    } else {
        config
            .namespaces
            .iter()
            .map(|ns| Api::namespaced_with(client.clone(), ns, &resource))
            .collect()
    };
    // Importing lasts until every stream's first listing is done.
    let mut lists_left = if config.import { apis.len() } else { 0 };
    let mut imports_listed = false;
    let streams = apis.into_iter().map(|api| {
        watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed()
    });
    let mut events = futures_util::stream::select_all(streams);
    let mut tracker = Tracker::new(config.grace);
    tracker.importing((lists_left > 0).then(chrono::Utc::now));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(namespaces = ?config.namespaces, grace_s = config.grace.as_secs(), "watching Applications");
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Apply(app) | Event::InitApply(app))) => {
                    recorder.working();
                    match serde_json::to_value(&app) {
                        Ok(app) => tracker.observe(&app, chrono::Utc::now()),
                        Err(e) => tracing::warn!(error = %e, "an Application could not be read; skipped"),
                    }
                    recorder.waiting(tracker.pending());
                }
                Some(Ok(Event::Init)) => {
                    recorder.working();
                    recorder.relisted();
                    tracing::info!("listing Applications (start, or the watch expired)");
                }
                Some(Ok(Event::InitDone)) => {
                    recorder.working();
                    if lists_left > 0 {
                        lists_left -= 1;
                        if lists_left == 0 {
                            tracker.importing(None);
                            imports_listed = true;
                            tracing::info!(imports = tracker.pending_imports(), "the first listing is in: its syncs are imported once, as from before sluice");
                        }
                    }
                }
                Some(Ok(Event::Delete(_))) => recorder.working(),
                Some(Err(e)) => {
                    recorder.failing(&e.to_string());
                    tracing::warn!(error = %e, "the Application watch failed; it resumes with backoff");
                }
                None => {
                    recorder.failing("the watch ended");
                    tracing::error!("the Application watch ended");
                    return;
                }
            },
            _ = tick.tick() => {
                record_due(&mut tracker, recorder, chrono::Utc::now()).await;
                recorder.waiting(tracker.pending());
                if imports_listed && tracker.pending_imports() == 0 {
                    recorder.imported();
                    imports_listed = false;
                }
            }
            changed = stop.changed() => if changed.is_err() || *stop.borrow() {
                // Shutdown: everything seen is recorded now, inside its grace period or not.
                let pending = tracker.pending();
                record_due(&mut tracker, recorder, chrono::DateTime::<chrono::Utc>::MAX_UTC).await;
                tracing::info!(pending, left = tracker.pending(), "recorded the operations still waiting for the webhook");
                recorder.waiting(tracker.pending());
                return;
            },
        }
    }
}

/// Hands every operation due at `now` to the recorder, one after the other (each waits for its
/// fsync).
async fn record_due<R: Recorder>(
    tracker: &mut Tracker,
    recorder: &R,
    now: chrono::DateTime<chrono::Utc>,
) {
    let due = tracker.due(now);
    if !due.is_empty() {
        tracing::debug!(
            due = due.len(),
            pending = tracker.pending(),
            "recording operations the watch saw"
        );
    }
    for due in due {
        match recorder.record(&due.body, due.via).await {
            Ok(_) => tracker.recorded(&due.key),
            Err(RecordError::Invalid(e)) => {
                tracing::warn!(error = %e, "an operation the watch saw is not an event; dropped");
                tracker.recorded(&due.key);
            }
            Err(RecordError::Unavailable(e)) => {
                tracing::warn!(error = %e, "the log did not take an operation the watch saw; trying again");
                tracker.failed(&due.key, chrono::Utc::now());
            }
        }
    }
}
