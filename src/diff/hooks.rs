//! Every hook the sync of the head render will run: sluice's (guard, backup, migrations, paired with
//! the base by what they are, with new and changed SQL files) and the app's own Argo CD and Helm hooks.

use super::object::{
    text, Obj, COMPONENT, HELM_HOOK, HELM_WEIGHT, HOOK, MANAGED_BY, MIGRATION, PHASES, SYNC_WAVE,
};
use serde::Serialize;
use serde_json::{Map, Value};

/// A hook of the head render: it runs on the next sync, in its phase and wave.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRun {
    /// `guard`, `backup`, `migration` (sluice's), or `app` (the app's own hook objects).
    pub hook: String,
    /// `PreSync`, `Sync`, `PostSync`, `SyncFail`, `PostDelete`.
    pub phase: String,
    pub wave: i64,
    pub object: String,
    pub detail: String,
    /// Migrations: files of the `sqlDir` not at base, and files whose content changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_files: Vec<String>,
}

/// The phases and wave of an object that is a hook (Argo CD's annotation, else Helm's as Argo CD maps
/// it); `None` for an ordinary object. A `Skip` hook is not applied at all: no phase.
pub(super) fn hook_phases(o: &Obj) -> Option<(Vec<String>, i64)> {
    let annotation = |k: &str| {
        text(&o.value, &["metadata", "annotations", k])
            .trim()
            .to_string()
    };
    let wave = |k: &str| annotation(k).parse::<i64>().unwrap_or(0);
    let argo = annotation(HOOK);
    if !argo.is_empty() {
        let phases: Vec<String> = argo
            .split(',')
            .map(str::trim)
            .filter(|p| PHASES.contains(p))
            .map(String::from)
            .collect();
        return (!phases.is_empty()).then(|| (phases, wave(SYNC_WAVE)));
    }
    let helm = annotation(HELM_HOOK);
    if helm.is_empty() {
        return None;
    }
    let mut phases = Vec::new();
    for h in helm.split(',').map(str::trim) {
        let phase = match h {
            "pre-install" | "pre-upgrade" => "PreSync",
            "post-install" | "post-upgrade" => "PostSync",
            _ => continue,
        };
        if !phases.iter().any(|p| p == phase) {
            phases.push(phase.to_string());
        }
    }
    (!phases.is_empty()).then(|| (phases, wave(HELM_WEIGHT)))
}

/// Every hook of the head render, in the order Argo CD runs them (phase, then wave): sluice's, with
/// what is new in each migration's files, and the app's own.
pub(super) fn hooks(base: &[Obj], head: &[Obj]) -> Vec<HookRun> {
    let label = |o: &Obj, k: &str| text(&o.value, &["metadata", "labels", k]).to_string();
    let is_sluice = |o: &Obj| label(o, MANAGED_BY) == "sluice" && !label(o, COMPONENT).is_empty();
    let files = |side: &[Obj], migration: &str| -> Option<Map<String, Value>> {
        side.iter()
            .find(|o| is_sluice(o) && o.kind == "ConfigMap" && label(o, MIGRATION) == migration)
            .and_then(|o| o.value.get("data").and_then(Value::as_object).cloned())
    };
    let mut out = Vec::new();
    for h in head {
        let Some((phases, wave)) = hook_phases(h) else {
            continue;
        };
        if is_sluice(h) && h.kind == "ConfigMap" {
            continue;
        }
        let component = if is_sluice(h) {
            label(h, COMPONENT)
        } else {
            "app".to_string()
        };
        let mut run = HookRun {
            hook: component.clone(),
            phase: phases.join(","),
            wave,
            object: h.display.clone(),
            detail: String::new(),
            new_files: Vec::new(),
            changed_files: Vec::new(),
        };
        match component.as_str() {
            "guard" => {
                run.detail =
                    "checks the maintenance windows and freezes before anything is applied".into();
            }
            "backup" => {
                let namespaces: Vec<&str> = h
                    .value
                    .get("spec")
                    .and_then(|s| s.get("includedNamespaces"))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                run.detail = format!(
                    "Velero backup of namespace{} {} (ttl {})",
                    if namespaces.len() == 1 { "" } else { "s" },
                    namespaces.join(", "),
                    text(&h.value, &["spec", "ttl"])
                );
            }
            "migration" => {
                let name = label(h, MIGRATION);
                let new_files = files(head, &name).unwrap_or_default();
                let old_files = files(base, &name).unwrap_or_default();
                for (file, content) in &new_files {
                    match old_files.get(file) {
                        None => run.new_files.push(file.clone()),
                        Some(old) if old != content => run.changed_files.push(file.clone()),
                        Some(_) => {}
                    }
                }
                let nothing_new = run.new_files.is_empty() && run.changed_files.is_empty();
                run.detail = if !new_files.is_empty() && nothing_new {
                    format!("migration {name}: no new SQL files")
                } else {
                    format!("migration {name}")
                };
            }
            _ => {
                let policy = text(
                    &h.value,
                    &[
                        "metadata",
                        "annotations",
                        "argocd.argoproj.io/hook-delete-policy",
                    ],
                );
                run.detail = format!(
                    "the app's own hook{}",
                    if policy.is_empty() {
                        String::new()
                    } else {
                        format!(" (delete policy {policy})")
                    }
                );
            }
        }
        out.push(run);
    }
    let order = |r: &HookRun| {
        let first = r.phase.split(',').next().unwrap_or("");
        (
            PHASES
                .iter()
                .position(|p| *p == first)
                .unwrap_or(PHASES.len()),
            r.wave,
        )
    };
    out.sort_by_key(order);
    out
}
