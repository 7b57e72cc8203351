//! The `.sluice.yaml` schema (README, "Configuration") as serde types, with its defaults. Unknown keys are
//! rejected everywhere (`deny_unknown_fields`): a typo must not silently disable a safety control.

use super::approvals::ApprovalsSpec;
use super::ticket::{EmergencySpec, TicketSpec};
use super::verify::VerifySpec;
use crate::window::{FreezeSpec, GuardSpec, WindowSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The whole change policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub render: RenderSpec,
    #[serde(default)]
    pub change: ChangeSpec,
    #[serde(default)]
    pub checksums: ChecksumSpec,
    #[serde(default)]
    pub backup: BackupSpec,
    #[serde(default)]
    pub migrations: Vec<MigrationSpec>,
    #[serde(default)]
    pub windows: Vec<WindowSpec>,
    #[serde(default)]
    pub freezes: Vec<FreezeSpec>,
    #[serde(default)]
    pub guard: GuardSpec,
    /// Approvals the Git host must show (docs/approvals.md); checked by the sink at sync time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalsSpec>,
    /// The change ticket's own state gates the sync (docs/tickets.md); checked by the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketSpec>,
    /// What follows an emergency change: its post-implementation review (docs/tickets.md).
    #[serde(default, skip_serializing_if = "EmergencySpec::is_default")]
    pub emergency: EmergencySpec,
    /// Checks a `PostSync` hook runs after the sync (docs/hooks.md, "Post-change verification").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,
}

/// `render.tool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Tool {
    #[default]
    Auto,
    Directory,
    Kustomize,
    Helm,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenderSpec {
    #[serde(default)]
    pub tool: Tool,
    #[serde(default)]
    pub directory: DirectorySpec,
    #[serde(default)]
    pub kustomize: KustomizeSpec,
    #[serde(default)]
    pub helm: HelmSpec,
}

/// `render.directory`: what Argo CD's `spec.source.directory` would say (README, "Rendering").
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectorySpec {
    /// Read subdirectories too (Argo CD's default: no).
    #[serde(default)]
    pub recurse: bool,
    /// Glob (Argo CD's `util/glob`) on the path relative to the app directory: only matching files.
    #[serde(default)]
    pub include: String,
    /// Glob on the path relative to the app directory: matching files are left out.
    #[serde(default)]
    pub exclude: String,
}

/// `render.kustomize`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KustomizeSpec {
    /// Extra `kustomize build` options, as Argo CD's `kustomize.buildOptions` (e.g. `--enable-helm`).
    #[serde(default)]
    pub build_options: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)] // Argo CD's own `spec.source.helm` switches, one for one.
pub struct HelmSpec {
    /// Default: the Argo CD application name.
    #[serde(default)]
    pub release_name: String,
    /// Default: the destination namespace.
    #[serde(default)]
    pub namespace: String,
    /// Paths relative to the app directory (or, starting with `/`, to the repository root), inside
    /// the repository.
    #[serde(default)]
    pub value_files: Vec<String>,
    /// Leave out value files that do not exist instead of failing (Argo CD's `ignoreMissingValueFiles`).
    #[serde(default)]
    pub ignore_missing_value_files: bool,
    /// Inline values, passed to helm as a values file.
    #[serde(default)]
    pub values: Map<String, Value>,
    /// `--set` (or `--set-string` with `forceString`) parameters.
    #[serde(default)]
    pub parameters: Vec<HelmParameter>,
    /// Leave the chart's `crds/` out (Argo CD's `skipCrds`; default: CRDs are rendered).
    #[serde(default)]
    pub skip_crds: bool,
    #[serde(default)]
    pub skip_tests: bool,
    #[serde(default)]
    pub skip_schema_validation: bool,
}

/// One Helm parameter, as Argo CD's `spec.source.helm.parameters[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmParameter {
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub force_string: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeSpec {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default = "default_id_pattern")]
    pub id_pattern: String,
    #[serde(default)]
    pub required: bool,
}

/// The default change-id pattern (`change.idPattern`).
pub const DEFAULT_ID_PATTERN: &str = "^CHG-[0-9]+$";

fn default_id_pattern() -> String {
    DEFAULT_ID_PATTERN.to_string()
}

impl Default for ChangeSpec {
    fn default() -> Self {
        ChangeSpec {
            id: None,
            id_pattern: default_id_pattern(),
            required: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChecksumSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_checksum_annotation")]
    pub annotation: String,
}

/// The default checksum annotation (`checksums.annotation`).
pub const DEFAULT_CHECKSUM_ANNOTATION: &str = "sluice.io/config-checksum";

fn default_checksum_annotation() -> String {
    DEFAULT_CHECKSUM_ANNOTATION.to_string()
}

fn yes() -> bool {
    true
}

impl Default for ChecksumSpec {
    fn default() -> Self {
        ChecksumSpec {
            enabled: true,
            annotation: default_checksum_annotation(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupSpec {
    #[serde(default)]
    pub enabled: bool,
    /// Default: the destination namespace.
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default = "default_velero_namespace")]
    pub velero_namespace: String,
    #[serde(default = "yes")]
    pub snapshot_volumes: bool,
    /// Go duration.
    #[serde(default = "default_ttl")]
    pub ttl: String,
    /// Backup storage location; empty: Velero's default.
    #[serde(default)]
    pub storage_location: String,
    /// Velero's `defaultVolumesToFsBackup`: back up every pod volume with the file-system uploader
    /// (Kopia/Restic) instead of snapshots; unset: Velero's server default.
    #[serde(default)]
    pub default_volumes_to_fs_backup: Option<bool>,
    /// Velero's `labelSelector`: only objects with these labels.
    #[serde(default)]
    pub label_selector: Option<LabelSelector>,
    /// Velero's `includedResources` (`deployments`, `persistentvolumeclaims`, `*.apps`); empty: all.
    #[serde(default)]
    pub included_resources: Vec<String>,
    /// Velero's `excludedResources`.
    #[serde(default)]
    pub excluded_resources: Vec<String>,
    /// Velero's `itemOperationTimeout` (Go duration); empty: Velero's default (4h).
    #[serde(default)]
    pub item_operation_timeout: String,
    /// How long the health check waits for Velero to give the Backup a status before it turns Degraded
    /// (Go duration); empty: the check's default, 10m.
    #[serde(default)]
    pub status_timeout: String,
}

/// A Kubernetes label selector (`metav1.LabelSelector`), as Velero's `labelSelector` takes it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub match_labels: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

fn default_velero_namespace() -> String {
    "velero".to_string()
}

fn default_ttl() -> String {
    "720h".to_string()
}

impl Default for BackupSpec {
    fn default() -> Self {
        BackupSpec {
            enabled: false,
            namespaces: Vec::new(),
            velero_namespace: default_velero_namespace(),
            snapshot_volumes: true,
            ttl: default_ttl(),
            storage_location: String::new(),
            default_volumes_to_fs_backup: None,
            label_selector: None,
            included_resources: Vec::new(),
            excluded_resources: Vec::new(),
            item_operation_timeout: String::new(),
            status_timeout: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MigrationSpec {
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub image_from: Option<ImageFrom>,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// Directory (relative to the app, inside the repository) whose files become a `ConfigMap` hook.
    #[serde(default)]
    pub sql_dir: Option<String>,
    #[serde(default = "default_mount_path")]
    pub mount_path: String,
    /// Kubernetes `EnvVar` list, passed through.
    #[serde(default)]
    pub env: Vec<Value>,
    /// Kubernetes `EnvFromSource` list, passed through.
    #[serde(default)]
    pub env_from: Vec<Value>,
    #[serde(default)]
    pub service_account_name: String,
    #[serde(default)]
    pub backoff_limit: u32,
    #[serde(default = "default_deadline")]
    pub active_deadline_seconds: u64,
}

fn default_mount_path() -> String {
    "/migrations".to_string()
}

fn default_deadline() -> u64 {
    900
}

/// `imageFrom`: the container of a rendered workload whose image a migration reuses.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageFrom {
    pub kind: String,
    pub name: String,
    pub container: String,
}
