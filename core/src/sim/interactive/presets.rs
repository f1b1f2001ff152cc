//! The scripted scenarios the page teaches with.

use alloc::vec::Vec;

use super::*;
use crate::sim::{Faults, SimConfig};
use crate::zab::{self};

/// A configuration for a cluster driven by hand: no faults unless asked for, no chaos phase,
/// no background writes, every event traced.
pub fn interactive_config(seed: u64, voters: usize, observers: usize) -> SimConfig {
    SimConfig {
        faults: Faults { latency_ms: (15, 40), fsync_ms: (2, 6), ..Faults::none() },
        chaos_ms: u64::MAX / 4,
        calm_ms: 0,
        tick_ms: 200,
        write_every_ms: 0,
        log_window: 16,
        trace: true,
        auto_faults: false,
        ..SimConfig::from_seed(seed, voters, observers)
    }
}

/// What each scenario shows, in a few sentences, for the page: (name, title, story). The
/// last is the page's own cluster without a script ("custom").
pub const STORIES: [(&str, &str, &str); 8] = [
    (
        "cold-start",
        "Leader election from a cold start",
        concat!(
            "Five servers start with empty disks, all LOOKING. Each votes for itself and sends its ",
            "vote (leader, last zxid, epoch) to everyone. A server adopts any better vote (higher ",
            "epoch, then higher zxid, then higher server id) and sends it on. Once a quorum (3 of ",
            "5) agrees and a short wait brings nothing better, the winner starts LEADING and the ",
            "others FOLLOWING. The leader then runs discovery (FOLLOWERINFO, LEADERINFO, ACKEPOCH) ",
            "to pick a new epoch, synchronises the followers (NEWLEADER, ACK, UPTODATE), and only ",
            "then serves writes.",
        ),
    ),
    (
        "leader-crash",
        "Leader crash and re-election",
        concat!(
            "A client on s1 creates /config. At 4 s the leader crashes. Followers stop hearing its ",
            "PINGs, give up after syncLimit ticks and go back to LOOKING. The servers with the ",
            "longest history win the new election; the new leader takes a higher epoch, so every ",
            "zxid it issues is greater than any of the old leader's. At 6 s the client writes v2 ",
            "through the new leader. At 12 s the old leader restarts and rejoins as a follower.",
        ),
    ),
    (
        "minority-partition",
        "Minority partition",
        concat!(
            "At 4 s the network splits into {s1, s2} and {s3, s4, s5}. The majority side keeps (or ",
            "elects) a leader and keeps committing. The minority side cannot form a quorum: its ",
            "servers go LOOKING and stop serving. The client pinned to s1 loses its connection; its ",
            "setData never reaches a quorum, and the client cannot know whether it happened ",
            "(ConnectionLoss). At 9 s the partition heals and the minority re-syncs.",
        ),
    ),
    (
        "snap-sync",
        "A follower far behind, synced by SNAP",
        concat!(
            "A random client writes steadily to three servers that keep only 4 txns in memory for ",
            "DIFF. At 2.5 s a follower crashes and misses many writes. When it restarts at 9 s, the ",
            "leader cannot send the missing txns one by one (they left its window), so it sends ",
            "NEWLEADER(SNAP): a snapshot of the whole tree. Watch the follower's digest become ",
            "equal to the others.",
        ),
    ),
    (
        "truncate",
        "An uncommitted txn truncated after failover",
        concat!(
            "Client 1 creates /a (committed). Then the leader's next PROPOSALs are lost on the ",
            "wire, client 2 sets /a to \"lost\": the leader logs it, but no follower ever sees it, ",
            "so it never reaches a quorum. The leader crashes. The followers elect a new leader ",
            "without that txn. When the old leader restarts, its log holds a txn the new leader ",
            "does not: the leader sends NEWLEADER(TRUNC) and the txn is cut off. Nobody was told it ",
            "succeeded.",
        ),
    ),
    (
        "lock",
        "The lock recipe with five clients",
        concat!(
            "Five clients each create an ephemeral sequential node under /lock; the lowest number ",
            "holds the lock; each other client watches the node just below its own. When the holder ",
            "deletes its node, exactly one watcher wakes up and holds the lock next. The checker ",
            "verifies that no two clients ever believed they held the lock at the same committed ",
            "moment.",
        ),
    ),
    (
        "broken-commit",
        "A broken Zab, caught",
        concat!(
            "This cluster runs a deliberately broken leader: it commits a txn on its own ACK, ",
            "without waiting for a quorum. At 3 s the leader is cut off and proposes a txn that ",
            "only it holds; it commits it at once. The checker flags the violation the moment it ",
            "happens (CommitDurability: committed, but on fewer than a quorum of disks) and marks ",
            "it red in the space-time diagram. The majority elects a new leader that never saw that ",
            "txn: had a client been told \"ok\", its write would be lost.",
        ),
    ),
    (
        "custom",
        "Your own cluster",
        concat!(
            "No script: crash, partition, and write as you like. Pick a deliberate bug to see the ",
            "checker catch it.",
        ),
    ),
];

/// What the page says about the phase the cluster is in: (phase, text), "election" while no
/// leader is established, else the leader's [`crate::zab::LeaderPhase`] by name.
pub const PHASE_STORIES: [(&str, &str); 6] = [
    ("election", "Fast leader election: LOOKING servers exchange votes until a quorum agrees on one leader."),
    (
        "Discovery",
        "Discovery: the leader collects FOLLOWERINFO from a quorum to learn the highest epoch accepted so far.",
    ),
    ("EpochPending", "Discovery: the new epoch is being made durable before it is announced."),
    ("AwaitAckEpoch", "Discovery: LEADERINFO proposes the new epoch; followers answer ACKEPOCH with their last zxid."),
    (
        "Synchronization",
        "Synchronization: each follower gets NEWLEADER with DIFF (missing txns), TRUNC (cut extra txns) or SNAP (a whole snapshot), and ACKs once durable.",
    ),
    (
        "Broadcast",
        "Broadcast: writes become PROPOSALs; once a quorum ACKs (after fsync), the leader sends COMMIT and every server applies the txn.",
    ),
];

/// A scripted scenario: a cluster and commands at set simulated times.
#[derive(Clone, Debug)]
pub struct Preset {
    pub name: &'static str,
    pub voters: usize,
    pub observers: usize,
    pub log_window: usize,
    /// Deliberate protocol bugs (to watch the checker catch them).
    pub bugs: zab::Bugs,
    pub script: Vec<(u64, Command)>,
}

/// The scenarios the page teaches with.
pub fn presets() -> Vec<Preset> {
    use Command::*;
    let manual = |server| AddClient { role: ClientRole::Manual, server: Some(server) };
    let create = |client, path: &str, data: &str| Call {
        client,
        op: ClientOp::Create { path: path.into(), data: data.into(), ephemeral: false, sequential: false },
    };
    let set = |client, path: &str, data: &str| Call {
        client,
        op: ClientOp::SetData { path: path.into(), data: data.into(), version: -1 },
    };
    let preset = |name, voters, script| Preset {
        name,
        voters,
        observers: 0,
        log_window: 16,
        bugs: zab::Bugs::default(),
        script,
    };
    alloc::vec![
        preset("cold-start", 5, Vec::new()),
        preset(
            "leader-crash",
            5,
            alloc::vec![
                (0, manual(1)),
                (3_000, create(1, "/config", "v1")),
                (4_000, Crash { server: Target::Leader }),
                (6_000, set(1, "/config", "v2")),
                (12_000, RestartAll),
            ],
        ),
        preset(
            "minority-partition",
            5,
            alloc::vec![
                (0, manual(1)),
                (3_000, create(1, "/app", "before")),
                (4_000, Partition { groups: alloc::vec![alloc::vec![1, 2], alloc::vec![3, 4, 5]] }),
                (4_500, set(1, "/app", "during")),
                (9_000, Heal),
            ],
        ),
        Preset {
            name: "snap-sync",
            voters: 3,
            observers: 0,
            log_window: 4,
            bugs: zab::Bugs::default(),
            script: alloc::vec![
                (0, AddClient { role: ClientRole::Random, server: None }),
                (2_500, Crash { server: Target::Follower }),
                (9_000, RestartAll),
            ],
        },
        preset(
            "truncate",
            3,
            alloc::vec![
                (0, manual(1)),
                (0, manual(2)),
                (2_500, create(1, "/a", "kept")),
                (3_500, DropNext { kind: "PROPOSAL".into(), from: Target::Leader, count: 2 }),
                (3_550, set(2, "/a", "lost")),
                (3_700, Crash { server: Target::Leader }),
                (9_000, RestartAll),
            ],
        ),
        preset("lock", 5, (0..5).map(|_| (0, AddClient { role: ClientRole::Lock, server: None })).collect()),
        Preset {
            name: "broken-commit",
            voters: 3,
            observers: 0,
            log_window: 16,
            bugs: zab::Bugs { commit_without_quorum: true, ..zab::Bugs::default() },
            script: alloc::vec![
                (3_000, Isolate { server: Target::Leader }),
                (3_100, Propose { path: "/only-on-the-old-leader".into() }),
                (10_000, Heal),
            ],
        },
    ]
}
