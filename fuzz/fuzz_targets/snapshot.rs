//! Any bytes as a snapshot, and any snapshot with its checksum recomputed (so the structural
//! checks, not the hash, must refuse it): a tree or an error, never a panic; an accepted tree
//! passes its own invariant checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zabkeeper_core::tree::snapshot;
use xxhash_rust_check::reseal;

mod xxhash_rust_check {
    /// Recomputes the trailing checksum the way `snapshot::write` does.
    pub fn reseal(bytes: &mut Vec<u8>) {
        if bytes.len() < 8 {
            return;
        }
        let body = bytes.len() - 8;
        let sum = zabkeeper_core::tree::snapshot::checksum(&bytes[..body]);
        bytes[body..].copy_from_slice(&sum.to_le_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(snap) = snapshot::read(data) {
        snap.tree.check_invariants().expect("an accepted snapshot is consistent");
    }
    let mut sealed = data.to_vec();
    reseal(&mut sealed);
    if let Ok(snap) = snapshot::read(&sealed) {
        snap.tree.check_invariants().expect("an accepted snapshot is consistent");
    }
});
