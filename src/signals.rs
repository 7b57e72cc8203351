//! SIGTERM and SIGINT for the two servers (the sink and the witness). The handlers are installed when
//! [`Stop::listen`] is called, before the server accepts its first connection: a signal that arrives
//! once the server has answered anything stops it in order (stop accepting, answer what is in
//! flight, fsync) and never takes the default action, which kills the process where it stands.
//!
//! An `async fn` that calls `tokio::signal::unix::signal` installs nothing until it is first polled,
//! and a server's accept loop may answer a request before that: this module exists so that the
//! order is one function call, not the scheduler's choice.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// SIGTERM and SIGINT, listened for from the moment this was made.
pub struct Stop {
    term: Signal,
    int: Signal,
}

impl Stop {
    /// Installs the handlers now. Must be called within a Tokio runtime with its I/O driver.
    ///
    /// # Errors
    ///
    /// A handler cannot be installed (the process then keeps the default action).
    pub fn listen() -> std::io::Result<Stop> {
        Ok(Stop {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// [`Stop::listen`] within `runtime`; on failure a warning that `server` (the sink, the witness)
    /// then stops only when killed, and `None`.
    pub fn listen_in(runtime: &tokio::runtime::Runtime, server: &str) -> Option<Stop> {
        let _runtime = runtime.enter();
        Stop::listen()
            .inspect_err(|e| {
                tracing::warn!(error = %e, "cannot listen for SIGTERM/SIGINT; the {server} stops only when killed");
            })
            .ok()
    }

    /// Resolves on the first SIGTERM or SIGINT since [`Stop::listen`]: its name.
    pub async fn received(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }

    /// [`Stop::received`] of `signals`; never, when there are none to listen for.
    pub async fn received_if(signals: Option<Stop>) -> &'static str {
        match signals {
            Some(signals) => signals.received().await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signal sent after `listen` but before anything awaits it is neither lost nor fatal. Were the
    /// handlers installed lazily (on the first poll), the SIGTERM below would kill the test process.
    #[test]
    fn a_signal_between_listen_and_the_first_await_is_received() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let stop = runtime.block_on(async { Stop::listen() }).expect("listen");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        let name = runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_mins(1), stop.received()).await
        });
        assert_eq!(name, Ok("SIGTERM"));
    }
}
