//! Who may do what at the sink (docs/audit-log.md, "Tokens"): the one decision between a request's
//! bearer credential and a route. Takes the credential and the route, gives the caller or a refusal
//! (status and a message that says what to do); never logs or returns a token.
//!
//! | caller | credential | may |
//! |---|---|---|
//! | Argo CD Notifications | the write token (`--token-file`) | `POST /v1/events` (and the hook Jobs' routes on a sink without `--guard-token-review`) |
//! | an operator (`sluice audit review`) | the write token | `POST /v1/reviews` |
//! | a hook Job: the guard, the verify hook | its projected `ServiceAccount` token, audience `sluice`, checked with the Kubernetes `TokenReview` API (`--guard-token-review`) | `POST /v1/guard`, `POST /v1/decide`, `POST /v1/verifications` for apps deployed to the token's own namespace |
//! | an auditor, a witness | the read token (`--read-token-file`) | `GET /v1/records`, `GET /v1/log/…` |
//! | anyone | none (`--insecure-no-auth`, loopback only) | everything |
//!
//! The write token never reads and the read token never writes; a hook Job's token never writes
//! `/v1/events` or `/v1/reviews`. The `TokenReview` call itself is behind [`Reviewer`] (src/sink/tokenreview.rs), so the
//! decision is tested without a cluster.

use super::reply::Reply;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a request asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/events`: a sync outcome from Argo CD Notifications.
    Events,
    /// `POST /v1/guard` (a guard Job's decision), `POST /v1/decide` (the guard asks for the approvals
    /// and ticket decision) and `POST /v1/verifications` (the verify hook's verdict): a hook Job's
    /// requests, each for the app its body names.
    Guard,
    /// `POST /v1/reviews`: the review of an emergency change, by a person with the write token.
    Reviews,
    /// `GET /v1/records` and `GET /v1/log/…`: reading the log, its checkpoint and its tiles.
    Records,
}

/// Who a request comes from, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The write token: Argo CD Notifications.
    Notifications,
    /// The read token.
    Reader,
    /// A guard Job's `ServiceAccount`, as the `TokenReview` API named it.
    Guard(ServiceAccount),
    /// No authentication is configured (`--insecure-no-auth`).
    Anyone,
}

/// A `ServiceAccount` token's identity: `system:serviceaccount:<namespace>:<name>`, and the pod it was
/// issued to (the `authentication.kubernetes.io/pod-name` extra of a projected token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub namespace: String,
    pub name: String,
    pub pod: Option<String>,
}

/// A refused request: the status and the message of the `{"error": …}` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    /// The answer: `{"error": …}` with the status, and what the status asks of a client
    /// (`WWW-Authenticate` on 401, `Retry-After` on 503).
    pub fn reply(self) -> Reply {
        let reply = Reply::error(self.status, self.message);
        match self.status {
            401 => reply.with("WWW-Authenticate", "Bearer"),
            503 => reply.with("Retry-After", "5"),
            _ => reply,
        }
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Refusal {
            status: 401,
            message: message.into(),
        }
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Refusal {
            status: 403,
            message: message.into(),
        }
    }

    /// The `TokenReview` API could not be asked: the caller may retry.
    fn unavailable(message: impl Into<String>) -> Self {
        Refusal {
            status: 503,
            message: message.into(),
        }
    }
}

/// What the `TokenReview` API said about a token (`status` of an `authentication.k8s.io/v1`
/// `TokenReview`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Review {
    pub authenticated: bool,
    pub username: String,
    /// The audiences the token is valid for among those asked (`status.audiences`).
    pub audiences: Vec<String>,
    /// `status.user.extra["authentication.kubernetes.io/pod-name"]`, when there is one.
    pub pod: Option<String>,
    /// `status.error`, when the API server gave one.
    pub error: Option<String>,
}

/// A boxed future, as [`Reviewer`] returns it.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Asks the Kubernetes API whether a token is valid for `audience`.
pub trait Reviewer: Send + Sync + 'static {
    /// Reviews `token` for `audience`.
    ///
    /// # Errors
    ///
    /// The API server could not be asked or did not answer with a `TokenReview` (the message says
    /// why; never the token).
    fn review<'a>(
        &'a self,
        token: &'a str,
        audience: &'a str,
    ) -> BoxFuture<'a, Result<Review, String>>;
}

/// Longest bearer credential looked at: a projected `ServiceAccount` token is a JWT of about a
/// kilobyte; anything far longer is refused without asking the API server.
const MAX_TOKEN: usize = 16 * 1024;

/// The sink's credentials, validated by the commands layer.
pub struct Auth {
    /// SHA-256 of the write token; compared digest to digest, in constant time.
    write: Option<[u8; 32]>,
    /// SHA-256 of the read token.
    read: Option<[u8; 32]>,
    /// Checks guard Jobs' `ServiceAccount` tokens, with the audience they must carry.
    guard: Option<(Arc<dyn Reviewer>, String)>,
}

impl Auth {
    /// `write` and `read` are the tokens themselves (kept only as digests); `guard` the `TokenReview`
    /// client and the audience guard tokens must carry. Without any of them the sink is open
    /// (`--insecure-no-auth`).
    pub fn new(
        write: Option<&str>,
        read: Option<&str>,
        guard: Option<(Arc<dyn Reviewer>, String)>,
    ) -> Self {
        Auth {
            write: write.map(digest),
            read: read.map(digest),
            guard,
        }
    }

    /// Whether no credential is configured at all.
    pub fn is_open(&self) -> bool {
        self.write.is_none() && self.read.is_none() && self.guard.is_none()
    }

    /// Whether guard tokens are checked with the `TokenReview` API.
    pub fn reviews_guard_tokens(&self) -> bool {
        self.guard.is_some()
    }

    /// Whether reads have a token of their own.
    pub fn has_read_token(&self) -> bool {
        self.read.is_some()
    }

    /// Who sent a request for `route` with this `Authorization` header value.
    ///
    /// # Errors
    ///
    /// 401 without a valid credential for the route (naming the credential it takes, and saying so
    /// when a known token was sent to the wrong route), 403 when reading is off, 503 when the
    /// `TokenReview` API cannot be asked.
    pub async fn check(
        &self,
        route: Route,
        authorization: Option<&str>,
    ) -> Result<Caller, Refusal> {
        if self.is_open() {
            return Ok(Caller::Anyone);
        }
        let token = authorization.and_then(bearer);
        let is = |expected: Option<[u8; 32]>| {
            token.is_some_and(|t| expected.is_some_and(|e| constant_time_eq(&digest(t), &e)))
        };
        match route {
            Route::Records => {
                if self.read.is_none() {
                    return Err(Refusal::forbidden(
                        "reading over HTTP is off: this sink has no read token (start it with --read-token-file)",
                    ));
                }
                if is(self.read) {
                    return Ok(Caller::Reader);
                }
                if is(self.write) {
                    return Err(Refusal::unauthorized(
                        "this is the write token: reads need the read token",
                    ));
                }
                Err(Refusal::unauthorized(
                    "a valid bearer token is required: reads take the sink's read token",
                ))
            }
            Route::Events | Route::Reviews => {
                if is(self.write) {
                    return Ok(Caller::Notifications);
                }
                if is(self.read) {
                    return Err(Refusal::unauthorized(
                        "this is the read token: writes need the write token",
                    ));
                }
                Err(Refusal::unauthorized(if route == Route::Events {
                    "a valid bearer token is required: events take the write token of Argo CD Notifications"
                } else {
                    "a valid bearer token is required: reviews take the sink's write token (sluice audit review --token-file FILE)"
                }))
            }
            Route::Guard => {
                // With guard tokens reviewed, the write token stays what Notifications needs: events.
                if is(self.write) && self.guard.is_none() {
                    return Ok(Caller::Notifications);
                }
                if is(self.write) {
                    return Err(Refusal::unauthorized(
                        "this is the write token: guard and verify hook requests take the hook Job's ServiceAccount token (this sink runs with --guard-token-review)",
                    ));
                }
                if is(self.read) {
                    return Err(Refusal::unauthorized(
                        "this is the read token: guard and verify hook requests need the hook Job's ServiceAccount token",
                    ));
                }
                match (&self.guard, token) {
                    (Some((reviewer, audience)), Some(token)) if token.len() <= MAX_TOKEN => {
                        review(reviewer.as_ref(), token, audience).await
                    }
                    (Some(_), _) => Err(Refusal::unauthorized(
                        "a valid bearer token is required: guard and verify hook requests take the hook Job's projected ServiceAccount token (audience sluice)",
                    )),
                    (None, _) => Err(Refusal::unauthorized(
                        "a valid bearer token is required: this sink takes guard and verify hook requests with its write token only (it runs without --guard-token-review)",
                    )),
                }
            }
        }
    }
}

/// Asks the `TokenReview` API and turns its answer into a guard caller.
async fn review(reviewer: &dyn Reviewer, token: &str, audience: &str) -> Result<Caller, Refusal> {
    let review = reviewer.review(token, audience).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot ask the Kubernetes API to review a guard's token");
        Refusal::unavailable("the guard's token cannot be checked now (the Kubernetes TokenReview API did not answer); retry later")
    })?;
    if !review.authenticated {
        return Err(Refusal::unauthorized(format!(
            "the Kubernetes API does not accept this token{}",
            review
                .error
                .as_deref()
                .map(|e| format!(": {}", e.chars().take(200).collect::<String>()))
                .unwrap_or_default()
        )));
    }
    // With audiences in the request, the API server answers the ones the token is valid for: an
    // authenticated answer without ours is a token for another audience (TokenReviewStatus).
    if !review.audiences.iter().any(|a| a == audience) {
        return Err(Refusal::unauthorized(format!(
            "the token is not for audience {audience:?}: the guard Job mounts a projected ServiceAccount token with audience {audience:?}"
        )));
    }
    match service_account(&review.username) {
        Some((namespace, name)) => Ok(Caller::Guard(ServiceAccount {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            pod: review.pod,
        })),
        None => Err(Refusal::forbidden(format!(
            "{:?} is not a ServiceAccount: guard reports come from guard Jobs",
            review.username.chars().take(200).collect::<String>()
        ))),
    }
}

/// Checks that `caller` may report a guard decision, ask for one, or report a verification for an app
/// deployed to `namespace`: a hook Job's `ServiceAccount` only for its own namespace.
///
/// # Errors
///
/// 403 naming both namespaces.
pub fn may_report_for(caller: &Caller, namespace: &str) -> Result<(), Refusal> {
    match caller {
        Caller::Guard(sa) if sa.namespace != namespace => Err(Refusal::forbidden(format!(
            "a hook Job of namespace {:?} may act only for apps deployed to {:?}, not to {namespace:?}",
            sa.namespace, sa.namespace
        ))),
        Caller::Reader => Err(Refusal::forbidden("the read token cannot write")),
        _ => Ok(()),
    }
}

/// `system:serviceaccount:<namespace>:<name>` split, as Kubernetes names `ServiceAccounts`.
fn service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

/// The token of a `Bearer` credential (scheme case-insensitive, RFC 7235).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// SHA-256 of a token: comparing digests makes the comparison independent of the token's length.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equality that takes the same time wherever the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `TokenReview` API that knows one token per `ServiceAccount`.
    struct Fake(Vec<(&'static str, Review)>);

    impl Reviewer for Fake {
        fn review<'a>(
            &'a self,
            token: &'a str,
            _audience: &'a str,
        ) -> BoxFuture<'a, Result<Review, String>> {
            let answer = self
                .0
                .iter()
                .find(|(t, _)| *t == token)
                .map_or_else(Review::default, |(_, r)| r.clone());
            Box::pin(async move {
                if token == "down" {
                    Err("connection refused".into())
                } else {
                    Ok(answer)
                }
            })
        }
    }

    fn sa(ns: &str) -> Review {
        Review {
            authenticated: true,
            username: format!("system:serviceaccount:{ns}:default"),
            audiences: vec!["sluice".into()],
            pod: Some("sluice-guard-x".into()),
            error: None,
        }
    }

    fn auth() -> Auth {
        let other = Review {
            audiences: vec![],
            ..sa("shop")
        };
        let user = Review {
            username: "alice".into(),
            ..sa("shop")
        };
        let fake = Fake(vec![
            ("shop-sa", sa("shop")),
            ("api-aud", other),
            ("user", user),
        ]);
        Auth::new(
            Some("w"),
            Some("r"),
            Some((Arc::new(fake), "sluice".into())),
        )
    }

    fn check(route: Route, header: &str) -> Result<Caller, Refusal> {
        let auth = auth();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(auth.check(route, Some(header)))
    }

    #[test]
    fn each_token_opens_only_its_own_routes() {
        assert_eq!(check(Route::Events, "Bearer w"), Ok(Caller::Notifications));
        // Guard tokens are reviewed here, so the write token does not report guard decisions...
        let guard = check(Route::Guard, "bearer w").unwrap_err();
        assert!(
            guard.message.contains("this is the write token"),
            "{guard:?}"
        );
        // ...but does on a sink without the review.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let plain = Auth::new(Some("w"), Some("r"), None);
        assert_eq!(
            rt.block_on(plain.check(Route::Guard, Some("Bearer w"))),
            Ok(Caller::Notifications)
        );
        assert_eq!(check(Route::Records, "Bearer r"), Ok(Caller::Reader));
        let write_reads = check(Route::Records, "Bearer w").unwrap_err();
        assert_eq!(write_reads.status, 401);
        assert!(
            write_reads.message.contains("this is the write token"),
            "{write_reads:?}"
        );
        assert_eq!(check(Route::Events, "Bearer r").unwrap_err().status, 401);
        assert_eq!(check(Route::Guard, "Bearer r").unwrap_err().status, 401);
    }

    #[test]
    fn a_guard_token_reports_for_its_own_namespace_only_and_never_writes_events() {
        let caller = check(Route::Guard, "Bearer shop-sa").expect("a guard");
        assert!(
            matches!(&caller, Caller::Guard(sa) if sa.namespace == "shop" && sa.pod.as_deref() == Some("sluice-guard-x"))
        );
        assert_eq!(may_report_for(&caller, "shop"), Ok(()));
        let other = may_report_for(&caller, "payments").unwrap_err();
        assert_eq!(other.status, 403);
        assert!(
            other.message.contains(
                "\"shop\" may act only for apps deployed to \"shop\", not to \"payments\""
            ),
            "{other:?}"
        );
        assert_eq!(
            check(Route::Events, "Bearer shop-sa").unwrap_err().status,
            401
        );
        assert_eq!(
            check(Route::Records, "Bearer shop-sa").unwrap_err().status,
            401
        );
        // Reviews are a person's, with the write token: a hook's token cannot record one.
        assert_eq!(
            check(Route::Reviews, "Bearer shop-sa").unwrap_err().status,
            401
        );
        assert_eq!(check(Route::Reviews, "Bearer w"), Ok(Caller::Notifications));
    }

    #[test]
    fn a_token_for_another_audience_a_user_or_an_unknown_token_is_refused() {
        let aud = check(Route::Guard, "Bearer api-aud").unwrap_err();
        assert!(
            aud.message.contains("not for audience \"sluice\""),
            "{aud:?}"
        );
        assert_eq!(check(Route::Guard, "Bearer user").unwrap_err().status, 403);
        assert_eq!(
            check(Route::Guard, "Bearer nobody").unwrap_err().status,
            401
        );
        assert_eq!(check(Route::Guard, "Bearer down").unwrap_err().status, 503);
        let long = format!("Bearer {}", "x".repeat(MAX_TOKEN + 1));
        assert_eq!(check(Route::Guard, &long).unwrap_err().status, 401);
    }

    #[test]
    fn reading_is_off_without_a_read_token_and_open_without_any() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let write_only = Auth::new(Some("w"), None, None);
        let off = rt
            .block_on(write_only.check(Route::Records, Some("Bearer w")))
            .unwrap_err();
        assert_eq!(off.status, 403);
        assert!(off.message.contains("--read-token-file"), "{off:?}");
        let open = Auth::new(None, None, None);
        assert_eq!(
            rt.block_on(open.check(Route::Events, None)),
            Ok(Caller::Anyone)
        );
    }

    #[test]
    fn service_accounts_are_named_as_kubernetes_names_them() {
        assert_eq!(
            service_account("system:serviceaccount:shop:default"),
            Some(("shop", "default"))
        );
        for not in [
            "system:serviceaccount:shop",
            "system:serviceaccount::x",
            "alice",
            "system:node:n1",
        ] {
            assert_eq!(service_account(not), None, "{not}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn constant_time_eq_compares_all_bytes() {
        let a = digest("secret");
        assert!(constant_time_eq(&a, &digest("secret")));
        assert!(!constant_time_eq(&a, &digest("secreT")));
    }
}
