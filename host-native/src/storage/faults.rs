//! Fault injection at the file layer, for tests only: every write, sync, preallocation and
//! truncation of the log and its checkpoints first asks an optional hook, which may fail it
//! with an error of its choosing (EIO, ENOSPC) before the real call is made.
//!
//! Unit tests install a hook with [`super::Storage::open_with_faults`]. A real process gets
//! one only in a debug build (the build `cargo test` runs), and only when the environment
//! variable [`TRIGGER_ENV`] names a trigger file; release builds never read it. While that
//! file is absent nothing fails; while it holds `<operation> <error>` (`fdatasync EIO`,
//! `write ENOSPC`, `truncate EIO`, `preallocate ENOSPC`), every operation of that kind
//! fails. That lets a process-level test break the disk of whichever member leads.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file operations a fault can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOp {
    /// Writing bytes to a segment or to a new file.
    Write,
    /// `fdatasync`/`fsync` of a file (not of a directory).
    Sync,
    /// Growing a file with zeros.
    Preallocate,
    /// Shrinking a file: the trim of a finished segment, the cut of a torn tail.
    Truncate,
}

impl FileOp {
    fn parse(word: &str) -> Option<FileOp> {
        match word {
            "write" => Some(FileOp::Write),
            "fsync" | "fdatasync" | "sync" => Some(FileOp::Sync),
            "preallocate" => Some(FileOp::Preallocate),
            "truncate" => Some(FileOp::Truncate),
            _ => None,
        }
    }
}

/// Test-only (see the module doc): names the trigger file of a debug build's fault hook.
pub const TRIGGER_ENV: &str = "ZABKEEPER_TEST_DISK_FAULTS";

/// EIO (the same number on Linux and the BSDs): what a failed write-back reports.
pub const EIO: i32 = 5;
/// ENOSPC: the disk is full.
pub const ENOSPC: i32 = 28;

type Hook = dyn Fn(FileOp, &Path) -> io::Result<()> + Send + Sync;

/// A fault hook, or none (the normal case). Cheap to clone: the writer and checkpoint
/// threads share it.
#[derive(Clone, Default)]
pub struct Faults(Option<Arc<Hook>>);

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Faults(injecting)" } else { "Faults(none)" })
    }
}

impl Faults {
    /// No faults.
    pub fn none() -> Faults {
        Faults(None)
    }

    /// `hook` is asked before every file operation; an error it returns is what the
    /// operation returns, and the operation is not made.
    pub fn hook(hook: impl Fn(FileOp, &Path) -> io::Result<()> + Send + Sync + 'static) -> Faults {
        Faults(Some(Arc::new(hook)))
    }

    /// Every operation of kind `op` fails with `errno` once `ok_before` of them succeeded.
    pub fn fail_after(op: FileOp, ok_before: u64, errno: i32) -> Faults {
        let seen = std::sync::atomic::AtomicU64::new(0);
        Faults::hook(move |kind, _| {
            if kind == op && seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= ok_before {
                return Err(io::Error::from_raw_os_error(errno));
            }
            Ok(())
        })
    }

    /// The hook a debug build's process installs from [`TRIGGER_ENV`]; none in release
    /// builds or when the variable is unset.
    pub fn from_env() -> Faults {
        if !cfg!(debug_assertions) {
            return Faults::none();
        }
        let Some(trigger) = std::env::var_os(TRIGGER_ENV).map(PathBuf::from) else { return Faults::none() };
        tracing::warn!(trigger = %trigger.display(), "test-only disk fault injection is on");
        Faults::hook(move |op, _| match std::fs::read_to_string(&trigger) {
            Ok(text) => match parse_trigger(&text) {
                Some((kind, errno)) if kind == op => Err(io::Error::from_raw_os_error(errno)),
                _ => Ok(()),
            },
            Err(_) => Ok(()),
        })
    }

    /// Asks the hook about `op` on `path`.
    pub(super) fn check(&self, op: FileOp, path: &Path) -> io::Result<()> {
        match &self.0 {
            Some(hook) => hook(op, path),
            None => Ok(()),
        }
    }
}

/// `<operation> <error>`, as the trigger file holds it.
fn parse_trigger(text: &str) -> Option<(FileOp, i32)> {
    let mut words = text.split_whitespace();
    let op = FileOp::parse(&words.next()?.to_ascii_lowercase())?;
    let errno = match words.next()?.to_ascii_uppercase().as_str() {
        "EIO" => EIO,
        "ENOSPC" => ENOSPC,
        _ => return None,
    };
    Some((op, errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_lines_parse() {
        assert_eq!(parse_trigger("fdatasync EIO\n"), Some((FileOp::Sync, EIO)));
        assert_eq!(parse_trigger("write enospc"), Some((FileOp::Write, ENOSPC)));
        assert_eq!(parse_trigger("truncate EIO"), Some((FileOp::Truncate, EIO)));
        assert_eq!(parse_trigger("rename EIO"), None);
        assert_eq!(parse_trigger("write"), None);
        assert_eq!(parse_trigger(""), None);
    }

    #[test]
    fn fail_after_lets_the_first_ones_through() {
        let faults = Faults::fail_after(FileOp::Sync, 2, ENOSPC);
        let path = Path::new("x");
        assert!(faults.check(FileOp::Sync, path).is_ok());
        assert!(faults.check(FileOp::Write, path).is_ok());
        assert!(faults.check(FileOp::Sync, path).is_ok());
        let error = faults.check(FileOp::Sync, path).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(ENOSPC));
        assert!(faults.check(FileOp::Sync, path).is_err());
    }
}
