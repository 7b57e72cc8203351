//! The `windows`, `freezes` and `guard` sections of `.sluice.yaml` as written. Raw strings
//! here; `window` compiles and validates them (schedules, durations, zones, globs).

use serde::{Deserialize, Serialize};

/// One sync window, in the exact field names of Argo CD's `AppProject.spec.syncWindows[]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WindowSpec {
    /// `allow` or `deny`.
    pub kind: String,
    /// 5-field cron in robfig/cron's dialect.
    pub schedule: String,
    /// Go duration, e.g. `4h`, `1h30m`.
    pub duration: String,
    /// IANA zone; empty means UTC.
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub applications: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub clusters: Vec<String>,
    #[serde(default)]
    pub manual_sync: bool,
    #[serde(default)]
    pub and_operator: bool,
    #[serde(default)]
    pub description: String,
    /// Accepted for compatibility with `AppProject` windows; only matters for long operations, ignored by the guard.
    #[serde(default)]
    pub sync_overrun: bool,
}

/// An absolute blackout period `[from, until)`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FreezeSpec {
    pub name: String,
    /// RFC 3339 instant.
    pub from: String,
    /// RFC 3339 instant (exclusive).
    pub until: String,
    /// App-name globs that may still sync.
    #[serde(default)]
    pub exempt: Vec<String>,
}

/// `guard.enabled`: `auto` (on when windows or freezes exist), `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuardEnabled {
    #[default]
    Auto,
    On,
    Off,
}

/// Written as it is read (`auto`, `true`, `false`), so that the guard Job's `SLUICE_GUARD_POLICY`
/// deserialises again.
impl Serialize for GuardEnabled {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GuardEnabled::Auto => s.serialize_str("auto"),
            GuardEnabled::On => s.serialize_bool(true),
            GuardEnabled::Off => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for GuardEnabled {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(GuardEnabled::On),
            Raw::Bool(false) => Ok(GuardEnabled::Off),
            Raw::Str(s) if s == "auto" => Ok(GuardEnabled::Auto),
            Raw::Str(s) => Err(serde::de::Error::custom(format!(
                "invalid value {s:?}, expected auto, true or false"
            ))),
        }
    }
}

/// What the guard does when the sync is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OnClosed {
    #[default]
    Fail,
    Wait,
}

/// The `guard` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardSpec {
    #[serde(default)]
    pub enabled: GuardEnabled,
    /// Image for the guard Job; empty: env `SLUICE_IMAGE` of the plugin sidecar.
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub on_closed: OnClosed,
    /// Go duration; how long `onClosed: wait` may wait.
    #[serde(default = "default_max_wait")]
    pub max_wait: String,
    /// Optional sink URL the guard posts its decision to.
    #[serde(default)]
    pub report: String,
}

fn default_max_wait() -> String {
    "6h".to_string()
}

impl Default for GuardSpec {
    fn default() -> Self {
        GuardSpec {
            enabled: GuardEnabled::Auto,
            image: String::new(),
            on_closed: OnClosed::Fail,
            max_wait: default_max_wait(),
            report: String::new(),
        }
    }
}

/// What the guard Job receives in env `SLUICE_GUARD_POLICY` (JSON): the policy's windows, freezes and
/// guard settings, exactly as written in `.sluice.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardPolicy {
    #[serde(default)]
    pub windows: Vec<WindowSpec>,
    #[serde(default)]
    pub freezes: Vec<FreezeSpec>,
    #[serde(default)]
    pub guard: GuardSpec,
    /// The policy's `approvals` section as written (docs/approvals.md), forwarded to the sink, which
    /// reads and judges it: the guard only asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<serde_json::Value>,
    /// The policy's `ticket` section as written (docs/tickets.md), forwarded to the sink: the guard
    /// asks it on every sync (an approved emergency ticket may pass a closed window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<serde_json::Value>,
    /// The policy's `emergency` section, when it is not the default (`reviewWithin: 48h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<serde_json::Value>,
    /// `change.idPattern`, whose groups `ticket.number` names (with `ticket` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id_pattern: Option<String>,
}

/// `emergency`: what follows an emergency change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmergencySpec {
    /// How soon after the emergency its post-implementation review is due (Go duration).
    #[serde(default = "default_review_within")]
    pub review_within: String,
}

/// The default of `emergency.reviewWithin`.
pub const DEFAULT_REVIEW_WITHIN: &str = "48h";

fn default_review_within() -> String {
    DEFAULT_REVIEW_WITHIN.to_owned()
}

impl Default for EmergencySpec {
    fn default() -> Self {
        EmergencySpec {
            review_within: default_review_within(),
        }
    }
}

impl EmergencySpec {
    /// Whether every key has its default (the section is then not written).
    pub fn is_default(&self) -> bool {
        *self == EmergencySpec::default()
    }

    /// `reviewWithin` in seconds of the section as the guard receives it (48 h without one).
    ///
    /// # Errors
    ///
    /// The section does not fit, or `reviewWithin` is not a positive Go duration.
    pub fn seconds_of(section: Option<&serde_json::Value>) -> Result<i64, String> {
        let spec: EmergencySpec = match section {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("emergency: {e}"))?,
            None => EmergencySpec::default(),
        };
        spec.review_seconds()
            .map_err(|(k, m)| format!("emergency.{k}: {m}"))
    }

    /// `reviewWithin` in seconds.
    ///
    /// # Errors
    ///
    /// Not a Go duration, or not positive.
    pub fn review_seconds(&self) -> Result<i64, (String, String)> {
        let nanos = super::duration::parse_go_duration(&self.review_within)
            .map_err(|e| ("reviewWithin".to_owned(), e.0))?;
        if nanos <= 0 {
            return Err((
                "reviewWithin".to_owned(),
                format!("{:?} must be positive; write e.g. 48h", self.review_within),
            ));
        }
        Ok(nanos / 1_000_000_000)
    }
}
