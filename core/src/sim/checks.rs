//! What a run is judged by at its end: the client histories, watch order, recipe claims, every
//! request answered, and liveness.

use super::*;

/// How long a call made in the calm phase may wait for its reply (or for its connection to
/// close) before the run counts it as dropped.
const ANSWER_MS: u64 = 5_000;

impl Sim {
    /// The recipes' safety: when a client concluded from a listing at zxid Z that its node was
    /// the lowest (it holds the lock, or leads), the committed state at Z must say the same.
    /// As nodes are numbered in creation order and never come back, that makes holders
    /// exclusive in committed order. (A client can still believe it holds a lock after its
    /// session expired, as with any lease: only its own session's end tells it.)
    pub(super) fn check_claims(&mut self) {
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
                Txn::Multi(ops) => ops.iter().for_each(|op| walk(&Txn::from(op.clone()), children)),
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
    pub(super) fn check_watches(&mut self) {
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
                Txn::Multi(ops) => ops.iter().for_each(|op| note(&Txn::from(op.clone()), zxid, changes)),
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
    pub(super) fn check_history(&mut self) {
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

    pub(super) fn finish(mut self) -> Report {
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
    pub(super) fn check_requests_answered(&mut self) {
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
    pub(super) fn check_liveness(&mut self) {
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
}
