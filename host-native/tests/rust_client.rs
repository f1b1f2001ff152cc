//! A real, unmodified Rust client (the `zookeeper-client` crate) against three server
//! processes on loopback, one session on each member, running two recipes from the ZooKeeper
//! documentation ("ZooKeeper Recipes and Solutions"): the lock (ephemeral sequential nodes,
//! each contender watching its predecessor) guarding versioned read-modify-writes, and leader
//! election (the lowest ephemeral sequential node leads; when its session closes the next one
//! does).

mod common;

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use common::{ensemble, mode, wait_for};
use zookeeper_client::{Acls, Client, CreateMode, EventType, LockOptions, LockPrefix};

/// Lock acquisitions per client.
const ROUNDS: usize = 5;

async fn within<T>(what: &str, timeout_s: u64, f: impl Future<Output = T>) -> T {
    let limit = Duration::from_secs(timeout_s);
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| panic!("timed out after {timeout_s} s: {what}"))
}

/// Takes the lock `ROUNDS` times; each time, while holding it, bumps `/counter` with a
/// versioned setData made through the lock (a multi that also checks the lock node).
async fn contend(client: &Client, held: &Mutex<bool>) {
    for _ in 0..ROUNDS {
        let prefix = LockPrefix::new_curator("/locks/l1", "lock-").unwrap();
        let options = LockOptions::new(Acls::anyone_all())
            .with_ancestor_options(CreateMode::Persistent.with_acls(Acls::anyone_all()))
            .unwrap();
        let lock = client.lock(prefix, b"", options).await.expect("lock");
        assert!(!std::mem::replace(&mut *held.lock().unwrap(), true), "two holders of the lock at once");
        let (data, stat) = client.get_data("/counter").await.expect("read the counter");
        let n: usize = String::from_utf8(data).unwrap().parse().unwrap();
        // Give the other contenders time to run while this one holds the lock.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let next = (n + 1).to_string();
        lock.set_data("/counter", next.as_bytes(), Some(stat.version)).await.expect("versioned set");
        *held.lock().unwrap() = false;
        drop(lock); // deletes the lock node, which wakes the successor
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_rust_client_runs_the_lock_and_election_recipes_across_the_ensemble() {
    let started = std::time::Instant::now();
    let base = common::scratch("rust-client");
    let mut members = ensemble(&base, 3);
    for m in &mut members {
        m.spawn();
    }
    // Blocking here is fine: nothing else runs on this runtime yet.
    wait_for("a leader and two followers", || {
        let modes: Vec<String> = members.iter().map(|m| mode(m.client).unwrap_or_default()).collect();
        modes.iter().filter(|s| *s == "leader").count() == 1 && modes.iter().filter(|s| *s == "follower").count() == 2
    });
    let mut clients = Vec::new();
    for m in &members {
        let address = format!("127.0.0.1:{}", m.client.port());
        clients.push(Some(within("connect", 10, Client::connect(&address)).await.expect("connect")));
    }
    let c = |i: usize| clients[i].as_ref().unwrap();
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());

    // 1. The lock: every acquisition's increment lands, none is lost to an overlap.
    within("create", 10, c(0).create("/counter", b"0", &persistent)).await.expect("create /counter");
    let held = Mutex::new(false);
    let all = async { tokio::join!(contend(c(0), &held), contend(c(1), &held), contend(c(2), &held)) };
    within("three contenders", 60, all).await;
    within("sync", 10, c(1).sync("/")).await.expect("sync");
    let (data, _) = within("read", 10, c(1).get_data("/counter")).await.expect("read the counter");
    assert_eq!(String::from_utf8(data).unwrap(), (3 * ROUNDS).to_string());

    // 2. Election: each session offers an ephemeral sequential candidate; the lowest leads.
    within("create", 10, c(0).create("/election", b"", &persistent)).await.expect("create /election");
    let candidate = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    let offers = async {
        tokio::join!(
            c(0).create("/election/n-", b"", &candidate),
            c(1).create("/election/n-", b"", &candidate),
            c(2).create("/election/n-", b"", &candidate)
        )
    };
    let (a, b, d) = within("three candidates", 10, offers).await;
    let names: Vec<String> = [a, b, d].into_iter().map(|r| format!("n-{}", r.expect("candidate").1)).collect();
    let mut order: Vec<usize> = (0..3).collect();
    order.sort_by(|&x, &y| names[x].cmp(&names[y]));
    let (leader, next, other) = (order[0], order[1], order[2]);
    let mut listed = within("list", 10, c(other).list_children("/election")).await.expect("list");
    listed.sort();
    assert_eq!(listed, [names[leader].as_str(), &names[next], &names[other]]);

    // The next in line watches its predecessor, as the recipe says.
    let predecessor = format!("/election/{}", names[leader]);
    let (_, _, watcher) =
        within("watch", 10, c(next).get_and_watch_data(&predecessor)).await.expect("watch the leader");
    clients[leader] = None; // dropping the last handle closes the session
    let c = |i: usize| clients[i].as_ref().unwrap();
    let event = within("the leader's node to go", 10, watcher.changed()).await;
    assert_eq!(event.event_type, EventType::NodeDeleted);

    // A fresh listing from the third member, after sync: the next one now leads.
    within("sync", 10, c(other).sync("/")).await.expect("sync");
    let mut listed = within("list", 10, c(other).list_children("/election")).await.expect("list");
    listed.sort();
    assert_eq!(listed, [names[next].as_str(), &names[other]]);
    eprintln!("rust client recipes: {} ms (ensemble start included)", started.elapsed().as_millis());

    drop(clients);
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

/// The Rust client keeps its session while each member in turn, the leader included, is
/// killed with -9 and restarted: its writes go on (through whichever member it reconnects
/// to), every acknowledged write is there, and its ephemeral survives.
#[tokio::test(flavor = "current_thread")]
async fn the_rust_client_keeps_its_session_while_each_member_is_killed_in_turn() {
    let base = common::scratch("rust-client-kills");
    let mut members = ensemble(&base, 3);
    for m in &mut members {
        m.spawn();
    }
    common::wait_for_leader_and_followers(&members);
    let hosts: Vec<String> = members.iter().map(|m| format!("127.0.0.1:{}", m.client.port())).collect();
    let client = within(
        "connect",
        10,
        Client::connector().with_session_timeout(Duration::from_secs(10)).connect(&hosts.join(",")),
    )
    .await
    .expect("connect");
    let session = client.session_id();
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    within("create", 10, client.create("/mine", b"", &ephemeral)).await.expect("ephemeral");
    let mut acknowledged = Vec::new();
    for round in 0..members.len() {
        let victim = if round == 0 { modes_leader(&members) } else { round };
        members[victim].kill();
        // Writes resume within a bound, whichever member the client ends up on.
        let path = format!("/after-kill-{round}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout(Duration::from_secs(5), client.create(&path, b"v", &persistent)).await {
                Ok(Ok(_)) | Ok(Err(zookeeper_client::Error::NodeExists)) => break,
                _ if std::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                other => panic!("no write after killing member {victim}: {other:?}"),
            }
        }
        acknowledged.push(path);
        members[victim].spawn();
        settle(&members).await;
    }
    assert_eq!(client.session_id(), session, "the same session throughout");
    within("sync", 10, client.sync("/")).await.expect("sync");
    within("read", 10, client.get_data("/mine")).await.expect("the ephemeral survived");
    for path in &acknowledged {
        within("read", 10, client.get_data(path)).await.expect("an acknowledged write");
    }
    drop(client);
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

/// Waits (bounded, without blocking the client's runtime) for a leader and two followers.
async fn settle(members: &[common::Member]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let m = common::modes(members);
        if m.iter().filter(|s| *s == "leader").count() == 1 && m.iter().filter(|s| *s == "follower").count() == 2 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no leader with two followers: {m:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn modes_leader(members: &[common::Member]) -> usize {
    common::modes(members).iter().position(|m| m == "leader").expect("a leader")
}
