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
