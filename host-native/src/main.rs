//! The `zabkeeper` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod sim;

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
    /// Sweep seeds of the deterministic cluster simulator (or replay one with --seed).
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Start { .. } => {
            eprintln!(
                "zabkeeper {SERVER_VERSION}: the network server is not built yet. This build holds the \
                 data tree and transaction core only; see README.md for the status."
            );
            ExitCode::from(2)
        }
        Command::Sim(args) => match sim::run(args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(why) => {
                eprintln!("zabkeeper sim: {why}");
                ExitCode::from(2)
            }
        },
    }
}
