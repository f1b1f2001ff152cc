//! One ZooKeeper session over TCP for the bench: the handshake, single calls and pipelined
//! batches for setup and cleanup, and closeSession. The load loop takes the connection apart
//! and drives it itself (see `client.rs`).

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use zabkeeper_core::wire::records::ReplyHeader;
use zabkeeper_core::wire::{
    ConnectResponse, DEFAULT_MAX_FRAME, FrameDecoder, Jute, NOTIFICATION_XID, Reader, Request, Response, write_frame,
};

/// The session timeout the handshake asks for; the server may grant less.
pub const SESSION_TIMEOUT_MS: i32 = 30_000;
/// How long setup and cleanup wait for any one reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a goodbye (closeSession) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes asked of the socket per read.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// A connection, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connected session.
pub struct Session {
    pub stream: Box<dyn Io>,
    pub frames: FrameDecoder,
    pub read_buf: Vec<u8>,
    pub session_id: i64,
    /// The next xid to use.
    pub xid: i32,
}

impl Session {
    /// Connects and shakes hands, within `REPLY_TIMEOUT`.
    pub async fn connect(addr: SocketAddr, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Session, String> {
        tokio::time::timeout(REPLY_TIMEOUT, Session::handshake(addr, tls))
            .await
            .map_err(|_| format!("{addr}: no handshake within {}s", REPLY_TIMEOUT.as_secs()))?
    }

    async fn handshake(addr: SocketAddr, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Session, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        // Requests are small and latency is what we measure: no Nagle delay.
        tcp.set_nodelay(true).map_err(|e| format!("{addr}: {e}"))?;
        let stream: Box<dyn Io> = match tls {
            None => Box::new(tcp),
            Some(config) => {
                let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
                Box::new(connector.connect(name, tcp).await.map_err(|e| format!("{addr}: TLS: {e}"))?)
            }
        };
        let mut session = Session {
            stream,
            frames: FrameDecoder::new(DEFAULT_MAX_FRAME),
            read_buf: vec![0; READ_CHUNK_BYTES],
            session_id: 0,
            xid: 1,
        };
        let hello = crate::tools::new_session(SESSION_TIMEOUT_MS);
        let mut out = Vec::new();
        write_frame(&mut out, |b| hello.encode(b));
        crate::net::send_all(&mut session.stream, &out).await.map_err(|e| format!("{addr}: {e}"))?;
        let frame = session.next_frame().await.map_err(|e| format!("{addr}: {e}"))?;
        let answer = ConnectResponse::decode(&frame).map_err(|e| format!("{addr}: bad handshake reply: {e}"))?;
        if answer.timeout_ms <= 0 || answer.session_id == 0 {
            return Err(format!("{addr}: the server refused the session"));
        }
        session.session_id = answer.session_id;
        Ok(session)
    }

    /// The next whole frame, reading from the socket as needed.
    async fn next_frame(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(frame) = self.frames.next_frame().map_err(|e| e.to_string())? {
                return Ok(frame.to_vec());
            }
            let n = self.stream.read(&mut self.read_buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            self.frames.push(self.read_buf.get(..n).unwrap_or_default());
        }
    }

    /// The next reply that is not a notification: its header and body bytes.
    async fn next_reply(&mut self) -> Result<(ReplyHeader, Vec<u8>), String> {
        loop {
            let frame = tokio::time::timeout(REPLY_TIMEOUT, self.next_frame())
                .await
                .map_err(|_| format!("no reply within {}s", REPLY_TIMEOUT.as_secs()))??;
            let mut r = Reader::new(&frame);
            let header = ReplyHeader::read(&mut r).map_err(|e| format!("bad reply: {e}"))?;
            if header.xid != NOTIFICATION_XID {
                let body = r.rest().to_vec();
                return Ok((header, body));
            }
        }
    }

    fn take_xid(&mut self) -> i32 {
        let xid = self.xid;
        self.xid = self.xid.wrapping_add(1).max(1);
        xid
    }

    /// Sends one request and waits for its reply: the error code and the decoded body.
    pub async fn call(&mut self, request: &Request) -> Result<(i32, Response), String> {
        let xid = self.take_xid();
        let mut out = Vec::new();
        write_frame(&mut out, |b| request.encode(xid, b));
        crate::net::send_all(&mut self.stream, &out).await.map_err(|e| e.to_string())?;
        let (header, body) = self.next_reply().await?;
        if header.xid != xid {
            return Err(format!("reply to xid {} while waiting for {xid}", header.xid));
        }
        let response = Response::read(request.opcode(), header.err, &mut Reader::new(&body))
            .map_err(|e| format!("bad reply body: {e}"))?;
        Ok((header.err, response))
    }

    /// Sends every request with at most `depth` in flight; the error code of each, in order.
    pub async fn pipelined(
        &mut self,
        requests: impl IntoIterator<Item = Request>,
        depth: usize,
    ) -> Result<Vec<i32>, String> {
        let mut requests = requests.into_iter();
        let mut in_flight = std::collections::VecDeque::with_capacity(depth);
        let mut codes = Vec::new();
        let mut out = Vec::new();
        loop {
            while in_flight.len() < depth.max(1) {
                let Some(request) = requests.next() else { break };
                let xid = self.take_xid();
                write_frame(&mut out, |b| request.encode(xid, b));
                in_flight.push_back(xid);
            }
            if !out.is_empty() {
                crate::net::send_all(&mut self.stream, &out).await.map_err(|e| e.to_string())?;
                out.clear();
            }
            let Some(expected) = in_flight.pop_front() else { return Ok(codes) };
            let (header, _) = self.next_reply().await?;
            if header.xid != expected {
                return Err(format!("reply to xid {} while waiting for {expected}", header.xid));
            }
            codes.push(header.err);
        }
    }

    /// Ends the session politely; a server that does not answer in time is left to expire it.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.call(&Request::CloseSession)).await;
    }
}
