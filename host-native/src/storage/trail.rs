//! What the writer remembers of the log it wrote: the snapshot's zxid, and the zxid and lsn
//! of each log entry after it. Enough to say where a checkpoint's replay must start, without
//! keeping the entries themselves in memory.

use std::collections::VecDeque;

use zabkeeper_core::Zxid;
use zabkeeper_core::zab::LogOp;

#[derive(Debug, Default)]
pub(super) struct Trail {
    snapshot_zxid: Zxid,
    /// The log after the snapshot, as `Image::apply` builds it: (zxid, lsn of its record).
    entries: VecDeque<(Zxid, u64)>,
}

impl Trail {
    /// The trail of a log that starts from a snapshot at `snapshot_zxid` (or from nothing).
    pub fn new(snapshot_zxid: Zxid) -> Trail {
        Trail { snapshot_zxid, entries: VecDeque::new() }
    }

    /// Follows one write, recorded at `lsn`, the way `Image::apply` does.
    pub fn apply(&mut self, op: &LogOp, lsn: u64) {
        match op {
            LogOp::Append(entry) => {
                let raises = self.entries.back().is_none_or(|(last, _)| entry.zxid > *last);
                if entry.zxid > self.snapshot_zxid && raises {
                    self.entries.push_back((entry.zxid, lsn));
                }
            }
            LogOp::Truncate { after } => {
                while self.entries.back().is_some_and(|(zxid, _)| zxid > after) {
                    self.entries.pop_back();
                }
            }
            LogOp::InstallSnapshot { zxid, .. } => {
                self.snapshot_zxid = *zxid;
                self.entries.clear();
            }
            LogOp::Epochs { .. } => {}
        }
    }

    /// Moves the snapshot up to `zxid`, taken before the record at `next_lsn`. Returns the lsn
    /// replay starts at (the first entry after `zxid`, or `next_lsn`), or `None` if the
    /// snapshot is not newer than the last one.
    pub fn checkpoint(&mut self, zxid: Zxid, next_lsn: u64) -> Option<u64> {
        if zxid <= self.snapshot_zxid {
            return None;
        }
        self.snapshot_zxid = zxid;
        while self.entries.front().is_some_and(|(z, _)| *z <= zxid) {
            self.entries.pop_front();
        }
        Some(self.entries.front().map_or(next_lsn, |(_, lsn)| *lsn))
    }
}
