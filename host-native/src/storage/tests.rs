//! Storage against real files in a temporary directory: every write kind round-trips, the
//! recovered image is the one `Image::apply` builds in memory, torn tails are cut off and
//! damage is refused with the file and offset. Checkpoints and retention: `checkpoints`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use zabkeeper_core::txn::{CreateTxn, Txn};
use zabkeeper_core::zab::{Entry, Image, LogOp};
use zabkeeper_core::{SessionId, Zxid};

use super::format::{self, HEADER_BYTES, SECTOR_BYTES};
use super::{SUBDIR, Storage, StorageError, StorageOptions};

mod checkpoints;
mod faults;

fn options() -> StorageOptions {
    StorageOptions { force_sync: true, segment_bytes: 64 << 20, prealloc_bytes: 64 << 10, snap_retain_count: 3 }
}

fn entry(epoch: u32, counter: u32) -> Entry {
    let txn = match counter % 3 {
        0 => Txn::Create(CreateTxn {
            path: format!("/n{counter}"),
            data: Some(vec![7; 5]),
            acl: Vec::new(),
            ephemeral_owner: 0,
            parent_cversion: counter as i32,
        }),
        1 => Txn::SetData { path: format!("/n{counter}"), data: Some(vec![0xa5; 40]), version: counter as i32 },
        _ => {
            Txn::CreateSession { session: SessionId(counter as i64), timeout_ms: 30_000, password: [counter as u8; 16] }
        }
    };
    Entry { zxid: Zxid::new(epoch, counter), time_ms: 1_700_000_000_000, session: SessionId(9), cxid: 3, txn }
}

fn append(epoch: u32, counter: u32) -> LogOp {
    LogOp::Append(std::sync::Arc::new(entry(epoch, counter)))
}

/// An append whose bytes are never zero at the end, filling about `bytes`.
fn fat_append(counter: u32, bytes: usize) -> LogOp {
    let txn = Txn::SetData { path: "/fat".into(), data: Some(vec![0x5a; bytes]), version: 1 + counter as i32 };
    LogOp::Append(std::sync::Arc::new(Entry {
        zxid: Zxid::new(1, counter),
        time_ms: 1,
        session: SessionId(1),
        cxid: 1,
        txn,
    }))
}

fn model(ops: &[LogOp]) -> Image {
    let mut image = Image::default();
    for op in ops {
        image.apply(op).expect("the model accepts every test write");
    }
    image
}

fn assert_same(found: &Image, wanted: &Image) {
    assert_eq!(
        (found.accepted_epoch, found.current_epoch, &found.snapshot, &found.log),
        (wanted.accepted_epoch, wanted.current_epoch, &wanted.snapshot, &wanted.log)
    );
}

fn log_dir(dir: &Path) -> PathBuf {
    dir.join(SUBDIR)
}

/// The segment files, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(log_dir(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).and_then(format::parse_segment_name).is_some())
        .collect();
    found.sort();
    found
}

fn open(dir: &Path, options: StorageOptions) -> (Storage, Image) {
    Storage::open(dir, options).unwrap_or_else(|e| panic!("open: {e}"))
}

/// Writes `ops` through the writer thread and closes it; returns the seqs reported durable.
fn write_all(dir: &Path, options: StorageOptions, ops: &[LogOp]) -> Vec<u64> {
    let (storage, _) = open(dir, options);
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = reported.clone();
    let writer = storage.start(move |seq| sink.lock().unwrap().push(seq), |e| panic!("{e}"));
    for (i, op) in ops.iter().enumerate() {
        writer.persist(i as u64 + 1, op.clone());
    }
    writer.close().unwrap();
    // The thread has ended, and the callback holding the other handle with it.
    Arc::try_unwrap(reported).unwrap().into_inner().unwrap()
}

/// Writes each op as its own synced write, directly on the journal. Returns where each
/// record starts and ends in the (single) segment.
fn write_each(dir: &Path, options: StorageOptions, ops: &[LogOp]) -> Vec<(usize, usize)> {
    let (mut storage, _) = open(dir, options);
    let mut spans = Vec::new();
    for op in ops {
        let journal = &mut storage.journal;
        let start = journal.current.as_ref().map_or(HEADER_BYTES as u64, |s| s.written);
        journal.append(op).unwrap();
        journal.commit(true).unwrap();
        spans.push((start as usize, journal.current.as_ref().unwrap().written as usize));
    }
    spans
}

fn damaged(result: Result<(Storage, Image), StorageError>) -> (PathBuf, u64, String) {
    match result {
        Err(StorageError::Damaged { path, offset, what }) => (path, offset, what),
        Err(e) => panic!("expected damage, got {e}"),
        Ok(_) => panic!("expected damage, the log opened"),
    }
}

fn flip_bit(path: &Path, offset: usize, bit: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= 1 << bit;
    fs::write(path, bytes).unwrap();
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn an_empty_directory_is_a_blank_image() {
    let dir = tempdir();
    let (_, image) = open(dir.path(), options());
    assert!(image.is_blank());
    let (_, image) = open(dir.path(), options());
    assert!(image.is_blank());
    assert!(segments(dir.path()).is_empty());
}

#[test]
fn every_write_kind_round_trips() {
    let ops = vec![
        LogOp::Epochs { accepted: 1, current: 0 },
        LogOp::Epochs { accepted: 1, current: 1 },
        append(1, 1),
        append(1, 2),
        append(1, 3),
        LogOp::Truncate { after: Zxid::new(1, 1) },
        append(1, 2),
        LogOp::InstallSnapshot { zxid: Zxid::new(2, 7), snapshot: vec![1, 2, 3, 0, 255] },
        LogOp::Epochs { accepted: 3, current: 2 },
        append(2, 8),
        append(2, 9),
        LogOp::Truncate { after: Zxid::new(2, 8) },
        append(3, 1),
    ];
    let dir = tempdir();
    write_all(dir.path(), options(), &ops);
    let (_, image) = open(dir.path(), options());
    assert_same(&image, &model(&ops));
    assert_eq!(image.snapshot, Some((Zxid::new(2, 7), vec![1, 2, 3, 0, 255])));
    assert_eq!(image.log.iter().map(|e| e.zxid).collect::<Vec<_>>(), [Zxid::new(2, 8), Zxid::new(3, 1)]);
    assert_eq!((image.accepted_epoch, image.current_epoch), (3, 2));
}

#[test]
fn recovery_continues_the_log_across_restarts() {
    let dir = tempdir();
    let mut all = Vec::new();
    for round in 1..=4u32 {
        let ops: Vec<LogOp> = std::iter::once(LogOp::Epochs { accepted: round, current: round })
            .chain((1..=20).map(|c| append(round, c)))
            .collect();
        write_all(dir.path(), options(), &ops);
        all.extend(ops);
        let (_, image) = open(dir.path(), options());
        assert_same(&image, &model(&all));
    }
    assert_eq!(segments(dir.path()).len(), 1);
}

#[test]
fn group_commit_reports_the_last_seq_of_each_batch() {
    let dir = tempdir();
    let (storage, _) = open(dir.path(), options());
    let (reports, seen) = mpsc::channel();
    let (release, gate) = mpsc::channel::<()>();
    let writer = storage.start(
        move |seq| {
            reports.send(seq).unwrap();
            // Hold the writer after its first batch so everything else queues behind it.
            if seq == 1 {
                gate.recv().unwrap();
            }
        },
        |e| panic!("{e}"),
    );
    writer.persist(1, LogOp::Epochs { accepted: 1, current: 1 });
    assert_eq!(seen.recv().unwrap(), 1);
    for c in 1..=100u32 {
        writer.persist(u64::from(c) + 1, append(1, c));
    }
    release.send(()).unwrap();
    assert_eq!(seen.recv().unwrap(), 101, "the 100 queued writes are one batch");
    writer.close().unwrap();
    assert!(seen.try_recv().is_err());
}

#[test]
fn reported_seqs_rise_and_end_at_the_last() {
    let dir = tempdir();
    let ops: Vec<LogOp> = (1..=500).map(|c| append(1, c)).collect();
    let reported = write_all(dir.path(), options(), &ops);
    assert!(reported.windows(2).all(|w| w[0] < w[1]), "{reported:?}");
    assert_eq!(reported.last(), Some(&500));
}

#[test]
fn a_torn_last_record_is_cut_off_at_every_byte() {
    let ops: Vec<LogOp> = (1..=4).map(|c| append(1, c)).collect();
    let whole = tempdir();
    let no_prealloc = StorageOptions { prealloc_bytes: 0, ..options() };
    let spans = write_each(whole.path(), no_prealloc, &ops);
    let (start, end) = *spans.last().unwrap();
    let bytes = fs::read(&segments(whole.path())[0]).unwrap();
    assert_eq!(bytes.len(), end);
    for cut in start..end {
        let dir = tempdir();
        fs::create_dir_all(log_dir(dir.path())).unwrap();
        let path = log_dir(dir.path()).join(format::segment_name(1));
        fs::write(&path, &bytes[..cut]).unwrap();
        let (storage, image) = open(dir.path(), no_prealloc);
        assert_same(&image, &model(&ops[..3]));
        assert_eq!(fs::metadata(&path).unwrap().len(), start as u64, "cut at {cut}: truncated durably");
        // The log goes on from there.
        let writer = storage.start(|_| {}, |e| panic!("{e}"));
        writer.persist(1, append(1, 4));
        writer.close().unwrap();
        assert_same(&open(dir.path(), no_prealloc).1, &model(&ops));
    }
}

#[test]
fn a_flipped_bit_in_the_last_record_is_a_torn_tail() {
    let ops: Vec<LogOp> = (1..=4).map(|c| append(1, c)).collect();
    let reference = tempdir();
    let spans = write_each(reference.path(), options(), &ops);
    let (start, end) = *spans.last().unwrap();
    for offset in [start, start + 4, start + 12, start + 20, start + 30, end - 1] {
        let dir = tempdir();
        write_each(dir.path(), options(), &ops);
        let path = &segments(dir.path())[0];
        flip_bit(path, offset, 3);
        let (_, image) = open(dir.path(), options());
        assert_same(&image, &model(&ops[..3]));
        assert_eq!(fs::metadata(path).unwrap().len(), start as u64);
    }
}

#[test]
fn a_flipped_bit_before_valid_records_is_damage() {
    let ops: Vec<LogOp> = (1..=6).map(|c| append(1, c)).collect();
    let reference = tempdir();
    let spans = write_each(reference.path(), options(), &ops);
    let (start, _) = spans[2];
    for offset in [start, start + 5, start + 17, start + 40] {
        let dir = tempdir();
        write_each(dir.path(), options(), &ops);
        let segment = segments(dir.path())[0].clone();
        let before = fs::read(&segment).unwrap();
        flip_bit(&segment, offset, 0);
        let result = Storage::open(dir.path(), options());
        let shown = result.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
        let (path, at, what) = damaged(result);
        assert_eq!((path, at), (segment.clone(), start as u64), "{what}");
        assert!(shown.contains(&format!("{} at byte {start}", segment.display())), "{shown}");
        // Nothing was cut off.
        fs::write(&segment, &before).unwrap();
        assert_same(&open(dir.path(), options()).1, &model(&ops));
    }
}

#[test]
fn a_flipped_bit_inside_one_write_before_its_valid_records_is_damage() {
    // One acknowledged write of many records; bit rot in the middle is not a torn write.
    let ops: Vec<LogOp> = (1..=20).map(|c| append(1, c)).collect();
    let dir = tempdir();
    let (mut storage, _) = open(dir.path(), options());
    for op in &ops {
        storage.journal.append(op).unwrap();
    }
    storage.journal.commit(true).unwrap();
    drop(storage);
    let segment = segments(dir.path())[0].clone();
    let offset = HEADER_BYTES + 100;
    flip_bit(&segment, offset, 6);
    let (path, at, what) = damaged(Storage::open(dir.path(), options()));
    assert_eq!(path, segment);
    assert!(at <= offset as u64, "{at} {what}");
    assert!(what.contains("same write"), "{what}");
}

#[test]
fn the_zero_filled_preallocated_tail_is_the_end() {
    let dir = tempdir();
    let ops: Vec<LogOp> = (1..=10).map(|c| append(1, c)).collect();
    write_all(dir.path(), options(), &ops[..5]);
    let segment = segments(dir.path())[0].clone();
    let allocated = fs::metadata(&segment).unwrap().len();
    assert_eq!(allocated, options().prealloc_bytes, "preallocated");
    let (_, image) = open(dir.path(), options());
    assert_same(&image, &model(&ops[..5]));
    assert_eq!(fs::metadata(&segment).unwrap().len(), allocated, "a zero tail is not cut off");
    write_all(dir.path(), options(), &ops[5..]);
    assert_eq!(fs::metadata(&segment).unwrap().len(), allocated, "appends fill the preallocation");
    assert_same(&open(dir.path(), options()).1, &model(&ops));
}

#[test]
fn preallocation_grows_in_steps() {
    let dir = tempdir();
    let small = StorageOptions { prealloc_bytes: 4096, ..options() };
    let ops: Vec<LogOp> = (1..=40).map(|c| fat_append(c, 300)).collect();
    write_all(dir.path(), small, &ops);
    let len = fs::metadata(&segments(dir.path())[0]).unwrap().len();
    assert_eq!(len % 4096, 0);
    assert!(len > 4096);
    assert_same(&open(dir.path(), small).1, &model(&ops));
}

#[test]
fn segments_roll_over_and_recover_in_order() {
    let dir = tempdir();
    let tiny = StorageOptions { segment_bytes: 400, prealloc_bytes: 300, ..options() };
    let ops: Vec<LogOp> =
        std::iter::once(LogOp::Epochs { accepted: 1, current: 1 }).chain((1..=60).map(|c| append(1, c))).collect();
    write_all(dir.path(), tiny, &ops[..30]);
    write_all(dir.path(), tiny, &ops[30..]);
    let files = segments(dir.path());
    assert!(files.len() > 10, "{} segments", files.len());
    for file in &files[..files.len() - 1] {
        let len = fs::metadata(file).unwrap().len();
        assert!(len <= 400, "{} is {len} bytes", file.display());
        let bytes = fs::read(file).unwrap();
        assert_ne!(bytes.last(), Some(&0), "a finished segment is trimmed to its records");
    }
    assert_same(&open(dir.path(), tiny).1, &model(&ops));
    // The same files read with other options.
    assert_same(&open(dir.path(), options()).1, &model(&ops));
}

#[test]
fn damage_in_a_segment_that_is_not_the_last_is_an_error() {
    let dir = tempdir();
    let tiny = StorageOptions { segment_bytes: 400, ..options() };
    let ops: Vec<LogOp> = (1..=30).map(|c| append(1, c)).collect();
    write_all(dir.path(), tiny, &ops);
    let files = segments(dir.path());
    let first = &files[0];
    let len = fs::metadata(first).unwrap().len() as usize;
    flip_bit(first, len - 1, 1);
    let (path, _, what) = damaged(Storage::open(dir.path(), tiny));
    assert_eq!(&path, first);
    assert!(what.contains("not the last"), "{what}");
}

#[test]
fn a_missing_segment_is_an_error() {
    let dir = tempdir();
    let tiny = StorageOptions { segment_bytes: 400, ..options() };
    let ops: Vec<LogOp> = (1..=30).map(|c| append(1, c)).collect();
    write_all(dir.path(), tiny, &ops);
    let files = segments(dir.path());
    fs::remove_file(&files[2]).unwrap();
    let (path, offset, what) = damaged(Storage::open(dir.path(), tiny));
    assert_eq!((path, offset), (files[3].clone(), 16), "{what}");
    fs::remove_file(&files[0]).unwrap();
    let (path, _, what) = damaged(Storage::open(dir.path(), tiny));
    assert_eq!(path, files[1]);
    assert!(what.contains("earlier segments are missing"), "{what}");
}

#[test]
fn a_bad_segment_header_is_an_error() {
    for (offset, expect) in [(0, "bad magic"), (9, "checksum"), (17, "checksum"), (30, "checksum")] {
        let dir = tempdir();
        write_all(dir.path(), options(), &[append(1, 1)]);
        let segment = segments(dir.path())[0].clone();
        flip_bit(&segment, offset, 2);
        let (path, at, what) = damaged(Storage::open(dir.path(), options()));
        assert_eq!((path, at), (segment, 0));
        assert!(what.contains(expect), "{what}");
    }
    // A header from a later format version.
    let dir = tempdir();
    write_all(dir.path(), options(), &[append(1, 1)]);
    let segment = segments(dir.path())[0].clone();
    let mut bytes = fs::read(&segment).unwrap();
    let mut header = super::format::SegmentHeader { flags: 0, first_lsn: 1 }.encode();
    header[8] = 2;
    let crc = crc32c::crc32c(&header[..28]);
    header[28..].copy_from_slice(&crc.to_le_bytes());
    bytes[..HEADER_BYTES].copy_from_slice(&header);
    fs::write(&segment, bytes).unwrap();
    let (_, _, what) = damaged(Storage::open(dir.path(), options()));
    assert!(what.contains("version 2"), "{what}");
}

#[test]
fn a_write_the_image_refuses_is_an_error() {
    let dir = tempdir();
    write_all(dir.path(), options(), &[append(1, 2), append(1, 1)]);
    let (_, offset, what) = damaged(Storage::open(dir.path(), options()));
    assert!(offset > HEADER_BYTES as u64);
    assert!(what.contains("does not raise the zxid"), "{what}");
}

#[test]
fn a_snapshot_starts_a_base_segment_and_older_segments_go() {
    let dir = tempdir();
    let tiny = StorageOptions { segment_bytes: 400, ..options() };
    let mut ops: Vec<LogOp> =
        std::iter::once(LogOp::Epochs { accepted: 2, current: 1 }).chain((1..=30).map(|c| append(1, c))).collect();
    write_all(dir.path(), tiny, &ops);
    assert!(segments(dir.path()).len() > 3);
    let after: Vec<LogOp> = [
        append(1, 31),
        LogOp::InstallSnapshot { zxid: Zxid::new(1, 40), snapshot: vec![9; 1000] },
        append(1, 41),
        append(1, 42),
        LogOp::Truncate { after: Zxid::new(1, 41) },
    ]
    .into();
    write_all(dir.path(), tiny, &after);
    ops.extend(after);
    let files = segments(dir.path());
    assert_eq!(files.len(), 2, "the base segment holds the big snapshot, then a new segment: {files:?}");
    let image = open(dir.path(), tiny).1;
    assert_same(&image, &model(&ops));
    assert_eq!((image.accepted_epoch, image.current_epoch), (2, 1), "the base segment carries the epochs");
    assert_eq!(image.log.len(), 1);
}

#[test]
fn leftover_segments_before_a_base_are_deleted_on_open() {
    let dir = tempdir();
    let ops = [append(1, 1), LogOp::InstallSnapshot { zxid: Zxid::new(1, 5), snapshot: vec![1] }, append(1, 6)];
    write_all(dir.path(), options(), &ops[..1]);
    let old = fs::read(&segments(dir.path())[0]).unwrap();
    write_all(dir.path(), options(), &ops[1..]);
    // A crash between the base segment and the delete of the old one.
    fs::write(log_dir(dir.path()).join(format::segment_name(1)), old).unwrap();
    assert_eq!(segments(dir.path()).len(), 2);
    assert_same(&open(dir.path(), options()).1, &model(&ops));
    assert_eq!(segments(dir.path()).len(), 1);
    // Superseded, it may even be damaged.
    fs::write(log_dir(dir.path()).join(format::segment_name(1)), b"garbage").unwrap();
    assert_same(&open(dir.path(), options()).1, &model(&ops));
    assert_eq!(segments(dir.path()).len(), 1);
}

#[test]
fn a_refused_log_is_left_untouched() {
    let dir = tempdir();
    let ops: Vec<LogOp> = (1..=6).map(|c| append(1, c)).collect();
    let spans = write_each(dir.path(), options(), &ops);
    let temp = log_dir(dir.path()).join(format!("{}.tmp", format::segment_name(7)));
    fs::write(&temp, b"half").unwrap();
    let segment = segments(dir.path())[0].clone();
    flip_bit(&segment, spans[1].0 + 30, 0);
    let bytes = fs::read(&segment).unwrap();
    damaged(Storage::open(dir.path(), options()));
    assert_eq!(fs::read(&segment).unwrap(), bytes);
    assert!(temp.exists());
}

#[test]
fn a_snapshot_into_an_empty_segment_takes_its_place() {
    let dir = tempdir();
    let spans = write_each(dir.path(), options(), &[append(1, 1)]);
    // Tear the only record off: the segment log.1 is left empty, and the snapshot's base
    // segment, also starting at lsn 1, replaces it.
    let segment = segments(dir.path())[0].clone();
    flip_bit(&segment, spans[0].0 + 2, 0);
    let snap = [LogOp::InstallSnapshot { zxid: Zxid::new(1, 9), snapshot: vec![4, 4] }, append(1, 10)];
    write_all(dir.path(), options(), &snap);
    assert_eq!(segments(dir.path()), [segment]);
    assert_same(&open(dir.path(), options()).1, &model(&snap));
}

#[test]
fn half_built_segments_are_deleted() {
    let dir = tempdir();
    write_all(dir.path(), options(), &[append(1, 1)]);
    let temp = log_dir(dir.path()).join(format!("{}.tmp", format::segment_name(2)));
    fs::write(&temp, b"ZABKLOG\n partial").unwrap();
    let other = log_dir(dir.path()).join("notes.txt");
    fs::write(&other, b"operator notes").unwrap();
    assert_same(&open(dir.path(), options()).1, &model(&[append(1, 1)]));
    assert!(!temp.exists());
    assert!(other.exists(), "files that are not ours stay");
}

#[test]
fn without_force_sync_writes_are_still_reported_and_recovered() {
    let dir = tempdir();
    let unsafe_options = StorageOptions { force_sync: false, ..options() };
    let ops: Vec<LogOp> = (1..=50).map(|c| append(1, c)).collect();
    let reported = write_all(dir.path(), unsafe_options, &ops);
    assert_eq!(reported.last(), Some(&50));
    assert_same(&open(dir.path(), options()).1, &model(&ops));
}

#[test]
fn writer_failure_is_reported_on_close() {
    let dir = tempdir();
    let (storage, _) = open(dir.path(), options());
    let writer = storage.start(|_| {}, |_| {});
    // Remove the directory under the writer: creating the first segment fails.
    fs::remove_dir_all(log_dir(dir.path())).unwrap();
    writer.persist(1, append(1, 1));
    writer.persist(2, append(1, 2));
    while !writer.failed() {
        std::thread::yield_now();
    }
    let error = writer.close().unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error}");
}

/// A tiny seeded generator for the power-cut test.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A power cut during the last write: each sector it touched either reached the disk or still
/// holds what it held before (zeros past the old end). Recovery keeps every acknowledged write
/// and exactly the leading records of the last write that fully reached the disk.
#[test]
fn a_power_cut_during_a_write_keeps_a_prefix() {
    let reference = tempdir();
    let acked: Vec<LogOp> = (1..=7).map(|c| fat_append(c, 90)).collect();
    let last: Vec<LogOp> = (8..=30).map(|c| fat_append(c, 150 + 13 * c as usize)).collect();
    let (mut storage, _) = open(reference.path(), options());
    for op in &acked {
        storage.journal.append(op).unwrap();
        storage.journal.commit(true).unwrap();
    }
    let old_end = storage.journal.current.as_ref().unwrap().written as usize;
    // A lost sector straddling the old end zeroes at least the new record's length field.
    assert!(old_end % SECTOR_BYTES <= SECTOR_BYTES - 4, "test setup: old end {old_end}");
    let segment = segments(reference.path())[0].clone();
    let before = fs::read(&segment).unwrap();
    let mut bounds = vec![old_end];
    for op in &last {
        storage.journal.append(op).unwrap();
        bounds.push(old_end + storage.journal.pending_bytes());
    }
    storage.journal.commit(true).unwrap();
    let after = fs::read(&segment).unwrap();
    let new_end = *bounds.last().unwrap();
    let sectors = old_end / SECTOR_BYTES..new_end.div_ceil(SECTOR_BYTES);
    assert!(sectors.len() > 8);

    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut torn_with_valid_records_after = 0;
    for round in 0..150 {
        let lost: Vec<usize> = sectors.clone().filter(|_| rng.next().is_multiple_of(2 + round % 5)).collect();
        let mut crashed = after.clone();
        for sector in &lost {
            let span = sector * SECTOR_BYTES..(sector + 1) * SECTOR_BYTES;
            crashed[span.clone()].copy_from_slice(&before[span]);
        }
        let intact: Vec<bool> = bounds
            .windows(2)
            .map(|w| !lost.iter().any(|s| s * SECTOR_BYTES < w[1] && (s + 1) * SECTOR_BYTES > w[0]))
            .collect();
        let survived = intact.iter().take_while(|ok| **ok).count();
        if intact[survived..].iter().any(|ok| *ok) {
            torn_with_valid_records_after += 1;
        }
        let dir = tempdir();
        fs::create_dir_all(log_dir(dir.path())).unwrap();
        fs::write(log_dir(dir.path()).join(format::segment_name(1)), &crashed).unwrap();
        let (_, image) = Storage::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("round {round}, lost sectors {lost:?}: {e}"));
        let mut expected = acked.clone();
        expected.extend_from_slice(&last[..survived]);
        assert_same(&image, &model(&expected));
    }
    assert!(
        torn_with_valid_records_after > 50,
        "{torn_with_valid_records_after} rounds kept records past a lost sector"
    );
}

#[test]
fn a_torn_write_before_a_full_size_preallocation_is_cut_off() {
    let dir = tempdir();
    let ops: Vec<LogOp> = (1..=3).map(|c| append(1, c)).collect();
    let spans = write_each(dir.path(), StorageOptions::default(), &ops);
    let segment = segments(dir.path())[0].clone();
    assert_eq!(fs::metadata(&segment).unwrap().len(), StorageOptions::default().prealloc_bytes);
    flip_bit(&segment, spans[2].0 + 30, 4);
    // A stray sector deep in the preallocation holds no valid record either.
    let mut bytes = fs::read(&segment).unwrap();
    bytes[40 << 20..(40 << 20) + SECTOR_BYTES].fill(0x77);
    fs::write(&segment, bytes).unwrap();
    let (_, image) = open(dir.path(), StorageOptions::default());
    assert_same(&image, &model(&ops[..2]));
    assert_eq!(fs::metadata(&segment).unwrap().len(), spans[2].0 as u64);
}

/// Random damage anywhere: open never panics, and whatever it accepts is a prefix of the writes.
#[test]
fn damaged_files_never_panic() {
    let reference = tempdir();
    let tiny = StorageOptions { segment_bytes: 300, prealloc_bytes: 256, ..options() };
    let mut ops: Vec<LogOp> = (1..=12).map(|c| append(1, c)).collect();
    ops.insert(0, LogOp::Epochs { accepted: 1, current: 1 });
    ops.push(LogOp::InstallSnapshot { zxid: Zxid::new(1, 20), snapshot: vec![3; 50] });
    ops.extend((21..=40).map(|c| append(1, c)));
    write_all(reference.path(), tiny, &ops);
    let files: Vec<(PathBuf, Vec<u8>)> =
        segments(reference.path()).into_iter().map(|p| (p.clone(), fs::read(p).unwrap())).collect();
    assert!(files.len() > 3);
    let prefixes: Vec<Image> = (0..=ops.len()).map(|k| model(&ops[..k])).collect();
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..300 {
        let dir = tempdir();
        fs::create_dir_all(log_dir(dir.path())).unwrap();
        // Half the rounds hit the last segment, where a torn tail is accepted.
        let victim = if rng.next().is_multiple_of(2) { files.len() - 1 } else { rng.next() as usize % files.len() };
        for (i, (path, bytes)) in files.iter().enumerate() {
            let mut bytes = bytes.clone();
            if i == victim {
                damage(&mut bytes, &mut rng);
            }
            fs::write(log_dir(dir.path()).join(path.file_name().unwrap()), bytes).unwrap();
        }
        let Ok((_, image)) = Storage::open(dir.path(), tiny) else {
            refused += 1;
            continue;
        };
        accepted += 1;
        let found = (image.accepted_epoch, image.current_epoch, &image.snapshot, &image.log);
        assert!(
            prefixes.iter().any(|p| (p.accepted_epoch, p.current_epoch, &p.snapshot, &p.log) == found),
            "round {round}: recovered something that is not a prefix of the writes"
        );
    }
    assert!(accepted > 30 && refused > 30, "accepted {accepted}, refused {refused}");
}

fn damage(bytes: &mut Vec<u8>, rng: &mut XorShift) {
    let at = rng.next() as usize % bytes.len();
    match rng.next() % 4 {
        0 => bytes.truncate(at),
        1 => {
            let end = (at + 1 + rng.next() as usize % 64).min(bytes.len());
            for b in &mut bytes[at..end] {
                *b = rng.next() as u8;
            }
        }
        2 => bytes[at] ^= 1 << (rng.next() % 8),
        _ => {
            // A well-formed header with extreme values.
            let first_lsn = [0, 1, u64::MAX, u64::MAX - 1][rng.next() as usize % 4];
            let header = format::SegmentHeader { flags: (rng.next() % 2) as u32, first_lsn }.encode();
            bytes[..HEADER_BYTES].copy_from_slice(&header);
        }
    }
}

/// Golden bytes: a change here is a format change (bump `format::VERSION`, update FORMAT.md).
#[test]
fn the_format_is_pinned() {
    assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283, "CRC32C (Castagnoli)");
    let header = format::SegmentHeader { flags: format::FLAG_BASE, first_lsn: 0x0102 }.encode();
    let payload = postcard::to_allocvec(&LogOp::Epochs { accepted: 1, current: 2 }).unwrap();
    let mut frame = Vec::new();
    format::encode_frame(&mut frame, 7, 5, &payload);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    // magic "ZABKLOG\n", version 1, flags 1 (base), first lsn 0x102, reserved, header CRC.
    assert_eq!(hex(&header), "5a41424b4c4f470a01000000010000000201000000000000000000007c387dde");
    // len 3, batch_back 2, lsn 7, payload CRC, header CRC, then postcard: Epochs (tag 3), 1, 2.
    assert_eq!(hex(&frame), "03000000020000000700000000000000898bd378d7efee46030102");
    let checkpoint = format::Checkpoint {
        lsn: 9,
        replay_from: 7,
        accepted_epoch: 2,
        current_epoch: 1,
        zxid: Zxid::new(1, 5),
        snapshot: b"ab",
    }
    .encode();
    assert_eq!(format::Checkpoint::decode(&checkpoint, 9).unwrap().snapshot, b"ab");
    // Header with flags 2 (checkpoint) and lsn 9; a frame of 26 bytes at lsn 9, batch_back 0;
    // replay_from 7, epochs 2 and 1, zxid 0x1_00000005, then the snapshot bytes "ab".
    assert_eq!(
        hex(&checkpoint),
        "5a41424b4c4f470a01000000020000000900000000000000000000006f0404871a000000000000000900000000000000742fc24e\
         4d551b250700000000000000020000000100000005000000010000006162"
    );
}
