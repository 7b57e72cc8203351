//! The `approvals` section of `.sluice.yaml` (docs/approvals.md): how many people other than the
//! change's author and contributors must have approved its pull requests at the Git host, and what
//! the guard does when that cannot be checked. Takes the section as written (YAML or the JSON the
//! guard forwards), gives a validated [`ApprovalsSpec`]; the same rules combine by
//! [`ApprovalsSpec::stricter`] (the policy in force before a change, the change's own, the org
//! floor). Pure: no I/O.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most approvals a policy may ask for (a typo such as `required: 20000` must not lock every sync).
pub const MAX_REQUIRED: u32 = 50;

/// `approvals`: what the Git host must show for every pull request of a change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)] // one switch per rule, as written in the policy
pub struct ApprovalsSpec {
    /// Approvals needed on each pull request, by people the other rules leave in.
    pub required: u32,
    /// The pull request's author never counts (GitHub refuses self-approval anyway; GitLab may allow it).
    #[serde(default = "yes")]
    pub exclude_author: bool,
    /// Nobody who authored or committed a commit of the pull request counts.
    #[serde(default = "yes")]
    pub exclude_contributors: bool,
    /// The last push (the merged head) must be approved by someone other than its pusher.
    #[serde(default)]
    pub latest_push: bool,
    /// Each changed path's owners (CODEOWNERS at the base revision) must approve.
    #[serde(default)]
    pub code_owners: bool,
    /// Approvals given on an earlier head of the pull request count too (default: only approvals of
    /// the head that was merged).
    #[serde(default)]
    pub allow_stale_approvals: bool,
    /// What the guard does when the host (or the sink) cannot be asked.
    #[serde(default)]
    pub on_unavailable: OnUnavailable,
}

fn yes() -> bool {
    true
}

/// `approvals.onUnavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum OnUnavailable {
    /// Refuse the sync (fail closed).
    #[default]
    #[serde(rename = "fail")]
    Fail,
    /// Let it through, recorded with the finding `approval-unverified`.
    #[serde(rename = "allow-flagged")]
    AllowFlagged,
}

impl OnUnavailable {
    /// As written in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            OnUnavailable::Fail => "fail",
            OnUnavailable::AllowFlagged => "allow-flagged",
        }
    }
}

impl ApprovalsSpec {
    /// The rules with every switch at its default and `required` approvals.
    pub fn requiring(required: u32) -> Self {
        ApprovalsSpec {
            required,
            exclude_author: true,
            exclude_contributors: true,
            latest_push: false,
            code_owners: false,
            allow_stale_approvals: false,
            on_unavailable: OnUnavailable::Fail,
        }
    }

    /// Checks what the schema cannot.
    ///
    /// # Errors
    ///
    /// The key (relative to `approvals`) and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.required > MAX_REQUIRED {
            return Err((
                "required".into(),
                format!(
                    "{} is more than {MAX_REQUIRED}; ask for the number of people who must approve, e.g. 2",
                    self.required
                ),
            ));
        }
        Ok(())
    }

    /// Both rule sets at once: the larger count, every exclusion of either, stale approvals only if
    /// both allow them, `fail` if either says so. A pull request cannot weaken its own rule this way
    /// (palantir/policy-bot reads the policy from the target branch for the same reason).
    #[must_use]
    pub fn stricter(&self, other: &ApprovalsSpec) -> ApprovalsSpec {
        ApprovalsSpec {
            required: self.required.max(other.required),
            exclude_author: self.exclude_author || other.exclude_author,
            exclude_contributors: self.exclude_contributors || other.exclude_contributors,
            latest_push: self.latest_push || other.latest_push,
            code_owners: self.code_owners || other.code_owners,
            allow_stale_approvals: self.allow_stale_approvals && other.allow_stale_approvals,
            on_unavailable: if self.on_unavailable == OnUnavailable::Fail
                || other.on_unavailable == OnUnavailable::Fail
            {
                OnUnavailable::Fail
            } else {
                OnUnavailable::AllowFlagged
            },
        }
    }

    /// The keys in which `self` is weaker than `floor`, each as `key: mine (floor: theirs)`.
    pub fn weaker_than(&self, floor: &ApprovalsSpec) -> Vec<String> {
        let mut out = Vec::new();
        if self.required < floor.required {
            out.push(format!(
                "required: {} (floor: {})",
                self.required, floor.required
            ));
        }
        let flags = [
            ("excludeAuthor", self.exclude_author, floor.exclude_author),
            (
                "excludeContributors",
                self.exclude_contributors,
                floor.exclude_contributors,
            ),
            ("latestPush", self.latest_push, floor.latest_push),
            ("codeOwners", self.code_owners, floor.code_owners),
        ];
        for (key, mine, theirs) in flags {
            if theirs && !mine {
                out.push(format!("{key}: false (floor: true)"));
            }
        }
        if self.allow_stale_approvals && !floor.allow_stale_approvals {
            out.push("allowStaleApprovals: true (floor: false)".into());
        }
        if self.on_unavailable == OnUnavailable::AllowFlagged
            && floor.on_unavailable == OnUnavailable::Fail
        {
            out.push("onUnavailable: allow-flagged (floor: fail)".into());
        }
        out
    }
}

/// Reads the section from JSON (what the guard forwards to the sink, or what a record keeps).
///
/// # Errors
///
/// The section does not fit the schema or fails validation; the message names the key under
/// `approvals`.
pub fn from_value(value: &Value) -> Result<ApprovalsSpec, String> {
    let spec: ApprovalsSpec = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("approvals: {}", e.inner())
        } else {
            format!("approvals.{path}: {}", e.inner())
        }
    })?;
    spec.validate()
        .map_err(|(key, message)| format!("approvals.{key}: {message}"))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_exclude_author_and_contributors_and_fail_closed() {
        let spec = from_value(&json!({"required": 2})).unwrap();
        assert_eq!(spec, ApprovalsSpec::requiring(2));
        assert!(spec.exclude_author && spec.exclude_contributors);
        assert_eq!(spec.on_unavailable, OnUnavailable::Fail);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = from_value(&json!({"required": 2, "excludeAuthors": true})).unwrap_err();
        assert!(
            e.starts_with("approvals.excludeAuthors: unknown field `excludeAuthors`"),
            "{e}"
        );
        let e = from_value(&json!({"required": 2, "onUnavailable": "allow"})).unwrap_err();
        assert!(
            e.starts_with("approvals.onUnavailable: unknown variant"),
            "{e}"
        );
        let e = from_value(&json!({"required": 500})).unwrap_err();
        assert!(
            e.starts_with("approvals.required: 500 is more than 50"),
            "{e}"
        );
        let e = from_value(&json!({"latestPush": true})).unwrap_err();
        assert!(e.contains("missing field `required`"), "{e}");
    }

    #[test]
    fn stricter_takes_the_strongest_of_each_rule() {
        let lax = ApprovalsSpec {
            required: 0,
            exclude_author: false,
            exclude_contributors: false,
            latest_push: false,
            code_owners: true,
            allow_stale_approvals: true,
            on_unavailable: OnUnavailable::AllowFlagged,
        };
        let strict = ApprovalsSpec {
            latest_push: true,
            ..ApprovalsSpec::requiring(2)
        };
        let both = lax.stricter(&strict);
        assert_eq!(both, strict.stricter(&lax));
        assert_eq!(both.required, 2);
        assert!(both.exclude_author && both.exclude_contributors && both.latest_push);
        assert!(both.code_owners && !both.allow_stale_approvals);
        assert_eq!(both.on_unavailable, OnUnavailable::Fail);
        assert_eq!(
            lax.weaker_than(&strict),
            vec![
                "required: 0 (floor: 2)",
                "excludeAuthor: false (floor: true)",
                "excludeContributors: false (floor: true)",
                "latestPush: false (floor: true)",
                "allowStaleApprovals: true (floor: false)",
                "onUnavailable: allow-flagged (floor: fail)",
            ]
        );
        assert!(strict
            .weaker_than(&lax)
            .iter()
            .all(|w| w.starts_with("codeOwners")));
    }
}
