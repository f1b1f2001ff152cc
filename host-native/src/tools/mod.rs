//! The other subcommands of the `zabkeeper` binary: a local ensemble launcher
//! ([`ensemble`]), the simulator's seed sweep ([`sim`]) and a load generator for any
//! ZooKeeper-compatible server ([`bench`]).

pub mod bench;
pub mod ensemble;
pub mod sim;
