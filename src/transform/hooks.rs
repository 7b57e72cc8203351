//! The hooks (docs/hooks.md): the `PreSync` window guard Job, the Velero pre-change Backup and the
//! database migration Jobs (with their `ConfigMaps` of migration files), and the `PostSync`
//! verification Job with its RBAC (`verify`). Takes the policy, the app's identity ([`AppContext`]),
//! the rendered documents and the migration files already read by the caller; gives the hook
//! objects, appended after the rendered documents in a fixed order (guard, backup, then each
//! migration's `ConfigMap` and Job, then the verification's). No filesystem, environment or clock.
//!
//! What every hook carries, and why:
//! - `argocd.argoproj.io/hook: PreSync`: Argo CD runs it before applying anything of the app; a failed
//!   `PreSync` hook fails the sync (Argo CD's docs/user-guide/resource_hooks.md).
//! - `argocd.argoproj.io/sync-wave`: guard −30, backup −20, migration *i* (0-based, policy order)
//!   Job −10 + 2*i* and its `ConfigMap` −11 + 2*i*. Numbering the Jobs −10, −9, … would leave no wave for
//!   "the `ConfigMap` one wave earlier than its Job" that is not shared with the previous Job, so every
//!   migration takes two waves. Waves stay strictly ordered and distinct, all after the backup;
//!   positive waves (six or more migrations) are still in the `PreSync` phase, before any Sync resource.
//! - `argocd.argoproj.io/hook-delete-policy`: see [`DELETE_JOB`] and [`DELETE_BACKUP`].
//! - Labels `app.kubernetes.io/managed-by: sluice`, `app.kubernetes.io/instance`, `app.kubernetes.io/component`,
//!   `sluice.io/change-id` and `sluice.io/revision` (each only when known), made valid label values.
//! - Names: DNS-1123 labels of at most 63 characters, prefixed with the sanitised app name so that two
//!   apps can share a namespace; a long app name is cut and given a short hash ([`object_name`]).
//! - `metadata.namespace`: the destination namespace, omitted when Argo CD passes none (the Backup lives
//!   in Velero's namespace instead).

mod backup;
mod guard;
mod migrations;
mod verify;

pub use guard::wanted as guard_wanted;
pub use migrations::{SqlFiles, MAX_CONFIGMAP_BYTES};

use super::{sha256_hex, AppContext, TransformError};
use crate::manifest::{Document, Manifests, Source};
use crate::policy::{ChangeSpec, Policy};
use regex::Regex;
use serde_json::{json, Map, Value};

/// `argocd.argoproj.io/hook`.
const HOOK: &str = "argocd.argoproj.io/hook";
/// `argocd.argoproj.io/sync-wave`.
const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// `argocd.argoproj.io/hook-delete-policy`.
const DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// `argocd.argoproj.io/sync-options`.
const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";

/// Jobs and `ConfigMaps`: `BeforeHookCreation` so that a re-sync replaces a hook of the same name, and
/// `HookSucceeded` so that hooks whose names carry a content hash do not pile up after successful
/// syncs. A failed hook stays (the operator reads its logs) until the next sync replaces it.
const DELETE_JOB: &str = "BeforeHookCreation,HookSucceeded";
/// The Backup is never deleted by Argo CD: Velero's `ttl` expires it, and deleting the object would
/// not delete the data anyway (Velero's Backup API docs). `BeforeHookCreation` is Argo CD's default, written out so
/// that a reader sees the intent; with `generateName` every sync makes a new name, so it never fires.
const DELETE_BACKUP: &str = "BeforeHookCreation";

/// Sync waves (see the module documentation).
const WAVE_GUARD: i64 = -30;
const WAVE_BACKUP: i64 = -20;
const WAVE_MIGRATIONS: i64 = -10;

/// Longest Kubernetes label value and Job name (a Job's name becomes its pods' `job-name` label).
const MAX_LABEL: usize = 63;

/// Hex digits of SHA-256 that identify content in a name.
const HASH_LEN: usize = 10;

/// The change id of this generation: the Application's `CHANGE_ID` setting (`from_env`: the variable
/// that held it and its value) wins over `change.id` of the policy. An id from the environment must
/// match `change.idPattern`; `change.required` makes a missing id an error that says how to set one.
///
/// # Errors
///
/// [`TransformError::ChangeIdInvalid`], [`TransformError::ChangeIdRequired`].
pub fn resolve_change_id(
    spec: &ChangeSpec,
    from_env: Option<(&str, &str)>,
) -> Result<Option<String>, TransformError> {
    let id = match from_env {
        Some((var, value)) => {
            check_id(spec, var, value)?;
            Some(value.to_string())
        }
        None => spec.id.clone(),
    };
    if id.is_none() && spec.required {
        return Err(TransformError::ChangeIdRequired);
    }
    Ok(id)
}

/// The emergency change id (`SLUICE_EMERGENCY` setting), which must be a valid change id too.
///
/// # Errors
///
/// [`TransformError::ChangeIdInvalid`].
pub fn resolve_emergency(
    spec: &ChangeSpec,
    from_env: Option<(&str, &str)>,
) -> Result<Option<String>, TransformError> {
    match from_env {
        Some((var, value)) => check_id(spec, var, value).map(|()| Some(value.to_string())),
        None => Ok(None),
    }
}

fn check_id(spec: &ChangeSpec, var: &str, value: &str) -> Result<(), TransformError> {
    let pattern = Regex::new(&spec.id_pattern).map_err(|e| TransformError::Invalid {
        key: "change.idPattern".into(),
        message: format!("is not a valid regular expression: {e}"),
    })?;
    if pattern.is_match(value) {
        Ok(())
    } else {
        Err(TransformError::ChangeIdInvalid {
            var: var.to_string(),
            id: value.to_string(),
            pattern: spec.id_pattern.clone(),
        })
    }
}

/// Appends the hooks the policy asks for to `docs` (after the rendered documents). `sql` holds, in
/// policy order, the files of each migration's `sqlDir` (`None` for a migration without one).
///
/// # Errors
///
/// A hook that cannot be built: no app name, an invalid duration, no guard image, no namespace to back
/// up, an `imageFrom` that names nothing rendered, a migration `ConfigMap` over 1 MiB.
pub fn append_hooks(
    policy: &Policy,
    app: &AppContext,
    sql: &[Option<SqlFiles>],
    docs: &mut Manifests,
) -> Result<(), TransformError> {
    let guard = guard::wanted(policy);
    if !guard && !policy.backup.enabled && policy.migrations.is_empty() && policy.verify.is_none() {
        return Ok(());
    }
    if app.app_name.is_empty() {
        return Err(TransformError::AppNameMissing);
    }
    let mut hooks = Vec::new();
    if guard {
        hooks.push(guard::job(policy, app)?);
    }
    if policy.backup.enabled {
        hooks.push(backup::backup(&policy.backup, app)?);
    }
    // `imageFrom` and `verify` look among the rendered workloads: only those are turned into
    // documents (every kind `verify` judges has a pod template).
    let wants_workloads =
        policy.verify.is_some() || policy.migrations.iter().any(|m| m.image_from.is_some());
    let workloads: Vec<Document> = if wants_workloads {
        docs.iter()
            .filter(|d| super::checksum::template_path(d.group(), d.kind()).is_some())
            .map(crate::manifest::DocRef::to_document)
            .collect()
    } else {
        Vec::new()
    };
    hooks.extend(migrations::hooks(&policy.migrations, app, sql, &workloads)?);
    hooks.extend(verify::hooks(policy, app, &workloads)?);
    let first = docs.len();
    for (i, object) in hooks.iter().enumerate() {
        let source = Source {
            file: "sluice (generated hooks)".into(),
            index: first + i,
            line: 0,
        };
        docs.push(&Document::from_object(object, source));
    }
    Ok(())
}

/// What a hook is, for its labels and annotations.
struct Hook<'a> {
    component: &'a str,
    wave: i64,
    delete_policy: &'a str,
    /// `argocd.argoproj.io/sync-options`, when the hook needs one.
    sync_options: Option<&'a str>,
}

/// `metadata` of a hook: name (or `generateName`), namespace when known, labels, annotations.
fn metadata(hook: &Hook, name_key: &str, name: &str, namespace: &str, labels: &Value) -> Value {
    let mut meta = Map::new();
    meta.insert(name_key.into(), json!(name));
    if !namespace.is_empty() {
        meta.insert("namespace".into(), json!(namespace));
    }
    meta.insert("labels".into(), labels.clone());
    let mut annotations = json!({
        HOOK: "PreSync",
        SYNC_WAVE: hook.wave.to_string(),
        DELETE_POLICY: hook.delete_policy,
    });
    if let Some(options) = hook.sync_options {
        annotations[SYNC_OPTIONS] = json!(options);
    }
    meta.insert("annotations".into(), annotations);
    Value::Object(meta)
}

/// The labels every hook carries (and its pods), plus `extra`.
fn labels(app: &AppContext, component: &str, extra: &[(&str, &str)]) -> Value {
    let mut labels = Map::new();
    labels.insert("app.kubernetes.io/managed-by".into(), json!("sluice"));
    let instance = if app.argocd_app_name.is_empty() {
        &app.app_name
    } else {
        &app.argocd_app_name
    };
    let known = [
        ("app.kubernetes.io/instance", instance.as_str()),
        ("app.kubernetes.io/component", component),
        (
            "sluice.io/change-id",
            app.change_id.as_deref().unwrap_or(""),
        ),
        ("sluice.io/revision", app.revision_short.as_str()),
    ];
    for (key, value) in known.iter().chain(extra) {
        let value = label_value(value);
        if !value.is_empty() {
            labels.insert((*key).into(), json!(value));
        }
    }
    Value::Object(labels)
}

/// A valid label value for `raw` (at most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both
/// ends): other characters become `-`; a longer value is cut and ends in a hash of the whole.
pub fn label_value(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.len() <= MAX_LABEL {
        return trimmed.to_string();
    }
    let head =
        trimmed[..MAX_LABEL - HASH_LEN - 1].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{head}-{}", short_hash(raw.as_bytes()))
}

/// `<app>-<suffix>`, a DNS-1123 label of at most 63 characters. `app` is the sanitised app name
/// (anything but lower-case letters and digits becomes `-`); when the whole is too long the app part is cut and followed by 6 hex digits of its
/// hash, so that two long app names with the same beginning still get different names. `suffix` must
/// be a DNS-1123 label of at most 51 characters (a 40-character migration name and a hash).
pub fn object_name(app: &str, suffix: &str) -> String {
    let app: String = app
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    let app = app.trim_matches('-');
    let budget = MAX_LABEL.saturating_sub(suffix.len() + 1);
    if app.is_empty() {
        return suffix.to_string();
    }
    if app.len() <= budget {
        return format!("{app}-{suffix}");
    }
    let keep = budget.saturating_sub(7);
    let head = app[..keep].trim_end_matches('-');
    let hash = &sha256_hex(app.as_bytes())[..6];
    if head.is_empty() {
        format!("{hash}-{suffix}")
    } else {
        format!("{head}-{hash}-{suffix}")
    }
}

/// The first [`HASH_LEN`] hex digits of SHA-256.
fn short_hash(bytes: &[u8]) -> String {
    sha256_hex(bytes)[..HASH_LEN].to_string()
}

/// Seconds in a Go duration (`time.ParseDuration`: `90m`, `1h30m`, `1.5h`, `0`; units ns us µs ms s m
/// h; no days, no spaces, no upper case). `key` names the policy key in the error, which adds the fix
/// for the usual mistake, days.
fn go_duration_seconds(key: &str, text: &str) -> Result<f64, TransformError> {
    parse_go_duration(text).map_err(|message| TransformError::Duration {
        key: key.to_string(),
        value: text.to_string(),
        message,
    })
}

fn parse_go_duration(text: &str) -> Result<f64, String> {
    match crate::window::duration::parse_go_duration(text) {
        Ok(ns) if ns < 0 => Err("a negative duration makes no sense here".into()),
        Ok(ns) => Ok(ns as f64 / 1e9),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(required: bool, id: Option<&str>) -> ChangeSpec {
        ChangeSpec {
            id: id.map(String::from),
            id_pattern: crate::policy::DEFAULT_ID_PATTERN.into(),
            required,
        }
    }

    #[test]
    fn env_change_id_overrides_the_policy_and_must_match_the_pattern() {
        let s = spec(false, Some("CHG-1"));
        assert_eq!(
            resolve_change_id(&s, Some(("ARGOCD_ENV_CHANGE_ID", "CHG-2"))).unwrap(),
            Some("CHG-2".into())
        );
        assert_eq!(resolve_change_id(&s, None).unwrap(), Some("CHG-1".into()));
        let e = resolve_change_id(&s, Some(("PARAM_CHANGE_ID", "chg 3")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("PARAM_CHANGE_ID") && e.contains("^CHG-[0-9]+$"),
            "{e}"
        );
    }

    #[test]
    fn required_change_id_missing_says_how_to_set_it() {
        let e = resolve_change_id(&spec(true, None), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("spec.source.plugin.env") && e.contains("change.id"),
            "{e}"
        );
    }

    #[test]
    fn go_durations_parse_like_time_parse_duration() {
        assert_eq!(parse_go_duration("720h"), Ok(720.0 * 3600.0));
        assert_eq!(parse_go_duration("1h30m"), Ok(5400.0));
        assert_eq!(parse_go_duration("1.5h"), Ok(5400.0));
        assert_eq!(parse_go_duration("0"), Ok(0.0));
        assert_eq!(parse_go_duration("300ms"), Ok(0.3));
        for bad in ["", "h", "1", "1H", "1h 30m", "1..5h", "-1h", "0x"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_go_duration("30d").unwrap_err().contains("`720h`"));
    }

    #[test]
    fn label_values_are_valid_and_bounded() {
        assert_eq!(label_value("team-a_shop"), "team-a_shop");
        assert_eq!(label_value("CHG 12/3"), "CHG-12-3");
        assert_eq!(label_value("--x--"), "x");
        let long = label_value(&"a".repeat(100));
        assert_eq!(long.len(), 63);
        assert_ne!(long, label_value(&"a".repeat(101)));
    }

    #[test]
    fn names_fit_in_63_characters_and_keep_long_apps_apart() {
        assert_eq!(object_name("shop", "sluice-guard"), "shop-sluice-guard");
        let a = object_name(&"payments-".repeat(8), "schema-0123456789");
        let b = object_name(&format!("{}x", "payments-".repeat(8)), "schema-0123456789");
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert!(crate::policy::is_dns_label(&a), "{a}");
        let max = object_name(&"a".repeat(63), &format!("{}-0123456789", "m".repeat(40)));
        assert!(
            max.len() <= 63 && crate::policy::is_dns_label(&max),
            "{max}"
        );
    }

    #[test]
    fn empty_app_name_gives_a_valid_object_name() {
        // Once found by the property below (app = "", name = "aa").
        let n = object_name("", "aa-0123456789");
        assert!(
            !n.is_empty() && !n.starts_with('-') && !n.ends_with('-'),
            "{n}"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_app_name_gives_a_valid_object_name(app in "\\PC{0,120}", name in "[a-z][a-z0-9-]{0,38}[a-z0-9]") {
            let n = object_name(&app, &format!("{name}-0123456789"));
            proptest::prop_assert!(n.len() <= 63 && !n.starts_with('-') && !n.ends_with('-'), "{}", n);
            proptest::prop_assert!(n.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'), "{}", n);
        }

        #[test]
        fn any_text_gives_a_valid_label_value(raw in "\\PC{0,150}") {
            let v = label_value(&raw);
            proptest::prop_assert!(v.len() <= 63, "{}", v);
            proptest::prop_assert!(v.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')), "{}", v);
            proptest::prop_assert!(v.is_empty() || (v.as_bytes()[0].is_ascii_alphanumeric() && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric()), "{}", v);
        }
    }
}
