//! The records of ZooKeeper 3.8's client protocol (`zookeeper.jute`, modules
//! `org.apache.zookeeper.data` and `org.apache.zookeeper.proto`), fields in wire order.

use alloc::string::String;
use alloc::vec::Vec;

use super::jute::{DecodeError, Jute, Reader, record};
use crate::tree::{Acl, Id, Stat, StatPersisted};

impl Jute for Id {
    fn write(&self, out: &mut Vec<u8>) {
        self.scheme.write(out);
        self.id.write(out);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Id { scheme: r.ustring()?, id: r.ustring()? })
    }
}

impl Jute for Acl {
    fn write(&self, out: &mut Vec<u8>) {
        self.perms.write(out);
        self.id.write(out);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Acl { perms: r.int()?, id: Id::read(r)? })
    }
}

impl Jute for Stat {
    fn write(&self, out: &mut Vec<u8>) {
        for v in [self.czxid, self.mzxid, self.ctime, self.mtime] {
            v.write(out);
        }
        for v in [self.version, self.cversion, self.aversion] {
            v.write(out);
        }
        self.ephemeral_owner.write(out);
        self.data_length.write(out);
        self.num_children.write(out);
        self.pzxid.write(out);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Stat {
            czxid: r.long()?,
            mzxid: r.long()?,
            ctime: r.long()?,
            mtime: r.long()?,
            version: r.int()?,
            cversion: r.int()?,
            aversion: r.int()?,
            ephemeral_owner: r.long()?,
            data_length: r.int()?,
            num_children: r.int()?,
            pzxid: r.long()?,
        })
    }
}

/// `StatPersisted` (module `org.apache.zookeeper.data`): what ZooKeeper keeps of a node's Stat in
/// its snapshots, in its field order (not ours).
impl Jute for StatPersisted {
    fn write(&self, out: &mut Vec<u8>) {
        for v in [self.czxid, self.mzxid, self.ctime, self.mtime] {
            v.write(out);
        }
        for v in [self.version, self.cversion, self.aversion] {
            v.write(out);
        }
        self.ephemeral_owner.write(out);
        self.pzxid.write(out);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StatPersisted {
            czxid: r.long()?,
            mzxid: r.long()?,
            ctime: r.long()?,
            mtime: r.long()?,
            version: r.int()?,
            cversion: r.int()?,
            aversion: r.int()?,
            ephemeral_owner: r.long()?,
            pzxid: r.long()?,
        })
    }
}

record! {
    /// `RequestHeader`: every request after the handshake starts with it.
    pub struct RequestHeader { pub xid: i32, pub opcode: i32 }
}

record! {
    /// `ReplyHeader`: every reply after the handshake starts with it.
    pub struct ReplyHeader { pub xid: i32, pub zxid: i64, pub err: i32 }
}

record! {
    /// `MultiHeader`: frames each op of a multi request or response.
    pub struct MultiHeader { pub opcode: i32, pub done: bool, pub err: i32 }
}

record! {
    /// `AuthPacket` (xid -4): `type` is always 0.
    pub struct AuthPacket { pub auth_type: i32, pub scheme: String, pub auth: Option<Vec<u8>> }
}

record! {
    /// `WatcherEvent`: the body of a notification (xid -1).
    pub struct WatcherEvent { pub event_type: i32, pub state: i32, pub path: String }
}

record! {
    /// `ErrorResponse`: a multi op's error, and addWatch's reply body.
    pub struct ErrorResponse { pub err: i32 }
}

record! {
    /// `ClientInfo`: one identity in a whoAmI reply.
    pub struct ClientInfo { pub auth_scheme: String, pub user: String }
}

record! {
    /// `CreateRequest` (create, create2, createContainer).
    pub struct CreateRequest { pub path: String, pub data: Option<Vec<u8>>, pub acl: Vec<Acl>, pub flags: i32 }
}

record! {
    pub struct CreateTtlRequest {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub flags: i32,
        pub ttl: i64,
    }
}

record! {
    pub struct CreateResponse { pub path: String }
}

record! {
    pub struct Create2Response { pub path: String, pub stat: Stat }
}

record! {
    /// `DeleteRequest`; also `CheckVersionRequest`, which has the same fields.
    pub struct PathVersion { pub path: String, pub version: i32 }
}

record! {
    /// `ExistsRequest`, `GetDataRequest`, `GetChildrenRequest`, `GetChildren2Request`.
    pub struct PathWatch { pub path: String, pub watch: bool }
}

record! {
    /// `GetACLRequest`, `SyncRequest`, `SyncResponse`, `GetAllChildrenNumberRequest`.
    pub struct PathRecord { pub path: String }
}

record! {
    pub struct SetDataRequest { pub path: String, pub data: Option<Vec<u8>>, pub version: i32 }
}

record! {
    pub struct SetAclRequest { pub path: String, pub acl: Vec<Acl>, pub version: i32 }
}

record! {
    /// `ExistsResponse`, `SetDataResponse`, `SetACLResponse`.
    pub struct StatResponse { pub stat: Stat }
}

record! {
    pub struct GetDataResponse { pub data: Option<Vec<u8>>, pub stat: Stat }
}

record! {
    pub struct GetAclResponse { pub acl: Vec<Acl>, pub stat: Stat }
}

record! {
    pub struct GetChildrenResponse { pub children: Vec<String> }
}

record! {
    pub struct GetChildren2Response { pub children: Vec<String>, pub stat: Stat }
}

record! {
    pub struct GetAllChildrenNumberResponse { pub total: i32 }
}

record! {
    /// `GetEphemeralsRequest`: a null prefix means all.
    pub struct GetEphemeralsRequest { pub prefix: Option<String> }
}

record! {
    pub struct GetEphemeralsResponse { pub ephemerals: Vec<String> }
}

record! {
    pub struct WhoAmIResponse { pub client_info: Vec<ClientInfo> }
}

record! {
    pub struct ReconfigRequest {
        pub joining_servers: Option<String>,
        pub leaving_servers: Option<String>,
        pub new_members: Option<String>,
        pub cur_config_id: i64,
    }
}

record! {
    /// `CheckWatchesRequest` and `RemoveWatchesRequest`: `watcher_type` 1 children, 2 data,
    /// 3 any.
    pub struct WatchesRequest { pub path: String, pub watcher_type: i32 }
}

record! {
    /// `AddWatchRequest`: mode 0 persistent, 1 persistent recursive.
    pub struct AddWatchRequest { pub path: String, pub mode: i32 }
}

record! {
    /// `SetWatches` (opcode 101, xid -8): re-registers watches after a reconnect.
    pub struct SetWatches {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
    }
}

record! {
    /// `SetWatches2` (opcode 105, xid -8): also carries persistent watches.
    pub struct SetWatches2 {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
        pub persistent_watches: Vec<String>,
        pub persistent_recursive_watches: Vec<String>,
    }
}

record! {
    /// `GetSASLRequest` / `SetSASLResponse`.
    pub struct SaslToken { pub token: Option<Vec<u8>> }
}
