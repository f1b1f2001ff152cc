//! The tree digest: a running, order-independent sum of per-node hashes, updated in O(1) per
//! change (the idea of ZooKeeper 3.6's `DigestCalculator`, with our own hash). Replicas at the
//! same zxid must have equal digests; a mismatch means divergence.

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::node::StatPersisted;

/// Hash of a node's path and data, cached on the node.
pub(crate) fn content_hash(path: &str, data: Option<&[u8]>) -> u64 {
    let mut h = Xxh3::new();
    h.update(path.as_bytes());
    match data {
        // The separator byte 0xFF never occurs in UTF-8, so (path, data) splits are unambiguous.
        Some(data) => {
            h.update(&[0xFF, 1]);
            h.update(data);
        }
        None => h.update(&[0xFF, 0]),
    }
    h.digest()
}

/// The digest contribution of one node: its path and data (via `content_hash`), its Stat and
/// its ACL (via the ACL list's hash), so replicas that differ in any of them differ here.
pub(crate) fn node_digest(content_hash: u64, acl_hash: u64, stat: &StatPersisted) -> u64 {
    let mut bytes = [0u8; 76];
    bytes[..8].copy_from_slice(&content_hash.to_le_bytes());
    bytes[8..16].copy_from_slice(&acl_hash.to_le_bytes());
    bytes[16..].copy_from_slice(&stat.digest_bytes());
    xxh3_64(&bytes)
}
