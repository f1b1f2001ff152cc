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

/// Every name [`kind_of`] gives, with the family the page colours it by.
pub const MESSAGE_KINDS: [(&str, &str); 24] = [
    ("VOTE", "votes"),
    ("FOLLOWERINFO", "discovery"),
    ("OBSERVERINFO", "discovery"),
    ("LEADERINFO", "discovery"),
    ("ACKEPOCH", "discovery"),
    ("NEWLEADER(DIFF)", "sync"),
    ("NEWLEADER(TRUNC)", "truncate / snap"),
    ("NEWLEADER(SNAP)", "truncate / snap"),
    ("ACK(NEWLEADER)", "sync"),
    ("UPTODATE", "sync"),
    ("PROPOSAL", "proposal"),
    ("ACK", "ack"),
    ("COMMIT", "commit"),
    ("INFORM", "proposal"),
    ("NACK", "truncate / snap"),
    ("PING", "ping"),
    ("PONG", "ping"),
    ("FORWARD", "forward / sync"),
    ("TOUCH", "ping"),
    ("SYNC", "forward / sync"),
    ("SYNCED", "forward / sync"),
    ("REVALIDATE", "forward / sync"),
    ("REVALIDATED", "forward / sync"),
    ("REFUSED", "forward / sync"),
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
