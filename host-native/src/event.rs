//! What the node task hears, and what it sends back to a client connection's writer: the
//! one vocabulary the listeners, the peer links, the storage writer and the node share (so
//! none of them imports another).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio::sync::{Notify, mpsc, oneshot};
use zabkeeper_core::ids::ServerId;
use zabkeeper_core::wire::FourLetterWord;

/// Bytes or the end, for one client connection's writer task.
#[derive(Debug)]
pub enum Outbound {
    Bytes(Vec<u8>),
    Close,
}

/// The node's handle on one client connection's writer task.
#[derive(Debug)]
pub struct ClientLink {
    pub out: mpsc::UnboundedSender<Outbound>,
    /// Bytes handed to the writer and not yet written to the socket (the node adds, the
    /// writer takes off).
    pub queued: Arc<AtomicUsize>,
    /// Makes the writer drop the connection at once, even in the middle of a write to a
    /// client that does not read.
    pub abort: Arc<Notify>,
}

/// What the node task hears.
#[derive(Debug)]
pub enum Event {
    Connected {
        conn: u64,
        addr: SocketAddr,
        link: ClientLink,
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
