//! The framing rules of RFC 9112 that hyper leaves to the application, checked on the request head
//! hyper parsed (never on raw bytes: hyper and its parser, httparse, do the parsing). hyper already
//! refuses NUL, bare CR and other control bytes in a head, obsolete line folding, invalid or
//! conflicting `Content-Length` values, and a `Transfer-Encoding` whose last coding is not `chunked`
//! (all 400), and closes the connection after a request that had both `Content-Length` and
//! `Transfer-Encoding`. What is left:
//!
//! - `Host` (RFC 9112 §3.2): exactly one in an HTTP/1.1 request, at most one in HTTP/1.0, and a valid
//!   authority; else 400.
//! - `Transfer-Encoding` (§6.1): only the single coding `chunked`; `gzip, chunked` or `chunked, chunked`
//!   and other codings stacked on it are 501 (a coding the sink does not implement); a value that is
//!   not a list of tokens is 400.
//! - `Content-Length` (§6.2): ASCII digits only, one value (hyper accepts the list `5, 5`); else 400.
//!
//! Every refusal closes the connection: the rest of the stream cannot be trusted to be framed.

use hyper::header::{HeaderMap, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use hyper::Version;

/// Why a request head is refused: the status and the reason for the JSON error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

const fn refuse(status: u16, reason: &'static str) -> Refusal {
    Refusal { status, reason }
}

/// Checks the framing headers of a request head.
///
/// # Errors
///
/// The first rule the head breaks.
pub fn check(version: Version, headers: &HeaderMap) -> Result<(), Refusal> {
    let hosts: Vec<_> = headers.get_all(HOST).iter().collect();
    match (hosts.as_slice(), version) {
        ([], Version::HTTP_10) => {}
        ([], _) => return Err(refuse(400, "an HTTP/1.1 request needs a Host header")),
        ([host], _) => {
            let valid = host
                .to_str()
                .ok()
                .filter(|h| !h.contains(['@', '/', '?', '#']))
                .is_some_and(|h| h.is_empty() || h.parse::<hyper::http::uri::Authority>().is_ok());
            if !valid {
                return Err(refuse(400, "invalid Host header"));
            }
        }
        _ => return Err(refuse(400, "more than one Host header")),
    }
    for length in headers.get_all(CONTENT_LENGTH) {
        let bytes = length.as_bytes();
        if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(refuse(400, "Content-Length must be digits only"));
        }
    }
    let mut codings = Vec::new();
    for value in headers.get_all(TRANSFER_ENCODING) {
        let text = value
            .to_str()
            .map_err(|_| refuse(400, "invalid Transfer-Encoding"))?;
        for coding in text.split(',') {
            let coding = coding.trim_matches([' ', '\t']);
            // A transfer coding is a token, optionally with parameters (RFC 9112 §7).
            let name = coding
                .split(';')
                .next()
                .unwrap_or("")
                .trim_matches([' ', '\t']);
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(refuse(400, "invalid Transfer-Encoding"));
            }
            codings.push(coding);
        }
    }
    match codings.as_slice() {
        [] => Ok(()),
        [only] if only.eq_ignore_ascii_case("chunked") => Ok(()),
        _ => Err(refuse(
            501,
            "only the chunked transfer coding is implemented, alone",
        )),
    }
}

/// A `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn head(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    fn status(version: Version, pairs: &[(&'static str, &[u8])]) -> u16 {
        check(version, &head(pairs)).map_or_else(|r| r.status, |()| 200)
    }

    #[test]
    fn host_rules() {
        let v11 = Version::HTTP_11;
        assert_eq!(status(v11, &[("host", b"sink:8080")]), 200);
        assert_eq!(status(v11, &[("host", b"[::1]:8080")]), 200);
        assert_eq!(status(v11, &[]), 400);
        assert_eq!(status(Version::HTTP_10, &[]), 200);
        assert_eq!(status(v11, &[("host", b"a"), ("host", b"a")]), 400);
        assert_eq!(status(v11, &[("host", b"a b")]), 400);
        assert_eq!(status(v11, &[("host", b"u@a")]), 400);
        assert_eq!(status(v11, &[("host", b"a/b")]), 400);
    }

    #[test]
    fn transfer_codings() {
        let h = |te: &'static [u8]| {
            status(
                Version::HTTP_11,
                &[("host", b"a"), ("transfer-encoding", te)],
            )
        };
        assert_eq!(h(b"chunked"), 200);
        assert_eq!(h(b"Chunked"), 200);
        assert_eq!(h(b"gzip, chunked"), 501);
        assert_eq!(h(b"chunked, chunked"), 501);
        assert_eq!(h(b"gzip"), 501);
        assert_eq!(h(b"chunked\xa0"), 400);
        assert_eq!(h(b"chunked;q=1"), 501);
        assert_eq!(h(b", chunked"), 400);
    }

    #[test]
    fn content_length_is_digits_only() {
        let h =
            |cl: &'static [u8]| status(Version::HTTP_11, &[("host", b"a"), ("content-length", cl)]);
        assert_eq!(h(b"42"), 200);
        assert_eq!(h(b"+42"), 400);
        assert_eq!(h(b"4 2"), 400);
        assert_eq!(h(b"5, 5"), 400);
        assert_eq!(h(b"42\xc2\xa0"), 400);
        assert_eq!(h(b""), 400);
    }
}
