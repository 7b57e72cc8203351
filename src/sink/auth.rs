//! Who may do what: each route needs an [`Access`], and [`Auth`] decides whether a request's
//! credentials give it. Today the credentials are bearer tokens (a write token for the posts, a read
//! token for the queries, compared digest to digest in constant time); a new kind of credential (scoped
//! tokens, a Kubernetes `TokenReview`) is a new variant of [`Credential`] and one arm of
//! [`Auth::check`], which is async so that such a check may ask another service. Never logs a token.

use hyper::header::{HeaderMap, AUTHORIZATION};
use sha2::{Digest, Sha256};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: probes and metrics (and the read side for people, src/sink/ui, which checks credentials
    /// of its own).
    Public,
    /// Reading the log (`GET /v1/records`).
    Read,
    /// Writing to the log (`POST /v1/events`, `/v1/guard`, `/v1/decide`, `/v1/verifications`).
    Write,
}

/// A credential the sink accepts, and what it allows.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A bearer token, as its SHA-256 (compared digest to digest, so the comparison does not depend on
    /// the token's length), allowing `access` and below it (write allows read only when `read_too`).
    Bearer {
        digest: [u8; 32],
        access: Access,
        read_too: bool,
    },
}

/// The credentials of a request that were accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// No credential was needed.
    Anyone,
    /// A bearer token.
    Token,
}

/// A refused request: the answer says why, and asks for a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// The sink's credentials.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    credentials: Vec<Credential>,
}

impl Auth {
    /// Bearer tokens: `write` for the posts; `read` for the queries, or, without one, the write token
    /// for those too. No write token: no authentication at all.
    pub fn tokens(write: Option<&str>, read: Option<&str>) -> Self {
        let mut credentials = Vec::new();
        if let Some(w) = write {
            credentials.push(Credential::Bearer {
                digest: digest(w),
                access: Access::Write,
                read_too: read.is_none(),
            });
        }
        if let Some(r) = read {
            credentials.push(Credential::Bearer {
                digest: digest(r),
                access: Access::Read,
                read_too: true,
            });
        }
        Auth { credentials }
    }

    /// Whether requests must authenticate at all.
    pub fn required(&self) -> bool {
        !self.credentials.is_empty()
    }

    /// Whether a separate read token is configured.
    pub fn has_read_token(&self) -> bool {
        self.credentials.iter().any(|c| {
            matches!(
                c,
                Credential::Bearer {
                    access: Access::Read,
                    ..
                }
            )
        })
    }

    /// Whether the request's credentials give `access`.
    ///
    /// # Errors
    ///
    /// They do not ([`Refused`]: 401 with `WWW-Authenticate: Bearer`).
    // Async although bearer tokens need no wait: a credential checked by another service (a
    // Kubernetes `TokenReview`) is one more arm here, and callers already await it.
    #[allow(clippy::unused_async)]
    pub async fn check(&self, headers: &HeaderMap, access: Access) -> Result<Principal, Refused> {
        if access == Access::Public || !self.required() {
            return Ok(Principal::Anyone);
        }
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .map(digest);
        let Some(presented) = presented else {
            return Err(Refused);
        };
        let allowed = self.credentials.iter().any(|c| match c {
            Credential::Bearer {
                digest,
                access: given,
                read_too,
            } => {
                let covers = *given == access || (access == Access::Read && *read_too);
                // Compare every token, so the time taken does not say which one matched.
                constant_time_eq(digest, &presented) & covers
            }
        });
        if allowed {
            Ok(Principal::Token)
        } else {
            Err(Refused)
        }
    }
}

/// The token of a `Bearer` credential (scheme case-insensitive, RFC 7235).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// SHA-256 of a token.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equality that takes the same time wherever the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(token: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(t) = token {
            h.insert(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            );
        }
        h
    }

    fn check(auth: &Auth, token: Option<&str>, access: Access) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(auth.check(&headers(token), access)).is_ok()
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn tokens_allow_what_they_are_for() {
        let open = Auth::tokens(None, None);
        assert!(check(&open, None, Access::Write));
        let both = Auth::tokens(Some("w"), Some("r"));
        assert!(check(&both, Some("w"), Access::Write));
        assert!(
            !check(&both, Some("w"), Access::Read),
            "a read token is configured"
        );
        assert!(check(&both, Some("r"), Access::Read));
        assert!(!check(&both, Some("r"), Access::Write));
        assert!(!check(&both, None, Access::Read));
        assert!(check(&both, None, Access::Public));
        let write_only = Auth::tokens(Some("w"), None);
        assert!(check(&write_only, Some("w"), Access::Read));
        assert!(!check(&write_only, Some("x"), Access::Read));
    }

    #[test]
    fn constant_time_eq_compares_all_bytes() {
        let a = digest("secret");
        assert!(constant_time_eq(&a, &digest("secret")));
        assert!(!constant_time_eq(&a, &digest("secreT")));
    }
}
