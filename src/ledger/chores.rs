//! The ledger's work that need not hold up an append: writing the verified-prefix marker (it fsyncs the
//! index journal first) and, after a start, putting the idempotency keys of the log into their map. The
//! ledger owns no thread: until its owner takes the [`Chores`] ([`super::Ledger::take_chores`]) and runs
//! them where it likes, every chore is done at once, on the caller's thread (the commands and the tests
//! need nothing more). Chores run one at a time, in the order they were given.

use std::sync::mpsc;

/// One piece of work.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The ledger's side: where chores go.
#[derive(Default)]
pub(crate) struct Queue {
    tx: Option<mpsc::Sender<Job>>,
}

impl Queue {
    /// A queue and the owner's end of it.
    pub(crate) fn deferred() -> (Self, Chores) {
        let (tx, rx) = mpsc::channel();
        (Queue { tx: Some(tx) }, Chores { rx })
    }

    /// Gives `job` to the owner, or runs it here when there is none (or it has gone).
    pub(crate) fn run(&self, job: Job) {
        match &self.tx {
            Some(tx) => {
                if let Err(mpsc::SendError(job)) = tx.send(job) {
                    job();
                }
            }
            None => job(),
        }
    }

    /// Waits until every chore given so far is done.
    pub(crate) fn wait(&self) {
        let Some(tx) = &self.tx else { return };
        let (done, waited) = mpsc::sync_channel(1);
        let signal: Job = Box::new(move || {
            let _ = done.send(());
        });
        if tx.send(signal).is_ok() {
            // An owner that stopped running them has dropped its end: then the wait ends too.
            let _ = waited.recv();
        }
    }
}

/// The owner's end: the chores to run, in order, until the ledger is dropped.
pub struct Chores {
    rx: mpsc::Receiver<Job>,
}

impl std::fmt::Debug for Chores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chores").finish_non_exhaustive()
    }
}

impl Chores {
    /// Runs the chores as they come, until the ledger is dropped and every chore given is done. A
    /// blocking call: run it on a thread that may block (the sink runs it on a blocking task).
    pub fn run(self) {
        for job in self.rx {
            job();
        }
    }
}
