//! One request, start to end: framing checks (strict.rs) → the route table → the route's access,
//! checked by [`Auth`] (the read side for people, ui/, checks its own) → its handler → the
//! response, with one log line (never a body or a token).
//! The table is the one place that says which paths exist, which methods they take and who may call
//! them: a new endpoint is one row here and one handler.

use super::auth::{Caller, Route as Access};
use super::handlers::{self, Context, Kind};
use super::metrics::Outcome as Counted;
use super::reply::Reply;
use super::strict;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::AUTHORIZATION;
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
    /// The read side for people (ui/): it checks its own credentials (the proxy's secret, the read
    /// token as a password).
    Ui,
}

/// A path (or, with `under`, every path below it), the methods it takes, who may call it, and its
/// handler.
struct Route {
    path: &'static str,
    under: bool,
    methods: &'static [Method],
    allow: &'static str,
    /// What the caller's credential must allow (src/sink/auth.rs); `None`: anyone (probes, metrics,
    /// and the read side for people, which checks credentials of its own).
    access: Option<Access>,
    handler: Handler,
}

const ROUTES: [Route; 11] = [
    Route {
        path: "/healthz",
        under: false,
        methods: &[Method::GET, Method::HEAD],
        allow: "GET",
        access: None,
        handler: Handler::Health,
    },
    Route {
        path: "/metrics",
        under: false,
        methods: &[Method::GET],
        allow: "GET",
        access: None,
        handler: Handler::Metrics,
    },
    Route {
        path: "/v1/events",
        under: false,
        methods: &[Method::POST],
        allow: "POST",
        access: Some(Access::Events),
        handler: Handler::Post(Kind::Event),
    },
    Route {
        path: "/v1/guard",
        under: false,
        methods: &[Method::POST],
        allow: "POST",
        access: Some(Access::Guard),
        handler: Handler::Post(Kind::Guard),
    },
    Route {
        path: "/v1/decide",
        under: false,
        methods: &[Method::POST],
        allow: "POST",
        access: Some(Access::Guard),
        handler: Handler::Post(Kind::Decide),
    },
    Route {
        path: "/v1/reviews",
        under: false,
        methods: &[Method::POST],
        allow: "POST",
        access: Some(Access::Reviews),
        handler: Handler::Post(Kind::Review),
    },
    Route {
        path: "/v1/verifications",
        under: false,
        methods: &[Method::POST],
        allow: "POST",
        access: Some(Access::Guard),
        handler: Handler::Post(Kind::Verify),
    },
    Route {
        path: "/v1/records",
        under: false,
        methods: &[Method::GET],
        allow: "GET",
        access: Some(Access::Records),
        handler: Handler::Records,
    },
    Route {
        path: super::served::PREFIX,
        under: true,
        methods: &[Method::GET],
        allow: "GET",
        access: Some(Access::Records),
        handler: Handler::Log,
    },
    Route {
        path: "/v1/ui",
        under: true,
        methods: &[Method::GET, Method::HEAD],
        allow: "GET",
        access: None,
        handler: Handler::Ui,
    },
    Route {
        path: "/audit",
        under: true,
        methods: &[Method::GET, Method::HEAD],
        allow: "GET",
        access: None,
        handler: Handler::Ui,
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
/// The route of `path`: its own, or the one of a path it is under.
fn find(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| {
        r.path == path
            || (r.under
                && path
                    .strip_prefix(r.path)
                    .is_some_and(|rest| rest.starts_with('/')))
    })
}

async fn route(ctx: &Arc<Context>, rq: Request<Incoming>, deadline: Instant) -> Reply {
    let path = rq.uri().path();
    let Some(route) = find(path) else {
        return Reply::error(404, format!("no such endpoint: {}", loggable(path)));
    };
    if !route.methods.contains(rq.method()) {
        return Reply::error(405, "method not allowed").with("Allow", route.allow);
    }
    let caller = match route.access {
        None => Caller::Anyone,
        Some(access) => {
            let header = rq
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match ctx.auth.check(access, header).await {
                Ok(caller) => caller,
                Err(refusal) => {
                    if let Handler::Post(kind) = route.handler {
                        ctx.metrics.count(kind.fixed_label(), Counted::Unauthorized);
                        // A post's body was not read: the connection closes, after draining it.
                        return refusal.reply().closing();
                    }
                    return refusal.reply();
                }
            }
        }
    };
    match route.handler {
        Handler::Health => handlers::health(ctx),
        Handler::Metrics => Reply::metrics(ctx.metrics.render()),
        Handler::Post(kind) => handlers::post(ctx, rq, kind, &caller, deadline).await,
        Handler::Records => {
            let query = rq.uri().query().unwrap_or("").to_owned();
            handlers::records(ctx, &query, deadline).await
        }
        Handler::Log => handlers::log_file(ctx, path.to_owned(), deadline).await,
        Handler::Ui => {
            let (ui, reader) = (Arc::clone(&ctx.ui), ctx.reader.clone());
            let query = rq.uri().query().unwrap_or("");
            Reply::ui(super::ui::handle(ui, reader, rq.method(), path, query, rq.headers()).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(path: &str) -> Option<Handler> {
        find(path).map(|r| r.handler)
    }

    #[test]
    fn each_path_finds_its_route_and_a_prefix_only_owns_what_is_below_it() {
        assert_eq!(handler("/v1/records"), Some(Handler::Records));
        assert_eq!(handler("/v1/events"), Some(Handler::Post(Kind::Event)));
        assert_eq!(handler("/v1/ui/apps/argocd/shop/status"), Some(Handler::Ui));
        assert_eq!(handler("/audit"), Some(Handler::Ui));
        assert_eq!(handler("/audit/change/CHG-1"), Some(Handler::Ui));
        assert_eq!(handler("/auditx"), None);
        assert_eq!(handler("/v1/log/tile/0/000"), Some(Handler::Log));
        assert_eq!(handler("/v1/logs"), None);
        assert_eq!(handler("/v1/records/1"), None);
    }
}
