//! An emulated Jira Cloud site with Jira Service Management: `GET /rest/api/3/issue/{key}`, `POST
//! /rest/api/3/issue/{key}/comment`, `GET /rest/servicedeskapi/request/{key}` and
//! `GET /rest/servicedeskapi/request/{key}/approval`, as Atlassian's OpenAPI descriptions describe them
//! (tests/fixtures/ticket: every answer is checked against them), with the behaviours a naive client
//! gets wrong:
//! - an anonymous request (no credentials) is answered 404, not 401, as for an issue that does not
//!   exist ("Issue does not exist or you do not have permission to see it.");
//! - a status belongs to a category (`new`, `indeterminate`, `done`): Completed, Declined and
//!   Canceled are all `done`;
//! - approvals come in pages (`start`, `limit`, `isLastPage`), and the site may give fewer per page
//!   than asked: a declined approval can sit on a later page;
//! - `fields` limits the issue's fields to those asked for.

use crate::host::{serve, Req, Resp, Served};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

/// One approval of a request: its name, final decision and (approver, decision) pairs.
#[derive(Clone, Debug)]
pub struct Approval {
    pub name: String,
    pub decision: String,
    pub approvers: Vec<(String, String)>,
}

impl Approval {
    pub fn new(name: &str, decision: &str, by: &str) -> Approval {
        Approval {
            name: name.into(),
            decision: decision.into(),
            approvers: vec![(by.into(), decision.into())],
        }
    }
}

/// An issue that is a service request.
#[derive(Clone, Debug)]
pub struct Issue {
    pub key: String,
    pub id: String,
    pub status: String,
    /// `new`, `indeterminate` or `done`.
    pub category: String,
    pub kind: String,
    /// The request type; `None`: not a service request.
    pub request_type: Option<String>,
    pub approvals: Vec<Approval>,
    /// Custom fields (id → value).
    pub fields: Vec<(String, Value)>,
    /// Comments added through the API (their ADF bodies).
    pub comments: Vec<Value>,
}

impl Issue {
    pub fn new(key: &str, status: &str, category: &str, approvals: Vec<Approval>) -> Issue {
        let id = key.rsplit('-').next().unwrap_or("1").to_owned();
        Issue {
            key: key.into(),
            id: format!("10{id:0>3}"),
            status: status.into(),
            category: category.into(),
            kind: "Change".into(),
            request_type: Some("Normal change".into()),
            approvals,
            fields: Vec::new(),
            comments: Vec::new(),
        }
    }
}

/// What the emulated site holds and how it behaves.
pub struct Inner {
    pub issues: Vec<Issue>,
    pub email: String,
    pub token: String,
    /// Approvals per page at most, whatever `limit` asks for.
    pub page_size: usize,
    pub down: bool,
    /// Every request: (method, path and query).
    pub requests: Vec<(String, String)>,
}

/// A running emulated site.
pub struct Jira {
    pub url: String,
    pub served: Served,
    pub state: Arc<Mutex<Inner>>,
}

/// Starts a site with `issues`, for the account `email` with API token `token`.
pub fn start(issues: Vec<Issue>) -> Jira {
    let state = Arc::new(Mutex::new(Inner {
        issues,
        email: "sluice@acme.example".into(),
        token: "ATATT3xFfGF0-emulated-api-token-0017".into(),
        page_size: 2,
        down: false,
        requests: Vec::new(),
    }));
    let served = Served::default();
    let inner = Arc::clone(&state);
    let url = serve(
        "jira",
        served.clone(),
        Arc::new(move |req: &Req| answer(&inner, req)),
    );
    Jira { url, served, state }
}

impl Jira {
    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Checks every answer served against Atlassian's descriptions (tests/fixtures/ticket).
    pub fn validate(&self) {
        // One site answers both APIs: the Service Management routes are checked against its own
        // description.
        self.served.rename_host("/rest/servicedeskapi/", "jsm");
        self.served.validate_with(&[
            ("jira", "jira-platform.json"),
            ("jsm", "jira-service-management.json"),
        ]);
    }
}

fn user(name: &str) -> Value {
    let id = format!("5b10ac8d82e05b22cc7d4ef{}", name.len());
    json!({"accountId": id, "displayName": name, "active": true, "timeZone": "Europe/Berlin",
           "_links": {"self": format!("https://acme.atlassian.net/rest/api/3/user?accountId={id}")}})
}

fn date(t: DateTime<Utc>) -> Value {
    json!({"iso8601": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
           "jira": t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string(),
           "friendly": t.format("%d/%b/%y %l:%M %p").to_string(),
           "epochMillis": t.timestamp_millis()})
}

fn not_found(route: &str) -> Resp {
    Resp::json(
        404,
        route,
        json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
    )
}

fn answer(state: &Mutex<Inner>, req: &Req) -> Option<Resp> {
    let mut s = state.lock().unwrap();
    let query: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    s.requests.push((
        req.method.clone(),
        format!("{}?{}", req.path, query.join("&")),
    ));
    if s.down {
        return None;
    }
    let seg = req.segments();
    let auth = req.header("authorization");
    let expected = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        format!("Basic {}", b64.encode(format!("{}:{}", s.email, s.token)))
    };
    let key = seg.get(4).copied().unwrap_or("").to_owned();
    let (api, route) = match (req.method.as_str(), seg.as_slice()) {
        ("GET", ["rest", "api", "3", "issue", _]) => ("jira", "/rest/api/3/issue/{issueIdOrKey}"),
        ("POST", ["rest", "api", "3", "issue", _, "comment"]) => {
            ("jira", "/rest/api/3/issue/{issueIdOrKey}/comment")
        }
        ("GET", ["rest", "servicedeskapi", "request", _]) => {
            ("jsm", "/rest/servicedeskapi/request/{issueIdOrKey}")
        }
        ("GET", ["rest", "servicedeskapi", "request", _, "approval"]) => (
            "jsm",
            "/rest/servicedeskapi/request/{issueIdOrKey}/approval",
        ),
        _ => return Some(not_found(&req.path)),
    };
    let key = if api == "jsm" {
        seg.get(3).copied().unwrap_or("").to_owned()
    } else {
        key
    };
    let page_size = s.page_size;
    let mut resp = match auth {
        // Anonymous: Jira answers as for an issue that does not exist.
        None => not_found(route),
        Some(a) if a != expected => Resp::json(
            401,
            route,
            json!({"errorMessages": ["Client must be authenticated to access this resource."], "errors": {}}),
        ),
        Some(_) => {
            let site = req
                .header("host")
                .unwrap_or("acme.atlassian.net")
                .to_owned();
            match s.issues.iter_mut().find(|i| i.key == key) {
                None if api == "jsm" => Resp::json(
                    404,
                    route,
                    json!({"errorMessage": "The request does not exist", "i18nErrorMessage": {"i18nKey": "sd.request.error.not.found", "parameters": []}}),
                ),
                None => not_found(route),
                Some(issue) => match route {
                    "/rest/api/3/issue/{issueIdOrKey}" => {
                        Resp::json(200, route, issue_bean(issue, req, &site))
                    }
                    "/rest/api/3/issue/{issueIdOrKey}/comment" => comment(issue, req, route),
                    "/rest/servicedeskapi/request/{issueIdOrKey}" => request(issue, req, route),
                    _ => Resp::json(200, route, approvals_page(issue, req, page_size)),
                },
            }
        }
    };
    route.clone_into(&mut resp.route);
    Some(resp)
}

fn issue_bean(issue: &Issue, req: &Req, site: &str) -> Value {
    let wanted: Vec<&str> = req
        .q("fields")
        .map_or_else(Vec::new, |f| f.split(',').collect());
    let all = wanted.is_empty() || wanted.contains(&"*all");
    let (category_id, category_name, color) = match issue.category.as_str() {
        "new" => (2, "To Do", "blue-gray"),
        "done" => (3, "Done", "green"),
        _ => (4, "In Progress", "yellow"),
    };
    let mut fields = Map::new();
    if all || wanted.contains(&"status") {
        fields.insert("status".into(), json!({
            "self": format!("http://{site}/rest/api/3/status/10017"), "description": "", "iconUrl": format!("http://{site}/"),
            "name": issue.status, "id": "10017",
            "statusCategory": {"self": format!("http://{site}/rest/api/3/statuscategory/{category_id}"), "id": category_id,
                               "key": issue.category, "colorName": color, "name": category_name}}));
    }
    if all || wanted.contains(&"issuetype") {
        fields.insert("issuetype".into(), json!({"self": format!("http://{site}/rest/api/3/issuetype/10005"), "id": "10005",
            "description": "A change", "iconUrl": format!("http://{site}/"), "name": issue.kind, "subtask": false, "hierarchyLevel": 0}));
    }
    for (id, value) in &issue.fields {
        if all || wanted.contains(&id.as_str()) {
            fields.insert(id.clone(), value.clone());
        }
    }
    json!({"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
           "id": issue.id, "self": format!("http://{site}/rest/api/3/issue/{}", issue.id), "key": issue.key, "fields": fields})
}

fn comment(issue: &mut Issue, req: &Req, route: &str) -> Resp {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let Some(doc) = body
        .get("body")
        .filter(|b| b.get("type") == Some(&json!("doc")))
    else {
        return Resp::json(
            400,
            route,
            json!({"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}}),
        );
    };
    issue.comments.push(doc.clone());
    let id = 10_000 + issue.comments.len();
    // Jira writes `+0000`; Atlassian's description says `date-time`, which the check holds it to.
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Resp::json(
        201,
        route,
        json!({"self": format!("https://acme.atlassian.net/rest/api/3/issue/{}/comment/{id}", issue.id),
        "id": id.to_string(), "author": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "sluice", "active": true},
        "body": doc, "created": now, "updated": now, "jsdPublic": false}),
    )
}

fn request(issue: &Issue, req: &Req, route: &str) -> Resp {
    let Some(kind) = &issue.request_type else {
        return Resp::json(
            404,
            route,
            json!({"errorMessage": "The request does not exist", "i18nErrorMessage": {"i18nKey": "sd.request.error.not.found", "parameters": []}}),
        );
    };
    let created = DateTime::parse_from_rfc3339("2026-03-01T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let category = issue.category.to_ascii_uppercase();
    let mut body = json!({"_expands": ["participant", "status", "sla", "requestType", "serviceDesk", "attachment", "action", "comment"],
        "issueId": issue.id, "issueKey": issue.key, "requestTypeId": "25", "serviceDeskId": "10",
        "createdDate": date(created), "reporter": user("Ann Engineer"), "requestFieldValues": [],
        "currentStatus": {"status": issue.status, "statusCategory": category, "statusDate": date(created)},
        "_links": {"jiraRest": format!("https://acme.atlassian.net/rest/api/2/issue/{}", issue.id),
                   "web": format!("https://acme.atlassian.net/servicedesk/customer/portal/10/{}", issue.key),
                   "self": format!("https://acme.atlassian.net/rest/servicedeskapi/request/{}", issue.id)}});
    if req
        .q("expand")
        .is_some_and(|e| e.split(',').any(|x| x == "requestType"))
    {
        body["requestType"] = json!({"id": "25", "name": kind, "description": "", "helpText": "", "issueTypeId": "10005",
            "serviceDeskId": "10", "portalId": "10", "groupIds": ["12"], "_links": {"self": "https://acme.atlassian.net/rest/servicedeskapi/servicedesk/10/requesttype/25"}});
    }
    Resp::json(200, route, body)
}

/// One page of a request's approvals: at most `limit`, and at most `page_size` (the site's own).
fn approvals_page(issue: &Issue, req: &Req, page_size: usize) -> Value {
    let start: usize = req.q("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = req.q("limit").and_then(|v| v.parse().ok()).unwrap_or(50);
    let per_page = limit.min(page_size).max(1);
    let created = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let values: Vec<Value> = issue
        .approvals
        .iter()
        .enumerate()
        .skip(start)
        .take(per_page)
        .map(|(i, a)| {
            let mut v = json!({"id": (i + 1).to_string(), "name": a.name, "finalDecision": a.decision, "canAnswerApproval": false,
                "approvers": a.approvers.iter().map(|(name, d)| json!({"approver": user(name), "approverDecision": d})).collect::<Vec<_>>(),
                "createdDate": date(created),
                "_links": {"self": format!("https://acme.atlassian.net/rest/servicedeskapi/request/{}/approval/{}", issue.id, i + 1)}});
            if a.decision != "pending" {
                v["completedDate"] = date(created + chrono::Duration::minutes(30));
            }
            v
        })
        .collect();
    let last = start + values.len() >= issue.approvals.len();
    let mut links =
        json!({"base": "https://acme.atlassian.net/rest/servicedeskapi", "context": ""});
    if !last {
        links["next"] = json!(format!("https://acme.atlassian.net/rest/servicedeskapi/request/{}/approval?start={}&limit={limit}", issue.id, start + values.len()));
    }
    json!({"_expands": [], "size": values.len(), "start": start, "limit": per_page, "isLastPage": last, "values": values, "_links": links})
}
