//! Simulated ZooKeeper clients: each one speaks the real wire protocol to the simulated
//! servers, keeps one session across reconnects (as real clients do: same session id and
//! password, `lastZxidSeen`, pings at a third of the timeout, a read timeout of two thirds, a
//! server picked at random from the list each time, calls in flight failed on disconnect),
//! issues a random mix of calls, and records every call and what it saw in a history for
//! [`crate::check::history`].
//!
//! Half of them number their requests as the Java client does (one count for the whole
//! session), the other half as Kazoo and most other clients do, anew on every connection: a
//! server that remembers a session's xids across its connections sees them fall. (Those
//! clients start each connection's count below the last one's rather than at 1, so that every
//! call of the history keeps its own (session, cxid), which the checker matches the log by;
//! the server tests cover xids that repeat exactly.)

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::check::history::{Call, Op, Outcome, Reply};
use crate::error::ErrorCode;
use crate::rng::Rng;
use crate::tree::Acl;
use crate::wire::records::{
    CreateRequest, PathRecord, PathVersion, PathWatch, ReplyHeader, SetDataRequest, WatcherEvent,
};
use crate::wire::{ConnectRequest, ConnectResponse, Jute, MultiOp, MultiResult, OpCode, Reader, Request, Response};

/// Where a client stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// Not connected; try again at `retry_at_ms`.
    Idle {
        retry_at_ms: u64,
    },
    /// ConnectRequest sent on `conn` to server index `server`.
    Connecting {
        conn: u64,
        server: usize,
        since_ms: u64,
    },
    Connected {
        conn: u64,
        server: usize,
    },
}

/// What a client wants the simulator to do.
#[derive(Debug)]
pub enum ClientAction {
    /// Open `conn` to server index `server` and send it this first frame's payload.
    Connect {
        conn: u64,
        server: usize,
        payload: Vec<u8>,
    },
    Send {
        conn: u64,
        payload: Vec<u8>,
    },
    /// The client gives up on `conn` (the server sees the connection close).
    Drop {
        conn: u64,
    },
    /// The client broke the protocol's rules as a server answered it (a FIFO violation).
    Violation(String),
}

/// What a client does with its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A random mix of calls.
    Random,
    /// The lock recipe on `/lock`: an ephemeral sequential node, the lowest holds the lock,
    /// the others watch their predecessor; the holder releases it after a while.
    Lock,
    /// The leader-election recipe on `/election`: the same, but the leader keeps the role
    /// until its session ends (it closes it now and then).
    Election,
    /// Only the calls queued with [`Client::enqueue`] (someone drives it by hand).
    Manual,
}

/// Where a recipe client is in its recipe.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Recipe {
    /// Make sure the recipe's parent node exists.
    Parent,
    /// Create our node.
    Enter,
    /// List the contenders.
    List,
    /// Waiting for the predecessor's deletion.
    Wait { predecessor: String },
    /// Holding the lock (or the leadership) until then.
    Hold { until_ms: u64 },
    /// Waiting for a reply.
    Busy,
}

/// A client's claim: at `zxid` (its listing's reply zxid) its node `path` was the lowest, so
/// it held the lock (or led) from then on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub client: u32,
    pub session: i64,
    pub zxid: i64,
    pub path: String,
    pub at_ms: u64,
}

/// What a connection delivered, in order, for the watch check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A one-shot data or exist watch on `path` was set by a read answered at `zxid`.
    Watch { conn: u64, path: String, zxid: i64 },
    /// A watch event for `path`.
    Event { conn: u64, path: String },
    /// A reply (pings included) showing the server's state at `zxid`.
    Reply { conn: u64, zxid: i64 },
}

#[derive(Debug)]
struct Outstanding {
    xid: i32,
    opcode: OpCode,
    /// The path a watch was asked for with this request.
    watch: Option<String>,
    /// Index in the history (`None` for pings).
    op: Option<usize>,
}

/// One client.
#[derive(Debug)]
pub struct Client {
    pub id: u32,
    pub link: Link,
    session: i64,
    passwd: Vec<u8>,
    timeout_ms: u64,
    next_xid: i32,
    last_zxid: i64,
    last_heard_ms: u64,
    last_sent_ms: u64,
    outstanding: VecDeque<Outstanding>,
    rng: Rng,
    /// Every call this client made, in order.
    pub history: Vec<Op>,
    /// Calls made, per kind of outcome.
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    pub sessions: u64,
    pub role: Role,
    recipe: Recipe,
    /// Our node in the recipe, if we have one.
    node: Option<String>,
    pub claims: Vec<Claim>,
    /// A predecessor to watch with the next call.
    pending_watch: Option<String>,
    /// Everything watch-related each connection delivered, in order.
    pub seen: Vec<Seen>,
    /// The server (index) this client connects to; `None`: a random one each time.
    pub home: Option<usize>,
    /// Calls queued by hand ([`Role::Manual`]).
    queue: VecDeque<(Call, Request)>,
    /// How this client numbers requests.
    pub xids: Xids,
    /// Connections opened so far (numbers each connection's xid block, see [`Xids`]).
    connections: u32,
    /// Times this client gave up on a silent server with calls in flight: (when, the oldest
    /// such call's history index).
    pub stalls: Vec<(u64, usize)>,
}

/// How a client numbers its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Xids {
    /// One count for the whole session, across reconnects (the Java client).
    Session,
    /// A new count on every connection, lower than the last connection's (Kazoo and others
    /// restart at 1).
    Connection,
}

const KEYS: [&str; 4] = ["/w/a", "/w/b", "/w/c", "/w/d"];
const MAX_OUTSTANDING: usize = 3;

impl Client {
    pub fn with_role(id: u32, rng: Rng, role: Role) -> Client {
        Client { role, ..Client::new(id, rng) }
    }

    pub fn new(id: u32, rng: Rng) -> Client {
        Client {
            id,
            link: Link::Idle { retry_at_ms: 0 },
            session: 0,
            passwd: alloc::vec![0; 16],
            timeout_ms: 0,
            next_xid: 1,
            last_zxid: 0,
            last_heard_ms: 0,
            last_sent_ms: 0,
            outstanding: VecDeque::new(),
            rng,
            history: Vec::new(),
            ok: 0,
            failed: 0,
            unknown: 0,
            sessions: 0,
            role: Role::Random,
            recipe: Recipe::Parent,
            node: None,
            claims: Vec::new(),
            pending_watch: None,
            seen: Vec::new(),
            home: None,
            queue: VecDeque::new(),
            xids: Xids::Session,
            connections: 0,
            stalls: Vec::new(),
        }
    }

    /// The calls still waiting for their reply on an open connection, invoked in
    /// `[from_ms, to_ms]`.
    pub fn unanswered(&self, from_ms: u64, to_ms: u64) -> Vec<usize> {
        if !matches!(self.link, Link::Connected { .. }) {
            return Vec::new();
        }
        self.outstanding
            .iter()
            .filter_map(|o| o.op)
            .filter(|&op| (from_ms..=to_ms).contains(&self.history[op].invoked_ms))
            .collect()
    }

    /// The session the client holds (0: none yet).
    pub fn session(&self) -> i64 {
        self.session
    }

    /// Whether history entry `op` still waits for its reply on the current connection.
    pub fn is_outstanding(&self, op: usize) -> bool {
        self.outstanding.iter().any(|o| o.op == Some(op))
    }

    /// Calls queued and not sent yet.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Queues `call` (sent in order once connected, at most a few in flight).
    pub fn enqueue(&mut self, call: Call) {
        let request = request_of(&call);
        self.queue.push_back((call, request));
    }

    fn recipe_dir(&self) -> &'static str {
        if self.role == Role::Election { "/election" } else { "/lock" }
    }

    /// The next call a recipe client makes, if it makes one now.
    fn recipe_call(&mut self, now_ms: u64) -> Option<(Call, Request)> {
        if !self.outstanding.is_empty() {
            return None;
        }
        let dir = self.recipe_dir();
        match self.recipe.clone() {
            Recipe::Parent => {
                self.recipe = Recipe::Busy;
                Some(create_call(dir, Vec::new(), false, false))
            }
            Recipe::Enter => {
                self.recipe = Recipe::Busy;
                let value = format!("c{}", self.id).into_bytes();
                Some(create_call(&format!("{dir}/n-"), value, true, true))
            }
            Recipe::List => {
                self.recipe = Recipe::Busy;
                let request = Request::GetChildren(PathWatch { path: dir.into(), watch: false });
                Some((Call::GetChildren { path: dir.into() }, request))
            }
            Recipe::Hold { until_ms } if now_ms >= until_ms => {
                self.recipe = Recipe::Busy;
                if self.role == Role::Election {
                    return Some((Call::CloseSession, Request::CloseSession));
                }
                let path = self.node.clone()?;
                let request = Request::Delete(PathVersion { path: path.clone(), version: -1 });
                Some((Call::Delete { path, version: -1 }, request))
            }
            Recipe::Wait { .. } | Recipe::Hold { .. } | Recipe::Busy => None,
        }
    }

    /// A recipe client's reaction to a reply.
    fn recipe_reply(&mut self, call: &Call, outcome: &Outcome, now_ms: u64) {
        let dir = self.recipe_dir();
        self.recipe = match (call, outcome) {
            (Call::Create { path, .. }, Outcome::Ok { .. } | Outcome::Err { .. }) if path == dir => Recipe::Enter,
            (Call::Create { .. }, Outcome::Ok { reply: Reply::Created(path), .. }) => {
                self.node = Some(path.clone());
                Recipe::List
            }
            (Call::Create { .. }, _) => Recipe::Parent,
            (Call::GetChildren { .. }, Outcome::Ok { reply: Reply::Children(children), zxid, .. }) => {
                let Some(mine) = self.node.as_ref().and_then(|p| p.rsplit('/').next()) else {
                    self.recipe = Recipe::Enter;
                    return;
                };
                let mut sorted: Vec<&String> = children.iter().collect();
                sorted.sort();
                match sorted.iter().position(|c| c.as_str() == mine) {
                    None => {
                        // Our node is gone (our old session ended): enter again.
                        self.node = None;
                        Recipe::Enter
                    }
                    Some(0) => {
                        self.claims.push(Claim {
                            client: self.id,
                            session: self.session,
                            zxid: *zxid,
                            path: self.node.clone().unwrap_or_default(),
                            at_ms: now_ms,
                        });
                        let hold = if self.role == Role::Election { 2_000 } else { 300 };
                        Recipe::Hold { until_ms: now_ms + self.rng.between(hold / 3, hold) }
                    }
                    Some(i) => {
                        let predecessor = format!("{dir}/{}", sorted[i - 1]);
                        self.wait_for(predecessor)
                    }
                }
            }
            (Call::Exists { path }, Outcome::Ok { .. }) => Recipe::Wait { predecessor: path.clone() },
            (Call::Exists { .. }, _) => Recipe::List,
            (Call::Delete { .. }, Outcome::Ok { .. }) => {
                self.node = None;
                Recipe::Enter
            }
            (Call::Delete { .. }, _) => Recipe::List,
            _ => Recipe::List,
        };
    }

    /// Watches the predecessor (exists with a watch); the reply decides.
    fn wait_for(&mut self, predecessor: String) -> Recipe {
        self.pending_watch = Some(predecessor);
        Recipe::Busy
    }

    fn conn(&self) -> Option<u64> {
        match self.link {
            Link::Connecting { conn, .. } | Link::Connected { conn, .. } => Some(conn),
            Link::Idle { .. } => None,
        }
    }

    /// Time passes: connect, ping, time out, or make a call.
    pub fn tick(&mut self, now_ms: u64, servers: usize, next_conn: &mut u64, active: bool) -> Vec<ClientAction> {
        let mut actions = Vec::new();
        match self.link.clone() {
            Link::Idle { retry_at_ms } if now_ms >= retry_at_ms => {
                *next_conn += 1;
                let conn = *next_conn;
                let random = self.rng.below(servers as u64) as usize;
                let server = self.home.filter(|&h| h < servers).unwrap_or(random);
                let request = ConnectRequest {
                    protocol_version: 0,
                    last_zxid_seen: self.last_zxid,
                    timeout_ms: 30_000,
                    session_id: self.session,
                    passwd: Some(self.passwd.clone()),
                    read_only: Some(false),
                };
                let mut payload = Vec::new();
                request.encode(&mut payload);
                self.link = Link::Connecting { conn, server, since_ms: now_ms };
                actions.push(ClientAction::Connect { conn, server, payload });
            }
            Link::Idle { .. } => {}
            Link::Connecting { conn, since_ms, .. } => {
                if now_ms > since_ms + 1_000 {
                    actions.push(ClientAction::Drop { conn });
                    self.lost(now_ms);
                }
            }
            Link::Connected { conn, .. } => {
                let read_timeout = self.timeout_ms * 2 / 3;
                if now_ms > self.last_heard_ms + read_timeout {
                    if let Some(op) = self.outstanding.iter().find_map(|o| o.op) {
                        self.stalls.push((now_ms, op));
                    }
                    actions.push(ClientAction::Drop { conn });
                    self.lost(now_ms);
                } else if active && self.role != Role::Manual && self.rng.chance(1, 200) {
                    // Now and then a client moves to another server on its own, calls in
                    // flight or not (as real clients do to balance load or after a hiccup).
                    actions.push(ClientAction::Drop { conn });
                    self.lost(now_ms);
                } else if let Some((call, request)) = self.next_for_role(now_ms, active) {
                    let xid = self.take_xid();
                    self.history.push(Op {
                        client: self.id,
                        session: self.session,
                        cxid: xid,
                        call,
                        invoked_ms: now_ms,
                        outcome: Outcome::Unknown,
                    });
                    let op = Some(self.history.len() - 1);
                    actions.push(self.send(conn, xid, request, op, now_ms));
                } else if now_ms >= self.last_sent_ms + self.timeout_ms / 3 {
                    actions.push(self.send(conn, -2, Request::Ping, None, now_ms));
                }
            }
        }
        actions
    }

    fn next_for_role(&mut self, now_ms: u64, active: bool) -> Option<(Call, Request)> {
        if !active {
            return None;
        }
        match self.role {
            Role::Random => {
                (self.outstanding.len() < MAX_OUTSTANDING && self.rng.chance(1, 2)).then(|| self.next_call())
            }
            Role::Manual => {
                if self.outstanding.len() < MAX_OUTSTANDING {
                    self.queue.pop_front()
                } else {
                    None
                }
            }
            Role::Lock | Role::Election => {
                if let Some(path) = self.pending_watch.take() {
                    if !self.outstanding.is_empty() {
                        self.pending_watch = Some(path);
                        return None;
                    }
                    let request = Request::Exists(PathWatch { path: path.clone(), watch: true });
                    return Some((Call::Exists { path }, request));
                }
                self.recipe_call(now_ms)
            }
        }
    }

    fn take_xid(&mut self) -> i32 {
        let xid = self.next_xid;
        self.next_xid += 1;
        xid
    }

    fn send(&mut self, conn: u64, xid: i32, request: Request, op: Option<usize>, now_ms: u64) -> ClientAction {
        let mut payload = Vec::new();
        request.encode(xid, &mut payload);
        let watch = match &request {
            Request::GetData(r) | Request::Exists(r) if r.watch => Some(r.path.clone()),
            _ => None,
        };
        self.outstanding.push_back(Outstanding { xid, opcode: request.opcode(), op, watch });
        self.last_sent_ms = now_ms;
        ClientAction::Send { conn, payload }
    }

    /// The connection is gone: calls in flight have unknown outcomes; reconnect soon.
    pub fn lost(&mut self, now_ms: u64) {
        for o in self.outstanding.drain(..) {
            if o.op.is_some() {
                self.unknown += 1;
            }
        }
        let wait = self.rng.between(10, 200);
        self.link = Link::Idle { retry_at_ms: now_ms + wait };
        // Watches and replies are gone with the connection: look at the contenders again.
        self.pending_watch = None;
        self.recipe = if self.node.is_some() { Recipe::List } else { Recipe::Parent };
    }

    /// The server closed `conn`.
    pub fn closed(&mut self, conn: u64, now_ms: u64) {
        if self.conn() == Some(conn) {
            self.lost(now_ms);
        }
    }

    /// One frame from the server on `conn`.
    pub fn receive(&mut self, conn: u64, frame: &[u8], now_ms: u64) -> Vec<ClientAction> {
        let mut actions = Vec::new();
        if self.conn() != Some(conn) {
            return actions;
        }
        self.last_heard_ms = now_ms;
        if let Link::Connecting { server, .. } = self.link {
            let Ok(response) = ConnectResponse::decode(frame) else {
                actions.push(ClientAction::Drop { conn });
                self.lost(now_ms);
                return actions;
            };
            if response.session_id == 0 {
                // Expired (or refused): start a new session next time.
                self.session = 0;
                self.passwd = alloc::vec![0; 16];
                self.next_xid = 1;
                actions.push(ClientAction::Drop { conn });
                self.lost(now_ms);
                return actions;
            }
            if self.session != response.session_id {
                self.session = response.session_id;
                self.next_xid = 1;
                self.sessions += 1;
                // A new session: an ephemeral of the old one is not ours any more.
                self.node = None;
                self.recipe = Recipe::Parent;
            }
            self.passwd = response.passwd.unwrap_or_default();
            self.timeout_ms = u64::try_from(response.timeout_ms).unwrap_or(0);
            self.link = Link::Connected { conn, server };
            self.connections += 1;
            if self.xids == Xids::Connection {
                // Blocks of 2^20 xids, each connection's below the one before.
                let block = 2047 - (self.connections % 2048) as i32;
                self.next_xid = (block << 20) | 1;
            }
            self.last_sent_ms = now_ms;
            return actions;
        }
        let mut r = Reader::new(frame);
        let Ok(header) = ReplyHeader::read(&mut r) else {
            actions.push(ClientAction::Violation(format!("client {}: undecodable reply header", self.id)));
            return actions;
        };
        if header.xid == -1 {
            if let Ok(event) = WatcherEvent::read(&mut r) {
                if matches!(&self.recipe, Recipe::Wait { predecessor } if *predecessor == event.path) {
                    self.recipe = Recipe::List;
                }
                self.seen.push(Seen::Event { conn, path: event.path });
            }
            return actions;
        }
        let Some(expected) = self.outstanding.pop_front() else {
            actions.push(ClientAction::Violation(format!("client {}: reply xid {} unasked", self.id, header.xid)));
            return actions;
        };
        if expected.xid != header.xid {
            actions.push(ClientAction::Violation(format!(
                "client {}: reply xid {} out of order (expected {})",
                self.id, header.xid, expected.xid
            )));
            return actions;
        }
        if header.zxid > 0 {
            self.last_zxid = self.last_zxid.max(header.zxid);
            self.seen.push(Seen::Reply { conn, zxid: header.zxid });
        }
        // getData sets its watch only on a node that exists; exists sets it either way.
        let set = header.err == 0 || (expected.opcode == OpCode::Exists && header.err == -101);
        if let (Some(path), true) = (expected.watch.clone(), set) {
            self.seen.push(Seen::Watch { conn, path, zxid: header.zxid });
        }
        let Some(index) = expected.op else { return actions };
        let body = Response::read(expected.opcode, header.err, &mut r);
        let outcome = match (header.err, body) {
            (0, Ok(body)) => match reply_of(&self.history[index].call, body) {
                Some(reply) => Outcome::Ok { completed_ms: now_ms, zxid: header.zxid, reply },
                None => {
                    actions.push(ClientAction::Violation(format!("client {}: reply body does not fit", self.id)));
                    return actions;
                }
            },
            (0, Err(_)) => {
                actions.push(ClientAction::Violation(format!("client {}: undecodable reply body", self.id)));
                return actions;
            }
            (code, _) => {
                let code = ErrorCode::from_i32(code).unwrap_or(ErrorCode::SystemError);
                Outcome::Err { completed_ms: now_ms, zxid: header.zxid, code }
            }
        };
        match outcome {
            Outcome::Ok { .. } => self.ok += 1,
            _ => self.failed += 1,
        }
        let closing = matches!(self.history[index].call, Call::CloseSession);
        if matches!(self.role, Role::Lock | Role::Election) {
            let call = self.history[index].call.clone();
            self.recipe_reply(&call, &outcome, now_ms);
        }
        self.history[index].outcome = outcome;
        if closing {
            self.session = 0;
            self.passwd = alloc::vec![0; 16];
            self.next_xid = 1;
            actions.push(ClientAction::Drop { conn });
            self.lost(now_ms);
        }
        actions
    }

    /// A random call: mostly small writes and reads on a few keys, some sequential and
    /// ephemeral creates, multis, syncs, and now and then the end of the session.
    fn next_call(&mut self) -> (Call, Request) {
        let key = KEYS[self.rng.below(KEYS.len() as u64) as usize];
        let value = format!("c{}-{}", self.id, self.next_xid).into_bytes();
        let version = if self.rng.chance(1, 2) { -1 } else { self.rng.below(4) as i32 };
        let roll = self.rng.below(100);
        match roll {
            0..=3 => create_call("/w", Vec::new(), false, false),
            4..=17 => create_call(key, value, self.rng.chance(1, 3), false),
            18..=23 => create_call("/w/q-", value, self.rng.chance(1, 2), true),
            24..=41 => (
                Call::SetData { path: key.into(), data: value.clone(), version },
                Request::SetData(SetDataRequest { path: key.into(), data: Some(value), version }),
            ),
            42..=49 => {
                (Call::Delete { path: key.into(), version }, Request::Delete(PathVersion { path: key.into(), version }))
            }
            50..=69 => {
                let watch = self.rng.chance(1, 2);
                (Call::GetData { path: key.into() }, Request::GetData(PathWatch { path: key.into(), watch }))
            }
            70..=77 => {
                let watch = self.rng.chance(1, 2);
                (Call::Exists { path: key.into() }, Request::Exists(PathWatch { path: key.into(), watch }))
            }
            78..=85 => (
                Call::GetChildren { path: "/w".into() },
                Request::GetChildren(PathWatch { path: "/w".into(), watch: false }),
            ),
            86..=91 => (Call::Sync { path: "/w".into() }, Request::Sync(PathRecord { path: "/w".into() })),
            92..=98 => {
                let other = KEYS[self.rng.below(KEYS.len() as u64) as usize];
                let calls = alloc::vec![
                    Call::Check { path: key.into(), version },
                    Call::SetData { path: other.into(), data: value.clone(), version: -1 },
                ];
                let ops = alloc::vec![
                    MultiOp::Check(PathVersion { path: key.into(), version }),
                    MultiOp::SetData(SetDataRequest { path: other.into(), data: Some(value), version: -1 }),
                ];
                (Call::Multi(calls), Request::Multi(ops))
            }
            _ => (Call::CloseSession, Request::CloseSession),
        }
    }
}

fn create_call(path: &str, data: Vec<u8>, ephemeral: bool, sequential: bool) -> (Call, Request) {
    let flags = i32::from(ephemeral) | (i32::from(sequential) << 1);
    let request =
        Request::Create(CreateRequest { path: path.into(), data: Some(data.clone()), acl: Acl::open_unsafe(), flags });
    (Call::Create { path: path.into(), data, ephemeral, sequential }, request)
}

/// The request that makes `call` (no watches; a multi of its create/delete/setData/check ops).
fn request_of(call: &Call) -> Request {
    fn op_of(call: &Call) -> Option<MultiOp> {
        Some(match call {
            Call::Create { path, data, ephemeral, sequential } => {
                let flags = i32::from(*ephemeral) | (i32::from(*sequential) << 1);
                let acl = Acl::open_unsafe();
                MultiOp::Create(CreateRequest { path: path.clone(), data: Some(data.clone()), acl, flags })
            }
            Call::Delete { path, version } => MultiOp::Delete(PathVersion { path: path.clone(), version: *version }),
            Call::SetData { path, data, version } => {
                MultiOp::SetData(SetDataRequest { path: path.clone(), data: Some(data.clone()), version: *version })
            }
            Call::Check { path, version } => MultiOp::Check(PathVersion { path: path.clone(), version: *version }),
            _ => return None,
        })
    }
    match call {
        Call::Create { path, data, ephemeral, sequential } => {
            create_call(path, data.clone(), *ephemeral, *sequential).1
        }
        Call::Delete { path, version } => Request::Delete(PathVersion { path: path.clone(), version: *version }),
        Call::SetData { path, data, version } => {
            Request::SetData(SetDataRequest { path: path.clone(), data: Some(data.clone()), version: *version })
        }
        Call::Check { path, version } => {
            Request::Multi(alloc::vec![MultiOp::Check(PathVersion { path: path.clone(), version: *version })])
        }
        Call::Multi(calls) => Request::Multi(calls.iter().filter_map(op_of).collect()),
        Call::CloseSession => Request::CloseSession,
        Call::GetData { path } => Request::GetData(PathWatch { path: path.clone(), watch: false }),
        Call::Exists { path } => Request::Exists(PathWatch { path: path.clone(), watch: false }),
        Call::GetChildren { path } => Request::GetChildren(PathWatch { path: path.clone(), watch: false }),
        Call::Sync { path } => Request::Sync(PathRecord { path: path.clone() }),
    }
}

/// The history's view of an ok reply to `call`.
fn reply_of(call: &Call, body: Response) -> Option<Reply> {
    Some(match (call, body) {
        (Call::Create { .. }, Response::Create(r)) => Reply::Created(r.path),
        (Call::Create { .. }, Response::Create2(r)) => Reply::Created(r.path),
        (Call::SetData { .. }, Response::Stat(r)) => Reply::Version(r.stat.version),
        (Call::GetData { .. }, Response::GetData(r)) => {
            Reply::Data { data: r.data.unwrap_or_default(), version: r.stat.version }
        }
        (Call::Exists { .. }, Response::Stat(r)) => Reply::Exists(Some(r.stat.version)),
        (Call::GetChildren { .. }, Response::GetChildren(r)) => Reply::Children(r.children),
        (Call::Multi(_), Response::Multi(results)) => Reply::Multi(
            results
                .into_iter()
                .map(|r| match r {
                    MultiResult::Create(c) => Ok(Reply::Created(c.path)),
                    MultiResult::Create2(c) => Ok(Reply::Created(c.path)),
                    MultiResult::SetData(s) => Ok(Reply::Version(s.stat.version)),
                    MultiResult::Delete | MultiResult::Check => Ok(Reply::Done),
                    MultiResult::Error(code) => Err(ErrorCode::from_i32(code).unwrap_or(ErrorCode::SystemError)),
                    MultiResult::GetData(_) | MultiResult::GetChildren(_) => Err(ErrorCode::MarshallingError),
                })
                .collect(),
        ),
        (Call::Delete { .. } | Call::Check { .. } | Call::Sync { .. } | Call::CloseSession, _) => Reply::Done,
        _ => return None,
    })
}

/// The paths clients use (for tests and the trace).
pub fn keys() -> &'static [&'static str] {
    &KEYS
}
