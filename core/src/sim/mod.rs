//! A deterministic simulated cluster: N Zab servers on a simulated network with simulated disks
//! and a simulated clock, all driven by one seeded generator, with faults on (message loss,
//! duplication, delay and reordering, partitions, crashes that lose unsynced writes, restarts,
//! replaced disks), and every step checked by [`crate::check::Checker`].
//!
//! A run has two phases, as TigerBeetle's VOPR does: a chaos phase with faults on (safety),
//! then a calm phase with every fault healed (liveness: a leader must be established and the
//! writes of the calm phase must commit on every server). Same seed, same run, bit for bit.

mod checks;
pub mod client;
mod connections;
mod control;
pub mod disk;
mod faults;
pub mod interactive;
mod network;
pub mod trace;

pub use crate::check::machine;
pub use network::MESSAGE_KINDS;
use network::kind_of;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::check::history::{self, CommittedWrite};
use crate::check::{Checker, Violation};
use crate::ids::{ServerId, SessionId, Zxid};
use crate::rng::Rng;
use crate::server::{PeerMessage, Server, ServerConfig, ServerInput, ServerOutput, coalesce};
use crate::session::SessionKey;
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

/// A server's key for session passwords, from the seed it started with (the native host draws
/// it from the system's random source): replays stay bit for bit the same.
fn session_key(seed: u64) -> SessionKey {
    let mut rng = Rng::new(seed ^ 0x7365_7373_696f_6e6b);
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    SessionKey(key)
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
        let mut server_config = ServerConfig::new(config);
        server_config.prep.session_key = session_key(seed);
        node.server = Some(Server::new(server_config, seed, durable, machine, now));
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
                ServerOutput::Login(_) => {}
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

    fn snapshot(&mut self, index: usize) {
        if let Some(peer) = self.nodes[index].peer() {
            let zxid = peer.committed();
            let bytes = zab::StateMachine::snapshot(peer.machine());
            self.nodes[index].disk.save_snapshot(zxid, bytes);
            let delay = self.rng.between(self.config.tick_ms * 10, self.config.tick_ms * 40);
            self.schedule(delay, Scheduled::Snapshot { server: index });
        }
    }
}

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod tests;
