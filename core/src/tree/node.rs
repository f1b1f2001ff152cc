//! One znode as stored, and the read-only view handed out to callers.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::acl::AclId;
use super::slab::NodeId;
use super::stat::{NodeKind, Stat};

/// The persisted part of a Stat (ZooKeeper's `StatPersisted`): what the snapshot stores.
/// `cversion` here counts child creates only; see [`StatPersisted::to_stat`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatPersisted {
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
}

impl StatPersisted {
    /// The Stat a client sees. ZooKeeper stores only child creates in `cversion` and reports
    /// `2 * creates - live children`, i.e. creates plus deletes (`DataNode.copyStat`).
    pub fn to_stat(&self, data_length: usize, num_children: usize) -> Stat {
        let num_children = num_children as i32;
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner: NodeKind::from_owner(self.ephemeral_owner).client_owner(),
            data_length: data_length as i32,
            num_children,
            pzxid: self.pzxid,
        }
    }

    /// The fields in a fixed little-endian layout, for the digest.
    pub(crate) fn digest_bytes(&self) -> [u8; 60] {
        let mut out = [0u8; 60];
        let longs = [self.czxid, self.mzxid, self.pzxid, self.ctime, self.mtime, self.ephemeral_owner];
        let ints = [self.version, self.cversion, self.aversion];
        for (chunk, v) in out.chunks_exact_mut(8).zip(longs) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        for (chunk, v) in out[48..].chunks_exact_mut(4).zip(ints) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        out
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// `None` is ZooKeeper's null buffer (reported with dataLength 0), distinct from empty data.
    pub(crate) data: Option<Box<[u8]>>,
    /// Sorted, so listings, snapshots and digests are the same on every replica. Names up to
    /// 24 bytes live inside the B-tree node itself: a lookup touches no other memory.
    pub(crate) children: BTreeMap<CompactString, NodeId>,
    /// Hash of (path, data): changes only with the data, so parent Stat updates stay O(1).
    pub(crate) content_hash: u64,
    pub(crate) stat: StatPersisted,
    pub(crate) acl: AclId,
}

impl Node {
    pub(crate) fn data_len(&self) -> usize {
        self.data.as_deref().map_or(0, <[u8]>::len)
    }

    pub(crate) fn client_stat(&self) -> Stat {
        self.stat.to_stat(self.data_len(), self.children.len())
    }
}
