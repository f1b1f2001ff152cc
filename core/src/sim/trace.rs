//! The event trace: one line per thing that happened, for humans (`--seed N` replays print
//! it), for the browser's space-time diagram, and for the determinism check (its hash).
//!
//! Legend: `[time ms] sN  what`. `->` a message sent, `<-` delivered, `x` dropped (with why),
//! `+` duplicated; `CRASH`, `RESTART`, `PARTITION`, `HEAL` are faults; `STATE` a role change;
//! `FSYNC` a completed group commit; `WRITE` a client proposal; `!!` a checker violation.

use alloc::string::String;
use core::fmt;

use crate::ids::{ServerId, Zxid};
use crate::zab::Event;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// `id` numbers messages (a duplicate shares its original's): it pairs a send with its
    /// delivery or loss.
    Send {
        to: ServerId,
        kind: &'static str,
        id: u64,
    },
    Deliver {
        from: ServerId,
        kind: &'static str,
        id: u64,
    },
    /// A vote delivered, with its content (votes decide elections; their content matters).
    VoteIn {
        from: ServerId,
        vote: crate::zab::Vote,
        id: u64,
    },
    /// Lost: at the sender (`loss`, `partition`, `rule`) or at the receiver (`partition`,
    /// `down`).
    Drop {
        to: ServerId,
        kind: &'static str,
        why: &'static str,
        id: u64,
    },
    Duplicate {
        to: ServerId,
        kind: &'static str,
        id: u64,
    },
    Crash {
        kept: usize,
        lost: usize,
    },
    Wipe,
    Restart {
        blank: bool,
    },
    Partition {
        description: String,
    },
    Heal,
    Status {
        status: &'static str,
        epoch: u32,
        zxid: Zxid,
        committed: Zxid,
    },
    Event(Event),
    Fsync {
        seq: u64,
    },
    Write {
        zxid: Zxid,
    },
    Violation {
        invariant: &'static str,
        detail: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    pub at_ms: u64,
    /// The server it happened at (`s0` for the simulator itself).
    pub server: ServerId,
    pub kind: TraceKind,
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>8}] {:<4} ", self.at_ms, alloc::format!("{}", self.server))?;
        match &self.kind {
            TraceKind::Send { to, kind, .. } => write!(f, "-> {to} {kind}"),
            TraceKind::Deliver { from, kind, .. } => write!(f, "<- {from} {kind}"),
            TraceKind::VoteIn { from, vote, .. } => write!(
                f,
                "<- {from} VOTE leader={} zxid={} epoch={} round={} {:?}{}{}",
                vote.leader,
                vote.zxid,
                vote.epoch,
                vote.round,
                vote.state,
                if vote.non_voting { " non-voting" } else { "" },
                if vote.no_txn { " no-txn" } else { "" }
            ),
            TraceKind::Drop { to, kind, why, .. } => write!(f, "x  {to} {kind} ({why})"),
            TraceKind::Duplicate { to, kind, .. } => write!(f, "+  {to} {kind}"),
            TraceKind::Crash { kept, lost } => write!(f, "CRASH (unsynced writes: {kept} kept, {lost} lost)"),
            TraceKind::Wipe => write!(f, "WIPE (disk replaced)"),
            TraceKind::Restart { blank } => write!(f, "RESTART{}", if *blank { " (blank disk)" } else { "" }),
            TraceKind::Partition { description } => write!(f, "PARTITION {description}"),
            TraceKind::Heal => write!(f, "HEAL"),
            TraceKind::Status { status, epoch, zxid, committed } => {
                write!(f, "STATE {status} epoch={epoch} last={zxid} committed={committed}")
            }
            TraceKind::Event(event) => write!(f, "{event:?}"),
            TraceKind::Fsync { seq } => write!(f, "FSYNC up to #{seq}"),
            TraceKind::Write { zxid } => write!(f, "WRITE proposed {zxid}"),
            TraceKind::Violation { invariant, detail } => write!(f, "!! {invariant}: {detail}"),
        }
    }
}
