//! Invariant checkers for simulated runs: the Zab properties of ZAB-CHECKS.md sections A-C,
//! named as the Zab paper and the TLA+ specs name them, checked after every step against the
//! servers' states, their disks, and ghost records of everything ever proposed or committed.
//!
//! | invariant | how it is checked |
//! |---|---|
//! | Leadership | at most one server ever establishes each epoch |
//! | Integrity | every applied entry was proposed, byte for byte |
//! | Agreement, TotalOrder, Local/GlobalPrimaryOrder, PrefixConsistency | each server's applied entries are a prefix of one global committed log, whose zxids rise |
//! | CommittedLogMonotonicity | the global log only grows; nothing in it ever changes |
//! | PrimaryIntegrity, LeaderLogCompleteness | an epoch's leader, once established, has applied the whole global log |
//! | ProcessConsistency | a follower that acked NEWLEADER holds a prefix of its leader's history |
//! | CommittedLogDurability | no TRUNC, SNAP or restart removes a committed entry from a disk |
//! | Commit durability | when a leader commits, a quorum of voters hold the entry on disk |
//! | Ack durability | an ACK, ACK(NEWLEADER) or ACKEPOCH is sent only for what is on disk |
//! | ProposalConsistent | every log grows by the next zxid, without holes |
//! | AckConsistent | no ACK of an epoch's proposal before that epoch's ACK(NEWLEADER) (ZK-4685) |
//! | Epoch monotonicity | acceptedEpoch >= currentEpoch; neither ever falls, restarts included |
//! | Replica equality | replicas that applied the same zxid have the same tree digest |

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::ids::{ServerId, Zxid};
use crate::zab::Image;
use crate::zab::{Entry, LearnerStage, LogOp, Message, Peer, Status};
use machine::{SimMachine, entry_hash};
pub mod history;
pub mod machine;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub at_ms: u64,
    pub server: ServerId,
    pub invariant: &'static str,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Committed {
    zxid: Zxid,
    entry_hash: u64,
    digest: u64,
}

#[derive(Clone, Debug, Default)]
struct ServerGhost {
    /// What the disk held before it was last replaced: a replaced disk does not undo the
    /// quorum an earlier commit counted on.
    before_wipe: Option<Image>,
    /// SimMachine generation and how many of its applied entries were checked.
    generation: u64,
    checked: usize,
    /// Highest durable epochs ever seen on this server's disk.
    accepted_epoch: u32,
    current_epoch: u32,
    /// The epoch whose NEWLEADER this server last acknowledged.
    new_leader_acked: u32,
}

/// Ghost state of a whole run.
#[derive(Debug, Default)]
pub struct Checker {
    /// Every entry ever proposed: zxid -> hash.
    proposals: BTreeMap<Zxid, u64>,
    /// The global committed log.
    committed: Vec<Committed>,
    index: BTreeMap<Zxid, usize>,
    epoch_leader: BTreeMap<u32, ServerId>,
    servers: BTreeMap<ServerId, ServerGhost>,
    pub violations: Vec<Violation>,
    now_ms: u64,
}

impl Checker {
    pub fn new() -> Checker {
        Checker::default()
    }

    pub fn set_time(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// The global committed log's last zxid.
    pub fn committed_last(&self) -> Zxid {
        self.committed.last().map_or(Zxid::ZERO, |c| c.zxid)
    }

    pub fn committed_len(&self) -> usize {
        self.committed.len()
    }

    pub fn is_committed(&self, zxid: Zxid) -> bool {
        self.index.contains_key(&zxid)
    }

    fn fail(&mut self, server: ServerId, invariant: &'static str, detail: String) {
        self.violations.push(Violation { at_ms: self.now_ms, server, invariant, detail });
    }

    /// A leader appended a new proposal.
    pub fn on_proposal(&mut self, leader: ServerId, entry: &Entry) {
        let hash = entry_hash(entry);
        if let Some(&known) = self.proposals.get(&entry.zxid)
            && known != hash
        {
            self.fail(leader, "Integrity", format!("two different proposals with zxid {}", entry.zxid));
        }
        self.proposals.insert(entry.zxid, hash);
    }

    /// A server established itself as leader of `epoch`.
    pub fn on_established(&mut self, server: ServerId, epoch: u32, peer: &Peer<SimMachine>) {
        match self.epoch_leader.get(&epoch) {
            Some(&other) if other != server => {
                self.fail(server, "Leadership", format!("epoch {epoch} established by {other} and {server}"))
            }
            _ => {
                self.epoch_leader.insert(epoch, server);
            }
        }
        if let Some(later) = self.epoch_leader.range(epoch + 1..).next() {
            let (e, s) = (*later.0, *later.1);
            self.fail(server, "Leadership", format!("epoch {epoch} established after epoch {e} (by {s})"));
        }
        let global = self.committed_last();
        if peer.committed() < global {
            self.fail(
                server,
                "LeaderLogCompleteness",
                format!("leader of epoch {epoch} committed only {} but {global} is committed", peer.committed()),
            );
        }
    }

    /// A server is about to carry out a durable write; `before` is its disk as it would look
    /// without it.
    pub fn on_persist(&mut self, server: ServerId, op: &LogOp, before: &Image) {
        match op {
            LogOp::Truncate { after } => {
                let lost: Vec<Zxid> =
                    before.log.iter().map(|e| e.zxid).filter(|z| *z > *after && self.is_committed(*z)).collect();
                if let Some(z) = lost.first() {
                    self.fail(server, "CommittedLogDurability", format!("TRUNC to {after} drops committed {z}"));
                }
            }
            LogOp::InstallSnapshot { zxid, .. } => {
                if *zxid != Zxid::ZERO && !self.is_committed(*zxid) && *zxid > self.committed_last() {
                    self.fail(server, "CommittedLogDurability", format!("SNAP at {zxid}, beyond the committed log"));
                }
            }
            LogOp::Epochs { accepted, current } => {
                if accepted < current {
                    self.fail(
                        server,
                        "EpochMonotonicity",
                        format!("acceptedEpoch {accepted} < currentEpoch {current}"),
                    );
                }
                let ghost = self.servers.entry(server).or_default();
                let (a, c) = (ghost.accepted_epoch, ghost.current_epoch);
                if *accepted < a || *current < c {
                    self.fail(
                        server,
                        "EpochMonotonicity",
                        format!("epochs ({accepted}, {current}) fall below ({a}, {c})"),
                    );
                }
            }
            LogOp::Append(entry) => {
                let last = before.last_zxid();
                if entry.zxid <= last && entry.zxid > before.snapshot_zxid() {
                    self.fail(server, "ZxidMonotonicity", format!("append {} after {last}", entry.zxid));
                }
                // ProposalConsistent: a log grows by the very next zxid (the next counter, or
                // the first of a later epoch); no holes.
                let next = (entry.zxid.epoch() == last.epoch() && Some(entry.zxid) == last.next())
                    || (entry.zxid.epoch() > last.epoch() && entry.zxid.counter() == 1);
                if entry.zxid > last && !next && last != Zxid::ZERO {
                    self.fail(
                        server,
                        "ProposalConsistent",
                        format!("append {} leaves a hole after {last}", entry.zxid),
                    );
                }
            }
        }
    }

    /// An fsync completed (or a crash kept some writes): remember the durable epochs.
    pub fn on_durable_image(&mut self, server: ServerId, image: &Image) {
        let ghost = self.servers.entry(server).or_default();
        ghost.accepted_epoch = ghost.accepted_epoch.max(image.accepted_epoch);
        ghost.current_epoch = ghost.current_epoch.max(image.current_epoch);
    }

    /// A server's disk was replaced: its epochs legitimately start over.
    pub fn on_wipe(&mut self, server: ServerId, lost: Image) {
        let ghost = self.servers.entry(server).or_default();
        ghost.before_wipe = Some(lost);
        ghost.accepted_epoch = 0;
        ghost.current_epoch = 0;
    }

    /// A server restarted from its disk: nothing committed may be missing from a non-blank
    /// disk's history (CommittedLogDurability across crashes).
    pub fn on_restart(&mut self, server: ServerId, image: &Image) {
        let snapshot = image.snapshot_zxid();
        if snapshot != Zxid::ZERO && !self.is_committed(snapshot) {
            self.fail(server, "CommittedLogDurability", format!("restart from snapshot {snapshot}, never committed"));
        }
    }

    /// A server sends a message: acknowledgements must be backed by its durable image.
    pub fn on_send(&mut self, server: ServerId, msg: &Message, durable: &Image, peer: &Peer<SimMachine>) {
        // AckConsistent (ZK-4685): no ACK of a proposal of an epoch before its ACK(NEWLEADER).
        match msg {
            Message::AckNewLeader { epoch, .. } => {
                self.servers.entry(server).or_default().new_leader_acked = *epoch;
            }
            Message::Ack { epoch, zxid } => {
                let acked = self.servers.get(&server).map_or(0, |g| g.new_leader_acked);
                if acked != *epoch {
                    self.fail(
                        server,
                        "AckConsistent",
                        format!("ACK {zxid} of epoch {epoch} before ACK(NEWLEADER) of it"),
                    );
                }
            }
            _ => {}
        }
        match msg {
            Message::Ack { zxid, .. } => {
                let held = durable.holds(*zxid)
                    && match (durable.entry(*zxid), peer.log().get(*zxid)) {
                        (Some(d), Some(m)) => d == m,
                        _ => true,
                    };
                if !held {
                    self.fail(
                        server,
                        "AckDurability",
                        format!("ACK {zxid} but the disk holds only up to {}", durable.last_zxid()),
                    );
                }
            }
            Message::AckNewLeader { epoch, .. } if durable.current_epoch != *epoch => {
                self.fail(
                    server,
                    "AckDurability",
                    format!("ACK(NEWLEADER) of epoch {epoch} with currentEpoch {} on disk", durable.current_epoch),
                );
            }
            Message::AckEpoch { epoch, .. } if durable.accepted_epoch < *epoch => {
                self.fail(
                    server,
                    "AckDurability",
                    format!("ACKEPOCH {epoch} with acceptedEpoch {} on disk", durable.accepted_epoch),
                );
            }
            _ => {}
        }
    }

    /// A leader committed up to `to`: a quorum of voters must hold every entry up to it on
    /// disk.
    pub fn on_leader_commit(
        &mut self,
        server: ServerId,
        to: Zxid,
        quorum_size: usize,
        voter_disks: &[(ServerId, &Image)],
    ) {
        let holding = voter_disks
            .iter()
            .filter(|(id, image)| {
                image.holds(to)
                    || self.servers.get(id).and_then(|g| g.before_wipe.as_ref()).is_some_and(|lost| lost.holds(to))
            })
            .count();
        if holding < quorum_size {
            self.fail(
                server,
                "CommitDurability",
                format!("committed {to} but only {holding} voters hold it on disk (quorum {quorum_size})"),
            );
        }
    }

    /// After every step of `server`: its newly applied entries extend or match the global
    /// committed log.
    pub fn after_step(&mut self, server: ServerId, peer: &Peer<SimMachine>) {
        let machine = peer.machine();
        let ghost = self.servers.entry(server).or_default().clone();
        let mut checked = ghost.checked;
        if ghost.generation != machine.generation {
            checked = 0;
            self.check_base(server, machine.base, machine.base_digest);
        }
        let start = if machine.base == Zxid::ZERO {
            0
        } else {
            match self.index.get(&machine.base) {
                Some(&i) => i + 1,
                None => {
                    self.set_ghost(server, machine.generation, machine.applied.len());
                    return;
                }
            }
        };
        for (offset, applied) in machine.applied.iter().enumerate().skip(checked) {
            let position = start + offset;
            match self.committed.get(position).copied() {
                Some(global) => {
                    if global.zxid != applied.zxid || global.entry_hash != applied.entry_hash {
                        self.fail(
                            server,
                            "Agreement",
                            format!(
                                "applied {} at position {position}, but {} is committed there",
                                applied.zxid, global.zxid
                            ),
                        );
                        break;
                    }
                    if global.digest != applied.digest {
                        self.fail(server, "ReplicaEquality", format!("tree digest differs after {}", applied.zxid));
                        break;
                    }
                }
                None => {
                    if self.committed.last().is_some_and(|last| last.zxid >= applied.zxid) {
                        self.fail(
                            server,
                            "TotalOrder",
                            format!("applied {} after {}", applied.zxid, self.committed_last()),
                        );
                        break;
                    }
                    match self.proposals.get(&applied.zxid) {
                        Some(&hash) if hash == applied.entry_hash => {}
                        _ => {
                            self.fail(
                                server,
                                "Integrity",
                                format!("applied {}, which was never proposed", applied.zxid),
                            );
                            break;
                        }
                    }
                    self.index.insert(applied.zxid, self.committed.len());
                    self.committed.push(Committed {
                        zxid: applied.zxid,
                        entry_hash: applied.entry_hash,
                        digest: applied.digest,
                    });
                }
            }
        }
        self.set_ghost(server, machine.generation, machine.applied.len());
    }

    fn set_ghost(&mut self, server: ServerId, generation: u64, checked: usize) {
        let ghost = self.servers.entry(server).or_default();
        ghost.generation = generation;
        ghost.checked = checked;
    }

    fn check_base(&mut self, server: ServerId, base: Zxid, digest: u64) {
        if base == Zxid::ZERO {
            return;
        }
        match self.index.get(&base) {
            Some(&i) => {
                if self.committed.get(i).is_some_and(|c| c.digest != digest) {
                    self.fail(server, "ReplicaEquality", format!("snapshot at {base} has another digest"));
                }
            }
            None => {
                self.fail(server, "CommittedLogDurability", format!("restored a snapshot at {base}, never committed"))
            }
        }
    }

    /// ProcessConsistency (ZK-2845): a follower that acked NEWLEADER holds a prefix of its
    /// established leader's history.
    pub fn check_process_consistency(&mut self, peers: &[&Peer<SimMachine>]) {
        let leaders: BTreeMap<ServerId, (u32, &Peer<SimMachine>)> = peers
            .iter()
            .filter_map(|p| match p.status() {
                Status::Leading { epoch, .. } if p.is_established_leader() => Some((p.id(), (epoch, *p))),
                _ => None,
            })
            .collect();
        let mut problems = Vec::new();
        for follower in peers {
            let Status::Following { leader, epoch, stage } = follower.status() else { continue };
            if stage < LearnerStage::AwaitUpToDate {
                continue;
            }
            let Some((leader_epoch, leader_peer)) = leaders.get(&leader) else { continue };
            if *leader_epoch != epoch {
                continue;
            }
            let floor = leader_peer.log().floor();
            for entry in follower.log().entries() {
                if entry.zxid <= floor || entry.zxid > leader_peer.last_zxid() {
                    continue;
                }
                if leader_peer.log().get(entry.zxid) != Some(entry) {
                    problems.push((follower.id(), format!("holds {} that leader {leader} does not", entry.zxid)));
                    break;
                }
            }
        }
        for (server, detail) in problems {
            self.fail(server, "ProcessConsistency", detail);
        }
    }

    /// Distinct servers that ever led, by epoch (for reports).
    pub fn leaders(&self) -> BTreeSet<ServerId> {
        self.epoch_leader.values().copied().collect()
    }

    pub fn epochs(&self) -> usize {
        self.epoch_leader.len()
    }
}
