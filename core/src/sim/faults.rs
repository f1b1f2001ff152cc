//! The faults of the chaos phase (crashes, torn writes, replaced disks, partitions) and the calm
//! phase that heals them all.

use super::*;

impl Sim {
    pub(super) fn chaos(&mut self) {
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
    pub(super) fn crash_node(&mut self, index: usize, kept: usize) {
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

    pub(super) fn crash(&mut self, index: usize, torn: bool, wipes: bool) {
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

    pub(super) fn partition(&mut self) {
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
    pub(super) fn heal_all(&mut self) {
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
}
