//! `--since`: an RFC 3339 instant, a day (`2026-11-01`, midnight UTC), or a span back from now in the
//! one span grammar of every flag (`window::duration::parse_span`: `24h`, `90m`, `1h30m`, `7d`, `2w`,
//! `1d12h`).

use crate::cli::error::{Error, Result};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};

/// The instant `text` names, spans counted back from `now`.
pub(super) fn parse(text: &str, now: DateTime<Utc>) -> Result<DateTime<FixedOffset>> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at);
    }
    if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if t.len() == 10 {
            return Ok(day
                .and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .fixed_offset());
        }
    }
    let span = crate::window::duration::parse_span(t)
        .ok()
        .and_then(|d| Duration::from_std(d).ok());
    match span.and_then(|s| now.checked_sub_signed(s)) {
        Some(at) => Ok(at.fixed_offset()),
        None => Err(Error::Usage(format!(
            "--since {text:?}: give a span back from now (24h, 90m, 7d, 2w), a day (2026-11-01, midnight UTC) \
             or an RFC 3339 instant (2026-11-01T09:00:00Z)"
        ))),
    }
}

/// Now, or the instant in `SLUICE_NOW` (RFC 3339): a fixed clock for reproducible examples and tests.
pub(super) fn now() -> Result<DateTime<Utc>> {
    match std::env::var("SLUICE_NOW") {
        Err(_) => Ok(Utc::now()),
        Ok(text) => DateTime::parse_from_rfc3339(text.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                Error::Usage(format!(
                    "SLUICE_NOW {text:?}: {e}; give an RFC 3339 instant"
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn spans_days_and_instants() {
        let now = at("2026-11-30T12:00:00Z");
        let p = |s: &str| parse(s, now).map(|t| t.with_timezone(&Utc));
        assert_eq!(p("24h").unwrap(), at("2026-11-29T12:00:00Z"));
        assert_eq!(p("1h30m").unwrap(), at("2026-11-30T10:30:00Z"));
        assert_eq!(p("7d").unwrap(), at("2026-11-23T12:00:00Z"));
        assert_eq!(p("2w").unwrap(), at("2026-11-16T12:00:00Z"));
        assert_eq!(p("1d12h").unwrap(), at("2026-11-29T00:00:00Z"));
        assert_eq!(p("1.5d").unwrap(), at("2026-11-29T00:00:00Z"));
        assert_eq!(p("2026-11-01").unwrap(), at("2026-11-01T00:00:00Z"));
        assert_eq!(
            p("2026-11-01T09:00:00+01:00").unwrap(),
            at("2026-11-01T08:00:00Z")
        );
        for bad in [
            "",
            "yesterday",
            "-24h",
            "2026-11-1",
            "d",
            "24",
            "2026-13-01",
        ] {
            let e = p(bad).expect_err(bad).to_string();
            assert!(
                e.starts_with(&format!("--since {bad:?}: give a span")),
                "{e}"
            );
        }
    }
}
