//! ZooKeeper's data tree as its own server keeps it while it loads a snapshot and replays its
//! log: the same node map, the same rules for each transaction (`DataTree.processTxn` of
//! ZooKeeper 3.4 to 3.9, including what it does when a fuzzy snapshot already holds a
//! change), and the same tree digest (3.6's `DigestCalculator`: CRC32 of path, data and
//! Stat, summed over every node outside `/zookeeper/`). Replaying through this model rather
//! than through our own apply is what makes an import land on exactly the tree ZooKeeper
//! would have started with, and its digests prove it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use zabkeeper_core::tree::{Acl, CONTAINER_OWNER, NodeKind, StatPersisted};

/// ZooKeeper's digest version that this model computes (`DigestCalculator.DIGEST_VERSION`).
pub const DIGEST_VERSION: i32 = 2;

/// One znode as ZooKeeper stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkNode {
    pub data: Option<Vec<u8>>,
    pub acl: Arc<[Acl]>,
    pub stat: StatPersisted,
    pub children: BTreeSet<String>,
}

/// What a transaction log record holds after its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkTxn {
    CreateSession {
        timeout_ms: i32,
    },
    /// `paths` is 3.6's `CloseSessionTxn`; older logs carry no body.
    CloseSession {
        paths: Option<Vec<String>>,
    },
    /// `create` (opcode 1) or `create2` (15); `parent_cversion` -1 for 3.3's records without one.
    Create {
        create2: bool,
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        ephemeral: bool,
        parent_cversion: i32,
    },
    CreateContainer {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        parent_cversion: i32,
    },
    CreateTtl {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        parent_cversion: i32,
        ttl_ms: i64,
    },
    /// `delete` and `deleteContainer`.
    Delete {
        path: String,
    },
    /// `setData`, and `reconfig` (which sets `/zookeeper/config`).
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    Error {
        code: i32,
    },
    /// A multi; `failed` when one of its ops is an error, and then nothing of it applies.
    Multi {
        failed: bool,
        ops: Vec<ZkTxn>,
    },
}

/// The header of every logged transaction (`TxnHeader`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnHeader {
    pub client_id: i64,
    pub cxid: i32,
    pub zxid: i64,
    pub time_ms: i64,
    pub kind: i32,
}

/// What went wrong applying a txn: ZooKeeper records the error and goes on, as we do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    NoNode,
    NodeExists,
}

/// ZooKeeper's tree plus its session table, as loaded from its files.
#[derive(Debug)]
pub struct ZkTree {
    /// Keyed as ZooKeeper keys them: the root is "".
    nodes: HashMap<String, ZkNode>,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    digest: u64,
    /// Session id to negotiated timeout.
    pub sessions: BTreeMap<i64, i32>,
    /// The last zxid applied (the snapshot's, then each txn's).
    pub last_zxid: i64,
}

impl Default for ZkTree {
    fn default() -> ZkTree {
        ZkTree::empty()
    }
}

/// The parent's key and the child's name of a path ("/a" is ("", "a")), as ZooKeeper splits it.
fn split(path: &str) -> Option<(&str, &str)> {
    let slash = path.rfind('/')?;
    Some((&path[..slash], &path[slash + 1..]))
}

/// One node's part of the digest (`DigestCalculator.calculateDigest`).
pub fn node_digest(path: &str, node: &ZkNode) -> u64 {
    digest_of(path, node.data.as_deref(), &node.stat)
}

/// [`node_digest`] of a node given by its parts.
pub fn digest_of(path: &str, data: Option<&[u8]>, s: &StatPersisted) -> u64 {
    if path.starts_with("/zookeeper/") {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut bytes = [0u8; 60];
    let mut at = 0;
    for v in [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime] {
        bytes[at..at + 8].copy_from_slice(&v.to_be_bytes());
        at += 8;
    }
    for v in [s.version, s.cversion, s.aversion] {
        bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
        at += 4;
    }
    bytes[at..].copy_from_slice(&s.ephemeral_owner.to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(path.as_bytes());
    if let Some(data) = data {
        crc.update(data);
    }
    crc.update(&bytes);
    u64::from(crc.finalize())
}

impl ZkTree {
    /// No nodes at all, not even the root (a snapshot brings them).
    pub fn empty() -> ZkTree {
        ZkTree { nodes: HashMap::new(), ephemerals: HashMap::new(), digest: 0, sessions: BTreeMap::new(), last_zxid: 0 }
    }

    /// The tree a ZooKeeper server starts from when it has no snapshot: the root and
    /// `/zookeeper` with `/zookeeper/quota`, open ACLs and zero Stats.
    pub fn initial() -> ZkTree {
        let mut tree = ZkTree::empty();
        let open: Arc<[Acl]> = Acl::open_unsafe().into();
        for path in ["", "/zookeeper", "/zookeeper/quota"] {
            let node = ZkNode {
                data: Some(Vec::new()),
                acl: open.clone(),
                stat: StatPersisted::default(),
                children: BTreeSet::new(),
            };
            tree.insert_loaded(path, node).expect("built-in parents come first");
        }
        tree
    }

    /// ZooKeeper's tree digest (`DataTree.getTreeDigest`).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn get(&self, path: &str) -> Option<&ZkNode> {
        self.nodes.get(if path == "/" { "" } else { path })
    }

    /// Adds a node read from a snapshot; its parent must be there already.
    pub fn insert_loaded(&mut self, path: &str, mut node: ZkNode) -> Result<(), String> {
        node.children.clear();
        if !path.is_empty() {
            let (parent, name) = split(path).ok_or_else(|| format!("{path:?} is not a path"))?;
            let parent_node = self.nodes.get_mut(parent).ok_or_else(|| format!("{path:?} comes before its parent"))?;
            if !parent_node.children.insert(name.to_owned()) {
                return Err(format!("{path:?} appears twice"));
            }
            self.index(path, node.stat.ephemeral_owner);
        } else if !self.nodes.is_empty() {
            return Err("a second root".into());
        }
        self.digest = self.digest.wrapping_add(node_digest(path, &node));
        if self.nodes.insert(path.to_owned(), node).is_some() {
            return Err(format!("{path:?} appears twice"));
        }
        Ok(())
    }

    fn index(&mut self, path: &str, owner: i64) {
        if let NodeKind::Ephemeral(session) = NodeKind::from_owner(owner) {
            self.ephemerals.entry(session.0).or_default().insert(path.to_owned());
        }
    }

    /// Changes one node in place, keeping the digest in step (`preChange` / `postChange`).
    fn change(&mut self, path: &str, edit: impl FnOnce(&mut ZkNode)) -> bool {
        let Some(node) = self.nodes.get_mut(path) else { return false };
        let before = node_digest(path, node);
        edit(node);
        let after = node_digest(path, node);
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        true
    }

    /// Applies one logged transaction as `FileTxnSnapLog.processTransaction` does.
    pub fn apply(&mut self, header: &TxnHeader, txn: &ZkTxn) {
        match txn {
            ZkTxn::CreateSession { timeout_ms } => {
                self.sessions.insert(header.client_id, *timeout_ms);
            }
            ZkTxn::CloseSession { .. } => {
                self.sessions.remove(&header.client_id);
            }
            _ => {}
        }
        self.process(header, txn);
        self.last_zxid = self.last_zxid.max(header.zxid);
    }

    /// `DataTree.processTxn` for one txn or one op of a multi.
    fn process(&mut self, header: &TxnHeader, txn: &ZkTxn) {
        let zxid = header.zxid;
        let time = header.time_ms;
        let result = match txn {
            ZkTxn::CreateSession { .. } | ZkTxn::Check { .. } | ZkTxn::Error { .. } => Ok(()),
            ZkTxn::CloseSession { paths } => {
                self.kill_session(header.client_id, zxid, paths.as_deref());
                Ok(())
            }
            ZkTxn::Create { create2, path, data, acl, ephemeral, parent_cversion } => {
                let owner = if *ephemeral { header.client_id } else { 0 };
                let created = self.create(path, data, acl, owner, *parent_cversion, zxid, time);
                if !create2 && created == Err(Failure::NodeExists) {
                    // A fuzzy snapshot already holds the node: bring its parent's cversion and
                    // pzxid to what the create gave them (only `create`, as ZooKeeper does).
                    if let Some((parent, _)) = split(path) {
                        self.set_cversion_pzxid(parent, *parent_cversion, zxid);
                    }
                }
                created
            }
            ZkTxn::CreateContainer { path, data, acl, parent_cversion } => {
                self.create(path, data, acl, CONTAINER_OWNER, *parent_cversion, zxid, time)
            }
            ZkTxn::CreateTtl { path, data, acl, parent_cversion, ttl_ms } => {
                let owner = NodeKind::Ttl { ttl_ms: *ttl_ms }.owner();
                self.create(path, data, acl, owner, *parent_cversion, zxid, time)
            }
            ZkTxn::Delete { path } => self.delete(path, zxid),
            ZkTxn::SetData { path, data, version } => {
                let found = self.change(path, |n| {
                    n.data = data.clone();
                    n.stat.mtime = time;
                    n.stat.mzxid = zxid;
                    n.stat.version = *version;
                });
                if found { Ok(()) } else { Err(Failure::NoNode) }
            }
            ZkTxn::SetAcl { path, acl, version } => {
                let acl: Arc<[Acl]> = acl.clone().into();
                let found = self.change(path, |n| {
                    n.stat.aversion = *version;
                    n.acl = acl;
                });
                if found { Ok(()) } else { Err(Failure::NoNode) }
            }
            ZkTxn::Multi { failed, ops } => {
                if !failed {
                    for op in ops {
                        self.process(header, op);
                    }
                }
                Ok(())
            }
        };
        // Errors are what a fuzzy snapshot makes of a replayed change: ZooKeeper ignores them.
        let _ = result;
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        path: &str,
        data: &Option<Vec<u8>>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
    ) -> Result<(), Failure> {
        let (parent, name) = split(path).ok_or(Failure::NoNode)?;
        if !self.nodes.contains_key(parent) {
            return Err(Failure::NoNode);
        }
        if let Some(existing) = self.nodes.get_mut(path) {
            // ZooKeeper puts the txn's ACL on the node that is already there.
            existing.acl = acl.into();
            return Err(Failure::NodeExists);
        }
        let name = name.to_owned();
        self.change(parent, |p| {
            let cversion = if parent_cversion == -1 { p.stat.cversion + 1 } else { parent_cversion };
            if cversion > p.stat.cversion {
                p.stat.cversion = cversion;
                p.stat.pzxid = zxid;
            }
            p.children.insert(name);
        });
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
        };
        let node = ZkNode { data: data.clone(), acl: acl.into(), stat, children: BTreeSet::new() };
        self.digest = self.digest.wrapping_add(node_digest(path, &node));
        self.nodes.insert(path.to_owned(), node);
        self.index(path, owner);
        Ok(())
    }

    fn delete(&mut self, path: &str, zxid: i64) -> Result<(), Failure> {
        let (parent, name) = split(path).ok_or(Failure::NoNode)?;
        let found_parent = self.change(parent, |p| {
            p.children.remove(name);
            if zxid > p.stat.pzxid {
                p.stat.pzxid = zxid;
            }
        });
        if !found_parent {
            return Err(Failure::NoNode);
        }
        let node = self.nodes.remove(path).ok_or(Failure::NoNode)?;
        self.digest = self.digest.wrapping_sub(node_digest(path, &node));
        if let NodeKind::Ephemeral(session) = NodeKind::from_owner(node.stat.ephemeral_owner)
            && let Some(set) = self.ephemerals.get_mut(&session.0)
        {
            set.remove(path);
        }
        Ok(())
    }

    fn set_cversion_pzxid(&mut self, path: &str, cversion: i32, zxid: i64) {
        self.change(path, |n| {
            let cversion = if cversion == -1 { n.stat.cversion + 1 } else { cversion };
            if cversion > n.stat.cversion {
                n.stat.cversion = cversion;
                n.stat.pzxid = zxid;
            }
        });
    }

    /// Deletes a closed session's ephemerals: the txn's list first, then any the tree still
    /// knows (`DataTree.killSession`).
    fn kill_session(&mut self, session: i64, zxid: i64, listed: Option<&[String]>) {
        let mut known = self.ephemerals.remove(&session).unwrap_or_default();
        for path in listed.unwrap_or_default() {
            let _ = self.delete(path, zxid);
            known.remove(path);
        }
        for path in known {
            let _ = self.delete(&path, zxid);
        }
    }

    /// What ZooKeeper does once it has loaded its database (`ZooKeeperServer.loadData`):
    /// ephemerals whose session is not in the session table are deleted, at the last zxid.
    /// Returns how many sessions that was.
    pub fn drop_dead_sessions(&mut self) -> usize {
        let dead: Vec<i64> = self.ephemerals.keys().copied().filter(|s| !self.sessions.contains_key(s)).collect();
        for session in &dead {
            self.kill_session(*session, self.last_zxid, None);
        }
        dead.len()
    }

    /// Visits every node in pre-order (parents first, children by name), with its path in our
    /// spelling ("/" for the root).
    pub fn walk(&self, mut visit: impl FnMut(&str, &ZkNode)) {
        let mut stack = vec![String::new()];
        while let Some(path) = stack.pop() {
            let Some(node) = self.nodes.get(&path) else { continue };
            visit(if path.is_empty() { "/" } else { &path }, node);
            for child in node.children.iter().rev() {
                stack.push(format!("{path}/{child}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(zxid: i64, client_id: i64) -> TxnHeader {
        TxnHeader { client_id, cxid: 1, zxid, time_ms: 1000 + zxid, kind: 0 }
    }

    fn create(path: &str, parent_cversion: i32) -> ZkTxn {
        ZkTxn::Create {
            create2: false,
            path: path.into(),
            data: Some(b"d".to_vec()),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion,
        }
    }

    fn digest_from_scratch(tree: &ZkTree) -> u64 {
        tree.nodes.iter().fold(0u64, |sum, (path, node)| sum.wrapping_add(node_digest(path, node)))
    }

    #[test]
    fn creates_deletes_and_sessions_keep_the_digest_in_step() {
        let mut tree = ZkTree::initial();
        tree.apply(&header(1, 7), &ZkTxn::CreateSession { timeout_ms: 4000 });
        tree.apply(&header(2, 7), &create("/a", 1));
        let eph = ZkTxn::Create {
            create2: true,
            path: "/a/e".into(),
            data: None,
            acl: Acl::open_unsafe(),
            ephemeral: true,
            parent_cversion: 1,
        };
        tree.apply(&header(3, 7), &eph);
        assert_eq!(tree.get("/a/e").unwrap().stat.ephemeral_owner, 7);
        assert_eq!(tree.digest(), digest_from_scratch(&tree));
        tree.apply(&header(4, 7), &ZkTxn::CloseSession { paths: None });
        assert!(tree.get("/a/e").is_none(), "the session's ephemeral goes with it");
        assert!(tree.sessions.is_empty());
        let a = &tree.get("/a").unwrap().stat;
        assert_eq!((a.cversion, a.pzxid), (1, 4), "a delete moves pzxid, not the stored cversion");
        assert_eq!(tree.digest(), digest_from_scratch(&tree));
        assert_eq!(tree.last_zxid, 4);
    }

    #[test]
    fn a_replayed_create_the_snapshot_already_holds_fixes_the_parent_as_zookeeper_does() {
        let mut tree = ZkTree::initial();
        tree.apply(&header(2, 0), &create("/a", 1));
        tree.apply(&header(3, 0), &create("/a/b", 1));
        // The snapshot caught /a/b/c but not its parent's new cversion.
        tree.apply(&header(4, 0), &create("/a/b/c", 1));
        tree.change("/a/b", |n| {
            n.stat.cversion = 0;
            n.stat.pzxid = 3;
        });
        tree.apply(&header(4, 0), &create("/a/b/c", 1));
        let b = &tree.get("/a/b").unwrap().stat;
        assert_eq!((b.cversion, b.pzxid), (1, 4));
        assert_eq!(tree.digest(), digest_from_scratch(&tree));
    }

    #[test]
    fn a_failed_multi_changes_nothing_and_a_good_one_everything() {
        let mut tree = ZkTree::initial();
        let before = tree.digest();
        let failed = ZkTxn::Multi { failed: true, ops: vec![create("/x", 1), ZkTxn::Error { code: -101 }] };
        tree.apply(&header(1, 0), &failed);
        assert_eq!(tree.digest(), before);
        let good = ZkTxn::Multi {
            failed: false,
            ops: vec![
                create("/x", 1),
                ZkTxn::SetData { path: "/x".into(), data: Some(b"new".to_vec()), version: 1 },
                ZkTxn::Check { path: "/x".into(), version: 1 },
            ],
        };
        tree.apply(&header(2, 0), &good);
        let x = tree.get("/x").unwrap();
        assert_eq!((x.data.as_deref(), x.stat.version, x.stat.mzxid), (Some(&b"new"[..]), 1, 2));
        assert_eq!(tree.digest(), digest_from_scratch(&tree));
    }

    #[test]
    fn nodes_under_zookeeper_do_not_count_toward_the_digest() {
        let node = ZkNode {
            data: Some(vec![1]),
            acl: Acl::open_unsafe().into(),
            stat: StatPersisted::default(),
            children: BTreeSet::new(),
        };
        assert_eq!(node_digest("/zookeeper/quota", &node), 0);
        assert_ne!(node_digest("/zookeeper", &node), 0);
        assert_eq!(node_digest("/", &node), node_digest("", &node));
    }

    #[test]
    fn ephemerals_of_sessions_missing_from_the_table_are_dropped() {
        let mut tree = ZkTree::initial();
        let eph = |path: &str| ZkTxn::Create {
            create2: false,
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            ephemeral: true,
            parent_cversion: -1,
        };
        tree.apply(&header(1, 5), &ZkTxn::CreateSession { timeout_ms: 4000 });
        tree.apply(&header(2, 5), &eph("/live"));
        tree.apply(&header(3, 9), &eph("/dead"));
        assert_eq!(tree.drop_dead_sessions(), 1);
        assert!(tree.get("/live").is_some());
        assert!(tree.get("/dead").is_none());
        let mut paths = Vec::new();
        tree.walk(|p, _| paths.push(p.to_owned()));
        assert_eq!(paths, ["/", "/live", "/zookeeper", "/zookeeper/quota"]);
    }
}
