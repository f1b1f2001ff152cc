//! Apache ZooKeeper's data directories, read for `zabkeeper import` and written for
//! `zabkeeper export`: the `version-2/` snapshots and transaction logs of ZooKeeper 3.4 to
//! 3.9 ([`files`]), replayed by ZooKeeper's own rules ([`model`]) and checked against the tree
//! digests ZooKeeper 3.6+ writes beside them; and a ZooKeeper 3.8 snapshot written back
//! ([`write`]).

pub mod files;
pub mod model;
pub mod write;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use files::{LogEnd, Named};
use model::{DIGEST_VERSION, ZkTree};

use crate::progress::Progress;

/// Why ZooKeeper's files could not be read or written.
#[derive(Debug)]
pub enum ZkDataError {
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// A file is not what ZooKeeper writes: the file and the byte where it goes wrong.
    Damaged {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    /// The files are sound but cannot be taken as they are; the message says what to do.
    Refused(String),
}

impl ZkDataError {
    pub fn io(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> ZkDataError + use<> {
        let path = path.to_path_buf();
        move |source| ZkDataError::Io { path, action, source }
    }
}

impl fmt::Display for ZkDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZkDataError::Io { path, action, source } => write!(f, "{action} {}: {source}", path.display()),
            ZkDataError::Damaged { path, offset, what } => write!(f, "{} at byte {offset}: {what}", path.display()),
            ZkDataError::Refused(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ZkDataError {}

/// ZooKeeper keeps its files in `<dataDir>/version-2`; either may be given.
pub fn version_dir(dir: &Path) -> PathBuf {
    if dir.file_name().is_some_and(|n| n == "version-2") { dir.to_path_buf() } else { dir.join("version-2") }
}

/// The password ZooKeeper hands a session (`ZooKeeperServer.generatePasswd`): 16 bytes of
/// `java.util.Random` seeded with the session id xor a constant. Imported sessions keep it,
/// so a client that was connected to ZooKeeper can resume its session here.
pub fn zookeeper_password(session: i64) -> [u8; 16] {
    const SUPER_SECRET: i64 = 0xB341_5C00;
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;
    let mut seed = ((session ^ SUPER_SECRET) as u64 ^ MULTIPLIER) & MASK;
    let mut next_int = || {
        seed = (seed.wrapping_mul(MULTIPLIER).wrapping_add(0xB)) & MASK;
        (seed >> 16) as u32
    };
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(4) {
        let mut word = next_int();
        for byte in chunk {
            *byte = word as u8;
            word >>= 8;
        }
    }
    out
}

/// What loading a ZooKeeper data directory found.
#[derive(Debug)]
pub struct Loaded {
    pub tree: ZkTree,
    /// The snapshot it started from (`None`: an empty database).
    pub snapshot: Option<Named>,
    /// Newer snapshots passed over, each with why.
    pub skipped_snapshots: Vec<(PathBuf, String)>,
    pub logs_read: usize,
    pub txns_replayed: u64,
    /// Logs that ended in a record never completely written, and where.
    pub torn: Vec<(PathBuf, u64)>,
    /// ZooKeeper's digests compared with the replayed tree's, and the first that differed.
    pub digests_checked: u64,
    pub first_mismatch: Option<i64>,
    pub accepted_epoch: Option<u32>,
    pub current_epoch: Option<u32>,
    /// Sessions whose ephemerals went at load because the session table lacks them.
    pub dead_sessions: usize,
}

/// How many snapshots ZooKeeper tries before it gives up (`FileSnap.deserialize`).
const SNAPSHOTS_TRIED: usize = 100;

/// Loads ZooKeeper's database as its server would on start: the newest valid snapshot of
/// `snap_dir`, then every later txn of the logs in `log_dir` (both `version-2` dirs).
pub fn load(snap_dir: &Path, log_dir: &Path) -> Result<Loaded, ZkDataError> {
    let snapshots = files::list(snap_dir, "snapshot")?;
    let logs = files::list(log_dir, "log")?;
    let mut skipped_snapshots = Vec::new();
    let mut start = None;
    for named in snapshots.iter().rev().take(SNAPSHOTS_TRIED) {
        match files::read_snapshot(named) {
            Ok(loaded) => {
                start = Some((named.clone(), loaded));
                break;
            }
            Err(e @ ZkDataError::Damaged { .. }) => {
                tracing::warn!(snapshot = %named.path.display(), error = %e, "passing over a damaged snapshot");
                skipped_snapshots.push((named.path.clone(), e.to_string()));
            }
            Err(e) => return Err(e),
        }
    }
    let (snapshot, mut tree, snapshot_digest) = match start {
        Some((named, loaded)) => (Some(named), loaded.tree, loaded.digest),
        None if !snapshots.is_empty() => {
            return Err(ZkDataError::Refused(format!(
                "none of the {} snapshots in {} is valid: {}",
                snapshots.len(),
                snap_dir.display(),
                skipped_snapshots.first().map(|(_, why)| why.as_str()).unwrap_or_default()
            )));
        }
        None if !logs.is_empty() => {
            return Err(ZkDataError::Refused(format!(
                "{} holds transaction logs but no snapshot (ZooKeeper refuses to start from that too): \
                 copy the snapshot files into it",
                log_dir.display()
            )));
        }
        None => (None, ZkTree::initial(), None),
    };
    let snap_zxid = tree.last_zxid;

    // The digest of a fuzzy snapshot holds only once the replay reaches its zxid.
    let mut checks = DigestChecks::default();
    let mut pending = snapshot_digest.filter(|d| d.zxid > 0 && d.zxid >= snap_zxid);
    if let Some(d) = pending.filter(|d| d.zxid == snap_zxid) {
        checks.compare(d.version, d.digest, &tree, snap_zxid);
        pending = None;
    }

    // The newest log that starts at or before the snapshot, and every later one
    // (`FileTxnLog.getLogFiles`).
    let first = logs.iter().rposition(|l| l.zxid <= snap_zxid).unwrap_or(0);
    let logs = &logs[first.min(logs.len())..];
    let total_bytes = logs.iter().map(|l| std::fs::metadata(&l.path).map_or(0, |m| m.len())).sum();
    let mut progress = Progress::new("replaying ZooKeeper's logs", "bytes", total_bytes);
    let mut txns_replayed = 0u64;
    let mut torn = Vec::new();
    let mut highest = snap_zxid;
    for log in logs {
        let size = std::fs::metadata(&log.path).map_or(0, |m| m.len());
        let mut last_offset = 0;
        let end = files::read_log(log, |entry, offset| {
            progress.advance(offset - last_offset);
            last_offset = offset;
            let zxid = entry.header.zxid;
            if zxid <= snap_zxid {
                return Ok(());
            }
            if zxid <= highest {
                return Err(ZkDataError::Damaged {
                    path: log.path.clone(),
                    offset,
                    what: format!("txn {zxid:#x} does not follow txn {highest:#x}"),
                });
            }
            highest = zxid;
            tree.apply(&entry.header, &entry.txn);
            txns_replayed += 1;
            if let Some(d) = pending {
                if zxid == d.zxid {
                    checks.compare(d.version, d.digest, &tree, zxid);
                    pending = None;
                }
            } else if let Some((version, digest)) = entry.digest {
                checks.compare(version, digest, &tree, zxid);
            }
            Ok(())
        })?;
        progress.advance(size.saturating_sub(last_offset));
        if let LogEnd::Torn { offset } = end {
            tracing::warn!(log = %log.path.display(), offset, "the log ends in a record never completely written; it is cut there, as ZooKeeper does");
            torn.push((log.path.clone(), offset));
        }
    }
    progress.finish();
    let dead_sessions = tree.drop_dead_sessions();
    Ok(Loaded {
        tree,
        snapshot,
        skipped_snapshots,
        logs_read: logs.len(),
        txns_replayed,
        torn,
        digests_checked: checks.checked,
        first_mismatch: checks.first_mismatch,
        accepted_epoch: files::read_epoch(snap_dir, "acceptedEpoch")?,
        current_epoch: files::read_epoch(snap_dir, "currentEpoch")?,
        dead_sessions,
    })
}

#[derive(Default)]
struct DigestChecks {
    checked: u64,
    first_mismatch: Option<i64>,
}

impl DigestChecks {
    fn compare(&mut self, version: i32, digest: u64, tree: &ZkTree, zxid: i64) {
        if version != DIGEST_VERSION {
            return;
        }
        self.checked += 1;
        if digest != tree.digest() && self.first_mismatch.is_none() {
            tracing::error!(
                zxid = format!("{zxid:#x}"),
                zookeeper = digest,
                replayed = tree.digest(),
                "digest mismatch"
            );
            self.first_mismatch = Some(zxid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_passwords_are_java_randoms_seeded_as_zookeeper_seeds_them() {
        // `new java.util.Random(id ^ 0xB3415C00L).nextBytes(new byte[16])`, printed by a JVM.
        let cases: [(i64, [u8; 16]); 3] = [
            (
                0x1_0000_0001,
                [0x05, 0x4c, 0x5a, 0x64, 0x37, 0x32, 0x14, 0xa8, 0x15, 0xe7, 0x4d, 0x1d, 0x0c, 0x73, 0xdf, 0xa6],
            ),
            (
                0x7_2a8c_6d9e_0000,
                [0x00, 0xf2, 0xfe, 0xe1, 0x8d, 0x3b, 0x8e, 0x2b, 0xde, 0xd4, 0x0c, 0x29, 0x1e, 0x5f, 0x00, 0x58],
            ),
            (-5, [0xd4, 0x71, 0x44, 0xb5, 0xe4, 0x5e, 0x45, 0xc4, 0x9c, 0x3b, 0x7f, 0xdc, 0xd6, 0x62, 0x57, 0xba]),
        ];
        for (session, expected) in cases {
            assert_eq!(zookeeper_password(session), expected, "{session:#x}");
        }
    }

    #[test]
    fn either_the_data_dir_or_its_version_dir_may_be_named() {
        assert_eq!(version_dir(Path::new("/d")), Path::new("/d/version-2"));
        assert_eq!(version_dir(Path::new("/d/version-2")), Path::new("/d/version-2"));
    }
}
