//! [`Peer`]: one Zab server as a deterministic state machine.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::config::Config;
use super::election::{Election, Outcome};
use super::leader::{Leader, LeaderPhase, StepDown};
use super::learner::{Abandon, Learner, LearnerStage};
use super::log::Log;
use super::machine::StateMachine;
use super::message::{Message, ServerState, Vote};
use super::replica::{Durable, Replica};
use super::{Event, Input, Output};
use crate::ids::{ServerId, SessionId, Zxid};
use crate::txn::Txn;

#[derive(Debug)]
enum Role {
    /// Not started yet: the first input starts an election.
    Idle,
    Looking(Election),
    Leading(Leader),
    Following(Learner),
}

/// Where a server stands, for traces, checkers and the four-letter words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Looking,
    Leading { epoch: u32, phase: LeaderPhase },
    Following { leader: ServerId, epoch: u32, stage: LearnerStage },
    Observing { leader: ServerId, epoch: u32, stage: LearnerStage },
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Looking => "LOOKING",
            Status::Leading { .. } => "LEADING",
            Status::Following { .. } => "FOLLOWING",
            Status::Observing { .. } => "OBSERVING",
        }
    }
}

/// Why a proposal was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// This server is not an established leader; the client should look elsewhere.
    NotLeader,
}

/// One Zab server.
///
/// The host owns the clock, the network and the disk; the peer owns the protocol. The host
/// feeds one [`Input`] at a time through [`Peer::step`], with a monotonic `now_ms`, and then
/// carries out every [`Output`] left in the outbox, in order:
///
/// ```text
///   Tick ──────────┐                      ┌──► Send { to, msg }          (any order per peer)
///   Receive ───────┼──► Peer::step ──► out┼──► Persist { seq, op }       (strictly in seq order)
///   Persisted{seq}─┘        │             └──► Event                     (trace)
///                           └── propose(txn) on the leader
/// ```
///
/// Nothing that depends on durability happens before the host reports it: a follower ACKs
/// only durable entries, the leader counts its own ACK only for its durable log, and epochs
/// are acted on only once durable. Ticks should come at least every `tick_ms / 4`.
#[derive(Debug)]
pub struct Peer<M> {
    r: Replica<M>,
    role: Role,
    /// FOLLOWERINFOs that arrived while this server was still looking: a peer that finished
    /// the election first may already follow us. Replayed if we come out of it leading (else
    /// the learner would wait for its resend, a tick or more). One per member at most.
    early: BTreeMap<ServerId, Message>,
    /// The last LOOKING vote of each peer that arrived while this server led or followed (and
    /// when): if this server starts looking itself within a tick, the vote counts in its
    /// election, which else would wait for that peer's re-send (the peer saw the leader die
    /// first; its vote changes no more and it sends it again only on its back-off).
    looking_peers: BTreeMap<ServerId, (u64, Vote)>,
}

impl<M: StateMachine> Peer<M> {
    /// A server restarting from its durable state. `machine` holds its last snapshot (or is
    /// empty); `durable` the epochs and the log entries after that snapshot.
    pub fn new(config: Config, seed: u64, durable: Durable, machine: M) -> Peer<M> {
        Peer {
            r: Replica::new(config, seed, durable, machine),
            role: Role::Idle,
            early: BTreeMap::new(),
            looking_peers: BTreeMap::new(),
        }
    }

    /// Feeds one input at time `now_ms` (monotonic), appending what the host must do to `out`.
    pub fn step(&mut self, now_ms: u64, input: Input, out: &mut Vec<Output>) {
        self.r.now_ms = self.r.now_ms.max(now_ms);
        if matches!(self.role, Role::Idle) {
            self.look(out);
        }
        match input {
            Input::Tick => self.on_tick(out),
            Input::Receive { from, msg } => self.on_message(out, from, msg),
            Input::Persisted { seq } => {
                self.r.on_persisted(seq);
                self.on_durable(out);
            }
            Input::LinkDown { peer } => self.on_link_down(out, peer),
        }
    }

    /// Proposes a txn (established leader only). Returns its zxid.
    pub fn propose(
        &mut self,
        now_ms: u64,
        session: SessionId,
        cxid: i32,
        txn: Txn,
        out: &mut Vec<Output>,
    ) -> Result<Zxid, ProposeError> {
        self.r.now_ms = self.r.now_ms.max(now_ms);
        let Role::Leading(leader) = &mut self.role else { return Err(ProposeError::NotLeader) };
        if !leader.is_established() {
            return Err(ProposeError::NotLeader);
        }
        match leader.propose(&mut self.r, out, session, cxid, txn) {
            Ok(zxid) => Ok(zxid),
            Err(why) => {
                self.step_down(out, why);
                Err(ProposeError::NotLeader)
            }
        }
    }

    fn look(&mut self, out: &mut Vec<Output>) {
        self.early.clear();
        let looking_peers = core::mem::take(&mut self.looking_peers);
        let election = Election::start(&mut self.r, out);
        self.role = Role::Looking(election);
        out.push(Output::Event(Event::Looking { round: self.r.round }));
        let fresh_since = self.r.now_ms.saturating_sub(self.r.config.tick_ms);
        for (from, (at, vote)) in looking_peers {
            if at >= fresh_since && matches!(self.role, Role::Looking(_)) {
                self.on_vote(out, from, vote);
            }
        }
    }

    fn step_down(&mut self, out: &mut Vec<Output>, why: StepDown) {
        out.push(Output::Event(Event::LeaderStepDown { why }));
        self.look(out);
    }

    fn abandon(&mut self, out: &mut Vec<Output>, why: Abandon) {
        out.push(Output::Event(Event::LearnerAbandon { why }));
        self.look(out);
    }

    fn decide(&mut self, out: &mut Vec<Output>, outcome: Outcome) {
        match outcome {
            Outcome::Lead => {
                out.push(Output::Event(Event::Elected { leader: self.r.id(), round: self.r.round }));
                let early = core::mem::take(&mut self.early);
                match Leader::start(&mut self.r, out) {
                    Ok(leader) => self.role = Role::Leading(leader),
                    Err(why) => return self.step_down(out, why),
                }
                for (from, msg) in early {
                    if !matches!(self.role, Role::Leading(_)) {
                        break;
                    }
                    self.on_message(out, from, msg);
                }
            }
            Outcome::Follow(leader) => {
                self.early.clear();
                out.push(Output::Event(Event::Elected { leader, round: self.r.round }));
                self.role = Role::Following(Learner::start(&mut self.r, out, leader));
            }
        }
    }

    fn on_tick(&mut self, out: &mut Vec<Output>) {
        match &mut self.role {
            Role::Idle => {}
            Role::Looking(election) => {
                if let Some(outcome) = election.on_tick(&mut self.r, out) {
                    self.decide(out, outcome);
                }
            }
            Role::Leading(leader) => {
                if let Err(why) = leader.on_tick(&mut self.r, out) {
                    self.step_down(out, why);
                }
            }
            Role::Following(learner) => {
                if let Err(why) = learner.on_tick(&mut self.r, out) {
                    self.abandon(out, why);
                }
            }
        }
    }

    fn on_durable(&mut self, out: &mut Vec<Output>) {
        match &mut self.role {
            Role::Leading(leader) => {
                if let Err(why) = leader.on_durable(&mut self.r, out) {
                    self.step_down(out, why);
                }
            }
            Role::Following(learner) => learner.on_durable(&mut self.r, out),
            Role::Looking(election) => election.on_durable(&mut self.r, out),
            Role::Idle => {}
        }
    }

    fn on_link_down(&mut self, out: &mut Vec<Output>, peer: ServerId) {
        if !self.r.config.is_member(peer) || peer == self.r.id() {
            return;
        }
        self.r.down.insert(peer);
        match &mut self.role {
            Role::Following(learner) if learner.leader() == peer => self.abandon(out, Abandon::LinkLost),
            Role::Leading(leader) => leader.link_down(peer),
            Role::Looking(election) => {
                if let Some(outcome) = election.on_link_down(&mut self.r) {
                    self.decide(out, outcome);
                }
            }
            _ => {}
        }
    }

    fn on_message(&mut self, out: &mut Vec<Output>, from: ServerId, msg: Message) {
        if !self.r.config.is_member(from) || from == self.r.id() {
            out.push(Output::Event(Event::Violation { peer: from, what: "message from a non-member" }));
            return;
        }
        self.r.down.remove(&from);
        if let Message::Vote(vote) = msg {
            self.on_vote(out, from, vote);
            return;
        }
        match &mut self.role {
            Role::Looking(_) if matches!(msg, Message::FollowerInfo { .. }) => {
                self.early.insert(from, msg);
            }
            Role::Idle | Role::Looking(_) => {}
            Role::Leading(leader) => {
                if let Err(why) = leader.on_message(&mut self.r, out, from, msg) {
                    self.step_down(out, why);
                }
            }
            Role::Following(learner) => {
                if let Err(why) = learner.on_message(&mut self.r, out, from, msg) {
                    self.abandon(out, why);
                }
            }
        }
    }

    fn on_vote(&mut self, out: &mut Vec<Output>, from: ServerId, vote: Vote) {
        match &mut self.role {
            Role::Idle => {}
            Role::Looking(election) => {
                if let Some(outcome) = election.on_vote(&mut self.r, out, from, vote) {
                    self.decide(out, outcome);
                }
            }
            Role::Leading(_) | Role::Following(_) => {
                // Tell a looking server where the ensemble stands: who leads, in which epoch.
                if vote.state == ServerState::Looking {
                    self.looking_peers.insert(from, (self.r.now_ms, vote));
                    let (state, leader, epoch) = match self.status() {
                        Status::Leading { epoch, .. } => (ServerState::Leading, self.r.id(), epoch),
                        Status::Following { leader, epoch, .. } => (ServerState::Following, leader, epoch),
                        Status::Observing { leader, epoch, .. } => (ServerState::Observing, leader, epoch),
                        Status::Looking => return,
                    };
                    let reply = Vote {
                        leader,
                        zxid: self.r.committed,
                        epoch,
                        round: self.r.round,
                        state,
                        non_voting: !self.r.config.is_voter(self.r.id()),
                        no_txn: self.r.log.last() == Zxid::ZERO,
                        accepted_epoch: self.r.accepted_epoch,
                    };
                    self.r.send(out, from, Message::Vote(reply));
                }
            }
        }
    }

    pub fn id(&self) -> ServerId {
        self.r.id()
    }

    pub fn config(&self) -> &Config {
        &self.r.config
    }

    pub fn status(&self) -> Status {
        match &self.role {
            Role::Idle | Role::Looking(_) => Status::Looking,
            Role::Leading(l) => Status::Leading { epoch: l.epoch(), phase: l.phase() },
            Role::Following(l) if l.is_observer() => {
                Status::Observing { leader: l.leader(), epoch: l.epoch(), stage: l.stage() }
            }
            Role::Following(l) => Status::Following { leader: l.leader(), epoch: l.epoch(), stage: l.stage() },
        }
    }

    /// When this peer next needs a [`Input::Tick`] sooner than the regular ticks bring it (an
    /// election's decision or notifications are due): a host may sleep until then.
    pub fn wake_at_ms(&self) -> Option<u64> {
        match &self.role {
            Role::Idle => Some(0),
            Role::Looking(election) => Some(election.wake_at_ms()),
            _ => None,
        }
    }

    /// An established leader, ready for proposals.
    pub fn is_established_leader(&self) -> bool {
        matches!(&self.role, Role::Leading(l) if l.is_established())
    }

    /// A learner in broadcast, or an established leader: serving clients.
    pub fn is_serving(&self) -> bool {
        match &self.role {
            Role::Leading(l) => l.is_established(),
            Role::Following(l) => l.stage() == LearnerStage::Broadcast,
            _ => false,
        }
    }

    pub fn accepted_epoch(&self) -> u32 {
        self.r.accepted_epoch
    }

    pub fn current_epoch(&self) -> u32 {
        self.r.current_epoch
    }

    pub fn committed(&self) -> Zxid {
        self.r.committed
    }

    pub fn last_zxid(&self) -> Zxid {
        self.r.log.last()
    }

    pub fn durable_zxid(&self) -> Zxid {
        self.r.durable_zxid
    }

    pub fn log(&self) -> &Log {
        &self.r.log
    }

    pub fn machine(&self) -> &M {
        &self.r.machine
    }

    /// The state machine, for a host that drains what applying entries recorded in it.
    /// Replicated state must change only through [`StateMachine::apply`].
    pub fn machine_mut(&mut self) -> &mut M {
        &mut self.r.machine
    }

    /// The zxid the next [`Peer::propose`] will get (established leader only).
    pub fn next_zxid(&self) -> Option<Zxid> {
        match &self.role {
            Role::Leading(l) if l.is_established() => Some(l.next_zxid()),
            _ => None,
        }
    }

    /// The leader this server leads or follows, once known.
    pub fn leader(&self) -> Option<ServerId> {
        match &self.role {
            Role::Leading(_) => Some(self.r.id()),
            Role::Following(l) => Some(l.leader()),
            _ => None,
        }
    }

    /// A learner's current attempt to join its leader (the nonce of its FOLLOWERINFO): what
    /// it sends on this attempt is told apart from what it sent on earlier ones.
    pub fn join_nonce(&self) -> Option<u64> {
        match &self.role {
            Role::Following(l) => Some(l.nonce()),
            _ => None,
        }
    }

    /// A leader's record of the attempt under which `learner` joined it.
    pub fn learner_nonce(&self, learner: ServerId) -> Option<u64> {
        match &self.role {
            Role::Leading(l) => l.learner_nonce(learner),
            _ => None,
        }
    }

    /// A leader's learners (empty on any other server).
    pub fn learners(&self) -> alloc::vec::Vec<super::leader::LearnerReport> {
        match &self.role {
            Role::Leading(l) => l.learner_reports().collect(),
            _ => alloc::vec::Vec::new(),
        }
    }

    pub fn round(&self) -> u64 {
        self.r.round
    }

    /// Whether the current election lets this server vote (false for observers and for a
    /// blank server held back by the disk-replacement defence).
    pub fn is_voting(&self) -> bool {
        match &self.role {
            Role::Looking(e) => e.is_voting(),
            _ => self.r.config.is_voter(self.r.id()),
        }
    }
}
