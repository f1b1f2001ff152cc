//! A disk that fails under a running server (real processes): a failed fdatasync (EIO) or a
//! full disk (ENOSPC) is never followed by an acknowledgement; the server says why in its
//! log and exits, a leader thereby stepping down; the others go on, and the server recovers
//! what was durable once its disk works again.
//!
//! The disk fails through the test-only fault hook of debug builds (`storage::Faults`): each
//! member is started with `ZABKEEPER_TEST_DISK_FAULTS` naming a trigger file, and the test
//! writes `fdatasync EIO` or `write ENOSPC` into the file of the member it breaks. Release
//! builds have no such hook, so the test exists only in debug builds.
#![cfg(debug_assertions)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use common::{
    Client, Member, create, ensemble, exists_after_sync, mode, modes, wait_for, wait_for_leader_and_followers,
};
use zabkeeper::storage::TRIGGER_ENV;

/// Where a member's trigger file and log go: next to its zoo.cfg.
fn trigger(member: &Member) -> PathBuf {
    member.config.with_file_name("disk-fault")
}

fn log(member: &Member) -> PathBuf {
    member.config.with_file_name("server.log")
}

fn spawn_breakable(member: &mut Member) {
    let (trigger, log) = (trigger(member), log(member));
    let _ = std::fs::remove_file(&trigger);
    member.spawn_with(|command| {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        command.env(TRIGGER_ENV, trigger).stderr(Stdio::from(log));
    });
}

/// Waits for the member to exit on its own after its disk broke; checks it failed, and said
/// why in its log.
fn assert_stopped_on_disk_failure(member: &mut Member, expected_error: &str) -> ExitStatus {
    let status = member.wait_exit(Duration::from_secs(20)).expect("the member exits when its disk fails");
    assert!(!status.success(), "a failed disk is a failed exit: {status}");
    let text = std::fs::read_to_string(log(member)).unwrap();
    let line = text.lines().find(|l| l.contains("the transaction log failed")).unwrap_or_else(|| {
        panic!("the log says why:\n{text}");
    });
    assert!(line.contains("ERROR") && line.contains(expected_error), "{line}");
    eprintln!("{status}; its log: {line}");
    status
}

fn break_disk(member: &Member, how: &str) {
    std::fs::write(trigger(member), how).unwrap();
}

fn repair_disk(member: &Member) {
    std::fs::remove_file(trigger(member)).unwrap();
}

/// A standalone server is its own quorum: with its disk full, a write must get no reply at
/// all (the connection closes), and the server exits.
#[test]
fn a_standalone_server_with_a_full_disk_acknowledges_nothing_and_exits() {
    let dir = common::scratch("disk-full");
    let mut member = breakable_standalone(&dir);
    let mut client = Client::open(member.client).expect("connect");
    assert_eq!(client.must(create("/before", b"v", 0)).0.err, 0);

    break_disk(&member, "write ENOSPC");
    assert!(client.call(create("/during", b"v", 0)).is_none(), "a write on a full disk was acknowledged");
    assert_stopped_on_disk_failure(&mut member, "No space left on device");

    // Once there is space again, what was acknowledged is there.
    repair_disk(&member);
    spawn_breakable(&mut member);
    member.wait_for_mode(&["standalone"]);
    assert!(exists_after_sync(member.client, "/before"));
    drop(member);
    let _ = std::fs::remove_dir_all(&dir);
}

fn breakable_standalone(dir: &Path) -> Member {
    let port = common::free_ports(1)[0];
    let config = dir.join("zoo.cfg");
    let text = format!(
        "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n",
        dir.join("data").display()
    );
    std::fs::write(&config, text).unwrap();
    let mut member = Member { child: None, config, client: ([127, 0, 0, 1], port).into(), admin: None };
    spawn_breakable(&mut member);
    member.wait_for_mode(&["standalone"]);
    member
}

/// The leader's fdatasync fails: it exits with the reason in its log, the two followers
/// elect a new leader and keep every acknowledged write, and the old leader, once its disk
/// works, comes back as a follower and catches up.
#[test]
fn a_leader_whose_fsync_fails_steps_down_and_the_others_go_on() {
    let base = common::scratch("disk-eio");
    let mut members = ensemble(&base, 3);
    members.iter_mut().for_each(spawn_breakable);
    wait_for_leader_and_followers(&members);
    let leader = modes(&members).iter().position(|s| s == "leader").unwrap();
    let mut acknowledged = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let path = format!("/before{i}");
        assert_eq!(Client::open(m.client).expect("connect").must(create(&path, b"v", 0)).0.err, 0);
        acknowledged.push(path);
    }

    // A session on the leader, opened while its disk works; then the disk fails.
    let mut client = Client::open(members[leader].client).expect("connect");
    break_disk(&members[leader], "fdatasync EIO");
    // The followers' acks could in principle commit this write before the leader notices:
    // then the reply is a correct one (a quorum has it durable) and it must survive.
    let during = client.call(create("/during", b"v", 0));
    eprintln!(
        "the write sent as the leader's disk failed: {}",
        if during.is_some() { "acknowledged" } else { "no reply" }
    );
    if let Some((header, _)) = during {
        assert_eq!(header.err, 0);
        acknowledged.push("/during".into());
    }
    assert_stopped_on_disk_failure(&mut members[leader], "Input/output error");
    let text = std::fs::read_to_string(log(&members[leader])).unwrap();
    assert!(text.contains("mode=\"leader\"") || text.contains("mode=leader"), "it was leading:\n{text}");

    let survivor = (leader + 1) % 3;
    wait_for("a new leader among the two left", || modes(&members).iter().filter(|s| *s == "leader").count() == 1);
    wait_for("a write after the failover", || {
        Client::open(members[survivor].client)
            .and_then(|mut c| c.call(create("/after", b"v", 0)))
            .is_some_and(|(h, _)| h.err == 0 || h.err == -110)
    });
    acknowledged.push("/after".into());
    for m in members.iter().filter(|m| m.child.is_some()) {
        for path in &acknowledged {
            assert!(exists_after_sync(m.client, path), "{path} missing on {}", m.client);
        }
    }

    // The disk is replaced: the old leader recovers what it had durable and catches up.
    repair_disk(&members[leader]);
    spawn_breakable(&mut members[leader]);
    let back = members[leader].client;
    wait_for("the old leader to follow", || mode(back).as_deref() == Some("follower"));
    for path in &acknowledged {
        assert!(exists_after_sync(back, path), "{path} missing on the old leader");
    }
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}
