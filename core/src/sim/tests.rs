//! Simulator runs: quiet clusters elect and replicate; a sweep of seeds with every fault on
//! finds no violation and recovers; the same seed gives the same trace.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::*;

fn describe(report: &Report) -> String {
    format!(
        "seed {}: violations {:?}, live {}, problem {:?}, committed {}, proposals {}, epochs {}, election {:?} ms",
        report.seed,
        report.violations,
        report.live,
        report.liveness_problem,
        report.committed,
        report.proposals,
        report.epochs,
        report.election_ms
    )
}

#[test]
fn a_quiet_three_node_cluster_elects_and_replicates() {
    let report = Sim::new(SimConfig::quiet(1, 3, 0)).run();
    assert!(report.violations.is_empty() && report.live, "{}", describe(&report));
    assert!(report.committed > 20, "{}", describe(&report));
    assert_eq!(report.epochs, 1, "{}", describe(&report));
}

#[test]
fn quiet_clusters_of_every_size_with_observers() {
    for (voters, observers) in [(1, 0), (3, 1), (5, 0), (5, 2), (7, 0)] {
        let report = Sim::new(SimConfig::quiet(7, voters, observers)).run();
        assert!(report.violations.is_empty() && report.live, "{voters}+{observers}: {}", describe(&report));
        assert!(report.committed > 20, "{voters}+{observers}: {}", describe(&report));
    }
}

#[test]
fn seeds_with_every_fault_on_stay_safe_and_recover() {
    let mut failures = Vec::new();
    for seed in 0..40 {
        let voters = [3, 5, 3, 7][seed as usize % 4];
        let report = Sim::new(SimConfig::from_seed(seed, voters, seed as usize % 2)).run();
        if !report.violations.is_empty() || !report.live {
            failures.push(describe(&report));
        }
    }
    assert!(failures.is_empty(), "{} failing seeds:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn same_seed_same_trace() {
    let run = || {
        let mut config = SimConfig::from_seed(99, 3, 1);
        config.trace = true;
        Sim::new(config).run()
    };
    let (a, b) = (run(), run());
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_ne!(a.trace_hash, 0);
}
