//! Compiled windows and freezes. Takes the policy's [`WindowSpec`]s and [`FreezeSpec`]s; gives a
//! [`Window`] or [`Freeze`] per entry (or the first invalid field, with its key path), each of which
//! answers for itself: does it apply to this app, is it active or in force at an instant, when does it
//! next fire, when does an open window close. Combining windows into a decision is
//! [`verdict`](super::verdict)'s job, not this file's. Pure: no clock, no environment, no I/O.
//!
//! Argo CD reference: `SyncWindows.Matches` and `SyncWindow.Active` in
//! `pkg/apis/application/v1alpha1/types.go`.

use super::cron::Schedule;
use super::duration::parse_go_duration;
use super::glob::Glob;
use super::spec::{FreezeSpec, WindowSpec};
use super::zone::{next_fire, offset_at, parse_zone, prev_fire, reading, resolve};
use super::WindowError;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// At most this many chained fires are followed to find where an open window closes.
const RUN_BUDGET: usize = 4_000;

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Allow,
    Deny,
}

/// A validated window.
#[derive(Debug, Clone)]
pub struct Window {
    /// Position in the policy, 0-based.
    pub index: usize,
    pub kind: Kind,
    pub(crate) schedule: Schedule,
    schedule_text: String,
    pub(crate) duration: Duration,
    pub(crate) zone: Tz,
    applications: Vec<Glob>,
    namespaces: Vec<Glob>,
    clusters: Vec<Glob>,
    pub(crate) manual_sync: bool,
    and_operator: bool,
    description: String,
}

/// A validated freeze.
#[derive(Debug, Clone)]
pub struct Freeze {
    pub name: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    exempt: Vec<Glob>,
}

fn invalid(path: String, message: impl Into<String>) -> WindowError {
    WindowError::Invalid {
        path,
        message: message.into(),
    }
}

fn globs(path: &str, patterns: &[String]) -> Result<Vec<Glob>, WindowError> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| Glob::new(p).map_err(|e| invalid(format!("{path}[{i}]"), e.0)))
        .collect()
}

/// Parses an RFC 3339 instant of a freeze.
fn instant(path: String, text: &str) -> Result<DateTime<Utc>, WindowError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            invalid(
                path,
                format!(
                    "{text:?} is not an RFC 3339 instant ({e}); write e.g. 2026-12-20T00:00:00Z"
                ),
            )
        })
}

impl Window {
    /// Validates one window; `index` is its position in the policy.
    ///
    /// # Errors
    ///
    /// The first invalid field, with its key path (`windows[1].schedule: …`).
    pub fn compile(index: usize, spec: &WindowSpec) -> Result<Window, WindowError> {
        let path = |field: &str| format!("windows[{index}].{field}");
        let kind = match spec.kind.as_str() {
            "allow" => Kind::Allow,
            "deny" => Kind::Deny,
            other => {
                return Err(invalid(
                    path("kind"),
                    format!("{other:?} is not a window kind; write allow or deny"),
                ))
            }
        };
        let schedule =
            Schedule::parse(&spec.schedule).map_err(|e| invalid(path("schedule"), e.0))?;
        let nanos =
            parse_go_duration(&spec.duration).map_err(|e| invalid(path("duration"), e.0))?;
        if nanos < 0 {
            return Err(invalid(
                path("duration"),
                format!(
                    "{:?} is negative; a window lasts a positive duration such as 4h",
                    spec.duration
                ),
            ));
        }
        let zone = parse_zone(&spec.time_zone).map_err(|e| invalid(path("timeZone"), e))?;
        if spec.applications.is_empty() && spec.namespaces.is_empty() && spec.clusters.is_empty() {
            // Argo CD keeps such a window and lets it match nothing: in a change gate that is a
            // control that silently does nothing, so it is refused.
            return Err(invalid(
                format!("windows[{index}]"),
                "applies to nothing: Argo CD ignores a window without applications, namespaces or clusters; add applications: [\"*\"] to apply it to this app".to_string(),
            ));
        }
        Ok(Window {
            index,
            kind,
            schedule,
            schedule_text: spec.schedule.trim().to_string(),
            duration: Duration::nanoseconds(nanos),
            zone,
            applications: globs(&path("applications"), &spec.applications)?,
            namespaces: globs(&path("namespaces"), &spec.namespaces)?,
            clusters: globs(&path("clusters"), &spec.clusters)?,
            manual_sync: spec.manual_sync,
            and_operator: spec.and_operator,
            description: spec.description.clone(),
        })
    }

    /// Whether the window applies to an app (`SyncWindows.Matches`), given its name, destination
    /// namespace and destination cluster names and/or server URLs (empty values are ignored): OR
    /// across the lists that are set, or with `andOperator` every set list must hit. A window with no
    /// lists applies to nothing.
    pub fn applies(&self, app: &str, namespace: &str, clusters: &[String]) -> bool {
        let app_hit = self.applications.iter().any(|g| g.matches(app));
        let cluster_hit = self
            .clusters
            .iter()
            .any(|g| clusters.iter().any(|c| !c.is_empty() && g.matches(c)));
        let ns_hit = self.namespaces.iter().any(|g| g.matches(namespace));
        if self.and_operator {
            let any_set = !self.applications.is_empty()
                || !self.clusters.is_empty()
                || !self.namespaces.is_empty();
            any_set
                && (self.applications.is_empty() || app_hit)
                && (self.clusters.is_empty() || cluster_hit)
                && (self.namespaces.is_empty() || ns_hit)
        } else {
            app_hit || cluster_hit || ns_hit
        }
    }

    /// Active at `t`: some fire `s` has `s <= t < s + duration`.
    pub fn active_at(&self, t: DateTime<Utc>) -> bool {
        if self.duration <= Duration::zero() {
            return false;
        }
        let lower = t - self.duration;
        prev_fire(&self.schedule, self.zone, t, lower).is_some_and(|s| s > lower)
    }

    /// The first fire at or after `t`, not after `limit`.
    pub fn next_fire(&self, t: DateTime<Utc>, limit: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_fire(&self.schedule, self.zone, t, limit)
    }

    /// For a window active at `t`: the instant it closes, following fires that keep it open; `None`
    /// when it is still open at `limit` (or after following [`RUN_BUDGET`] chained fires).
    pub fn closes_after(&self, t: DateTime<Utc>, limit: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.schedule.every_minute() && self.duration >= Duration::minutes(1) {
            return None;
        }
        let d = self.duration;
        let mut s = prev_fire(&self.schedule, self.zone, t, t - d)?;
        let whole_days = d >= Duration::minutes(self.schedule.max_gap_within_day());
        for _ in 0..RUN_BUDGET {
            let end = s + d;
            if end > limit {
                return None;
            }
            let Some(next) = self.next_fire(s + Duration::nanoseconds(1), end) else {
                return Some(end);
            };
            // Chained: the window stays open at least until the last fire at or before `end`.
            let mut last = prev_fire(&self.schedule, self.zone, end, next).unwrap_or(next);
            if whole_days {
                // Every fire of `next`'s day is chained to the one before; jump to the day's last fire
                // unless the clocks change in between (which can stretch a gap).
                let day_end = resolve(
                    self.zone,
                    (reading(self.zone, next).date() + Duration::days(1))
                        .and_time(chrono::NaiveTime::MIN),
                ) - Duration::nanoseconds(1);
                if let Some(cand) = prev_fire(&self.schedule, self.zone, day_end, next) {
                    if cand > last && offset_at(self.zone, cand) == offset_at(self.zone, next) {
                        last = cand;
                    }
                }
            }
            s = last;
        }
        None
    }

    /// The description, or `kind schedule` when there is none (the guard report's `windows`).
    pub fn label(&self) -> String {
        if self.description.is_empty() {
            format!("{} {}", self.kind_str(), self.schedule_text)
        } else {
            self.description.clone()
        }
    }

    /// How a reason names the window: `'business hours'` or `#2 (0 9 * * 1-5)`.
    pub(crate) fn name(&self) -> String {
        if self.description.is_empty() {
            format!("#{} ({})", self.index, self.schedule_text)
        } else {
            format!("'{}'", self.description)
        }
    }

    fn kind_str(&self) -> &'static str {
        match self.kind {
            Kind::Allow => "allow",
            Kind::Deny => "deny",
        }
    }

    /// The window's zone (for messages).
    pub fn zone(&self) -> Tz {
        self.zone
    }
}

impl Freeze {
    /// Validates one freeze; `index` is its position in the policy.
    ///
    /// # Errors
    ///
    /// An empty name, an instant that is not RFC 3339, `until` not after `from`, a bad glob.
    pub fn compile(index: usize, spec: &FreezeSpec) -> Result<Freeze, WindowError> {
        let path = |field: &str| format!("freezes[{index}].{field}");
        if spec.name.trim().is_empty() {
            return Err(invalid(
                path("name"),
                "a freeze needs a name, e.g. year-end",
            ));
        }
        let from = instant(path("from"), &spec.from)?;
        let until = instant(path("until"), &spec.until)?;
        if until <= from {
            return Err(invalid(
                path("until"),
                format!(
                    "{} is not after from ({}); a freeze covers [from, until)",
                    spec.until, spec.from
                ),
            ));
        }
        Ok(Freeze {
            name: spec.name.clone(),
            from,
            until,
            exempt: globs(&path("exempt"), &spec.exempt)?,
        })
    }

    /// Whether the freeze binds the app, i.e. the app is not `exempt`.
    pub(crate) fn binds(&self, app: &str) -> bool {
        !self.exempt.iter().any(|g| g.matches(app))
    }

    /// In force at `t`: `from <= t < until`.
    pub(crate) fn in_force(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.until
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Also the fixtures of the other window tests (`utc`, `win`).

    use super::*;
    use crate::window::Rules;

    pub(crate) fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    /// A window of `kind` that applies to every app.
    pub(crate) fn win(kind: &str, schedule: &str, duration: &str) -> WindowSpec {
        WindowSpec {
            kind: kind.into(),
            schedule: schedule.into(),
            duration: duration.into(),
            time_zone: String::new(),
            applications: vec!["*".into()],
            namespaces: vec![],
            clusters: vec![],
            manual_sync: false,
            and_operator: false,
            description: String::new(),
            sync_overrun: false,
        }
    }

    #[test]
    fn window_is_open_at_its_first_instant_and_closed_at_its_end() {
        let w = Window::compile(0, &win("allow", "0 2 * * *", "4h")).expect("compile");
        assert!(!w.active_at(utc("2026-11-24T01:59:59Z")));
        assert!(w.active_at(utc("2026-11-24T02:00:00Z")));
        assert!(w.active_at(utc("2026-11-24T05:59:59.999Z")));
        assert!(!w.active_at(utc("2026-11-24T06:00:00Z")));
    }

    #[test]
    fn rejects_bad_windows_with_key_paths() {
        let mut bad = win("allow", "0 2 * * 7", "1h");
        let e =
            Rules::compile(&[win("allow", "0 2 * * *", "1h"), bad.clone()], &[]).expect_err("7");
        assert_eq!(
            e.to_string(),
            "windows[1].schedule: day-of-week 7 is out of range 0-6 (0 is Sunday)"
        );
        bad.schedule = "0 2 * * *".into();
        bad.duration = "1d".into();
        assert!(Rules::compile(&[bad.clone()], &[])
            .expect_err("1d")
            .to_string()
            .starts_with("windows[0].duration: invalid duration \"1d\""));
        bad.duration = "1h".into();
        bad.time_zone = "Europe/Pariss".into();
        assert!(Rules::compile(&[bad.clone()], &[])
            .expect_err("zone")
            .to_string()
            .starts_with("windows[0].timeZone: unknown time zone"));
        bad.time_zone = String::new();
        bad.kind = "block".into();
        assert!(Rules::compile(&[bad], &[])
            .expect_err("kind")
            .to_string()
            .starts_with("windows[0].kind:"));
    }
}
