//! A single peer driven by hand: the exact outputs of each input, and the durability
//! handshake (nothing is acted on before the host reports it durable).

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
    assert_eq!(peer.status(), Status::Looking);
    out.clear();
    peer.step(20, Input::Tick, &mut out);
    // Elected by its own quorum: it asks for acceptedEpoch 1, and waits.
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
