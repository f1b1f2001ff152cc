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
mod handshake;
mod leader;
mod pipeline;
mod read;
mod reply;
pub mod sasl;

pub use handshake::digest_id;

use alloc::boxed::Box;
use alloc::collections::{BTreeSet, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use coalesce::coalesce;
pub use db::{Applied, Change, ChangeKind, Database, Frozen, ServerMachine};
pub use reply::Shape;

use forwarded::{Forwarded, Inbound};

use crate::error::ErrorCode;
use crate::ids::{IdMap, ServerId, SessionId, Zxid};
use crate::session::{Password, SessionConfig, SessionIds, SessionTracker};
use crate::tree::Id;
use crate::txn::{PendingChanges, PrepConfig, TxnResult, WriteOp};
use crate::watch::WatchManager;
use crate::wire::Request;
use crate::zab::{self, Durable, Event, LogOp, Message, Peer};

/// A client connection, named by the host.
pub type ConnId = u64;

/// Everything one server is configured with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub zab: zab::Config,
    pub sessions: SessionConfig,
    pub prep: PrepConfig,
    /// `DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`.
    pub super_digest: Option<String>,
    /// `X509AuthenticationProvider.superUser`: a certificate subject that is super.
    pub x509_super: Option<String>,
    /// `enforce.auth.enabled` with `enforce.auth.schemes`: a connection that has no id of one of
    /// these schemes gets SessionClosedRequireSaslAuth for any request but addAuth, and is
    /// closed.
    pub enforce_auth: Option<Vec<String>>,
    /// SASL DIGEST-MD5 logins (opcode 102); without it a SASL request fails the connection.
    pub sasl: Option<sasl::SaslConfig>,
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
            super_digest: None,
            x509_super: None,
            enforce_auth: None,
            sasl: None,
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
    /// leader then takes this server as the session's owner.) Numbered with the forwarded
    /// writes ([`PeerMessage::Forward`]): a write this server forwarded for the session's
    /// earlier connection here is carried out (or refused) before the session counts as
    /// reconnected, never after, where it would pass the owner check again.
    Revalidate {
        nonce: u64,
        seq: u64,
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
    /// A client connected from `addr`; over TLS with a client certificate the trust store
    /// vouched for, `x509` is its subject (`CN=alice,O=Example`, last RDN first), the
    /// connection's `x509` id from the start.
    Connected {
        conn: ConnId,
        addr: IpAddr,
        x509: Option<String>,
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
    /// A SASL login succeeded or failed: for the host's log (the reply is in `Send`).
    Login(Login),
}

/// The outcome of a SASL exchange on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    pub conn: ConnId,
    pub session: SessionId,
    /// The user it proved to be, or why it failed.
    pub outcome: Result<String, sasl::SaslError>,
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
    /// The password a reconnecting client offered, checked once this server knows the session.
    offered: Option<Password>,
    /// Where this connection's SASL exchange stands.
    sasl: SaslStep,
}

/// A DIGEST-MD5 exchange: the empty first token gets a challenge with a fresh nonce, the
/// digest-response that answers it ends the exchange one way or the other.
#[derive(Debug, PartialEq, Eq)]
enum SaslStep {
    Start,
    Challenged { nonce: String },
    Done,
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

/// One ZooKeeper server.
///
/// The host owns the clock, the sockets and the disk. It feeds one [`ServerInput`] at a time
/// through [`Server::step`] with a monotonic `now_ms`, and then carries out every
/// [`ServerOutput`] left in `out`, in order:
///
/// ```text
///   Tick ─────────────┐                         ┌──► Peer { to, msg }    (per peer in order)
///   Peer { from, msg }┤                         ├──► Persist { seq, op } (strictly in seq order;
///   Persisted { seq } ┼──► Server::step ──► out ┤                         report Persisted after)
///   LinkDown { peer } ┤                         ├──► Send { conn, bytes } (per connection in order)
///   Connected / Frame ┤                         ├──► Close { conn }       (after what was sent)
///   Disconnected ─────┘                         └──► Event                (traces)
/// ```
///
/// A host may step a burst of inputs before it carries out their outputs, and may merge
/// consecutive outputs to one destination ([`coalesce`]), but it must keep their order per
/// destination, and must send a reply only after every `Persist` before it in `out` is on the
/// way to disk: replies to writes are only ever emitted after the `Persisted` report that made
/// their quorum, so a client hears "ok" only for what a quorum holds durably (DESIGN.md's
/// durability rule). Ticks should come at least every `tick_ms / 4`, and sooner when
/// [`Server::wake_at_ms`] asks. Report a peer link broken ([`ServerInput::LinkDown`]) as soon as
/// the host sees it: that is how a follower leaves a dead leader at once.
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
    /// SASL challenges made so far (a part of every nonce).
    sasl_challenges: u64,
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
            sasl_challenges: 0,
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

    /// The session a connection holds (0 until it has one) and its negotiated timeout, for
    /// the host's connection reports (`cons`, `wchc`).
    pub fn connection_session(&self, conn: ConnId) -> Option<(SessionId, i32)> {
        self.conns.get(&conn).map(|c| (c.session, c.timeout_ms))
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
            ServerInput::Connected { conn, addr, x509 } => {
                if !self.serving {
                    out.push(ServerOutput::Close { conn });
                    return;
                }
                let c = Conn {
                    phase: Phase::Handshake,
                    session: SessionId(0),
                    timeout_ms: 0,
                    auth: Arc::new(self.transport_ids(addr, x509)),
                    queue: VecDeque::new(),
                    early: VecDeque::new(),
                    offered: None,
                    sasl: SaslStep::Start,
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
                let sessions: Vec<(SessionId, i32)> =
                    self.db().sessions.iter().map(|(id, s)| (*id, s.timeout_ms)).collect();
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
            PeerMessage::Revalidate { nonce, seq, session } if self.leading => {
                self.on_forwarded(from, nonce, seq, Forwarded::Revalidate { session }, out);
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
}

#[cfg(test)]
mod tests;
