//! The state every role shares: durable epochs, the log, the commit point, the state machine,
//! and the ordered stream of durable writes the host carries out.
//!
//! Durability is a sequence: every write the core needs (append, truncate, install a snapshot,
//! save the epochs) is an [`Output::Persist`] with a rising `seq`, and the host reports
//! [`Input::Persisted`]`{ seq }` once everything up to `seq` is on stable storage. The host
//! must carry the writes out in `seq` order; after a crash a prefix of them survives.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::config::Config;
use super::log::Log;
use super::machine::StateMachine;
use super::message::{Entry, Message, Vote};
use super::quorum::Majority;
use super::{Event, Output};
use crate::ids::{ServerId, Zxid};
use crate::rng::Rng;

/// Entries a leader keeps in memory for a slow follower before giving up on it.
const LOG_HARD_MAX: usize = 1024;

/// One durable write.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LogOp {
    Append(Arc<Entry>),
    /// Drop every log entry after `after`.
    Truncate {
        after: Zxid,
    },
    /// Replace the whole state with this snapshot (SNAP sync): the log restarts after `zxid`.
    InstallSnapshot {
        zxid: Zxid,
        #[serde(with = "crate::bytes_serde")]
        snapshot: Vec<u8>,
    },
    /// Save acceptedEpoch and currentEpoch (ZooKeeper writes each to its own file).
    Epochs {
        accepted: u32,
        current: u32,
    },
}

#[derive(Clone, Copy, Debug)]
enum Effect {
    /// The entry with this zxid, in log generation `generation`, is durable.
    Entry {
        zxid: Zxid,
        generation: u64,
    },
    Truncated {
        to: Zxid,
        generation: u64,
    },
    Installed {
        zxid: Zxid,
        generation: u64,
    },
    Epochs {
        accepted: u32,
        current: u32,
    },
}

/// What a replica restarts from: what survived on its disk.
#[derive(Clone, Debug, Default)]
pub struct Durable {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// Log entries after the state machine's snapshot point, in order.
    pub log: Vec<Entry>,
}

/// The shared part of a replica.
#[derive(Debug)]
pub(crate) struct Replica<M> {
    pub config: Config,
    pub quorum: Majority,
    pub rng: Rng,
    pub now_ms: u64,
    /// Durable values (what a restart would find).
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// The last values asked of the host, durable or not.
    pub wanted_epochs: (u32, u32),
    pub log: Log,
    /// Everything up to here is committed and applied to `machine`.
    pub committed: Zxid,
    pub machine: M,
    next_seq: u64,
    waiting: VecDeque<(u64, Effect)>,
    /// Log generation: bumped by every truncate or snapshot install, so that appends of a
    /// superseded log never count as durable entries of the current one.
    generation: u64,
    /// The greatest zxid up to which the durable log agrees with the in-memory log.
    pub durable_zxid: Zxid,
    /// FLE's logical clock; survives role changes.
    pub round: u64,
    /// A blank server found the whole ensemble blank (a brand-new one) and may take part as
    /// if it had history. See [`super::election`].
    pub blank_released: bool,
    /// Peers whose link the host reported broken and that have sent nothing since: nothing
    /// better can come from them, so an election need not wait for them.
    pub down: BTreeSet<ServerId>,
}

impl<M: StateMachine> Replica<M> {
    pub fn new(config: Config, seed: u64, durable: Durable, machine: M) -> Replica<M> {
        let floor = machine.applied();
        let mut log = Log::new(floor);
        for entry in durable.log {
            if entry.zxid > log.last() {
                log.append(Arc::new(entry));
            }
        }
        let durable_zxid = log.last();
        let quorum = Majority::new(config.voters.iter().copied());
        Replica {
            config,
            quorum,
            rng: Rng::new(seed),
            now_ms: 0,
            accepted_epoch: durable.accepted_epoch.max(durable.current_epoch),
            current_epoch: durable.current_epoch,
            wanted_epochs: (durable.accepted_epoch.max(durable.current_epoch), durable.current_epoch),
            log,
            committed: floor,
            machine,
            next_seq: 0,
            waiting: VecDeque::new(),
            generation: 0,
            durable_zxid,
            round: 0,
            blank_released: false,
            down: BTreeSet::new(),
        }
    }

    pub fn id(&self) -> ServerId {
        self.config.id
    }

    /// No history: a fresh or replaced data directory that has not synced with any leader
    /// yet. An accepted epoch alone does not count (a blank server joining a leader accepts
    /// its epoch before it has received anything).
    pub fn is_blank(&self) -> bool {
        self.current_epoch == 0 && self.log.last() == Zxid::ZERO
    }

    pub fn send(&self, out: &mut Vec<Output>, to: ServerId, msg: Message) {
        out.push(Output::Send { to, msg });
    }

    fn persist(&mut self, out: &mut Vec<Output>, op: LogOp, effect: Effect) {
        self.next_seq += 1;
        self.waiting.push_back((self.next_seq, effect));
        out.push(Output::Persist { seq: self.next_seq, op });
    }

    /// Appends an entry to the log and asks the host to make it durable.
    pub fn append(&mut self, out: &mut Vec<Output>, entry: Arc<Entry>) {
        let effect = Effect::Entry { zxid: entry.zxid, generation: self.generation };
        self.log.append(Arc::clone(&entry));
        self.persist(out, LogOp::Append(entry), effect);
    }

    /// Drops uncommitted entries after `to`. Truncating a committed entry would lose data: the
    /// caller must have checked.
    pub fn truncate(&mut self, out: &mut Vec<Output>, to: Zxid) {
        assert!(to >= self.committed, "truncating committed entries: to {to}, committed {}", self.committed);
        self.log.truncate_after(to);
        self.generation += 1;
        self.durable_zxid = self.durable_zxid.min(to);
        self.persist(out, LogOp::Truncate { after: to }, Effect::Truncated { to, generation: self.generation });
    }

    /// Replaces the state with a leader's snapshot taken at `zxid`.
    pub fn install_snapshot(&mut self, out: &mut Vec<Output>, zxid: Zxid, snapshot: Vec<u8>) -> bool {
        if self.machine.restore(&snapshot).is_err() || self.machine.applied() != zxid {
            return false;
        }
        self.log.reset(zxid);
        self.committed = zxid;
        self.generation += 1;
        self.durable_zxid = Zxid::ZERO;
        self.persist(
            out,
            LogOp::InstallSnapshot { zxid, snapshot },
            Effect::Installed { zxid, generation: self.generation },
        );
        true
    }

    /// Asks for both epochs to become durable (no-op if already asked).
    pub fn save_epochs(&mut self, out: &mut Vec<Output>, accepted: u32, current: u32) {
        if self.wanted_epochs == (accepted, current) {
            return;
        }
        assert!(accepted >= current, "acceptedEpoch {accepted} below currentEpoch {current}");
        self.wanted_epochs = (accepted, current);
        self.persist(out, LogOp::Epochs { accepted, current }, Effect::Epochs { accepted, current });
    }

    /// The host made everything up to `seq` durable.
    pub fn on_persisted(&mut self, seq: u64) {
        while let Some(&(s, effect)) = self.waiting.front() {
            if s > seq {
                break;
            }
            self.waiting.pop_front();
            match effect {
                Effect::Entry { zxid, generation } if generation == self.generation => self.durable_zxid = zxid,
                Effect::Entry { .. } => {}
                // Writes are durable in order: with the truncation, every append before it is
                // on disk, so the whole log up to the truncation point is.
                Effect::Truncated { to, generation } if generation == self.generation => self.durable_zxid = to,
                Effect::Truncated { .. } => {}
                Effect::Installed { zxid, generation } if generation == self.generation => self.durable_zxid = zxid,
                Effect::Installed { .. } => {}
                Effect::Epochs { accepted, current } => {
                    self.accepted_epoch = accepted;
                    self.current_epoch = current;
                }
            }
        }
    }

    /// Applies committed entries up to `zxid` (as far as the log holds them).
    pub fn commit_to(&mut self, out: &mut Vec<Output>, zxid: Zxid) {
        let target = zxid.min(self.log.last());
        if target <= self.committed {
            return;
        }
        let start = self.committed;
        for entry in self.log.after(start).take_while(|e| e.zxid <= target) {
            self.machine.apply(entry);
            self.committed = entry.zxid;
        }
        out.push(Output::Event(Event::Committed { from: start, to: self.committed }));
    }

    /// Drops committed entries from memory, keeping `log_window` of them, and everything
    /// after `needed` (what some learner has yet to receive). Memory stays bounded all the
    /// same: past `LOG_HARD_MAX` entries the oldest committed ones go, and a learner that
    /// needed them gets a SNAP.
    pub fn compact(&mut self, needed: Zxid) {
        let window = self.config.log_window;
        self.log.compact(self.committed.min(needed), window);
        let cap = window.saturating_mul(10).max(LOG_HARD_MAX);
        if self.log.len() > cap {
            self.log.compact(self.committed, cap);
        }
    }

    /// This replica's own FLE proposal.
    pub fn own_vote(&self, state: super::message::ServerState, non_voting: bool) -> Vote {
        Vote {
            leader: self.id(),
            zxid: self.log.last(),
            epoch: self.current_epoch,
            round: self.round,
            state,
            non_voting,
            no_txn: self.log.last() == Zxid::ZERO,
            accepted_epoch: self.accepted_epoch,
        }
    }

    /// A jittered delay in `[ms, 1.5 * ms]`, from the seeded generator.
    pub fn jitter(&mut self, ms: u64) -> u64 {
        ms + self.rng.below(ms / 2 + 1)
    }
}
