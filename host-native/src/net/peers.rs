//! Links between the servers of an ensemble: TCP on each server's quorum port.
//!
//! Every server dials every other one and sends only on the connection it dialed; it only
//! receives on connections it accepted. A connection opens with a handshake in which the
//! dialer says which member it is and, when the members hold a secret, both sides prove that
//! they hold it ([`super::auth`]); nothing a peer sends is read before that. Then each frame
//! is `length u32 LE | crc32c u32 LE | postcard(PeerMessage)`. Zab copes with lost, repeated and reordered messages, so a broken
//! link simply drops what was queued and redials with back-off; a peer that sends anything
//! malformed is disconnected and nothing else is harmed.
//!
//! A link that breaks (end of stream or an error on the newest connection accepted from a
//! peer, a failed write or a refused dial towards it) is reported to the node as
//! [`Event::LinkDown`]: a follower whose leader's process is gone learns it at once instead of
//! after syncLimit.
//!
//! A link whose packets are silently dropped (a partition, a cable pulled) is noticed too:
//! every peer socket has a TCP user timeout and keepalive probes of [`Liveness::dead_after`],
//! so data left unacknowledged, or an idle link whose probes go unanswered, breaks the
//! connection within about that time, and the dialer redials (each dial bounded by
//! [`DIAL_TIMEOUT`]) until the peer answers again. Without this a link stays in TCP's
//! retransmission back-off for about as long as the partition lasted. When a link comes up,
//! the last vote queued for that peer is sent again (votes queued while it was down were
//! dropped): a member still looking after a partition heals is heard at once, not at its
//! next vote re-send, whose interval grows to a minute.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use zabkeeper_core::encode::append_postcard;
use zabkeeper_core::ids::ServerId;
use zabkeeper_core::server::PeerMessage;
use zabkeeper_core::zab::Message;

use super::auth::{self, HANDSHAKE_TIMEOUT, Proven, QuorumAuth, Refused};
use super::tls::{self, Live, QuorumTls, server_name};
use super::{ACCEPT_BACKOFF, Throttle};
use crate::event::Event;

/// Large enough for a SNAP of a big tree.
const MAX_FRAME: usize = 512 * 1024 * 1024;
/// A frame's buffer grows by what arrives, from at most this much.
const READ_CHUNK: usize = 64 * 1024;
/// Messages queued for a peer that is down before new ones are dropped.
const QUEUE_MAX: usize = 65_536;
/// How long one attempt to dial a peer may take (its SYNs may be dropped by a partition).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait between two dials of a peer that does not answer.
const REDIAL_MAX: Duration = Duration::from_secs(2);

/// When a peer link that carries nothing through counts as broken.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    /// Data unacknowledged this long, or an idle link unanswered this long, breaks it.
    pub dead_after: Duration,
}

impl Liveness {
    /// syncLimit ticks (the time after which Zab gives up on a peer anyway), kept between 2 s
    /// (so that a lossy but working network does not break links) and 30 s.
    pub fn from_limits(tick_ms: u64, sync_limit: u64) -> Liveness {
        let ms = tick_ms.saturating_mul(sync_limit).clamp(2_000, 30_000);
        Liveness { dead_after: Duration::from_millis(ms) }
    }

    /// Applies the user timeout and keepalive probes to a peer socket.
    fn apply(self, stream: &TcpStream) {
        let sock = socket2::SockRef::from(stream);
        let _ = stream.set_nodelay(true);
        // Keepalive counts in whole seconds: idle a third of the time, then probe every third.
        let third = Duration::from_secs((self.dead_after.as_secs() / 3).max(1));
        let probes = socket2::TcpKeepalive::new().with_time(third).with_interval(third).with_retries(3);
        if let Err(e) = sock.set_tcp_keepalive(&probes).and_then(|()| sock.set_tcp_user_timeout(Some(self.dead_after)))
        {
            debug!(error = %e, "peer socket options not set");
        }
    }
}

/// A peer connection, in the clear or over TLS (`sslQuorum`).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type PeerStream = Box<dyn Io>;

/// How a member's links are secured: the membership proof, and TLS if configured.
#[derive(Clone, Debug)]
pub struct Security {
    /// The quorum secret, reloaded when its file changes.
    pub auth: Arc<Live<QuorumAuth>>,
    pub tls: Option<Arc<Live<QuorumTls>>>,
    /// The host of each member's `server.N` line, which its certificate must name (with TLS
    /// and hostname verification).
    pub hosts: Arc<BTreeMap<ServerId, String>>,
}

/// A member to dial: its id, address and the host its `server.N` line names (for TLS).
#[derive(Clone, Debug)]
pub struct Peer {
    pub id: ServerId,
    pub addr: SocketAddr,
    pub host: String,
}

/// The sending side: one queue per peer, drained by a task that keeps a connection up.
pub struct Links {
    queues: BTreeMap<ServerId, mpsc::Sender<PeerMessage>>,
}

impl Links {
    /// Starts a dialer per peer. `me` is this server's id.
    pub fn start(
        me: ServerId,
        peers: Vec<Peer>,
        liveness: Liveness,
        security: Security,
        events: mpsc::UnboundedSender<Event>,
    ) -> Links {
        let mut queues = BTreeMap::new();
        for peer in peers {
            let (tx, rx) = mpsc::channel(QUEUE_MAX);
            queues.insert(peer.id, tx);
            let link =
                Link { me, peer: peer.id, addr: peer.addr, host: peer.host, liveness, security: security.clone() };
            tokio::spawn(dialer(link, rx, events.clone()));
        }
        Links { queues }
    }

    /// Queues a message; dropped if the peer's queue is full (it is down or far behind).
    pub fn send(&self, to: ServerId, msg: PeerMessage) {
        if let Some(queue) = self.queues.get(&to)
            && queue.try_send(msg).is_err()
        {
            debug!(peer = %to, "peer queue full; message dropped");
        }
    }
}

/// Appends one frame (length, CRC32C, postcard payload) to `out`, encoding in place.
pub fn encode(msg: &PeerMessage, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    if append_postcard(msg, out).is_err() || out.len() - start - 8 > MAX_FRAME {
        out.truncate(start);
        return false;
    }
    let len = out.len() - start - 8;
    let crc = crc32c::crc32c(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    true
}

/// The last vote taken from a peer's queue, sent again when its link comes up.
fn note_vote(msg: &PeerMessage, last_vote: &mut Option<PeerMessage>) {
    if let PeerMessage::Zab(Message::Vote(_)) = msg {
        *last_vote = Some(msg.clone());
    }
}

async fn dial(addr: SocketAddr) -> Option<TcpStream> {
    match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => Some(stream),
        _ => None,
    }
}

/// Who dials whom, and how.
struct Link {
    me: ServerId,
    peer: ServerId,
    addr: SocketAddr,
    host: String,
    liveness: Liveness,
    security: Security,
}

impl Link {
    /// Dials the peer, with TLS if configured, and makes the membership handshake.
    async fn open(&self, first: &[u8]) -> Result<(PeerStream, Proven), Refused> {
        let tcp = dial(self.addr).await.ok_or(Refused::Unreachable)?;
        self.liveness.apply(&tcp);
        let tls = self.security.tls.as_ref().map(|t| t.get()).filter(|t| t.dial);
        let mut stream: PeerStream = match tls {
            None => Box::new(tcp),
            Some(tls) => {
                let name = server_name(&self.host).map_err(|_| Refused::Tls)?;
                let connecting = tls.connector.connect(name, tcp);
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
                    Ok(Ok(stream)) => Box::new(stream),
                    _ => return Err(Refused::Tls),
                }
            }
        };
        let proven = auth::dial(&mut stream, &self.security.auth.get(), self.me, self.peer, first).await?;
        Ok((stream, proven))
    }
}

async fn dialer(link: Link, mut rx: mpsc::Receiver<PeerMessage>, events: mpsc::UnboundedSender<Event>) {
    let (peer, addr) = (link.peer, link.addr);
    let mut backoff = Duration::from_millis(50);
    let mut last_vote = None;
    let mut refusals = Throttle::default();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if let Some(vote) = &last_vote {
            encode(vote, &mut buf);
        }
        let dialed = match link.open(&buf).await {
            Ok(open) => Some(open),
            // Nobody answers there: no log line, it is down.
            Err(Refused::Unreachable) => None,
            Err(why) => {
                if let Some(held) = refusals.ready(Instant::now()) {
                    warn!(%peer, %addr, %why, held, "peer link refused in its handshake");
                }
                None
            }
        };
        let Some((mut stream, proven)) = dialed else {
            let _ = events.send(Event::LinkDown { peer });
            // Drop what piled up while the peer is unreachable: Zab resends what matters (and
            // the last vote goes out again once the link is up).
            while let Ok(msg) = rx.try_recv() {
                note_vote(&msg, &mut last_vote);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(REDIAL_MAX);
            continue;
        };
        info!(%peer, %addr, proven = proven == Proven::Yes, "peer link up");
        backoff = Duration::from_millis(50);
        loop {
            let Some(msg) = rx.recv().await else { return };
            buf.clear();
            note_vote(&msg, &mut last_vote);
            if !encode(&msg, &mut buf) {
                warn!(%peer, "message too large to send; dropped");
                continue;
            }
            // Batch whatever else is queued into the same write.
            while buf.len() < 1 << 20 {
                match rx.try_recv() {
                    Ok(more) => {
                        note_vote(&more, &mut last_vote);
                        encode(&more, &mut buf);
                    }
                    Err(_) => break,
                }
            }
            if super::send_all(&mut stream, &buf).await.is_err() {
                info!(%peer, "peer link down");
                let _ = events.send(Event::LinkDown { peer });
                break;
            }
        }
    }
}

/// Accepts peers' connections on the quorum port and feeds their messages to the node.
pub async fn listen(
    listener: TcpListener,
    me: ServerId,
    members: Vec<ServerId>,
    liveness: Liveness,
    security: Security,
    events: mpsc::UnboundedSender<Event>,
) {
    // The newest connection accepted from each peer: only its end says the link broke (an
    // older one ending after the peer reconnected says nothing about the peer now).
    let newest: Arc<Mutex<BTreeMap<ServerId, u64>>> = Arc::default();
    let refusals: Arc<Mutex<Throttle>> = Arc::default();
    let mut accept_failures = Throttle::default();
    let members: Arc<[ServerId]> = members.into();
    loop {
        let (tcp, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                if let Some(held) = accept_failures.ready(Instant::now()) {
                    warn!(error = %e, held, "quorum port cannot accept; pausing");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        liveness.apply(&tcp);
        let events = events.clone();
        let members = Arc::clone(&members);
        let newest = Arc::clone(&newest);
        let refusals = Arc::clone(&refusals);
        let security = security.clone();
        tokio::spawn(async move {
            let auth = &security.auth.get();
            // With TLS and hostname verification: the certificate the peer showed, to be
            // checked against the member it claims to be.
            let mut shown = None;
            let tls = match security.tls.as_ref().map(|t| t.get()) {
                Some(tls) if tls.unified => match speaks_tls(&tcp).await {
                    Ok(true) => Some(tls),
                    Ok(false) => None,
                    Err(why) => {
                        debug!(%addr, why, "peer connection dropped before its first byte");
                        return;
                    }
                },
                other => other,
            };
            let accepted = match tls {
                None => Ok(Box::new(tcp) as PeerStream),
                Some(tls) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        if tls.bind_members {
                            shown = Some(stream.get_ref().1.peer_certificates().and_then(|c| c.first()).cloned());
                        }
                        Ok(Box::new(stream) as PeerStream)
                    }
                    Ok(Err(e)) => {
                        debug!(%addr, error = %e, "peer TLS handshake failed");
                        Err(Refused::Tls)
                    }
                    Err(_) => Err(Refused::Timeout),
                },
            };
            let handshake = match accepted {
                Ok(mut stream) => auth::accept(&mut stream, auth, me, &members).await.map(|ok| (stream, ok)),
                Err(why) => Err(why),
            };
            // Nothing it sends is read before this holds.
            let handshake = handshake.and_then(|(stream, (from, proven))| match &shown {
                Some(cert) => {
                    let host = security.hosts.get(&from).map(String::as_str).unwrap_or("");
                    if cert.as_ref().is_some_and(|c| tls::is_for_host(c, host)) {
                        Ok((stream, (from, proven)))
                    } else {
                        Err(Refused::NotThatMember(from))
                    }
                }
                None => Ok((stream, (from, proven))),
            });
            let (stream, (from, proven)) = match handshake {
                Ok(accepted) => accepted,
                Err(why) => {
                    let held = refusals.lock().ok().and_then(|mut t| t.ready(Instant::now()));
                    if let Some(held) = held {
                        warn!(%addr, %why, held, "peer connection refused in its handshake");
                    }
                    return;
                }
            };
            if proven == Proven::No && auth.has_secret() {
                debug!(%addr, peer = %from, "peer without a quorum secret accepted (quorum.auth.requireSecret=false)");
            }
            let generation = {
                let Ok(mut newest) = newest.lock() else { return };
                let n = newest.entry(from).or_insert(0);
                *n += 1;
                *n
            };
            if let Err(why) = receive(stream, from, &events).await {
                debug!(%addr, why, "peer connection dropped");
            }
            let current = newest.lock().map(|n| n.get(&from) == Some(&generation)).unwrap_or(false);
            if current {
                let _ = events.send(Event::LinkDown { peer: from });
            }
        });
    }
}

/// `portUnification`: whether a peer's first byte opens a TLS handshake (the membership
/// hello opens with the magic instead).
async fn speaks_tls(tcp: &TcpStream) -> Result<bool, &'static str> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first)).await {
        Ok(Ok(1)) => Ok(first[0] == tls::HANDSHAKE_RECORD),
        Ok(_) => Err("closed"),
        Err(_) => Err("nothing sent in time"),
    }
}

/// Reads the frames of one accepted connection whose handshake checked out.
async fn receive(
    stream: PeerStream,
    from: ServerId,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<(), &'static str> {
    // Many small frames arrive back to back: read them from a buffer, not a syscall each.
    let mut stream = tokio::io::BufReader::with_capacity(64 * 1024, stream);
    let mut header = [0u8; 8];
    loop {
        if stream.read_exact(&mut header).await.is_err() {
            return Ok(());
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_FRAME {
            return Err("oversized frame");
        }
        // Read as it arrives: a frame announcing a large length costs memory only for the
        // bytes really sent.
        let mut payload = Vec::with_capacity(len.min(READ_CHUNK));
        (&mut stream).take(len as u64).read_to_end(&mut payload).await.map_err(|_| "closed mid-frame")?;
        if payload.len() != len {
            return Err("closed mid-frame");
        }
        if crc32c::crc32c(&payload) != crc {
            return Err("checksum mismatch");
        }
        let msg: PeerMessage = postcard::from_bytes(&payload).map_err(|_| "undecodable message")?;
        if events.send(Event::Peer { from, msg }).is_err() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zabkeeper_core::ids::Zxid;

    #[test]
    fn frames_carry_length_checksum_and_message() {
        let msg = PeerMessage::Zab(Message::Ping { epoch: 3, committed: Zxid::new(3, 9) });
        let mut out = Vec::new();
        assert!(encode(&msg, &mut out));
        let len = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(out.len(), 8 + len);
        assert_eq!(crc32c::crc32c(&out[8..]), u32::from_le_bytes(out[4..8].try_into().unwrap()));
        assert_eq!(postcard::from_bytes::<PeerMessage>(&out[8..]).unwrap(), msg);
    }
}
