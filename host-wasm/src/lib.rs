//! zabkeeper in the browser: a whole simulated cluster running the real core (its Zab peers,
//! servers, clients and checkers), driven from JavaScript.
//!
//! This crate only translates: calls from the page into [`Command`]s of the core's
//! [`Driver`], and the core's state and trace into JSON for the page. Every number the page
//! sees as a JavaScript number fits in 53 bits; zxids and session ids travel as text.

use serde::Serialize;
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;
use zabkeeper_core::sim::interactive::{self, ClientOp, ClientRole, Command, Driver, Logged, Target};
use zabkeeper_core::sim::trace::{TraceKind, TraceLine};
use zabkeeper_core::zab::Bugs;

/// A simulated cluster.
#[wasm_bindgen]
pub struct Cluster {
    driver: Driver,
    preset: String,
    seed: u32,
}

/// Errors reach JavaScript as thrown strings (and stay plain strings in native tests).
fn error(message: impl core::fmt::Display) -> String {
    message.to_string()
}

/// The deliberate protocol bugs a custom cluster can run with (to watch the checker catch them).
#[wasm_bindgen]
pub fn bugs() -> String {
    json!(Bugs::NAMES).to_string()
}

/// The scenarios in teaching order, each `{name, title, story}`; the last is "custom", the
/// page's own cluster without a script.
#[wasm_bindgen]
pub fn presets() -> String {
    let stories: Vec<serde_json::Value> = interactive::STORIES
        .iter()
        .map(|(name, title, story)| json!({ "name": name, "title": title, "story": story }))
        .collect();
    json!(stories).to_string()
}

/// What the page says about each phase: `{phase: text}` ("election", or a leader phase).
#[wasm_bindgen]
pub fn phases() -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        interactive::PHASE_STORIES.iter().map(|(phase, text)| (phase.to_string(), json!(text))).collect();
    serde_json::Value::Object(map).to_string()
}

/// Every message kind the trace shows, each `{kind, family}` (the page colours by family).
#[wasm_bindgen]
pub fn message_kinds() -> String {
    let kinds: Vec<serde_json::Value> = zabkeeper_core::sim::MESSAGE_KINDS
        .iter()
        .map(|(kind, family)| json!({ "kind": kind, "family": family }))
        .collect();
    json!(kinds).to_string()
}

#[wasm_bindgen]
impl Cluster {
    /// A cluster of `voters` (1 to 9) voters and `observers` (0 to 3) observers, no script,
    /// with one of [`bugs`] switched on if `bug` is not empty.
    #[wasm_bindgen(constructor)]
    pub fn new(seed: u32, voters: u32, observers: u32, bug: &str) -> Result<Cluster, String> {
        if !(1..=9).contains(&voters) || observers > 3 {
            return Err(error("a cluster has 1 to 9 voters and 0 to 3 observers"));
        }
        let mut config = interactive::interactive_config(u64::from(seed), voters as usize, observers as usize);
        if !bug.is_empty() {
            config.bugs = Bugs::named(bug).ok_or_else(|| error(format!("no bug {bug}")))?;
        }
        Ok(Cluster { driver: Driver::new(config, Vec::new()), preset: "custom".into(), seed })
    }

    /// One of [`presets`], on `seed`.
    pub fn preset(name: &str, seed: u32) -> Result<Cluster, String> {
        let driver = Driver::preset(name, u64::from(seed)).ok_or_else(|| error(format!("no scenario {name}")))?;
        Ok(Cluster { driver, preset: name.into(), seed })
    }

    #[wasm_bindgen(getter)]
    pub fn seed(&self) -> u32 {
        self.seed
    }

    #[wasm_bindgen(getter)]
    pub fn scenario(&self) -> String {
        self.preset.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> f64 {
        self.driver.steps() as f64
    }

    #[wasm_bindgen(getter)]
    pub fn now_ms(&self) -> f64 {
        self.driver.sim.now_ms() as f64
    }

    /// Peer messages sent so far (for the fast-forward rate).
    #[wasm_bindgen(getter)]
    pub fn messages(&self) -> f64 {
        self.driver.sim.report().messages as f64
    }

    /// One event; `false` when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.driver.step()
    }

    /// Runs up to `ms` simulated milliseconds, at most `max_steps` events; returns the events run.
    pub fn run_for(&mut self, ms: f64, max_steps: u32) -> u32 {
        self.driver.run_for(ms.max(0.0) as u64, u64::from(max_steps)) as u32
    }

    pub fn run_steps(&mut self, count: u32) -> u32 {
        self.driver.run_steps(u64::from(count)) as u32
    }

    /// Goes to the moment after `step` events (back by replaying the seed and the log).
    pub fn seek(&mut self, step: f64) {
        self.driver.seek(step.max(0.0) as u64);
    }

    /// Goes to the last moment at or before simulated time `ms` (e.g. a violation's).
    pub fn seek_ms(&mut self, ms: f64) {
        self.driver.seek_ms(ms.max(0.0) as u64);
    }

    /// Applies a command given as JSON (the core's `Command`, e.g. `{"Crash":{"server":"Leader"}}`).
    pub fn apply(&mut self, command: &str) -> Result<(), String> {
        let command: Command = serde_json::from_str(command).map_err(error)?;
        self.driver.apply(command).map_err(error)
    }

    pub fn crash(&mut self, server: u32) -> Result<(), String> {
        self.driver.apply(Command::Crash { server: Target::Server(u64::from(server)) }).map_err(error)
    }

    pub fn restart(&mut self, server: u32) -> Result<(), String> {
        self.driver.apply(Command::Restart { server: u64::from(server) }).map_err(error)
    }

    /// Partitions the servers into groups, e.g. `[[1,2],[3,4,5]]`.
    pub fn partition(&mut self, groups: &str) -> Result<(), String> {
        let groups: Vec<Vec<u64>> = serde_json::from_str(groups).map_err(error)?;
        self.driver.apply(Command::Partition { groups }).map_err(error)
    }

    pub fn heal(&mut self) -> Result<(), String> {
        self.driver.apply(Command::Heal).map_err(error)
    }

    /// Loss and duplication per thousand messages, one-way latency range in ms.
    pub fn set_faults(&mut self, drop: u32, dup: u32, latency_min: u32, latency_max: u32) -> Result<(), String> {
        let command = Command::Faults {
            drop_per_mille: u64::from(drop),
            dup_per_mille: u64::from(dup),
            latency_min_ms: u64::from(latency_min),
            latency_max_ms: u64::from(latency_max),
        };
        self.driver.apply(command).map_err(error)
    }

    /// Adds a client (`manual`, `random`, `lock` or `election`), pinned to `server` (0: any);
    /// returns its number.
    pub fn add_client(&mut self, role: &str, server: u32) -> Result<u32, String> {
        let role = match role {
            "manual" => ClientRole::Manual,
            "random" => ClientRole::Random,
            "lock" => ClientRole::Lock,
            "election" => ClientRole::Election,
            other => return Err(error(format!("no client role {other}"))),
        };
        let server = (server != 0).then_some(u64::from(server));
        self.driver.apply(Command::AddClient { role, server }).map_err(error)?;
        Ok(self.driver.sim.client_views().len() as u32)
    }

    /// Queues a call on a manual client: `op` is create, set, get, exists, children, delete,
    /// sync or close; `flags` is "e", "s", "es" or "" for create; `version` for set and delete.
    pub fn call(
        &mut self,
        client: u32,
        op: &str,
        path: &str,
        data: &str,
        flags: &str,
        version: i32,
    ) -> Result<(), String> {
        let path = path.to_string();
        let op = match op {
            "create" => ClientOp::Create {
                path,
                data: data.into(),
                ephemeral: flags.contains('e'),
                sequential: flags.contains('s'),
            },
            "set" => ClientOp::SetData { path, data: data.into(), version },
            "get" => ClientOp::GetData { path },
            "exists" => ClientOp::Exists { path },
            "children" => ClientOp::GetChildren { path },
            "delete" => ClientOp::Delete { path, version },
            "sync" => ClientOp::Sync { path },
            "close" => ClientOp::CloseSession,
            other => return Err(error(format!("no operation {other}"))),
        };
        self.driver.apply(Command::Call { client, op }).map_err(error)
    }

    /// Reconnects a client to another server.
    pub fn move_client(&mut self, client: u32, server: u32) -> Result<(), String> {
        self.driver.apply(Command::MoveClient { client, server: u64::from(server) }).map_err(error)
    }

    /// Everything the page draws, as JSON.
    pub fn state(&self) -> String {
        let sim = &self.driver.sim;
        let report = sim.report();
        json!({
            "now_ms": sim.now_ms(),
            "steps": self.driver.steps(),
            "voters": self.driver.config().voters,
            "tick_ms": self.driver.config().tick_ms,
            "servers": sim.server_views(),
            "clients": sim.client_views(),
            "in_flight": sim.in_flight(),
            "blocked": sim.blocked_links(),
            "faults": {
                "drop": sim.config.faults.drop_per_mille,
                "dup": sim.config.faults.dup_per_mille,
                "latency_min": sim.config.faults.latency_ms.0,
                "latency_max": sim.config.faults.latency_ms.1,
            },
            "messages": report.messages,
            "dropped": report.dropped,
            "violations": violations(sim.violations()),
            "notes": self.driver.notes,
            "trace_len": sim.trace.len(),
        })
        .to_string()
    }

    /// The trace lines from index `from` on, at most `limit`, as JSON.
    pub fn trace(&self, from: u32, limit: u32) -> String {
        let lines: Vec<Value> =
            self.driver.sim.trace.iter().skip(from as usize).take(limit as usize).map(trace_line).collect();
        Value::Array(lines).to_string()
    }

    /// The Zab invariants' violations and the client-history verdict so far, as JSON.
    pub fn verdict(&self) -> String {
        violations(&self.driver.verdict()).to_string()
    }

    /// The commands applied from outside with their steps, as JSON (for a shared link).
    pub fn log(&self) -> String {
        serde_json::to_string(self.driver.log()).unwrap_or_else(|_| "[]".into())
    }

    /// Replaces the log (from a shared link) and restarts from the beginning.
    pub fn set_log(&mut self, log: &str) -> Result<(), String> {
        // Links made before the log kept the clock hold `[step, command]` pairs.
        let log: Vec<Logged> = match serde_json::from_str(log) {
            Ok(log) => log,
            Err(e) => match serde_json::from_str::<Vec<(u64, Command)>>(log) {
                Ok(pairs) => pairs.into_iter().map(|(step, command)| Logged { step, at_ms: None, command }).collect(),
                Err(_) => return Err(error(e)),
            },
        };
        self.driver.set_log(log);
        Ok(())
    }
}

fn violations(list: &[zabkeeper_core::check::Violation]) -> Value {
    let items: Vec<Value> = list
        .iter()
        .map(|v| json!({ "at_ms": v.at_ms, "server": v.server.0, "invariant": v.invariant, "detail": v.detail }))
        .collect();
    Value::Array(items)
}

#[derive(Serialize)]
struct Line<'a> {
    at: u64,
    server: u64,
    /// send, deliver, drop, dup, crash, wipe, restart, partition, heal, state, event, fsync,
    /// write, violation.
    what: &'a str,
    /// The other end of a message.
    peer: Option<u64>,
    /// The message kind, or the state.
    kind: Option<&'a str>,
    id: Option<u64>,
    text: String,
}

fn trace_line(line: &TraceLine) -> Value {
    let (what, peer, kind, id) = match &line.kind {
        TraceKind::Send { to, kind, id } => ("send", Some(to.0), Some(*kind), Some(*id)),
        TraceKind::Deliver { from, kind, id } => ("deliver", Some(from.0), Some(*kind), Some(*id)),
        TraceKind::VoteIn { from, id, .. } => ("deliver", Some(from.0), Some("VOTE"), Some(*id)),
        TraceKind::Drop { to, kind, id, .. } => ("drop", Some(to.0), Some(*kind), Some(*id)),
        TraceKind::Duplicate { to, kind, id } => ("dup", Some(to.0), Some(*kind), Some(*id)),
        TraceKind::Crash { .. } => ("crash", None, None, None),
        TraceKind::Wipe => ("wipe", None, None, None),
        TraceKind::Restart { .. } => ("restart", None, None, None),
        TraceKind::Partition { .. } => ("partition", None, None, None),
        TraceKind::Heal => ("heal", None, None, None),
        TraceKind::Status { status, .. } => ("state", None, Some(*status), None),
        TraceKind::Event(_) => ("event", None, None, None),
        TraceKind::Fsync { .. } => ("fsync", None, None, None),
        TraceKind::Write { .. } => ("write", None, None, None),
        TraceKind::Violation { invariant, .. } => ("violation", None, Some(*invariant), None),
    };
    let text = format!("{line}");
    let text = text.split_once("] ").map_or(text.as_str(), |(_, rest)| rest.trim_start()).to_string();
    serde_json::to_value(Line { at: line.at_ms, server: line.server.0, what, peer, kind, id, text })
        .unwrap_or(Value::Null)
}
