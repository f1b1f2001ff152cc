//! The writing side of the log: appends frames to the last segment, rolls over to new
//! segments, starts a base segment for every snapshot install, writes checkpoints and
//! deletes what retention no longer keeps. Single-threaded; the writer thread owns it.
//!
//! The fsync steps, in order (docs/FORMAT.md, "Writing, and when a write is durable"):
//! 1. A batch's frames go out in one write, then one `sync_data` of the segment.
//! 2. Rolling over: the old segment is written, synced, trimmed to its data and synced again
//!    before the new one exists, so every segment but the last is whole.
//! 3. A new segment is built as `log.N.tmp` (header, and for a base segment the epochs and
//!    the snapshot), synced, renamed to `log.N`, and the directory synced: a segment under
//!    its final name always has a durable header.
//! 4. After a base segment is durable, the segments and checkpoints before it are deleted.
//! 5. A checkpoint: the records before it are synced and its file is handed to the
//!    checkpoint thread, which builds `snap.N` the way a segment is built (3) while the log
//!    goes on. Only once that file is durable does the checkpoint count, and only then do
//!    the files retention no longer keeps go.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use zabkeeper_core::Zxid;
use zabkeeper_core::encode::append_postcard;
use zabkeeper_core::zab::LogOp;

use super::checkpointer::Job;
use super::faults::{Faults, FileOp};
use super::files::{Point, check_checkpoint_size, create_file, remove_files};
use super::format::{self, FLAG_BASE, HEADER_BYTES, SegmentHeader};
use super::trail::Trail;
use super::{Snapshot, StorageError, StorageOptions};

/// ZooKeeper's minimum for `autopurge.snapRetainCount`.
pub const RETAIN_MIN: u32 = 3;

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

/// Where recovery left the log: what the journal goes on from.
#[derive(Debug)]
pub(super) struct Resume {
    /// Every segment on disk that is not superseded, oldest first.
    pub segments: Vec<(u64, PathBuf)>,
    pub current: Option<Segment>,
    pub next_lsn: u64,
    pub epochs: (u32, u32),
    pub trail: Trail,
    /// The starting points on disk, oldest first.
    pub points: Vec<Point>,
    /// Damaged checkpoint files, deleted once a newer checkpoint is durable.
    pub stale: Vec<PathBuf>,
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
    /// The epochs as of the last record appended (a base segment and a checkpoint repeat them).
    epochs: (u32, u32),
    /// The log entries after the snapshot, by zxid and lsn.
    trail: Trail,
    /// The starting points retention keeps, oldest first.
    points: Vec<Point>,
    stale: Vec<PathBuf>,
    /// The first lsn of the last base segment started: a checkpoint at or before it that
    /// becomes durable afterwards is already superseded.
    installed_lsn: u64,
    /// The first lsn of the batch being built.
    batch_first: u64,
    /// Frames not yet written to the current segment.
    pending: Vec<u8>,
    /// Written to the current segment since its last sync.
    unsynced: bool,
    faults: Faults,
    /// The record being encoded (kept to reuse its allocation).
    scratch: Vec<u8>,
    /// Told how long each fdatasync took.
    on_sync: Option<SyncObserver>,
}

/// What hears of each fdatasync's duration (the server's `fsynctime`).
pub(super) struct SyncObserver(Box<dyn FnMut(std::time::Duration) + Send>);

impl std::fmt::Debug for SyncObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncObserver")
    }
}

impl Journal {
    pub fn new(dir: PathBuf, options: StorageOptions, resume: Resume, faults: Faults) -> Journal {
        let Resume { segments, current, next_lsn, epochs, trail, points, stale } = resume;
        Journal {
            dir,
            options,
            segments,
            current,
            next_lsn,
            epochs,
            trail,
            points,
            stale,
            installed_lsn: 0,
            batch_first: next_lsn,
            pending: Vec::new(),
            unsynced: false,
            faults,
            scratch: Vec::new(),
            on_sync: None,
        }
    }

    pub fn on_sync(&mut self, observe: Box<dyn FnMut(std::time::Duration) + Send>) {
        self.on_sync = Some(SyncObserver(observe));
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Bytes appended and not written yet.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    /// Adds one write to the batch being built. It reaches the disk with [`Journal::commit`]
    /// (or earlier, when a roll-over needs the segment finished).
    pub fn append(&mut self, op: &LogOp) -> Result<(), StorageError> {
        let mut payload = std::mem::take(&mut self.scratch);
        payload.clear();
        let result = self.append_encoded(op, &mut payload);
        // A snapshot install's record is large: do not hold on to its buffer.
        if payload.capacity() <= 1 << 20 {
            self.scratch = payload;
        }
        result
    }

    fn append_encoded(&mut self, op: &LogOp, payload: &mut Vec<u8>) -> Result<(), StorageError> {
        append_postcard(op, payload).map_err(|e| StorageError::Encode { what: e.to_string() })?;
        if u32::try_from(payload.len()).is_err() {
            return Err(StorageError::Encode { what: format!("a record of {} bytes is too large", payload.len()) });
        }
        self.trail.apply(op, self.next_lsn);
        match op {
            LogOp::InstallSnapshot { .. } => return self.roll(Some(payload)),
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
        format::encode_frame(&mut self.pending, self.next_lsn, self.batch_first, payload);
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
            let path = &segment.path;
            let started = std::time::Instant::now();
            (self.faults.check(FileOp::Sync, path).and_then(|()| segment.file.sync_data()))
                .map_err(StorageError::io(path, "fdatasync"))?;
            if let Some(SyncObserver(observe)) = &mut self.on_sync {
                observe(started.elapsed());
            }
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
            (self.faults.check(FileOp::Preallocate, &segment.path).and_then(|()| segment.file.set_len(allocated)))
                .map_err(StorageError::io(&segment.path, "preallocate"))?;
            segment.allocated = allocated;
        }
        (self.faults.check(FileOp::Write, &segment.path).and_then(|()| segment.file.write_all(&self.pending)))
            .map_err(StorageError::io(&segment.path, "write"))?;
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
            self.supersede_all_but_last(first_lsn)?;
        }
        Ok(())
    }

    /// Takes a checkpoint of the state before lsn `next_lsn`, the snapshot at `zxid`, keeping
    /// the log entries after `zxid`: the records before it are synced, and the file to build
    /// is returned. It counts only once [`Journal::checkpointed`] says its file is durable.
    /// `None` unless `zxid` is newer than the last snapshot.
    pub fn checkpoint(&mut self, zxid: Zxid, snapshot: Snapshot) -> Result<Option<Job>, StorageError> {
        if let Snapshot::Bytes(bytes) = &snapshot {
            check_checkpoint_size(bytes)?;
        }
        let lsn = self.next_lsn;
        let Some(replay_from) = self.trail.checkpoint(zxid, lsn) else { return Ok(None) };
        // Replay from the checkpoint reads the records from `replay_from` on: they go first.
        self.commit(true)?;
        Ok(Some(Job { lsn, replay_from, epochs: self.epochs, zxid, snapshot }))
    }

    /// Counts a checkpoint whose file is now durable as a starting point, and returns the
    /// files retention no longer keeps, for the caller to delete.
    pub fn checkpointed(&mut self, point: Point) -> Vec<PathBuf> {
        let Some(path) = point.file.clone() else { unreachable!("a checkpoint has a file") };
        if point.lsn <= self.installed_lsn {
            // A snapshot install after it already deleted everything before its base segment.
            return vec![path];
        }
        // Retention ran only at durable checkpoints, and replay starts never move back.
        assert!(
            self.segments.first().is_none_or(|(first, _)| *first <= point.replay_from),
            "checkpoint at lsn {} replays from lsn {}, and the log starts after it",
            point.lsn,
            point.replay_from
        );
        // A damaged checkpoint of the same lsn was just replaced.
        self.stale.retain(|p| *p != path);
        // A checkpoint with no record since the last one took its name.
        self.points.retain(|p| p.lsn != point.lsn);
        self.points.push(point);
        self.purge()
    }

    /// Drops what retention no longer keeps: checkpoints past the newest `snap_retain_count`
    /// starting points, the segments no kept point replays, and damaged checkpoints. Returns
    /// their files.
    fn purge(&mut self) -> Vec<PathBuf> {
        let retain = self.options.snap_retain_count.max(RETAIN_MIN) as usize;
        let mut doomed = std::mem::take(&mut self.stale);
        if self.points.len() > retain {
            let dropped = self.points.len() - retain;
            doomed.extend(self.points.drain(..dropped).filter_map(|p| p.file));
        }
        let keep_from = self.points.iter().map(|p| p.replay_from).min().unwrap_or(self.next_lsn);
        // A segment is needed unless the next one starts at or before `keep_from`.
        let needless = self.segments.windows(2).take_while(|w| w[1].0 <= keep_from).count();
        doomed.extend(self.segments.drain(..needless).map(|(_, path)| path));
        doomed
    }

    /// Writes what is pending, syncs, and trims the preallocated tail, so that a segment
    /// that is not the last ends exactly at its last record.
    fn finish_current(&mut self) -> Result<(), StorageError> {
        self.write_pending()?;
        let Some(segment) = self.current.take() else { return Ok(()) };
        let path = &segment.path;
        let faults = &self.faults;
        (faults.check(FileOp::Sync, path).and_then(|()| segment.file.sync_data()))
            .map_err(StorageError::io(path, "fdatasync"))?;
        if segment.allocated != segment.written {
            // A failed trim is fatal like any failed write: the writer stops on it.
            (faults.check(FileOp::Truncate, path).and_then(|()| segment.file.set_len(segment.written)))
                .map_err(StorageError::io(path, "trim"))?;
            (faults.check(FileOp::Sync, path).and_then(|()| segment.file.sync_all()))
                .map_err(StorageError::io(path, "fsync"))?;
        }
        self.unsynced = false;
        Ok(())
    }

    fn create_segment(&self, first_lsn: u64, bytes: &[u8]) -> Result<Segment, StorageError> {
        let written = bytes.len() as u64;
        let allocated = if self.options.prealloc_bytes > 0 { preallocated(&self.options, 0, written) } else { written };
        let name = format::segment_name(first_lsn);
        let (mut file, path) = create_file(&self.dir, &name, &[bytes], allocated, &self.faults, &mut |_| {})?;
        file.seek(SeekFrom::Start(written)).map_err(StorageError::io(&path, "seek"))?;
        Ok(Segment { file, path, written, allocated })
    }

    /// Deletes every segment before the last and every checkpoint: the base segment at
    /// `base_lsn` made them redundant.
    fn supersede_all_but_last(&mut self, base_lsn: u64) -> Result<(), StorageError> {
        let keep = self.segments.len().saturating_sub(1);
        let mut doomed: Vec<PathBuf> = self.segments.drain(..keep).map(|(_, path)| path).collect();
        doomed.extend(self.points.drain(..).filter_map(|p| p.file));
        doomed.append(&mut self.stale);
        self.points.push(Point { lsn: base_lsn, replay_from: base_lsn, file: None });
        self.installed_lsn = base_lsn;
        remove_files(&self.dir, doomed)
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
