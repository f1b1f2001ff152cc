//! The simulated network between servers: latency, loss, duplication, reordering, rules for
//! single untimely messages, partitions.

use super::*;

/// The trace name of a peer message.
pub(super) fn kind_of(msg: &PeerMessage) -> &'static str {
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

impl Sim {
    pub(super) fn send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
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

    pub(super) fn deliver(&mut self, from: ServerId, to: ServerId, msg: PeerMessage, id: u64) {
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
}
