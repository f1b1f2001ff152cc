//! The state machine the simulator replicates: the data tree, plus a ghost record of what was
//! applied. It lives with the checker, which defines what each replica must record for it to
//! read; the simulator only runs it.

use alloc::vec::Vec;

use crate::ids::Zxid;
use crate::server::{Database, ServerMachine};
use crate::tree::snapshot::SnapshotError;
use crate::zab::{Entry, StateMachine};

/// One applied entry as the checker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    pub zxid: Zxid,
    /// Hash of the whole entry (header and txn).
    pub entry_hash: u64,
    /// The tree digest right after applying it.
    pub digest: u64,
}

/// A server's [`Database`] with a record of every entry applied since the last restore.
#[derive(Debug, Default)]
pub struct SimMachine {
    pub inner: Database,
    /// Where the record starts: the snapshot zxid last restored (ZERO for an empty start).
    pub base: Zxid,
    pub base_digest: u64,
    /// Bumped by every restore, so the checker knows to start over.
    pub generation: u64,
    pub applied: Vec<Applied>,
    /// Keep a copy of each applied entry in `entries` (for the client-history checker).
    pub record_entries: bool,
    pub entries: Vec<Entry>,
}

/// The hash the checker compares entries by.
pub fn entry_hash(entry: &Entry) -> u64 {
    let bytes = postcard::to_allocvec(entry).unwrap_or_default();
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

impl SimMachine {
    pub fn new() -> SimMachine {
        let inner = Database::default();
        let base_digest = inner.digest();
        SimMachine {
            inner,
            base: Zxid::ZERO,
            base_digest,
            generation: 0,
            applied: Vec::new(),
            record_entries: false,
            entries: Vec::new(),
        }
    }

    pub fn from_snapshot(bytes: &[u8]) -> Result<SimMachine, SnapshotError> {
        let mut machine = SimMachine::new();
        machine.restore(bytes)?;
        Ok(machine)
    }
}

impl ServerMachine for SimMachine {
    fn db(&self) -> &Database {
        &self.inner
    }

    fn db_mut(&mut self) -> &mut Database {
        &mut self.inner
    }
}

impl StateMachine for SimMachine {
    fn apply(&mut self, entry: &Entry) {
        self.inner.apply(entry);
        self.applied.push(Applied { zxid: entry.zxid, entry_hash: entry_hash(entry), digest: self.inner.digest() });
        if self.record_entries {
            self.entries.push(entry.clone());
        }
    }

    fn applied(&self) -> Zxid {
        self.inner.applied()
    }

    fn snapshot(&self) -> Vec<u8> {
        self.inner.snapshot()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError> {
        self.inner.restore(snapshot)?;
        self.base = self.inner.applied();
        self.base_digest = self.inner.digest();
        self.generation += 1;
        self.applied.clear();
        Ok(())
    }

    fn digest(&self) -> u64 {
        self.inner.digest()
    }
}
