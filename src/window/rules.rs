//! The decision: compiled windows and freezes ([`Rules`]), Argo CD's `CanSync` with sluice's
//! differences (SPEC.md §4), and the next instants at which the decision flips. Takes the policy's
//! window and freeze specs, a [`Subject`] and an instant; gives a [`Decision`]. Pure: no clock, no
//! environment, no I/O.
//!
//! Argo CD reference: `SyncWindows.Matches`, `SyncWindows.CanSync`, `SyncWindows.active`,
//! `SyncWindows.inactiveAllows` in `pkg/apis/application/v1alpha1/types.go`.

use super::cron::Schedule;
use super::duration::parse_go_duration;
use super::glob::Glob;
use super::spec::{FreezeSpec, WindowSpec};
use super::zone::{next_fire, parse_zone, prev_fire, reading, resolve};
use super::WindowError;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;

/// How far ahead `nextOpen` and `nextClose` are searched.
pub const HORIZON_DAYS: i64 = 366;
/// At most this many decision changes are examined while searching for `nextOpen`/`nextClose`.
const EVENT_BUDGET: usize = 50_000;
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
    schedule: Schedule,
    schedule_text: String,
    duration: Duration,
    zone: Tz,
    applications: Vec<Glob>,
    namespaces: Vec<Glob>,
    clusters: Vec<Glob>,
    manual_sync: bool,
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

/// All windows and freezes of a policy, ready to decide.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
}

/// Who is syncing: the app as Argo CD knows it, and how.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub app: String,
    pub namespace: String,
    /// Destination cluster names and/or server URLs; empty values are ignored.
    pub clusters: Vec<String>,
    pub manual: bool,
    /// Emergency change id: passes windows and freezes.
    pub emergency: Option<String>,
}

/// The outcome at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub at: DateTime<Utc>,
    pub allowed: bool,
    /// Windows that apply to the subject and are active, 0-based in policy order.
    pub active: Vec<usize>,
    pub reason: String,
    /// The next instant after `at` at which the decision flips from blocked to allowed.
    pub next_open: Option<DateTime<Utc>>,
    /// The next instant after `at` at which the decision flips from allowed to blocked.
    pub next_close: Option<DateTime<Utc>>,
}

impl Decision {
    /// The JSON object of `sluice window check`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "allowed": self.allowed,
            "active": self.active,
            "reason": self.reason,
            "nextOpen": self.next_open.map(rfc3339),
            "nextClose": self.next_close.map(rfc3339),
        })
    }
}

/// RFC 3339 in UTC with `Z`, fractions only when present.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
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

    /// Whether the window applies to the subject (`SyncWindows.Matches`): OR across the lists that
    /// are set, or with `andOperator` every set list must hit. A window with no lists applies to nothing.
    pub fn applies(&self, subject: &Subject) -> bool {
        let app_hit = self.applications.iter().any(|g| g.matches(&subject.app));
        let cluster_hit = self.clusters.iter().any(|g| {
            subject
                .clusters
                .iter()
                .any(|c| !c.is_empty() && g.matches(c))
        });
        let ns_hit = self
            .namespaces
            .iter()
            .any(|g| g.matches(&subject.namespace));
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
                    if cand > last
                        && super::zone::offset_at(self.zone, cand)
                            == super::zone::offset_at(self.zone, next)
                    {
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
    fn name(&self) -> String {
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

    fn binds(&self, app: &str) -> bool {
        !self.exempt.iter().any(|g| g.matches(app))
    }

    fn in_force(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.until
    }
}

/// Why the verdict is what it is, at one instant.
#[derive(Debug, Clone, PartialEq)]
enum Cause {
    Freeze(usize),
    NoWindow,
    /// Active deny windows; `manual_ok`: a manual sync passes because every one has manualSync.
    Deny {
        windows: Vec<usize>,
        manual_ok: bool,
    },
    Allow(Vec<usize>),
    /// Inactive allow windows and no active allow; `manual_ok` as for Deny.
    OutsideAllows {
        windows: Vec<usize>,
        manual_ok: bool,
    },
    NoActiveDeny,
}

#[derive(Debug, Clone, PartialEq)]
struct Verdict {
    allowed: bool,
    cause: Cause,
}

/// Per applicable window: whether it is active now, and when that next changes.
#[derive(Debug, Clone, Copy)]
struct State {
    active: bool,
    change: Option<DateTime<Utc>>,
}

impl Rules {
    /// Validates windows and freezes.
    ///
    /// # Errors
    ///
    /// The first invalid entry, with its key path.
    pub fn compile(windows: &[WindowSpec], freezes: &[FreezeSpec]) -> Result<Rules, WindowError> {
        Ok(Rules {
            windows: windows
                .iter()
                .enumerate()
                .map(|(i, w)| Window::compile(i, w))
                .collect::<Result<_, _>>()?,
            freezes: freezes
                .iter()
                .enumerate()
                .map(|(i, f)| Freeze::compile(i, f))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Decides whether `subject` may sync at `at`, and when that next changes.
    pub fn decide(&self, subject: &Subject, at: DateTime<Utc>) -> Decision {
        let applicable: Vec<&Window> = self.windows.iter().filter(|w| w.applies(subject)).collect();
        let freezes: Vec<&Freeze> = self
            .freezes
            .iter()
            .filter(|f| f.binds(&subject.app))
            .collect();
        let horizon = at + Duration::days(HORIZON_DAYS);
        let mut states: Vec<State> = applicable.iter().map(|w| state(w, at, horizon)).collect();
        let verdict = verdict(&applicable, &states, &freezes, subject.manual, at);
        let active: Vec<usize> = applicable
            .iter()
            .zip(&states)
            .filter(|(_, s)| s.active)
            .map(|(w, _)| w.index)
            .collect();
        // Instants at which each active window closes, for "until" in reasons.
        let closes: Vec<Option<DateTime<Utc>>> = states
            .iter()
            .map(|s| s.change.filter(|_| s.active))
            .collect();
        // The flips are computed for an emergency too: its reason says what the windows alone decide.
        let (open, close) = flips(
            &applicable,
            &mut states,
            &freezes,
            subject.manual,
            at,
            horizon,
            verdict.allowed,
        );
        let explained = explain(&verdict, &applicable, &closes, &freezes, subject, at, open);
        let (next_open, next_close) = if subject.emergency.is_some() {
            (None, None)
        } else {
            (open, close)
        };
        let (allowed, reason) = match &subject.emergency {
            Some(id) => (
                true,
                format!(
                    "allowed: emergency change {id} overrides sync windows and freezes{}",
                    if verdict.allowed {
                        String::new()
                    } else {
                        format!(" (without it: {explained})")
                    }
                ),
            ),
            None => (verdict.allowed, explained),
        };
        Decision {
            at,
            allowed,
            active,
            reason,
            next_open,
            next_close,
        }
    }

    /// The windows by policy index.
    pub fn window(&self, index: usize) -> Option<&Window> {
        self.windows.get(index)
    }
}

fn state(w: &Window, t: DateTime<Utc>, horizon: DateTime<Utc>) -> State {
    if w.duration <= Duration::zero() {
        return State {
            active: false,
            change: None,
        };
    }
    if w.active_at(t) {
        State {
            active: true,
            change: w.closes_after(t, horizon),
        }
    } else {
        State {
            active: false,
            change: w.next_fire(t + Duration::nanoseconds(1), horizon),
        }
    }
}

/// `CanSync` over the applicable windows, after freezes.
fn verdict(
    windows: &[&Window],
    states: &[State],
    freezes: &[&Freeze],
    manual: bool,
    t: DateTime<Utc>,
) -> Verdict {
    if let Some(i) = freezes.iter().position(|f| f.in_force(t)) {
        return Verdict {
            allowed: false,
            cause: Cause::Freeze(i),
        };
    }
    if windows.is_empty() {
        return Verdict {
            allowed: true,
            cause: Cause::NoWindow,
        };
    }
    let pick = |kind: Kind, active: bool| -> Vec<usize> {
        windows
            .iter()
            .zip(states)
            .filter(|(w, s)| w.kind == kind && s.active == active)
            .map(|(w, _)| w.index)
            .collect()
    };
    let all_manual = |idx: &[usize]| {
        idx.iter()
            .all(|i| windows.iter().any(|w| w.index == *i && w.manual_sync))
    };
    let denies = pick(Kind::Deny, true);
    if !denies.is_empty() {
        let manual_ok = all_manual(&denies);
        return Verdict {
            allowed: manual && manual_ok,
            cause: Cause::Deny {
                windows: denies,
                manual_ok,
            },
        };
    }
    let allows = pick(Kind::Allow, true);
    if !allows.is_empty() {
        return Verdict {
            allowed: true,
            cause: Cause::Allow(allows),
        };
    }
    let inactive = pick(Kind::Allow, false);
    if !inactive.is_empty() {
        let manual_ok = all_manual(&inactive);
        return Verdict {
            allowed: manual && manual_ok,
            cause: Cause::OutsideAllows {
                windows: inactive,
                manual_ok,
            },
        };
    }
    Verdict {
        allowed: true,
        cause: Cause::NoActiveDeny,
    }
}

/// The verdict's `allowed` alone, without allocating (the sweep evaluates it at every change).
fn allowed_at(
    windows: &[&Window],
    states: &[State],
    freezes: &[&Freeze],
    manual: bool,
    t: DateTime<Utc>,
) -> bool {
    if freezes.iter().any(|f| f.in_force(t)) {
        return false;
    }
    let (mut deny, mut deny_manual, mut allow, mut outside, mut outside_manual) =
        (false, true, false, false, true);
    for (w, s) in windows.iter().zip(states) {
        match (w.kind, s.active) {
            (Kind::Deny, true) => {
                deny = true;
                deny_manual &= w.manual_sync;
            }
            (Kind::Allow, true) => allow = true,
            (Kind::Allow, false) => {
                outside = true;
                outside_manual &= w.manual_sync;
            }
            (Kind::Deny, false) => {}
        }
    }
    if deny {
        manual && deny_manual
    } else if allow || !outside {
        true
    } else {
        manual && outside_manual
    }
}

/// Whether the decision can no longer change before the horizon, whatever the remaining window
/// changes: a deny that blocks and stays open; allow windows that never open again and block; or
/// no freeze or deny ahead while an allow stays open (or the allow windows cannot block).
fn settled(
    windows: &[&Window],
    states: &[State],
    freezes: &[&Freeze],
    manual: bool,
    y: DateTime<Utc>,
    allowed: bool,
) -> bool {
    let forever = |s: &State| s.change.is_none();
    let pairs = || windows.iter().zip(states);
    if !allowed {
        let deny_stays = pairs().any(|(w, s)| {
            w.kind == Kind::Deny && s.active && forever(s) && !(manual && w.manual_sync)
        });
        let allows_stay_shut = pairs().any(|(w, _)| w.kind == Kind::Allow)
            && pairs().all(|(w, s)| w.kind != Kind::Allow || (!s.active && forever(s)))
            && !(manual && pairs().all(|(w, _)| w.kind != Kind::Allow || w.manual_sync))
            // A deny with manualSync, once active, lets a manual sync through even outside allow windows.
            && !(manual && pairs().any(|(w, _)| w.kind == Kind::Deny && w.manual_sync));
        return deny_stays || allows_stay_shut;
    }
    let freeze_ahead = freezes.iter().any(|f| f.until > y);
    let deny_ahead = pairs().any(|(w, s)| {
        w.kind == Kind::Deny && !(s.active && manual && w.manual_sync) && (s.active || !forever(s))
    });
    if freeze_ahead || deny_ahead {
        return false;
    }
    let allow_stays = pairs().any(|(w, s)| w.kind == Kind::Allow && s.active && forever(s));
    let allows_cannot_block =
        manual && pairs().all(|(w, _)| w.kind != Kind::Allow || w.manual_sync);
    let no_allows = pairs().all(|(w, _)| w.kind != Kind::Allow);
    allow_stays || allows_cannot_block || no_allows
}

/// Sweeps forward from `at` through window and freeze changes until the decision has flipped both ways.
fn flips(
    windows: &[&Window],
    states: &mut [State],
    freezes: &[&Freeze],
    manual: bool,
    at: DateTime<Utc>,
    horizon: DateTime<Utc>,
    allowed_now: bool,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    if windows.is_empty() && freezes.is_empty() {
        return (None, None);
    }
    let (mut next_open, mut next_close) = (None, None);
    let mut allowed = allowed_now;
    let mut y = at;
    for _ in 0..EVENT_BUDGET {
        if settled(windows, states, freezes, manual, y, allowed) {
            break;
        }
        let window_change = states.iter().filter_map(|s| s.change).min();
        let freeze_change = freezes
            .iter()
            .flat_map(|f| [f.from, f.until])
            .filter(|&b| b > y)
            .min();
        let Some(z) = [window_change, freeze_change].into_iter().flatten().min() else {
            break;
        };
        if z > horizon {
            break;
        }
        for (w, s) in windows.iter().zip(states.iter_mut()) {
            if s.change == Some(z) {
                *s = state(w, z, horizon);
            }
        }
        let now = allowed_at(windows, states, freezes, manual, z);
        if now != allowed {
            if now {
                next_open = next_open.or(Some(z));
            } else {
                next_close = next_close.or(Some(z));
            }
            allowed = now;
        }
        if next_open.is_some() && next_close.is_some() {
            break;
        }
        y = z;
    }
    (next_open, next_close)
}

/// Formats an instant for a person in a window's zone: `18:00 UTC` on the same day as `at`,
/// `Tue 24 Nov 02:00 UTC` otherwise.
pub fn human(t: DateTime<Utc>, tz: Tz, at: DateTime<Utc>) -> String {
    let local = t.with_timezone(&tz);
    let time = if local.format("%S%.f").to_string() == "00" {
        "%H:%M"
    } else {
        "%H:%M:%S"
    };
    let same_day = local.date_naive() == at.with_timezone(&tz).date_naive();
    let within_year = (t - at) < Duration::days(300);
    let fmt = match (same_day, within_year) {
        (true, _) => format!("{time} %Z"),
        (false, true) => format!("%a %d %b {time} %Z"),
        (false, false) => format!("%a %d %b %Y {time} %Z"),
    };
    local.format(&fmt).to_string()
}

fn explain(
    verdict: &Verdict,
    windows: &[&Window],
    closes: &[Option<DateTime<Utc>>],
    freezes: &[&Freeze],
    subject: &Subject,
    at: DateTime<Utc>,
    next_open: Option<DateTime<Utc>>,
) -> String {
    let find = |i: usize| windows.iter().position(|w| w.index == i);
    let names = |idx: &[usize]| {
        let all: Vec<String> = idx
            .iter()
            .filter_map(|&i| find(i).map(|p| windows[p].name()))
            .collect();
        match all.len() {
            0..=3 => all.join(", "),
            n => format!("{} and {} more", all[..3].join(", "), n - 3),
        }
    };
    // "active until": when the last of the named windows closes (each is active up to its own close).
    let until = |idx: &[usize]| {
        let ends: Vec<(Option<DateTime<Utc>>, Tz)> = idx
            .iter()
            .filter_map(|&i| find(i).map(|p| (closes[p], windows[p].zone)))
            .collect();
        if ends.iter().any(|(end, _)| end.is_none()) {
            return format!(" with no end within {HORIZON_DAYS} days");
        }
        ends.iter()
            .filter_map(|&(end, tz)| end.map(|e| (e, tz)))
            .max_by_key(|&(e, _)| e)
            .map_or_else(String::new, |(e, tz)| {
                format!(" until {}", human(e, tz, at))
            })
    };
    let reopen = |tz: Tz| match next_open {
        Some(t) => format!("; next allowed window opens {}", human(t, tz, at)),
        None => format!("; no allowed time within {HORIZON_DAYS} days"),
    };
    let zone_of = |i: usize| find(i).map_or(Tz::UTC, |p| windows[p].zone);
    match &verdict.cause {
        Cause::Freeze(i) => {
            let f = freezes[*i];
            format!(
                "blocked: freeze '{}' in force from {} until {}{}",
                f.name,
                rfc3339(f.from),
                rfc3339(f.until),
                reopen(Tz::UTC)
            )
        }
        Cause::NoWindow => {
            if freezes.is_empty() {
                format!(
                    "allowed: no sync window or freeze applies to app '{}'",
                    subject.app
                )
            } else {
                format!(
                    "allowed: no sync window applies to app '{}' and no freeze is in force",
                    subject.app
                )
            }
        }
        Cause::Deny {
            windows: d,
            manual_ok,
        } => {
            // Name the deny window that blocks longest (or that lacks manualSync for a manual sync).
            let blocking: Vec<usize> = if subject.manual && !manual_ok {
                d.iter()
                    .copied()
                    .filter(|&i| find(i).is_some_and(|p| !windows[p].manual_sync))
                    .collect()
            } else {
                d.clone()
            };
            let first = blocking.first().copied().unwrap_or(0);
            if verdict.allowed {
                format!(
                    "allowed: manual sync during deny window {}{}, which permits manual syncs (manualSync)",
                    names(d),
                    until(d)
                )
            } else {
                let hint = if subject.manual || !manual_ok {
                    ""
                } else {
                    " (a manual sync would pass: manualSync is set; the guard always evaluates as an automated sync)"
                };
                format!(
                    "blocked: deny window {} active{}{}{hint}",
                    names(&blocking),
                    until(&blocking),
                    reopen(zone_of(first))
                )
            }
        }
        Cause::Allow(a) => format!("allowed: allow window {} open{}", names(a), until(a)),
        Cause::OutsideAllows {
            windows: ia,
            manual_ok,
        } => {
            if verdict.allowed {
                format!(
                    "allowed: manual sync outside allow window {}, permitted by manualSync",
                    names(ia)
                )
            } else {
                format!(
                    "blocked: outside allow window {}{}",
                    names(ia),
                    reopen(zone_of(ia[0]))
                ) + if !subject.manual && *manual_ok {
                    " (a manual sync would pass: manualSync is set)"
                } else {
                    ""
                }
            }
        }
        Cause::NoActiveDeny => format!("allowed: no deny window active for app '{}'", subject.app),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn win(kind: &str, schedule: &str, duration: &str) -> WindowSpec {
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

    fn subject(app: &str) -> Subject {
        Subject {
            app: app.into(),
            ..Subject::default()
        }
    }

    #[test]
    fn window_is_open_at_its_first_instant_and_closed_at_its_end() {
        let rules = Rules::compile(&[win("allow", "0 2 * * *", "4h")], &[]).expect("compile");
        let w = &rules.windows[0];
        assert!(!w.active_at(utc("2026-11-24T01:59:59Z")));
        assert!(w.active_at(utc("2026-11-24T02:00:00Z")));
        assert!(w.active_at(utc("2026-11-24T05:59:59.999Z")));
        assert!(!w.active_at(utc("2026-11-24T06:00:00Z")));
    }

    #[test]
    fn blocked_outside_allow_window_names_next_opening() {
        let rules = Rules::compile(&[win("allow", "0 2 * * 2", "4h")], &[]).expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-11-23T10:00:00Z"));
        assert!(!d.allowed);
        assert_eq!(d.next_open, Some(utc("2026-11-24T02:00:00Z")));
        assert_eq!(d.next_close, Some(utc("2026-11-24T06:00:00Z")));
        assert!(
            d.reason
                .contains("next allowed window opens Tue 24 Nov 02:00 UTC"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn deny_window_reason_says_until_when() {
        let mut spec = win("deny", "0 9 * * 1-5", "9h");
        spec.description = "business hours".into();
        let rules = Rules::compile(&[spec], &[]).expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-11-23T10:00:00Z"));
        assert!(!d.allowed);
        assert_eq!(d.active, vec![0]);
        assert_eq!(
            d.reason,
            "blocked: deny window 'business hours' active until 18:00 UTC; next allowed window opens 18:00 UTC"
        );
        assert_eq!(d.next_open, Some(utc("2026-11-23T18:00:00Z")));
        assert_eq!(d.next_close, Some(utc("2026-11-24T09:00:00Z")));
    }

    #[test]
    fn several_blocking_windows_are_active_until_the_last_one_closes() {
        let rules = Rules::compile(
            &[
                win("deny", "0 9 * * *", "2h"),
                win("deny", "0 10 * * *", "3h"),
            ],
            &[],
        )
        .expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-11-23T10:30:00Z"));
        assert!(
            d.reason.starts_with(
                "blocked: deny window #0 (0 9 * * *), #1 (0 10 * * *) active until 13:00 UTC"
            ),
            "{}",
            d.reason
        );
        assert_eq!(d.next_open, Some(utc("2026-11-23T13:00:00Z")));
    }

    #[test]
    fn always_open_window_closes_never() {
        let rules = Rules::compile(&[win("deny", "* * * * *", "1h")], &[]).expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-11-23T10:00:00Z"));
        assert!(!d.allowed);
        assert_eq!(d.next_open, None);
        assert!(
            d.reason.contains("with no end within 366 days"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn chained_hourly_window_closes_after_the_last_fire_of_the_day() {
        let rules = Rules::compile(&[win("allow", "* 10 * * *", "2h")], &[]).expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-11-23T10:30:00Z"));
        assert!(d.allowed);
        assert_eq!(d.next_close, Some(utc("2026-11-23T12:59:00Z")));
        assert_eq!(d.next_open, Some(utc("2026-11-24T10:00:00Z")));
    }

    #[test]
    fn freeze_blocks_unless_exempt_and_emergency_passes() {
        let freeze = FreezeSpec {
            name: "year-end".into(),
            from: "2026-12-20T00:00:00Z".into(),
            until: "2027-01-04T00:00:00Z".into(),
            exempt: vec!["security-*".into()],
        };
        let rules = Rules::compile(&[], &[freeze]).expect("compile");
        let at = utc("2026-12-24T12:00:00Z");
        let d = rules.decide(&subject("shop"), at);
        assert!(!d.allowed);
        assert_eq!(d.next_open, Some(utc("2027-01-04T00:00:00Z")));
        assert!(rules.decide(&subject("security-scanner"), at).allowed);
        let mut s = subject("shop");
        s.emergency = Some("CHG-9".into());
        let d = rules.decide(&s, at);
        assert!(d.allowed);
        assert!(d.reason.contains("emergency change CHG-9"), "{}", d.reason);
        assert!(
            !d.reason.contains("no allowed time"),
            "the reason says when the windows alone would allow: {}",
            d.reason
        );
        assert!(d.reason.contains("freeze 'year-end'"), "{}", d.reason);
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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn window() -> impl Strategy<Value = WindowSpec> {
            let minute = prop_oneof![
                Just("0".to_string()),
                Just("*/15".to_string()),
                (0..60u32).prop_map(|m| m.to_string()),
                Just("*".to_string())
            ];
            let hour = prop_oneof![
                Just("*".to_string()),
                (0..24u32).prop_map(|h| h.to_string()),
                (0..23u32).prop_map(|h| format!("{h}-{}", h + 1)),
                Just("*/6".to_string())
            ];
            let dow = prop_oneof![
                Just("*".to_string()),
                Just("1-5".to_string()),
                (0..7u32).prop_map(|d| d.to_string())
            ];
            (any::<bool>(), minute, hour, dow, 1u32..3000, any::<bool>()).prop_map(
                |(is_allow, m, h, d, dur, manual)| WindowSpec {
                    kind: if is_allow { "allow" } else { "deny" }.into(),
                    schedule: format!("{m} {h} * * {d}"),
                    duration: format!("{dur}m"),
                    time_zone: String::new(),
                    applications: vec!["*".into()],
                    namespaces: vec![],
                    clusters: vec![],
                    manual_sync: manual,
                    and_operator: false,
                    description: String::new(),
                    sync_overrun: false,
                },
            )
        }

        /// ARGOCD.md's pseudo-code, over brute-force activity.
        fn brute_allowed(specs: &[WindowSpec], active: &[bool], manual: bool) -> bool {
            if specs.is_empty() {
                return true;
            }
            let act: Vec<&WindowSpec> = specs
                .iter()
                .zip(active)
                .filter(|(_, a)| **a)
                .map(|(w, _)| w)
                .collect();
            let denies: Vec<&&WindowSpec> = act.iter().filter(|w| w.kind == "deny").collect();
            if !denies.is_empty() {
                return manual && denies.iter().all(|w| w.manual_sync);
            }
            if act.iter().any(|w| w.kind == "allow") {
                return true;
            }
            let inactive: Vec<&WindowSpec> = specs
                .iter()
                .zip(active)
                .filter(|(w, a)| !**a && w.kind == "allow")
                .map(|(w, _)| w)
                .collect();
            if !inactive.is_empty() {
                return manual && inactive.iter().all(|w| w.manual_sync);
            }
            true
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

            #[test]
            fn decision_and_next_flips_agree_with_minute_by_minute_evaluation(
                specs in prop::collection::vec(window(), 1..=3),
                start in 0i64..365 * 1440,
                manual in any::<bool>(),
                zone in prop_oneof![Just(""), Just("America/New_York")],
                near_dst in any::<bool>(),
            ) {
                let mut specs = specs;
                specs.iter_mut().for_each(|w| w.time_zone = zone.to_string());
                let rules = Rules::compile(&specs, &[]).expect("valid");
                // Half the cases start in the 10 days before New York's 2026 fall-back or spring-forward.
                let start = if near_dst { [57 * 1440, 295 * 1440][(start % 2) as usize] + start % (9 * 1440) } else { start };
                let t = DateTime::<Utc>::from_timestamp(1_767_225_600 + start * 60, 0).expect("in range");
                let days = 10;
                let minutes = days * 1440;
                let back = 3000;
                // fires[w][i]: window w fires at t + (i - back) minutes.
                let fires: Vec<Vec<bool>> = rules.windows.iter().map(|w| {
                    let from = t - Duration::minutes(back);
                    let mut f = vec![false; (back + minutes + 1) as usize];
                    for x in crate::window::zone::brute_fires(&w.schedule, w.zone, from, t + Duration::minutes(minutes)) {
                        f[(x - from).num_minutes() as usize] = true;
                    }
                    f
                }).collect();
                let durations: Vec<i64> = rules.windows.iter().map(|w| w.duration.num_minutes()).collect();
                // counts[w][i]: fires at indices < i.
                let counts: Vec<Vec<u32>> = fires.iter().map(|f| {
                    let mut c = vec![0u32];
                    for &x in f { c.push(c[c.len() - 1] + u32::from(x)); }
                    c
                }).collect();
                let allowed_at = |m: i64| {
                    // Active iff a fire in (m - d, m], i.e. indices back+m-d+1 ..= back+m.
                    let active: Vec<bool> = (0..specs.len()).map(|w| {
                        let hi = (back + m + 1) as usize;
                        let lo = (back + m - durations[w] + 1) as usize;
                        counts[w][hi] > counts[w][lo]
                    }).collect();
                    (brute_allowed(&specs, &active, manual), active)
                };
                let subject = Subject { app: "shop".into(), manual, ..Subject::default() };
                let d = rules.decide(&subject, t);
                let (now, active) = allowed_at(0);
                prop_assert_eq!(d.allowed, now);
                let want_active: Vec<usize> = active.iter().enumerate().filter(|(_, a)| **a).map(|(i, _)| i).collect();
                prop_assert_eq!(&d.active, &want_active);
                let mut open = None;
                let mut close = None;
                let mut prev = now;
                for m in 1..=minutes {
                    let (a, _) = allowed_at(m);
                    if a != prev {
                        let at = t + Duration::minutes(m);
                        if a { open = open.or(Some(at)); } else { close = close.or(Some(at)); }
                        prev = a;
                    }
                }
                let within = |x: Option<DateTime<Utc>>| x.filter(|&x| x <= t + Duration::days(days));
                prop_assert_eq!(within(d.next_open), open, "nextOpen for {:?}", specs);
                prop_assert_eq!(within(d.next_close), close, "nextClose for {:?}", specs);
            }
        }
    }
}
