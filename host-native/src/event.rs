//! What the node task hears, and what it sends back to a client connection's writer: the
//! one vocabulary the listeners, the peer links, the storage writer and the node share (so
//! none of them imports another).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
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
    /// The connection's requests the node has not answered yet.
    pub in_node: Arc<InNode>,
}

/// Requests one connection handed to the node and the node has not answered yet, each holding
/// a permit of the server-wide budget (`globalOutstandingLimit`): the reader takes a permit
/// before it hands a request over, the node gives it back when it queues the answer (whether
/// or not the client reads it), and the reader gives back whatever is left when the
/// connection ends, so no permit outlives its connection.
#[derive(Debug)]
pub struct InNode {
    count: AtomicUsize,
    budget: Arc<Semaphore>,
}

impl InNode {
    pub fn new(budget: Arc<Semaphore>) -> InNode {
        InNode { count: AtomicUsize::new(0), budget }
    }

    /// Waits for a permit of the budget and counts one more request in the node.
    pub async fn enter(&self) -> bool {
        match self.budget.acquire().await {
            Ok(permit) => {
                permit.forget();
                self.count.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// The node answered `n` requests: their permits go back (never more than were taken).
    pub fn answered(&self, n: usize) {
        let taken = self.count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c.saturating_sub(n)));
        let back = taken.map_or(0, |before| before.min(n));
        if back > 0 {
            self.budget.add_permits(back);
        }
    }

    /// The connection ended: the permits of requests never answered go back.
    pub fn release_all(&self) {
        let left = self.count.swap(0, Ordering::Relaxed);
        if left > 0 {
            self.budget.add_permits(left);
        }
    }
}

/// The frames in bytes queued for a client: all of them, and those that answer a request
/// (all but notifications, xid -1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frames {
    pub all: u64,
    pub replies: usize,
}

/// The payloads of the reply frames in `bytes` (every frame but notifications, xid -1).
pub fn reply_payloads(mut bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        loop {
            let len = u32::from_be_bytes(*bytes.first_chunk::<4>()?) as usize;
            let payload = bytes.get(4..(4 + len).min(bytes.len()))?;
            bytes = bytes.get(4 + len..).unwrap_or_default();
            if payload.first_chunk::<4>().map(|x| i32::from_be_bytes(*x)) != Some(-1) {
                return Some(payload);
            }
        }
    })
}

/// Counts the length-prefixed frames in `bytes`.
pub fn count_frames(mut bytes: &[u8]) -> Frames {
    let mut frames = Frames::default();
    while let Some(len) = bytes.first_chunk::<4>().map(|l| u32::from_be_bytes(*l) as usize) {
        let payload = bytes.get(4..).unwrap_or_default();
        frames.all += 1;
        if payload.first_chunk::<4>().map(|x| i32::from_be_bytes(*x)) != Some(-1) {
            frames.replies += 1;
        }
        bytes = bytes.get(4 + len..).unwrap_or_default();
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_counted_and_notifications_are_not_replies() {
        assert_eq!(count_frames(&[]), Frames::default());
        assert_eq!(count_frames(&[0, 0, 0, 2, 7, 7, 0, 0, 0, 0, 0, 0, 0, 1, 9]), Frames { all: 3, replies: 3 });
        let mut bytes = Vec::new();
        for xid in [5i32, -1, -2, 6] {
            bytes.extend_from_slice(&16u32.to_be_bytes());
            bytes.extend_from_slice(&xid.to_be_bytes());
            bytes.extend_from_slice(&[0u8; 12]);
        }
        assert_eq!(count_frames(&bytes), Frames { all: 4, replies: 3 });
        let xids: Vec<i32> = reply_payloads(&bytes).map(|p| i32::from_be_bytes(p[..4].try_into().unwrap())).collect();
        assert_eq!(xids, [5, -2, 6]);
    }

    #[test]
    fn no_permit_outlives_its_connection() {
        let budget = Arc::new(Semaphore::new(3));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let conn = InNode::new(Arc::clone(&budget));
        assert!(rt.block_on(async { conn.enter().await && conn.enter().await }));
        assert_eq!(budget.available_permits(), 1);
        conn.answered(5);
        assert_eq!(budget.available_permits(), 3, "never more back than were taken");
        assert!(rt.block_on(async { conn.enter().await && conn.enter().await && conn.enter().await }));
        conn.answered(1);
        assert_eq!(budget.available_permits(), 1);
        conn.release_all();
        conn.answered(2);
        assert_eq!(budget.available_permits(), 3);
    }
}

/// What the node task hears.
#[derive(Debug)]
pub enum Event {
    Connected {
        conn: u64,
        addr: SocketAddr,
        /// The subject of the client certificate a TLS connection showed, if any.
        x509: Option<String>,
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
        /// The mask that follows `stmk`.
        mask: Option<i64>,
        reply: oneshot::Sender<String>,
    },
    /// An AdminServer command by name or alias, with its query arguments; answered as JSON.
    Admin {
        command: String,
        args: Vec<(String, String)>,
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// The Prometheus exposition (`GET /metrics`).
    Metrics {
        reply: oneshot::Sender<String>,
    },
    /// Whether the server serves (`/ready`); any answer at all shows the node task is alive
    /// (`/live`).
    Probe {
        reply: oneshot::Sender<bool>,
    },
    Shutdown,
}
