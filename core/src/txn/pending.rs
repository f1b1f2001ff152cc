//! Changes that prep has decided but the tree has not yet applied (ZooKeeper's
//! `outstandingChanges` of `ChangeRecord`s). Prep reads through them, so a write proposed right
//! behind another sees its effects: versions, existence, child counts, sequence numbers.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::ids::Zxid;
use crate::tree::{AclList, DataTree};

/// What prep needs to know about one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    pub version: i32,
    /// Stored (creates-only) cversion: the next sequential suffix.
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub num_children: i32,
    pub acl: AclList,
}

#[derive(Clone, Debug)]
struct Pending {
    zxid: Zxid,
    /// `None`: deleted by a pending txn.
    node: Option<NodeRecord>,
}

/// Where a rollback returns to (see [`PendingChanges::mark`]).
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    journal_len: usize,
    order_len: usize,
}

/// The pending-change overlay on top of the committed tree.
#[derive(Debug, Default)]
pub struct PendingChanges {
    /// By path; a put's one copy of the path is shared by its record, `order` and `journal`.
    records: BTreeMap<Arc<str>, Pending>,
    /// (zxid, path) in proposal order, to drop records as their txns commit.
    order: VecDeque<(Zxid, Arc<str>)>,
    /// Previous records of paths changed since the oldest open mark, for rollback.
    journal: Vec<(Arc<str>, Option<Pending>)>,
}

impl PendingChanges {
    /// The node at `path` as prep must see it: the newest pending record, else the tree.
    pub fn lookup(&self, tree: &DataTree, path: &str) -> Option<NodeRecord> {
        let path = if path.is_empty() { "/" } else { path };
        match self.records.get(path) {
            Some(pending) => pending.node.clone(),
            None => tree.get(path).map(|node| {
                let stat = node.persisted();
                NodeRecord {
                    version: stat.version,
                    cversion: stat.cversion,
                    aversion: stat.aversion,
                    ephemeral_owner: stat.ephemeral_owner,
                    num_children: node.num_children() as i32,
                    acl: node.acl().clone(),
                }
            }),
        }
    }

    /// Records the state `path` will have once the txn `zxid` is applied.
    pub fn put(&mut self, path: &str, zxid: Zxid, node: Option<NodeRecord>) {
        let path = if path.is_empty() { "/" } else { path };
        let key: Arc<str> = Arc::from(path);
        let previous = self.records.insert(Arc::clone(&key), Pending { zxid, node });
        self.journal.push((Arc::clone(&key), previous));
        self.order.push_back((zxid, key));
    }

    /// Paths with a pending record, and that record (for closeSession's ephemeral scan).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&NodeRecord>)> {
        self.records.iter().map(|(path, p)| (&**path, p.node.as_ref()))
    }

    /// Remembers the current state so a failing multi can undo its partial changes.
    pub fn mark(&self) -> Mark {
        Mark { journal_len: self.journal.len(), order_len: self.order.len() }
    }

    /// Undoes every `put` since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        while self.journal.len() > mark.journal_len {
            let Some((path, previous)) = self.journal.pop() else { break };
            match previous {
                Some(previous) => {
                    self.records.insert(path, previous);
                }
                None => {
                    self.records.remove(&path);
                }
            }
        }
        self.order.truncate(mark.order_len);
    }

    /// Forgets the journal: changes made so far can no longer be rolled back.
    pub fn seal(&mut self) {
        self.journal.clear();
    }

    /// Drops the records of every txn up to `zxid`, now that the tree holds their effects.
    pub fn committed(&mut self, zxid: Zxid) {
        while let Some((z, _)) = self.order.front() {
            if *z > zxid {
                break;
            }
            let Some((z, path)) = self.order.pop_front() else { break };
            if self.records.get(&path).is_some_and(|p| p.zxid == z) {
                self.records.remove(&path);
            }
        }
        self.journal.clear();
    }

    /// Forgets everything (a new leader starts from its committed tree).
    pub fn clear(&mut self) {
        self.records.clear();
        self.order.clear();
        self.journal.clear();
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}
