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

#[cfg(test)]
mod tests {
    #[test]
    fn map_keeps_the_input_order() {
        let items: Vec<u32> = (0..10_000).collect();
        assert_eq!(
            super::map(&items, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
    }
}
