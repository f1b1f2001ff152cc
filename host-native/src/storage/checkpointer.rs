//! The checkpoint thread: builds checkpoint files, and deletes what retention drops, while
//! the writer thread goes on with the log (docs/FORMAT.md, "Writing", step 6).
//!
//! The writer thread settles everything about a checkpoint at its place among the writes
//! (its lsn, where replay starts, the epochs) and syncs the records before it; this thread
//! only makes the file durable and reports it. The checkpoint counts, as a starting point
//! and for retention, once that report is back on the writer thread.
//!
//! ```text
//!  writer thread                          checkpoint thread
//!  sync records < L, Job{L, replay_from} ─► snap.L.tmp, write, fsync, rename, fsync dir
//!  points += L, purge       ◄── durable(L) ┘
//!  doomed files            ──────────────► delete, fsync dir
//! ```
//!
//! One checkpoint is written at a time. One more may wait; a newer one takes its place.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};

use zabkeeper_core::Zxid;

use super::Snapshot;
use super::StorageError;
use super::faults::Faults;
use super::files::{self, Point, Stage};
use super::format::{self, Checkpoint};

/// A checkpoint to write: everything it holds was settled on the writer thread.
#[derive(Debug)]
pub(super) struct Job {
    pub lsn: u64,
    pub replay_from: u64,
    /// (acceptedEpoch, currentEpoch) as of the record before `lsn`.
    pub epochs: (u32, u32),
    pub zxid: Zxid,
    pub snapshot: Snapshot,
}

/// Runs after each step of a checkpoint file (tests stop there, as a crash would).
pub(super) type Hook = Box<dyn FnMut(Stage) + Send>;

enum Work {
    Write(Job),
    Remove(Vec<PathBuf>),
}

/// The writer thread's handle to the checkpoint thread.
pub(super) struct Checkpointer {
    work: Option<Sender<Work>>,
    thread: Option<JoinHandle<()>>,
    /// A checkpoint is being written and its report has not been taken yet.
    busy: bool,
    waiting: Option<Job>,
}

impl Checkpointer {
    /// Starts the thread. `report` gets, for each checkpoint in turn, its starting point once
    /// the file is durable, or why it could not be written.
    pub fn start(
        dir: PathBuf,
        faults: Faults,
        mut hook: Hook,
        mut report: impl FnMut(Result<Point, StorageError>) + Send + 'static,
    ) -> Checkpointer {
        let (work, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("zabkeeper-checkpoint".into())
            .spawn(move || {
                for work in rx {
                    match work {
                        Work::Write(job) => report(write(&dir, job, &faults, &mut hook)),
                        Work::Remove(doomed) => {
                            if let Err(e) = files::remove_files(&dir, doomed) {
                                // Harmless: the next open finds them again.
                                tracing::warn!(error = %e, "deleting the files retention dropped");
                            }
                        }
                    }
                }
            })
            .expect("spawning the checkpoint thread");
        Checkpointer { work: Some(work), thread: Some(thread), busy: false, waiting: None }
    }

    /// Hands a checkpoint over, or has it wait for the one being written.
    pub fn submit(&mut self, job: Job) {
        if !self.busy {
            self.busy = true;
            self.send(Work::Write(job));
        } else if let Some(skipped) = self.waiting.replace(job) {
            // A newer snapshot supersedes it; skipping one keeps the memory bounded.
            tracing::debug!(lsn = skipped.lsn, zxid = %skipped.zxid, "checkpoint skipped: a newer one is queued");
        }
    }

    /// Takes the report of the checkpoint being written, and starts the next one.
    pub fn finished(&mut self) {
        assert!(self.busy, "a checkpoint report with no checkpoint being written");
        self.busy = false;
        if let Some(job) = self.waiting.take() {
            self.submit(job);
        }
    }

    /// Deletes files retention dropped, after the checkpoints handed over before.
    pub fn remove(&self, doomed: Vec<PathBuf>) {
        if !doomed.is_empty() {
            self.send(Work::Remove(doomed));
        }
    }

    /// Whether a report is still to come.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// Whether the thread ended with a report still owed (it panicked).
    pub fn lost(&self) -> bool {
        self.busy && self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    fn send(&self, work: Work) {
        // The thread ends only on a panic, which `lost` tells.
        if let Some(sender) = &self.work {
            let _ = sender.send(work);
        }
    }
}

impl Drop for Checkpointer {
    /// Lets the thread finish what it was given (deletes included), then joins it.
    fn drop(&mut self) {
        self.work = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Builds `snap.L` durably. The snapshot's memory is freed before the report.
fn write(dir: &Path, job: Job, faults: &Faults, hook: &mut Hook) -> Result<Point, StorageError> {
    hook(Stage::Started);
    let started = std::time::Instant::now();
    let snapshot = job.snapshot.into_bytes();
    tracing::debug!(
        bytes = snapshot.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "checkpoint: snapshot serialised"
    );
    files::check_checkpoint_size(&snapshot)?;
    let (accepted_epoch, current_epoch) = job.epochs;
    let checkpoint = Checkpoint {
        lsn: job.lsn,
        replay_from: job.replay_from,
        accepted_epoch,
        current_epoch,
        zxid: job.zxid,
        snapshot: &snapshot,
    };
    let head = checkpoint.encode_head();
    let name = format::checkpoint_name(job.lsn);
    let (_, path) = files::create_file(dir, &name, &[&head, &snapshot], 0, faults, &mut **hook)?;
    let took = started.elapsed();
    if took >= crate::progress::EVERY {
        // Long enough for an operator to wonder: say what it was.
        tracing::info!(
            zxid = %job.zxid,
            bytes = snapshot.len(),
            took_s = format!("{:.1}", took.as_secs_f64()),
            rate = format!("{:.0} MB/s", snapshot.len() as f64 / 1e6 / took.as_secs_f64()),
            "checkpoint written"
        );
    }
    Ok(Point { lsn: job.lsn, replay_from: job.replay_from, file: Some(path) })
}
