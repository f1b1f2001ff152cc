//! The writing side of the log: appends frames to the last segment, rolls over to new
//! segments, and starts a base segment for every snapshot install. Single-threaded; the
//! writer thread owns it.
//!
//! The fsync steps, in order (docs/FORMAT.md, "Durability"):
//! 1. A batch's frames go out in one write, then one `sync_data` of the segment.
//! 2. Rolling over: the old segment is written, synced, trimmed to its data and synced again
//!    before the new one exists, so every segment but the last is whole.
//! 3. A new segment is built as `log.N.tmp` (header, and for a base segment the epochs and
//!    the snapshot), synced, renamed to `log.N`, and the directory synced: a segment under
//!    its final name always has a durable header.
//! 4. After a base segment is durable, the segments before it are deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use zabkeeper_core::zab::LogOp;

use super::format::{self, FLAG_BASE, HEADER_BYTES, SegmentHeader};
use super::{StorageError, StorageOptions};

/// The segment being appended to.
#[derive(Debug)]
pub(super) struct Segment {
    pub file: File,
    pub path: PathBuf,
    /// Bytes of header and records written (the file position).
    pub written: u64,
    /// The file's length: `written` plus the zero-filled preallocation.
    pub allocated: u64,
}

#[derive(Debug)]
pub(super) struct Journal {
    dir: PathBuf,
    options: StorageOptions,
    /// Every segment on disk, oldest first, the current one last.
    segments: Vec<(u64, PathBuf)>,
    pub current: Option<Segment>,
    /// The lsn the next record gets.
    next_lsn: u64,
    /// The epochs as of the last record appended (a base segment repeats them).
    epochs: (u32, u32),
    /// The first lsn of the batch being built.
    batch_first: u64,
    /// Frames not yet written to the current segment.
    pending: Vec<u8>,
    /// Written to the current segment since its last sync.
    unsynced: bool,
}

impl Journal {
    pub fn new(
        dir: PathBuf,
        options: StorageOptions,
        segments: Vec<(u64, PathBuf)>,
        current: Option<Segment>,
        next_lsn: u64,
        epochs: (u32, u32),
    ) -> Journal {
        Journal {
            dir,
            options,
            segments,
            current,
            next_lsn,
            epochs,
            batch_first: next_lsn,
            pending: Vec::new(),
            unsynced: false,
        }
    }

    /// Bytes appended and not written yet.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    /// Adds one write to the batch being built. It reaches the disk with [`Journal::commit`]
    /// (or earlier, when a roll-over needs the segment finished).
    pub fn append(&mut self, op: &LogOp) -> Result<(), StorageError> {
        let payload = postcard::to_allocvec(op).map_err(|e| StorageError::Encode { what: e.to_string() })?;
        if u32::try_from(payload.len()).is_err() {
            return Err(StorageError::Encode { what: format!("a record of {} bytes is too large", payload.len()) });
        }
        match op {
            LogOp::InstallSnapshot { .. } => return self.roll(Some(&payload)),
            LogOp::Epochs { accepted, current } => self.epochs = (*accepted, *current),
            LogOp::Append(_) | LogOp::Truncate { .. } => {}
        }
        let frame_bytes = (format::FRAME_HEADER_BYTES + payload.len()) as u64;
        let used = match &self.current {
            Some(segment) => segment.written + self.pending.len() as u64,
            None => 0,
        };
        if self.current.is_none() || (used > HEADER_BYTES as u64 && used + frame_bytes > self.options.segment_bytes) {
            self.roll(None)?;
        }
        format::encode_frame(&mut self.pending, self.next_lsn, self.batch_first, &payload);
        self.next_lsn += 1;
        Ok(())
    }

    /// Writes the batch and, with `sync` (or forceSync), makes it durable. The next append
    /// starts a new batch.
    pub fn commit(&mut self, sync: bool) -> Result<(), StorageError> {
        self.write_pending()?;
        if (sync || self.options.force_sync)
            && self.unsynced
            && let Some(segment) = &self.current
        {
            segment.file.sync_data().map_err(StorageError::io(&segment.path, "fdatasync"))?;
            self.unsynced = false;
        }
        self.batch_first = self.next_lsn;
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let Some(segment) = &mut self.current else {
            unreachable!("frames are only appended with a segment open");
        };
        let end = segment.written + self.pending.len() as u64;
        if self.options.prealloc_bytes > 0 && end > segment.allocated {
            let allocated = preallocated(&self.options, segment.allocated, end);
            segment.file.set_len(allocated).map_err(StorageError::io(&segment.path, "preallocate"))?;
            segment.allocated = allocated;
        }
        segment.file.write_all(&self.pending).map_err(StorageError::io(&segment.path, "write"))?;
        segment.written = end;
        segment.allocated = segment.allocated.max(end);
        self.pending.clear();
        self.unsynced = true;
        Ok(())
    }

    /// Finishes the current segment and starts a new one: a base segment holding the epochs
    /// and this snapshot record if `snapshot` is given.
    fn roll(&mut self, snapshot: Option<&[u8]>) -> Result<(), StorageError> {
        self.finish_current()?;
        let first_lsn = self.next_lsn;
        let flags = if snapshot.is_some() { FLAG_BASE } else { 0 };
        let mut bytes = SegmentHeader { flags, first_lsn }.encode().to_vec();
        if let Some(payload) = snapshot {
            let (accepted, current) = self.epochs;
            let epochs = postcard::to_allocvec(&LogOp::Epochs { accepted, current })
                .map_err(|e| StorageError::Encode { what: e.to_string() })?;
            format::encode_frame(&mut bytes, self.next_lsn, self.batch_first, &epochs);
            format::encode_frame(&mut bytes, self.next_lsn + 1, self.batch_first, payload);
            self.next_lsn += 2;
        }
        let segment = self.create_segment(first_lsn, &bytes)?;
        // A base segment that replaced an empty segment of the same lsn took its name.
        self.segments.retain(|(lsn, _)| *lsn != first_lsn);
        self.segments.push((first_lsn, segment.path.clone()));
        self.current = Some(segment);
        if snapshot.is_some() {
            self.delete_before_last()?;
        }
        Ok(())
    }

    /// Writes what is pending, syncs, and trims the preallocated tail, so that a segment
    /// that is not the last ends exactly at its last record.
    fn finish_current(&mut self) -> Result<(), StorageError> {
        self.write_pending()?;
        let Some(segment) = self.current.take() else { return Ok(()) };
        let path = &segment.path;
        segment.file.sync_data().map_err(StorageError::io(path, "fdatasync"))?;
        if segment.allocated != segment.written {
            segment.file.set_len(segment.written).map_err(StorageError::io(path, "trim"))?;
            segment.file.sync_all().map_err(StorageError::io(path, "fsync"))?;
        }
        self.unsynced = false;
        Ok(())
    }

    fn create_segment(&self, first_lsn: u64, bytes: &[u8]) -> Result<Segment, StorageError> {
        let path = self.dir.join(format::segment_name(first_lsn));
        let temp = self.dir.join(format!("{}{}", format::segment_name(first_lsn), format::TEMP_SUFFIX));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(StorageError::io(&temp, "create"))?;
        file.write_all(bytes).map_err(StorageError::io(&temp, "write"))?;
        let written = bytes.len() as u64;
        let mut allocated = written;
        if self.options.prealloc_bytes > 0 {
            allocated = preallocated(&self.options, 0, written);
            file.set_len(allocated).map_err(StorageError::io(&temp, "preallocate"))?;
        }
        file.sync_all().map_err(StorageError::io(&temp, "fsync"))?;
        fs::rename(&temp, &path).map_err(StorageError::io(&temp, "rename"))?;
        sync_dir(&self.dir)?;
        file.seek(SeekFrom::Start(written)).map_err(StorageError::io(&path, "seek"))?;
        Ok(Segment { file, path, written, allocated })
    }

    /// Deletes every segment before the last (a base segment made them redundant).
    fn delete_before_last(&mut self) -> Result<(), StorageError> {
        let keep = self.segments.len().saturating_sub(1);
        for (_, path) in self.segments.drain(..keep) {
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                // Harmless: the next open deletes segments before the newest base.
                tracing::warn!(path = %path.display(), error = %e, "cannot delete a superseded log segment");
            }
        }
        sync_dir(&self.dir)
    }

    /// Writes and syncs everything appended (whatever forceSync says).
    pub fn close(&mut self) -> Result<(), StorageError> {
        self.commit(true)
    }
}

/// The length a segment of `allocated` bytes grows to so that `end` fits: whole steps of
/// `prealloc_bytes`, each no larger than a segment.
fn preallocated(options: &StorageOptions, allocated: u64, end: u64) -> u64 {
    let step = options.prealloc_bytes.min(options.segment_bytes).max(1);
    let steps = end.saturating_sub(allocated).div_ceil(step).max(1);
    allocated.saturating_add(steps.saturating_mul(step))
}

/// Makes a directory's entries (created, renamed, deleted files) durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(StorageError::io(dir, "fsync directory"))
}
