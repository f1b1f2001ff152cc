//! The replicated database a server's Zab peer drives: the data tree plus the session table.
//! Applying an entry also records what the server around it must do next: reply to the client
//! that asked for it (if it is connected here) and fire the watches the change triggers.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::ids::{SessionId, Zxid};
use crate::tree::DataTree;
use crate::tree::snapshot::{self, SnapshotError};
use crate::txn::{self, MultiTxn, Txn, TxnResult};
use crate::zab::{Entry, StateMachine};

/// One change a watch can see, in the order the tree saw them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Created(String),
    Deleted(String),
    DataChanged(String),
}

/// An entry that was applied, for the server to act on.
#[derive(Clone, Debug)]
pub struct Applied {
    pub zxid: Zxid,
    pub session: SessionId,
    pub cxid: i32,
    pub result: TxnResult,
    pub changes: Vec<Change>,
}

/// Tree + sessions.
#[derive(Debug, Default)]
pub struct Database {
    pub tree: DataTree,
    /// Open sessions and their negotiated timeouts (replicated by createSession and
    /// closeSession txns).
    pub sessions: BTreeMap<SessionId, i32>,
    /// Applied since the server last drained it.
    pub applied: Vec<Applied>,
}

impl Database {
    pub fn take_applied(&mut self) -> Vec<Applied> {
        core::mem::take(&mut self.applied)
    }

    /// The state at this moment, to serialise elsewhere (another thread) while this database
    /// goes on applying. Cheap: the tree's nodes are shared and copied on write.
    pub fn freeze(&self) -> Frozen {
        Frozen { tree: self.tree.clone(), sessions: self.sessions.iter().map(|(id, t)| (*id, *t)).collect() }
    }
}

/// A database frozen by [`Database::freeze`].
#[derive(Clone, Debug)]
pub struct Frozen {
    tree: DataTree,
    sessions: Vec<(SessionId, i32)>,
}

impl Frozen {
    /// The snapshot bytes (the same as [`StateMachine::snapshot`] at the moment of freezing).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        snapshot::write(&self.tree, &self.sessions, &mut out);
        out
    }

    pub fn node_count(&self) -> usize {
        self.tree.node_count()
    }
}

/// The watchable changes of a txn that applied successfully.
fn changes_of(txn: &Txn, result: &TxnResult, out: &mut Vec<Change>) {
    match (txn, result) {
        (_, TxnResult::Failed(_)) => {}
        (Txn::Create(c), _) => out.push(Change::Created(c.path.clone())),
        (Txn::Delete { path }, _) => out.push(Change::Deleted(path.clone())),
        (Txn::SetData { path, .. }, _) => out.push(Change::DataChanged(path.clone())),
        (Txn::CloseSession { .. }, TxnResult::SessionClosed { deleted }) => {
            out.extend(deleted.iter().cloned().map(Change::Deleted));
        }
        (Txn::Multi(ops), TxnResult::Multi(results)) => {
            for (op, r) in ops.iter().zip(results) {
                match (op, r) {
                    (_, TxnResult::Failed(_)) => {}
                    (MultiTxn::Create(c), _) => out.push(Change::Created(c.path.clone())),
                    (MultiTxn::Delete { path }, _) => out.push(Change::Deleted(path.clone())),
                    (MultiTxn::SetData { path, .. }, _) => out.push(Change::DataChanged(path.clone())),
                    (MultiTxn::SetAcl { .. } | MultiTxn::Check { .. }, _) => {}
                }
            }
        }
        _ => {}
    }
}

/// What a server replicates: a [`Database`], possibly wrapped (the simulator wraps it in a
/// machine that also keeps a ghost record for its checker).
pub trait ServerMachine: StateMachine {
    fn db(&self) -> &Database;
    fn db_mut(&mut self) -> &mut Database;
}

impl ServerMachine for Database {
    fn db(&self) -> &Database {
        self
    }

    fn db_mut(&mut self) -> &mut Database {
        self
    }
}

impl StateMachine for Database {
    fn apply(&mut self, entry: &Entry) {
        match &entry.txn {
            Txn::CreateSession { session, timeout_ms } => {
                self.sessions.insert(*session, *timeout_ms);
            }
            Txn::CloseSession { session, .. } => {
                self.sessions.remove(session);
            }
            _ => {}
        }
        let result = txn::apply(&mut self.tree, entry.zxid, entry.time_ms, &entry.txn);
        let mut changes = Vec::new();
        changes_of(&entry.txn, &result, &mut changes);
        self.applied.push(Applied { zxid: entry.zxid, session: entry.session, cxid: entry.cxid, result, changes });
    }

    fn applied(&self) -> Zxid {
        self.tree.last_zxid()
    }

    fn snapshot(&self) -> Vec<u8> {
        self.freeze().snapshot()
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let snap = snapshot::read(bytes)?;
        self.tree = snap.tree;
        self.sessions = snap.sessions.into_iter().collect();
        self.applied.clear();
        Ok(())
    }

    fn digest(&self) -> u64 {
        // Sessions are part of the replicated state: fold them in.
        let mut h = self.tree.digest();
        for (id, timeout) in &self.sessions {
            h = h.wrapping_add(xxhash_rust::xxh3::xxh3_64_with_seed(&id.0.to_le_bytes(), *timeout as u64));
        }
        h
    }
}
