//! The CLI's ZooKeeper session: blocking calls over one TCP connection, a reader thread that
//! hands replies back and prints watch events the moment they arrive (as zkCli's event
//! thread does), and a pinger that keeps the session alive while the prompt waits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zabkeeper_core::wire::records::{ReplyHeader, WatcherEvent};
use zabkeeper_core::wire::{
    AUTH_XID, ConnectResponse, DEFAULT_MAX_FRAME, Jute, NOTIFICATION_XID, PING_XID, Reader, Request, Response,
    write_frame,
};

/// The session timeout asked for (zkCli's default).
pub const SESSION_TIMEOUT_MS: i32 = 30_000;
/// How long a call waits for its reply.
pub const REPLY_DEADLINE: Duration = Duration::from_secs(30);
/// Replies read and not yet taken by the caller, at most.
const REPLIES_QUEUED_MAX: usize = 64;

/// A watch event, printed as zkCli prints it.
pub fn event_text(state: i32, event_type: i32, path: Option<&str>) -> String {
    let state = match state {
        0 => "Disconnected",
        3 => "SyncConnected",
        5 => "ConnectedReadOnly",
        6 => "SaslAuthenticated",
        7 => "Closed",
        -112 => "Expired",
        4 => "AuthFailed",
        _ => "Unknown",
    };
    let kind = match event_type {
        -1 => "None",
        1 => "NodeCreated",
        2 => "NodeDeleted",
        3 => "NodeDataChanged",
        4 => "NodeChildrenChanged",
        5 => "DataWatchRemoved",
        6 => "ChildWatchRemoved",
        7 => "PersistentWatchRemoved",
        _ => "Unknown",
    };
    format!("\nWATCHER::\n\nWatchedEvent state:{state} type:{kind} path:{}", path.unwrap_or("null"))
}

/// One session.
pub struct Session {
    pub server: String,
    pub session_id: i64,
    pub timeout_ms: i32,
    writer: Arc<Mutex<TcpStream>>,
    replies: Receiver<Result<(ReplyHeader, Vec<u8>), String>>,
    xid: i32,
    /// What watch events are printed to (stdout, or nothing in --json mode).
    pub events_printed: bool,
}

fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "the server closed the connection (is it serving?)".to_string(),
        _ => e.to_string(),
    })?;
    let len = u32::from_be_bytes(len) as usize;
    if len > DEFAULT_MAX_FRAME {
        return Err(format!("a reply of {len} bytes is above the frame limit"));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(body)
}

impl Session {
    /// Connects to `server` (host:port) and opens a session.
    pub fn open(server: &str, print_events: bool) -> Result<Session, String> {
        let addr: SocketAddr = server
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("cannot resolve {server}"))?;
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("cannot connect to {server}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(REPLY_DEADLINE)).map_err(|e| e.to_string())?;
        let hello = crate::tools::new_session(SESSION_TIMEOUT_MS);
        let mut out = Vec::new();
        write_frame(&mut out, |b| hello.encode(b));
        stream.write_all(&out).map_err(|e| format!("{server}: {e}"))?;
        let answer = ConnectResponse::decode(&read_frame(&mut stream)?).map_err(|e| format!("{server}: {e}"))?;
        if answer.timeout_ms <= 0 || answer.session_id == 0 {
            return Err(format!("{server} refused the session"));
        }
        // The reader waits as long as the session lives; pings keep replies coming.
        stream.set_read_timeout(None).map_err(|e| e.to_string())?;
        let (tx, replies) = sync_channel(REPLIES_QUEUED_MAX);
        let reader = stream.try_clone().map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("zabkeeper-cli-reader".into())
            .spawn(move || read_loop(reader, tx, print_events))
            .map_err(|e| e.to_string())?;
        let writer = Arc::new(Mutex::new(stream));
        let pinger = Arc::downgrade(&writer);
        let every = Duration::from_millis((answer.timeout_ms / 3).max(100) as u64);
        std::thread::Builder::new()
            .name("zabkeeper-cli-pinger".into())
            .spawn(move || {
                let mut ping = Vec::new();
                write_frame(&mut ping, |b| Request::Ping.encode(PING_XID, b));
                loop {
                    std::thread::sleep(every);
                    let Some(writer) = pinger.upgrade() else { return };
                    let Ok(mut stream) = writer.lock() else { return };
                    if stream.write_all(&ping).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        if print_events {
            println!("{}", event_text(3, -1, None));
        }
        Ok(Session {
            server: server.to_string(),
            session_id: answer.session_id,
            timeout_ms: answer.timeout_ms,
            writer,
            replies,
            xid: 1,
            events_printed: print_events,
        })
    }

    /// Sends `request` and waits for its reply: the error code and the decoded body.
    pub fn call(&mut self, request: &Request) -> Result<(i32, Response), String> {
        // Auth goes with ZooKeeper's fixed xid, and so comes its answer.
        let xid = match request {
            Request::Auth(_) => AUTH_XID,
            _ => {
                let xid = self.xid;
                self.xid = self.xid.wrapping_add(1).max(1);
                xid
            }
        };
        let mut out = Vec::new();
        write_frame(&mut out, |b| request.encode(xid, b));
        {
            let mut stream = self.writer.lock().map_err(|_| "the connection is gone".to_string())?;
            stream.write_all(&out).map_err(|e| format!("connection lost: {e}"))?;
        }
        loop {
            let (header, body) = match self.replies.recv_timeout(REPLY_DEADLINE) {
                Ok(reply) => reply?,
                Err(RecvTimeoutError::Timeout) => return Err("no reply within 30 s".into()),
                Err(RecvTimeoutError::Disconnected) => return Err("connection lost".into()),
            };
            if header.xid != xid {
                continue;
            }
            let response = Response::read(request.opcode(), header.err, &mut Reader::new(&body))
                .map_err(|e| format!("bad reply: {e}"))?;
            return Ok((header.err, response));
        }
    }

    /// Ends the session (closeSession), printing the Closed event as zkCli does.
    pub fn close(mut self) {
        let _ = self.call(&Request::CloseSession);
        if self.events_printed {
            println!("{}", event_text(7, -1, None));
        }
        if let Ok(stream) = self.writer.lock() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Reads frames until the connection ends: notifications are printed, pings dropped, replies
/// handed to the caller.
fn read_loop(mut stream: TcpStream, replies: SyncSender<Result<(ReplyHeader, Vec<u8>), String>>, print: bool) {
    loop {
        let frame = match read_frame(&mut stream) {
            Ok(frame) => frame,
            Err(e) => {
                let _ = replies.send(Err(format!("connection lost: {e}")));
                return;
            }
        };
        let mut r = Reader::new(&frame);
        let Ok(header) = ReplyHeader::read(&mut r) else { continue };
        match header.xid {
            NOTIFICATION_XID => {
                if let (true, Ok(event)) = (print, WatcherEvent::read(&mut r)) {
                    println!("{}", event_text(event.state, event.event_type, Some(&event.path)));
                }
            }
            PING_XID => {}
            _ => {
                if replies.send(Ok((header, r.rest().to_vec()))).is_err() {
                    return;
                }
            }
        }
    }
}
