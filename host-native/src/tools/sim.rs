//! `zabkeeper sim`: sweeps seeds of the deterministic cluster simulator, or replays one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Args;
use zabkeeper_core::sim::{Faults, Report, Sim, SimConfig};
use zabkeeper_core::zab::Bugs;

#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Number of seeds to sweep (seeds FIRST..FIRST+N).
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// First seed of the sweep.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Replay one seed and print its trace.
    #[arg(long)]
    seed: Option<u64>,
    /// Voting servers; 0 picks 3, 5 or 7 from each seed.
    #[arg(long, default_value_t = 0)]
    nodes: usize,
    /// Observers.
    #[arg(long, default_value_t = 0)]
    observers: usize,
    /// Faults: "all", "none", or a comma list of drop,dup,delay,partition,crash,torn,wipe.
    #[arg(long, default_value = "all")]
    faults: String,
    /// Simulated milliseconds of chaos (faults on) before the calm phase.
    #[arg(long, default_value_t = 20_000)]
    chaos_ms: u64,
    /// Simulated milliseconds of the calm phase (liveness).
    #[arg(long, default_value_t = 15_000)]
    calm_ms: u64,
    /// Switch on a deliberate protocol bug (to see the checker catch it): commit-without-quorum,
    /// skip-trunc, ack-before-durable, ack-new-leader-early, no-blank-defence, eager-reads, late-watch-events, xid-dedupe (the last three with --clients).
    #[arg(long)]
    bug: Option<String>,
    /// Stop each run after this many simulated events (0: run to the end). Runs stopped early
    /// are checked for safety only.
    #[arg(long, default_value_t = 0)]
    steps: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Simulated ZooKeeper clients per run; their histories are checked (0: raw Zab writes).
    #[arg(long, default_value_t = 0)]
    clients: usize,
    /// Of the clients, how many run the lock recipe (their claims are checked).
    #[arg(long, default_value_t = 0)]
    locks: usize,
    /// Of the clients, how many run the leader-election recipe.
    #[arg(long, default_value_t = 0)]
    elections: usize,
}

fn config_for(args: &SimArgs, seed: u64) -> Result<SimConfig, String> {
    let voters = if args.nodes == 0 { [3, 5, 3, 7][(seed % 4) as usize] } else { args.nodes };
    let mut config = SimConfig::from_seed(seed, voters, args.observers);
    config.chaos_ms = args.chaos_ms;
    config.calm_ms = args.calm_ms;
    config.max_steps = args.steps;
    config.clients = args.clients;
    config.lock_clients = args.locks;
    config.election_clients = args.elections;
    match args.bug.as_deref() {
        None => {}
        Some("no-blank-defence") => config.blank_defence = false,
        Some(name) => config.bugs = Bugs::named(name).ok_or_else(|| format!("unknown bug {name:?}"))?,
    }
    let all = config.faults.clone();
    config.faults = match args.faults.as_str() {
        "all" => all,
        "none" => Faults::none(),
        list => {
            let mut f = Faults::none();
            for name in list.split(',') {
                match name.trim() {
                    "drop" => f.drop_per_mille = all.drop_per_mille,
                    "dup" => f.dup_per_mille = all.dup_per_mille,
                    "delay" => {
                        f.latency_ms = all.latency_ms;
                        f.fsync_ms = all.fsync_ms;
                    }
                    "partition" => f.partitions = true,
                    "crash" => f.crashes = true,
                    "torn" => {
                        f.crashes = true;
                        f.torn_crashes = true;
                    }
                    "wipe" => {
                        f.crashes = true;
                        f.wipes = true;
                    }
                    other => {
                        return Err(format!(
                            "unknown fault {other:?} (drop, dup, delay, partition, crash, torn, wipe)"
                        ));
                    }
                }
            }
            f
        }
    };
    Ok(config)
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied()
}

fn fmt_ms(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| format!("{v}ms"))
}

pub fn run(args: SimArgs) -> Result<bool, String> {
    if let Some(seed) = args.seed {
        let mut config = config_for(&args, seed)?;
        config.trace = true;
        let voters = config.voters;
        let mut sim = Sim::new(config);
        sim.run_for(args.chaos_ms + args.calm_ms);
        for line in &sim.trace {
            println!("{line}");
        }
        let violations = sim.violations().to_vec();
        let report = Sim::new(config_for(&args, seed).map(|mut c| {
            c.trace = false;
            c
        })?)
        .run();
        for v in &violations {
            println!("VIOLATION {} at {}ms on {}: {}", v.invariant, v.at_ms, v.server, v.detail);
        }
        println!(
            "seed {seed}: voters {voters}, violations {}, live {}{}",
            report.violations.len(),
            report.live,
            report.liveness_problem.map(|p| format!(" ({p})")).unwrap_or_default()
        );
        return Ok(report.violations.is_empty() && report.live);
    }
    for seed in args.first..args.first + args.seeds.min(1) {
        config_for(&args, seed)?;
    }
    let next = AtomicU64::new(args.first);
    let end = args.first + args.seeds;
    let reports: Mutex<Vec<Report>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        break;
                    }
                    let Ok(config) = config_for(&args, seed) else { break };
                    let report = Sim::new(config).run();
                    if !report.violations.is_empty() || !report.live {
                        eprintln!(
                            "seed {seed} FAILED: {} (replay: zabkeeper sim --seed {seed}{})",
                            report
                                .violations
                                .first()
                                .map(|v| format!("{} at {}ms on {}: {}", v.invariant, v.at_ms, v.server, v.detail))
                                .or(report.liveness_problem.clone())
                                .unwrap_or_default(),
                            if args.nodes != 0 { format!(" --nodes {}", args.nodes) } else { String::new() }
                        );
                    }
                    reports.lock().expect("no poisoned lock").push(report);
                }
            });
        }
    });
    let reports = reports.into_inner().expect("no poisoned lock");
    let violations: usize = reports.iter().map(|r| r.violations.len()).sum();
    let stuck = reports.iter().filter(|r| r.violations.is_empty() && !r.live).count();
    let mut elections: Vec<u64> = reports.iter().filter_map(|r| r.election_ms).collect();
    elections.sort_unstable();
    let mut cold: Vec<u64> = reports.iter().filter_map(|r| r.first_leader_ms).collect();
    cold.sort_unstable();
    let committed: u64 = reports.iter().map(|r| r.committed).sum();
    let steps: u64 = reports.iter().map(|r| r.steps).sum();
    let early = reports.iter().filter(|r| r.stopped_early).count();
    let mut syncs = std::collections::BTreeMap::new();
    for r in &reports {
        for (mode, n) in &r.syncs {
            *syncs.entry(*mode).or_insert(0u64) += n;
        }
    }
    let calls: [u64; 5] = reports.iter().fold([0; 5], |a, r| {
        [a[0] + r.calls_ok, a[1] + r.calls_failed, a[2] + r.calls_unknown, a[3] + r.sessions, a[4] + r.claims]
    });
    println!(
        "seeds: {}, violations: {violations}, not live: {stuck}, steps: {steps}, stopped at --steps: {early}, \
         committed txns: {committed}, client calls: {} ok / {} error / {} unknown in {} sessions, \
         recipe claims checked: {}, \
         elections after healing: median {} p99 {}, cold start: median {} p99 {}, syncs: {:?}",
        reports.len(),
        calls[0],
        calls[1],
        calls[2],
        calls[3],
        calls[4],
        fmt_ms(percentile(&elections, 0.5)),
        fmt_ms(percentile(&elections, 0.99)),
        fmt_ms(percentile(&cold, 0.5)),
        fmt_ms(percentile(&cold, 0.99)),
        syncs
    );
    Ok(violations == 0 && stuck == 0)
}
