//! A learner: a follower (votes and ACKs) or an observer (only learns committed txns).
//! ZooKeeper's `Learner.registerWithLeader` / `syncWithLeader` and `Follower` / `Observer`.
//!
//! ```text
//! Info ─LEADERINFO─► (acceptedEpoch durable) ─ACKEPOCH─► AckedEpoch ─NEWLEADER(DIFF|TRUNC|SNAP)─►
//!   NewLeaderPending ─history + currentEpoch durable, ACK(NEWLEADER)─► AwaitUpToDate ─UPTODATE─► Broadcast
//! ```
//!
//! The durable order is the host's write order: the synced entries are written before the
//! epochs, so a crash can never leave the new currentEpoch with a shorter log (ZK-4643), and
//! ACK(NEWLEADER) waits for both (ZK-3911, ZK-4646). Nothing is applied unless the leader
//! says it is committed (ZK-4394).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::machine::StateMachine;
use super::message::{Entry, Message, SyncMode};
use super::replica::Replica;
use super::{Event, Output};
use crate::ids::{ServerId, Zxid};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LearnerStage {
    /// FOLLOWERINFO sent.
    Info,
    /// Waiting for the accepted epoch to be durable.
    EpochPending,
    /// ACKEPOCH sent, waiting for NEWLEADER and its sync.
    AckedEpoch,
    /// NEWLEADER applied, waiting for durability.
    NewLeaderPending,
    /// ACK(NEWLEADER) sent, waiting for UPTODATE.
    AwaitUpToDate,
    Broadcast,
}

/// Why a learner gave up on its leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abandon {
    /// Nothing from the leader within initLimit (before broadcast) or syncLimit.
    Timeout,
    /// The leader's epoch is below one we already accepted.
    StaleEpoch,
    /// The leader sent something that cannot be right (a TRUNC of committed txns, a sync
    /// that does not fit our log): never apply it, look for another leader.
    BadSync(&'static str),
    /// The leader still talks to us but has sent nothing to fill our gap behind its commit
    /// point for syncLimit: it no longer serves this attempt (it dropped us, or a late copy of
    /// an old FOLLOWERINFO replaced our attempt in its table). Join again.
    Stalled,
    /// The host reported the link to the leader broken.
    LinkLost,
}

#[derive(Debug)]
pub(crate) struct Learner {
    leader: ServerId,
    observer: bool,
    nonce: u64,
    epoch: u32,
    /// The LEADERINFO's epoch was already our accepted epoch (see [`Message::AckEpoch`]).
    repeat_promise: bool,
    stage: LearnerStage,
    last_heard_ms: u64,
    next_resend_ms: u64,
    /// Re-send interval: one tick, doubling while the leader stays silent.
    resend_ms: u64,
    /// The leader's commit point as last heard.
    leader_committed: Zxid,
    /// Our log's end right after the sync (NEWLEADER's history).
    sync_target: Zxid,
    acked: Zxid,
    /// The last NACK sent and when, so a burst of out-of-order proposals asks only once.
    last_nack: (Zxid, u64),
    /// Entries that arrived ahead of a gap, waiting for it to fill.
    early: BTreeMap<Zxid, Arc<Entry>>,
    /// Our log's end when last looked at in broadcast, and since when it has not moved while
    /// behind the leader's commit point.
    progress: (Zxid, u64),
}

/// How many out-of-order entries a learner keeps while waiting for a gap to fill.
const EARLY_MAX: usize = 4096;

/// Whether `zxid` is the entry right after `last`: the next counter in the same epoch, or the
/// first of a later epoch.
fn follows(last: Zxid, zxid: Zxid) -> bool {
    (zxid.epoch() == last.epoch() && Some(zxid) == last.next()) || (zxid.epoch() > last.epoch() && zxid.counter() == 1)
}

impl Learner {
    pub fn start<M: StateMachine>(r: &mut Replica<M>, out: &mut Vec<Output>, leader: ServerId) -> Learner {
        let observer = !r.config.is_voter(r.id());
        let nonce = r.rng.next_u64();
        let learner = Learner {
            leader,
            observer,
            nonce,
            epoch: 0,
            repeat_promise: false,
            stage: LearnerStage::Info,
            last_heard_ms: r.now_ms,
            next_resend_ms: r.now_ms + r.config.tick_ms,
            resend_ms: r.config.tick_ms,
            leader_committed: Zxid::ZERO,
            sync_target: Zxid::ZERO,
            acked: Zxid::ZERO,
            last_nack: (Zxid::ZERO, 0),
            early: BTreeMap::new(),
            progress: (Zxid::ZERO, r.now_ms),
        };
        learner.send_info(r, out);
        learner
    }

    pub fn leader(&self) -> ServerId {
        self.leader
    }

    pub fn stage(&self) -> LearnerStage {
        self.stage
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// This attempt to join the leader (the nonce of its FOLLOWERINFO).
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    pub fn is_observer(&self) -> bool {
        self.observer
    }

    fn send_info<M: StateMachine>(&self, r: &Replica<M>, out: &mut Vec<Output>) {
        let msg = Message::FollowerInfo {
            accepted_epoch: r.accepted_epoch,
            observer: self.observer,
            blank: r.is_blank() && !r.blank_released,
            nonce: self.nonce,
        };
        r.send(out, self.leader, msg);
    }

    fn send_ack_epoch<M: StateMachine>(&self, r: &Replica<M>, out: &mut Vec<Output>) {
        let msg = Message::AckEpoch {
            epoch: self.epoch,
            nonce: self.nonce,
            current_epoch: r.current_epoch,
            last_zxid: r.log.last(),
            repeat: self.repeat_promise,
        };
        r.send(out, self.leader, msg);
    }

    pub fn on_message<M: StateMachine>(
        &mut self,
        r: &mut Replica<M>,
        out: &mut Vec<Output>,
        from: ServerId,
        msg: Message,
    ) -> Result<(), Abandon> {
        if from != self.leader {
            return Ok(());
        }
        match msg {
            Message::LeaderInfo { epoch, nonce } if nonce == self.nonce => self.on_leader_info(r, out, epoch),
            Message::NewLeader { epoch, nonce, mode, last_zxid, committed } if self.current(epoch, nonce) => {
                self.on_new_leader(r, out, *mode, last_zxid, committed)
            }
            Message::UpToDate { epoch, nonce, committed } if self.current(epoch, nonce) => {
                self.last_heard_ms = r.now_ms;
                if self.stage == LearnerStage::AwaitUpToDate {
                    self.stage = LearnerStage::Broadcast;
                    out.push(Output::Event(Event::UpToDate { leader: self.leader, epoch }));
                    // ACK again what is durable: an ACK that overtook our ACK(NEWLEADER) was
                    // ignored by the leader, and nothing else would repeat it.
                    self.acked = Zxid::ZERO;
                }
                self.learn_committed(r, out, committed);
                self.send_acks(r, out);
                Ok(())
            }
            Message::Proposal { epoch, entries } if epoch == self.epoch && !self.observer => {
                self.last_heard_ms = r.now_ms;
                for entry in entries {
                    self.on_entry(r, out, entry);
                }
                Ok(())
            }
            Message::Inform { epoch, entry } if epoch == self.epoch && self.observer => {
                self.last_heard_ms = r.now_ms;
                // An INFORM proves its txn, and so every txn before it, committed.
                let zxid = entry.zxid;
                self.on_entry(r, out, entry);
                self.learn_committed(r, out, zxid);
                Ok(())
            }
            Message::Commit { epoch, zxid } if epoch == self.epoch => {
                self.last_heard_ms = r.now_ms;
                self.learn_committed(r, out, zxid);
                Ok(())
            }
            Message::Ping { epoch, committed } if epoch == self.epoch || self.stage <= LearnerStage::AckedEpoch => {
                self.last_heard_ms = r.now_ms;
                r.send(out, self.leader, Message::Pong { epoch });
                if epoch == self.epoch {
                    self.learn_committed(r, out, committed);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn current(&self, epoch: u32, nonce: u64) -> bool {
        epoch == self.epoch && nonce == self.nonce
    }

    fn on_leader_info<M: StateMachine>(
        &mut self,
        r: &mut Replica<M>,
        out: &mut Vec<Output>,
        epoch: u32,
    ) -> Result<(), Abandon> {
        self.last_heard_ms = r.now_ms;
        if self.stage > LearnerStage::AckedEpoch {
            return Ok(());
        }
        if epoch < r.wanted_epochs.0 {
            return Err(Abandon::StaleEpoch);
        }
        self.epoch = epoch;
        if epoch > r.accepted_epoch {
            r.save_epochs(out, epoch, r.current_epoch);
            self.stage = LearnerStage::EpochPending;
        } else {
            // Accepted before (from this leader on an earlier attempt, or from another one
            // that picked the same epoch): no new promise to give.
            self.repeat_promise = true;
            self.stage = LearnerStage::AckedEpoch;
            self.send_ack_epoch(r, out);
        }
        Ok(())
    }

    /// NEWLEADER: apply the DIFF, TRUNC or SNAP it carries, then adopt the epoch once the
    /// synced history and the epoch are durable (in that order, by the host's write order).
    fn on_new_leader<M: StateMachine>(
        &mut self,
        r: &mut Replica<M>,
        out: &mut Vec<Output>,
        mode: SyncMode,
        last_zxid: Zxid,
        committed: Zxid,
    ) -> Result<(), Abandon> {
        self.last_heard_ms = r.now_ms;
        if self.stage != LearnerStage::AckedEpoch {
            return Ok(());
        }
        let name = mode.name();
        let entries = match mode {
            SyncMode::Diff { base, entries } => {
                if base != r.log.last() {
                    return Err(Abandon::BadSync("DIFF from a zxid that is not our last"));
                }
                entries
            }
            SyncMode::Trunc { to, entries } => {
                if to < r.committed {
                    return Err(Abandon::BadSync("TRUNC below our commit point"));
                }
                if !r.log.contains(to) {
                    return Err(Abandon::BadSync("TRUNC to a zxid we do not hold"));
                }
                r.truncate(out, to);
                entries
            }
            SyncMode::Snap { at, snapshot, entries } => {
                if !r.install_snapshot(out, at, snapshot) {
                    return Err(Abandon::BadSync("SNAP that does not restore"));
                }
                entries
            }
        };
        for entry in entries {
            if entry.zxid <= r.log.last() {
                return Err(Abandon::BadSync("sync entries out of order"));
            }
            r.append(out, Arc::new(entry));
        }
        if r.log.last() != last_zxid {
            return Err(Abandon::BadSync("NEWLEADER names a history we were not sent"));
        }
        out.push(Output::Event(Event::Synced { leader: self.leader, mode: name, last: r.log.last() }));
        self.sync_target = last_zxid;
        // Entries the leader had committed before the sync are committed; nothing else is.
        self.leader_committed = committed;
        r.commit_to(out, committed.min(self.sync_target));
        self.stage = LearnerStage::NewLeaderPending;
        r.save_epochs(out, self.epoch, self.epoch);
        self.on_durable(r, out);
        Ok(())
    }

    /// A proposal (follower) or an inform (observer): appended if it is the next zxid (with
    /// any held ones that now follow), ignored if already held, kept aside if something before
    /// it is missing (the network reordered them), and the gap answered with a NACK.
    fn on_entry<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>, entry: Arc<Entry>) {
        if self.stage < LearnerStage::NewLeaderPending {
            return;
        }
        if entry.zxid <= r.log.last() {
            return;
        }
        if !follows(r.log.last(), entry.zxid) {
            if self.early.len() < EARLY_MAX {
                self.early.insert(entry.zxid, entry);
            }
            self.nack(r, out);
            return;
        }
        r.append(out, entry);
        while let Some(next) = self.early.first_key_value().map(|(z, _)| *z) {
            let last = r.log.last();
            if next <= last {
                self.early.pop_first();
            } else if follows(last, next) {
                if let Some((_, held)) = self.early.pop_first() {
                    r.append(out, held);
                }
            } else {
                break;
            }
        }
    }

    fn learn_committed<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>, committed: Zxid) {
        self.leader_committed = self.leader_committed.max(committed);
        if self.stage == LearnerStage::Broadcast {
            r.commit_to(out, self.leader_committed);
            r.compact(r.committed);
            // Committed entries we never received (their proposal was lost, and nothing after
            // it came to reveal the gap): ask for them.
            if self.leader_committed > r.log.last() {
                self.nack(r, out);
            }
        }
    }

    fn nack<M: StateMachine>(&mut self, r: &Replica<M>, out: &mut Vec<Output>) {
        let last = r.log.last();
        if self.last_nack.0 != last || r.now_ms >= self.last_nack.1 + r.config.tick_ms {
            self.last_nack = (last, r.now_ms);
            r.send(out, self.leader, Message::Nack { epoch: self.epoch, last });
        }
    }

    fn send_acks<M: StateMachine>(&mut self, r: &Replica<M>, out: &mut Vec<Output>) {
        if self.observer || self.stage < LearnerStage::AwaitUpToDate {
            return;
        }
        let durable = r.durable_zxid.min(r.log.last());
        #[cfg(feature = "sim")]
        let durable = if r.config.bugs.ack_before_durable { r.log.last() } else { durable };
        if durable > self.acked {
            self.acked = durable;
            r.send(out, self.leader, Message::Ack { epoch: self.epoch, zxid: durable });
        }
    }

    pub fn on_durable<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) {
        match self.stage {
            LearnerStage::EpochPending if r.accepted_epoch >= self.epoch => {
                self.stage = LearnerStage::AckedEpoch;
                self.send_ack_epoch(r, out);
            }
            LearnerStage::NewLeaderPending if self.new_leader_durable(r) => {
                self.stage = LearnerStage::AwaitUpToDate;
                r.send(out, self.leader, Message::AckNewLeader { epoch: self.epoch, nonce: self.nonce });
            }
            _ => {}
        }
        self.send_acks(r, out);
    }

    /// ACK(NEWLEADER) needs the synced history and the new currentEpoch on disk.
    fn new_leader_durable<M: StateMachine>(&self, r: &Replica<M>) -> bool {
        #[cfg(feature = "sim")]
        if r.config.bugs.ack_new_leader_early {
            return true;
        }
        r.current_epoch == self.epoch && r.durable_zxid >= self.sync_target
    }

    pub fn on_tick<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) -> Result<(), Abandon> {
        let limit =
            if self.stage == LearnerStage::Broadcast { r.config.sync_timeout_ms() } else { r.config.init_timeout_ms() };
        if r.now_ms.saturating_sub(self.last_heard_ms) > limit {
            return Err(Abandon::Timeout);
        }
        if self.stage == LearnerStage::Broadcast {
            let last = r.log.last();
            if last != self.progress.0 || self.leader_committed <= last {
                self.progress = (last, r.now_ms);
            } else if r.now_ms.saturating_sub(self.progress.1) > limit {
                return Err(Abandon::Stalled);
            }
        }
        if r.now_ms >= self.next_resend_ms {
            self.resend_ms = (self.resend_ms * 2).min(r.config.tick_ms * 4);
            self.next_resend_ms = r.now_ms + self.resend_ms;
            match self.stage {
                LearnerStage::Info => self.send_info(r, out),
                LearnerStage::AckedEpoch => {
                    // Say who we are again too: a delayed FOLLOWERINFO of an earlier attempt may
                    // have made the leader forget this one.
                    self.send_info(r, out);
                    self.send_ack_epoch(r, out);
                }
                LearnerStage::AwaitUpToDate => {
                    r.send(out, self.leader, Message::AckNewLeader { epoch: self.epoch, nonce: self.nonce })
                }
                _ => {}
            }
        }
        Ok(())
    }
}
