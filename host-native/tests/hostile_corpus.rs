//! A corpus of hostile inputs, made from valid ones by a seeded generator (so every run replays
//! the same 1,300 inputs), against real server processes: client frames with and without a
//! session, ConnectRequests, peer frames after a valid handshake, zoo.cfg texts, and damaged
//! data directories. After each input the server still runs; every 50 inputs a good client
//! still reads and writes; at the end every write it was told succeeded is there, on every
//! member. (A mutated input may well be valid; what counts is that nothing takes a server down
//! or loses an acknowledged write.)

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{Client, Member, create, ensemble, exists_after_sync, get, peer_frame, peer_handshake, quorum_port};
use zabkeeper::config::Settings;
use zabkeeper_core::ids::{SessionId, Zxid};
use zabkeeper_core::server::PeerMessage;
use zabkeeper_core::tree::Acl;
use zabkeeper_core::txn::{CreateTxn, Txn, WriteOp};
use zabkeeper_core::wire::records::{
    AddWatchRequest, AuthPacket, CreateRequest, CreateTtlRequest, GetEphemeralsRequest, PathRecord, PathVersion,
    PathWatch, SetAclRequest, SetDataRequest, SetWatches, WatchesRequest,
};
use zabkeeper_core::wire::{ConnectRequest, MultiOp, Request, write_frame};
use zabkeeper_core::zab::{Entry, Message, ServerState, Vote};

/// xorshift64*: the corpus generator (a fixed seed per kind of input).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One hostile variant of `valid`: truncated, bytes flipped, a length or an int overwritten
/// with an edge value, bytes inserted or repeated, or garbage appended.
fn mutate(g: &mut Gen, valid: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    let edges: [u32; 8] = [0, 1, 0x7f, 0x80, 0xff, 0xffff_ffff, 0x7fff_ffff, 0x8000_0000];
    for _ in 0..=g.below(3) {
        if b.is_empty() {
            b.push(g.next() as u8);
        }
        let at = g.below(b.len());
        match g.below(6) {
            0 => b.truncate(at),
            1 => b[at] ^= 1 << g.below(8),
            2 => {
                let edge = edges[g.below(edges.len())].to_be_bytes();
                let end = (at + 4).min(b.len());
                b[at..end].copy_from_slice(&edge[..end - at]);
            }
            3 => b.insert(at, g.next() as u8),
            4 => {
                let len = g.below(16).min(b.len() - at);
                let copy = b[at..at + len].to_vec();
                b.splice(at..at, copy);
            }
            _ => b.extend((0..g.below(64)).map(|_| g.next() as u8)),
        }
    }
    b
}

/// Valid client request frames (length prefix included), one or more of every opcode kind.
fn valid_requests() -> Vec<Vec<u8>> {
    let acl = Acl::open_unsafe();
    let create = CreateRequest { path: "/corpus/n".into(), data: Some(b"v".to_vec()), acl: acl.clone(), flags: 0 };
    let requests = vec![
        Request::Create(create.clone()),
        Request::Create2(CreateRequest { flags: 2, ..create.clone() }),
        Request::CreateContainer(CreateRequest { flags: 4, ..create.clone() }),
        Request::CreateTtl(CreateTtlRequest {
            path: "/corpus/t".into(),
            data: None,
            acl: acl.clone(),
            flags: 5,
            ttl: 100,
        }),
        Request::Delete(PathVersion { path: "/corpus/n".into(), version: -1 }),
        Request::Exists(PathWatch { path: "/corpus".into(), watch: true }),
        Request::GetData(PathWatch { path: "/kept".into(), watch: true }),
        Request::SetData(SetDataRequest { path: "/corpus".into(), data: Some(vec![1; 40]), version: -1 }),
        Request::GetAcl(PathRecord { path: "/kept".into() }),
        Request::SetAcl(SetAclRequest { path: "/corpus".into(), acl: acl.clone(), version: -1 }),
        Request::GetChildren(PathWatch { path: "/".into(), watch: true }),
        Request::GetChildren2(PathWatch { path: "/".into(), watch: false }),
        Request::Sync(PathRecord { path: "/".into() }),
        Request::Ping,
        Request::Check(PathVersion { path: "/kept".into(), version: 0 }),
        Request::Multi(vec![
            MultiOp::Create(create.clone()),
            MultiOp::SetData(SetDataRequest { path: "/corpus/n".into(), data: None, version: 0 }),
            MultiOp::Delete(PathVersion { path: "/corpus/n".into(), version: -1 }),
        ]),
        Request::MultiRead(vec![MultiOp::GetData(PathWatch { path: "/kept".into(), watch: false })]),
        Request::CheckWatches(WatchesRequest { path: "/kept".into(), watcher_type: 1 }),
        Request::RemoveWatches(WatchesRequest { path: "/kept".into(), watcher_type: 3 }),
        Request::Auth(AuthPacket { auth_type: 0, scheme: "digest".into(), auth: Some(b"eve:pw".to_vec()) }),
        Request::SetWatches(SetWatches {
            relative_zxid: 0,
            data_watches: vec!["/kept".into()],
            exist_watches: vec![],
            child_watches: vec!["/".into()],
        }),
        Request::GetEphemerals(GetEphemeralsRequest { prefix: Some("/".into()) }),
        Request::GetAllChildrenNumber(PathRecord { path: "/".into() }),
        Request::AddWatch(AddWatchRequest { path: "/".into(), mode: 1 }),
        Request::WhoAmI,
        Request::CloseSession,
    ];
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut bytes = Vec::new();
            write_frame(&mut bytes, |b| r.encode(i as i32 + 1, b));
            bytes
        })
        .collect()
}

fn connect_frame(session: i64, passwd: Vec<u8>) -> Vec<u8> {
    let request = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 4000,
        session_id: session,
        passwd: Some(passwd),
        read_only: Some(false),
    };
    let mut bytes = Vec::new();
    write_frame(&mut bytes, |b| request.encode(b));
    bytes
}

/// Sends `bytes` on a new connection (after a valid handshake if `session`) and reads until the
/// server closes it or goes quiet.
fn throw(addr: SocketAddr, session: bool, bytes: &[u8]) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        panic!("the server stopped accepting connections");
    };
    stream.set_read_timeout(Some(Duration::from_millis(150))).unwrap();
    if session {
        let _ = stream.write_all(&connect_frame(0, vec![0; 16]));
    }
    let _ = stream.write_all(bytes);
    let mut sink = [0u8; 4096];
    while let Ok(n) = stream.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}

/// The server is still running, and a good client is served (a write it is told succeeded is
/// recorded in `acked`). A mutated ConnectRequest that kept the good session's id and password
/// took the session over, as any client holding them may: then the good client resumes it.
fn still_serving(member: &mut Member, good: &mut Client, acked: &mut Vec<String>, step: usize) {
    assert!(member.wait_exit(Duration::ZERO).is_none(), "the server exited after input {step}");
    if good.call(get("/kept")).is_none() {
        let (resumed, answer) =
            Client::connect(member.client, good.session, good.passwd.clone(), 4000).expect("the session resumes");
        assert_eq!(answer.session_id, good.session, "the good session is still there after input {step}");
        *good = resumed;
    }
    let path = format!("/kept/w{step}");
    let (header, _) = good.call(create(&path, b"ok", 0)).unwrap_or_else(|| panic!("no answer after input {step}"));
    assert_eq!(header.err, 0, "write after input {step}");
    acked.push(path);
    assert_eq!(good.must(get("/kept")).0.err, 0);
}

#[test]
fn a_standalone_server_survives_the_client_corpus() {
    let dir = common::scratch("corpus-client");
    let mut server = common::standalone(&dir);
    let mut good = Client::open(server.client).expect("a good session");
    assert_eq!(good.must(create("/kept", b"v", 0)).0.err, 0);
    assert_eq!(good.must(create("/corpus", b"", 0)).0.err, 0);
    let mut acked = Vec::new();
    let valid = valid_requests();
    let mut g = Gen(0x5eed_c11e);
    let mut step = 0;
    // 700 request frames: 2 in 3 on a session, the rest as a connection's first bytes.
    for i in 0..700 {
        let input = mutate(&mut g, &valid[i % valid.len()]);
        throw(server.client, i % 3 != 0, &input);
        step += 1;
        if step % 50 == 0 {
            still_serving(&mut server, &mut good, &mut acked, step);
        }
    }
    // 100 ConnectRequests (new and resumed sessions), and 50 things that look like words.
    let connects = [connect_frame(0, vec![0; 16]), connect_frame(good.session, good.passwd.clone())];
    for i in 0..100 {
        let input = mutate(&mut g, &connects[i % 2]);
        throw(server.client, false, &input);
        step += 1;
        if step % 50 == 0 {
            still_serving(&mut server, &mut good, &mut acked, step);
        }
    }
    for _ in 0..50 {
        let input = mutate(&mut g, b"srvr");
        throw(server.client, false, &input);
        step += 1;
    }
    still_serving(&mut server, &mut good, &mut acked, step);
    server.restart(true);
    for path in &acked {
        assert!(exists_after_sync(server.client, path), "{path} lost");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Valid peer messages, as postcard payloads.
fn valid_peer_messages() -> Vec<Vec<u8>> {
    let entry = Entry {
        zxid: Zxid::new(1, 1),
        time_ms: 5,
        session: SessionId(1),
        cxid: 1,
        txn: Txn::Create(CreateTxn {
            path: "/corpus/p".into(),
            data: None,
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: 1,
        }),
    };
    let vote = Vote {
        leader: zabkeeper_core::ids::ServerId(2),
        zxid: Zxid::new(1, 1),
        epoch: 1,
        round: 1,
        state: ServerState::Looking,
        non_voting: false,
        no_txn: false,
        accepted_epoch: 1,
    };
    let messages = [
        PeerMessage::Zab(Message::Vote(vote)),
        PeerMessage::Zab(Message::Ping { epoch: 1, committed: Zxid::new(1, 1) }),
        PeerMessage::Zab(Message::Proposal { epoch: 1, entries: vec![entry.into()] }),
        PeerMessage::Zab(Message::Commit { epoch: 1, zxid: Zxid::new(1, 1) }),
        PeerMessage::Zab(Message::Ack { epoch: 1, zxid: Zxid::new(1, 1) }),
        PeerMessage::Zab(Message::FollowerInfo { accepted_epoch: 1, observer: false, blank: false, nonce: 7 }),
        PeerMessage::Forward {
            epoch: 1,
            nonce: 1,
            seq: 1,
            session: SessionId(1),
            cxid: 1,
            op: Box::new(WriteOp::CloseSession),
            auth: Default::default(),
        },
    ];
    messages.iter().map(|m| postcard::to_allocvec(m).unwrap()).collect()
}

#[test]
fn an_ensemble_survives_the_peer_corpus_and_loses_no_acknowledged_write() {
    let base = common::scratch("corpus-peer");
    let mut members = ensemble(&base, 3);
    for m in &mut members {
        m.spawn();
    }
    common::wait_for_leader_and_followers(&members);
    let valid = valid_peer_messages();
    let mut g = Gen(0x0bad_9ee2);
    let mut acked: Vec<String> = Vec::new();
    let mut good = Client::open(members[0].client).expect("a good session");
    assert_eq!(good.must(create("/kept", b"v", 0)).0.err, 0);
    for i in 0..200 {
        let target = i % 3;
        let me = target as u64 + 1;
        let addr = SocketAddr::from(([127, 0, 0, 1], quorum_port(&members[target].config, me)));
        let payload = mutate(&mut g, &valid[i % valid.len()]);
        // Half with a correct length and checksum around the mutated payload, half mutated whole.
        let frame =
            if i % 2 == 0 { peer_frame(&payload) } else { mutate(&mut g, &peer_frame(&valid[i % valid.len()])) };
        let (mut stream, answer) = peer_handshake(addr, me % 3 + 1, false);
        if answer.is_some() {
            let _ = stream.write_all(&frame);
            stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            let _ = stream.read(&mut [0u8; 1]);
        }
        for (j, m) in members.iter_mut().enumerate() {
            assert!(m.wait_exit(Duration::ZERO).is_none(), "member {} exited after peer input {i}", j + 1);
        }
        if i % 50 == 49 {
            // Forged votes and pings may cost the ensemble an election: a write is retried
            // until one is acknowledged, and only acknowledged ones are counted.
            let path = format!("/kept/p{i}");
            common::wait_for(&format!("a write after peer input {i}"), || {
                let answer = Client::open(members[i % 3].client).and_then(|mut c| c.call(create(&path, b"ok", 0)));
                answer.is_some_and(|(h, _)| h.err == 0 || h.err == -110)
            });
            acked.push(path);
        }
    }
    drop(good);
    common::wait_for_leader_and_followers(&members);
    for m in &members {
        for path in &acked {
            assert!(exists_after_sync(m.client, path), "{path} lost on {}", m.client);
        }
    }
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn zoo_cfg_mutations_are_errors_or_settings_never_a_panic() {
    let valid = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/var/lib/zk\nclientPort=2181\n\
                 server.1=127.0.0.1:2888:3888;127.0.0.1:2181\nserver.2=127.0.0.1:2889:3889:observer\n\
                 4lw.commands.whitelist=srvr,ruok\nmaxClientCnxns=60\nsecureClientPort=2281\n\
                 ssl.keyStore.location=/k.pem\nssl.clientAuth=want\nenforce.auth.enabled=true\n\
                 enforce.auth.schemes=digest\nquorum.auth.secretFile=/s\nglobalOutstandingLimit=10\n";
    let mut g = Gen(0xc0f1_9000);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..200 {
        let bytes = mutate(&mut g, valid.as_bytes());
        let text = String::from_utf8_lossy(&bytes);
        match std::panic::catch_unwind(|| Settings::from_text(&text)) {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                assert!(!e.0.is_empty());
                refused += 1;
            }
            Err(_) => panic!("zoo.cfg parsing panicked on {text:?}"),
        }
    }
    assert!(ok > 0 && refused > 0, "the corpus has both kinds: {ok} ok, {refused} refused");
    eprintln!("zoo.cfg mutations: {ok} parsed, {refused} refused with a message");
}

#[test]
fn damaged_data_directories_are_refused_or_recovered_never_a_crash() {
    let dir = common::scratch("corpus-disk");
    let mut server = common::standalone(&dir);
    let mut c = Client::open(server.client).expect("a session");
    for i in 0..30 {
        assert_eq!(c.must(create(&format!("/d{i}"), &[i as u8; 300], 0)).0.err, 0);
    }
    drop(c);
    assert!(server.stop().is_some_and(|s| s.success()));
    let data = dir.join("data").join(zabkeeper::storage::SUBDIR);
    let files: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().path()).collect();
    let originals: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let mut g = Gen(0xd15c_0001);
    let (mut served, mut refused) = (0, 0);
    for i in 0..100 {
        let which = g.below(files.len());
        std::fs::write(&files[which], mutate(&mut g, &originals[which])).unwrap();
        server.spawn();
        let outcome = loop {
            if let Some(status) = server.wait_exit(Duration::from_millis(20)) {
                break Err(status);
            }
            if common::mode(server.client).is_some_and(|m| m == "standalone") {
                break Ok(());
            }
        };
        match outcome {
            Ok(()) => {
                served += 1;
                server.kill();
            }
            Err(status) => {
                // A refusal is exit code 1 with a message; a panic (101) or a signal is a crash.
                assert_eq!(status.code(), Some(1), "damage {i} in {}: {status}", files[which].display());
                refused += 1;
            }
        }
        std::fs::write(&files[which], &originals[which]).unwrap();
    }
    assert!(served + refused == 100);
    eprintln!("damaged data directories: {served} recovered and served, {refused} refused with a message");
    let _ = std::fs::remove_dir_all(&dir);
}
