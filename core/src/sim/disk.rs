//! A simulated disk: the writes a server asked for, which of them an fsync made durable, and
//! what a crash leaves behind (every durable write, plus a random prefix of the rest).

use alloc::vec::Vec;

use crate::ids::Zxid;
use crate::zab::{Entry, LogOp};

/// What is on the platter.
#[derive(Clone, Debug, Default)]
pub struct Image {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// The last snapshot: its zxid and bytes.
    pub snapshot: Option<(Zxid, Vec<u8>)>,
    /// Log entries after the snapshot.
    pub log: Vec<Entry>,
}

impl Image {
    /// Carries out one write. Returns a complaint if the write breaks the log's order.
    pub fn apply(&mut self, op: &LogOp) -> Result<(), &'static str> {
        match op {
            LogOp::Append(entry) => {
                if entry.zxid <= self.snapshot_zxid() {
                    // Already covered by a snapshot saved while this write waited.
                    return Ok(());
                }
                if entry.zxid <= self.last_zxid() {
                    return Err("append does not raise the zxid");
                }
                self.log.push(entry.clone());
            }
            LogOp::Truncate { after } => self.log.retain(|e| e.zxid <= *after),
            LogOp::InstallSnapshot { zxid, snapshot } => {
                self.snapshot = Some((*zxid, snapshot.clone()));
                self.log.clear();
            }
            LogOp::Epochs { accepted, current } => {
                self.accepted_epoch = *accepted;
                self.current_epoch = *current;
            }
        }
        Ok(())
    }

    pub fn snapshot_zxid(&self) -> Zxid {
        self.snapshot.as_ref().map_or(Zxid::ZERO, |(z, _)| *z)
    }

    pub fn last_zxid(&self) -> Zxid {
        self.log.last().map_or(self.snapshot_zxid(), |e| e.zxid)
    }

    pub fn entry(&self, zxid: Zxid) -> Option<&Entry> {
        self.log.iter().find(|e| e.zxid == zxid)
    }

    /// Whether the image holds the history up to `zxid`: in the log, or under the snapshot.
    pub fn holds(&self, zxid: Zxid) -> bool {
        zxid <= self.snapshot_zxid() || self.entry(zxid).is_some()
    }

    /// Is blank: what a brand-new or replaced disk holds.
    pub fn is_blank(&self) -> bool {
        self.accepted_epoch == 0 && self.current_epoch == 0 && self.snapshot.is_none() && self.log.is_empty()
    }
}

/// A server's disk: the durable image plus writes waiting for an fsync.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    pub durable: Image,
    /// Written (in the page cache), not yet durable.
    pub pending: Vec<(u64, LogOp)>,
    /// The highest seq an fsync in flight will cover, if one is.
    pub syncing_to: Option<u64>,
}

impl Disk {
    /// The image the server sees right now: durable plus pending, in order.
    pub fn logical(&self) -> Image {
        let mut image = self.durable.clone();
        for (_, op) in &self.pending {
            let _ = image.apply(op);
        }
        image
    }

    /// An fsync finished: every pending write up to `seq` is durable.
    pub fn fsync_done(&mut self, seq: u64) -> Result<(), &'static str> {
        let mut result = Ok(());
        while let Some((s, _)) = self.pending.first() {
            if *s > seq {
                break;
            }
            let (_, op) = self.pending.remove(0);
            if let Err(e) = self.durable.apply(&op) {
                result = Err(e);
            }
        }
        self.syncing_to = None;
        result
    }

    /// A crash: the first `kept` pending writes reached the platter anyway, the rest are lost.
    pub fn crash(&mut self, kept: usize) {
        let pending = core::mem::take(&mut self.pending);
        for (_, op) in pending.into_iter().take(kept) {
            let _ = self.durable.apply(&op);
        }
        self.syncing_to = None;
    }

    /// Saves a snapshot of committed state and drops the log entries it covers.
    pub fn save_snapshot(&mut self, zxid: Zxid, bytes: Vec<u8>) {
        if zxid <= self.durable.snapshot_zxid() {
            return;
        }
        self.durable.snapshot = Some((zxid, bytes));
        self.durable.log.retain(|e| e.zxid > zxid);
    }
}
