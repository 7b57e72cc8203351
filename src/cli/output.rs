//! stdout and stderr for the commands. Results go to stdout after the work is done (in one write, or
//! through a buffer from where they are held: `generate`'s documents); a reader that went away (`sluice audit list | head -1`) ends the command quietly with exit 0 instead
//! of a panic. stderr carries logs and the one error line, and a failing stderr (closed, or on a full
//! disk) is ignored: losing a log line must never kill a command or a sink worker.

use super::error::{Error, Result};
use std::io::{ErrorKind, Write};

/// Writes a command's result to stdout and flushes it.
///
/// # Errors
///
/// [`Error::StdoutClosed`] when the reader went away (exit 0, nothing said), an I/O error otherwise.
pub(crate) fn print(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            ErrorKind::BrokenPipe => Error::StdoutClosed,
            _ => Error::Reported {
                exit: super::error::Exit::Failure,
                message: format!("cannot write the result to stdout: {e}"),
            },
        })
}

/// [`print`] of what `write` writes, through a buffer: for a result too large to build in memory
/// first (`generate`'s documents, written from where they are held).
///
/// # Errors
///
/// As [`print`].
pub(crate) fn print_with(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            ErrorKind::BrokenPipe => Error::StdoutClosed,
            _ => Error::io("stdout", e),
        })
}

/// [`print`] of one line.
pub(crate) fn print_line(line: &str) -> Result<()> {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    print(text.as_bytes())
}

/// The one error line on stderr: `sluice: …`. Nothing happens when stderr cannot be written.
pub fn report(err: &Error) {
    if err.is_reported() {
        let _ = writeln!(std::io::stderr().lock(), "sluice: {err}");
    }
}

/// stderr for the log: a line that cannot be written is dropped, never an error or a panic.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Claiming the bytes were written keeps `write_all` from retrying or failing.
        let _ = std::io::stderr().lock().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_writer_claims_every_byte() {
        let mut w = LogWriter;
        assert_eq!(w.write(b"abc").expect("never fails"), 3);
        w.flush().expect("never fails");
    }
}
