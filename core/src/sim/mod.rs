//! A deterministic simulated cluster: N Zab servers on a simulated network with simulated disks
//! and a simulated clock, all driven by one seeded generator, with faults on (message loss,
//! duplication, delay and reordering, partitions, crashes that lose unsynced writes, restarts,
//! replaced disks), and every step checked by [`crate::check::Checker`].
//!
//! A run has two phases, as TigerBeetle's VOPR does: a chaos phase with faults on (safety),
//! then a calm phase with every fault healed (liveness: a leader must be established and the
//! writes of the calm phase must commit on every server). Same seed, same run, bit for bit.

pub mod client;
pub mod disk;
pub mod interactive;
pub mod machine;
pub mod trace;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::check::history::{self, CommittedWrite};
use crate::check::{Checker, Violation};
use crate::ids::{ServerId, SessionId, Zxid};
use crate::rng::Rng;
use crate::server::{PeerMessage, Server, ServerConfig, ServerInput, ServerOutput, coalesce};
use crate::tree::Acl;
use crate::txn::{CreateTxn, Txn};
use crate::zab::{self, Bugs, Durable, Event, LogOp, Message, Peer, Status};
use client::{Client, ClientAction};
use disk::Disk;
use machine::SimMachine;
use trace::{TraceKind, TraceLine};

/// Which faults a run injects, and how hard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Messages lost, per thousand.
    pub drop_per_mille: u64,
    /// Messages delivered twice, per thousand.
    pub dup_per_mille: u64,
    /// One-way network latency range; a wide range reorders messages.
    pub latency_ms: (u64, u64),
    /// fsync latency range.
    pub fsync_ms: (u64, u64),
    pub partitions: bool,
    pub crashes: bool,
    /// A crash may keep any prefix of the unsynced writes (else it loses them all).
    pub torn_crashes: bool,
    /// A crashed server may come back with a blank, replaced disk.
    pub wipes: bool,
}

impl Faults {
    pub fn none() -> Faults {
        Faults {
            drop_per_mille: 0,
            dup_per_mille: 0,
            latency_ms: (1, 5),
            fsync_ms: (1, 4),
            partitions: false,
            crashes: false,
            torn_crashes: false,
            wipes: false,
        }
    }

    /// Everything on, with rates drawn from the seed (VOPR style).
    pub fn all(rng: &mut Rng) -> Faults {
        let latency_min = rng.between(1, 10);
        Faults {
            drop_per_mille: rng.between(0, 300),
            dup_per_mille: rng.between(0, 500),
            latency_ms: (latency_min, latency_min + rng.between(0, 200)),
            fsync_ms: (1, rng.between(2, 30)),
            partitions: true,
            crashes: true,
            torn_crashes: true,
            wipes: rng.chance(1, 4),
        }
    }
}

/// Everything a run is made of.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub voters: usize,
    pub observers: usize,
    pub faults: Faults,
    /// Length of the chaos phase.
    pub chaos_ms: u64,
    /// Length of the calm phase.
    pub calm_ms: u64,
    /// Zab's tickTime (short, so runs cover many elections).
    pub tick_ms: u64,
    /// Mean time between client writes.
    pub write_every_ms: u64,
    pub log_window: usize,
    pub blank_defence: bool,
    pub bugs: Bugs,
    pub trace: bool,
    /// The zxid counter at which a leader must start a new epoch.
    pub counter_limit: u32,
    /// Stop after this many simulated events (0: no limit). A run stopped early is judged for
    /// safety only.
    pub max_steps: u64,
    /// Simulated ZooKeeper clients (0: the leader proposes raw txns instead, for Zab alone).
    pub clients: usize,
    /// Of those, how many run the lock recipe, and how many the leader-election recipe.
    pub lock_clients: usize,
    pub election_clients: usize,
    /// The simulator injects faults itself in the chaos phase (crashes, partitions, heals).
    /// Off for interactive runs, where faults come from outside ([`interactive`]).
    pub auto_faults: bool,
}

impl SimConfig {
    /// A run derived from `seed`, with every fault on.
    pub fn from_seed(seed: u64, voters: usize, observers: usize) -> SimConfig {
        let mut rng = Rng::new(seed).fork(0xFA17);
        SimConfig {
            seed,
            voters,
            observers,
            faults: Faults::all(&mut rng),
            chaos_ms: 20_000,
            calm_ms: 15_000,
            tick_ms: 100,
            write_every_ms: rng.between(20, 200),
            log_window: rng.between(4, 64) as usize,
            blank_defence: true,
            bugs: Bugs::default(),
            trace: false,
            counter_limit: u32::MAX,
            max_steps: 0,
            clients: 0,
            lock_clients: 0,
            election_clients: 0,
            auto_faults: true,
        }
    }

    /// A quiet run: no faults.
    pub fn quiet(seed: u64, voters: usize, observers: usize) -> SimConfig {
        SimConfig { faults: Faults::none(), chaos_ms: 0, ..SimConfig::from_seed(seed, voters, observers) }
    }
}

/// What a run showed.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub violations: Vec<Violation>,
    /// Liveness: in the calm phase a leader was established and every server caught up.
    pub live: bool,
    pub liveness_problem: Option<String>,
    /// Time from the start of the calm phase to the first leader established in it (`None`
    /// if the leader of the chaos phase simply stayed).
    pub election_ms: Option<u64>,
    /// Time from the start of the run to the first established leader (cold start).
    pub first_leader_ms: Option<u64>,
    pub committed: u64,
    pub proposals: u64,
    pub epochs: usize,
    pub messages: u64,
    pub dropped: u64,
    pub crashes: u64,
    pub syncs: BTreeMap<&'static str, u64>,
    pub trace_hash: u64,
    /// Simulated events handled.
    pub steps: u64,
    /// The run hit `max_steps` before its end; liveness was not judged.
    pub stopped_early: bool,
    /// Client calls by outcome: ok replies, error replies, no reply.
    pub calls_ok: u64,
    pub calls_failed: u64,
    pub calls_unknown: u64,
    pub sessions: u64,
    /// Lock acquisitions and leaderships the recipe clients claimed (each checked).
    pub claims: u64,
}

#[derive(Clone, Debug)]
enum Scheduled {
    Deliver {
        from: ServerId,
        to: ServerId,
        msg: PeerMessage,
        /// The message's number (a duplicate shares it) and when it was sent.
        id: u64,
        sent_ms: u64,
    },
    Tick {
        server: usize,
        incarnation: u64,
    },
    Fsync {
        server: usize,
        incarnation: u64,
        upto: u64,
    },
    Chaos,
    Calm,
    Restart {
        server: usize,
    },
    Write,
    Snapshot {
        server: usize,
    },
    ClientTick {
        client: usize,
    },
    /// Client to server, on connection `conn`.
    ToServer {
        conn: u64,
        input: ServerInput,
    },
    /// Server to client: one or more frames.
    ToClient {
        conn: u64,
        bytes: Vec<u8>,
    },
    /// The connection is gone, as the client sees it.
    ClientClosed {
        conn: u64,
    },
    /// Server `server`'s host sees its link with `peer` break (the peer's process died).
    LinkDown {
        server: usize,
        peer: ServerId,
    },
}

/// A client connection: which client, which server (and which incarnation of it).
#[derive(Clone, Copy, Debug)]
struct ConnInfo {
    client: usize,
    server: usize,
    incarnation: u64,
    /// When the last byte each way is delivered (connections are in order, like TCP).
    to_server_at: u64,
    to_client_at: u64,
    dead: bool,
}

struct Node {
    id: ServerId,
    server: Option<Server<SimMachine>>,
    incarnation: u64,
    disk: Disk,
    last_status: (&'static str, u32),
}

impl Node {
    fn peer(&self) -> Option<&Peer<SimMachine>> {
        self.server.as_ref().map(|s| s.peer())
    }
}

/// The trace name of a peer message.
fn kind_of(msg: &PeerMessage) -> &'static str {
    match msg {
        PeerMessage::Zab(m) => m.kind(),
        PeerMessage::Forward { .. } => "FORWARD",
        PeerMessage::Touch { .. } => "TOUCH",
        PeerMessage::Sync { .. } => "SYNC",
        PeerMessage::Synced { .. } => "SYNCED",
        PeerMessage::Revalidate { .. } => "REVALIDATE",
        PeerMessage::Revalidated { .. } => "REVALIDATED",
        PeerMessage::Refused { .. } => "REFUSED",
    }
}

/// Every name [`kind_of`] gives.
pub const MESSAGE_KINDS: [&str; 24] = [
    "VOTE",
    "FOLLOWERINFO",
    "OBSERVERINFO",
    "LEADERINFO",
    "ACKEPOCH",
    "NEWLEADER(DIFF)",
    "NEWLEADER(TRUNC)",
    "NEWLEADER(SNAP)",
    "ACK(NEWLEADER)",
    "UPTODATE",
    "PROPOSAL",
    "ACK",
    "COMMIT",
    "INFORM",
    "NACK",
    "PING",
    "PONG",
    "FORWARD",
    "TOUCH",
    "SYNC",
    "SYNCED",
    "REVALIDATE",
    "REVALIDATED",
    "REFUSED",
];

/// How long a call made in the calm phase may wait for its reply (or for its connection to
/// close) before the run counts it as dropped.
const ANSWER_MS: u64 = 5_000;

/// A message the next matching send should suffer (single untimely message faults).
#[derive(Clone, Debug)]
pub struct Rule {
    pub kind: &'static str,
    pub from: Option<ServerId>,
    pub to: Option<ServerId>,
    /// Drop it (`None`) or delay it by this much.
    pub delay_ms: Option<u64>,
    /// How many more sends it applies to.
    pub remaining: u32,
}

/// The simulated cluster.
pub struct Sim {
    pub config: SimConfig,
    now_ms: u64,
    rng: Rng,
    queue: BTreeMap<(u64, u64), Scheduled>,
    next_event: u64,
    nodes: Vec<Node>,
    blocked: BTreeSet<(ServerId, ServerId)>,
    calm: bool,
    pub rules: Vec<Rule>,
    pub checker: Checker,
    pub trace: Vec<TraceLine>,
    trace_hasher: xxhash_rust::xxh3::Xxh3,
    report: Report,
    next_write: u64,
    /// Writes proposed during the calm phase: they must all commit.
    calm_writes: Vec<Zxid>,
    out: Vec<ServerOutput>,
    clients: Vec<Client>,
    conns: BTreeMap<u64, ConnInfo>,
    next_conn: u64,
    /// Every committed entry, by zxid (the ground truth for the history checker).
    committed: BTreeMap<Zxid, zab::Entry>,
}

impl core::fmt::Debug for Sim {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sim").field("seed", &self.config.seed).field("now_ms", &self.now_ms).finish()
    }
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        let rng = Rng::new(config.seed);
        let count = config.voters + config.observers;
        let nodes = (1..=count as u64)
            .map(|i| Node {
                id: ServerId(i),
                server: None,
                incarnation: 0,
                disk: Disk::default(),
                last_status: ("", 0),
            })
            .collect();
        let mut sim = Sim {
            report: Report { seed: config.seed, ..Report::default() },
            config,
            now_ms: 0,
            rng,
            queue: BTreeMap::new(),
            next_event: 0,
            nodes,
            blocked: BTreeSet::new(),
            calm: false,
            rules: Vec::new(),
            checker: Checker::new(),
            trace: Vec::new(),
            trace_hasher: xxhash_rust::xxh3::Xxh3::new(),
            next_write: 0,
            calm_writes: Vec::new(),
            out: Vec::new(),
            clients: Vec::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            committed: BTreeMap::new(),
        };
        for id in 0..sim.config.clients {
            let rng = sim.rng.fork(0xC11E_0000 + id as u64);
            let role = if id < sim.config.lock_clients {
                client::Role::Lock
            } else if id < sim.config.lock_clients + sim.config.election_clients {
                client::Role::Election
            } else {
                client::Role::Random
            };
            let mut c = Client::with_role(id as u32 + 1, rng, role);
            // Every other client numbers its requests anew on each connection, as Kazoo does.
            c.xids = if id % 2 == 1 { client::Xids::Connection } else { client::Xids::Session };
            sim.clients.push(c);
            let delay = sim.rng.between(1, sim.config.tick_ms * 5);
            sim.schedule(delay, Scheduled::ClientTick { client: id });
        }
        for index in 0..count {
            sim.start_node(index);
        }
        sim.schedule(sim.config.chaos_ms, Scheduled::Calm);
        if sim.config.chaos_ms > 0 && sim.config.auto_faults {
            sim.schedule(sim.config.tick_ms * 5, Scheduled::Chaos);
        }
        if sim.config.clients == 0 && sim.config.write_every_ms > 0 {
            let first_write = sim.config.write_every_ms;
            sim.schedule(first_write, Scheduled::Write);
        }
        sim
    }

    fn zab_config(&self, id: ServerId) -> zab::Config {
        let voters = (1..=self.config.voters as u64).map(ServerId).collect();
        let observers = (self.config.voters as u64 + 1..=(self.config.voters + self.config.observers) as u64)
            .map(ServerId)
            .collect();
        let mut config = zab::Config::new(id, voters, observers);
        config.tick_ms = self.config.tick_ms;
        config.finalize_wait_ms = self.config.tick_ms;
        config.notify_min_ms = self.config.tick_ms;
        config.notify_max_ms = self.config.tick_ms * 16;
        config.log_window = self.config.log_window;
        config.blank_defence = self.config.blank_defence;
        config.counter_limit = self.config.counter_limit;
        config.bugs = self.config.bugs;
        config
    }

    fn schedule(&mut self, delay_ms: u64, event: Scheduled) {
        self.next_event += 1;
        self.queue.insert((self.now_ms + delay_ms, self.next_event), event);
    }

    fn record(&mut self, server: ServerId, kind: TraceKind) {
        if !self.config.trace {
            return;
        }
        let line = TraceLine { at_ms: self.now_ms, server, kind };
        self.trace_hasher.update(format!("{line}\n").as_bytes());
        self.trace.push(line);
    }

    /// Starts (or restarts) a server from what its disk holds.
    fn start_node(&mut self, index: usize) {
        let id = self.nodes[index].id;
        let image = self.nodes[index].disk.durable.clone();
        self.checker.on_restart(id, &image);
        let machine = match &image.snapshot {
            Some((_, bytes)) => SimMachine::from_snapshot(bytes).unwrap_or_else(|_| SimMachine::new()),
            None => SimMachine::new(),
        };
        let mut machine = machine;
        machine.record_entries = self.config.clients > 0 || !self.clients.is_empty();
        let durable =
            Durable { accepted_epoch: image.accepted_epoch, current_epoch: image.current_epoch, log: image.log };
        let seed = self.rng.next_u64();
        let config = self.zab_config(id);
        let node = &mut self.nodes[index];
        node.incarnation += 1;
        let now = self.now_ms;
        node.server = Some(Server::new(ServerConfig::new(config), seed, durable, machine, now));
        node.last_status = ("", 0);
        let incarnation = node.incarnation;
        let delay = self.rng.below(self.config.tick_ms / 4 + 1);
        self.schedule(delay, Scheduled::Tick { server: index, incarnation });
        let snapshot_in = self.rng.between(self.config.tick_ms * 10, self.config.tick_ms * 40);
        self.schedule(snapshot_in, Scheduled::Snapshot { server: index });
    }

    /// Runs to the end (or the first violation) and reports.
    pub fn run(mut self) -> Report {
        let end = self.config.chaos_ms + self.config.calm_ms;
        while let Some(((at, _), event)) = self.queue.pop_first() {
            if at > end {
                break;
            }
            if self.config.max_steps != 0 && self.report.steps >= self.config.max_steps {
                self.report.stopped_early = true;
                break;
            }
            self.report.steps += 1;
            self.now_ms = at;
            self.checker.set_time(at);
            self.handle(event);
            if !self.checker.ok() {
                break;
            }
        }
        self.finish()
    }

    /// Runs for at most `ms` more simulated milliseconds (for scenario tests).
    pub fn run_for(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while let Some((&(at, _), _)) = self.queue.first_key_value() {
            if at > end || !self.checker.ok() {
                break;
            }
            let Some(((at, _), event)) = self.queue.pop_first() else { break };
            self.now_ms = at;
            self.checker.set_time(at);
            self.handle(event);
        }
        self.now_ms = self.now_ms.max(end);
    }

    fn handle(&mut self, event: Scheduled) {
        match event {
            Scheduled::Deliver { from, to, msg, id, .. } => self.deliver(from, to, msg, id),
            Scheduled::Tick { server, incarnation } => {
                if self.nodes[server].incarnation == incarnation && self.nodes[server].server.is_some() {
                    self.step(server, ServerInput::Tick);
                    let every = self.config.tick_ms / 4;
                    let delay = self.rng.between(every / 2, every);
                    self.schedule(delay.max(1), Scheduled::Tick { server, incarnation });
                }
            }
            Scheduled::Fsync { server, incarnation, upto } => self.fsync(server, incarnation, upto),
            Scheduled::Chaos => self.chaos(),
            Scheduled::Calm => self.heal_all(),
            Scheduled::Restart { server } => {
                if self.nodes[server].server.is_none() {
                    let blank = self.nodes[server].disk.durable.is_blank();
                    let id = self.nodes[server].id;
                    self.record(id, TraceKind::Restart { blank });
                    self.start_node(server);
                }
            }
            Scheduled::Write => self.client_write(),
            Scheduled::Snapshot { server } => self.snapshot(server),
            Scheduled::ClientTick { client } => self.client_tick(client),
            Scheduled::ToServer { conn, input } => self.deliver_to_server(conn, input),
            Scheduled::ToClient { conn, bytes } => self.deliver_to_client(conn, bytes),
            Scheduled::LinkDown { server, peer } => {
                if self.nodes[server].server.is_some() {
                    self.step(server, ServerInput::LinkDown { peer });
                }
            }
            Scheduled::ClientClosed { conn } => {
                if let Some(info) = self.conns.remove(&conn) {
                    let now = self.now_ms;
                    self.clients[info.client].closed(conn, now);
                }
            }
        }
    }

    fn step(&mut self, index: usize, input: ServerInput) {
        let Some(server) = self.nodes[index].server.as_mut() else { return };
        let mut out = core::mem::take(&mut self.out);
        server.step(self.now_ms, input, &mut out);
        coalesce(&mut out);
        self.carry_out(index, &mut out);
        self.out = out;
        self.after_step(index);
    }

    fn after_step(&mut self, index: usize) {
        if let Some(server) = self.nodes[index].server.as_mut() {
            for entry in server.machine_mut().entries.drain(..) {
                self.committed.entry(entry.zxid).or_insert(entry);
            }
        }
        let node = &self.nodes[index];
        let Some(peer) = node.peer() else { return };
        self.checker.after_step(node.id, peer);
        let status = peer.status();
        let epoch = match status {
            Status::Looking => peer.current_epoch(),
            Status::Leading { epoch, .. } | Status::Following { epoch, .. } | Status::Observing { epoch, .. } => epoch,
        };
        let now = (status.name(), epoch);
        if now != node.last_status {
            let (zxid, committed, id) = (peer.last_zxid(), peer.committed(), node.id);
            self.nodes[index].last_status = now;
            self.record(id, TraceKind::Status { status: now.0, epoch, zxid, committed });
        }
        if self.next_event.is_multiple_of(16) {
            let peers: Vec<&Peer<SimMachine>> = self.nodes.iter().filter_map(|n| n.peer()).collect();
            self.checker.check_process_consistency(&peers);
        }
    }

    /// Carries out a peer's outputs: messages onto the network, writes onto its disk.
    fn carry_out(&mut self, index: usize, out: &mut Vec<ServerOutput>) {
        let id = self.nodes[index].id;
        for output in out.drain(..) {
            match output {
                ServerOutput::Peer { to, msg } => {
                    if let (Some(peer), PeerMessage::Zab(zab)) = (self.nodes[index].peer(), &msg) {
                        self.checker.on_send(id, zab, &self.nodes[index].disk.durable, peer);
                    }
                    self.send(id, to, msg);
                }
                ServerOutput::Persist { seq, op } => {
                    let before = self.nodes[index].disk.logical();
                    self.checker.on_persist(id, &op, &before);
                    let leading =
                        self.nodes[index].peer().is_some_and(|p| matches!(p.status(), Status::Leading { .. }));
                    if let (LogOp::Append(entry), true) = (&op, leading) {
                        self.checker.on_proposal(id, entry);
                    }
                    self.nodes[index].disk.pending.push((seq, op));
                    self.start_fsync(index);
                }
                ServerOutput::Event(event) => self.on_event(index, event),
                ServerOutput::Send { conn, bytes } => {
                    if let Some(at) = self.client_link(conn, false) {
                        self.schedule(at - self.now_ms, Scheduled::ToClient { conn, bytes });
                    }
                }
                ServerOutput::Close { conn } => {
                    if let Some(at) = self.client_link(conn, false) {
                        self.schedule(at - self.now_ms, Scheduled::ClientClosed { conn });
                    }
                    if let Some(info) = self.conns.get_mut(&conn) {
                        info.dead = true;
                    }
                }
            }
        }
    }

    fn on_event(&mut self, index: usize, event: Event) {
        let id = self.nodes[index].id;
        match &event {
            Event::Established { epoch } => {
                if let Some(peer) = self.nodes[index].peer() {
                    self.checker.on_established(id, *epoch, peer);
                }
                if self.report.first_leader_ms.is_none() {
                    self.report.first_leader_ms = Some(self.now_ms);
                }
                if self.calm && self.report.election_ms.is_none() {
                    self.report.election_ms = Some(self.now_ms - self.config.chaos_ms);
                }
            }
            Event::Committed { to, .. } => {
                let leading = self.nodes[index].peer().is_some_and(|p| matches!(p.status(), Status::Leading { .. }));
                if leading {
                    let voters = self.config.voters;
                    let disks: Vec<(ServerId, &disk::Image)> =
                        self.nodes.iter().take(voters).map(|n| (n.id, &n.disk.durable)).collect();
                    let quorum = voters / 2 + 1;
                    self.checker.on_leader_commit(id, *to, quorum, &disks);
                }
            }
            Event::SyncSent { mode, .. } => *self.report.syncs.entry(mode).or_default() += 1,
            _ => {}
        }
        self.record(id, TraceKind::Event(event));
    }

    fn start_fsync(&mut self, index: usize) {
        let node = &self.nodes[index];
        if node.disk.syncing_to.is_some() {
            return;
        }
        let Some(&(upto, _)) = node.disk.pending.last() else { return };
        let incarnation = node.incarnation;
        self.nodes[index].disk.syncing_to = Some(upto);
        let (low, high) = self.config.faults.fsync_ms;
        let delay = self.rng.between(low, high);
        self.schedule(delay, Scheduled::Fsync { server: index, incarnation, upto });
    }

    fn fsync(&mut self, index: usize, incarnation: u64, upto: u64) {
        if self.nodes[index].incarnation != incarnation || self.nodes[index].server.is_none() {
            return;
        }
        let id = self.nodes[index].id;
        if let Err(problem) = self.nodes[index].disk.fsync_done(upto) {
            self.checker.violations.push(Violation {
                at_ms: self.now_ms,
                server: id,
                invariant: "ZxidMonotonicity",
                detail: problem.into(),
            });
        }
        self.checker.on_durable_image(id, &self.nodes[index].disk.durable);
        self.record(id, TraceKind::Fsync { seq: upto });
        self.step(index, ServerInput::Persisted { seq: upto });
        self.start_fsync(index);
    }

    fn send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        self.report.messages += 1;
        let id = self.report.messages;
        let kind = kind_of(&msg);
        let mut delay = self.rng.between(self.config.faults.latency_ms.0, self.config.faults.latency_ms.1);
        if let Some(rule) = self.rules.iter_mut().find(|r| {
            r.remaining > 0 && r.kind == kind && r.from.is_none_or(|f| f == from) && r.to.is_none_or(|t| t == to)
        }) {
            rule.remaining -= 1;
            match rule.delay_ms {
                None => {
                    self.report.dropped += 1;
                    self.record(from, TraceKind::Drop { to, kind, why: "rule", id });
                    return;
                }
                Some(extra) => delay += extra,
            }
        }
        if self.blocked.contains(&(from, to)) {
            self.report.dropped += 1;
            self.record(from, TraceKind::Drop { to, kind, why: "partition", id });
            return;
        }
        if !self.calm && self.rng.chance(self.config.faults.drop_per_mille, 1000) {
            self.report.dropped += 1;
            self.record(from, TraceKind::Drop { to, kind, why: "loss", id });
            return;
        }
        self.record(from, TraceKind::Send { to, kind, id });
        let sent_ms = self.now_ms;
        if !self.calm && self.rng.chance(self.config.faults.dup_per_mille, 1000) {
            let again = self.rng.between(self.config.faults.latency_ms.0, self.config.faults.latency_ms.1 * 2);
            self.record(from, TraceKind::Duplicate { to, kind, id });
            self.schedule(again, Scheduled::Deliver { from, to, msg: msg.clone(), id, sent_ms });
        }
        self.schedule(delay, Scheduled::Deliver { from, to, msg, id, sent_ms });
    }

    fn deliver(&mut self, from: ServerId, to: ServerId, msg: PeerMessage, id: u64) {
        let Some(index) = self.index_of(to) else { return };
        if self.blocked.contains(&(from, to)) {
            self.report.dropped += 1;
            self.record(to, TraceKind::Drop { to, kind: kind_of(&msg), why: "partition", id });
            return;
        }
        if self.nodes[index].server.is_none() {
            self.record(to, TraceKind::Drop { to, kind: kind_of(&msg), why: "down", id });
            return;
        }
        match &msg {
            PeerMessage::Zab(Message::Vote(vote)) => self.record(to, TraceKind::VoteIn { from, vote: *vote, id }),
            _ => self.record(to, TraceKind::Deliver { from, kind: kind_of(&msg), id }),
        }
        self.step(index, ServerInput::Peer { from, msg });
    }

    fn index_of(&self, id: ServerId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    fn client_write(&mut self) {
        let leaders: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].peer().is_some_and(|p| p.is_established_leader()))
            .collect();
        if !leaders.is_empty() {
            let index = leaders[self.rng.below(leaders.len() as u64) as usize];
            // Now and then a burst, proposed in one go and carried out coalesced (one PROPOSAL
            // message with several entries), as a host stepping a burst of requests does.
            let burst = if self.rng.below(4) == 0 { 1 + self.rng.below(4) } else { 1 };
            let mut out = core::mem::take(&mut self.out);
            for k in 0..burst {
                // A proposal that exhausts the counter makes the leader step down; only a
                // burst's first may (the checker learns of proposals from a leader's writes).
                let exhausting = self.nodes[index].peer().is_some_and(|p| {
                    p.next_zxid().is_none_or(|z| u64::from(z.counter()) >= u64::from(p.config().counter_limit))
                });
                if k > 0 && exhausting {
                    break;
                }
                self.next_write += 1;
                let n = self.next_write;
                let txn = if n.is_multiple_of(3) {
                    Txn::SetData {
                        path: format!("/k{}", n % 7),
                        data: Some(format!("v{n}").into_bytes()),
                        version: (n % 5) as i32,
                    }
                } else {
                    Txn::Create(CreateTxn {
                        path: format!("/k{}", n % 11),
                        data: Some(format!("d{n}").into_bytes()),
                        acl: Acl::open_unsafe(),
                        ephemeral_owner: 0,
                        parent_cversion: -1,
                    })
                };
                let now = self.now_ms;
                if let Some(server) = self.nodes[index].server.as_mut()
                    && let Some(zxid) = server.propose_raw(now, SessionId(1), n as i32, txn, &mut out)
                {
                    self.report.proposals += 1;
                    let id = self.nodes[index].id;
                    self.record(id, TraceKind::Write { zxid });
                    if self.calm {
                        self.calm_writes.push(zxid);
                    }
                }
            }
            coalesce(&mut out);
            self.carry_out(index, &mut out);
            self.out = out;
            self.after_step(index);
        }
        let end_of_writes = self.config.chaos_ms + self.config.calm_ms.saturating_sub(self.config.calm_ms / 3);
        if self.now_ms < end_of_writes {
            let every = self.config.write_every_ms;
            let delay = self.rng.between(every / 2, every + every / 2);
            self.schedule(delay.max(1), Scheduled::Write);
        }
    }

    /// When the next bytes on `conn` in one direction arrive: a fresh latency, but never
    /// before what was sent earlier the same way. `None` for an unknown connection.
    fn client_link(&mut self, conn: u64, to_server: bool) -> Option<u64> {
        let (low, high) = self.config.faults.latency_ms;
        let at = self.now_ms + self.rng.between(low, high);
        let info = self.conns.get_mut(&conn)?;
        let last = if to_server { &mut info.to_server_at } else { &mut info.to_client_at };
        *last = (*last).max(at);
        Some(*last)
    }

    fn client_tick(&mut self, client: usize) {
        let end_of_calls = self.config.chaos_ms + self.config.calm_ms.saturating_sub(self.config.calm_ms / 3);
        let active = self.now_ms < end_of_calls;
        let servers = self.nodes.len();
        let now = self.now_ms;
        let actions = self.clients[client].tick(now, servers, &mut self.next_conn, active);
        self.client_actions(client, actions);
        let every = self.config.tick_ms / 2;
        let delay = self.rng.between(every / 2, every);
        self.schedule(delay.max(1), Scheduled::ClientTick { client });
    }

    fn client_actions(&mut self, client: usize, actions: Vec<ClientAction>) {
        for action in actions {
            match action {
                ClientAction::Connect { conn, server, payload } => {
                    let incarnation = self.nodes[server].incarnation;
                    let now = self.now_ms;
                    let info =
                        ConnInfo { client, server, incarnation, to_server_at: now, to_client_at: now, dead: false };
                    self.conns.insert(conn, info);
                    let addr = core::net::IpAddr::V4(core::net::Ipv4Addr::new(127, 0, 0, 1));
                    self.client_send(conn, ServerInput::Connected { conn, addr });
                    self.client_send(conn, ServerInput::Frame { conn, payload });
                }
                ClientAction::Send { conn, payload } => self.client_send(conn, ServerInput::Frame { conn, payload }),
                ClientAction::Drop { conn } => {
                    self.client_send(conn, ServerInput::Disconnected { conn });
                    if let Some(info) = self.conns.get_mut(&conn) {
                        info.dead = true;
                    }
                }
                ClientAction::Violation(detail) => {
                    let id = self.clients[client].id;
                    self.checker.violations.push(Violation {
                        at_ms: self.now_ms,
                        server: ServerId(0),
                        invariant: "FifoClientOrder",
                        detail: format!("client {id}: {detail}"),
                    });
                }
            }
        }
    }

    fn client_send(&mut self, conn: u64, input: ServerInput) {
        if let Some(at) = self.client_link(conn, true) {
            self.schedule(at - self.now_ms, Scheduled::ToServer { conn, input });
        }
    }

    fn deliver_to_server(&mut self, conn: u64, input: ServerInput) {
        let Some(info) = self.conns.get(&conn).copied() else { return };
        let up = self.nodes[info.server].server.is_some() && self.nodes[info.server].incarnation == info.incarnation;
        if !up {
            // Nobody listens there any more: the client sees the connection fail.
            if !info.dead {
                if let Some(info) = self.conns.get_mut(&conn) {
                    info.dead = true;
                }
                let delay = self.rng.between(1, 20);
                self.schedule(delay, Scheduled::ClientClosed { conn });
            }
            return;
        }
        let disconnect = matches!(input, ServerInput::Disconnected { .. });
        self.step(info.server, input);
        if disconnect {
            self.conns.remove(&conn);
        }
    }

    fn deliver_to_client(&mut self, conn: u64, mut bytes: Vec<u8>) {
        let Some(info) = self.conns.get(&conn).copied() else { return };
        let now = self.now_ms;
        while bytes.len() >= 4 {
            let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
            if bytes.len() < 4 + len {
                break;
            }
            let rest = bytes.split_off(4 + len);
            let actions = self.clients[info.client].receive(conn, &bytes[4..], now);
            self.client_actions(info.client, actions);
            bytes = rest;
        }
    }

    /// The recipes' safety: when a client concluded from a listing at zxid Z that its node was
    /// the lowest (it holds the lock, or leads), the committed state at Z must say the same.
    /// As nodes are numbered in creation order and never come back, that makes holders
    /// exclusive in committed order. (A client can still believe it holds a lock after its
    /// session expired, as with any lease: only its own session's end tells it.)
    fn check_claims(&mut self) {
        let mut claims: Vec<client::Claim> = self.clients.iter().flat_map(|c| c.claims.iter().cloned()).collect();
        self.report.claims = claims.len() as u64;
        claims.sort_by_key(|c| c.zxid);
        let mut children: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        fn walk(txn: &Txn, children: &mut BTreeMap<String, BTreeSet<String>>) {
            let split = |path: &str| path.rsplit_once('/').map(|(d, n)| (String::from(d), String::from(n)));
            match txn {
                Txn::Create(c) => {
                    if let Some((dir, name)) = split(&c.path) {
                        children.entry(dir).or_default().insert(name);
                    }
                }
                Txn::Delete { path } => {
                    if let Some((dir, name)) = split(path) {
                        children.entry(dir).or_default().remove(&name);
                    }
                }
                Txn::CloseSession { paths, .. } => {
                    for path in paths {
                        if let Some((dir, name)) = split(path) {
                            children.entry(dir).or_default().remove(&name);
                        }
                    }
                }
                Txn::Multi(txns) => txns.iter().for_each(|t| walk(t, children)),
                _ => {}
            }
        }
        let mut entries = self.committed.values().peekable();
        for claim in claims {
            while let Some(e) = entries.next_if(|e| e.zxid.as_i64() <= claim.zxid) {
                walk(&e.txn, &mut children);
            }
            let (dir, name) = claim.path.rsplit_once('/').unwrap_or(("", ""));
            let lowest = children.get(dir).and_then(|c| c.iter().next());
            if lowest.map(String::as_str) != Some(name) {
                self.checker.violations.push(Violation {
                    at_ms: claim.at_ms,
                    server: ServerId(0),
                    invariant: "RecipeExclusion",
                    detail: format!(
                        "client {} (session 0x{:x}) took {} as the lowest at zxid 0x{:x}, but the committed \
                         state there has {:?} lowest",
                        claim.client, claim.session, claim.path, claim.zxid, lowest
                    ),
                });
                return;
            }
        }
    }

    /// No watch event lost or late: once a connection set a one-shot watch on a path with a
    /// read answered at zxid Z, and the path then changed at W > Z, the connection gets the
    /// event before any reply that shows a state at W or later (ZooKeeper's ordering
    /// guarantee), unless the connection ends first.
    fn check_watches(&mut self) {
        let mut changes: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        fn note(txn: &Txn, zxid: i64, changes: &mut BTreeMap<String, Vec<i64>>) {
            match txn {
                Txn::Create(c) => changes.entry(c.path.clone()).or_default().push(zxid),
                Txn::Delete { path } | Txn::SetData { path, .. } => changes.entry(path.clone()).or_default().push(zxid),
                Txn::CloseSession { paths, .. } => {
                    for p in paths {
                        changes.entry(p.clone()).or_default().push(zxid);
                    }
                }
                Txn::Multi(txns) => txns.iter().for_each(|t| note(t, zxid, changes)),
                _ => {}
            }
        }
        for e in self.committed.values() {
            note(&e.txn, e.zxid.as_i64(), &mut changes);
        }
        for c in &self.clients {
            for (i, seen) in c.seen.iter().enumerate() {
                let client::Seen::Watch { conn, path, zxid } = seen else { continue };
                let Some(&change) = changes.get(path).and_then(|z| z.iter().find(|z| **z > *zxid)) else { continue };
                for later in &c.seen[i + 1..] {
                    match later {
                        client::Seen::Event { conn: k, path: p } if k == conn && p == path => break,
                        client::Seen::Reply { conn: k, zxid: z } if k == conn && *z >= change => {
                            self.checker.violations.push(Violation {
                                at_ms: self.now_ms,
                                server: ServerId(0),
                                invariant: "WatchOrder",
                                detail: format!(
                                    "client {} conn {conn}: watch on {path} set at 0x{zxid:x}; {path} changed at \
                                     0x{change:x}; a reply at 0x{z:x} came before the event",
                                    c.id
                                ),
                            });
                            return;
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Judges every client's history against the committed log.
    fn check_history(&mut self) {
        let ops: Vec<history::Op> = self.clients.iter().flat_map(|c| c.history.iter().cloned()).collect();
        for c in &self.clients {
            self.report.calls_ok += c.ok;
            self.report.calls_failed += c.failed;
            self.report.calls_unknown += c.unknown;
            self.report.sessions += c.sessions;
        }
        let writes: Vec<CommittedWrite> =
            self.committed.values().map(|e| history::from_txn(e.zxid.as_i64(), e.session.0, e.cxid, &e.txn)).collect();
        self.check_claims();
        self.check_watches();
        if let Err(failure) = history::check(&ops, &writes) {
            self.checker.violations.push(Violation {
                at_ms: self.now_ms,
                server: ServerId(0),
                invariant: failure.guarantee.name(),
                detail: format!("{failure}"),
            });
        }
    }

    fn snapshot(&mut self, index: usize) {
        if let Some(peer) = self.nodes[index].peer() {
            let zxid = peer.committed();
            let bytes = zab::StateMachine::snapshot(peer.machine());
            self.nodes[index].disk.save_snapshot(zxid, bytes);
            let delay = self.rng.between(self.config.tick_ms * 10, self.config.tick_ms * 40);
            self.schedule(delay, Scheduled::Snapshot { server: index });
        }
    }

    fn chaos(&mut self) {
        if self.calm {
            return;
        }
        let faults = self.config.faults.clone();
        let roll = self.rng.below(100);
        let count = self.nodes.len();
        match roll {
            0..=24 if faults.crashes => {
                let live: Vec<usize> = (0..count).filter(|&i| self.nodes[i].server.is_some()).collect();
                if !live.is_empty() {
                    let victim = live[self.rng.below(live.len() as u64) as usize];
                    self.crash(victim, faults.torn_crashes, faults.wipes);
                }
            }
            25..=44 if faults.partitions => self.partition(),
            45..=64 if faults.partitions && !self.blocked.is_empty() => {
                self.blocked.clear();
                self.record(ServerId(0), TraceKind::Heal);
            }
            _ => {}
        }
        let delay = self.rng.between(self.config.tick_ms * 2, self.config.tick_ms * 20);
        self.schedule(delay, Scheduled::Chaos);
    }

    /// Stops a server; the first `kept` of its unsynced writes reach the disk anyway.
    fn crash_node(&mut self, index: usize, kept: usize) {
        let pending = self.nodes[index].disk.pending.len();
        let kept = kept.min(pending);
        let id = self.nodes[index].id;
        self.report.crashes += 1;
        self.record(id, TraceKind::Crash { kept, lost: pending - kept });
        let node = &mut self.nodes[index];
        node.server = None;
        node.incarnation += 1;
        node.disk.crash(kept);
        // Its peers' hosts see their links to it end (as TCP does when a process dies), unless
        // a partition stands between them.
        for other in 0..self.nodes.len() {
            let to = self.nodes[other].id;
            if other != index && self.nodes[other].server.is_some() && !self.blocked.contains(&(id, to)) {
                let delay = self.rng.between(self.config.faults.latency_ms.0, self.config.faults.latency_ms.1);
                self.schedule(delay, Scheduled::LinkDown { server: other, peer: id });
            }
        }
        // The crashed server's client connections reset.
        let dropped: Vec<u64> =
            self.conns.iter().filter(|(_, c)| c.server == index && !c.dead).map(|(id, _)| *id).collect();
        for conn in dropped {
            if let Some(info) = self.conns.get_mut(&conn) {
                info.dead = true;
            }
            let delay = self.rng.between(1, 20);
            self.schedule(delay, Scheduled::ClientClosed { conn });
        }
        self.checker.on_durable_image(id, &self.nodes[index].disk.durable);
    }

    fn crash(&mut self, index: usize, torn: bool, wipes: bool) {
        let pending = self.nodes[index].disk.pending.len();
        let kept = if torn { self.rng.below(pending as u64 + 1) as usize } else { 0 };
        self.crash_node(index, kept);
        let id = self.nodes[index].id;
        // Zab survives a replaced disk only while every other voter still holds its history:
        // wipe at most one voter at a time, and only once every other disk has synced.
        let others_hold_history = self
            .nodes
            .iter()
            .enumerate()
            .all(|(i, n)| i == index || i >= self.config.voters || n.disk.durable.current_epoch > 0);
        if wipes && others_hold_history && self.rng.chance(1, 5) {
            let lost = core::mem::take(&mut self.nodes[index].disk);
            self.checker.on_wipe(id, lost.durable);
            self.record(id, TraceKind::Wipe);
        }
        let downtime = self.rng.between(self.config.tick_ms, self.config.tick_ms * 60);
        self.schedule(downtime, Scheduled::Restart { server: index });
    }

    fn partition(&mut self) {
        let ids: Vec<ServerId> = self.nodes.iter().map(|n| n.id).collect();
        self.blocked.clear();
        let style = self.rng.below(3);
        let description = match style {
            0 => {
                // Isolate one server.
                let lonely = ids[self.rng.below(ids.len() as u64) as usize];
                for &other in &ids {
                    if other != lonely {
                        self.blocked.insert((lonely, other));
                        self.blocked.insert((other, lonely));
                    }
                }
                format!("{lonely} isolated")
            }
            1 => {
                // Two random sides.
                let side: Vec<bool> = ids.iter().map(|_| self.rng.chance(1, 2)).collect();
                for (i, &a) in ids.iter().enumerate() {
                    for (j, &b) in ids.iter().enumerate() {
                        if side[i] != side[j] {
                            self.blocked.insert((a, b));
                        }
                    }
                }
                let left: Vec<String> =
                    ids.iter().zip(&side).filter(|(_, s)| **s).map(|(id, _)| format!("{id}")).collect();
                format!("{{{}}} | rest", left.join(","))
            }
            _ => {
                // One-way: one server cannot hear another.
                let a = ids[self.rng.below(ids.len() as u64) as usize];
                let b = ids[self.rng.below(ids.len() as u64) as usize];
                if a != b {
                    self.blocked.insert((a, b));
                }
                format!("{a} -/-> {b}")
            }
        };
        self.record(ServerId(0), TraceKind::Partition { description });
    }

    /// The calm phase: every partition healed, every server up, no more loss.
    fn heal_all(&mut self) {
        self.calm = true;
        self.blocked.clear();
        self.record(ServerId(0), TraceKind::Heal);
        for index in 0..self.nodes.len() {
            if self.nodes[index].server.is_none() {
                let blank = self.nodes[index].disk.durable.is_blank();
                let id = self.nodes[index].id;
                self.record(id, TraceKind::Restart { blank });
                self.start_node(index);
            }
        }
    }

    fn finish(mut self) -> Report {
        if !self.clients.is_empty() && self.checker.ok() {
            self.check_history();
        }
        if !self.clients.is_empty() && self.checker.ok() {
            self.check_requests_answered();
        }
        self.report.violations = core::mem::take(&mut self.checker.violations);
        self.report.committed = self.checker.committed_len() as u64;
        self.report.epochs = self.checker.epochs();
        self.report.trace_hash = self.trace_hasher.digest();
        if self.report.violations.is_empty() {
            if self.report.stopped_early {
                self.report.live = true;
            } else {
                self.check_liveness();
            }
        }
        for v in &self.report.violations {
            let line = TraceLine {
                at_ms: v.at_ms,
                server: v.server,
                kind: TraceKind::Violation { invariant: v.invariant, detail: v.detail.clone() },
            };
            if self.config.trace {
                self.trace.push(line);
            }
        }
        self.report
    }

    /// Every call made once the calm phase has settled (a leader established, and syncLimit
    /// for any server still attached to a deposed one to notice) is answered, or its
    /// connection closed by the server, within [`ANSWER_MS`]: a client that had to give up on a
    /// silent server, or a call still waiting at the end, means a request the servers dropped.
    fn check_requests_answered(&mut self) {
        let Some(election_ms) = self.report.election_ms else { return };
        let settled = self.zab_config(ServerId(1)).sync_timeout_ms();
        let calm_ms = self.config.chaos_ms + election_ms + settled;
        let now = self.now_ms;
        let mut problems = Vec::new();
        for c in &self.clients {
            for &(at_ms, op) in &c.stalls {
                let invoked = c.history[op].invoked_ms;
                if invoked >= calm_ms {
                    problems.push((
                        at_ms,
                        format!(
                            "client {} gave up at {at_ms} ms waiting for op {} ({}, sent at {invoked} ms)",
                            c.id, op, c.history[op].call
                        ),
                    ));
                }
            }
            for op in c.unanswered(calm_ms, now.saturating_sub(ANSWER_MS)) {
                let invoked = c.history[op].invoked_ms;
                problems.push((
                    now,
                    format!(
                        "client {}: op {} ({}, sent at {invoked} ms) unanswered at the end",
                        c.id, op, c.history[op].call
                    ),
                ));
            }
        }
        if let Some((at_ms, detail)) = problems.into_iter().next() {
            self.checker.violations.push(Violation {
                at_ms,
                server: ServerId(0),
                invariant: "RequestAnswered",
                detail,
            });
        }
    }

    /// After the calm phase: one established leader, every server serving it at the same
    /// commit point, and every write of the calm phase committed.
    fn check_liveness(&mut self) {
        let leaders: Vec<&Peer<SimMachine>> =
            self.nodes.iter().filter_map(|n| n.peer()).filter(|p| p.is_established_leader()).collect();
        let problem = match leaders.as_slice() {
            [] => Some("no established leader at the end of the calm phase".into()),
            [leader] => {
                let target = leader.committed();
                let lagging: Vec<String> = self
                    .nodes
                    .iter()
                    .filter_map(|n| n.peer())
                    .filter(|p| !p.is_serving() || p.committed() != target)
                    .map(|p| format!("{} ({}, committed {})", p.id(), p.status().name(), p.committed()))
                    .collect();
                // Writes a deposed leader proposed may be lost (their clients see an error and
                // retry); the final leader's must all commit.
                let epoch = match leader.status() {
                    Status::Leading { epoch, .. } => epoch,
                    _ => 0,
                };
                let uncommitted =
                    self.calm_writes.iter().filter(|z| z.epoch() == epoch && !self.checker.is_committed(**z)).count();
                if !lagging.is_empty() {
                    Some(format!("not caught up with leader {} at {target}: {}", leader.id(), lagging.join(", ")))
                } else if uncommitted > 0 {
                    Some(format!("{uncommitted} writes of the calm phase never committed"))
                } else {
                    None
                }
            }
            _ => Some(format!("{} established leaders at the end", leaders.len())),
        };
        self.report.live = problem.is_none();
        self.report.liveness_problem = problem;
    }

    /// The servers' peers, for tests (None for a crashed server).
    pub fn peer(&self, id: ServerId) -> Option<&Peer<SimMachine>> {
        self.index_of(id).and_then(|i| self.nodes[i].peer())
    }

    pub fn disk(&self, id: ServerId) -> Option<&Disk> {
        self.index_of(id).map(|i| &self.nodes[i].disk)
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Test hooks: crash, restart, wipe, partition and propose on demand.
    pub fn crash_server(&mut self, id: ServerId, keep_unsynced: bool) {
        if let Some(index) = self.index_of(id) {
            self.crash_node(index, if keep_unsynced { usize::MAX } else { 0 });
        }
    }

    /// Crashes a server keeping exactly the first `kept` of its unsynced writes.
    pub fn crash_server_keeping(&mut self, id: ServerId, kept: usize) {
        if let Some(index) = self.index_of(id) {
            self.crash_node(index, kept);
        }
    }

    pub fn wipe_disk(&mut self, id: ServerId) {
        if let Some(index) = self.index_of(id) {
            let lost = core::mem::take(&mut self.nodes[index].disk);
            self.checker.on_wipe(id, lost.durable);
            self.record(id, TraceKind::Wipe);
        }
    }

    pub fn restart_server(&mut self, id: ServerId) {
        if let Some(index) = self.index_of(id)
            && self.nodes[index].server.is_none()
        {
            let blank = self.nodes[index].disk.durable.is_blank();
            self.record(id, TraceKind::Restart { blank });
            self.start_node(index);
        }
    }

    /// Cuts every link between the two groups (both ways).
    pub fn split(&mut self, a: &[ServerId], b: &[ServerId]) {
        for &x in a {
            for &y in b {
                self.blocked.insert((x, y));
                self.blocked.insert((y, x));
            }
        }
        self.record(ServerId(0), TraceKind::Partition { description: format!("{a:?} | {b:?}") });
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
        self.record(ServerId(0), TraceKind::Heal);
    }

    /// Proposes a create of `path` on an established leader; returns its zxid.
    pub fn write(&mut self, path: &str) -> Option<Zxid> {
        let index = (0..self.nodes.len()).find(|&i| self.nodes[i].peer().is_some_and(|p| p.is_established_leader()))?;
        let txn = Txn::Create(CreateTxn {
            path: path.into(),
            data: Some(path.as_bytes().to_vec()),
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: -1,
        });
        let mut out = core::mem::take(&mut self.out);
        let now = self.now_ms;
        let result = self.nodes[index].server.as_mut().and_then(|s| s.propose_raw(now, SessionId(1), 0, txn, &mut out));
        self.carry_out(index, &mut out);
        self.out = out;
        self.after_step(index);
        result
    }

    /// The established leader, if exactly one server is.
    pub fn leader(&self) -> Option<ServerId> {
        let leaders: Vec<ServerId> =
            self.nodes.iter().filter_map(|n| n.peer()).filter(|p| p.is_established_leader()).map(|p| p.id()).collect();
        match leaders.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    pub fn violations(&self) -> &[Violation] {
        &self.checker.violations
    }

    /// Stops background client writes (scenario tests drive writes themselves).
    pub fn stop_background_writes(&mut self) {
        self.queue.retain(|_, e| !matches!(e, Scheduled::Write));
    }
}

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod tests;
