//! `--retention`: the archive must keep what it is given at least this long, enforced by the store
//! rather than promised by sluice. For S3 that is the bucket's Object Lock default retention, read with
//! one signed `GetObjectLockConfiguration` request (`GET /?object-lock`), which `object_store` does not
//! make: it is signed with `object_store`'s own `SigV4` signer and credentials (the same ones its puts
//! use) and sent with its HTTP client, so no second AWS stack is needed.
//!
//! Only COMPLIANCE mode counts: a GOVERNANCE lock can be lifted by anyone holding
//! `s3:BypassGovernanceRetention`, which is exactly the kind of administrator the archive guards
//! against. Other stores (a directory, GCS, Azure) have no lock sluice can read, so `--retention` is
//! refused for them rather than silently ignored.

use super::{Archive, ArchiveError, S3Bucket};
use quick_xml::events::Event;
use std::collections::HashMap;

/// Largest lock configuration read (the real one is a few hundred bytes).
const MAX_RESPONSE: usize = 64 * 1024;

/// A retention period: whole years or days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Years(u32),
    Days(u32),
}

impl std::fmt::Display for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retention::Years(n) => write!(f, "{n}y"),
            Retention::Days(n) => write!(f, "{n}d"),
        }
    }
}

impl std::str::FromStr for Retention {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("{s:?} is not a retention period: give years or days, e.g. 7y or 2555d");
        let (digits, unit) = s.split_at(s.len().saturating_sub(1));
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 6 {
            return Err(bad());
        }
        let n: u32 = digits.parse().map_err(|_| bad())?;
        match (unit, n) {
            (_, 0) => Err(format!("{s:?}: a retention of zero protects nothing")),
            ("y", n) => Ok(Retention::Years(n)),
            ("d", n) => Ok(Retention::Days(n)),
            _ => Err(bad()),
        }
    }
}

impl Retention {
    /// Whether a lock of `have` keeps objects at least as long as `self`. A year of the lock counts
    /// as 365 days (S3 counts calendar years, so that is never more than it keeps); a year asked for
    /// counts as 366 days when the lock is given in days (a period of years may hold leap days).
    pub fn is_met_by(self, have: Retention) -> bool {
        match (self, have) {
            (Retention::Years(want), Retention::Years(have))
            | (Retention::Days(want), Retention::Days(have)) => have >= want,
            (Retention::Years(want), Retention::Days(have)) => {
                u64::from(have) >= u64::from(want) * 366
            }
            (Retention::Days(want), Retention::Years(have)) => {
                u64::from(have) * 365 >= u64::from(want)
            }
        }
    }
}

/// A bucket's Object Lock configuration, as far as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockConfig {
    pub enabled: bool,
    /// The default retention's mode (`COMPLIANCE` or `GOVERNANCE`) and period, when a rule sets one.
    pub default: Option<(String, Retention)>,
}

/// The text of each element of an XML document by its path of local names (`A/B/C`, namespaces left
/// out), the first occurrence of each; read by an XML parser, so a tag in a value or a comment is not
/// taken for an element.
///
/// # Errors
///
/// The document is not well-formed XML.
fn texts(xml: &str) -> Result<HashMap<String, String>, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut out = HashMap::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("the answer is not XML: {e}"))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name();
                path.push(String::from_utf8_lossy(name.as_ref()).into_owned());
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t
                    .decode()
                    .map_err(|e| format!("the answer is not XML: {e}"))?;
                if !path.is_empty() && !text.trim().is_empty() {
                    out.entry(path.join("/"))
                        .or_insert_with(|| text.trim().to_owned());
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// Reads the `ObjectLockConfiguration` XML document (S3's `GetObjectLockConfiguration` answer).
///
/// # Errors
///
/// The document is not XML, or a period is not a number.
pub fn parse_lock_config(xml: &str) -> Result<LockConfig, String> {
    let texts = texts(xml)?;
    let text = |path: &str| {
        texts
            .get(&format!("ObjectLockConfiguration/{path}"))
            .cloned()
    };
    let enabled = text("ObjectLockEnabled").is_some_and(|v| v == "Enabled");
    let number = |v: String| {
        v.parse::<u32>()
            .map_err(|_| format!("retention period {v:?} is not a number"))
    };
    let rule = |member: &str| text(&format!("Rule/DefaultRetention/{member}"));
    // A rule sets one of the two; some servers also send the other as 0.
    let years = rule("Years").map(number).transpose()?.filter(|n| *n > 0);
    let days = rule("Days").map(number).transpose()?.filter(|n| *n > 0);
    let period = match (years, days) {
        (Some(y), _) => Some(Retention::Years(y)),
        (None, Some(d)) => Some(Retention::Days(d)),
        (None, None) => None,
    };
    let default = match (rule("Mode"), period) {
        (Some(mode), Some(p)) => Some((mode, p)),
        _ => None,
    };
    Ok(LockConfig { enabled, default })
}

/// Why `config` does not hold objects for `want`, or `None` when it does.
pub fn weakness(config: &LockConfig, want: Retention) -> Option<String> {
    if !config.enabled {
        return Some("Object Lock is not enabled on the bucket (it can only be enabled on a versioned bucket)".into());
    }
    let Some((mode, have)) = &config.default else {
        return Some(
            "the bucket has no default retention rule, so new objects are not locked".into(),
        );
    };
    if mode != "COMPLIANCE" {
        return Some(format!(
            "the default retention is {mode} mode, which a user with s3:BypassGovernanceRetention can lift; \
             COMPLIANCE mode is needed"
        ));
    }
    if !want.is_met_by(*have) {
        return Some(format!(
            "the default retention is {have}, shorter than --retention {want}"
        ));
    }
    None
}

impl Archive {
    /// Refuses an archive whose store does not lock objects for at least `want`.
    ///
    /// # Errors
    ///
    /// The store has no lock sluice can read, the lock configuration cannot be read, or it is weaker
    /// ([`ArchiveError::Retention`], saying how).
    pub async fn check_retention(&self, want: Retention) -> Result<(), ArchiveError> {
        let refuse = |why: String| ArchiveError::Retention {
            url: self.url.clone(),
            why,
        };
        let Some(s3) = &self.s3 else {
            return Err(refuse(format!(
                "--retention {want} can only be checked on S3 (Object Lock); this store has no lock \
                 sluice can read: leave out --retention and set the store's own retention policy"
            )));
        };
        let xml = get_lock_config(s3).await.map_err(&refuse)?;
        let config = parse_lock_config(&xml).map_err(&refuse)?;
        match weakness(&config, want) {
            None => Ok(()),
            Some(why) => Err(refuse(format!(
                "refusing to archive into a bucket whose objects can be deleted: {why}"
            ))),
        }
    }
}

/// `GET /?object-lock` on the bucket, signed with the store's credentials.
async fn get_lock_config(s3: &S3Bucket) -> Result<String, String> {
    let (status, body) = super::versions::signed_get(
        s3,
        "object-lock",
        "GetObjectLockConfiguration",
        MAX_RESPONSE,
    )
    .await?;
    let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    let not_found = texts(&body)
        .ok()
        .and_then(|t| t.get("Error/Code").cloned())
        .is_some_and(|c| c.starts_with("ObjectLockConfigurationNotFound"));
    if status.as_u16() == 404 && not_found {
        return Ok(String::new());
    }
    if !status.is_success() {
        let code = texts(&body)
            .ok()
            .and_then(|t| t.get("Error/Code").cloned())
            .unwrap_or_else(|| "no error code".to_owned());
        return Err(format!(
            "GetObjectLockConfiguration answered {status} ({code}); the credentials need s3:GetBucketObjectLockConfiguration"
        ));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_retention_periods() {
        assert_eq!("7y".parse(), Ok(Retention::Years(7)));
        assert_eq!("2555d".parse(), Ok(Retention::Days(2555)));
        for bad in ["", "y", "7", "7m", "-1y", "0y", "1.5y", "99999999d"] {
            assert!(bad.parse::<Retention>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_lock_must_be_enabled_compliance_and_long_enough() {
        let xml = |mode: &str, period: &str| {
            format!(
                "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>\
                 <Mode>{mode}</Mode>{period}</DefaultRetention></Rule></ObjectLockConfiguration>"
            )
        };
        let seven = Retention::Years(7);
        let check = |x: &str| weakness(&parse_lock_config(x).unwrap(), seven);
        assert_eq!(check(&xml("COMPLIANCE", "<Years>7</Years>")), None);
        assert_eq!(
            check(&xml("COMPLIANCE", "<Days>0</Days><Years>7</Years>")),
            None
        );
        assert_eq!(check(&xml("COMPLIANCE", "<Days>2562</Days>")), None);
        assert!(check(&xml("COMPLIANCE", "<Days>2555</Days>"))
            .unwrap()
            .contains("shorter"));
        assert!(check(&xml("COMPLIANCE", "<Years>6</Years>"))
            .unwrap()
            .contains("shorter"));
        assert!(check(&xml("GOVERNANCE", "<Years>10</Years>"))
            .unwrap()
            .contains("GOVERNANCE"));
        assert!(check("<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>")
            .unwrap()
            .contains("no default retention"));
        assert!(check("").unwrap().contains("not enabled"));
        assert!(parse_lock_config(&xml("COMPLIANCE", "<Days>x</Days>")).is_err());
        assert!(Retention::Days(2555).is_met_by(Retention::Years(7)));
        // Read by a parser: namespaces, a declaration and comments are fine; text that only looks
        // like the elements (in a comment, or at another place) is not taken for them.
        let real = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ObjectLockConfiguration \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
             <Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>7</Years></DefaultRetention></Rule>\
             </ObjectLockConfiguration>";
        assert_eq!(check(real), None);
        let fooled =
            "<ObjectLockConfiguration><!-- <ObjectLockEnabled>Enabled</ObjectLockEnabled> -->\
            <Note>&lt;Mode&gt;COMPLIANCE&lt;/Mode&gt;</Note></ObjectLockConfiguration>";
        assert!(check(fooled).unwrap().contains("not enabled"));
        let elsewhere =
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>\
            <Mode>COMPLIANCE</Mode><Years>7</Years></Rule></ObjectLockConfiguration>";
        assert!(check(elsewhere).unwrap().contains("no default retention"));
    }
}
