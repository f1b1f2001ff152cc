//! Reads, answered from the committed tree in the connection's turn, with the watches they set.

use alloc::string::String;
use alloc::vec::Vec;

use super::{ConnId, Server, ServerMachine, ServerOutput};

use crate::error::ErrorCode;
use crate::txn::{self, AuthContext};
use crate::watch::{Notification, PersistentMode, WatchKind, Watcher};
use crate::wire::records::{
    AddWatchRequest, ClientInfo, ErrorResponse, GetAclResponse, GetAllChildrenNumberResponse, GetChildren2Response,
    GetChildrenResponse, GetDataResponse, GetEphemeralsResponse, ReplyHeader, StatResponse, WhoAmIResponse,
};
use crate::wire::{MultiOp, MultiResult, PING_XID, Request, Response, SET_WATCHES_XID};

impl<M: ServerMachine> Server<M> {
    pub(super) fn auth_of(&self, conn: ConnId) -> AuthContext {
        self.conns.get(&conn).map(|c| AuthContext { session: c.session, ids: c.auth.clone() }).unwrap_or_default()
    }

    pub(super) fn answer_read(&mut self, conn: ConnId, xid: i32, request: Request, out: &mut Vec<ServerOutput>) {
        let zxid = self.peer.committed().as_i64();
        let auth = self.auth_of(conn);
        let skip = self.config.prep.skip_acl;
        let watcher = Watcher(conn);
        let tree = &self.peer.machine().db().tree;
        let mut notes = Vec::new();
        let (xid, result): (i32, Result<Response, ErrorCode>) = match request {
            Request::Ping => (PING_XID, Ok(Response::Empty)),
            Request::GetData(r) => (
                xid,
                txn::read::get_data(tree, &auth, &r.path, skip).map(|(data, stat)| {
                    if r.watch {
                        self.watches.add(&r.path, WatchKind::Data, watcher);
                    }
                    Response::GetData(GetDataResponse { data: data.map(<[u8]>::to_vec), stat })
                }),
            ),
            Request::Exists(r) => {
                if r.watch {
                    self.watches.add(&r.path, WatchKind::Exist, watcher);
                }
                (xid, txn::read::exists(tree, &r.path).map(|stat| Response::Stat(StatResponse { stat })))
            }
            Request::GetChildren(r) => (xid, self.children(&auth, &r.path, r.watch, watcher, false)),
            Request::GetChildren2(r) => (xid, self.children(&auth, &r.path, r.watch, watcher, true)),
            Request::GetAcl(r) => (
                xid,
                txn::read::get_acl(tree, &auth, &r.path, skip)
                    .map(|(acl, stat)| Response::GetAcl(GetAclResponse { acl, stat })),
            ),
            Request::GetAllChildrenNumber(r) => (
                xid,
                txn::read::all_children_number(tree, &auth, &r.path, skip)
                    .map(|total| Response::GetAllChildrenNumber(GetAllChildrenNumberResponse { total })),
            ),
            Request::GetEphemerals(r) => {
                let prefix = r.prefix.unwrap_or_default();
                let ephemerals = txn::read::ephemerals(tree, auth.session, &prefix);
                (xid, Ok(Response::GetEphemerals(GetEphemeralsResponse { ephemerals })))
            }
            Request::WhoAmI => {
                let client_info = auth
                    .ids
                    .iter()
                    .map(|id| ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: if id.scheme == "digest" {
                            id.id.split(':').next().unwrap_or("").into()
                        } else {
                            id.id.clone()
                        },
                    })
                    .collect();
                (xid, Ok(Response::WhoAmI(WhoAmIResponse { client_info })))
            }
            Request::MultiRead(ops) => {
                let mut results = Vec::with_capacity(ops.len());
                for op in ops {
                    results.push(match op {
                        MultiOp::GetData(r) => match txn::read::get_data(tree, &auth, &r.path, skip) {
                            Ok((data, stat)) => {
                                MultiResult::GetData(GetDataResponse { data: data.map(<[u8]>::to_vec), stat })
                            }
                            Err(code) => MultiResult::Error(code.code()),
                        },
                        MultiOp::GetChildren(r) => match txn::read::get_children(tree, &auth, &r.path, skip) {
                            Ok((names, _)) => MultiResult::GetChildren(GetChildrenResponse {
                                children: names.into_iter().map(String::from).collect(),
                            }),
                            Err(code) => MultiResult::Error(code.code()),
                        },
                        _ => MultiResult::Error(ErrorCode::MarshallingError.code()),
                    });
                }
                (xid, Ok(Response::Multi(results)))
            }
            Request::AddWatch(AddWatchRequest { path, mode }) => {
                let mode = match mode {
                    0 => Some(PersistentMode::Persistent),
                    1 => Some(PersistentMode::Recursive),
                    _ => None,
                };
                match mode {
                    Some(mode) => {
                        self.watches.add_persistent(&path, mode, watcher);
                        (xid, Ok(Response::AddWatch(ErrorResponse { err: 0 })))
                    }
                    None => (xid, Err(ErrorCode::MarshallingError)),
                }
            }
            Request::RemoveWatches(r) => {
                let code = self.watches.remove(&r.path, r.watcher_type, watcher);
                (xid, if code == ErrorCode::Ok { Ok(Response::Empty) } else { Err(code) })
            }
            Request::CheckWatches(r) => {
                let code = self.watches.check(&r.path, r.watcher_type, watcher);
                (xid, if code == ErrorCode::Ok { Ok(Response::Empty) } else { Err(code) })
            }
            Request::SetWatches(w) => {
                self.set_watches(
                    watcher,
                    w.relative_zxid,
                    [&w.data_watches, &w.exist_watches, &w.child_watches],
                    &[],
                    &mut notes,
                );
                (SET_WATCHES_XID, Ok(Response::Empty))
            }
            Request::SetWatches2(w) => {
                self.set_watches(
                    watcher,
                    w.relative_zxid,
                    [&w.data_watches, &w.exist_watches, &w.child_watches],
                    &[
                        (&w.persistent_watches, PersistentMode::Persistent),
                        (&w.persistent_recursive_watches, PersistentMode::Recursive),
                    ],
                    &mut notes,
                );
                (SET_WATCHES_XID, Ok(Response::Empty))
            }
            _ => (xid, Err(ErrorCode::Unimplemented)),
        };
        for n in notes {
            self.notify(n, out);
        }
        let (err, body) = match result {
            Ok(body) => (0, body),
            Err(code) => (code.code(), Response::Empty),
        };
        self.send_reply(conn, &ReplyHeader { xid, zxid, err }, &body, out);
    }

    pub(super) fn children(
        &mut self,
        auth: &AuthContext,
        path: &str,
        watch: bool,
        watcher: Watcher,
        with_stat: bool,
    ) -> Result<Response, ErrorCode> {
        let tree = &self.peer.machine().db().tree;
        let (names, stat) = txn::read::get_children(tree, auth, path, self.config.prep.skip_acl)?;
        let children: Vec<String> = names.into_iter().map(String::from).collect();
        if watch {
            self.watches.add(path, WatchKind::Child, watcher);
        }
        Ok(if with_stat {
            Response::GetChildren2(GetChildren2Response { children, stat })
        } else {
            Response::GetChildren(GetChildrenResponse { children })
        })
    }

    /// SetWatches after a reconnect: fire at once what changed since `relative_zxid`,
    /// register the rest.
    pub(super) fn set_watches(
        &mut self,
        watcher: Watcher,
        relative_zxid: i64,
        [data, exist, child]: [&Vec<String>; 3],
        persistent: &[(&Vec<String>, PersistentMode)],
        notes: &mut Vec<Notification>,
    ) {
        use crate::watch::EventType;
        let tree = &self.peer.machine().db().tree;
        let fire = |notes: &mut Vec<Notification>, event, path: &String| {
            notes.push(Notification { watcher, event, path: path.clone() });
        };
        let mut register = Vec::new();
        for path in data {
            match tree.get(path).map(|n| n.stat()) {
                None => fire(notes, EventType::NodeDeleted, path),
                Some(stat) if stat.mzxid > relative_zxid => fire(notes, EventType::NodeDataChanged, path),
                Some(_) => register.push((path, WatchKind::Data)),
            }
        }
        for path in exist {
            match tree.get(path) {
                Some(_) => fire(notes, EventType::NodeCreated, path),
                None => register.push((path, WatchKind::Exist)),
            }
        }
        for path in child {
            match tree.get(path).map(|n| n.stat()) {
                None => fire(notes, EventType::NodeDeleted, path),
                Some(stat) if stat.pzxid > relative_zxid => fire(notes, EventType::NodeChildrenChanged, path),
                Some(_) => register.push((path, WatchKind::Child)),
            }
        }
        for (path, kind) in register {
            self.watches.add(path, kind, watcher);
        }
        for (paths, mode) in persistent {
            for path in paths.iter() {
                self.watches.add_persistent(path, *mode, watcher);
            }
        }
    }
}
