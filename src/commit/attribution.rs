//! Attribution: which change an Argo CD operation belongs to, and its emergency id, read from what the
//! Application and its operation say (the plugin settings `generate` enforced, `operation.info`) and
//! then from the commit message. Takes the Application and its `operationState` as JSON and a parsed
//! message; gives ids and where each came from. Pure: no clock, no I/O.

use super::message::{CommitMessage, IdSource, EMERGENCY};
use regex::Regex;
use serde_json::Value;

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(*k))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)?.as_str()
}

/// The change id of the operation and where it came from, first found of: the Application's setting
/// (plugin env `CHANGE_ID` or parameter `change-id`, what `generate` enforced), the operation's info
/// (`argocd app sync --info change=CHG-1234`), then the commit ([`CommitMessage::change_id`]). Only
/// ids that match `pattern` count.
pub fn change_id_of<'a>(
    app: &'a Value,
    op: &'a Value,
    message: Option<&'a CommitMessage>,
    pattern: &Regex,
) -> Option<(&'a str, IdSource)> {
    set_on_operation(app, op, "CHANGE_ID", &["change", "changeid"], pattern)
        .or_else(|| message?.change_id(pattern))
}

/// An id set for the operation, first found of: the Application's plugin setting `setting`, then the
/// operation's info under one of `info` (only ids that match `pattern` count).
fn set_on_operation<'a>(
    app: &'a Value,
    op: &'a Value,
    setting: &str,
    info: &[&str],
    pattern: &Regex,
) -> Option<(&'a str, IdSource)> {
    let ok = |v: &&str| pattern.is_match(v);
    app_setting(app, op, setting)
        .filter(ok)
        .map(|id| (id, IdSource::Application))
        .or_else(|| {
            operation_info(op, info)
                .filter(ok)
                .map(|id| (id, IdSource::Operation))
        })
}

/// The emergency change id and where it came from: the Application's `SLUICE_EMERGENCY` setting
/// (Argo CD passes it to the plugin as `ARGOCD_ENV_SLUICE_EMERGENCY`), the operation's info
/// `emergency`, then an `Emergency:` trailer of the commit.
pub fn emergency_of<'a>(
    app: &'a Value,
    op: &'a Value,
    message: Option<&'a CommitMessage>,
    pattern: &Regex,
) -> Option<(&'a str, IdSource)> {
    set_on_operation(app, op, "SLUICE_EMERGENCY", &["emergency"], pattern).or_else(|| {
        message?
            .trailer_values(EMERGENCY)
            .find(|v| pattern.is_match(v))
            .map(|id| (id, IdSource::Trailer))
    })
}

/// The plugin setting `name` of the sources the sync used (`syncResult.source(s)`, else the spec's):
/// env `name` (or `ARGOCD_ENV_<name>`), else the parameter whose variable is `PARAM_<name>` (Argo CD
/// upper-cases a parameter's name and turns anything but letters and digits into `_`, so
/// `change-id` is `PARAM_CHANGE_ID`), the same order as `generate` reads them.
fn app_setting<'a>(app: &'a Value, op: &'a Value, name: &str) -> Option<&'a str> {
    let list = |v: Option<&'a Value>| v.and_then(Value::as_array).into_iter().flatten();
    let sources: Vec<&Value> = get(op, &["syncResult", "source"])
        .into_iter()
        .chain(list(get(op, &["syncResult", "sources"])))
        .chain(get(app, &["spec", "source"]))
        .chain(list(get(app, &["spec", "sources"])))
        .collect();
    let prefixed = format!("ARGOCD_ENV_{name}");
    let env = sources
        .iter()
        .flat_map(|s| list(get(s, &["plugin", "env"])))
        .find(|e| str_at(e, &["name"]).is_some_and(|n| n == name || n == prefixed))
        .and_then(|e| str_at(e, &["value"]));
    let param = || {
        sources
            .iter()
            .flat_map(|s| list(get(s, &["plugin", "parameters"])))
            .find(|p| str_at(p, &["name"]).is_some_and(|n| param_var(n) == name))
            .and_then(|p| str_at(p, &["string"]))
    };
    env.filter(|v| !v.is_empty())
        .or_else(|| param().filter(|v| !v.is_empty()))
}

/// The variable name Argo CD gives a plugin parameter, without `PARAM_`.
fn param_var(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The value of the operation's info item (`operation.info`, a list of `{name, value}`) whose name,
/// lower-cased without `-` and `_`, is one of `names`.
fn operation_info<'a>(op: &'a Value, names: &[&str]) -> Option<&'a str> {
    get(op, &["operation", "info"])?
        .as_array()?
        .iter()
        .find(|i| {
            str_at(i, &["name"]).is_some_and(|n| {
                let n: String = n
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                names.contains(&n.as_str())
            })
        })
        .and_then(|i| str_at(i, &["value"]))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}
