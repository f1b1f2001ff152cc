//! Recovery: finds the segments, replays every record through [`Image::apply`] and decides
//! where the log ends. The rules are in docs/FORMAT.md, "Recovery".

#![deny(clippy::indexing_slicing)]

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use zabkeeper_core::zab::{Image, LogOp};

use super::faults::{Faults, FileOp};
use super::files::{Point, sync_dir};
use super::format::{self, Checkpoint, FrameFault, HEADER_BYTES, SegmentHeader};
use super::journal::{Journal, Resume, Segment};
use super::trail::Trail;
use super::{StorageError, StorageOptions};

/// Where the valid records of the last segment end, and what lies after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tail {
    /// The file ends right after the last record.
    Clean,
    /// Only zeros follow: unused preallocation.
    Zeros,
    /// A torn write follows; it was never reported durable and is cut off.
    Torn,
}

/// Opens `dir` (creating it if needed) and rebuilds the image its files hold. Nothing on
/// disk changes unless the whole log checks out: then half-built and superseded files are
/// deleted and a torn tail is cut off.
pub(super) fn recover(dir: &Path, options: StorageOptions, faults: Faults) -> Result<(Journal, Image), StorageError> {
    create_dir(dir)?;
    let listing = list_dir(dir)?;
    let mut segments: Vec<Found> = listing
        .segments
        .into_iter()
        .map(|(lsn, path)| Found { header: read_segment_header(&path, lsn), lsn, path })
        .collect();
    // Everything before the newest base segment is redundant, even if damaged.
    let base = segments.iter().rposition(|s| s.header.as_ref().is_ok_and(SegmentHeader::is_base));
    let superseded: Vec<PathBuf> = segments.drain(..base.unwrap_or(0)).map(|s| s.path).collect();
    let origin = match base {
        Some(_) => segments.first().map_or(1, |s| s.lsn),
        None => 1,
    };
    let (old_checkpoints, checkpoints): (Vec<_>, Vec<_>) =
        listing.checkpoints.into_iter().partition(|(lsn, _)| base.is_some() && *lsn <= origin);
    let mut scan = scan_checkpoints(checkpoints)?;

    let start_lsn = scan.start.as_ref().map(|start| start.point.lsn);
    let (mut image, mut trail, from) = match scan.start.take() {
        Some(Start { point, image }) => {
            let trail = Trail::new(image.snapshot_zxid());
            (image, trail, point.replay_from)
        }
        None => (Image::default(), Trail::default(), origin),
    };
    // A checkpoint newer than the one replay starts from is damaged: fall back, but only to a
    // log that checks out to the end.
    let fell_back = scan.stale.first().filter(|d| start_lsn.is_none_or(|lsn| d.lsn > lsn));
    let on_disk: Vec<(u64, PathBuf)> = segments.iter().map(|s| (s.lsn, s.path.clone())).collect();
    let chain = replay_chain(segments, from, &mut image, &mut trail)
        .and_then(|chain| check_covered(chain, &scan))
        .map_err(|e| match fell_back {
            Some(damaged) => {
                damaged.error(&format!("and the log from the starting point before it does not check out: {e}"))
            }
            None => e,
        })?;
    if let Some(damaged) = fell_back {
        if chain.last.is_none() {
            // Never a blank image in place of a checkpoint.
            return Err(damaged.error("and there is no log to start from instead"));
        }
        tracing::warn!(
            path = %damaged.path.display(),
            offset = damaged.offset,
            why = %damaged.what,
            replay_from = from,
            "the newest checkpoint is damaged: recovered from the starting point before it, whose log to the end \
             checks out"
        );
    }

    let leftovers = listing.half_built.into_iter().chain(superseded).chain(old_checkpoints.into_iter().map(|(_, p)| p));
    remove_leftovers(dir, leftovers.collect())?;
    let current = match chain.last {
        Some((path, len, replayed)) => Some(open_last(&path, len, replayed.end, replayed.tail, &faults)?),
        None => None,
    };
    let mut points = Vec::new();
    if on_disk.first().is_none_or(|(lsn, _)| *lsn == origin) {
        points.push(Point { lsn: origin, replay_from: origin, file: None });
    }
    points.extend(scan.points);
    let resume = Resume {
        segments: on_disk,
        current,
        next_lsn: chain.next_lsn,
        epochs: (image.accepted_epoch, image.current_epoch),
        trail,
        points,
        stale: scan.stale.into_iter().map(|d| d.path).collect(),
    };
    Ok((Journal::new(dir.to_path_buf(), options, resume, faults), image))
}

/// Deletes half-built and superseded files, making that durable.
fn remove_leftovers(dir: &Path, leftovers: Vec<PathBuf>) -> Result<(), StorageError> {
    if leftovers.is_empty() {
        return Ok(());
    }
    for path in &leftovers {
        fs::remove_file(path).map_err(StorageError::io(path, "delete"))?;
    }
    sync_dir(dir)
}

/// What is in the log directory.
struct Listing {
    /// Segments by first lsn, in order.
    segments: Vec<(u64, PathBuf)>,
    /// Checkpoints by lsn, in order.
    checkpoints: Vec<(u64, PathBuf)>,
    /// `*.tmp`: files never renamed into place, so never part of the log.
    half_built: Vec<PathBuf>,
}

/// A segment file and what its header says.
struct Found {
    lsn: u64,
    path: PathBuf,
    header: Result<SegmentHeader, StorageError>,
}

/// A checkpoint file that does not check out.
struct Damaged {
    lsn: u64,
    path: PathBuf,
    offset: usize,
    what: String,
}

impl Damaged {
    fn error(&self, more: &str) -> StorageError {
        StorageError::damaged(&self.path, self.offset, format!("{}; {more}", self.what))
    }
}

/// The newest valid checkpoint, as the image it starts from.
struct Start {
    point: Point,
    image: Image,
}

/// What the checkpoint files hold.
struct Scan {
    start: Option<Start>,
    /// Every valid checkpoint, oldest first.
    points: Vec<Point>,
    /// Damaged checkpoints, newest first.
    stale: Vec<Damaged>,
    /// The newest checkpoint's lsn: every record before it was durable before it was written.
    covered: Option<(u64, PathBuf)>,
}

/// Reads every checkpoint (each whole, so that damage shows now rather than when it is
/// needed), newest first; the newest valid one is where replay starts.
fn scan_checkpoints(checkpoints: Vec<(u64, PathBuf)>) -> Result<Scan, StorageError> {
    let covered = checkpoints.last().cloned();
    let mut scan = Scan { start: None, points: Vec::new(), stale: Vec::new(), covered };
    for (lsn, path) in checkpoints.into_iter().rev() {
        let bytes = fs::read(&path).map_err(StorageError::io(&path, "read"))?;
        let checkpoint = match Checkpoint::decode(&bytes, lsn) {
            Ok(checkpoint) => checkpoint,
            Err((offset, what)) => {
                tracing::warn!(path = %path.display(), offset, why = %what, "damaged checkpoint");
                scan.stale.push(Damaged { lsn, path, offset, what });
                continue;
            }
        };
        let point = Point { lsn, replay_from: checkpoint.replay_from, file: Some(path) };
        if scan.start.is_none() {
            let image = Image {
                accepted_epoch: checkpoint.accepted_epoch,
                current_epoch: checkpoint.current_epoch,
                snapshot: Some((checkpoint.zxid, checkpoint.snapshot.to_vec())),
                log: Vec::new(),
            };
            scan.start = Some(Start { point: point.clone(), image });
        }
        scan.points.push(point);
    }
    scan.points.reverse();
    Ok(scan)
}

/// What replaying the segments found.
struct Chain {
    next_lsn: u64,
    /// The last segment: its path, length, and where its records end.
    last: Option<(PathBuf, usize, Replayed)>,
}

/// Replays the segments from the one holding lsn `from` to the last; records before `from`
/// are checked but not applied.
fn replay_chain(
    mut segments: Vec<Found>,
    from: u64,
    image: &mut Image,
    trail: &mut Trail,
) -> Result<Chain, StorageError> {
    let Some(first) = segments.iter().rposition(|s| s.lsn <= from) else {
        return match segments.first() {
            Some(s) => Err(StorageError::damaged(
                &s.path,
                0,
                format!("the log starts at lsn {} and replay needs lsn {from}: earlier segments are missing", s.lsn),
            )),
            None => Ok(Chain { next_lsn: from, last: None }),
        };
    };
    let live = segments.split_off(first);
    let count = live.len();
    let total = live.iter().map(|s| fs::metadata(&s.path).map_or(0, |m| m.len())).sum();
    let mut progress = crate::progress::Progress::new("replaying the log", "bytes", total);
    let mut next_lsn = live.first().map_or(from, |s| s.lsn);
    let mut last = None;
    for (i, Found { path, header, .. }) in live.into_iter().enumerate() {
        let header = header?;
        if header.first_lsn != next_lsn {
            return Err(StorageError::damaged(
                &path,
                16,
                format!(
                    "the segment starts at lsn {}, the one before it ends at lsn {}",
                    header.first_lsn,
                    next_lsn - 1
                ),
            ));
        }
        let bytes = fs::read(&path).map_err(StorageError::io(&path, "read"))?;
        let is_last = i + 1 == count;
        let into = Sink { from, image: &mut *image, trail: &mut *trail, progress: &mut progress };
        let replayed = replay(&path, &bytes, &header, is_last, into)?;
        next_lsn = replayed.next_lsn;
        if is_last {
            last = Some((path, bytes.len(), replayed));
        }
    }
    progress.finish();
    Ok(Chain { next_lsn, last })
}

/// A checkpoint is written only once every record before it is durable, so the log must
/// reach it.
fn check_covered(chain: Chain, scan: &Scan) -> Result<Chain, StorageError> {
    match &scan.covered {
        Some((lsn, path)) if chain.next_lsn < *lsn => Err(StorageError::damaged(
            path,
            0,
            format!(
                "the log ends before lsn {}, and this checkpoint was written after lsn {}: records are missing",
                chain.next_lsn,
                lsn - 1
            ),
        )),
        _ => Ok(chain),
    }
}

/// What replaying one segment found.
struct Replayed {
    next_lsn: u64,
    /// The offset just after the last valid record.
    end: usize,
    tail: Tail,
}

/// Where replayed records go: from lsn `from` on into `image` and `trail` (records before
/// `from` are checked only), their bytes counted in `progress`.
struct Sink<'a> {
    from: u64,
    image: &'a mut Image,
    trail: &'a mut Trail,
    progress: &'a mut crate::progress::Progress,
}

/// Replays the records of one segment (a whole file in `bytes`).
fn replay(
    path: &Path,
    bytes: &[u8],
    header: &SegmentHeader,
    last: bool,
    into: Sink<'_>,
) -> Result<Replayed, StorageError> {
    let Sink { from, image, trail, progress } = into;
    let mut at = HEADER_BYTES;
    let mut lsn = header.first_lsn;
    let mut records = 0usize;
    while at < bytes.len() {
        let frame = match format::parse_frame(bytes, at) {
            Ok(frame) => frame,
            Err(fault) if last => {
                let tail = classify_tail(bytes, at, lsn)
                    .map_err(|why| StorageError::damaged(path, at, format!("{}; {why}", fault.describe())))?;
                check_base(path, header, records, at)?;
                return Ok(Replayed { next_lsn: lsn, end: at, tail });
            }
            Err(fault) => {
                return Err(StorageError::damaged(
                    path,
                    at,
                    format!("{} in a segment that is not the last", fault.describe()),
                ));
            }
        };
        if frame.lsn != lsn {
            return Err(StorageError::damaged(path, at, format!("record lsn {}, expected {lsn}", frame.lsn)));
        }
        let payload = bytes.get(frame.payload_start..frame.end).unwrap_or_default();
        let op = decode(payload).map_err(|why| StorageError::damaged(path, at, why.to_string()))?;
        if header.is_base() && !base_record_fits(records, &op) {
            return Err(StorageError::damaged(path, at, "a base segment must start with the epochs, then a snapshot"));
        }
        if lsn >= from {
            image
                .apply(&op)
                .map_err(|why| StorageError::damaged(path, at, format!("record lsn {lsn} refused: {why}")))?;
            trail.apply(&op, lsn);
        }
        records += 1;
        progress.advance((frame.end - at) as u64);
        lsn = lsn.checked_add(1).ok_or_else(|| StorageError::damaged(path, at, "lsn overflows"))?;
        at = frame.end;
    }
    check_base(path, header, records, at)?;
    Ok(Replayed { next_lsn: lsn, end: at, tail: Tail::Clean })
}

/// Why a record's payload, its checksum good, is not a write.
#[derive(Debug)]
enum RecordFault {
    Trailing(usize),
    Undecodable(postcard::Error),
}

impl fmt::Display for RecordFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordFault::Trailing(n) => write!(f, "record has {n} bytes after its write"),
            RecordFault::Undecodable(e) => write!(f, "record does not decode: {e}"),
        }
    }
}

fn decode(payload: &[u8]) -> Result<LogOp, RecordFault> {
    match postcard::take_from_bytes::<LogOp>(payload) {
        Ok((op, [])) => Ok(op),
        Ok((_, rest)) => Err(RecordFault::Trailing(rest.len())),
        Err(e) => Err(RecordFault::Undecodable(e)),
    }
}

/// Why what follows a bad record of the last segment is damage and not a torn write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TailDamage {
    /// A valid record with an lsn not above the bad one's.
    StaleLsn { lsn: u64, at: usize },
    /// A valid record of a later write: the bad one was reported durable.
    LaterWrite { lsn: u64, at: usize },
    /// Valid records of the same write with no lost sector between.
    NoLostSector { at: usize },
}

impl fmt::Display for TailDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TailDamage::StaleLsn { lsn, at } => write!(f, "a valid record with a stale lsn {lsn} follows at byte {at}"),
            TailDamage::LaterWrite { lsn, at } => {
                write!(f, "a valid record of a later write follows at byte {at} (lsn {lsn}): damage, not a torn write")
            }
            TailDamage::NoLostSector { at } => write!(
                f,
                "valid records of the same write follow at byte {at} with no lost sector between: damage, not a \
                 torn write"
            ),
        }
    }
}

fn base_record_fits(index: usize, op: &LogOp) -> bool {
    match index {
        0 => matches!(op, LogOp::Epochs { .. }),
        1 => matches!(op, LogOp::InstallSnapshot { .. }),
        _ => true,
    }
}

/// A base segment is written whole before it gets its name, so its first two records are there.
fn check_base(path: &Path, header: &SegmentHeader, records: usize, at: usize) -> Result<(), StorageError> {
    if header.is_base() && records < 2 {
        return Err(StorageError::damaged(path, at, "a base segment lost its epochs or snapshot record"));
    }
    Ok(())
}

/// Decides what follows the first invalid frame (at `at`, which would hold lsn `lsn`) of the
/// last segment. It is a torn write, cut off, unless valid records follow that prove the
/// write at `at` was reported durable:
/// - a valid record of a later write: writes start only after the previous one was synced;
/// - valid records of the same write, unless the bytes between show a lost sector: a torn
///   write loses whole sectors, and a lost sector of a preallocated file reads as zeros. So
///   either a whole aligned sector between is zero, or the bad record's length field is
///   (the sector holding it was lost; a real record never has length 0).
pub(super) fn classify_tail(bytes: &[u8], at: usize, lsn: u64) -> Result<Tail, TailDamage> {
    let rest = bytes.get(at..).unwrap_or_default();
    if rest.iter().all(|b| *b == 0) {
        return Ok(Tail::Zeros);
    }
    let mut first_valid = None;
    let mut pos = at + 1;
    while pos < bytes.len() {
        match format::parse_frame(bytes, pos) {
            Ok(frame) => {
                if frame.lsn <= lsn {
                    return Err(TailDamage::StaleLsn { lsn: frame.lsn, at: pos });
                }
                if frame.batch_first > lsn {
                    return Err(TailDamage::LaterWrite { lsn: frame.lsn, at: pos });
                }
                first_valid.get_or_insert(pos);
                pos = frame.end;
            }
            Err(FrameFault::Short) => break,
            Err(_) => pos = next_candidate(bytes, pos),
        }
    }
    match first_valid {
        Some(valid) if !length_reads_zero(bytes, at) && !format::has_zero_sector(bytes, at, valid) => {
            Err(TailDamage::NoLostSector { at: valid })
        }
        _ => Ok(Tail::Torn),
    }
}

/// The next offset after `pos` where a frame could start. A frame never has length 0, so
/// offsets whose length field reads zero are skipped: a preallocated tail is crossed at once.
fn next_candidate(bytes: &[u8], pos: usize) -> usize {
    let from = pos.saturating_add(1);
    match bytes.get(from..).and_then(|rest| rest.iter().position(|b| *b != 0)) {
        Some(nonzero) => from.saturating_add(nonzero).saturating_sub(3).max(from),
        None => bytes.len(),
    }
}

fn length_reads_zero(bytes: &[u8], at: usize) -> bool {
    bytes.get(at..at.saturating_add(4)) == Some(&[0u8; 4][..])
}

/// Opens the last segment for appending; a torn tail is cut off durably first.
/// A failed cut is fatal: the server must not start on a log whose end it could not fix.
fn open_last(path: &Path, len: usize, end: usize, tail: Tail, faults: &Faults) -> Result<Segment, StorageError> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(StorageError::io(path, "open"))?;
    let mut allocated = len as u64;
    if tail == Tail::Torn {
        tracing::warn!(
            path = %path.display(),
            offset = end,
            "torn write at the end of the log (never reported durable): cut off"
        );
        (faults.check(FileOp::Truncate, path).and_then(|()| file.set_len(end as u64)))
            .map_err(StorageError::io(path, "truncate"))?;
        (faults.check(FileOp::Sync, path).and_then(|()| file.sync_all())).map_err(StorageError::io(path, "fsync"))?;
        allocated = end as u64;
    }
    file.seek(SeekFrom::Start(end as u64)).map_err(StorageError::io(path, "seek"))?;
    Ok(Segment { file, path: path.to_path_buf(), written: end as u64, allocated })
}

/// Creates the log directory, making its entry in the dataDir durable.
fn create_dir(dir: &Path) -> Result<(), StorageError> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|p| !p.as_os_str().is_empty() && !p.exists()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(StorageError::io(dir, "create directory"))?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    sync_dir(dir)
}

fn list_dir(dir: &Path) -> Result<Listing, StorageError> {
    let mut segments = Vec::new();
    let mut checkpoints = Vec::new();
    let mut half_built = Vec::new();
    for entry in fs::read_dir(dir).map_err(StorageError::io(dir, "list"))? {
        let entry = entry.map_err(StorageError::io(dir, "list"))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = |name: &str| format::parse_segment_name(name).or(format::parse_checkpoint_name(name));
        if let Some(lsn) = format::parse_segment_name(name) {
            segments.push((lsn, path));
        } else if let Some(lsn) = format::parse_checkpoint_name(name) {
            checkpoints.push((lsn, path));
        } else if name.strip_suffix(format::TEMP_SUFFIX).and_then(ours).is_some() {
            half_built.push(path);
        } else {
            tracing::warn!(path = %path.display(), "ignoring a file that is not a log segment");
        }
    }
    segments.sort();
    checkpoints.sort();
    Ok(Listing { segments, checkpoints, half_built })
}

/// The header of the segment named for `lsn`, if it checks out and agrees with the name.
fn read_segment_header(path: &Path, lsn: u64) -> Result<SegmentHeader, StorageError> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES);
    let file = fs::File::open(path).map_err(StorageError::io(path, "open"))?;
    file.take(HEADER_BYTES as u64).read_to_end(&mut bytes).map_err(StorageError::io(path, "read"))?;
    let header = SegmentHeader::decode(&bytes).map_err(|why| StorageError::damaged(path, 0, why.to_string()))?;
    if header.is_checkpoint() {
        return Err(StorageError::damaged(path, 12, "a checkpoint header in a log segment"));
    }
    if header.first_lsn != lsn {
        return Err(StorageError::damaged(
            path,
            16,
            format!("the header says the segment starts at lsn {}, its name says {lsn}", header.first_lsn),
        ));
    }
    Ok(header)
}
