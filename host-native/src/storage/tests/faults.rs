//! A failing disk: an fdatasync that returns EIO, a write or preallocation that finds the disk
//! full (ENOSPC), a trim or truncate that fails. None of them is ever followed by a durable
//! report; the writer stops, says why, and stays stopped even if the disk comes back; a
//! failed truncate is an error, never swallowed. What was reported durable before is
//! recovered whole.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;
use crate::storage::{EIO, ENOSPC, Faults, FileOp, Writer};

/// A disk that works until `broken` is set, then fails every `op` with `errno`.
fn breakable(op: FileOp, errno: i32) -> (Faults, Arc<AtomicBool>) {
    let broken = Arc::new(AtomicBool::new(false));
    let flag = broken.clone();
    let faults = Faults::hook(move |kind, _| {
        if kind == op && flag.load(Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        Ok(())
    });
    (faults, broken)
}

/// What the writer reports, in the order it reports it.
#[derive(Debug, PartialEq)]
enum Report {
    Durable(u64),
    Failed(String),
}

/// A running writer and its reports.
struct Watched {
    writer: Writer,
    reports: mpsc::Receiver<Report>,
}

fn start(dir: &Path, options: StorageOptions, faults: Faults) -> (Watched, Image) {
    let (storage, image) = Storage::open_with_faults(dir, options, faults).unwrap_or_else(|e| panic!("open: {e}"));
    let (reports, seen) = mpsc::channel();
    let failures = reports.clone();
    let writer = storage.start(
        move |seq| {
            let _ = reports.send(Report::Durable(seq));
        },
        move |e| {
            let _ = failures.send(Report::Failed(e.to_string()));
        },
    );
    (Watched { writer, reports: seen }, image)
}

impl Watched {
    /// Persists `ops` as seqs `first..` and waits until the last is durable.
    fn persist_durably(&self, first: u64, ops: &[LogOp]) {
        for (seq, op) in (first..).zip(ops) {
            self.writer.persist(seq, op.clone());
        }
        let last = first + ops.len() as u64 - 1;
        while self.next() != Report::Durable(last) {}
    }

    fn next(&self) -> Report {
        self.reports.recv_timeout(Duration::from_secs(10)).expect("a report from the writer")
    }

    /// Waits for the failure; returns it and the seqs reported durable before it.
    fn failure(&self) -> (String, Vec<u64>) {
        let mut durable = Vec::new();
        loop {
            match self.next() {
                Report::Durable(seq) => durable.push(seq),
                Report::Failed(why) => return (why, durable),
            }
        }
    }

    /// Persists `ops` from seq `first` on a breaking disk: the writer must fail, report
    /// nothing durable after that, and refuse to close cleanly. Returns the failure and the
    /// seqs reported durable before it.
    fn persist_and_fail(self, first: u64, ops: &[LogOp]) -> (String, Vec<u64>) {
        for (seq, op) in (first..).zip(ops) {
            self.writer.persist(seq, op.clone());
        }
        let (why, durable) = self.failure();
        assert!(self.writer.failed(), "failed() is set before the failure is reported");
        // Nothing more is reported, for the writes queued before or after it.
        self.writer.persist(first + ops.len() as u64, append(9, 1));
        let error = self.writer.close().expect_err("close returns the failure");
        assert_eq!(error.to_string(), why);
        let late: Vec<Report> = self.reports.try_iter().collect();
        assert!(late.is_empty(), "reported after the failure: {late:?}");
        (why, durable)
    }
}

fn os_error(why: &str, errno: i32) -> bool {
    why.contains(&format!("(os error {errno})"))
}

/// The failure cases each break one kind of operation after 20 durable writes, then queue
/// `more`; recovery on a healthy disk then holds every write reported durable, perhaps some
/// that were not, and nothing else. Returns the failure and the seqs of `more` reported
/// durable before it (those that did not need the broken operation).
fn fail_after_twenty(options: StorageOptions, op: FileOp, errno: i32, more: &[LogOp]) -> (String, Vec<u64>) {
    let dir = tempdir();
    let (faults, broken) = breakable(op, errno);
    let (watched, _) = start(dir.path(), options, faults);
    let acked: Vec<LogOp> = (1..=20).map(|c| append(1, c)).collect();
    watched.persist_durably(1, &acked);
    broken.store(true, Ordering::SeqCst);
    let (why, durable) = watched.persist_and_fail(21, more);
    assert!(os_error(&why, errno), "{why}");
    let (_, image) = open(dir.path(), options);
    let mut all = acked.clone();
    all.extend_from_slice(more);
    let reported = 20 + durable.last().map_or(0, |seq| seq - 20) as usize;
    assert!(image.log.len() >= reported, "lost writes reported durable: {} of {reported} left", image.log.len());
    assert_same(&image, &model(&all[..image.log.len()]));
    (why, durable)
}

#[test]
fn a_failed_fdatasync_is_never_followed_by_a_durable_report() {
    let more: Vec<LogOp> = (21..=30).map(|c| append(1, c)).collect();
    let (why, durable) = fail_after_twenty(options(), FileOp::Sync, EIO, &more);
    assert!(why.starts_with("fdatasync "), "{why}");
    assert_eq!(durable, Vec::<u64>::new());
}

#[test]
fn a_full_disk_on_write_is_never_followed_by_a_durable_report() {
    let more: Vec<LogOp> = (21..=30).map(|c| append(1, c)).collect();
    let (why, durable) = fail_after_twenty(options(), FileOp::Write, ENOSPC, &more);
    assert!(why.starts_with("write "), "{why}");
    assert_eq!(durable, Vec::<u64>::new());
}

#[test]
fn a_full_disk_when_growing_a_segment_is_never_followed_by_a_durable_report() {
    // Appends past the first preallocation step need the segment grown.
    let options = StorageOptions { prealloc_bytes: 4096, ..options() };
    let more: Vec<LogOp> = (21..=40).map(|c| fat_append(c, 700)).collect();
    let (why, durable) = fail_after_twenty(options, FileOp::Preallocate, ENOSPC, &more);
    assert!(why.starts_with("preallocate "), "{why}");
    assert!(durable.last() < Some(&40), "{durable:?}");
}

/// Rolling over trims the finished segment to its data; if that fails the writer stops,
/// and the writes that needed the new segment are not reported.
#[test]
fn a_failed_trim_at_roll_over_is_fatal() {
    let options = StorageOptions { segment_bytes: 16 << 10, prealloc_bytes: 64 << 10, ..options() };
    let more: Vec<LogOp> = (21..=60).map(|c| fat_append(c, 900)).collect();
    let (why, durable) = fail_after_twenty(options, FileOp::Truncate, EIO, &more);
    assert!(why.starts_with("trim "), "{why}");
    assert!(durable.last() < Some(&60), "{durable:?}");
}

/// A checkpoint file that cannot be written (disk full) stops the writer too: what follows
/// it is not reported.
#[test]
fn a_full_disk_while_writing_a_checkpoint_stops_the_writer() {
    let dir = tempdir();
    let (faults, broken) = breakable(FileOp::Write, ENOSPC);
    let (watched, _) = start(dir.path(), options(), faults);
    let acked: Vec<LogOp> = (1..=20).map(|c| append(1, c)).collect();
    watched.persist_durably(1, &acked);
    // Nothing is pending in the segment: the checkpoint file's write is the first to fail.
    let segment = segments(dir.path())[0].clone();
    broken.store(true, Ordering::SeqCst);
    watched.writer.checkpoint(Zxid::new(1, 20), vec![0x5a; 100_000]);
    let (why, durable) = watched.failure();
    assert!(why.contains(".tmp") && os_error(&why, ENOSPC), "{why}");
    assert_eq!(durable, Vec::<u64>::new());
    watched.writer.persist(21, append(1, 21));
    assert!(watched.writer.close().is_err());
    assert!(watched.reports.try_iter().next().is_none());
    assert!(segment.exists());
    assert_same(&open(dir.path(), options()).1, &model(&acked));
}

/// After a failed fsync the kernel may have dropped the dirty pages: a retry that succeeds
/// would prove nothing. Once failed, the writer stays stopped even if the disk works again.
#[test]
fn a_disk_that_comes_back_does_not_restart_the_writer() {
    let dir = tempdir();
    let (faults, broken) = breakable(FileOp::Sync, EIO);
    let (watched, _) = start(dir.path(), options(), faults);
    watched.persist_durably(1, &[append(1, 1)]);
    broken.store(true, Ordering::SeqCst);
    watched.writer.persist(2, append(1, 2));
    assert_eq!(watched.failure().1, Vec::<u64>::new());
    broken.store(false, Ordering::SeqCst);
    for seq in 3..=10 {
        watched.writer.persist(seq, append(1, seq as u32));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert!(watched.reports.try_iter().next().is_none());
    assert!(watched.writer.failed());
}

/// Cutting a torn tail on open is a truncate: if it fails, open fails with it, names the
/// file, and leaves the tail for the next attempt.
#[test]
fn a_failed_truncate_of_a_torn_tail_is_fatal() {
    let dir = tempdir();
    let no_prealloc = StorageOptions { prealloc_bytes: 0, ..options() };
    let ops: Vec<LogOp> = (1..=4).map(|c| append(1, c)).collect();
    let spans = write_each(dir.path(), no_prealloc, &ops);
    let segment = segments(dir.path())[0].clone();
    let (start_of_last, end) = *spans.last().unwrap();
    let bytes = fs::read(&segment).unwrap();
    fs::write(&segment, &bytes[..end - 3]).unwrap();

    let faults = Faults::fail_after(FileOp::Truncate, 0, EIO);
    match Storage::open_with_faults(dir.path(), no_prealloc, faults) {
        Err(StorageError::Io { path, action, source }) => {
            assert_eq!((path, action, source.raw_os_error()), (segment.clone(), "truncate", Some(EIO)));
        }
        Err(e) => panic!("expected the truncate's error, got {e}"),
        Ok(_) => panic!("opened although the torn tail could not be cut"),
    }
    assert_eq!(fs::metadata(&segment).unwrap().len(), (end - 3) as u64, "the tail is still there");

    let (_, image) = open(dir.path(), no_prealloc);
    assert_same(&image, &model(&ops[..3]));
    assert_eq!(fs::metadata(&segment).unwrap().len(), start_of_last as u64);
}
