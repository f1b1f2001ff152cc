//! A measurement: the longest wait a client's write sees while the server process takes a
//! checkpoint of a million znodes of 1 KiB (the server's task freezes the database, a cheap
//! copy-on-write clone; the checkpoint thread builds the snapshot's bytes and writes the
//! file). It builds a 1 GB tree and writes checkpoints of up to 1 GB, about a minute in a
//! release build: `cargo bench -p zabkeeper --bench snapshot_stall`. With `-- --test` it runs
//! on 20,000 znodes, to check that it still works.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Client, Member, create};
use zabkeeper_core::tree::Acl;
use zabkeeper_core::wire::records::{CreateRequest, SetDataRequest};
use zabkeeper_core::wire::{MultiOp, Request};

/// Znodes loaded (20,000 in test mode).
const ZNODES: usize = 1_000_000;
const PER_MULTI: usize = 500;
const VALUE_BYTES: usize = 1024;
/// Checkpoints come every 200 to 400 txns (snapCount 400): during the load every 100,000 to
/// 200,000 znodes, and at least once among the writes measured afterwards.
const SNAP_COUNT: usize = 400;
const MEASURED_WRITES: usize = 2 * SNAP_COUNT;

fn main() {
    let znodes = if std::env::args().any(|a| a == "--test") { 20_000 } else { ZNODES };
    let dir = common::scratch("snapshot-stall");
    let port = common::free_ports(1)[0];
    let config = dir.join("zoo.cfg");
    let text = format!(
        "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nsnapCount={SNAP_COUNT}\n\
         jute.maxbuffer=4194304\n4lw.commands.whitelist=*\n",
        dir.join("data").display()
    );
    std::fs::write(&config, text).unwrap();
    let log = dir.join("server.log");
    let mut member = Member { child: None, config, client: ([127, 0, 0, 1], port).into(), admin: None };
    member.spawn_with(|command| {
        command.stderr(std::fs::File::create(&log).unwrap());
    });
    member.wait_for_mode(&["standalone"]);

    let mut client = Client::open(member.client).expect("connect");
    client.stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let started = Instant::now();
    let value = vec![0x5a; VALUE_BYTES];
    for parent in 0..znodes / PER_MULTI {
        let mut ops = vec![MultiOp::Create(create_request(&format!("/p{parent:04}"), &[]))];
        for c in 0..PER_MULTI {
            ops.push(MultiOp::Create(create_request(&format!("/p{parent:04}/n{c:04}"), &value)));
        }
        let (header, _) = client.must(Request::Multi(ops));
        assert_eq!(header.err, 0, "multi {parent}");
    }
    eprintln!("loaded {znodes} znodes of {VALUE_BYTES} bytes in {:.1} s", started.elapsed().as_secs_f64());
    // Let the load's last checkpoint files finish, so the writes below share the disk only
    // with their own checkpoint.
    std::thread::sleep(Duration::from_secs(if znodes == ZNODES { 20 } else { 1 }));
    let checkpoints_before = checkpoint_lines(&log).len();

    // A new session: the loading one expired while it slept.
    let mut client = Client::open(member.client).expect("connect");
    client.stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(client.must(create("/measured", b"", 0)).0.err, 0);
    let mut waits = Vec::with_capacity(MEASURED_WRITES);
    for i in 0..MEASURED_WRITES {
        let request =
            Request::SetData(SetDataRequest { path: "/measured".into(), data: Some(value.clone()), version: -1 });
        let sent = Instant::now();
        assert_eq!(client.must(request).0.err, 0, "write {i}");
        waits.push(sent.elapsed());
    }
    let lines = checkpoint_lines(&log);
    let during = &lines[checkpoints_before..];
    for line in during {
        eprintln!("during the measured writes: {line}");
    }
    assert!(!during.is_empty(), "a checkpoint came during the measured writes");
    let mut sorted = waits.clone();
    sorted.sort();
    let longest = *sorted.last().unwrap();
    let at = waits.iter().position(|w| *w == longest).unwrap();
    eprintln!(
        "{MEASURED_WRITES} setData of 1 KiB, one at a time: p50 {:?}, p99 {:?}, longest {longest:?} (write {at}); \
         the 5 longest: {:?}",
        sorted[sorted.len() / 2],
        sorted[sorted.len() * 99 / 100],
        &sorted[sorted.len() - 5..]
    );
    drop(member);
    let _ = std::fs::remove_dir_all(&dir);
}

fn create_request(path: &str, data: &[u8]) -> CreateRequest {
    CreateRequest { path: path.into(), data: Some(data.to_vec()), acl: Acl::open_unsafe(), flags: 0 }
}

fn checkpoint_lines(log: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter(|l| l.contains("checkpoint: database frozen")).map(str::to_string).collect()
}
