//! Data parallelism over slices on all cores with scoped threads: the generate pipeline parses and
//! transforms thousands of independent documents on every refresh. Results keep the input order, so
//! output stays byte-identical whatever the number of cores.

/// Below this many items the work is done on the calling thread (threads cost more than they save).
const MIN_PARALLEL: usize = 256;

fn threads_for(len: usize) -> usize {
    if len < MIN_PARALLEL {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(len)
}

/// `items.iter().map(f).collect()`, computed on all cores in contiguous slices.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads_for(items.len());
    if threads < 2 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|slice| scope.spawn(move || slice.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// `items.iter().map(f).collect()` for few items that each take long (an app's render): one item at a
/// time per thread, on all cores, each thread taking the next item when it is done.
pub fn map_each<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len());
    if threads < 2 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let (f, next) = (&f, &next);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        out.push((i, f(item)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// `consume(items.iter().map(f))`, with `f` computed on all cores at most `ahead` items in front of
/// what `consume` has taken, so that what is held at once stays bounded however many items there are
/// (a log's chunks read and checked while the calling thread joins them in order). When `consume`
/// returns early, the items not begun are never computed. If `f` panics, the iterator ends there and
/// the panic is raised again once `consume` returns.
pub fn ordered<T: Sync, R: Send, X>(
    items: &[T],
    ahead: usize,
    f: impl Fn(&T) -> R + Sync,
    consume: impl FnOnce(&mut dyn Iterator<Item = R>) -> X,
) -> X {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex, PoisonError};

    struct State<R> {
        done: BTreeMap<usize, R>,
        /// How many items `consume` has taken.
        taken: usize,
        stop: bool,
    }
    struct Shared<R> {
        state: Mutex<State<R>>,
        changed: Condvar,
    }
    impl<R> Shared<R> {
        fn lock(&self) -> std::sync::MutexGuard<'_, State<R>> {
            self.state.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }
    /// Stops everything when a worker unwinds.
    struct Guard<'s, R>(&'s Shared<R>);
    impl<R> Drop for Guard<'_, R> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.lock().stop = true;
                self.0.changed.notify_all();
            }
        }
    }
    struct InOrder<'s, R> {
        shared: &'s Shared<R>,
        next: usize,
        len: usize,
    }
    impl<R> Iterator for InOrder<'_, R> {
        type Item = R;
        fn next(&mut self) -> Option<R> {
            if self.next >= self.len {
                return None;
            }
            let mut state = self.shared.lock();
            loop {
                if let Some(r) = state.done.remove(&self.next) {
                    self.next += 1;
                    state.taken = self.next;
                    self.shared.changed.notify_all();
                    return Some(r);
                }
                if state.stop {
                    return None;
                }
                state = self
                    .shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len());
    if threads < 2 {
        return consume(&mut items.iter().map(f));
    }
    let ahead = ahead.max(threads);
    let shared = Shared {
        state: Mutex::new(State {
            done: BTreeMap::new(),
            taken: 0,
            stop: false,
        }),
        changed: Condvar::new(),
    };
    let next = AtomicUsize::new(0);
    let (f, shared, next) = (&f, &shared, &next);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(move || {
                let _guard = Guard(shared);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    {
                        let mut state = shared.lock();
                        while !state.stop && i >= state.taken + ahead {
                            state = shared
                                .changed
                                .wait(state)
                                .unwrap_or_else(PoisonError::into_inner);
                        }
                        if state.stop {
                            break;
                        }
                    }
                    let r = f(item);
                    let mut state = shared.lock();
                    if state.stop {
                        break;
                    }
                    state.done.insert(i, r);
                    shared.changed.notify_all();
                }
            });
        }
        let out = consume(&mut InOrder {
            shared,
            next: 0,
            len: items.len(),
        });
        let mut state = shared.lock();
        state.stop = true;
        state.done.clear();
        shared.changed.notify_all();
        drop(state);
        out
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ordered_gives_every_result_in_order_and_stops_early() {
        let items: Vec<u32> = (0..1_000).collect();
        let all: Vec<u32> = super::ordered(&items, 3, |x| x * 3, |it| it.collect());
        assert_eq!(all, items.iter().map(|x| x * 3).collect::<Vec<_>>());
        let computed = std::sync::atomic::AtomicUsize::new(0);
        let first: Vec<u32> = super::ordered(
            &items,
            4,
            |x| {
                computed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                *x
            },
            |it| it.take(10).collect(),
        );
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        // At most `ahead` (or one per core) past what was taken, and one in flight per core.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert!(computed.into_inner() <= 10 + 4.max(cores) + cores);
    }

    #[test]
    fn map_each_keeps_the_input_order() {
        let items: Vec<u32> = (0..37).collect();
        assert_eq!(
            super::map_each(&items, |x| x * 3),
            items.iter().map(|x| x * 3).collect::<Vec<_>>()
        );
    }

    #[test]
    fn map_keeps_the_input_order() {
        let items: Vec<u32> = (0..10_000).collect();
        assert_eq!(
            super::map(&items, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
    }
}
