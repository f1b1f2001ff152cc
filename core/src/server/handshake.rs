//! A connection's way in: the ConnectRequest, a new session's createSession, a reconnecting
//! session's revalidation by the leader (opened once this server has applied what the leader
//! had then), refusals, and addAuth.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::sasl::{self, Expect, SaslError};
use super::{Conn, ConnId, Login, PeerMessage, Phase, SaslStep, Server, ServerMachine, ServerOutput};

use crate::error::ErrorCode;
use crate::ids::{SessionId, Zxid};
use crate::session::password_matches;
use crate::tree::Id;
use crate::txn::WriteOp;
use crate::wire::records::ReplyHeader;
use crate::wire::records::SaslToken;
use crate::wire::{AUTH_XID, ConnectRequest, ConnectResponse, Response, write_frame};

impl<M: ServerMachine> Server<M> {
    pub(super) fn on_frame(&mut self, conn: ConnId, payload: Vec<u8>, out: &mut Vec<ServerOutput>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        match c.phase {
            Phase::Handshake => self.on_connect(conn, &payload, out),
            Phase::Creating { .. } | Phase::Revalidating { .. } | Phase::Reopening { .. } => {
                if c.early.len() >= 1000 {
                    self.close(conn, out);
                } else {
                    c.early.push_back(payload);
                }
            }
            Phase::Open => self.on_request(conn, &payload, out),
        }
    }

    pub(super) fn on_connect(&mut self, conn: ConnId, payload: &[u8], out: &mut Vec<ServerOutput>) {
        let Ok(request) = ConnectRequest::decode(payload) else {
            self.close(conn, out);
            return;
        };
        let committed = self.peer.committed();
        if request.last_zxid_seen > committed.as_i64() {
            // The client has seen more than this server holds: it must try another one.
            self.close(conn, out);
            return;
        }
        let old_form = request.read_only.is_none();
        let timeout = self.config.sessions.negotiate(request.timeout_ms);
        if request.session_id == 0 {
            let session = self.ids.next_id();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.phase = Phase::Creating { old_form };
                c.session = session;
                c.timeout_ms = timeout;
            }
            self.owners.insert(session, conn);
            self.submit(session, 0, WriteOp::CreateSession { timeout_ms: timeout }, Arc::default(), out);
            return;
        }
        let session = SessionId(request.session_id);
        // A session this server knows is checked now; one it does not know yet (created
        // through another server a moment ago) once it has caught up, before it opens.
        if let Some(kept) = self.db().sessions.get(&session)
            && !password_matches(&kept.password, request.passwd.as_deref())
        {
            self.refuse(conn, old_form, out);
            return;
        }
        // Another connection of this session on this server is replaced.
        if let Some(&other) = self.owners.get(&session)
            && other != conn
        {
            self.close(other, out);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::Revalidating { old_form };
            c.session = session;
            c.timeout_ms = timeout;
            c.offered = request.passwd.as_deref().and_then(|p| p.try_into().ok());
        }
        self.owners.insert(session, conn);
        if self.leading {
            let alive = self.tracker.is_alive(session);
            if alive {
                self.session_owner.insert(session, self.peer.id());
            }
            let until = self.peer.last_zxid();
            self.reopened(conn, session, alive, until, out);
        } else if let Some(leader) = self.peer.leader() {
            let (nonce, seq) = self.next_forward_seq();
            out.push(ServerOutput::Peer { to: leader, msg: PeerMessage::Revalidate { nonce, seq, session } });
        }
    }

    /// The leader's verdict on a reconnecting session, and the end of its history then: the
    /// session opens here once this server has applied that far (at once if it has).
    pub(super) fn reopened(
        &mut self,
        conn: ConnId,
        session: SessionId,
        alive: bool,
        until: Zxid,
        out: &mut Vec<ServerOutput>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let Phase::Revalidating { old_form } = c.phase else { return };
        if !alive {
            self.refuse(conn, old_form, out);
            return;
        }
        if self.peer.committed() < until {
            c.phase = Phase::Reopening { old_form, until };
            self.reopening.insert(conn);
            return;
        }
        self.open_reconnected(conn, session, old_form, out);
    }

    /// Connections whose reopening session has caught up open now.
    pub(super) fn reopen_caught_up(&mut self, out: &mut Vec<ServerOutput>) {
        if self.reopening.is_empty() {
            return;
        }
        let committed = self.peer.committed();
        let ready: Vec<(ConnId, SessionId, bool)> = self
            .reopening
            .iter()
            .filter_map(|conn| match self.conns.get(conn) {
                Some(Conn { phase: Phase::Reopening { old_form, until }, session, .. }) if committed >= *until => {
                    Some((*conn, *session, *old_form))
                }
                _ => None,
            })
            .collect();
        for (conn, session, old_form) in ready {
            self.reopening.remove(&conn);
            self.open_reconnected(conn, session, old_form, out);
        }
        let conns = &self.conns;
        self.reopening.retain(|conn| conns.get(conn).is_some_and(|c| matches!(c.phase, Phase::Reopening { .. })));
    }

    pub(super) fn open_reconnected(
        &mut self,
        conn: ConnId,
        session: SessionId,
        old_form: bool,
        out: &mut Vec<ServerOutput>,
    ) {
        let Some(c) = self.conns.get(&conn) else { return };
        // The leader says the session is alive, and this server has applied its createSession.
        let Some(kept) = self.peer.machine().db().sessions.get(&session).copied() else {
            self.refuse(conn, old_form, out);
            return;
        };
        if !password_matches(&kept.password, c.offered.as_ref().map(|p| &p[..])) {
            self.refuse(conn, old_form, out);
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.phase = Phase::Open;
        let timeout = c.timeout_ms;
        self.touch(session);
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout,
            session_id: session.0,
            passwd: Some(kept.password.to_vec()),
            read_only: if old_form { None } else { Some(false) },
        };
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| response.encode(b));
        out.push(ServerOutput::Send { conn, bytes });
        let early: Vec<Vec<u8>> = self.conns.get_mut(&conn).map(|c| c.early.drain(..).collect()).unwrap_or_default();
        for payload in early {
            self.on_frame(conn, payload, out);
        }
    }

    /// Expired, unknown or a wrong password: ZooKeeper's all-zero answer, then close.
    pub(super) fn refuse(&mut self, conn: ConnId, old_form: bool, out: &mut Vec<ServerOutput>) {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| ConnectResponse::expired(old_form).encode(b));
        out.push(ServerOutput::Send { conn, bytes });
        self.close(conn, out);
    }

    pub(super) fn touch(&mut self, session: SessionId) {
        if self.leading {
            self.tracker.touch(session, self.now_ms);
        } else {
            self.touched.insert(session);
        }
    }

    /// The ids a connection has from how it came: `ip:<address>`, and `x509:<subject>` (and
    /// `super` for `X509AuthenticationProvider.superUser`) for a client certificate.
    pub(super) fn transport_ids(&self, addr: core::net::IpAddr, x509: Option<String>) -> Vec<Id> {
        let mut ids = alloc::vec![Id::new("ip", &alloc::format!("{addr}"))];
        if let Some(subject) = x509 {
            if self.config.x509_super.as_deref() == Some(subject.as_str()) {
                ids.push(Id::new("super", ""));
            }
            ids.push(Id::new("x509", &subject));
        }
        ids
    }

    /// addAuth: `digest` (user:password), `ip`, and `x509` (which the connection's client
    /// certificate already gave, or not); anything else fails the connection.
    pub(super) fn on_auth(&mut self, conn: ConnId, scheme: String, auth: Vec<u8>, out: &mut Vec<ServerOutput>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let ok = match scheme.as_str() {
            "digest" => match core::str::from_utf8(&auth) {
                Ok(user_password) => {
                    let id = digest_id(user_password);
                    if self.config.super_digest.as_deref() == Some(id.as_str()) {
                        Arc::make_mut(&mut c.auth).push(Id::new("super", ""));
                    }
                    let id = Id::new("digest", &id);
                    if !c.auth.contains(&id) {
                        Arc::make_mut(&mut c.auth).push(id);
                    }
                    true
                }
                Err(_) => false,
            },
            "ip" => true,
            // The certificate was checked when the connection came: it has the id or not.
            "x509" => c.auth.iter().any(|id| id.scheme == "x509"),
            _ => false,
        };
        let err = if ok { ErrorCode::Ok } else { ErrorCode::AuthFailed };
        let header = ReplyHeader { xid: AUTH_XID, zxid: 0, err: err.code() };
        self.send_reply(conn, &header, &Response::Empty, out);
        if !ok {
            self.close(conn, out);
        }
    }

    /// A SASL token (opcode 102), answered at once as ZooKeeper does: the first, empty, gets
    /// the DIGEST-MD5 challenge; the digest-response, if it proves the password, the server's
    /// `rspauth` and a `sasl` id (and `super` for `zookeeper.superUser`). Any failure is
    /// AuthFailed (SessionClosedRequireSaslAuth when `sasl` authentication is enforced) and
    /// the connection closes.
    pub(super) fn on_sasl(&mut self, conn: ConnId, xid: i32, token: Vec<u8>, out: &mut Vec<ServerOutput>) {
        let server = self.config.zab.id.0;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let session = c.session;
        let step = core::mem::replace(&mut c.sasl, SaslStep::Done);
        let answer = match (&self.config.sasl, step) {
            (None, _) => Err(SaslError::Disabled),
            (Some(config), SaslStep::Start) if token.is_empty() => {
                let nonce = sasl::nonce(&config.nonce_key, server, conn, self.sasl_challenges);
                self.sasl_challenges += 1;
                let challenge = sasl::challenge(&nonce);
                c.sasl = SaslStep::Challenged { nonce };
                Ok((challenge, None))
            }
            (Some(config), SaslStep::Challenged { nonce }) => {
                sasl::verify(&token, Expect::zookeeper(&nonce), |user| config.users.get(user).map(String::as_str)).map(
                    |ok| {
                        let ids = Arc::make_mut(&mut c.auth);
                        if config.super_users.contains(&ok.user) {
                            ids.push(Id::new("super", ""));
                        }
                        let id = Id::new("sasl", &ok.user);
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                        (ok.rspauth, Some(ok.user))
                    },
                )
            }
            (Some(_), _) => Err(SaslError::OutOfTurn),
        };
        match answer {
            Ok((reply, user)) => {
                let header = ReplyHeader { xid, zxid: 0, err: ErrorCode::Ok.code() };
                self.send_reply(conn, &header, &Response::Sasl(SaslToken { token: Some(reply) }), out);
                if let Some(user) = user {
                    out.push(ServerOutput::Login(Login { conn, session, outcome: Ok(user) }));
                }
            }
            Err(why) => {
                let enforced = self.config.enforce_auth.as_ref().is_some_and(|s| s.iter().any(|s| s == "sasl"));
                let err = if enforced { ErrorCode::SessionClosedRequireSaslAuth } else { ErrorCode::AuthFailed };
                let header = ReplyHeader { xid, zxid: 0, err: err.code() };
                self.send_reply(conn, &header, &Response::Sasl(SaslToken { token: None }), out);
                out.push(ServerOutput::Login(Login { conn, session, outcome: Err(why) }));
                self.close(conn, out);
            }
        }
    }
}

/// The digest scheme's id for `user:password`: `user:base64(sha1(user:password))`.
pub fn digest_id(user_password: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    let user = user_password.split(':').next().unwrap_or("");
    let hash = sha1::Sha1::digest(user_password.as_bytes());
    let mut id = String::from(user);
    id.push(':');
    id.push_str(&base64::engine::general_purpose::STANDARD.encode(hash));
    id
}
