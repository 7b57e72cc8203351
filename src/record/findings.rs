//! The findings of a record (what `audit exceptions` lists): its gate exceptions (src/record/gate.rs),
//! then what its evidence members raise (src/record/evidence.rs: `unapproved`,
//! `approval-unverified`, `ticket-not-authorized`, `ticket-outside-window`, `ticket-unverified`,
//! `ticket-conflict`, `verification-failed`, `unverified`). Pure. (Emergencies awaiting their review
//! are found over the whole log: src/record/review.rs.)

use super::evidence::{Approval, Ticket, Verification};
use super::model::{Body, Record};

/// The approval evidence of a record, when it has any.
pub fn approval(record: &Record) -> Option<&Approval> {
    match &record.body {
        Body::Sync(s) => s.approval.as_present()?.as_ref(),
        Body::Guard(g) => g.approval.as_present()?.as_ref(),
        Body::Review(_) | Body::Verify(_) | Body::Confirmation(_) => None,
    }
}

/// The ticket evidence of a record, when it has any.
pub fn ticket(record: &Record) -> Option<&Ticket> {
    match &record.body {
        Body::Sync(s) => s.ticket.as_present()?.as_ref(),
        Body::Guard(g) => g.ticket.as_present()?.as_ref(),
        Body::Review(_) | Body::Verify(_) | Body::Confirmation(_) => None,
    }
}

/// The verification evidence of a record: a sync's copy, or a verification record's own.
pub fn verification(record: &Record) -> Option<&Verification> {
    match &record.body {
        Body::Sync(s) => s.verification.as_present()?.as_ref(),
        Body::Verify(v) => Some(&v.verification),
        Body::Guard(_) | Body::Review(_) | Body::Confirmation(_) => None,
    }
}

/// Everything `audit exceptions` lists for a record: its gate exceptions, then the findings of its
/// evidence (`unapproved`, `approval-unverified`, `ticket-…`, `verification-failed`, `unverified`).
/// A verification record's own copy has no finding: the sync record of its operation carries it.
pub fn findings(record: &Record) -> Vec<&str> {
    let mut out: Vec<&str> = super::gate::exceptions(record)
        .iter()
        .map(String::as_str)
        .collect();
    if let Some(finding) = approval(record).and_then(|a| a.finding.as_deref()) {
        out.push(finding);
    }
    if let Some(finding) = ticket(record).and_then(|t| t.finding.as_deref()) {
        out.push(finding);
    }
    if let Some(finding) = verification(record).and_then(|v| v.finding.as_deref()) {
        out.push(finding);
    }
    out
}
