//! Recovery: finds the segments, replays every record through [`Image::apply`] and decides
//! where the log ends. The rules are in docs/FORMAT.md, "Recovery".

#![deny(clippy::indexing_slicing)]

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use zabkeeper_core::zab::{Image, LogOp};

use super::format::{self, FrameFault, HEADER_BYTES, SegmentHeader};
use super::journal::{Journal, Segment, sync_dir};
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

/// Opens `dir` (creating it if needed) and rebuilds the image its segments hold. Nothing on
/// disk changes unless the whole log checks out: then half-built and superseded segments are
/// deleted and a torn tail is cut off.
pub(super) fn recover(dir: &Path, options: StorageOptions) -> Result<(Journal, Image), StorageError> {
    create_dir(dir)?;
    let listing = list_dir(dir)?;
    let Plan { superseded, live } = plan(listing.segments)?;
    let leftovers: Vec<PathBuf> = listing.half_built.into_iter().chain(superseded).collect();

    let mut image = Image::default();
    let mut next_lsn = live.first().map_or(1, |(_, header)| header.first_lsn);
    let mut last = None;
    for (i, (path, header)) in live.iter().enumerate() {
        if header.first_lsn != next_lsn {
            return Err(StorageError::damaged(
                path,
                16,
                format!(
                    "the segment starts at lsn {}, the one before it ends at lsn {}",
                    header.first_lsn,
                    next_lsn - 1
                ),
            ));
        }
        let bytes = fs::read(path).map_err(StorageError::io(path, "read"))?;
        let is_last = i + 1 == live.len();
        let replayed = replay(path, &bytes, header, is_last, &mut image)?;
        next_lsn = replayed.next_lsn;
        if is_last {
            last = Some((bytes.len(), replayed));
        }
    }

    if !leftovers.is_empty() {
        for path in &leftovers {
            fs::remove_file(path).map_err(StorageError::io(path, "delete"))?;
        }
        sync_dir(dir)?;
    }
    let current = match (live.last(), last) {
        (Some((path, _)), Some((len, replayed))) => Some(open_last(path, len, replayed.end, replayed.tail)?),
        _ => None,
    };
    let segments = live.into_iter().map(|(path, header)| (header.first_lsn, path)).collect();
    let epochs = (image.accepted_epoch, image.current_epoch);
    Ok((Journal::new(dir.to_path_buf(), options, segments, current, next_lsn, epochs), image))
}

/// What is in the log directory.
struct Listing {
    /// Segments by first lsn, in order.
    segments: Vec<(u64, PathBuf)>,
    /// `*.tmp`: segments never renamed into place, so never part of the log.
    half_built: Vec<PathBuf>,
}

/// Which segments recovery replays.
struct Plan {
    /// Before the newest base segment: redundant, leftovers of an interrupted delete.
    superseded: Vec<PathBuf>,
    /// From the newest base segment (or the first) on, with their headers.
    live: Vec<(PathBuf, SegmentHeader)>,
}

/// Splits the segments at the newest base segment; the headers of the live ones must check out.
fn plan(segments: Vec<(u64, PathBuf)>) -> Result<Plan, StorageError> {
    let headers: Vec<Result<SegmentHeader, StorageError>> = segments
        .iter()
        .map(|(lsn, path)| {
            let header = read_header(path)?;
            if header.first_lsn != *lsn {
                return Err(StorageError::damaged(
                    path,
                    16,
                    format!("the header says the segment starts at lsn {}, its name says {lsn}", header.first_lsn),
                ));
            }
            Ok(header)
        })
        .collect();
    let start = headers.iter().rposition(|h| h.as_ref().is_ok_and(SegmentHeader::is_base)).unwrap_or(0);
    let mut superseded = Vec::new();
    let mut live = Vec::new();
    for (i, ((_, path), header)) in segments.into_iter().zip(headers).enumerate() {
        if i < start {
            superseded.push(path);
        } else {
            live.push((path, header?));
        }
    }
    if let Some((path, header)) = live.first()
        && header.first_lsn != 1
        && !header.is_base()
    {
        return Err(StorageError::damaged(
            path,
            0,
            format!("the log starts at lsn {} without a snapshot: earlier segments are missing", header.first_lsn),
        ));
    }
    Ok(Plan { superseded, live })
}

/// What replaying one segment found.
struct Replayed {
    next_lsn: u64,
    /// The offset just after the last valid record.
    end: usize,
    tail: Tail,
}

/// Replays the records of one segment (a whole file in `bytes`) into `image`.
fn replay(
    path: &Path,
    bytes: &[u8],
    header: &SegmentHeader,
    last: bool,
    image: &mut Image,
) -> Result<Replayed, StorageError> {
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
        let op = decode(payload).map_err(|why| StorageError::damaged(path, at, why))?;
        if header.is_base() && !base_record_fits(records, &op) {
            return Err(StorageError::damaged(path, at, "a base segment must start with the epochs, then a snapshot"));
        }
        image.apply(&op).map_err(|why| StorageError::damaged(path, at, format!("record lsn {lsn} refused: {why}")))?;
        records += 1;
        lsn = lsn.checked_add(1).ok_or_else(|| StorageError::damaged(path, at, "lsn overflows"))?;
        at = frame.end;
    }
    check_base(path, header, records, at)?;
    Ok(Replayed { next_lsn: lsn, end: at, tail: Tail::Clean })
}

fn decode(payload: &[u8]) -> Result<LogOp, String> {
    match postcard::take_from_bytes::<LogOp>(payload) {
        Ok((op, [])) => Ok(op),
        Ok((_, rest)) => Err(format!("record has {} bytes after its write", rest.len())),
        Err(e) => Err(format!("record does not decode: {e}")),
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
pub(super) fn classify_tail(bytes: &[u8], at: usize, lsn: u64) -> Result<Tail, String> {
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
                    return Err(format!("a valid record with a stale lsn {} follows at byte {pos}", frame.lsn));
                }
                if frame.batch_first > lsn {
                    return Err(format!(
                        "a valid record of a later write follows at byte {pos} (lsn {}): damage, not a torn write",
                        frame.lsn
                    ));
                }
                first_valid.get_or_insert(pos);
                pos = frame.end;
            }
            Err(FrameFault::Short) => break,
            Err(_) => pos = next_candidate(bytes, pos),
        }
    }
    match first_valid {
        Some(valid) if !length_reads_zero(bytes, at) && !format::has_zero_sector(bytes, at, valid) => Err(format!(
            "valid records of the same write follow at byte {valid} with no lost sector between: damage, not a \
             torn write"
        )),
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
fn open_last(path: &Path, len: usize, end: usize, tail: Tail) -> Result<Segment, StorageError> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(StorageError::io(path, "open"))?;
    let mut allocated = len as u64;
    if tail == Tail::Torn {
        tracing::warn!(
            path = %path.display(),
            offset = end,
            "torn write at the end of the log (never reported durable): cut off"
        );
        file.set_len(end as u64).map_err(StorageError::io(path, "truncate"))?;
        file.sync_all().map_err(StorageError::io(path, "fsync"))?;
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
    let mut half_built = Vec::new();
    for entry in fs::read_dir(dir).map_err(StorageError::io(dir, "list"))? {
        let entry = entry.map_err(StorageError::io(dir, "list"))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(lsn) = format::parse_segment_name(name) {
            segments.push((lsn, path));
        } else if name.strip_suffix(format::TEMP_SUFFIX).and_then(format::parse_segment_name).is_some() {
            half_built.push(path);
        } else {
            tracing::warn!(path = %path.display(), "ignoring a file that is not a log segment");
        }
    }
    segments.sort();
    Ok(Listing { segments, half_built })
}

fn read_header(path: &Path) -> Result<SegmentHeader, StorageError> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES);
    let file = fs::File::open(path).map_err(StorageError::io(path, "open"))?;
    file.take(HEADER_BYTES as u64).read_to_end(&mut bytes).map_err(StorageError::io(path, "read"))?;
    SegmentHeader::decode(&bytes).map_err(|why| StorageError::damaged(path, 0, why))
}
