//! Data parallelism over slices on all cores with scoped threads: the generate pipeline parses and
//! transforms thousands of independent documents on every refresh. Results keep the input order, so
//! output stays byte-identical whatever the number of cores. The ledger's first start and `audit verify`
//! check chunks of the log on all cores and join them in order as they come ([`map_in_order`]); the
//! tiles written at that start are fsynced on many threads at once ([`for_each_blocking`]).

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

/// A result of [`map_in_order`], made on another thread: dropped, it goes back to that thread to be
/// freed there (memory freed on the thread that allocated it costs a fraction of memory freed on
/// another).
pub struct Made<'a, R: Send> {
    value: Option<R>,
    back: Option<&'a std::sync::Mutex<Vec<R>>>,
}

impl<R: Send> std::ops::Deref for Made<'_, R> {
    type Target = R;
    fn deref(&self) -> &R {
        // Some until dropped.
        self.value.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl<R: Send> Made<'_, R> {
    /// The result itself, to keep or move on (then freed wherever it is dropped).
    pub fn into_inner(mut self) -> R {
        // Some until dropped, and `self` is not dropped before this.
        self.value.take().unwrap_or_else(|| unreachable!())
    }
}

impl<R: Send> Drop for Made<'_, R> {
    fn drop(&mut self) {
        if let (Some(value), Some(back)) = (self.value.take(), self.back) {
            back.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(value);
        }
    }
}

/// `items.iter().map(f)` on all cores, each thread taking the next item when it is done, given in
/// input order to `consume` on the calling thread while the others are computed: at most `ahead`
/// items are computed and not yet consumed (the memory they hold is bounded). A result dropped by
/// `consume` is freed by the thread that made it. When `consume` returns, the items not started are
/// left undone. A panic in `f` is raised again here.
pub fn map_in_order<T: Sync, R: Send, O>(
    items: &[T],
    ahead: usize,
    f: impl Fn(&T) -> R + Sync,
    consume: impl FnOnce(&mut dyn Iterator<Item = Made<'_, R>>) -> O,
) -> O {
    use std::collections::BTreeMap;
    use std::sync::{Condvar, Mutex, PoisonError};
    struct State<R> {
        /// The next item to start, and the next the consumer takes.
        next: usize,
        taken: usize,
        /// Each result, and the thread that made it.
        done: BTreeMap<usize, (R, usize)>,
        /// The consumer returned, or a thread panicked: no item is started any more.
        stop: bool,
        panicked: bool,
    }
    struct Shared<R> {
        state: Mutex<State<R>>,
        /// A result arrived, or room for another item.
        changed: Condvar,
        /// Per thread, the results given back to be freed there.
        back: Vec<Mutex<Vec<R>>>,
    }
    /// Wakes the consumer when a worker panics, so that it does not wait for a result forever.
    struct OnPanic<'a, R>(&'a Shared<R>);
    impl<R> Drop for OnPanic<'_, R> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let mut s = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
                s.panicked = true;
                s.stop = true;
                self.0.changed.notify_all();
            }
        }
    }
    struct InOrder<'a, R> {
        shared: &'a Shared<R>,
        len: usize,
    }
    impl<'a, R: Send> Iterator for InOrder<'a, R> {
        type Item = Made<'a, R>;
        fn next(&mut self) -> Option<Made<'a, R>> {
            let mut s = self
                .shared
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            loop {
                if s.taken >= self.len || s.panicked {
                    return None;
                }
                let at = s.taken;
                if let Some((value, by)) = s.done.remove(&at) {
                    s.taken += 1;
                    self.shared.changed.notify_all();
                    return Some(Made {
                        value: Some(value),
                        back: self.shared.back.get(by),
                    });
                }
                s = self
                    .shared
                    .changed
                    .wait(s)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }
    let ahead = ahead.max(1);
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len());
    if threads < 2 {
        return consume(&mut items.iter().map(|item| Made {
            value: Some(f(item)),
            back: None,
        }));
    }
    let shared = Shared {
        state: Mutex::new(State {
            next: 0,
            taken: 0,
            done: BTreeMap::new(),
            stop: false,
            panicked: false,
        }),
        changed: Condvar::new(),
        back: (0..threads).map(|_| Mutex::new(Vec::new())).collect(),
    };
    let (f, shared) = (&f, &shared);
    let free = |id: usize| {
        let given = std::mem::take(
            &mut *shared.back[id]
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        drop(given);
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|id| {
                scope.spawn(move || {
                    let _wake = OnPanic(shared);
                    loop {
                        free(id);
                        let i = {
                            let mut s = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
                            while !s.stop && s.next < items.len() && s.next >= s.taken + ahead {
                                s = shared
                                    .changed
                                    .wait(s)
                                    .unwrap_or_else(PoisonError::into_inner);
                            }
                            if s.stop || s.next >= items.len() {
                                break;
                            }
                            s.next += 1;
                            s.next - 1
                        };
                        let r = f(&items[i]);
                        let mut s = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
                        s.done.insert(i, (r, id));
                        shared.changed.notify_all();
                    }
                })
            })
            .collect();
        let out = consume(&mut InOrder {
            shared,
            len: items.len(),
        });
        let left = {
            let mut s = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            s.stop = true;
            shared.changed.notify_all();
            std::mem::take(&mut s.done)
        };
        drop(left);
        for h in handles {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
        out
    })
}

/// `items.iter().for_each(f)` for blocking calls (an fsync each): on `threads` threads, whatever the
/// number of cores, since they mostly wait; each takes the next item when it is done.
pub fn for_each_blocking<T: Sync>(items: &[T], threads: usize, f: impl Fn(&T) + Sync) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = threads.min(items.len());
    if threads < 2 {
        items.iter().for_each(f);
        return;
    }
    let next = AtomicUsize::new(0);
    let (f, next) = (&f, &next);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                        f(item);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
    });
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn map_in_order_gives_every_result_in_order_and_stops_early() {
        let items: Vec<u32> = (0..1000).collect();
        let got = super::map_in_order(
            &items,
            3,
            |x| x * 5,
            |it| it.map(|m| *m).collect::<Vec<_>>(),
        );
        assert_eq!(got, items.iter().map(|x| x * 5).collect::<Vec<_>>());
        let started = std::sync::atomic::AtomicUsize::new(0);
        let first = super::map_in_order(
            &items,
            2,
            |x| {
                started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                *x
            },
            |it| it.take(3).map(|m| *m).collect::<Vec<_>>(),
        );
        assert_eq!(first, vec![0, 1, 2]);
        // Stopped: at most the look-ahead beyond what was taken (per thread that was between items).
        assert!(started.into_inner() < 100);
    }

    #[test]
    #[should_panic(expected = "item 7")]
    fn map_in_order_raises_a_panic_again() {
        let items: Vec<u32> = (0..50).collect();
        super::map_in_order(&items, 4, |x| assert!(*x != 7, "item 7"), |it| it.count());
    }

    #[test]
    fn for_each_blocking_does_each_item_once() {
        let items: Vec<usize> = (0..500).collect();
        let sum = std::sync::atomic::AtomicUsize::new(0);
        super::for_each_blocking(&items, 16, |x| {
            sum.fetch_add(*x, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(sum.into_inner(), items.iter().sum::<usize>());
    }
}
