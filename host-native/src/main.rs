//! The `zabkeeper` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use zabkeeper::config::Settings;
use zabkeeper::tools::{bench, ensemble, sim};
use zabkeeper::{SERVER_VERSION, node, shutdown_signal};

/// mimalloc: the commit path allocates small buffers at a high rate (entries, frames,
/// replies), and it does so about a third faster than the system allocator (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Some(path) => Settings::from_file(path).map_err(|e| e.to_string())?,
        None => Settings::default(),
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
    runtime.block_on(node::start::start(settings, shutdown_signal())).map_err(|e| e.to_string())
}
