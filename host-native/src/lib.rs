//! zabkeeper's native server, as a library: what the `zabkeeper` binary runs, so that tests
//! and benches can run a server in-process and drive the same storage code.
//!
//! - [`config`]: zoo.cfg and the embedded defaults.
//! - [`node`]: one server: the core's state machine on one task, its checkpoints, the
//!   four-letter words, and [`node::start::start`], which wires a server to its ports.
//! - [`net`]: the client port and the peer links, bytes in and out only.
//! - [`event`]: what the listeners, links and storage tell the node task.
//! - [`storage`]: the durable log and its checkpoints.
//! - [`tools`]: the ensemble launcher, the simulator sweep, the load generator, status, cli.
//! - [`progress`]: progress lines for long work.

pub mod config;
pub mod container;
pub mod event;
pub mod jaas;
pub mod net;
pub mod node;
pub mod notify;
pub mod progress;
pub mod storage;
pub mod tools;

/// The version clients read from `srvr`/`envi`: ZooKeeper-compatible, then ours.
pub const SERVER_VERSION: &str = concat!("3.8.0-zabkeeper-", env!("CARGO_PKG_VERSION"));

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
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
