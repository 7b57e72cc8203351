//! Approvals at the Git host, judged (docs/approvals.md). Takes what a host said about a change, in
//! host-neutral terms (a [`Change`]: the first-parent commits synced, the merged pull requests that
//! introduced them, their reviews, contributors and code owners), and the rules in force; gives a
//! [`Judgment`]: approved, unapproved or unverified, with the reason naming the pull request and the
//! rule, and per pull request the approvals that count and why the others do not.
//!
//! ```text
//! policy::ApprovalsSpec (the change's own) ─┐
//! the policy in force before it (the log) ──┼─ effective (stricter of all; below a floor: refused)
//! org floors (--approvals-floor) ───────────┘                │
//! host (src/host: fetch, trim, interpret) → Change ──────────┴→ judge → Judgment
//! ```
//!
//! Everything here is pure: no clock, no I/O. That is what lets a snapshot of the host's responses
//! re-judge to the same verdict years later (src/host replays it through the same code).
//!
//! ```text
//! change      the host-neutral facts: Change, Pull, Review, identities, owners
//! judge       judge(rules, change) → Judgment
//! codeowners  CODEOWNERS as GitHub reads it: the owners of a path
//! floor       --approvals-floor: org minimums by project or cluster glob; the effective rules
//! ```

pub mod change;
pub mod codeowners;
pub mod floor;
pub mod judge;

pub use change::{Change, ChangeCommit, Identity, Owner, PathOwners, Pull, Review, ReviewState};
pub use floor::{effective, Effective, Floor};
pub use judge::{judge, Judgment, PullJudgment, Verdict};
