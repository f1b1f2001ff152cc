//! The `zabkeeper` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use zabkeeper::config::Settings;
use zabkeeper::tools::{bench, cli, ensemble, migrate, sim, status};
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
        /// How log lines are written to stderr: `text`, or `json` (one object per line).
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Run a local ensemble of separate server processes on loopback (Ctrl-C stops it).
    Ensemble(ensemble::EnsembleArgs),
    /// Sweep seeds of the deterministic cluster simulator (or replay one with --seed).
    Sim(sim::SimArgs),
    /// Load any ZooKeeper-compatible server and print throughput and latency as one JSON line.
    Bench(bench::BenchArgs),
    /// One line per member (mode, epoch, zxid, lag, connections, fsync) and a verdict on the
    /// quorum; exits 0 healthy, 1 degraded, 2 lost.
    Status(status::StatusArgs),
    /// A shell with zkCli.sh's commands and output (or one command: `cli get /x`).
    Cli(cli::CliArgs),
    /// Take over an Apache ZooKeeper dataDir (its snapshots, logs and epochs) into ours.
    Import(migrate::ImportArgs),
    /// Write our dataDir out as an Apache ZooKeeper 3.8 snapshot that ZooKeeper starts from.
    Export(migrate::ExportArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Start { config, log_format } => match start(config.as_deref(), log_format) {
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
        Command::Cli(args) => match cli::run(args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(why) => {
                eprintln!("zabkeeper cli: {why}");
                ExitCode::from(2)
            }
        },
        Command::Import(args) => {
            quiet_logs();
            match migrate::import(&args) {
                Ok(summary) => {
                    eprintln!("{}", summary.report);
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!("zabkeeper import: {why}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Export(args) => {
            quiet_logs();
            match migrate::export(&args) {
                Ok(summary) => {
                    eprintln!("{}", summary.report);
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!("zabkeeper export: {why}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Status(args) => match status::run(args) {
            Ok(verdict) => ExitCode::from(verdict.exit_code()),
            Err(why) => {
                eprintln!("zabkeeper status: {why}");
                ExitCode::from(3)
            }
        },
    }
}

/// Log lines (progress, warnings) on stderr for the offline tools.
fn quiet_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// `zabkeeper start`: checks the configuration, recovers, listens, serves until Ctrl-C or
/// SIGTERM, then syncs the log and exits.
fn start(path: Option<&std::path::Path>, format: LogFormat) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(ansi).init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
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
