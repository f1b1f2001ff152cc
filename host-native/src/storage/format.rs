//! The bytes of a segment file (its header and its record frames) and of a checkpoint file
//! (docs/FORMAT.md). Pure functions over byte slices; reading never indexes blindly, since the
//! bytes come from disk.

#![deny(clippy::indexing_slicing)]

use std::fmt;

use zabkeeper_core::Zxid;

/// The first bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"ZABKLOG\n";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// A segment header: magic, version, flags, first lsn, reserved, CRC32C of the rest.
pub const HEADER_BYTES: usize = 32;
/// A frame header: length, batch offset, lsn, payload CRC32C, header CRC32C.
pub const FRAME_HEADER_BYTES: usize = 24;
/// Header flag: the segment starts with the whole state (epochs, then a snapshot), so no
/// earlier segment is needed.
pub const FLAG_BASE: u32 = 1;
/// Header flag: a checkpoint file, not a log segment.
pub const FLAG_CHECKPOINT: u32 = 2;
/// Torn writes lose whole sectors; a lost sector of a preallocated file reads as zeros.
pub const SECTOR_BYTES: usize = 512;

/// A segment file's name: `log.` and its first lsn as 16 hex digits, so names sort in order.
pub fn segment_name(first_lsn: u64) -> String {
    format!("log.{first_lsn:016x}")
}

/// A checkpoint file's name: `snap.` and the lsn of the first record after it.
pub fn checkpoint_name(lsn: u64) -> String {
    format!("snap.{lsn:016x}")
}

/// The suffix of a file still being built; such a file was never part of the log.
pub const TEMP_SUFFIX: &str = ".tmp";

/// The first lsn a segment file name stands for, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    parse_lsn(name.strip_prefix("log.")?)
}

/// The lsn a checkpoint file name stands for, if it is one.
pub fn parse_checkpoint_name(name: &str) -> Option<u64> {
    parse_lsn(name.strip_prefix("snap.")?)
}

fn parse_lsn(hex: &str) -> Option<u64> {
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub flags: u32,
    pub first_lsn: u64,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        let mut at = Cursor::new(&mut out);
        at.put(&MAGIC);
        at.put(&VERSION.to_le_bytes());
        at.put(&self.flags.to_le_bytes());
        at.put(&self.first_lsn.to_le_bytes());
        at.put(&0u32.to_le_bytes());
        let crc = crc32c::crc32c(at.written());
        at.put(&crc.to_le_bytes());
        out
    }

    /// Reads a header, or says what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderFault> {
        let Some(head) = bytes.get(..HEADER_BYTES) else {
            return Err(HeaderFault::Short { len: bytes.len() });
        };
        if head.get(..8) != Some(&MAGIC[..]) {
            return Err(HeaderFault::Magic);
        }
        let version = le_u32(head, 8);
        let flags = le_u32(head, 12);
        let first_lsn = le_u64(head, 16);
        let reserved = le_u32(head, 24);
        let crc = le_u32(head, 28);
        if crc32c::crc32c(head.get(..28).unwrap_or_default()) != crc {
            return Err(HeaderFault::Checksum);
        }
        if version != VERSION {
            return Err(HeaderFault::Version(version));
        }
        if !matches!(flags, 0 | FLAG_BASE | FLAG_CHECKPOINT) || reserved != 0 {
            return Err(HeaderFault::Flags { flags, reserved });
        }
        if first_lsn == 0 {
            return Err(HeaderFault::LsnZero);
        }
        Ok(SegmentHeader { flags, first_lsn })
    }

    pub fn is_base(&self) -> bool {
        self.flags & FLAG_BASE != 0
    }

    pub fn is_checkpoint(&self) -> bool {
        self.flags & FLAG_CHECKPOINT != 0
    }
}

/// The fixed fields of a checkpoint record, before the snapshot bytes.
pub const CHECKPOINT_FIXED_BYTES: usize = 24;

/// What a checkpoint file says: the state before lsn `lsn` (its name) is the snapshot at
/// `zxid`, the epochs, and the log entries of the records from `replay_from` to `lsn - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint<'a> {
    pub lsn: u64,
    /// Where replay starts: the record of the first log entry after `zxid` (or `lsn`).
    pub replay_from: u64,
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    pub zxid: Zxid,
    pub snapshot: &'a [u8],
}

impl Checkpoint<'_> {
    /// The whole file: a header flagged as a checkpoint, then one frame holding the record.
    /// The caller checked that the record fits a u32. (Files are written from
    /// [`Checkpoint::encode_head`] and the snapshot.)
    #[cfg(test)]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.encode_head();
        out.extend_from_slice(self.snapshot);
        out
    }

    /// The file up to the snapshot bytes, which follow it to the end: written apart, so a
    /// large snapshot is never copied. The caller checked that the record fits a u32.
    pub fn encode_head(&self) -> Vec<u8> {
        let mut fixed = [0u8; CHECKPOINT_FIXED_BYTES];
        let mut at = Cursor::new(&mut fixed);
        at.put(&self.replay_from.to_le_bytes());
        at.put(&self.accepted_epoch.to_le_bytes());
        at.put(&self.current_epoch.to_le_bytes());
        at.put(&self.zxid.as_u64().to_le_bytes());
        let len =
            u32::try_from(CHECKPOINT_FIXED_BYTES + self.snapshot.len()).expect("caller checked the record length");
        let crc = crc32c::crc32c_append(crc32c::crc32c(&fixed), self.snapshot);
        let mut out = Vec::with_capacity(HEADER_BYTES + FRAME_HEADER_BYTES + CHECKPOINT_FIXED_BYTES);
        out.extend_from_slice(&SegmentHeader { flags: FLAG_CHECKPOINT, first_lsn: self.lsn }.encode());
        out.extend_from_slice(&frame_header(len, 0, self.lsn, crc));
        out.extend_from_slice(&fixed);
        out
    }

    /// Reads a whole checkpoint file named for `lsn`, or says what is wrong with it and where.
    pub fn decode(bytes: &[u8], lsn: u64) -> Result<Checkpoint<'_>, (usize, String)> {
        let header = SegmentHeader::decode(bytes).map_err(|why| (0, why.to_string()))?;
        if !header.is_checkpoint() || header.first_lsn != lsn {
            return Err((0, format!("not the checkpoint at lsn {lsn} (header: {header:?})")));
        }
        let frame = parse_frame(bytes, HEADER_BYTES).map_err(|fault| (HEADER_BYTES, fault.describe().into()))?;
        if frame.lsn != lsn || frame.end != bytes.len() {
            return Err((
                HEADER_BYTES,
                format!("record lsn {}, {} bytes after it", frame.lsn, bytes.len() - frame.end),
            ));
        }
        let payload = bytes.get(frame.payload_start..frame.end).unwrap_or_default();
        let (fixed, snapshot) = payload
            .split_at_checked(CHECKPOINT_FIXED_BYTES)
            .ok_or((frame.payload_start, "checkpoint record cut short".to_string()))?;
        let replay_from = le_u64(fixed, 0);
        if replay_from == 0 || replay_from > lsn {
            return Err((frame.payload_start, format!("replay starts at lsn {replay_from}, after the checkpoint")));
        }
        Ok(Checkpoint {
            lsn,
            replay_from,
            accepted_epoch: le_u32(fixed, 8),
            current_epoch: le_u32(fixed, 12),
            zxid: Zxid::from_u64(le_u64(fixed, 16)),
            snapshot,
        })
    }
}

/// Appends one record frame to `out`. `batch_first` is the lsn of the first record of the
/// write (group commit) this record belongs to. The caller checked that `payload` fits a u32.
pub fn encode_frame(out: &mut Vec<u8>, lsn: u64, batch_first: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("caller checked the payload length");
    // A batch never holds 2^32 records; saturating only makes recovery more suspicious.
    let batch_back = u32::try_from(lsn.saturating_sub(batch_first)).unwrap_or(u32::MAX);
    out.extend_from_slice(&frame_header(len, batch_back, lsn, crc32c::crc32c(payload)));
    out.extend_from_slice(payload);
}

fn frame_header(len: u32, batch_back: u32, lsn: u64, payload_crc: u32) -> [u8; FRAME_HEADER_BYTES] {
    let mut head = [0u8; FRAME_HEADER_BYTES];
    let mut at = Cursor::new(&mut head);
    at.put(&len.to_le_bytes());
    at.put(&batch_back.to_le_bytes());
    at.put(&lsn.to_le_bytes());
    at.put(&payload_crc.to_le_bytes());
    let crc = crc32c::crc32c(at.written());
    at.put(&crc.to_le_bytes());
    head
}

/// One valid frame found in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub lsn: u64,
    /// The lsn of the first record of the same write.
    pub batch_first: u64,
    /// Where the payload starts and ends (file offsets).
    pub payload_start: usize,
    pub end: usize,
}

/// Why a segment header is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderFault {
    Short { len: usize },
    Magic,
    Checksum,
    Version(u32),
    Flags { flags: u32, reserved: u32 },
    LsnZero,
}

impl fmt::Display for HeaderFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderFault::Short { len } => write!(f, "segment header cut short: {len} of {HEADER_BYTES} bytes"),
            HeaderFault::Magic => f.write_str("not a zabkeeper log segment (bad magic)"),
            HeaderFault::Checksum => f.write_str("segment header checksum mismatch"),
            HeaderFault::Version(v) => write!(f, "unsupported format version {v} (this build reads {VERSION})"),
            HeaderFault::Flags { flags, reserved } => {
                write!(f, "unknown segment header flags {flags:#x} / reserved {reserved:#x}")
            }
            HeaderFault::LsnZero => f.write_str("segment header names lsn 0"),
        }
    }
}

/// Why no valid frame starts at an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFault {
    /// Fewer bytes than a frame header remain.
    Short,
    /// The header's checksum fails (all zeros included: the preallocated tail).
    Header,
    /// The length runs past the end of the file.
    Length,
    /// The payload's checksum fails.
    Payload,
}

impl FrameFault {
    pub fn describe(self) -> &'static str {
        match self {
            FrameFault::Short => "record header cut short",
            FrameFault::Header => "record header checksum mismatch",
            FrameFault::Length => "record length runs past the end of the file",
            FrameFault::Payload => "record payload checksum mismatch",
        }
    }
}

/// Reads the frame starting at `at` in `bytes` (a whole file) and checks both checksums.
pub fn parse_frame(bytes: &[u8], at: usize) -> Result<Frame, FrameFault> {
    let head_end = at.checked_add(FRAME_HEADER_BYTES).ok_or(FrameFault::Short)?;
    let head = bytes.get(at..head_end).ok_or(FrameFault::Short)?;
    if crc32c::crc32c(head.get(..20).unwrap_or_default()) != le_u32(head, 20) {
        return Err(FrameFault::Header);
    }
    let len = le_u32(head, 0) as usize;
    let batch_back = u64::from(le_u32(head, 4));
    let lsn = le_u64(head, 8);
    let end = head_end.checked_add(len).ok_or(FrameFault::Length)?;
    let payload = bytes.get(head_end..end).ok_or(FrameFault::Length)?;
    if crc32c::crc32c(payload) != le_u32(head, 16) {
        return Err(FrameFault::Payload);
    }
    Ok(Frame { lsn, batch_first: lsn.saturating_sub(batch_back), payload_start: head_end, end })
}

/// Whether `bytes[from..to]` holds a whole sector-aligned run of zeros: the mark a lost
/// sector of a torn write leaves in a preallocated file.
pub fn has_zero_sector(bytes: &[u8], from: usize, to: usize) -> bool {
    let mut start = from.div_ceil(SECTOR_BYTES).saturating_mul(SECTOR_BYTES);
    while let Some(end) = start.checked_add(SECTOR_BYTES).filter(|end| *end <= to) {
        if bytes.get(start..end).is_some_and(|s| s.iter().all(|b| *b == 0)) {
            return true;
        }
        start = end;
    }
    false
}

/// Little-endian reads at fixed offsets of a slice already checked to be long enough;
/// a short slice reads as zeros rather than panicking.
fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        word.copy_from_slice(src);
    }
    u32::from_le_bytes(word)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        word.copy_from_slice(src);
    }
    u64::from_le_bytes(word)
}

/// Writes fixed-size fields into a fixed-size array.
struct Cursor<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(out: &'a mut [u8]) -> Cursor<'a> {
        Cursor { out, at: 0 }
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        // The layouts above are constants that fit their arrays.
        self.out.get_mut(self.at..end).expect("field inside its header").copy_from_slice(bytes);
        self.at = end;
    }

    fn written(&self) -> &[u8] {
        self.out.get(..self.at).unwrap_or_default()
    }
}
