//! The client port: accepts connections, answers four-letter words, splits the byte stream
//! into frames for the node task, and writes what the node sends back.
//!
//! Each connection has a reader (frames in) and a writer (bytes out). A client that sends
//! garbage, an oversized frame or nothing useful only loses its own connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};
use zabkeeper_core::wire::{FourLetterWord, FrameDecoder};

use crate::event::{Event, Outbound};

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Requests a connection may have waiting for their replies before the server stops reading
/// from it (backpressure, like ZooKeeper's outstanding-request limit): a client that pipelines
/// without bound, or stops reading its replies, slows itself down and no one else.
const OUTSTANDING_MAX: usize = 1000;

/// The frames in `bytes` that answer a request (everything but notifications, xid -1).
fn replies_in(bytes: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = bytes;
    while rest.len() >= 8 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if i32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) != -1 {
            n += 1;
        }
        rest = rest.get(4 + len..).unwrap_or(&[]);
    }
    n
}

/// Accepts clients until the task is dropped.
pub async fn serve(listener: TcpListener, events: mpsc::UnboundedSender<Event>, max_frame: usize) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (EMFILE, ENFILE) or a transient error: pause instead of
                // spinning, so the connections already open keep being served.
                warn!(error = %e, "client port cannot accept; pausing");
                tokio::time::sleep(super::ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, addr, events, max_frame).await {
                debug!(%addr, error = %e, "client connection ended");
            }
        });
    }
}

async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    events: mpsc::UnboundedSender<Event>,
    max_frame: usize,
) -> std::io::Result<()> {
    let (mut reader, mut writer) = stream.into_split();
    let mut first = Vec::with_capacity(4096);
    // The first four bytes decide: a four-letter word, or the length of a ConnectRequest.
    while first.len() < 4 {
        let mut buf = [0u8; 4096];
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        first.extend_from_slice(&buf[..n]);
    }
    if let Some(word) = FourLetterWord::parse(&[first[0], first[1], first[2], first[3]]) {
        let (reply, answer) = oneshot::channel();
        if events.send(Event::Word { word, reply }).is_ok()
            && let Ok(text) = answer.await
        {
            writer.write_all(text.as_bytes()).await?;
        }
        writer.shutdown().await?;
        return Ok(());
    }
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    if events.send(Event::Connected { conn, addr, out: out_tx }).is_err() {
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
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
            returned.add_permits(replies_in(&bytes));
            if closing {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut decoder = FrameDecoder::new(max_frame);
    decoder.push(&first);
    let mut buf = vec![0u8; 64 * 1024];
    let result = 'read: loop {
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let payload = frame.to_vec();
                    tokio::select! {
                        permit = permits.acquire() => match permit {
                            Ok(permit) => permit.forget(),
                            Err(_) => break 'read Ok(()),
                        },
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
        tokio::select! {
            n = reader.read(&mut buf) => match n {
                Ok(0) => break 'read Ok(()),
                Ok(n) => decoder.push(&buf[..n]),
                Err(e) => break 'read Err(e),
            },
            // The node closed the connection: stop reading too.
            _ = &mut writer_done => break 'read Ok(()),
        }
    };
    let _ = events.send(Event::Disconnected { conn });
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
    fn notifications_do_not_count_as_replies() {
        let mut bytes = Vec::new();
        for xid in [5i32, -1, -2, 6] {
            bytes.extend_from_slice(&16u32.to_be_bytes());
            bytes.extend_from_slice(&xid.to_be_bytes());
            bytes.extend_from_slice(&[0u8; 12]);
        }
        assert_eq!(replies_in(&bytes), 3);
        assert_eq!(replies_in(&bytes[..7]), 0);
    }
}
