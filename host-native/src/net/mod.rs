//! The network: the client port ([`client`], with [`tls`]), the links between the servers of an
//! ensemble on the quorum port ([`peers`], whose handshake proves membership: [`auth`]) and the
//! AdminServer's HTTP port ([`admin`]). Each only turns bytes into [`crate::event::Event`]s for
//! the node task and carries its answers back; none knows the protocol.

use std::time::{Duration, Instant};

pub mod admin;
pub mod auth;
pub mod client;
pub mod peers;
pub mod tls;

/// Back-off after a listener fails to accept (EMFILE, ENFILE): a log line and a pause, never a
/// spin, so the connections already open keep being served.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Writes all of `bytes` and flushes them. Over TLS the flush matters: a write may leave
/// encrypted records in the TLS buffer when the socket is full, and only a flush (or a later
/// write) sends them; a connection that then waits for an answer would wait forever. (Plain
/// TCP has nothing to flush.)
pub async fn send_all<W: tokio::io::AsyncWrite + Unpin + ?Sized>(out: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    out.write_all(bytes).await?;
    out.flush().await
}

/// At most one line per this much for a warning that comes at the pace of someone else's
/// connections (refusals, accept failures), so a flood cannot fill the disk with logs.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Lets one log line through per [`LOG_EVERY`] and counts the ones held back in between.
#[derive(Debug, Default)]
pub struct Throttle {
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    /// `Some(lines held back since the last one)` if a line may be written now.
    pub fn ready(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < LOG_EVERY => {
                self.held += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_one_line_through_per_interval_and_counts_the_rest() {
        let mut t = Throttle::default();
        let start = Instant::now();
        assert_eq!(t.ready(start), Some(0));
        for ms in [1, 500, 9_999] {
            assert_eq!(t.ready(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(t.ready(start + LOG_EVERY), Some(3));
        assert_eq!(t.ready(start + LOG_EVERY + Duration::from_millis(1)), None);
    }
}
