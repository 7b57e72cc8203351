//! Org floors (`sluice serve --approvals-floor`) and the rules a change is judged by. Takes the
//! change's own `approvals` section, the one in force before it (from the log), and the floors that
//! apply to the app's project or cluster; gives the [`Effective`] rules, or the refusal of a team
//! policy below a floor. Pure.
//!
//! A floor is `project=GLOB:RULES` or `cluster=GLOB:RULES`, where RULES are `key=value` pairs of the
//! `approvals` section separated by commas (`project=payments-*:required=2,codeOwners=true`); the keys
//! not given keep the section's defaults, which are themselves a floor (author and contributors
//! excluded, fail closed). A project glob matches the Application's `spec.project`, a cluster glob its
//! destination server URL or name (the globs of sync windows: `*`, `?`, `[a-z]`, `{a,b}`).

use crate::policy::approvals::{ApprovalsSpec, OnUnavailable, MAX_REQUIRED};
use crate::window::glob::Glob;

/// What a floor applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Project,
    Cluster,
}

/// One `--approvals-floor`.
#[derive(Debug, Clone)]
pub struct Floor {
    pub scope: Scope,
    pub glob: Glob,
    pub rules: ApprovalsSpec,
    /// As given on the command line.
    pub text: String,
}

impl Floor {
    /// Parses `project=GLOB:RULES` or `cluster=GLOB:RULES`.
    ///
    /// # Errors
    ///
    /// Why the text is not a floor, with an example.
    pub fn parse(text: &str) -> Result<Floor, String> {
        let example = "e.g. project=payments-*:required=2,codeOwners=true";
        let (scope, rest) = if let Some(rest) = text.strip_prefix("project=") {
            (Scope::Project, rest)
        } else if let Some(rest) = text.strip_prefix("cluster=") {
            (Scope::Cluster, rest)
        } else {
            return Err(format!(
                "{text:?} must start with project= or cluster= ({example})"
            ));
        };
        let (glob, rules) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?}: no ':' before the rules ({example})"))?;
        let glob = Glob::new(glob).map_err(|e| format!("{text:?}: {e}"))?;
        let mut spec = ApprovalsSpec::requiring(1);
        let mut required = false;
        for pair in rules.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{text:?}: {pair:?} is not key=value ({example})"))?;
            let flag = |v: &str| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(format!("{text:?}: {key} must be true or false, not {v:?}")),
            };
            match key {
                "required" => {
                    spec.required = value
                        .parse()
                        .ok()
                        .filter(|n| *n <= MAX_REQUIRED)
                        .ok_or_else(|| {
                            format!("{text:?}: required must be a number from 0 to {MAX_REQUIRED}")
                        })?;
                    required = true;
                }
                "excludeAuthor" => spec.exclude_author = flag(value)?,
                "excludeContributors" => spec.exclude_contributors = flag(value)?,
                "latestPush" => spec.latest_push = flag(value)?,
                "codeOwners" => spec.code_owners = flag(value)?,
                "allowStaleApprovals" => spec.allow_stale_approvals = flag(value)?,
                "onUnavailable" => {
                    spec.on_unavailable = match value {
                        "fail" => OnUnavailable::Fail,
                        "allow-flagged" => OnUnavailable::AllowFlagged,
                        _ => return Err(format!("{text:?}: onUnavailable must be fail or allow-flagged")),
                    }
                }
                _ => return Err(format!(
                    "{text:?}: unknown key {key:?} (required, excludeAuthor, excludeContributors, latestPush, codeOwners, allowStaleApprovals, onUnavailable)"
                )),
            }
        }
        if !required {
            return Err(format!(
                "{text:?}: a floor names its required count ({example})"
            ));
        }
        Ok(Floor {
            scope,
            glob,
            rules: spec,
            text: text.to_owned(),
        })
    }

    /// Whether it applies to an app of `project` deployed to `clusters` (server URL and name).
    pub fn applies(&self, project: Option<&str>, clusters: &[&str]) -> bool {
        match self.scope {
            Scope::Project => project.is_some_and(|p| self.glob.matches(p)),
            Scope::Cluster => clusters
                .iter()
                .any(|c| !c.is_empty() && self.glob.matches(c)),
        }
    }
}

/// The rules a change is judged by, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub rules: ApprovalsSpec,
    /// Where each part came from, for the record: `change`, `in-force`, `floor project=…`.
    pub sources: Vec<String>,
    /// A team policy below a floor: the refusal's reason.
    pub below_floor: Option<String>,
}

/// The stricter of the change's own rules, those in force before it, and every floor that applies.
/// `None` when none of them exists (nothing asks for approvals).
pub fn effective(
    own: Option<&ApprovalsSpec>,
    in_force: Option<&ApprovalsSpec>,
    floors: &[&Floor],
) -> Option<Effective> {
    let mut rules: Option<ApprovalsSpec> = None;
    let mut sources = Vec::new();
    let mut add = |spec: &ApprovalsSpec, source: String| {
        rules = Some(
            rules
                .as_ref()
                .map_or_else(|| spec.clone(), |r| r.stricter(spec)),
        );
        sources.push(source);
    };
    if let Some(own) = own {
        add(own, "change".into());
    }
    if let Some(before) = in_force {
        add(before, "in-force".into());
    }
    for f in floors {
        add(&f.rules, format!("floor {}", f.text));
    }
    let below_floor = own.and_then(|own| {
        floors.iter().find_map(|f| {
            let weaker = own.weaker_than(&f.rules);
            (!weaker.is_empty()).then(|| {
                format!(
                    "the app's approvals policy is below the org floor {} (sluice serve --approvals-floor): {}; raise it in .sluice.yaml",
                    f.text,
                    weaker.join(", ")
                )
            })
        })
    });
    rules.map(|rules| Effective {
        rules,
        sources,
        below_floor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_floors_and_refuses_mistakes() {
        let f = Floor::parse("project=pay-*:required=2,codeOwners=true").unwrap();
        assert_eq!(f.scope, Scope::Project);
        assert_eq!(f.rules.required, 2);
        assert!(f.rules.code_owners && f.rules.exclude_author);
        assert!(f.applies(Some("pay-eu"), &[]));
        assert!(!f.applies(Some("shop"), &["pay-eu"]));
        let c = Floor::parse("cluster=https://prod-*:required=1").unwrap();
        assert!(c.applies(None, &["", "https://prod-eu.example.com"]));
        for bad in [
            "pay:required=2",
            "project=pay",
            "project=pay:codeOwners=true",
            "project=pay:required=x",
            "project=pay:required=2,latestPush=yes",
            "project=pay:required=2,stale=true",
            "project=[:required=2",
        ] {
            assert!(Floor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_change_cannot_lower_the_rule_in_force_and_a_team_cannot_go_below_a_floor() {
        let own = ApprovalsSpec::requiring(0);
        let before = ApprovalsSpec::requiring(2);
        let e = effective(Some(&own), Some(&before), &[]).unwrap();
        assert_eq!(e.rules.required, 2);
        assert_eq!(e.sources, ["change", "in-force"]);
        assert_eq!(e.below_floor, None);
        let floor = Floor::parse("project=pay:required=2").unwrap();
        let e = effective(Some(&ApprovalsSpec::requiring(1)), None, &[&floor]).unwrap();
        assert_eq!(
            e.below_floor.as_deref(),
            Some("the app's approvals policy is below the org floor project=pay:required=2 (sluice serve --approvals-floor): required: 1 (floor: 2); raise it in .sluice.yaml")
        );
        let e = effective(None, None, &[&floor]).unwrap();
        assert_eq!((e.rules.required, e.below_floor), (2, None));
        assert!(effective(None, None, &[]).is_none());
    }
}
