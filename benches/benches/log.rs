//! The transaction log on this machine's disk: appends per second and fdatasyncs per second
//! through the storage writer (group commit) for batches of 1, 16 and 256 records of 1 KiB,
//! next to the raw rate of the same disk (write 1 KiB + fdatasync, in a loop, on a file in the
//! same directory); and recovery of a checkpoint of a million znodes plus a log tail.
//!
//! Files go under `ZABKEEPER_BENCH_DIR`, or else the target directory's `tmp/`: put that on
//! the disk you want measured (a tmpfs measures nothing). In criterion's test mode
//! (`-- --test`) recovery runs on 20,000 znodes, so that it stays quick; otherwise on
//! `ZABKEEPER_BENCH_ZNODES` (default 1,000,000).

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use zabkeeper::storage::{Storage, StorageOptions, Writer};
use zabkeeper_benches::znode_count;
use zabkeeper_core::server::Database;
use zabkeeper_core::tree::Acl;
use zabkeeper_core::txn::{CreateTxn, Txn};
use zabkeeper_core::zab::{Entry, LogOp, StateMachine};
use zabkeeper_core::{SessionId, Zxid};

/// The encoded size of every benched log record.
const RECORD_BYTES: usize = 1024;
const BATCHES: [usize; 3] = [1, 16, 256];

/// A fresh directory for one bench, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let base = std::env::var_os("ZABKEEPER_BENCH_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from);
        let dir = base.join(format!("zabkeeper-bench-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("bench directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn in_test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

fn set_data(zxid: Zxid, path: &str, data: Vec<u8>) -> LogOp {
    let txn = Txn::SetData { path: path.into(), data: Some(data), version: zxid.counter() as i32 };
    LogOp::Append(Arc::new(Entry { zxid, time_ms: 1_700_000_000_000, session: SessionId(1), cxid: 1, txn }))
}

/// A setData of `path` at `zxid` whose record (postcard encoding) is `bytes` long, give or
/// take the few bytes the varints of other zxids take.
fn record(zxid: Zxid, path: &str, bytes: usize) -> LogOp {
    let mut data_len = bytes;
    loop {
        let op = set_data(zxid, path, vec![0xa5; data_len]);
        let len = postcard::to_allocvec(&op).expect("encodes").len();
        if len <= bytes {
            return set_data(zxid, path, vec![0xa5; data_len + bytes - len]);
        }
        data_len -= len - bytes;
    }
}

/// The raw disk: write 1 KiB at the end of a file preallocated the way the log's segments
/// are (`set_len`, so sparse), then fdatasync; one iteration each.
fn raw_fdatasync(c: &mut Criterion) {
    let scratch = Scratch::new("raw");
    let path = scratch.0.join("raw");
    let mut file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).unwrap();
    let size = 64u64 << 20;
    file.set_len(size).unwrap();
    let block = [0x5au8; RECORD_BYTES];
    let mut at = 0u64;
    let mut group = c.benchmark_group("log");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw write 1 KiB + fdatasync", |b| {
        b.iter(|| {
            if at + RECORD_BYTES as u64 > size {
                at = 0;
                file.seek(SeekFrom::Start(0)).unwrap();
            }
            file.write_all(&block).unwrap();
            file.sync_data().unwrap();
            at += RECORD_BYTES as u64;
        });
    });
    group.finish();
}

/// A writer on a fresh log, and the seqs it reports durable.
struct Log {
    writer: Writer,
    durable: mpsc::Receiver<u64>,
    seq: u64,
    /// Durable reports seen: one per fdatasync of a batch.
    syncs: u64,
    appends: u64,
}

impl Log {
    fn start(dir: &Path) -> Log {
        let (storage, _) = Storage::open(dir, StorageOptions::default()).expect("open");
        let (reports, durable) = mpsc::channel();
        let writer = storage.start(
            move |seq| {
                let _ = reports.send(seq);
            },
            |e| panic!("the log failed: {e}"),
        );
        writer.persist(1, LogOp::Epochs { accepted: 1, current: 1 });
        assert_eq!(durable.recv().unwrap(), 1);
        Log { writer, durable, seq: 1, syncs: 0, appends: 0 }
    }

    /// Queues `batch` records at once and waits until the last is durable.
    fn append_batch(&mut self, ops: &[LogOp]) {
        for op in ops {
            self.seq += 1;
            let LogOp::Append(entry) = op else { unreachable!("appends only") };
            let mut entry = Entry::clone(entry);
            entry.zxid = Zxid::new(1, self.seq as u32);
            self.writer.persist(self.seq, LogOp::Append(Arc::new(entry)));
        }
        self.appends += ops.len() as u64;
        loop {
            let seq = self.durable.recv().expect("the writer is running");
            self.syncs += 1;
            if seq == self.seq {
                return;
            }
        }
    }
}

/// Appends through the writer thread, `batch` queued at a time: each iteration is one batch
/// from the first persist to the durable report of its last record.
fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("log");
    for batch in BATCHES {
        let scratch = Scratch::new(&format!("append-{batch}"));
        let mut log = Log::start(&scratch.0);
        let ops: Vec<LogOp> = (0..batch).map(|_| record(Zxid::new(1, 100_000), "/bench", RECORD_BYTES)).collect();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("append 1 KiB records, batch", batch), &batch, |b, _| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    log.append_batch(&ops);
                }
                started.elapsed()
            });
        });
        println!(
            "log/append batch {batch}: {} appends in {} fdatasyncs ({:.1} appends per fdatasync)",
            log.appends,
            log.syncs,
            log.appends as f64 / log.syncs.max(1) as f64
        );
        log.writer.close().expect("close");
    }
    group.finish();
}

/// A database of `count` znodes (1,000 parents under the root, 100-byte values), as a
/// snapshot at the zxid of its last create.
fn snapshot_of(count: usize) -> (Zxid, Vec<u8>) {
    let mut db = Database::default();
    let parents = count.div_ceil(1000).max(1);
    let mut zxid = Zxid::ZERO;
    for p in 0..parents {
        for c in 0..=count / parents {
            let (path, data) = if c == 0 { (format!("/p{p:04}"), Vec::new()) } else { (child(p, c - 1), vec![7; 100]) };
            zxid = zxid.next().expect("counter");
            let create =
                CreateTxn { path, data: Some(data), acl: Acl::open_unsafe(), ephemeral_owner: 0, parent_cversion: 1 };
            db.apply(&Entry { zxid, time_ms: 1, session: SessionId(1), cxid: 1, txn: Txn::Create(create) });
            db.take_applied();
        }
    }
    (zxid, db.snapshot())
}

fn child(parent: usize, c: usize) -> String {
    format!("/p{parent:04}/n{c:06}")
}

/// Recovery as a server starts: open the log (read and check the newest checkpoint, replay
/// the records after it), restore the database from the snapshot, apply the log tail.
fn recover(dir: &Path) -> usize {
    let (storage, image) = Storage::open(dir, StorageOptions::default()).expect("open");
    let mut db = Database::default();
    if let Some((_, bytes)) = &image.snapshot {
        db.restore(bytes).expect("restore");
    }
    for entry in &image.log {
        db.apply(entry);
    }
    db.take_applied();
    drop(storage);
    db.tree.node_count()
}

fn recovery(c: &mut Criterion) {
    let count = if in_test_mode() { 20_000 } else { znode_count() };
    let tail = 10_000u32;
    let scratch = Scratch::new("recovery");
    let started = Instant::now();
    let (zxid, snapshot) = snapshot_of(count);
    let snapshot_bytes = snapshot.len();
    let (storage, _) = Storage::open(&scratch.0, StorageOptions::default()).expect("open");
    let writer = storage.start(|_| {}, |e| panic!("the log failed: {e}"));
    writer.persist(1, LogOp::Epochs { accepted: 1, current: 1 });
    writer.checkpoint(zxid, snapshot);
    // The tail: 1 KiB setData records after the checkpoint, as if written while it was taken.
    for i in 1..=tail {
        let z = Zxid::new(1, zxid.counter() + i);
        writer.persist(1 + u64::from(i), record(z, &child(0, i as usize % 10), RECORD_BYTES));
    }
    writer.close().expect("close");
    println!(
        "recovery: {count} znodes in a {} MiB checkpoint plus {tail} log records of 1 KiB, built in {:.1} s",
        snapshot_bytes >> 20,
        started.elapsed().as_secs_f64()
    );
    assert!(recover(&scratch.0) > count);

    let mut group = c.benchmark_group("recovery");
    group.sample_size(10).measurement_time(Duration::from_secs(15)).throughput(Throughput::Elements(count as u64));
    group.bench_function(BenchmarkId::new("checkpoint + 10k log records, znodes", count), |b| {
        b.iter(|| recover(&scratch.0));
    });
    group.finish();
}

/// What a checkpoint costs the writes queued behind it: a checkpoint of 50 and 200 MB (1 MB
/// in test mode) is handed to the writer, then one append, timed until it is durable. (The
/// checkpoint thread writes the file; the append should not wait for it.)
fn checkpoint_then_append(c: &mut Criterion) {
    let sizes: &[usize] = if in_test_mode() { &[1] } else { &[50, 200] };
    let mut group = c.benchmark_group("checkpoint");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for &mb in sizes {
        let scratch = Scratch::new(&format!("checkpoint-{mb}"));
        let (storage, _) = Storage::open(&scratch.0, StorageOptions::default()).expect("open");
        let (reports, seen) = mpsc::channel();
        let writer = storage.start(
            move |seq| {
                let _ = reports.send(seq);
            },
            |e| panic!("storage failed: {e}"),
        );
        let mut seq = 0u64;
        group.bench_with_input(BenchmarkId::new("append durable after a checkpoint of MB", mb), &mb, |b, &mb| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    seq += 1;
                    let zxid = Zxid::new(1, seq as u32);
                    writer.persist(seq, record(zxid, "/checkpointed", RECORD_BYTES));
                    while seen.recv().expect("durable") < seq {}
                    writer.checkpoint(zxid, vec![0x5a; mb << 20]);
                    seq += 1;
                    let queued = Instant::now();
                    writer.persist(seq, record(Zxid::new(1, seq as u32), "/after", RECORD_BYTES));
                    while seen.recv().expect("durable") < seq {}
                    total += queued.elapsed();
                    // Let this checkpoint's file finish before the next one is queued.
                    while writer.checkpoint_busy() {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                total
            });
        });
        writer.close().expect("close");
    }
    group.finish();
}

/// What the node pays before the writer gets a checkpoint, if it built the snapshot's bytes
/// itself: `StateMachine::snapshot` of a database of `ZABKEEPER_BENCH_ZNODES` znodes (20,000
/// in test mode). (The node freezes the database instead, and the checkpoint thread builds
/// the bytes: this is that thread's work.)
fn snapshot(c: &mut Criterion) {
    let count = if in_test_mode() { 20_000 } else { znode_count() };
    let (_, bytes) = snapshot_of(count);
    let mut db = Database::default();
    db.restore(&bytes).expect("restore");
    drop(bytes);
    let mut group = c.benchmark_group("snapshot");
    group.sample_size(10).throughput(Throughput::Elements(count as u64));
    group.bench_function(BenchmarkId::new("snapshot of a database, znodes", count), |b| b.iter(|| db.snapshot()));
    group.finish();
}

criterion_group!(log, raw_fdatasync, appends, recovery, checkpoint_then_append, snapshot);
criterion_main!(log);
