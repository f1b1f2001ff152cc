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
//! The rooms, and which way the arrows point (hosts -> core; inside: server -> {zab, session,
//! watch, txn, wire}; txn -> tree; sim -> server and check; check reads histories and what each
//! replica recorded, nothing else):
//! - [`tree`]: the data tree with ZooKeeper 3.8's exact Stat rules, node kinds, ACL store,
//!   ephemeral index, incremental digest and checksummed snapshots.
//! - [`txn`]: ZooKeeper's prep step (validation against the tree plus pending changes, turning a
//!   request into a deterministic transaction) and the application of transactions to the tree.
//! - [`wire`]: ZooKeeper's client protocol (jute) with bounded decoders.
//! - [`zab`]: fast leader election, discovery, DIFF/TRUNC/SNAP synchronization, broadcast and
//!   observers, as a deterministic [`zab::Peer`].
//! - [`session`] and [`watch`]: session ids, timeouts and expiry; watch registrations and events.
//! - [`server`]: one ZooKeeper server as a state machine: a Zab peer, the tree, client
//!   connections and the request pipeline ([`server::Server`]).
//! - `sim` and `check` (feature `sim`): the deterministic cluster simulator and the checkers of
//!   the Zab invariants and of client histories.
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
