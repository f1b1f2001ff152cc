//! Named scenarios that read like bug reports: one untimely crash, message or partition at a
//! protocol boundary, driven by hand on a fault-free simulated cluster and checked by the same
//! checker as the seed sweep. Plus the mutation tests: each deliberate bug must be caught by
//! the sweep within the CI budget, so the simulator cannot silently lose its teeth.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::*;
use crate::zab::StateMachine;

fn cluster(voters: usize, window: usize) -> Sim {
    let mut config = SimConfig::quiet(42, voters, 0);
    config.trace = true;
    config.log_window = window;
    config.calm_ms = 1_000_000;
    let mut sim = Sim::new(config);
    sim.stop_background_writes();
    sim.run_for(3_000);
    assert!(sim.leader().is_some(), "no leader after 3 s");
    sim
}

fn s(i: u64) -> ServerId {
    ServerId(i)
}

fn assert_clean(sim: &Sim) {
    let v = sim.violations();
    assert!(v.is_empty(), "violations: {v:?}\n{}", tail(sim));
}

fn tail(sim: &Sim) -> String {
    let lines: Vec<String> = sim.trace.iter().rev().take(60).map(|l| format!("{l}")).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

fn followers(leader: ServerId, voters: u64) -> Vec<ServerId> {
    (1..=voters).map(ServerId).filter(|id| *id != leader).collect()
}

fn has(sim: &Sim, path: &str, on: ServerId) -> bool {
    sim.peer(on).is_some_and(|p| p.machine().inner.tree.get(path).is_some())
}

fn sent(sim: &Sim, kind: &str) -> bool {
    sim.trace.iter().any(|l| matches!(&l.kind, TraceKind::Send { kind: k, .. } if *k == kind))
}

/// Every live server serves the same committed state.
fn assert_converged(sim: &Sim, voters: u64) {
    let leader = sim.leader().expect("a leader");
    let target = sim.peer(leader).expect("leader up").committed();
    for id in (1..=voters).map(ServerId) {
        if let Some(peer) = sim.peer(id) {
            assert_eq!(peer.committed(), target, "{id} lags\n{}", tail(sim));
            assert_eq!(peer.machine().digest(), sim.peer(leader).expect("leader").machine().digest());
        }
    }
}

#[test]
fn leader_crash_right_after_proposing() {
    let mut sim = cluster(3, 64);
    let old = sim.leader().unwrap();
    sim.write("/before").unwrap();
    sim.run_for(500);
    sim.write("/x").unwrap();
    sim.crash_server(old, false);
    sim.run_for(5_000);
    let new = sim.leader().expect("a new leader");
    assert_ne!(new, old);
    sim.write("/after").unwrap();
    sim.restart_server(old);
    sim.run_for(5_000);
    assert_clean(&sim);
    assert_converged(&sim, 3);
    assert!(has(&sim, "/before", old) && has(&sim, "/after", old));
}

#[test]
fn leader_crash_after_a_quorum_acked_but_before_any_commit_arrives() {
    let mut sim = cluster(3, 64);
    let old = sim.leader().unwrap();
    sim.rules.push(Rule { kind: "COMMIT", from: Some(old), to: None, delay_ms: None, remaining: 100 });
    sim.rules.push(Rule { kind: "PING", from: Some(old), to: None, delay_ms: None, remaining: 100 });
    sim.write("/acked").unwrap();
    sim.run_for(200);
    assert!(has(&sim, "/acked", old), "the leader committed it\n{}", tail(&sim));
    for f in followers(old, 3) {
        assert!(!has(&sim, "/acked", f), "no follower heard the commit");
    }
    sim.crash_server(old, false);
    sim.run_for(5_000);
    let new = sim.leader().expect("a new leader");
    assert!(has(&sim, "/acked", new), "a committed txn survives the leader\n{}", tail(&sim));
    assert_clean(&sim);
}

#[test]
fn a_follower_with_an_uncommitted_txn_of_an_old_epoch_is_truncated() {
    let mut sim = cluster(3, 64);
    let old = sim.leader().unwrap();
    sim.write("/committed").unwrap();
    sim.run_for(500);
    // The next proposal reaches nobody: it is on the old leader's disk only.
    sim.rules.push(Rule { kind: "PROPOSAL", from: Some(old), to: None, delay_ms: None, remaining: 2 });
    sim.write("/orphan").unwrap();
    sim.run_for(100);
    sim.crash_server(old, true);
    sim.run_for(5_000);
    let new = sim.leader().expect("a new leader");
    sim.write("/new-epoch").unwrap();
    sim.run_for(500);
    sim.restart_server(old);
    sim.run_for(5_000);
    assert!(sent(&sim, "NEWLEADER(TRUNC)"), "the old leader must be truncated\n{}", tail(&sim));
    assert!(!has(&sim, "/orphan", old) && !has(&sim, "/orphan", new));
    assert!(has(&sim, "/new-epoch", old) && has(&sim, "/committed", old));
    assert_clean(&sim);
    assert_converged(&sim, 3);
}

#[test]
fn a_stale_leader_in_a_minority_partition_steps_down_and_loses_nothing_committed() {
    let mut sim = cluster(5, 64);
    let old = sim.leader().unwrap();
    sim.write("/before").unwrap();
    sim.run_for(500);
    let others = followers(old, 5);
    let minority = [old, others[0]];
    let majority = [others[1], others[2], others[3]];
    sim.split(&minority, &majority);
    let stale = sim.write("/stale");
    assert!(stale.is_some(), "the old leader still takes writes at first");
    sim.run_for(3_000);
    assert!(!sim.peer(old).unwrap().is_established_leader(), "it stepped down\n{}", tail(&sim));
    let new = sim.leader().expect("the majority elected a leader");
    assert!(majority.contains(&new));
    sim.write("/majority").unwrap();
    sim.run_for(500);
    sim.heal();
    sim.run_for(5_000);
    assert_clean(&sim);
    assert_converged(&sim, 5);
    assert!(has(&sim, "/before", old) && has(&sim, "/majority", old) && !has(&sim, "/stale", old));
}

#[test]
fn a_lagging_follower_is_brought_back_with_a_snapshot() {
    let mut sim = cluster(3, 4);
    let leader = sim.leader().unwrap();
    let lagging = followers(leader, 3)[0];
    let rest: Vec<ServerId> = (1..=3).map(ServerId).filter(|id| *id != lagging).collect();
    sim.split(&[lagging], &rest);
    for i in 0..40 {
        sim.write(&format!("/n{i}")).unwrap();
        sim.run_for(20);
    }
    sim.run_for(2_000);
    sim.heal();
    sim.run_for(5_000);
    assert!(sent(&sim, "NEWLEADER(SNAP)"), "too far behind for a DIFF\n{}", tail(&sim));
    assert!(has(&sim, "/n39", lagging));
    assert_clean(&sim);
    assert_converged(&sim, 3);
}

/// s1 and s2 hold a committed txn that s3 never got; s2's disk is replaced and s1 is down.
/// Returns the run after s2 (blank) and s3 (stale) have had time to elect a leader.
fn replaced_disk(defence: bool) -> Sim {
    let mut config = SimConfig::quiet(7, 3, 0);
    config.trace = true;
    config.blank_defence = defence;
    config.calm_ms = 1_000_000;
    let mut sim = Sim::new(config);
    sim.stop_background_writes();
    sim.run_for(3_000);
    let leader = sim.leader().expect("leader");
    assert_eq!(leader, s(3), "seed 7 elects s3 (highest id) first");
    sim.write("/base").unwrap();
    sim.run_for(500);
    // Move leadership off s3 so it can be the stale one: crash it and let s1, s2 go on.
    sim.crash_server(s(3), false);
    sim.run_for(5_000);
    sim.write("/only-on-s1-and-s2").unwrap();
    sim.run_for(500);
    assert!(has(&sim, "/only-on-s1-and-s2", s(1)) && has(&sim, "/only-on-s1-and-s2", s(2)));
    sim.crash_server(s(1), false);
    sim.crash_server(s(2), false);
    sim.wipe_disk(s(2));
    sim.restart_server(s(2));
    sim.restart_server(s(3));
    sim.run_for(10_000);
    sim
}

#[test]
fn a_replaced_disk_does_not_vote_until_synced() {
    let mut sim = replaced_disk(true);
    assert_clean(&sim);
    assert_eq!(sim.leader(), None, "s3 alone has no quorum: the blank s2 must not vote for it\n{}", tail(&sim));
    sim.restart_server(s(1));
    sim.run_for(10_000);
    assert_clean(&sim);
    assert!(has(&sim, "/only-on-s1-and-s2", s(2)), "s2 synced from s1");
    assert_converged(&sim, 3);
}

#[test]
fn without_the_defence_a_replaced_disk_loses_a_committed_txn_and_the_checker_says_so() {
    let sim = replaced_disk(false);
    let v = sim.violations();
    assert!(
        v.iter().any(|v| v.invariant == "LeaderLogCompleteness"),
        "the checker must catch the lost txn: {v:?}\n{}",
        tail(&sim)
    );
}

/// ZK-2845: a server that logged txns it never applied must advertise them when it looks for
/// a leader, or a server with less wins and the logs diverge. Here the one follower that logged
/// the last proposals (never committed: the other follower is cut off and the leader dies
/// before the ACKs arrive) must win the next election and keep them.
#[test]
fn a_server_advertises_logged_but_unapplied_txns_when_it_looks_for_a_leader() {
    let mut sim = cluster(3, 64);
    let old = sim.leader().unwrap();
    let [a, b] = [followers(old, 3)[0], followers(old, 3)[1]];
    sim.write("/base").unwrap();
    sim.run_for(500);
    sim.rules.push(Rule { kind: "PROPOSAL", from: Some(old), to: Some(b), delay_ms: None, remaining: 10 });
    sim.rules.push(Rule { kind: "ACK", from: Some(a), to: Some(old), delay_ms: None, remaining: 10 });
    sim.write("/logged-1").unwrap();
    sim.write("/logged-2").unwrap();
    sim.run_for(100);
    let logged = sim.peer(a).unwrap().last_zxid();
    assert!(logged > sim.peer(a).unwrap().committed(), "a logged more than it applied");
    sim.crash_server(old, false);
    sim.run_for(5_000);
    assert_eq!(sim.leader(), Some(a), "the longest log wins\n{}", tail(&sim));
    assert!(has(&sim, "/logged-2", b), "and its history reaches the other follower");
    assert_clean(&sim);
}

/// ZK-4685: a proposal that reaches a follower before its ACK(NEWLEADER) is durable must not be
/// acknowledged first (the checker's AckConsistent). Slow disks make that window wide.
#[test]
fn no_proposal_is_acked_before_newleader_even_with_slow_disks() {
    let mut config = SimConfig::quiet(11, 3, 0);
    config.trace = true;
    config.faults.fsync_ms = (40, 120);
    config.write_every_ms = 5;
    config.calm_ms = 8_000;
    let report = Sim::new(config).run();
    assert!(report.violations.is_empty() && report.live, "{:?} {:?}", report.violations, report.liveness_problem);
    assert!(report.committed > 100);
}

/// How a follower is made to lag and then caught in the middle of its sync.
struct SyncCase {
    seed: u64,
    /// In-memory log window (`None`: the one the seed picks).
    window: Option<usize>,
    fsync_ms: u64,
    writes: usize,
    every_ms: u64,
    /// Wait for a sync of this mode (`None`: any).
    mode: Option<&'static str>,
    /// Bounce the leader halfway, so the sync also moves the follower to a later epoch.
    new_epoch: bool,
}

/// Cuts one follower off while the others commit `writes` txns, heals, and stops the run at
/// the moment that follower has applied its NEWLEADER (its writes still in flight).
fn caught_mid_sync(case: SyncCase) -> (Sim, ServerId) {
    let mut config = SimConfig::quiet(case.seed, 3, 0);
    config.trace = true;
    if let Some(window) = case.window {
        config.log_window = window;
    }
    config.faults.fsync_ms = (case.fsync_ms, case.fsync_ms);
    config.calm_ms = 1_000_000;
    let mut sim = Sim::new(config);
    sim.stop_background_writes();
    sim.run_for(5_000);
    let leader = sim.leader().unwrap_or_else(|| panic!("no leader\n{}", tail(&sim)));
    let lagging = followers(leader, 3)[0];
    let rest: Vec<ServerId> = (1..=3).map(ServerId).filter(|id| *id != lagging).collect();
    sim.split(&[lagging], &rest);
    for i in 0..case.writes {
        if case.new_epoch && i == case.writes / 2 {
            sim.crash_server(leader, false);
            sim.restart_server(leader);
            sim.run_for(3_000);
        }
        assert!(sim.write(&format!("/n{i}")).is_some(), "write {i}\n{}", tail(&sim));
        sim.run_for(case.every_ms);
    }
    // Let the lagging server look for a leader again, then heal.
    sim.run_for(3_000);
    sim.heal();
    let healed_at = sim.trace.len();
    let synced = |sim: &Sim| {
        sim.trace[healed_at..].iter().any(|l| {
            l.server == lagging
                && matches!(l.kind, TraceKind::Event(Event::Synced { mode, .. }) if case.mode.is_none_or(|m| m == mode))
        })
    };
    let mut waited = 0;
    while !synced(&sim) {
        sim.run_for(1);
        waited += 1;
        assert!(
            waited < 20_000,
            "the lagging server never synced ({:?})\n{}",
            case.mode,
            sim.trace[healed_at..]
                .iter()
                .filter(|l| matches!(l.kind, TraceKind::Event(_)))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        );
    }
    (sim, lagging)
}

/// ZK-4643: a follower that crashes while its sync is being written must never come back with
/// the new currentEpoch and a log shorter than what it was synced to (it could then win an
/// election and truncate others). Crash it at every point of its write stream.
#[test]
fn a_crash_during_sync_never_leaves_the_new_epoch_with_a_shorter_log() {
    // Slow fsyncs keep the sync's writes in flight when we look; it syncs with a DIFF.
    let setup = || {
        caught_mid_sync(SyncCase {
            seed: 5,
            window: None,
            fsync_ms: 200,
            writes: 20,
            every_ms: 300,
            mode: None,
            new_epoch: true,
        })
    };
    let (probe, lagging) = setup();
    let pending = probe.disk(lagging).unwrap().pending.len();
    assert!(pending >= 2, "the sync's writes are still in flight ({pending})");
    let target = probe.peer(lagging).unwrap().last_zxid();
    for kept in 0..=pending {
        let (mut sim, lagging) = setup();
        let epoch = match sim.peer(lagging).unwrap().status() {
            Status::Following { epoch, .. } => epoch,
            other => panic!("not following: {other:?}"),
        };
        sim.crash_server_keeping(lagging, kept);
        let image = &sim.disk(lagging).unwrap().durable;
        assert!(
            image.current_epoch != epoch || image.last_zxid() >= target,
            "kept {kept}: currentEpoch {epoch} durable with a log ending at {} < {target}",
            image.last_zxid()
        );
        sim.restart_server(lagging);
        sim.run_for(5_000);
        assert_clean(&sim);
        assert_converged(&sim, 3);
    }
}

/// When the zxid counter runs out the leader must give up its epoch; a new election starts a
/// new epoch and writes go on (ZooKeeper does the same at 0xffffffff; here the limit is 8).
#[test]
fn an_exhausted_zxid_counter_forces_a_new_epoch() {
    let mut config = SimConfig::quiet(3, 3, 0);
    config.trace = true;
    config.counter_limit = 8;
    config.write_every_ms = 20;
    config.calm_ms = 10_000;
    let report = Sim::new(config).run();
    assert!(report.violations.is_empty() && report.live, "{:?} {:?}", report.violations, report.liveness_problem);
    assert!(report.epochs >= 5, "each epoch holds at most 7 txns: {} epochs", report.epochs);
    assert!(report.committed >= 4 * 7, "writes went on across epochs: {}", report.committed);
}

/// ZK-3642: a SNAP sync interrupted before the snapshot is durable. The learner comes back with
/// what its disk really holds and must be synced again from there, not from the snapshot it
/// never kept.
#[test]
fn an_interrupted_snap_sync_is_redone_from_what_the_disk_holds() {
    let setup = || {
        caught_mid_sync(SyncCase {
            seed: 8,
            window: Some(4),
            fsync_ms: 300,
            writes: 30,
            every_ms: 400,
            mode: Some("SNAP"),
            new_epoch: true,
        })
    };
    let (probe, lagging) = setup();
    let pending = probe.disk(lagging).unwrap().pending.len();
    assert!(pending >= 1, "the snapshot is still being written");
    for kept in [0, pending] {
        let (mut sim, lagging) = setup();
        let before = sim.disk(lagging).unwrap().durable.last_zxid();
        sim.crash_server_keeping(lagging, kept);
        if kept == 0 {
            assert_eq!(sim.disk(lagging).unwrap().durable.last_zxid(), before, "nothing of the SNAP survived");
        }
        sim.restart_server(lagging);
        sim.run_for(8_000);
        assert_clean(&sim);
        assert_converged(&sim, 3);
        assert!(has(&sim, "/n29", lagging));
    }
}

/// ZK-4394 / ZK-4925: a learner synced with proposals the leader has not committed yet must
/// not apply them before the leader says so.
#[test]
fn synced_but_uncommitted_proposals_are_not_applied_early() {
    let mut sim = cluster(3, 64);
    let leader = sim.leader().unwrap();
    let [a, b] = [followers(leader, 3)[0], followers(leader, 3)[1]];
    // b is away; a's ACKs are lost: the next write stays uncommitted.
    sim.split(&[b], &[leader, a]);
    sim.rules.push(Rule { kind: "ACK", from: Some(a), to: Some(leader), delay_ms: None, remaining: 1_000 });
    sim.write("/pending").unwrap();
    sim.run_for(300);
    assert!(!has(&sim, "/pending", leader), "not committed without a quorum");
    // b comes back and is synced with the uncommitted proposal in its DIFF.
    sim.heal();
    sim.crash_server(b, false);
    sim.restart_server(b);
    let mut waited = 0;
    while sim.peer(b).is_some_and(|p| p.last_zxid() < sim.peer(leader).unwrap().last_zxid()) {
        sim.run_for(5);
        waited += 5;
        assert!(!has(&sim, "/pending", b) || has(&sim, "/pending", leader), "b applied an uncommitted txn");
        assert!(waited < 10_000, "b never synced\n{}", tail(&sim));
    }
    sim.run_for(2_000);
    assert_clean(&sim);
    assert!(has(&sim, "/pending", leader) && has(&sim, "/pending", b), "committed once b acked it");
}

/// ZK-2418: DIFF served at the edge of what the leader keeps can skip txns. Lag a follower by
/// every count of txns around the in-memory window (4), so its last zxid falls before, on and
/// after the leader's floor, and check that it always catches up whole, by DIFF or SNAP.
#[test]
fn a_follower_lagging_around_the_window_edge_catches_up_whole() {
    let mut modes = alloc::collections::BTreeSet::new();
    for lag in 0..12 {
        let mut sim = cluster(3, 4);
        let leader = sim.leader().unwrap();
        let lagging = followers(leader, 3)[0];
        for i in 0..6 {
            sim.write(&format!("/warm{i}")).unwrap();
            sim.run_for(50);
        }
        sim.run_for(500);
        let rest: Vec<ServerId> = (1..=3).map(ServerId).filter(|id| *id != lagging).collect();
        sim.split(&[lagging], &rest);
        for i in 0..lag {
            sim.write(&format!("/lag{i}")).unwrap();
            sim.run_for(50);
        }
        sim.run_for(2_000);
        let before = sim.trace.len();
        sim.heal();
        sim.run_for(6_000);
        assert_clean(&sim);
        assert_converged(&sim, 3);
        for line in &sim.trace[before..] {
            if let TraceKind::Event(Event::Synced { mode, .. }) = line.kind
                && line.server == lagging
            {
                modes.insert(mode);
            }
        }
    }
    assert!(modes.contains("DIFF") && modes.contains("SNAP"), "both sides of the edge: {modes:?}");
}

/// ZK-4785: a race inside the follower's DIFF sync let it acknowledge txns it had not yet
/// written, and they were lost. Here the follower's ACK(NEWLEADER) waits until every synced
/// entry is durable. Catch a lagging follower mid-DIFF with slow disks, crash it the moment its
/// ACK(NEWLEADER) leaves, losing every write not yet fsynced: its disk must still hold the
/// whole DIFF. Then the leader crashes too and the two survivors must keep every committed txn.
/// (With the ZK-4646 mistake switched on the checker stops such runs at the first early ACK:
/// see `mutation_ack_newleader_before_durable_is_caught`.)
#[test]
fn a_diff_is_acknowledged_only_once_all_of_it_is_durable() {
    let (mut sim, lagging) = caught_mid_sync(SyncCase {
        seed: 5,
        window: Some(64),
        fsync_ms: 200,
        writes: 20,
        every_ms: 300,
        mode: Some("DIFF"),
        new_epoch: false,
    });
    let target = sim.peer(lagging).unwrap().last_zxid();
    let from = sim.trace.len();
    let acked = |sim: &Sim| {
        sim.trace[from..]
            .iter()
            .any(|l| l.server == lagging && matches!(l.kind, TraceKind::Send { kind: "ACK(NEWLEADER)", .. }))
    };
    let mut waited = 0;
    while !acked(&sim) {
        sim.run_for(1);
        waited += 1;
        assert!(waited < 5_000, "no ACK(NEWLEADER)\n{}", tail(&sim));
    }
    sim.crash_server_keeping(lagging, 0);
    let kept = sim.disk(lagging).unwrap().durable.last_zxid();
    let leader = sim.leader().expect("the leader is still up");
    sim.restart_server(lagging);
    sim.crash_server(leader, false);
    sim.run_for(8_000);
    assert!(kept >= target, "the follower acked a DIFF to {target} holding only {kept}");
    let new = sim.leader().expect("the survivors elect a leader");
    assert!(has(&sim, "/n19", new), "the last committed write survives\n{}", tail(&sim));
    assert_clean(&sim);
}

/// ZK-962: leader and follower fell out of step while the follower was receiving a DIFF and
/// the leader went on proposing. Hold the lagging follower's NEWLEADER(DIFF) back while the
/// leader keeps writing, so that new PROPOSALs and COMMITs overtake the sync: the follower must
/// log and apply everything exactly once and in zxid order, and end equal to the leader.
#[test]
fn proposals_that_overtake_a_diff_are_applied_in_order() {
    let mut sim = cluster(3, 64);
    let leader = sim.leader().unwrap();
    let lagging = followers(leader, 3)[0];
    let rest: Vec<ServerId> = (1..=3).map(ServerId).filter(|id| *id != lagging).collect();
    sim.split(&[lagging], &rest);
    for i in 0..5 {
        sim.write(&format!("/lag{i}")).unwrap();
        sim.run_for(50);
    }
    sim.run_for(2_000);
    sim.rules.push(Rule {
        kind: "NEWLEADER(DIFF)",
        from: Some(leader),
        to: Some(lagging),
        delay_ms: Some(300),
        remaining: 1,
    });
    let healed_at = sim.trace.len();
    sim.heal();
    for i in 0..60 {
        assert!(sim.write(&format!("/during{i}")).is_some(), "write {i}\n{}", tail(&sim));
        sim.run_for(10);
    }
    sim.run_for(3_000);
    let delivered = |kind: &str| {
        sim.trace[healed_at..]
            .iter()
            .position(|l| l.server == lagging && matches!(l.kind, TraceKind::Deliver { kind: k, .. } if k == kind))
    };
    let sync = delivered("NEWLEADER(DIFF)").expect("synced by DIFF");
    let proposal = delivered("PROPOSAL").expect("proposals reached it");
    assert!(proposal < sync, "a proposal overtook the DIFF\n{}", tail(&sim));
    assert_clean(&sim);
    assert_converged(&sim, 3);
    assert!(has(&sim, "/lag4", lagging) && has(&sim, "/during59", lagging));
}

/// ZK-790: a leader set its last processed zxid to the new epoch before it had established
/// it, and then advertised a history it did not hold. Stall a new leader at each step of
/// establishing its epoch (no LEADERINFO reaches anyone, no ACKEPOCH reaches it, no
/// ACK(NEWLEADER) reaches it) until it gives up: the votes it then sends for itself must carry
/// the last zxid of its log, never a zxid of the epoch it did not establish, and after the
/// stall the cluster must settle with nothing committed lost.
#[test]
fn a_leader_that_fails_to_establish_its_epoch_advertises_only_its_log() {
    for stalled in ["LEADERINFO", "ACKEPOCH", "ACK(NEWLEADER)"] {
        let mut sim = cluster(3, 64);
        let old = sim.leader().unwrap();
        sim.write("/a").unwrap();
        let last = sim.write("/b").unwrap();
        sim.run_for(500);
        sim.rules.push(Rule { kind: stalled, from: None, to: None, delay_ms: None, remaining: 8 });
        let crashed_at = sim.trace.len();
        sim.crash_server(old, false);
        sim.run_for(10_000);
        let mut established = 0;
        let mut own_votes = 0;
        for line in &sim.trace[crashed_at..] {
            match &line.kind {
                TraceKind::Event(Event::Established { epoch }) => established = established.max(*epoch),
                TraceKind::VoteIn { from, vote, .. } if vote.leader == *from => {
                    own_votes += 1;
                    assert_eq!(vote.zxid, last, "{stalled}: {from} advertised a history it does not hold");
                }
                _ => {}
            }
        }
        assert!(own_votes > 0, "{stalled}: the survivors voted");
        assert!(established > last.epoch(), "{stalled}: no epoch was established after the stall\n{}", tail(&sim));
        let stepped_down = sim.trace[crashed_at..].iter().any(|l| {
            matches!(l.kind, TraceKind::Event(Event::LeaderStepDown { why: crate::zab::StepDown::InitLimit }))
        });
        assert!(stepped_down, "{stalled}: a leader gave up at initLimit");
        sim.restart_server(old);
        sim.run_for(5_000);
        assert_clean(&sim);
        assert_converged(&sim, 3);
        assert!(has(&sim, "/b", old));
    }
}

fn sweep_finds(bugs: Bugs, blank_defence: bool, budget: u64) -> Option<(u64, Violation)> {
    sweep_with_clients(bugs, blank_defence, 0, budget)
}

fn sweep_with_clients(bugs: Bugs, blank_defence: bool, clients: usize, budget: u64) -> Option<(u64, Violation)> {
    for seed in 0..budget {
        let mut config = SimConfig::from_seed(seed, 3, 0);
        config.bugs = bugs;
        config.blank_defence = blank_defence;
        config.clients = clients;
        let report = Sim::new(config).run();
        if let Some(v) = report.violations.into_iter().next() {
            return Some((seed, v));
        }
    }
    None
}

#[test]
fn mutation_commit_on_a_minority_is_caught() {
    let found = sweep_finds(Bugs { commit_without_quorum: true, ..Bugs::default() }, true, 200);
    assert!(found.is_some(), "the sweep missed a leader committing on its own ack");
}

#[test]
fn mutation_skipping_trunc_is_caught() {
    let found = sweep_finds(Bugs { skip_trunc: true, ..Bugs::default() }, true, 300);
    assert!(found.is_some(), "the sweep missed a leader that never truncates");
}

#[test]
fn mutation_ack_before_durable_is_caught() {
    let found = sweep_finds(Bugs { ack_before_durable: true, ..Bugs::default() }, true, 200);
    assert!(found.is_some(), "the sweep missed ACKs of writes not yet durable (ZK-3911)");
}

#[test]
fn mutation_ack_newleader_before_durable_is_caught() {
    let found = sweep_finds(Bugs { ack_new_leader_early: true, ..Bugs::default() }, true, 200);
    assert!(found.is_some(), "the sweep missed ACK(NEWLEADER) before the sync is durable (ZK-4646)");
}

#[test]
fn mutation_reads_not_waiting_for_their_sessions_writes_are_caught() {
    let found = sweep_with_clients(Bugs { eager_reads: true, ..Bugs::default() }, true, 5, 50);
    let (seed, violation) = found.expect("the history checker missed reads that skip their session's writes");
    assert!(
        ["read your writes", "single system image", "sequentially consistent reads", "WatchOrder"]
            .contains(&violation.invariant),
        "seed {seed}: {violation:?}"
    );
}

#[test]
fn client_histories_check_out_under_faults() {
    for seed in 0..20 {
        let mut config = SimConfig::from_seed(seed, 3, 0);
        config.clients = 5;
        let report = Sim::new(config).run();
        assert!(report.violations.is_empty() && report.live, "seed {seed}: {:?}", report.violations);
        assert!(report.calls_ok > 100, "seed {seed}: clients got work done ({} ok)", report.calls_ok);
    }
}

#[test]
fn lock_and_election_recipes_hold_under_faults() {
    let mut claims = 0;
    for seed in 0..10 {
        let mut config = SimConfig::from_seed(seed, 3, 0);
        config.clients = 6;
        config.lock_clients = 3;
        config.election_clients = 2;
        let report = Sim::new(config).run();
        assert!(report.violations.is_empty() && report.live, "seed {seed}: {:?}", report.violations);
        claims += report.claims;
    }
    assert!(claims > 50, "the recipes made progress: {claims} claims");
}

#[test]
fn a_claim_the_committed_state_does_not_back_is_caught() {
    let mut config = SimConfig::quiet(4, 3, 0);
    config.clients = 3;
    config.lock_clients = 3;
    config.calm_ms = 1_000_000;
    let mut sim = Sim::new(config);
    sim.run_for(6_000);
    let real = sim.clients.iter().flat_map(|c| c.claims.iter().cloned()).next().expect("someone took the lock");
    // Another client claims the lock at the same zxid with a node numbered after the holder's.
    let mut forged = real.clone();
    forged.client += 1;
    forged.path = format!("{}x", real.path);
    sim.clients[0].claims.push(forged);
    sim.check_claims();
    let v = sim.violations();
    assert!(v.iter().any(|v| v.invariant == "RecipeExclusion"), "{v:?}");
}

#[test]
fn mutation_watch_events_after_the_replies_that_reveal_them_is_caught() {
    let found = sweep_with_clients(Bugs { late_watch_events: true, ..Bugs::default() }, true, 5, 100);
    let (seed, violation) = found.expect("the watch check missed events sent after revealing replies");
    assert_eq!(violation.invariant, "WatchOrder", "seed {seed}: {violation:?}");
}

/// The bug real clients found: a leader that drops writes whose xid is not above the highest
/// it saw for the session hangs every client that numbers its requests anew after a
/// reconnect (Kazoo). The simulated clients of that habit, moving between servers in the calm
/// phase, must make the request check catch it.
#[test]
fn mutation_dropping_writes_by_xid_after_a_reconnect_is_caught() {
    let found = sweep_with_clients(Bugs { xid_dedupe: true, ..Bugs::default() }, true, 5, 100);
    let (seed, violation) = found.expect("the request check missed writes dropped after a reconnect");
    assert_eq!(violation.invariant, "RequestAnswered", "seed {seed}: {violation:?}");
}
