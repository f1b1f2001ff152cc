//! A simulated disk: the writes a server asked for, which of them an fsync made durable, and
//! what a crash leaves behind (every durable write, plus a random prefix of the rest).

use alloc::vec::Vec;

use crate::ids::Zxid;
pub use crate::zab::Image;
use crate::zab::LogOp;

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
