//! The AdminServer's commands (`GET /commands/<name>`), answered from the node's state as
//! ZooKeeper 3.8's JSON: the keys its `Commands` print, each with `"command"` (the primary
//! name) and `"error"` (null, or why not). The HTTP side is [`crate::net::admin`].

use serde_json::{Map, Value, json};
use zabkeeper_core::server::ServerMachine;
use zabkeeper_core::zab::{LeaderPhase, LearnerStage, StateMachine, Status};

use super::Node;
use super::words::{NOT_SERVING, dir_size};
use crate::SERVER_VERSION;

/// One command: its primary name, its aliases, and whether it needs a serving server
/// (ZooKeeper's `serverRequired`; the rest answer during an election too).
pub struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    serving: bool,
}

const fn command(name: &'static str, aliases: &'static [&'static str], serving: bool) -> Command {
    Command { name, aliases, serving }
}

/// ZooKeeper 3.8's 26 commands, in the order `GET /commands` lists them.
pub const COMMANDS: &[Command] = &[
    command("configuration", &["conf", "config"], true),
    command("connection_stat_reset", &["crst"], true),
    command("connections", &["cons"], true),
    command("dirs", &[], true),
    command("dump", &[], true),
    command("environment", &["env", "envi"], false),
    command("get_trace_mask", &["gtmk"], false),
    command("hash", &[], true),
    command("initial_configuration", &["icfg"], true),
    command("is_read_only", &["isro"], true),
    command("last_snapshot", &["lsnp"], true),
    command("leader", &["lead"], true),
    command("monitor", &["mntr"], false),
    command("observer_connection_stat_reset", &["orst"], true),
    command("observers", &["obsr"], true),
    command("ruok", &[], true),
    command("server_stats", &["srvr"], true),
    command("set_trace_mask", &["stmk"], false),
    command("stat_reset", &["srst"], true),
    command("stats", &["stat"], true),
    command("system_properties", &["sysp"], false),
    command("voting_view", &[], true),
    command("watch_summary", &["wchs"], true),
    command("watches", &["wchc"], true),
    command("watches_by_path", &["wchp"], true),
    command("zabstate", &[], false),
];

/// The command a name or alias stands for.
pub fn lookup(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name || c.aliases.contains(&name))
}

/// A JSON object from key-value pairs, in their order.
fn object(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

impl Node {
    /// Runs an admin command by name or alias with the query's arguments; always an object
    /// with `command` and `error`, as ZooKeeper's.
    pub fn admin_command(&mut self, name: &str, args: &[(String, String)]) -> Value {
        let Some(cmd) = lookup(name) else {
            return json!({ "command": name, "error": format!("Unknown command: {name}") });
        };
        let mut body = if cmd.serving && !self.server.peer().is_serving() {
            object([("error", Value::from(NOT_SERVING.trim_end()))])
        } else {
            match self.run_command(cmd.name, args) {
                Ok(body) => body,
                Err(error) => object([("error", Value::from(error))]),
            }
        };
        body.insert("command".into(), cmd.name.into());
        body.entry("error").or_insert(Value::Null);
        Value::Object(body)
    }

    fn run_command(&mut self, name: &str, args: &[(String, String)]) -> Result<Map<String, Value>, String> {
        let st = &self.settings;
        Ok(match name {
            "configuration" => {
                let sessions = super::server_config(st).sessions;
                let log_dir = st.data_log_dir.as_deref().unwrap_or(&st.data_dir);
                let mut m = object([
                    ("client_port", st.client_addr.port().into()),
                    ("data_dir", st.data_dir.display().to_string().into()),
                    ("data_log_dir", log_dir.display().to_string().into()),
                    ("tick_time", st.tick_ms.into()),
                    ("max_client_cnxns", st.max_client_cnxns.into()),
                    ("min_session_timeout", sessions.min_timeout_ms.into()),
                    ("max_session_timeout", sessions.max_timeout_ms.into()),
                    ("server_id", (if st.members.len() > 1 { st.my_id } else { 0 }).into()),
                    ("client_port_listen_backlog", (-1).into()),
                ]);
                if let Some(secure) = st.secure_client_addr {
                    m.insert("secure_client_port".into(), secure.port().into());
                }
                m
            }
            "connection_stat_reset" => {
                self.reset_connection_stats();
                Map::new()
            }
            "connections" => self.connections(),
            "dirs" => {
                let data = dir_size(&st.data_dir);
                let log = st.data_log_dir.as_deref().map_or(data, dir_size);
                object([("datadir_size", data.into()), ("logdir_size", log.into())])
            }
            "dump" => {
                let tracker = self.server.sessions();
                let expiry: Map<String, Value> = tracker
                    .expiry_sets()
                    .map(|(at_ms, sessions)| {
                        (at_ms.to_string(), sessions.iter().map(|s| s.0).collect::<Vec<_>>().into())
                    })
                    .collect();
                let db = self.server.peer().machine().db();
                let ephemerals: Map<String, Value> = db
                    .tree
                    .sessions_with_ephemerals()
                    .map(|s| (s.0.to_string(), db.tree.ephemerals(s).map(str::to_string).collect::<Vec<_>>().into()))
                    .collect();
                object([
                    ("expiry_time_to_session_ids", expiry.into()),
                    ("session_id_to_ephemeral_paths", ephemerals.into()),
                ])
            }
            "environment" => environment(true),
            "system_properties" => environment(false),
            "get_trace_mask" => object([("tracemask", self.trace_mask.into())]),
            "set_trace_mask" => {
                let value = args.iter().find(|(k, _)| k == "traceMask").map(|(_, v)| v.as_str());
                match value.map(str::parse::<i64>) {
                    Some(Ok(mask)) => {
                        self.trace_mask = mask;
                        object([("tracemask", mask.into())])
                    }
                    Some(Err(_)) => {
                        return Err(format!(
                            "setTraceMask requires long traceMask argument, got {}",
                            value.unwrap_or_default()
                        ));
                    }
                    None => return Err("setTraceMask requires long traceMask argument".into()),
                }
            }
            "hash" => {
                let peer = self.server.peer();
                let digest = json!({ "zxid": peer.committed().as_u64(), "digest": peer.machine().digest() });
                object([("digests", vec![digest].into())])
            }
            "initial_configuration" => object([("initial_configuration", st.initial_config.clone().into())]),
            "is_read_only" => object([("read_only", false.into())]),
            "last_snapshot" => {
                self.note_checkpoint_done();
                let (zxid, secs) = match self.last_snapshot {
                    Some((zxid, secs)) => (format!("{:x}", zxid.as_u64()), secs as i64),
                    None => (format!("{:x}", -1i64), -1),
                };
                object([("zxid", zxid.into()), ("timestamp", secs.into())])
            }
            "leader" => {
                if st.members.len() <= 1 {
                    return Err("server is not initialized".into());
                }
                let peer = self.server.peer();
                let leader = peer.leader();
                let host = leader.and_then(|l| st.members.iter().find(|m| m.id == l.0)).map(|m| m.host.clone());
                object([
                    ("is_leader", peer.is_established_leader().into()),
                    ("leader_id", leader.map_or(-1, |l| l.0 as i64).into()),
                    ("leader_ip", host.unwrap_or_default().into()),
                ])
            }
            "monitor" => {
                if !self.server.peer().is_serving() {
                    // (ZooKeeper 3.8 fails with an HTTP 500 here.)
                    return Err(NOT_SERVING.trim_end().into());
                }
                self.monitor_values().into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            }
            // No per-observer connection counters are kept: nothing to reset.
            "observer_connection_stat_reset" => Map::new(),
            "observers" => {
                let peer = self.server.peer();
                let observers: Vec<Value> = if peer.is_established_leader() {
                    peer.learners()
                        .into_iter()
                        .filter(|l| l.observer && l.synced)
                        .map(|l| json!({ "sid": l.id.0, "last_zxid": l.acked.as_u64() }))
                        .collect()
                } else {
                    Vec::new()
                };
                object([("synced_observers", observers.len().into()), ("observers", observers.into())])
            }
            "ruok" => Map::new(),
            "server_stats" | "stats" => {
                let mut m = self.server_stats();
                if name == "stats" {
                    m.extend(self.connections());
                }
                m
            }
            "stat_reset" => {
                self.reset_server_stats();
                Map::new()
            }
            "voting_view" => {
                let view: Map<String, Value> = if st.members.len() > 1 {
                    st.members
                        .iter()
                        .filter(|m| !m.observer)
                        .map(|m| (m.id.to_string(), Value::Object(member_view(m))))
                        .collect()
                } else {
                    Map::new()
                };
                object([("current_config", view.into())])
            }
            "watch_summary" => {
                let w = self.server.watches().stats();
                object([
                    ("num_connections", w.connections.into()),
                    ("num_paths", w.paths.into()),
                    ("num_total_watches", w.watches.into()),
                ])
            }
            "watches" => {
                let by_session: Map<String, Value> = self
                    .server
                    .watches()
                    .report_by_watcher()
                    .into_iter()
                    .map(|(w, paths)| {
                        let session = self.server.connection_session(w.0).map_or(0, |(s, _)| s.0);
                        (session.to_string(), paths.into_iter().map(str::to_string).collect::<Vec<_>>().into())
                    })
                    .collect();
                object([("session_id_to_watched_paths", by_session.into())])
            }
            "watches_by_path" => {
                let by_path: Map<String, Value> = self
                    .server
                    .watches()
                    .report_by_path()
                    .into_iter()
                    .map(|(path, watchers)| {
                        let sessions: Vec<i64> = watchers
                            .iter()
                            .map(|w| self.server.connection_session(w.0).map_or(0, |(s, _)| s.0))
                            .collect();
                        (path.to_string(), sessions.into())
                    })
                    .collect();
                object([("path_to_session_ids", by_path.into())])
            }
            "zabstate" => self.zab_state(),
            other => return Err(format!("Unknown command: {other}")),
        })
    }

    /// `server_stats`: srvr's figures under ZooKeeper's keys.
    fn server_stats(&self) -> Map<String, Value> {
        let st = &self.settings;
        let data = dir_size(&st.data_dir);
        let log = st.data_log_dir.as_deref().map_or(data, dir_size);
        let sizes = self.response_sizes.json();
        let (local, remote) = self.plain_connections();
        let stats = object([
            ("packets_sent", self.sent.into()),
            ("packets_received", self.received.into()),
            ("client_response_stats", sizes.clone()),
            ("provider_null", false.into()),
            ("server_state", self.mode().into()),
            ("outstanding_requests", self.outstanding().into()),
            ("min_latency", self.latency.min().into()),
            ("avg_latency", self.latency.avg().into()),
            ("max_latency", self.latency.max().into()),
            ("data_dir_size", data.into()),
            ("log_dir_size", log.into()),
            ("last_processed_zxid", self.processed_zxid().as_u64().into()),
            ("num_alive_client_connections", self.clients.len().into()),
            ("fsync_threshold_exceed_count", self.timings.fsync_slow.load(std::sync::atomic::Ordering::Relaxed).into()),
            ("auth_failed_count", self.auth_failures.into()),
            ("non_mtlsremote_conn_count", remote.into()),
            ("non_mtlslocal_conn_count", local.into()),
            ("uptime", (self.started.elapsed().as_millis() as u64).into()),
        ]);
        let mut m = object([
            ("version", format!("{SERVER_VERSION}, built on unknown").into()),
            ("read_only", false.into()),
            ("server_stats", stats.into()),
            ("client_response", sizes),
            ("node_count", self.server.peer().machine().db().tree.node_count().into()),
        ]);
        if self.settings.members.len() > 1 && self.server.peer().is_established_leader() {
            m.insert("proposal_stats".into(), self.proposal_sizes.json());
        }
        m
    }

    /// `connections`: one object per client connection, as `cons` lists them. TLS connections
    /// that showed a certificate are the `secure_connections`.
    fn connections(&self) -> Map<String, Value> {
        let (mut plain, mut secure) = (Vec::new(), Vec::new());
        for (conn, c) in &self.clients {
            let s = &c.stats;
            let (session, timeout) = self.server.connection_session(*conn).map_or((0, 0), |(s, t)| (s.0, t));
            let info = json!({
                "remote_socket_address": c.addr.to_string(),
                "interest_ops": 1,
                "outstanding_requests": s.outstanding(),
                "packets_received": s.received,
                "packets_sent": s.sent,
                "session_id": session,
                "last_operation": s.last_op,
                "established": s.established_ms,
                "session_timeout": timeout,
                "last_cxid": s.last_cxid,
                "last_zxid": s.last_zxid,
                "last_response_time": s.last_response_ms,
                "last_latency": s.last_latency_ms,
                "min_latency": s.latency.min(),
                "avg_latency": s.latency.avg() as u64,
                "max_latency": s.latency.max(),
            });
            if c.certified { secure.push(info) } else { plain.push(info) }
        }
        object([("connections", plain.into()), ("secure_connections", secure.into())])
    }

    /// Client connections without a client certificate: from loopback, and from elsewhere.
    pub(super) fn plain_connections(&self) -> (usize, usize) {
        let plain = self.clients.values().filter(|c| !c.certified);
        let local = plain.clone().filter(|c| c.addr.ip().is_loopback()).count();
        (local, plain.count() - local)
    }

    /// The phase of Zab this server is in, as ZooKeeper names it (`peer_state`, `zabstate`).
    pub(super) fn zab_phase(&self) -> &'static str {
        match self.server.peer().status() {
            Status::Looking => "election",
            Status::Leading { phase, .. } => match phase {
                LeaderPhase::Discovery | LeaderPhase::EpochPending | LeaderPhase::AwaitAckEpoch => "discovery",
                LeaderPhase::Synchronization => "synchronization",
                LeaderPhase::Broadcast => "broadcast",
            },
            Status::Following { stage, .. } | Status::Observing { stage, .. } => match stage {
                LearnerStage::Info | LearnerStage::EpochPending | LearnerStage::AckedEpoch => "discovery",
                LearnerStage::Broadcast => "broadcast",
                _ => "synchronization",
            },
        }
    }

    /// `zabstate`: this member's addresses, its last zxid and its phase of Zab.
    fn zab_state(&self) -> Map<String, Value> {
        let st = &self.settings;
        let peer = self.server.peer();
        let Some(me) = st.members.iter().find(|m| m.id == st.my_id).filter(|_| st.members.len() > 1) else {
            return object([("voting", false.into()), ("zabstate", "".into())]);
        };
        let phase = self.zab_phase();
        let zxid = self.processed_zxid();
        object([
            ("myid", st.my_id.into()),
            ("is_leader", peer.is_established_leader().into()),
            ("quorum_address", addresses(&me.host, me.quorum_port)),
            ("election_address", addresses(&me.host, me.election_port)),
            ("client_address", st.client_addr.to_string().into()),
            ("voting", (!me.observer).into()),
            ("last_zxid", format!("0x{:x}", zxid.as_u64()).into()),
            ("zab_epoch", zxid.epoch().into()),
            ("zab_counter", zxid.counter().into()),
            ("zabstate", phase.into()),
        ])
    }
}

/// A member in `voting_view`.
fn member_view(m: &crate::config::Member) -> Map<String, Value> {
    object([
        ("server_addresses", vec![format!("{}:{}", m.host, m.quorum_port)].into()),
        ("election_addresses", vec![format!("{}:{}", m.host, m.election_port)].into()),
        ("client_address", m.client.map(|c| c.to_string()).unwrap_or_default().into()),
        ("learner_type", (if m.observer { "observer" } else { "participant" }).into()),
    ])
}

/// ZooKeeper's view of a member's address list (`MultipleAddresses`) in `zabstate`; one
/// address here, taken as reachable.
fn addresses(host: &str, port: u16) -> Value {
    let one = format!("{host}:{port}");
    json!({
        "empty": false,
        "all_addresses": [one],
        "all_reachable_addresses": [one],
        "one": one,
        "reachable_address": one,
        "wildcard_addresses": [format!("0.0.0.0:{port}")],
        "all_ports": [port],
        "all_host_strings": [host],
        "all_reachable_addresses_or_all": [one],
        "reachable_or_one": one,
    })
}

/// `environment` (and, with the Java property names that have a meaning here,
/// `system_properties`): the process and the machine it runs on.
fn environment(with_version: bool) -> Map<String, Value> {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let os_version = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut m = Map::new();
    if with_version {
        m.insert("zookeeper.version".into(), format!("{SERVER_VERSION}, built on unknown").into());
        m.insert("host.name".into(), host_name().into());
    }
    let pairs = [
        ("os.name", os_name().to_string()),
        ("os.arch", arch().to_string()),
        ("os.version", os_version.trim().to_string()),
        ("user.name", env("USER")),
        ("user.home", env("HOME")),
        ("user.dir", std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()),
    ];
    m.extend(pairs.into_iter().map(|(k, v)| (k.to_string(), v.into())));
    if !with_version {
        m.insert("file.separator".into(), "/".into());
        m.insert("line.separator".into(), "\n".into());
        m.insert("path.separator".into(), ":".into());
        m.insert("java.io.tmpdir".into(), std::env::temp_dir().display().to_string().into());
        m.sort_keys();
    }
    m
}

/// The machine's name (`host.name`), from the kernel where it tells.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or("localhost".into())
}

/// `os.name` as Java spells it.
fn os_name() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Mac OS X",
        "windows" => "Windows",
        other => other,
    }
}

/// `os.arch` as Java spells it.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        other => other,
    }
}

/// Sizes of the responses written to clients (ZooKeeper's `client_response_stats`), or of the
/// proposals a leader sent (`proposal_stats`): -1 until the first.
#[derive(Clone, Copy, Debug)]
pub struct ResponseSizes {
    last: i64,
    min: i64,
    max: i64,
}

impl Default for ResponseSizes {
    fn default() -> ResponseSizes {
        ResponseSizes { last: -1, min: -1, max: -1 }
    }
}

impl ResponseSizes {
    pub fn record(&mut self, bytes: usize) {
        let n = bytes as i64;
        self.last = n;
        self.min = if self.min < 0 { n } else { self.min.min(n) };
        self.max = self.max.max(n);
    }

    pub fn last(&self) -> i64 {
        self.last
    }

    pub fn min(&self) -> i64 {
        self.min
    }

    pub fn max(&self) -> i64 {
        self.max
    }

    pub(super) fn json(&self) -> Value {
        json!({ "last_buffer_size": self.last, "min_buffer_size": self.min, "max_buffer_size": self.max })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_alias_finds_one_command() {
        assert_eq!(COMMANDS.len(), 26);
        let mut names: Vec<&str> =
            COMMANDS.iter().flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied())).collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all, "a name stands for one command only");
        assert_eq!(lookup("mntr").map(|c| c.name), Some("monitor"));
        assert_eq!(lookup("config").map(|c| c.name), Some("configuration"));
        assert!(lookup("snapshot").is_none(), "3.9's snapshot and restore are not 3.8 commands");
    }

    #[test]
    fn response_sizes_start_at_minus_one() {
        let mut r = ResponseSizes::default();
        assert_eq!((r.last(), r.min(), r.max()), (-1, -1, -1));
        r.record(40);
        r.record(16);
        assert_eq!((r.last(), r.min(), r.max()), (16, 16, 40));
    }
}
