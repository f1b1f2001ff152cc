//! Driving a simulated cluster from outside, one command at a time, as the browser page does:
//! crash and restart servers, partition and heal the network, set fault rates, add clients
//! and queue their calls; step one event or run for a while; read every server's state.
//!
//! [`Driver`] logs each command with the step it was applied at. Runs are deterministic, so
//! any earlier moment is recomputed by replaying the seed, the scenario's script and that log
//! ([`Driver::seek`]); stepping forward again re-applies the logged commands at their steps,
//! and a new command at an earlier moment starts a new future (the later log is dropped).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::client::{Client, Link, Role};
use super::{Faults, Scheduled, Sim, SimConfig, kind_of};
use crate::check::Violation;
use crate::check::history::{self, Call, Outcome};
use crate::ids::ServerId;
use crate::zab::{self, Status};

/// Which server a command means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    Server(u64),
    /// The established leader at the moment the command applies.
    Leader,
    /// The lowest-numbered live voter that is not the leader.
    Follower,
}

/// What a driven client runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientRole {
    /// Only the calls it is given.
    Manual,
    /// A random mix of reads and writes.
    Random,
    /// The lock recipe on `/lock`.
    Lock,
    /// The leader-election recipe on `/election`.
    Election,
}

/// A call a driven client can be given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientOp {
    Create { path: String, data: String, ephemeral: bool, sequential: bool },
    SetData { path: String, data: String, version: i32 },
    GetData { path: String },
    Exists { path: String },
    GetChildren { path: String },
    Delete { path: String, version: i32 },
    Sync { path: String },
    CloseSession,
}

impl ClientOp {
    fn call(&self) -> Call {
        match self.clone() {
            ClientOp::Create { path, data, ephemeral, sequential } => {
                Call::Create { path, data: data.into_bytes(), ephemeral, sequential }
            }
            ClientOp::SetData { path, data, version } => Call::SetData { path, data: data.into_bytes(), version },
            ClientOp::GetData { path } => Call::GetData { path },
            ClientOp::Exists { path } => Call::Exists { path },
            ClientOp::GetChildren { path } => Call::GetChildren { path },
            ClientOp::Delete { path, version } => Call::Delete { path, version },
            ClientOp::Sync { path } => Call::Sync { path },
            ClientOp::CloseSession => Call::CloseSession,
        }
    }
}

/// One thing done to the cluster from outside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Stop a server; its unsynced writes are lost (a power cut).
    Crash {
        server: Target,
    },
    Restart {
        server: u64,
    },
    /// Restart every stopped server.
    RestartAll,
    /// Cut the network into groups: servers in different groups cannot talk; a server in no
    /// group is alone.
    Partition {
        groups: Vec<Vec<u64>>,
    },
    Heal,
    Faults {
        drop_per_mille: u64,
        dup_per_mille: u64,
        latency_min_ms: u64,
        latency_max_ms: u64,
    },
    /// A new client (numbered from 1 in order of addition), pinned to `server` if given.
    AddClient {
        role: ClientRole,
        server: Option<u64>,
    },
    Call {
        client: u32,
        op: ClientOp,
    },
    /// Reconnect a client to another server (its session moves with it).
    MoveClient {
        client: u32,
        server: u64,
    },
    /// Lose the next `count` messages of `kind` (e.g. "PROPOSAL") sent by `from`.
    DropNext {
        kind: String,
        from: Target,
        count: u32,
    },
    /// Cut one server off from all the others.
    Isolate {
        server: Target,
    },
    /// The leader proposes a create of `path` by itself (no client: a raw txn).
    Propose {
        path: String,
    },
}

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
    /// Handles the next event; `false` when nothing is left to happen.
    pub fn step_event(&mut self) -> bool {
        let Some(((at, _), event)) = self.queue.pop_first() else { return false };
        self.report.steps += 1;
        self.now_ms = self.now_ms.max(at);
        self.checker.set_time(self.now_ms);
        self.handle(event);
        true
    }

    /// When the next event happens.
    pub fn next_event_ms(&self) -> Option<u64> {
        self.queue.first_key_value().map(|(&(at, _), _)| at)
    }

    /// Events handled so far.
    pub fn steps(&self) -> u64 {
        self.report.steps
    }

    /// The report so far (counters; violations are in [`Sim::violations`]).
    pub fn report(&self) -> &super::Report {
        &self.report
    }

    /// Moves the clock forward to `ms` when no event is due before it.
    fn advance_to(&mut self, ms: u64) {
        if self.next_event_ms().is_none_or(|next| next >= ms) {
            self.now_ms = self.now_ms.max(ms);
            self.checker.set_time(self.now_ms);
        }
    }

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

    /// Servers that are up.
    pub fn server_ids(&self) -> Vec<ServerId> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    fn resolve(&self, target: &Target) -> Result<ServerId, String> {
        match target {
            Target::Server(id) => {
                self.index_of(ServerId(*id)).map(|_| ServerId(*id)).ok_or_else(|| format!("no server s{id}"))
            }
            Target::Leader => self.leader().ok_or_else(|| "no established leader".to_string()),
            Target::Follower => {
                let leader = self.leader();
                self.nodes
                    .iter()
                    .take(self.config.voters)
                    .filter(|n| n.server.is_some() && Some(n.id) != leader)
                    .map(|n| n.id)
                    .next()
                    .ok_or_else(|| "no live follower".to_string())
            }
        }
    }

    /// Cuts the network into `groups` (a server in none is alone).
    pub fn partition_groups(&mut self, groups: &[Vec<u64>]) {
        let ids: Vec<ServerId> = self.server_ids();
        let group_of = |id: ServerId| groups.iter().position(|g| g.contains(&id.0));
        self.blocked.clear();
        for &a in &ids {
            for &b in &ids {
                let apart = match (group_of(a), group_of(b)) {
                    (Some(x), Some(y)) => x != y,
                    _ => a != b,
                };
                if apart {
                    self.blocked.insert((a, b));
                }
            }
        }
        let described: Vec<String> = groups
            .iter()
            .map(|g| {
                let names: Vec<String> = g.iter().map(|id| format!("s{id}")).collect();
                format!("{{{}}}", names.join(","))
            })
            .collect();
        self.record(ServerId(0), super::TraceKind::Partition { description: described.join(" | ") });
    }

    /// The pairs (from, to) that cannot talk.
    pub fn blocked_links(&self) -> Vec<(u64, u64)> {
        self.blocked.iter().map(|(a, b)| (a.0, b.0)).collect()
    }

    /// Adds a client; returns its number (from 1).
    pub fn add_client(&mut self, role: ClientRole, server: Option<u64>) -> u32 {
        let id = self.clients.len() as u32 + 1;
        let rng = self.rng.fork(0xC11E_0000 + u64::from(id));
        let role = match role {
            ClientRole::Manual => Role::Manual,
            ClientRole::Random => Role::Random,
            ClientRole::Lock => Role::Lock,
            ClientRole::Election => Role::Election,
        };
        // The history checker needs every committed entry from now on.
        for node in &mut self.nodes {
            if let Some(server) = node.server.as_mut() {
                server.machine_mut().record_entries = true;
            }
        }
        let mut client = Client::with_role(id, rng, role);
        client.home = server.and_then(|s| self.index_of(ServerId(s)));
        self.clients.push(client);
        let delay = self.rng.between(1, 10);
        self.schedule(delay, Scheduled::ClientTick { client: id as usize - 1 });
        id
    }

    fn client_index(&self, client: u32) -> Result<usize, String> {
        let index = (client as usize).checked_sub(1).filter(|&i| i < self.clients.len());
        index.ok_or_else(|| format!("no client {client}"))
    }

    /// Reconnects `client` to server `server`.
    pub fn move_client(&mut self, client: u32, server: u64) -> Result<(), String> {
        let index = self.client_index(client)?;
        let home = self.index_of(ServerId(server)).ok_or_else(|| format!("no server s{server}"))?;
        self.clients[index].home = Some(home);
        let conn = match self.clients[index].link {
            Link::Connected { conn, server } | Link::Connecting { conn, server, .. } if server != home => Some(conn),
            _ => None,
        };
        if let Some(conn) = conn {
            let now = self.now_ms;
            self.client_actions(index, alloc::vec![super::client::ClientAction::Drop { conn }]);
            self.clients[index].lost(now);
        }
        Ok(())
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

    fn server_view(&self, index: usize, node: &super::Node) -> ServerView {
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
            sessions: db.sessions.iter().map(|(id, timeout)| (format!("0x{:x}", id.0), *timeout)).collect(),
            digest: format!("{:016x}", zab::StateMachine::digest(db)),
            unsynced,
        }
    }

    /// Judges the clients' histories so far against the committed log (the checks a run
    /// makes at its end): the first violation found, if any. Calls still in flight count as
    /// unknown outcomes.
    pub fn check_history_now(&self) -> Option<Violation> {
        let ops: Vec<history::Op> = self.clients.iter().flat_map(|c| c.history.iter().cloned()).collect();
        let writes: Vec<history::CommittedWrite> =
            self.committed.values().map(|e| history::from_txn(e.zxid.as_i64(), e.session.0, e.cxid, &e.txn)).collect();
        history::check(&ops, &writes).err().map(|failure| Violation {
            at_ms: self.now_ms,
            server: ServerId(0),
            invariant: failure.guarantee.name(),
            detail: format!("{failure}"),
        })
    }

    /// Carries out one command.
    pub fn execute(&mut self, command: &Command) -> Result<(), String> {
        match command {
            Command::Crash { server } => {
                let id = self.resolve(server)?;
                let index = self.index_of(id).ok_or("no such server")?;
                if self.nodes[index].server.is_none() {
                    return Err(format!("{id} is already down"));
                }
                self.crash_node(index, 0);
            }
            Command::Restart { server } => {
                let index = self.index_of(ServerId(*server)).ok_or_else(|| format!("no server s{server}"))?;
                if self.nodes[index].server.is_some() {
                    return Err(format!("s{server} is up"));
                }
                self.restart_server(ServerId(*server));
            }
            Command::RestartAll => {
                for id in self.server_ids() {
                    self.restart_server(id);
                }
            }
            Command::Partition { groups } => self.partition_groups(groups),
            Command::Heal => self.heal(),
            Command::Faults { drop_per_mille, dup_per_mille, latency_min_ms, latency_max_ms } => {
                let low = (*latency_min_ms).clamp(1, 10_000);
                self.config.faults = Faults {
                    drop_per_mille: (*drop_per_mille).min(1000),
                    dup_per_mille: (*dup_per_mille).min(1000),
                    latency_ms: (low, (*latency_max_ms).clamp(low, 10_000)),
                    ..self.config.faults.clone()
                };
            }
            Command::AddClient { role, server } => {
                if self.clients.len() >= 64 {
                    return Err("at most 64 clients".into());
                }
                self.add_client(*role, *server);
            }
            Command::Call { client, op } => {
                let index = self.client_index(*client)?;
                if self.clients[index].role != Role::Manual {
                    return Err(format!("client {client} runs a recipe; it takes no calls"));
                }
                self.clients[index].enqueue(op.call());
            }
            Command::MoveClient { client, server } => self.move_client(*client, *server)?,
            Command::Isolate { server } => {
                let id = self.resolve(server)?;
                let rest: Vec<u64> = self.server_ids().into_iter().filter(|s| *s != id).map(|s| s.0).collect();
                self.partition_groups(&[alloc::vec![id.0], rest]);
            }
            Command::Propose { path } => {
                self.write(path).ok_or("no established leader")?;
            }
            Command::DropNext { kind, from, count } => {
                let from = self.resolve(from)?;
                let Some(kind) = super::MESSAGE_KINDS.iter().copied().find(|k| *k == kind.as_str()) else {
                    return Err(format!("no message kind {kind}"));
                };
                self.rules.push(super::Rule { kind, from: Some(from), to: None, delay_ms: None, remaining: *count });
            }
        }
        Ok(())
    }
}

/// A configuration for a cluster driven by hand: no faults unless asked for, no chaos phase,
/// no background writes, every event traced.
pub fn interactive_config(seed: u64, voters: usize, observers: usize) -> SimConfig {
    SimConfig {
        faults: Faults { latency_ms: (15, 40), fsync_ms: (2, 6), ..Faults::none() },
        chaos_ms: u64::MAX / 4,
        calm_ms: 0,
        tick_ms: 200,
        write_every_ms: 0,
        log_window: 16,
        trace: true,
        auto_faults: false,
        ..SimConfig::from_seed(seed, voters, observers)
    }
}

/// A scripted scenario: a cluster and commands at set simulated times.
#[derive(Clone, Debug)]
pub struct Preset {
    pub name: &'static str,
    pub voters: usize,
    pub observers: usize,
    pub log_window: usize,
    /// Deliberate protocol bugs (to watch the checker catch them).
    pub bugs: zab::Bugs,
    pub script: Vec<(u64, Command)>,
}

/// The scenarios the page teaches with.
pub fn presets() -> Vec<Preset> {
    use Command::*;
    let manual = |server| AddClient { role: ClientRole::Manual, server: Some(server) };
    let create = |client, path: &str, data: &str| Call {
        client,
        op: ClientOp::Create { path: path.into(), data: data.into(), ephemeral: false, sequential: false },
    };
    let set = |client, path: &str, data: &str| Call {
        client,
        op: ClientOp::SetData { path: path.into(), data: data.into(), version: -1 },
    };
    let preset = |name, voters, script| Preset {
        name,
        voters,
        observers: 0,
        log_window: 16,
        bugs: zab::Bugs::default(),
        script,
    };
    alloc::vec![
        preset("cold-start", 5, Vec::new()),
        preset(
            "leader-crash",
            5,
            alloc::vec![
                (0, manual(1)),
                (3_000, create(1, "/config", "v1")),
                (4_000, Crash { server: Target::Leader }),
                (6_000, set(1, "/config", "v2")),
                (12_000, RestartAll),
            ],
        ),
        preset(
            "minority-partition",
            5,
            alloc::vec![
                (0, manual(1)),
                (3_000, create(1, "/app", "before")),
                (4_000, Partition { groups: alloc::vec![alloc::vec![1, 2], alloc::vec![3, 4, 5]] }),
                (4_500, set(1, "/app", "during")),
                (9_000, Heal),
            ],
        ),
        Preset {
            name: "snap-sync",
            voters: 3,
            observers: 0,
            log_window: 4,
            bugs: zab::Bugs::default(),
            script: alloc::vec![
                (0, AddClient { role: ClientRole::Random, server: None }),
                (2_500, Crash { server: Target::Follower }),
                (9_000, RestartAll),
            ],
        },
        preset(
            "truncate",
            3,
            alloc::vec![
                (0, manual(1)),
                (0, manual(2)),
                (2_500, create(1, "/a", "kept")),
                (3_500, DropNext { kind: "PROPOSAL".into(), from: Target::Leader, count: 2 }),
                (3_550, set(2, "/a", "lost")),
                (3_700, Crash { server: Target::Leader }),
                (9_000, RestartAll),
            ],
        ),
        preset("lock", 5, (0..5).map(|_| (0, AddClient { role: ClientRole::Lock, server: None })).collect()),
        Preset {
            name: "broken-commit",
            voters: 3,
            observers: 0,
            log_window: 16,
            bugs: zab::Bugs { commit_without_quorum: true, ..zab::Bugs::default() },
            script: alloc::vec![
                (3_000, Isolate { server: Target::Leader }),
                (3_100, Propose { path: "/only-on-the-old-leader".into() }),
                (10_000, Heal),
            ],
        },
    ]
}

/// A cluster driven from outside, with the log of what was done to it.
#[derive(Debug)]
pub struct Driver {
    pub sim: Sim,
    config: SimConfig,
    script: Vec<(u64, Command)>,
    next_scripted: usize,
    /// Commands applied from outside, with the step count when each was applied.
    log: Vec<(u64, Command)>,
    next_logged: usize,
    /// Why scripted or logged commands failed, if any did (shown, not fatal).
    pub notes: Vec<String>,
}

impl Driver {
    pub fn new(config: SimConfig, mut script: Vec<(u64, Command)>) -> Driver {
        script.sort_by_key(|(at, _)| *at);
        Driver {
            sim: Sim::new(config.clone()),
            config,
            script,
            next_scripted: 0,
            log: Vec::new(),
            next_logged: 0,
            notes: Vec::new(),
        }
    }

    /// A preset by name, on `seed`.
    pub fn preset(name: &str, seed: u64) -> Option<Driver> {
        let preset = presets().into_iter().find(|p| p.name == name)?;
        let config = SimConfig {
            log_window: preset.log_window,
            bugs: preset.bugs,
            ..interactive_config(seed, preset.voters, preset.observers)
        };
        Some(Driver::new(config, preset.script))
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn steps(&self) -> u64 {
        self.sim.steps()
    }

    /// The commands applied from outside, with their steps.
    pub fn log(&self) -> &[(u64, Command)] {
        &self.log
    }

    /// Applies `command` now and logs it. A command applied at an earlier moment than the
    /// end of the log starts a new future: the later commands are dropped.
    pub fn apply(&mut self, command: Command) -> Result<(), String> {
        let step = self.steps();
        self.log.truncate(self.next_logged);
        self.sim.execute(&command)?;
        self.log.push((step, command));
        self.next_logged = self.log.len();
        Ok(())
    }

    /// Replaces the log (for a shared link): the cluster restarts from the beginning.
    pub fn set_log(&mut self, log: Vec<(u64, Command)>) {
        self.restart();
        self.log = log;
    }

    /// Applies what is due before the next event.
    fn due(&mut self) {
        while let Some((step, command)) = self.log.get(self.next_logged) {
            if *step > self.steps() {
                break;
            }
            let command = command.clone();
            self.next_logged += 1;
            if let Err(e) = self.sim.execute(&command) {
                self.notes.push(format!("step {}: {command:?}: {e}", self.steps()));
            }
        }
        let next = self.sim.next_event_ms().unwrap_or(u64::MAX);
        while let Some((at, command)) = self.script.get(self.next_scripted) {
            if *at > next {
                break;
            }
            let (at, command) = (*at, command.clone());
            self.next_scripted += 1;
            self.sim.advance_to(at);
            if let Err(e) = self.sim.execute(&command) {
                self.notes.push(format!("{at} ms: {command:?}: {e}"));
            }
        }
    }

    /// One event (after any command due); `false` if nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.due();
        self.sim.step_event()
    }

    /// Events until the clock passes `ms` more milliseconds, or `max_steps` events.
    pub fn run_for(&mut self, ms: u64, max_steps: u64) -> u64 {
        let end = self.sim.now_ms().saturating_add(ms);
        let mut done = 0;
        while done < max_steps {
            self.due();
            if self.sim.next_event_ms().is_none_or(|at| at > end) {
                self.sim.advance_to(end);
                break;
            }
            self.sim.step_event();
            done += 1;
        }
        done
    }

    /// Runs `count` events.
    pub fn run_steps(&mut self, count: u64) -> u64 {
        let mut done = 0;
        while done < count && self.step() {
            done += 1;
        }
        done
    }

    fn restart(&mut self) {
        self.sim = Sim::new(self.config.clone());
        self.next_scripted = 0;
        self.next_logged = 0;
        self.notes.clear();
    }

    /// Goes to the moment after `step` events: back by replaying from the start, forward by
    /// running (logged commands are applied again at their steps).
    pub fn seek(&mut self, step: u64) {
        if step < self.steps() {
            self.restart();
        }
        while self.steps() < step && self.step() {}
    }

    /// Goes to the last moment at or before simulated time `ms` (replaying from the start).
    pub fn seek_ms(&mut self, ms: u64) {
        self.restart();
        while self.sim.next_event_ms().is_some_and(|at| at <= ms) && self.step() {}
    }

    /// The Zab invariants' violations so far, then the client-history verdict.
    pub fn verdict(&self) -> Vec<Violation> {
        let mut all: Vec<Violation> = self.sim.violations().to_vec();
        if all.is_empty()
            && let Some(v) = self.sim.check_history_now()
        {
            all.push(v);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::BTreeSet;

    use super::*;

    fn leader_of(d: &Driver) -> Option<u64> {
        d.sim.leader().map(|l| l.0)
    }

    fn run_to_ms(d: &mut Driver, ms: u64) {
        let now = d.sim.now_ms();
        d.run_for(ms.saturating_sub(now), u64::MAX);
    }

    #[test]
    fn cold_start_elects_one_leader_of_five() {
        let mut d = Driver::preset("cold-start", 1).unwrap();
        run_to_ms(&mut d, 3_000);
        let leader = leader_of(&d).expect("a leader within 3 s");
        let views = d.sim.server_views();
        assert_eq!(views.iter().filter(|v| v.role == "LEADING").count(), 1);
        assert_eq!(views.iter().filter(|v| v.role == "FOLLOWING").count(), 4);
        assert!(views.iter().all(|v| v.leader == Some(leader)));
        assert!(d.verdict().is_empty());
    }

    #[test]
    fn leader_crash_elects_another_and_keeps_the_write() {
        let mut d = Driver::preset("leader-crash", 2).unwrap();
        run_to_ms(&mut d, 3_900);
        let first = leader_of(&d).expect("a leader");
        run_to_ms(&mut d, 9_000);
        let second = leader_of(&d).expect("a new leader");
        assert_ne!(first, second);
        run_to_ms(&mut d, 16_000);
        for view in d.sim.server_views() {
            assert!(view.up, "{view:?}");
            let node = view.tree.iter().find(|n| n.path == "/config").expect("/config everywhere");
            assert_eq!(node.data, "v2", "s{}", view.id);
        }
        let client = &d.sim.client_views()[0];
        assert_eq!(client.calls.iter().filter(|c| c.status == "ok").count(), 2, "{client:?}");
        assert!(d.verdict().is_empty(), "{:?}", d.verdict());
    }

    #[test]
    fn minority_partition_cannot_commit_until_healed() {
        let mut d = Driver::preset("minority-partition", 3).unwrap();
        run_to_ms(&mut d, 8_500);
        // The client is pinned to s1, on the minority side: s1 stops serving, the connection
        // drops, and the write's outcome is unknown to the client (ConnectionLoss).
        let client = &d.sim.client_views()[0];
        assert_eq!(client.calls.last().map(|c| c.status), Some("lost"), "{client:?}");
        assert_ne!(client.link, "connected", "{client:?}");
        let majority: Vec<ServerView> = d.sim.server_views().into_iter().filter(|v| v.id >= 3).collect();
        assert!(majority.iter().any(|v| v.role == "LEADING"), "{majority:?}");
        run_to_ms(&mut d, 20_000);
        for view in d.sim.server_views() {
            let node = view.tree.iter().find(|n| n.path == "/app").expect("/app");
            assert_eq!(node.data, "before", "s{}", view.id);
        }
        assert!(d.verdict().is_empty(), "{:?}", d.verdict());
    }

    #[test]
    fn a_follower_far_behind_is_synced_by_snap() {
        let mut d = Driver::preset("snap-sync", 4).unwrap();
        run_to_ms(&mut d, 14_000);
        assert!(d.sim.report().syncs.get("SNAP").copied().unwrap_or(0) > 0, "{:?}", d.sim.report().syncs);
        let digests: BTreeSet<String> = d.sim.server_views().into_iter().map(|v| v.digest).collect();
        assert!(d.verdict().is_empty(), "{:?}", d.verdict());
        assert!(digests.len() <= 2, "{digests:?}");
    }

    #[test]
    fn an_uncommitted_proposal_is_truncated_after_failover() {
        let mut d = Driver::preset("truncate", 5).unwrap();
        run_to_ms(&mut d, 15_000);
        assert!(d.sim.report().syncs.get("TRUNC").copied().unwrap_or(0) > 0, "{:?}", d.sim.report().syncs);
        for view in d.sim.server_views() {
            let node = view.tree.iter().find(|n| n.path == "/a").expect("/a");
            assert_eq!(node.data, "kept", "s{}", view.id);
        }
        assert!(d.verdict().is_empty(), "{:?}", d.verdict());
    }

    #[test]
    fn lock_clients_take_turns() {
        let mut d = Driver::preset("lock", 6).unwrap();
        run_to_ms(&mut d, 10_000);
        let claims: usize = d.sim.clients.iter().map(|c| c.claims.len()).sum();
        assert!(claims >= 5, "{claims} claims");
        assert!(d.verdict().is_empty(), "{:?}", d.verdict());
    }

    #[test]
    fn a_broken_zab_is_caught() {
        let mut d = Driver::preset("broken-commit", 10).unwrap();
        run_to_ms(&mut d, 20_000);
        let verdict = d.verdict();
        assert!(!verdict.is_empty(), "the checker must flag a commit without quorum");
        assert_eq!(verdict[0].invariant, "CommitDurability", "{verdict:?}");
        assert!(d.notes.is_empty(), "{:?}", d.notes);
    }

    #[test]
    fn seeking_back_and_forth_recomputes_the_same_moment() {
        let mut d = Driver::preset("cold-start", 7).unwrap();
        d.run_steps(2_000);
        d.apply(Command::AddClient { role: ClientRole::Manual, server: Some(2) }).unwrap();
        d.apply(Command::Call {
            client: 1,
            op: ClientOp::Create { path: "/x".into(), data: "1".into(), ephemeral: true, sequential: true },
        })
        .unwrap();
        d.run_steps(500);
        d.apply(Command::Crash { server: Target::Leader }).unwrap();
        d.run_steps(3_000);
        let (views, trace) = (d.sim.server_views(), d.sim.trace.len());
        d.seek(1_000);
        assert_eq!(d.steps(), 1_000);
        d.seek(5_500);
        assert_eq!(d.sim.server_views(), views);
        assert_eq!(d.sim.trace.len(), trace);
        let at = d.sim.now_ms();
        d.seek_ms(at / 2);
        assert!(d.sim.now_ms() <= at / 2 && d.steps() > 0);
        // A new command in the past drops the old future.
        d.seek(2_100);
        d.apply(Command::Heal).unwrap();
        assert_eq!(d.log().len(), 3);
        assert!(d.notes.is_empty(), "{:?}", d.notes);
    }

    #[test]
    fn bad_commands_are_errors() {
        let mut d = Driver::preset("cold-start", 8).unwrap();
        assert!(d.apply(Command::Crash { server: Target::Server(9) }).is_err());
        assert!(d.apply(Command::Crash { server: Target::Leader }).is_err());
        assert!(d.apply(Command::Restart { server: 1 }).is_err());
        assert!(d.apply(Command::Call { client: 3, op: ClientOp::CloseSession }).is_err());
        assert!(d.apply(Command::DropNext { kind: "NOPE".into(), from: Target::Server(1), count: 1 }).is_err());
        assert!(d.log().is_empty());
    }

    #[test]
    fn messages_in_flight_pair_with_the_trace() {
        let mut d = Driver::preset("cold-start", 9).unwrap();
        d.run_steps(50);
        let flying = d.sim.in_flight();
        assert!(!flying.is_empty());
        for m in &flying {
            assert!(m.sent_ms <= d.sim.now_ms() && m.at_ms >= d.sim.now_ms(), "{m:?}");
            let sent =
                d.sim.trace.iter().any(|l| matches!(l.kind, super::super::TraceKind::Send { id, .. } if id == m.id));
            assert!(sent, "{m:?}");
        }
    }
}
