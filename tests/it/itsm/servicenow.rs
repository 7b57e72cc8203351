//! An emulated ServiceNow instance: the Change Management API's `GET /api/sn_chg_rest/change` and
//! `PATCH /api/sn_chg_rest/change/{sys_id}`, the Table API's `GET /api/now/table/sysapproval_approver`,
//! and OAuth's `POST /oauth_token.do`, as ServiceNow's documentation (github ServiceNow/ServiceNowDocs:
//! change-management-api.md, c_TableAPI.md) describes them, with the behaviours a naive client gets
//! wrong:
//! - the Change Management API answers every field as `{display_value, value}` (dates with
//!   `display_value_internal`), numbers as JSON numbers (`"state": {"value": -1.0}`), and takes no
//!   `sysparm_fields` or `sysparm_display_value` (they are ignored: every field comes back);
//! - the Table API answers raw strings (`"-1"`), or with `sysparm_display_value=all` both, and a
//!   reference as `{link, value}` unless `sysparm_exclude_reference_link=true`; it honours
//!   `sysparm_fields`, `sysparm_limit` and `sysparm_offset` (with a `Link` header);
//! - raw dates are UTC, display values are in the calling user's time zone and format;
//! - an unknown number is `200` with an empty `result`; an invalid query term (an unknown field) is
//!   ignored, so every row comes back;
//! - `429` with `Retry-After` and `X-RateLimit-*` when rate limited; `401` without valid credentials;
//!   writing a work note needs the `itil` role (`403` otherwise).

use crate::host::{serve, Req, Resp, Served};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

/// A change request.
#[derive(Clone, Debug)]
pub struct Change {
    pub number: String,
    pub sys_id: String,
    /// The state model's value: -5 New … -1 Implement, 0 Review, 3 Closed, 4 Canceled.
    pub state: i64,
    pub approval: String,
    /// `normal`, `standard` or `emergency`.
    pub kind: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub group: String,
    pub conflict: String,
    /// (approver name, sys_user id, state, updated) of its `sysapproval_approver` records.
    pub approvers: Vec<(String, String, String, DateTime<Utc>)>,
    /// The work notes added through the API.
    pub work_notes: Vec<String>,
}

impl Change {
    /// A normal change in Implement, approved by one approver, planned from `start` to `end`.
    pub fn new(number: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Change {
        let sys_id = format!(
            "{:032x}",
            number.bytes().fold(7u128, |h, b| h * 131 + u128::from(b))
        );
        Change {
            number: number.to_owned(),
            sys_id,
            state: -1,
            approval: "approved".into(),
            kind: "normal".into(),
            start: Some(start),
            end: Some(end),
            group: "Platform".into(),
            conflict: "No Conflict".into(),
            approvers: vec![(
                "Carla Change-Manager".into(),
                "6816f79cc0a8016401c5a33be04be441".into(),
                "approved".into(),
                start - chrono::Duration::hours(2),
            )],
            work_notes: Vec::new(),
        }
    }

    pub fn state(mut self, state: i64) -> Change {
        self.state = state;
        self
    }

    pub fn approval(mut self, approval: &str) -> Change {
        approval.clone_into(&mut self.approval);
        self
    }

    pub fn kind(mut self, kind: &str) -> Change {
        kind.clone_into(&mut self.kind);
        self
    }
}

/// What the emulated instance holds and how it behaves.
pub struct Inner {
    pub changes: Vec<Change>,
    pub user: String,
    pub password: String,
    /// The user has the `itil` role (may write work notes).
    pub itil: bool,
    /// OAuth client id and secret; the access tokens issued.
    pub oauth: (String, String),
    pub tokens: Vec<String>,
    /// The calling user's time zone (display values).
    pub zone: Tz,
    /// Answer this many next requests 429 (Retry-After: 1).
    pub rate_limited: u32,
    /// Drop every connection without an answer (the instance is down).
    pub down: bool,
    /// The query's terms cannot be read (as when a field's ACL hides it from the user): ServiceNow
    /// ignores such terms and answers every row.
    pub ignore_query: bool,
    /// Every request: (method, path and query, authorization header).
    pub requests: Vec<(String, String, String)>,
}

/// A running emulated instance.
pub struct ServiceNow {
    pub url: String,
    pub served: Served,
    pub state: Arc<Mutex<Inner>>,
}

const STATES: [(i64, &str); 8] = [
    (-5, "New"),
    (-4, "Assess"),
    (-3, "Authorize"),
    (-2, "Scheduled"),
    (-1, "Implement"),
    (0, "Review"),
    (3, "Closed"),
    (4, "Canceled"),
];

/// The raw form of a date-time: `YYYY-MM-DD HH:MM:SS` in UTC.
fn raw(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A date-time as the user sees it: their zone, the instance's default format.
fn shown(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn field(display: impl Into<Value>, value: impl Into<Value>) -> Value {
    json!({"display_value": display.into(), "value": value.into()})
}

fn date(t: Option<DateTime<Utc>>, zone: Tz) -> Value {
    match t {
        Some(t) => {
            json!({"display_value": shown(t, zone), "value": raw(t), "display_value_internal": shown(t, zone)})
        }
        None => json!({"display_value": "", "value": "", "display_value_internal": ""}),
    }
}

/// A change request as the Change Management API answers it.
fn record(c: &Change, zone: Tz) -> Value {
    let label = STATES
        .iter()
        .find(|(v, _)| *v == c.state)
        .map_or("Unknown", |(_, l)| l);
    let title = |s: &str| {
        let mut t = s.to_owned();
        if let Some(f) = t.get_mut(..1) {
            f.make_ascii_uppercase();
        }
        t
    };
    #[allow(clippy::cast_precision_loss)] // state values are small integers
    let state = c.state as f64;
    json!({
        "number": field(c.number.clone(), c.number.clone()),
        "sys_id": field(c.sys_id.clone(), c.sys_id.clone()),
        "state": field(label, state),
        "approval": field(title(&c.approval), c.approval.clone()),
        "type": field(title(&c.kind), c.kind.clone()),
        "start_date": date(c.start, zone),
        "end_date": date(c.end, zone),
        "assignment_group": field(c.group.clone(), "287ebd7da9fe198100f92cc8d1d2154e"),
        "conflict_status": field(c.conflict.clone(), c.conflict.clone()),
        "short_description": field("Raise the shop's replicas", "Raise the shop's replicas"),
        "impact": field("3 - Low", 3.0),
        "priority": field("4 - Low", 4.0),
        "risk": field("Moderate", 3.0),
        "active": field("true", true),
        "work_notes": field("", ""),
        "sys_updated_on": date(c.start, zone),
    })
}

fn error(status: u16, route: &str, message: &str, detail: &str) -> Resp {
    Resp::json(
        status,
        route,
        json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
    )
}

/// Starts an instance with `changes`, user `sluice` (password `pw`), time zone `zone`.
pub fn start(changes: Vec<Change>, zone: Tz) -> ServiceNow {
    let state = Arc::new(Mutex::new(Inner {
        changes,
        user: "sluice".into(),
        password: "sn-password-5519".into(),
        itil: true,
        oauth: ("sluice-client".into(), "sn-client-secret-8831".into()),
        tokens: Vec::new(),
        zone,
        rate_limited: 0,
        down: false,
        ignore_query: false,
        requests: Vec::new(),
    }));
    let served = Served::default();
    let inner = Arc::clone(&state);
    let url = serve(
        "servicenow",
        served.clone(),
        Arc::new(move |req: &Req| answer(&inner, req)),
    );
    ServiceNow { url, served, state }
}

impl ServiceNow {
    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Checks every answer served against tests/fixtures/ticket/servicenow.json.
    pub fn validate(&self) {
        self.served
            .validate_with(&[("servicenow", "servicenow.json")]);
    }

    /// The requests to a path starting with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<String> {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|(_, p, _)| p.starts_with(prefix))
                .map(|(m, p, _)| format!("{m} {p}"))
                .collect()
        })
    }
}

fn answer(state: &Mutex<Inner>, req: &Req) -> Option<Resp> {
    let mut s = state.lock().unwrap();
    let query: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let auth = req.header("authorization").unwrap_or("").to_owned();
    s.requests.push((
        req.method.clone(),
        format!("{}?{}", req.path, query.join("&")),
        auth.clone(),
    ));
    if s.down {
        return None;
    }
    if req.method == "POST" && req.path == "/oauth_token.do" {
        return Some(oauth(&mut s, req));
    }
    let route = route_of(req);
    if s.rate_limited > 0 {
        s.rate_limited -= 1;
        let reset = Utc::now().timestamp() + 1;
        return Some(
            error(
                429,
                &route,
                "Rate limit exceeded",
                "Rate limit of 100 requests per hour for Change Management API exceeded",
            )
            .header("Retry-After", "1")
            .header("X-RateLimit-Limit", "100")
            .header("X-RateLimit-Reset", reset.to_string())
            .header("X-RateLimit-Rule", "d4e3c5f1db1e330014c7f5f2ca961901"),
        );
    }
    let basic = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        format!("Basic {}", b64.encode(format!("{}:{}", s.user, s.password)))
    };
    let bearer = auth
        .strip_prefix("Bearer ")
        .is_some_and(|t| s.tokens.iter().any(|k| k == t));
    if auth != basic && !bearer {
        return Some(error(
            401,
            &route,
            "User Not Authenticated",
            "Required to provide Auth information",
        ));
    }
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/sn_chg_rest/change") => changes(&s, req, &route),
        ("GET", "/api/now/table/sysapproval_approver") => approvers(&s, req, &route),
        ("PATCH", p) if p.starts_with("/api/sn_chg_rest/change/") => work_note(&mut s, req, &route),
        _ => error(
            400,
            &route,
            "Requested URI does not represent any resource",
            "",
        ),
    })
}

fn route_of(req: &Req) -> String {
    if req.method == "PATCH" && req.path.starts_with("/api/sn_chg_rest/change/") {
        return "/api/sn_chg_rest/change/{sys_id}".into();
    }
    if req.path.starts_with("/api/now/table/") {
        return "/api/now/table/{tableName}".into();
    }
    req.path.clone()
}

fn oauth(s: &mut Inner, req: &Req) -> Resp {
    let form: Vec<(String, String)> = String::from_utf8_lossy(&req.body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let d = |x: &str| {
                percent_encoding::percent_decode_str(x)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (d(k), d(v))
        })
        .collect();
    let get = |k: &str| form.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
    let ok = get("grant_type") == Some("client_credentials")
        && get("client_id") == Some(&s.oauth.0)
        && get("client_secret") == Some(&s.oauth.1);
    if !ok {
        return error(
            401,
            "/oauth_token.do",
            "access_denied",
            "Invalid client credentials",
        );
    }
    let token = format!("sn-access-token-{:04}", s.tokens.len() + 1);
    s.tokens.push(token.clone());
    Resp::json(
        200,
        "/oauth_token.do",
        json!({"access_token": token, "scope": "useraccount", "token_type": "Bearer", "expires_in": 1799}),
    )
}

/// The conditions of an encoded query (`a=b^c=d`) on fields the table knows; an unknown field's
/// term is ignored, as ServiceNow does by default (`glide.invalid_query.returns_no_rows` false).
fn conditions<'a>(query: &'a str, known: &[&str]) -> Vec<(&'a str, &'a str)> {
    query
        .split('^')
        .filter_map(|t| t.split_once('='))
        .filter(|(f, _)| known.contains(f))
        .collect()
}

fn changes(s: &Inner, req: &Req, route: &str) -> Resp {
    let query = req.q("sysparm_query").unwrap_or("");
    let known: &[&str] = if s.ignore_query {
        &[]
    } else {
        &["number", "sys_id", "type", "approval"]
    };
    let terms = conditions(query, known);
    let rows: Vec<Value> = s
        .changes
        .iter()
        .filter(|c| {
            terms.iter().all(|(f, v)| match *f {
                "number" => c.number == *v,
                "sys_id" => c.sys_id == *v,
                "type" => c.kind == *v,
                _ => c.approval == *v,
            })
        })
        // The Change Management API ignores sysparm_fields and sysparm_display_value.
        .map(|c| record(c, s.zone))
        .collect();
    Resp::json(200, route, json!({"result": rows}))
}

fn approvers(s: &Inner, req: &Req, route: &str) -> Resp {
    let query = req.q("sysparm_query").unwrap_or("");
    let terms = conditions(query, &["sysapproval", "state"]);
    let display = req.q("sysparm_display_value").unwrap_or("false");
    let exclude_links = req.q("sysparm_exclude_reference_link") == Some("true");
    let fields: Option<Vec<&str>> = req.q("sysparm_fields").map(|f| f.split(',').collect());
    let limit: usize = req
        .q("sysparm_limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let offset: usize = req
        .q("sysparm_offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut rows = Vec::new();
    for c in &s.changes {
        for (name, user, state, at) in &c.approvers {
            let ok = terms.iter().all(|(f, v)| match *f {
                "sysapproval" => c.sys_id == *v,
                _ => state == v,
            });
            if !ok {
                continue;
            }
            let reference = |display_value: &str, value: &str, table: &str| -> Value {
                let link = format!(
                    "{}/api/now/table/{table}/{value}",
                    "https://instance.servicenow.com"
                );
                match (display, exclude_links) {
                    ("all", true) => json!({"display_value": display_value, "value": value}),
                    ("all", false) => {
                        json!({"display_value": display_value, "value": value, "link": link})
                    }
                    ("true", _) => json!(display_value),
                    (_, true) => json!(value),
                    (_, false) => json!({"link": link, "value": value}),
                }
            };
            let plain = |display_value: &str, value: &str| -> Value {
                match display {
                    "all" => json!({"display_value": display_value, "value": value}),
                    "true" => json!(display_value),
                    _ => json!(value),
                }
            };
            let mut row = Map::new();
            row.insert("approver".into(), reference(name, user, "sys_user"));
            let label = match state.as_str() {
                "approved" => "Approved",
                "rejected" => "Rejected",
                "not_required" => "No Longer Required",
                _ => "Requested",
            };
            row.insert("state".into(), plain(label, state));
            row.insert(
                "sys_updated_on".into(),
                plain(&shown(*at, s.zone), &raw(*at)),
            );
            row.insert(
                "sysapproval".into(),
                reference(&c.number, &c.sys_id, "task"),
            );
            row.insert("comments".into(), plain("", ""));
            if let Some(fields) = &fields {
                // Invalid fields are ignored.
                row.retain(|k, _| fields.contains(&k.as_str()));
            }
            rows.push(Value::Object(row));
        }
    }
    let total = rows.len();
    let page: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
    let mut resp =
        Resp::json(200, route, json!({"result": page})).header("X-Total-Count", total.to_string());
    if offset + limit < total {
        let next = format!(
            "<{}?sysparm_offset={}&sysparm_limit={limit}>;rel=\"next\"",
            req.path,
            offset + limit
        );
        resp = resp.header("Link", next);
    }
    resp
}

fn work_note(s: &mut Inner, req: &Req, route: &str) -> Resp {
    let sys_id = req.path.rsplit('/').next().unwrap_or("").to_owned();
    if !s.itil {
        return error(
            403,
            route,
            "Operation Failed",
            "ACL Exception Update Failed due to security constraints",
        );
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let Some(note) = body.get("work_notes").and_then(Value::as_str) else {
        return error(400, route, "Bad Request", "no work_notes in the body");
    };
    let zone = s.zone;
    let Some(c) = s.changes.iter_mut().find(|c| c.sys_id == sys_id) else {
        return error(
            404,
            route,
            "No Record found",
            "Record doesn't exist or ACL restricts the record retrieval",
        );
    };
    c.work_notes.push(note.to_owned());
    Resp::json(200, route, json!({"result": record(c, zone)}))
}
