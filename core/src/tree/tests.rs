//! Unit tests of the tree's Stat rules, indexes, digest and snapshots.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::session::SessionRecord;

fn z(counter: u32) -> Zxid {
    Zxid::new(1, counter)
}

fn open() -> Vec<Acl> {
    Acl::open_unsafe()
}

fn data(bytes: &[u8]) -> Option<Box<[u8]>> {
    Some(bytes.into())
}

#[test]
fn builtin_nodes_match_a_fresh_zookeeper() {
    let tree = DataTree::new();
    assert_eq!(tree.node_count(), 4);
    let root = tree.get("/").unwrap().stat();
    assert_eq!((root.cversion, root.num_children, root.czxid), (-1, 1, 0));
    assert_eq!(tree.get("/zookeeper").unwrap().stat().cversion, -2);
    let config = tree.get(CONFIG_PATH).unwrap();
    assert_eq!(config.stat().aversion, -1);
    assert_eq!(&**config.acl(), &Acl::read_unsafe()[..]);
    assert_eq!(tree.get("").unwrap().id(), tree.get("/").unwrap().id());
    assert_eq!(tree.get("/").unwrap().data(), Some(&[][..]));
    tree.check_invariants().unwrap();
}

#[test]
fn non_canonical_paths_name_nothing() {
    let tree = DataTree::new();
    for path in ["/zookeeper/", "//zookeeper", "zookeeper", "/zookeeper//quota", "/zookeeper/./quota"] {
        assert!(tree.get(path).is_none(), "{path}");
    }
}

#[test]
fn create_sets_stat_and_bumps_parent_cversion_and_pzxid() {
    let mut tree = DataTree::new();
    let stat = tree.create_node("/a", data(b"hello"), &open(), 0, -1, z(5), 1000).unwrap();
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (z(5).as_i64(), z(5).as_i64(), z(5).as_i64()));
    assert_eq!((stat.ctime, stat.mtime, stat.version, stat.data_length), (1000, 1000, 0, 5));
    let root = tree.get("/").unwrap();
    assert_eq!(root.persisted().cversion, 1);
    assert_eq!(root.persisted().pzxid, z(5).as_i64());
    assert_eq!(tree.create_node("/a", None, &open(), 0, -1, z(6), 0), Err(ErrorCode::NodeExists));
    assert_eq!(tree.create_node("/x/y", None, &open(), 0, -1, z(6), 0), Err(ErrorCode::NoNode));
    tree.check_invariants().unwrap();
}

#[test]
fn delete_bumps_pzxid_only_and_clients_see_creates_plus_deletes() {
    let mut tree = DataTree::new();
    tree.create_node("/q", None, &open(), 0, -1, z(1), 0).unwrap();
    tree.create_node("/q/a", None, &open(), 0, -1, z(2), 0).unwrap();
    tree.delete_node("/q/a", z(3)).unwrap();
    let q = tree.get("/q").unwrap();
    assert_eq!(q.persisted().cversion, 1, "deletes do not touch the stored cversion");
    assert_eq!(q.stat().cversion, 2, "clients see 2 * creates - children");
    assert_eq!(q.persisted().pzxid, z(3).as_i64());
    assert_eq!(tree.delete_node("/q/a", z(4)), Err(ErrorCode::NoNode));
    tree.check_invariants().unwrap();
}

#[test]
fn replayed_create_never_moves_parent_cversion_back() {
    let mut tree = DataTree::new();
    tree.create_node("/p", None, &open(), 0, -1, z(1), 0).unwrap();
    tree.create_node("/p/a", None, &open(), 0, 5, z(2), 0).unwrap();
    tree.create_node("/p/b", None, &open(), 0, 3, z(3), 0).unwrap();
    let p = tree.get("/p").unwrap().persisted();
    assert_eq!((p.cversion, p.pzxid), (5, z(2).as_i64()));
}

#[test]
fn built_ins_and_non_empty_nodes_cannot_be_deleted() {
    let mut tree = DataTree::new();
    for path in ["/", "/zookeeper", QUOTA_PATH, CONFIG_PATH] {
        assert_eq!(tree.delete_node(path, z(1)), Err(ErrorCode::BadArguments));
    }
    tree.create_node("/p", None, &open(), 0, -1, z(1), 0).unwrap();
    tree.create_node("/p/c", None, &open(), 0, -1, z(2), 0).unwrap();
    assert_eq!(tree.delete_node("/p", z(3)), Err(ErrorCode::NotEmpty));
}

#[test]
fn set_data_and_acl_change_only_their_fields() {
    let mut tree = DataTree::new();
    tree.create_node("/n", data(b"a"), &open(), 0, -1, z(1), 10).unwrap();
    let stat = tree.set_data("/n", None, 1, z(2), 20).unwrap();
    assert_eq!((stat.version, stat.mzxid, stat.mtime, stat.ctime, stat.data_length), (1, z(2).as_i64(), 20, 10, 0));
    assert_eq!(tree.get("/n").unwrap().data(), None, "null data stays null");
    let stat = tree.set_acl("/n", &Acl::read_unsafe(), 1).unwrap();
    assert_eq!((stat.aversion, stat.mzxid, stat.version), (1, z(2).as_i64(), 1));
    assert_eq!(tree.acls().len(), 2, "open ACL still used by built-ins, read ACL shared with config");
    tree.check_invariants().unwrap();
}

#[test]
fn ephemeral_container_and_ttl_indexes_follow_the_nodes() {
    let mut tree = DataTree::new();
    let s = SessionId(0x0100_0000_0000_0001);
    tree.create_node("/e1", None, &open(), s.0, -1, z(1), 0).unwrap();
    tree.create_node("/e2", None, &open(), s.0, -1, z(2), 0).unwrap();
    tree.create_node("/c", None, &open(), CONTAINER_OWNER, -1, z(3), 0).unwrap();
    let ttl = NodeKind::Ttl { ttl_ms: 100 }.owner();
    tree.create_node("/t", None, &open(), ttl, -1, z(4), 0).unwrap();
    assert_eq!(tree.ephemerals(s).collect::<Vec<_>>(), ["/e1", "/e2"]);
    assert_eq!(tree.get("/e1").unwrap().stat().ephemeral_owner, s.0);
    assert_eq!(tree.get("/c").unwrap().stat().ephemeral_owner, 0, "clients see 0 for containers");
    assert_eq!(tree.get("/t").unwrap().stat().ephemeral_owner, 0, "and for TTL nodes");
    // A container never used is not a candidate; an expired TTL node is.
    assert_eq!(tree.expiry_candidates(50, 0), Vec::<String>::new());
    assert_eq!(tree.expiry_candidates(101, 0), vec!["/t".to_string()]);
    assert_eq!(tree.expiry_candidates(101, 10), vec!["/c".to_string(), "/t".to_string()]);
    tree.create_node("/c/x", None, &open(), 0, -1, z(5), 0).unwrap();
    assert_eq!(tree.expiry_candidates(0, 0), Vec::<String>::new(), "container in use");
    tree.delete_node("/c/x", z(6)).unwrap();
    assert_eq!(tree.expiry_candidates(0, 0), vec!["/c".to_string()], "emptied container");
    tree.delete_node("/e1", z(7)).unwrap();
    tree.delete_node("/e2", z(8)).unwrap();
    assert_eq!(tree.sessions_with_ephemerals().count(), 0);
    tree.check_invariants().unwrap();
}

#[test]
fn digest_is_incremental_and_order_independent() {
    let mut a = DataTree::new();
    let mut b = DataTree::new();
    a.create_node("/x", data(b"1"), &open(), 0, 1, z(1), 0).unwrap();
    a.create_node("/y", data(b"2"), &open(), 0, 2, z(2), 0).unwrap();
    b.create_node("/y", data(b"2"), &open(), 0, 2, z(2), 0).unwrap();
    b.create_node("/x", data(b"1"), &open(), 0, 1, z(1), 0).unwrap();
    // Same nodes, same Stats: the root's pzxid differs (z2 vs z1), so fix it up to compare.
    b.update_stat(b.root, |s| s.pzxid = z(2).as_i64());
    assert_eq!(a.digest(), b.digest());
    let before = a.digest();
    a.set_data("/x", data(b"changed"), 1, z(3), 0).unwrap();
    assert_ne!(a.digest(), before);
    a.check_invariants().unwrap();
    b.check_invariants().unwrap();
}

#[test]
fn walk_is_sorted_preorder_and_survives_deep_trees() {
    let mut tree = DataTree::new();
    let mut path = String::new();
    for i in 0..10_000u32 {
        path.push_str("/d");
        tree.create_node(&path, None, &open(), 0, -1, z(i + 1), 0).unwrap();
    }
    let mut count = 0;
    tree.walk(|_, _| count += 1);
    assert_eq!(count, 10_004);
    assert_eq!(tree.descendant_count("/d"), Some(9_999));
    tree.check_invariants().unwrap();
    let mut bytes = Vec::new();
    snapshot::write(&tree, &[], &mut bytes);
    assert_eq!(snapshot::read(&bytes).unwrap().tree.digest(), tree.digest());
}

fn sample_tree() -> DataTree {
    let mut tree = DataTree::new();
    let s = SessionId(42);
    tree.create_node("/app", data(b"config"), &open(), 0, -1, z(1), 11).unwrap();
    tree.create_node("/app/lock", None, &Acl::read_unsafe(), 0, -1, z(2), 12).unwrap();
    tree.create_node("/app/lock/n0000000000", data(b""), &open(), s.0, -1, z(3), 13).unwrap();
    tree.create_node("/c", None, &open(), CONTAINER_OWNER, -1, z(4), 14).unwrap();
    tree.set_data("/app", data(b"v2"), 1, z(5), 15).unwrap();
    tree.set_last_zxid(z(5));
    tree
}

#[test]
fn snapshot_round_trip_keeps_everything() {
    let tree = sample_tree();
    let mut bytes = Vec::new();
    let session = SessionRecord { timeout_ms: 30_000, password: [9; 16] };
    snapshot::write(&tree, &[(SessionId(42), session)], &mut bytes);
    let restored = snapshot::read(&bytes).unwrap();
    assert_eq!(restored.sessions, vec![(SessionId(42), session)]);
    let copy = restored.tree;
    assert_eq!(copy.digest(), tree.digest());
    assert_eq!(copy.last_zxid(), z(5));
    assert_eq!(copy.node_count(), tree.node_count());
    assert_eq!(copy.ephemerals(SessionId(42)).collect::<Vec<_>>(), ["/app/lock/n0000000000"]);
    assert_eq!(copy.expiry_candidates(100, 1), vec!["/c".to_string()]);
    let mut walked = Vec::new();
    tree.walk(|p, n| walked.push((p.to_string(), n.stat(), n.data().map(<[u8]>::to_vec), n.acl().to_vec())));
    let mut walked_copy = Vec::new();
    copy.walk(|p, n| walked_copy.push((p.to_string(), n.stat(), n.data().map(<[u8]>::to_vec), n.acl().to_vec())));
    assert_eq!(walked, walked_copy);
    copy.check_invariants().unwrap();
    let mut again = Vec::new();
    snapshot::write(&copy, &[(SessionId(42), session)], &mut again);
    assert_eq!(again, bytes, "a restored tree writes the same bytes");
}

#[test]
fn damaged_snapshots_are_errors() {
    let mut bytes = Vec::new();
    snapshot::write(&sample_tree(), &[], &mut bytes);
    for len in 0..bytes.len() {
        assert!(snapshot::read(&bytes[..len]).is_err(), "truncated to {len}");
    }
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x10;
        assert!(snapshot::read(&flipped).is_err(), "bit flip at {i}");
    }
    let mut wrong_version = bytes.clone();
    wrong_version[8] = 9;
    assert_eq!(snapshot::read(&wrong_version).unwrap_err(), snapshot::SnapshotError::UnsupportedVersion(9));
}

/// A damaged body with a valid checksum must still be refused, by the structural checks or the
/// digest (which covers paths, data, Stats and ACLs): whatever is accepted is the same tree.
#[test]
fn well_checksummed_but_inconsistent_snapshots_are_errors() {
    use xxhash_rust::xxh3::xxh3_64;
    let original = sample_tree();
    let mut bytes = Vec::new();
    snapshot::write(&original, &[], &mut bytes);
    let mut expected = Vec::new();
    original.walk(|p, n| expected.push((p.to_string(), n.stat(), n.data().map(<[u8]>::to_vec), n.acl().to_vec())));
    let body_len = bytes.len() - 8;
    let mut accepted = 0;
    for i in 12..body_len {
        for mask in [0x01u8, 0x02, 0x80] {
            let mut evil = bytes.clone();
            evil[i] ^= mask;
            let sum = xxh3_64(&evil[..body_len]);
            evil[body_len..].copy_from_slice(&sum.to_le_bytes());
            if let Ok(snap) = snapshot::read(&evil) {
                accepted += 1;
                snap.tree.check_invariants().unwrap();
                let mut got = Vec::new();
                snap.tree
                    .walk(|p, n| got.push((p.to_string(), n.stat(), n.data().map(<[u8]>::to_vec), n.acl().to_vec())));
                assert_eq!(got, expected, "byte {i} mask {mask:#x} changed the tree unnoticed");
            }
        }
    }
    // Only flips of fields outside the tree (last_zxid, session list) can pass.
    assert!(accepted < 40, "{accepted} damaged snapshots accepted");
}

#[test]
fn a_clone_is_a_frozen_snapshot_of_the_moment() {
    let mut tree = sample_tree();
    for i in 0..10_000u32 {
        let path = alloc::format!("/app/n{i}");
        tree.create_node(&path, data(&i.to_le_bytes()), &open(), 0, -1, z(10 + i), 20).unwrap();
    }
    let mut before = Vec::new();
    snapshot::write(&tree, &[], &mut before);
    let frozen = tree.clone();
    // Every kind of change after the clone, in several chunks of the slab.
    tree.set_data("/app", data(b"v3"), 2, z(20_000), 30).unwrap();
    tree.set_data("/app/n9999", None, 1, z(20_001), 30).unwrap();
    tree.delete_node("/app/n5000", z(20_002)).unwrap();
    tree.delete_node("/app/lock/n0000000000", z(20_003)).unwrap();
    tree.create_node("/app/new", data(b"x"), &open(), 7, -1, z(20_004), 31).unwrap();
    tree.set_acl("/app/n1", &Acl::read_unsafe(), 1).unwrap();
    tree.set_last_zxid(z(20_004));
    tree.check_invariants().unwrap();
    frozen.check_invariants().unwrap();
    let mut after = Vec::new();
    snapshot::write(&frozen, &[], &mut after);
    assert_eq!(after, before, "the clone writes the snapshot of the moment it was taken");
    assert_ne!(frozen.digest(), tree.digest());
    assert_eq!(frozen.get("/app").unwrap().data(), Some(&b"v2"[..]));
    assert_eq!(tree.get("/app").unwrap().data(), Some(&b"v3"[..]));
    assert!(frozen.get("/app/n5000").is_some() && tree.get("/app/n5000").is_none());
    assert_eq!(frozen.ephemerals(SessionId(42)).count(), 1);
    assert_eq!(tree.ephemerals(SessionId(42)).count(), 0);
    let mut now = Vec::new();
    snapshot::write(&tree, &[], &mut now);
    assert_eq!(snapshot::read(&now).unwrap().tree.digest(), tree.digest());
}

/// A snapshot holds no write or txn, so nothing in it nests: bytes of nested multis where the
/// root's record goes, sealed with a valid checksum, are a malformed snapshot like any other.
#[test]
fn a_snapshot_with_nested_multi_bytes_for_a_record_is_malformed() {
    use crate::txn::tests::{HOSTILE_DEPTH, TXN_MULTI, WRITE_OP_MULTI, nested_multis};
    let mut bytes = Vec::new();
    snapshot::write(&DataTree::new(), &[], &mut bytes);
    // The header (last_zxid, digest, acl_count, node_count, sessions) follows the 12-byte
    // prefix; the nested multis go right after it.
    let header = postcard::take_from_bytes::<(Zxid, u64, u64, u64, Vec<(SessionId, i32)>)>(&bytes[12..]);
    let header_end = bytes.len() - header.unwrap().1.len();
    for multi in [WRITE_OP_MULTI, TXN_MULTI] {
        let mut evil = [&bytes[..header_end], &nested_multis(multi, HOSTILE_DEPTH)[..], &[0; 8]].concat();
        let body = evil.len() - 8;
        let sum = snapshot::checksum(&evil[..body]);
        evil[body..].copy_from_slice(&sum.to_le_bytes());
        assert!(matches!(snapshot::read(&evil), Err(snapshot::SnapshotError::Malformed(_))));
    }
}
