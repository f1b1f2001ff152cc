//! Hostile frames on the quorum port of a real three-process ensemble: a forwarded write and a
//! proposal whose multi nests a million multis (2 MB frames). Such a frame used to overflow the
//! stack of the server decoding it and abort the process; now each server refuses the frame,
//! closes that connection, and the ensemble goes on serving.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use common::{
    Client, create, ensemble, exists_after_sync, peer_frame, peer_handshake, quorum_port, wait_for,
    wait_for_leader_and_followers,
};
use zabkeeper_core::ids::{SessionId, Zxid};
use zabkeeper_core::server::PeerMessage;
use zabkeeper_core::txn::{Txn, WriteOp};
use zabkeeper_core::zab::{Entry, Message};

/// Variant tags of `WriteOp::Multi` and `Txn::Multi` in postcard.
const WRITE_OP_MULTI: u8 = 5;
const TXN_MULTI: u8 = 7;
/// Multis nested in each hostile frame.
const HOSTILE_DEPTH: usize = 1_000_000;

/// `depth` multis, each but the last holding the next as its one op: `depth - 1` times the tag
/// and a length of 1, then the tag and a length of 0.
fn nested_multis(multi: u8, depth: usize) -> Vec<u8> {
    let mut bytes = [multi, 1].repeat(depth - 1);
    bytes.extend_from_slice(&[multi, 0]);
    bytes
}

/// Postcard payloads of peer messages with a multi nested `depth` deep, built by hand.
fn payloads(depth: usize) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        // Forward (1): epoch 1, nonce 1, seq 1, session 1, cxid 1 (zigzag), the write, no ids.
        ("FORWARD", [&[1, 1, 1, 1, 2, 2][..], &nested_multis(WRITE_OP_MULTI, depth), &[0]].concat()),
        // Zab (0) Proposal (7): epoch 1, one entry: zxid 1, time 5, session 1, cxid 1, the txn.
        ("PROPOSAL", [&[0, 7, 1, 1, 1, 10, 2, 2][..], &nested_multis(TXN_MULTI, depth)].concat()),
    ]
}

/// Dials `addr` as server `as_id` (the ensemble holds no quorum secret, so the handshake
/// passes), sends one frame holding `payload`, and waits for the server to close the connection.
fn send_frame(addr: SocketAddr, as_id: u64, payload: &[u8]) {
    let (mut stream, answer) = peer_handshake(addr, as_id, false);
    assert!(answer.is_some(), "a member without a secret lets the handshake through");
    stream.write_all(&peer_frame(payload)).expect("send the frame");
    let mut rest = Vec::new();
    // End of stream, or a reset: either way the server is done with this connection.
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "after its handshake answer a listener never sends on a peer connection");
}

#[test]
fn the_hand_built_payloads_are_the_messages_meant() {
    let entry = Entry { zxid: Zxid::from_u64(1), time_ms: 5, session: SessionId(1), cxid: 1, txn: Txn::Multi(vec![]) };
    let expected = [
        PeerMessage::Forward {
            epoch: 1,
            nonce: 1,
            seq: 1,
            session: SessionId(1),
            cxid: 1,
            op: Box::new(WriteOp::Multi(vec![])),
            auth: Default::default(),
        },
        PeerMessage::Zab(Message::Proposal { epoch: 1, entries: vec![entry.into()] }),
    ];
    for ((kind, payload), msg) in payloads(1).into_iter().zip(expected) {
        assert_eq!(postcard::from_bytes::<PeerMessage>(&payload).unwrap(), msg, "{kind}");
    }
    for (kind, payload) in payloads(HOSTILE_DEPTH) {
        assert!(postcard::from_bytes::<PeerMessage>(&payload).is_err(), "{kind}");
    }
}

#[test]
fn deeply_nested_multis_on_the_quorum_port_harm_no_member() {
    let base = common::scratch("hostile-peer");
    let mut members = ensemble(&base, 3);
    for m in &mut members {
        m.spawn();
    }
    wait_for_leader_and_followers(&members);

    for (i, member) in members.iter_mut().enumerate() {
        let me = i as u64 + 1;
        let addr = SocketAddr::from(([127, 0, 0, 1], quorum_port(&member.config, me)));
        // The frames claim to come from another member, as a handshake must.
        let as_id = me % 3 + 1;
        for (kind, payload) in payloads(HOSTILE_DEPTH) {
            send_frame(addr, as_id, &payload);
            let exit = member.wait_exit(Duration::from_millis(300));
            assert!(exit.is_none(), "member {me} exited after a nested {kind}: {exit:?}");
        }
    }

    // The links the frames broke come back; every member serves writes and sees the others'.
    wait_for_leader_and_followers(&members);
    for (i, m) in members.iter().enumerate() {
        // A write made as a link comes back may be lost with its connection: try again (node
        // exists then means an earlier try went through).
        wait_for(&format!("a write through {}", m.client), || {
            Client::open(m.client)
                .and_then(|mut c| c.call(create(&format!("/after{i}"), b"v", 0)))
                .is_some_and(|(h, _)| h.err == 0 || h.err == -110)
        });
    }
    for m in &members {
        for i in 0..members.len() {
            assert!(exists_after_sync(m.client, &format!("/after{i}")), "/after{i} missing on {}", m.client);
        }
    }
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}
