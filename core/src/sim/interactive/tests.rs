//! The driver against its promises: presets do what their stories say, seeking is exact.

use alloc::collections::BTreeSet;

use super::*;

fn leader_of(d: &Driver) -> Option<u64> {
    d.sim.leader().map(|l| l.0)
}

fn run_to_ms(d: &mut Driver, ms: u64) {
    let now = d.sim.now_ms();
    d.run_for(ms.saturating_sub(now), u64::MAX);
}

#[test]
fn cold_start_elects_one_leader_of_five() {
    let mut d = Driver::preset("cold-start", 1).unwrap();
    run_to_ms(&mut d, 3_000);
    let leader = leader_of(&d).expect("a leader within 3 s");
    let views = d.sim.server_views();
    assert_eq!(views.iter().filter(|v| v.role == "LEADING").count(), 1);
    assert_eq!(views.iter().filter(|v| v.role == "FOLLOWING").count(), 4);
    assert!(views.iter().all(|v| v.leader == Some(leader)));
    assert!(d.verdict().is_empty());
}

#[test]
fn leader_crash_elects_another_and_keeps_the_write() {
    let mut d = Driver::preset("leader-crash", 2).unwrap();
    run_to_ms(&mut d, 3_900);
    let first = leader_of(&d).expect("a leader");
    run_to_ms(&mut d, 9_000);
    let second = leader_of(&d).expect("a new leader");
    assert_ne!(first, second);
    run_to_ms(&mut d, 16_000);
    for view in d.sim.server_views() {
        assert!(view.up, "{view:?}");
        let node = view.tree.iter().find(|n| n.path == "/config").expect("/config everywhere");
        assert_eq!(node.data, "v2", "s{}", view.id);
    }
    let client = &d.sim.client_views()[0];
    assert_eq!(client.calls.iter().filter(|c| c.status == "ok").count(), 2, "{client:?}");
    assert!(d.verdict().is_empty(), "{:?}", d.verdict());
}

#[test]
fn minority_partition_cannot_commit_until_healed() {
    let mut d = Driver::preset("minority-partition", 3).unwrap();
    run_to_ms(&mut d, 8_500);
    // The client is pinned to s1, on the minority side: s1 stops serving, the connection
    // drops, and the write's outcome is unknown to the client (ConnectionLoss).
    let client = &d.sim.client_views()[0];
    assert_eq!(client.calls.last().map(|c| c.status), Some("lost"), "{client:?}");
    assert_ne!(client.link, "connected", "{client:?}");
    let majority: Vec<ServerView> = d.sim.server_views().into_iter().filter(|v| v.id >= 3).collect();
    assert!(majority.iter().any(|v| v.role == "LEADING"), "{majority:?}");
    run_to_ms(&mut d, 20_000);
    for view in d.sim.server_views() {
        let node = view.tree.iter().find(|n| n.path == "/app").expect("/app");
        assert_eq!(node.data, "before", "s{}", view.id);
    }
    assert!(d.verdict().is_empty(), "{:?}", d.verdict());
}

#[test]
fn a_follower_far_behind_is_synced_by_snap() {
    let mut d = Driver::preset("snap-sync", 4).unwrap();
    run_to_ms(&mut d, 14_000);
    assert!(d.sim.report().syncs.get("SNAP").copied().unwrap_or(0) > 0, "{:?}", d.sim.report().syncs);
    let digests: BTreeSet<String> = d.sim.server_views().into_iter().map(|v| v.digest).collect();
    assert!(d.verdict().is_empty(), "{:?}", d.verdict());
    assert!(digests.len() <= 2, "{digests:?}");
}

#[test]
fn an_uncommitted_proposal_is_truncated_after_failover() {
    let mut d = Driver::preset("truncate", 5).unwrap();
    run_to_ms(&mut d, 15_000);
    assert!(d.sim.report().syncs.get("TRUNC").copied().unwrap_or(0) > 0, "{:?}", d.sim.report().syncs);
    for view in d.sim.server_views() {
        let node = view.tree.iter().find(|n| n.path == "/a").expect("/a");
        assert_eq!(node.data, "kept", "s{}", view.id);
    }
    assert!(d.verdict().is_empty(), "{:?}", d.verdict());
}

#[test]
fn lock_clients_take_turns() {
    let mut d = Driver::preset("lock", 6).unwrap();
    run_to_ms(&mut d, 10_000);
    let claims: usize = d.sim.clients.iter().map(|c| c.claims.len()).sum();
    assert!(claims >= 5, "{claims} claims");
    assert!(d.verdict().is_empty(), "{:?}", d.verdict());
}

#[test]
fn a_broken_zab_is_caught() {
    let mut d = Driver::preset("broken-commit", 10).unwrap();
    run_to_ms(&mut d, 20_000);
    let verdict = d.verdict();
    assert!(!verdict.is_empty(), "the checker must flag a commit without quorum");
    assert_eq!(verdict[0].invariant, "CommitDurability", "{verdict:?}");
    assert!(d.notes.is_empty(), "{:?}", d.notes);
}

#[test]
fn seeking_back_and_forth_recomputes_the_same_moment() {
    let mut d = Driver::preset("cold-start", 7).unwrap();
    d.run_steps(2_000);
    d.apply(Command::AddClient { role: ClientRole::Manual, server: Some(2) }).unwrap();
    d.apply(Command::Call {
        client: 1,
        op: ClientOp::Create { path: "/x".into(), data: "1".into(), ephemeral: true, sequential: true },
    })
    .unwrap();
    d.run_steps(500);
    d.apply(Command::Crash { server: Target::Leader }).unwrap();
    d.run_steps(3_000);
    let (views, trace) = (d.sim.server_views(), d.sim.trace.len());
    d.seek(1_000);
    assert_eq!(d.steps(), 1_000);
    d.seek(5_500);
    assert_eq!(d.sim.server_views(), views);
    assert_eq!(d.sim.trace.len(), trace);
    let at = d.sim.now_ms();
    d.seek_ms(at / 2);
    assert!(d.sim.now_ms() <= at / 2 && d.steps() > 0);
    // A new command in the past drops the old future.
    d.seek(2_100);
    d.apply(Command::Heal).unwrap();
    assert_eq!(d.log().len(), 3);
    assert!(d.notes.is_empty(), "{:?}", d.notes);
}

#[test]
fn bad_commands_are_errors() {
    let mut d = Driver::preset("cold-start", 8).unwrap();
    assert!(d.apply(Command::Crash { server: Target::Server(9) }).is_err());
    assert!(d.apply(Command::Crash { server: Target::Leader }).is_err());
    assert!(d.apply(Command::Restart { server: 1 }).is_err());
    assert!(d.apply(Command::Call { client: 3, op: ClientOp::CloseSession }).is_err());
    assert!(d.apply(Command::DropNext { kind: "NOPE".into(), from: Target::Server(1), count: 1 }).is_err());
    assert!(d.log().is_empty());
}

#[test]
fn messages_in_flight_pair_with_the_trace() {
    let mut d = Driver::preset("cold-start", 9).unwrap();
    d.run_steps(50);
    let flying = d.sim.in_flight();
    assert!(!flying.is_empty());
    for m in &flying {
        assert!(m.sent_ms <= d.sim.now_ms() && m.at_ms >= d.sim.now_ms(), "{m:?}");
        let sent = d.sim.trace.iter().any(|l| matches!(l.kind, super::super::TraceKind::Send { id, .. } if id == m.id));
        assert!(sent, "{m:?}");
    }
}

#[test]
fn every_preset_has_a_story_and_every_phase_a_text() {
    let names: Vec<&str> = presets().iter().map(|p| p.name).collect();
    let told: Vec<&str> = STORIES.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(told[..told.len() - 1], names[..], "one story per preset, in the same order");
    assert_eq!(told.last(), Some(&"custom"));
    use crate::zab::LeaderPhase::*;
    let phases = [Discovery, EpochPending, AwaitAckEpoch, Synchronization, Broadcast];
    let mut wanted: Vec<alloc::string::String> = phases.iter().map(|p| alloc::format!("{p:?}")).collect();
    wanted.insert(0, "election".into());
    let described: Vec<&str> = PHASE_STORIES.iter().map(|(phase, _)| *phase).collect();
    assert_eq!(described, wanted);
}
