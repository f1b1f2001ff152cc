//! What the four-letter words report about requests: latencies (from a request frame read to
//! its reply queued), per connection and for the server, and the last operation of each
//! connection, all as ZooKeeper 3.8's `srvr`, `cons` and `mntr` show them.

use std::collections::VecDeque;
use std::time::Instant;

/// Request frames read and not yet answered, remembered per connection for their latency.
/// The per-connection outstanding limit (1,000) keeps it short; beyond this the oldest arrival
/// is forgotten and its reply is not timed.
pub const ARRIVALS_MAX: usize = 4096;

/// Latencies in whole milliseconds since the last reset: ZooKeeper's min/avg/max.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    count: u64,
    sum_ms: u64,
    min_ms: u64,
    max_ms: u64,
}

impl Latency {
    pub fn record(&mut self, ms: u64) {
        self.min_ms = if self.count == 0 { ms } else { self.min_ms.min(ms) };
        self.max_ms = self.max_ms.max(ms);
        self.sum_ms += ms;
        self.count += 1;
    }

    pub fn min(&self) -> u64 {
        self.min_ms
    }

    pub fn max(&self) -> u64 {
        self.max_ms
    }

    pub fn avg(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum_ms as f64 / self.count as f64 }
    }

    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// One connection's request statistics (`crst` resets the counters and latencies).
#[derive(Debug, Default)]
pub struct ConnStats {
    pub received: u64,
    pub sent: u64,
    pub latency: Latency,
    arrivals: VecDeque<(Instant, Kind)>,
    /// Requests and replies so far, never reset: the first of each is the ConnectRequest and
    /// its ConnectResponse, which carries no zxid.
    requests: u64,
    replies: u64,
    /// ZooKeeper's short name of the last operation read (`GETD`, `CREA`, ...).
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_latency_ms: u64,
    /// Wall-clock milliseconds of the last reply, and of the connection's start.
    pub last_response_ms: u64,
    pub established_ms: u64,
}

impl ConnStats {
    pub fn new(established_ms: u64) -> ConnStats {
        ConnStats { established_ms, last_op: "NA", last_cxid: -1, last_zxid: -1, ..ConnStats::default() }
    }

    /// A request frame read at `now`.
    pub fn request(&mut self, payload: &[u8], now: Instant) {
        let mut kind = Kind::Other;
        self.last_op = if self.requests == 0 {
            "SESS"
        } else {
            match (payload.first_chunk::<4>(), payload.get(4..8)) {
                (Some(xid), Some(&[a, b, c, d])) => {
                    self.last_cxid = i32::from_be_bytes(*xid);
                    let opcode = i32::from_be_bytes([a, b, c, d]);
                    kind = Kind::of(opcode);
                    op_name(opcode)
                }
                _ => "NA",
            }
        };
        self.received += 1;
        self.requests += 1;
        if self.arrivals.len() == ARRIVALS_MAX {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back((now, kind));
    }

    /// A reply frame queued at `now` (`wall_ms` on the wall clock); the server's latencies
    /// take it too. Notifications are not replies. Returns how long its request took and what
    /// kind it was, when it was timed.
    pub fn reply(&mut self, payload: &[u8], now: Instant, wall_ms: u64, server: &mut Latency) -> Option<(f64, Kind)> {
        if let (true, Some(zxid)) = (self.replies > 0, payload.get(4..12)) {
            self.last_zxid = i64::from_be_bytes(zxid.try_into().unwrap_or_default());
        }
        self.replies += 1;
        self.last_response_ms = wall_ms;
        let (at, kind) = self.arrivals.pop_front()?;
        let took = now.saturating_duration_since(at);
        let ms = took.as_millis() as u64;
        self.latency.record(ms);
        server.record(ms);
        self.last_latency_ms = ms;
        Some((took.as_secs_f64() * 1000.0, kind))
    }

    /// Requests read and not answered yet.
    pub fn outstanding(&self) -> usize {
        self.arrivals.len()
    }

    /// `crst`: counters and latencies start again (what is outstanding stays outstanding).
    pub fn reset(&mut self) {
        self.received = 0;
        self.sent = 0;
        self.latency = Latency::default();
        self.last_op = "NA";
        self.last_cxid = -1;
        self.last_zxid = -1;
        self.last_latency_ms = 0;
        self.last_response_ms = 0;
    }
}

/// What a request is, for ZooKeeper's `readlatency` and `updatelatency`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Update,
    /// Pings, syncs, auth, watch management, the handshake.
    Other,
}

impl Kind {
    fn of(opcode: i32) -> Kind {
        match opcode {
            3 | 4 | 6 | 8 | 12 | 22 | 103 | 104 => Kind::Read,
            1 | 2 | 5 | 7 | 13 | 14 | 15 | 16 | 19 | 20 | 21 | -11 => Kind::Update,
            _ => Kind::Other,
        }
    }
}

/// The names ZooKeeper's `cons` gives the last operation of a connection.
fn op_name(opcode: i32) -> &'static str {
    match opcode {
        1 | 15 | 19 | 21 => "CREA",
        2 | 20 => "DELE",
        3 => "EXIS",
        4 => "GETD",
        5 => "SETD",
        6 => "GETA",
        7 => "SETA",
        8 | 12 => "GETC",
        9 => "SYNC",
        11 => "PING",
        13 => "CHEC",
        14 => "MULT",
        16 => "RECO",
        17 => "CHKW",
        18 => "REMW",
        22 => "MLTR",
        101 => "SETW",
        103 => "GETE",
        104 => "GETACN",
        105 => "STW2",
        106 => "ADDW",
        107 => "HOMI",
        -11 => "CLOS",
        _ => "NA",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn latencies_and_last_operations() {
        let start = Instant::now();
        let mut server = Latency::default();
        let mut c = ConnStats::new(1);
        c.request(b"connect", start);
        c.reply(&[0; 16], start + Duration::from_millis(3), 10, &mut server);
        assert_eq!((c.last_op, c.last_zxid), ("SESS", -1));
        let mut get = 7i32.to_be_bytes().to_vec();
        get.extend_from_slice(&4i32.to_be_bytes());
        c.request(&get, start);
        c.request(&get, start);
        assert_eq!((c.last_op, c.last_cxid, c.outstanding()), ("GETD", 7, 2));
        let mut reply = 7i32.to_be_bytes().to_vec();
        reply.extend_from_slice(&0x1_0000_0005i64.to_be_bytes());
        c.reply(&reply, start + Duration::from_millis(9), 20, &mut server);
        c.reply(&reply, start + Duration::from_millis(1), 30, &mut server);
        assert_eq!(c.last_zxid, 0x1_0000_0005);
        assert_eq!((c.latency.min(), c.latency.max(), c.latency.count()), (1, 9, 3));
        assert!((c.latency.avg() - 13.0 / 3.0).abs() < 1e-9);
        assert_eq!((server.count(), c.outstanding(), c.last_response_ms), (3, 0, 30));
        c.reset();
        assert_eq!((c.received, c.latency, c.last_op), (0, Latency::default(), "NA"));
        c.request(&get, start);
        assert_eq!(c.last_op, "GETD", "after a reset a request is not taken for the handshake");
    }
}
