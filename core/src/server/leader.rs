//! The leader's side of the request pipeline: prep and propose each write (its own clients'
//! and those its learners forward, once and in order), refusals, and raw proposals for the
//! simulator.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::forwarded::{Forwarded, Inbound};
use super::{PeerMessage, Server, ServerMachine, ServerOutput};

use crate::error::ErrorCode;
use crate::ids::{ServerId, SessionId};
use crate::tree::Id;
use crate::txn::{self, AuthContext, Txn, WriteOp};
use crate::zab::{self};

impl<M: ServerMachine> Server<M> {
    pub(super) fn leading_epoch(&self) -> Option<u32> {
        match self.peer.status() {
            zab::Status::Leading { epoch, .. } => Some(epoch),
            _ => None,
        }
    }

    /// Leader: prep a write against the tree plus pending changes, and propose it.
    pub(super) fn propose_op(
        &mut self,
        origin: ServerId,
        session: SessionId,
        cxid: i32,
        op: WriteOp,
        auth: Arc<Vec<Id>>,
        out: &mut Vec<ServerOutput>,
    ) {
        let Some(zxid) = self.peer.next_zxid() else { return };
        let local = origin == self.peer.id();
        let op = match op {
            // A learner negotiated this timeout with its client under its own bounds; the
            // session lives under ours.
            WriteOp::CreateSession { timeout_ms } if !local => {
                WriteOp::CreateSession { timeout_ms: self.config.sessions.negotiate(timeout_ms) }
            }
            op => op,
        };
        let is_create = matches!(op, WriteOp::CreateSession { .. });
        if !local && matches!(op, WriteOp::DeleteContainer { .. }) {
            // Only the leader itself issues these (they skip the session and ACL checks); no
            // learner forwards one, so one that comes is refused, not carried out.
            out.push(ServerOutput::Peer {
                to: origin,
                msg: PeerMessage::Refused { session, cxid, code: ErrorCode::BadArguments },
            });
            return;
        }
        let housekeeping = matches!(op, WriteOp::DeleteContainer { .. });
        if is_create && (self.db().sessions.contains_key(&session) || self.tracker.get(session).is_some()) {
            return;
        }
        #[cfg(feature = "sim")]
        if self.config.zab.bugs.xid_dedupe && !is_create && cxid != 0 {
            if self.seen_xids.get(&session).is_some_and(|last| cxid <= *last) {
                return;
            }
            self.seen_xids.insert(session, cxid);
        }
        let from_expiry = cxid == 0 && local && matches!(op, WriteOp::CloseSession);
        let moved = !is_create
            && !housekeeping
            && !from_expiry
            && self.session_owner.get(&session).is_some_and(|owner| *owner != origin);
        if is_create {
            self.session_owner.insert(session, origin);
        }
        let refusal =
            if !is_create && !housekeeping && !self.tracker.is_alive(session) && !self.closing_now(session, &op) {
                Some(ErrorCode::SessionExpired)
            } else {
                moved.then_some(ErrorCode::SessionMoved)
            };
        if let Some(code) = refusal {
            if origin == self.peer.id() {
                self.refused(session, cxid, code, out);
            } else {
                out.push(ServerOutput::Peer { to: origin, msg: PeerMessage::Refused { session, cxid, code } });
            }
            return;
        }
        let txn = {
            if !is_create && !housekeeping {
                self.tracker.touch(session, self.now_ms);
            }
            let ctx = AuthContext { session, ids: auth };
            txn::prep(&self.peer.machine().db().tree, &mut self.pending, &self.config.prep, &ctx, zxid, op)
        };
        if let Txn::CloseSession { .. } = txn {
            self.tracker.set_closing(session);
        }
        let mut zab_out = core::mem::take(&mut self.zab_out);
        if self.peer.propose(self.now_ms, session, cxid, txn, &mut zab_out).is_err() {
            self.pending.clear();
        }
        self.after_zab(&mut zab_out, out);
        self.zab_out = zab_out;
    }

    /// Leader: request `seq` forwarded by `from` on its join attempt `nonce`, taken only from
    /// the learner's current attempt, once, and in the order it was sent.
    pub(super) fn on_forwarded(
        &mut self,
        from: ServerId,
        nonce: u64,
        seq: u64,
        request: Forwarded,
        out: &mut Vec<ServerOutput>,
    ) {
        if self.peer.learner_nonce(from) != Some(nonce) {
            return;
        }
        let inbound = self.forwarded.entry(from).or_insert_with(|| Inbound::new(nonce));
        if inbound.nonce() != nonce {
            *inbound = Inbound::new(nonce);
        }
        inbound.accept(self.now_ms, seq, request);
        self.release_forwarded(from, out);
    }

    /// Carries out `from`'s forwarded requests that are next in order.
    pub(super) fn release_forwarded(&mut self, from: ServerId, out: &mut Vec<ServerOutput>) {
        while let Some(request) = self.forwarded.get_mut(&from).and_then(Inbound::release) {
            match request {
                Forwarded::Write { session, cxid, op, auth } => self.propose_op(from, session, cxid, op, auth, out),
                Forwarded::Sync { session, cxid } => {
                    let zxid = self.peer.last_zxid();
                    out.push(ServerOutput::Peer { to: from, msg: PeerMessage::Synced { session, cxid, zxid } });
                }
                Forwarded::Revalidate { session } => {
                    let alive = self.tracker.is_alive(session);
                    if alive {
                        self.tracker.touch(session, self.now_ms);
                        self.session_owner.insert(session, from);
                    }
                    let zxid = self.peer.last_zxid();
                    out.push(ServerOutput::Peer { to: from, msg: PeerMessage::Revalidated { session, alive, zxid } });
                }
            }
            if !self.leading {
                return;
            }
        }
    }

    /// Leader, on a tick: a forwarded request that never came (lost on a network that can lose
    /// single messages) holds up its learner's later ones for at most syncLimit.
    pub(super) fn skip_forward_gaps(&mut self, out: &mut Vec<ServerOutput>) {
        let wait = self.config.zab.sync_timeout_ms();
        let now = self.now_ms;
        let ready: Vec<ServerId> = self
            .forwarded
            .iter_mut()
            .filter(|(_, inbound)| inbound.is_waiting())
            .filter_map(|(id, inbound)| inbound.skip_gap(now, wait).then_some(*id))
            .collect();
        for from in ready {
            self.release_forwarded(from, out);
        }
    }

    /// The leader's own expiry closes sessions it already marked closing.
    pub(super) fn closing_now(&self, session: SessionId, op: &WriteOp) -> bool {
        matches!(op, WriteOp::CloseSession) && self.tracker.get(session).is_some_and(|t| t.closing)
    }

    /// Proposes a ready-made txn, bypassing prep and sessions (the simulator's Zab-level
    /// background writes).
    #[cfg(feature = "sim")]
    pub fn propose_raw(
        &mut self,
        now_ms: u64,
        session: SessionId,
        cxid: i32,
        txn: Txn,
        out: &mut Vec<ServerOutput>,
    ) -> Option<crate::ids::Zxid> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut zab_out = core::mem::take(&mut self.zab_out);
        let zxid = self.peer.propose(self.now_ms, session, cxid, txn, &mut zab_out).ok();
        self.after_zab(&mut zab_out, out);
        self.zab_out = zab_out;
        zxid
    }
}
