//! Gate findings (docs/audit-log.md, "Gate findings"): did the sync pass through sluice's gate (the
//! window guard, the pre-change backup, the migrations), and if not, why. Takes the Application as Argo
//! CD wrote it and what earlier records taught about its app; gives the record's `gate` member and
//! the reasons `audit exceptions` lists. Pure: no clock, no I/O.
//!
//! What skips the gate, and how it shows in the Application (Argo CD's
//! pkg/apis/application/v1alpha1/types.go):
//! - a **selective sync** runs no hooks (Argo CD docs, user-guide/selective_sync.md):
//!   `operation.sync.resources` is set only for one;
//! - a **rollback** runs no hooks (argo-cd #1927): server/application/application.go `Rollback`
//!   builds a sync whose `operation.sync.source` (or `sources`) is the history entry's, which a
//!   normal sync leaves empty;
//! - a source with `helm`, `kustomize` or `directory` set is rendered by that tool and **never
//!   reaches the plugin**; flagged when sluice has seen the app rendered by its plugin before (a guard
//!   decision, a guard hook, or a plugin source in an earlier record). The sink cannot read the
//!   repository, so an app that sets such a source from its first sync on is not flagged;
//! - a sync with **no guard decision** while the app has windows (sluice has recorded a guard
//!   decision for it before) and nothing above explains it.
//!
//! Which hooks ran comes from `operationState.syncResult.resources`: the `PreSync` entries sluice's
//! transform writes (docs/hooks.md): the guard Job `<app>-sluice-guard`, the Velero `Backup`, and the
//! migration Jobs `<app>-<migration>-<10 hex digits>`.

use super::event::{Via, GUARD_DECISION, SYNC_FAILED, SYNC_SUCCEEDED};
use super::facts::{self, Facts, Member, Members};
use super::model::{Body, Gate, Record, SyncEvent};
use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

/// The reasons a sync skipped the gate, as the record's `gate.exceptions` and the
/// `sluice_ungated_syncs_total{reason}` label name them.
pub const SELECTIVE_SYNC: &str = "selective-sync";
pub const ROLLBACK: &str = "rollback";
pub const BYPASSES_PLUGIN: &str = "bypasses-plugin";
pub const NO_GUARD_DECISION: &str = "no-guard-decision";
/// A sync known only from `status.history` (the sink was down, the webhook never came): which hooks
/// ran is not in the history, so nothing says it passed the gate.
pub const GATE_UNKNOWN: &str = "gate-unknown";
/// Every reason, in the order a record lists them.
pub const REASONS: [&str; 5] = [
    SELECTIVE_SYNC,
    ROLLBACK,
    BYPASSES_PLUGIN,
    NO_GUARD_DECISION,
    GATE_UNKNOWN,
];

/// The source type Argo CD gives a plugin-rendered app (`status.sourceType`).
const PLUGIN: &str = "Plugin";

/// How far before the operation's start a guard decision still counts as its own (clock skew between
/// the guard's node and the controller).
const DECISION_SLACK_SECONDS: i64 = 120;

/// Guard decisions remembered per app.
const DECISIONS_KEPT: usize = 64;

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(*k))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)?.as_str()
}

fn non_empty_list(v: Option<&Value>) -> bool {
    v.and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

/// What the Application alone says about the gate of the operation `op` (its `operationState`):
/// which hooks ran, which tool rendered it, and the reasons it can tell by itself (selective sync,
/// rollback). [`Knowledge::complete`] adds the reasons that need earlier records.
pub fn assess(app: &Value, op: &Value) -> Gate {
    let hooks: Vec<&Value> = get(op, &["syncResult", "resources"])
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter(|e| str_at(e, &["hookType"]) == Some("PreSync"))
                .collect()
        })
        .unwrap_or_default();
    let sync = get(op, &["operation", "sync"]).unwrap_or(&Value::Null);
    let mut exceptions = Vec::new();
    if non_empty_list(get(sync, &["resources"])) {
        exceptions.push(SELECTIVE_SYNC.to_owned());
    }
    if get(sync, &["source"]).is_some_and(Value::is_object)
        || non_empty_list(get(sync, &["sources"]))
    {
        exceptions.push(ROLLBACK.to_owned());
    }
    Gate {
        guard: phase_of(hooks.iter().copied().filter(|h| is_guard(h))),
        backup: phase_of(hooks.iter().copied().filter(|h| is_backup(h))),
        migrations: phase_of(hooks.iter().copied().filter(|h| is_migration(h))),
        source: source_type(app).map(str::to_owned),
        exceptions,
        extra: Map::new(),
    }
}

/// The gate findings of `event` learnt of by `via`: for a finished sync, what the Application says
/// ([`assess`]); for one rebuilt from `status.history`, which has no sync result, unknown (itself an
/// exception); for one imported at the first start (it predates sluice) and for other events, none.
pub fn of_event(event: &str, via: Via, app: &Value, op: &Value) -> Option<Gate> {
    match via {
        _ if !matches!(event, SYNC_SUCCEEDED | SYNC_FAILED) => None,
        Via::History => Some(unknown(app)),
        Via::Import => None,
        Via::Webhook | Via::Watch => Some(assess(app, op)),
    }
}

/// The gate of a sync rebuilt from `status.history`: unknown, and so an exception to look at.
pub fn unknown(app: &Value) -> Gate {
    Gate {
        guard: None,
        backup: None,
        migrations: None,
        source: source_type(app).map(str::to_owned),
        exceptions: vec![GATE_UNKNOWN.to_owned()],
        extra: Map::new(),
    }
}

fn is_job(h: &Value) -> bool {
    str_at(h, &["kind"]) == Some("Job") && str_at(h, &["group"]).is_none_or(|g| g == "batch")
}

fn is_guard(h: &Value) -> bool {
    is_job(h) && str_at(h, &["name"]).is_some_and(|n| n.ends_with("sluice-guard"))
}

fn is_backup(h: &Value) -> bool {
    str_at(h, &["kind"]) == Some("Backup") && str_at(h, &["group"]) == Some("velero.io")
}

/// A Job named `<app>-<migration>-<10 hex digits>` (the content hash transform/hooks/migrations.rs puts
/// in the name).
fn is_migration(h: &Value) -> bool {
    let hashed = str_at(h, &["name"])
        .and_then(|n| n.rsplit_once('-'))
        .is_some_and(|(_, hash)| {
            hash.len() == 10 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
    is_job(h) && hashed && !is_guard(h)
}

/// The hooks' phase: the first that did not succeed, else `Succeeded`; `None` when none ran.
fn phase_of<'a>(mut hooks: impl Iterator<Item = &'a Value>) -> Option<String> {
    let first = hooks.next()?;
    let phase = |h: &'a Value| {
        str_at(h, &["hookPhase"])
            .filter(|p| !p.is_empty())
            .unwrap_or("Unknown")
    };
    let worst = std::iter::once(first)
        .chain(hooks)
        .map(phase)
        .find(|p| *p != "Succeeded")
        .unwrap_or("Succeeded");
    Some(worst.to_owned())
}

/// The tool that renders the app: `Plugin` when any source goes through a plugin, else the first
/// source's explicit tool (`Helm`, `Kustomize`, `Directory`), else what Argo CD found
/// (`status.sourceType`, `status.sourceTypes`).
fn source_type(app: &Value) -> Option<&str> {
    let sources: Vec<&Value> = get(app, &["spec", "source"])
        .filter(|s| s.is_object())
        .into_iter()
        .chain(
            get(app, &["spec", "sources"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .collect();
    let explicit = |s: &Value| {
        [
            ("plugin", PLUGIN),
            ("helm", "Helm"),
            ("kustomize", "Kustomize"),
            ("directory", "Directory"),
        ]
        .into_iter()
        .find(|(k, _)| get(s, &[k]).is_some_and(Value::is_object))
        .map(|(_, t)| t)
    };
    let observed: Vec<&str> = str_at(app, &["status", "sourceType"])
        .into_iter()
        .chain(
            get(app, &["status", "sourceTypes"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        )
        .collect();
    let explicit: Vec<&str> = sources.iter().filter_map(|s| explicit(s)).collect();
    if explicit.contains(&PLUGIN) || (explicit.is_empty() && observed.contains(&PLUGIN)) {
        return Some(PLUGIN);
    }
    explicit.first().or(observed.first()).copied()
}

/// What earlier records taught about each app (by `metadata.name`, the name guard decisions carry).
/// It learns only from records that are in the log: the ledger feeds it (`ledger::Fold`) every record
/// it verifies at start and each record of a batch once the batch is durable, and keeps it beside its
/// verified-prefix marker, so that a start does not read every record again.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Knowledge {
    apps: HashMap<String, AppMemory>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct AppMemory {
    /// Sluice's plugin rendered it: a guard decision, a guard hook, or a plugin source was recorded.
    plugin: bool,
    /// The `at` of its latest guard decisions (a guard decision at all means it has windows: the
    /// guard hook is only added when the policy has some).
    decisions: VecDeque<DateTime<FixedOffset>>,
}

impl AppMemory {
    fn decided(&mut self, at: DateTime<FixedOffset>) {
        self.plugin = true;
        if self.decisions.len() == DECISIONS_KEPT {
            self.decisions.pop_front();
        }
        self.decisions.push_back(at);
    }
}

/// What a record teaches the gate knowledge: read from a draft ([`Lesson::of_body`]) or from a
/// line of the log ([`Lesson::of_facts`]), learnt in log order ([`Knowledge::learn`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Lesson<'a> {
    /// A guard decision for `app` at `at`.
    Decision(Cow<'a, str>, Option<DateTime<FixedOffset>>),
    /// A sync of `app` that ran sluice's guard hook or came from its plugin.
    Plugin(Cow<'a, str>),
    #[default]
    Nothing,
}

impl<'a> Lesson<'a> {
    fn of_body(body: &'a Body) -> Lesson<'a> {
        match body {
            Body::Guard(g) => Lesson::Decision(
                Cow::Borrowed(&g.app.name),
                DateTime::parse_from_rfc3339(&g.at).ok(),
            ),
            Body::Sync(s) => match s.gate.as_present() {
                Some(Some(gate))
                    if gate.guard.is_some() || gate.source.as_deref() == Some(PLUGIN) =>
                {
                    Lesson::Plugin(Cow::Borrowed(&s.app.name))
                }
                _ => Lesson::Nothing,
            },
            Body::Confirmation(_) | Body::Review(_) | Body::Verify(_) => Lesson::Nothing,
        }
    }

    /// The same from a record as the log holds it (what `of_body` reads from the typed record).
    pub fn of_facts(record: &Facts<'a>) -> Lesson<'a> {
        let name = record.text(&["app", "name"]).unwrap_or_default();
        if record.text(&["event"]).as_deref() == Some(GUARD_DECISION) {
            let at = record.text(&["at"]);
            return Lesson::Decision(name, at.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()));
        }
        let Some(gate) = record.get("gate").and_then(Member::object) else {
            return Lesson::Nothing;
        };
        let guard = gate.get("guard").is_some_and(|g| !g.is_null());
        let plugin = gate.text(&["source"]).as_deref() == Some(PLUGIN);
        if guard || plugin {
            Lesson::Plugin(name)
        } else {
            Lesson::Nothing
        }
    }

    /// The same lesson, owning its app name (to hand from the core that read the line).
    #[must_use]
    pub fn into_owned(self) -> Lesson<'static> {
        match self {
            Lesson::Decision(app, at) => Lesson::Decision(Cow::Owned(app.into_owned()), at),
            Lesson::Plugin(app) => Lesson::Plugin(Cow::Owned(app.into_owned())),
            Lesson::Nothing => Lesson::Nothing,
        }
    }
}

impl Knowledge {
    /// Learns from a record that is in the log (as the ledger's fold does from its line).
    #[cfg(test)]
    pub fn observe(&mut self, body: &Body) {
        self.learn(&Lesson::of_body(body));
    }

    /// Learns what a record that is in the log teaches (each once, in log order).
    pub fn learn(&mut self, lesson: &Lesson<'_>) {
        match lesson {
            Lesson::Decision(app, at) => {
                let memory = facts::entry(&mut self.apps, app);
                match at {
                    Some(at) => memory.decided(*at),
                    None => memory.plugin = true,
                }
            }
            Lesson::Plugin(app) => facts::entry(&mut self.apps, app).plugin = true,
            Lesson::Nothing => {}
        }
    }

    /// Adds to a sync record's gate what needs earlier records: a bypass of the plugin by an app that
    /// used it, and a missing guard decision for an app that has windows (as [`Batch`] does for each
    /// draft of a batch).
    #[cfg(test)]
    pub fn complete(&self, sync: &mut SyncEvent) {
        if let Some(memory) = self.apps.get(&sync.app.name) {
            complete_with(memory, sync);
        }
    }

    /// A batch about to be written: its drafts are completed in order, each with what the log taught
    /// and what the drafts before it in the batch teach, while this knowledge itself learns nothing
    /// until the ledger feeds it the records that were written.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            known: self,
            pending: HashMap::new(),
        }
    }
}

/// What a batch's drafts teach the drafts after them, over what the log taught ([`Knowledge::batch`]).
pub struct Batch<'k> {
    known: &'k Knowledge,
    pending: HashMap<String, AppMemory>,
}

impl Batch<'_> {
    /// Completes the gate findings of `draft` (a sync), then learns from it as if it were written.
    pub fn complete_and_learn(&mut self, draft: &mut Body) {
        if let Body::Sync(s) = draft {
            let memory = self
                .pending
                .get(&s.app.name)
                .or_else(|| self.known.apps.get(&s.app.name));
            if let Some(memory) = memory {
                complete_with(memory, s);
            }
        }
        let (app, at) = match Lesson::of_body(draft) {
            Lesson::Decision(app, at) => (app.into_owned(), at),
            Lesson::Plugin(app) => (app.into_owned(), None),
            Lesson::Nothing => return,
        };
        let known = self.known.apps.get(&app).cloned().unwrap_or_default();
        let memory = self.pending.entry(app).or_insert(known);
        match at {
            Some(at) => memory.decided(at),
            None => memory.plugin = true,
        }
    }
}

fn complete_with(memory: &AppMemory, sync: &mut SyncEvent) {
    let (started, finished) = (
        time(sync.started_at.as_deref()),
        time(sync.finished_at.as_deref()),
    );
    let Some(Some(gate)) = sync.gate.as_present_mut() else {
        return;
    };
    if gate.exceptions.iter().any(|e| e == GATE_UNKNOWN) {
        // Nothing is known of its hooks: no finding can be added to that.
        return;
    }
    let bypass = memory.plugin
        && gate.guard.is_none()
        && gate.source.as_deref().is_some_and(|s| s != PLUGIN);
    if bypass {
        gate.exceptions.push(BYPASSES_PLUGIN.to_owned());
    }
    let decided = memory.decisions.iter().any(|at| {
        started.is_none_or(|s| (*at - s).num_seconds() >= -DECISION_SLACK_SECONDS)
            && finished.is_none_or(|f| *at <= f)
    });
    if !memory.decisions.is_empty() && !decided && gate.exceptions.is_empty() {
        gate.exceptions.push(NO_GUARD_DECISION.to_owned());
    }
}

/// The ledger keeps the knowledge beside its marker (in the sink's fold): `{"apps": {name: {"plugin",
/// "decisions"}}}`, the decisions as RFC 3339 times.
impl Knowledge {
    /// The state, to save beside the marker.
    pub fn save(&self) -> Value {
        let apps: Map<String, Value> = self
            .apps
            .iter()
            .map(|(name, m)| {
                let decisions: Vec<String> = m.decisions.iter().map(DateTime::to_rfc3339).collect();
                (
                    name.clone(),
                    serde_json::json!({"plugin": m.plugin, "decisions": decisions}),
                )
            })
            .collect();
        serde_json::json!({ "apps": apps })
    }

    /// A saved state; `None` when it does not read.
    pub fn load(saved: &Value) -> Option<Self> {
        let mut apps = HashMap::new();
        for (name, m) in saved.get("apps")?.as_object()? {
            let decisions = m
                .get("decisions")?
                .as_array()?
                .iter()
                .map(|d| DateTime::parse_from_rfc3339(d.as_str()?).ok())
                .collect::<Option<VecDeque<_>>>()?;
            let plugin = m.get("plugin")?.as_bool()?;
            apps.insert(name.clone(), AppMemory { plugin, decisions });
        }
        Some(Knowledge { apps })
    }
}

fn time(t: Option<&str>) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(t?).ok()
}

/// The exceptions of a record: the reasons its sync skipped the gate (empty for a gated sync, a
/// guard decision, and records written before gate findings existed).
pub fn exceptions(record: &Record) -> &[String] {
    match &record.body {
        Body::Sync(s) => match s.gate.as_present() {
            Some(Some(gate)) => &gate.exceptions,
            _ => &[],
        },
        Body::Guard(_) | Body::Confirmation(_) | Body::Review(_) | Body::Verify(_) => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(source: &Value, op: &Value) -> Value {
        json!({"metadata": {"name": "shop"}, "spec": {"source": source}, "status": {"operationState": op}})
    }

    fn guarded_op() -> Value {
        json!({"phase": "Succeeded", "operation": {"sync": {"revision": "abc"}},
        "syncResult": {"revision": "abc", "resources": [
            {"group": "batch", "version": "v1", "kind": "Job", "namespace": "shop", "name": "shop-sluice-guard",
             "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"},
            {"group": "velero.io", "version": "v1", "kind": "Backup", "namespace": "velero",
             "name": "pre-change-chg-1-4f3c2b1-presync-1767225600", "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"},
            {"group": "batch", "version": "v1", "kind": "Job", "namespace": "shop", "name": "shop-schema-0123456789",
             "hookType": "PreSync", "hookPhase": "Failed", "syncPhase": "PreSync"},
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "shop", "name": "web",
             "status": "Synced", "syncPhase": "Sync"}
        ]}})
    }

    #[test]
    fn a_guarded_sync_names_its_hooks_and_no_exception() {
        let op = guarded_op();
        let g = assess(&app(&json!({"plugin": {"name": "sluice"}}), &op), &op);
        assert_eq!(g.guard.as_deref(), Some("Succeeded"));
        assert_eq!(g.backup.as_deref(), Some("Succeeded"));
        assert_eq!(g.migrations.as_deref(), Some("Failed"));
        assert_eq!(g.source.as_deref(), Some("Plugin"));
        assert!(g.exceptions.is_empty());
    }

    #[test]
    fn selective_sync_and_rollback_are_exceptions_by_themselves() {
        let selective = json!({"phase": "Succeeded", "operation": {"sync": {"resources": [
            {"group": "apps", "kind": "Deployment", "name": "web"}]}}, "syncResult": {"resources": []}});
        let g = assess(&app(&json!({}), &selective), &selective);
        assert_eq!(g.exceptions, vec![SELECTIVE_SYNC]);
        assert_eq!(g.guard, None);
        let rollback = json!({"phase": "Succeeded", "operation": {"sync": {"revision": "old",
            "source": {"repoURL": "https://git/x", "path": "shop", "targetRevision": "old"}}}});
        assert_eq!(
            assess(&app(&json!({}), &rollback), &rollback).exceptions,
            vec![ROLLBACK]
        );
        let multi = json!({"operation": {"sync": {"sources": [{"repoURL": "r"}]}}});
        assert_eq!(
            assess(&app(&json!({}), &multi), &multi).exceptions,
            vec![ROLLBACK]
        );
    }

    #[test]
    fn source_type_prefers_the_plugin_then_explicit_then_observed() {
        let op = json!({});
        let helm = app(&json!({"helm": {"valueFiles": ["v.yaml"]}}), &op);
        assert_eq!(assess(&helm, &op).source.as_deref(), Some("Helm"));
        let observed =
            json!({"spec": {"source": {"path": "x"}}, "status": {"sourceType": "Plugin"}});
        assert_eq!(assess(&observed, &op).source.as_deref(), Some("Plugin"));
        let both = json!({"spec": {"sources": [{"helm": {}}, {"plugin": {"name": "sluice"}}]}});
        assert_eq!(assess(&both, &op).source.as_deref(), Some("Plugin"));
        assert_eq!(assess(&json!({}), &op).source, None);
    }

    fn sync_record(gate: Gate, started: &str, finished: &str) -> SyncEvent {
        let op = json!({"startedAt": started, "finishedAt": finished, "phase": "Succeeded"});
        let body = json!({"event": "sync-succeeded", "app": {"metadata": {"name": "shop", "uid": "u"},
            "status": {"operationState": op}}});
        let pattern = regex::Regex::new("^CHG-[0-9]+$").unwrap();
        let Body::Sync(mut s) = crate::record::event_record(&body, "t", &pattern).unwrap() else {
            panic!("an event")
        };
        s.gate = crate::record::Added::Present(Some(gate));
        *s
    }

    fn guard_decision(at: &str) -> Body {
        crate::record::guard_record(&json!({"app": "shop", "at": at, "allowed": true}), "t")
            .unwrap()
    }

    #[test]
    fn a_plugin_app_that_turns_to_helm_bypasses_the_plugin() {
        let op = json!({});
        let helm = assess(&app(&json!({"helm": {}}), &op), &op);
        let mut knowledge = Knowledge::default();
        let mut first = sync_record(helm.clone(), "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z");
        knowledge.complete(&mut first);
        assert_eq!(
            exceptions_of(&first),
            Vec::<String>::new(),
            "never seen with the plugin: not flagged"
        );
        let guarded = guarded_op();
        let plugin = assess(&app(&json!({"plugin": {}}), &guarded), &guarded);
        knowledge.observe(&Body::Sync(Box::new(sync_record(
            plugin,
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:01:00Z",
        ))));
        let mut later = sync_record(helm, "2026-01-02T00:00:00Z", "2026-01-02T00:01:00Z");
        knowledge.complete(&mut later);
        assert_eq!(exceptions_of(&later), vec![BYPASSES_PLUGIN]);
    }

    #[test]
    fn an_app_with_windows_needs_a_guard_decision_during_its_sync() {
        let guarded = guarded_op();
        let gate = assess(&app(&json!({"plugin": {}}), &guarded), &guarded);
        let mut knowledge = Knowledge::default();
        knowledge.observe(&guard_decision("2026-01-01T00:00:05Z"));
        let mut decided = sync_record(gate.clone(), "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z");
        knowledge.complete(&mut decided);
        assert!(exceptions_of(&decided).is_empty());
        let mut undecided =
            sync_record(gate.clone(), "2026-01-03T00:00:00Z", "2026-01-03T00:01:00Z");
        knowledge.complete(&mut undecided);
        assert_eq!(exceptions_of(&undecided), vec![NO_GUARD_DECISION]);
        // An app that never had a guard decision has no windows: nothing to miss.
        let mut other = sync_record(gate, "2026-01-03T00:00:00Z", "2026-01-03T00:01:00Z");
        other.app.name = "cart".into();
        knowledge.complete(&mut other);
        assert!(exceptions_of(&other).is_empty());
    }

    #[test]
    fn the_log_s_records_teach_as_the_typed_ones_and_the_state_saves_and_loads() {
        let guarded = guarded_op();
        let plugin = assess(&app(&json!({"plugin": {}}), &guarded), &guarded);
        let records = [
            guard_decision("2026-01-01T00:00:05Z"),
            Body::Sync(Box::new(sync_record(
                plugin,
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:01:00Z",
            ))),
        ];
        let (mut typed, mut logged) = (Knowledge::default(), Knowledge::default());
        for r in &records {
            typed.observe(r);
            let lesson = facts::of_map(&r.to_map(), |f, _| Lesson::of_facts(f).into_owned());
            logged.learn(&lesson);
        }
        assert_eq!(typed, logged);
        assert_eq!(Knowledge::load(&logged.save()), Some(logged.clone()));
        assert_eq!(
            Knowledge::load(&json!({"apps": {"x": {"plugin": 1}}})),
            None
        );
    }

    #[test]
    fn a_batch_teaches_its_later_drafts_but_not_the_knowledge() {
        let guarded = guarded_op();
        let gate = assess(&app(&json!({"plugin": {}}), &guarded), &guarded);
        let mut knowledge = Knowledge::default();
        knowledge.observe(&guard_decision("2026-01-01T00:00:05Z"));
        let before = knowledge.clone();
        let mut batch = knowledge.batch();
        // A decision during the sync, earlier in the same batch: the sync is decided.
        let mut decision = guard_decision("2026-01-03T00:00:30Z");
        batch.complete_and_learn(&mut decision);
        let mut sync = Body::Sync(Box::new(sync_record(
            gate.clone(),
            "2026-01-03T00:00:00Z",
            "2026-01-03T00:01:00Z",
        )));
        batch.complete_and_learn(&mut sync);
        let Body::Sync(s) = &sync else { unreachable!() };
        assert!(exceptions_of(s).is_empty());
        drop(batch);
        // The batch was not written: the knowledge has not learnt of its decision.
        assert_eq!(knowledge, before);
        let mut later = sync_record(gate, "2026-01-03T00:00:00Z", "2026-01-03T00:01:00Z");
        knowledge.complete(&mut later);
        assert_eq!(exceptions_of(&later), vec![NO_GUARD_DECISION]);
    }

    fn exceptions_of(s: &SyncEvent) -> Vec<String> {
        match s.gate.as_present() {
            Some(Some(g)) => g.exceptions.clone(),
            _ => panic!("no gate"),
        }
    }

    #[test]
    fn history_syncs_have_an_unknown_gate_and_imported_ones_none() {
        let a = app(&json!({"plugin": {"name": "sluice"}}), &json!({}));
        let op = json!({});
        let history = of_event(SYNC_SUCCEEDED, Via::History, &a, &op).unwrap();
        assert_eq!(
            (history.exceptions, history.guard),
            (vec![GATE_UNKNOWN.to_owned()], None)
        );
        assert_eq!(of_event(SYNC_SUCCEEDED, Via::Import, &a, &op), None);
        assert_eq!(of_event("deployed", Via::Watch, &a, &op), None);
        assert!(of_event(SYNC_FAILED, Via::Watch, &a, &op).is_some());
    }
}
