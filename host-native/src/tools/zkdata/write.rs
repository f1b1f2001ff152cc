//! A ZooKeeper 3.8 snapshot written from our tree: the file `zabkeeper export` leaves for
//! Apache ZooKeeper to start from, with the digest section ZooKeeper checks on load.

use std::collections::BTreeMap;

use zabkeeper_core::tree::{AclList, DataTree};
use zabkeeper_core::wire::jute::{Jute, JuteWrite};

use super::files::{FILE_VERSION, SNAP_MAGIC};
use super::model::{DIGEST_VERSION, digest_of};

/// The bytes of `snapshot.<zxid>` holding `tree` and `sessions` (id, timeout) as of `zxid`.
pub fn snapshot(tree: &DataTree, sessions: &[(i64, i32)], zxid: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(tree.approximate_data_size() + 128 * tree.node_count() + 64);
    SNAP_MAGIC.write(&mut out);
    FILE_VERSION.write(&mut out);
    0i64.write(&mut out); // dbid: ZooKeeper always writes 0
    (sessions.len() as i32).write(&mut out);
    for (id, timeout) in sessions {
        id.write(&mut out);
        timeout.write(&mut out);
    }
    // ZooKeeper numbers its ACL lists from 1 (`ReferenceCountedACLCache.incrementIndex`).
    let mut ids: BTreeMap<AclList, i64> = BTreeMap::new();
    for (_, list) in tree.acls().iter() {
        let next = ids.len() as i64 + 1;
        ids.entry(list.clone()).or_insert(next);
    }
    (ids.len() as i32).write(&mut out);
    let mut by_id: Vec<(&AclList, &i64)> = ids.iter().collect();
    by_id.sort_by_key(|(_, id)| **id);
    for (list, id) in by_id {
        id.write(&mut out);
        list.to_vec().write(&mut out);
    }
    let mut digest = 0u64;
    tree.walk(|path, node| {
        let stat = node.persisted();
        digest = digest.wrapping_add(digest_of(path, node.data(), stat));
        let path = if path == "/" { "" } else { path };
        out.put_ustring(path);
        out.put_buffer(node.data());
        out.put_long(ids[node.acl()]);
        stat.write(&mut out);
    });
    out.put_ustring("/");
    seal(&mut out);
    zxid.write(&mut out);
    DIGEST_VERSION.write(&mut out);
    (digest as i64).write(&mut out);
    seal(&mut out);
    out
}

/// `SnapStream.sealStream`: the Adler32 of every byte so far, then "/".
fn seal(out: &mut Vec<u8>) {
    let mut a = adler2::Adler32::new();
    a.write_slice(out);
    out.put_long(i64::from(a.checksum()));
    out.put_ustring("/");
}
