//! The replicated database a server's Zab peer drives: the data tree plus the session table.
//! Applying an entry also records what the server around it must do next: reply to the client
//! that asked for it (if it is connected here) and fire the watches the change triggers.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::ids::{SessionId, Zxid};
use crate::session::{SessionRecord, legacy_password};
use crate::tree::snapshot::{self, SnapshotError};
use crate::tree::{AclList, DataTree};
use crate::txn::{self, MultiTxn, Txn, TxnResult};
use crate::zab::{Entry, StateMachine};

/// What happened to a node, for the watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Deleted,
    DataChanged,
}

/// One change a watch can see, in the order the tree saw them. A delete carries the node's
/// ACL as it was just before (`None` if it did not exist then: created and deleted within one
/// multi): a watch on an ancestor learns of a change only if its connection may read the node
/// (CVE-2024-23944), and once deleted the node cannot be asked. For creates and setData the
/// server reads the ACL from the tree, and only when some connection has a recursive watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
    pub acl: Option<AclList>,
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
    /// Open sessions, their negotiated timeouts and passwords (replicated by createSession
    /// and closeSession txns).
    pub sessions: BTreeMap<SessionId, SessionRecord>,
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
        Frozen { tree: self.tree.clone(), sessions: self.sessions.iter().map(|(id, s)| (*id, *s)).collect() }
    }
}

/// A database frozen by [`Database::freeze`].
#[derive(Clone, Debug)]
pub struct Frozen {
    tree: DataTree,
    sessions: Vec<(SessionId, SessionRecord)>,
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

/// The ACLs of the nodes `txn` deletes, read before it applies.
fn acls_before_delete(tree: &DataTree, txn: &Txn) -> BTreeMap<String, AclList> {
    let mut acls = BTreeMap::new();
    let mut note = |path: &String| {
        if let Some(node) = tree.get(path) {
            acls.insert(path.clone(), node.acl().clone());
        }
    };
    match txn {
        Txn::Delete { path } => note(path),
        Txn::CloseSession { paths, .. } => paths.iter().for_each(note),
        Txn::Multi(ops) => ops
            .iter()
            .filter_map(|op| if let MultiTxn::Delete { path } = op { Some(path) } else { None })
            .for_each(note),
        _ => {}
    }
    acls
}

/// The watchable changes of a txn that applied successfully.
fn changes_of(deleted_acls: &BTreeMap<String, AclList>, txn: &Txn, result: &TxnResult, out: &mut Vec<Change>) {
    let now = |kind, path: &String| Change { kind, path: path.clone(), acl: None };
    let gone =
        |path: &String| Change { kind: ChangeKind::Deleted, path: path.clone(), acl: deleted_acls.get(path).cloned() };
    match (txn, result) {
        (_, TxnResult::Failed(_)) => {}
        (Txn::Create(c), _) => out.push(now(ChangeKind::Created, &c.path)),
        (Txn::Delete { path }, _) => out.push(gone(path)),
        (Txn::SetData { path, .. }, _) => out.push(now(ChangeKind::DataChanged, path)),
        (Txn::CloseSession { .. }, TxnResult::SessionClosed { deleted }) => out.extend(deleted.iter().map(gone)),
        (Txn::Multi(ops), TxnResult::Multi(results)) => {
            for (op, r) in ops.iter().zip(results) {
                match (op, r) {
                    (_, TxnResult::Failed(_)) => {}
                    (MultiTxn::Create(c), _) => out.push(now(ChangeKind::Created, &c.path)),
                    (MultiTxn::Delete { path }, _) => out.push(gone(path)),
                    (MultiTxn::SetData { path, .. }, _) => out.push(now(ChangeKind::DataChanged, path)),
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
            Txn::CreateSession { session, timeout_ms, password } => {
                self.sessions.insert(*session, SessionRecord { timeout_ms: *timeout_ms, password: *password });
            }
            Txn::CreateSessionV1 { session, timeout_ms } => {
                let record = SessionRecord { timeout_ms: *timeout_ms, password: legacy_password(*session) };
                self.sessions.insert(*session, record);
            }
            Txn::CloseSession { session, .. } => {
                self.sessions.remove(session);
            }
            _ => {}
        }
        let deleted_acls = acls_before_delete(&self.tree, &entry.txn);
        let result = txn::apply(&mut self.tree, entry.zxid, entry.time_ms, &entry.txn);
        let mut changes = Vec::new();
        changes_of(&deleted_acls, &entry.txn, &result, &mut changes);
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
        for (id, s) in &self.sessions {
            let mut bytes = [0u8; 24];
            bytes[..8].copy_from_slice(&id.0.to_le_bytes());
            bytes[8..].copy_from_slice(&s.password);
            h = h.wrapping_add(xxhash_rust::xxh3::xxh3_64_with_seed(&bytes, s.timeout_ms as u64));
        }
        h
    }
}
