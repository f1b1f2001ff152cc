//! Measurements, not checks, so ignored by default: what a checkpoint costs the writes queued
//! behind it, and what taking the snapshot costs the node. `cargo test -p zabkeeper --release
//! --lib storage::tests::latency -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use super::*;

/// Queues 100 appends, a checkpoint of `snapshot_bytes`, then appends one at a time, each
/// after the last was reported durable, until the checkpoint file is durable. Returns how
/// long the first append after the checkpoint waited, the longest wait, and how many went.
fn delays_during_checkpoint(snapshot_bytes: usize) -> (Duration, Duration, u32) {
    let dir = tempdir();
    let (storage, _) = open(dir.path(), StorageOptions::default());
    let (reports, seen) = mpsc::channel();
    let (stages, staged) = mpsc::channel();
    let writer = storage.start_with_hook(
        move |seq| {
            let _ = reports.send(seq);
        },
        move |stage| {
            let _ = stages.send(stage);
        },
    );
    for c in 1..=100u32 {
        writer.persist(u64::from(c), append(1, c));
    }
    while seen.recv().unwrap() < 100 {}
    writer.checkpoint(Zxid::new(1, 100), vec![0x5a; snapshot_bytes]);
    let (mut first, mut longest, mut c) = (None, Duration::ZERO, 100u32);
    while staged.try_iter().all(|stage| stage != super::super::files::Stage::Durable) {
        c += 1;
        let queued = Instant::now();
        writer.persist(u64::from(c), append(1, c));
        while seen.recv().unwrap() < u64::from(c) {}
        let waited = queued.elapsed();
        first.get_or_insert(waited);
        longest = longest.max(waited);
    }
    writer.close().unwrap();
    (first.unwrap_or_default(), longest, c - 100)
}

#[test]
#[ignore = "a measurement: writes a few hundred MB"]
fn writes_during_a_large_checkpoint() {
    for mb in [50usize, 100, 200] {
        let (first, longest, writes) = delays_during_checkpoint(mb << 20);
        println!(
            "checkpoint of {mb} MB: the write queued right after it durable after {first:?}; {writes} writes while \
             its file was written, the slowest {longest:?}"
        );
    }
}

/// What the node pays before the writer gets a checkpoint: `StateMachine::snapshot` of a
/// database of 1,000,000 znodes of 1 KiB each (1,000 parents of 1,000), on the node's task.
/// The same stall seen by a client, with the file written meanwhile: tests/snapshot_stall.rs.
#[test]
#[ignore = "a measurement: builds a 1 GB database and 1 GB snapshots"]
fn snapshot_of_a_million_znodes_of_1_kib() {
    use zabkeeper_core::server::Database;
    use zabkeeper_core::tree::Acl;
    use zabkeeper_core::zab::StateMachine;

    const PARENTS: u32 = 1000;
    let mut db = Database::default();
    let parent = |c: u32| format!("/d{}", c / 1000);
    for (counter, c) in (1..).zip(0..PARENTS + 1_000_000) {
        let path = if c < PARENTS { format!("/d{c}") } else { format!("{}/n{c}", parent(c - PARENTS)) };
        let data = Some(vec![(c % 251) as u8; if c < PARENTS { 0 } else { 1024 }]);
        let create = CreateTxn { path, data, acl: Acl::open_unsafe(), ephemeral_owner: 0, parent_cversion: 1 };
        let txn = Txn::Create(create);
        db.apply(&Entry { zxid: Zxid::new(1, counter), time_ms: 1, session: SessionId(1), cxid: 1, txn });
        db.take_applied();
    }
    for _ in 0..3 {
        let started = Instant::now();
        let bytes = db.snapshot();
        let took = started.elapsed();
        let started = Instant::now();
        drop(bytes);
        println!("snapshot of 1,000,000 znodes of 1 KiB: {took:?} (freeing it: {:?})", started.elapsed());
    }
}
