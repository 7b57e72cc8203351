//! What the benches share: a `sluice serve` child killed on drop, a keep-alive HTTP/1.1 client over
//! one connection, and percentiles. Included by each bench with `#[path]` (not a bench itself).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::Duration;

/// The binary measured: `SLUICE_BIN` (another build, for alternating runs against it), else this one.
pub fn sluice_bin() -> std::ffi::OsString {
    std::env::var_os("SLUICE_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_sluice").into())
}

/// `sluice serve` listening on `addr` over `data_dir`, with no credential asked of the bench's
/// clients: `--insecure-no-auth` (loopback only) for a build that refuses to start without a token,
/// nothing for an older build that has no such flag (alternating runs against it).
pub fn serve_args(
    bin: &std::ffi::OsStr,
    addr: &str,
    data_dir: &std::path::Path,
) -> Vec<std::ffi::OsString> {
    let help = std::process::Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut args: Vec<std::ffi::OsString> = vec!["serve".into()];
    if help.contains("--insecure-no-auth") {
        args.push("--insecure-no-auth".into());
    }
    args.extend([
        "--listen".into(),
        addr.into(),
        "--data-dir".into(),
        data_dir.into(),
    ]);
    args
}

/// A running `sluice serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A keep-alive HTTP/1.1 client over one connection.
pub struct Client {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Client {
    pub fn connect(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_mins(1)))?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            stream,
        })
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.write_all(req.as_bytes())?;
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line)?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
        let mut length = 0;
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h)?;
            if h == "\r\n" || h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut buf = vec![0; length];
        self.reader.read_exact(&mut buf)?;
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}
