//! The leader: discovery (FOLLOWERINFO, LEADERINFO, ACKEPOCH), synchronization (DIFF, TRUNC or
//! SNAP, then NEWLEADER), and broadcast (PROPOSAL, ACK, COMMIT; INFORM for observers).
//! Zab paper, sections 5.1-5.3; ZooKeeper's `Leader` and `LearnerHandler`.
//!
//! ```text
//! Discovery ─quorum of FOLLOWERINFO─► EpochPending ─acceptedEpoch durable─► AwaitAckEpoch
//!   ─quorum of ACKEPOCH, none ahead─► Synchronization ─quorum of ACK(NEWLEADER)─► Broadcast
//! ```
//!
//! Each learner gets one NEWLEADER message that carries its DIFF, TRUNC or SNAP, so the sync
//! and NEWLEADER cannot be split or reordered on the way.
//!
//! ```text
//! ```
//!
//! The leader counts itself like any follower, but only for what is durable on its own disk:
//! its FOLLOWERINFO is its accepted epoch, its ACK(NEWLEADER) needs its currentEpoch and its
//! whole history durable, and its ACK of a proposal is its durable log position.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::machine::StateMachine;
use super::message::{Entry, Message, SyncMode};
use super::quorum::Quorum;
use super::replica::Replica;
use super::{Event, Output};
use crate::ids::{ServerId, SessionId, Zxid};
use crate::txn::Txn;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeaderPhase {
    Discovery,
    EpochPending,
    AwaitAckEpoch,
    Synchronization,
    Broadcast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// FOLLOWERINFO received.
    Info,
    /// ACKEPOCH received; waiting for the quorum before syncing.
    AckedEpoch,
    /// NEWLEADER (with its DIFF, TRUNC or SNAP) sent.
    Synced,
    /// ACK(NEWLEADER) received.
    AckedNewLeader,
    /// UPTODATE sent: a full member of the epoch.
    UpToDate,
}

/// What a FOLLOWERINFO says.
#[derive(Clone, Copy, Debug)]
struct Joining {
    accepted_epoch: u32,
    observer: bool,
    blank: bool,
    nonce: u64,
}

#[derive(Clone, Debug)]
struct LearnerState {
    observer: bool,
    /// Its disk was blank when it joined: it counts for nothing before it has synced.
    blank: bool,
    nonce: u64,
    stage: Stage,
    current_epoch: u32,
    last_zxid: Zxid,
    /// Cumulative ACK (followers).
    acked: Zxid,
    /// The history the learner was sent with NEWLEADER ends here.
    synced_to: Zxid,
    last_heard_ms: u64,
}

/// Why a leader gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepDown {
    /// Not established within initLimit.
    InitLimit,
    /// Lost contact with a quorum for syncLimit.
    LostQuorum,
    /// A quorum member has a more recent history: this server must not lead.
    FollowerAhead,
    /// The zxid counter is exhausted: a new epoch is needed.
    CounterExhausted,
    /// A voter has accepted a later epoch than ours and cannot follow us.
    LearnerAhead,
}

#[derive(Debug)]
pub(crate) struct Leader {
    epoch: u32,
    phase: LeaderPhase,
    started_ms: u64,
    learners: BTreeMap<ServerId, LearnerState>,
    /// Highest accepted epoch reported in FOLLOWERINFOs (ours included).
    max_accepted: u32,
    /// Voters that promised this epoch to this leader with a fresh ACKEPOCH (kept across their
    /// attempts): only they count toward the discovery quorum.
    promised: BTreeSet<ServerId>,
    /// The history to be committed when the epoch is established.
    initial_last: Zxid,
    next_counter: u32,
    next_ping_ms: u64,
}

/// What a leader knows of one learner, for operators (`mntr`, `status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnerReport {
    pub id: ServerId,
    pub observer: bool,
    /// Sent UPTODATE: a full member of the epoch, receiving its broadcast.
    pub synced: bool,
    /// The last zxid it acknowledged (followers) or was sent with its sync (observers).
    pub acked: Zxid,
}

impl Leader {
    pub fn learner_reports(&self) -> impl Iterator<Item = LearnerReport> + '_ {
        self.learners.iter().map(|(id, l)| LearnerReport {
            id: *id,
            observer: l.observer,
            synced: l.stage == Stage::UpToDate,
            acked: if l.observer { l.synced_to } else { l.acked },
        })
    }

    pub fn start<M: StateMachine>(r: &mut Replica<M>, out: &mut Vec<Output>) -> Result<Leader, StepDown> {
        let mut leader = Leader {
            epoch: 0,
            phase: LeaderPhase::Discovery,
            started_ms: r.now_ms,
            learners: BTreeMap::new(),
            max_accepted: r.accepted_epoch,
            promised: BTreeSet::new(),
            initial_last: Zxid::ZERO,
            next_counter: 1,
            next_ping_ms: r.now_ms,
        };
        leader.check_epoch_quorum(r, out)?;
        Ok(leader)
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn phase(&self) -> LeaderPhase {
        self.phase
    }

    pub fn next_zxid(&self) -> Zxid {
        Zxid::new(self.epoch, self.next_counter)
    }

    /// The host lost its link to `learner`: it counts as silent from now on (towards the
    /// quorum check of the next tick) until it is heard from again.
    pub fn link_down(&mut self, learner: ServerId) {
        if let Some(l) = self.learners.get_mut(&learner) {
            l.last_heard_ms = 0;
        }
    }

    /// The attempt under which `learner` is in this leader's table, if it is.
    pub fn learner_nonce(&self, learner: ServerId) -> Option<u64> {
        self.learners.get(&learner).map(|l| l.nonce)
    }

    pub fn is_established(&self) -> bool {
        self.phase == LeaderPhase::Broadcast
    }

    /// Voters at `stage` or beyond. Discovery quorums (FOLLOWERINFO, ACKEPOCH) leave out
    /// blank learners: a replaced disk remembers no promise and no history, so it could make a
    /// quorum that misses a previous epoch's (two leaders of one epoch, or a lost commit).
    fn voters_in(&self, r_id: ServerId, stage: Stage) -> BTreeSet<ServerId> {
        let discovery = stage <= Stage::AckedEpoch;
        let mut ids: BTreeSet<ServerId> = self
            .learners
            .iter()
            .filter(|(_, l)| !l.observer && l.stage >= stage && !(discovery && l.blank))
            .map(|(id, _)| *id)
            .filter(|id| stage != Stage::AckedEpoch || self.promised.contains(id))
            .collect();
        ids.insert(r_id);
        ids
    }

    fn check_epoch_quorum<M: StateMachine>(
        &mut self,
        r: &mut Replica<M>,
        out: &mut Vec<Output>,
    ) -> Result<(), StepDown> {
        if self.phase != LeaderPhase::Discovery || !r.quorum.is_quorum(&self.voters_in(r.id(), Stage::Info)) {
            return Ok(());
        }
        self.epoch = self.max_accepted.max(r.accepted_epoch) + 1;
        self.phase = LeaderPhase::EpochPending;
        r.save_epochs(out, self.epoch, r.current_epoch);
        self.on_durable(r, out)
    }

    pub fn on_durable<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) -> Result<(), StepDown> {
        if self.phase == LeaderPhase::EpochPending && r.accepted_epoch == self.epoch {
            self.phase = LeaderPhase::AwaitAckEpoch;
            let ids: Vec<(ServerId, u64)> = self.learners.iter().map(|(id, l)| (*id, l.nonce)).collect();
            for (id, nonce) in ids {
                r.send(out, id, Message::LeaderInfo { epoch: self.epoch, nonce });
            }
            self.check_ack_epoch_quorum(r, out)?;
        }
        if self.phase == LeaderPhase::Synchronization {
            self.check_established(r, out);
        }
        if self.phase == LeaderPhase::Broadcast {
            self.try_commit(r, out);
        }
        Ok(())
    }

    /// Our own ACK(NEWLEADER): the new epoch is our current epoch and our history is durable.
    fn self_acked_new_leader<M: StateMachine>(&self, r: &Replica<M>) -> bool {
        r.current_epoch == self.epoch && r.durable_zxid >= self.initial_last
    }

    pub fn on_message<M: StateMachine>(
        &mut self,
        r: &mut Replica<M>,
        out: &mut Vec<Output>,
        from: ServerId,
        msg: Message,
    ) -> Result<(), StepDown> {
        if let Some(learner) = self.learners.get_mut(&from) {
            learner.last_heard_ms = r.now_ms;
        }
        match msg {
            Message::FollowerInfo { accepted_epoch, observer, blank, nonce } => {
                self.on_follower_info(r, out, from, Joining { accepted_epoch, observer, blank, nonce })
            }
            Message::AckEpoch { epoch, nonce, current_epoch, last_zxid, repeat }
                if epoch == self.epoch && self.nonce_matches(from, nonce) =>
            {
                if !repeat {
                    self.promised.insert(from);
                }
                self.on_ack_epoch(r, out, from, current_epoch, last_zxid)
            }
            Message::AckNewLeader { epoch, nonce } if epoch == self.epoch && self.nonce_matches(from, nonce) => {
                self.on_ack_new_leader(r, out, from);
                Ok(())
            }
            Message::Ack { epoch, zxid } if epoch == self.epoch => {
                if let Some(l) =
                    self.learners.get_mut(&from).filter(|l| !l.observer && l.stage >= Stage::AckedNewLeader)
                {
                    l.acked = l.acked.max(zxid.min(r.log.last()));
                    self.try_commit(r, out);
                }
                Ok(())
            }
            Message::Nack { epoch, last } if epoch == self.epoch => {
                self.resend_after(r, out, from, last);
                Ok(())
            }
            Message::Pong { .. } => Ok(()),
            _ => Ok(()),
        }
    }

    fn nonce_matches(&self, from: ServerId, nonce: u64) -> bool {
        self.learners.get(&from).is_some_and(|l| l.nonce == nonce)
    }

    fn on_follower_info<M: StateMachine>(
        &mut self,
        r: &mut Replica<M>,
        out: &mut Vec<Output>,
        from: ServerId,
        joining: Joining,
    ) -> Result<(), StepDown> {
        let Joining { accepted_epoch, observer, blank, nonce } = joining;
        if let Some(known) = self.learners.get(&from)
            && known.nonce == nonce
        {
            // The same attempt again: our LEADERINFO was lost.
            if self.phase >= LeaderPhase::AwaitAckEpoch && known.stage == Stage::Info {
                r.send(out, from, Message::LeaderInfo { epoch: self.epoch, nonce });
            }
            return Ok(());
        }
        let observer = observer || !r.config.is_voter(from);
        let fresh = LearnerState {
            observer,
            blank,
            nonce,
            stage: Stage::Info,
            current_epoch: 0,
            last_zxid: Zxid::ZERO,
            acked: Zxid::ZERO,
            synced_to: Zxid::ZERO,
            last_heard_ms: r.now_ms,
        };
        // A FOLLOWERINFO means the learner (re)started talking to us: start it over.
        self.learners.insert(from, fresh);
        match self.phase {
            LeaderPhase::Discovery => {
                if !observer && !blank {
                    self.max_accepted = self.max_accepted.max(accepted_epoch);
                }
                self.check_epoch_quorum(r, out)?;
            }
            _ if !observer && accepted_epoch > self.epoch && self.phase != LeaderPhase::EpochPending => {
                // This voter promised a later epoch (to a leader attempt that failed) and can
                // never follow ours. ZooKeeper leaves it out until this leader fails; we make
                // way for a new election, whose epoch everyone can accept. (A voter that
                // accepted our own epoch before, and rejoins, simply follows again.)
                return Err(StepDown::LearnerAhead);
            }
            LeaderPhase::EpochPending => {}
            _ => r.send(out, from, Message::LeaderInfo { epoch: self.epoch, nonce }),
        }
        Ok(())
    }

    fn on_ack_epoch<M: StateMachine>(
        &mut self,
        r: &mut Replica<M>,
        out: &mut Vec<Output>,
        from: ServerId,
        current_epoch: u32,
        last_zxid: Zxid,
    ) -> Result<(), StepDown> {
        let Some(learner) = self.learners.get_mut(&from) else { return Ok(()) };
        if learner.stage >= Stage::AckedNewLeader {
            // A late copy of an ACKEPOCH from this very attempt: it is past that.
            return Ok(());
        }
        if learner.stage == Stage::Synced {
            // A repeated ACKEPOCH: our NEWLEADER was lost on the way. Sync it again.
            learner.stage = Stage::AckedEpoch;
        }
        learner.stage = learner.stage.max(Stage::AckedEpoch);
        learner.current_epoch = current_epoch;
        learner.last_zxid = last_zxid;
        match self.phase {
            LeaderPhase::AwaitAckEpoch => self.check_ack_epoch_quorum(r, out),
            LeaderPhase::Synchronization | LeaderPhase::Broadcast => {
                if (current_epoch, last_zxid) > (r.current_epoch, self.initial_last.max(r.log.last())) {
                    // A late learner with a history we lack cannot follow us (ZooKeeper drops it).
                    self.learners.remove(&from);
                    out.push(Output::Event(Event::Violation {
                        peer: from,
                        what: "late learner is ahead of the leader",
                    }));
                } else {
                    self.sync(r, out, from);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn check_ack_epoch_quorum<M: StateMachine>(
        &mut self,
        r: &mut Replica<M>,
        out: &mut Vec<Output>,
    ) -> Result<(), StepDown> {
        if self.phase != LeaderPhase::AwaitAckEpoch || !r.quorum.is_quorum(&self.voters_in(r.id(), Stage::AckedEpoch)) {
            return Ok(());
        }
        let ours = (r.current_epoch, r.log.last());
        if self.learners.values().any(|l| l.stage >= Stage::AckedEpoch && (l.current_epoch, l.last_zxid) > ours) {
            return Err(StepDown::FollowerAhead);
        }
        self.phase = LeaderPhase::Synchronization;
        self.initial_last = r.log.last();
        r.save_epochs(out, self.epoch, self.epoch);
        let ready: Vec<ServerId> =
            self.learners.iter().filter(|(_, l)| l.stage == Stage::AckedEpoch).map(|(id, _)| *id).collect();
        for id in ready {
            self.sync(r, out, id);
        }
        self.check_established(r, out);
        Ok(())
    }

    /// Brings one learner in line: DIFF, TRUNC or SNAP from its last zxid, then NEWLEADER.
    fn sync<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>, id: ServerId) {
        let Some(learner) = self.learners.get_mut(&id) else { return };
        let peer_last = learner.last_zxid;
        let ours = r.log.last();
        let floor = r.log.floor();
        let nonce = learner.nonce;
        let mode = if peer_last == ours {
            SyncMode::Diff { base: peer_last, entries: Vec::new() }
        } else if peer_last > ours && r.log.contains(ours) && ours >= floor {
            SyncMode::Trunc { to: ours, entries: Vec::new() }
        } else if peer_last < floor {
            snap(r)
        } else if r.log.contains(peer_last) {
            SyncMode::Diff { base: peer_last, entries: r.log.to_vec_after(peer_last) }
        } else {
            let to = r.log.last_before(peer_last);
            if to < floor { snap(r) } else { SyncMode::Trunc { to, entries: r.log.to_vec_after(to) } }
        };
        #[cfg(feature = "sim")]
        let mode = match mode {
            // The bug: never truncate; send only what the learner lacks by zxid order.
            SyncMode::Trunc { entries, .. } if r.config.bugs.skip_trunc => SyncMode::Diff {
                base: peer_last,
                entries: entries.into_iter().filter(|e| e.zxid > peer_last).collect(),
            },
            mode => mode,
        };
        learner.stage = Stage::Synced;
        learner.acked = Zxid::ZERO;
        learner.synced_to = ours;
        out.push(Output::Event(Event::SyncSent { learner: id, mode: mode.name() }));
        let msg = Message::NewLeader {
            epoch: self.epoch,
            nonce,
            mode: Box::new(mode),
            last_zxid: ours,
            committed: r.committed,
        };
        r.send(out, id, msg);
    }

    fn on_ack_new_leader<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>, from: ServerId) {
        let Some(learner) = self.learners.get_mut(&from) else { return };
        if learner.stage < Stage::Synced {
            out.push(Output::Event(Event::Violation { peer: from, what: "ACK(NEWLEADER) before sync" }));
            return;
        }
        learner.stage = learner.stage.max(Stage::AckedNewLeader);
        match self.phase {
            LeaderPhase::Synchronization => self.check_established(r, out),
            LeaderPhase::Broadcast => {
                learner.stage = Stage::UpToDate;
                let nonce = learner.nonce;
                r.send(out, from, Message::UpToDate { epoch: self.epoch, nonce, committed: r.committed });
            }
            _ => {}
        }
    }

    fn check_established<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) {
        if self.phase != LeaderPhase::Synchronization || !self.self_acked_new_leader(r) {
            return;
        }
        if !r.quorum.is_quorum(&self.voters_in(r.id(), Stage::AckedNewLeader)) {
            return;
        }
        self.phase = LeaderPhase::Broadcast;
        r.commit_to(out, self.initial_last);
        r.compact(Zxid::ZERO);
        out.push(Output::Event(Event::Established { epoch: self.epoch }));
        let committed = r.committed;
        for (id, l) in self.learners.iter_mut().filter(|(_, l)| l.stage == Stage::AckedNewLeader) {
            l.stage = Stage::UpToDate;
            r.send(out, *id, Message::UpToDate { epoch: self.epoch, nonce: l.nonce, committed });
        }
    }

    /// Proposes a new txn. Only an established leader may.
    pub fn propose<M: StateMachine>(
        &mut self,
        r: &mut Replica<M>,
        out: &mut Vec<Output>,
        session: SessionId,
        cxid: i32,
        txn: Txn,
    ) -> Result<Zxid, StepDown> {
        if self.next_counter >= r.config.counter_limit {
            return Err(StepDown::CounterExhausted);
        }
        let zxid = Zxid::new(self.epoch, self.next_counter);
        self.next_counter += 1;
        let entry = Arc::new(Entry { zxid, time_ms: r.now_ms as i64, session, cxid, txn });
        r.append(out, Arc::clone(&entry));
        for (id, _) in self.learners.iter().filter(|(_, l)| !l.observer && l.stage >= Stage::Synced) {
            r.send(out, *id, Message::Proposal { epoch: self.epoch, entries: alloc::vec![Arc::clone(&entry)] });
        }
        Ok(zxid)
    }

    /// Commits the highest zxid a quorum of voters has durably (ACK), in order.
    fn try_commit<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) {
        let mut acks: Vec<Zxid> = self
            .learners
            .iter()
            .filter(|(id, l)| !l.observer && l.stage >= Stage::AckedNewLeader && r.quorum.is_voter(**id))
            .map(|(_, l)| l.acked)
            .collect();
        acks.push(r.durable_zxid.min(r.log.last()));
        acks.sort_unstable_by(|a, b| b.cmp(a));
        #[cfg(feature = "sim")]
        if r.config.bugs.commit_without_quorum {
            acks.truncate(1);
            acks.resize(r.quorum.size(), r.log.last());
        }
        let Some(&agreed) = acks.get(r.quorum.size() - 1) else { return };
        if agreed <= r.committed {
            return;
        }
        let before = r.committed;
        r.commit_to(out, agreed);
        let committed = r.committed;
        // Keep what live followers still lack, so a lost proposal can be sent again.
        let recent = r.now_ms.saturating_sub(r.config.sync_timeout_ms());
        let needed = self
            .learners
            .values()
            .filter(|l| !l.observer && l.stage >= Stage::Synced && l.last_heard_ms >= recent)
            .map(|l| l.acked.max(l.synced_to))
            .min()
            .unwrap_or(committed);
        r.compact(needed);
        let observing = self.learners.values().any(|l| l.observer && l.stage >= Stage::Synced);
        let informs: Vec<Arc<Entry>> = if observing {
            r.log.after(before).take_while(|e| e.zxid <= committed).cloned().collect()
        } else {
            Vec::new()
        };
        let ids: Vec<(ServerId, bool, Stage)> =
            self.learners.iter().map(|(id, l)| (*id, l.observer, l.stage)).collect();
        for (id, observer, stage) in ids {
            if stage < Stage::Synced {
                continue;
            }
            if observer {
                for entry in &informs {
                    r.send(out, id, Message::Inform { epoch: self.epoch, entry: Arc::clone(entry) });
                }
            } else {
                r.send(out, id, Message::Commit { epoch: self.epoch, zxid: committed });
            }
        }
    }

    fn resend_after<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>, id: ServerId, last: Zxid) {
        let Some(learner) = self.learners.get(&id) else { return };
        if learner.stage < Stage::Synced || last < learner.acked {
            // A NACK overtaken by the learner's own later ACK asks for nothing it lacks now.
            return;
        }
        if !r.log.contains(last) || last < r.log.floor() {
            // The learner fell behind what we keep in memory. Let it go: it times out, looks
            // for the leader again, and is brought back with a SNAP.
            self.learners.remove(&id);
            out.push(Output::Event(Event::LearnerDropped { learner: id, last }));
            return;
        }
        let observer = learner.observer;
        let entries: Vec<Arc<Entry>> = r.log.after(last).take(256).cloned().collect();
        if observer {
            for entry in entries.into_iter().take_while(|e| e.zxid <= r.committed) {
                r.send(out, id, Message::Inform { epoch: self.epoch, entry });
            }
        } else if !entries.is_empty() {
            r.send(out, id, Message::Proposal { epoch: self.epoch, entries });
        }
    }

    pub fn on_tick<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) -> Result<(), StepDown> {
        if self.phase != LeaderPhase::Broadcast {
            if r.now_ms.saturating_sub(self.started_ms) > r.config.init_timeout_ms() {
                return Err(StepDown::InitLimit);
            }
        } else {
            let deadline = r.now_ms.saturating_sub(r.config.sync_timeout_ms());
            let mut alive: BTreeSet<ServerId> = self
                .learners
                .iter()
                .filter(|(_, l)| !l.observer && l.stage >= Stage::Synced && l.last_heard_ms >= deadline)
                .map(|(id, _)| *id)
                .collect();
            alive.insert(r.id());
            if !r.quorum.is_quorum(&alive) {
                return Err(StepDown::LostQuorum);
            }
        }
        if r.now_ms >= self.next_ping_ms {
            self.next_ping_ms = r.now_ms + r.config.tick_ms / 2;
            // Not to a learner we only know from its FOLLOWERINFO: if that was a late repeat
            // of an attempt we dropped (the learner is already further along and will never
            // ACKEPOCH again), our PINGs would keep its timeout from firing, and it would never
            // join afresh.
            let ids: Vec<ServerId> =
                self.learners.iter().filter(|(_, l)| l.stage > Stage::Info).map(|(id, _)| *id).collect();
            for id in ids {
                let msg = match self.phase {
                    LeaderPhase::Discovery | LeaderPhase::EpochPending => continue,
                    _ => Message::Ping { epoch: self.epoch, committed: r.committed },
                };
                r.send(out, id, msg);
            }
        }
        Ok(())
    }
}

fn snap<M: StateMachine>(r: &Replica<M>) -> SyncMode {
    let at = r.committed;
    SyncMode::Snap { at, snapshot: r.machine.snapshot(), entries: r.log.to_vec_after(at) }
}
