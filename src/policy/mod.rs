//! `.sluice.yaml`: loading (with the same bounded YAML 1.1 reader as manifests), the schema, defaults
//! and validation. Errors name the file and the key path, and say the fix.

pub mod approvals;
pub mod schema;
pub mod ticket;
pub mod verify;

pub use schema::*;

use crate::manifest::yaml::{parse_stream, Limits};
use regex::Regex;
use serde_json::Value;
use std::path::Path;

/// The file name plugin discovery looks for.
pub const FILE_NAME: &str = ".sluice.yaml";
/// `apiVersion` of a policy.
pub const API_VERSION: &str = "sluice.io/v1alpha1";
/// `kind` of a policy.
pub const KIND: &str = "ChangePolicy";
/// Largest policy file read.
const MAX_POLICY_BYTES: usize = 1 << 20;

/// A policy that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: {path}: {message}")]
    Invalid {
        file: String,
        path: String,
        message: String,
    },
    #[error("{file}: {message}")]
    Unreadable { file: String, message: String },
    /// A window, freeze or guard setting; the source names the key path.
    #[error("{file}: {source}")]
    Window {
        file: String,
        #[source]
        source: crate::window::WindowError,
    },
}

/// Reads and validates a policy file.
///
/// # Errors
///
/// The file is missing, too large, not YAML, or fails the schema or validation; the error names the key path.
pub fn load(path: &Path) -> Result<Policy, PolicyError> {
    let file = path.display().to_string();
    let unreadable = |message: String| PolicyError::Unreadable {
        file: file.clone(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if meta.len() > MAX_POLICY_BYTES as u64 {
        return Err(unreadable(format!(
            "{} bytes is over the limit of {MAX_POLICY_BYTES} bytes for a policy",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    parse(&text, &file)
}

/// Parses and validates policy text; `file` names it in errors.
///
/// # Errors
///
/// As [`load`].
pub fn parse(text: &str, file: &str) -> Result<Policy, PolicyError> {
    let limits = Limits {
        max_bytes: MAX_POLICY_BYTES,
        max_depth: 32,
        max_alias_nodes: 10_000,
        max_alias_bytes: Limits::alias_bytes_for(text.len()),
    };
    let invalid = |path: &str, message: String| PolicyError::Invalid {
        file: file.to_string(),
        path: path.to_string(),
        message,
    };
    let docs = parse_stream(text, &limits).map_err(|e| PolicyError::Unreadable {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let mut docs = docs.into_iter().filter(|d| !d.value.is_null());
    let value = match (docs.next(), docs.next()) {
        (Some(doc), None) => doc.value,
        (None, _) => {
            return Err(invalid(
                "(top level)",
                format!(
                "the policy is empty; start it with `apiVersion: {API_VERSION}` and `kind: {KIND}`"
            ),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "(top level)",
                "a policy is one YAML document; remove the extra `---` documents".into(),
            ))
        }
    };
    if !value.is_object() {
        return Err(invalid(
            "(top level)",
            "a policy is a mapping of keys (apiVersion, kind, render, ...)".into(),
        ));
    }
    let policy: Policy = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        invalid(
            if path == "." { "(top level)" } else { &path },
            hint(e.inner().to_string()),
        )
    })?;
    validate(&policy).map_err(|(path, message)| invalid(&path, message))?;
    crate::window::validate(&policy.windows, &policy.freezes, &policy.guard).map_err(|source| {
        PolicyError::Window {
            file: file.to_string(),
            source,
        }
    })?;
    Ok(policy)
}

/// serde's messages, with the fix for the common mistakes.
fn hint(message: String) -> String {
    if message.starts_with("unknown field") {
        format!("{message} (unknown keys are refused so that a typo cannot switch a control off)")
    } else if message.starts_with("invalid type: integer")
        || message.starts_with("invalid type: floating point")
        || message.starts_with("invalid type: boolean")
    {
        format!("{message} (quote the value if a string is meant: YAML 1.1 reads 0644, yes, 1.10 as numbers and booleans)")
    } else {
        message
    }
}

/// Checks what the schema cannot: fixed header, patterns, names, exclusive options.
fn validate(policy: &Policy) -> Result<(), (String, String)> {
    if policy.api_version != API_VERSION {
        return Err((
            "apiVersion".into(),
            format!("is {:?}; it must be {API_VERSION}", policy.api_version),
        ));
    }
    if policy.kind != KIND {
        return Err((
            "kind".into(),
            format!("is {:?}; it must be {KIND}", policy.kind),
        ));
    }
    let pattern = Regex::new(&policy.change.id_pattern).map_err(|e| {
        (
            "change.idPattern".to_string(),
            format!("is not a valid regular expression: {e}"),
        )
    })?;
    if let Some(id) = &policy.change.id {
        if !pattern.is_match(id) {
            return Err((
                "change.id".into(),
                format!(
                    "{id:?} does not match change.idPattern {:?}",
                    policy.change.id_pattern
                ),
            ));
        }
    }
    if policy.checksums.annotation.is_empty() || !is_qualified_name(&policy.checksums.annotation) {
        return Err((
            "checksums.annotation".into(),
            format!(
                "{:?} is not a valid annotation key (e.g. sluice.io/config-checksum)",
                policy.checksums.annotation
            ),
        ));
    }
    if policy.backup.velero_namespace.is_empty() || !is_dns_label(&policy.backup.velero_namespace) {
        return Err((
            "backup.veleroNamespace".into(),
            "must be a namespace name (DNS-1123 label)".into(),
        ));
    }
    for (i, ns) in policy.backup.namespaces.iter().enumerate() {
        if ns != "*" && !is_dns_label(ns) {
            return Err((
                format!("backup.namespaces[{i}]"),
                format!("{ns:?} is not a namespace name"),
            ));
        }
    }
    validate_render(&policy.render)?;
    if let Some(approvals) = &policy.approvals {
        approvals
            .validate()
            .map_err(|(key, message)| (format!("approvals.{key}"), message))?;
    }
    if let Some(ticket) = &policy.ticket {
        ticket
            .validate(&policy.change.id_pattern)
            .map_err(|(key, message)| (format!("ticket.{key}"), message))?;
    }
    policy
        .emergency
        .review_seconds()
        .map_err(|(key, message)| (format!("emergency.{key}"), message))?;
    if let Some(verify) = &policy.verify {
        verify
            .validate()
            .map_err(|(key, message)| (format!("verify.{key}"), message))?;
    }
    let mut seen = std::collections::HashSet::new();
    for (i, m) in policy.migrations.iter().enumerate() {
        let at = |key: &str| format!("migrations[{i}].{key}");
        if !is_dns_label(&m.name) || m.name.len() > 40 {
            return Err((at("name"), format!("{:?} must be a DNS-1123 label of at most 40 characters (lower-case letters, digits, '-')", m.name)));
        }
        if !seen.insert(m.name.as_str()) {
            return Err((
                at("name"),
                format!(
                    "{:?} is used by an earlier migration; names must be unique",
                    m.name
                ),
            ));
        }
        match (&m.image, &m.image_from) {
            (Some(_), Some(_)) => {
                return Err((
                    at("image"),
                    "set either image or imageFrom, not both".into(),
                ))
            }
            (None, None) => {
                return Err((
                    at("image"),
                    "set image (e.g. flyway/flyway:10) or imageFrom {kind, name, container}".into(),
                ))
            }
            (Some(image), None) if image.trim().is_empty() => {
                return Err((at("image"), "is empty".into()))
            }
            _ => {}
        }
        if !m.mount_path.starts_with('/') {
            return Err((
                at("mountPath"),
                format!("{:?} must be an absolute path", m.mount_path),
            ));
        }
        for (j, env) in m.env.iter().enumerate() {
            if env
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err((
                    format!("migrations[{i}].env[{j}]"),
                    "an EnvVar needs a name".into(),
                ));
            }
        }
    }
    Ok(())
}

/// The `render` section: globs compile, build options are ones sluice passes on.
fn validate_render(render: &RenderSpec) -> Result<(), (String, String)> {
    for (key, pattern) in [
        ("render.directory.include", &render.directory.include),
        ("render.directory.exclude", &render.directory.exclude),
    ] {
        if !pattern.is_empty() {
            crate::window::glob::Glob::new(pattern).map_err(|e| {
                (
                    key.to_string(),
                    format!("{pattern:?} is not a valid glob: {e}"),
                )
            })?;
        }
    }
    kustomize_build_options(&render.kustomize.build_options)
        .map_err(|m| ("render.kustomize.buildOptions".to_string(), m))?;
    for (i, p) in render.helm.parameters.iter().enumerate() {
        if p.name.is_empty() {
            return Err((
                format!("render.helm.parameters[{i}].name"),
                "is empty; name the value to set, e.g. image.tag".into(),
            ));
        }
    }
    Ok(())
}

/// Options of `kustomize build` that `render.kustomize.buildOptions` may hold. In Argo CD the build
/// options are the administrator's (argocd-cm); here they come from the app's repository, so options
/// that let a repository run programs in the plugin container (`--enable-exec`, `--helm-command`,
/// `--mount`, `--network`, `--env`) are refused.
const KUSTOMIZE_OPTIONS: &[&str] = &[
    "--enable-helm",
    "--load-restrictor",
    "--reorder",
    "--enable-alpha-plugins",
    "--enable-managedby-label",
    "--helm-api-versions",
    "--helm-kube-version",
    "--helm-debug",
];

/// Options with a value, which may follow as the next word.
const KUSTOMIZE_VALUED: &[&str] = &[
    "--load-restrictor",
    "--reorder",
    "--helm-api-versions",
    "--helm-kube-version",
];

/// Splits `render.kustomize.buildOptions` into words (as Argo CD's `strings.Fields`) and checks them.
///
/// # Errors
///
/// A word that is not an option sluice passes on, with the list of those it does.
pub fn kustomize_build_options(options: &str) -> Result<Vec<String>, String> {
    let words: Vec<String> = options.split_whitespace().map(String::from).collect();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        let name = word.split_once('=').map_or(word.as_str(), |(n, _)| n);
        if !KUSTOMIZE_OPTIONS.contains(&name) {
            return Err(format!(
                "{word:?} is not passed on to kustomize (allowed: {}); options that run programs are the plugin image's business, not the repository's",
                KUSTOMIZE_OPTIONS.join(", ")
            ));
        }
        if KUSTOMIZE_VALUED.contains(&name) && !word.contains('=') {
            i += 1;
            if i == words.len() {
                return Err(format!("{word} needs a value"));
            }
        }
        i += 1;
    }
    Ok(words)
}

/// A DNS-1123 label: lower-case alphanumerics and '-', starting and ending alphanumeric, at most 63.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A Kubernetes qualified name, optionally with a DNS prefix (`sluice.io/config-checksum`).
fn is_qualified_name(s: &str) -> bool {
    let name = match s.split_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() || prefix.len() > 253 || !prefix.split('.').all(is_dns_label) {
                return false;
            }
            name
        }
        None => s,
    };
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    const HEAD: &str = "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n";

    fn err(text: &str) -> String {
        parse(&format!("{HEAD}{text}"), ".sluice.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_fill_a_minimal_policy() {
        let p = parse(HEAD, ".sluice.yaml").unwrap();
        assert!(p.checksums.enabled);
        assert_eq!(p.checksums.annotation, DEFAULT_CHECKSUM_ANNOTATION);
        assert_eq!(p.change.id_pattern, DEFAULT_ID_PATTERN);
        assert_eq!(p.backup.ttl, "720h");
        assert_eq!(p.guard.max_wait, "6h");
    }

    #[test]
    fn unknown_key_is_refused_with_its_path() {
        let e = err("backup:\n  enabeld: true\n");
        assert!(
            e.contains("backup.enabeld") && e.contains("unknown field"),
            "{e}"
        );
        let e = err(
            "windows:\n- kind: allow\n  schedule: '* * * * *'\n  duration: 1h\n  timezone: UTC\n",
        );
        assert!(e.contains("windows[0].timezone"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key_and_the_fix() {
        let e = err("change:\n  id: 1234\n");
        assert!(e.contains("change.id") && e.contains("quote"), "{e}");
    }

    #[test]
    fn header_is_checked() {
        let e = parse("apiVersion: v1\nkind: ChangePolicy\n", "p")
            .unwrap_err()
            .to_string();
        assert!(e.contains("apiVersion"), "{e}");
    }

    #[test]
    fn migrations_need_exactly_one_image_source() {
        let e = err("migrations:\n- name: schema\n");
        assert!(e.contains("migrations[0].image"), "{e}");
        let e = err("migrations:\n- name: schema\n  image: a\n  imageFrom: {kind: Deployment, name: api, container: app}\n");
        assert!(e.contains("not both"), "{e}");
        let e = err("migrations:\n- name: Schema\n  image: a\n");
        assert!(e.contains("DNS-1123"), "{e}");
    }

    #[test]
    fn change_id_must_match_the_pattern() {
        let e = err("change:\n  id: TICKET-1\n");
        assert!(e.contains("change.id") && e.contains("idPattern"), "{e}");
        let e = err("change:\n  idPattern: '('\n");
        assert!(e.contains("change.idPattern"), "{e}");
    }

    #[test]
    fn guard_enabled_accepts_auto_and_booleans() {
        assert_eq!(
            parse(&format!("{HEAD}guard: {{enabled: false}}\n"), "p")
                .unwrap()
                .guard
                .enabled,
            crate::window::GuardEnabled::Off
        );
        assert!(err("guard: {enabled: maybe}\n").contains("guard.enabled"));
    }

    #[test]
    fn alias_bomb_in_a_policy_is_refused() {
        let mut text = String::from(HEAD);
        text.push_str("x0: &a0 [1,1,1,1,1,1,1,1,1,1]\n");
        for i in 1..8 {
            let _ = writeln!(
                text,
                "x{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]",
                p = i - 1
            );
        }
        let e = parse(&text, "p").unwrap_err().to_string();
        assert!(e.contains("alias"), "{e}");
    }
}
