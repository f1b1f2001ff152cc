//! The simulated clients' connections: in order like TCP, reset when a server crashes.

use super::*;

impl Sim {
    /// When the next bytes on `conn` in one direction arrive: a fresh latency, but never
    /// before what was sent earlier the same way. `None` for an unknown connection.
    pub(super) fn client_link(&mut self, conn: u64, to_server: bool) -> Option<u64> {
        let (low, high) = self.config.faults.latency_ms;
        let at = self.now_ms + self.rng.between(low, high);
        let info = self.conns.get_mut(&conn)?;
        let last = if to_server { &mut info.to_server_at } else { &mut info.to_client_at };
        *last = (*last).max(at);
        Some(*last)
    }

    pub(super) fn client_tick(&mut self, client: usize) {
        let end_of_calls = self.config.chaos_ms + self.config.calm_ms.saturating_sub(self.config.calm_ms / 3);
        let active = self.now_ms < end_of_calls;
        let servers = self.nodes.len();
        let now = self.now_ms;
        let actions = self.clients[client].tick(now, servers, &mut self.next_conn, active);
        self.client_actions(client, actions);
        let every = self.config.tick_ms / 2;
        let delay = self.rng.between(every / 2, every);
        self.schedule(delay.max(1), Scheduled::ClientTick { client });
    }

    pub(super) fn client_actions(&mut self, client: usize, actions: Vec<ClientAction>) {
        for action in actions {
            match action {
                ClientAction::Connect { conn, server, payload } => {
                    let incarnation = self.nodes[server].incarnation;
                    let now = self.now_ms;
                    let info =
                        ConnInfo { client, server, incarnation, to_server_at: now, to_client_at: now, dead: false };
                    self.conns.insert(conn, info);
                    let addr = core::net::IpAddr::V4(core::net::Ipv4Addr::new(127, 0, 0, 1));
                    self.client_send(conn, ServerInput::Connected { conn, addr, x509: None });
                    self.client_send(conn, ServerInput::Frame { conn, payload });
                }
                ClientAction::Send { conn, payload } => self.client_send(conn, ServerInput::Frame { conn, payload }),
                ClientAction::Drop { conn } => {
                    self.client_send(conn, ServerInput::Disconnected { conn });
                    if let Some(info) = self.conns.get_mut(&conn) {
                        info.dead = true;
                    }
                }
                ClientAction::Violation(detail) => {
                    let id = self.clients[client].id;
                    self.checker.violations.push(Violation {
                        at_ms: self.now_ms,
                        server: ServerId(0),
                        invariant: "FifoClientOrder",
                        detail: format!("client {id}: {detail}"),
                    });
                }
            }
        }
    }

    pub(super) fn client_send(&mut self, conn: u64, input: ServerInput) {
        if let Some(at) = self.client_link(conn, true) {
            self.schedule(at - self.now_ms, Scheduled::ToServer { conn, input });
        }
    }

    pub(super) fn deliver_to_server(&mut self, conn: u64, input: ServerInput) {
        let Some(info) = self.conns.get(&conn).copied() else { return };
        let up = self.nodes[info.server].server.is_some() && self.nodes[info.server].incarnation == info.incarnation;
        if !up {
            // Nobody listens there any more: the client sees the connection fail.
            if !info.dead {
                if let Some(info) = self.conns.get_mut(&conn) {
                    info.dead = true;
                }
                let delay = self.rng.between(1, 20);
                self.schedule(delay, Scheduled::ClientClosed { conn });
            }
            return;
        }
        let disconnect = matches!(input, ServerInput::Disconnected { .. });
        self.step(info.server, input);
        if disconnect {
            self.conns.remove(&conn);
        }
    }

    pub(super) fn deliver_to_client(&mut self, conn: u64, mut bytes: Vec<u8>) {
        let Some(info) = self.conns.get(&conn).copied() else { return };
        let now = self.now_ms;
        while bytes.len() >= 4 {
            let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
            if bytes.len() < 4 + len {
                break;
            }
            let rest = bytes.split_off(4 + len);
            let actions = self.clients[info.client].receive(conn, &bytes[4..], now);
            self.client_actions(info.client, actions);
            bytes = rest;
        }
    }
}
