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
/// Test oracle: all fires in `[from, to]`, by walking instants minute by minute from two days before
/// `from`, keeping the highest wall-clock reading seen; an instant fires when a newly reached minute
/// matches ("the first instant the clock reads that minute or later", without any search).
pub(crate) fn brute_fires(
    s: &Schedule,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let start = from - Duration::days(2);
    let mut x = DateTime::<Utc>::from_timestamp(start.timestamp() / 60 * 60, 0).expect("in range");
    let mut high = reading(tz, x);
    let mut out = Vec::new();
    while x <= to {
        x += Duration::minutes(1);
        let now = reading(tz, x);
        if now > high {
            let mut m = high + Duration::minutes(1);
            let mut fired = false;
            while m <= now {
                fired |= s.matches(m);
                m += Duration::minutes(1);
            }
            high = now;
            if fired && x >= from && x <= to {
                out.push(x);
            }
        }
    }
    out
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

    mod properties {
        use super::super::*;
        use crate::window::zone::brute_fires;
        use proptest::prelude::*;

        fn field(min: u32, max: u32) -> impl Strategy<Value = String> {
            let part = prop_oneof![
                Just("*".to_string()),
                (min..=max).prop_map(|v| v.to_string()),
                (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
                (1..=max - min + 1).prop_map(|n| format!("*/{n}")),
                (min..=max, 1..=12u32).prop_map(|(a, n)| format!("{a}/{n}")),
                (min..=max, min..=max, 1..=5u32).prop_map(|(a, b, n)| format!(
                    "{}-{}/{n}",
                    a.min(b),
                    a.max(b)
                )),
            ];
            prop::collection::vec(part, 1..=3).prop_map(|parts| parts.join(","))
        }

        fn schedule() -> impl Strategy<Value = String> {
            (
                field(0, 59),
                field(0, 23),
                field(1, 31),
                field(1, 12),
                field(0, 6),
            )
                .prop_map(|(a, b, c, d, e)| format!("{a} {b} {c} {d} {e}"))
        }

        /// 2026-01-01T00:00:00Z plus up to two years, at any second.
        fn instant() -> impl Strategy<Value = DateTime<Utc>> {
            (0i64..2 * 365 * 86_400).prop_map(|s| {
                DateTime::<Utc>::from_timestamp(1_767_225_600 + s, 0).expect("in range")
            })
        }

        /// Brute force, independent of the search: walk instants minute by minute from well before
        /// `t`, keeping the highest reading seen; an instant fires when a newly reached wall-clock
        /// minute matches (which is "the first instant the clock reads that minute or later").
        fn brute_next(s: &Schedule, tz: Tz, t: DateTime<Utc>, days: i64) -> Option<DateTime<Utc>> {
            let start = t - Duration::days(2);
            let mut x =
                DateTime::<Utc>::from_timestamp(start.timestamp() / 60 * 60, 0).expect("in range");
            let mut high = reading(tz, x);
            let end = t + Duration::days(days);
            while x <= end {
                x += Duration::minutes(1);
                let now = reading(tz, x);
                if now > high {
                    let mut m = high + Duration::minutes(1);
                    let mut fired = false;
                    while m <= now {
                        fired |= s.matches(m);
                        m += Duration::minutes(1);
                    }
                    high = now;
                    if fired && x >= t && x <= end {
                        return Some(x);
                    }
                }
            }
            None
        }

        #[test]
        fn next_and_prev_fire_match_brute_force_minute_by_minute_through_dst_changes() {
            let utc = |s: &str| {
                DateTime::parse_from_rfc3339(s)
                    .expect("instant")
                    .with_timezone(&Utc)
            };
            for (zone, day) in [
                (Tz::America__New_York, "2026-03-08T00:00:00Z"),
                (Tz::America__New_York, "2026-11-01T00:00:00Z"),
                (Tz::Australia__Lord_Howe, "2026-04-04T12:00:00Z"),
                (Tz::Europe__London, "2026-10-25T00:00:00Z"),
            ] {
                for spec in [
                    "30 2 * * *",
                    "* 1 * * *",
                    "*/7 * * * *",
                    "0,30 1-3 * * *",
                    "45 1 * * 0",
                ] {
                    let s = Schedule::parse(spec).expect("parse");
                    let start = utc(day);
                    let fires = brute_fires(
                        &s,
                        zone,
                        start - Duration::days(2),
                        start + Duration::days(3),
                    );
                    let mut t = start;
                    while t < start + Duration::hours(12) {
                        let want_next = fires.iter().copied().find(|&f| f >= t);
                        let want_prev = fires.iter().copied().rfind(|&f| f <= t);
                        assert_eq!(
                            next_fire(&s, zone, t, start + Duration::days(3)),
                            want_next,
                            "next {spec} {zone} {t}"
                        );
                        assert_eq!(
                            prev_fire(&s, zone, t, start - Duration::days(2)),
                            want_prev,
                            "prev {spec} {zone} {t}"
                        );
                        t += Duration::seconds(7 * 60 + 13);
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

            #[test]
            fn next_fire_agrees_with_minute_by_minute_matcher_over_a_year_utc(spec in schedule(), t in instant()) {
                let Ok(s) = Schedule::parse(&spec) else { return Ok(()) };
                let limit = t + Duration::days(365);
                let want = {
                    let mut m = ceil_minute(t.naive_utc());
                    let end = limit.naive_utc();
                    loop {
                        if m > end { break None; }
                        if s.matches(m) { break Some(Utc.from_utc_datetime(&m)); }
                        m += Duration::minutes(1);
                    }
                };
                prop_assert_eq!(next_fire(&s, Tz::UTC, t, limit), want, "{}", spec);
            }

            #[test]
            fn prev_fire_agrees_with_minute_by_minute_matcher_over_a_year_utc(spec in schedule(), t in instant()) {
                let Ok(s) = Schedule::parse(&spec) else { return Ok(()) };
                let limit = t - Duration::days(365);
                let want = {
                    let mut m = floor_minute(t.naive_utc());
                    let end = limit.naive_utc();
                    loop {
                        if m < end { break None; }
                        if s.matches(m) { break Some(Utc.from_utc_datetime(&m)); }
                        m -= Duration::minutes(1);
                    }
                };
                prop_assert_eq!(prev_fire(&s, Tz::UTC, t, limit), want, "{}", spec);
            }

            #[test]
            fn next_fire_agrees_with_brute_force_across_dst_in_new_york(
                spec in schedule(),
                day in prop_oneof![Just(60i64), Just(295i64), Just(425i64), Just(660i64)],
                offset in 0i64..20 * 86_400,
            ) {
                // Starts within 20 days before a 2026/2027 DST change in New York; searches 30 days.
                let Ok(s) = Schedule::parse(&spec) else { return Ok(()) };
                let t = DateTime::<Utc>::from_timestamp(1_767_225_600 + day * 86_400 + offset - 20 * 86_400, 0).expect("in range");
                let tz = Tz::America__New_York;
                prop_assert_eq!(next_fire(&s, tz, t, t + Duration::days(30)), brute_next(&s, tz, t, 30), "{} from {}", spec, t);
            }
        }
    }
}
