//! Which records a listing wants, over typed records: an app, a change id (`""`: records without one)
//! and a time from which on. Shared by `audit list`, `audit exceptions` and their remote mode. Pure.

use super::model::Record;
use chrono::{DateTime, FixedOffset};

/// Which records a query wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub app: Option<String>,
    pub change: Option<String>,
    /// Records received at or after this instant.
    pub since: Option<DateTime<FixedOffset>>,
}

impl Filter {
    /// Whether `record` passes every condition that is set (a change id of "" matches records
    /// without one).
    pub fn matches(&self, record: &Record) -> bool {
        let body = &record.body;
        let app_ok = self.app.as_deref().is_none_or(|a| body.app_name() == a);
        let change_ok = self
            .change
            .as_deref()
            .is_none_or(|c| body.change_id().unwrap_or("") == c);
        let since_ok = self.since.is_none_or(|since| {
            DateTime::parse_from_rfc3339(body.received_at()).is_ok_and(|t| t >= since)
        });
        app_ok && change_ok && since_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{event_record, Body};
    use serde_json::json;

    #[test]
    fn filter_by_app_change_and_since() {
        let body = json!({"event": "deployed", "app": {"metadata": {"name": "shop"}}});
        let pattern = regex::Regex::new("^CHG-[0-9]+$").unwrap();
        let Body::Sync(mut s) = event_record(&body, "2026-01-02T00:00:00Z", &pattern).unwrap()
        else {
            unreachable!("an event body")
        };
        s.change_id = Some("CHG-1".into());
        let r = Record {
            seq: 1,
            prev: "p".into(),
            hash: "h1".into(),
            body: Body::Sync(s),
        };
        let mut f = Filter {
            app: Some("shop".into()),
            ..Filter::default()
        };
        assert!(f.matches(&r));
        f.change = Some("CHG-2".into());
        assert!(!f.matches(&r));
        f.change = Some("CHG-1".into());
        f.since = DateTime::parse_from_rfc3339("2026-01-02T00:00:01Z").ok();
        assert!(!f.matches(&r));
    }
}
