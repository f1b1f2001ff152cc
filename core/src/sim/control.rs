//! Hooks for tests, scenarios and the interactive driver: look at servers, crash, restart,
//! wipe, partition and write on demand.

use super::*;

impl Sim {
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
