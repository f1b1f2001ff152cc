//! Apache ZooKeeper's files as `zabkeeper import` reads them: any bytes as a snapshot (its
//! Adler32 seals checked, and again with them ignored so that mutations reach the nodes and
//! the digest section), as a transaction log, and as one logged txn replayed onto a tree.
//! A tree or an error, never a panic; whatever loads converts to our tree or is refused, and
//! an accepted tree passes its own invariant checks.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zabkeeper::tools::migrate::our_tree;
use zabkeeper::tools::zkdata::files::{self, Seals};
use zabkeeper::tools::zkdata::model::ZkTree;

fn convert(tree: &ZkTree) {
    if let Ok(ours) = our_tree(tree) {
        ours.check_invariants().expect("an accepted tree is consistent");
    }
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz");
    for seals in [Seals::Check, Seals::Ignore] {
        if let Ok(loaded) = files::parse_snapshot_with(path, data, 7, seals) {
            convert(&loaded.tree);
        }
    }
    let mut tree = ZkTree::initial();
    let _ = files::parse_log(path, data, |entry, _| {
        tree.apply(&entry.header, &entry.txn);
        Ok(())
    });
    if let Ok(entry) = files::decode_txn(data) {
        tree.apply(&entry.header, &entry.txn);
    }
    convert(&tree);
});
