//! Snapshots of the data tree: a versioned, checksummed serialization (serde + postcard) that
//! restores to an identical tree with an identical digest.
//!
//! Layout (all of it covered by the trailing checksum):
//!
//! ```text
//! "ZBKSNAP\0"  u32 LE format version (2; version 1 is read too)
//! postcard: Header { last_zxid, digest, acl_count, node_count, sessions }
//!           (version 1: a session is (id, timeout); version 2: (id, (timeout, password)))
//! postcard: acl_count x (AclId, Vec<Acl>)
//! postcard: node_count x Record { path, data, acl, stat }   depth-first pre-order, "/" first
//! u64 LE xxh3-64 of every byte before it
//! ```
//!
//! Reading never trusts the bytes: a bad magic, version, checksum, count, path, ACL reference
//! or digest is a [`SnapshotError`], never a panic.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::acl::{Acl, AclId, AclStore};
use super::node::StatPersisted;
use super::{DataTree, path};
use crate::ids::{SessionId, Zxid};
use crate::session::{SessionRecord, legacy_password};

pub const MAGIC: &[u8; 8] = b"ZBKSNAP\0";
pub const FORMAT_VERSION: u32 = 2;
/// Sessions without their passwords (those are then [`crate::session::legacy_password`]s).
const FORMAT_VERSION_1: u32 = 1;
const PREFIX_LEN: usize = 12;
const CHECKSUM_LEN: usize = 8;

#[derive(Serialize, Deserialize)]
struct Header<S> {
    last_zxid: Zxid,
    digest: u64,
    acl_count: u64,
    node_count: u64,
    /// Live sessions, so a restored server knows who owns the ephemerals and can check a
    /// reconnecting client's password.
    sessions: Vec<S>,
}

#[derive(Serialize, Deserialize)]
struct Record<'a> {
    path: &'a str,
    #[serde(serialize_with = "crate::bytes_serde::option::serialize_borrowed")]
    data: Option<&'a [u8]>,
    acl: AclId,
    stat: StatPersisted,
}

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    TooShort,
    BadMagic,
    UnsupportedVersion(u32),
    ChecksumMismatch,
    Malformed(String),
    DigestMismatch { recorded: u64, computed: u64 },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::TooShort => f.write_str("snapshot is truncated"),
            SnapshotError::BadMagic => f.write_str("not a zabkeeper snapshot (bad magic)"),
            SnapshotError::UnsupportedVersion(v) => write!(f, "unsupported snapshot format version {v}"),
            SnapshotError::ChecksumMismatch => f.write_str("snapshot checksum mismatch"),
            SnapshotError::Malformed(why) => write!(f, "malformed snapshot: {why}"),
            SnapshotError::DigestMismatch { recorded, computed } => {
                write!(f, "snapshot digest {recorded:016x} but its nodes give {computed:016x}")
            }
        }
    }
}

fn malformed(why: impl Into<String>) -> SnapshotError {
    SnapshotError::Malformed(why.into())
}

/// A restored snapshot.
#[derive(Debug)]
pub struct Snapshot {
    pub tree: DataTree,
    pub sessions: Vec<(SessionId, SessionRecord)>,
}

/// Serializes `tree` (and the session table) onto `out`.
pub fn write(tree: &DataTree, sessions: &[(SessionId, SessionRecord)], out: &mut Vec<u8>) {
    write_version(tree, FORMAT_VERSION, sessions, out);
}

fn write_version<S: Serialize + Clone>(tree: &DataTree, version: u32, sessions: &[S], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    let header = Header {
        last_zxid: tree.last_zxid(),
        digest: tree.digest(),
        acl_count: tree.acls().len() as u64,
        node_count: tree.node_count() as u64,
        sessions: sessions.to_vec(),
    };
    append(out, &header);
    for (id, list) in tree.acls().iter() {
        append(out, &(id, &**list));
    }
    tree.walk(|path, node| {
        let record = Record { path, data: node.data(), acl: node.acl_id(), stat: *node.persisted() };
        append(out, &record);
    });
    let sum = checksum(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&sum.to_le_bytes());
}

/// The checksum that ends a snapshot: xxh3-64 of every byte before it.
pub fn checksum(body: &[u8]) -> u64 {
    xxh3_64(body)
}

fn append<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // Serializing plain data into a Vec cannot fail.
    crate::encode::append_postcard(value, out).expect("postcard into a Vec");
}

/// Restores a snapshot written by [`write`], checking everything.
pub fn read(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    if bytes.len() < PREFIX_LEN + CHECKSUM_LEN {
        return Err(SnapshotError::TooShort);
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    let (prefix, mut rest) = body.split_at(PREFIX_LEN);
    let (magic, version) = prefix.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let version = u32::from_le_bytes(version.try_into().map_err(|_| SnapshotError::TooShort)?);
    if version != FORMAT_VERSION && version != FORMAT_VERSION_1 {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    let checksum = u64::from_le_bytes(checksum.try_into().map_err(|_| SnapshotError::TooShort)?);
    if self::checksum(body) != checksum {
        return Err(SnapshotError::ChecksumMismatch);
    }
    let header: Header<(SessionId, SessionRecord)> = if version == FORMAT_VERSION_1 {
        let old: Header<(SessionId, i32)> = take(&mut rest)?;
        let sessions = old
            .sessions
            .into_iter()
            .map(|(id, timeout_ms)| (id, SessionRecord { timeout_ms, password: legacy_password(id) }))
            .collect();
        Header {
            last_zxid: old.last_zxid,
            digest: old.digest,
            acl_count: old.acl_count,
            node_count: old.node_count,
            sessions,
        }
    } else {
        take(&mut rest)?
    };
    let acls = read_acls(&mut rest, header.acl_count)?;
    let mut tree = read_nodes(&mut rest, header.node_count, acls)?;
    if !rest.is_empty() {
        return Err(malformed("trailing bytes after the last node"));
    }
    if tree.acls.unreferenced().next().is_some() {
        return Err(malformed("an ACL list no node uses"));
    }
    if tree.digest != header.digest {
        return Err(SnapshotError::DigestMismatch { recorded: header.digest, computed: tree.digest });
    }
    tree.last_zxid = header.last_zxid;
    Ok(Snapshot { tree, sessions: header.sessions })
}

fn take<'a, T: Deserialize<'a>>(rest: &mut &'a [u8]) -> Result<T, SnapshotError> {
    let (value, tail) = postcard::take_from_bytes(rest).map_err(|e| malformed(alloc::format!("{e}")))?;
    *rest = tail;
    Ok(value)
}

fn read_acls(rest: &mut &[u8], count: u64) -> Result<AclStore, SnapshotError> {
    let mut lists = Vec::new();
    for _ in 0..count {
        let (id, acl): (AclId, Vec<Acl>) = take(rest)?;
        if id.0 as u64 > count.saturating_mul(4).saturating_add(1024) {
            return Err(malformed("ACL id far beyond the ACL count"));
        }
        lists.push((id, acl));
    }
    AclStore::with_lists(lists).ok_or_else(|| malformed("duplicate ACL id or list"))
}

fn read_nodes(rest: &mut &[u8], count: u64, acls: AclStore) -> Result<DataTree, SnapshotError> {
    let mut tree = DataTree::empty();
    tree.acls = acls;
    let mut parents = Parents::default();
    for i in 0..count {
        let record: Record = take(rest)?;
        if i == 0 && record.path != "/" {
            return Err(malformed("the first node is not the root"));
        }
        tree.attach_restored(&mut parents, record.path, record.data, record.acl, record.stat)?;
    }
    if count == 0 {
        return Err(malformed("the first node is not the root"));
    }
    Ok(tree)
}

/// The parent the last node was attached to: nodes come in pre-order, so most lookups of a
/// parent are skipped.
#[derive(Debug, Default)]
struct Parents {
    last: Option<(String, super::NodeId)>,
}

/// Builds a tree from nodes given one by one in pre-order (the root first, every parent
/// before its children, siblings in any order), checked as [`read`] checks a snapshot: what an
/// importer of another server's files uses. ACL lists are interned as they come.
#[derive(Debug)]
pub struct TreeBuilder {
    tree: DataTree,
    parents: Parents,
    started: bool,
}

impl Default for TreeBuilder {
    fn default() -> TreeBuilder {
        TreeBuilder::new()
    }
}

impl TreeBuilder {
    pub fn new() -> TreeBuilder {
        TreeBuilder { tree: DataTree::empty(), parents: Parents::default(), started: false }
    }

    /// Adds one node; the first must be the root ("/").
    pub fn node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        stat: StatPersisted,
    ) -> Result<(), SnapshotError> {
        if !self.started && path != "/" {
            return Err(malformed("the first node is not the root"));
        }
        self.started = true;
        let id = self.tree.acls.acquire(acl);
        let attached = self.tree.attach_restored(&mut self.parents, path, data, id, stat);
        // attach_restored took its own reference.
        self.tree.acls.release(id);
        attached
    }

    /// The tree as of `last_zxid`. ZooKeeper's built-in nodes that the given nodes lack (a
    /// tree from before `/zookeeper/config` existed) are added as [`DataTree::new`] makes them.
    pub fn finish(mut self, last_zxid: Zxid) -> Result<DataTree, SnapshotError> {
        if !self.started {
            return Err(malformed("no root node"));
        }
        let open = Acl::open_unsafe();
        for (path, acl, stat) in [
            (super::ZOOKEEPER_PATH, open.clone(), StatPersisted::default()),
            (super::QUOTA_PATH, open, StatPersisted::default()),
            (super::CONFIG_PATH, Acl::read_unsafe(), StatPersisted { aversion: -1, ..StatPersisted::default() }),
        ] {
            if self.tree.resolve(path).is_none() {
                self.node(path, Some(&[]), &acl, stat)?;
            }
        }
        self.tree.last_zxid = last_zxid;
        Ok(self.tree)
    }
}

impl DataTree {
    /// Adds a restored node under its parent (which must already be there), checking its path,
    /// that it is new and that its parent is not ephemeral. `acl` must be interned.
    fn attach_restored(
        &mut self,
        parents: &mut Parents,
        path: &str,
        data: Option<&[u8]>,
        acl: AclId,
        stat: StatPersisted,
    ) -> Result<(), SnapshotError> {
        if path == "/" {
            if parents.last.is_some() {
                return Err(malformed("second root"));
            }
            self.root = self.insert_restored(path, data, acl, stat)?;
            parents.last = Some((String::from("/"), self.root));
            return Ok(());
        }
        path::validate_path(path).map_err(|e| malformed(alloc::format!("{path:?}: {e}")))?;
        let (parent_path, name) = path::split_parent(path).ok_or_else(|| malformed("second root"))?;
        let parent = match &parents.last {
            Some((last, id)) if last == parent_path => *id,
            _ => {
                let id = self.resolve(parent_path).ok_or_else(|| malformed("a node before its parent"))?;
                parents.last = Some((String::from(parent_path), id));
                id
            }
        };
        if self.nodes.get(parent).children.contains_key(name) {
            return Err(malformed(alloc::format!("duplicate node {path:?}")));
        }
        if matches!(
            super::NodeKind::from_owner(self.nodes.get(parent).stat.ephemeral_owner),
            super::NodeKind::Ephemeral(_)
        ) {
            return Err(malformed("a child under an ephemeral node"));
        }
        let id = self.insert_restored(path, data, acl, stat)?;
        self.nodes.get_mut(parent).children.insert(compact_str::CompactString::new(name), id);
        Ok(())
    }
}

impl DataTree {
    fn insert_restored(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: AclId,
        stat: StatPersisted,
    ) -> Result<super::NodeId, SnapshotError> {
        if !self.acls.contains(acl) {
            return Err(malformed(alloc::format!("{path:?} names an unknown ACL")));
        }
        self.acls.retain(acl);
        let id = self.insert_node(path, data.map(Into::into), acl, stat);
        self.index_kind(path, stat.ephemeral_owner);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;

    #[test]
    fn a_version_1_snapshot_reads_with_legacy_passwords() {
        let tree = DataTree::new();
        let mut v1 = Vec::new();
        write_version(&tree, FORMAT_VERSION_1, &[(SessionId(42), 30_000i32)], &mut v1);
        let snap = read(&v1).unwrap();
        let record = SessionRecord { timeout_ms: 30_000, password: legacy_password(SessionId(42)) };
        assert_eq!(snap.sessions, alloc::vec![(SessionId(42), record)]);
        let mut v2 = Vec::new();
        write(&snap.tree, &snap.sessions, &mut v2);
        assert_eq!(read(&v2).unwrap().sessions, snap.sessions, "written again as version 2");
    }

    fn sample_tree() -> DataTree {
        let mut tree = DataTree::new();
        let z = |c| Zxid::new(1, c);
        let digest_acl = [Acl::new(crate::tree::perms::READ, "digest", "u:h")];
        tree.create_node("/a", Some((*b"one").into()), &Acl::open_unsafe(), 0, -1, z(1), 10).unwrap();
        tree.create_node("/a/b", None, &digest_acl, 0, -1, z(2), 11).unwrap();
        tree.create_node("/a/e", Some((*b"x").into()), &Acl::open_unsafe(), 0x55, -1, z(3), 12).unwrap();
        tree.create_node("/c", Some(Box::default()), &digest_acl, 0, -1, z(4), 13).unwrap();
        tree.set_last_zxid(z(4));
        tree
    }

    #[test]
    fn a_tree_built_node_by_node_equals_the_one_it_was_read_from() {
        let tree = sample_tree();
        let mut builder = TreeBuilder::new();
        tree.walk(|path, node| builder.node(path, node.data(), node.acl(), *node.persisted()).unwrap());
        let built = builder.finish(tree.last_zxid()).unwrap();
        assert_eq!(built.digest(), tree.digest());
        assert_eq!(built.node_count(), tree.node_count());
        assert_eq!(built.acls().len(), tree.acls().len());
        assert_eq!(built.approximate_data_size(), tree.approximate_data_size());
        assert_eq!(built.ephemerals(SessionId(0x55)).collect::<Vec<_>>(), ["/a/e"]);
        built.check_invariants().unwrap();
    }

    #[test]
    fn the_builder_adds_missing_builtins_and_refuses_what_read_refuses() {
        let mut builder = TreeBuilder::new();
        builder.node("/", Some(&[]), &Acl::open_unsafe(), StatPersisted::default()).unwrap();
        builder
            .node("/a", None, &Acl::open_unsafe(), StatPersisted { ephemeral_owner: 7, ..Default::default() })
            .unwrap();
        let stat = StatPersisted::default();
        let open = Acl::open_unsafe();
        assert!(
            matches!(builder.node("/a/b", None, &open, stat), Err(SnapshotError::Malformed(_))),
            "child of an ephemeral"
        );
        assert!(
            matches!(builder.node("/x/y", None, &open, stat), Err(SnapshotError::Malformed(_))),
            "before its parent"
        );
        assert!(matches!(builder.node("/a", None, &open, stat), Err(SnapshotError::Malformed(_))), "duplicate");
        assert!(matches!(builder.node("/", None, &open, stat), Err(SnapshotError::Malformed(_))), "second root");
        assert!(matches!(builder.node("/bad/", None, &open, stat), Err(SnapshotError::Malformed(_))), "bad path");
        let tree = builder.finish(Zxid::new(1, 1)).unwrap();
        for path in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            assert_eq!(
                tree.get(path).map(|n| n.persisted().aversion),
                Some(if path.ends_with("config") { -1 } else { 0 })
            );
        }
        tree.check_invariants().unwrap();
        let mut no_root = TreeBuilder::new();
        assert!(no_root.node("/a", None, &open, stat).is_err());
        assert!(no_root.finish(Zxid::ZERO).is_err());
    }
}
