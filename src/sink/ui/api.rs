//! The Argo CD extension's API (docs/ui.md): `GET /v1/ui/apps/NAMESPACE/NAME/status` (the current
//! change, for the status panel) and `GET /v1/ui/apps/NAMESPACE/NAME/changes?after=SEQ&limit=N` (the
//! change history with every record whole, paged like `GET /v1/records`). Only for the app Argo CD's
//! proxy authorised the user for: the proxy's shared secret must be present, and the app in the URL
//! must be the app in `Argocd-Application-Name`.

use super::summary;
use super::{
    digest, equal, parse_query, Access, Answer, APP_HEADER, PROJECT_HEADER, PROXY_SECRET_HEADER,
};
use crate::ledger::{Reader, Select};
use crate::record::{Body, Record};
use hyper::header::HeaderMap;
use serde_json::{json, Value};

/// Default and largest `limit` of `changes` (records, not changes).
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Records the status panel's current change is looked for in.
const STATUS_WINDOW: usize = 200;

/// The Application a request is for, as the proxy named it and the URL repeats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub namespace: String,
    pub name: String,
    pub project: String,
}

/// Checks the proxy's secret, the headers Argo CD's proxy requires, and that the URL's app is the
/// header's app (Argo CD checked the user's access to the header's app only).
///
/// # Errors
///
/// The answer to send instead: 404 when the API is off, 401 without the secret, 400 for a malformed
/// header or path, 403 when the URL names another app.
pub fn authorize(access: &Access, path: &str, headers: &HeaderMap) -> Result<App, Answer> {
    let Some(expected) = access.proxy else {
        return Err(Answer::error(
            404,
            "the UI API is off: start the sink with --ui-proxy-secret-file",
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match header(PROXY_SECRET_HEADER) {
        Some(secret) if equal(&digest(secret), &expected) => {}
        _ => {
            return Err(Answer::error(
                401,
                "only Argo CD's proxy extension may call this API (the proxy's secret header is missing or wrong)",
            ))
        }
    }
    let Some((namespace, name)) = header(APP_HEADER).and_then(|h| h.split_once(':')) else {
        return Err(Answer::error(
            400,
            "the Argocd-Application-Name header (NAMESPACE:NAME) is required",
        ));
    };
    let Some(project) = header(PROJECT_HEADER).filter(|p| !p.is_empty()) else {
        return Err(Answer::error(
            400,
            "the Argocd-Project-Name header is required",
        ));
    };
    let Some((url_ns, url_name, _)) = split(path) else {
        return Err(Answer::error(
            400,
            "use /v1/ui/apps/NAMESPACE/NAME/status or /v1/ui/apps/NAMESPACE/NAME/changes",
        ));
    };
    if url_ns != namespace || url_name != name {
        return Err(Answer::error(
            403,
            "the app in the URL is not the app Argo CD authorised (Argocd-Application-Name)",
        ));
    }
    Ok(App {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        project: project.to_owned(),
    })
}

/// `/v1/ui/apps/NS/NAME/WHAT` → (NS, NAME, WHAT), each a DNS-1123 name (WHAT a word).
fn split(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.strip_prefix("/v1/ui/apps/")?;
    let mut parts = rest.split('/');
    let (ns, name, what) = (parts.next()?, parts.next()?, parts.next()?);
    let dns = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    (parts.next().is_none() && dns(ns) && dns(name)).then_some((ns, name, what))
}

/// Answers an authorised request.
pub fn answer(access: &Access, reader: &Reader, app: &App, path: &str, query: &str) -> Answer {
    match split(path).map(|(_, _, what)| what) {
        Some("status") => status(access, reader, app),
        Some("changes") => changes(access, reader, app, query),
        _ => Answer::error(404, "no such endpoint: use …/status or …/changes"),
    }
}

/// The app's records (`after`, `limit` as `GET /v1/records`), without those of a same-named app in
/// another namespace.
fn records(
    access: &Access,
    reader: &Reader,
    app: &App,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Record>, Answer> {
    let select = Select {
        app: Some(app.name.clone()),
        change: None,
    };
    let found = access
        .queries
        .query(reader, &select, after, limit)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read the audit log for the UI");
            Answer::error(500, "cannot read the audit log")
        })?;
    Ok(of_namespace(found, &app.namespace))
}

/// The records of the app in `namespace`, without those of a same-named app in another namespace.
/// Sync records name the app's namespace; guard decisions name the app and its destination
/// namespace only: one is kept unless its destination is that of a sync of the other app and of no
/// sync of this one.
fn of_namespace(records: Vec<Record>, namespace: &str) -> Vec<Record> {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for r in &records {
        if let Body::Sync(s) = &r.body {
            let dest = s.destination.namespace.clone();
            if s.app.namespace.as_deref().is_none_or(|ns| ns == namespace) {
                ours.push(dest);
            } else {
                theirs.push(dest);
            }
        }
    }
    records
        .into_iter()
        .filter(|r| {
            // `if let`s rather than a match: other kinds of record (verification reports) name the
            // app as a guard decision does, and are kept.
            if let Body::Sync(s) = &r.body {
                return s.app.namespace.as_deref().is_none_or(|ns| ns == namespace);
            }
            if let Body::Guard(g) = &r.body {
                return ours.contains(&g.destination.namespace)
                    || !theirs.contains(&g.destination.namespace);
            }
            true
        })
        .collect()
}

fn app_json(app: &App) -> Value {
    json!({"namespace": app.namespace, "name": app.name, "project": app.project})
}

/// The current change: the newest change among the app's latest records, without its records.
fn status(access: &Access, reader: &Reader, app: &App) -> Answer {
    let records = match records(access, reader, app, None, STATUS_WINDOW) {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    let current = summary::changes(&records).into_iter().next().map(|mut c| {
        if let Some(o) = c.as_object_mut() {
            o.remove("records");
        }
        c
    });
    Answer::json(200, &json!({"app": app_json(app), "current": current}))
}

/// The change history of a page of the app's records.
fn changes(access: &Access, reader: &Reader, app: &App, query: &str) -> Answer {
    let mut after = None;
    let mut limit = DEFAULT_LIMIT;
    for (key, value) in parse_query(query) {
        match key.as_str() {
            "after" => match value.parse() {
                Ok(n) => after = Some(n),
                Err(_) => return Answer::error(400, "after must be a record seq (an integer ≥ 0)"),
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if n >= 1 => limit = n.min(MAX_LIMIT),
                _ => {
                    return Answer::error(
                        400,
                        &format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    )
                }
            },
            _ => {
                return Answer::error(
                    400,
                    &format!("unknown query parameter {key:?} (after, limit)"),
                )
            }
        }
    }
    let records = match records(access, reader, app, after, limit) {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    let last = records.last().map(|r| r.seq);
    let changes = summary::changes(&records);
    Answer::json(
        200,
        &json!({
            "app": app_json(app),
            "page": {
                "records": records.len(),
                "first": records.first().map(|r| r.seq),
                "last": last,
                "after": after,
                "limit": limit,
                // Without `after` the page is the newest records; with it, the next page starts after `last`.
                "next": last.filter(|_| records.len() == limit).map(|l| format!("after={l}&limit={limit}")),
            },
            "current": changes.first(),
            "changes": changes,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(proxy: Option<&str>) -> Access {
        Access::new(proxy.map(digest), None, None, std::path::PathBuf::new())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn refuses_without_the_secret_and_for_another_app() {
        let a = access(Some("proxy-secret"));
        let path = "/v1/ui/apps/argocd/shop/changes";
        let good = [
            (PROXY_SECRET_HEADER, "proxy-secret"),
            (APP_HEADER, "argocd:shop"),
            (PROJECT_HEADER, "default"),
        ];
        assert!(authorize(&a, path, &headers(&good)).is_ok());
        let e = authorize(&a, path, &headers(&good[1..])).unwrap_err();
        assert_eq!(e.status, 401);
        let wrong = [(PROXY_SECRET_HEADER, "proxy-secreT"), good[1], good[2]];
        assert_eq!(
            authorize(&a, path, &headers(&wrong)).unwrap_err().status,
            401
        );
        let other = [good[0], (APP_HEADER, "argocd:cart"), good[2]];
        assert_eq!(
            authorize(&a, path, &headers(&other)).unwrap_err().status,
            403
        );
        let other_ns = [good[0], (APP_HEADER, "team-a:shop"), good[2]];
        assert_eq!(
            authorize(&a, path, &headers(&other_ns)).unwrap_err().status,
            403
        );
        assert_eq!(
            authorize(&a, path, &headers(&good[..2]))
                .unwrap_err()
                .status,
            400
        );
        let bad = "/v1/ui/apps/argocd/../cart/changes";
        assert_eq!(authorize(&a, bad, &headers(&good)).unwrap_err().status, 400);
        assert_eq!(
            authorize(&access(None), path, &headers(&good))
                .unwrap_err()
                .status,
            404
        );
    }
}
