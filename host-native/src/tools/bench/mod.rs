//! `zabkeeper bench`: a load generator speaking ZooKeeper's client protocol, for any
//! ZooKeeper-compatible server (ours, or Apache ZooKeeper 3.8).
//!
//! ```text
//!  setup    one session: create --prefix (and its parents) and, for set/get/mixed, the keys
//!           <prefix>/k000.. holding --value-size bytes; for create, a fresh <prefix>/run-NNNNNNNNNN
//!  connect  --clients sessions, each on its own connection, spread round-robin over --servers
//!  warmup   every client keeps --pipeline requests in flight; nothing is measured
//!  window   the same for --duration seconds; every reply's latency (send to reply) is recorded
//!  drain    no more sends; the last replies, then closeSession
//!  cleanup  only with --cleanup: delete, best effort, what setup and the run created
//! ```
//!
//! One JSON line on stdout: op, clients, pipeline, value_size, duration_s, ops (replies in the
//! window, errors included), throughput (ops/s), latency_us {p50, p90, p99, p999, max, mean},
//! errors {code: count} over the whole run, servers, lost_clients. Progress goes to stderr.
//!
//! The keys are shared: every client walks the same key space, starting at its own offset.
//! Create mode names its nodes `<run>/c<client>-<10 digits>`, numbered per client, so no name
//! is ever taken and cleanup knows them all without listing.

mod client;
mod report;
mod session;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use zabkeeper_core::ErrorCode;
use zabkeeper_core::tree::{Acl, validate_path};
use zabkeeper_core::wire::Request;
use zabkeeper_core::wire::records::{CreateRequest, PathVersion, SetDataRequest};

use client::{Client, Clock, Outcome, create_path, key_digits, key_path};
use report::{Latency, Report};
use session::Session;

/// Clients at most: each is a connection and a session on the server.
const CLIENTS_MAX: usize = 4096;
/// Requests in flight per client at most.
const PIPELINE_MAX: usize = 4096;
/// Keys at most (the setup creates them all).
const KEYS_MAX: usize = 10_000_000;
/// Value bytes at most: below ZooKeeper's default jute.maxbuffer (0xfffff) with room for the rest.
const VALUE_SIZE_MAX: usize = 1_000_000;
/// The longest run accepted, warmup included, in seconds.
const RUN_S_MAX: f64 = 86_400.0;
/// Requests in flight during setup and cleanup.
const SETUP_PIPELINE: usize = 256;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Connect string: host:port[,host:port...]; clients are spread over it round-robin.
    #[arg(long, default_value = "127.0.0.1:2181")]
    servers: String,
    /// Sessions, each on its own connection.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// What every request is: create a new node, setData, getData, or a mix of the last two.
    #[arg(long, value_enum, default_value_t = Op::Set)]
    op: Op,
    /// With --op mixed: the share of getData requests (the rest are setData).
    #[arg(long, default_value_t = 0.9)]
    read_ratio: f64,
    /// Bytes in each created or set value (and in the keys the setup creates).
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// Seconds measured, after the warmup.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measured window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Requests each client keeps in flight (1: the next is sent when the reply arrives).
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Keys for set, get and mixed, shared by all clients.
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// The znode everything lives under.
    #[arg(long, default_value = "/zkbench")]
    prefix: String,
    /// Delete, best effort, what this run created (the keys, the created nodes, the prefix).
    #[arg(long)]
    cleanup: bool,
    /// Speak TLS, trusting the CA certificates in this PEM file.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// With --tls-ca: show this client certificate (PEM) ...
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// ... whose private key is in this PEM file.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Op {
    Create,
    Set,
    Get,
    Mixed,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Set => "set",
            Op::Get => "get",
            Op::Mixed => "mixed",
        }
    }
}

/// The checked arguments.
#[derive(Clone, Debug)]
pub struct Plan {
    /// As given, and resolved.
    servers: Vec<(String, SocketAddr)>,
    clients: usize,
    op: Op,
    read_ratio: f64,
    value: Vec<u8>,
    warmup: Duration,
    duration: Duration,
    pipeline: usize,
    keys: usize,
    prefix: String,
    cleanup: bool,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Plan {
    fn from_args(args: &BenchArgs) -> Result<Plan, String> {
        let servers = parse_servers(&args.servers)?;
        let within = |what: &str, value: usize, max: usize| {
            if (1..=max).contains(&value) { Ok(value) } else { Err(format!("--{what} must be from 1 to {max}")) }
        };
        let seconds = |what: &str, value: f64, min: f64| {
            if value >= min && value <= RUN_S_MAX {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(format!("--{what} must be a number of seconds from {min} to {RUN_S_MAX}"))
            }
        };
        if !(0.0..=1.0).contains(&args.read_ratio) {
            return Err("--read-ratio must be from 0 to 1".into());
        }
        if args.value_size > VALUE_SIZE_MAX {
            return Err(format!("--value-size must be at most {VALUE_SIZE_MAX}"));
        }
        validate_path(&args.prefix).map_err(|e| format!("--prefix {}: {e:?}", args.prefix))?;
        if args.prefix == "/" || args.prefix.starts_with("/zookeeper") {
            return Err(format!("--prefix {}: choose a node of its own", args.prefix));
        }
        let warmup = seconds("warmup", args.warmup, 0.0)?;
        let duration = seconds("duration", args.duration, 0.001)?;
        if (warmup + duration).as_secs_f64() > RUN_S_MAX {
            return Err(format!("warmup and duration together must be at most {RUN_S_MAX} s"));
        }
        Ok(Plan {
            servers,
            clients: within("clients", args.clients, CLIENTS_MAX)?,
            op: args.op,
            read_ratio: args.read_ratio,
            // Printable bytes, so a value reads well in a CLI's get.
            value: (0..args.value_size).map(|i| b'a' + (i % 26) as u8).collect(),
            warmup,
            duration,
            pipeline: within("pipeline", args.pipeline, PIPELINE_MAX)?,
            keys: within("keys", args.keys, KEYS_MAX)?,
            prefix: args.prefix.clone(),
            cleanup: args.cleanup,
            tls: match &args.tls_ca {
                Some(ca) => {
                    let cert = args.tls_cert.as_deref().zip(args.tls_key.as_deref());
                    Some(crate::net::tls::client_config(ca, cert).map_err(|e| e.to_string())?)
                }
                None if args.tls_cert.is_some() => return Err("--tls-cert needs --tls-ca".into()),
                None => None,
            },
        })
    }
}

/// Splits a connect string. A chroot suffix is refused: `--prefix` does that job here.
fn parse_servers(text: &str) -> Result<Vec<(String, SocketAddr)>, String> {
    if text.contains('/') {
        return Err(format!("--servers {text}: no chroot here; use --prefix"));
    }
    let mut servers = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let addr = part
            .to_socket_addrs()
            .map_err(|e| format!("--servers: {part}: {e}"))?
            .next()
            .ok_or_else(|| format!("--servers: {part} resolves to nothing"))?;
        servers.push((part.to_string(), addr));
    }
    if servers.is_empty() {
        return Err("--servers: no host:port given".into());
    }
    Ok(servers)
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    let plan = Plan::from_args(&args)?;
    // One thread: against our server on two cores it drove as many ops/s as two workers did,
    // and took less CPU from the server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let report = runtime.block_on(bench(Arc::new(plan)))?;
    println!("{}", report.to_json());
    match report.lost_clients {
        0 => Ok(()),
        n => Err(format!("{n} of {} clients lost their connection", report.clients)),
    }
}

/// What setup made, for cleanup.
#[derive(Debug, Default)]
struct Made {
    /// Components of the prefix this run created, outermost first.
    prefix: Vec<String>,
    /// Keys this run created (the others existed and were overwritten).
    keys: Vec<usize>,
    /// Create mode's parent for this run.
    create_parent: Option<String>,
}

async fn bench(plan: Arc<Plan>) -> Result<Report, String> {
    let first = plan.servers[0].1;
    let mut admin = Session::connect(first, plan.tls.as_ref()).await?;
    let made = setup(&mut admin, &plan).await?;
    // Closed now: an idle session would expire during a long run.
    admin.close().await;

    let mut sessions = Vec::with_capacity(plan.clients);
    for i in 0..plan.clients {
        let (name, addr) = &plan.servers[i % plan.servers.len()];
        match Session::connect(*addr, plan.tls.as_ref()).await {
            Ok(session) => sessions.push(session),
            Err(why) => {
                for session in sessions {
                    session.close().await;
                }
                // ZooKeeper's default maxClientCnxns is 60 connections per client address.
                return Err(format!("client {i} ({name}): {why} (is the server's maxClientCnxns below --clients?)"));
            }
        }
    }
    let create_parent = made.create_parent.as_deref();
    let clients: Vec<Client> =
        sessions.into_iter().enumerate().map(|(i, session)| Client::new(session, &plan, i, create_parent)).collect();
    let (warmup_s, duration_s) = (plan.warmup.as_secs_f64(), plan.duration.as_secs_f64());
    eprintln!("bench: {} clients connected; {warmup_s} s warmup, {duration_s} s measured", plan.clients);

    let start = Instant::now();
    let clock = Clock { window_start: start + plan.warmup, window_end: start + plan.warmup + plan.duration };
    let progress = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn(report_progress(progress.clone(), start, clock));
    let tasks: Vec<_> = clients.into_iter().map(|client| tokio::spawn(client.run(clock, progress.clone()))).collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = task.await.map_err(|e| format!("client {i} panicked: {e}"))?;
        if let Some(why) = &outcome.failure {
            eprintln!("bench: client {i} stopped: {why}");
        }
        outcomes.push(outcome);
    }
    let stopped = Instant::now().min(clock.window_end);
    ticker.abort();

    let report = summarize(&plan, &outcomes, stopped.saturating_duration_since(clock.window_start));
    if plan.cleanup {
        cleanup(&plan, &made, &outcomes).await;
    }
    Ok(report)
}

fn summarize(plan: &Plan, outcomes: &[Outcome], window: Duration) -> Report {
    let mut latency_ns = report::new_histogram();
    let mut errors = BTreeMap::new();
    for outcome in outcomes {
        // Same bounds on both sides, so adding cannot fail.
        let _ = latency_ns.add(&outcome.latency_ns);
        for (code, n) in &outcome.errors {
            *errors.entry(*code).or_insert(0) += n;
        }
    }
    Report {
        op: plan.op.as_str(),
        clients: plan.clients,
        pipeline: plan.pipeline,
        value_size: plan.value.len(),
        read_ratio: (plan.op == Op::Mixed).then_some(plan.read_ratio),
        duration_s: window.as_secs_f64(),
        ops: outcomes.iter().map(|o| o.ops).sum(),
        latency: Latency::of(&latency_ns),
        errors,
        servers: plan.servers.iter().map(|(name, _)| name.clone()).collect(),
        lost_clients: outcomes.iter().filter(|o| o.failure.is_some()).count(),
    }
}

fn name(code: i32) -> String {
    ErrorCode::from_i32(code).map_or_else(|| code.to_string(), |c| format!("{c:?}"))
}

fn create(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create(CreateRequest { path: path.into(), data: Some(data.to_vec()), acl: Acl::open_unsafe(), flags })
}

/// Creates the prefix and what the op needs under it.
async fn setup(admin: &mut Session, plan: &Plan) -> Result<Made, String> {
    let mut made = Made::default();
    let mut path = String::new();
    for part in plan.prefix.split('/').filter(|p| !p.is_empty()) {
        path = format!("{path}/{part}");
        match admin.call(&create(&path, b"", 0)).await?.0 {
            0 => made.prefix.push(path.clone()),
            code if code == ErrorCode::NodeExists.code() => {}
            code => return Err(format!("cannot create {path}: {}", name(code))),
        }
    }
    if plan.op == Op::Create {
        // Sequential, so each run has a parent of its own.
        let (code, reply) = admin.call(&create(&format!("{}/run-", plan.prefix), b"", 2)).await?;
        let zabkeeper_core::wire::Response::Create(created) = reply else {
            return Err(format!("cannot create a run node under {}: {}", plan.prefix, name(code)));
        };
        eprintln!("bench: creating under {}", created.path);
        made.create_parent = Some(created.path);
        return Ok(made);
    }
    let digits = key_digits(plan.keys);
    let codes = admin
        .pipelined((0..plan.keys).map(|i| create(&key_path(&plan.prefix, i, digits), &plan.value, 0)), SETUP_PIPELINE);
    let codes = codes.await?;
    let mut existing = Vec::new();
    for (i, code) in codes.into_iter().enumerate() {
        match code {
            0 => made.keys.push(i),
            code if code == ErrorCode::NodeExists.code() => existing.push(i),
            code => return Err(format!("cannot create {}: {}", key_path(&plan.prefix, i, digits), name(code))),
        }
    }
    if !existing.is_empty() {
        // Keys left by an earlier run: give them this run's value size.
        let sets = existing.iter().map(|&i| {
            let path = key_path(&plan.prefix, i, digits);
            Request::SetData(SetDataRequest { path, data: Some(plan.value.clone()), version: -1 })
        });
        if let Some(code) = admin.pipelined(sets, SETUP_PIPELINE).await?.into_iter().find(|&c| c != 0) {
            return Err(format!("cannot set the existing keys: {}", name(code)));
        }
    }
    eprintln!("bench: {} keys ready ({} new) under {}", plan.keys, made.keys.len(), plan.prefix);
    Ok(made)
}

/// Deletes what this run made; says on stderr what it could not.
async fn cleanup(plan: &Plan, made: &Made, outcomes: &[Outcome]) {
    let mut admin = match Session::connect(plan.servers[0].1, plan.tls.as_ref()).await {
        Ok(admin) => admin,
        Err(why) => return eprintln!("bench: cleanup: {why}"),
    };
    let digits = key_digits(plan.keys);
    let mut paths: Vec<String> = made.keys.iter().map(|&i| key_path(&plan.prefix, i, digits)).collect();
    if let Some(parent) = &made.create_parent {
        for (client, outcome) in outcomes.iter().enumerate() {
            paths.extend((0..outcome.creates_sent).map(|n| create_path(parent, client, n)));
        }
        paths.push(parent.clone());
    }
    paths.extend(made.prefix.iter().rev().cloned());
    eprintln!("bench: cleanup: deleting up to {} nodes", paths.len());
    let deletes = paths.into_iter().map(|path| Request::Delete(PathVersion { path, version: -1 }));
    match admin.pipelined(deletes, SETUP_PIPELINE).await {
        Ok(codes) => {
            // NoNode: a create that never happened. Anything else is worth a word.
            let failed = codes.iter().filter(|&&c| c != 0 && c != ErrorCode::NoNode.code()).count();
            if failed > 0 {
                eprintln!("bench: cleanup: {failed} deletes failed");
            }
        }
        Err(why) => eprintln!("bench: cleanup: {why}"),
    }
    admin.close().await;
}

/// A line a second on stderr: elapsed seconds, the phase, replies in the last second.
async fn report_progress(replies: Arc<AtomicU64>, start: Instant, clock: Clock) {
    let mut tick = tokio::time::interval_at((start + Duration::from_secs(1)).into(), Duration::from_secs(1));
    // A busy runtime that misses a tick prints one late line, not a burst of empty ones.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = 0;
    loop {
        let now = tick.tick().await.into_std();
        let total = replies.load(Ordering::Relaxed);
        let phase = if now <= clock.window_start {
            "warmup"
        } else if now <= clock.window_end {
            "window"
        } else {
            "drain"
        };
        let elapsed = now.duration_since(start).as_secs();
        eprintln!("bench: {elapsed:>4}s {phase:<6} {:>9} ops/s", total - last);
        last = total;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(extra: &[&str]) -> Result<Plan, String> {
        let argv = std::iter::once("bench").chain(extra.iter().copied());
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        Plan::from_args(&cli.args)
    }

    pub fn plan(extra: &[&str]) -> Plan {
        parse(extra).unwrap()
    }

    #[test]
    fn the_defaults() {
        let p = plan(&[]);
        assert_eq!(p.servers, vec![("127.0.0.1:2181".to_string(), SocketAddr::from(([127, 0, 0, 1], 2181)))]);
        assert_eq!((p.clients, p.op, p.pipeline, p.keys), (1, Op::Set, 1, 1000));
        assert_eq!((p.value.len(), p.prefix.as_str(), p.cleanup), (1024, "/zkbench", false));
        assert_eq!((p.warmup, p.duration), (Duration::from_secs(2), Duration::from_secs(10)));
        assert_eq!(p.read_ratio, 0.9);
    }

    #[test]
    fn every_option() {
        let p = plan(&[
            "--servers",
            "127.0.0.1:2181, 127.0.0.1:2182,",
            "--clients",
            "64",
            "--op",
            "mixed",
            "--read-ratio",
            "0.5",
            "--value-size",
            "100",
            "--duration",
            "0.5",
            "--warmup",
            "0",
            "--pipeline",
            "16",
            "--keys",
            "10",
            "--prefix",
            "/a/b",
            "--cleanup",
        ]);
        let names: Vec<&str> = p.servers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["127.0.0.1:2181", "127.0.0.1:2182"]);
        assert_eq!(p.servers[1].1.port(), 2182);
        assert_eq!((p.clients, p.op, p.read_ratio, p.pipeline, p.keys), (64, Op::Mixed, 0.5, 16, 10));
        assert_eq!(&p.value[..3], b"abc");
        assert_eq!((p.value.len(), p.prefix.as_str(), p.cleanup), (100, "/a/b", true));
        assert_eq!((p.warmup, p.duration), (Duration::ZERO, Duration::from_millis(500)));
        for (op, want) in [("create", Op::Create), ("set", Op::Set), ("get", Op::Get)] {
            assert_eq!(plan(&["--op", op]).op, want);
        }
    }

    #[test]
    fn bad_arguments_are_refused_with_a_reason() {
        let refused = |extra: &[&str], why: &str| {
            let err = parse(extra).unwrap_err();
            assert!(err.contains(why), "{extra:?}: {err}");
        };
        refused(&["--clients", "0"], "--clients must be from 1");
        refused(&["--pipeline", "0"], "--pipeline must be from 1");
        refused(&["--keys", "0"], "--keys must be from 1");
        refused(&["--read-ratio", "1.5"], "--read-ratio");
        refused(&["--value-size", "2000000"], "--value-size");
        refused(&["--duration", "0"], "--duration");
        refused(&["--warmup=-1"], "--warmup");
        refused(&["--prefix", "zkbench"], "--prefix");
        refused(&["--prefix", "/zkbench/"], "--prefix");
        refused(&["--prefix", "/"], "--prefix");
        refused(&["--servers", "127.0.0.1:2181/chroot"], "chroot");
        refused(&["--servers", ","], "no host:port");
        refused(&["--servers", "127.0.0.1"], "127.0.0.1");
        refused(&["--op", "delete"], "delete");
    }

    #[test]
    fn the_summary_merges_clients_and_counts_lost_ones() {
        let p = plan(&["--op", "get", "--clients", "2"]);
        let outcome = |ns: u64, ops: u64, failure: Option<&str>| {
            let mut latency_ns = report::new_histogram();
            latency_ns.record(ns).unwrap();
            Outcome {
                latency_ns,
                ops,
                errors: BTreeMap::from([(-101, 2)]),
                creates_sent: 0,
                failure: failure.map(String::from),
            }
        };
        let outcomes = [outcome(10_000, 300, None), outcome(30_000, 100, Some("closed"))];
        let r = summarize(&p, &outcomes, Duration::from_secs(2));
        assert_eq!((r.op, r.ops, r.lost_clients, r.read_ratio), ("get", 400, 1, None));
        assert_eq!(r.throughput(), 200.0);
        assert_eq!(r.errors, BTreeMap::from([(-101, 4)]));
        assert!((r.latency.max_us - 30.0).abs() < 0.1 && (r.latency.p50_us - 10.0).abs() < 0.1, "{:?}", r.latency);
    }
}
