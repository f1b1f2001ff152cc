//! Importing Apache ZooKeeper 3.8's own files (tests/zkdata/: a real server's dataDir) and
//! exporting back: whole, from every one of its snapshots, and with damage put into copies.

use std::path::{Path, PathBuf};

use zabkeeper::storage::{Storage, StorageOptions};
use zabkeeper::tools::migrate::{self, ExportArgs, ImportArgs};
use zabkeeper::tools::zkdata::{self, ZkDataError, files};
use zabkeeper_core::server::Database;
use zabkeeper_core::zab::StateMachine;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/zkdata/zookeeper-3.8-standalone/version-2")
}

/// A scratch copy of the fixture's version-2 directory, minus the files `drop` picks.
fn copy_without(drop: impl Fn(&str) -> bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("version-2");
    std::fs::create_dir(&to).unwrap();
    for entry in std::fs::read_dir(fixture()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if !drop(&name) {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
    dir
}

fn snapshots() -> Vec<files::Named> {
    files::list(&fixture(), "snapshot").unwrap()
}

#[test]
fn the_fixture_loads_with_every_zookeeper_digest_equal() {
    let loaded = zkdata::load(&fixture(), &fixture()).unwrap();
    assert_eq!(loaded.tree.last_zxid, 0xab);
    assert!(loaded.digests_checked >= 1);
    assert_eq!(loaded.first_mismatch, None);
    assert!(loaded.skipped_snapshots.is_empty() && loaded.torn.is_empty());
    assert_eq!(loaded.tree.sessions.len(), 2, "the two clients that were still connected");
    let secret = loaded.tree.get("/app/secret").unwrap();
    assert_eq!(secret.acl[0].id.scheme, "digest");
    assert_eq!(secret.data.as_deref(), Some(&b"only alice"[..]));
    assert_eq!(loaded.tree.get("/app/nulldata").unwrap().data, None, "a null data stays null");
}

#[test]
fn every_snapshot_replayed_to_the_end_gives_the_same_tree_as_zookeeper_digests_say() {
    let whole = zkdata::load(&fixture(), &fixture()).unwrap();
    let all = snapshots();
    assert!(all.len() >= 10, "{} snapshots", all.len());
    let mut checked = 0;
    for (i, snap) in all.iter().enumerate() {
        // Only this snapshot and none newer: the replay starts here and runs the logs to the end.
        let newer: Vec<String> =
            all[i + 1..].iter().map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
        let dir = copy_without(|name| newer.iter().any(|n| n == name));
        let v2 = dir.path().join("version-2");
        let loaded = zkdata::load(&v2, &v2).unwrap();
        assert_eq!(loaded.snapshot.as_ref().map(|s| s.zxid), Some(snap.zxid));
        assert_eq!(loaded.first_mismatch, None, "from {:#x}", snap.zxid);
        assert_eq!(loaded.tree.last_zxid, 0xab);
        assert_eq!(loaded.tree.digest(), whole.tree.digest(), "from snapshot {:#x}", snap.zxid);
        assert_eq!(loaded.tree.node_count(), whole.tree.node_count());
        checked += loaded.digests_checked;
    }
    // From snapshot.0 every txn of the history is replayed and checked against ZooKeeper's.
    assert!(checked > 0xab, "{checked} digests checked");
}

#[test]
fn a_damaged_newest_snapshot_is_passed_over_for_an_older_one() {
    let dir = copy_without(|_| false);
    let v2 = dir.path().join("version-2");
    let newest = snapshots().last().unwrap().path.file_name().unwrap().to_owned();
    let path = v2.join(&newest);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let loaded = zkdata::load(&v2, &v2).unwrap();
    assert_eq!(loaded.skipped_snapshots.len(), 1);
    assert!(loaded.skipped_snapshots[0].1.contains("at byte"), "{}", loaded.skipped_snapshots[0].1);
    let whole = zkdata::load(&fixture(), &fixture()).unwrap();
    assert_eq!(loaded.tree.digest(), whole.tree.digest());
}

#[test]
fn a_flipped_bit_in_a_log_record_names_the_file_and_byte() {
    let dir = copy_without(|_| false);
    let v2 = dir.path().join("version-2");
    // The log the newest snapshot replays from: its first record starts after the 16-byte header.
    let log = files::list(&v2, "log").unwrap().pop().unwrap();
    let mut bytes = std::fs::read(&log.path).unwrap();
    bytes[16 + 8 + 4 + 10] ^= 1;
    std::fs::write(&log.path, bytes).unwrap();
    match zkdata::load(&v2, &v2) {
        Err(ZkDataError::Damaged { path, offset, what }) => {
            assert_eq!(path, log.path);
            assert_eq!(offset, 16);
            assert!(what.contains("checksum"), "{what}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_torn_last_record_is_cut_as_zookeeper_cuts_it() {
    let dir = copy_without(|_| false);
    let v2 = dir.path().join("version-2");
    let log = files::list(&v2, "log").unwrap().pop().unwrap();
    let bytes = std::fs::read(&log.path).unwrap();
    // Find where the last complete record ends (the preallocated zeros begin after it).
    let mut records = Vec::new();
    files::read_log(&log, |entry, offset| {
        records.push((entry.header.zxid, offset));
        Ok(())
    })
    .unwrap();
    let (last_zxid, last_offset) = *records.last().unwrap();
    std::fs::write(&log.path, &bytes[..last_offset as usize + 20]).unwrap();
    let loaded = zkdata::load(&v2, &v2).unwrap();
    assert_eq!(loaded.torn, vec![(log.path.clone(), last_offset)]);
    assert_eq!(
        loaded.tree.last_zxid,
        if records.len() > 1 { records[records.len() - 2].0 } else { loaded.snapshot.unwrap().zxid }
    );
    assert!(loaded.tree.last_zxid < last_zxid);
}

#[test]
fn logs_without_any_snapshot_are_refused_as_zookeeper_refuses_them() {
    let dir = copy_without(|name| name.starts_with("snapshot."));
    let v2 = dir.path().join("version-2");
    assert!(matches!(zkdata::load(&v2, &v2), Err(ZkDataError::Refused(why)) if why.contains("no snapshot")));
    let empty = tempfile::tempdir().unwrap();
    let loaded = zkdata::load(empty.path(), empty.path()).unwrap();
    assert_eq!((loaded.tree.last_zxid, loaded.tree.node_count()), (0, 3), "an empty database");
}

#[test]
fn import_writes_a_data_dir_the_server_recovers_and_export_writes_it_back() {
    let zk = copy_without(|_| false);
    std::fs::write(zk.path().join("myid"), "3\n").unwrap();
    let ours = tempfile::tempdir().unwrap();
    let args = ImportArgs {
        from: zk.path().to_path_buf(),
        log_dir: None,
        to: ours.path().to_path_buf(),
        accept_digest_mismatch: false,
    };
    let summary = migrate::import(&args).unwrap();
    assert_eq!(summary.zxid.as_u64(), 0xab);
    assert_eq!(std::fs::read_to_string(ours.path().join("myid")).unwrap(), "3\n", "myid comes along");
    let again = migrate::import(&args).unwrap_err();
    assert!(again.contains("already holds zabkeeper data"), "{again}");

    // What the server finds at start: the epochs and one checkpoint at ZooKeeper's zxid.
    let (storage, image) = Storage::open(ours.path(), StorageOptions::default()).unwrap();
    drop(storage);
    let (zxid, bytes) = image.snapshot.clone().unwrap();
    assert_eq!(zxid.as_u64(), 0xab);
    assert!(image.log.is_empty());
    let mut db = Database::default();
    db.restore(&bytes).unwrap();
    assert_eq!(db.tree.node_count(), summary.znodes);
    db.tree.check_invariants().unwrap();
    let zk_tree = zkdata::load(&fixture(), &fixture()).unwrap().tree;
    for session in zk_tree.sessions.keys() {
        let kept = db.sessions[&zabkeeper_core::SessionId(*session)];
        assert_eq!(kept.password, zkdata::zookeeper_password(*session), "ZooKeeper's password, so the client resumes");
    }
    zk_tree.walk(|path, node| {
        let ours = db.tree.get(path).unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(ours.data(), node.data.as_deref(), "{path}");
        assert_eq!(*ours.persisted(), node.stat, "{path}");
        assert_eq!(&ours.acl()[..], &node.acl[..], "{path}");
        assert_eq!(ours.num_children(), node.children.len(), "{path}");
    });

    // And back: a ZooKeeper snapshot whose digest section matches its nodes.
    let back = tempfile::tempdir().unwrap();
    let exported =
        migrate::export(&ExportArgs { from: ours.path().to_path_buf(), to: back.path().to_path_buf() }).unwrap();
    assert_eq!(exported.zxid.as_u64(), 0xab);
    let v2 = back.path().join("version-2");
    let snap = files::list(&v2, "snapshot").unwrap();
    assert_eq!(snap.len(), 1);
    let read = files::read_snapshot(&snap[0]).unwrap();
    let digest = read.digest.unwrap();
    assert_eq!((digest.zxid, digest.version), (0xab, 2));
    assert_eq!(digest.digest, read.tree.digest(), "the digest ZooKeeper will check on load");
    assert_eq!(read.tree.digest(), zk_tree.digest(), "the very tree ZooKeeper had");
    assert_eq!(read.tree.sessions, zk_tree.sessions);
    assert!(
        migrate::export(&ExportArgs { from: ours.path().to_path_buf(), to: back.path().to_path_buf() }).is_err(),
        "never over ZooKeeper files"
    );
}

#[test]
fn gzip_and_snappy_snapshots_load_as_zookeeper_wrote_them() {
    for method in ["gz", "snappy"] {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/zkdata/zookeeper-3.8-{method}/version-2"));
        let loaded = zkdata::load(&dir, &dir).unwrap_or_else(|e| panic!("{method}: {e}"));
        let snapshot = loaded.snapshot.as_ref().unwrap();
        assert!(
            snapshot.path.to_string_lossy().ends_with(method),
            "{method}: started from {}",
            snapshot.path.display()
        );
        assert_eq!(loaded.first_mismatch, None, "{method}");
        assert!(loaded.digests_checked >= 1, "{method}");
        let top = loaded.tree.get(&format!("/{method}")).unwrap();
        assert_eq!(top.data.as_deref(), Some(&b"compressed snapshots"[..]), "{method}");
        assert_eq!(top.children.len(), 40, "{method}");
        // Every snapshot of the directory replays to the same end.
        for named in files::list(&dir, "snapshot").unwrap() {
            let only = files::read_snapshot(&named).unwrap_or_else(|e| panic!("{}: {e}", named.path.display()));
            assert_eq!(only.zxid, named.zxid);
        }
    }
    // A damaged snappy stream names its byte.
    let copy = tempfile::tempdir().unwrap();
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/zkdata/zookeeper-3.8-snappy/version-2/snapshot.26.snappy");
    let bytes = std::fs::read(&src).unwrap();
    let cut = copy.path().join("snapshot.26.snappy");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let named = files::Named { path: cut, zxid: 0x26 };
    assert!(matches!(files::read_snapshot(&named), Err(ZkDataError::Damaged { offset: 16, .. })));
}
