//! What the page shows of a cluster: servers, clients, messages in flight.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::Serialize;

use super::*;
use crate::check::history::{self, Outcome};
use crate::sim::client::{Link, Role};
use crate::sim::{Scheduled, Sim, kind_of};
use crate::zab::{self, Status};

/// A message on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InFlight {
    pub id: u64,
    pub from: u64,
    pub to: u64,
    pub kind: &'static str,
    pub sent_ms: u64,
    pub at_ms: u64,
}

/// One entry of a server's log, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub zxid: String,
    pub epoch: u32,
    pub counter: u32,
    pub committed: bool,
    pub what: String,
}

/// One znode, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeLine {
    pub path: String,
    pub data: String,
    pub version: i32,
    pub ephemeral_owner: String,
}

/// A server's state, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerView {
    pub id: u64,
    pub up: bool,
    pub observer: bool,
    /// LOOKING, LEADING, FOLLOWING, OBSERVING, or DOWN.
    pub role: &'static str,
    /// The leader's phase or the learner's stage (empty while looking or down).
    pub phase: String,
    pub leader: Option<u64>,
    pub epoch: u32,
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    pub last_zxid: String,
    pub committed: String,
    pub durable: String,
    /// The entries held in memory (the newest `log_window` or so), oldest first.
    pub log: Vec<LogLine>,
    /// Where that log starts (everything at or below is in the snapshot).
    pub log_floor: String,
    pub tree: Vec<NodeLine>,
    /// Open sessions (replicated): id and timeout.
    pub sessions: Vec<(String, i32)>,
    pub digest: String,
    /// Writes waiting for fsync on its disk.
    pub unsynced: usize,
}

/// A driven client, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientView {
    pub id: u32,
    pub role: ClientRole,
    pub server: Option<u64>,
    pub home: Option<u64>,
    /// idle, connecting, connected.
    pub link: &'static str,
    pub session: String,
    pub queued: usize,
    /// Its calls, newest last: what it asked and what came back.
    pub calls: Vec<CallLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallLine {
    pub call: String,
    pub invoked_ms: u64,
    /// ok, error, pending (in flight), or lost (the connection dropped first).
    pub status: &'static str,
    pub result: String,
}

fn zxid_text(zxid: crate::ids::Zxid) -> String {
    format!("{}:{}", zxid.epoch(), zxid.counter())
}

impl Sim {
    /// Peer messages on the wire, oldest first.
    pub fn in_flight(&self) -> Vec<InFlight> {
        let mut all: Vec<InFlight> = self
            .queue
            .iter()
            .filter_map(|(&(at_ms, _), event)| match event {
                Scheduled::Deliver { from, to, msg, id, sent_ms } => {
                    Some(InFlight { id: *id, from: from.0, to: to.0, kind: kind_of(msg), sent_ms: *sent_ms, at_ms })
                }
                _ => None,
            })
            .collect();
        all.sort_by_key(|m| (m.sent_ms, m.id));
        all
    }

    /// The pairs (from, to) that cannot talk.
    pub fn blocked_links(&self) -> Vec<(u64, u64)> {
        self.blocked.iter().map(|(a, b)| (a.0, b.0)).collect()
    }

    /// What each driven client is doing.
    pub fn client_views(&self) -> Vec<ClientView> {
        self.clients
            .iter()
            .map(|c| {
                let (link, server) = match c.link {
                    Link::Idle { .. } => ("idle", None),
                    Link::Connecting { server, .. } => ("connecting", Some(server)),
                    Link::Connected { server, .. } => ("connected", Some(server)),
                };
                let role = match c.role {
                    Role::Manual => ClientRole::Manual,
                    Role::Random => ClientRole::Random,
                    Role::Lock => ClientRole::Lock,
                    Role::Election => ClientRole::Election,
                };
                let first = c.history.len().saturating_sub(40);
                let calls = c.history[first..]
                    .iter()
                    .enumerate()
                    .map(|(i, op)| {
                        let (status, result) = match &op.outcome {
                            Outcome::Ok { reply, zxid, .. } => ("ok", format!("{reply} @{zxid:#x}")),
                            Outcome::Err { code, .. } => ("error", format!("{code}")),
                            Outcome::Unknown if c.is_outstanding(first + i) => ("pending", String::new()),
                            Outcome::Unknown => ("lost", "connection lost: outcome unknown".to_string()),
                        };
                        CallLine { call: format!("{}", op.call), invoked_ms: op.invoked_ms, status, result }
                    })
                    .collect();
                ClientView {
                    id: c.id,
                    role,
                    server: server.map(|i| self.nodes[i].id.0),
                    home: c.home.map(|i| self.nodes[i].id.0),
                    link,
                    session: if c.session() == 0 { String::new() } else { format!("0x{:x}", c.session()) },
                    queued: c.queued(),
                    calls,
                }
            })
            .collect()
    }

    /// Every server's state.
    pub fn server_views(&self) -> Vec<ServerView> {
        self.nodes.iter().enumerate().map(|(index, node)| self.server_view(index, node)).collect()
    }

    pub(super) fn server_view(&self, index: usize, node: &crate::sim::Node) -> ServerView {
        let observer = index >= self.config.voters;
        let unsynced = node.disk.pending.len();
        let Some(peer) = node.peer() else {
            let image = &node.disk.durable;
            return ServerView {
                id: node.id.0,
                up: false,
                observer,
                role: "DOWN",
                phase: String::new(),
                leader: None,
                epoch: 0,
                accepted_epoch: image.accepted_epoch,
                current_epoch: image.current_epoch,
                last_zxid: zxid_text(image.last_zxid()),
                committed: String::new(),
                durable: zxid_text(image.last_zxid()),
                log: Vec::new(),
                log_floor: zxid_text(image.snapshot_zxid()),
                tree: Vec::new(),
                sessions: Vec::new(),
                digest: String::new(),
                unsynced,
            };
        };
        let status = peer.status();
        let (epoch, phase) = match status {
            Status::Looking => (peer.current_epoch(), String::new()),
            Status::Leading { epoch, phase } => (epoch, format!("{phase:?}")),
            Status::Following { epoch, stage, .. } | Status::Observing { epoch, stage, .. } => {
                (epoch, format!("{stage:?}"))
            }
        };
        let committed = peer.committed();
        let log_floor = peer.log().floor();
        let log = peer
            .log()
            .after(log_floor)
            .map(|e: &alloc::sync::Arc<zab::Entry>| LogLine {
                zxid: zxid_text(e.zxid),
                epoch: e.zxid.epoch(),
                counter: e.zxid.counter(),
                committed: e.zxid <= committed,
                what: format!("{}", history::from_txn(e.zxid.as_i64(), e.session.0, e.cxid, &e.txn).effect),
            })
            .collect();
        let db = &peer.machine().inner;
        let mut tree = Vec::new();
        db.tree.walk(|path, node| {
            if crate::tree::is_builtin(path) {
                return;
            }
            let data = node.data().map(|d| String::from_utf8_lossy(d).into_owned()).unwrap_or_default();
            let stat = node.stat();
            let owner = if stat.ephemeral_owner == 0 { String::new() } else { format!("0x{:x}", stat.ephemeral_owner) };
            tree.push(NodeLine { path: path.to_string(), data, version: stat.version, ephemeral_owner: owner });
        });
        tree.sort_by(|a, b| a.path.cmp(&b.path));
        ServerView {
            id: node.id.0,
            up: true,
            observer,
            role: status.name(),
            phase,
            leader: peer.leader().map(|l| l.0),
            epoch,
            accepted_epoch: peer.accepted_epoch(),
            current_epoch: peer.current_epoch(),
            last_zxid: zxid_text(peer.last_zxid()),
            committed: zxid_text(committed),
            durable: zxid_text(peer.durable_zxid()),
            log,
            log_floor: zxid_text(log_floor),
            tree,
            sessions: db.sessions.iter().map(|(id, s)| (format!("0x{:x}", id.0), s.timeout_ms)).collect(),
            digest: format!("{:016x}", zab::StateMachine::digest(db)),
            unsynced,
        }
    }
}
