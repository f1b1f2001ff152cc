//! The per-connection queue: requests take their places, writes go to the leader (or are
//! proposed here), applied txns complete them, and replies leave strictly in order.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{
    Applied, ChangeKind, ConnId, Item, PeerMessage, Phase, Server, ServerMachine, ServerOutput, Shape, SyncState,
    WriteState, reply,
};

use crate::error::ErrorCode;
use crate::ids::SessionId;
use crate::tree::{AclList, Id, perms};
use crate::txn::{AuthContext, TxnResult, WriteOp, check_acl};
use crate::watch::{Notification, Watcher};
use crate::wire::records::{PathRecord, ReplyHeader, WatcherEvent};
use crate::wire::{
    ConnectResponse, DecodeError, OpCode, Request, Response, encode_notification, encode_reply, write_frame,
};
use crate::zab::{self};

impl<M: ServerMachine> Server<M> {
    /// The next number for a request this learner forwards on its current join attempt.
    pub(super) fn next_forward_seq(&mut self) -> (u64, u64) {
        let nonce = self.peer.join_nonce().unwrap_or(0);
        if self.forward_seq.0 != nonce {
            self.forward_seq = (nonce, 0);
        }
        self.forward_seq.1 += 1;
        self.forward_seq
    }

    /// A write of `session` refused before it became a txn: its place in the owning
    /// connection's queue is answered with `code`.
    pub(super) fn refused(&mut self, session: SessionId, cxid: i32, code: ErrorCode, out: &mut Vec<ServerOutput>) {
        let Some(&conn) = self.owners.get(&session) else { return };
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let found = c
            .queue
            .iter_mut()
            .find(|item| matches!(item, Item::Write { xid, state: WriteState::Sent, .. } if *xid == cxid));
        if let Some(item) = found {
            *item = Item::Refused { xid: cxid, code };
            self.drain(conn, out);
        }
    }

    /// Sends a write to the leader (or proposes it here).
    pub(super) fn submit(
        &mut self,
        session: SessionId,
        cxid: i32,
        op: WriteOp,
        auth: Arc<Vec<Id>>,
        out: &mut Vec<ServerOutput>,
    ) {
        if self.leading {
            let me = self.peer.id();
            self.propose_op(me, session, cxid, op, auth, out);
        } else if let (Some(leader), zab::Status::Following { epoch, .. } | zab::Status::Observing { epoch, .. }) =
            (self.peer.leader(), self.peer.status())
        {
            self.touched.insert(session);
            let (nonce, seq) = self.next_forward_seq();
            let msg = PeerMessage::Forward { epoch, nonce, seq, session, cxid, op: Box::new(op), auth };
            out.push(ServerOutput::Peer { to: leader, msg });
        }
    }

    /// Acts on entries the database applied: watches, session bookkeeping, replies.
    pub(super) fn on_applied(&mut self, out: &mut Vec<ServerOutput>) {
        let applied = self.peer.machine_mut().db_mut().take_applied();
        if applied.is_empty() {
            return;
        }
        let mut notes = Vec::new();
        #[cfg(feature = "sim")]
        let mut late = Vec::new();
        let mut touched_conns = BTreeSet::new();
        // The ACLs of the nodes this batch deleted, for a create or setData of a node gone
        // again by the end of the batch (see `acl` below).
        let deleted: BTreeMap<String, AclList> = if !self.watches.has_recursive() {
            BTreeMap::new()
        } else {
            applied
                .iter()
                .flat_map(|a| &a.changes)
                .filter(|c| c.kind == ChangeKind::Deleted)
                .filter_map(|c| c.acl.clone().map(|acl| (c.path.clone(), acl)))
                .collect()
        };
        for a in applied {
            if self.leading {
                self.pending.committed(a.zxid);
                match &a.result {
                    TxnResult::SessionCreated => {
                        let timeout = self.db().sessions.get(&a.session).map_or(0, |s| s.timeout_ms);
                        self.tracker.add(a.session, timeout, self.now_ms);
                    }
                    TxnResult::SessionClosed { .. } => self.tracker.remove(a.session),
                    _ => {}
                }
            }
            for change in &a.changes {
                let (conns, skip_acl) = (&self.conns, self.config.prep.skip_acl);
                // The node's ACL, needed only for recursive watches on its ancestors: a delete
                // carries it, else it is read from the tree as it is now.
                let acl = match change.kind {
                    _ if !self.watches.has_recursive() => None,
                    ChangeKind::Deleted => change.acl.clone(),
                    _ => (self.peer.machine().db().tree.get(&change.path).map(|n| n.acl().clone()))
                        .or_else(|| deleted.get(&change.path).cloned()),
                };
                // Whether a connection may read the changed node (for watches on ancestors;
                // asked only when there are recursive watches).
                let may_read = |w: Watcher| {
                    let Some(acl) = &acl else { return false };
                    conns.get(&w.0).is_some_and(|c| {
                        let auth = AuthContext { session: c.session, ids: c.auth.clone() };
                        check_acl(&auth, acl, perms::READ, skip_acl).is_ok()
                    })
                };
                match change.kind {
                    ChangeKind::Created => self.watches.node_created(&change.path, &may_read, &mut notes),
                    ChangeKind::Deleted => self.watches.node_deleted(&change.path, &may_read, &mut notes),
                    ChangeKind::DataChanged => self.watches.data_changed(&change.path, &may_read, &mut notes),
                }
            }
            #[cfg(feature = "sim")]
            if self.config.zab.bugs.late_watch_events {
                late.append(&mut notes);
            }
            for n in notes.drain(..) {
                self.notify(n, out);
            }
            if let Some(&conn) = self.owners.get(&a.session) {
                self.complete(conn, a, out);
                touched_conns.insert(conn);
            }
        }
        // Syncs waiting for this server to catch up.
        touched_conns.extend(self.syncing.iter().copied());
        for conn in touched_conns {
            self.drain(conn, out);
        }
        let conns = &self.conns;
        self.syncing.retain(|id| {
            conns
                .get(id)
                .is_some_and(|c| c.queue.iter().any(|i| matches!(i, Item::Sync { state: SyncState::Target(_), .. })))
        });
        #[cfg(feature = "sim")]
        for n in late {
            self.notify(n, out);
        }
        self.reopen_caught_up(out);
    }

    pub(super) fn notify(&mut self, n: Notification, out: &mut Vec<ServerOutput>) {
        let conn = n.watcher.0;
        if !self.conns.contains_key(&conn) {
            return;
        }
        let event = WatcherEvent { event_type: n.event.code(), state: 3, path: n.path };
        let mut bytes = Vec::new();
        // ZooKeeper 3.8 sends -1 as the notification's zxid.
        write_frame(&mut bytes, |b| encode_notification(-1, &event, b));
        out.push(ServerOutput::Send { conn, bytes });
    }

    /// The owner's side of an applied entry: a new session opens, a write completes.
    pub(super) fn complete(&mut self, conn: ConnId, a: Applied, out: &mut Vec<ServerOutput>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if let Phase::Creating { old_form } = c.phase {
            if a.session == c.session && matches!(a.result, TxnResult::SessionCreated) {
                let Some(kept) = self.peer.machine().db().sessions.get(&c.session) else { return };
                c.phase = Phase::Open;
                let response = ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: c.timeout_ms,
                    session_id: c.session.0,
                    passwd: Some(kept.password.to_vec()),
                    read_only: if old_form { None } else { Some(false) },
                };
                let mut bytes = Vec::new();
                write_frame(&mut bytes, |b| response.encode(b));
                out.push(ServerOutput::Send { conn, bytes });
                let early: Vec<Vec<u8>> = c.early.drain(..).collect();
                for payload in early {
                    self.on_frame(conn, payload, out);
                }
            }
            return;
        }
        let closed_elsewhere = matches!(a.result, TxnResult::SessionClosed { .. });
        let mut matched = false;
        for item in c.queue.iter_mut() {
            if let Item::Write { xid, state, .. } = item
                && *xid == a.cxid
                && matches!(state, WriteState::Sent)
            {
                *state = WriteState::Done(a.zxid, a.result);
                matched = true;
                break;
            }
        }
        if closed_elsewhere && !matched {
            // Expired (or closed through another server): the client learns it on reconnect.
            self.close(conn, out);
        }
    }

    /// With `enforce.auth.schemes` set, only a connection authenticated by one of them may ask
    /// for anything but addAuth.
    fn may_request(&self, conn: ConnId) -> bool {
        let Some(schemes) = &self.config.enforce_auth else { return true };
        self.conns.get(&conn).is_some_and(|c| c.auth.iter().any(|id| schemes.contains(&id.scheme)))
    }

    pub(super) fn on_request(&mut self, conn: ConnId, payload: &[u8], out: &mut Vec<ServerOutput>) {
        let (xid, request) = match Request::decode(payload) {
            Ok(r) => r,
            Err(e) => {
                // As ZooKeeper 3.8: an opcode it does not know gets Unimplemented and the
                // connection closes; a deleteContainer from a client is always BadArguments; a
                // body that does not decode (truncated, a createSession, a bad multi op) gets
                // MarshallingError in its turn, and the session goes on. Only a frame too short
                // for a request header closes at once.
                let refusal = match e {
                    DecodeError::UnknownOpcode { opcode, .. } if opcode == OpCode::DeleteContainer.code() => {
                        Some(ErrorCode::BadArguments)
                    }
                    DecodeError::UnknownOpcode { opcode, .. } if opcode == OpCode::CreateSession.code() => {
                        Some(ErrorCode::MarshallingError)
                    }
                    DecodeError::UnknownOpcode { xid, .. } => {
                        let header = ReplyHeader { xid, zxid: -1, err: ErrorCode::Unimplemented.code() };
                        self.send_reply(conn, &header, &Response::Empty, out);
                        self.close(conn, out);
                        return;
                    }
                    _ => Some(ErrorCode::MarshallingError),
                };
                match (refusal, payload.get(..4)) {
                    (Some(code), Some(&[a, b, c, d])) if payload.len() >= 8 => {
                        let xid = i32::from_be_bytes([a, b, c, d]);
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.queue.push_back(Item::Refused { xid, code });
                        }
                        self.drain(conn, out);
                    }
                    _ => self.close(conn, out),
                }
                return;
            }
        };
        let Some(session) = self.conns.get(&conn).map(|c| c.session) else { return };
        self.touch(session);
        if let Request::Auth(packet) = request {
            self.on_auth(conn, packet.scheme, packet.auth.unwrap_or_default(), out);
            return;
        }
        if let Request::Sasl(packet) = request {
            self.on_sasl(conn, xid, packet.token.unwrap_or_default(), out);
            return;
        }
        if !self.may_request(conn) {
            // `enforce.auth.enabled`, as ZooKeeper: the answer, then the connection closes.
            let header = ReplyHeader { xid, zxid: 0, err: ErrorCode::SessionClosedRequireSaslAuth.code() };
            self.send_reply(conn, &header, &Response::Empty, out);
            self.close(conn, out);
            return;
        }
        match request {
            Request::Sync(PathRecord { path }) => {
                let Some(c) = self.conns.get_mut(&conn) else { return };
                c.queue.push_back(Item::Sync { xid, path, state: SyncState::Held });
            }
            Request::Reconfig(_) => {
                let Some(c) = self.conns.get_mut(&conn) else { return };
                c.queue.push_back(Item::Refused { xid, code: ErrorCode::ReconfigDisabled });
            }
            request => {
                let Some(c) = self.conns.get_mut(&conn) else { return };
                match reply::classify(request) {
                    #[cfg(feature = "sim")]
                    reply::Kind::Read(request) if self.config.zab.bugs.eager_reads && !c.queue.is_empty() => {
                        let mut early = Vec::new();
                        self.answer_read(conn, xid, request, &mut early);
                        let frames = early
                            .into_iter()
                            .filter_map(|o| match o {
                                ServerOutput::Send { bytes, .. } => Some(bytes),
                                _ => None,
                            })
                            .flatten()
                            .collect();
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.queue.push_back(Item::Answered { frames });
                        }
                    }
                    reply::Kind::Read(request) => c.queue.push_back(Item::Read { xid, request }),
                    reply::Kind::Refused(code) => c.queue.push_back(Item::Refused { xid, code }),
                    reply::Kind::Write(op, shape) => {
                        let auth = Arc::clone(&c.auth);
                        c.queue.push_back(Item::Write { xid, shape, state: WriteState::Held { op, auth } });
                    }
                }
            }
        }
        self.drain(conn, out);
    }

    /// Sends what may now be sent to the leader (see [`Item`]).
    pub(super) fn advance(&mut self, conn: ConnId, out: &mut Vec<ServerOutput>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let session = c.session;
        let mut to_send = Vec::new();
        let mut sync = None;
        for (i, item) in c.queue.iter_mut().enumerate() {
            match item {
                Item::Write { xid, state, .. } => {
                    if let WriteState::Held { .. } = state
                        && let WriteState::Held { op, auth } = core::mem::replace(state, WriteState::Sent)
                    {
                        to_send.push((*xid, op, auth));
                    }
                }
                Item::Sync { xid, state, .. } => {
                    if i == 0 && *state == SyncState::Held {
                        if self.leading {
                            *state = SyncState::Target(self.peer.last_zxid());
                            self.syncing.insert(conn);
                        } else {
                            *state = SyncState::Sent;
                        }
                        sync = Some(*xid);
                    }
                    break;
                }
                _ => break,
            }
        }
        for (xid, op, auth) in to_send {
            self.submit(session, xid, op, auth, out);
        }
        if let Some(xid) = sync
            && !self.leading
            && let Some(leader) = self.peer.leader()
        {
            let (nonce, seq) = self.next_forward_seq();
            out.push(ServerOutput::Peer { to: leader, msg: PeerMessage::Sync { nonce, seq, session, cxid: xid } });
        }
    }

    /// Sends every reply at the front of the connection's queue that is ready, and what may
    /// then go to the leader.
    pub(super) fn drain(&mut self, conn: ConnId, out: &mut Vec<ServerOutput>) {
        loop {
            self.advance(conn, out);
            let committed = self.peer.committed();
            let Some(c) = self.conns.get_mut(&conn) else { return };
            let ready = match c.queue.front() {
                None => return,
                Some(Item::Write { state, .. }) => matches!(state, WriteState::Done(..)),
                Some(Item::Sync { state, .. }) => matches!(state, SyncState::Target(t) if committed >= *t),
                Some(_) => true,
            };
            if !ready {
                return;
            }
            let Some(item) = c.queue.pop_front() else { return };
            match item {
                Item::Write { xid, shape, state: WriteState::Done(zxid, result) } => {
                    let moved = matches!(result, TxnResult::Failed(ErrorCode::SessionMoved));
                    let close = moved || (shape == Shape::Close && !matches!(result, TxnResult::Failed(_)));
                    let (err, body) = reply::write_reply(&shape, result);
                    let header = ReplyHeader { xid, zxid: zxid.as_i64(), err: err.code() };
                    self.send_reply(conn, &header, &body, out);
                    if close {
                        self.close(conn, out);
                        return;
                    }
                }
                Item::Write { .. } => {}
                Item::Sync { xid, path, .. } => {
                    let header = ReplyHeader { xid, zxid: committed.as_i64(), err: 0 };
                    self.send_reply(conn, &header, &Response::Sync(PathRecord { path }), out);
                }
                Item::Refused { xid, code } => {
                    let header = ReplyHeader { xid, zxid: committed.as_i64(), err: code.code() };
                    if code == ErrorCode::SessionMoved {
                        // As ZooKeeper: the stale connection of a moved session is closed.
                        self.send_reply(conn, &header, &Response::Empty, out);
                        self.close(conn, out);
                        return;
                    }
                    self.send_reply(conn, &header, &Response::Empty, out);
                }
                Item::Read { xid, request } => self.answer_read(conn, xid, request, out),
                #[cfg(feature = "sim")]
                Item::Answered { frames } => out.push(ServerOutput::Send { conn, bytes: frames }),
            }
        }
    }

    pub(super) fn send_reply(&self, conn: ConnId, header: &ReplyHeader, body: &Response, out: &mut Vec<ServerOutput>) {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| encode_reply(header, body, b));
        out.push(ServerOutput::Send { conn, bytes });
    }

    pub(super) fn close(&mut self, conn: ConnId, out: &mut Vec<ServerOutput>) {
        if self.conns.contains_key(&conn) {
            self.forget(conn);
            out.push(ServerOutput::Close { conn });
        }
    }

    pub(super) fn forget(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn)
            && self.owners.get(&c.session) == Some(&conn)
        {
            self.owners.remove(&c.session);
        }
        self.watches.remove_watcher(Watcher(conn));
        self.reopening.remove(&conn);
    }
}
