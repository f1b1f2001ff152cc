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
use super::{Faults, Scheduled, Sim, SimConfig};
use crate::check::Violation;
use crate::check::history::{self, Call};
use crate::ids::ServerId;

mod presets;
mod views;

pub use presets::{PHASE_STORIES, Preset, STORIES, interactive_config, presets};
pub use views::{CallLine, ClientView, InFlight, LogLine, NodeLine, ServerView};

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
                let Some(kind) = super::MESSAGE_KINDS.iter().map(|(k, _)| *k).find(|k| *k == kind.as_str()) else {
                    return Err(format!("no message kind {kind}"));
                };
                self.rules.push(super::Rule { kind, from: Some(from), to: None, delay_ms: None, remaining: *count });
            }
        }
        Ok(())
    }
}

/// A command given to a driven cluster, and when: after `step` events, with the clock at
/// `at_ms` (it may have moved past the last event; `None` in logs that did not keep it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logged {
    pub step: u64,
    pub at_ms: Option<u64>,
    pub command: Command,
}

/// A cluster driven from outside, with the log of what was done to it.
#[derive(Debug)]
pub struct Driver {
    pub sim: Sim,
    config: SimConfig,
    script: Vec<(u64, Command)>,
    next_scripted: usize,
    /// Commands applied from outside, with the step count when each was applied.
    log: Vec<Logged>,
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
    pub fn log(&self) -> &[Logged] {
        &self.log
    }

    /// Applies `command` now and logs it. A command applied at an earlier moment than the
    /// end of the log starts a new future: the later commands are dropped.
    pub fn apply(&mut self, command: Command) -> Result<(), String> {
        let step = self.steps();
        let at_ms = Some(self.sim.now_ms());
        self.log.truncate(self.next_logged);
        self.sim.execute(&command)?;
        self.log.push(Logged { step, at_ms, command });
        self.next_logged = self.log.len();
        Ok(())
    }

    /// Replaces the log (for a shared link): the cluster restarts from the beginning.
    pub fn set_log(&mut self, log: Vec<Logged>) {
        self.restart();
        self.log = log;
    }

    /// Applies what is due before the next event: logged commands of this step, and scripted
    /// ones up to the next event's time or `until`, whichever is first.
    fn due(&mut self, until: u64) {
        while let Some(Logged { step, at_ms, command }) = self.log.get(self.next_logged) {
            if *step > self.steps() {
                break;
            }
            let (at_ms, command) = (*at_ms, command.clone());
            self.next_logged += 1;
            // The clock as it was when the command was given (it may have moved past the last
            // event), so that the replay is the same run.
            if let Some(at) = at_ms {
                self.sim.advance_to(at);
            }
            if let Err(e) = self.sim.execute(&command) {
                self.notes.push(format!("step {}: {command:?}: {e}", self.steps()));
            }
        }
        let next = self.sim.next_event_ms().unwrap_or(u64::MAX).min(until);
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
        self.due(u64::MAX);
        self.sim.step_event()
    }

    /// Events until the clock passes `ms` more milliseconds, or `max_steps` events.
    pub fn run_for(&mut self, ms: u64, max_steps: u64) -> u64 {
        let end = self.sim.now_ms().saturating_add(ms);
        let mut done = 0;
        while done < max_steps {
            self.due(end);
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
        // Scripted commands due by `ms` first: one may bring an event before `ms` that the
        // next event's time alone would not show.
        loop {
            self.due(ms);
            if self.sim.next_event_ms().is_none_or(|at| at > ms) || !self.sim.step_event() {
                break;
            }
        }
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
mod tests;
