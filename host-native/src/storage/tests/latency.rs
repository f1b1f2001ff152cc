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
    while staged.try_iter().all(|stage| stage != super::super::journal::Stage::Durable) {
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
/// database of 300,000 znodes of 1 KiB each, on the node's task.
#[test]
#[ignore = "a measurement: builds a 300 MB database"]
fn snapshot_of_300k_znodes_of_1_kib() {
    use zabkeeper_core::server::Database;
    use zabkeeper_core::tree::Acl;
    use zabkeeper_core::zab::StateMachine;

    let mut db = Database::default();
    let parent = |c: u32| format!("/d{}", c / 1000);
    for (counter, c) in (1..).zip(0..300_300u32) {
        let path = if c < 300 { format!("/d{c}") } else { format!("{}/n{c}", parent(c - 300)) };
        let data = Some(vec![(c % 251) as u8; if c < 300 { 0 } else { 1024 }]);
        let create = CreateTxn { path, data, acl: Acl::open_unsafe(), ephemeral_owner: 0, parent_cversion: 1 };
        let txn = Txn::Create(create);
        db.apply(&Entry { zxid: Zxid::new(1, counter), time_ms: 1, session: SessionId(1), cxid: 1, txn });
        db.take_applied();
    }
    for _ in 0..3 {
        let started = Instant::now();
        let bytes = db.snapshot();
        println!("snapshot of 300,000 znodes of 1 KiB: {} MB in {:?}", bytes.len() >> 20, started.elapsed());
    }
}
