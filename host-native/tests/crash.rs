//! kill -9 under load: a three-process ensemble takes a steady stream of writes from several
//! clients while members are killed (one, then the leader, then all three at once) and
//! restarted, cycle after cycle. At the end every acknowledged write is present on every
//! member, no write refused with an error is, nothing appears that no client asked for, and
//! the three replicas have the same digest at the same zxid.
//!
//! CI runs 6 cycles; `ZABKEEPER_CRASH_CYCLES=20 cargo test -p zabkeeper --test crash` runs
//! the long version.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Client, create, ensemble, exists_after_sync, mode, wait_for, word};
use zabkeeper_core::wire::records::PathWatch;
use zabkeeper_core::wire::{Request, Response};

fn one_leader(members: &[common::Member]) -> bool {
    members.iter().filter(|m| m.child.is_some() && mode(m.client).as_deref() == Some("leader")).count() == 1
}

#[test]
fn acknowledged_writes_survive_kill_9_of_any_member_and_of_all() {
    let cycles: usize = std::env::var("ZABKEEPER_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let base = common::scratch("crash");
    let mut members = ensemble(&base, 3);
    for m in &mut members {
        m.spawn();
    }
    wait_for("a leader", || one_leader(&members));
    let addrs: Vec<_> = members.iter().map(|m| m.client).collect();
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let attempted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let refused: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (acked, stop, addrs) = (acked.clone(), stop.clone(), addrs.clone());
            let (attempted, refused) = (attempted.clone(), refused.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut target = w;
                while !stop.load(Ordering::Relaxed) {
                    let Some(mut c) = Client::open(addrs[target % addrs.len()]) else {
                        target += 1;
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    while !stop.load(Ordering::Relaxed) {
                        let path = format!("/w{w}-{n}");
                        n += 1;
                        attempted.lock().unwrap().insert(path.clone());
                        match c.call(create(&path, b"x", 0)) {
                            Some((h, _)) if h.err == 0 => {
                                acked.lock().unwrap().insert(path);
                            }
                            // A definite error (not a lost connection): the write did not happen.
                            Some(_) => {
                                refused.lock().unwrap().insert(path);
                            }
                            None => break,
                        }
                    }
                    target += 1;
                }
            })
        })
        .collect();
    for cycle in 0..cycles {
        std::thread::sleep(Duration::from_millis(300));
        let victims: Vec<usize> = match cycle % 3 {
            0 => vec![cycle % 3 + cycle / 3 % 3],
            1 => members.iter().position(|m| mode(m.client).as_deref() == Some("leader")).into_iter().collect(),
            _ => vec![0, 1, 2],
        };
        for &v in &victims {
            members[v % 3].kill();
        }
        std::thread::sleep(Duration::from_millis(150));
        for &v in &victims {
            members[v % 3].spawn();
        }
        wait_for("a leader after the restart", || one_leader(&members));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 20, "the load made progress: {} acknowledged writes", acked.len());
    // Every member converges on the same state: same zxid, same digest.
    wait_for("equal digests", || {
        let hashes: Vec<Option<String>> = members.iter().map(|m| word(m.client, "hash")).collect();
        hashes.iter().all(|h| h.is_some()) && hashes.windows(2).all(|p| p[0] == p[1])
    });
    for m in &members {
        let mut c = Client::open(m.client).expect("connect");
        c.call(common::sync()).expect("sync");
        for path in &acked {
            let (h, _) = c.call(common::get(path)).expect("reply");
            assert_eq!(h.err, 0, "{path} was acknowledged but is missing on {}", m.client);
        }
        // What is there was asked for, and was not refused.
        let Some((h, Response::GetChildren(list))) =
            c.call(Request::GetChildren(PathWatch { path: "/".into(), watch: false }))
        else {
            panic!("no listing from {}", m.client)
        };
        assert_eq!(h.err, 0);
        let (attempted, refused) = (attempted.lock().unwrap(), refused.lock().unwrap());
        for child in list.children.iter().filter(|c| c.starts_with('w')) {
            let path = format!("/{child}");
            assert!(attempted.contains(&path), "{path} on {} was never written", m.client);
            assert!(!refused.contains(&path), "{path} was refused with an error but exists on {}", m.client);
        }
    }
    assert!(exists_after_sync(members[0].client, "/zookeeper"));
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}
