//! Fast leader election (ZooKeeper's `FastLeaderElection.lookForLeader`).
//!
//! Each voter proposes the server with the best (epoch, zxid, id) it knows of, starting with
//! itself, and tells every other voter. A server adopts any better proposal it hears in its
//! round, and a round number higher than its own makes it join that round. Once a quorum's
//! votes agree with its own and nothing better arrives within `finalize_wait_ms`, it is done:
//! it leads if the winner is itself, and follows otherwise. Servers already following or leading
//! answer LOOKING peers with their vote, so late joiners (and observers, and blank servers that
//! may not vote) find the established leader.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use super::Output;
use super::machine::StateMachine;
use super::message::{Message, ServerState, Vote};
use super::quorum::Quorum;
use super::replica::Replica;
use crate::ids::ServerId;

/// What an election concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Lead,
    Follow(ServerId),
}

#[derive(Debug)]
pub(crate) struct Election {
    /// The current proposal (`leader`, `zxid`, `epoch` of the proposed leader).
    vote: Vote,
    /// This server may vote. Observers never do; a blank server only once it is sure the
    /// ensemble has no history (see [`Election::on_vote`]).
    voting: bool,
    /// Votes of LOOKING voters in this round (our own included).
    received: BTreeMap<ServerId, Vote>,
    /// Votes of servers that are FOLLOWING or LEADING, whatever their round.
    established: BTreeMap<ServerId, Vote>,
    /// Whom we have heard from: whether they hold any txn, and their accepted epoch.
    heard: BTreeMap<ServerId, (bool, u32)>,
    /// A blank server about to vote: the epoch promise it adopted, once durable.
    adopting: Option<u32>,
    next_notify_ms: u64,
    notify_interval_ms: u64,
    /// When a quorum agreed with our proposal: decide at this time unless something better
    /// comes.
    decide_at_ms: Option<u64>,
}

impl Election {
    /// Starts a new election: a new round, our own proposal, notifications to every member.
    pub fn start<M: StateMachine>(r: &mut Replica<M>, out: &mut Vec<Output>) -> Election {
        r.round += 1;
        let observer = !r.config.is_voter(r.id());
        let blank_held_back = r.config.blank_defence && r.is_blank() && !r.blank_released && r.config.voters.len() > 1;
        let voting = !observer && !blank_held_back;
        if voting && r.is_blank() {
            // Voting with a blank disk (a one-server ensemble, or the defence is off): count
            // as a full member everywhere.
            r.blank_released = true;
        }
        let vote = r.own_vote(ServerState::Looking, !voting);
        let mut election = Election {
            vote,
            voting,
            received: BTreeMap::new(),
            established: BTreeMap::new(),
            heard: BTreeMap::new(),
            adopting: None,
            next_notify_ms: 0,
            notify_interval_ms: r.config.notify_min_ms,
            decide_at_ms: None,
        };
        if voting {
            election.received.insert(r.id(), vote);
            if election.quorum_agrees(r) {
                // A one-server ensemble is its own quorum, and has nobody to wait for.
                let wait = if election.nothing_to_wait_for(r) { 0 } else { r.config.finalize_wait_ms };
                election.decide_at_ms = Some(r.now_ms + wait);
            }
        }
        election.notify_all(r, out);
        election
    }

    pub fn is_voting(&self) -> bool {
        self.voting
    }

    /// Our current proposal as we send it: the proposed leader's fields, and our own round,
    /// state and disk facts.
    fn outgoing<M: StateMachine>(&self, r: &Replica<M>) -> Vote {
        Vote {
            round: r.round,
            state: ServerState::Looking,
            non_voting: !self.voting,
            no_txn: r.log.last() == crate::ids::Zxid::ZERO,
            accepted_epoch: r.accepted_epoch,
            ..self.vote
        }
    }

    fn notify_all<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) {
        let vote = self.outgoing(r);
        let others: Vec<ServerId> = r.config.others().collect();
        for to in others {
            r.send(out, to, Message::Vote(vote));
        }
        let delay = r.jitter(self.notify_interval_ms);
        self.next_notify_ms = r.now_ms + delay;
    }

    fn reply<M: StateMachine>(&self, r: &Replica<M>, out: &mut Vec<Output>, to: ServerId) {
        r.send(out, to, Message::Vote(self.outgoing(r)));
    }

    /// When the election next wants a tick: its decision or its next notifications.
    pub fn wake_at_ms(&self) -> u64 {
        self.decide_at_ms.unwrap_or(u64::MAX).min(self.next_notify_ms)
    }

    /// Re-sends notifications with back-off, and decides once the finalize wait is over.
    pub fn on_tick<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) -> Option<Outcome> {
        if let Some(at) = self.decide_at_ms
            && r.now_ms >= at
        {
            self.decide_at_ms = None;
            if self.quorum_agrees(r) {
                return Some(self.outcome(r));
            }
        }
        if r.now_ms >= self.next_notify_ms {
            self.notify_interval_ms = (self.notify_interval_ms * 2).min(r.config.notify_max_ms);
            self.notify_all(r, out);
        }
        None
    }

    /// Every voter has either voted our proposal in this round or is known to be down (its
    /// link broke and it has said nothing since): no better vote can come, so the finalize
    /// wait would only delay the decision.
    fn nothing_to_wait_for<M: StateMachine>(&self, r: &Replica<M>) -> bool {
        r.config
            .voters
            .iter()
            .all(|id| r.down.contains(id) || self.received.get(id).is_some_and(|v| v.same_proposal(&self.vote)))
    }

    fn outcome<M: StateMachine>(&self, r: &Replica<M>) -> Outcome {
        if self.vote.leader == r.id() { Outcome::Lead } else { Outcome::Follow(self.vote.leader) }
    }

    /// A decision due now: the quorum agrees and nobody is left to wait for.
    fn decide_now<M: StateMachine>(&mut self, r: &Replica<M>) -> Option<Outcome> {
        if self.voting && self.quorum_agrees(r) && self.nothing_to_wait_for(r) {
            self.decide_at_ms = None;
            return Some(self.outcome(r));
        }
        None
    }

    /// The host lost its link to a peer: it may have been the last one to wait for.
    pub fn on_link_down<M: StateMachine>(&mut self, r: &mut Replica<M>) -> Option<Outcome> {
        self.decide_now(r)
    }

    fn quorum_agrees<M: StateMachine>(&self, r: &Replica<M>) -> bool {
        let agreeing: BTreeSet<ServerId> =
            self.received.iter().filter(|(_, v)| v.same_proposal(&self.vote)).map(|(id, _)| *id).collect();
        r.quorum.is_quorum(&agreeing)
    }

    pub fn on_vote<M: StateMachine>(
        &mut self,
        r: &mut Replica<M>,
        out: &mut Vec<Output>,
        from: ServerId,
        v: Vote,
    ) -> Option<Outcome> {
        self.heard.insert(from, (v.no_txn, v.accepted_epoch));
        let counts = r.config.is_voter(from) && !v.non_voting;
        if !self.voting {
            // A server that may not vote only listens: it never answers a vote (answers between
            // a listener and a voter would bounce forever), it follows an established leader,
            // and a blank one starts voting once it knows no committed data can exist.
            if matches!(v.state, ServerState::Following | ServerState::Leading) && counts {
                self.established.insert(from, v);
                return self.follow_established(r, v);
            }
            self.maybe_start_voting(r, out);
            return None;
        }
        match v.state {
            ServerState::Looking => {
                if !counts {
                    // Observers and held-back blank servers only listen: tell them where we are.
                    self.reply(r, out, from);
                    return None;
                }
                if v.round > r.round {
                    r.round = v.round;
                    self.received.clear();
                    let own = r.own_vote(ServerState::Looking, !self.voting);
                    self.vote = if self.voting && !v.beats(&own) { own } else { v };
                    if self.voting {
                        self.received.insert(r.id(), self.vote);
                    }
                    self.decide_at_ms = None;
                    self.notify_all(r, out);
                } else if v.round < r.round {
                    self.reply(r, out, from);
                    return None;
                } else if v.beats(&self.vote) {
                    self.vote = Vote { round: r.round, ..v };
                    if self.voting {
                        self.received.insert(r.id(), self.vote);
                    }
                    self.decide_at_ms = None;
                    self.notify_all(r, out);
                }
                self.received.insert(from, v);
                if let Some(outcome) = self.decide_now(r) {
                    return Some(outcome);
                }
                if self.voting && self.decide_at_ms.is_none() && self.quorum_agrees(r) {
                    self.decide_at_ms = Some(r.now_ms + r.config.finalize_wait_ms);
                }
                None
            }
            ServerState::Following | ServerState::Leading => {
                if counts && v.round == r.round {
                    self.received.insert(from, v);
                    // Servers of our round already follow us: the round chose us (ZooKeeper's
                    // termPredicate over recvset with checkLeader for ourselves).
                    if v.leader == r.id() && self.voting {
                        let mut ours: BTreeSet<ServerId> =
                            self.received.iter().filter(|(_, e)| e.leader == r.id()).map(|(id, _)| *id).collect();
                        ours.insert(r.id());
                        if r.quorum.is_quorum(&ours) {
                            self.vote = r.own_vote(ServerState::Looking, false);
                            return Some(Outcome::Lead);
                        }
                    }
                }
                if counts {
                    self.established.insert(from, v);
                }
                self.follow_established(r, v)
            }
            ServerState::Observing => None,
        }
    }

    /// ZooKeeper's `termPredicate` + `checkLeader` over servers that already left the
    /// election: a quorum of other voters follow the same leader in the same epoch, and that
    /// leader says it leads that epoch. Our own vote does not count: we join, we do not decide.
    fn follow_established<M: StateMachine>(&mut self, r: &mut Replica<M>, v: Vote) -> Option<Outcome> {
        if v.leader == r.id() {
            return None;
        }
        let leader_leads = self
            .established
            .get(&v.leader)
            .is_some_and(|e| e.state == ServerState::Leading && e.leader == v.leader && e.epoch == v.epoch);
        if !leader_leads {
            return None;
        }
        let agreeing: BTreeSet<ServerId> = self
            .established
            .iter()
            .filter(|(id, e)| **id != r.id() && e.leader == v.leader && e.epoch == v.epoch)
            .map(|(id, _)| *id)
            .collect();
        if r.quorum.is_quorum(&agreeing) {
            r.round = r.round.max(v.round);
            self.vote = v;
            return Some(Outcome::Follow(v.leader));
        }
        None
    }

    /// A held-back blank server starts voting once it is sure it can do no harm:
    /// - no data: a quorum of *other* voters (or all of them) report no txn, and none reports
    ///   one (its own lost disk may have been in the quorum that committed something, so it
    ///   cannot count itself);
    /// - no forgotten promise: it adopts the highest acceptedEpoch that quorum reports, and
    ///   votes only once that is durable. Any quorum that established an epoch intersects the
    ///   quorum it heard in a server that remembers, so its new promise covers that epoch.
    fn maybe_start_voting<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) {
        let observer = !r.config.is_voter(r.id());
        if observer {
            return;
        }
        if let Some(epoch) = self.adopting {
            if r.accepted_epoch >= epoch {
                self.release(r, out);
            }
            return;
        }
        let voters: Vec<(ServerId, (bool, u32))> = self
            .heard
            .iter()
            .filter(|(id, _)| r.config.is_voter(**id) && **id != r.id())
            .map(|(id, h)| (*id, *h))
            .collect();
        if voters.iter().any(|(_, (no_txn, _))| !no_txn) {
            return;
        }
        let others: BTreeSet<ServerId> = voters.iter().map(|(id, _)| *id).collect();
        let all_others = r.config.voters.iter().filter(|id| **id != r.id()).all(|id| others.contains(id));
        if r.quorum.is_quorum(&others) || all_others {
            let promise = voters.iter().map(|(_, (_, accepted))| *accepted).max().unwrap_or(0).max(r.accepted_epoch);
            self.adopting = Some(promise);
            if promise > r.accepted_epoch {
                r.save_epochs(out, promise, r.current_epoch);
            } else {
                self.release(r, out);
            }
        }
    }

    fn release<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) {
        self.voting = true;
        r.blank_released = true;
        let own = r.own_vote(ServerState::Looking, false);
        if own.beats(&self.vote) || self.vote.leader == r.id() {
            self.vote = own;
        }
        self.received.insert(r.id(), self.vote);
        self.notify_all(r, out);
    }

    /// The host made writes durable: a blank server waiting for its adopted promise may now
    /// vote.
    pub fn on_durable<M: StateMachine>(&mut self, r: &mut Replica<M>, out: &mut Vec<Output>) {
        if !self.voting && self.adopting.is_some() {
            self.maybe_start_voting(r, out);
        }
    }
}
