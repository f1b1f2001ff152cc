//! What the node task hears, and what it sends back to a client connection's writer: the
//! one vocabulary the listeners, the peer links, the storage writer and the node share (so
//! none of them imports another).

use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};
use zabkeeper_core::ids::ServerId;
use zabkeeper_core::wire::FourLetterWord;

/// Bytes or the end, for one client connection's writer task.
#[derive(Debug)]
pub enum Outbound {
    Bytes(Vec<u8>),
    Close,
}

/// What the node task hears.
#[derive(Debug)]
pub enum Event {
    Connected {
        conn: u64,
        addr: SocketAddr,
        out: mpsc::UnboundedSender<Outbound>,
    },
    Frame {
        conn: u64,
        payload: Vec<u8>,
    },
    Disconnected {
        conn: u64,
    },
    Persisted(u64),
    /// The storage writer stopped on an error; nothing more will be durable.
    StorageFailed,
    Peer {
        from: ServerId,
        msg: zabkeeper_core::server::PeerMessage,
    },
    /// A link to or from `peer` broke.
    LinkDown {
        peer: ServerId,
    },
    Word {
        word: FourLetterWord,
        reply: oneshot::Sender<String>,
    },
    Shutdown,
}
