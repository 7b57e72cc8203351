//! The ledger's work that need not hold up an append: writing the verified-prefix marker (it fsyncs the
//! index journal first) and, after a start, putting the idempotency keys of the log into their map. The
//! ledger owns no thread: until its owner gives it somewhere to send them
//! ([`super::Ledger::hand_chores_to`]), every chore is done at once, on the caller's thread (the
//! commands and the tests need nothing more). The owner must run what it is given one at a time, in
//! the order given (the sink runs them on a blocking task), or run it at once when it cannot.

use std::sync::mpsc;

/// One piece of work.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// A chore for the owner to run.
pub struct Chore(Job);

impl Chore {
    /// Does it (a blocking call: file writes and an fsync).
    pub fn run(self) {
        (self.0)();
    }
}

impl std::fmt::Debug for Chore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chore").finish_non_exhaustive()
    }
}

/// Where the owner takes chores.
pub type Handoff = Box<dyn Fn(Chore) + Send>;

/// The ledger's side: where chores go.
#[derive(Default)]
pub(crate) struct Queue {
    to: Option<Handoff>,
}

impl Queue {
    /// Chores go to `to` from now on.
    pub(crate) fn hand_to(&mut self, to: Handoff) {
        self.to = Some(to);
    }

    /// Whether an owner runs the chores (else they run here, at once).
    pub(crate) fn owned(&self) -> bool {
        self.to.is_some()
    }

    /// Gives `job` to the owner, or runs it here when there is none.
    pub(crate) fn run(&self, job: Job) {
        match &self.to {
            Some(to) => to(Chore(job)),
            None => job(),
        }
    }

    /// Waits until every chore given so far is done (the owner runs them in order).
    pub(crate) fn wait(&self) {
        let Some(to) = &self.to else { return };
        let (done, waited) = mpsc::sync_channel(1);
        to(Chore(Box::new(move || {
            let _ = done.send(());
        })));
        // A chore the owner dropped instead of running ends the wait too.
        let _ = waited.recv();
    }
}
