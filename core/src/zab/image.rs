//! What a server's stable storage holds, as the sequence of durable writes ([`LogOp`]) builds
//! it: epochs, the last snapshot, and the log after it. The simulator's disks and the native
//! server's recovery both replay writes through [`Image::apply`], so they agree on what a
//! write means.

use alloc::vec::Vec;

use super::{Durable, Entry, LogOp};
use crate::ids::Zxid;

/// What is on stable storage.
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
                self.log.push(Entry::clone(entry));
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

impl Image {
    /// What a peer restarts from (the snapshot goes to the state machine separately).
    pub fn durable(&self) -> Durable {
        Durable { accepted_epoch: self.accepted_epoch, current_epoch: self.current_epoch, log: self.log.clone() }
    }
}
