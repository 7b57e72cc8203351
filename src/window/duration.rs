//! Go's `time.ParseDuration` (src/time/format.go), the syntax of `duration` and `guard.maxWait`: a
//! sequence of decimal numbers with units `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h` (`1.5h`, `1h30m`),
//! an optional sign, and `0` alone. Takes text, gives nanoseconds; nothing else.
//!
//! [`parse_span`] is the one grammar of every command-line flag that takes a span of time
//! (`--segment-age`, `--watch-grace`, `--checkpoint-interval`, `--since`): Go's syntax plus the units
//! `d` (24h) and `w` (7d), never negative (`30d`, `1h30m`, `1d12h`, `90s`). The policy's own fields
//! stay Go durations, as Argo CD and Velero read them.

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(pub String);

const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// The units of a span beyond Go's.
const SPAN_UNITS: &[(&str, u64)] = &[("d", 86_400_000_000_000), ("w", 604_800_000_000_000)];

/// Parses a span of time: Go's duration syntax plus `d` and `w`, not negative.
///
/// # Errors
///
/// Empty text, a missing or unknown unit, spaces, a sign, overflow; the message shows the syntax.
pub fn parse_span(text: &str) -> Result<std::time::Duration, DurationError> {
    let invalid = |why: &str| {
        DurationError(format!(
            "invalid span {text:?}: {why}; give a number with a unit (s, m, h, d, w), such as 90s, \
             30m, 1h30m, 12h, 30d or 2w"
        ))
    };
    if text.starts_with(['-', '+']) {
        return Err(invalid("a span has no sign"));
    }
    let nanos = parse_units(text, &[UNITS, SPAN_UNITS]).map_err(|why| invalid(&why))?;
    Ok(std::time::Duration::from_nanos(nanos.unsigned_abs()))
}

/// Parses a Go duration into signed nanoseconds.
///
/// # Errors
///
/// Whatever Go refuses: empty text, a missing or unknown unit (`1d`, `1H`), spaces, overflow.
pub fn parse_go_duration(text: &str) -> Result<i64, DurationError> {
    let hint = || {
        let days = text.strip_suffix('d').and_then(|n| n.parse::<f64>().ok());
        let hint = if let Some(days) = days {
            &*format!("; there is no `d` unit, write hours (`{}h`)", days * 24.0)
        } else if text.contains('d') {
            "; there is no `d` unit, write hours (`24h`)"
        } else if text.chars().any(char::is_whitespace) {
            "; remove the spaces (`1h30m`)"
        } else if text.chars().any(|c| c.is_ascii_uppercase()) {
            "; units are lower-case (ns, us, ms, s, m, h)"
        } else {
            "; use Go duration syntax like `90m`, `1h30m` or `1.5h`"
        };
        hint.to_owned()
    };
    parse_units(text, &[UNITS])
        .map_err(|why| DurationError(format!("invalid duration {text:?}: {why}{}", hint())))
}

/// Go's `time.ParseDuration` over the units of `tables`; the error says why, without the text.
fn parse_units(text: &str, tables: &[&[(&str, u64)]]) -> Result<i64, String> {
    let invalid = |why: &str| why.to_owned();
    let mut s = text;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid("it is empty"));
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes()[0];
        if !(b == b'.' || b.is_ascii_digit()) {
            return Err(invalid("expected a number"));
        }
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut v: u64 = 0;
        for d in s[..int_len].bytes() {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .filter(|&v| v <= 1 << 63)
                .ok_or_else(|| invalid("it overflows"))?;
        }
        s = &s[int_len..];
        let pre = int_len > 0;
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if let Some(rest) = s.strip_prefix('.') {
            s = rest;
            let frac_len = s.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for d in s[..frac_len].bytes() {
                if overflow {
                    continue;
                }
                // Go's leadingFraction: stop accumulating once more digits cannot change the result.
                match frac
                    .checked_mul(10)
                    .and_then(|f| f.checked_add(u64::from(d - b'0')))
                    .filter(|&f| f <= 1 << 63)
                {
                    Some(f) => {
                        frac = f;
                        scale *= 10.0;
                    }
                    None => overflow = true,
                }
            }
            post = frac_len > 0;
            s = &s[frac_len..];
        }
        if !pre && !post {
            return Err(invalid("expected digits around '.'"));
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        if unit_len == 0 {
            return Err(invalid("missing unit"));
        }
        let unit_text = &s[..unit_len];
        s = &s[unit_len..];
        let unit = tables
            .iter()
            .flat_map(|t| t.iter())
            .find(|(u, _)| *u == unit_text)
            .map(|(_, n)| *n)
            .ok_or_else(|| invalid(&format!("unknown unit {unit_text:?}")))?;
        if v > (1 << 63) / unit {
            return Err(invalid("it overflows"));
        }
        v *= unit;
        if frac > 0 {
            // Go computes this in float64 too: uint64(float64(f) * (float64(unit) / scale)).
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid("it overflows"));
            }
        }
        total = total
            .checked_add(v)
            .filter(|&t| t <= 1 << 63)
            .ok_or_else(|| invalid("it overflows"))?;
    }
    if neg {
        return Ok(i128::from(total).wrapping_neg() as i64);
    }
    i64::try_from(total).map_err(|_| invalid("it overflows"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans_are_go_durations_plus_days_and_weeks() {
        use super::parse_span;
        use std::time::Duration;
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(parse_span("1h30m"), Ok(Duration::from_mins(90)));
        assert_eq!(parse_span("30d"), Ok(h(720)));
        assert_eq!(parse_span("1d12h"), Ok(h(36)));
        assert_eq!(parse_span("1.5d"), Ok(h(36)));
        assert_eq!(parse_span("2w"), Ok(h(336)));
        assert_eq!(parse_span("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_span("0"), Ok(Duration::ZERO));
        for bad in ["", "-1h", "+1h", "1y", "1 d", "d", "1D", "2 minutes"] {
            let e = parse_span(bad).unwrap_err().0;
            assert!(e.contains("such as 90s"), "{bad}: {e}");
        }
        // Go durations keep refusing `d`, with the hint.
        assert!(super::parse_go_duration("1d")
            .unwrap_err()
            .0
            .contains("`24h`"));
    }

    use super::*;

    const H: i64 = 3_600_000_000_000;
    const M: i64 = 60_000_000_000;
    const S: i64 = 1_000_000_000;

    #[test]
    fn parses_what_go_parses() {
        for (text, want) in [
            ("0", 0),
            ("-0", 0),
            ("+0", 0),
            ("4h", 4 * H),
            ("90m", 90 * M),
            ("1h30m", 90 * M),
            ("1.5h", 90 * M),
            ("1.h", H),
            (".5h", 30 * M),
            ("1h1m1s", H + M + S),
            ("300ms", 300_000_000),
            ("2us", 2_000),
            ("2\u{b5}s", 2_000),
            ("2\u{3bc}s", 2_000),
            ("7ns", 7),
            ("-1.5h", -90 * M),
            ("0s", 0),
            ("0.000000001s", 1),
            ("2562047h", 2_562_047 * H),
            ("1m1h", H + M),
        ] {
            assert_eq!(parse_go_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for text in [
            "", "1", "1d", "1H", "1h 30m", " 1h", "h", ".h", "-", "+", "1.5", "33mm", "1000days",
            "1hh", "3000000h", "1e3s", "1,5h",
        ] {
            assert!(parse_go_duration(text).is_err(), "{text:?}");
        }
    }

    /// Golden cases from Go's own `time.ParseDuration` (go1.19), made by
    /// `tests/fixtures/window/go_durations.go` from `go-durations.in`.
    #[test]
    fn agrees_with_go_on_every_golden_case() {
        let golden = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/window/go-durations.jsonl"
        ));
        let mut checked = 0;
        for line in golden.lines() {
            let row: serde_json::Value = serde_json::from_str(line).expect("golden line");
            let text = row["in"].as_str().expect("in");
            let want = if row["ok"] == serde_json::Value::Bool(true) {
                Some(row["ns"].as_i64().expect("ns"))
            } else {
                None
            };
            assert_eq!(parse_go_duration(text).ok(), want, "input {text:?}");
            checked += 1;
        }
        assert!(checked > 4000, "golden file has only {checked} cases");
    }

    #[test]
    fn error_for_days_says_to_use_hours() {
        let e = parse_go_duration("1d").expect_err("1d");
        assert!(e.0.contains("no `d` unit"), "{e}");
        assert!(e.0.contains("unknown unit \"d\""), "{e}");
    }
}
