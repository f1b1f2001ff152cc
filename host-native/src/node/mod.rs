//! One running server: the core's [`Server`] state machine on a single task, fed by the
//! client listener, the storage writer and a timer, its outputs carried out here.
//!
//! ```text
//!  listener ─► conn tasks ──Event──►┐
//!  storage writer (fsync'd) ─Event─►├─► node task: Server::step ─► Send/Close ─► conn tasks
//!  timer (tick/4) ───────────────────┘                          └► Persist ─► storage writer
//! ```
//!
//! A failed write or fsync of the log (EIO, a full disk) stops the node: the writer reports
//! nothing durable after it, and the node, which checks before every event it takes, steps
//! no further, closes its connections and peer links (a leader thereby steps down) and
//! exits with the reason in the log, as ZooKeeper exits on a failed log write. Restarting
//! on a repaired disk recovers what was durable.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tracing::{info, warn};
use zabkeeper_core::Zxid;
use zabkeeper_core::ids::ServerId;
use zabkeeper_core::server::{Database, Server, ServerConfig, ServerInput, ServerMachine, ServerOutput, coalesce};
use zabkeeper_core::session::SessionConfig;
use zabkeeper_core::tree::snapshot::SnapshotError;
use zabkeeper_core::zab::{self, StateMachine};

use crate::config::Settings;
use crate::event::{ClientLink, Event, Outbound, count_frames, reply_payloads};
use crate::storage::{Faults, Snapshot, Storage, StorageError, StorageOptions, Writer};

pub mod admin;
pub mod metrics;
pub mod start;
mod stats;
pub mod words;

/// Inputs stepped before their outputs are carried out, at most.
const BURST_MAX: usize = 256;

/// Bytes queued for one client connection and not yet taken by its socket, at most: a
/// client that does not read its replies and events (a recursive watch on a busy tree, large
/// reads pipelined) is disconnected when it would pass this, and the rest keep being served.
pub const QUEUED_BYTES_MAX: usize = 64 << 20;

struct Client {
    addr: SocketAddr,
    link: ClientLink,
    stats: stats::ConnStats,
    /// It showed a client certificate (TLS): not counted among the `non_mtls` connections.
    certified: bool,
    /// Disconnected for not reading; its Disconnected event is on the way.
    dropped: bool,
}

/// The node task's state.
pub struct Node {
    settings: Settings,
    server: Server<Database>,
    writer: Option<Writer>,
    links: Option<crate::net::peers::Links>,
    clients: BTreeMap<u64, Client>,
    /// Failed SASL logins, logged at most once per interval (a guesser makes many).
    login_failures: crate::net::Throttle,
    started: Instant,
    base_ms: u64,
    received: u64,
    sent: u64,
    /// Request latencies over all connections since the start or the last `srst`.
    latency: stats::Latency,
    /// Sizes of the responses written to clients since the start or the last `srst`.
    response_sizes: admin::ResponseSizes,
    /// Sizes of the proposals this server sent as leader, and the newest one sized.
    proposal_sizes: admin::ResponseSizes,
    last_sized: Zxid,
    /// Read, update, fsync and election times (mntr's summaries, Prometheus' histograms).
    timings: metrics::Timings,
    /// Since when this server looks for a leader (`election_time`).
    looking_since: Option<Instant>,
    /// Since when it leads an established epoch (`leader_uptime`).
    leading_since: Option<Instant>,
    /// SASL logins refused since the start.
    auth_failures: u64,
    /// ZooKeeper's trace mask (`gtmk`, `stmk`); kept and reported, no trace output hangs on it.
    trace_mask: i64,
    /// The newest checkpoint known durable: its zxid and when (seconds since the epoch).
    last_snapshot: Option<(Zxid, u64)>,
    /// A checkpoint handed to the writer and not yet known durable.
    pending_snapshot: Option<Zxid>,
    out: Vec<ServerOutput>,
    snapshots: SnapSchedule,
    /// A checkpoint is due and waits for the one being written (see [`Node::step`]).
    checkpoint_owed: bool,
    /// systemd's readiness and watchdog notifications (none unless `NOTIFY_SOCKET` is set).
    notify: crate::notify::Notifier,
    /// When this leader first proposed each txn not yet committed (for `quorum_ack_latency`).
    proposed_at: std::collections::VecDeque<(Zxid, Instant)>,
}

/// The most proposals whose times are kept waiting for their commit; the oldest go first.
const PROPOSED_TIMES_MAX: usize = 65_536;

/// ZooKeeper's snapCount rule: a checkpoint once more than `snapCount / 2 + roll` txns were
/// committed since the last, `roll` drawn anew each time from `0..snapCount / 2`, so that the
/// servers of an ensemble do not all write one at once.
struct SnapSchedule {
    snap_count: u64,
    committed: u64,
    threshold: u64,
    rng: zabkeeper_core::rng::Rng,
}

impl SnapSchedule {
    fn new(snap_count: u64, seed: u64) -> SnapSchedule {
        let mut schedule = SnapSchedule {
            snap_count: snap_count.max(2),
            committed: 0,
            threshold: 0,
            rng: zabkeeper_core::rng::Rng::new(seed),
        };
        schedule.reset();
        schedule
    }

    fn reset(&mut self) {
        let half = self.snap_count / 2;
        self.threshold = half + self.rng.below(half);
        self.committed = 0;
    }

    /// Counts the txns committed from `from` (exclusive) to `to`; says whether a checkpoint is
    /// due, starting the next count if so. Across epochs only the new epoch's are counted.
    fn on_committed(&mut self, from: Zxid, to: Zxid) -> bool {
        let txns = if from.epoch() == to.epoch() { to.counter().saturating_sub(from.counter()) } else { to.counter() };
        self.committed += u64::from(txns);
        let due = self.committed > self.threshold;
        if due {
            self.reset();
        }
        due
    }
}

fn server_config(settings: &Settings) -> ServerConfig {
    let id = ServerId(settings.my_id);
    let (voters, observers) = if settings.members.is_empty() {
        (vec![id], vec![])
    } else {
        let voters = settings.members.iter().filter(|m| !m.observer).map(|m| ServerId(m.id)).collect();
        let observers = settings.members.iter().filter(|m| m.observer).map(|m| ServerId(m.id)).collect();
        (voters, observers)
    };
    let mut zab = zab::Config::new(id, voters, observers);
    zab.tick_ms = settings.tick_ms;
    zab.init_limit = settings.init_limit;
    zab.sync_limit = settings.sync_limit;
    let mut config = ServerConfig::new(zab);
    let mut sessions = SessionConfig::new(settings.tick_ms);
    if let Some(min) = settings.min_session_timeout_ms {
        sessions.min_timeout_ms = min;
    }
    if let Some(max) = settings.max_session_timeout_ms {
        sessions.max_timeout_ms = max;
    }
    config.sessions = sessions;
    config.prep.extended_types = settings.extended_types;
    config.super_digest = settings.super_digest.clone();
    config.x509_super = settings.x509_super.clone();
    config.enforce_auth = settings.enforce_auth.clone();
    config.prep.sasl_acls = settings.sasl_acls;
    config
}

/// Why a node could not open, or stopped on an error.
#[derive(Debug)]
pub enum NodeError {
    /// The data directory could not be opened or recovered.
    Recover(StorageError),
    /// The newest checkpoint's snapshot does not decode.
    Snapshot { zxid: Zxid, why: SnapshotError },
    /// A write or fsync of the log failed while serving (the error, if the writer gave one).
    LogFailed(Option<StorageError>),
    /// Syncing and closing the log at shutdown failed.
    Close(StorageError),
    /// The system's random source failed (for the key of session passwords).
    NoRandom(String),
    /// The JAAS file of SASL users could not be read.
    Sasl(crate::config::ConfigError),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Recover(e) | NodeError::Close(e) => write!(f, "storage: {e}"),
            NodeError::Snapshot { zxid, why } => write!(f, "snapshot at {zxid}: {why:?}"),
            NodeError::LogFailed(Some(e)) => write!(f, "the transaction log failed: {e}"),
            NodeError::LogFailed(None) => f.write_str("the transaction log failed: unknown"),
            NodeError::NoRandom(why) => write!(f, "no random key for session passwords: {why}"),
            NodeError::Sasl(why) => write!(f, "SASL: {why}"),
        }
    }
}

impl std::error::Error for NodeError {}

impl Node {
    /// Opens storage, recovers, and builds the server. Nothing listens yet.
    pub fn open(settings: Settings, events: mpsc::UnboundedSender<Event>) -> Result<Node, NodeError> {
        let dir = settings.data_log_dir.clone().unwrap_or_else(|| settings.data_dir.clone());
        let options = StorageOptions {
            force_sync: settings.force_sync,
            snap_retain_count: settings.snap_retain_count,
            ..StorageOptions::default()
        };
        let (storage, image) =
            Storage::open_with_faults(&dir, options, Faults::from_env()).map_err(NodeError::Recover)?;
        let mut db = Database::default();
        if let Some((zxid, bytes)) = &image.snapshot {
            let started = Instant::now();
            db.restore(bytes).map_err(|why| NodeError::Snapshot { zxid: *zxid, why })?;
            let took = started.elapsed();
            if took >= crate::progress::EVERY {
                info!(
                    %zxid,
                    znodes = db.tree.node_count(),
                    bytes = bytes.len(),
                    took_s = format!("{:.1}", took.as_secs_f64()),
                    rate = format!("{:.0} MB/s", bytes.len() as f64 / 1e6 / took.as_secs_f64()),
                    "checkpoint restored"
                );
            }
        }
        info!(
            data_dir = %dir.display(),
            accepted_epoch = image.accepted_epoch,
            current_epoch = image.current_epoch,
            log_entries = image.log.len(),
            "recovered"
        );
        let base_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let seed = base_ms ^ settings.my_id.rotate_left(32);
        let mut config = server_config(&settings);
        // New sessions' passwords are made with a key nobody else ever sees (docs/SECURITY.md).
        getrandom::fill(&mut config.prep.session_key.0).map_err(|e| NodeError::NoRandom(e.to_string()))?;
        if let Some(sasl) = &settings.sasl {
            let users = crate::jaas::digest_users(&sasl.jaas_file, &sasl.section).map_err(NodeError::Sasl)?;
            info!(users = users.len(), file = %sasl.jaas_file.display(), "SASL DIGEST-MD5 logins on");
            let mut nonce_key = [0; 32];
            getrandom::fill(&mut nonce_key).map_err(|e| NodeError::NoRandom(e.to_string()))?;
            config.sasl = Some(zabkeeper_core::server::sasl::SaslConfig {
                users,
                super_users: sasl.super_users.clone(),
                nonce_key,
            });
        }
        let server = Server::new(config, seed, image.durable(), db, base_ms);
        let snapshots = SnapSchedule::new(settings.snap_count, seed.rotate_left(17));
        let failures = events.clone();
        let timings = metrics::Timings::default();
        let fsync = Arc::clone(&timings.fsync);
        let slow = Arc::clone(&timings.fsync_slow);
        let threshold = std::time::Duration::from_millis(settings.fsync_warning_ms);
        let mut storage = storage;
        storage.on_sync(move |took| {
            if let Ok(mut fsync) = fsync.lock() {
                fsync.record(took.as_secs_f64() * 1000.0);
            }
            if took > threshold {
                slow.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    took_ms = took.as_millis() as u64,
                    threshold_ms = threshold.as_millis() as u64,
                    "fsync-ing the write ahead log took longer than fsync.warningthresholdms: it adds to every \
                     write's latency (is the disk shared, or slow?)"
                );
            }
        });
        let writer = storage.start(
            move |seq| {
                let _ = events.send(Event::Persisted(seq));
            },
            move |_| {
                let _ = failures.send(Event::StorageFailed);
            },
        );
        Ok(Node {
            settings,
            server,
            writer: Some(writer),
            links: None,
            clients: BTreeMap::new(),
            login_failures: crate::net::Throttle::default(),
            started: Instant::now(),
            base_ms,
            received: 0,
            sent: 0,
            latency: stats::Latency::default(),
            response_sizes: admin::ResponseSizes::default(),
            proposal_sizes: admin::ResponseSizes::default(),
            last_sized: Zxid::ZERO,
            timings,
            looking_since: None,
            leading_since: None,
            auth_failures: 0,
            trace_mask: words::TRACE_MASK,
            last_snapshot: image.snapshot.as_ref().map(|(zxid, _)| (*zxid, base_ms / 1000)),
            pending_snapshot: None,
            out: Vec::new(),
            snapshots,
            checkpoint_owed: false,
            notify: crate::notify::Notifier::from_env(),
            proposed_at: std::collections::VecDeque::new(),
        })
    }

    /// Connects this node to the rest of its ensemble.
    pub fn set_links(&mut self, links: crate::net::peers::Links) {
        self.links = Some(links);
    }

    fn now_ms(&self) -> u64 {
        self.base_ms + self.started.elapsed().as_millis() as u64
    }

    /// Runs until a Shutdown event; then syncs the log.
    pub async fn run(mut self, mut events: mpsc::UnboundedReceiver<Event>) -> Result<(), NodeError> {
        let period = std::time::Duration::from_millis((self.settings.tick_ms / 4).max(5));
        let mut timer = tokio::time::interval(period);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // An election's decision or notifications may be due before the next tick.
            let wake = self.server.wake_at_ms().map(|at| {
                let wait = at.saturating_sub(self.now_ms()).min(self.settings.tick_ms);
                tokio::time::Instant::now() + std::time::Duration::from_millis(wait)
            });
            tokio::select! {
                _ = async { tokio::time::sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)).await }, if wake.is_some() => {
                    if self.storage_failed() {
                        return self.stop_on_storage_failure();
                    }
                    self.step(ServerInput::Tick);
                    self.carry_out();
                }
                event = events.recv() => {
                    let Some(event) = event else { break };
                    // Step whatever else is already queued, then carry the outputs out
                    // together (coalesced: one PROPOSAL and one write per link for the burst).
                    let mut next = Some(event);
                    let mut stepped = 0;
                    while let Some(event) = next.take() {
                        if self.storage_failed() {
                            return self.stop_on_storage_failure();
                        }
                        if matches!(event, Event::Shutdown) {
                            self.carry_out();
                            return self.shutdown();
                        }
                        self.handle(event);
                        stepped += 1;
                        if stepped % BURST_MAX == 0 {
                            self.carry_out();
                        }
                        next = events.try_recv().ok();
                    }
                    self.carry_out();
                }
                _ = timer.tick() => {
                    if self.storage_failed() {
                        return self.stop_on_storage_failure();
                    }
                    self.step(ServerInput::Tick);
                    self.carry_out();
                    if self.notify.enabled() {
                        self.notify.observe(self.mode(), self.server.peer().is_serving(), Instant::now());
                    }
                }
            }
        }
        self.shutdown()
    }

    fn storage_failed(&self) -> bool {
        self.writer.as_ref().is_some_and(Writer::failed)
    }

    /// The log failed: it can no longer be trusted to hold what would be acknowledged, and
    /// after a failed fsync no retry can be trusted either. Steps no further (a leader steps
    /// down by going), drops every connection and returns why.
    fn stop_on_storage_failure(mut self) -> Result<(), NodeError> {
        let mode = self.mode();
        for (_, client) in std::mem::take(&mut self.clients) {
            let _ = client.link.out.send(Outbound::Close);
        }
        self.links = None;
        let error = NodeError::LogFailed(self.writer.take().map(Writer::close).and_then(Result::err));
        tracing::error!(
            mode,
            %error,
            "the transaction log failed: nothing more is acknowledged; stepping down and stopping (restart on a \
             repaired disk recovers what was durable)"
        );
        Err(error)
    }

    fn shutdown(mut self) -> Result<(), NodeError> {
        self.notify.stopping();
        for (_, client) in std::mem::take(&mut self.clients) {
            let _ = client.link.out.send(Outbound::Close);
        }
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(NodeError::Close)?;
        }
        info!("stopped; log synced");
        Ok(())
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Connected { conn, addr, x509, link } => {
                // (maxClientCnxns and maxCnxns are enforced where connections are accepted.)
                let stats = stats::ConnStats::new(self.now_ms());
                let certified = x509.is_some();
                self.clients.insert(conn, Client { addr, link, stats, certified, dropped: false });
                self.step(ServerInput::Connected { conn, addr: addr.ip(), x509 });
            }
            Event::Frame { conn, payload } => {
                self.received += 1;
                if let Some(c) = self.clients.get_mut(&conn) {
                    c.stats.request(&payload, Instant::now());
                }
                self.step(ServerInput::Frame { conn, payload });
            }
            Event::Disconnected { conn } => {
                if self.clients.remove(&conn).is_some() {
                    self.step(ServerInput::Disconnected { conn });
                }
            }
            Event::Persisted(seq) => self.step(ServerInput::Persisted { seq }),
            Event::Peer { from, msg } => self.step(ServerInput::Peer { from, msg }),
            Event::LinkDown { peer } => self.step(ServerInput::LinkDown { peer }),
            Event::Word { word, mask, reply } => {
                let _ = reply.send(self.four_letter_word(word, mask));
            }
            Event::Admin { command, args, reply } => {
                let _ = reply.send(self.admin_command(&command, &args));
            }
            Event::Metrics { reply } => {
                let _ = reply.send(self.exposition());
            }
            Event::Probe { reply } => {
                let _ = reply.send(self.server.peer().is_serving());
            }
            Event::Shutdown | Event::StorageFailed => {}
        }
    }

    /// Steps the server; its outputs wait in `self.out` for [`Node::carry_out`].
    fn step(&mut self, input: ServerInput) {
        let now = self.now_ms();
        self.server.step(now, input, &mut self.out);
    }

    /// Carries out what the steps since the last call asked for.
    fn carry_out(&mut self) {
        if self.out.is_empty() {
            return;
        }
        coalesce(&mut self.out);
        let mut out = std::mem::take(&mut self.out);
        let mut checkpoint_due = false;
        for o in out.drain(..) {
            match o {
                ServerOutput::Send { conn, bytes } => {
                    if let Some(c) = self.clients.get_mut(&conn) {
                        if c.dropped {
                            continue;
                        }
                        let queued = c.link.queued.load(Ordering::Relaxed);
                        if queued.saturating_add(bytes.len()) > QUEUED_BYTES_MAX {
                            warn!(addr = %c.addr, queued, limit = QUEUED_BYTES_MAX, "client does not read; disconnected");
                            c.dropped = true;
                            c.link.abort.notify_one();
                            continue;
                        }
                        let frames = count_frames(&bytes);
                        c.stats.sent += frames.all;
                        self.sent += frames.all;
                        let (now, wall_ms) = (Instant::now(), self.base_ms + self.started.elapsed().as_millis() as u64);
                        for payload in reply_payloads(&bytes) {
                            match c.stats.reply(payload, now, wall_ms, &mut self.latency) {
                                Some((ms, stats::Kind::Read)) => self.timings.read.record(ms),
                                Some((ms, stats::Kind::Update)) => self.timings.update.record(ms),
                                _ => {}
                            }
                            self.response_sizes.record(payload.len() + 4);
                        }
                        c.link.in_node.answered(frames.replies);
                        c.link.queued.fetch_add(bytes.len(), Ordering::Relaxed);
                        let _ = c.link.out.send(Outbound::Bytes(bytes));
                    }
                }
                ServerOutput::Close { conn } => {
                    if let Some(c) = self.clients.remove(&conn) {
                        let _ = c.link.out.send(Outbound::Close);
                    }
                }
                ServerOutput::Persist { seq, op } => {
                    if let Some(writer) = &self.writer {
                        writer.persist(seq, op);
                    }
                }
                ServerOutput::Peer { to, msg } => {
                    if let zabkeeper_core::server::PeerMessage::Zab(zab::Message::Proposal { entries, .. }) = &msg {
                        self.size_proposals(entries);
                    }
                    if let Some(links) = &self.links {
                        links.send(to, msg);
                    }
                }
                ServerOutput::Event(event) => match event {
                    zab::Event::Committed { from, to } => {
                        tracing::debug!(?event, "zab");
                        while let Some(&(zxid, at)) = self.proposed_at.front() {
                            if zxid > to {
                                break;
                            }
                            self.proposed_at.pop_front();
                            self.timings.quorum_ack.record(at.elapsed().as_secs_f64() * 1000.0);
                        }
                        checkpoint_due |= self.snapshots.on_committed(from, to);
                    }
                    zab::Event::Violation { .. } => tracing::debug!(?event, "zab"),
                    _ => {
                        info!(?event, "zab");
                        self.timed(&event);
                    }
                },
                ServerOutput::Login(login) => {
                    let addr = self.clients.get(&login.conn).map(|c| c.addr);
                    let session = format!("0x{:x}", login.session.0);
                    match login.outcome {
                        Ok(user) => info!(?addr, %session, %user, "SASL login"),
                        Err(why) => {
                            self.auth_failures += 1;
                            if let Some(held) = self.login_failures.ready(Instant::now()) {
                                warn!(?addr, %session, %why, held, "SASL login failed; connection closed");
                            }
                        }
                    }
                }
            }
        }
        self.out = out;
        self.note_checkpoint_done();
        // One checkpoint at a time: a frozen database keeps the old version of every node
        // changed since, so none is frozen while the last one's file is still being written
        // (the writer would only keep the newest waiting anyway). The one owed is frozen at
        // the first step after that.
        self.checkpoint_owed |= checkpoint_due;
        if self.checkpoint_owed && !self.writer.as_ref().is_some_and(Writer::checkpoint_busy) {
            self.checkpoint_owed = false;
            self.checkpoint();
        }
    }

    /// Hands the storage writer a snapshot of the state machine. Committed entries are
    /// applied as they commit, so the database is exactly the state at `committed()`; the
    /// writes of this step are queued already, so the checkpoint follows them.
    fn checkpoint(&mut self) {
        let peer = self.server.peer();
        let zxid = peer.committed();
        let applied = peer.machine().applied();
        if applied != zxid {
            warn!(%zxid, %applied, "no checkpoint: the database is not at the commit point");
            return;
        }
        // Freezing the database is cheap (its tree is copied on write); the bytes are built on
        // the checkpoint thread while this task goes on serving.
        let started = Instant::now();
        let frozen = peer.machine().db().freeze();
        let took_us = started.elapsed().as_micros() as u64;
        info!(%zxid, znodes = frozen.node_count(), took_us, "checkpoint: database frozen");
        if let Some(writer) = &self.writer {
            writer.checkpoint(zxid, Snapshot::Build(Box::new(move || frozen.snapshot())));
            self.pending_snapshot = Some(zxid);
        }
    }

    /// Records the size of each new proposal once (it goes to every learner): its encoded
    /// bytes, as the peer links carry it (`proposal_stats`, mntr's `zk_*_proposal_size`).
    fn size_proposals(&mut self, entries: &[Arc<zab::Entry>]) {
        for entry in entries {
            if entry.zxid > self.last_sized {
                self.last_sized = entry.zxid;
                if self.proposed_at.len() == PROPOSED_TIMES_MAX {
                    self.proposed_at.pop_front();
                }
                self.proposed_at.push_back((entry.zxid, Instant::now()));
                let size =
                    postcard::serialize_with_flavor(&**entry, postcard::ser_flavors::Size::default()).unwrap_or(0);
                self.proposal_sizes.record(size);
            }
        }
    }

    /// Times elections and leadership from Zab's events.
    fn timed(&mut self, event: &zab::Event) {
        match event {
            zab::Event::Looking { .. } => {
                self.looking_since.get_or_insert_with(Instant::now);
                self.leading_since = None;
            }
            zab::Event::Elected { .. } => {
                if let Some(since) = self.looking_since.take() {
                    self.timings.election.record(since.elapsed().as_secs_f64() * 1000.0);
                }
            }
            zab::Event::Established { .. } if self.server.peer().is_established_leader() => {
                self.leading_since = Some(Instant::now());
            }
            _ => {}
        }
    }

    /// The Prometheus exposition of what mntr prints, with the timings and the learners' lag.
    fn exposition(&self) -> String {
        let peer = self.server.peer();
        let lags: Vec<(u64, u64)> = if peer.is_established_leader() {
            let last = peer.last_zxid();
            peer.learners()
                .into_iter()
                .map(|l| {
                    let behind = if l.acked.epoch() == last.epoch() {
                        last.counter().saturating_sub(l.acked.counter())
                    } else {
                        last.counter()
                    };
                    (l.id.0, u64::from(behind))
                })
                .collect()
        } else {
            Vec::new()
        };
        metrics::exposition(&self.monitor_values(), &self.timings, &lags)
    }

    /// The checkpoint handed over is durable once the writer is no longer busy with it
    /// (`last_snapshot`).
    fn note_checkpoint_done(&mut self) {
        if self.pending_snapshot.is_some() && !self.writer.as_ref().is_some_and(Writer::checkpoint_busy) {
            let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            self.last_snapshot = self.pending_snapshot.take().map(|zxid| (zxid, secs));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_come_every_half_to_whole_snap_count() {
        let mut schedule = SnapSchedule::new(1000, 42);
        let mut gaps = Vec::new();
        let mut since = 0;
        for counter in 1..=20_000u32 {
            since += 1;
            if schedule.on_committed(Zxid::new(1, counter - 1), Zxid::new(1, counter)) {
                gaps.push(since);
                since = 0;
            }
        }
        assert!(gaps.iter().all(|g| (501..=1000).contains(g)), "{gaps:?}");
        assert!(gaps.iter().any(|g| *g != gaps[0]), "randomized: {gaps:?}");
    }

    #[test]
    fn a_new_epoch_counts_only_its_own_txns() {
        let mut schedule = SnapSchedule::new(10, 7);
        schedule.threshold = 5;
        assert!(!schedule.on_committed(Zxid::new(1, 900), Zxid::new(2, 3)));
        assert_eq!(schedule.committed, 3);
        assert!(schedule.on_committed(Zxid::new(2, 3), Zxid::new(2, 6)));
        assert_eq!(schedule.committed, 0);
    }
}
