//! What a host said for one judgment, kept so that it can be judged again without the host
//! (docs/approvals.md, "What an auditor reads"). Takes the target, the rules and the trimmed
//! exchanges of a gather; gives the snapshot's canonical bytes (JSON, keys sorted, as the audit log's
//! lines; their SHA-256 is the digest the record names), and [`Replay`], a [`Source`] that answers from
//! a snapshot. [`rejudge`] runs the same gather and judgment over it: the verdict must be the one
//! recorded.

use super::{Exchange, HostError, Kind, Req, Source, Target};
use crate::approval::{judge, Judgment};
use crate::ledger::canonical::to_canonical;
use crate::policy::approvals::ApprovalsSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;

/// The format of [`Snapshot`] this version writes.
pub const VERSION: u64 = 1;

/// A snapshot of a judgment's host answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshot {
    /// `approval`.
    pub kind: String,
    pub version: u64,
    /// `github` or `gitlab`.
    pub host: String,
    /// The API's base URL.
    pub api: String,
    /// The REST API version read (GitHub's `X-GitHub-Api-Version`), `null` for GitLab's v4.
    pub api_version: Option<String>,
    pub repository: String,
    /// The branch asked for; `null`: the repository's default branch.
    pub branch: Option<String>,
    pub base: Option<String>,
    pub head: String,
    pub max_commits: u64,
    /// The effective rules the change was judged by.
    pub rules: ApprovalsSpec,
    /// When the host was asked (RFC 3339).
    pub fetched_at: String,
    /// Each request and its trimmed answer, in the order asked.
    pub exchanges: Vec<Exchange>,
    /// Why the gather stopped short, when it did.
    pub error: Option<String>,
}

/// A snapshot that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a snapshot: {0}")]
    Invalid(String),
    #[error("the snapshot's content cannot be written canonically: {0}")]
    Canonical(String),
}

impl Snapshot {
    /// The target it was taken for.
    ///
    /// # Errors
    ///
    /// An unknown host kind.
    pub fn target(&self) -> Result<Target, SnapshotError> {
        let kind = Kind::parse(&self.host)
            .ok_or_else(|| SnapshotError::Invalid(format!("unknown host {:?}", self.host)))?;
        Ok(Target {
            kind,
            repository: self.repository.clone(),
            branch: self.branch.clone(),
            base: self.base.clone(),
            head: self.head.clone(),
            max_commits: usize::try_from(self.max_commits).unwrap_or(usize::MAX),
            code_owners: self.rules.code_owners,
        })
    }

    /// The canonical bytes (one line of JSON, keys sorted, and a newline).
    ///
    /// # Errors
    ///
    /// A number that is not a safe integer (the canonical form refuses those).
    pub fn to_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        let value =
            serde_json::to_value(self).map_err(|e| SnapshotError::Canonical(e.to_string()))?;
        let mut bytes =
            to_canonical(&value).map_err(|e| SnapshotError::Canonical(e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Reads the bytes of a stored snapshot.
    ///
    /// # Errors
    ///
    /// Not JSON, or not of this shape.
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        serde_json::from_slice(bytes).map_err(|e| SnapshotError::Invalid(e.to_string()))
    }
}

/// A [`Source`] that answers from a snapshot.
pub struct Replay {
    answers: HashMap<String, Value>,
}

impl Replay {
    pub fn new(snapshot: &Snapshot) -> Replay {
        Replay {
            answers: snapshot
                .exchanges
                .iter()
                .map(|e| (e.request.clone(), e.body.clone()))
                .collect(),
        }
    }
}

impl Source for Replay {
    fn fetch(&self, req: &Req) -> impl Future<Output = Result<Value, HostError>> + Send {
        let key = req.key();
        let answer = match self.answers.get(&key) {
            // An answer the gather took as absent (a 404 or 403 it expects).
            Some(Value::Null) => Err(HostError {
                request: key,
                message: "absent (as the snapshot recorded)".into(),
                answered: true,
                status: Some(404),
            }),
            Some(v) => Ok(v.clone()),
            None => Err(HostError::new(
                &key,
                "the snapshot holds no answer to this request",
            )),
        };
        std::future::ready(answer)
    }
}

/// The judgment of a snapshot, from its answers alone: `Err` when the gather it replays stops (as
/// the live one did for an unverified verdict, or because the snapshot lacks an answer).
///
/// # Errors
///
/// The snapshot names an unknown host, or the replayed gather failed.
pub async fn rejudge(snapshot: &Snapshot) -> Result<Judgment, String> {
    let target = snapshot.target().map_err(|e| e.to_string())?;
    let replay = Replay::new(snapshot);
    let (change, _) = super::gather(&replay, &target).await;
    let change = change.map_err(|e| e.to_string())?;
    Ok(judge(&snapshot.rules, &change))
}
