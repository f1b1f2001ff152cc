//! One ZooKeeper server as a state machine: a Zab [`Peer`] replicating a [`Database`], client
//! connections with their sessions, watches and auth, and ZooKeeper's request pipeline.
//!
//! ```text
//!  client frame ─► decode ─► read?  ── answered from the committed tree, in the
//!                            │          connection's order (behind its own writes)
//!                            └► write ─► leader: prep (tree + pending) ─► Zab propose
//!                                        follower: forward to the leader ─┘
//!  Zab commit ─► Database::apply ─► watches fire (notifications first) ─► owner replies
//! ```
//!
//! The host feeds [`ServerInput`]s (time, peer messages, durable reports, connection events
//! and client frames already split by [`crate::wire::FrameDecoder`]) and carries out the
//! [`ServerOutput`]s. Like [`Peer`], it never does IO, and bad bytes from a client close that
//! client's connection and nothing else.
//!
//! Per-connection order: every request takes a place in its connection's queue and replies
//! leave strictly in that order; a read is answered when it reaches the front, so it sees the
//! connection's own earlier writes. `sync` asks the leader how far its history reaches and is
//! answered once this server has applied that far.

mod coalesce;
mod db;
mod forwarded;
mod reply;

use alloc::boxed::Box;
use alloc::collections::{BTreeSet, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use coalesce::coalesce;
pub use db::{Applied, Change, Database, Frozen, ServerMachine};
pub use reply::Shape;

use forwarded::{Forwarded, Inbound};

use crate::error::ErrorCode;
use crate::ids::{IdMap, ServerId, SessionId, Zxid};
use crate::session::{SessionConfig, SessionIds, SessionTracker, password};
use crate::tree::Id;
use crate::txn::{self, AuthContext, PendingChanges, PrepConfig, Txn, TxnResult, WriteOp};
use crate::watch::{Notification, PersistentMode, WatchKind, WatchManager, Watcher};
use crate::wire::records::{
    AddWatchRequest, ClientInfo, ErrorResponse, GetAclResponse, GetAllChildrenNumberResponse, GetChildren2Response,
    GetChildrenResponse, GetDataResponse, GetEphemeralsResponse, PathRecord, ReplyHeader, StatResponse, WatcherEvent,
    WhoAmIResponse,
};
use crate::wire::{
    AUTH_XID, ConnectRequest, ConnectResponse, DecodeError, MultiOp, MultiResult, OpCode, PING_XID, Request, Response,
    SET_WATCHES_XID, encode_notification, encode_reply, write_frame,
};
use crate::zab::{self, Durable, Event, LogOp, Message, Peer};

/// A client connection, named by the host.
pub type ConnId = u64;

/// Everything one server is configured with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub zab: zab::Config,
    pub sessions: SessionConfig,
    pub prep: PrepConfig,
    /// Shared by the ensemble: session passwords are derived from it.
    pub secret: u64,
    /// `DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`.
    pub super_digest: Option<String>,
    /// How often the leader deletes empty containers and expired TTL nodes
    /// (`znode.container.checkIntervalMs`, default 60 s).
    pub container_check_ms: u64,
    /// Containers that never had a child are deleted after this long (0: never;
    /// `znode.container.maxNeverUsedIntervalMs`).
    pub container_never_used_ms: u64,
}

impl ServerConfig {
    pub fn new(zab: zab::Config) -> ServerConfig {
        let sessions = SessionConfig::new(zab.tick_ms);
        ServerConfig {
            zab,
            sessions,
            prep: PrepConfig::default(),
            secret: 0x5a62_6b70_6173_7377,
            super_digest: None,
            container_check_ms: 60_000,
            container_never_used_ms: 0,
        }
    }
}

/// What servers say to each other: Zab, plus the request pipeline's own messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    Zab(Message),
    /// Learner to leader of `epoch`: a client write to prep and propose. `nonce` is the
    /// learner's attempt to join (its FOLLOWERINFO's) and `seq` numbers what it forwards on
    /// that attempt, so the leader takes each forwarded request once and in order whatever the
    /// network does, without looking at client xids (clients restart or reuse them freely).
    Forward {
        epoch: u32,
        nonce: u64,
        seq: u64,
        session: SessionId,
        cxid: i32,
        op: Box<WriteOp>,
        auth: Arc<Vec<Id>>,
    },
    /// Learner to leader: these sessions' clients were heard from.
    Touch {
        sessions: Vec<SessionId>,
    },
    /// Learner to leader: how far does your history reach? (Numbered with the forwarded
    /// writes, see [`PeerMessage::Forward`].)
    Sync {
        nonce: u64,
        seq: u64,
        session: SessionId,
        cxid: i32,
    },
    /// Learner to leader: a client reconnected here with this session; is it alive? (The
    /// leader then takes this server as the session's owner.)
    Revalidate {
        session: SessionId,
    },
    /// Leader to learner: the answer to [`PeerMessage::Revalidate`]. `zxid` is the end of the
    /// leader's history then: the learner opens the session once it has applied that far, so
    /// every write the session made through its earlier connections is behind it.
    Revalidated {
        session: SessionId,
        alive: bool,
        zxid: Zxid,
    },
    /// Leader to learner: the forwarded write `cxid` of `session` is refused before it became a
    /// txn (SessionMoved, SessionExpired). Refusals stay out of the log: they are meant for the
    /// server that forwarded the write, and no other server could tell them from its own.
    Refused {
        session: SessionId,
        cxid: i32,
        code: ErrorCode,
    },
    /// Leader to learner: this far (answer to [`PeerMessage::Sync`]).
    Synced {
        session: SessionId,
        cxid: i32,
        zxid: Zxid,
    },
}

/// What the host feeds the server.
#[derive(Clone, Debug)]
pub enum ServerInput {
    Tick,
    Peer {
        from: ServerId,
        msg: PeerMessage,
    },
    Persisted {
        seq: u64,
    },
    /// The link to peer `peer` broke (see [`zab::Input::LinkDown`]).
    LinkDown {
        peer: ServerId,
    },
    /// A client connected from `addr`.
    Connected {
        conn: ConnId,
        addr: IpAddr,
    },
    /// One frame's payload from a client (length prefix removed).
    Frame {
        conn: ConnId,
        payload: Vec<u8>,
    },
    /// The client's connection is gone.
    Disconnected {
        conn: ConnId,
    },
}

/// What the server asks of its host.
#[derive(Clone, Debug)]
pub enum ServerOutput {
    Peer {
        to: ServerId,
        msg: PeerMessage,
    },
    /// Durable writes, exactly as [`zab::Output::Persist`].
    Persist {
        seq: u64,
        op: LogOp,
    },
    /// Bytes for a client: one or more complete frames.
    Send {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// Close a client connection (after sending what was queued for it).
    Close {
        conn: ConnId,
    },
    Event(Event),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the ConnectRequest.
    Handshake,
    /// A new session's createSession txn is on its way.
    Creating {
        old_form: bool,
    },
    /// Reconnecting to an existing session: waiting for the leader to say it is alive.
    Revalidating {
        old_form: bool,
    },
    /// Alive: waiting to have applied the leader's history as it was at revalidation.
    Reopening {
        old_form: bool,
        until: Zxid,
    },
    Open,
}

/// A request's place in its connection's queue.
///
/// A write is sent to the leader only once no read, sync or refusal is queued before it, and
/// a sync only once it is at the front: so a read never sees a later write of its own
/// session, and a session's writes and syncs reach the leader in the session's order.
#[derive(Debug)]
enum Item {
    Read {
        xid: i32,
        request: Request,
    },
    Write {
        xid: i32,
        shape: Shape,
        state: WriteState,
    },
    Sync {
        xid: i32,
        path: String,
        state: SyncState,
    },
    /// A reply computed ahead of its turn (only with the `eager_reads` mutation).
    #[cfg(feature = "sim")]
    Answered {
        frames: Vec<u8>,
    },
    /// A request refused before it went anywhere; answered in its turn.
    Refused {
        xid: i32,
        code: ErrorCode,
    },
}

#[derive(Debug)]
struct Conn {
    phase: Phase,
    session: SessionId,
    timeout_ms: i32,
    auth: Arc<Vec<Id>>,
    queue: VecDeque<Item>,
    /// Frames that arrived before the session was open (clients pipeline auth, setWatches
    /// and requests right behind the ConnectRequest).
    early: VecDeque<Vec<u8>>,
}

#[derive(Debug)]
enum WriteState {
    Held { op: WriteOp, auth: Arc<Vec<Id>> },
    Sent,
    Done(Zxid, TxnResult),
}

#[derive(Debug, PartialEq, Eq)]
enum SyncState {
    Held,
    Sent,
    /// The leader's history reached this far when the sync got there.
    Target(Zxid),
}

/// One server.
#[derive(Debug)]
pub struct Server<M = Database> {
    config: ServerConfig,
    peer: Peer<M>,
    conns: IdMap<ConnId, Conn>,
    /// Which local connection holds each session.
    owners: IdMap<SessionId, ConnId>,
    watches: WatchManager,
    /// Session expiry (used while this server is the established leader).
    tracker: SessionTracker,
    ids: SessionIds,
    /// Changes of proposals not yet committed (leader only).
    pending: PendingChanges,
    /// Which server each session is connected through (leader only): requests that arrive
    /// through another server fail with SessionMoved.
    session_owner: IdMap<SessionId, ServerId>,
    /// What each learner forwarded on its current attempt (leader only): each request is
    /// taken once and in the order sent (see [`forwarded`]).
    forwarded: IdMap<ServerId, Inbound>,
    /// The join attempt this learner numbers its forwarded requests for, and the last number.
    forward_seq: (u64, u64),
    /// Connections reopening a session, waiting to catch up (see [`Phase::Reopening`]).
    reopening: BTreeSet<ConnId>,
    /// The highest xid taken per session, kept only for the `xid_dedupe` mutation.
    #[cfg(feature = "sim")]
    seen_xids: IdMap<SessionId, i32>,
    /// Sessions heard from since the last report to the leader.
    touched: BTreeSet<SessionId>,
    /// Connections with a sync that knows its target and waits for this server to get there.
    syncing: BTreeSet<ConnId>,
    next_report_ms: u64,
    next_container_check_ms: u64,
    leading: bool,
    serving: bool,
    now_ms: u64,
    zab_out: Vec<zab::Output>,
}

impl<M: ServerMachine> Server<M> {
    pub fn new(config: ServerConfig, seed: u64, durable: Durable, machine: M, now_ms: u64) -> Server<M> {
        let ids = SessionIds::new(config.zab.id, now_ms);
        let tracker = SessionTracker::new(config.zab.tick_ms);
        let peer = Peer::new(config.zab.clone(), seed, durable, machine);
        Server {
            config,
            peer,
            conns: IdMap::default(),
            owners: IdMap::default(),
            watches: WatchManager::default(),
            tracker,
            ids,
            pending: PendingChanges::default(),
            forwarded: IdMap::default(),
            forward_seq: (0, 0),
            reopening: BTreeSet::new(),
            #[cfg(feature = "sim")]
            seen_xids: IdMap::default(),
            session_owner: IdMap::default(),
            touched: BTreeSet::new(),
            syncing: BTreeSet::new(),
            next_report_ms: 0,
            next_container_check_ms: 0,
            leading: false,
            serving: false,
            now_ms,
            zab_out: Vec::new(),
        }
    }

    pub fn peer(&self) -> &Peer<M> {
        &self.peer
    }

    /// The replicated machine, for the simulator's ghost records.
    #[cfg(feature = "sim")]
    pub fn machine_mut(&mut self) -> &mut M {
        self.peer.machine_mut()
    }

    fn db(&self) -> &Database {
        self.peer.machine().db()
    }

    pub fn watches(&self) -> &WatchManager {
        &self.watches
    }

    pub fn sessions(&self) -> &SessionTracker {
        &self.tracker
    }

    /// When the server next wants a [`ServerInput::Tick`] before the regular one (see
    /// [`Peer::wake_at_ms`]).
    pub fn wake_at_ms(&self) -> Option<u64> {
        self.peer.wake_at_ms()
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Feeds one input at `now_ms` (monotonic); what to do goes to `out`.
    pub fn step(&mut self, now_ms: u64, input: ServerInput, out: &mut Vec<ServerOutput>) {
        self.now_ms = self.now_ms.max(now_ms);
        match input {
            ServerInput::Tick => {
                self.zab(zab::Input::Tick, out);
                self.on_tick(out);
            }
            ServerInput::Persisted { seq } => self.zab(zab::Input::Persisted { seq }, out),
            ServerInput::LinkDown { peer } => self.zab(zab::Input::LinkDown { peer }, out),
            ServerInput::Peer { from, msg } => self.on_peer(from, msg, out),
            ServerInput::Connected { conn, addr } => {
                if !self.serving {
                    out.push(ServerOutput::Close { conn });
                    return;
                }
                let c = Conn {
                    phase: Phase::Handshake,
                    session: SessionId(0),
                    timeout_ms: 0,
                    auth: Arc::new(alloc::vec![Id::new("ip", &alloc::format!("{addr}"))]),
                    queue: VecDeque::new(),
                    early: VecDeque::new(),
                };
                self.conns.insert(conn, c);
            }
            ServerInput::Frame { conn, payload } => self.on_frame(conn, payload, out),
            ServerInput::Disconnected { conn } => self.forget(conn),
        }
    }

    /// Runs the Zab peer and everything its outputs lead to.
    fn zab(&mut self, input: zab::Input, out: &mut Vec<ServerOutput>) {
        let mut zab_out = core::mem::take(&mut self.zab_out);
        self.peer.step(self.now_ms, input, &mut zab_out);
        self.after_zab(&mut zab_out, out);
        self.zab_out = zab_out;
    }

    fn after_zab(&mut self, zab_out: &mut Vec<zab::Output>, out: &mut Vec<ServerOutput>) {
        for o in zab_out.drain(..) {
            out.push(match o {
                zab::Output::Send { to, msg } => ServerOutput::Peer { to, msg: PeerMessage::Zab(msg) },
                zab::Output::Persist { seq, op } => ServerOutput::Persist { seq, op },
                zab::Output::Event(e) => ServerOutput::Event(e),
            });
        }
        self.role_changes(out);
        self.on_applied(out);
    }

    fn role_changes(&mut self, out: &mut Vec<ServerOutput>) {
        let leading = self.peer.is_established_leader();
        let serving = self.peer.is_serving();
        if leading != self.leading {
            self.leading = leading;
            self.pending.clear();
            self.forwarded.clear();
            #[cfg(feature = "sim")]
            self.seen_xids.clear();
            self.session_owner.clear();
            self.tracker = SessionTracker::new(self.config.zab.tick_ms);
            if leading {
                // A new leader gives every session a full timeout from now (as ZooKeeper does).
                let now = self.now_ms;
                let sessions: Vec<(SessionId, i32)> = self.db().sessions.iter().map(|(id, t)| (*id, *t)).collect();
                for (id, timeout) in sessions {
                    self.tracker.add(id, timeout, now);
                }
            }
        }
        if serving != self.serving {
            self.serving = serving;
            if !serving {
                // Like ZooKeeper when it goes back to LOOKING: drop every client; they
                // reconnect (here or elsewhere) and keep their sessions.
                let mut conns: Vec<ConnId> = self.conns.keys().copied().collect();
                conns.sort_unstable();
                for conn in conns {
                    self.close(conn, out);
                }
            }
        }
    }

    fn on_tick(&mut self, out: &mut Vec<ServerOutput>) {
        if self.leading {
            self.skip_forward_gaps(out);
            for session in self.tracker.expired(self.now_ms) {
                let me = self.peer.id();
                self.propose_op(me, session, 0, WriteOp::CloseSession, Arc::default(), out);
            }
            if self.now_ms >= self.next_container_check_ms {
                self.next_container_check_ms = self.now_ms + self.config.container_check_ms;
                let tree = &self.peer.machine().db().tree;
                let now = i64::try_from(self.now_ms).unwrap_or(i64::MAX);
                let never_used = i64::try_from(self.config.container_never_used_ms).unwrap_or(i64::MAX);
                for path in tree.expiry_candidates(now, never_used) {
                    let me = self.peer.id();
                    self.propose_op(me, SessionId(0), 0, WriteOp::DeleteContainer { path }, Arc::default(), out);
                }
            }
        } else if self.serving && self.now_ms >= self.next_report_ms {
            self.next_report_ms = self.now_ms + self.config.zab.tick_ms / 2;
            if !self.touched.is_empty()
                && let Some(leader) = self.peer.leader()
            {
                let sessions = core::mem::take(&mut self.touched).into_iter().collect();
                out.push(ServerOutput::Peer { to: leader, msg: PeerMessage::Touch { sessions } });
            }
        }
    }

    fn on_peer(&mut self, from: ServerId, msg: PeerMessage, out: &mut Vec<ServerOutput>) {
        match msg {
            PeerMessage::Zab(msg) => self.zab(zab::Input::Receive { from, msg }, out),
            PeerMessage::Forward { epoch, nonce, seq, session, cxid, op, auth }
                if self.leading && Some(epoch) == self.leading_epoch() =>
            {
                self.on_forwarded(from, nonce, seq, Forwarded::Write { session, cxid, op: *op, auth }, out);
            }
            PeerMessage::Touch { sessions } if self.leading => {
                for s in sessions {
                    self.tracker.touch(s, self.now_ms);
                }
            }
            PeerMessage::Sync { nonce, seq, session, cxid } if self.leading => {
                // In the session's order with its writes, like them.
                self.on_forwarded(from, nonce, seq, Forwarded::Sync { session, cxid }, out);
            }
            PeerMessage::Revalidate { session } if self.leading => {
                let alive = self.tracker.is_alive(session);
                if alive {
                    self.tracker.touch(session, self.now_ms);
                    self.session_owner.insert(session, from);
                }
                let zxid = self.peer.last_zxid();
                out.push(ServerOutput::Peer { to: from, msg: PeerMessage::Revalidated { session, alive, zxid } });
            }
            PeerMessage::Revalidated { session, alive, zxid } => {
                if let Some(&conn) = self.owners.get(&session) {
                    self.reopened(conn, session, alive, zxid, out);
                }
            }
            PeerMessage::Refused { session, cxid, code } => self.refused(session, cxid, code, out),
            PeerMessage::Synced { session, cxid, zxid } => {
                if let Some(&conn) = self.owners.get(&session) {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        for item in c.queue.iter_mut() {
                            if let Item::Sync { xid, state, .. } = item
                                && *xid == cxid
                                && *state == SyncState::Sent
                            {
                                *state = SyncState::Target(zxid);
                                self.syncing.insert(conn);
                                break;
                            }
                        }
                    }
                    self.drain(conn, out);
                }
            }
            // Pipeline messages for a leader we no longer are: the sender's client times out
            // and retries.
            _ => {}
        }
    }

    fn leading_epoch(&self) -> Option<u32> {
        match self.peer.status() {
            zab::Status::Leading { epoch, .. } => Some(epoch),
            _ => None,
        }
    }

    /// Leader: prep a write against the tree plus pending changes, and propose it.
    fn propose_op(
        &mut self,
        origin: ServerId,
        session: SessionId,
        cxid: i32,
        op: WriteOp,
        auth: Arc<Vec<Id>>,
        out: &mut Vec<ServerOutput>,
    ) {
        let Some(zxid) = self.peer.next_zxid() else { return };
        let is_create = matches!(op, WriteOp::CreateSession { .. });
        let housekeeping = matches!(op, WriteOp::DeleteContainer { .. });
        if is_create && (self.db().sessions.contains_key(&session) || self.tracker.get(session).is_some()) {
            return;
        }
        #[cfg(feature = "sim")]
        if self.config.zab.bugs.xid_dedupe && !is_create && cxid != 0 {
            if self.seen_xids.get(&session).is_some_and(|last| cxid <= *last) {
                return;
            }
            self.seen_xids.insert(session, cxid);
        }
        let from_expiry = cxid == 0 && origin == self.peer.id() && matches!(op, WriteOp::CloseSession);
        let moved = !is_create
            && !housekeeping
            && !from_expiry
            && self.session_owner.get(&session).is_some_and(|owner| *owner != origin);
        if is_create {
            self.session_owner.insert(session, origin);
        }
        let refusal =
            if !is_create && !housekeeping && !self.tracker.is_alive(session) && !self.closing_now(session, &op) {
                Some(ErrorCode::SessionExpired)
            } else {
                moved.then_some(ErrorCode::SessionMoved)
            };
        if let Some(code) = refusal {
            if origin == self.peer.id() {
                self.refused(session, cxid, code, out);
            } else {
                out.push(ServerOutput::Peer { to: origin, msg: PeerMessage::Refused { session, cxid, code } });
            }
            return;
        }
        let txn = {
            if !is_create && !housekeeping {
                self.tracker.touch(session, self.now_ms);
            }
            let ctx = AuthContext { session, ids: auth };
            txn::prep(&self.peer.machine().db().tree, &mut self.pending, &self.config.prep, &ctx, zxid, op)
        };
        if let Txn::CloseSession { .. } = txn {
            self.tracker.set_closing(session);
        }
        let mut zab_out = core::mem::take(&mut self.zab_out);
        if self.peer.propose(self.now_ms, session, cxid, txn, &mut zab_out).is_err() {
            self.pending.clear();
        }
        self.after_zab(&mut zab_out, out);
        self.zab_out = zab_out;
    }

    /// Leader: request `seq` forwarded by `from` on its join attempt `nonce`, taken only from
    /// the learner's current attempt, once, and in the order it was sent.
    fn on_forwarded(&mut self, from: ServerId, nonce: u64, seq: u64, request: Forwarded, out: &mut Vec<ServerOutput>) {
        if self.peer.learner_nonce(from) != Some(nonce) {
            return;
        }
        let inbound = self.forwarded.entry(from).or_insert_with(|| Inbound::new(nonce));
        if inbound.nonce() != nonce {
            *inbound = Inbound::new(nonce);
        }
        inbound.accept(self.now_ms, seq, request);
        self.release_forwarded(from, out);
    }

    /// Carries out `from`'s forwarded requests that are next in order.
    fn release_forwarded(&mut self, from: ServerId, out: &mut Vec<ServerOutput>) {
        while let Some(request) = self.forwarded.get_mut(&from).and_then(Inbound::release) {
            match request {
                Forwarded::Write { session, cxid, op, auth } => self.propose_op(from, session, cxid, op, auth, out),
                Forwarded::Sync { session, cxid } => {
                    let zxid = self.peer.last_zxid();
                    out.push(ServerOutput::Peer { to: from, msg: PeerMessage::Synced { session, cxid, zxid } });
                }
            }
            if !self.leading {
                return;
            }
        }
    }

    /// Leader, on a tick: a forwarded request that never came (lost on a network that can lose
    /// single messages) holds up its learner's later ones for at most syncLimit.
    fn skip_forward_gaps(&mut self, out: &mut Vec<ServerOutput>) {
        let wait = self.config.zab.sync_timeout_ms();
        let now = self.now_ms;
        let ready: Vec<ServerId> = self
            .forwarded
            .iter_mut()
            .filter(|(_, inbound)| inbound.is_waiting())
            .filter_map(|(id, inbound)| inbound.skip_gap(now, wait).then_some(*id))
            .collect();
        for from in ready {
            self.release_forwarded(from, out);
        }
    }

    /// The next number for a request this learner forwards on its current join attempt.
    fn next_forward_seq(&mut self) -> (u64, u64) {
        let nonce = self.peer.join_nonce().unwrap_or(0);
        if self.forward_seq.0 != nonce {
            self.forward_seq = (nonce, 0);
        }
        self.forward_seq.1 += 1;
        self.forward_seq
    }

    /// A write of `session` refused before it became a txn: its place in the owning
    /// connection's queue is answered with `code`.
    fn refused(&mut self, session: SessionId, cxid: i32, code: ErrorCode, out: &mut Vec<ServerOutput>) {
        let Some(&conn) = self.owners.get(&session) else { return };
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let found = c
            .queue
            .iter_mut()
            .find(|item| matches!(item, Item::Write { xid, state: WriteState::Sent, .. } if *xid == cxid));
        if let Some(item) = found {
            *item = Item::Refused { xid: cxid, code };
            self.drain(conn, out);
        }
    }

    /// The leader's own expiry closes sessions it already marked closing.
    fn closing_now(&self, session: SessionId, op: &WriteOp) -> bool {
        matches!(op, WriteOp::CloseSession) && self.tracker.get(session).is_some_and(|t| t.closing)
    }

    /// Proposes a ready-made txn, bypassing prep and sessions (the simulator's Zab-level
    /// background writes).
    #[cfg(feature = "sim")]
    pub fn propose_raw(
        &mut self,
        now_ms: u64,
        session: SessionId,
        cxid: i32,
        txn: Txn,
        out: &mut Vec<ServerOutput>,
    ) -> Option<Zxid> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut zab_out = core::mem::take(&mut self.zab_out);
        let zxid = self.peer.propose(self.now_ms, session, cxid, txn, &mut zab_out).ok();
        self.after_zab(&mut zab_out, out);
        self.zab_out = zab_out;
        zxid
    }

    /// Sends a write to the leader (or proposes it here).
    fn submit(&mut self, session: SessionId, cxid: i32, op: WriteOp, auth: Arc<Vec<Id>>, out: &mut Vec<ServerOutput>) {
        if self.leading {
            let me = self.peer.id();
            self.propose_op(me, session, cxid, op, auth, out);
        } else if let (Some(leader), zab::Status::Following { epoch, .. } | zab::Status::Observing { epoch, .. }) =
            (self.peer.leader(), self.peer.status())
        {
            self.touched.insert(session);
            let (nonce, seq) = self.next_forward_seq();
            let msg = PeerMessage::Forward { epoch, nonce, seq, session, cxid, op: Box::new(op), auth };
            out.push(ServerOutput::Peer { to: leader, msg });
        }
    }

    /// Acts on entries the database applied: watches, session bookkeeping, replies.
    fn on_applied(&mut self, out: &mut Vec<ServerOutput>) {
        let applied = self.peer.machine_mut().db_mut().take_applied();
        if applied.is_empty() {
            return;
        }
        let mut notes = Vec::new();
        #[cfg(feature = "sim")]
        let mut late = Vec::new();
        let mut touched_conns = BTreeSet::new();
        for a in applied {
            if self.leading {
                self.pending.committed(a.zxid);
                match &a.result {
                    TxnResult::SessionCreated => {
                        let timeout = self.db().sessions.get(&a.session).copied().unwrap_or(0);
                        self.tracker.add(a.session, timeout, self.now_ms);
                    }
                    TxnResult::SessionClosed { .. } => self.tracker.remove(a.session),
                    _ => {}
                }
            }
            for change in &a.changes {
                match change {
                    Change::Created(p) => self.watches.node_created(p, &mut notes),
                    Change::Deleted(p) => self.watches.node_deleted(p, &mut notes),
                    Change::DataChanged(p) => self.watches.data_changed(p, &mut notes),
                }
            }
            #[cfg(feature = "sim")]
            if self.config.zab.bugs.late_watch_events {
                late.append(&mut notes);
            }
            for n in notes.drain(..) {
                self.notify(n, out);
            }
            if let Some(&conn) = self.owners.get(&a.session) {
                self.complete(conn, a, out);
                touched_conns.insert(conn);
            }
        }
        // Syncs waiting for this server to catch up.
        touched_conns.extend(self.syncing.iter().copied());
        for conn in touched_conns {
            self.drain(conn, out);
        }
        let conns = &self.conns;
        self.syncing.retain(|id| {
            conns
                .get(id)
                .is_some_and(|c| c.queue.iter().any(|i| matches!(i, Item::Sync { state: SyncState::Target(_), .. })))
        });
        #[cfg(feature = "sim")]
        for n in late {
            self.notify(n, out);
        }
        self.reopen_caught_up(out);
    }

    fn notify(&mut self, n: Notification, out: &mut Vec<ServerOutput>) {
        let conn = n.watcher.0;
        if !self.conns.contains_key(&conn) {
            return;
        }
        let event = WatcherEvent { event_type: n.event.code(), state: 3, path: n.path };
        let mut bytes = Vec::new();
        // ZooKeeper 3.8 sends -1 as the notification's zxid.
        write_frame(&mut bytes, |b| encode_notification(-1, &event, b));
        out.push(ServerOutput::Send { conn, bytes });
    }

    /// The owner's side of an applied entry: a new session opens, a write completes.
    fn complete(&mut self, conn: ConnId, a: Applied, out: &mut Vec<ServerOutput>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if let Phase::Creating { old_form } = c.phase {
            if a.session == c.session && matches!(a.result, TxnResult::SessionCreated) {
                c.phase = Phase::Open;
                let response = ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: c.timeout_ms,
                    session_id: c.session.0,
                    passwd: Some(password(self.config.secret, c.session).to_vec()),
                    read_only: if old_form { None } else { Some(false) },
                };
                let mut bytes = Vec::new();
                write_frame(&mut bytes, |b| response.encode(b));
                out.push(ServerOutput::Send { conn, bytes });
                let early: Vec<Vec<u8>> = c.early.drain(..).collect();
                for payload in early {
                    self.on_frame(conn, payload, out);
                }
            }
            return;
        }
        let closed_elsewhere = matches!(a.result, TxnResult::SessionClosed { .. });
        let mut matched = false;
        for item in c.queue.iter_mut() {
            if let Item::Write { xid, state, .. } = item
                && *xid == a.cxid
                && matches!(state, WriteState::Sent)
            {
                *state = WriteState::Done(a.zxid, a.result);
                matched = true;
                break;
            }
        }
        if closed_elsewhere && !matched {
            // Expired (or closed through another server): the client learns it on reconnect.
            self.close(conn, out);
        }
    }

    fn on_frame(&mut self, conn: ConnId, payload: Vec<u8>, out: &mut Vec<ServerOutput>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        match c.phase {
            Phase::Handshake => self.on_connect(conn, &payload, out),
            Phase::Creating { .. } | Phase::Revalidating { .. } | Phase::Reopening { .. } => {
                if c.early.len() >= 1000 {
                    self.close(conn, out);
                } else {
                    c.early.push_back(payload);
                }
            }
            Phase::Open => self.on_request(conn, &payload, out),
        }
    }

    fn on_connect(&mut self, conn: ConnId, payload: &[u8], out: &mut Vec<ServerOutput>) {
        let Ok(request) = ConnectRequest::decode(payload) else {
            self.close(conn, out);
            return;
        };
        let committed = self.peer.committed();
        if request.last_zxid_seen > committed.as_i64() {
            // The client has seen more than this server holds: it must try another one.
            self.close(conn, out);
            return;
        }
        let old_form = request.read_only.is_none();
        let timeout = self.config.sessions.negotiate(request.timeout_ms);
        if request.session_id == 0 {
            let session = self.ids.next_id();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.phase = Phase::Creating { old_form };
                c.session = session;
                c.timeout_ms = timeout;
            }
            self.owners.insert(session, conn);
            self.submit(session, 0, WriteOp::CreateSession { timeout_ms: timeout }, Arc::default(), out);
            return;
        }
        let session = SessionId(request.session_id);
        // Another connection of this session on this server is replaced (or, with a wrong
        // password, closed too, as ZooKeeper does).
        if let Some(&other) = self.owners.get(&session)
            && other != conn
        {
            self.close(other, out);
        }
        let good = request.passwd.as_deref() == Some(&password(self.config.secret, session)[..]);
        if !good {
            self.refuse(conn, old_form, out);
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::Revalidating { old_form };
            c.session = session;
            c.timeout_ms = timeout;
        }
        self.owners.insert(session, conn);
        if self.leading {
            let alive = self.tracker.is_alive(session);
            if alive {
                self.session_owner.insert(session, self.peer.id());
            }
            let until = self.peer.last_zxid();
            self.reopened(conn, session, alive, until, out);
        } else if let Some(leader) = self.peer.leader() {
            out.push(ServerOutput::Peer { to: leader, msg: PeerMessage::Revalidate { session } });
        }
    }

    /// The leader's verdict on a reconnecting session, and the end of its history then: the
    /// session opens here once this server has applied that far (at once if it has).
    fn reopened(&mut self, conn: ConnId, session: SessionId, alive: bool, until: Zxid, out: &mut Vec<ServerOutput>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let Phase::Revalidating { old_form } = c.phase else { return };
        if !alive {
            self.refuse(conn, old_form, out);
            return;
        }
        if self.peer.committed() < until {
            c.phase = Phase::Reopening { old_form, until };
            self.reopening.insert(conn);
            return;
        }
        self.open_reconnected(conn, session, old_form, out);
    }

    /// Connections whose reopening session has caught up open now.
    fn reopen_caught_up(&mut self, out: &mut Vec<ServerOutput>) {
        if self.reopening.is_empty() {
            return;
        }
        let committed = self.peer.committed();
        let ready: Vec<(ConnId, SessionId, bool)> = self
            .reopening
            .iter()
            .filter_map(|conn| match self.conns.get(conn) {
                Some(Conn { phase: Phase::Reopening { old_form, until }, session, .. }) if committed >= *until => {
                    Some((*conn, *session, *old_form))
                }
                _ => None,
            })
            .collect();
        for (conn, session, old_form) in ready {
            self.reopening.remove(&conn);
            self.open_reconnected(conn, session, old_form, out);
        }
        let conns = &self.conns;
        self.reopening.retain(|conn| conns.get(conn).is_some_and(|c| matches!(c.phase, Phase::Reopening { .. })));
    }

    fn open_reconnected(&mut self, conn: ConnId, session: SessionId, old_form: bool, out: &mut Vec<ServerOutput>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.phase = Phase::Open;
        let timeout = c.timeout_ms;
        self.touch(session);
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout,
            session_id: session.0,
            passwd: Some(password(self.config.secret, session).to_vec()),
            read_only: if old_form { None } else { Some(false) },
        };
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| response.encode(b));
        out.push(ServerOutput::Send { conn, bytes });
        let early: Vec<Vec<u8>> = self.conns.get_mut(&conn).map(|c| c.early.drain(..).collect()).unwrap_or_default();
        for payload in early {
            self.on_frame(conn, payload, out);
        }
    }

    /// Expired, unknown or a wrong password: ZooKeeper's all-zero answer, then close.
    fn refuse(&mut self, conn: ConnId, old_form: bool, out: &mut Vec<ServerOutput>) {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| ConnectResponse::expired(old_form).encode(b));
        out.push(ServerOutput::Send { conn, bytes });
        self.close(conn, out);
    }

    fn touch(&mut self, session: SessionId) {
        if self.leading {
            self.tracker.touch(session, self.now_ms);
        } else {
            self.touched.insert(session);
        }
    }

    fn on_request(&mut self, conn: ConnId, payload: &[u8], out: &mut Vec<ServerOutput>) {
        let (xid, request) = match Request::decode(payload) {
            Ok(r) => r,
            Err(e) => {
                // As ZooKeeper 3.8: an opcode it does not know gets Unimplemented and the
                // connection closes; a deleteContainer from a client is always BadArguments; a
                // body that does not decode (truncated, a createSession, a bad multi op) gets
                // MarshallingError in its turn, and the session goes on. Only a frame too short
                // for a request header closes at once.
                let refusal = match e {
                    DecodeError::UnknownOpcode { opcode, .. } if opcode == OpCode::DeleteContainer.code() => {
                        Some(ErrorCode::BadArguments)
                    }
                    DecodeError::UnknownOpcode { opcode, .. } if opcode == OpCode::CreateSession.code() => {
                        Some(ErrorCode::MarshallingError)
                    }
                    DecodeError::UnknownOpcode { xid, .. } => {
                        let header = ReplyHeader { xid, zxid: -1, err: ErrorCode::Unimplemented.code() };
                        self.send_reply(conn, &header, &Response::Empty, out);
                        self.close(conn, out);
                        return;
                    }
                    _ => Some(ErrorCode::MarshallingError),
                };
                match (refusal, payload.get(..4)) {
                    (Some(code), Some(&[a, b, c, d])) if payload.len() >= 8 => {
                        let xid = i32::from_be_bytes([a, b, c, d]);
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.queue.push_back(Item::Refused { xid, code });
                        }
                        self.drain(conn, out);
                    }
                    _ => self.close(conn, out),
                }
                return;
            }
        };
        let Some(session) = self.conns.get(&conn).map(|c| c.session) else { return };
        self.touch(session);
        if let Request::Auth(packet) = request {
            self.on_auth(conn, packet.scheme, packet.auth.unwrap_or_default(), out);
            return;
        }
        match request {
            Request::Sync(PathRecord { path }) => {
                let Some(c) = self.conns.get_mut(&conn) else { return };
                c.queue.push_back(Item::Sync { xid, path, state: SyncState::Held });
            }
            Request::Reconfig(_) => {
                let Some(c) = self.conns.get_mut(&conn) else { return };
                c.queue.push_back(Item::Refused { xid, code: ErrorCode::ReconfigDisabled });
            }
            Request::Sasl(_) => {
                let Some(c) = self.conns.get_mut(&conn) else { return };
                c.queue.push_back(Item::Refused { xid, code: ErrorCode::Unimplemented });
            }
            request => {
                let Some(c) = self.conns.get_mut(&conn) else { return };
                match reply::classify(request) {
                    #[cfg(feature = "sim")]
                    reply::Kind::Read(request) if self.config.zab.bugs.eager_reads && !c.queue.is_empty() => {
                        let mut early = Vec::new();
                        self.answer_read(conn, xid, request, &mut early);
                        let frames = early
                            .into_iter()
                            .filter_map(|o| match o {
                                ServerOutput::Send { bytes, .. } => Some(bytes),
                                _ => None,
                            })
                            .flatten()
                            .collect();
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.queue.push_back(Item::Answered { frames });
                        }
                    }
                    reply::Kind::Read(request) => c.queue.push_back(Item::Read { xid, request }),
                    reply::Kind::Refused(code) => c.queue.push_back(Item::Refused { xid, code }),
                    reply::Kind::Write(op, shape) => {
                        let auth = Arc::clone(&c.auth);
                        c.queue.push_back(Item::Write { xid, shape, state: WriteState::Held { op, auth } });
                    }
                }
            }
        }
        self.drain(conn, out);
    }

    /// addAuth: `digest` (user:password) and `ip`; anything else fails the connection.
    fn on_auth(&mut self, conn: ConnId, scheme: String, auth: Vec<u8>, out: &mut Vec<ServerOutput>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let ok = match scheme.as_str() {
            "digest" => match core::str::from_utf8(&auth) {
                Ok(user_password) => {
                    let id = digest_id(user_password);
                    if self.config.super_digest.as_deref() == Some(id.as_str()) {
                        Arc::make_mut(&mut c.auth).push(Id::new("super", ""));
                    }
                    let id = Id::new("digest", &id);
                    if !c.auth.contains(&id) {
                        Arc::make_mut(&mut c.auth).push(id);
                    }
                    true
                }
                Err(_) => false,
            },
            "ip" => true,
            _ => false,
        };
        let err = if ok { ErrorCode::Ok } else { ErrorCode::AuthFailed };
        let header = ReplyHeader { xid: AUTH_XID, zxid: 0, err: err.code() };
        self.send_reply(conn, &header, &Response::Empty, out);
        if !ok {
            self.close(conn, out);
        }
    }

    /// Sends what may now be sent to the leader (see [`Item`]).
    fn advance(&mut self, conn: ConnId, out: &mut Vec<ServerOutput>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let session = c.session;
        let mut to_send = Vec::new();
        let mut sync = None;
        for (i, item) in c.queue.iter_mut().enumerate() {
            match item {
                Item::Write { xid, state, .. } => {
                    if let WriteState::Held { .. } = state
                        && let WriteState::Held { op, auth } = core::mem::replace(state, WriteState::Sent)
                    {
                        to_send.push((*xid, op, auth));
                    }
                }
                Item::Sync { xid, state, .. } => {
                    if i == 0 && *state == SyncState::Held {
                        if self.leading {
                            *state = SyncState::Target(self.peer.last_zxid());
                            self.syncing.insert(conn);
                        } else {
                            *state = SyncState::Sent;
                        }
                        sync = Some(*xid);
                    }
                    break;
                }
                _ => break,
            }
        }
        for (xid, op, auth) in to_send {
            self.submit(session, xid, op, auth, out);
        }
        if let Some(xid) = sync
            && !self.leading
            && let Some(leader) = self.peer.leader()
        {
            let (nonce, seq) = self.next_forward_seq();
            out.push(ServerOutput::Peer { to: leader, msg: PeerMessage::Sync { nonce, seq, session, cxid: xid } });
        }
    }

    /// Sends every reply at the front of the connection's queue that is ready, and what may
    /// then go to the leader.
    fn drain(&mut self, conn: ConnId, out: &mut Vec<ServerOutput>) {
        loop {
            self.advance(conn, out);
            let committed = self.peer.committed();
            let Some(c) = self.conns.get_mut(&conn) else { return };
            let ready = match c.queue.front() {
                None => return,
                Some(Item::Write { state, .. }) => matches!(state, WriteState::Done(..)),
                Some(Item::Sync { state, .. }) => matches!(state, SyncState::Target(t) if committed >= *t),
                Some(_) => true,
            };
            if !ready {
                return;
            }
            let Some(item) = c.queue.pop_front() else { return };
            match item {
                Item::Write { xid, shape, state: WriteState::Done(zxid, result) } => {
                    let moved = matches!(result, TxnResult::Failed(ErrorCode::SessionMoved));
                    let close = moved || (shape == Shape::Close && !matches!(result, TxnResult::Failed(_)));
                    let (err, body) = reply::write_reply(&shape, result);
                    let header = ReplyHeader { xid, zxid: zxid.as_i64(), err: err.code() };
                    self.send_reply(conn, &header, &body, out);
                    if close {
                        self.close(conn, out);
                        return;
                    }
                }
                Item::Write { .. } => {}
                Item::Sync { xid, path, .. } => {
                    let header = ReplyHeader { xid, zxid: committed.as_i64(), err: 0 };
                    self.send_reply(conn, &header, &Response::Sync(PathRecord { path }), out);
                }
                Item::Refused { xid, code } => {
                    let header = ReplyHeader { xid, zxid: committed.as_i64(), err: code.code() };
                    if code == ErrorCode::SessionMoved {
                        // As ZooKeeper: the stale connection of a moved session is closed.
                        self.send_reply(conn, &header, &Response::Empty, out);
                        self.close(conn, out);
                        return;
                    }
                    self.send_reply(conn, &header, &Response::Empty, out);
                }
                Item::Read { xid, request } => self.answer_read(conn, xid, request, out),
                #[cfg(feature = "sim")]
                Item::Answered { frames } => out.push(ServerOutput::Send { conn, bytes: frames }),
            }
        }
    }

    fn auth_of(&self, conn: ConnId) -> AuthContext {
        self.conns.get(&conn).map(|c| AuthContext { session: c.session, ids: c.auth.clone() }).unwrap_or_default()
    }

    fn answer_read(&mut self, conn: ConnId, xid: i32, request: Request, out: &mut Vec<ServerOutput>) {
        let zxid = self.peer.committed().as_i64();
        let auth = self.auth_of(conn);
        let skip = self.config.prep.skip_acl;
        let watcher = Watcher(conn);
        let tree = &self.peer.machine().db().tree;
        let mut notes = Vec::new();
        let (xid, result): (i32, Result<Response, ErrorCode>) = match request {
            Request::Ping => (PING_XID, Ok(Response::Empty)),
            Request::GetData(r) => (
                xid,
                txn::read::get_data(tree, &auth, &r.path, skip).map(|(data, stat)| {
                    if r.watch {
                        self.watches.add(&r.path, WatchKind::Data, watcher);
                    }
                    Response::GetData(GetDataResponse { data: data.map(<[u8]>::to_vec), stat })
                }),
            ),
            Request::Exists(r) => {
                if r.watch {
                    self.watches.add(&r.path, WatchKind::Exist, watcher);
                }
                (xid, txn::read::exists(tree, &r.path).map(|stat| Response::Stat(StatResponse { stat })))
            }
            Request::GetChildren(r) => (xid, self.children(&auth, &r.path, r.watch, watcher, false)),
            Request::GetChildren2(r) => (xid, self.children(&auth, &r.path, r.watch, watcher, true)),
            Request::GetAcl(r) => (
                xid,
                txn::read::get_acl(tree, &auth, &r.path, skip)
                    .map(|(acl, stat)| Response::GetAcl(GetAclResponse { acl, stat })),
            ),
            Request::GetAllChildrenNumber(r) => (
                xid,
                txn::read::all_children_number(tree, &auth, &r.path, skip)
                    .map(|total| Response::GetAllChildrenNumber(GetAllChildrenNumberResponse { total })),
            ),
            Request::GetEphemerals(r) => {
                let prefix = r.prefix.unwrap_or_default();
                let ephemerals = txn::read::ephemerals(tree, auth.session, &prefix);
                (xid, Ok(Response::GetEphemerals(GetEphemeralsResponse { ephemerals })))
            }
            Request::WhoAmI => {
                let client_info = auth
                    .ids
                    .iter()
                    .map(|id| ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: if id.scheme == "digest" {
                            id.id.split(':').next().unwrap_or("").into()
                        } else {
                            id.id.clone()
                        },
                    })
                    .collect();
                (xid, Ok(Response::WhoAmI(WhoAmIResponse { client_info })))
            }
            Request::MultiRead(ops) => {
                let mut results = Vec::with_capacity(ops.len());
                for op in ops {
                    results.push(match op {
                        MultiOp::GetData(r) => match txn::read::get_data(tree, &auth, &r.path, skip) {
                            Ok((data, stat)) => {
                                MultiResult::GetData(GetDataResponse { data: data.map(<[u8]>::to_vec), stat })
                            }
                            Err(code) => MultiResult::Error(code.code()),
                        },
                        MultiOp::GetChildren(r) => match txn::read::get_children(tree, &auth, &r.path, skip) {
                            Ok((names, _)) => MultiResult::GetChildren(GetChildrenResponse {
                                children: names.into_iter().map(String::from).collect(),
                            }),
                            Err(code) => MultiResult::Error(code.code()),
                        },
                        _ => MultiResult::Error(ErrorCode::MarshallingError.code()),
                    });
                }
                (xid, Ok(Response::Multi(results)))
            }
            Request::AddWatch(AddWatchRequest { path, mode }) => {
                let mode = match mode {
                    0 => Some(PersistentMode::Persistent),
                    1 => Some(PersistentMode::Recursive),
                    _ => None,
                };
                match mode {
                    Some(mode) => {
                        self.watches.add_persistent(&path, mode, watcher);
                        (xid, Ok(Response::AddWatch(ErrorResponse { err: 0 })))
                    }
                    None => (xid, Err(ErrorCode::MarshallingError)),
                }
            }
            Request::RemoveWatches(r) => {
                let code = self.watches.remove(&r.path, r.watcher_type, watcher);
                (xid, if code == ErrorCode::Ok { Ok(Response::Empty) } else { Err(code) })
            }
            Request::CheckWatches(r) => {
                let code = self.watches.check(&r.path, r.watcher_type, watcher);
                (xid, if code == ErrorCode::Ok { Ok(Response::Empty) } else { Err(code) })
            }
            Request::SetWatches(w) => {
                self.set_watches(
                    watcher,
                    w.relative_zxid,
                    [&w.data_watches, &w.exist_watches, &w.child_watches],
                    &[],
                    &mut notes,
                );
                (SET_WATCHES_XID, Ok(Response::Empty))
            }
            Request::SetWatches2(w) => {
                self.set_watches(
                    watcher,
                    w.relative_zxid,
                    [&w.data_watches, &w.exist_watches, &w.child_watches],
                    &[
                        (&w.persistent_watches, PersistentMode::Persistent),
                        (&w.persistent_recursive_watches, PersistentMode::Recursive),
                    ],
                    &mut notes,
                );
                (SET_WATCHES_XID, Ok(Response::Empty))
            }
            _ => (xid, Err(ErrorCode::Unimplemented)),
        };
        for n in notes {
            self.notify(n, out);
        }
        let (err, body) = match result {
            Ok(body) => (0, body),
            Err(code) => (code.code(), Response::Empty),
        };
        self.send_reply(conn, &ReplyHeader { xid, zxid, err }, &body, out);
    }

    fn children(
        &mut self,
        auth: &AuthContext,
        path: &str,
        watch: bool,
        watcher: Watcher,
        with_stat: bool,
    ) -> Result<Response, ErrorCode> {
        let tree = &self.peer.machine().db().tree;
        let (names, stat) = txn::read::get_children(tree, auth, path, self.config.prep.skip_acl)?;
        let children: Vec<String> = names.into_iter().map(String::from).collect();
        if watch {
            self.watches.add(path, WatchKind::Child, watcher);
        }
        Ok(if with_stat {
            Response::GetChildren2(GetChildren2Response { children, stat })
        } else {
            Response::GetChildren(GetChildrenResponse { children })
        })
    }

    /// SetWatches after a reconnect: fire at once what changed since `relative_zxid`,
    /// register the rest.
    fn set_watches(
        &mut self,
        watcher: Watcher,
        relative_zxid: i64,
        [data, exist, child]: [&Vec<String>; 3],
        persistent: &[(&Vec<String>, PersistentMode)],
        notes: &mut Vec<Notification>,
    ) {
        use crate::watch::EventType;
        let tree = &self.peer.machine().db().tree;
        let fire = |notes: &mut Vec<Notification>, event, path: &String| {
            notes.push(Notification { watcher, event, path: path.clone() });
        };
        let mut register = Vec::new();
        for path in data {
            match tree.get(path).map(|n| n.stat()) {
                None => fire(notes, EventType::NodeDeleted, path),
                Some(stat) if stat.mzxid > relative_zxid => fire(notes, EventType::NodeDataChanged, path),
                Some(_) => register.push((path, WatchKind::Data)),
            }
        }
        for path in exist {
            match tree.get(path) {
                Some(_) => fire(notes, EventType::NodeCreated, path),
                None => register.push((path, WatchKind::Exist)),
            }
        }
        for path in child {
            match tree.get(path).map(|n| n.stat()) {
                None => fire(notes, EventType::NodeDeleted, path),
                Some(stat) if stat.pzxid > relative_zxid => fire(notes, EventType::NodeChildrenChanged, path),
                Some(_) => register.push((path, WatchKind::Child)),
            }
        }
        for (path, kind) in register {
            self.watches.add(path, kind, watcher);
        }
        for (paths, mode) in persistent {
            for path in paths.iter() {
                self.watches.add_persistent(path, *mode, watcher);
            }
        }
    }

    fn send_reply(&self, conn: ConnId, header: &ReplyHeader, body: &Response, out: &mut Vec<ServerOutput>) {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| encode_reply(header, body, b));
        out.push(ServerOutput::Send { conn, bytes });
    }

    fn close(&mut self, conn: ConnId, out: &mut Vec<ServerOutput>) {
        if self.conns.contains_key(&conn) {
            self.forget(conn);
            out.push(ServerOutput::Close { conn });
        }
    }

    fn forget(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn)
            && self.owners.get(&c.session) == Some(&conn)
        {
            self.owners.remove(&c.session);
        }
        self.watches.remove_watcher(Watcher(conn));
        self.reopening.remove(&conn);
    }
}

/// The digest scheme's id for `user:password`: `user:base64(sha1(user:password))`.
pub fn digest_id(user_password: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    let user = user_password.split(':').next().unwrap_or("");
    let hash = sha1::Sha1::digest(user_password.as_bytes());
    let mut id = String::from(user);
    id.push(':');
    id.push_str(&base64::engine::general_purpose::STANDARD.encode(hash));
    id
}

#[cfg(test)]
mod tests;
