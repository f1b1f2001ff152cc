//! zabkeeper-core: the pure heart of zabkeeper, a ZooKeeper-compatible coordination service.
//!
//! This crate does no IO. It has no clock, no threads, no sockets and no files: every piece is a
//! state machine that its host feeds (time, messages, "durable up to" reports) and drains. The
//! native server (crate `zabkeeper`) and the browser simulator (crate `zabkeeper-wasm`) are two
//! such hosts around the very same code.
//!
//! ```text
//!   client ops ──► txn::prep ──► Txn (replicated, zxid-stamped) ──► txn::apply ──► DataTree
//!                     │                                                  │
//!                     └── reads the tree + pending changes               └── digest, snapshot
//! ```
//!
//! What is here today:
//! - [`tree`]: the data tree with ZooKeeper 3.8's exact Stat rules, node kinds, ACL store,
//!   ephemeral index, incremental digest and checksummed snapshots.
//! - [`txn`]: ZooKeeper's prep step (validation against the tree plus pending changes, turning a
//!   request into a deterministic transaction) and the application of transactions to the tree.
//!
//! The crate is `#![no_std]` with `alloc`: CI builds it for a bare-metal target to prove that no
//! `std` sneaks in through a dependency.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod bytes_serde;
pub mod encode;
pub mod error;
pub mod ids;
pub mod rng;
pub mod server;
pub mod session;
pub mod tree;
pub mod txn;
pub mod watch;
pub mod wire;
pub mod zab;

#[cfg(feature = "sim")]
pub mod check;
#[cfg(feature = "sim")]
pub mod sim;

pub use error::ErrorCode;
pub use ids::{ServerId, SessionId, Zxid};
