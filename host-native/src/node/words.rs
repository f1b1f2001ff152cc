//! The four-letter words (`ruok`, `srvr`, `mntr`, ...), answered from the node's state in
//! ZooKeeper 3.8's formats.

use zabkeeper_core::server::ServerMachine;
use zabkeeper_core::wire::FourLetterWord;
use zabkeeper_core::zab::StateMachine;

use serde_json::Value;

use super::{Node, server_config};
use crate::SERVER_VERSION;

/// What ZooKeeper answers to srvr, stat, mntr, conf, cons and wchs until it serves.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

impl Node {
    pub(super) fn mode(&self) -> &'static str {
        use zabkeeper_core::zab::Status;
        let peer = self.server.peer();
        if !peer.is_serving() {
            return "looking";
        }
        match peer.status() {
            Status::Leading { .. } if self.settings.members.len() <= 1 => "standalone",
            Status::Leading { .. } => "leader",
            Status::Following { .. } => "follower",
            Status::Observing { .. } => "observer",
            Status::Looking => "looking",
        }
    }

    /// The four-letter words, in ZooKeeper 3.8's formats; words not in the whitelist are
    /// refused with ZooKeeper's message.
    /// `stmk` comes with the new mask.
    pub fn four_letter_word(&mut self, word: FourLetterWord, mask: Option<i64>) -> String {
        let name = word.as_str();
        if !self.settings.four_letter_words.contains(name) {
            return format!("{name} is not executed because it is not in the whitelist.\n");
        }
        // As ZooKeeper: the words that describe the serving server say so until it serves
        // (readiness probes and scripts rely on it).
        let serving = self.server.peer().is_serving();
        match word {
            FourLetterWord::Isro if !serving => return "null".into(),
            FourLetterWord::Srvr
            | FourLetterWord::Stat
            | FourLetterWord::Mntr
            | FourLetterWord::Conf
            | FourLetterWord::Cons
            | FourLetterWord::Wchs
                if !serving =>
            {
                return NOT_SERVING.into();
            }
            _ => {}
        }
        let db = self.server.peer().machine().db();
        let nodes = db.tree.node_count();
        let zxid = self.processed_zxid();
        let watches = self.server.watches().stats();
        match word {
            FourLetterWord::Ruok => "imok".into(),
            FourLetterWord::Isro => "rw".into(),
            FourLetterWord::Srvr | FourLetterWord::Stat => {
                let mut s = format!("Zookeeper version: {SERVER_VERSION}, built on unknown\n");
                if word == FourLetterWord::Stat {
                    s.push_str("Clients:\n");
                    for c in self.clients.values() {
                        s.push_str(&format!("{})\n", short_line(c)));
                    }
                    s.push('\n');
                }
                s.push_str(&format!(
                    "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\n\
                     Zxid: 0x{:x}\nMode: {}\nNode count: {nodes}\n",
                    self.latency.min(),
                    java_double(self.latency.avg()),
                    self.latency.max(),
                    self.received,
                    self.sent,
                    self.clients.len(),
                    self.outstanding(),
                    zxid.as_u64(),
                    self.mode()
                ));
                s
            }
            FourLetterWord::Envi => format!(
                "Environment:\nzookeeper.version={SERVER_VERSION}, built on unknown\nhost.name=localhost\n\
                 os.name={}\nos.arch={}\nuser.dir={}\n",
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
            ),
            FourLetterWord::Conf => {
                let sessions = server_config(&self.settings).sessions;
                let st = &self.settings;
                let log_dir = st.data_log_dir.as_deref().unwrap_or(&st.data_dir);
                let mut s = format!(
                    "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\n\
                     tickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\n\
                     clientPortListenBacklog=-1\nserverId={}\n",
                    st.client_addr.port(),
                    st.secure_client_addr.map_or(-1, |a| i32::from(a.port())),
                    st.data_dir.display(),
                    dir_size(&st.data_dir),
                    log_dir.display(),
                    dir_size(log_dir),
                    st.tick_ms,
                    st.max_client_cnxns,
                    sessions.min_timeout_ms,
                    sessions.max_timeout_ms,
                    if st.members.len() > 1 { st.my_id } else { 0 }
                );
                // A member of an ensemble adds its quorum settings, as ZooKeeper's do.
                if let Some(me) = st.members.iter().find(|m| m.id == st.my_id).filter(|_| st.members.len() > 1) {
                    s.push_str(&format!(
                        "initLimit={}\nsyncLimit={}\nelectionAlg=3\nelectionPort={}\nquorumPort={}\npeerType={}\n\
                         membership: \n",
                        st.init_limit,
                        st.sync_limit,
                        me.election_port,
                        me.quorum_port,
                        u8::from(me.observer)
                    ));
                    for m in &st.members {
                        let role = if m.observer { "observer" } else { "participant" };
                        let client = m.client.map(|c| format!(";{c}")).unwrap_or_default();
                        s.push_str(&format!(
                            "server.{}={}:{}:{}:{role}{client}\n",
                            m.id, m.host, m.quorum_port, m.election_port
                        ));
                    }
                }
                s
            }
            FourLetterWord::Cons => {
                let mut s = String::new();
                for (conn, c) in &self.clients {
                    s.push_str(&self.connection_line(*conn, c));
                }
                s.push('\n');
                s
            }
            FourLetterWord::Crst => {
                self.reset_connection_stats();
                "Connection stats reset.\n".into()
            }
            FourLetterWord::Srst => {
                self.reset_server_stats();
                "Server stats reset.\n".into()
            }
            FourLetterWord::Gtmk => self.trace_mask.to_string(),
            FourLetterWord::Stmk => match mask {
                Some(mask) => {
                    self.trace_mask = mask;
                    mask.to_string()
                }
                None => self.trace_mask.to_string(),
            },
            FourLetterWord::Wchc => {
                let mut s = String::new();
                for (watcher, paths) in self.server.watches().report_by_watcher() {
                    let session = self.server.connection_session(watcher.0).map_or(0, |(s, _)| s.0);
                    s.push_str(&format!("0x{session:x}\n"));
                    for path in paths {
                        s.push_str(&format!("\t{path}\n"));
                    }
                }
                s.push('\n');
                s
            }
            FourLetterWord::Wchp => {
                let mut s = String::new();
                for (path, watchers) in self.server.watches().report_by_path() {
                    s.push_str(&format!("{path}\n"));
                    for w in watchers {
                        let session = self.server.connection_session(w.0).map_or(0, |(s, _)| s.0);
                        s.push_str(&format!("\t0x{session:x}\n"));
                    }
                }
                s.push('\n');
                s
            }
            FourLetterWord::Dump => {
                let tracker = self.server.sessions();
                let sets: Vec<_> = tracker.expiry_sets().collect();
                let mut s = format!("SessionTracker dump:\nSession Sets ({})/({}):\n", sets.len(), tracker.len());
                for (at_ms, sessions) in sets {
                    s.push_str(&format!("{} expire at {}:\n", sessions.len(), java_date(at_ms)));
                    for session in sessions {
                        s.push_str(&format!("\t0x{:x}\n", session.0));
                    }
                }
                s.push_str("ephemeral nodes dump:\n");
                let owners: Vec<_> = db.tree.sessions_with_ephemerals().collect();
                s.push_str(&format!("Sessions with Ephemerals ({}):\n", owners.len()));
                for session in owners {
                    s.push_str(&format!("0x{:x}:\n", session.0));
                    for path in db.tree.ephemerals(session) {
                        s.push_str(&format!("\t{path}\n"));
                    }
                }
                s
            }
            FourLetterWord::Mntr => {
                let mut s = String::new();
                for (key, value) in self.monitor_values() {
                    let text = match &value {
                        Value::String(text) => text.clone(),
                        Value::Number(n) if n.is_f64() => java_double(n.as_f64().unwrap_or_default()),
                        other => other.to_string(),
                    };
                    s.push_str(&format!("zk_{key}\t{text}\n"));
                }
                s
            }
            FourLetterWord::Wchs => format!("{watches}\n"),
            // The digest of the replicated state at the last applied zxid: equal on replicas
            // that applied the same txns.
            FourLetterWord::Hash => {
                let zxid = self.server.peer().committed();
                format!("zxid: 0x{:x}, digest: {:016x}\n", zxid.as_u64(), self.server.peer().machine().digest())
            }
            FourLetterWord::Dirs => {
                let data = dir_size(&self.settings.data_dir);
                let log = self.settings.data_log_dir.as_deref().map_or(data, dir_size);
                format!("datadir_size: {data}\nlogdir_size: {log}\n")
            }
        }
    }

    /// `mntr`'s keys (without their `zk_` prefix) and values, in its order; the admin
    /// `monitor` command prints the same.
    pub(super) fn monitor_values(&self) -> Vec<(String, Value)> {
        let db = self.server.peer().machine().db();
        let (local, remote) = self.plain_connections();
        let mut v: Vec<(&'static str, Value)> = vec![
            ("version", format!("{SERVER_VERSION}, built on unknown").into()),
            ("server_state", self.mode().into()),
            ("znode_count", db.tree.node_count().into()),
            ("watch_count", self.server.watches().watch_count().into()),
            (
                "ephemerals_count",
                db.tree.sessions_with_ephemerals().map(|s| db.tree.ephemerals(s).count()).sum::<usize>().into(),
            ),
            ("num_alive_connections", self.clients.len().into()),
            ("outstanding_requests", self.outstanding().into()),
            ("packets_received", self.received.into()),
            ("packets_sent", self.sent.into()),
            ("global_sessions", db.sessions.len().into()),
            ("local_sessions", 0.into()),
            ("avg_latency", self.latency.avg().into()),
            ("min_latency", self.latency.min().into()),
            ("max_latency", self.latency.max().into()),
            ("approximate_data_size", db.tree.approximate_data_size().into()),
            ("uptime", (self.started.elapsed().as_millis() as u64).into()),
        ];
        if let Some((open, max)) = file_descriptors() {
            v.push(("open_file_descriptor_count", open.into()));
            v.push(("max_file_descriptor_count", max.into()));
        }
        let state = match self.mode() {
            "leader" => "leading",
            "follower" => "following",
            "observer" => "observing",
            _ => "looking",
        };
        v.extend([
            ("auth_failed_count", self.auth_failures.into()),
            ("last_client_response_size", self.response_sizes.last().into()),
            ("min_client_response_size", self.response_sizes.min().into()),
            ("max_client_response_size", self.response_sizes.max().into()),
            ("non_mtls_local_conn_count", local.into()),
            ("non_mtls_remote_conn_count", remote.into()),
        ]);
        let peer = self.server.peer();
        if self.settings.members.len() > 1 {
            v.push(("peer_state", format!("{state} - {}", self.zab_phase()).into()));
            v.push(("quorum_size", self.settings.members.iter().filter(|m| !m.observer).count().into()));
            if peer.is_established_leader() {
                let learners = peer.learners();
                let synced = |observer: bool| learners.iter().filter(|l| l.synced && l.observer == observer).count();
                v.extend([
                    ("learners", learners.len().into()),
                    ("synced_followers", synced(false).into()),
                    ("synced_non_voting_followers", 0.into()),
                    ("synced_observers", synced(true).into()),
                    // A sync is answered by the leader at once with the zxid to wait for, and
                    // waits on the learner that asked: none is ever pending here.
                    ("pending_syncs", 0.into()),
                ]);
                let uptime = self.leading_since.map_or(0, |since| since.elapsed().as_millis() as u64);
                v.push(("leader_uptime", uptime.into()));
                v.push(("last_proposal_size", self.proposal_sizes.last().into()));
                v.push(("min_proposal_size", self.proposal_sizes.min().into()));
                v.push(("max_proposal_size", self.proposal_sizes.max().into()));
            }
        }
        let mut v: Vec<(String, Value)> = v.into_iter().map(|(k, value)| (k.to_string(), value)).collect();
        self.timings.mntr(&mut v);
        v
    }

    /// `crst`: every connection's counters start again.
    pub(super) fn reset_connection_stats(&mut self) {
        for c in self.clients.values_mut() {
            c.stats.reset();
        }
    }

    /// `srst`: the server's counters, latencies and response sizes start again (a leader's
    /// proposal sizes are its own, as in ZooKeeper).
    pub(super) fn reset_server_stats(&mut self) {
        self.received = 0;
        self.sent = 0;
        self.latency = super::stats::Latency::default();
        self.response_sizes = super::admin::ResponseSizes::default();
        self.timings.reset_latencies();
    }

    /// The last zxid processed, as ZooKeeper reports it (srvr's `Zxid`): the last committed
    /// one, and once an epoch is established at least that epoch's start, so a fresh ensemble
    /// shows its epoch before its first write, as ZooKeeper's does.
    pub(super) fn processed_zxid(&self) -> zabkeeper_core::Zxid {
        let peer = self.server.peer();
        let committed = peer.committed();
        if peer.is_serving() { committed.max(zabkeeper_core::Zxid::new(peer.current_epoch(), 0)) } else { committed }
    }

    /// Requests read from clients and not answered yet.
    pub(super) fn outstanding(&self) -> usize {
        self.clients.values().map(|c| c.stats.outstanding()).sum()
    }

    /// One line of `cons`: ZooKeeper's long form once the connection has a session.
    fn connection_line(&self, conn: u64, c: &super::Client) -> String {
        let st = &c.stats;
        let head = short_line(c);
        match self.server.connection_session(conn) {
            Some((session, timeout)) if session.0 != 0 => format!(
                "{head},sid=0x{:x},lop={},est={},to={timeout},lcxid=0x{:x},lzxid=0x{:x},lresp={},llat={},\
                 minlat={},avglat={},maxlat={})\n",
                session.0,
                st.last_op,
                st.established_ms,
                st.last_cxid,
                st.last_zxid,
                st.last_response_ms,
                st.last_latency_ms,
                st.latency.min(),
                st.latency.avg() as u64,
                st.latency.max()
            ),
            _ => format!("{head})\n"),
        }
    }
}

/// The start of a connection's line in `stat` and `cons` (without its closing parenthesis).
fn short_line(c: &super::Client) -> String {
    format!(" /{}[1](queued=0,recved={},sent={}", c.addr, c.stats.received, c.stats.sent)
}

/// ZooKeeper's trace mask at the start, as `gtmk` reports it.
pub const TRACE_MASK: i64 = 306;

/// A latency average as ZooKeeper prints it in `srvr`: a Java double rounded to 4 places
/// (`0.0`, `4.75`, `0.8667`).
fn java_double(x: f64) -> String {
    let rounded = (x * 10_000.0).round() / 10_000.0;
    let s = format!("{rounded}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// Milliseconds since the epoch as Java's `Date.toString()` prints them in UTC
/// (`Tue Nov 24 22:26:09 UTC 2026`).
pub(crate) fn java_date(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The bytes of the files under `dir` (ZooKeeper's `dirs` and `conf` sizes).
pub(super) fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// The open file descriptors and their limit, where the system tells (Linux's /proc).
fn file_descriptors() -> Option<(usize, u64)> {
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count();
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let max = limits.lines().find(|l| l.starts_with("Max open files"))?.split_whitespace().nth(3)?.parse().ok()?;
    Some((open, max))
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_print_as_java_does() {
        assert_eq!(super::java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(super::java_date(1_795_559_169_000), "Tue Nov 24 22:26:09 UTC 2026");
        assert_eq!(super::java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
    }
}
