//! The network: the client port ([`client`]) and the links between the servers of an
//! ensemble on the quorum port ([`peers`]). Both only turn bytes into [`crate::event::Event`]s
//! for the node task and carry its answers back; neither knows the protocol.

use std::time::Duration;

pub mod client;
pub mod peers;

/// Back-off after a listener fails to accept (EMFILE, ENFILE): a log line and a pause, never a
/// spin, so the connections already open keep being served.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
