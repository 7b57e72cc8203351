//! What a ticket system said for one judgment, kept so that it can be judged again without the system
//! (docs/tickets.md, "What an auditor reads"). Takes the system, the number, the rules, the instant
//! of judging and the trimmed exchanges of a gather; gives the snapshot's bytes (JSON, keys sorted;
//! their SHA-256 is the digest the record names). [`rejudge`] replays the same gather over the
//! stored answers and judges at the stored instant: the verdict must be the one recorded.

use super::Target;
use crate::policy::ticket::{System, TicketSpec};
use crate::remote::{Exchange, Replay};
use crate::ticket::{judge, Judgment};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The format of [`Snapshot`] this version writes.
pub const VERSION: u64 = 1;

/// A snapshot of a ticket judgment's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshot {
    /// `ticket`.
    pub kind: String,
    pub version: u64,
    /// `servicenow` or `jira`.
    pub system: String,
    /// The API's base URL.
    pub api: String,
    /// The ticket number asked for.
    pub number: String,
    /// The rules the ticket was judged by.
    pub rules: TicketSpec,
    /// When the system was asked, which is the instant the planned window is judged at (RFC 3339).
    pub fetched_at: String,
    /// Each request and its trimmed answer, in the order asked.
    pub exchanges: Vec<Exchange>,
    /// Why the gather stopped short, when it did.
    pub error: Option<String>,
}

/// A snapshot that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a ticket snapshot: {0}")]
    Invalid(String),
    #[error("the snapshot's content cannot be written: {0}")]
    Canonical(String),
}

impl Snapshot {
    /// The bytes stored: one line of JSON with keys sorted at every depth, and a newline. Not the
    /// log's canonical form, which refuses fractions: ServiceNow answers numbers as `-1.0`, and the
    /// snapshot keeps the answer as it came.
    ///
    /// # Errors
    ///
    /// The snapshot cannot be written as JSON.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        let mut value =
            serde_json::to_value(self).map_err(|e| SnapshotError::Canonical(e.to_string()))?;
        value.sort_all_objects();
        let mut bytes =
            serde_json::to_vec(&value).map_err(|e| SnapshotError::Canonical(e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Reads the bytes of a stored snapshot.
    ///
    /// # Errors
    ///
    /// Not JSON, not of this shape, or of another system than its rules.
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let s: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| SnapshotError::Invalid(e.to_string()))?;
        if s.kind != "ticket" || System::parse(&s.system) != Some(s.rules.system) {
            return Err(SnapshotError::Invalid(format!(
                "kind {:?}, system {:?}",
                s.kind, s.system
            )));
        }
        Ok(s)
    }

    /// The instant it was judged at.
    ///
    /// # Errors
    ///
    /// `fetchedAt` is not RFC 3339.
    pub fn judged_at(&self) -> Result<DateTime<Utc>, SnapshotError> {
        DateTime::parse_from_rfc3339(&self.fetched_at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| SnapshotError::Invalid(format!("fetchedAt: {e}")))
    }
}

/// The judgment of a snapshot, from its answers alone: `Err` when the gather it replays stops (as the
/// live one did for an unverified verdict, or because the snapshot lacks an answer).
///
/// # Errors
///
/// The replayed gather failed, or the snapshot's time is unreadable.
pub async fn rejudge(snapshot: &Snapshot) -> Result<Judgment, String> {
    let now = snapshot.judged_at().map_err(|e| e.to_string())?;
    let target = Target::of(&snapshot.rules, &snapshot.number);
    let replay = Replay::new(&snapshot.exchanges);
    let (ticket, _) = super::gather(&replay, &target).await;
    let ticket = ticket.map_err(|e| e.to_string())?;
    Ok(judge(
        &snapshot.rules,
        &snapshot.number,
        ticket.as_ref(),
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_snapshot_keeps_the_fractions_servicenow_answers_and_reads_back() {
        let s = Snapshot {
            kind: "ticket".into(),
            version: VERSION,
            system: "servicenow".into(),
            api: "https://acme.service-now.com".into(),
            number: "CHG0030001".into(),
            rules: TicketSpec::of(System::ServiceNow),
            fetched_at: "2026-03-07T11:00:00.000Z".into(),
            exchanges: vec![Exchange {
                request: "GET /x".into(),
                body: json!({"z": 1, "a": {"value": -1.0}}),
            }],
            error: None,
        };
        let bytes = s.to_bytes().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#"{"a":{"value":-1.0},"z":1}"#), "{text}");
        assert_eq!(Snapshot::from_bytes(&bytes).unwrap(), s);
        assert!(Snapshot::from_bytes(br#"{"kind":"approval"}"#).is_err());
    }
}
