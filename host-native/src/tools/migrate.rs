//! `zabkeeper import` and `zabkeeper export`: moving a database between Apache ZooKeeper's
//! data directory and ours, in both directions, offline (the servers stopped).
//!
//! Import loads ZooKeeper's files as its server would on start ([`zkdata::load`]: the newest
//! valid snapshot, the log after it, the digests checked), and writes our dataDir: the epochs
//! and one checkpoint holding the tree (every znode with its data, ACL and Stat) and the
//! session table at ZooKeeper's last zxid. Sessions keep ZooKeeper's passwords, so clients
//! resume them here; those that do not come back expire after their timeout, taking their
//! ephemerals, as they would have on ZooKeeper.
//!
//! Export replays our dataDir (its checkpoint and every logged write after it) and writes
//! `version-2/snapshot.<zxid>` with its digest, plus the epoch files, for ZooKeeper 3.8.

use std::path::{Path, PathBuf};
use std::time::Instant;

use zabkeeper_core::ids::{SessionId, Zxid};
use zabkeeper_core::server::Database;
use zabkeeper_core::session::SessionRecord;
use zabkeeper_core::tree::DataTree;
use zabkeeper_core::tree::snapshot::{self, TreeBuilder};
use zabkeeper_core::zab::{LogOp, StateMachine};

use super::zkdata::model::ZkTree;
use super::zkdata::{self, zookeeper_password};
use crate::progress::Progress;
use crate::storage::{Storage, StorageOptions};

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// ZooKeeper's dataDir (or its version-2 directory): snapshots and epoch files.
    #[arg(long)]
    pub from: PathBuf,
    /// ZooKeeper's dataLogDir, when its transaction logs are kept apart (default: --from).
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Our dataDir, which must hold no zabkeeper data yet. It may be ZooKeeper's own dataDir:
    /// our files go in its zabkeeper-v1/ subdirectory, so the same zoo.cfg serves.
    #[arg(long)]
    pub to: PathBuf,
    /// Import even when ZooKeeper's digests disagree with the replayed tree (they should
    /// not: a mismatch means ZooKeeper's own replicas had diverged, or a file was altered).
    #[arg(long)]
    pub accept_digest_mismatch: bool,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Our dataDir, of a stopped server.
    #[arg(long)]
    pub from: PathBuf,
    /// Where ZooKeeper's dataDir is to be: version-2/ is made in it (it must hold no
    /// snapshot or log yet).
    #[arg(long)]
    pub to: PathBuf,
}

/// What an import or export did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub zxid: Zxid,
    pub znodes: usize,
    pub sessions: usize,
    pub digests_checked: u64,
    /// The one line the command prints.
    pub report: String,
}

/// `zabkeeper import`.
pub fn import(args: &ImportArgs) -> Result<Summary, String> {
    let started = Instant::now();
    let snap_dir = zkdata::version_dir(&args.from);
    let log_dir = zkdata::version_dir(args.log_dir.as_deref().unwrap_or(&args.from));
    if !snap_dir.is_dir() {
        return Err(format!("{} is not a ZooKeeper data directory (no version-2/ in it)", args.from.display()));
    }
    // Refuse a non-empty target before the (possibly long) replay.
    check_blank(&args.to)?;
    let loaded = zkdata::load(&snap_dir, &log_dir).map_err(|e| e.to_string())?;
    if let Some(zxid) = loaded.first_mismatch
        && !args.accept_digest_mismatch
    {
        return Err(format!(
            "ZooKeeper's digest at zxid {zxid:#x} disagrees with the replayed tree; nothing was written \
             (--accept-digest-mismatch imports anyway)"
        ));
    }
    let zk = &loaded.tree;
    let last = Zxid::from_u64(zk.last_zxid as u64);
    let tree = our_tree(zk)?;
    let sessions: Vec<(SessionId, SessionRecord)> = zk
        .sessions
        .iter()
        .map(|(id, timeout)| {
            (SessionId(*id), SessionRecord { timeout_ms: *timeout, password: zookeeper_password(*id) })
        })
        .collect();
    let mut bytes = Vec::new();
    snapshot::write(&tree, &sessions, &mut bytes);
    // What the server will read back at start, checked now.
    snapshot::read(&bytes).map_err(|e| format!("the converted tree does not restore: {e}"))?;
    let epoch = last.epoch();
    let current = loaded.current_epoch.unwrap_or(epoch).max(epoch);
    let accepted = loaded.accepted_epoch.unwrap_or(current).max(current);
    write_data_dir(&args.to, accepted, current, last, bytes)?;
    copy_myid(&args.from, &args.to)?;
    let report = format!(
        "imported {} znodes and {} sessions at zxid {:#x} (epochs {accepted}/{current}) from {}{} and {} txns of {} logs; \
         {} ZooKeeper digests checked{}; {} dead sessions' ephemerals dropped; {:.1} s",
        tree.node_count(),
        sessions.len(),
        last.as_u64(),
        loaded.snapshot.as_ref().map_or("an empty database".to_owned(), |s| s.path.display().to_string()),
        if loaded.skipped_snapshots.is_empty() {
            String::new()
        } else {
            format!(" (passing over {} damaged newer snapshots)", loaded.skipped_snapshots.len())
        },
        loaded.txns_replayed,
        loaded.logs_read,
        loaded.digests_checked,
        if loaded.first_mismatch.is_some() { ", ONE OR MORE DIFFERED" } else { ", all equal" },
        loaded.dead_sessions,
        started.elapsed().as_secs_f64(),
    );
    Ok(Summary {
        zxid: last,
        znodes: tree.node_count(),
        sessions: sessions.len(),
        digests_checked: loaded.digests_checked,
        report,
    })
}

/// ZooKeeper's tree as ours, every znode checked as a snapshot's are.
pub fn our_tree(zk: &ZkTree) -> Result<DataTree, String> {
    let mut builder = TreeBuilder::new();
    let mut failure = None;
    let mut progress = Progress::new("converting znodes", "znodes", zk.node_count() as u64);
    zk.walk(|path, node| {
        progress.advance(1);
        if failure.is_none()
            && let Err(e) = builder.node(path, node.data.as_deref(), &node.acl, node.stat)
        {
            failure = Some(format!("znode {path:?}: {e}"));
        }
    });
    progress.finish();
    if let Some(why) = failure {
        return Err(why);
    }
    builder.finish(Zxid::from_u64(zk.last_zxid as u64)).map_err(|e| e.to_string())
}

fn check_blank(to: &Path) -> Result<(), String> {
    let ours = to.join(crate::storage::SUBDIR);
    if ours.exists() {
        return Err(format!(
            "{} already holds zabkeeper data; import only into a dataDir without it (move it away first)",
            ours.display()
        ));
    }
    Ok(())
}

/// Writes the epochs and the checkpoint into a new dataDir, durably.
fn write_data_dir(to: &Path, accepted: u32, current: u32, zxid: Zxid, snapshot: Vec<u8>) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    let (storage, image) = Storage::open(to, StorageOptions::default()).map_err(|e| e.to_string())?;
    if !image.is_blank() {
        return Err(format!("{} already holds zabkeeper data", to.display()));
    }
    let writer = storage.start(|_| {}, |_| {});
    writer.persist(1, LogOp::Epochs { accepted, current });
    writer.persist(2, LogOp::InstallSnapshot { zxid, snapshot });
    writer.close().map_err(|e| e.to_string())
}

/// ZooKeeper's `myid` sits in its dataDir, as ours does: carried over when the target has none.
fn copy_myid(from: &Path, to: &Path) -> Result<(), String> {
    let data_dir =
        if from.file_name().is_some_and(|n| n == "version-2") { from.parent().unwrap_or(from) } else { from };
    let (src, dst) = (data_dir.join("myid"), to.join("myid"));
    if src.is_file() && !dst.exists() {
        std::fs::copy(&src, &dst).map_err(|e| format!("copying {} to {}: {e}", src.display(), dst.display()))?;
    }
    Ok(())
}

/// `zabkeeper export`.
pub fn export(args: &ExportArgs) -> Result<Summary, String> {
    if !args.from.join(crate::storage::SUBDIR).is_dir() {
        return Err(format!("{} holds no zabkeeper data (no {}/ in it)", args.from.display(), crate::storage::SUBDIR));
    }
    let version_dir = zkdata::version_dir(&args.to);
    if version_dir.is_dir() {
        let taken = [zkdata::files::list(&version_dir, "snapshot"), zkdata::files::list(&version_dir, "log")]
            .into_iter()
            .try_fold(0, |n, files| files.map(|f| n + f.len()))
            .map_err(|e| e.to_string())?;
        if taken > 0 {
            return Err(format!("{} already holds ZooKeeper snapshots or logs", version_dir.display()));
        }
    }
    let (storage, image) = Storage::open(&args.from, StorageOptions::default()).map_err(|e| e.to_string())?;
    drop(storage);
    let mut db = Database::default();
    if let Some((_, bytes)) = &image.snapshot {
        db.restore(bytes).map_err(|e| format!("the checkpoint does not restore: {e}"))?;
    }
    for entry in &image.log {
        db.apply(entry);
    }
    let zxid = db.tree.last_zxid();
    let sessions: Vec<(i64, i32)> = db.sessions.iter().map(|(id, s)| (id.0, s.timeout_ms)).collect();
    let bytes = zkdata::write::snapshot(&db.tree, &sessions, zxid.as_i64());
    std::fs::create_dir_all(&version_dir).map_err(|e| format!("creating {}: {e}", version_dir.display()))?;
    let name = version_dir.join(format!("snapshot.{:x}", zxid.as_u64()));
    write_durably(&name, &bytes)?;
    let epoch = zxid.epoch().max(image.current_epoch);
    write_durably(&version_dir.join("currentEpoch"), epoch.to_string().as_bytes())?;
    write_durably(&version_dir.join("acceptedEpoch"), image.accepted_epoch.max(epoch).to_string().as_bytes())?;
    copy_myid(&args.from, &args.to)?;
    let report = format!(
        "exported {} znodes and {} sessions at zxid {:#x} to {}",
        db.tree.node_count(),
        sessions.len(),
        zxid.as_u64(),
        name.display()
    );
    Ok(Summary { zxid, znodes: db.tree.node_count(), sessions: sessions.len(), digests_checked: 0, report })
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&tmp).map_err(fail)?;
        std::io::Write::write_all(&mut file, bytes).map_err(fail)?;
        file.sync_all().map_err(fail)?;
    }
    std::fs::rename(&tmp, path).map_err(fail)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(fail)?;
    }
    Ok(())
}
