//! The writer's hold on a data directory: an exclusive advisory `flock` on `DATA_DIR/sluice.lock`,
//! which the kernel releases when the process ends however it ends (kill -9 included). The file names
//! the holder (process id, host, since when) so that a second writer can say who has it. Readers never
//! take it; they only ask whether a writer holds it ([`is_held`]), to tell an unfinished last line that
//! is being written from a torn one.

use super::error::LedgerError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::time::Duration;

/// The lock file inside the data directory.
pub const LOCK_FILE: &str = "sluice.lock";

/// Tries while a reader's brief probe ([`is_held`]) has the file: readers hold it for microseconds.
const TRIES: u32 = 5;
const BETWEEN_TRIES: Duration = Duration::from_millis(20);

/// An exclusive hold on a data directory, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the data directory `data_dir` for this process, writing `holder` (who and since when) into
    /// the lock file.
    ///
    /// # Errors
    ///
    /// Another process holds it ([`LedgerError::Locked`], naming the holder), or the lock file cannot
    /// be created.
    pub fn acquire(data_dir: &Path, holder: &str) -> Result<Self, LedgerError> {
        let path = data_dir.join(LOCK_FILE);
        let io_err = |source| LedgerError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        for attempt in 1..=TRIES {
            match file.try_lock() {
                Ok(()) => {
                    file.set_len(0)
                        .and_then(|()| file.seek(SeekFrom::Start(0)))
                        .and_then(|_| file.write_all(format!("{holder}\n").as_bytes()))
                        .map_err(io_err)?;
                    return Ok(DirLock { _file: file });
                }
                Err(TryLockError::WouldBlock) if attempt < TRIES => {
                    std::thread::sleep(BETWEEN_TRIES);
                }
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    let holder = text.trim();
                    return Err(LedgerError::Locked {
                        path,
                        holder: if holder.is_empty() {
                            "a process that has not written its name yet".to_owned()
                        } else {
                            holder.to_owned()
                        },
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io_err(e)),
            }
        }
        unreachable!("the last try returns")
    }
}

/// Whether a writer holds `data_dir` now (false when nothing can tell: no lock file, or it cannot be
/// opened).
pub fn is_held(data_dir: &Path) -> bool {
    let Ok(file) = File::open(data_dir.join(LOCK_FILE)) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => false,
    }
}

/// Who this process is, for the lock file: `pid N on HOST since TIME`.
pub fn holder(since: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unknown host".to_owned());
    format!("pid {} on {host} since {since}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_and_readers_see_it_held() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_held(dir.path()));
        let first = DirLock::acquire(dir.path(), "pid 1 on h since t").unwrap();
        assert!(is_held(dir.path()));
        let second = DirLock::acquire(dir.path(), "pid 2 on h since u").unwrap_err();
        let text = second.to_string();
        assert!(text.contains("sluice.lock"), "{text}");
        assert!(text.contains("pid 1 on h since t"), "{text}");
        drop(first);
        assert!(!is_held(dir.path()));
        let again = DirLock::acquire(dir.path(), "pid 3 on h since v").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(),
            "pid 3 on h since v\n"
        );
        drop(again);
    }
}
