//! 5-field cron in the dialect of robfig/cron v3 as Argo CD configures it
//! (`cron.NewParser(Minute | Hour | Dom | Month | Dow)`, see `SyncWindow.active` in Argo CD's
//! `pkg/apis/application/v1alpha1/types.go` and `getRange`/`getField` in robfig/cron's `parser.go`).
//! Takes the schedule text, gives a [`Schedule`] that finds matching wall-clock minutes forwards and
//! backwards in naive (zone-less) local time. Zones and instants are `zone.rs`'s business, not this file's.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u32,
    /// Bits 1..=31.
    dom: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6, 0 = Sunday.
    dow: u8,
    /// Day-of-month written as `*`, `?` or `*/1`: unrestricted (robfig's `starBit`).
    dom_star: bool,
    dow_star: bool,
    /// Matching minutes of a day (hour * 60 + minute), ascending.
    times: Vec<u16>,
}

/// Why a schedule was refused; the message says what to write instead where that is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(pub String);

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MONTH_NAMES: &[(&str, u32)] = &[
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];
const DOW_NAMES: &[(&str, u32)] = &[
    ("sun", 0),
    ("mon", 1),
    ("tue", 2),
    ("wed", 3),
    ("thu", 4),
    ("fri", 5),
    ("sat", 6),
];

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTH_NAMES,
    },
    Field {
        name: "day-of-week",
        min: 0,
        max: 6,
        names: DOW_NAMES,
    },
];

/// Bits of one field, and whether it was unrestricted (`*`, `?`, `*/1`).
struct Bits {
    bits: u64,
    star: bool,
}

impl Schedule {
    /// Parses a 5-field schedule.
    ///
    /// # Errors
    ///
    /// Anything robfig/cron v3 refuses with Argo CD's parser options, plus the `CRON_TZ=`/`TZ=` prefix
    /// (use `timeZone`) and schedules whose day and month can never occur (`0 0 30 2 *`).
    pub fn parse(spec: &str) -> Result<Schedule, CronError> {
        let trimmed = spec.trim();
        if trimmed.is_empty() {
            return Err(CronError(
                "the schedule is empty; write 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 2 * * 2,4\"".into(),
            ));
        }
        if trimmed.starts_with('@') {
            return Err(CronError(format!(
                "descriptors like {trimmed:?} are not accepted by Argo CD's cron parser; write the 5 fields, e.g. \"0 0 * * *\" for @daily"
            )));
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        if let Some(tz) = fields
            .iter()
            .find(|f| f.starts_with("CRON_TZ=") || f.starts_with("TZ="))
        {
            let zone = tz.split_once('=').map_or("", |(_, z)| z);
            return Err(CronError(format!(
                "the {} prefix is not supported; remove it and set `timeZone: {zone}` on the window",
                tz.split('=').next().unwrap_or("CRON_TZ")
            )));
        }
        if fields.len() != 5 {
            return Err(CronError(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}; there is no seconds or year field",
                fields.len()
            )));
        }
        let mut parsed = Vec::with_capacity(5);
        for (text, field) in fields.iter().zip(FIELDS.iter()) {
            parsed.push(parse_field(text, field)?);
        }
        let minutes = parsed[0].bits;
        let hours = parsed[1].bits as u32;
        let mut times = Vec::new();
        for h in 0..24u16 {
            if hours & (1 << h) != 0 {
                for m in 0..60u16 {
                    if minutes & (1 << m) != 0 {
                        times.push(h * 60 + m);
                    }
                }
            }
        }
        let schedule = Schedule {
            minutes,
            hours,
            dom: parsed[2].bits as u32,
            months: parsed[3].bits as u16,
            dow: parsed[4].bits as u8,
            dom_star: parsed[2].star,
            dow_star: parsed[4].star,
            times,
        };
        schedule.check_can_fire()?;
        Ok(schedule)
    }

    /// A restricted day-of-month with an unrestricted day-of-week must name a day that exists in one of the months.
    fn check_can_fire(&self) -> Result<(), CronError> {
        if self.dom_star || !self.dow_star {
            return Ok(());
        }
        let possible = (1..=12u32).any(|m| {
            self.months & (1 << m) != 0
                && (1..=days_in_month(m, true)).any(|d| self.dom & (1 << d) != 0)
        });
        if possible {
            Ok(())
        } else {
            Err(CronError(
                "the schedule never fires: no selected month has the selected day-of-month (e.g. 30 February); fix the day-of-month or month field".into(),
            ))
        }
    }

    /// Whether the day (month, day-of-month, day-of-week) matches, with the Vixie rule: when both
    /// day fields are restricted either may match, otherwise both must (robfig's `dayMatches`).
    pub fn day_matches(&self, date: NaiveDate) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.dom & (1 << date.day()) != 0;
        let dow = self.dow & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// Whether a wall-clock minute matches (seconds ignored).
    #[cfg(test)]
    pub fn matches(&self, at: NaiveDateTime) -> bool {
        self.minutes & (1 << at.minute()) != 0
            && self.hours & (1 << at.hour()) != 0
            && self.day_matches(at.date())
    }

    /// Every day matches and every minute of it: the schedule fires every minute.
    pub fn every_minute(&self) -> bool {
        self.times.len() == 1440 && self.months == 0x1ffe && (self.dom_star || self.dow_star) && {
            self.dom == 0xffff_fffe && self.dow == 0x7f
        }
    }

    /// The largest gap, in minutes, between consecutive matching minutes of one day.
    pub fn max_gap_within_day(&self) -> i64 {
        self.times
            .windows(2)
            .map(|w| i64::from(w[1] - w[0]))
            .max()
            .unwrap_or(0)
    }

    /// The first matching minute at or after `from` (rounded up to a whole minute), not after `limit`.
    pub fn next_at_or_after(&self, from: NaiveDateTime, limit: NaiveDate) -> Option<NaiveDateTime> {
        let from = ceil_minute(from);
        let mut date = from.date();
        let mut minute = (from.hour() * 60 + from.minute()) as u16;
        while date <= limit {
            if self.months & (1 << date.month()) == 0 {
                date = first_of_next_month(date)?;
                minute = 0;
                continue;
            }
            if self.day_matches(date) {
                let i = self.times.partition_point(|&t| t < minute);
                if let Some(&t) = self.times.get(i) {
                    return Some(at_minute(date, t));
                }
            }
            date = date.succ_opt()?;
            minute = 0;
        }
        None
    }

    /// The last matching minute at or before `from` (rounded down to a whole minute), not before `limit`.
    pub fn prev_at_or_before(
        &self,
        from: NaiveDateTime,
        limit: NaiveDate,
    ) -> Option<NaiveDateTime> {
        let mut date = from.date();
        let mut minute = (from.hour() * 60 + from.minute()) as u16;
        while date >= limit {
            if self.months & (1 << date.month()) == 0 {
                date = NaiveDate::from_ymd_opt(date.year(), date.month(), 1)?.pred_opt()?;
                minute = 1439;
                continue;
            }
            if self.day_matches(date) {
                let i = self.times.partition_point(|&t| t <= minute);
                if i > 0 {
                    return Some(at_minute(date, self.times[i - 1]));
                }
            }
            date = date.pred_opt()?;
            minute = 1439;
        }
        None
    }
}

fn at_minute(date: NaiveDate, minute_of_day: u16) -> NaiveDateTime {
    let t = NaiveTime::from_num_seconds_from_midnight_opt(u32::from(minute_of_day) * 60, 0)
        // minute_of_day < 1440 by construction, so the time exists.
        .unwrap_or(NaiveTime::MIN);
    date.and_time(t)
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
}

/// Rounds up to a whole minute.
pub fn ceil_minute(t: NaiveDateTime) -> NaiveDateTime {
    let floor = floor_minute(t);
    if floor == t {
        t
    } else {
        floor + Duration::minutes(1)
    }
}

/// Rounds down to a whole minute.
pub fn floor_minute(t: NaiveDateTime) -> NaiveDateTime {
    t.date()
        .and_hms_opt(t.hour(), t.minute(), 0)
        // hour and minute come from a valid time.
        .unwrap_or(t)
}

/// Days in month `m` (1-12); February has 29 in a leap year.
pub fn days_in_month(m: u32, leap: bool) -> u32 {
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// One comma-separated field (robfig's `getField`).
fn parse_field(text: &str, field: &Field) -> Result<Bits, CronError> {
    let mut bits = 0u64;
    let mut star = false;
    // A field of commas only (`,`) has no value at all: a syntax error, not a schedule that never fires.
    if text.chars().all(|c| c == ',') {
        return Err(CronError(format!(
            "{} {text:?} is a syntax error: a comma separates values and the field has none; write a value, a range or `*`, e.g. \"1,15\"",
            field.name
        )));
    }
    // robfig splits with strings.FieldsFunc, which drops empty items: `1,,2` is `1,2`.
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let r = parse_range(part, field)?;
        bits |= r.bits;
        star |= r.star;
    }
    if bits == 0 {
        return Err(CronError(format!(
            "{} {text:?} lists no value, so the schedule would never fire",
            field.name
        )));
    }
    Ok(Bits { bits, star })
}

/// `*`, `?`, `a`, `a-b`, with an optional `/step` (robfig's `getRange`). `a/n` means `a-max/n`.
fn parse_range(expr: &str, field: &Field) -> Result<Bits, CronError> {
    let name = field.name;
    let (range, step) = match expr.split('/').collect::<Vec<_>>()[..] {
        [range] => (range, None),
        [range, step] => (range, Some(step)),
        _ => return Err(CronError(format!("{name} {expr:?} has more than one '/'"))),
    };
    let bounds: Vec<&str> = range.split('-').collect();
    let (mut start, mut end, mut star) = if bounds[0] == "*" || bounds[0] == "?" {
        // robfig ignores anything after `*-`; so do we, to accept what Argo CD accepts.
        (i64::from(field.min), i64::from(field.max), true)
    } else {
        let start = parse_value(bounds[0], field)?;
        let end = match bounds.len() {
            1 => start,
            2 => parse_value(bounds[1], field)?,
            _ => return Err(CronError(format!("{name} {expr:?} has more than one '-'"))),
        };
        (start, end, false)
    };
    let step = match step {
        None => 1,
        Some(s) => {
            let n = parse_int(s).ok_or_else(|| {
                CronError(format!("{name} step {s:?} in {expr:?} is not a number"))
            })?;
            if bounds.len() == 1 && !star {
                end = i64::from(field.max);
            }
            if n > 1 {
                star = false;
            }
            n
        }
    };
    if start < i64::from(field.min) || start > i64::from(field.max) {
        return Err(out_of_range(field, start));
    }
    if end > i64::from(field.max) || end < i64::from(field.min) {
        return Err(out_of_range(field, end));
    }
    if start > end {
        return Err(CronError(format!(
            "{name} range {expr:?} is reversed ({start} is after {end}); ranges do not wrap, write the smaller value first or use a list"
        )));
    }
    if step == 0 {
        return Err(CronError(format!(
            "{name} step in {expr:?} must be a positive number, not 0"
        )));
    }
    let mut bits = 0u64;
    start = start.max(i64::from(field.min));
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    Ok(Bits { bits, star })
}

fn out_of_range(field: &Field, v: i64) -> CronError {
    let hint = if field.name == "day-of-week" {
        " (0 is Sunday)"
    } else {
        ""
    };
    CronError(format!(
        "{} {v} is out of range {}-{}{hint}",
        field.name, field.min, field.max
    ))
}

/// A number or (for months and weekdays) a three-letter name, case-insensitive.
fn parse_value(text: &str, field: &Field) -> Result<i64, CronError> {
    let lower = text.to_ascii_lowercase();
    if let Some(&(_, v)) = field.names.iter().find(|(n, _)| *n == lower) {
        return Ok(i64::from(v));
    }
    if let Some(n) = parse_int(text) {
        return Ok(n);
    }
    let hint = if text.contains(['L', 'W', '#']) && text.len() <= 4 {
        "; L, W and # are not supported by Argo CD's cron"
    } else if field.names.is_empty() {
        ""
    } else if field.name == "month" {
        "; use 1-12 or jan-dec"
    } else {
        "; use 0-6 or sun-sat"
    };
    Err(CronError(format!(
        "{} {text:?} is not a number{}{hint}",
        field.name,
        if field.names.is_empty() {
            ""
        } else {
            " or name"
        }
    )))
}

/// Go's `strconv.Atoi` for what can reach it here: an optional `+`, then ASCII digits.
fn parse_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("test datetime")
    }

    fn err(spec: &str) -> String {
        Schedule::parse(spec).expect_err(spec).0
    }

    #[test]
    fn accepts_the_argo_cd_dialect() {
        for spec in [
            "* * * * *",
            "0 2 * * 2,4",
            "0 9 * * MON-fri",
            "*/15 0-6/2 1,15 jan-MAR ?",
            "5/10 * * * *",
            "0 0 13 * 5",
            "0 0 29 2 *",
            "+5 * * * *",
            "05 * * * *",
            "  0   2 * * *  ",
            "*/1 * ? * sun",
            "0 0 1 */3 *",
            "1,,2 * * * *",
            "1, * * * *",
        ] {
            assert!(Schedule::parse(spec).is_ok(), "{spec}");
        }
    }

    #[test]
    fn rejects_schedule_with_weekday_7() {
        assert_eq!(
            err("0 2 * * 7"),
            "day-of-week 7 is out of range 0-6 (0 is Sunday)"
        );
        assert!(err("0 2 * * 1-7").contains("day-of-week 7 is out of range"));
    }

    #[test]
    fn rejects_what_robfig_rejects() {
        assert!(err("@daily").contains("descriptors"));
        assert!(err("CRON_TZ=Europe/Paris 0 2 * * *").contains("timeZone: Europe/Paris"));
        assert!(err("TZ=UTC 0 2 * * *").contains("TZ prefix"));
        assert!(err("0 0 2 * * *").contains("found 6"));
        assert!(err("0 2 * *").contains("found 4"));
        assert!(err("5-1 * * * *").contains("reversed"));
        assert!(err("*/0 * * * *").contains("positive"));
        assert!(err("60 * * * *").contains("minute 60 is out of range 0-59"));
        assert!(err("0 24 * * *").contains("hour 24"));
        assert!(err("0 0 0 * *").contains("day-of-month 0"));
        assert!(err("0 0 32 * *").contains("day-of-month 32"));
        assert!(err("0 0 * 13 *").contains("month 13"));
        assert!(err("0 0 * 0 *").contains("month 0"));
        assert!(err("0 0 L * *").contains("L, W and #"));
        assert!(err("0 0 * * 5#3").contains("not a number"));
        assert!(err("0 0 * * monday").contains("sun-sat"));
        assert!(err(", * * * *").starts_with("minute \",\" is a syntax error"));
        let day = err("0 2 , * *");
        assert!(
            day.starts_with("day-of-month \",\" is a syntax error"),
            "{day}"
        );
        assert!(!day.contains("never fire"), "{day}");
        assert!(err("0 2 * * ,,").starts_with("day-of-week \",,\" is a syntax error"));
        // robfig drops empty items between values: `1,,2` is `1,2`, as in Argo CD.
        assert!(Schedule::parse("1,,2 * * * *").is_ok());
        assert!(err("1-2-3 * * * *").contains("more than one '-'"));
        assert!(err("1/2/3 * * * *").contains("more than one '/'"));
        assert!(err("").contains("empty"));
    }

    #[test]
    fn rejects_schedule_that_never_fires() {
        assert!(err("0 0 30 2 *").contains("never fires"));
        assert!(err("0 0 31 4,6,9,11 *").contains("never fires"));
        // With a restricted weekday the OR rule makes it fire on Mondays.
        assert!(Schedule::parse("0 0 30 2 1").is_ok());
    }

    #[test]
    fn step_from_a_single_value_runs_to_the_maximum() {
        let s = Schedule::parse("50/5 * * * *").expect("parse");
        assert_eq!(s.times[..3], [50, 55, 110]);
    }

    #[test]
    fn star_with_step_1_is_unrestricted_but_step_2_is_restricted() {
        let s = Schedule::parse("0 0 */1 * 1").expect("parse");
        assert!(s.dom_star);
        // AND rule: only Mondays.
        assert!(!s.day_matches(NaiveDate::from_ymd_opt(2026, 11, 24).expect("date")));
        let s = Schedule::parse("0 0 */2 * 1").expect("parse");
        assert!(!s.dom_star);
        // OR rule: the 24th is even-numbered? */2 from 1 gives odd days; Tuesday 24th matches neither.
        assert!(!s.day_matches(NaiveDate::from_ymd_opt(2026, 11, 24).expect("date")));
        assert!(s.day_matches(NaiveDate::from_ymd_opt(2026, 11, 23).expect("date")));
        assert!(s.day_matches(NaiveDate::from_ymd_opt(2026, 11, 25).expect("date")));
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_restricted() {
        let s = Schedule::parse("0 0 13 * 5").expect("parse");
        // Friday 2026-11-20 and Sunday 2026-12-13 both fire; Saturday 2026-11-21 does not.
        assert!(s.matches(dt("2026-11-20 00:00")));
        assert!(s.matches(dt("2026-12-13 00:00")));
        assert!(!s.matches(dt("2026-11-21 00:00")));
    }

    #[test]
    fn finds_next_and_previous_minutes() {
        let s = Schedule::parse("30 2 * * 2,4").expect("parse");
        let limit = NaiveDate::from_ymd_opt(2030, 1, 1).expect("date");
        let low = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
        assert_eq!(
            s.next_at_or_after(dt("2026-11-23 10:00"), limit),
            Some(dt("2026-11-24 02:30"))
        );
        assert_eq!(
            s.next_at_or_after(dt("2026-11-24 02:30"), limit),
            Some(dt("2026-11-24 02:30"))
        );
        assert_eq!(
            s.prev_at_or_before(dt("2026-11-23 10:00"), low),
            Some(dt("2026-11-19 02:30"))
        );
        let leap = Schedule::parse("0 0 29 2 *").expect("parse");
        assert_eq!(
            leap.next_at_or_after(dt("2026-03-01 00:00"), limit),
            Some(dt("2028-02-29 00:00"))
        );
    }
}
