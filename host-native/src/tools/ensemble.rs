//! `zabkeeper ensemble --nodes N`: a local cluster of separate server processes on loopback,
//! for trying things out and for tests. Each member gets its own directory, zoo.cfg and
//! myid; the command prints the connect string and stops every member on Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct EnsembleArgs {
    /// Members (voters).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Where the members keep their data.
    #[arg(long, default_value = "zabkeeper-ensemble")]
    dir: PathBuf,
    /// Client port of member 1; member N listens on this + N - 1.
    #[arg(long, default_value_t = 2181)]
    client_port: u16,
    /// Quorum port of member 1 (member N: + N - 1); election ports start 1000 above.
    #[arg(long, default_value_t = 2888)]
    peer_port: u16,
    /// AdminServer (HTTP) port of member 1 (member N: + N - 1), on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    admin_port: u16,
    #[arg(long, default_value_t = 2000)]
    tick_ms: u64,
    /// Allow TTL nodes (zoo.cfg extendedTypesEnabled=true; off by default, as in ZooKeeper).
    #[arg(long)]
    extended_types: bool,
}

/// Writes each member's zoo.cfg and myid; returns the config paths.
pub fn lay_out(args: &EnsembleArgs) -> Result<Vec<PathBuf>, String> {
    if !(1..=9).contains(&args.nodes) {
        return Err("--nodes must be between 1 and 9".into());
    }
    let mut servers = String::new();
    for i in 1..=args.nodes {
        let offset = (i - 1) as u16;
        servers.push_str(&format!(
            "server.{i}=127.0.0.1:{}:{};127.0.0.1:{}\n",
            args.peer_port + offset,
            args.peer_port + 1000 + offset,
            args.client_port + offset
        ));
    }
    let secret = if args.nodes > 1 {
        let path = absolute(&args.dir.join("quorum.secret"));
        ensure_secret(&path)?;
        format!("quorum.auth.secretFile={}\n", path.display())
    } else {
        String::new()
    };
    let mut configs = Vec::new();
    for i in 1..=args.nodes {
        let dir = args.dir.join(format!("n{i}"));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        std::fs::write(data.join("myid"), format!("{i}\n")).map_err(|e| format!("myid: {e}"))?;
        let config = dir.join("zoo.cfg");
        let text = format!(
            "tickTime={}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\nextendedTypesEnabled={}\n\
             4lw.commands.whitelist=ruok,srvr,stat,mntr,conf,cons,envi,isro,wchs\n\
             admin.serverAddress=127.0.0.1\nadmin.serverPort={}\n{secret}{servers}",
            args.tick_ms,
            absolute(&data).display(),
            args.client_port + (i - 1) as u16,
            args.extended_types,
            args.admin_port + (i - 1) as u16
        );
        std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
        configs.push(config);
    }
    Ok(configs)
}

/// The members' quorum secret: kept if the file exists, else 32 random bytes in hex, readable
/// by the owner only.
fn ensure_secret(path: &Path) -> Result<(), String> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random secret: {e}"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{hex}\n").as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

fn absolute(path: &Path) -> PathBuf {
    std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
}

pub fn run(args: EnsembleArgs) -> Result<(), String> {
    let configs = lay_out(&args)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut children: Vec<Child> = Vec::new();
    for config in &configs {
        let child = Command::new(&exe)
            .arg("start")
            .arg("--config")
            .arg(config)
            .spawn()
            .map_err(|e| format!("cannot start a member: {e}"))?;
        children.push(child);
    }
    let connect: Vec<String> = (0..args.nodes).map(|i| format!("127.0.0.1:{}", args.client_port + i as u16)).collect();
    println!("ensemble of {} up; connect string: {}", args.nodes, connect.join(","));
    println!("data in {}; Ctrl-C stops every member", args.dir.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(crate::shutdown_signal());
    for child in &mut children {
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    }
    for child in &mut children {
        let _ = child.wait();
    }
    Ok(())
}
