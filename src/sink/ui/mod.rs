//! The sink's read side for people (docs/ui.md): the JSON API of the Argo CD UI extension, reached only
//! through Argo CD's proxy extension (`/v1/ui/…`), and the auditor's pages, server-rendered HTML
//! (`/audit…`). Takes a request's method, path, query and headers; gives an [`Answer`]. Reads the log
//! through the index on the sink's idle-priority query threads (query.rs); never writes, never logs a
//! token.
//!
//! ```text
//! /v1/ui/apps/NS/NAME/(status|changes)  proxy secret + Argocd-Application-Name = NS:NAME  → api
//! /audit, /audit/change/ID, /audit/records.json   read token (Bearer, or Basic password)  → page
//! ```
//!
//! Argo CD's proxy (server/extension/extension.go, `CallExtension`) checks the user's access to the
//! Application named in `Argocd-Application-Name`, strips `/extensions/sluice` from the path and
//! forwards the rest, adding the headers configured for the service: the shared secret here. It never
//! compares that header with anything in the URL, so this module does: a request whose URL names
//! another app than the header is refused before anything is read.

pub mod api;
pub mod page;
pub mod search;
pub mod summary;

use super::query::QueryPool;
use crate::ledger::Reader;
use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::Method;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;

/// The header Argo CD's proxy adds with the shared secret (argocd-cm-patch: `extension.config.sluice`).
pub const PROXY_SECRET_HEADER: &str = "sluice-proxy-secret";
/// The Application the user was authorised for, `NAMESPACE:NAME`.
pub const APP_HEADER: &str = "argocd-application-name";
/// The Application's project.
pub const PROJECT_HEADER: &str = "argocd-project-name";

/// Who may read what.
pub struct Access {
    /// SHA-256 of the proxy's shared secret (`--ui-proxy-secret-file`); `None`: the extension's API is off.
    pub proxy: Option<[u8; 32]>,
    /// SHA-256 of the token the auditor's pages take: the read token, as `GET /v1/records` (the
    /// write token never reads).
    pub read: Option<[u8; 32]>,
    /// SHA-256 of the write token, only to name it when it is sent to a page.
    write: Option<[u8; 32]>,
    /// Where the signed checkpoints are (`DATA_DIR/checkpoints`).
    pub data_dir: PathBuf,
    /// Where the queries run: the sink's query threads.
    pub queries: Arc<QueryPool>,
}

impl Access {
    /// The access of a sink with these token digests. Without a read token but with a write token the
    /// pages are off (403), as reading over HTTP is; with neither (`--insecure-no-auth`) they are open.
    pub fn new(
        proxy: Option<[u8; 32]>,
        read: Option<[u8; 32]>,
        write: Option<[u8; 32]>,
        data_dir: PathBuf,
        queries: Arc<QueryPool>,
    ) -> Self {
        Access {
            proxy,
            read,
            write,
            data_dir,
            queries,
        }
    }
}

/// An answer before the HTTP layer sends it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// One more header (`WWW-Authenticate` on a 401, the content security policy on a page).
    pub extra: Option<(&'static str, &'static str)>,
}

impl Answer {
    fn json(status: u16, body: &serde_json::Value) -> Self {
        Answer {
            status,
            content_type: "application/json",
            body: body.to_string(),
            extra: None,
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Answer::json(status, &serde_json::json!({ "error": message }))
    }

    fn html(status: u16, body: String) -> Self {
        Answer {
            status,
            content_type: "text/html; charset=utf-8",
            body,
            // No script, no external asset: inline styles only.
            extra: Some((
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'",
            )),
        }
    }
}

/// Answers a request the route table gives this module (`/v1/ui/…`, `/audit`, `/audit/…`,
/// src/sink/routes.rs); the query runs on a blocking thread.
pub async fn handle(
    access: Arc<Access>,
    reader: Reader,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        return Answer::error(405, "method not allowed");
    }
    let (path, query) = (path.to_owned(), query.to_owned());
    let run: Box<dyn FnOnce() -> Answer + Send> = if path.starts_with("/v1/ui/") {
        let app = match api::authorize(&access, &path, headers) {
            Ok(app) => app,
            Err(answer) => return answer,
        };
        Box::new(move || api::answer(&access, &app, &path, &query))
    } else {
        if let Err(answer) = authorize_read(&access, headers) {
            return answer;
        }
        Box::new(move || page::answer(&access, &reader, &path, &query))
    };
    tokio::task::spawn_blocking(run)
        .await
        .unwrap_or_else(|_| Answer::error(500, "the query failed"))
}

/// The auditor's pages: the read token as `Authorization: Bearer`, or as the password of HTTP Basic
/// (so that a browser can ask for it); any user name.
fn authorize_read(access: &Access, headers: &HeaderMap) -> Result<(), Answer> {
    let Some(expected) = access.read else {
        if access.write.is_none() {
            return Ok(());
        }
        return Err(Answer::html(
            403,
            page::message(
                "Reading is off",
                "This sink has no read token: reading over HTTP is off (start it with --read-token-file).",
            ),
        ));
    };
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(credential);
    let is_write = |token: &str| access.write.is_some_and(|w| equal(&digest(token), &w));
    match presented {
        Some(token) if equal(&digest(&token), &expected) => Ok(()),
        Some(token) if is_write(&token) => Err(Answer {
            extra: Some((
                "www-authenticate",
                "Basic realm=\"sluice audit\", charset=\"UTF-8\"",
            )),
            ..Answer::html(
                401,
                page::message(
                    "Sign in",
                    "This is the write token: the audit log's pages need the read token (any user name; the token as password).",
                ),
            )
        }),
        _ => Err(Answer {
            extra: Some((
                "www-authenticate",
                "Basic realm=\"sluice audit\", charset=\"UTF-8\"",
            )),
            ..Answer::html(
                401,
                page::message(
                    "Sign in",
                    "The audit log needs the read token (any user name; the token as password).",
                ),
            )
        }),
    }
}

/// The token of `Bearer TOKEN`, or the password of `Basic base64(user:password)`.
fn credential(value: &str) -> Option<String> {
    use base64::Engine as _;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        return text.split_once(':').map(|(_, p)| p.to_owned());
    }
    None
}

/// SHA-256 of a secret: comparing digests makes the comparison independent of its length.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equality that takes the same time wherever the inputs differ.
fn equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `a=b&c=d` with `+` and `%XX` decoded.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> std::sync::Arc<crate::sink::query::QueryPool> {
        let reader = crate::ledger::Reader::empty(crate::record::SCHEMA);
        std::sync::Arc::new(crate::sink::query::QueryPool::start(&reader, 1).unwrap())
    }

    #[test]
    fn the_pages_take_the_read_token_only_and_are_off_without_one() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, v.parse().unwrap());
            h
        };
        let both = Access::new(
            None,
            Some(digest("r")),
            Some(digest("w")),
            PathBuf::new(),
            pool(),
        );
        assert!(authorize_read(&both, &headers("Bearer r")).is_ok());
        let write = authorize_read(&both, &headers("Bearer w")).unwrap_err();
        assert_eq!(write.status, 401);
        assert!(
            write.body.contains("This is the write token"),
            "{}",
            write.body
        );
        // A write token and no read token: reading is off, whatever is sent.
        let write_only = Access::new(None, None, Some(digest("w")), PathBuf::new(), pool());
        assert_eq!(
            authorize_read(&write_only, &headers("Bearer w"))
                .unwrap_err()
                .status,
            403
        );
        // No token at all (--insecure-no-auth): open.
        let open = Access::new(None, None, None, PathBuf::new(), pool());
        assert!(authorize_read(&open, &HeaderMap::new()).is_ok());
    }

    #[test]
    fn basic_and_bearer_credentials() {
        assert_eq!(credential("Bearer abc").as_deref(), Some("abc"));
        // "auditor:s3cret:x" — the password may hold colons.
        assert_eq!(
            credential("Basic YXVkaXRvcjpzM2NyZXQ6eA==").as_deref(),
            Some("s3cret:x")
        );
        assert_eq!(credential("Basic !!!"), None);
        assert_eq!(credential("Digest abc"), None);
    }
}
