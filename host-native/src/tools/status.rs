//! `zabkeeper status --servers H:P,...`: one line per member (mode, epoch, last zxid, lag
//! behind the leader, connections, outstanding requests, fsync times) and a verdict on the
//! quorum, from each member's `srvr` and (where the whitelist allows) `mntr` on its client
//! port; works against Apache ZooKeeper too. `--watch` redraws it in place. The exit status is
//! the verdict: 0 healthy, 1 degraded, 2 lost.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// The members' client addresses, comma-separated (a ZooKeeper connect string).
    #[arg(long, default_value = "127.0.0.1:2181")]
    servers: String,
    /// Redraw every --interval seconds until interrupted.
    #[arg(long)]
    watch: bool,
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
}

/// How long one member may take to answer a word.
const WORD_DEADLINE: Duration = Duration::from_secs(2);

/// The largest answer read from a member.
const ANSWER_BYTES_MAX: u64 = 1 << 20;

/// What one member said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Member {
    pub server: String,
    /// `leader`, `follower`, `observer`, `standalone`; `not serving` or `down`.
    pub mode: String,
    pub zxid: Option<u64>,
    pub connections: Option<u64>,
    pub outstanding: Option<u64>,
    /// mntr's voters (`zk_quorum_size`), when mntr is allowed.
    pub quorum_size: Option<u64>,
    pub fsync_avg_ms: Option<f64>,
    pub fsync_max_ms: Option<u64>,
}

/// The quorum, as the members' answers show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// One leader (or a standalone server), and every voter listed serving.
    Healthy,
    /// A leader and a majority of the voters serving, some not.
    Degraded,
    /// No leader, or fewer than a majority serving: writes stop.
    Lost,
}

impl Verdict {
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Degraded => 1,
            Verdict::Lost => 2,
        }
    }
}

fn word(addr: SocketAddr, word: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, WORD_DEADLINE).ok()?;
    s.set_read_timeout(Some(WORD_DEADLINE)).ok()?;
    s.set_write_timeout(Some(WORD_DEADLINE)).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.take(ANSWER_BYTES_MAX).read_to_string(&mut out).ok()?;
    Some(out)
}

/// Asks one member.
pub fn probe(server: &str) -> Member {
    let mut m = Member { server: server.to_string(), mode: "down".into(), ..Member::default() };
    let Some(addr) = server.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        m.mode = "unresolved".into();
        return m;
    };
    let Some(srvr) = word(addr, "srvr") else { return m };
    let field = |name: &str| srvr.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    m.mode = match field("Mode:") {
        Some(mode) => mode.to_string(),
        None if srvr.contains("not currently serving") => "not serving".into(),
        None => "unknown".into(),
    };
    m.zxid = field("Zxid:").and_then(|z| u64::from_str_radix(z.trim_start_matches("0x"), 16).ok());
    m.connections = field("Connections:").and_then(|c| c.parse().ok());
    m.outstanding = field("Outstanding:").and_then(|c| c.parse().ok());
    if let Some(mntr) = word(addr, "mntr").filter(|t| t.starts_with("zk_")) {
        let key = |name: &str| mntr.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix('\t'));
        m.quorum_size = key("zk_quorum_size").and_then(|v| v.parse().ok());
        m.fsync_avg_ms = key("zk_avg_fsynctime").and_then(|v| v.parse().ok());
        m.fsync_max_ms = key("zk_max_fsynctime").and_then(|v| v.parse().ok());
    }
    m
}

/// The verdict on `members`; observers do not count as voters.
pub fn verdict(members: &[Member]) -> Verdict {
    if members.iter().any(|m| m.mode == "standalone") {
        return Verdict::Healthy;
    }
    let listed_voters = members.iter().filter(|m| m.mode != "observer").count() as u64;
    let voters = members.iter().filter_map(|m| m.quorum_size).max().unwrap_or(listed_voters).max(1);
    let serving = members.iter().filter(|m| m.mode == "leader" || m.mode == "follower").count() as u64;
    let leaders = members.iter().filter(|m| m.mode == "leader").count();
    if leaders != 1 || serving * 2 <= voters {
        Verdict::Lost
    } else if serving == voters {
        Verdict::Healthy
    } else {
        Verdict::Degraded
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("-".into(), |v| v.to_string())
}

/// The table and the verdict line.
pub fn render(members: &[Member]) -> String {
    let leader_zxid = members.iter().find(|m| m.mode == "leader" || m.mode == "standalone").and_then(|m| m.zxid);
    let mut out = format!(
        "{:<22} {:<11} {:>5} {:>18} {:>7} {:>5} {:>11} {:>13}\n",
        "server", "mode", "epoch", "last zxid", "lag", "conns", "outstanding", "fsync avg/max"
    );
    for m in members {
        let lag = match (leader_zxid, m.zxid) {
            (Some(l), Some(z)) if l >> 32 == z >> 32 => (l.saturating_sub(z) & 0xffff_ffff).to_string(),
            (Some(_), Some(_)) => "epoch".into(),
            _ => "-".into(),
        };
        let fsync = match (m.fsync_avg_ms, m.fsync_max_ms) {
            (Some(avg), Some(max)) => format!("{avg:.1}/{max} ms"),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<22} {:<11} {:>5} {:>18} {:>7} {:>5} {:>11} {:>13}\n",
            m.server,
            m.mode,
            opt(&m.zxid.map(|z| z >> 32)),
            opt(&m.zxid.map(|z| format!("0x{z:x}"))),
            lag,
            opt(&m.connections),
            opt(&m.outstanding),
            fsync
        ));
    }
    let serving = members.iter().filter(|m| matches!(m.mode.as_str(), "leader" | "follower" | "standalone")).count();
    let leader = members.iter().find(|m| m.mode == "leader" || m.mode == "standalone").map(|m| m.server.as_str());
    let what = match verdict(members) {
        Verdict::Healthy => "quorum healthy",
        Verdict::Degraded => "quorum degraded: writes go on, one more failure may stop them",
        Verdict::Lost => "quorum lost: no writes are accepted",
    };
    out.push_str(&format!(
        "verdict: {what} ({serving} of {} serving, leader {})\n",
        members.len(),
        leader.unwrap_or("none")
    ));
    out
}

pub fn run(args: StatusArgs) -> Result<Verdict, String> {
    let servers: Vec<&str> = args.servers.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if servers.is_empty() {
        return Err("--servers names no server".into());
    }
    if !(args.interval.is_finite() && args.interval >= 0.1) {
        return Err("--interval must be at least 0.1 s".into());
    }
    loop {
        let members: Vec<Member> = std::thread::scope(|scope| {
            let asks: Vec<_> = servers.iter().map(|s| scope.spawn(move || probe(s))).collect();
            asks.into_iter().map(|a| a.join().unwrap_or_default()).collect()
        });
        let table = render(&members);
        if !args.watch {
            print!("{table}");
            return Ok(verdict(&members));
        }
        // Home and clear, then the table: redrawn in place.
        print!("\x1b[H\x1b[2J{table}");
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_secs_f64(args.interval));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(mode: &str, zxid: u64) -> Member {
        Member { server: format!("{mode}:1"), mode: mode.into(), zxid: Some(zxid), ..Member::default() }
    }

    #[test]
    fn verdicts_follow_the_majority_of_voters() {
        let (l, f) = (member("leader", 0x1_0000_0009), member("follower", 0x1_0000_0007));
        let down = member("down", 0);
        assert_eq!(verdict(&[l.clone(), f.clone(), f.clone()]), Verdict::Healthy);
        assert_eq!(verdict(&[l.clone(), f.clone(), down.clone()]), Verdict::Degraded);
        assert_eq!(verdict(&[l.clone(), down.clone(), down.clone()]), Verdict::Lost);
        assert_eq!(verdict(&[f.clone(), f.clone(), f.clone()]), Verdict::Lost, "no leader");
        assert_eq!(verdict(&[member("standalone", 5)]), Verdict::Healthy);
        let mut sized = l.clone();
        sized.quorum_size = Some(5);
        assert_eq!(verdict(&[sized, f.clone(), f.clone()]), Verdict::Degraded, "two of five voters not listed");
        let table = render(&[l, f, down]);
        assert!(table.lines().nth(2).unwrap().split_whitespace().any(|c| c == "2"), "{table}");
        assert!(table.ends_with("(2 of 3 serving, leader leader:1)\n"), "{table}");
    }
}
