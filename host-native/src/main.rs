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
        #[arg(long, conflicts_with = "from_env")]
        config: Option<std::path::PathBuf>,
        /// The container entrypoint: zoo.cfg and myid from the ZOO_* variables of the
        /// ZooKeeper images (ZOO_MY_ID, ZOO_SERVERS, ZOO_CFG_EXTRA, ...), unless they exist.
        #[arg(long)]
        from_env: bool,
        /// Check the configuration (laying it out first with --from-env), print what the
        /// server would run as, and exit: 0 if it would start.
        #[arg(long)]
        check: bool,
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
    /// Write a new random quorum secret (for quorum.auth.secretFile) to --out, readable by its
    /// owner only; a file that is already there is kept.
    Secret {
        #[arg(long)]
        out: std::path::PathBuf,
    },
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
        Command::Start { config, from_env, check, log_format } => {
            match start(config.as_deref(), from_env, check, log_format) {
                Ok(()) => ExitCode::SUCCESS,
                Err(why) => {
                    eprintln!("zabkeeper start: {why}");
                    ExitCode::from(2)
                }
            }
        }
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
        Command::Secret { out } => match secret(&out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("zabkeeper secret: {why}");
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

/// `zabkeeper secret --out FILE`: 32 random bytes as 64 hex digits, mode 0600, fsynced.
fn secret(out: &std::path::Path) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if out.exists() {
        zabkeeper::net::auth::QuorumAuth::from_file(out, true).map_err(|e| format!("{e} (kept as it is)"))?;
        eprintln!("{} holds a secret already; kept", out.display());
        return Ok(());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source: {e}"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let fail = |e: std::io::Error| format!("writing {}: {e}", out.display());
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(out).map_err(fail)?;
    file.write_all(format!("{hex}\n").as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    eprintln!("wrote a new quorum secret to {}", out.display());
    Ok(())
}

/// What `start --check` prints: one `key: value` line per fact an operator or a deployment
/// test wants to see.
fn describe(s: &Settings) -> String {
    let role = if s.members.len() <= 1 {
        "standalone".to_owned()
    } else {
        let me = s.members.iter().find(|m| m.id == s.my_id);
        let kind = if me.is_some_and(|m| m.observer) { "observer" } else { "voter" };
        format!("member {} of {} ({kind})", s.my_id, s.members.len())
    };
    let mut out = format!(
        "role: {role}
client: {}
dataDir: {}
tickTime: {}
",
        s.client_addr,
        s.data_dir.display(),
        s.tick_ms
    );
    out.push_str(&format!(
        "initLimit: {}
syncLimit: {}
",
        s.init_limit, s.sync_limit
    ));
    for m in &s.members {
        out.push_str(&format!(
            "server.{}: {}:{}:{}{}
",
            m.id,
            m.host,
            m.quorum_port,
            m.election_port,
            if m.observer { ":observer" } else { "" }
        ));
    }
    out.push_str(&format!(
        "admin: {}
",
        s.admin.as_ref().map_or("off".to_owned(), |a| a.addr.to_string())
    ));
    out.push_str(&format!(
        "quorum secret: {}
",
        s.quorum_secret_file.as_ref().map_or("none".to_owned(), |p| p.display().to_string())
    ));
    out.push_str(&format!(
        "4lw: {}
",
        s.four_letter_words.iter().cloned().collect::<Vec<_>>().join(",")
    ));
    out
}

/// Log lines (progress, warnings) on stderr for the offline tools.
fn quiet_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// `zabkeeper start`: checks the configuration, recovers, listens, serves until Ctrl-C or
/// SIGTERM, then syncs the log and exits.
fn start(path: Option<&std::path::Path>, from_env: bool, check: bool, format: LogFormat) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(ansi).init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let prepared = if from_env {
        let prepared = zabkeeper::container::prepare(&|name| std::env::var(name).ok())?;
        tracing::info!(config = %prepared.config.display(), written = prepared.written, myid = prepared.my_id, "configuration from the environment");
        Some(prepared.config)
    } else {
        None
    };
    let settings = match prepared.as_deref().or(path) {
        Some(path) => Settings::from_file(path).map_err(|e| e.to_string())?,
        None => Settings::default(),
    };
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    if check {
        print!("{}", describe(&settings));
        return Ok(());
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
