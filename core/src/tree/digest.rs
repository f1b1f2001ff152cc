//! The tree digest: a running, order-independent sum of per-node hashes, updated in O(1) per
//! change (the idea of ZooKeeper 3.6's `DigestCalculator`, with our own hash). Replicas at the
//! same zxid must have equal digests; a mismatch means divergence.

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::node::StatPersisted;

/// Hash of a node's path and data, cached on the node: XXH3 of `path, 0xFF, 1, data` (or
/// `path, 0xFF, 0` for no data).
pub(crate) fn content_hash(path: &str, data: Option<&[u8]>) -> u64 {
    // The separator byte 0xFF never occurs in UTF-8, so (path, data) splits are unambiguous.
    let (tag, data) = match data {
        Some(data) => (1u8, data),
        None => (0u8, &[][..]),
    };
    let len = path.len() + 2 + data.len();
    // Short inputs (most znodes) hash in one go from the stack: the same value as the
    // streaming hasher gives, at a fraction of its set-up cost.
    const SHORT: usize = 240;
    if len <= SHORT {
        let mut buf = [0u8; SHORT];
        buf[..path.len()].copy_from_slice(path.as_bytes());
        buf[path.len()..path.len() + 2].copy_from_slice(&[0xFF, tag]);
        buf[path.len() + 2..len].copy_from_slice(data);
        return xxh3_64(&buf[..len]);
    }
    let mut h = Xxh3::new();
    h.update(path.as_bytes());
    h.update(&[0xFF, tag]);
    h.update(data);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_inputs_hash_like_the_streaming_hasher() {
        let streaming = |path: &str, data: Option<&[u8]>| {
            let mut h = Xxh3::new();
            h.update(path.as_bytes());
            match data {
                Some(data) => {
                    h.update(&[0xFF, 1]);
                    h.update(data);
                }
                None => h.update(&[0xFF, 0]),
            }
            h.digest()
        };
        let data: alloc::vec::Vec<u8> = (0..2000u32).map(|i| (i * 7) as u8).collect();
        for len in [0, 1, 100, 200, 230, 231, 232, 240, 500, 2000] {
            for path in ["/", "/a", "/some/longer/path/name"] {
                assert_eq!(content_hash(path, Some(&data[..len])), streaming(path, Some(&data[..len])), "{path} {len}");
            }
        }
        assert_eq!(content_hash("/x", None), streaming("/x", None));
        let long_path = "/p".repeat(200);
        assert_eq!(content_hash(&long_path, None), streaming(&long_path, None));
    }
}
