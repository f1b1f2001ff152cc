//! The data tree: znodes, their Stats, node kinds, the ACL store, the ephemeral index and the
//! digest (ZooKeeper's `DataTree` and `DataNode`).
//!
//! The tree applies already-validated changes; deciding whether a request may happen (versions,
//! ACLs, path rules) is the prep step in [`crate::txn`]. Mutators still refuse impossible
//! changes with an error instead of corrupting the tree, because transactions arrive from peers.
//!
//! Stat rules (ZooKeeper 3.8 `DataTree.createNode` / `deleteNode` / `setData` / `setACL`):
//! - create: the node gets czxid = mzxid = pzxid = zxid, ctime = mtime = txn time; the parent's
//!   stored cversion becomes the txn's `parent_cversion` and its pzxid the zxid, but only when that
//!   raises the cversion (so a replayed create never moves it backwards);
//! - delete: the parent's pzxid rises to the zxid; its cversion does not change;
//! - setData: data, mtime, mzxid and version = the txn's new version;
//! - setACL: the ACL and aversion = the txn's new version; nothing else.

mod acl;
mod digest;
mod node;
pub mod path;
mod slab;
pub mod snapshot;
mod stat;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use compact_str::CompactString;

pub use acl::{Acl, AclId, AclList, AclStore, Id, perms};
pub use node::StatPersisted;
pub use path::{PathError, validate_path};
pub use slab::NodeId;
pub use stat::{CONTAINER_OWNER, CreateMode, NodeKind, Stat, TTL_MAX_MS};

use crate::error::ErrorCode;
use crate::ids::{SessionId, Zxid};
use node::Node;
use slab::Slab;

/// ZooKeeper's reserved subtree.
pub const ZOOKEEPER_PATH: &str = "/zookeeper";
pub const QUOTA_PATH: &str = "/zookeeper/quota";
pub const CONFIG_PATH: &str = "/zookeeper/config";

/// The replicated tree of znodes. Cloning is cheap (the nodes are shared and copied on
/// write; the ephemeral, container and TTL indexes are copied), which is how a snapshot is
/// serialised away from the thread that applies writes.
#[derive(Clone, Debug)]
pub struct DataTree {
    nodes: Slab<Node>,
    root: NodeId,
    acls: AclStore,
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    digest: u64,
    /// ZooKeeper's `approximateDataSize`, kept as nodes change: see
    /// [`DataTree::approximate_data_size`].
    data_size: usize,
    last_zxid: Zxid,
}

/// What one node adds to [`DataTree::approximate_data_size`].
fn node_size(path: &str, data: Option<&[u8]>) -> usize {
    (if path == "/" { 0 } else { path.len() }) + data.map_or(0, <[u8]>::len)
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// An empty tree holding ZooKeeper's built-in nodes: `/`, `/zookeeper`, `/zookeeper/quota`
    /// (open ACL, all-zero Stat) and `/zookeeper/config` (read-only ACL, aversion -1).
    pub fn new() -> DataTree {
        let mut tree = DataTree::empty();
        let open = tree.acls.acquire(&Acl::open_unsafe());
        tree.root = tree.insert_node("/", Some(Box::default()), open, StatPersisted::default());
        for path in [ZOOKEEPER_PATH, QUOTA_PATH] {
            tree.acls.retain(open);
            tree.attach_builtin(path, open, StatPersisted::default());
        }
        let read_only = tree.acls.acquire(&Acl::read_unsafe());
        let config_stat = StatPersisted { aversion: -1, ..StatPersisted::default() };
        tree.attach_builtin(CONFIG_PATH, read_only, config_stat);
        tree
    }

    fn empty() -> DataTree {
        DataTree {
            nodes: Slab::default(),
            root: NodeId(0),
            acls: AclStore::default(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            digest: 0,
            data_size: 0,
            last_zxid: Zxid::ZERO,
        }
    }

    fn attach_builtin(&mut self, path: &str, acl: AclId, stat: StatPersisted) {
        let (parent, name) = path::split_parent(path).expect("built-in paths have parents");
        let parent = self.resolve(parent).expect("built-in parents exist");
        let id = self.insert_node(path, Some(Box::default()), acl, stat);
        self.nodes.get_mut(parent).children.insert(CompactString::new(name), id);
    }

    /// Allocates a node and adds it to the digest and the data size; the caller links it to its parent.
    fn insert_node(&mut self, path: &str, data: Option<Box<[u8]>>, acl: AclId, stat: StatPersisted) -> NodeId {
        let content_hash = digest::content_hash(path, data.as_deref());
        self.digest = self.digest.wrapping_add(digest::node_digest(content_hash, self.acls.hash(acl), &stat));
        self.data_size += node_size(path, data.as_deref());
        self.nodes.insert(Node { data, children: BTreeMap::new(), content_hash, stat, acl })
    }

    /// Applies `change` to a node's persisted Stat, keeping the digest in step.
    fn update_stat(&mut self, id: NodeId, change: impl FnOnce(&mut StatPersisted)) {
        self.update_node(id, |node| change(&mut node.stat));
    }

    /// Applies `change` to a node, keeping the digest in step.
    fn update_node(&mut self, id: NodeId, change: impl FnOnce(&mut Node)) {
        let before = self.node_digest(id);
        change(self.nodes.get_mut(id));
        let after = self.node_digest(id);
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
    }

    fn node_digest(&self, id: NodeId) -> u64 {
        let node = self.nodes.get(id);
        digest::node_digest(node.content_hash, self.acls.hash(node.acl), &node.stat)
    }

    /// The node at `path` ("" and "/" both name the root, as in ZooKeeper).
    /// Only canonical paths resolve: "/a/" or "/a//b" name nothing, as in ZooKeeper's node map.
    pub fn resolve(&self, path: &str) -> Option<NodeId> {
        if path.is_empty() || path == "/" {
            return Some(self.root);
        }
        let mut id = self.root;
        for name in path.strip_prefix('/')?.split('/') {
            id = *self.nodes.get(id).children.get(name)?;
        }
        Some(id)
    }

    /// A read-only view of the node at `path`.
    pub fn get(&self, path: &str) -> Option<NodeRef<'_>> {
        self.resolve(path).map(|id| NodeRef { tree: self, id })
    }

    /// A view of the node with handle `id` (from [`DataTree::resolve`] on this same tree).
    pub fn node(&self, id: NodeId) -> NodeRef<'_> {
        NodeRef { tree: self, id }
    }

    /// Number of znodes, the root and the built-ins included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// ZooKeeper's `approximateDataSize` (mntr's `zk_approximate_data_size`): the length of
    /// every node's path (the root's counted as empty) and of its data, kept as the tree
    /// changes, so asking costs nothing however large the tree.
    pub fn approximate_data_size(&self) -> usize {
        self.data_size
    }

    /// The running digest over every node.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The zxid of the last transaction applied.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    pub fn set_last_zxid(&mut self, zxid: Zxid) {
        self.last_zxid = zxid;
    }

    pub fn acls(&self) -> &AclStore {
        &self.acls
    }

    /// Paths of the ephemerals that `session` owns, sorted.
    pub fn ephemerals(&self, session: SessionId) -> impl Iterator<Item = &str> {
        self.ephemerals.get(&session).into_iter().flatten().map(String::as_str)
    }

    /// Sessions that own at least one ephemeral.
    pub fn sessions_with_ephemerals(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.ephemerals.keys().copied()
    }

    /// Container and TTL nodes that the leader should delete now (ZooKeeper's `ContainerManager`):
    /// empty containers that once had a child (or, if `never_used_limit_ms` is non-zero, that
    /// never had one and are older than that), and childless TTL nodes untouched for their TTL.
    pub fn expiry_candidates(&self, now_ms: i64, never_used_limit_ms: i64) -> Vec<String> {
        let mut out = Vec::new();
        for path in &self.containers {
            let Some(node) = self.get(path) else { continue };
            let stat = node.persisted();
            let used = stat.cversion > 0;
            let stale = never_used_limit_ms != 0 && now_ms.saturating_sub(stat.mtime) > never_used_limit_ms;
            if node.num_children() == 0 && (used || stale) {
                out.push(path.clone());
            }
        }
        for path in &self.ttls {
            let Some(node) = self.get(path) else { continue };
            let stat = node.persisted();
            if let NodeKind::Ttl { ttl_ms } = NodeKind::from_owner(stat.ephemeral_owner)
                && node.num_children() == 0
                && ttl_ms != 0
                && now_ms.saturating_sub(stat.mtime) > ttl_ms
            {
                out.push(path.clone());
            }
        }
        out
    }

    /// Creates a node. `parent_cversion` is the parent's new stored cversion (-1: current + 1).
    #[allow(clippy::too_many_arguments)]
    pub fn create_node(
        &mut self,
        path: &str,
        data: Option<Box<[u8]>>,
        acl: &[Acl],
        ephemeral_owner: i64,
        parent_cversion: i32,
        zxid: Zxid,
        time_ms: i64,
    ) -> Result<Stat, ErrorCode> {
        let (parent_path, name) = path::split_parent(path).ok_or(ErrorCode::NodeExists)?;
        let parent = self.resolve(parent_path).ok_or(ErrorCode::NoNode)?;
        if self.nodes.get(parent).children.contains_key(name) {
            return Err(ErrorCode::NodeExists);
        }
        let z = zxid.as_i64();
        let stat = StatPersisted {
            czxid: z,
            mzxid: z,
            pzxid: z,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner,
        };
        let acl = self.acls.acquire(acl);
        let id = self.insert_node(path, data, acl, stat);
        self.nodes.get_mut(parent).children.insert(CompactString::new(name), id);
        let current = self.nodes.get(parent).stat.cversion;
        let new_cversion = if parent_cversion == -1 { current.wrapping_add(1) } else { parent_cversion };
        if new_cversion > current {
            self.update_stat(parent, |s| {
                s.cversion = new_cversion;
                s.pzxid = z;
            });
        }
        self.index_kind(path, ephemeral_owner);
        Ok(self.nodes.get(id).client_stat())
    }

    /// Deletes a childless node. Built-in nodes cannot be deleted.
    pub fn delete_node(&mut self, path: &str, zxid: Zxid) -> Result<(), ErrorCode> {
        if is_builtin(path) {
            return Err(ErrorCode::BadArguments);
        }
        let (parent_path, name) = path::split_parent(path).ok_or(ErrorCode::BadArguments)?;
        let parent = self.resolve(parent_path).ok_or(ErrorCode::NoNode)?;
        let id = *self.nodes.get(parent).children.get(name).ok_or(ErrorCode::NoNode)?;
        if !self.nodes.get(id).children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        self.digest = self.digest.wrapping_sub(self.node_digest(id));
        self.nodes.get_mut(parent).children.remove(name);
        let node = self.nodes.remove(id);
        self.data_size -= node_size(path, node.data.as_deref());
        self.acls.release(node.acl);
        let z = zxid.as_i64();
        if z > self.nodes.get(parent).stat.pzxid {
            self.update_stat(parent, |s| s.pzxid = z);
        }
        self.unindex_kind(path, node.stat.ephemeral_owner);
        Ok(())
    }

    /// Records a node in the ephemeral, container or TTL index its owner field calls for.
    fn index_kind(&mut self, path: &str, ephemeral_owner: i64) {
        match NodeKind::from_owner(ephemeral_owner) {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral(session) => {
                self.ephemerals.entry(session).or_default().insert(path.into());
            }
            NodeKind::Container => {
                self.containers.insert(path.into());
            }
            NodeKind::Ttl { .. } => {
                self.ttls.insert(path.into());
            }
        }
    }

    fn unindex_kind(&mut self, path: &str, ephemeral_owner: i64) {
        match NodeKind::from_owner(ephemeral_owner) {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral(session) => {
                if let Some(paths) = self.ephemerals.get_mut(&session) {
                    paths.remove(path);
                    if paths.is_empty() {
                        self.ephemerals.remove(&session);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl { .. } => {
                self.ttls.remove(path);
            }
        }
    }

    /// Replaces a node's data; `version` is the new data version the transaction carries.
    pub fn set_data(
        &mut self,
        path: &str,
        data: Option<Box<[u8]>>,
        version: i32,
        zxid: Zxid,
        time_ms: i64,
    ) -> Result<Stat, ErrorCode> {
        let id = self.resolve(path).ok_or(ErrorCode::NoNode)?;
        let content_hash = digest::content_hash(path, data.as_deref());
        let (old, new) =
            (self.nodes.get(id).data.as_deref().map_or(0, <[u8]>::len), data.as_deref().map_or(0, <[u8]>::len));
        self.data_size = self.data_size - old + new;
        self.update_node(id, |node| {
            node.data = data;
            node.content_hash = content_hash;
            node.stat.mzxid = zxid.as_i64();
            node.stat.mtime = time_ms;
            node.stat.version = version;
        });
        Ok(self.nodes.get(id).client_stat())
    }

    /// Replaces a node's ACL; `version` is the new aversion the transaction carries.
    pub fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let id = self.resolve(path).ok_or(ErrorCode::NoNode)?;
        let new_acl = self.acls.acquire(acl);
        let mut old_acl = new_acl;
        self.update_node(id, |node| {
            old_acl = core::mem::replace(&mut node.acl, new_acl);
            node.stat.aversion = version;
        });
        self.acls.release(old_acl);
        Ok(self.nodes.get(id).client_stat())
    }

    /// Number of descendants of the node at `path`, the node itself excluded.
    pub fn descendant_count(&self, path: &str) -> Option<usize> {
        let start = self.resolve(path)?;
        let mut stack = alloc::vec![start];
        let mut count = 0usize;
        while let Some(id) = stack.pop() {
            let node = self.nodes.get(id);
            count += node.children.len();
            stack.extend(node.children.values().copied());
        }
        Some(count)
    }

    /// Visits every node in depth-first pre-order (children sorted), with its full path.
    /// Iterative, so a pathologically deep tree cannot overflow the stack.
    pub fn walk(&self, mut visit: impl FnMut(&str, NodeRef<'_>)) {
        let mut path = String::from("/");
        visit("/", self.node(self.root));
        let mut stack = alloc::vec![(self.nodes.get(self.root).children.iter(), 1usize)];
        while let Some((children, base)) = stack.last_mut() {
            let base = *base;
            match children.next() {
                Some((name, &child)) => {
                    path.truncate(base);
                    if base > 1 {
                        path.push('/');
                    }
                    path.push_str(name);
                    visit(&path, self.node(child));
                    stack.push((self.nodes.get(child).children.iter(), path.len()));
                }
                None => {
                    stack.pop();
                }
            }
        }
    }

    /// Checks every structural invariant by a full scan: for tests and the simulator.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut digest = 0u64;
        let mut count = 0usize;
        let mut ephemerals: BTreeMap<SessionId, BTreeSet<String>> = BTreeMap::new();
        let mut containers = BTreeSet::new();
        let mut ttls = BTreeSet::new();
        let mut problem = None;
        let mut data_size = 0;
        self.walk(|path, node| {
            count += 1;
            let n = self.nodes.get(node.id);
            data_size += node_size(path, n.data.as_deref());
            if digest::content_hash(path, n.data.as_deref()) != n.content_hash {
                problem.get_or_insert_with(|| alloc::format!("stale content hash at {path}"));
            }
            if !self.acls.contains(n.acl) {
                problem.get_or_insert_with(|| alloc::format!("dangling ACL at {path}"));
            }
            if self.acls.contains(n.acl) {
                digest = digest.wrapping_add(self.node_digest(node.id));
            }
            match NodeKind::from_owner(n.stat.ephemeral_owner) {
                NodeKind::Persistent => {}
                NodeKind::Ephemeral(s) => {
                    if !n.children.is_empty() {
                        problem.get_or_insert_with(|| alloc::format!("ephemeral {path} has children"));
                    }
                    ephemerals.entry(s).or_default().insert(path.into());
                }
                NodeKind::Container => {
                    containers.insert(String::from(path));
                }
                NodeKind::Ttl { .. } => {
                    ttls.insert(String::from(path));
                }
            }
        });
        if let Some(problem) = problem {
            return Err(problem);
        }
        if count != self.nodes.len() {
            return Err(alloc::format!("{} reachable nodes, {} allocated", count, self.nodes.len()));
        }
        if digest != self.digest {
            return Err(alloc::format!("digest {:x} but nodes sum to {:x}", self.digest, digest));
        }
        if data_size != self.data_size {
            return Err(alloc::format!("data size {} but nodes sum to {data_size}", self.data_size));
        }
        if ephemerals != self.ephemerals || containers != self.containers || ttls != self.ttls {
            return Err("ephemeral, container or TTL index out of step with the nodes".into());
        }
        Ok(())
    }
}

/// The paths ZooKeeper refuses to delete (`DataTree.isSpecialPath`).
pub fn is_builtin(path: &str) -> bool {
    matches!(path, "/" | "" | ZOOKEEPER_PATH | QUOTA_PATH | CONFIG_PATH)
}

/// A read-only view of one znode.
#[derive(Clone, Copy, Debug)]
pub struct NodeRef<'a> {
    tree: &'a DataTree,
    id: NodeId,
}

impl<'a> NodeRef<'a> {
    fn node(&self) -> &'a Node {
        self.tree.nodes.get(self.id)
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The Stat a client sees.
    pub fn stat(&self) -> Stat {
        self.node().client_stat()
    }

    /// The Stat as stored (creates-only cversion, raw ephemeralOwner).
    pub fn persisted(&self) -> &'a StatPersisted {
        &self.node().stat
    }

    pub fn kind(&self) -> NodeKind {
        NodeKind::from_owner(self.node().stat.ephemeral_owner)
    }

    /// The data; `None` is a null buffer.
    pub fn data(&self) -> Option<&'a [u8]> {
        self.node().data.as_deref()
    }

    pub fn acl(&self) -> &'a AclList {
        self.tree.acls.get(self.node().acl)
    }

    pub fn acl_id(&self) -> AclId {
        self.node().acl
    }

    pub fn num_children(&self) -> usize {
        self.node().children.len()
    }

    /// Child names in sorted order.
    pub fn children(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.node().children.keys().map(CompactString::as_str)
    }

    pub fn child(&self, name: &str) -> Option<NodeRef<'a>> {
        let id = *self.node().children.get(name)?;
        Some(NodeRef { tree: self.tree, id })
    }
}

#[cfg(test)]
mod tests;
