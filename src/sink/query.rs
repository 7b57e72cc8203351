//! Where `GET /v1/records` runs: on query threads at the lowest CPU priority (`SCHED_IDLE`), one less
//! than the cores (at least one), so that readers, however many, never take CPU that the writer and the
//! request handlers want. Started on the first query. The writer never waits for them.

use crate::ledger::{Reader, Select};
use crate::record::{self, ReadError, Record};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

/// A query to run on a query thread.
type Job = Box<dyn FnOnce() + Send>;

/// The query threads.
#[derive(Default)]
pub struct QueryPool {
    jobs: OnceLock<Option<mpsc::Sender<Job>>>,
}

impl QueryPool {
    /// Runs `job` on a query thread; gives it back when there is none (it then runs on the caller).
    fn run(&self, job: Job) -> Result<(), Job> {
        let jobs = self.jobs.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            let mut started = 0;
            for i in 0..cores.saturating_sub(1).max(1) {
                let rx = Arc::clone(&rx);
                let spawned = std::thread::Builder::new()
                    .name(format!("audit-query-{i}"))
                    .spawn(move || {
                        let idle = thread_priority::ThreadSchedulePolicy::Normal(
                            thread_priority::NormalThreadSchedulePolicy::Idle,
                        );
                        if let Err(e) = thread_priority::set_thread_priority_and_policy(
                            thread_priority::thread_native_id(),
                            thread_priority::ThreadPriority::Min,
                            idle,
                        ) {
                            tracing::debug!(error = ?e, "queries run at normal priority");
                        }
                        loop {
                            let job = match rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            match job {
                                Ok(job) => job(),
                                Err(_) => return,
                            }
                        }
                    });
                started += usize::from(spawned.is_ok());
            }
            (started > 0).then_some(tx)
        });
        match jobs {
            Some(tx) => tx.send(job).map_err(|mpsc::SendError(job)| job),
            None => Err(job),
        }
    }

    /// The records `select` wants (see [`Reader::query`]), typed, answered by a query thread.
    ///
    /// # Errors
    ///
    /// The log cannot be read, or a record does not fit the typed model.
    pub fn query(
        &self,
        reader: &Reader,
        select: &Select,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Record>, ReadError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let (me, s) = (reader.clone(), select.clone());
        let job: Job = Box::new(move || {
            let _ = tx.send(answer(&me, &s, after, limit));
        });
        match self.run(job) {
            Ok(()) => match rx.recv() {
                Ok(answer) => answer,
                Err(_) => answer(reader, select, after, limit),
            },
            Err(_) => answer(reader, select, after, limit),
        }
    }
}

fn answer(
    reader: &Reader,
    select: &Select,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Record>, ReadError> {
    reader
        .query(select, after, limit, &|| false)?
        .into_iter()
        .map(record::read_found)
        .collect()
}
