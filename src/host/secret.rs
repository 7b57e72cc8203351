//! Host credentials: a token file, or a GitHub App (its id and private key) exchanged for an
//! installation token with the permissions asked for. Takes file paths (a Kubernetes Secret mounted in
//! the sink), gives header values wrapped in [`Secret`]. Files are read when a token is made, so a
//! rotated Secret is used from the next token on; nothing here logs, prints or keeps more than the
//! current installation token.
//!
//! The App's JSON Web Token is RS256 (GitHub docs, "Generating a JSON Web Token (JWT) for a GitHub
//! App": `iat` 60 s in the past against clock drift, `exp` at most 10 minutes ahead, `iss` the App's
//! id), signed with `ring`, the crypto the crate already uses (rustls). The key is PKCS#1 (`BEGIN RSA
//! PRIVATE KEY`, what GitHub hands out) or PKCS#8 (`BEGIN PRIVATE KEY`).

pub use crate::remote::secret::{read_token, Secret, SecretError};

use base64::Engine as _;
use std::path::PathBuf;

/// The permissions an installation token is asked for (GitHub's `permissions` object of
/// `POST /app/installations/{id}/access_tokens`): the approval check reads only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    pub pull_requests: Access,
    pub contents: Access,
    pub metadata: Access,
    /// Organization members, to tell who is in a team that owns code (optional for the App).
    pub members: Option<Access>,
}

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// For a writer of the host (revert pull requests), never the approvals check.
    Write,
}

impl Permissions {
    /// What the approval check needs: pull requests, contents and metadata, read.
    pub const APPROVALS: Permissions = Permissions {
        pull_requests: Access::Read,
        contents: Access::Read,
        metadata: Access::Read,
        members: None,
    };

    /// What opening a revert pull request needs: contents (a branch and a commit) and pull
    /// requests (the pull request and its label), write; metadata, read. Asked only for the revert,
    /// never for the approvals check.
    pub const ROLLBACK: Permissions = Permissions {
        pull_requests: Access::Write,
        contents: Access::Write,
        metadata: Access::Read,
        members: None,
    };

    /// The JSON body of the token request.
    pub fn to_json(self) -> serde_json::Value {
        let name = |a: Access| match a {
            Access::Read => "read",
            Access::Write => "write",
        };
        let mut map = serde_json::Map::new();
        map.insert("pull_requests".into(), name(self.pull_requests).into());
        map.insert("contents".into(), name(self.contents).into());
        map.insert("metadata".into(), name(self.metadata).into());
        if let Some(m) = self.members {
            map.insert("members".into(), name(m).into());
        }
        serde_json::json!({ "permissions": map })
    }
}

/// A GitHub App: its id and the file of its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub id: String,
    pub key_file: PathBuf,
    /// The installation to use; `None`: the repository's (`GET /repos/{owner}/{repo}/installation`).
    pub installation: Option<u64>,
}

impl App {
    /// A JSON Web Token for the App, valid from `now - 60 s` to `now + 9 min`.
    ///
    /// # Errors
    ///
    /// The key file cannot be read or is not an RSA private key.
    pub fn jwt(&self, now: i64) -> Result<Secret, SecretError> {
        let path = self.key_file.display().to_string();
        let pem = std::fs::read_to_string(&self.key_file).map_err(|e| SecretError::File {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let key = rsa_key(&pem).map_err(|reason| SecretError::Key { path, reason })?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({"iat": now - 60, "exp": now + 540, "iss": self.id});
        let claims = b64.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .map_err(|_| SecretError::Key {
            path: self.key_file.display().to_string(),
            reason: "signing failed".into(),
        })?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            b64.encode(signature)
        )))
    }
}

/// The key of a PEM file: PKCS#1 or PKCS#8. The reason never quotes the file.
fn rsa_key(pem: &str) -> Result<ring::signature::RsaKeyPair, String> {
    let block = |label: &str| -> Option<Vec<u8>> {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let start = pem.find(&begin)? + begin.len();
        let stop = start + pem[start..].find(&end)?;
        let body: String = pem[start..stop].split_whitespace().collect();
        base64::engine::general_purpose::STANDARD.decode(body).ok()
    };
    if let Some(der) = block("RSA PRIVATE KEY") {
        return ring::signature::RsaKeyPair::from_der(&der).map_err(|e| e.to_string());
    }
    if let Some(der) = block("PRIVATE KEY") {
        return ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| e.to_string());
    }
    Err("no PEM block found".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("ghs_top_secret".into());
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "ghs_top_secret");
    }

    #[test]
    fn token_files_are_trimmed_and_errors_name_the_file_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "glpat-abc\n").unwrap();
        assert_eq!(read_token(&path).unwrap().expose(), "glpat-abc");
        std::fs::write(&path, " \n").unwrap();
        let e = read_token(&path).unwrap_err().to_string();
        assert!(e.ends_with("the token file is empty"), "{e}");
        let key = dir.path().join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        let app = App {
            id: "1".into(),
            key_file: key,
            installation: None,
        };
        let e = app.jwt(0).unwrap_err().to_string();
        assert!(e.contains("not an RSA private key"), "{e}");
        assert!(!e.contains("bm90IGEga2V5"), "{e}");
    }

    #[test]
    fn read_only_permissions_are_asked_for() {
        assert_eq!(
            Permissions::APPROVALS.to_json(),
            serde_json::json!({"permissions": {"pull_requests": "read", "contents": "read", "metadata": "read"}})
        );
        // Write only for the writer of revert pull requests, and only what that needs.
        assert_eq!(
            Permissions::ROLLBACK.to_json(),
            serde_json::json!({"permissions": {"pull_requests": "write", "contents": "write", "metadata": "read"}})
        );
    }
}
