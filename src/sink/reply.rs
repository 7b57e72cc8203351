//! A response before it is sent: status, a JSON, text or binary body, one extra header, and whether
//! the connection closes after it. Every rejection is a JSON `{"error": …}` that names no server path.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// A response before it is sent.
pub struct Reply {
    pub status: u16,
    body: Bytes,
    content_type: &'static str,
    extra: Option<(&'static str, &'static str)>,
    /// Close the connection after this answer (the rest of the request was not read, or cannot be
    /// trusted); the connection layer then drains what the client still sends before closing.
    close: bool,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Reply {
            status,
            body: Bytes::from(body.to_string()),
            content_type: "application/json",
            extra: None,
            close: false,
        }
    }

    /// A JSON body already printed.
    pub fn json_text(status: u16, body: String) -> Self {
        Reply {
            body: Bytes::from(body),
            ..Reply::json(status, &Value::Null)
        }
    }

    /// Prometheus' text exposition.
    pub fn metrics(body: String) -> Self {
        Reply {
            status: 200,
            body: Bytes::from(body),
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            extra: None,
            close: false,
        }
    }

    /// The answer of the read side for people (src/sink/ui).
    pub fn ui(a: super::ui::Answer) -> Self {
        Reply {
            status: a.status,
            body: Bytes::from(a.body),
            content_type: a.content_type,
            extra: a.extra,
            close: false,
        }
    }

    /// A body of `content_type` as it is (a file served).
    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Reply {
            status,
            body: Bytes::from(body),
            content_type,
            extra: None,
            close: false,
        }
    }

    pub fn error(status: u16, message: impl std::fmt::Display) -> Self {
        Reply::json(status, &json!({ "error": message.to_string() }))
    }

    pub fn closing(self) -> Self {
        Reply {
            close: true,
            ..self
        }
    }

    pub fn with(self, name: &'static str, value: &'static str) -> Self {
        Reply {
            extra: Some((name, value)),
            ..self
        }
    }

    pub fn into_response(self, head_only: bool) -> Response<Full<Bytes>> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let length = self.body.len();
        let body = if head_only { Bytes::new() } else { self.body };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if head_only {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
        if let Some((name, value)) = self.extra {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if self.close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
