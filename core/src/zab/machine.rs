//! The replicated state machine Zab drives: committed entries go in, in zxid order; snapshots
//! come out for SNAP sync. The server's database implements it; so does [`TreeMachine`], the
//! bare data tree the simulator replicates.

use alloc::vec::Vec;

use super::message::Entry;
use crate::ids::Zxid;
use crate::tree::DataTree;
use crate::tree::snapshot::{self, SnapshotError};
use crate::txn;

/// What Zab replicates.
pub trait StateMachine {
    /// Applies one committed entry. Called exactly once per entry, in zxid order.
    fn apply(&mut self, entry: &Entry);
    /// The zxid of the last entry applied (or restored from a snapshot).
    fn applied(&self) -> Zxid;
    /// A snapshot of the current state (taken at [`StateMachine::applied`]).
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the state with a snapshot's.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError>;
    /// A digest of the state, equal on replicas that applied the same entries.
    fn digest(&self) -> u64;
}

/// The data tree alone, applying txns with [`txn::apply`].
#[derive(Debug, Default)]
pub struct TreeMachine {
    pub tree: DataTree,
}

impl TreeMachine {
    pub fn snapshot_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        snapshot::write(&self.tree, &[], &mut out);
        out
    }
}

impl StateMachine for TreeMachine {
    fn apply(&mut self, entry: &Entry) {
        txn::apply(&mut self.tree, entry.zxid, entry.time_ms, &entry.txn);
    }

    fn applied(&self) -> Zxid {
        self.tree.last_zxid()
    }

    fn snapshot(&self) -> Vec<u8> {
        self.snapshot_bytes()
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        self.tree = snapshot::read(bytes)?.tree;
        Ok(())
    }

    fn digest(&self) -> u64 {
        self.tree.digest()
    }
}
