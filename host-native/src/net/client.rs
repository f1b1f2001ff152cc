//! The client port: accepts connections, answers four-letter words, splits the byte stream
//! into frames for the node task, and writes what the node sends back.
//!
//! Each connection has a reader (frames in) and a writer (bytes out). A client that sends
//! garbage, an oversized frame or nothing useful only loses its own connection.
//!
//! Connections are admitted when accepted, before anything is read: at most `maxCnxns` in all
//! and `maxClientCnxns` from one address (ZooKeeper's two limits), and one that has not sent
//! its whole first frame (a ConnectRequest or a four-letter word) within
//! [`HANDSHAKE_DEADLINE`] is closed, so a client that opens connections and sends nothing
//! (slowloris) holds no slot for long.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::{debug, warn};
use zabkeeper_core::wire::{FourLetterWord, FrameDecoder};

use tokio_rustls::TlsAcceptor;

use super::Throttle;
use super::tls::{self, Live};
use crate::event::{ClientLink, Event, InNode, Outbound, count_frames};

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Requests a connection may have waiting for their replies before the server stops reading
/// from it (backpressure, like ZooKeeper's outstanding-request limit): a client that pipelines
/// without bound, or stops reading its replies, slows itself down and no one else.
const OUTSTANDING_MAX: usize = 1000;

/// How long a new connection may take to send its first whole frame (ZooKeeper closes a
/// connection without a session after 10 s, `zookeeper.nio.sessionlessCnxnTimeout`).
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// What the client port admits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest frame (`jute.maxbuffer`).
    pub max_frame: usize,
    /// Connections in all; 0: no limit (`maxCnxns`).
    pub max_cnxns: usize,
    /// Connections from one address; 0: no limit (`maxClientCnxns`).
    pub max_per_address: usize,
    /// See [`HANDSHAKE_DEADLINE`].
    pub handshake: Duration,
    /// Requests handed to the node and not yet answered, over all connections
    /// (`globalOutstandingLimit`, 1000 as in ZooKeeper): past it the server reads no more
    /// requests from any connection until the node answers some.
    pub global_outstanding: usize,
}

/// The connections open now, in all and per address.
#[derive(Default)]
struct Open {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// A connection's place in [`Open`], given back when it ends.
struct Admitted {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            open.total -= 1;
            if let Some(n) = open.per_address.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    open.per_address.remove(&self.ip);
                }
            }
        }
    }
}

/// Takes a connection from `ip` in, or says which limit it is over.
fn admit(open: &Arc<Mutex<Open>>, limits: &Limits, ip: IpAddr) -> Result<Admitted, &'static str> {
    let mut table = open.lock().map_err(|_| "connection table poisoned")?;
    if limits.max_cnxns != 0 && table.total >= limits.max_cnxns {
        return Err("maxCnxns");
    }
    let from_ip = table.per_address.get(&ip).copied().unwrap_or(0);
    if limits.max_per_address != 0 && from_ip >= limits.max_per_address {
        return Err("maxClientCnxns");
    }
    table.total += 1;
    *table.per_address.entry(ip).or_insert(0) += 1;
    Ok(Admitted { open: Arc::clone(open), ip })
}

/// What the client ports share: the connection counts and the outstanding-request budget.
#[derive(Clone)]
pub struct Shared {
    open: Arc<Mutex<Open>>,
    budget: Arc<Semaphore>,
}

impl Shared {
    pub fn new(limits: &Limits) -> Shared {
        let budget = Semaphore::new(limits.global_outstanding.min(Semaphore::MAX_PERMITS));
        Shared { open: Arc::default(), budget: Arc::new(budget) }
    }
}

/// What a client port speaks.
#[derive(Clone)]
pub enum Security {
    Plain,
    /// Only TLS (`secureClientPort`).
    Tls(Arc<Live<TlsAcceptor>>),
    /// Both, told apart by the first byte (`client.portUnification`).
    Unified(Arc<Live<TlsAcceptor>>),
}

/// Accepts clients until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    events: mpsc::UnboundedSender<Event>,
    limits: Limits,
    shared: Shared,
    security: Security,
) {
    let Shared { open, budget } = shared;
    let (mut accept_failures, mut refusals) = (Throttle::default(), Throttle::default());
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (EMFILE, ENFILE) or a transient error: pause instead of
                // spinning, so the connections already open keep being served.
                if let Some(held) = accept_failures.ready(Instant::now()) {
                    warn!(error = %e, held, "client port cannot accept; pausing");
                }
                tokio::time::sleep(super::ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let admitted = match admit(&open, &limits, addr.ip()) {
            Ok(admitted) => admitted,
            Err(limit) => {
                if let Some(held) = refusals.ready(Instant::now()) {
                    warn!(%addr, limit, held, "too many connections; closed");
                }
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let events = events.clone();
        let in_node = Arc::new(InNode::new(Arc::clone(&budget)));
        let security = security.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            let handshake_by = tokio::time::Instant::now() + limits.handshake;
            let result = match secure(stream, &security, handshake_by).await {
                Ok(Stream::Plain(stream)) => {
                    let (reader, writer) = stream.into_split();
                    let peer = Peer { addr, x509: None };
                    connection(reader, writer, peer, events, limits, handshake_by, in_node).await
                }
                Ok(Stream::Tls(stream)) => {
                    let certificate = stream.get_ref().1.peer_certificates().and_then(|chain| chain.first());
                    let peer = Peer { addr, x509: certificate.and_then(|c| tls::subject(c)) };
                    let (reader, writer) = tokio::io::split(*stream);
                    connection(reader, writer, peer, events, limits, handshake_by, in_node).await
                }
                Err(why) => {
                    debug!(%addr, why, "no TLS session; closed");
                    Ok(())
                }
            };
            if let Err(e) = result {
                debug!(%addr, error = %e, "client connection ended");
            }
        });
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// The connection as its port speaks it: TLS is set up within the handshake deadline.
async fn secure(stream: TcpStream, security: &Security, by: tokio::time::Instant) -> Result<Stream, &'static str> {
    let acceptor = match security {
        Security::Plain => return Ok(Stream::Plain(stream)),
        Security::Tls(acceptor) => acceptor,
        Security::Unified(acceptor) => {
            let mut first = [0u8; 1];
            let peeked = tokio::time::timeout_at(by, stream.peek(&mut first)).await;
            match peeked {
                Ok(Ok(1)) if first[0] == tls::HANDSHAKE_RECORD => acceptor,
                Ok(Ok(1)) => return Ok(Stream::Plain(stream)),
                Ok(_) => return Err("closed before its first byte"),
                Err(_) => return Err("nothing sent within the handshake deadline"),
            }
        }
    };
    match tokio::time::timeout_at(by, acceptor.get().accept(stream)).await {
        Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tls))),
        Ok(Err(_)) => Err("TLS handshake failed"),
        Err(_) => Err("TLS handshake not done within the handshake deadline"),
    }
}

/// Who is on the other end of a connection.
struct Peer {
    addr: SocketAddr,
    /// The subject of its client certificate (TLS only).
    x509: Option<String>,
}

async fn connection<R, W>(
    mut reader: R,
    mut writer: W,
    peer: Peer,
    events: mpsc::UnboundedSender<Event>,
    limits: Limits,
    handshake_by: tokio::time::Instant,
    in_node: Arc<InNode>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let addr = peer.addr;
    let mut first = Vec::with_capacity(4096);
    // The first four bytes decide: a four-letter word, or the length of a ConnectRequest.
    while first.len() < 4 {
        let mut buf = [0u8; 4096];
        let Ok(read) = tokio::time::timeout_at(handshake_by, reader.read(&mut buf)).await else {
            debug!(%addr, "nothing sent within the handshake deadline; closed");
            return Ok(());
        };
        let n = read?;
        if n == 0 {
            return Ok(());
        }
        first.extend_from_slice(&buf[..n]);
    }
    if let Some(word) = FourLetterWord::parse(&[first[0], first[1], first[2], first[3]]) {
        // `stmk` is followed by the new mask, a big-endian long; without it, nothing is set.
        let mut mask = None;
        if word == FourLetterWord::Stmk {
            while first.len() < 12 {
                let mut buf = [0u8; 64];
                match tokio::time::timeout_at(handshake_by, reader.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => first.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            mask = first.get(4..12).map(|b| i64::from_be_bytes(b.try_into().unwrap_or_default()));
        }
        let (reply, answer) = oneshot::channel();
        if events.send(Event::Word { word, mask, reply }).is_ok()
            && let Ok(text) = answer.await
        {
            super::send_all(&mut writer, text.as_bytes()).await?;
        }
        writer.shutdown().await?;
        return Ok(());
    }
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let abort = Arc::new(tokio::sync::Notify::new());
    let link = ClientLink {
        out: out_tx,
        queued: Arc::clone(&queued),
        abort: Arc::clone(&abort),
        in_node: Arc::clone(&in_node),
    };
    if events.send(Event::Connected { conn, addr, x509: peer.x509, link }).is_err() {
        return Ok(());
    }
    let (done, mut writer_done) = oneshot::channel::<()>();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(OUTSTANDING_MAX));
    let returned = permits.clone();
    let write_half = tokio::spawn(async move {
        let _done = done;
        let mut closing = false;
        while let Some(out) = out_rx.recv().await {
            let Outbound::Bytes(mut bytes) = out else { break };
            // Whatever else is queued goes out in the same write.
            while bytes.len() < 1 << 20 {
                match out_rx.try_recv() {
                    Ok(Outbound::Bytes(more)) => bytes.extend_from_slice(&more),
                    Ok(Outbound::Close) => {
                        closing = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            tokio::select! {
                written = super::send_all(&mut writer, &bytes) => if written.is_err() { break },
                // The node gave up on a client that does not read.
                _ = abort.notified() => break,
            }
            queued.fetch_sub(bytes.len(), Ordering::Relaxed);
            returned.add_permits(count_frames(&bytes).replies);
            if closing {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut decoder = FrameDecoder::new(limits.max_frame);
    let mut handshaken = false;
    decoder.push(&first);
    let mut buf = vec![0u8; 64 * 1024];
    let result = 'read: loop {
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    handshaken = true;
                    let payload = frame.to_vec();
                    // A permit of the connection's own bound, then one of the server's.
                    tokio::select! {
                        permit = permits.acquire() => match permit {
                            Ok(permit) => permit.forget(),
                            Err(_) => break 'read Ok(()),
                        },
                        _ = &mut writer_done => break 'read Ok(()),
                    }
                    tokio::select! {
                        entered = in_node.enter() => if !entered { break 'read Ok(()) },
                        _ = &mut writer_done => break 'read Ok(()),
                    }
                    if events.send(Event::Frame { conn, payload }).is_err() {
                        break 'read Ok(());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    debug!(%addr, error = ?e, "bad frame; closing");
                    break 'read Ok(());
                }
            }
        }
        // Until its ConnectRequest is whole, a connection reads against the handshake deadline.
        let deadline = if handshaken { None } else { Some(handshake_by) };
        tokio::select! {
            n = reader.read(&mut buf) => match n {
                Ok(0) => break 'read Ok(()),
                Ok(n) => decoder.push(&buf[..n]),
                Err(e) => break 'read Err(e),
            },
            // The node closed the connection: stop reading too.
            _ = &mut writer_done => break 'read Ok(()),
            _ = async { tokio::time::sleep_until(deadline.unwrap_or(handshake_by)).await }, if deadline.is_some() => {
                debug!(%addr, "no whole ConnectRequest within the handshake deadline; closed");
                break 'read Ok(());
            }
        }
    };
    let _ = events.send(Event::Disconnected { conn });
    in_node.release_all();
    if !write_half.is_finished() {
        // The client went away: let the writer drain what is queued, then stop.
        tokio::time::timeout(std::time::Duration::from_secs(1), write_half).await.ok();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_counts_in_all_and_per_address_and_gives_back_on_drop() {
        let limits = Limits {
            max_frame: 1024,
            max_cnxns: 3,
            max_per_address: 2,
            handshake: HANDSHAKE_DEADLINE,
            global_outstanding: 1000,
        };
        let open: Arc<Mutex<Open>> = Arc::default();
        let (a, b) = (IpAddr::from([127, 0, 0, 1]), IpAddr::from([127, 0, 0, 2]));
        let first = admit(&open, &limits, a).unwrap();
        let _second = admit(&open, &limits, a).unwrap();
        assert_eq!(admit(&open, &limits, a).err(), Some("maxClientCnxns"));
        let _third = admit(&open, &limits, b).unwrap();
        assert_eq!(admit(&open, &limits, b).err(), Some("maxCnxns"));
        drop(first);
        assert!(admit(&open, &limits, a).is_ok(), "a closed connection frees its slot");
        let unlimited = Limits { max_cnxns: 0, max_per_address: 0, ..limits };
        assert!((0..100).all(|_| admit(&open, &unlimited, a).map(std::mem::forget).is_ok()));
    }
}
