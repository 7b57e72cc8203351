//! One ticket judgment: the ticket number of the change id, the system's answers within a deadline,
//! the snapshot stored by its digest, the verdict, and the record's evidence. Used by the guard's
//! decision and by syncs judged after the fact alike, so both say the same things the same way.

use super::Tickets;
use crate::evidence::snapshot as store;
use crate::itsm::snapshot::{Snapshot, VERSION};
use crate::itsm::{self, Target};
use crate::policy::ticket::{number_of, TicketSpec};
use crate::record::evidence::{Ticket as Evidence, TicketApprover};
use crate::ticket::facts::system_name;
use crate::ticket::judge::instant;
use crate::ticket::{judge, Judgment, Ticket, Verdict};
use serde_json::{Map, Value};
use std::time::Duration;

/// What is asked about a sync.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The change id the ticket number comes from (the emergency id for an emergency override);
    /// `None` when the sync names none.
    pub id: Option<String>,
    pub change_id: Option<String>,
    /// The change's own `ticket` section (`None` after the fact: the sink cannot read it).
    pub own: Option<Value>,
    /// `change.idPattern`, whose groups `ticket.number` names.
    pub pattern: String,
    /// Where the rules came from: `change` or `in-force`.
    pub sources: Vec<String>,
    /// [`crate::record::evidence::DECIDED_AT_SYNC`] or `DECIDED_AFTER`.
    pub decided: &'static str,
    pub budget: Duration,
}

/// The outcome of one judgment.
pub struct Ruling {
    pub evidence: Evidence,
    pub judgment: Judgment,
}

impl Tickets {
    /// Judges `ask` by `rules`: asks the system within the budget, stores the snapshot, gives the
    /// evidence (its `finding` left for the caller, who knows whether the sync went ahead).
    pub(super) async fn run(&self, ask: &Ask, rules: &TicketSpec) -> Ruling {
        let mut evidence = blank(ask, rules);
        let number = match ask.id.as_deref() {
            None => Err("the sync names no change id, so no ticket".to_owned()),
            Some(id) => number_of(&rules.number, &ask.pattern, id),
        };
        let number = match number {
            Ok(n) => n,
            Err(why) => {
                let j = if rules.required {
                    no(Verdict::NotAuthorized, format!("{why} (ticket.required)"))
                } else {
                    no(
                        Verdict::NoTicket,
                        format!("{why}; none is required (ticket.required: false)"),
                    )
                };
                return self.ruled(ask, evidence, j);
            }
        };
        evidence.number = Some(number.clone());
        let deadline = tokio::time::Instant::now() + ask.budget;
        let Some(source) = self.systems.source(rules.system, deadline) else {
            let flag = match rules.system {
                crate::policy::ticket::System::ServiceNow => "--servicenow-url",
                crate::policy::ticket::System::Jira => "--jira-url",
            };
            let j = no(
                Verdict::Unverified,
                format!(
                    "cannot verify {} {number}: the sink has no {} configured (sluice serve {flag}, with credentials)",
                    system_name(rules.system),
                    system_name(rules.system)
                ),
            );
            return self.ruled(ask, evidence, j);
        };
        let now = chrono::Utc::now();
        let fetched_at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let target = Target::of(rules, &number);
        let (ticket, exchanges) = itsm::gather(&source, &target).await;
        let snapshot = Snapshot {
            kind: "ticket".into(),
            version: VERSION,
            system: rules.system.as_str().into(),
            api: self
                .systems
                .api(rules.system)
                .unwrap_or_default()
                .to_owned(),
            number: number.clone(),
            rules: rules.clone(),
            fetched_at: fetched_at.clone(),
            exchanges,
            error: ticket.as_ref().err().map(ToString::to_string),
        };
        evidence.fetched_at = Some(fetched_at);
        evidence.snapshot_digest = self.keep(&snapshot).await;
        // Judged at the instant recorded (milliseconds), so that the snapshot re-judges the same.
        let now = snapshot.judged_at().map_or(now, |t| t);
        let j = match ticket {
            Ok(t) => {
                if let Some(t) = &t {
                    fill(&mut evidence, t);
                }
                judge(rules, &number, t.as_ref(), now)
            }
            Err(e) => no(
                Verdict::Unverified,
                format!("cannot verify {} {number}: {e}", system_name(rules.system)),
            ),
        };
        self.ruled(ask, evidence, j)
    }

    fn ruled(&self, ask: &Ask, mut evidence: Evidence, judgment: Judgment) -> Ruling {
        judgment.verdict.as_str().clone_into(&mut evidence.verdict);
        evidence.reason.clone_from(&judgment.reason);
        evidence.emergency = judgment.emergency;
        self.count(ask.decided, judgment.verdict.as_str());
        Ruling { evidence, judgment }
    }

    /// Stores the snapshot; `None` (logged) when it cannot be written: the decision still stands, its
    /// evidence then lacks the system's answers, which the record says by a `null` digest.
    async fn keep(&self, snapshot: &Snapshot) -> Option<String> {
        let bytes = match snapshot.to_bytes() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot write a ticket snapshot");
                return None;
            }
        };
        let dir = self.data_dir.clone();
        match tokio::task::spawn_blocking(move || store::store(&dir, &bytes)).await {
            Ok(Ok(digest)) => Some(digest),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot store a ticket snapshot");
                None
            }
            Err(_) => None,
        }
    }
}

fn no(verdict: Verdict, reason: String) -> Judgment {
    Judgment {
        verdict,
        reason,
        emergency: false,
        emergency_type: false,
        conflict_flagged: false,
    }
}

/// The rules as a record keeps them: every default written out, and `change.idPattern`, which the
/// number template reads (so that a later sync can be judged by the rules in force).
pub fn rules_json(rules: &TicketSpec, pattern: &str) -> Value {
    let mut v = rules.to_effective_json();
    if let Value::Object(map) = &mut v {
        map.insert("changeIdPattern".into(), Value::String(pattern.to_owned()));
    }
    v
}

/// Evidence with everything but the system's answers.
fn blank(ask: &Ask, rules: &TicketSpec) -> Evidence {
    Evidence {
        verdict: Verdict::Unverified.as_str().to_owned(),
        finding: None,
        reason: String::new(),
        system: rules.system.as_str().to_owned(),
        number: None,
        change_id: ask.id.clone().or_else(|| ask.change_id.clone()),
        id: None,
        state: None,
        state_value: None,
        approval: None,
        approvers: Vec::new(),
        planned_start: None,
        planned_end: None,
        kind: None,
        assignment_group: None,
        conflict: None,
        emergency: false,
        rules: rules_json(rules, &ask.pattern),
        policy: ask.own.clone().unwrap_or(Value::Null),
        sources: ask.sources.clone(),
        fetched_at: None,
        snapshot_digest: None,
        decided: ask.decided.to_owned(),
        decision: None,
        extra: Map::new(),
    }
}

/// The ticket's facts in the evidence.
fn fill(e: &mut Evidence, t: &Ticket) {
    e.id.clone_from(&t.id);
    e.state.clone_from(&t.state);
    e.state_value.clone_from(&t.state_value);
    e.approval.clone_from(&t.approval);
    e.planned_start = t.planned_start.map(instant);
    e.planned_end = t.planned_end.map(instant);
    e.kind.clone_from(&t.kind);
    e.assignment_group.clone_from(&t.assignment_group);
    e.conflict.clone_from(&t.conflict);
    e.approvers = t
        .approvals
        .iter()
        .map(|a| TicketApprover {
            name: a.name.clone(),
            decision: a.decision.clone(),
            by: a.by.clone(),
            at: a.at.clone(),
            page: a.page,
            extra: Map::new(),
        })
        .collect();
}
