//! The ticket part of the guard's question at sync time (`POST /v1/decide`, src/sink/decide.rs): takes
//! the decision request (the change id, the emergency id if the Application declares one, the change's
//! own `ticket` section and `change.idPattern`) and the window's decision; judges the ticket
//! (src/sink/tickets/run.rs) and gives allow or refuse with the reason Argo CD shows, the emergency
//! the decision records, and the evidence.
//!
//! | the window | the ticket | the decision |
//! |---|---|---|
//! | allows | authorized (or none, and none required) | allowed |
//! | allows or refuses | an approved emergency change | allowed, an emergency by its ticket |
//! | refuses | anything else | refused by the window |
//! | allows | not authorized, outside its window | refused by the ticket |
//! | an emergency override (`SLUICE_EMERGENCY`) | the emergency id's ticket: an approved emergency change | allowed, an emergency |
//! | an emergency override | no such ticket, or not an emergency change | with `required`: refused; without: the override stands |
//! | an emergency override | an unapproved emergency change (or any ticket refused) | refused |
//! | allows | the system cannot be asked | `onUnavailable: fail` refuses, `allow-flagged` allows (flagged) |

use super::run::Ask;
use super::Tickets;
use crate::policy::approvals::OnUnavailable;
use crate::policy::ticket::{self, TicketSpec};
use crate::policy::DEFAULT_ID_PATTERN;
use crate::record::evidence::{Ticket as Evidence, DECIDED_AT_SYNC};
use crate::ticket::Verdict;
use serde_json::Value;

/// The ticket gate's part of a decision.
pub struct Gated {
    pub allowed: bool,
    /// The decision's reason so far.
    pub reason: String,
    /// The emergency the decision records: the override's id, or the number of the approved emergency
    /// ticket that let the sync through.
    pub emergency: Option<String>,
    /// Which gate refused: `window` or `ticket`.
    pub refused_by: Option<&'static str>,
    pub evidence: Evidence,
}

/// The change's `ticket` section of a decision request and `change.idPattern`; `None` without one.
///
/// # Errors
///
/// The section is there but invalid (the message names the key).
pub fn section(request: &Value) -> Result<Option<(TicketSpec, String)>, String> {
    let pattern = request
        .get("changeIdPattern")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .unwrap_or(DEFAULT_ID_PATTERN)
        .to_owned();
    if regex::Regex::new(&pattern).is_err() {
        return Err(format!(
            "changeIdPattern {pattern:?} is not a valid regular expression"
        ));
    }
    match request.get("ticket") {
        Some(v) if v.is_object() => Ok(Some((ticket::from_value(v, &pattern)?, pattern))),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err("ticket must be the change's ticket section (an object)".into()),
    }
}

/// The window's decision, as the guard sent it.
pub struct Window<'a> {
    pub allowed: bool,
    pub reason: &'a str,
    /// The emergency id that overrode the windows (`SLUICE_EMERGENCY`).
    pub emergency: Option<&'a str>,
}

impl Tickets {
    /// Judges the ticket of the sync `request` asks about and combines it with the window's decision
    /// (see the module's table).
    pub async fn at_sync(
        &self,
        request: &Value,
        rules: &TicketSpec,
        pattern: &str,
        window: &Window<'_>,
    ) -> Gated {
        let change_id = request
            .get("changeId")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        let override_id = window.emergency.map(str::to_owned);
        let ask = Ask {
            id: override_id.clone().or_else(|| change_id.clone()),
            change_id,
            own: request.get("ticket").cloned(),
            pattern: pattern.to_owned(),
            sources: vec!["change".into()],
            decided: DECIDED_AT_SYNC,
            budget: self.decide_budget,
        };
        let ruling = self.run(&ask, rules).await;
        let j = &ruling.judgment;
        let number = ruling.evidence.number.clone();
        let gated = |allowed: bool,
                     reason: String,
                     emergency: Option<String>,
                     by: Option<&'static str>| Gated {
            allowed,
            reason,
            emergency,
            refused_by: by,
            evidence: ruling.evidence.clone(),
        };
        let flagged = rules.on_unavailable == OnUnavailable::AllowFlagged;
        let w = window.reason;
        if j.verdict == Verdict::Unverified {
            return match (window.allowed, flagged) {
                (true, true) => gated(
                    true,
                    format!("{w}; ticket unverified, allowed by ticket.onUnavailable: allow-flagged and recorded as ticket-unverified: {}", j.reason),
                    override_id,
                    None,
                ),
                (true, false) => gated(
                    false,
                    format!("blocked: the ticket could not be verified (ticket.onUnavailable: fail): {}", j.reason),
                    None,
                    Some("ticket"),
                ),
                (false, _) => gated(false, w.to_owned(), None, Some("window")),
            };
        }
        if let Some(id) = &override_id {
            return match j.verdict {
                _ if j.emergency => gated(true, format!("{w}; ticket: {}", j.reason), override_id.clone(), None),
                Verdict::NoTicket => gated(true, format!("{w}; ticket: {}", j.reason), override_id.clone(), None),
                Verdict::Authorized if !rules.required => {
                    gated(true, format!("{w}; ticket: {}", j.reason), override_id.clone(), None)
                }
                Verdict::Authorized => gated(
                    false,
                    format!("blocked: emergency {id}: {}, not an emergency change (ticket.required: an emergency override needs an approved emergency ticket)", j.reason),
                    None,
                    Some("ticket"),
                ),
                _ => gated(
                    false,
                    format!("blocked: emergency {id}: {} (an emergency override needs an approved emergency ticket)", j.reason),
                    None,
                    Some("ticket"),
                ),
            };
        }
        if j.emergency {
            let reason = if window.allowed {
                format!("{w}; ticket: {}", j.reason)
            } else {
                format!(
                    "allowed: emergency change {} ({}) overrides sync windows and freezes (without it: {w})",
                    number.as_deref().unwrap_or("?"),
                    j.reason
                )
            };
            return gated(true, reason, number, None);
        }
        match (window.allowed, j.verdict.allows()) {
            (true, true) => gated(true, format!("{w}; ticket: {}", j.reason), None, None),
            (false, true) => gated(false, w.to_owned(), None, Some("window")),
            (true, false) => gated(
                false,
                format!("blocked: ticket: {}", j.reason),
                None,
                Some("ticket"),
            ),
            (false, false) => gated(
                false,
                format!("{w}; and ticket: {}", j.reason),
                None,
                Some("window"),
            ),
        }
    }
}
