//! A single peer driven by hand: the exact outputs of each input, and the durability
//! handshake (nothing is acted on before the host reports it durable).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::ids::SessionId;
use crate::tree::Acl;
use crate::txn::{CreateTxn, Txn};

fn standalone() -> Peer<TreeMachine> {
    let mut config = Config::new(ServerId(1), vec![ServerId(1)], vec![]);
    config.tick_ms = 100;
    config.finalize_wait_ms = 10;
    Peer::new(config, 7, Durable::default(), TreeMachine::default())
}

fn persists(out: &[Output]) -> Vec<(u64, LogOp)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Persist { seq, op } => Some((*seq, op.clone())),
            _ => None,
        })
        .collect()
}

fn create(path: &str) -> Txn {
    Txn::Create(CreateTxn {
        path: path.into(),
        data: None,
        acl: Acl::open_unsafe(),
        ephemeral_owner: 0,
        parent_cversion: -1,
    })
}

#[test]
fn a_standalone_server_acts_on_epochs_only_once_durable() {
    let mut peer = standalone();
    let mut out = Vec::new();
    peer.step(0, Input::Tick, &mut out);
    // Elected by its own quorum on the first tick (nobody else to wait for): it asks for
    // acceptedEpoch 1, and waits.
    assert_eq!(persists(&out), vec![(1, LogOp::Epochs { accepted: 1, current: 0 })]);
    assert!(matches!(peer.status(), Status::Leading { epoch: 1, phase: LeaderPhase::EpochPending }));
    assert_eq!(peer.propose(21, SessionId(1), 1, create("/a"), &mut out), Err(ProposeError::NotLeader));
    out.clear();
    peer.step(22, Input::Persisted { seq: 1 }, &mut out);
    // Now currentEpoch 1, and only once that is durable is the epoch established.
    assert_eq!(persists(&out), vec![(2, LogOp::Epochs { accepted: 1, current: 1 })]);
    assert!(!peer.is_established_leader());
    out.clear();
    peer.step(23, Input::Persisted { seq: 2 }, &mut out);
    assert!(peer.is_established_leader());
    assert_eq!(peer.current_epoch(), 1);
}

#[test]
fn a_proposal_commits_only_when_durable_and_commits_in_order() {
    let mut peer = standalone();
    let mut out = Vec::new();
    peer.step(0, Input::Tick, &mut out);
    peer.step(20, Input::Tick, &mut out);
    peer.step(21, Input::Persisted { seq: 1 }, &mut out);
    peer.step(22, Input::Persisted { seq: 2 }, &mut out);
    out.clear();
    let a = peer.propose(30, SessionId(1), 1, create("/a"), &mut out).unwrap();
    let b = peer.propose(31, SessionId(1), 2, create("/b"), &mut out).unwrap();
    assert_eq!((a, b), (Zxid::new(1, 1), Zxid::new(1, 2)));
    assert_eq!(persists(&out).len(), 2);
    assert_eq!(peer.committed(), Zxid::ZERO);
    out.clear();
    // Only the first write is durable: only it commits.
    peer.step(32, Input::Persisted { seq: 3 }, &mut out);
    assert_eq!(peer.committed(), a);
    assert!(peer.machine().tree.get("/a").is_some());
    assert!(peer.machine().tree.get("/b").is_none());
    peer.step(33, Input::Persisted { seq: 4 }, &mut out);
    assert_eq!(peer.committed(), b);
    assert_eq!(peer.machine().tree.get("/b").unwrap().stat().czxid, b.as_i64());
}

#[test]
fn a_restarted_server_keeps_its_epochs_and_log_and_commits_only_after_leading_again() {
    let entries: Vec<Entry> = (1..=3)
        .map(|c| Entry {
            zxid: Zxid::new(2, c),
            time_ms: 5,
            session: SessionId(1),
            cxid: c as i32,
            txn: create(&alloc::format!("/n{c}")),
        })
        .collect();
    let durable = Durable { accepted_epoch: 2, current_epoch: 2, log: entries };
    let mut config = Config::new(ServerId(1), vec![ServerId(1)], vec![]);
    config.finalize_wait_ms = 1;
    let mut peer = Peer::new(config, 1, durable, TreeMachine::default());
    assert_eq!((peer.accepted_epoch(), peer.current_epoch(), peer.last_zxid()), (2, 2, Zxid::new(2, 3)));
    assert_eq!(peer.committed(), Zxid::ZERO, "a log alone is not committed");
    let mut out = Vec::new();
    peer.step(0, Input::Tick, &mut out);
    peer.step(5, Input::Tick, &mut out);
    assert_eq!(persists(&out), vec![(1, LogOp::Epochs { accepted: 3, current: 2 })]);
    peer.step(6, Input::Persisted { seq: 1 }, &mut out);
    peer.step(7, Input::Persisted { seq: 2 }, &mut out);
    assert!(peer.is_established_leader());
    assert_eq!(peer.committed(), Zxid::new(2, 3), "the new leader's whole history commits");
    assert_eq!(peer.machine().tree.get("/n3").unwrap().stat().mzxid, Zxid::new(2, 3).as_i64());
}

// ---------------------------------------------------------------------------------------------
// Handler by handler, in a three-voter ensemble {1, 2, 3}: one peer is driven by hand and every
// message it sends, every durable write it asks for and every event is checked exactly.

fn entry(epoch: u32, counter: u32) -> Entry {
    Entry {
        zxid: Zxid::new(epoch, counter),
        time_ms: 5,
        session: SessionId(1),
        cxid: counter as i32,
        txn: create(&alloc::format!("/e{epoch}c{counter}")),
    }
}

/// A voter of {1, 2, 3} restarting with epochs (1, 1) and a log of epoch 1 up to `last`.
fn voter(id: u64, last: u32) -> Peer<TreeMachine> {
    let mut config = Config::new(ServerId(id), vec![ServerId(1), ServerId(2), ServerId(3)], vec![]);
    config.tick_ms = 100;
    config.finalize_wait_ms = 10;
    let durable = Durable { accepted_epoch: 1, current_epoch: 1, log: (1..=last).map(|c| entry(1, c)).collect() };
    Peer::new(config, 3, durable, TreeMachine::default())
}

fn sends(out: &[Output]) -> Vec<(u64, Message)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, msg } => Some((to.0, msg.clone())),
            _ => None,
        })
        .collect()
}

fn events(out: &[Output]) -> Vec<Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn vote(leader: u64, last: u32, round: u64, state: ServerState) -> Vote {
    Vote {
        leader: ServerId(leader),
        zxid: Zxid::new(1, last),
        epoch: 1,
        round,
        state,
        non_voting: false,
        no_txn: last == 0,
        accepted_epoch: 1,
    }
}

fn step(peer: &mut Peer<TreeMachine>, now: u64, input: Input) -> Vec<Output> {
    let mut out = Vec::new();
    peer.step(now, input, &mut out);
    out
}

fn receive(peer: &mut Peer<TreeMachine>, now: u64, from: u64, msg: Message) -> Vec<Output> {
    step(peer, now, Input::Receive { from: ServerId(from), msg })
}

/// Election: the first input opens round 1 with our own vote to both others; a better vote is
/// adopted and re-broadcast; a quorum for it plus the finalize wait ends the election with a
/// FOLLOWERINFO to the winner.
#[test]
fn election_adopts_the_better_vote_and_follows_after_the_finalize_wait() {
    let mut peer = voter(1, 2);
    let out = step(&mut peer, 0, Input::Tick);
    let own = vote(1, 2, 1, ServerState::Looking);
    assert_eq!(sends(&out), vec![(2, Message::Vote(own)), (3, Message::Vote(own))]);
    assert_eq!(events(&out), vec![Event::Looking { round: 1 }]);
    assert!(persists(&out).is_empty());

    // A worse vote (shorter log) changes nothing and is not answered.
    let out = receive(&mut peer, 1, 2, Message::Vote(vote(2, 1, 1, ServerState::Looking)));
    assert!(out.is_empty(), "{out:?}");

    // A better one (longer log) is adopted and sent to everyone.
    let better = vote(3, 3, 1, ServerState::Looking);
    let out = receive(&mut peer, 2, 3, Message::Vote(better));
    assert_eq!(sends(&out), vec![(2, Message::Vote(better)), (3, Message::Vote(better))]);

    // {1, 3} agree: a quorum, but the decision waits finalize_wait (10 ms).
    let out = step(&mut peer, 5, Input::Tick);
    assert!(sends(&out).is_empty() && events(&out).is_empty(), "{out:?}");
    assert_eq!(peer.status(), Status::Looking);
    let out = step(&mut peer, 12, Input::Tick);
    assert_eq!(events(&out), vec![Event::Elected { leader: ServerId(3), round: 1 }]);
    let [(3, Message::FollowerInfo { accepted_epoch: 1, observer: false, blank: false, .. })] = sends(&out)[..] else {
        panic!("one FOLLOWERINFO to s3: {out:?}");
    };
    assert!(matches!(peer.status(), Status::Following { leader: ServerId(3), stage: LearnerStage::Info, .. }));
}

/// A vote of a later round makes us join that round (clearing what we had heard); a vote of
/// an earlier round is answered with ours so its sender catches up.
#[test]
fn election_joins_a_later_round_and_answers_an_earlier_one() {
    let mut peer = voter(1, 2);
    step(&mut peer, 0, Input::Tick);
    let later = vote(2, 1, 4, ServerState::Looking);
    let out = receive(&mut peer, 1, 2, Message::Vote(later));
    // Our own proposal beats s2's: we keep it, in round 4.
    let own4 = vote(1, 2, 4, ServerState::Looking);
    assert_eq!(sends(&out), vec![(2, Message::Vote(own4)), (3, Message::Vote(own4))]);
    assert_eq!(peer.round(), 4);
    let earlier = vote(3, 0, 2, ServerState::Looking);
    let out = receive(&mut peer, 2, 3, Message::Vote(earlier));
    assert_eq!(sends(&out), vec![(3, Message::Vote(own4))]);
}

/// Drives voter 1 to follow s3 and returns the nonce of its FOLLOWERINFO.
fn following_s3(peer: &mut Peer<TreeMachine>) -> u64 {
    step(peer, 0, Input::Tick);
    receive(peer, 1, 3, Message::Vote(vote(3, 3, 1, ServerState::Looking)));
    let out = step(peer, 20, Input::Tick);
    match sends(&out)[..] {
        [(3, Message::FollowerInfo { nonce, .. })] => nonce,
        _ => panic!("no FOLLOWERINFO: {out:?}"),
    }
}

/// Discovery and synchronization on the follower side, each handler exactly:
/// LEADERINFO -> acceptedEpoch persisted, and only then ACKEPOCH; NEWLEADER(DIFF) -> entries
/// and currentEpoch persisted in that order, and only then ACK(NEWLEADER); UPTODATE -> commit.
#[test]
fn follower_discovery_and_sync_act_only_on_durable_state() {
    let mut peer = voter(1, 2);
    let nonce = following_s3(&mut peer);

    let out = receive(&mut peer, 30, 3, Message::LeaderInfo { epoch: 2, nonce });
    assert_eq!(persists(&out), vec![(1, LogOp::Epochs { accepted: 2, current: 1 })]);
    assert!(sends(&out).is_empty(), "no ACKEPOCH before acceptedEpoch is durable: {out:?}");
    let out = step(&mut peer, 31, Input::Persisted { seq: 1 });
    let ack_epoch = Message::AckEpoch { epoch: 2, nonce, current_epoch: 1, last_zxid: Zxid::new(1, 2), repeat: false };
    assert_eq!(sends(&out), vec![(3, ack_epoch)]);

    let sync = Message::NewLeader {
        epoch: 2,
        nonce,
        mode: Box::new(SyncMode::Diff { base: Zxid::new(1, 2), entries: vec![entry(1, 3)] }),
        last_zxid: Zxid::new(1, 3),
        committed: Zxid::new(1, 2),
    };
    let out = receive(&mut peer, 40, 3, sync);
    assert_eq!(
        persists(&out),
        vec![(2, LogOp::Append(Arc::new(entry(1, 3)))), (3, LogOp::Epochs { accepted: 2, current: 2 })]
    );
    assert!(sends(&out).is_empty(), "{out:?}");
    assert_eq!(peer.last_zxid(), Zxid::new(1, 3));
    // The history is durable but the epoch not yet: still no ACK.
    let out = step(&mut peer, 41, Input::Persisted { seq: 2 });
    assert!(sends(&out).is_empty(), "{out:?}");
    let out = step(&mut peer, 42, Input::Persisted { seq: 3 });
    // ACK(NEWLEADER), then the cumulative ACK that now covers the synced entries too.
    assert_eq!(
        sends(&out),
        vec![(3, Message::AckNewLeader { epoch: 2, nonce }), (3, Message::Ack { epoch: 2, zxid: Zxid::new(1, 3) })]
    );
    assert_eq!(peer.current_epoch(), 2);
    assert!(peer.machine().tree.get("/e1c3").is_none(), "not committed yet");

    let out = receive(&mut peer, 50, 3, Message::UpToDate { epoch: 2, nonce, committed: Zxid::new(1, 3) });
    // The ACK once more: the first may have overtaken ACK(NEWLEADER) and been ignored.
    assert_eq!(sends(&out), vec![(3, Message::Ack { epoch: 2, zxid: Zxid::new(1, 3) })]);
    assert!(events(&out).contains(&Event::UpToDate { leader: ServerId(3), epoch: 2 }), "{out:?}");
    assert_eq!(peer.committed(), Zxid::new(1, 3));
    assert!(peer.machine().tree.get("/e1c3").is_some());
    assert!(peer.is_serving());
}

/// A voter with a log up to (1, 2), synced by an empty DIFF to leader s3 of epoch 2 and in
/// broadcast at time 50; its next durable write is seq 3.
fn broadcasting_follower() -> Peer<TreeMachine> {
    let mut peer = voter(1, 2);
    let nonce = following_s3(&mut peer);
    receive(&mut peer, 30, 3, Message::LeaderInfo { epoch: 2, nonce });
    step(&mut peer, 31, Input::Persisted { seq: 1 });
    let sync = Message::NewLeader {
        epoch: 2,
        nonce,
        mode: Box::new(SyncMode::Diff { base: Zxid::new(1, 2), entries: vec![] }),
        last_zxid: Zxid::new(1, 2),
        committed: Zxid::new(1, 2),
    };
    receive(&mut peer, 40, 3, sync);
    step(&mut peer, 41, Input::Persisted { seq: 2 });
    receive(&mut peer, 50, 3, Message::UpToDate { epoch: 2, nonce, committed: Zxid::new(1, 2) });
    peer
}

/// Broadcast on the follower side: PROPOSAL -> append; ACK only once durable (cumulative);
/// COMMIT applies in order; PING is answered with PONG; a message of another epoch is ignored.
#[test]
fn follower_broadcast_acks_durable_entries_and_commits_in_order() {
    let mut peer = broadcasting_follower();

    let out = receive(&mut peer, 60, 3, Message::Proposal { epoch: 2, entries: vec![Arc::new(entry(2, 1))] });
    assert_eq!(persists(&out), vec![(3, LogOp::Append(Arc::new(entry(2, 1))))]);
    assert!(sends(&out).is_empty());
    let out = receive(&mut peer, 61, 3, Message::Proposal { epoch: 2, entries: vec![Arc::new(entry(2, 2))] });
    assert_eq!(persists(&out), vec![(4, LogOp::Append(Arc::new(entry(2, 2))))]);
    // One fsync covers both: one cumulative ACK.
    let out = step(&mut peer, 62, Input::Persisted { seq: 4 });
    assert_eq!(sends(&out), vec![(3, Message::Ack { epoch: 2, zxid: Zxid::new(2, 2) })]);

    // Proposals merged into one message: each entry taken in order, the one already held
    // skipped, the one after a gap held back (and the gap asked for) until the gap fills.
    let batch = vec![Arc::new(entry(2, 2)), Arc::new(entry(2, 3)), Arc::new(entry(2, 5))];
    let out = receive(&mut peer, 62, 3, Message::Proposal { epoch: 2, entries: batch });
    assert_eq!(persists(&out), vec![(5, LogOp::Append(Arc::new(entry(2, 3))))]);
    assert_eq!(sends(&out), vec![(3, Message::Nack { epoch: 2, last: Zxid::new(2, 3) })]);
    let out = receive(&mut peer, 62, 3, Message::Proposal { epoch: 2, entries: vec![Arc::new(entry(2, 4))] });
    let appended = vec![(6, LogOp::Append(Arc::new(entry(2, 4)))), (7, LogOp::Append(Arc::new(entry(2, 5))))];
    assert_eq!(persists(&out), appended);
    let out = step(&mut peer, 62, Input::Persisted { seq: 7 });
    assert_eq!(sends(&out), vec![(3, Message::Ack { epoch: 2, zxid: Zxid::new(2, 5) })]);

    // A stale leader's proposal of epoch 1 is ignored.
    let out = receive(&mut peer, 63, 2, Message::Proposal { epoch: 1, entries: vec![Arc::new(entry(1, 9))] });
    assert!(persists(&out).is_empty() && sends(&out).is_empty(), "{out:?}");

    let out = receive(&mut peer, 64, 3, Message::Commit { epoch: 2, zxid: Zxid::new(2, 1) });
    assert_eq!(events(&out), vec![Event::Committed { from: Zxid::new(1, 2), to: Zxid::new(2, 1) }]);
    assert!(peer.machine().tree.get("/e2c1").is_some() && peer.machine().tree.get("/e2c2").is_none());

    let out = receive(&mut peer, 65, 3, Message::Ping { epoch: 2, committed: Zxid::new(2, 2) });
    assert_eq!(sends(&out), vec![(3, Message::Pong { epoch: 2 })]);
    assert_eq!(peer.committed(), Zxid::new(2, 2), "a PING carries the commit point");
}

/// Seed 1635 of the Zab sweep: the leader dropped a lagging follower (its gap was no longer in
/// the leader's memory), then a late copy of the follower's FOLLOWERINFO put it back in the
/// leader's table as a fresh attempt. The follower, long past discovery, ignored the new
/// LEADERINFO; the leader kept pinging it and ignored its NACKs, so it stayed a follower that
/// never caught up. A follower whose gap behind the leader's commit point stays unfilled for
/// syncLimit, though the leader still talks to it, gives up and joins again.
#[test]
fn follower_whose_gap_the_leader_never_fills_joins_again() {
    let mut peer = broadcasting_follower();
    assert!(peer.is_serving());

    // The leader is at (2, 9); we hold nothing of epoch 2. Pings keep coming, nothing else.
    let mut now = 60;
    let sync_limit_ms = 5 * 100;
    while now <= 60 + sync_limit_ms {
        let out = receive(&mut peer, now, 3, Message::Ping { epoch: 2, committed: Zxid::new(2, 9) });
        assert!(sends(&out).contains(&(3, Message::Pong { epoch: 2 })), "{out:?}");
        let out = step(&mut peer, now + 1, Input::Tick);
        assert!(events(&out).is_empty(), "not before syncLimit: {out:?}");
        now += 50;
    }
    receive(&mut peer, now, 3, Message::Ping { epoch: 2, committed: Zxid::new(2, 9) });
    let out = step(&mut peer, now + 1, Input::Tick);
    assert!(events(&out).contains(&Event::LearnerAbandon { why: Abandon::Stalled }), "{out:?}");
    assert!(!peer.is_serving());

    // A follower that keeps receiving what it lacks, however far behind, stays.
    let mut peer = broadcasting_follower();
    for (i, now) in (60..60 + 3 * sync_limit_ms).step_by(50).enumerate() {
        let counter = i as u32 + 1;
        receive(&mut peer, now, 3, Message::Proposal { epoch: 2, entries: vec![Arc::new(entry(2, counter))] });
        receive(&mut peer, now, 3, Message::Ping { epoch: 2, committed: Zxid::new(2, 1000) });
        let out = step(&mut peer, now + 1, Input::Tick);
        assert!(events(&out).is_empty(), "{out:?}");
    }
    assert!(peer.is_serving());
}

/// A DIFF that does not start at our last zxid cannot be applied: the follower abandons the
/// leader and looks again rather than build a history with a hole.
#[test]
fn follower_refuses_a_diff_from_the_wrong_base() {
    let mut peer = voter(1, 2);
    let nonce = following_s3(&mut peer);
    receive(&mut peer, 30, 3, Message::LeaderInfo { epoch: 2, nonce });
    step(&mut peer, 31, Input::Persisted { seq: 1 });
    let sync = Message::NewLeader {
        epoch: 2,
        nonce,
        mode: Box::new(SyncMode::Diff { base: Zxid::new(1, 1), entries: vec![entry(1, 2), entry(1, 3)] }),
        last_zxid: Zxid::new(1, 3),
        committed: Zxid::new(1, 3),
    };
    let out = receive(&mut peer, 40, 3, sync);
    assert!(persists(&out).is_empty(), "{out:?}");
    assert!(
        events(&out)
            .contains(&Event::LearnerAbandon { why: Abandon::BadSync("DIFF from a zxid that is not our last") })
    );
    assert_eq!(peer.status(), Status::Looking);
    assert_eq!(peer.last_zxid(), Zxid::new(1, 2));
}

/// The leader side, each handler exactly: a quorum of FOLLOWERINFO picks epoch max+1 and
/// persists it; LEADERINFO only once durable; a quorum of ACKEPOCH starts the sync (DIFF for
/// a follower one entry behind) and persists currentEpoch; ACK(NEWLEADER) of a quorum
/// establishes the epoch (UPTODATE); a proposal commits once the leader's own copy is durable
/// and one follower ACKed it.
#[test]
fn leader_discovery_sync_and_broadcast() {
    let mut peer = voter(3, 3);
    step(&mut peer, 0, Input::Tick);
    receive(&mut peer, 1, 1, Message::Vote(vote(3, 3, 1, ServerState::Looking)));
    let out = step(&mut peer, 20, Input::Tick);
    assert_eq!(events(&out), vec![Event::Elected { leader: ServerId(3), round: 1 }]);
    assert!(persists(&out).is_empty(), "alone it is no quorum for an epoch yet");

    let out = receive(
        &mut peer,
        21,
        1,
        Message::FollowerInfo { accepted_epoch: 1, observer: false, blank: false, nonce: 77 },
    );
    assert_eq!(persists(&out), vec![(1, LogOp::Epochs { accepted: 2, current: 1 })]);
    assert!(sends(&out).is_empty(), "no LEADERINFO before the epoch is durable: {out:?}");
    let out = step(&mut peer, 22, Input::Persisted { seq: 1 });
    assert_eq!(sends(&out), vec![(1, Message::LeaderInfo { epoch: 2, nonce: 77 })]);

    let ack = Message::AckEpoch { epoch: 2, nonce: 77, current_epoch: 1, last_zxid: Zxid::new(1, 2), repeat: false };
    let out = receive(&mut peer, 23, 1, ack);
    assert_eq!(persists(&out), vec![(2, LogOp::Epochs { accepted: 2, current: 2 })]);
    let sync = Message::NewLeader {
        epoch: 2,
        nonce: 77,
        mode: Box::new(SyncMode::Diff { base: Zxid::new(1, 2), entries: vec![entry(1, 3)] }),
        last_zxid: Zxid::new(1, 3),
        committed: Zxid::ZERO,
    };
    assert_eq!(sends(&out), vec![(1, sync)]);
    assert_eq!(events(&out), vec![Event::SyncSent { learner: ServerId(1), mode: "DIFF" }]);

    // s1's ACK(NEWLEADER) alone is not enough: the leader's own currentEpoch must be durable.
    let out = receive(&mut peer, 24, 1, Message::AckNewLeader { epoch: 2, nonce: 77 });
    assert!(sends(&out).is_empty() && !peer.is_established_leader(), "{out:?}");
    let out = step(&mut peer, 25, Input::Persisted { seq: 2 });
    assert_eq!(sends(&out), vec![(1, Message::UpToDate { epoch: 2, nonce: 77, committed: Zxid::new(1, 3) })]);
    assert!(events(&out).contains(&Event::Established { epoch: 2 }), "{out:?}");
    assert_eq!(peer.committed(), Zxid::new(1, 3), "the new leader's history is committed");

    let mut out = Vec::new();
    let zxid = peer.propose(30, SessionId(9), 4, create("/p"), &mut out).unwrap();
    assert_eq!(zxid, Zxid::new(2, 1));
    let proposed = Entry { zxid, time_ms: 30, session: SessionId(9), cxid: 4, txn: create("/p") };
    assert_eq!(persists(&out), vec![(3, LogOp::Append(Arc::new(proposed.clone())))]);
    assert_eq!(sends(&out), vec![(1, Message::Proposal { epoch: 2, entries: vec![Arc::new(proposed)] })]);
    // The follower's ACK first: the leader's own copy is not durable, so no commit.
    let out = receive(&mut peer, 31, 1, Message::Ack { epoch: 2, zxid });
    assert!(sends(&out).is_empty(), "{out:?}");
    let out = step(&mut peer, 32, Input::Persisted { seq: 3 });
    assert_eq!(sends(&out), vec![(1, Message::Commit { epoch: 2, zxid })]);
    assert!(peer.machine().tree.get("/p").is_some());

    // s2 joins late, one entry behind the established history: it gets LEADERINFO at once and,
    // after its ACKEPOCH, a DIFF with the missing entries (also the one not yet in its log).
    let out =
        receive(&mut peer, 40, 2, Message::FollowerInfo { accepted_epoch: 1, observer: false, blank: false, nonce: 5 });
    assert_eq!(sends(&out), vec![(2, Message::LeaderInfo { epoch: 2, nonce: 5 })]);
    let ack = Message::AckEpoch { epoch: 2, nonce: 5, current_epoch: 1, last_zxid: Zxid::new(1, 3), repeat: false };
    let out = receive(&mut peer, 41, 2, ack);
    let [(2, Message::NewLeader { ref mode, last_zxid, committed, .. })] = sends(&out)[..] else {
        panic!("a DIFF for s2: {out:?}");
    };
    let SyncMode::Diff { base, ref entries } = **mode else { panic!("a DIFF for s2: {mode:?}") };
    assert_eq!((base, last_zxid, committed), (Zxid::new(1, 3), zxid, zxid));
    assert_eq!(entries.iter().map(|e| e.zxid).collect::<Vec<_>>(), vec![zxid]);
}

/// A voter that accepted our own epoch before (it followed us, went away and rejoins) simply
/// follows again; one that accepted a later epoch cannot, and the leader makes way.
#[test]
fn leader_takes_back_a_follower_of_its_epoch_and_steps_down_for_a_later_promise() {
    let mut peer = voter(3, 3);
    step(&mut peer, 0, Input::Tick);
    receive(&mut peer, 1, 1, Message::Vote(vote(3, 3, 1, ServerState::Looking)));
    step(&mut peer, 20, Input::Tick);
    receive(&mut peer, 21, 1, Message::FollowerInfo { accepted_epoch: 1, observer: false, blank: false, nonce: 1 });
    step(&mut peer, 22, Input::Persisted { seq: 1 });
    receive(
        &mut peer,
        23,
        1,
        Message::AckEpoch { epoch: 2, nonce: 1, current_epoch: 1, last_zxid: Zxid::new(1, 3), repeat: false },
    );
    receive(&mut peer, 24, 1, Message::AckNewLeader { epoch: 2, nonce: 1 });
    step(&mut peer, 25, Input::Persisted { seq: 2 });
    assert!(peer.is_established_leader());

    let out =
        receive(&mut peer, 30, 2, Message::FollowerInfo { accepted_epoch: 2, observer: false, blank: false, nonce: 8 });
    assert_eq!(sends(&out), vec![(2, Message::LeaderInfo { epoch: 2, nonce: 8 })]);
    assert!(peer.is_established_leader());

    let out =
        receive(&mut peer, 31, 2, Message::FollowerInfo { accepted_epoch: 3, observer: false, blank: false, nonce: 9 });
    assert!(events(&out).contains(&Event::LeaderStepDown { why: StepDown::LearnerAhead }), "{out:?}");
    assert_eq!(peer.status(), Status::Looking);
}

/// A follower whose host reports the link to its leader broken looks for a leader at once
/// (not after syncLimit); a broken link to another server changes nothing.
#[test]
fn follower_abandons_its_leader_as_soon_as_the_link_breaks() {
    let mut peer = broadcasting_follower();
    let out = step(&mut peer, 60, Input::LinkDown { peer: ServerId(2) });
    assert!(out.is_empty(), "{out:?}");
    assert!(peer.is_serving());
    let out = step(&mut peer, 61, Input::LinkDown { peer: ServerId(3) });
    assert!(events(&out).contains(&Event::LearnerAbandon { why: Abandon::LinkLost }), "{out:?}");
    assert_eq!(peer.status(), Status::Looking);
    // The new round's votes go to both others.
    assert_eq!(sends(&out).len(), 2, "{out:?}");
}

/// With the old leader known down, the two survivors decide as soon as they agree: no
/// finalize wait, since no better vote can come.
#[test]
fn election_decides_at_once_when_every_other_voter_agrees_or_is_down() {
    let mut peer = voter(1, 2);
    step(&mut peer, 0, Input::Tick);
    step(&mut peer, 1, Input::LinkDown { peer: ServerId(3) });
    let out = receive(&mut peer, 2, 2, Message::Vote(vote(2, 3, 1, ServerState::Looking)));
    assert_eq!(events(&out), vec![Event::Elected { leader: ServerId(2), round: 1 }], "{out:?}");
    assert!(matches!(peer.status(), Status::Following { leader: ServerId(2), .. }));

    // Without the link report, the same votes wait finalize_wait (10 ms) for s3.
    let mut peer = voter(1, 2);
    step(&mut peer, 0, Input::Tick);
    let out = receive(&mut peer, 2, 2, Message::Vote(vote(2, 3, 1, ServerState::Looking)));
    assert!(!events(&out).iter().any(|e| matches!(e, Event::Elected { .. })), "{out:?}");
    let out = step(&mut peer, 13, Input::Tick);
    assert_eq!(events(&out), vec![Event::Elected { leader: ServerId(2), round: 1 }], "{out:?}");
}

/// A learner told of an epoch it has already accepted makes no new promise: its ACKEPOCH says
/// so, and the leader does not count it toward the discovery quorum (ZooKeeper's -1). Two
/// leaders that picked the same epoch could otherwise both count the same promise. A fresh
/// promise from the same server (on any attempt) counts.
#[test]
fn a_repeated_epoch_promise_does_not_count_toward_discovery() {
    // The learner side: LEADERINFO(1) with acceptedEpoch 1 already.
    let mut learner = voter(1, 2);
    let nonce = following_s3(&mut learner);
    let out = receive(&mut learner, 30, 3, Message::LeaderInfo { epoch: 1, nonce });
    assert!(persists(&out).is_empty(), "nothing new to promise: {out:?}");
    assert_eq!(
        sends(&out),
        vec![(3, Message::AckEpoch { epoch: 1, nonce, current_epoch: 1, last_zxid: Zxid::new(1, 2), repeat: true })]
    );

    // The leader side: s3 leads epoch 2; s1's repeated ACKEPOCH does not start the sync.
    let mut leader = voter(3, 3);
    step(&mut leader, 0, Input::Tick);
    receive(&mut leader, 1, 1, Message::Vote(vote(3, 3, 1, ServerState::Looking)));
    step(&mut leader, 20, Input::Tick);
    let info = Message::FollowerInfo { accepted_epoch: 1, observer: false, blank: false, nonce: 77 };
    receive(&mut leader, 21, 1, info);
    step(&mut leader, 22, Input::Persisted { seq: 1 });
    let repeat = Message::AckEpoch { epoch: 2, nonce: 77, current_epoch: 1, last_zxid: Zxid::new(1, 2), repeat: true };
    let out = receive(&mut leader, 23, 1, repeat);
    assert!(sends(&out).is_empty() && persists(&out).is_empty(), "no quorum yet: {out:?}");
    // s1 joins again (a new attempt) and promises afresh: now the quorum is there.
    let info = Message::FollowerInfo { accepted_epoch: 1, observer: false, blank: false, nonce: 78 };
    receive(&mut leader, 24, 1, info);
    let fresh = Message::AckEpoch { epoch: 2, nonce: 78, current_epoch: 1, last_zxid: Zxid::new(1, 2), repeat: false };
    let out = receive(&mut leader, 25, 1, fresh);
    assert_eq!(persists(&out), vec![(2, LogOp::Epochs { accepted: 2, current: 2 })]);
    assert!(matches!(sends(&out)[..], [(1, Message::NewLeader { epoch: 2, nonce: 78, .. })]), "{out:?}");
}

/// A follower with appends not yet durable is told to TRUNC, with no entries after, by a
/// leader of an epoch it has already accepted (so nothing needs writing before its ACKEPOCH):
/// once the host has written everything, the truncation included, its history up to the
/// truncation point is durable and ACK(NEWLEADER) leaves. (Its durable point used to stay
/// below the truncation point: the appends belonged to the log before the truncation, and
/// ACK(NEWLEADER) never left.)
#[test]
fn a_trunc_over_unsynced_appends_still_lets_ack_newleader_leave() {
    let mut peer = broadcasting_follower();
    let proposal = Message::Proposal { epoch: 2, entries: vec![Arc::new(entry(2, 1)), Arc::new(entry(2, 2))] };
    let out = receive(&mut peer, 60, 3, proposal);
    assert_eq!(persists(&out).len(), 2, "seq 3 and 4, not yet durable: {out:?}");
    // The leader is gone; s2 wins the next election and leads epoch 2 again.
    step(&mut peer, 61, Input::LinkDown { peer: ServerId(3) });
    let s2 = Vote {
        leader: ServerId(2),
        zxid: Zxid::new(2, 2),
        epoch: 2,
        round: peer.round(),
        state: ServerState::Looking,
        non_voting: false,
        no_txn: false,
        accepted_epoch: 2,
    };
    let out = receive(&mut peer, 62, 2, Message::Vote(s2));
    let nonce = match sends(&out).last() {
        Some((2, Message::FollowerInfo { nonce, .. })) => *nonce,
        _ => panic!("no FOLLOWERINFO to s2: {out:?}"),
    };
    let out = receive(&mut peer, 63, 2, Message::LeaderInfo { epoch: 2, nonce });
    assert!(persists(&out).is_empty(), "{out:?}");
    assert!(matches!(sends(&out)[..], [(2, Message::AckEpoch { repeat: true, .. })]), "{out:?}");
    let trunc = Message::NewLeader {
        epoch: 2,
        nonce,
        mode: Box::new(SyncMode::Trunc { to: Zxid::new(2, 1), entries: vec![] }),
        last_zxid: Zxid::new(2, 1),
        committed: Zxid::new(1, 2),
    };
    let out = receive(&mut peer, 64, 2, trunc);
    let [(5, LogOp::Truncate { .. })] = persists(&out)[..] else { panic!("one truncation, seq 5: {out:?}") };
    let out = step(&mut peer, 65, Input::Persisted { seq: 5 });
    assert_eq!(peer.durable_zxid(), Zxid::new(2, 1));
    assert!(sends(&out).contains(&(2, Message::AckNewLeader { epoch: 2, nonce })), "{out:?}");
}

/// A follower that finished the election first sends FOLLOWERINFO while its leader-to-be is
/// still looking: the leader keeps it and answers once it leads, instead of leaving the
/// learner to its resend a tick or more later (seen as 2 s failovers with tickTime 2000).
#[test]
fn a_followerinfo_that_arrives_during_the_election_is_answered_once_leading() {
    let mut leader = voter(3, 3);
    step(&mut leader, 0, Input::Tick);
    let info = Message::FollowerInfo { accepted_epoch: 1, observer: false, blank: false, nonce: 77 };
    let out = receive(&mut leader, 1, 1, info);
    assert!(sends(&out).is_empty(), "still looking: {out:?}");
    receive(&mut leader, 2, 1, Message::Vote(vote(3, 3, 1, ServerState::Looking)));
    let mut out = step(&mut leader, 20, Input::Tick);
    assert!(matches!(leader.status(), Status::Leading { .. }), "{:?}", leader.status());
    out.extend(step(&mut leader, 21, Input::Persisted { seq: 1 }));
    assert!(
        sends(&out).contains(&(1, Message::LeaderInfo { epoch: 2, nonce: 77 })),
        "the early FOLLOWERINFO is answered: {out:?}"
    );
}

/// A follower that hears a peer's LOOKING vote just before it sees the leader's link break
/// itself counts that vote in its own election (it would else wait for the peer's re-send,
/// seen as 230-380 ms failovers): here s2 saw s3 die first and votes for itself; s1 follows it
/// at once.
#[test]
fn a_looking_vote_heard_while_following_counts_when_the_leader_dies() {
    let mut peer = broadcasting_follower();
    let s2 = Vote {
        leader: ServerId(2),
        zxid: Zxid::new(1, 2),
        epoch: 2,
        round: 2,
        state: ServerState::Looking,
        non_voting: false,
        no_txn: false,
        accepted_epoch: 2,
    };
    let out = receive(&mut peer, 60, 2, Message::Vote(s2));
    assert!(
        matches!(sends(&out)[..], [(2, Message::Vote(Vote { state: ServerState::Following, .. }))]),
        "told where the ensemble stands: {out:?}"
    );
    step(&mut peer, 61, Input::LinkDown { peer: ServerId(3) });
    step(&mut peer, 61, Input::Tick);
    assert!(matches!(peer.status(), Status::Following { leader: ServerId(2), .. }), "{:?}", peer.status());
}

/// A journal record is postcard of a [`LogOp`]: an `Append` whose txn nests a million multis (a
/// 2 MB record) overflowed the stack of the recovering server; now a multi holds no multi and
/// the record is a decode error, as recovery reads it (`take_from_bytes`).
#[test]
fn a_log_record_with_deeply_nested_multis_is_a_decode_error() {
    use crate::txn::tests::{HOSTILE_DEPTH, TXN_MULTI, nested_multis};
    // Append (0): zxid 1, time_ms 5 (zigzag 10), session 1 (zigzag 2), cxid 1 (zigzag 2), the txn.
    let record = |depth| [&[0, 1, 10, 2, 2][..], &nested_multis(TXN_MULTI, depth)].concat();
    let entry = Entry { zxid: Zxid::from_u64(1), time_ms: 5, session: SessionId(1), cxid: 1, txn: Txn::Multi(vec![]) };
    let shallow = record(1);
    assert_eq!(postcard::take_from_bytes::<LogOp>(&shallow).unwrap(), (LogOp::Append(Arc::new(entry)), &[][..]));
    assert!(postcard::take_from_bytes::<LogOp>(&record(HOSTILE_DEPTH)).is_err());
}
