//! What the policy of a pull request means for its reviewers (pure): the window decision at an
//! instant, the change id, and the policy changes that weaken a control, flagged for a second
//! reviewer. A change that only tightens a control (a deny window added, the first allow window
//! added, a freeze lengthened) is not flagged.
//!
//! Weakening, by control (windows are Argo CD sync windows: docs/windows.md):
//! - allow window added while others exist (more time allowed), every allow window removed (no
//!   window limits syncs any more), an allow window made longer;
//! - deny window removed or made shorter;
//! - a window's schedule, time zone, scope (applications, namespaces, clusters, `andOperator`)
//!   changed (may widen what is allowed), or `manualSync` turned on;
//! - freeze removed, shortened (`from` later or `until` earlier), or given new exemptions;
//! - the guard turned off (no guard Job any more), the backup turned off, `change.required` turned off.

use crate::generate::ArgoEnv;
use crate::manifest::Document;
use crate::policy::Policy;
use crate::window::{FreezeSpec, Rules, Subject, WindowSpec};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// The window decision for a sync at an instant, by the head policy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowsNow {
    pub at: String,
    /// Whether a guard Job enforces the windows (none without windows or freezes, or with the guard off).
    pub enforced: bool,
    /// Whether the policy has windows or freezes at all.
    pub any: bool,
    pub allowed: bool,
    pub reason: String,
    pub next_open: Option<String>,
    pub next_close: Option<String>,
}

/// The change id this render carries.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeInfo {
    pub id: Option<String>,
    /// Where the id comes from: the variable that held it, or `.sluice.yaml change.id`.
    pub source: Option<String>,
    pub required: bool,
}

/// A policy change that weakens a control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Weakening {
    /// `windows`, `freezes`, `guard`, `backup`, `change.required`, `policy`.
    pub control: &'static str,
    pub message: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The decision at `at` for the app as Argo CD's environment names it (an automated sync).
pub fn windows_now(
    policy: Option<&Policy>,
    docs: &[Document],
    env: &ArgoEnv,
    at: DateTime<Utc>,
) -> WindowsNow {
    let enforced = docs.iter().any(|d| {
        d.kind() == "Job"
            && d.to_object()
                .get("metadata")
                .and_then(|m| m.get("labels"))
                .and_then(|l| l.get("app.kubernetes.io/component"))
                .and_then(serde_json::Value::as_str)
                == Some("guard")
    });
    let mut now = WindowsNow {
        at: rfc3339(at),
        enforced,
        any: false,
        allowed: true,
        reason: "no windows or freezes: a sync may run at any time".into(),
        next_open: None,
        next_close: None,
    };
    let Some(policy) = policy else {
        return now;
    };
    now.any = !policy.windows.is_empty() || !policy.freezes.is_empty();
    if !now.any {
        return now;
    }
    // The policy was validated when it was loaded for the render.
    let Ok(rules) = Rules::compile(&policy.windows, &policy.freezes) else {
        return now;
    };
    let app = env.get("ARGOCD_APP_NAME").unwrap_or("");
    let subject = Subject {
        // Sync windows match the Application's name, not `<namespace>_<name>`.
        app: app
            .split_once('_')
            .map_or(app, |(_, name)| name)
            .to_string(),
        namespace: env.get("ARGOCD_APP_NAMESPACE").unwrap_or("").to_string(),
        clusters: env
            .app_setting("SLUICE_CLUSTER")
            .map(|c| c.split(',').map(str::trim).map(String::from).collect())
            .unwrap_or_default(),
        manual: false,
        emergency: env.app_setting("SLUICE_EMERGENCY").map(String::from),
    };
    let decision = rules.decide(&subject, at);
    now.allowed = decision.allowed;
    now.reason = decision.reason;
    now.next_open = decision.next_open.map(rfc3339);
    now.next_close = decision.next_close.map(rfc3339);
    now
}

/// The change id (the Application's `CHANGE_ID` setting wins over `change.id`) and whether one is required.
pub fn change_info(policy: Option<&Policy>, env: &ArgoEnv) -> ChangeInfo {
    let from_env = ["ARGOCD_ENV_CHANGE_ID", "PARAM_CHANGE_ID"]
        .into_iter()
        .find_map(|var| env.get(var).map(|v| (v.to_string(), var.to_string())));
    let from_policy = policy
        .and_then(|p| p.change.id.clone())
        .map(|id| (id, ".sluice.yaml change.id".to_string()));
    let (id, source) = from_env
        .or(from_policy)
        .map_or((None, None), |(id, s)| (Some(id), Some(s)));
    ChangeInfo {
        id,
        source,
        required: policy.is_some_and(|p| p.change.required),
    }
}

/// The policy changes from `base` to `head` that weaken a control.
pub fn weakened(base: Option<&Policy>, head: Option<&Policy>) -> Vec<Weakening> {
    let mut out = Vec::new();
    let (base, head) = match (base, head) {
        (Some(b), Some(h)) => (b, h),
        (Some(_), None) => {
            out.push(Weakening {
                control: "policy",
                message:
                    ".sluice.yaml removed: sluice no longer renders this app, so no control applies"
                        .into(),
            });
            return out;
        }
        _ => return out,
    };
    windows(&base.windows, &head.windows, &mut out);
    freezes(&base.freezes, &head.freezes, &mut out);
    let guard_on = crate::transform::hooks::guard_wanted;
    if guard_on(base) && !guard_on(head) {
        out.push(Weakening {
            control: "guard",
            message: format!(
                "guard turned off (guard.enabled: {}): no PreSync guard checks windows and freezes",
                serde_json::to_value(head.guard.enabled)
                    .map_or_else(|_| "?".into(), |v| v.to_string())
            ),
        });
    }
    if base.backup.enabled && !head.backup.enabled {
        out.push(Weakening {
            control: "backup",
            message:
                "backup turned off (backup.enabled: true → false): no Velero backup before the sync"
                    .into(),
        });
    }
    if base.backup.enabled && head.backup.enabled {
        backup_targets(base, head, &mut out);
    }
    for m in &base.migrations {
        if !head.migrations.iter().any(|h| h.name == m.name) {
            out.push(Weakening {
                control: "migrations",
                message: format!(
                    "migration '{}' removed: its PreSync Job no longer runs before the sync",
                    m.name
                ),
            });
        }
    }
    if base.change.required && !head.change.required {
        out.push(Weakening {
            control: "change.required",
            message: "change.required turned off (true → false): manifests are generated without a change id".into(),
        });
    }
    out
}

/// Namespaces the backup no longer covers, and resources it newly excludes.
fn backup_targets(base: &Policy, head: &Policy, out: &mut Vec<Weakening>) {
    let (b, h) = (&base.backup, &head.backup);
    if !b.namespaces.is_empty() {
        let gone: Vec<&String> = b
            .namespaces
            .iter()
            .filter(|n| !h.namespaces.contains(n))
            .collect();
        if !gone.is_empty() {
            out.push(Weakening {
                control: "backup",
                message: format!(
                    "backup target removed: namespace{} {} no longer backed up{}",
                    if gone.len() == 1 { "" } else { "s" },
                    gone.iter()
                        .map(|n| format!("'{n}'"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if h.namespaces.is_empty() {
                        " (now the destination namespace only)"
                    } else {
                        ""
                    }
                ),
            });
        }
    }
    let excluded: Vec<&String> = h
        .excluded_resources
        .iter()
        .filter(|r| !b.excluded_resources.contains(r))
        .collect();
    if !excluded.is_empty() {
        out.push(Weakening {
            control: "backup",
            message: format!("backup excludes more resources: {excluded:?}"),
        });
    }
}

fn describe(w: &WindowSpec) -> String {
    if w.description.is_empty() {
        format!("{} window '{}'", w.kind, w.schedule)
    } else {
        format!("{} window '{}'", w.kind, w.description)
    }
}

fn seconds(duration: &str) -> Option<i64> {
    crate::window::duration::parse_go_duration(duration).ok()
}

/// Pairs windows: equal ones first, then the rest of each kind in order.
fn windows(base: &[WindowSpec], head: &[WindowSpec], out: &mut Vec<Weakening>) {
    let mut base_left: Vec<&WindowSpec> = base.iter().collect();
    let mut head_left: Vec<&WindowSpec> = Vec::new();
    for h in head {
        match base_left.iter().position(|b| *b == h) {
            Some(i) => {
                base_left.remove(i);
            }
            None => head_left.push(h),
        }
    }
    let allows = |ws: &[WindowSpec]| ws.iter().filter(|w| w.kind == "allow").count();
    let mut push = |message: String| {
        out.push(Weakening {
            control: "windows",
            message,
        });
    };
    let mut unpaired_head = Vec::new();
    for h in head_left {
        match base_left.iter().position(|b| b.kind == h.kind) {
            Some(i) => changed_window(base_left.remove(i), h, &mut push),
            None => unpaired_head.push(h),
        }
    }
    for h in unpaired_head {
        if h.kind == "allow" && allows(base) > 0 {
            push(format!(
                "{} added (schedule '{}', duration {}): syncs allowed at more times",
                describe(h),
                h.schedule,
                h.duration
            ));
        }
    }
    for b in base_left {
        if b.kind == "deny" {
            push(format!(
                "{} removed (schedule '{}', duration {})",
                describe(b),
                b.schedule,
                b.duration
            ));
        } else if allows(head) == 0 {
            push(format!(
                "{} removed, and no allow window is left: syncs are no longer limited to windows",
                describe(b)
            ));
        }
    }
}

fn changed_window(b: &WindowSpec, h: &WindowSpec, push: &mut impl FnMut(String)) {
    let name = describe(h);
    match (seconds(&b.duration), seconds(&h.duration)) {
        (Some(old), Some(new)) if h.kind == "allow" && new > old => {
            push(format!(
                "{name} widened: duration {} → {}",
                b.duration, h.duration
            ));
        }
        (Some(old), Some(new)) if h.kind == "deny" && new < old => {
            push(format!(
                "{name} shortened: duration {} → {}",
                b.duration, h.duration
            ));
        }
        _ => {}
    }
    if b.schedule != h.schedule || b.time_zone != h.time_zone {
        push(format!(
            "{name}: schedule '{}' {} → '{}' {} (may open syncs at other times)",
            b.schedule,
            zone(&b.time_zone),
            h.schedule,
            zone(&h.time_zone)
        ));
    }
    if b.applications != h.applications
        || b.namespaces != h.namespaces
        || b.clusters != h.clusters
        || b.and_operator != h.and_operator
    {
        push(format!(
            "{name}: scope changed (applications {:?} → {:?}, namespaces {:?} → {:?}, clusters {:?} → {:?}, andOperator {} → {}): may exempt apps",
            b.applications, h.applications, b.namespaces, h.namespaces, b.clusters, h.clusters, b.and_operator, h.and_operator
        ));
    }
    if !b.manual_sync && h.manual_sync {
        push(format!("{name}: manualSync turned on (manual syncs pass)"));
    }
}

fn zone(tz: &str) -> &str {
    if tz.is_empty() {
        "UTC"
    } else {
        tz
    }
}

fn freezes(base: &[FreezeSpec], head: &[FreezeSpec], out: &mut Vec<Weakening>) {
    let instant = |t: &str| DateTime::parse_from_rfc3339(t).ok();
    for b in base {
        let mut push = |message: String| {
            out.push(Weakening {
                control: "freezes",
                message,
            });
        };
        let Some(h) = head.iter().find(|h| h.name == b.name) else {
            push(format!(
                "freeze '{}' removed ({} – {})",
                b.name, b.from, b.until
            ));
            continue;
        };
        let later = |old: &str, new: &str| matches!((instant(old), instant(new)), (Some(o), Some(n)) if n > o);
        if later(&b.from, &h.from) || later(&h.until, &b.until) {
            push(format!(
                "freeze '{}' shortened: {} – {} → {} – {}",
                b.name, b.from, b.until, h.from, h.until
            ));
        }
        let added: Vec<&String> = h.exempt.iter().filter(|e| !b.exempt.contains(e)).collect();
        if !added.is_empty() {
            push(format!("freeze '{}': exemptions added {added:?}", b.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        crate::policy::parse(
            &format!("apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n{text}"),
            "p",
        )
        .unwrap()
    }

    fn messages(base: &str, head: &str) -> Vec<String> {
        weakened(Some(&policy(base)), Some(&policy(head)))
            .into_iter()
            .map(|w| format!("{}: {}", w.control, w.message))
            .collect()
    }

    const ALLOW: &str = "- {kind: allow, schedule: '0 2 * * 2,4', duration: 4h, applications: ['*'], description: maintenance}\n";
    const DENY: &str = "- {kind: deny, schedule: '0 9 * * 1-5', duration: 9h, applications: ['*'], description: business hours}\n";

    #[test]
    fn tightening_is_not_flagged() {
        assert!(
            messages("", &format!("windows:\n{ALLOW}")).is_empty(),
            "the first allow window restricts"
        );
        assert!(messages(
            &format!("windows:\n{ALLOW}"),
            &format!("windows:\n{ALLOW}{DENY}")
        )
        .is_empty());
        assert!(messages("backup: {enabled: false}", "backup: {enabled: true}").is_empty());
        let shorter = ALLOW.replace("4h", "2h");
        assert!(messages(
            &format!("windows:\n{ALLOW}"),
            &format!("windows:\n{shorter}")
        )
        .is_empty());
        assert!(
            messages(
                &format!("windows:\n{ALLOW}{DENY}"),
                &format!("windows:\n{DENY}{ALLOW}")
            )
            .is_empty(),
            "reordering"
        );
    }

    #[test]
    fn each_weakened_control_is_flagged() {
        let wider = ALLOW.replace("4h", "6h");
        assert_eq!(
            messages(&format!("windows:\n{ALLOW}"), &format!("windows:\n{wider}")),
            ["windows: allow window 'maintenance' widened: duration 4h → 6h"]
        );
        let second = "- {kind: allow, schedule: '0 14 * * *', duration: 1h, applications: ['*']}\n";
        assert_eq!(
            messages(&format!("windows:\n{ALLOW}"), &format!("windows:\n{ALLOW}{second}")),
            ["windows: allow window '0 14 * * *' added (schedule '0 14 * * *', duration 1h): syncs allowed at more times"]
        );
        assert_eq!(
            messages(&format!("windows:\n{ALLOW}{DENY}"), &format!("windows:\n{ALLOW}")),
            ["windows: deny window 'business hours' removed (schedule '0 9 * * 1-5', duration 9h)"]
        );
        assert_eq!(
            messages(&format!("windows:\n{ALLOW}"), "guard: {enabled: true}"),
            ["windows: allow window 'maintenance' removed, and no allow window is left: syncs are no longer limited to windows"]
        );
        let freeze = "freezes:\n- {name: year-end, from: '2026-12-20T00:00:00Z', until: '2027-01-04T00:00:00Z'}\n";
        let shorter = freeze.replace("2027-01-04", "2026-12-27");
        assert_eq!(
            messages(freeze, &shorter),
            ["freezes: freeze 'year-end' shortened: 2026-12-20T00:00:00Z – 2027-01-04T00:00:00Z → 2026-12-20T00:00:00Z – 2026-12-27T00:00:00Z"]
        );
        assert_eq!(
            messages(freeze, "guard: {enabled: true}"),
            ["freezes: freeze 'year-end' removed (2026-12-20T00:00:00Z – 2027-01-04T00:00:00Z)"]
        );
        assert_eq!(
            messages("guard: {enabled: true}", "guard: {enabled: false}"),
            ["guard: guard turned off (guard.enabled: false): no PreSync guard checks windows and freezes"]
        );
        assert_eq!(
            messages("backup: {enabled: true}", "backup: {enabled: false}"),
            ["backup: backup turned off (backup.enabled: true → false): no Velero backup before the sync"]
        );
        assert_eq!(
            messages("change: {required: true, id: CHG-1}", "change: {required: false, id: CHG-1}"),
            ["change.required: change.required turned off (true → false): manifests are generated without a change id"]
        );
        let manual = DENY.replace("description", "manualSync: true, description");
        assert_eq!(
            messages(&format!("windows:\n{DENY}"), &format!("windows:\n{manual}")),
            ["windows: deny window 'business hours': manualSync turned on (manual syncs pass)"]
        );
        let migration = "migrations:\n- {name: schema, image: flyway:10}\n";
        assert_eq!(
            messages(migration, "migrations: []"),
            ["migrations: migration 'schema' removed: its PreSync Job no longer runs before the sync"]
        );
        assert_eq!(
            messages(
                "backup: {enabled: true, namespaces: [shop, shop-data]}",
                "backup: {enabled: true, namespaces: [shop]}"
            ),
            ["backup: backup target removed: namespace 'shop-data' no longer backed up"]
        );
    }
}
