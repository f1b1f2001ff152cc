//! systemd's service notification protocol (`sd_notify`), for a unit with `Type=notify`:
//! `READY=1` once the server first serves clients (standalone at once; a member once it has a
//! quorum), `STATUS=<mode>` whenever its mode changes, `WATCHDOG=1` from the node's own loop
//! when the unit sets `WatchdogSec` (so a wedged node task is restarted), and `STOPPING=1` on
//! a clean stop. Each is one datagram to the socket named by `NOTIFY_SOCKET` (a path, or
//! `@name` in the abstract namespace); without that variable nothing is sent.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// Where notifications go, and what was last said.
#[derive(Debug, Default)]
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    /// Half the watchdog period systemd asked for (`WATCHDOG_USEC`), if it asked this process.
    watchdog_every: Option<Duration>,
    last_watchdog: Option<Instant>,
    ready: bool,
    status: &'static str,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` of this process's environment.
    pub fn from_env() -> Notifier {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let Some(path) = var("NOTIFY_SOCKET") else { return Notifier::default() };
        let socket = match address(&path).and_then(|addr| Ok((UnixDatagram::unbound()?, addr))) {
            Ok(socket) => Some(socket),
            Err(e) => {
                tracing::warn!(socket = %path, error = %e, "NOTIFY_SOCKET is set but unusable; systemd will not hear from this server");
                None
            }
        };
        let for_us = var("WATCHDOG_PID").is_none_or(|pid| pid == std::process::id().to_string());
        let watchdog_every = var("WATCHDOG_USEC")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|us| *us > 0 && for_us)
            .map(|us| Duration::from_micros(us / 2));
        Notifier { socket, watchdog_every, last_watchdog: None, ready: false, status: "" }
    }

    /// Whether anything is listening.
    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    fn send(&self, message: &str) {
        if let Some((socket, addr)) = &self.socket
            && let Err(e) = socket.send_to_addr(message.as_bytes(), addr)
        {
            tracing::debug!(error = %e, message, "sd_notify");
        }
    }

    /// The node's mode now (`looking`, `leader`, ...), and whether it serves clients; called
    /// from the node's loop. Says READY=1 the first time it serves, STATUS when the mode
    /// changes, and WATCHDOG=1 when one is due.
    pub fn observe(&mut self, mode: &'static str, serving: bool, now: Instant) {
        if self.socket.is_none() {
            return;
        }
        if mode != self.status {
            self.status = mode;
            let text = if serving { format!("STATUS=serving as {mode}") } else { format!("STATUS={mode}") };
            if serving && !self.ready {
                self.ready = true;
                self.send(&format!("READY=1\n{text}"));
            } else {
                self.send(&text);
            }
        }
        if let Some(every) = self.watchdog_every
            && self.last_watchdog.is_none_or(|at| now.saturating_duration_since(at) >= every)
        {
            self.last_watchdog = Some(now);
            self.send("WATCHDOG=1");
        }
    }

    /// The server is stopping cleanly.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }
}

fn address(path: &str) -> std::io::Result<SocketAddr> {
    match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None => SocketAddr::from_pathname(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_status_on_changes_and_a_watchdog_each_half_period() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut n = Notifier {
            socket: Some((UnixDatagram::unbound().unwrap(), address(path.to_str().unwrap()).unwrap())),
            watchdog_every: Some(Duration::from_millis(100)),
            ..Notifier::default()
        };
        let t0 = Instant::now();
        let said = || {
            let mut out = Vec::new();
            let mut buf = [0u8; 256];
            while let Ok(len) = listener.recv(&mut buf) {
                out.push(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
            out
        };
        n.observe("looking", false, t0);
        assert_eq!(said(), ["STATUS=looking", "WATCHDOG=1"]);
        n.observe("looking", false, t0 + Duration::from_millis(50));
        assert!(said().is_empty(), "nothing changed, no watchdog due");
        n.observe("follower", true, t0 + Duration::from_millis(100));
        assert_eq!(said(), ["READY=1\nSTATUS=serving as follower", "WATCHDOG=1"]);
        n.observe("looking", false, t0 + Duration::from_millis(150));
        n.observe("leader", true, t0 + Duration::from_millis(160));
        assert_eq!(said(), ["STATUS=looking", "STATUS=serving as leader"], "READY only once");
        n.stopping();
        assert_eq!(said(), ["STOPPING=1\nSTATUS=stopping"]);
    }

    #[test]
    fn abstract_socket_names_are_understood() {
        let name = format!("zabkeeper-notify-test-{}", std::process::id());
        let listener = {
            use std::os::linux::net::SocketAddrExt;
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap()
        };
        let mut n = Notifier {
            socket: Some((UnixDatagram::unbound().unwrap(), address(&format!("@{name}")).unwrap())),
            ..Notifier::default()
        };
        n.observe("standalone", true, Instant::now());
        let mut buf = [0u8; 64];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=serving as standalone");
    }
}
