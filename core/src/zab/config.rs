//! A Zab server's settings: the ensemble and the timing of ZooKeeper's zoo.cfg.

use alloc::vec::Vec;

use crate::ids::ServerId;

/// Settings of one replica. Times are in milliseconds of the host's monotonic clock; limits are
/// in ticks, as in zoo.cfg.
#[derive(Clone, Debug)]
pub struct Config {
    pub id: ServerId,
    /// Voting members (`server.N=...` lines that are participants).
    pub voters: Vec<ServerId>,
    /// Non-voting members (`server.N=...:observer`).
    pub observers: Vec<ServerId>,
    /// `tickTime`.
    pub tick_ms: u64,
    /// `initLimit`: ticks a leader has to establish its epoch, and a learner to sync.
    pub init_limit: u64,
    /// `syncLimit`: ticks without hearing from the other side before giving up on it.
    pub sync_limit: u64,
    /// FLE: how long a quorum's agreement must stand unchallenged before it is final
    /// (ZooKeeper's `finalizeWait`).
    pub finalize_wait_ms: u64,
    /// FLE: the first re-send interval of notifications; it doubles up to `notify_max_ms`.
    pub notify_min_ms: u64,
    pub notify_max_ms: u64,
    /// Committed entries kept in memory past the commit point, for DIFF sync.
    pub log_window: usize,
    /// A server with a blank data dir (a replaced disk) does not vote while its peers have
    /// history; it joins as a learner and votes once synced. Off only in tests that show
    /// what goes wrong without it.
    pub blank_defence: bool,
    /// The zxid counter value at which a leader gives up its epoch so that a new one starts
    /// (ZooKeeper: 0xffffffff). Lower only to exercise that path in tests.
    pub counter_limit: u32,
    /// Deliberate protocol bugs, to prove the simulator's checkers catch them.
    #[cfg(feature = "sim")]
    pub bugs: Bugs,
}

/// Protocol mistakes that can be switched on in simulation builds only. Each one is a bug
/// ZooKeeper shipped or a classic consensus error; the mutation tests switch one on and expect
/// the checker to fail the run.
#[cfg(feature = "sim")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    /// The leader commits a proposal on its own ACK alone.
    pub commit_without_quorum: bool,
    /// The leader never sends TRUNC: learners keep entries the leader does not have.
    pub skip_trunc: bool,
    /// A follower ACKs proposals before they are durable (ZK-3911 in spirit).
    pub ack_before_durable: bool,
    /// A follower ACKs NEWLEADER before its synced history is durable (ZK-4646).
    pub ack_new_leader_early: bool,
    /// The server answers a read the moment it arrives, from the state then, while still
    /// replying in order: a read no longer waits for the session's earlier writes.
    pub eager_reads: bool,
    /// The server sends watch events after the replies of the same batch of commits, so a
    /// client can see a change before its event.
    pub late_watch_events: bool,
    /// The leader drops, without a reply, a write or sync whose xid is not above the highest it
    /// took from that session this epoch (what this server once did to catch repeats): clients
    /// that number their requests anew on each connection, as Kazoo does, hang after a
    /// reconnect.
    pub xid_dedupe: bool,
}

#[cfg(feature = "sim")]
impl Bugs {
    /// The names the command line and the page know them by.
    pub const NAMES: [&'static str; 7] = [
        "commit-without-quorum",
        "skip-trunc",
        "ack-before-durable",
        "ack-new-leader-early",
        "eager-reads",
        "late-watch-events",
        "xid-dedupe",
    ];

    /// The one bug called `name` switched on (`None` for an unknown name).
    pub fn named(name: &str) -> Option<Bugs> {
        let mut bugs = Bugs::default();
        match name {
            "commit-without-quorum" => bugs.commit_without_quorum = true,
            "skip-trunc" => bugs.skip_trunc = true,
            "ack-before-durable" => bugs.ack_before_durable = true,
            "ack-new-leader-early" => bugs.ack_new_leader_early = true,
            "eager-reads" => bugs.eager_reads = true,
            "late-watch-events" => bugs.late_watch_events = true,
            "xid-dedupe" => bugs.xid_dedupe = true,
            _ => return None,
        }
        Some(bugs)
    }
}

impl Config {
    /// ZooKeeper's defaults around the given ensemble: tickTime 2000, initLimit 10,
    /// syncLimit 5, finalizeWait 200.
    pub fn new(id: ServerId, voters: Vec<ServerId>, observers: Vec<ServerId>) -> Config {
        Config {
            id,
            voters,
            observers,
            tick_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            finalize_wait_ms: 200,
            notify_min_ms: 200,
            notify_max_ms: 60_000,
            log_window: 500,
            blank_defence: true,
            counter_limit: u32::MAX,
            #[cfg(feature = "sim")]
            bugs: Bugs::default(),
        }
    }

    pub fn is_voter(&self, id: ServerId) -> bool {
        self.voters.contains(&id)
    }

    pub fn is_observer(&self, id: ServerId) -> bool {
        self.observers.contains(&id)
    }

    pub fn is_member(&self, id: ServerId) -> bool {
        self.is_voter(id) || self.is_observer(id)
    }

    /// Every member but this one.
    pub fn others(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.voters.iter().chain(&self.observers).copied().filter(move |&s| s != self.id)
    }

    pub fn init_timeout_ms(&self) -> u64 {
        self.tick_ms * self.init_limit
    }

    pub fn sync_timeout_ms(&self) -> u64 {
        self.tick_ms * self.sync_limit
    }
}
