//! The writer thread: group commit over the journal. Checkpoint files are written beside
//! it, on the checkpoint thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use zabkeeper_core::Zxid;
use zabkeeper_core::zab::LogOp;

use super::checkpointer::{Checkpointer, Hook};
use super::files::Point;
use super::journal::Journal;
use super::{Snapshot, StorageError};

/// A batch stops taking queued writes past this many bytes, so one fsync never waits on an
/// unbounded write. The queue itself is bounded by the core's proposals in flight.
const BATCH_BYTES_MAX: usize = 8 << 20;

enum Message {
    Persist(u64, LogOp),
    Checkpoint(Zxid, Snapshot),
    /// From the checkpoint thread: the checkpoint handed over first is durable, or failed.
    Checkpointed(Result<Point, StorageError>),
    Close,
}

/// The handle to the writer thread. Writes queue without blocking; the thread takes every
/// queued write, writes them with one write and one `sync_data`, and reports the highest seq.
///
/// If a write, sync, preallocation or trim fails (EIO, ENOSPC, anything), the thread stops:
/// nothing more is reported durable, not even the writes of the batch that failed. There is
/// no retry: after a failed fsync the kernel may have dropped the dirty pages and marked
/// them clean, so a second fsync that succeeds proves nothing. [`Writer::failed`] turns
/// true, then the `failed` callback hears why, once, and [`Writer::close`] returns the
/// error. The server then stops, as ZooKeeper does.
#[derive(Debug)]
pub struct Writer {
    queue: Sender<Message>,
    thread: Option<JoinHandle<Result<(), StorageError>>>,
    failed: Arc<AtomicBool>,
    /// A checkpoint was handed over and its file is not durable yet (a hint, see
    /// [`Writer::checkpoint_busy`]).
    checkpointing: Arc<AtomicBool>,
}

impl Writer {
    pub(super) fn start(
        journal: Journal,
        durable: impl FnMut(u64) + Send + 'static,
        failed: impl FnOnce(&StorageError) + Send + 'static,
        hook: Hook,
    ) -> Writer {
        let (queue, rx) = mpsc::channel();
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        let checkpointing = Arc::new(AtomicBool::new(false));
        let busy = checkpointing.clone();
        let reports = queue.clone();
        let thread = thread::Builder::new()
            .name("zabkeeper-storage".into())
            .spawn(move || {
                let report = move |result| {
                    let _ = reports.send(Message::Checkpointed(result));
                };
                let dir = journal.dir().to_path_buf();
                let checkpoints = Checkpointer::start(dir, journal.faults().clone(), hook, report);
                let result = run(journal, checkpoints, rx, durable, &busy);
                if let Err(e) = &result {
                    // The flag first: whoever hears of the failure finds it set.
                    flag.store(true, Ordering::Release);
                    tracing::error!(error = %e, "storage writer stopped: nothing more will be reported durable");
                    failed(e);
                }
                result
            })
            .expect("spawning the storage writer thread");
        Writer { queue, thread: Some(thread), failed: stopped, checkpointing }
    }

    /// Queues a durable write. Never blocks. Seqs must rise.
    pub fn persist(&self, seq: u64, op: LogOp) {
        // Fails only once the thread stopped on an error, which close() reports.
        let _ = self.queue.send(Message::Persist(seq, op));
    }

    /// Queues a checkpoint: the state machine at `zxid` is `snapshot`. Never blocks. Takes its
    /// place after the writes queued before it (they are synced first); the log entries after
    /// `zxid` are kept. Its file is written on the checkpoint thread while later writes go on;
    /// once it is durable, the files retention no longer keeps are deleted. Ignored unless
    /// `zxid` is newer than the last snapshot; skipped if a newer one is queued while an
    /// older one is still being written.
    pub fn checkpoint(&self, zxid: Zxid, snapshot: impl Into<Snapshot>) {
        self.checkpointing.store(true, Ordering::Release);
        let _ = self.queue.send(Message::Checkpoint(zxid, snapshot.into()));
    }

    /// Whether a checkpoint handed over is still being written (or waits to be). A newer one
    /// would only take the waiting one's place, so the caller can save itself building the
    /// snapshot until this turns false. A hint: it may lag a moment behind the writer thread.
    pub fn checkpoint_busy(&self) -> bool {
        self.checkpointing.load(Ordering::Acquire)
    }

    /// Whether the writer stopped on an error, or its thread is gone (a panic) while it should
    /// still be running: either way nothing more will be reported durable.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire) || self.thread.as_ref().is_some_and(JoinHandle::is_finished)
    }

    /// Flushes and syncs everything queued, stops the thread.
    pub fn close(mut self) -> Result<(), StorageError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), StorageError> {
        let Some(thread) = self.thread.take() else { return Ok(()) };
        let _ = self.queue.send(Message::Close);
        thread.join().unwrap_or(Err(StorageError::WriterLost))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "storage writer dropped with an error");
        }
    }
}

fn run(
    mut journal: Journal,
    mut checkpoints: Checkpointer,
    rx: Receiver<Message>,
    mut durable: impl FnMut(u64),
    checkpointing: &AtomicBool,
) -> Result<(), StorageError> {
    let mut last_seq = 0u64;
    let mut closing = false;
    while !closing && let Ok(first) = rx.recv() {
        let mut batch_last = None;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Close => {
                    closing = true;
                    break;
                }
                Message::Persist(seq, op) => {
                    assert!(seq > last_seq, "persist seq {seq} after {last_seq}: writes must come in seq order");
                    journal.append(&op)?;
                    last_seq = seq;
                    batch_last = Some(seq);
                }
                Message::Checkpoint(zxid, snapshot) => {
                    // The writes before it are synced and reported before it is handed over.
                    journal.commit(true)?;
                    if let Some(seq) = batch_last.take() {
                        durable(seq);
                    }
                    if let Some(job) = journal.checkpoint(zxid, snapshot)? {
                        checkpoints.submit(job);
                    }
                }
                Message::Checkpointed(result) => checkpointed(&mut journal, &mut checkpoints, result)?,
            }
            checkpointing.store(checkpoints.busy(), Ordering::Release);
            if checkpoints.lost() {
                // A checkpoint that never reports would keep the log from ever being trimmed:
                // stop as on any storage failure.
                return Err(StorageError::CheckpointerLost);
            }
            if journal.pending_bytes() < BATCH_BYTES_MAX {
                next = rx.try_recv().ok();
            }
        }
        if let Some(seq) = batch_last {
            journal.commit(closing)?;
            durable(seq);
        }
    }
    // Close lets the checkpoints handed over finish; nothing but their reports comes now.
    while checkpoints.busy() {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Message::Checkpointed(result)) => checkpointed(&mut journal, &mut checkpoints, result)?,
            Ok(_) | Err(RecvTimeoutError::Timeout) if !checkpoints.lost() => {}
            Ok(_) | Err(_) => return Err(StorageError::CheckpointerLost),
        }
    }
    journal.close()
}

/// A checkpoint file is durable: it becomes a starting point, and retention runs.
fn checkpointed(
    journal: &mut Journal,
    checkpoints: &mut Checkpointer,
    result: Result<Point, StorageError>,
) -> Result<(), StorageError> {
    let doomed = journal.checkpointed(result?);
    checkpoints.remove(doomed);
    checkpoints.finished();
    Ok(())
}
