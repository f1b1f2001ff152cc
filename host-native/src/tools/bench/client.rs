//! One load client: keeps `--pipeline` requests in flight on its session and times each from
//! send to reply. Replies come back in send order on a connection, so a FIFO of send times is
//! all the bookkeeping there is.
//!
//! Each kind of request is encoded once into a template; sending one patches the xid and the
//! fixed-width number in the path in place and copies the bytes out. Replies are read as far
//! as their header: the body is never decoded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::AsyncReadExt;
use zabkeeper_core::tree::Acl;
use zabkeeper_core::wire::records::{CreateRequest, PathWatch, ReplyHeader, SetDataRequest};
use zabkeeper_core::wire::{Jute, NOTIFICATION_XID, Reader, Request, write_frame};

use super::session::Session;
use super::{Op, Plan};

/// Where the xid sits in an encoded request: after the frame length.
const XID_AT: usize = 4;
/// Where the path's bytes start: frame length, xid, opcode, then the path's own length.
const PATH_AT: usize = 16;
/// Digits of the number in a created node's name.
pub const CREATE_DIGITS: usize = 10;
/// How long after the window a client waits for its last replies before giving up on them.
pub const DRAIN: Duration = Duration::from_secs(5);

/// The moments every client shares.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Replies from here on are measured.
    pub window_start: Instant,
    /// No request is sent from here on, and no reply counted.
    pub window_end: Instant,
}

/// What a client did.
pub struct Outcome {
    /// Latency in nanoseconds of every reply inside the window.
    pub latency_ns: Histogram<u64>,
    /// Replies inside the window, errors included.
    pub ops: u64,
    /// Non-zero reply codes, by code, over the whole run (warmup and drain included).
    pub errors: BTreeMap<i32, u64>,
    /// Create requests sent: names `0..creates_sent` may exist.
    pub creates_sent: u64,
    /// Why the client stopped early, if it did.
    pub failure: Option<String>,
}

/// An encoded request with a number to patch in its path.
#[derive(Clone, Debug)]
pub struct Template {
    bytes: Vec<u8>,
    /// Where the number's digits start, and how many there are.
    digits_at: usize,
    digits: usize,
}

impl Template {
    /// Encodes `request`, whose path ends with `digits` digits.
    pub fn new(request: &Request, path: &str, digits: usize) -> Template {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| request.encode(0, b));
        assert!(path.len() >= digits, "the path ends with the number");
        assert_eq!(bytes.get(PATH_AT..PATH_AT + path.len()), Some(path.as_bytes()), "the path is where jute puts it");
        Template { bytes, digits_at: PATH_AT + path.len() - digits, digits }
    }

    /// Appends the request with this xid and number to `out`.
    pub fn emit(&mut self, xid: i32, number: u64, out: &mut Vec<u8>) {
        // In bounds: `new` checked that the path, and so the header before it, is there.
        self.bytes[XID_AT..XID_AT + 4].copy_from_slice(&xid.to_be_bytes());
        let digits = &mut self.bytes[self.digits_at..self.digits_at + self.digits];
        let mut rest = number;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        assert_eq!(rest, 0, "{number} does not fit {} digits", self.digits);
        out.extend_from_slice(&self.bytes);
    }
}

/// Digits in the names of keys `0..keys`.
pub fn key_digits(keys: usize) -> usize {
    keys.saturating_sub(1).max(1).to_string().len()
}

/// The path of key `i` under `prefix`.
pub fn key_path(prefix: &str, i: usize, digits: usize) -> String {
    format!("{prefix}/k{i:0digits$}")
}

/// The path of create number `n` of client `client` under `parent`.
pub fn create_path(parent: &str, client: usize, n: u64) -> String {
    format!("{parent}/c{client}-{n:0CREATE_DIGITS$}")
}

/// What a client sends: reads, writes, or a mix decided by a seeded coin.
struct Requests {
    read: Option<Template>,
    write: Option<Template>,
    /// A request reads when the coin's 53 bits fall below this.
    read_below: u64,
    rng: u64,
    /// Key of the next read or write, and how many keys there are.
    key: u64,
    keys: u64,
    /// Whether writes create new nodes (numbered by `creates_sent`) rather than set keys.
    creates: bool,
    creates_sent: u64,
}

impl Requests {
    fn new(plan: &Plan, client: usize, create_parent: Option<&str>) -> Requests {
        let digits = key_digits(plan.keys);
        let key0 = key_path(&plan.prefix, 0, digits);
        let value = Some(plan.value.clone());
        let get = || Template::new(&Request::GetData(PathWatch { path: key0.clone(), watch: false }), &key0, digits);
        let set = || {
            let request = Request::SetData(SetDataRequest { path: key0.clone(), data: value.clone(), version: -1 });
            Template::new(&request, &key0, digits)
        };
        let (read, write, ratio) = match plan.op {
            Op::Get => (Some(get()), None, 1.0),
            Op::Set => (None, Some(set()), 0.0),
            Op::Mixed => (Some(get()), Some(set()), plan.read_ratio),
            Op::Create => {
                let path = create_path(create_parent.unwrap_or(&plan.prefix), client, 0);
                let request = Request::Create(CreateRequest {
                    path: path.clone(),
                    data: value.clone(),
                    acl: Acl::open_unsafe(),
                    flags: 0,
                });
                (None, Some(Template::new(&request, &path, CREATE_DIGITS)), 0.0)
            }
        };
        // Clients start spread over the key space, then walk it in order.
        let keys = plan.keys as u64;
        let key = (client as u64 * keys / plan.clients.max(1) as u64) % keys;
        Requests {
            read,
            write,
            read_below: (ratio * (1u64 << 53) as f64) as u64,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            key,
            keys,
            creates: plan.op == Op::Create,
            creates_sent: 0,
        }
    }

    /// xorshift64*: enough for a read/write coin, and the same sequence every run.
    fn coin(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11
    }

    fn emit(&mut self, xid: i32, out: &mut Vec<u8>) {
        let reads = match (&self.read, &self.write) {
            (Some(_), Some(_)) => self.coin() < self.read_below,
            (read, _) => read.is_some(),
        };
        let key = self.key;
        self.key = (self.key + 1) % self.keys;
        match (reads, &mut self.read, &mut self.write) {
            (true, Some(read), _) => read.emit(xid, key, out),
            (false, _, Some(write)) if self.creates => {
                write.emit(xid, self.creates_sent, out);
                self.creates_sent += 1;
            }
            (false, _, Some(write)) => write.emit(xid, key, out),
            _ => unreachable!("a client has the template its op needs"),
        }
    }
}

/// A client ready to run: its session and what it will send.
pub struct Client {
    session: Session,
    requests: Requests,
    pipeline: usize,
}

impl Client {
    pub fn new(session: Session, plan: &Plan, client: usize, create_parent: Option<&str>) -> Client {
        Client { session, requests: Requests::new(plan, client, create_parent), pipeline: plan.pipeline }
    }

    /// Runs until the window closes, drains, closes the session. `progress` counts replies.
    pub async fn run(mut self, clock: Clock, progress: Arc<AtomicU64>) -> Outcome {
        let mut outcome = Outcome {
            latency_ns: super::report::new_histogram(),
            ops: 0,
            errors: BTreeMap::new(),
            creates_sent: 0,
            failure: None,
        };
        let result = self.load(clock, &progress, &mut outcome).await;
        outcome.creates_sent = self.requests.creates_sent;
        match result {
            Ok(()) => self.session.close().await,
            Err(why) => outcome.failure = Some(why),
        }
        outcome
    }

    async fn load(&mut self, clock: Clock, progress: &AtomicU64, outcome: &mut Outcome) -> Result<(), String> {
        let session = &mut self.session;
        let mut in_flight: VecDeque<(i32, Instant)> = VecDeque::with_capacity(self.pipeline);
        let mut out = Vec::with_capacity(self.pipeline * 64);
        let stall = tokio::time::sleep_until((clock.window_end + DRAIN).into());
        tokio::pin!(stall);
        let mut sending = true;
        let mut to_send = self.pipeline;
        loop {
            if sending && to_send > 0 {
                let sent_at = Instant::now();
                for _ in 0..to_send {
                    let xid = session.xid;
                    session.xid = session.xid.wrapping_add(1).max(1);
                    self.requests.emit(xid, &mut out);
                    in_flight.push_back((xid, sent_at));
                }
                crate::net::send_all(&mut session.stream, &out).await.map_err(|e| format!("cannot send: {e}"))?;
                out.clear();
            }
            if in_flight.is_empty() {
                return Ok(());
            }
            let n = tokio::select! {
                read = session.stream.read(&mut session.read_buf) => read.map_err(|e| format!("cannot read: {e}"))?,
                () = &mut stall => {
                    return Err(format!("{} replies still missing {}s after the window", in_flight.len(), DRAIN.as_secs()));
                }
            };
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            let now = Instant::now();
            session.frames.push(session.read_buf.get(..n).unwrap_or_default());
            let mut completed = 0;
            while let Some(frame) = session.frames.next_frame().map_err(|e| format!("bad frame: {e}"))? {
                let header = ReplyHeader::read(&mut Reader::new(frame)).map_err(|e| format!("bad reply: {e}"))?;
                if header.xid == NOTIFICATION_XID {
                    continue;
                }
                let Some((xid, sent_at)) = in_flight.pop_front() else {
                    return Err(format!("a reply to xid {} with nothing outstanding", header.xid));
                };
                if header.xid != xid {
                    return Err(format!("a reply to xid {} while {xid} was next", header.xid));
                }
                if header.err != 0 {
                    *outcome.errors.entry(header.err).or_insert(0) += 1;
                }
                if now >= clock.window_start && now < clock.window_end {
                    outcome.ops += 1;
                    let ns = u64::try_from(now.duration_since(sent_at).as_nanos()).unwrap_or(u64::MAX);
                    outcome.latency_ns.saturating_record(ns);
                }
                completed += 1;
            }
            progress.fetch_add(completed as u64, Ordering::Relaxed);
            sending = now < clock.window_end;
            to_send = completed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_patches_the_xid_and_the_number_and_nothing_else() {
        let path = key_path("/zkbench", 0, 3);
        assert_eq!(path, "/zkbench/k000");
        let request =
            |path: &str| Request::SetData(SetDataRequest { path: path.into(), data: Some(vec![7; 5]), version: -1 });
        let mut template = Template::new(&request(&path), &path, 3);
        for (xid, key) in [(1, 0), (42, 7), (i32::MAX, 999)] {
            let mut out = Vec::new();
            template.emit(xid, key, &mut out);
            let mut expected = Vec::new();
            write_frame(&mut expected, |b| request(&key_path("/zkbench", key as usize, 3)).encode(xid, b));
            assert_eq!(out, expected, "xid {xid} key {key}");
        }
    }

    #[test]
    fn create_names_are_numbered_per_client() {
        let path = create_path("/zkbench/run-0000000003", 7, 0);
        assert_eq!(path, "/zkbench/run-0000000003/c7-0000000000");
        let request = |path: &str| {
            Request::Create(CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 })
        };
        let mut template = Template::new(&request(&path), &path, CREATE_DIGITS);
        let mut out = Vec::new();
        template.emit(5, 1234, &mut out);
        let mut expected = Vec::new();
        write_frame(&mut expected, |b| request(&create_path("/zkbench/run-0000000003", 7, 1234)).encode(5, b));
        assert_eq!(out, expected);
    }

    #[test]
    fn key_names_have_a_fixed_width() {
        assert_eq!(key_digits(1), 1);
        assert_eq!(key_digits(10), 1);
        assert_eq!(key_digits(11), 2);
        assert_eq!(key_digits(1000), 3);
        assert_eq!(key_digits(1001), 4);
    }

    #[test]
    fn the_read_coin_follows_the_ratio() {
        let plan = super::super::tests::plan(&["--op", "mixed", "--read-ratio", "0.9", "--keys", "10"]);
        let mut requests = Requests::new(&plan, 3, None);
        let reads = (0..100_000).filter(|_| requests.coin() < requests.read_below).count();
        assert!((89_000..91_000).contains(&reads), "{reads} reads of 100000");
    }
}
