//! A replica's history in memory: the entries after its last snapshot point, of which the
//! newest stay in memory for DIFF sync (older committed ones live only on the host's disk).

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::message::Entry;
use crate::ids::Zxid;

/// The in-memory log window.
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// The zxid just before the first entry held in memory: the snapshot point, or the last
    /// entry dropped from the window. Everything at or below it is committed.
    floor: Zxid,
    /// Shared with the durable writes and the proposals that carry them.
    entries: VecDeque<Arc<Entry>>,
}

impl Log {
    pub fn new(floor: Zxid) -> Log {
        Log { floor, entries: VecDeque::new() }
    }

    pub fn floor(&self) -> Zxid {
        self.floor
    }

    /// The last zxid in the history (the floor if the window is empty).
    pub fn last(&self) -> Zxid {
        self.entries.back().map_or(self.floor, |e| e.zxid)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn index_of(&self, zxid: Zxid) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.zxid.cmp(&zxid))
    }

    /// Whether the history holds `zxid` (the floor counts: it was there).
    pub fn contains(&self, zxid: Zxid) -> bool {
        zxid == self.floor || self.index_of(zxid).is_ok()
    }

    pub fn get(&self, zxid: Zxid) -> Option<&Entry> {
        self.index_of(zxid).ok().and_then(|i| self.entries.get(i)).map(|e| &**e)
    }

    /// Entries after `zxid`, in order (all of them if `zxid` is below the window).
    pub fn after(&self, zxid: Zxid) -> impl Iterator<Item = &Arc<Entry>> {
        let start = match self.index_of(zxid) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.entries.range(start..)
    }

    /// The greatest zxid of the history that is below `zxid` (the floor at least).
    pub fn last_before(&self, zxid: Zxid) -> Zxid {
        match self.index_of(zxid) {
            Ok(0) | Err(0) => self.floor,
            Ok(i) | Err(i) => self.entries.get(i - 1).map_or(self.floor, |e| e.zxid),
        }
    }

    /// Appends the next entry. Zxids must rise strictly; a caller that breaks this is buggy.
    pub fn append(&mut self, entry: Arc<Entry>) {
        assert!(entry.zxid > self.last(), "log append {} after {}", entry.zxid, self.last());
        self.entries.push_back(entry);
    }

    /// Drops every entry after `zxid`.
    pub fn truncate_after(&mut self, zxid: Zxid) {
        while self.entries.back().is_some_and(|e| e.zxid > zxid) {
            self.entries.pop_back();
        }
    }

    /// Forgets everything and restarts the history at a snapshot point.
    pub fn reset(&mut self, floor: Zxid) {
        self.entries.clear();
        self.floor = floor;
    }

    /// Drops committed entries from the front while more than `keep` remain, never going past
    /// `committed`.
    pub fn compact(&mut self, committed: Zxid, keep: usize) {
        while self.entries.len() > keep && self.entries.front().is_some_and(|e| e.zxid <= committed) {
            if let Some(e) = self.entries.pop_front() {
                self.floor = e.zxid;
            }
        }
    }

    /// Every entry in memory, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().map(|e| &**e)
    }

    pub fn to_vec_after(&self, zxid: Zxid) -> Vec<Entry> {
        self.after(zxid).map(|e| Entry::clone(e)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SessionId;
    use crate::txn::Txn;

    fn entry(epoch: u32, counter: u32) -> Entry {
        Entry {
            zxid: Zxid::new(epoch, counter),
            time_ms: 0,
            session: SessionId(0),
            cxid: 0,
            txn: Txn::Error(crate::ErrorCode::Ok),
        }
    }

    #[test]
    fn window_queries() {
        let mut log = Log::new(Zxid::new(1, 2));
        for (e, c) in [(1, 3), (1, 4), (2, 1), (2, 2)] {
            log.append(Arc::new(entry(e, c)));
        }
        assert_eq!(log.last(), Zxid::new(2, 2));
        assert!(log.contains(Zxid::new(1, 2)) && log.contains(Zxid::new(2, 1)));
        assert!(!log.contains(Zxid::new(1, 5)));
        assert_eq!(log.last_before(Zxid::new(1, 5)), Zxid::new(1, 4));
        assert_eq!(log.last_before(Zxid::new(1, 3)), Zxid::new(1, 2));
        assert_eq!(log.after(Zxid::new(1, 4)).count(), 2);
        assert_eq!(log.after(Zxid::new(1, 0)).count(), 4);
        log.truncate_after(Zxid::new(1, 4));
        assert_eq!(log.last(), Zxid::new(1, 4));
        log.compact(Zxid::new(1, 3), 0);
        assert_eq!(log.floor(), Zxid::new(1, 3));
        assert_eq!(log.len(), 1);
    }
}
