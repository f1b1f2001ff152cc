//! Zab, ZooKeeper's atomic broadcast, as a pure state machine: fast leader election,
//! discovery, synchronization and broadcast, for leaders, followers and observers.
//!
//! References: Junqueira, Reed, Serafini, "Zab: High-performance broadcast for primary-backup
//! systems" (DSN 2011); Medeiros, "ZooKeeper's atomic broadcast protocol: Theory and practice"
//! (2012); ZooKeeper's `FastLeaderElection`, `Leader`, `LearnerHandler`, `Learner`.
//!
//! The entry point is [`Peer`]; its doc comment is the host's contract.

mod config;
mod election;
mod image;
mod leader;
mod learner;
mod log;
mod machine;
mod message;
mod peer;
mod quorum;
mod replica;

#[cfg(feature = "sim")]
pub use config::Bugs;
pub use config::Config;
pub use image::Image;
pub use leader::{LeaderPhase, LearnerReport, StepDown};
pub use learner::{Abandon, LearnerStage};
pub use log::Log;
pub use machine::{StateMachine, TreeMachine};
pub use message::{Entry, Message, ServerState, SyncMode, Vote};
pub use peer::{Peer, ProposeError, Status};
pub use quorum::{Majority, Quorum};
pub use replica::{Durable, LogOp};

use crate::ids::{ServerId, Zxid};

/// What the host feeds a [`Peer`].
#[derive(Clone, Debug)]
pub enum Input {
    /// Time passed (the time is [`Peer::step`]'s `now_ms`).
    Tick,
    /// A message from another server.
    Receive { from: ServerId, msg: Message },
    /// Every [`Output::Persist`] up to `seq` is on stable storage.
    Persisted { seq: u64 },
    /// The host's connection to `peer` broke (end of stream, reset, refused): the peer's
    /// process is gone or unreachable. A learner abandons a leader it hears this of at once,
    /// and an election stops waiting for that peer; anything later from the peer undoes it.
    LinkDown { peer: ServerId },
}

/// What a [`Peer`] asks of its host.
#[derive(Clone, Debug)]
pub enum Output {
    Send {
        to: ServerId,
        msg: Message,
    },
    /// A durable write; carry them out in `seq` order and report [`Input::Persisted`].
    Persist {
        seq: u64,
        op: LogOp,
    },
    /// Something worth tracing.
    Event(Event),
}

/// Protocol events, for traces and checkers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Looking {
        round: u64,
    },
    Elected {
        leader: ServerId,
        round: u64,
    },
    Established {
        epoch: u32,
    },
    SyncSent {
        learner: ServerId,
        mode: &'static str,
    },
    /// The leader gave up on a learner that fell too far behind; it will rejoin.
    LearnerDropped {
        learner: ServerId,
        last: Zxid,
    },
    Synced {
        leader: ServerId,
        mode: &'static str,
        last: Zxid,
    },
    UpToDate {
        leader: ServerId,
        epoch: u32,
    },
    Committed {
        from: Zxid,
        to: Zxid,
    },
    LeaderStepDown {
        why: StepDown,
    },
    LearnerAbandon {
        why: Abandon,
    },
    /// A peer sent something it should not have; it was ignored.
    Violation {
        peer: ServerId,
        what: &'static str,
    },
}

#[cfg(test)]
mod tests;
