//! Wall-clock time in IANA zones (chrono-tz) with real DST, and a schedule's fire instants.
//!
//! A cron schedule names wall-clock minutes; a window needs instants. The rule, chosen so that every
//! wall-clock minute maps to exactly one instant and later minutes never map to earlier instants:
//!
//! **a scheduled minute fires at the first instant at which the zone's wall clock reads that minute
//! or later.**
//!
//! - Ordinary minutes fire when the clock shows them.
//! - A minute skipped when clocks go forward (02:30 on a spring-forward night in New York) fires at the
//!   jump itself (03:00 EDT): the window still opens that day, at the first instant after the gap.
//! - A minute shown twice when clocks go back (01:30 on a fall-back night) fires once, at its first
//!   occurrence (01:30 EDT): a daily window opens once a day.
//!
//! The offset used is always the one in force at the instant concerned, never the current one.
//! Takes a [`Schedule`], a zone and instants; reads no clock.

use super::cron::{ceil_minute, floor_minute, Schedule};
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Parses `timeZone`: an IANA name as Go's `time.LoadLocation` takes it (case-sensitive); empty is UTC.
///
/// # Errors
///
/// An unknown zone, or `Local` (the guard Job's local zone is meaningless for a policy).
pub fn parse_zone(text: &str) -> Result<Tz, String> {
    if text.is_empty() {
        return Ok(Tz::UTC);
    }
    if text == "Local" {
        return Err(
            "\"Local\" depends on the machine evaluating the window; name an IANA zone such as \"Europe/Paris\" or \"UTC\"".into(),
        );
    }
    text.parse::<Tz>().map_err(|_| {
        let hint = text
            .parse::<Tz>()
            .ok()
            .or_else(|| {
                chrono_tz::TZ_VARIANTS
                    .iter()
                    .copied()
                    .find(|z| z.name().eq_ignore_ascii_case(text))
            })
            .map_or_else(
                || {
                    "name an IANA zone such as \"Europe/Paris\", \"America/New_York\" or \"UTC\""
                        .to_string()
                },
                |z| format!("did you mean {:?}? zone names are case-sensitive", z.name()),
            );
        format!("unknown time zone {text:?}; {hint}")
    })
}

/// The zone's offset (local minus UTC) at an instant.
pub fn offset_at(tz: Tz, t: DateTime<Utc>) -> Duration {
    Duration::seconds(i64::from(
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc(),
    ))
}

/// What the wall clock reads at an instant.
pub fn reading(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc() + offset_at(tz, t)
}

/// The highest reading strictly before `t`: just below `t`'s own reading, or, within a day after clocks
/// went back, just below the reading at which they went back.
fn sup_reading_before(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    let eps = Duration::nanoseconds(1);
    let just_before = t - eps;
    let mut best = reading(tz, just_before);
    let past = t - Duration::hours(26);
    let high = offset_at(tz, past);
    if high > offset_at(tz, just_before) {
        // Clocks went back in (past, t): find the transition to the second.
        let (mut lo, mut hi) = (past.timestamp(), just_before.timestamp());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let at = DateTime::<Utc>::from_timestamp(mid, 0).unwrap_or(t);
            if offset_at(tz, at) == high {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let transition = DateTime::<Utc>::from_timestamp(hi, 0).unwrap_or(t);
        best = best.max(transition.naive_utc() + high - eps);
    }
    best
}

/// The highest reading at or before `t`.
fn max_reading_upto(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    reading(tz, t).max(sup_reading_before(tz, t))
}

/// The first instant at which the wall clock reads `n` or later (see the file header).
pub fn resolve(tz: Tz, n: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&n) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => end_of_gap(tz, n),
    }
}

/// `n` falls in a gap (clocks went forward): the instant of the jump, i.e. of the first valid reading after `n`.
fn end_of_gap(tz: Tz, n: NaiveDateTime) -> DateTime<Utc> {
    let valid = |x: NaiveDateTime| !matches!(tz.from_local_datetime(&x), LocalResult::None);
    let mut hi = n;
    for hours in 1..=48 {
        hi = n + Duration::hours(hours);
        if valid(hi) {
            break;
        }
    }
    let mut lo = n;
    while hi - lo > Duration::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if valid(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    match tz.from_local_datetime(&hi) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        // No valid reading within 48 hours does not happen in tzdata; read the naive time as UTC.
        LocalResult::None => Utc.from_utc_datetime(&n),
    }
}

/// The first fire at or after `t`, if it is not after `limit`.
pub fn next_fire(
    schedule: &Schedule,
    tz: Tz,
    t: DateTime<Utc>,
    limit: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    // Minutes above every earlier reading fire at or after t; the smallest such minute fires first.
    let from = ceil_minute(sup_reading_before(tz, t) + Duration::nanoseconds(1));
    let last_day = (limit + Duration::days(2)).date_naive();
    let n = schedule.next_at_or_after(from, last_day)?;
    let fire = resolve(tz, n);
    (fire <= limit).then_some(fire)
}

/// The last fire at or before `t`, if it is not before `limit`.
pub fn prev_fire(
    schedule: &Schedule,
    tz: Tz,
    t: DateTime<Utc>,
    limit: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let from = floor_minute(max_reading_upto(tz, t));
    let first_day = (limit - Duration::days(2)).date_naive();
    let n = schedule.prev_at_or_before(from, first_day)?;
    let fire = resolve(tz, n);
    (fire >= limit).then_some(fire)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn far(t: DateTime<Utc>, days: i64) -> DateTime<Utc> {
        t + Duration::days(days)
    }

    #[test]
    fn parses_zones_case_sensitively() {
        assert_eq!(parse_zone(""), Ok(Tz::UTC));
        assert_eq!(parse_zone("Asia/Kolkata"), Ok(Tz::Asia__Kolkata));
        assert!(parse_zone("asia/kolkata")
            .expect_err("lower case")
            .contains("did you mean \"Asia/Kolkata\""));
        assert!(parse_zone("Mars/Olympus").is_err());
        assert!(parse_zone("Local").is_err());
    }

    #[test]
    fn spring_forward_minute_fires_at_the_jump() {
        let s = Schedule::parse("30 2 * * *").expect("parse");
        let ny = Tz::America__New_York;
        let t = utc("2026-03-08T00:00:00Z");
        // 2026-03-08 02:30 does not exist in New York; clocks jump from 02:00 EST (07:00Z) to 03:00 EDT.
        assert_eq!(
            next_fire(&s, ny, t, far(t, 30)),
            Some(utc("2026-03-08T07:00:00Z"))
        );
        assert_eq!(
            next_fire(&s, ny, utc("2026-03-08T07:00:01Z"), far(t, 30)),
            Some(utc("2026-03-09T06:30:00Z"))
        );
    }

    #[test]
    fn fall_back_minute_fires_once_at_its_first_occurrence() {
        let s = Schedule::parse("30 1 * * *").expect("parse");
        let ny = Tz::America__New_York;
        // 2026-11-01: 01:30 EDT is 05:30Z, 01:30 EST is 06:30Z.
        let t = utc("2026-11-01T00:00:00Z");
        assert_eq!(
            next_fire(&s, ny, t, far(t, 30)),
            Some(utc("2026-11-01T05:30:00Z"))
        );
        assert_eq!(
            next_fire(&s, ny, utc("2026-11-01T05:30:01Z"), far(t, 30)),
            Some(utc("2026-11-02T06:30:00Z"))
        );
        assert_eq!(
            prev_fire(&s, ny, utc("2026-11-01T06:45:00Z"), far(t, -30)),
            Some(utc("2026-11-01T05:30:00Z"))
        );
    }

    #[test]
    fn during_repeated_hour_later_minutes_of_the_first_pass_are_in_the_past() {
        let s = Schedule::parse("45 1 * * *").expect("parse");
        let ny = Tz::America__New_York;
        // At 01:30 EST (06:30Z) the clock already showed 01:45 EDT (05:45Z).
        assert_eq!(
            prev_fire(
                &s,
                ny,
                utc("2026-11-01T06:30:00Z"),
                far(utc("2026-11-01T00:00:00Z"), -3)
            ),
            Some(utc("2026-11-01T05:45:00Z"))
        );
    }

    #[test]
    fn half_hour_offset_is_honoured() {
        let s = Schedule::parse("0 9 * * *").expect("parse");
        let t = utc("2026-06-01T00:00:00Z");
        assert_eq!(
            next_fire(&s, Tz::Asia__Kolkata, t, far(t, 2)),
            Some(utc("2026-06-01T03:30:00Z"))
        );
    }
}
