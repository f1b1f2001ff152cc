//! The peer protocol: what Zab servers say to each other. Our own format (serde + postcard on
//! the wire); the names follow ZooKeeper's `Leader.java` packet types.
//!
//! The core does not rely on the transport for order or uniqueness: every message carries the
//! epoch it belongs to, acknowledgements and commits are cumulative, and a learner that sees a
//! gap in proposals asks for them again ([`Message::Nack`]). Messages may be lost, duplicated or
//! reordered without breaking safety.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::ids::{ServerId, SessionId, Zxid};
use crate::txn::Txn;

/// One replicated transaction with its header (ZooKeeper's `TxnHeader` + txn).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub zxid: Zxid,
    /// The leader's clock when it proposed the txn: znode ctime/mtime come from here.
    pub time_ms: i64,
    /// The session that asked for it, and its request number, so its server can reply.
    pub session: SessionId,
    pub cxid: i32,
    pub txn: Txn,
}

/// Entries straight into their shared boxes (serde's own `Arc` support goes through a `Box`
/// first: two allocations and a copy per entry). The bytes are the same as a `Vec<Entry>`'s.
fn shared_entries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Arc<Entry>>, D::Error> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = Vec<Arc<Entry>>;

        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a sequence of entries")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // A length from the wire is only a hint: never trust it with a large allocation.
            let mut entries = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(entry) = seq.next_element::<Entry>()? {
                entries.push(Arc::new(entry));
            }
            Ok(entries)
        }
    }
    d.deserialize_seq(Entries)
}

/// A server's state as fast leader election reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerState {
    Looking,
    Following,
    Leading,
    Observing,
}

/// An FLE notification: who the sender proposes (or follows) as leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The proposed (or established) leader.
    pub leader: ServerId,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The proposed leader's current epoch (ZooKeeper's `peerEpoch`).
    pub epoch: u32,
    /// The sender's election round (ZooKeeper's `electionEpoch`, the logical clock).
    pub round: u64,
    /// The sender's own state.
    pub state: ServerState,
    /// The sender may not vote (an observer, or a server with a blank disk that has not
    /// synced yet): its vote is never counted.
    pub non_voting: bool,
    /// The sender holds no txn at all (its last zxid is 0).
    pub no_txn: bool,
    /// The sender's acceptedEpoch. A server with a blank disk learns the epoch promise its
    /// lost disk held from a quorum of others before it takes part (see `election`).
    pub accepted_epoch: u32,
}

impl Vote {
    /// FLE's total order on proposals: (epoch, zxid, leader id), higher wins.
    pub fn beats(&self, other: &Vote) -> bool {
        (self.epoch, self.zxid, self.leader) > (other.epoch, other.zxid, other.leader)
    }

    /// Whether two votes name the same leader with the same history.
    pub fn same_proposal(&self, other: &Vote) -> bool {
        (self.leader, self.zxid, self.epoch) == (other.leader, other.zxid, other.epoch)
    }
}

/// How a leader brings a learner's log in line with its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncMode {
    /// Append these entries after `base`, the learner's last zxid.
    Diff { base: Zxid, entries: Vec<Entry> },
    /// Drop every entry after `to` (none of them is committed), then append these.
    Trunc { to: Zxid, entries: Vec<Entry> },
    /// Replace everything with this snapshot taken at `at`, then append these.
    Snap {
        at: Zxid,
        #[serde(with = "crate::bytes_serde")]
        snapshot: Vec<u8>,
        entries: Vec<Entry>,
    },
}

impl SyncMode {
    pub fn name(&self) -> &'static str {
        match self {
            SyncMode::Diff { .. } => "DIFF",
            SyncMode::Trunc { .. } => "TRUNC",
            SyncMode::Snap { .. } => "SNAP",
        }
    }

    pub fn entries(&self) -> &[Entry] {
        match self {
            SyncMode::Diff { entries, .. } | SyncMode::Trunc { entries, .. } | SyncMode::Snap { entries, .. } => {
                entries
            }
        }
    }
}

/// Everything servers send each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Fast leader election.
    Vote(Vote),
    /// Learner to leader: its accepted epoch (discovery, step 1). `nonce` names this attempt
    /// of the learner to join, so replies meant for an earlier attempt are told apart.
    /// `blank` says the learner's disk holds nothing (new or replaced): it remembers no epoch
    /// promise, so the leader must not count it in discovery quorums.
    FollowerInfo { accepted_epoch: u32, observer: bool, blank: bool, nonce: u64 },
    /// Leader to learner: the new epoch (discovery, step 2).
    LeaderInfo { epoch: u32, nonce: u64 },
    /// Learner to leader: it accepted `epoch`; its current epoch and last zxid (step 3).
    /// `repeat`: it had accepted this very epoch before (from some leader), so this is no new
    /// promise and must not count toward the leader's discovery quorum (ZooKeeper sends -1 as
    /// the epoch then); the leader still syncs it once discovery is over.
    AckEpoch { epoch: u32, nonce: u64, current_epoch: u32, last_zxid: Zxid, repeat: bool },
    /// Leader to learner: the synchronization (DIFF, TRUNC or SNAP) and NEWLEADER in one
    /// message, so NEWLEADER can never overtake its sync (ZK-3104): after applying `mode` the
    /// learner's history ends at `last_zxid`, and it adopts `epoch` once that is durable.
    /// `committed` is the leader's commit point.
    NewLeader { epoch: u32, nonce: u64, mode: Box<SyncMode>, last_zxid: Zxid, committed: Zxid },
    /// Learner to leader: synced history and current epoch durable.
    AckNewLeader { epoch: u32, nonce: u64 },
    /// Leader to learner: the epoch is established; everything up to `committed` is committed.
    UpToDate { epoch: u32, nonce: u64, committed: Zxid },
    /// Broadcast: new txns, in zxid order. A leader proposes them one at a time; a host may
    /// merge consecutive proposals to one learner into one message ([`Message::merge`]).
    Proposal {
        epoch: u32,
        #[serde(deserialize_with = "shared_entries")]
        entries: Vec<Arc<Entry>>,
    },
    /// Follower to leader: every entry up to `zxid` is durable here (cumulative).
    Ack { epoch: u32, zxid: Zxid },
    /// Leader to follower: every entry up to `zxid` is committed (cumulative).
    Commit { epoch: u32, zxid: Zxid },
    /// Leader to observer: a committed txn.
    Inform { epoch: u32, entry: Arc<Entry> },
    /// Learner to leader: proposals after `last` never arrived; send them again.
    Nack { epoch: u32, last: Zxid },
    /// Leader to learner heartbeat.
    Ping { epoch: u32, committed: Zxid },
    /// Learner to leader heartbeat reply.
    Pong { epoch: u32 },
}

impl Message {
    /// Appends `next` to `self` if both are proposals of one epoch, so that one message carries
    /// both (what a host does with consecutive messages to the same server). Hands `next` back
    /// otherwise.
    pub fn merge(&mut self, next: Message) -> Result<(), Message> {
        match (self, next) {
            (Message::Proposal { epoch, entries }, Message::Proposal { epoch: e, entries: more }) if *epoch == e => {
                entries.extend(more);
                Ok(())
            }
            (_, next) => Err(next),
        }
    }

    /// A short name for traces: the packet type in ZooKeeper's terms.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Vote(_) => "VOTE",
            Message::FollowerInfo { observer: false, .. } => "FOLLOWERINFO",
            Message::FollowerInfo { observer: true, .. } => "OBSERVERINFO",
            Message::LeaderInfo { .. } => "LEADERINFO",
            Message::AckEpoch { .. } => "ACKEPOCH",
            Message::NewLeader { mode, .. } => match **mode {
                SyncMode::Diff { .. } => "NEWLEADER(DIFF)",
                SyncMode::Trunc { .. } => "NEWLEADER(TRUNC)",
                SyncMode::Snap { .. } => "NEWLEADER(SNAP)",
            },
            Message::AckNewLeader { .. } => "ACK(NEWLEADER)",
            Message::UpToDate { .. } => "UPTODATE",
            Message::Proposal { .. } => "PROPOSAL",
            Message::Ack { .. } => "ACK",
            Message::Commit { .. } => "COMMIT",
            Message::Inform { .. } => "INFORM",
            Message::Nack { .. } => "NACK",
            Message::Ping { .. } => "PING",
            Message::Pong { .. } => "PONG",
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::error::ErrorCode;

    fn entry(counter: u32) -> Entry {
        let txn = Txn::Error(ErrorCode::Ok);
        Entry { zxid: Zxid::new(1, counter), time_ms: 5, session: SessionId(2), cxid: 3, txn }
    }

    #[test]
    fn proposals_round_trip_with_the_bytes_of_plain_entries() {
        let entries: Vec<Arc<Entry>> = (1..=3).map(|c| Arc::new(entry(c))).collect();
        let msg = Message::Proposal { epoch: 1, entries };
        let bytes = postcard::to_allocvec(&msg).unwrap();
        assert_eq!(postcard::from_bytes::<Message>(&bytes).unwrap(), msg);
        #[derive(Serialize)]
        enum Plain {
            _Vote,
            _FollowerInfo,
            _LeaderInfo,
            _AckEpoch,
            _NewLeader,
            _AckNewLeader,
            _UpToDate,
            Proposal { epoch: u32, entries: Vec<Entry> },
        }
        let plain = Plain::Proposal { epoch: 1, entries: (1..=3).map(entry).collect() };
        assert_eq!(postcard::to_allocvec(&plain).unwrap(), bytes);
    }

    #[test]
    fn a_proposal_claiming_a_huge_count_fails_without_allocating_it() {
        // PROPOSAL (variant 7), epoch 1, then a count of 2^40 entries and nothing after it.
        let bytes = vec![7, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
        assert!(postcard::from_bytes::<Message>(&bytes).is_err());
    }
}
