//! Durable storage: the core's ordered stream of writes ([`LogOp`]) kept in checksummed
//! segment files, written by one thread with group commit, and replayed through
//! [`Image::apply`] on start. The format is in docs/FORMAT.md.
//!
//! ```text
//!  core: Output::Persist{seq, op} ─► Writer::persist ─► queue ─► writer thread
//!                                                                   │ take every queued op
//!                                                                   │ one write, one fdatasync
//!  core: Input::Persisted{seq}   ◄─ durable(highest seq) ◄──────────┘
//! ```
//!
//! Writes are carried out in `seq` order, so after a crash a prefix of them survives (the
//! durability rule in DESIGN.md). A write is reported durable only once `File::sync_data`
//! covering it returned, and only after the segment file holding it and its directory entry
//! are durable too.
//!
//! Every so often the node hands over a snapshot of its state machine
//! ([`Writer::checkpoint`]); it takes its place among the writes, and its file is written on
//! a thread of its own while the log goes on. Once that file is durable, the log that no
//! kept checkpoint needs is deleted (zoo.cfg's `autopurge.snapRetainCount`).
//!
//! On open, replay starts from the newest checkpoint and goes through every later record in
//! order. A torn write at the end of the last segment (it was never reported durable) is cut
//! off; damage anywhere else stops the server with an error naming the file and byte offset,
//! rather than dropping committed data. A damaged newest checkpoint is passed over only for
//! an older start whose whole log to the end checks out.

mod checkpointer;
mod faults;
mod files;
mod format;
mod journal;
mod recover;
mod trail;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use zabkeeper_core::zab::Image;
#[cfg(doc)]
use zabkeeper_core::zab::LogOp;

pub use faults::{EIO, ENOSPC, Faults, FileOp, TRIGGER_ENV};
use journal::Journal;
pub use writer::Writer;

/// A checkpoint's snapshot: its bytes, or a frozen state machine that the checkpoint thread
/// serialises (so building the bytes of a large tree holds up no request).
pub enum Snapshot {
    Bytes(Vec<u8>),
    Build(Box<dyn FnOnce() -> Vec<u8> + Send>),
}

impl Snapshot {
    fn into_bytes(self) -> Vec<u8> {
        match self {
            Snapshot::Bytes(bytes) => bytes,
            Snapshot::Build(build) => build(),
        }
    }
}

impl From<Vec<u8>> for Snapshot {
    fn from(bytes: Vec<u8>) -> Snapshot {
        Snapshot::Bytes(bytes)
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Snapshot::Bytes(bytes) => write!(f, "Snapshot::Bytes({} bytes)", bytes.len()),
            Snapshot::Build(_) => f.write_str("Snapshot::Build"),
        }
    }
}

/// The subdirectory of the dataDir that holds this format.
pub const SUBDIR: &str = "zabkeeper-v1";

/// How the log is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageOptions {
    /// zoo.cfg `forceSync`. `false` skips the fdatasync per write: a power cut can then lose
    /// writes already reported durable. Unsafe; exists only because ZooKeeper has it.
    pub force_sync: bool,
    /// A segment rolls over once it would pass this size (a single larger record gets a
    /// segment of its own).
    pub segment_bytes: u64,
    /// ZooKeeper's `preAllocSize`: segments grow in steps of this size (zero-filled), so an
    /// append does not change the file size. 0 turns preallocation off.
    pub prealloc_bytes: u64,
    /// zoo.cfg `autopurge.snapRetainCount`: how many starting points (checkpoints, or the
    /// start of the log) are kept, with the segments they replay. At least 3, as in ZooKeeper.
    pub snap_retain_count: u32,
}

impl Default for StorageOptions {
    fn default() -> StorageOptions {
        StorageOptions { force_sync: true, segment_bytes: 64 << 20, prealloc_bytes: 64 << 20, snap_retain_count: 3 }
    }
}

/// Why storage cannot go on.
#[derive(Debug)]
pub enum StorageError {
    /// An operating-system call failed.
    Io { path: PathBuf, action: &'static str, source: io::Error },
    /// The files hold something recovery must not guess about: checksum failures that are
    /// not a torn tail, missing segments, records out of order, a write `Image` refuses.
    Damaged { path: PathBuf, offset: u64, what: String },
    /// A write could not be encoded (or is larger than a record can be).
    Encode { what: String },
    /// The writer thread stopped without reporting (the `durable` callback panicked).
    WriterLost,
    /// The checkpoint thread died (a panic) with a checkpoint in hand.
    CheckpointerLost,
}

impl StorageError {
    fn io(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> StorageError + use<> {
        let path = path.to_path_buf();
        move |source| StorageError::Io { path, action, source }
    }

    fn damaged(path: &Path, offset: usize, what: impl Into<String>) -> StorageError {
        StorageError::Damaged { path: path.to_path_buf(), offset: offset as u64, what: what.into() }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { path, action, source } => write!(f, "{action} {}: {source}", path.display()),
            StorageError::Damaged { path, offset, what } => {
                write!(f, "damaged log: {} at byte {offset}: {what}", path.display())
            }
            StorageError::Encode { what } => write!(f, "cannot encode a write: {what}"),
            StorageError::WriterLost => write!(f, "the storage writer thread stopped unexpectedly"),
            StorageError::CheckpointerLost => write!(f, "the checkpoint thread stopped unexpectedly"),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// An opened, recovered log, not yet writing.
#[derive(Debug)]
pub struct Storage {
    journal: Journal,
}

impl Storage {
    /// Opens (creating if needed) `dir` (the zoo.cfg dataDir; files go in `dir/zabkeeper-v1/`),
    /// recovers, and returns the storage and what it holds.
    pub fn open(dir: &Path, options: StorageOptions) -> Result<(Storage, Image), StorageError> {
        Storage::open_with_faults(dir, options, Faults::none())
    }

    /// [`Storage::open`], with every file operation of recovery and of the writer first put
    /// to `faults` (tests only: see [`Faults`]).
    pub fn open_with_faults(
        dir: &Path,
        options: StorageOptions,
        faults: Faults,
    ) -> Result<(Storage, Image), StorageError> {
        if !options.force_sync {
            tracing::warn!(
                "forceSync=no: the log is not fsynced; a power cut can lose writes already acknowledged \
                 to clients and peers"
            );
        }
        let (journal, image) = recover::recover(&dir.join(SUBDIR), options, faults)?;
        Ok((Storage { journal }, image))
    }

    /// Has `observe` told how long each fdatasync of the log took (on the writer's thread).
    pub fn on_sync(&mut self, observe: impl FnMut(std::time::Duration) + Send + 'static) {
        self.journal.on_sync(Box::new(observe));
    }

    /// Starts the writer on a dedicated thread. `durable(seq)` is called from that thread after
    /// each fdatasync (or after the write when `force_sync` is false) with the highest seq now
    /// on stable storage. If the disk fails, `failed` is called from that thread instead, once,
    /// and `durable` never again (see [`Writer`]).
    pub fn start(
        self,
        durable: impl FnMut(u64) + Send + 'static,
        failed: impl FnOnce(&StorageError) + Send + 'static,
    ) -> Writer {
        Writer::start(self.journal, durable, failed, Box::new(|_| {}))
    }

    /// [`Storage::start`], with `hook` run on the checkpoint thread after each step of every
    /// checkpoint file.
    #[cfg(test)]
    fn start_with_hook(
        self,
        durable: impl FnMut(u64) + Send + 'static,
        hook: impl FnMut(files::Stage) + Send + 'static,
    ) -> Writer {
        Writer::start(self.journal, durable, |_| {}, Box::new(hook))
    }
}
