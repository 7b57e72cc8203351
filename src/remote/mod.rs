//! What sluice asks of outside systems (Git hosts, ticket systems) and keeps of their answers, shared by
//! their clients (src/host, src/itsm): a request ([`Req`]), a [`Source`] that answers it (the live
//! client, or the replay of a snapshot), the trimmed [`Exchange`]s a gather keeps as evidence, the
//! error of a system that did not answer as needed, credentials that never print ([`secret`]), and
//! the HTTP helpers both clients use (`http`). Knows no system in particular.
//!
//! ```text
//! gather (per system) → Gather::get(req, trim) → Source::fetch (live | Replay) → trimmed answer
//!   → Exchange {request, body} → the snapshot of the judgment (stored by digest)
//! ```

pub mod http;
pub mod secret;

use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Req {
    /// Path and query under the API's base URL, e.g. `/repos/o/r/pulls/7/reviews?per_page=100`.
    pub path: String,
    pub paging: Paging,
}

/// How the answer is paged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// One answer.
    None,
    /// An array, continued through `Link: <…>; rel="next"`.
    Array,
    /// An object whose member (`commits`) is an array continued through `Link` pages.
    Member(&'static str),
}

impl Req {
    pub fn one(path: String) -> Req {
        Req {
            path,
            paging: Paging::None,
        }
    }

    pub fn all(path: String) -> Req {
        Req {
            path,
            paging: Paging::Array,
        }
    }

    /// The key of the request in a snapshot: `GET path`.
    pub fn key(&self) -> String {
        format!("GET {}", self.path)
    }
}

/// Why an outside system did not answer as needed. Never holds a credential: messages are written
/// from status codes and the system's own error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{request}: {message}")]
pub struct RemoteError {
    /// `GET path` (or what was being done).
    pub request: String,
    pub message: String,
    /// The host said so itself (an HTTP answer), rather than not answering.
    pub answered: bool,
    /// The status, when there was an answer.
    pub status: Option<u16>,
}

impl RemoteError {
    pub fn new(request: &str, message: impl Into<String>) -> RemoteError {
        RemoteError {
            request: request.to_owned(),
            message: message.into(),
            answered: false,
            status: None,
        }
    }
}

/// Where answers come from: the outside system, or a snapshot.
pub trait Source: Sync {
    /// The answer to `req` (all pages of it, joined), as the system sent it.
    fn fetch(&self, req: &Req) -> impl Future<Output = Result<Value, RemoteError>> + Send;
}

/// One request of a gather and its trimmed answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Exchange {
    /// `GET path`.
    pub request: String,
    /// The answer, trimmed to the members the judgment reads; `null` for a 404 the gather expects
    /// (a CODEOWNERS location that does not exist).
    pub body: Value,
}

/// A gather in progress: the source and the exchanges so far.
pub struct Gather<'a, S: Source> {
    pub source: &'a S,
    pub exchanges: Vec<Exchange>,
}

impl<'a, S: Source> Gather<'a, S> {
    pub fn new(source: &'a S) -> Self {
        Gather {
            source,
            exchanges: Vec::new(),
        }
    }

    /// Fetches `req`, trims the answer with `trim`, keeps it, and gives it back.
    ///
    /// # Errors
    ///
    /// What the source says.
    pub async fn get(
        &mut self,
        req: Req,
        trim: impl Fn(&Value) -> Value,
    ) -> Result<Value, RemoteError> {
        let raw = self.source.fetch(&req).await?;
        let body = trim(&raw);
        self.exchanges.push(Exchange {
            request: req.key(),
            body: body.clone(),
        });
        Ok(body)
    }

    /// As [`Gather::get`], but an answer with one of `absent` (404 for a file that may not exist, 403
    /// for members the credentials may not read) is kept as `null` and given as `None`.
    ///
    /// # Errors
    ///
    /// What the source says, but for the statuses in `absent`.
    pub async fn get_optional(
        &mut self,
        req: Req,
        trim: impl Fn(&Value) -> Value,
        absent: &[u16],
    ) -> Result<Option<Value>, RemoteError> {
        match self.source.fetch(&req).await {
            Ok(raw) => {
                let body = trim(&raw);
                self.exchanges.push(Exchange {
                    request: req.key(),
                    body: body.clone(),
                });
                Ok(Some(body))
            }
            Err(e) if e.status.is_some_and(|s| absent.contains(&s)) => {
                self.exchanges.push(Exchange {
                    request: req.key(),
                    body: Value::Null,
                });
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// As [`Gather::get`], but a failure is kept as `{"unreadable": why}` and given as that value:
    /// for what is evidence only (the host's branch rules), never a reason to stop.
    pub async fn get_or_note(&mut self, req: Req, trim: fn(&Value) -> Value) -> Value {
        match self.get(req.clone(), trim).await {
            Ok(v) => v,
            Err(e) => {
                let note = serde_json::json!({ "unreadable": e.message });
                self.exchanges.push(Exchange {
                    request: req.key(),
                    body: note.clone(),
                });
                note
            }
        }
    }
}

/// A [`Source`] that answers from the exchanges of a snapshot: a `null` answer is an absence the
/// gather expected (a 404 it reads as "not there"), a request it lacks is an error.
pub struct Replay {
    answers: HashMap<String, Value>,
}

impl Replay {
    pub fn new(exchanges: &[Exchange]) -> Replay {
        Replay {
            answers: exchanges
                .iter()
                .map(|e| (e.request.clone(), e.body.clone()))
                .collect(),
        }
    }
}

impl Source for Replay {
    fn fetch(&self, req: &Req) -> impl Future<Output = Result<Value, RemoteError>> + Send {
        let key = req.key();
        let answer = match self.answers.get(&key) {
            Some(Value::Null) => Err(RemoteError {
                request: key,
                message: "absent (as the snapshot recorded)".into(),
                answered: true,
                status: Some(404),
            }),
            Some(v) => Ok(v.clone()),
            None => Err(RemoteError::new(
                &key,
                "the snapshot holds no answer to this request",
            )),
        };
        std::future::ready(answer)
    }
}

/// Keeps only `members` of an object (dotted paths reach into nested objects; `a[].b` into every
/// element of the array `a`). Anything not asked for is dropped: the snapshot holds what the
/// judgment read and nothing else (no e-mail addresses it does not use, no tokens, no URLs of avatars).
pub fn keep(value: &Value, members: &[&str]) -> Value {
    let Value::Object(map) = value else {
        return Value::Null;
    };
    let mut out = serde_json::Map::new();
    for member in members {
        let (head, rest) = match member.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (*member, None),
        };
        let (name, each) = match head.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (head, false),
        };
        let Some(v) = map.get(name) else {
            continue;
        };
        let kept = match (rest, each, v) {
            (None, _, v) => v.clone(),
            (Some(rest), true, Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|i| merge_into(&Value::Null, &keep(i, &[rest])))
                    .collect(),
            ),
            (Some(rest), false, v @ Value::Object(_)) => keep(v, &[rest]),
            (Some(_), _, Value::Null) => Value::Null,
            (Some(_), _, _) => continue,
        };
        let merged = merge_into(out.get(name).unwrap_or(&Value::Null), &kept);
        out.insert(name.to_owned(), merged);
    }
    Value::Object(out)
}

/// `b` merged into `a` (objects member by member, arrays element by element, else `b`).
fn merge_into(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut out = x.clone();
            for (k, v) in y {
                let merged = merge_into(x.get(k).unwrap_or(&Value::Null), v);
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            Value::Array(x.iter().zip(y).map(|(a, b)| merge_into(a, b)).collect())
        }
        (_, b) => b.clone(),
    }
}

/// `keep` over every element of an array (anything else reads as an empty array).
pub fn keep_each(value: &Value, members: &[&str]) -> Value {
    Value::Array(
        value
            .as_array()
            .map(|items| items.iter().map(|i| keep(i, members)).collect())
            .unwrap_or_default(),
    )
}

/// A string member, `None` when absent or of another type.
pub fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.as_object()?.get(*k))?
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keep_takes_only_the_members_asked_for() {
        let v = json!({"number": 7, "user": {"login": "ann", "avatar_url": "x"}, "secret": "no",
            "commits": [{"sha": "a", "parents": [{"sha": "p", "url": "u"}], "x": 1}],
            "base": null});
        let kept = keep(
            &v,
            &[
                "number",
                "user.login",
                "commits[].sha",
                "commits[].parents",
                "base.ref",
                "gone",
            ],
        );
        assert_eq!(
            kept,
            json!({"number": 7, "user": {"login": "ann"}, "commits": [{"sha": "a", "parents": [{"sha": "p", "url": "u"}]}], "base": null})
        );
        let deeper = keep(&v, &["commits[].parents[].sha"]);
        assert_eq!(deeper, json!({"commits": [{"parents": [{"sha": "p"}]}]}));
        assert_eq!(
            keep_each(&json!([{"a": 1, "b": 2}]), &["a"]),
            json!([{"a": 1}])
        );
        assert_eq!(keep_each(&json!({"a": 1}), &["a"]), json!([]));
    }

    #[test]
    fn a_replay_answers_what_the_snapshot_holds() {
        let replay = Replay::new(&[
            Exchange {
                request: "GET /a".into(),
                body: json!({"x": 1}),
            },
            Exchange {
                request: "GET /gone".into(),
                body: Value::Null,
            },
        ]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(
            rt.block_on(replay.fetch(&Req::one("/a".into()))).unwrap(),
            json!({"x": 1})
        );
        let gone = rt
            .block_on(replay.fetch(&Req::one("/gone".into())))
            .unwrap_err();
        assert_eq!(gone.status, Some(404));
        let none = rt
            .block_on(replay.fetch(&Req::one("/b".into())))
            .unwrap_err();
        assert!(none.message.contains("holds no answer"), "{none}");
    }
}
