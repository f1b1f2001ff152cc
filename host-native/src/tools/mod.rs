//! The other subcommands of the `zabkeeper` binary: a local ensemble launcher
//! ([`ensemble`]), the simulator's seed sweep ([`sim`]), a load generator for any
//! ZooKeeper-compatible server ([`bench`]) and an ensemble's health at a glance ([`status`]).

pub mod bench;
pub mod ensemble;
pub mod sim;
pub mod status;
