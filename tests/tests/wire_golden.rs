//! Byte-for-byte golden tests of the jute codec: streams captured between real clients
//! (zkCli.sh and cli_mt from Debian's ZooKeeper 3.8.0 packages, Kazoo, and raw sockets) and a
//! real ZooKeeper 3.8.0 server (`tests/wire/capture.sh` re-captures them). Every frame in both
//! directions is decoded and encoded again, and must give back exactly the captured bytes.

use std::collections::VecDeque;

use serde_json::Value;
use zabkeeper_core::wire::records::{ReplyHeader, WatcherEvent};
use zabkeeper_core::wire::{
    ConnectRequest, ConnectResponse, DecodeError, FourLetterWord, Jute, NOTIFICATION_XID, OpCode, PING_XID, Reader,
    Request, Response, encode_reply,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/wire/golden");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// Splits a stream into frame payloads (the codec's own splitter is tested elsewhere; this
/// one is deliberately simple).
fn frames(stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = stream;
    while rest.len() >= 4 {
        let len = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert!(rest.len() >= 4 + len, "a captured stream ends inside a frame");
        out.push(&rest[4..4 + len]);
        rest = &rest[4 + len..];
    }
    assert!(rest.is_empty(), "trailing bytes after the last frame");
    out
}

struct Outcome {
    requests: usize,
    replies: usize,
    opcodes: Vec<OpCode>,
}

fn check_session(name: &str, c2s: &[u8], s2c: &[u8]) -> Outcome {
    let requests = frames(c2s);
    let replies = frames(s2c);
    let mut outcome = Outcome { requests: 0, replies: 0, opcodes: Vec::new() };
    // Handshake, both ways.
    let connect = ConnectRequest::decode(requests[0]).unwrap_or_else(|e| panic!("{name}: ConnectRequest: {e}"));
    let mut again = Vec::new();
    connect.encode(&mut again);
    assert_eq!(again, requests[0], "{name}: ConnectRequest re-encodes");
    let mut pending: VecDeque<(i32, OpCode)> = VecDeque::new();
    for (i, payload) in requests.iter().enumerate().skip(1) {
        match Request::decode(payload) {
            Ok((xid, request)) => {
                let mut again = Vec::new();
                request.encode(xid, &mut again);
                assert_eq!(&again, payload, "{name}: request #{i} ({:?}) re-encodes", request.opcode());
                pending.push_back((xid, request.opcode()));
                outcome.opcodes.push(request.opcode());
            }
            Err(DecodeError::UnknownOpcode { xid, opcode }) => {
                assert!(opcode == 999 || opcode == 0, "{name}: unexpected unknown opcode {opcode}");
                pending.push_back((xid, OpCode::Error));
            }
            Err(e) => panic!("{name}: request #{i} does not decode: {e}"),
        }
        outcome.requests += 1;
    }
    if let Some(first) = replies.first() {
        let response = ConnectResponse::decode(first).unwrap_or_else(|e| panic!("{name}: ConnectResponse: {e}"));
        let mut again = Vec::new();
        response.encode(&mut again);
        assert_eq!(&again, first, "{name}: ConnectResponse re-encodes");
        assert_eq!(response.read_only.is_none(), connect.read_only.is_none(), "{name}: old clients get the old form");
    }
    for (i, payload) in replies.iter().enumerate().skip(1) {
        let mut r = Reader::new(payload);
        let header = ReplyHeader::read(&mut r).unwrap_or_else(|e| panic!("{name}: reply #{i} header: {e}"));
        let mut again = Vec::new();
        if header.xid == NOTIFICATION_XID {
            let event = WatcherEvent::read(&mut r).unwrap_or_else(|e| panic!("{name}: notification: {e}"));
            zabkeeper_core::wire::encode_notification(header.zxid, &event, &mut again);
        } else {
            // Replies come back in request order; a ping sent with any xid is answered with -2.
            let position = pending
                .iter()
                .position(|(xid, op)| *xid == header.xid || (header.xid == PING_XID && *op == OpCode::Ping))
                .unwrap_or_else(|| panic!("{name}: reply #{i} with xid {} matches no request", header.xid));
            let (_, opcode) = pending.remove(position).expect("position is valid");
            let body = Response::read(opcode, header.err, &mut r)
                .unwrap_or_else(|e| panic!("{name}: reply #{i} to {opcode:?} does not decode: {e}"));
            encode_reply(&header, &body, &mut again);
        }
        assert!(r.is_empty(), "{name}: reply #{i} has bytes the codec did not read");
        assert_eq!(&again, payload, "{name}: reply #{i} (xid {}) re-encodes", header.xid);
        outcome.replies += 1;
    }
    outcome
}

#[test]
fn every_captured_frame_round_trips_byte_for_byte() {
    let mut files: Vec<_> = std::fs::read_dir(DIR).expect("golden dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let (mut sessions, mut requests, mut replies, mut words) = (0, 0, 0, 0);
    let mut seen = std::collections::BTreeSet::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let c2s = hex(fixture["c2s"].as_str().expect("c2s"));
        let s2c = hex(fixture["s2c"].as_str().expect("s2c"));
        if name.starts_with("4lw-") {
            let first: [u8; 4] = c2s[..4].try_into().unwrap();
            let word = FourLetterWord::parse(&first).unwrap_or_else(|| panic!("{name}: not a four-letter word"));
            assert_eq!(format!("4lw-{}.json", word.as_str()), name);
            words += 1;
            continue;
        }
        let outcome = check_session(&name, &c2s, &s2c);
        sessions += 1;
        requests += outcome.requests;
        replies += outcome.replies;
        seen.extend(outcome.opcodes);
    }
    println!("{sessions} sessions, {requests} requests, {replies} replies, {words} four-letter words");
    assert!(sessions >= 60 && words >= 8, "the captures are all there");
    for op in [
        OpCode::Create,
        OpCode::Delete,
        OpCode::Exists,
        OpCode::GetData,
        OpCode::SetData,
        OpCode::GetAcl,
        OpCode::SetAcl,
        OpCode::GetChildren,
        OpCode::Sync,
        OpCode::Ping,
        OpCode::GetChildren2,
        OpCode::Check,
        OpCode::Multi,
        OpCode::Create2,
        OpCode::Reconfig,
        OpCode::CheckWatches,
        OpCode::RemoveWatches,
        OpCode::CreateContainer,
        OpCode::CreateTtl,
        OpCode::MultiRead,
        OpCode::Auth,
        OpCode::SetWatches,
        OpCode::Sasl,
        OpCode::GetEphemerals,
        OpCode::GetAllChildrenNumber,
        OpCode::SetWatches2,
        OpCode::AddWatch,
        OpCode::WhoAmI,
        OpCode::CloseSession,
    ] {
        assert!(seen.contains(&op), "no capture exercises {op:?}");
    }
}
