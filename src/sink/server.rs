//! A small HTTP/1.1 server for the sink: a bounded pool of worker threads that each accept a
//! connection and serve its requests (keep-alive) one after another, with every input bounded: the
//! request head (line length, header count, total size), the body (`Content-Length` checked before a
//! byte is read, chunked bodies counted as they arrive), and time (socket read/write timeouts).
//!
//! It replaces `tiny_http` 0.12, which the sink first used: that crate allocates a buffer as large as a
//! declared `Content-Length` when it discards an unread body (one request with `Content-Length: 10^11`
//! aborts the process before authentication), reads header lines without a length limit, stops
//! accepting for good after one accept error, and can leave a new connection waiting for a thread
//! until another connection closes. Nothing here parses more than the sink needs: no pipelining
//! beyond one request at a time per connection, no trailers, no upgrades.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Longest request line, and longest header line.
const MAX_LINE: usize = 8 * 1024;
/// Largest request head (request line and headers).
const MAX_HEAD: usize = 32 * 1024;
/// Most header fields.
const MAX_HEADERS: usize = 100;

/// The request method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Other(String),
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Other(m) => m,
        })
    }
}

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
}

/// One request: its head, and its body to be read on demand (so that a request refused before its
/// body is read, e.g. for want of a token, costs nothing).
pub struct Request<'c> {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    http10: bool,
    body: Body<'c>,
}

impl Request<'_> {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target as sent (`/v1/records?app=x`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The declared body length, when the body is not chunked.
    pub fn body_length(&self) -> Option<u64> {
        match self.body.framing {
            Framing::Length(n) => Some(n),
            Framing::Chunked => None,
        }
    }

    /// The body as a reader.
    pub fn body(&mut self) -> &mut dyn Read {
        &mut self.body
    }

    fn keep_alive(&self) -> bool {
        let connection = self.header("Connection").unwrap_or("");
        let has = |token: &str| {
            connection
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.http10 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }
}

/// A response.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(&'static str, &'static str)>,
}

/// The body of a request, bounded by its framing.
struct Body<'c> {
    reader: &'c mut BufReader<TcpStream>,
    writer: &'c TcpStream,
    framing: Framing,
    /// Bytes left of the body (Content-Length) or of the current chunk.
    remaining: u64,
    /// For chunked bodies: the last chunk has been read.
    done: bool,
    /// `Expect: 100-continue` was sent and the interim response is still owed.
    continue_owed: bool,
}

impl Body<'_> {
    fn finished(&self) -> bool {
        match self.framing {
            Framing::Length(_) => self.remaining == 0,
            Framing::Chunked => self.done,
        }
    }

    /// Reads the next chunk-size line; sets `remaining` (0 marks the end and consumes the trailer).
    fn next_chunk(&mut self) -> io::Result<()> {
        let line = read_line(self.reader, MAX_LINE)?
            .ok_or_else(|| io::Error::new(ErrorKind::UnexpectedEof, "the body ended early"))?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailer fields are read and ignored, up to the empty line.
            let mut read = 0;
            loop {
                let line = read_line(self.reader, MAX_LINE)?.unwrap_or_default();
                read += line.len();
                if line.is_empty() || read > MAX_HEAD {
                    break;
                }
            }
            self.done = true;
        }
        self.remaining = size;
        Ok(())
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.continue_owed {
            self.continue_owed = false;
            let mut w = self.writer;
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        if self.finished() || buf.is_empty() {
            return Ok(0);
        }
        if self.framing == Framing::Chunked && self.remaining == 0 {
            self.next_chunk()?;
            if self.done {
                return Ok(0);
            }
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "the body ended early",
            ));
        }
        self.remaining -= n as u64;
        if self.framing == Framing::Chunked && self.remaining == 0 {
            // Each chunk ends with CRLF.
            let end = read_line(self.reader, 2)?;
            if end.as_deref() != Some("") {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "a chunk does not end with CRLF",
                ));
            }
        }
        Ok(n)
    }
}

/// Reads one line ending in LF (CRLF or LF), without the line end; `None` at a clean end of stream.
/// A line longer than `max` is an error, whatever the peer sends.
fn read_line(reader: &mut BufReader<TcpStream>, max: usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(max as u64 + 2)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            if n > max {
                ErrorKind::InvalidData
            } else {
                ErrorKind::UnexpectedEof
            },
            "line too long or cut off",
        ));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| io::Error::new(ErrorKind::InvalidData, "the request head is not UTF-8"))
}

/// Why a request head was refused: the status to answer with, and the reason.
struct HeadError(u16, &'static str);

/// A parsed request head: method, target, header fields, and whether it is HTTP/1.0.
struct Head {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    http10: bool,
}

/// Reads a request head; `Ok(None)` when the peer closed or idled out between requests.
fn read_head(reader: &mut BufReader<TcpStream>) -> Result<Option<Head>, HeadError> {
    let bad = |e: io::Error, status: u16, why: &'static str| match e.kind() {
        ErrorKind::InvalidData => HeadError(status, why),
        _ => HeadError(0, "connection ended"),
    };
    // Blank lines before a request line are allowed (RFC 9112 §2.2).
    let line = loop {
        match read_line(reader, MAX_LINE) {
            Ok(None) => return Ok(None),
            Ok(Some(l)) if l.is_empty() => {}
            Ok(Some(l)) => break l,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(None)
            }
            Err(e) => return Err(bad(e, 414, "the request line is too long")),
        }
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(url), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError(400, "malformed request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(HeadError(505, "only HTTP/1.0 and HTTP/1.1 are served")),
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => Method::Other(m.into()),
        _ => return Err(HeadError(400, "malformed method")),
    };
    let mut headers = Vec::new();
    let mut size = line.len();
    loop {
        let line = match read_line(reader, MAX_LINE) {
            Ok(Some(l)) => l,
            Ok(None) => return Err(HeadError(0, "connection ended")),
            Err(e) => return Err(bad(e, 431, "a header line is too long")),
        };
        if line.is_empty() {
            break;
        }
        size += line.len();
        if size > MAX_HEAD || headers.len() >= MAX_HEADERS {
            return Err(HeadError(431, "the request head is too large"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(HeadError(400, "malformed header line"));
        };
        if name.is_empty() || name.ends_with(' ') || name.starts_with([' ', '\t']) {
            return Err(HeadError(400, "malformed header name"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Some(Head {
        method,
        url: url.to_string(),
        headers,
        http10,
    }))
}

/// The body framing of a request head (RFC 9112 §6.3): chunked wins; conflicting or invalid
/// `Content-Length` values are refused; no framing means no body.
fn framing(headers: &[(String, String)]) -> Result<Framing, HeadError> {
    fn get<'a>(
        headers: &'a [(String, String)],
        name: &'a str,
    ) -> impl Iterator<Item = &'a (String, String)> {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
    }
    if let Some((_, te)) = get(headers, "Transfer-Encoding").last() {
        return if te
            .rsplit(',')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"))
        {
            Ok(Framing::Chunked)
        } else {
            Err(HeadError(501, "only chunked transfer coding is supported"))
        };
    }
    let mut length = None;
    for (_, v) in get(headers, "Content-Length") {
        let n: u64 = v
            .parse()
            .map_err(|_| HeadError(400, "invalid Content-Length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(HeadError(400, "conflicting Content-Length headers"));
        }
        length = Some(n);
    }
    Ok(Framing::Length(length.unwrap_or(0)))
}

/// Serves requests on `listener` from the calling thread until accepting fails for good; run it on each
/// worker thread. `handle` answers one request.
pub fn run_worker(
    listener: &TcpListener,
    timeout: Duration,
    handle: &dyn Fn(&mut Request<'_>) -> Response,
) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = serve_connection(stream, timeout, handle) {
                    tracing::debug!(error = %e, "connection ended");
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of file descriptors and the like: pause instead of spinning, then go on.
                tracing::warn!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn serve_connection(
    stream: TcpStream,
    timeout: Duration,
    handle: &dyn Fn(&mut Request<'_>) -> Response,
) -> io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    let writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    loop {
        let head = match read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) | Err(HeadError(0, _)) => return Ok(()),
            Err(HeadError(status, why)) => {
                return write_response(&writer, &error_response(status, why), false, false);
            }
        };
        let Head {
            method,
            url,
            headers,
            http10,
        } = head;
        let framing = match framing(&headers) {
            Ok(f) => f,
            Err(HeadError(status, why)) => {
                return write_response(&writer, &error_response(status, why), false, false);
            }
        };
        let continue_owed = !http10
            && headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case("Expect") && v.eq_ignore_ascii_case("100-continue")
            });
        let mut request = Request {
            method,
            url,
            headers,
            http10,
            body: Body {
                reader: &mut reader,
                writer: &writer,
                framing,
                remaining: match framing {
                    Framing::Length(n) => n,
                    Framing::Chunked => 0,
                },
                done: false,
                continue_owed,
            },
        };
        let response = handle(&mut request);
        // A connection whose body was not read to its end cannot carry another request.
        let keep_alive = request.keep_alive() && request.body.finished();
        let head_only = request.method == Method::Head;
        write_response(&writer, &response, keep_alive, head_only)?;
        if !keep_alive {
            return Ok(());
        }
    }
}

fn error_response(status: u16, why: &str) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: serde_json::json!({ "error": why }).to_string(),
        headers: Vec::new(),
    }
}

fn write_response(
    mut w: &TcpStream,
    r: &Response,
    keep_alive: bool,
    head_only: bool,
) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        if keep_alive { "keep-alive" } else { "close" },
    );
    for (name, value) in &r.headers {
        // Writing to a String cannot fail.
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&r.body);
    }
    w.write_all(out.as_bytes())?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}
