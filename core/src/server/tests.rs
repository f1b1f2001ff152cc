//! Servers driven through their inputs only, with clients speaking real wire bytes: a small
//! in-memory host with instant disks and an in-order network.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::session;
use crate::tree::Acl;
use crate::wire::records::CreateResponse;
use crate::wire::records::{AddWatchRequest, PathRecord, ReplyHeader, WatcherEvent};
use crate::wire::records::{AuthPacket, CreateRequest, PathVersion, PathWatch, SetDataRequest, WatchesRequest};
use crate::wire::{
    AUTH_XID, ConnectRequest, ConnectResponse, Jute, MultiOp, OpCode, Reader, Request, Response, SET_WATCHES_XID,
};

struct Net {
    servers: Vec<Server>,
    queue: VecDeque<(usize, ServerInput)>,
    now: u64,
    /// Frames each client received, in order.
    inbox: BTreeMap<ConnId, VecDeque<Vec<u8>>>,
    closed: BTreeSet<ConnId>,
    /// Which server each client is connected to.
    at: BTreeMap<ConnId, usize>,
    /// Opcode of each outstanding xid per client, to decode replies.
    asked: BTreeMap<(ConnId, i32), OpCode>,
    down: BTreeSet<usize>,
    /// Forwarded writes from this server are held back here (a network that delays them).
    hold_forwards: Option<(usize, Vec<(usize, ServerInput)>)>,
}

impl Net {
    fn new(n: u64) -> Net {
        Net::with(n, |_| {})
    }

    fn with(n: u64, tweak: impl Fn(&mut ServerConfig)) -> Net {
        let voters: Vec<ServerId> = (1..=n).map(ServerId).collect();
        let servers = voters
            .iter()
            .map(|&id| {
                let mut zab = zab::Config::new(id, voters.clone(), vec![]);
                zab.tick_ms = 100;
                zab.finalize_wait_ms = 10;
                let mut config = ServerConfig::new(zab);
                config.prep.extended_types = true;
                tweak(&mut config);
                Server::new(config, id.0, Durable::default(), Database::default(), 1_000)
            })
            .collect();
        let mut net = Net {
            servers,
            queue: VecDeque::new(),
            now: 1_000,
            inbox: BTreeMap::new(),
            closed: BTreeSet::new(),
            at: BTreeMap::new(),
            asked: BTreeMap::new(),
            down: BTreeSet::new(),
            hold_forwards: None,
        };
        net.run(2_000);
        assert!(net.servers.iter().all(|s| s.peer().is_serving()), "all serving");
        net
    }

    fn leader(&self) -> usize {
        self.servers.iter().position(|s| s.peer().is_established_leader()).expect("a leader")
    }

    fn pump(&mut self) {
        while let Some((i, input)) = self.queue.pop_front() {
            if self.down.contains(&i) {
                continue;
            }
            let mut out = Vec::new();
            let from = self.servers[i].peer().id();
            self.servers[i].step(self.now, input, &mut out);
            for o in out {
                match o {
                    ServerOutput::Peer { to, msg } => {
                        let delivery = ((to.0 - 1) as usize, ServerInput::Peer { from, msg });
                        match &mut self.hold_forwards {
                            Some((held_from, held))
                                if *held_from == i
                                    && matches!(
                                        delivery.1,
                                        ServerInput::Peer { msg: PeerMessage::Forward { .. }, .. }
                                    ) =>
                            {
                                held.push(delivery)
                            }
                            _ => self.queue.push_back(delivery),
                        }
                    }
                    ServerOutput::Persist { seq, .. } => self.queue.push_back((i, ServerInput::Persisted { seq })),
                    ServerOutput::Send { conn, mut bytes } => {
                        let inbox = self.inbox.entry(conn).or_default();
                        while bytes.len() >= 4 {
                            let len = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
                            let rest = bytes.split_off(4 + len);
                            inbox.push_back(bytes[4..].to_vec());
                            bytes = rest;
                        }
                    }
                    ServerOutput::Close { conn } => {
                        self.closed.insert(conn);
                    }
                    ServerOutput::Event(_) | ServerOutput::Login(_) => {}
                }
            }
        }
    }

    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 10 {
            self.now += 10;
            for i in 0..self.servers.len() {
                self.queue.push_back((i, ServerInput::Tick));
            }
            self.pump();
        }
    }

    fn frame(&mut self, conn: ConnId, payload: Vec<u8>) {
        let i = self.at[&conn];
        self.queue.push_back((i, ServerInput::Frame { conn, payload }));
        self.pump();
    }

    /// Opens a connection and a new session; returns the ConnectResponse.
    fn connect(&mut self, server: usize, conn: ConnId, session: i64, passwd: Vec<u8>) -> ConnectResponse {
        self.connect_start(server, conn, session, passwd);
        self.connect_reply(conn).expect("a ConnectResponse")
    }

    /// Sends a ConnectRequest and runs 50 ms.
    fn connect_start(&mut self, server: usize, conn: ConnId, session: i64, passwd: Vec<u8>) {
        self.at.insert(conn, server);
        let addr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
        self.queue.push_back((server, ServerInput::Connected { conn, addr, x509: None }));
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 30_000,
            session_id: session,
            passwd: Some(passwd),
            read_only: Some(false),
        };
        let mut payload = Vec::new();
        request.encode(&mut payload);
        self.frame(conn, payload);
        self.run(50);
    }

    fn connect_reply(&mut self, conn: ConnId) -> Option<ConnectResponse> {
        let frame = self.inbox.get_mut(&conn).and_then(|q| q.pop_front())?;
        Some(ConnectResponse::decode(&frame).unwrap())
    }

    fn open(&mut self, server: usize, conn: ConnId) -> ConnectResponse {
        self.connect(server, conn, 0, vec![0; 16])
    }

    fn send(&mut self, conn: ConnId, xid: i32, request: Request) {
        self.asked.insert((conn, xid), request.opcode());
        let mut payload = Vec::new();
        request.encode(xid, &mut payload);
        self.frame(conn, payload);
    }

    /// Every frame the client has received since last asked: replies decoded by the opcode of
    /// their xid, notifications as (-1, event).
    fn received(&mut self, conn: ConnId) -> Vec<Got> {
        let frames: Vec<Vec<u8>> = self.inbox.get_mut(&conn).map(|q| q.drain(..).collect()).unwrap_or_default();
        frames
            .into_iter()
            .map(|f| {
                let mut r = Reader::new(&f);
                let header = ReplyHeader::read(&mut r).unwrap();
                if header.xid == -1 {
                    let event = WatcherEvent::read(&mut r).unwrap();
                    return Got::Event(event.event_type, event.path);
                }
                let opcode = match header.xid {
                    -2 => OpCode::Ping,
                    -4 => OpCode::Auth,
                    -8 => OpCode::SetWatches,
                    xid => self.asked[&(conn, xid)],
                };
                let body = Response::read(opcode, header.err, &mut r).unwrap();
                Got::Reply(header, body)
            })
            .collect()
    }

    fn call(&mut self, conn: ConnId, xid: i32, request: Request) -> (ReplyHeader, Response) {
        self.send(conn, xid, request);
        self.run(50);
        let got = self.received(conn);
        let replies: Vec<(ReplyHeader, Response)> = got
            .into_iter()
            .filter_map(|g| match g {
                Got::Reply(h, b) => Some((h, b)),
                Got::Event(..) => None,
            })
            .collect();
        assert_eq!(replies.len(), 1, "one reply: {replies:?}");
        replies.into_iter().next().unwrap()
    }
}

#[derive(Debug, PartialEq)]
enum Got {
    Reply(ReplyHeader, Response),
    Event(i32, String),
}

fn create(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create(CreateRequest { path: path.into(), data: Some(data.to_vec()), acl: Acl::open_unsafe(), flags })
}

fn get(path: &str, watch: bool) -> Request {
    Request::GetData(PathWatch { path: path.into(), watch })
}

#[test]
fn a_standalone_server_opens_sessions_and_serves_reads_and_writes() {
    let mut net = Net::new(1);
    let hello = net.open(0, 1);
    assert_eq!(hello.session_id >> 56, 1, "server id in the top byte");
    assert_eq!(hello.timeout_ms, 2_000, "30 s asked, clamped to 20 ticks of 100 ms");
    assert_eq!(hello.passwd.as_ref().map(Vec::len), Some(16));

    let (h, body) = net.call(1, 1, create("/a", b"one", 0));
    assert_eq!((h.xid, h.err), (1, 0));
    assert_eq!(body, Response::Create(CreateResponse { path: "/a".into() }));
    let created = h.zxid;
    assert!(created > 0);

    let (h, body) = net.call(1, 2, get("/a", false));
    let Response::GetData(r) = body else { panic!("{body:?}") };
    assert_eq!((h.err, h.zxid, r.data.as_deref(), r.stat.czxid), (0, created, Some(&b"one"[..]), created));

    let (h, _) = net.call(1, 3, create("/a", b"", 0));
    assert_eq!(h.err, ErrorCode::NodeExists.code());
    assert!(h.zxid > created, "a failed write still takes a zxid");
    let bad = Request::SetData(SetDataRequest { path: "/a".into(), data: None, version: 7 });
    assert_eq!(net.call(1, 4, bad).0.err, ErrorCode::BadVersion.code());
    let del = Request::Delete(PathVersion { path: "/nope".into(), version: -1 });
    assert_eq!(net.call(1, 5, del).0.err, ErrorCode::NoNode.code());
    let (h, _) = net.call(1, 6, Request::Ping);
    assert_eq!((h.xid, h.err), (-2, 0));
}

#[test]
fn replies_keep_request_order_and_a_read_sees_its_own_earlier_write() {
    let mut net = Net::new(3);
    let follower = (net.leader() + 1) % 3;
    net.open(follower, 1);
    // Pipelined: write, read, write, read, without waiting.
    net.send(1, 1, create("/p", b"x", 0));
    net.send(1, 2, get("/p", false));
    net.send(1, 3, Request::SetData(SetDataRequest { path: "/p".into(), data: Some(b"y".to_vec()), version: 0 }));
    net.send(1, 4, get("/p", false));
    net.run(200);
    let got = net.received(1);
    let xids: Vec<i32> = got
        .iter()
        .map(|g| match g {
            Got::Reply(h, _) => h.xid,
            Got::Event(..) => 0,
        })
        .collect();
    assert_eq!(xids, vec![1, 2, 3, 4]);
    let Got::Reply(_, Response::GetData(first)) = &got[1] else { panic!("{got:?}") };
    let Got::Reply(_, Response::GetData(second)) = &got[3] else { panic!("{got:?}") };
    assert_eq!((first.data.as_deref(), second.data.as_deref()), (Some(&b"x"[..]), Some(&b"y"[..])));
}

#[test]
fn a_watch_event_arrives_before_the_reply_that_reveals_the_change() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    net.open(a, 1);
    net.open(b, 2);
    let (h, _) = net.call(1, 1, Request::Exists(PathWatch { path: "/w".into(), watch: true }));
    assert_eq!(h.err, ErrorCode::NoNode.code());
    net.call(1, 2, Request::GetChildren(PathWatch { path: "/".into(), watch: true }));
    net.call(2, 1, create("/w", b"", 0));
    // Client 1 reads /w: the two events come first, each once.
    net.send(1, 3, get("/w", true));
    net.run(100);
    let got = net.received(1);
    assert_eq!(got[0], Got::Event(1, "/w".into()), "{got:?}");
    assert_eq!(got[1], Got::Event(4, "/".into()), "{got:?}");
    assert!(matches!(&got[2], Got::Reply(h, Response::GetData(_)) if h.xid == 3), "{got:?}");
    assert_eq!(got.len(), 3);
    // One-shot: a second create fires nothing on the exist watch; the data watch fires once.
    net.call(2, 2, Request::SetData(SetDataRequest { path: "/w".into(), data: None, version: -1 }));
    net.run(100);
    assert_eq!(net.received(1), vec![Got::Event(3, "/w".into())]);
    net.call(2, 3, Request::SetData(SetDataRequest { path: "/w".into(), data: None, version: -1 }));
    net.run(100);
    assert!(net.received(1).is_empty());
}

#[test]
fn closing_a_session_deletes_its_ephemerals_and_tells_watchers() {
    let mut net = Net::new(3);
    let leader = net.leader();
    net.open(leader, 1);
    net.open((leader + 1) % 3, 2);
    net.call(1, 1, create("/eph", b"", 1));
    net.call(2, 1, get("/eph", true));
    let (h, _) = net.call(1, 2, Request::CloseSession);
    assert_eq!(h.err, 0);
    assert!(net.closed.contains(&1), "closed after the reply");
    net.run(100);
    assert_eq!(net.received(2), vec![Got::Event(2, "/eph".into())]);
    assert_eq!(net.call(2, 2, get("/eph", false)).0.err, ErrorCode::NoNode.code());
}

#[test]
fn a_dropped_client_keeps_its_session_until_it_expires() {
    let mut net = Net::new(3);
    let follower = (net.leader() + 1) % 3;
    let hello = net.open(follower, 1);
    net.call(1, 1, create("/lease", b"", 1));
    let i = net.at[&1];
    net.queue.push_back((i, ServerInput::Disconnected { conn: 1 }));
    net.pump();
    net.run(1_000);
    net.open(follower, 2);
    assert_eq!(net.call(2, 1, get("/lease", false)).0.err, 0, "alive within its 2 s timeout");
    // Reconnect elsewhere with the password: the same session, the node still there.
    let other = (follower + 1) % 3;
    let back = net.connect(other, 3, hello.session_id, hello.passwd.clone().unwrap());
    assert_eq!(back.session_id, hello.session_id);
    net.call(3, 1, Request::Ping);
    net.queue.push_back((other, ServerInput::Disconnected { conn: 3 }));
    net.pump();
    // Nobody hears from it for its timeout plus a tick: the leader expires it.
    net.run(2_500);
    assert!(net.closed.contains(&2), "client 2 never pinged: its session expired too");
    net.open(follower, 5);
    assert_eq!(net.call(5, 1, get("/lease", false)).0.err, ErrorCode::NoNode.code());
    let gone = net.connect(other, 4, hello.session_id, hello.passwd.unwrap());
    assert_eq!((gone.session_id, gone.timeout_ms), (0, 0), "expired");
    assert!(net.closed.contains(&4));
}

#[test]
fn a_wrong_password_is_refused_and_closed_and_the_session_lives_on() {
    let mut net = Net::new(1);
    let hello = net.open(0, 1);
    let refused = net.connect(0, 2, hello.session_id, vec![1; 16]);
    assert_eq!((refused.session_id, refused.timeout_ms), (0, 0));
    assert!(net.closed.contains(&2));
    // ZooKeeper closes the session's live connection too, so anyone who knows a session id
    // can cut its owner off; here only the connection that failed the check is closed.
    assert!(!net.closed.contains(&1));
    assert_eq!(net.call(1, 1, get("/", false)).0.err, 0);
}

#[test]
fn a_password_computed_from_the_session_id_is_refused_on_every_member() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let hello = net.open(leader, 1);
    let session = SessionId(hello.session_id);
    let kept = hello.passwd.clone().unwrap();
    assert_ne!(kept, session::legacy_password(session).to_vec(), "not derived from the id alone");
    let other = net.open(leader, 2);
    assert_ne!(other.passwd, hello.passwd);
    for (conn, server) in (10..).zip(0..3) {
        // What the old scheme (and ZooKeeper's) let anyone compute from the public id.
        let forged = net.connect(server, conn, hello.session_id, session::legacy_password(session).to_vec());
        assert_eq!(forged.session_id, 0, "server {server}");
        assert!(net.closed.contains(&conn));
    }
    // The owner reconnects anywhere with the password it was given.
    let back = net.connect((leader + 1) % 3, 20, hello.session_id, kept);
    assert_eq!(back.session_id, hello.session_id);
    assert!(!net.closed.contains(&20));
}

#[test]
fn sync_then_read_on_a_follower_sees_every_write_acknowledged_before() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    net.open(a, 1);
    net.open(b, 2);
    net.call(1, 1, create("/s", b"v", 0));
    net.send(2, 1, Request::Sync(PathRecord { path: "/s".into() }));
    net.send(2, 2, get("/s", false));
    net.run(200);
    let got = net.received(2);
    assert!(matches!(&got[0], Got::Reply(h, Response::Sync(p)) if h.xid == 1 && p.path == "/s"), "{got:?}");
    assert!(matches!(&got[1], Got::Reply(h, Response::GetData(_)) if h.err == 0), "{got:?}");
}

#[test]
fn digest_auth_guards_nodes_and_who_am_i_reports_it() {
    assert_eq!(digest_id("alice:secret"), "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=");
    let mut net = Net::new(1);
    net.open(0, 1);
    net.open(0, 2);
    let auth = AuthPacket { auth_type: 0, scheme: "digest".into(), auth: Some(b"alice:secret".to_vec()) };
    net.send(1, AUTH_XID, Request::Auth(auth));
    let got = net.received(1);
    assert!(matches!(&got[0], Got::Reply(h, _) if h.xid == AUTH_XID && h.err == 0), "{got:?}");
    let private = Request::Create(CreateRequest {
        path: "/private".into(),
        data: Some(b"s".to_vec()),
        acl: vec![Acl::new(31, "auth", "")],
        flags: 0,
    });
    assert_eq!(net.call(1, 1, private).0.err, 0);
    assert_eq!(net.call(1, 2, get("/private", false)).0.err, 0);
    assert_eq!(net.call(2, 1, get("/private", false)).0.err, ErrorCode::NoAuth.code());
    let (_, body) = net.call(1, 3, Request::WhoAmI);
    let Response::WhoAmI(who) = body else { panic!("{body:?}") };
    let names: Vec<(&str, &str)> = who.client_info.iter().map(|c| (c.auth_scheme.as_str(), c.user.as_str())).collect();
    assert_eq!(names, vec![("ip", "127.0.0.1"), ("digest", "alice")]);
    // An unknown scheme fails the connection.
    let bad = AuthPacket { auth_type: 0, scheme: "kerberos".into(), auth: None };
    net.send(2, AUTH_XID, Request::Auth(bad));
    assert!(net.closed.contains(&2));
}

#[test]
fn bad_bytes_close_that_client_only() {
    let mut net = Net::new(1);
    net.open(0, 1);
    net.open(0, 2);
    // Too short for a request header: closed.
    net.frame(1, vec![0, 0, 0, 5, 0, 0]);
    assert!(net.closed.contains(&1));
    // An unknown opcode is answered with Unimplemented, then closed.
    let mut payload = Vec::new();
    payload.extend_from_slice(&9i32.to_be_bytes());
    payload.extend_from_slice(&999i32.to_be_bytes());
    net.asked.insert((2, 9), OpCode::Ping);
    net.frame(2, payload);
    let got = net.received(2);
    assert!(matches!(&got[0], Got::Reply(h, _) if h.xid == 9 && h.err == -6 && h.zxid == -1), "{got:?}");
    assert!(net.closed.contains(&2));
    net.open(0, 3);
    assert_eq!(net.call(3, 1, create("/still", b"", 0)).0.err, 0);
}

#[test]
fn persistent_recursive_watches_and_remove_watches() {
    let mut net = Net::new(1);
    net.open(0, 1);
    net.open(0, 2);
    let add = Request::AddWatch(AddWatchRequest { path: "/r".into(), mode: 1 });
    assert_eq!(net.call(1, 1, add).0.err, 0);
    net.call(2, 1, create("/r", b"", 0));
    net.call(2, 2, create("/r/c", b"", 0));
    net.call(2, 3, Request::SetData(SetDataRequest { path: "/r/c".into(), data: None, version: -1 }));
    net.run(50);
    assert_eq!(
        net.received(1),
        vec![Got::Event(1, "/r".into()), Got::Event(1, "/r/c".into()), Got::Event(3, "/r/c".into())]
    );
    let remove = Request::RemoveWatches(WatchesRequest { path: "/r".into(), watcher_type: 3 });
    assert_eq!(net.call(1, 2, remove.clone()).0.err, 0);
    assert_eq!(net.call(1, 3, remove).0.err, ErrorCode::NoWatcher.code());
}

#[test]
fn the_leader_deletes_empty_containers_and_expired_ttl_nodes() {
    let mut net = Net::with(3, |c| c.container_check_ms = 300);
    let follower = (net.leader() + 1) % 3;
    net.open(follower, 1);
    let container =
        Request::CreateContainer(CreateRequest { path: "/c".into(), data: None, acl: Acl::open_unsafe(), flags: 4 });
    assert_eq!(net.call(1, 1, container).0.err, 0);
    let unused = Request::CreateContainer(CreateRequest {
        path: "/unused".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 4,
    });
    assert_eq!(net.call(1, 2, unused).0.err, 0);
    assert_eq!(net.call(1, 3, create("/c/child", b"", 0)).0.err, 0);
    let ttl = Request::CreateTtl(crate::wire::records::CreateTtlRequest {
        path: "/t".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 5,
        ttl: 400,
    });
    assert_eq!(net.call(1, 4, ttl).0.err, 0);
    net.run(1_000);
    assert_eq!(net.call(1, 5, get("/c", false)).0.err, 0, "a container with a child stays");
    assert_eq!(net.call(1, 6, get("/t", false)).0.err, ErrorCode::NoNode.code(), "the TTL node expired");
    net.call(1, 7, Request::Delete(PathVersion { path: "/c/child".into(), version: -1 }));
    net.run(1_000);
    assert_eq!(net.call(1, 8, get("/c", false)).0.err, ErrorCode::NoNode.code(), "the emptied container went");
    assert_eq!(net.call(1, 9, get("/unused", false)).0.err, 0, "a never-used container stays");
}

#[test]
fn a_request_through_the_old_connection_of_a_moved_session_fails_with_session_moved() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    let hello = net.open(a, 1);
    assert_eq!(net.call(1, 1, create("/m", b"", 0)).0.err, 0);
    // The client moves to b with the same session; its old connection on a stays open.
    let moved = net.connect(b, 2, hello.session_id, hello.passwd.clone().unwrap());
    assert_eq!(moved.session_id, hello.session_id);
    assert_eq!(net.call(2, 2, create("/m2", b"", 0)).0.err, 0);
    let (h, _) = net.call(1, 3, create("/m3", b"", 0));
    assert_eq!(h.err, ErrorCode::SessionMoved.code());
    assert!(net.closed.contains(&1), "the stale connection is closed");
    assert_eq!(net.call(2, 4, get("/m3", false)).0.err, ErrorCode::NoNode.code());
}

#[test]
fn set_watches_after_a_reconnect_fires_what_was_missed_before_its_reply() {
    let mut net = Net::new(1);
    net.open(0, 1);
    net.call(1, 1, create("/x", b"1", 0));
    let (h, _) = net.call(1, 2, create("/y0", b"", 0));
    let seen = h.zxid;
    // While "away": /x changes, /y appears, / gets a child; /quiet does not change.
    net.call(1, 3, Request::SetData(SetDataRequest { path: "/x".into(), data: Some(b"2".to_vec()), version: -1 }));
    net.call(1, 4, create("/y", b"", 0));
    net.call(1, 5, create("/quiet", b"", 0));
    let (h, _) = net.call(1, 6, get("/quiet", false));
    let quiet_seen = h.zxid;
    net.open(0, 2);
    let watches = Request::SetWatches(crate::wire::records::SetWatches {
        relative_zxid: seen,
        data_watches: vec!["/x".into(), "/gone".into()],
        exist_watches: vec!["/y".into(), "/nothere".into()],
        child_watches: vec!["/".into()],
    });
    net.send(2, SET_WATCHES_XID, watches);
    let got = net.received(2);
    assert_eq!(
        got[..4],
        [
            Got::Event(3, "/x".into()),
            Got::Event(2, "/gone".into()),
            Got::Event(1, "/y".into()),
            Got::Event(4, "/".into())
        ]
    );
    assert!(matches!(&got[4], Got::Reply(h, _) if h.xid == SET_WATCHES_XID && h.err == 0), "{got:?}");
    // What did not change is registered and fires later.
    let later = Request::SetWatches(crate::wire::records::SetWatches {
        relative_zxid: quiet_seen,
        data_watches: vec!["/quiet".into()],
        exist_watches: vec![],
        child_watches: vec![],
    });
    net.send(2, SET_WATCHES_XID, later);
    assert_eq!(net.received(2).len(), 1, "only the reply");
    net.call(1, 7, Request::SetData(SetDataRequest { path: "/quiet".into(), data: None, version: -1 }));
    net.run(50);
    assert_eq!(net.received(2), vec![Got::Event(3, "/quiet".into())]);
}

/// Kazoo and many other clients number their requests from 1 again on every connection: a
/// session resumed after a reconnect, on a follower or on the leader, on the same server or
/// another, gets an answer to every write, sync and close, whatever xids it used before.
#[test]
fn a_session_resumed_with_xids_from_1_again_gets_every_reply() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let hello = net.open(follower, 1);
    let passwd = hello.passwd.clone().unwrap();
    for xid in 1..=5 {
        assert_eq!(net.call(1, xid, create(&alloc::format!("/a{xid}"), b"", 0)).0.err, 0);
    }
    // Same server, new connection, xids from 1.
    net.servers[follower].step(net.now, ServerInput::Disconnected { conn: 1 }, &mut Vec::new());
    assert_eq!(net.connect(follower, 2, hello.session_id, passwd.clone()).session_id, hello.session_id);
    assert_eq!(net.call(2, 1, create("/b1", b"", 0)).0.err, 0, "a write with an xid seen before");
    assert_eq!(net.call(2, 2, Request::Sync(PathRecord { path: "/".into() })).0.err, 0);
    // Another follower, then the leader itself, each from 1 again.
    assert_eq!(net.connect(other, 3, hello.session_id, passwd.clone()).session_id, hello.session_id);
    assert_eq!(net.call(3, 1, create("/c1", b"", 0)).0.err, 0);
    assert_eq!(net.connect(leader, 4, hello.session_id, passwd).session_id, hello.session_id);
    assert_eq!(net.call(4, 1, create("/d1", b"", 0)).0.err, 0);
    assert_eq!(net.call(4, 2, Request::Sync(PathRecord { path: "/".into() })).0.err, 0);
    for path in ["/a5", "/b1", "/c1", "/d1"] {
        assert_eq!(net.call(4, 3, get(path, false)).0.err, 0, "{path} is there");
    }
    let (h, _) = net.call(4, 4, Request::CloseSession);
    assert_eq!(h.err, 0, "closeSession is answered");
}

/// A client may use one xid for several requests on one connection: each still gets its own
/// reply, in order.
#[test]
fn requests_sharing_an_xid_on_one_connection_each_get_a_reply() {
    let mut net = Net::new(3);
    let follower = (net.leader() + 1) % 3;
    net.open(follower, 1);
    for path in ["/x", "/y", "/z"] {
        net.send(1, 7, create(path, b"", 0));
    }
    net.run(100);
    let replies: Vec<i32> = net
        .received(1)
        .into_iter()
        .filter_map(|g| match g {
            Got::Reply(h, _) => Some(h.err),
            Got::Event(..) => None,
        })
        .collect();
    assert_eq!(replies, vec![0, 0, 0]);
    for path in ["/x", "/y", "/z"] {
        assert_eq!(net.call(1, 8, get(path, false)).0.err, 0, "{path} is there");
    }
}

/// A write that the old connection of a session left in flight is applied before the session
/// opens on its new connection, so its result is never taken for a new request's.
#[test]
fn a_write_left_in_flight_by_an_old_connection_never_answers_a_new_request() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    let hello = net.open(a, 1);
    // xid 1 is forwarded by a; the connection goes before its reply, and the client resumes
    // on b at once, numbering from 1 again.
    net.send(1, 1, create("/old", b"", 0));
    net.servers[a].step(net.now, ServerInput::Disconnected { conn: 1 }, &mut Vec::new());
    let moved = net.connect(b, 2, hello.session_id, hello.passwd.clone().unwrap());
    assert_eq!(moved.session_id, hello.session_id);
    let (h, body) = net.call(2, 1, create("/new", b"", 0));
    assert_eq!(h.err, 0);
    assert_eq!(body, Response::Create(CreateResponse { path: "/new".into() }), "its own result");
    assert_eq!(net.call(2, 2, get("/old", false)).0.err, 0, "the old write happened, once");
}

/// A write forwarded for a session's old connection is delayed on its way to the leader; the
/// client moves to another follower, writes there, and comes back to the first. The delayed
/// write must not be carried out after the second (FIFO client order): the leader takes the
/// first follower's REVALIDATE in order behind it, so it meets the second follower as the
/// session's owner and is refused. (It used to pass the owner check, the session being owned
/// by the first follower again; the simulator found it, seed 1000391 with 8 clients.)
#[test]
fn a_delayed_forwarded_write_is_never_carried_out_after_the_session_came_back() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    let hello = net.open(a, 1);
    let passwd = hello.passwd.clone().unwrap();
    net.hold_forwards = Some((a, Vec::new()));
    net.send(1, 1, create("/old", b"", 0));
    net.run(50);
    net.servers[a].step(net.now, ServerInput::Disconnected { conn: 1 }, &mut Vec::new());
    net.connect(b, 2, hello.session_id, passwd.clone());
    assert_eq!(net.call(2, 1, create("/b", b"", 0)).0.err, 0);
    net.servers[b].step(net.now, ServerInput::Disconnected { conn: 2 }, &mut Vec::new());
    net.connect_start(a, 3, hello.session_id, passwd);
    assert!(net.connect_reply(3).is_none(), "the reconnect waits behind the delayed write");
    let (_, held) = net.hold_forwards.take().unwrap();
    net.queue.extend(held);
    net.run(50);
    let back = net.connect_reply(3).expect("a ConnectResponse");
    assert_eq!(back.session_id, hello.session_id);
    assert_eq!(net.call(3, 1, get("/old", false)).0.err, ErrorCode::NoNode.code(), "refused, not applied late");
    assert_eq!(net.call(3, 2, get("/b", false)).0.err, 0);
}

/// What a learner forwards is checked on the leader as if it came from a client of that
/// session: a forwarded DeleteContainer (only the leader issues those, and they skip the ACL
/// check) is refused, and a forwarded createSession gets a timeout within the leader's bounds.
#[test]
fn the_leader_checks_what_a_learner_forwards() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let a = (leader + 1) % 3;
    let hello = net.open(leader, 1);
    assert_eq!(net.call(1, 1, create("/guarded", b"", 0)).0.err, 0);
    let from = net.servers[a].peer().id();
    let nonce = net.servers[leader].peer().learner_nonce(from).expect("a follows the leader");
    let epoch = net.servers[leader].peer().current_epoch();
    let forged = |seq, session, op| ServerInput::Peer {
        from,
        msg: PeerMessage::Forward { epoch, nonce, seq, session, cxid: 9, op: Box::new(op), auth: Arc::default() },
    };
    let session = SessionId(hello.session_id);
    net.queue.push_back((leader, forged(1, session, WriteOp::DeleteContainer { path: "/guarded".into() })));
    net.queue.push_back((leader, forged(2, SessionId(0x7777), WriteOp::CreateSession { timeout_ms: i32::MAX })));
    net.run(200);
    assert_eq!(net.call(1, 2, get("/guarded", false)).0.err, 0, "not deleted");
    let timeouts: Vec<i32> = net
        .servers
        .iter()
        .filter_map(|s| s.peer().machine().db().sessions.get(&SessionId(0x7777)))
        .map(|s| s.timeout_ms)
        .collect();
    assert_eq!(timeouts, vec![2_000; 3], "clamped to 20 ticks of 100 ms on every member");
}

/// What ZooKeeper 3.8.0 answers to requests that do not decode, captured from a live server
/// (standalone and on a 3-server ensemble alike): MarshallingError in the request's turn with
/// no body, and the connection and session go on; a deleteContainer from a client is always
/// BadArguments; a multiRead holding a write is refused whole.
#[test]
fn undecodable_requests_are_answered_as_zookeeper_answers_them() {
    let mut net = Net::new(3);
    let follower = (net.leader() + 1) % 3;
    net.open(follower, 1);
    let header = |xid: i32, opcode: i32| {
        let mut p = Vec::new();
        p.extend_from_slice(&xid.to_be_bytes());
        p.extend_from_slice(&opcode.to_be_bytes());
        p
    };
    let err_of = |net: &mut Net, conn: ConnId, xid: i32, payload: Vec<u8>| {
        net.asked.insert((conn, xid), OpCode::Ping);
        net.frame(conn, payload);
        net.run(50);
        let got = net.received(conn);
        match &got[..] {
            [Got::Reply(h, Response::Empty)] if h.xid == xid => h.err,
            _ => panic!("one empty reply to xid {xid}: {got:?}"),
        }
    };
    // getData whose path says 10 bytes and holds 3.
    let mut p = header(5, 4);
    p.extend_from_slice(&10i32.to_be_bytes());
    p.extend_from_slice(b"/ab");
    assert_eq!(err_of(&mut net, 1, 5, p), ErrorCode::MarshallingError.code());
    // setData with no body at all.
    assert_eq!(err_of(&mut net, 1, 6, header(6, 5)), ErrorCode::MarshallingError.code());
    // createSession from a client.
    assert_eq!(err_of(&mut net, 1, 7, header(7, -10)), ErrorCode::MarshallingError.code());
    // deleteContainer from a client, on a real path.
    let mut p = header(8, 20);
    p.extend_from_slice(&2i32.to_be_bytes());
    p.extend_from_slice(b"/x");
    assert_eq!(err_of(&mut net, 1, 8, p), ErrorCode::BadArguments.code());
    // multiRead of a getData and a create.
    let multi_read = Request::MultiRead(vec![
        MultiOp::GetData(PathWatch { path: "/".into(), watch: false }),
        MultiOp::Create(CreateRequest { path: "/m".into(), data: None, acl: Acl::open_unsafe(), flags: 0 }),
    ]);
    let mut p = Vec::new();
    multi_read.encode(9, &mut p);
    assert_eq!(err_of(&mut net, 1, 9, p), ErrorCode::MarshallingError.code());
    // Nothing was closed, nothing was created, and the session goes on.
    assert!(!net.closed.contains(&1));
    assert_eq!(net.call(1, 10, get("/m", false)).0.err, ErrorCode::NoNode.code());
    assert_eq!(net.call(1, 11, create("/after", b"", 0)).0.err, 0);
}

/// Peer messages that carry a write or txns, built by hand with `depth` multis nested where the
/// write or txn goes (see `txn::tests::nested_multis`), as a hostile member, or anyone who
/// reaches the quorum port, could send them; each with the message its bytes are at depth 1
/// (one empty multi), which pins the layout.
fn peer_messages_with_nested_multis(depth: usize) -> Vec<(&'static str, Vec<u8>, PeerMessage)> {
    use crate::txn::Txn;
    use crate::txn::tests::{TXN_MULTI, WRITE_OP_MULTI, nested_multis};
    use crate::zab::{Entry, SyncMode};
    // zxid 1, time_ms 5 (zigzag 10), session 1 (zigzag 2), cxid 1 (zigzag 2), then the txn.
    let entry_head = [1, 10, 2, 2];
    let entry = || {
        Arc::new(Entry { zxid: Zxid::from_u64(1), time_ms: 5, session: SessionId(1), cxid: 1, txn: Txn::Multi(vec![]) })
    };
    let txns = nested_multis(TXN_MULTI, depth);
    vec![
        (
            // Forward (1): epoch 1, nonce 1, seq 1, session 1, cxid 1, the write, no auth ids.
            "FORWARD",
            [&[1, 1, 1, 1, 2, 2][..], &nested_multis(WRITE_OP_MULTI, depth), &[0]].concat(),
            PeerMessage::Forward {
                epoch: 1,
                nonce: 1,
                seq: 1,
                session: SessionId(1),
                cxid: 1,
                op: Box::new(WriteOp::Multi(vec![])),
                auth: Arc::new(vec![]),
            },
        ),
        (
            // Zab (0) Proposal (7): epoch 1, one entry.
            "PROPOSAL",
            [&[0, 7, 1, 1][..], &entry_head, &txns].concat(),
            PeerMessage::Zab(Message::Proposal { epoch: 1, entries: vec![entry()] }),
        ),
        (
            // Zab (0) Inform (10): epoch 1, the entry.
            "INFORM",
            [&[0, 10, 1][..], &entry_head, &txns].concat(),
            PeerMessage::Zab(Message::Inform { epoch: 1, entry: entry() }),
        ),
        (
            // Zab (0) NewLeader (4): epoch 1, nonce 1, Snap (2) at zxid 1 with an empty snapshot
            // and one entry after it; last_zxid 1, committed 1.
            "NEWLEADER(SNAP)",
            [&[0, 4, 1, 1, 2, 1, 0, 1][..], &entry_head, &txns, &[1, 1]].concat(),
            PeerMessage::Zab(Message::NewLeader {
                epoch: 1,
                nonce: 1,
                mode: Box::new(SyncMode::Snap {
                    at: Zxid::from_u64(1),
                    snapshot: vec![],
                    entries: vec![Arc::unwrap_or_clone(entry())],
                }),
                last_zxid: Zxid::from_u64(1),
                committed: Zxid::from_u64(1),
            }),
        ),
        (
            // Zab (0) NewLeader (4), as above with Diff (0) from zxid 1.
            "NEWLEADER(DIFF)",
            [&[0, 4, 1, 1, 0, 1, 1][..], &entry_head, &txns, &[1, 1]].concat(),
            PeerMessage::Zab(Message::NewLeader {
                epoch: 1,
                nonce: 1,
                mode: Box::new(SyncMode::Diff {
                    base: Zxid::from_u64(1),
                    entries: vec![Arc::unwrap_or_clone(entry())],
                }),
                last_zxid: Zxid::from_u64(1),
                committed: Zxid::from_u64(1),
            }),
        ),
    ]
}

#[test]
fn hand_built_peer_messages_decode_as_meant() {
    for (kind, bytes, msg) in peer_messages_with_nested_multis(1) {
        assert_eq!(postcard::from_bytes::<PeerMessage>(&bytes).unwrap(), msg, "{kind}");
        assert_eq!(postcard::to_allocvec(&msg).unwrap(), bytes, "{kind}");
    }
}

/// A write or txn nested a million multis deep in a peer message (a 2 MB frame) overflowed the
/// stack of the server that decoded it; now a multi holds no multi and decoding stops at the
/// second one with an error.
#[test]
fn a_peer_message_with_deeply_nested_multis_is_a_decode_error() {
    use crate::txn::tests::HOSTILE_DEPTH;
    for (kind, bytes, _) in peer_messages_with_nested_multis(HOSTILE_DEPTH) {
        assert!(postcard::from_bytes::<PeerMessage>(&bytes).is_err(), "{kind}");
    }
}

/// CVE-2024-23944 (fixed in ZooKeeper 3.8.4): a persistent recursive watch on `/` must not
/// reveal the creation, change or deletion of a node its session may not read.
#[test]
fn cve_2024_23944_a_recursive_watch_reveals_no_node_its_session_may_not_read() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let follower = (leader + 1) % 3;
    // The watcher is on a follower, the owner writes through the leader.
    net.open(follower, 1);
    net.open(leader, 2);
    let add = Request::AddWatch(AddWatchRequest { path: "/".into(), mode: 1 });
    assert_eq!(net.call(1, 1, add).0.err, 0);
    let auth = AuthPacket { auth_type: 0, scheme: "digest".into(), auth: Some(b"alice:secret".to_vec()) };
    net.send(2, AUTH_XID, Request::Auth(auth));
    net.received(2);
    let private = |path: &str| {
        Request::Create(CreateRequest {
            path: path.into(),
            data: Some(b"s".to_vec()),
            acl: vec![Acl::new(31, "auth", "")],
            flags: 0,
        })
    };
    assert_eq!(net.call(2, 1, private("/secret")).0.err, 0);
    assert_eq!(net.call(2, 2, create("/open", b"", 0)).0.err, 0);
    let set = Request::SetData(SetDataRequest { path: "/secret".into(), data: Some(b"t".to_vec()), version: -1 });
    assert_eq!(net.call(2, 3, set).0.err, 0);
    let delete = Request::Delete(PathVersion { path: "/secret".into(), version: -1 });
    assert_eq!(net.call(2, 4, delete).0.err, 0);
    net.run(100);
    assert_eq!(net.received(1), vec![Got::Event(1, "/open".into())], "only the node it may read");
}

/// CVE-2019-0201 (fixed in ZooKeeper 3.4.14 and 3.5.5): getACL answered anyone, and showed the
/// digest ids in full (`user:base64(sha1(user:password))`, a hash to attack offline). Now it
/// needs READ or ADMIN, and only ADMIN sees digests unmasked.
#[test]
fn cve_2019_0201_get_acl_needs_read_or_admin_and_masks_digests_without_admin() {
    let mut net = Net::new(1);
    net.open(0, 1);
    net.open(0, 2);
    let alice = digest_id("alice:secret");
    let readable = vec![Acl::new(31, "digest", &alice), Acl::new(1, "world", "anyone")];
    assert_eq!(net.call(1, 1, create_with("/readable", readable)).0.err, 0);
    assert_eq!(net.call(1, 2, create_with("/private", vec![Acl::new(31, "digest", &alice)])).0.err, 0);
    let get_acl = |path: &str| Request::GetAcl(PathRecord { path: path.into() });

    // A stranger who may read the node sees who may do what, but not the hash.
    let (header, body) = net.call(2, 1, get_acl("/readable"));
    assert_eq!(header.err, 0);
    let Response::GetAcl(seen) = body else { panic!("{body:?}") };
    assert_eq!(seen.acl, vec![Acl::new(31, "digest", "alice:x"), Acl::new(1, "world", "anyone")]);
    // One who may not read it learns nothing.
    assert_eq!(net.call(2, 2, get_acl("/private")).0.err, ErrorCode::NoAuth.code());
    // Alice (ADMIN) sees her own entry as it is.
    let auth = AuthPacket { auth_type: 0, scheme: "digest".into(), auth: Some(b"alice:secret".to_vec()) };
    net.send(2, AUTH_XID, Request::Auth(auth));
    net.received(2);
    let (header, body) = net.call(2, 3, get_acl("/private"));
    assert_eq!(header.err, 0);
    let Response::GetAcl(seen) = body else { panic!("{body:?}") };
    assert_eq!(seen.acl, vec![Acl::new(31, "digest", &alice)]);
}

/// `enforce.auth.enabled=true` with `enforce.auth.schemes=digest`, as ZooKeeper 3.8: a
/// connection without a digest id gets SessionClosedRequireSaslAuth (-124) for its first request
/// and is closed; one that authenticated first is served.
#[test]
fn enforced_authentication_closes_a_connection_that_did_not_authenticate() {
    let mut net = Net::with(1, |c| c.enforce_auth = Some(vec!["digest".into()]));
    net.open(0, 1);
    let (header, _) = net.call(1, 1, get("/", false));
    assert_eq!(header.err, ErrorCode::SessionClosedRequireSaslAuth.code());
    assert!(net.closed.contains(&1));
    net.open(0, 2);
    let auth = AuthPacket { auth_type: 0, scheme: "digest".into(), auth: Some(b"alice:secret".to_vec()) };
    net.send(2, AUTH_XID, Request::Auth(auth));
    net.received(2);
    assert_eq!(net.call(2, 1, get("/", false)).0.err, 0);
    assert_eq!(net.call(2, 2, create("/a", b"", 0)).0.err, 0);
    assert!(!net.closed.contains(&2));
}

fn sasl(token: &[u8]) -> Request {
    Request::Sasl(crate::wire::records::SaslToken { token: Some(token.to_vec()) })
}

fn sasl_token(response: Response) -> Vec<u8> {
    match response {
        Response::Sasl(t) => t.token.unwrap_or_default(),
        other => panic!("not a SASL reply: {other:?}"),
    }
}

/// A DIGEST-MD5 login the way ZooKeeper's clients run it: an empty token, the challenge, the
/// digest-response, `rspauth`; the connection then holds `sasl:bob`, which an ACL names.
/// A wrong password gets AuthFailed and a closed connection, as does SASL on a server without
/// users; a `super` user passes every ACL.
#[test]
fn sasl_digest_md5_logins() {
    let users = BTreeMap::from([("bob".to_string(), "bobsecret".to_string()), ("root".to_string(), "r".to_string())]);
    let mut net = Net::with(1, |c| {
        c.sasl = Some(sasl::SaslConfig { users: users.clone(), super_users: vec!["root".into()], nonce_key: [3; 32] });
        c.prep.sasl_acls = true;
    });
    let login = |net: &mut Net, conn: ConnId, user: &str, password: &str| -> (ReplyHeader, Response) {
        net.open(0, conn);
        let (header, challenge) = net.call(conn, 1, sasl(b""));
        assert_eq!(header.err, 0);
        let challenge = String::from_utf8(sasl_token(challenge)).unwrap();
        assert!(challenge.starts_with("realm=\"zk-sasl-md5\",nonce=\""), "{challenge}");
        let nonce = challenge.split('"').nth(3).unwrap().to_string();
        net.call(conn, 2, sasl(&sasl::client_response(user, password, &nonce, "")))
    };
    let (header, done) = login(&mut net, 1, "bob", "bobsecret");
    assert_eq!(header.err, 0);
    assert!(sasl_token(done).starts_with(b"rspauth="));
    let bob_only = vec![Acl::new(31, "sasl", "bob")];
    assert_eq!(net.call(1, 3, create_with("/bob", bob_only.clone())).0.err, 0);
    assert_eq!(net.call(1, 4, get("/bob", false)).0.err, 0);
    // A second digest-response after the login is out of turn.
    let (header, _) = net.call(1, 5, sasl(b"again"));
    assert_eq!(header.err, ErrorCode::AuthFailed.code());
    assert!(net.closed.contains(&1));

    net.open(0, 2);
    assert_eq!(net.call(2, 1, get("/bob", false)).0.err, ErrorCode::NoAuth.code());
    let (header, _) = login(&mut net, 3, "bob", "guess");
    assert_eq!(header.err, ErrorCode::AuthFailed.code());
    assert!(net.closed.contains(&3));
    // A client may not skip the challenge (DIGEST-MD5 has no initial response).
    net.open(0, 4);
    assert_eq!(net.call(4, 1, sasl(b"username=\"bob\"")).0.err, ErrorCode::AuthFailed.code());
    assert!(net.closed.contains(&4));
    let (header, _) = login(&mut net, 5, "root", "r");
    assert_eq!(header.err, 0);
    assert_eq!(net.call(5, 3, get("/bob", false)).0.err, 0);
    assert_eq!(net.call(5, 4, create_with("/open", vec![Acl::new(31, "sasl", "nobody")])).0.err, 0);

    // Without users, SASL fails the connection; without the provider a sasl ACL is invalid.
    let mut plain = Net::with(1, |_| {});
    plain.open(0, 1);
    assert_eq!(plain.call(1, 1, sasl(b"")).0.err, ErrorCode::AuthFailed.code());
    assert!(plain.closed.contains(&1));
    plain.open(0, 2);
    assert_eq!(plain.call(2, 1, create_with("/x", bob_only)).0.err, ErrorCode::InvalidAcl.code());
}

/// `enforce.auth.schemes=sasl`: only a SASL login opens the way, and a failed one is
/// SessionClosedRequireSaslAuth.
#[test]
fn enforced_sasl() {
    let users = BTreeMap::from([("bob".to_string(), "bobsecret".to_string())]);
    let mut net = Net::with(1, |c| {
        c.sasl = Some(sasl::SaslConfig { users: users.clone(), super_users: vec![], nonce_key: [4; 32] });
        c.enforce_auth = Some(vec!["sasl".into()]);
    });
    net.open(0, 1);
    assert_eq!(net.call(1, 1, get("/", false)).0.err, ErrorCode::SessionClosedRequireSaslAuth.code());
    net.open(0, 2);
    let challenge = String::from_utf8(sasl_token(net.call(2, 1, sasl(b"")).1)).unwrap();
    let nonce = challenge.split('"').nth(3).unwrap().to_string();
    assert_eq!(net.call(2, 2, sasl(&sasl::client_response("bob", "bobsecret", &nonce, ""))).0.err, 0);
    assert_eq!(net.call(2, 3, get("/", false)).0.err, 0);
    net.open(0, 3);
    let challenge = String::from_utf8(sasl_token(net.call(3, 1, sasl(b"")).1)).unwrap();
    let nonce = challenge.split('"').nth(3).unwrap().to_string();
    let (header, _) = net.call(3, 2, sasl(&sasl::client_response("bob", "nope", &nonce, "")));
    assert_eq!(header.err, ErrorCode::SessionClosedRequireSaslAuth.code());
    assert!(net.closed.contains(&3));
}

fn create_with(path: &str, acl: Vec<Acl>) -> Request {
    Request::Create(CreateRequest { path: path.into(), data: None, acl, flags: 0 })
}
