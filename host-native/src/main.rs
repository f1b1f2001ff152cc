//! The `zabkeeper` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod config;
mod ensemble;
mod net;
mod node;
mod peer;
mod sim;

use zabkeeper::storage;

/// mimalloc: the commit path allocates small buffers at a high rate (entries, frames,
/// replies), and it does so about a third faster than the system allocator (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The version clients read from `srvr`/`envi`: ZooKeeper-compatible, then ours.
const SERVER_VERSION: &str = concat!("3.8.0-zabkeeper-", env!("CARGO_PKG_VERSION"));

#[derive(Parser, Debug)]
#[command(name = "zabkeeper", version = SERVER_VERSION, about = "A ZooKeeper-compatible coordination service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a server (standalone on the embedded defaults, or from a zoo.cfg).
    Start {
        /// A ZooKeeper zoo.cfg.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// Run a local ensemble of separate server processes on loopback (Ctrl-C stops it).
    Ensemble(ensemble::EnsembleArgs),
    /// Sweep seeds of the deterministic cluster simulator (or replay one with --seed).
    Sim(sim::SimArgs),
    /// Load any ZooKeeper-compatible server and print throughput and latency as one JSON line.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Start { config } => match start(config.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("zabkeeper start: {why}");
                ExitCode::from(2)
            }
        },
        Command::Ensemble(args) => match ensemble::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("zabkeeper ensemble: {why}");
                ExitCode::from(2)
            }
        },
        Command::Sim(args) => match sim::run(args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(why) => {
                eprintln!("zabkeeper sim: {why}");
                ExitCode::from(2)
            }
        },
        Command::Bench(args) => match bench::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("zabkeeper bench: {why}");
                ExitCode::from(2)
            }
        },
    }
}

/// `zabkeeper start`: checks the configuration, recovers, listens, serves until Ctrl-C or
/// SIGTERM, then syncs the log and exits.
fn start(path: Option<&std::path::Path>) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
    let settings = match path {
        Some(path) => config::Settings::from_file(path).map_err(|e| e.to_string())?,
        None => config::Settings::default(),
    };
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    if !settings.force_sync {
        tracing::warn!("forceSync=no: writes are acknowledged before they reach the disk; a power cut can lose them");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let (events, inbox) = tokio::sync::mpsc::unbounded_channel();
        let mut node = node::Node::open(settings.clone(), events.clone())?;
        if settings.members.len() > 1 {
            let me = settings.members.iter().find(|m| m.id == settings.my_id).ok_or("myid is not a member")?;
            let quorum =
                config::Settings::resolve(me, me.quorum_port).ok_or_else(|| format!("cannot resolve {}", me.host))?;
            let listener = tokio::net::TcpListener::bind(quorum)
                .await
                .map_err(|e| format!("cannot listen for peers on {quorum}: {e}"))?;
            let ids = settings.members.iter().map(|m| zabkeeper_core::ids::ServerId(m.id)).collect();
            let liveness = peer::Liveness::from_limits(settings.tick_ms, settings.sync_limit);
            tokio::spawn(peer::listen(listener, ids, liveness, events.clone()));
            let mut peers = Vec::new();
            for m in settings.members.iter().filter(|m| m.id != settings.my_id) {
                let addr = config::Settings::resolve(m, m.quorum_port)
                    .ok_or_else(|| format!("cannot resolve server.{} host {}", m.id, m.host))?;
                peers.push((zabkeeper_core::ids::ServerId(m.id), addr));
            }
            node.set_links(peer::Links::start(
                zabkeeper_core::ids::ServerId(settings.my_id),
                peers,
                liveness,
                events.clone(),
            ));
            tracing::info!(peers = %quorum, members = settings.members.len(), "ensemble member");
        }
        let listener = tokio::net::TcpListener::bind(settings.client_addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", settings.client_addr))?;
        tracing::info!(version = SERVER_VERSION, client = %settings.client_addr, "serving");
        let accept = tokio::spawn(net::serve(listener, events.clone(), settings.jute_max_buffer));
        let stop = events.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = stop.send(node::Event::Shutdown);
        });
        let result = node.run(inbox).await;
        accept.abort();
        result
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
