//! `POST /v1/reviews` (write token): the post-implementation review of an emergency change, recorded
//! through the sink (`sluice audit review --server`). Takes `{"changeId", "by", "note"}`; finds the
//! emergency in the log (its records and due date), appends an `emergency-review` record and answers
//! `201 {"seq", "hash", "changeId", "due", "late"}`; a retry of the same review is `200` with
//! `"duplicate": true`; `404` when no emergency has that id; `409` when it was reviewed already by
//! another review; `400` for a request that does not fit.

use super::Tickets;
use crate::ledger::Outcome;
use crate::record::review::check_text;
use crate::record::{review_record, Body};
use crate::sink::registry::Learn as _;
use crate::sink::writer::Appender;
use serde_json::{json, Value};

/// Longest reviewer name and note.
const MAX_BY: usize = 200;
const MAX_NOTE: usize = 8000;

/// The sink's answer to a review, and the record appended.
pub struct ReviewAnswer {
    pub status: u16,
    pub body: Value,
    pub appended: Option<(u64, Body)>,
}

fn bad(message: impl Into<String>) -> ReviewAnswer {
    ReviewAnswer {
        status: 400,
        body: json!({"error": message.into()}),
        appended: None,
    }
}

impl Tickets {
    /// Records the review `request` asks for (see the module's documentation).
    pub async fn review(
        &self,
        request: &Value,
        appender: &Appender,
        received_at: &str,
    ) -> ReviewAnswer {
        let text = |k: &str| request.get(k).and_then(Value::as_str).unwrap_or("");
        let (change_id, by, note) = (text("changeId"), text("by"), text("note"));
        for (name, value, max, lines) in [
            ("changeId", change_id, MAX_BY, false),
            ("by", by, MAX_BY, false),
            ("note", note, MAX_NOTE, true),
        ] {
            if let Err(e) = check_text(name, value, max, lines) {
                return bad(e);
            }
        }
        let found = {
            let id = change_id.to_owned();
            self.registry.with_async(move |r| r.emergency(&id)).await
        };
        let Some(emergency) = found else {
            return ReviewAnswer {
                status: 404,
                body: json!({"error": format!("no emergency change {change_id} is recorded (a review is of a change an emergency let through: an override, or an approved emergency ticket)")}),
                appended: None,
            };
        };
        let due = emergency
            .due
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let late =
            chrono::DateTime::parse_from_rfc3339(received_at).is_ok_and(|t| t > emergency.due);
        let draft = review_record(
            change_id,
            by,
            note,
            &emergency.seqs,
            Some(&due),
            late,
            "api",
            received_at,
        );
        if let Some((seq, key)) = &emergency.review {
            if key != draft.key() {
                return ReviewAnswer {
                    status: 409,
                    body: json!({"error": format!("{change_id} was reviewed already (seq {seq})"), "seq": seq}),
                    appended: None,
                };
            }
        }
        match appender.append(draft.clone()).await {
            Ok(Outcome::Appended { seq, hash }) => {
                let body = draft.clone();
                self.registry
                    .with_async(move |r| r.observe(seq, &body))
                    .await;
                ReviewAnswer {
                    status: 201,
                    body: json!({"seq": seq, "hash": hash, "changeId": change_id, "due": due, "late": late}),
                    appended: Some((seq, draft)),
                }
            }
            Ok(Outcome::Duplicate { seq }) => ReviewAnswer {
                status: 200,
                body: json!({"seq": seq, "duplicate": true, "changeId": change_id}),
                appended: None,
            },
            Err(e) => {
                tracing::warn!(error = %e, "answering 503 to a review");
                ReviewAnswer {
                    status: 503,
                    body: json!({"error": "the review could not be made durable; retry later"}),
                    appended: None,
                }
            }
        }
    }

    /// Learns from a durable record (the handlers call it after each append).
    pub async fn observe(&self, seq: u64, body: &Body) {
        let body = body.clone();
        self.registry
            .with_async(move |r| r.observe(seq, &body))
            .await;
    }
}
