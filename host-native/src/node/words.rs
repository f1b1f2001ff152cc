//! The four-letter words (`ruok`, `srvr`, `mntr`, ...), answered from the node's state in
//! ZooKeeper 3.8's formats.

use zabkeeper_core::server::ServerMachine;
use zabkeeper_core::wire::FourLetterWord;
use zabkeeper_core::zab::StateMachine;

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
    pub fn four_letter_word(&self, word: FourLetterWord) -> String {
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
        let zxid = self.server.peer().committed();
        let watches = self.server.watches().stats();
        match word {
            FourLetterWord::Ruok => "imok".into(),
            FourLetterWord::Isro => "rw".into(),
            FourLetterWord::Srvr | FourLetterWord::Stat => {
                let mut s = format!("Zookeeper version: {SERVER_VERSION}, built on unknown\n");
                if word == FourLetterWord::Stat {
                    s.push_str("Clients:\n");
                    for (conn, c) in &self.clients {
                        s.push_str(&format!(" /{}[{conn}](queued=0,recved={},sent={})\n", c.addr, c.received, c.sent));
                    }
                    s.push('\n');
                }
                s.push_str(&format!(
                    "Latency min/avg/max: 0/0.0/0\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: 0\n\
                     Zxid: 0x{:x}\nMode: {}\nNode count: {nodes}\n",
                    self.received,
                    self.sent,
                    self.clients.len(),
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
                format!(
                    "clientPort={}\nclientPortAddress={}\ndataDir={}\ndataLogDir={}\ntickTime={}\nmaxClientCnxns={}\n\
                     minSessionTimeout={}\nmaxSessionTimeout={}\nserverId={}\n",
                    self.settings.client_addr.port(),
                    self.settings.client_addr.ip(),
                    self.settings.data_dir.display(),
                    self.settings.data_log_dir.as_ref().unwrap_or(&self.settings.data_dir).display(),
                    self.settings.tick_ms,
                    self.settings.max_client_cnxns,
                    sessions.min_timeout_ms,
                    sessions.max_timeout_ms,
                    self.settings.my_id
                )
            }
            FourLetterWord::Cons => {
                let mut s = String::new();
                for (conn, c) in &self.clients {
                    s.push_str(&format!(" /{}[{conn}](queued=0,recved={},sent={})\n", c.addr, c.received, c.sent));
                }
                s.push('\n');
                s
            }
            FourLetterWord::Mntr => format!(
                "zk_version\t{SERVER_VERSION}, built on unknown\nzk_server_state\t{}\nzk_znode_count\t{nodes}\n\
                 zk_watch_count\t{}\nzk_ephemerals_count\t{}\nzk_num_alive_connections\t{}\n\
                 zk_outstanding_requests\t0\nzk_packets_received\t{}\nzk_packets_sent\t{}\n\
                 zk_global_sessions\t{}\nzk_last_proposal_size\t-1\n",
                self.mode(),
                self.server.watches().watch_count(),
                db.tree.sessions_with_ephemerals().map(|s| db.tree.ephemerals(s).count()).sum::<usize>(),
                self.clients.len(),
                self.received,
                self.sent,
                db.sessions.len()
            ),
            FourLetterWord::Wchs => format!("{watches}\n"),
            // The digest of the replicated state at the last applied zxid: equal on replicas
            // that applied the same txns.
            FourLetterWord::Hash => {
                format!("zxid: 0x{:x}, digest: {:016x}\n", zxid.as_u64(), self.server.peer().machine().digest())
            }
            FourLetterWord::Dirs => "datadir_size: 0\nlogdir_size: 0\n".into(),
            FourLetterWord::Srst | FourLetterWord::Crst => "Server stats reset.\n".into(),
            _ => format!("{name} is not available in this server yet.\n"),
        }
    }
}
