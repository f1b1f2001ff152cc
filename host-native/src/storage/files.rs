//! What the journal and the checkpointer both deal in: the places recovery can start from,
//! and making a file durable under its name (write to a temporary name, sync, rename, sync
//! the directory) or deleting files no longer needed.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::StorageError;
use super::faults::{Faults, FileOp};
use super::format;

/// A place recovery can start from: a checkpoint, or the start of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Point {
    /// The lsn of the first record after it.
    pub lsn: u64,
    /// The first record its replay needs.
    pub replay_from: u64,
    /// The checkpoint file; `None` for the start of the log (lsn 1, or the newest base segment).
    pub file: Option<PathBuf>,
}

/// The steps of making a new file durable, in order, each reported once done (a test stops
/// there, as a crash would).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Stage {
    /// The checkpoint thread took the file on; nothing on disk yet.
    Started,
    /// `name.tmp` exists, empty.
    Created,
    /// Its bytes are written, not synced.
    Written,
    /// And synced.
    Synced,
    /// Renamed into place; the directory entry is not durable yet.
    Renamed,
    /// The directory is synced: the file is durable under its name.
    Durable,
}

/// Builds the file `dir/name` holding `parts` one after the other, grown to `allocated`
/// bytes with zeros, under a temporary name; syncs it, renames it into place and syncs the
/// directory. `at` sees each step done.
pub(super) fn create_file(
    dir: &Path,
    name: &str,
    parts: &[&[u8]],
    allocated: u64,
    faults: &Faults,
    at: &mut dyn FnMut(Stage),
) -> Result<(File, PathBuf), StorageError> {
    let path = dir.join(name);
    let temp = dir.join(format!("{name}{}", format::TEMP_SUFFIX));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)
        .map_err(StorageError::io(&temp, "create"))?;
    at(Stage::Created);
    let mut written = 0u64;
    for part in parts {
        (faults.check(FileOp::Write, &temp).and_then(|()| file.write_all(part)))
            .map_err(StorageError::io(&temp, "write"))?;
        written += part.len() as u64;
    }
    if allocated > written {
        (faults.check(FileOp::Preallocate, &temp).and_then(|()| file.set_len(allocated)))
            .map_err(StorageError::io(&temp, "preallocate"))?;
    }
    at(Stage::Written);
    (faults.check(FileOp::Sync, &temp).and_then(|()| file.sync_all())).map_err(StorageError::io(&temp, "fsync"))?;
    at(Stage::Synced);
    fs::rename(&temp, &path).map_err(StorageError::io(&temp, "rename"))?;
    at(Stage::Renamed);
    sync_dir(dir)?;
    at(Stage::Durable);
    Ok((file, path))
}

/// Deletes files that are no longer needed, then syncs the directory.
pub(super) fn remove_files(dir: &Path, doomed: Vec<PathBuf>) -> Result<(), StorageError> {
    if doomed.is_empty() {
        return Ok(());
    }
    for path in doomed {
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            // Harmless: the next open finds it again, and it goes then or at a later checkpoint.
            tracing::warn!(path = %path.display(), error = %e, "cannot delete a superseded log file");
        }
    }
    sync_dir(dir)
}

/// Makes a directory's entries (created, renamed, deleted files) durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(StorageError::io(dir, "fsync directory"))
}

/// A checkpoint is one record: its length must fit the record header.
pub(super) fn check_checkpoint_size(snapshot: &[u8]) -> Result<(), StorageError> {
    let record_bytes = format::CHECKPOINT_FIXED_BYTES + snapshot.len();
    if u32::try_from(record_bytes).is_err() {
        return Err(StorageError::Encode { what: format!("a checkpoint of {record_bytes} bytes is too large") });
    }
    Ok(())
}
