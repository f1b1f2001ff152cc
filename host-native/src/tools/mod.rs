//! The other subcommands of the `zabkeeper` binary: a local ensemble launcher
//! ([`ensemble`]), the simulator's seed sweep ([`sim`]), a load generator for any
//! ZooKeeper-compatible server ([`bench`]), an ensemble's health at a glance ([`status`]) and
//! a zkCli.sh-like shell ([`cli`]), and moving a database from and to Apache ZooKeeper's
//! files ([`migrate`], on [`zkdata`]).

pub mod bench;
pub mod cli;
pub mod ensemble;
pub mod migrate;
pub mod sim;
pub mod status;
pub mod zkdata;

use zabkeeper_core::wire::ConnectRequest;

/// The handshake of a new session asking for `timeout_ms`, as the tools' clients open them.
pub fn new_session(timeout_ms: i32) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms,
        session_id: 0,
        passwd: Some(vec![0; 16]),
        read_only: Some(false),
    }
}
