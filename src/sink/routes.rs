//! One request, start to end: framing checks (strict.rs) → the route table → the route's access,
//! checked by [`Auth`] → its handler → the response, with one log line (never a body or a token).
//! The table is the one place that says which paths exist, which methods they take and who may call
//! them: a new endpoint is one row here and one handler.

use super::auth::{Access, Refused};
use super::handlers::{self, Context, Kind};
use super::metrics::Outcome as Counted;
use super::reply::Reply;
use super::strict;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response};
use std::sync::Arc;
use tokio::time::Instant;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    Health,
    Metrics,
    Post(Kind),
    Records,
    /// The tiled log: the checkpoint and the tiles (served.rs).
    Log,
}

/// A path (or, with `under`, every path below it), the methods it takes, who may call it, and its
/// handler.
struct Route {
    path: &'static str,
    under: bool,
    methods: &'static [Method],
    allow: &'static str,
    access: Access,
    handler: Handler,
}

const ROUTES: [Route; 9] = [
    Route {
        path: "/healthz",
        under: false,
        methods: &[Method::GET, Method::HEAD],
        allow: "GET",
        access: Access::Public,
        handler: Handler::Health,
    },
    Route {
        path: "/metrics",
        under: false,
        methods: &[Method::GET],
        allow: "GET",
        access: Access::Public,
        handler: Handler::Metrics,
    },
    Route {
        path: "/v1/events",
        under: false,
        methods: &[Method::POST],
        allow: "POST",
        access: Access::Write,
        handler: Handler::Post(Kind::Event),
    },
    Route {
        path: "/v1/guard",
        under: false,
        methods: &[Method::POST],
        allow: "POST",
        access: Access::Write,
        handler: Handler::Post(Kind::Guard),
    },
    Route {
        path: "/v1/decide",
        under: false,
        methods: &[Method::POST],
        allow: "POST",
        access: Access::Write,
        handler: Handler::Post(Kind::Decide),
    },
    Route {
        path: "/v1/reviews",
        under: false,
        methods: &[Method::POST],
        allow: "POST",
        access: Access::Write,
        handler: Handler::Post(Kind::Review),
    },
    Route {
        path: "/v1/verifications",
        under: false,
        methods: &[Method::POST],
        allow: "POST",
        access: Access::Write,
        handler: Handler::Post(Kind::Verify),
    },
    Route {
        path: "/v1/records",
        under: false,
        methods: &[Method::GET],
        allow: "GET",
        access: Access::Read,
        handler: Handler::Records,
    },
    Route {
        path: super::served::PREFIX,
        under: true,
        methods: &[Method::GET],
        allow: "GET",
        access: Access::Read,
        handler: Handler::Log,
    },
];

/// Answers one request.
pub async fn handle(ctx: Arc<Context>, rq: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let deadline = started + ctx.request_deadline;
    let method = rq.method().clone();
    let path = loggable(rq.uri().path());
    let reply = match strict::check(rq.version(), rq.headers()) {
        Err(refusal) => Reply::error(refusal.status, refusal.reason).closing(),
        Ok(()) => route(&ctx, rq, deadline).await,
    };
    tracing::info!(
        method = %method,
        path = %path,
        status = reply.status,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    reply.into_response(method == Method::HEAD)
}

/// A request path fit for a log line: at most 200 characters, control characters replaced.
fn loggable(path: &str) -> String {
    path.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

async fn route(ctx: &Arc<Context>, rq: Request<Incoming>, deadline: Instant) -> Reply {
    let path = rq.uri().path();
    let Some(route) = ROUTES.iter().find(|r| {
        r.path == path
            || (r.under
                && path
                    .strip_prefix(r.path)
                    .is_some_and(|rest| rest.starts_with('/')))
    }) else {
        return Reply::error(404, format!("no such endpoint: {}", loggable(path)));
    };
    if !route.methods.contains(rq.method()) {
        return Reply::error(405, "method not allowed").with("Allow", route.allow);
    }
    if let Err(Refused) = ctx.auth.check(rq.headers(), route.access).await {
        if let Handler::Post(kind) = route.handler {
            ctx.metrics.count(kind.fixed_label(), Counted::Unauthorized);
        }
        let refused = Reply::error(401, "a valid bearer token is required")
            .with("WWW-Authenticate", "Bearer");
        // A post's body was not read: the connection closes, after draining it.
        return if route.access == Access::Write {
            refused.closing()
        } else {
            refused
        };
    }
    match route.handler {
        Handler::Health => handlers::health(ctx),
        Handler::Metrics => Reply::metrics(ctx.metrics.render()),
        Handler::Post(kind) => handlers::post(ctx, rq, kind, deadline).await,
        Handler::Records => {
            let query = rq.uri().query().unwrap_or("").to_owned();
            handlers::records(ctx, &query, deadline).await
        }
        Handler::Log => handlers::log_file(ctx, path.to_owned(), deadline).await,
    }
}
