//! Client requests: `RequestHeader` plus the record its opcode calls for.

use alloc::vec::Vec;

use super::jute::{DecodeError, Jute, Reader};
use super::opcode::OpCode;
use super::records::*;

/// A decoded client request (after the handshake).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(PathVersion),
    Exists(PathWatch),
    GetData(PathWatch),
    SetData(SetDataRequest),
    GetAcl(PathRecord),
    SetAcl(SetAclRequest),
    GetChildren(PathWatch),
    Sync(PathRecord),
    Ping,
    GetChildren2(PathWatch),
    /// `CheckVersionRequest`.
    Check(PathVersion),
    Multi(Vec<MultiOp>),
    Reconfig(ReconfigRequest),
    CheckWatches(WatchesRequest),
    RemoveWatches(WatchesRequest),
    MultiRead(Vec<MultiOp>),
    Auth(AuthPacket),
    SetWatches(SetWatches),
    Sasl(SaslToken),
    GetEphemerals(GetEphemeralsRequest),
    GetAllChildrenNumber(PathRecord),
    SetWatches2(SetWatches2),
    AddWatch(AddWatchRequest),
    WhoAmI,
    CloseSession,
}

/// One op inside a multi (14) or multiRead (22) request (`MultiOperationRecord`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOp {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(PathVersion),
    SetData(SetDataRequest),
    Check(PathVersion),
    GetData(PathWatch),
    GetChildren(PathWatch),
}

impl MultiOp {
    pub fn opcode(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetData(_) => OpCode::GetData,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
        }
    }

    /// Whether the op reads (allowed only in multiRead) rather than writes (only in multi).
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetData(_) | MultiOp::GetChildren(_))
    }

    fn write_body(&self, out: &mut Vec<u8>) {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => r.write(out),
            MultiOp::CreateTtl(r) => r.write(out),
            MultiOp::Delete(r) | MultiOp::Check(r) => r.write(out),
            MultiOp::SetData(r) => r.write(out),
            MultiOp::GetData(r) | MultiOp::GetChildren(r) => r.write(out),
        }
    }

    fn read(opcode: i32, r: &mut Reader<'_>) -> Result<MultiOp, DecodeError> {
        Ok(match OpCode::from_i32(opcode) {
            Some(OpCode::Create) => MultiOp::Create(Jute::read(r)?),
            Some(OpCode::Create2) => MultiOp::Create2(Jute::read(r)?),
            Some(OpCode::CreateContainer) => MultiOp::CreateContainer(Jute::read(r)?),
            Some(OpCode::CreateTtl) => MultiOp::CreateTtl(Jute::read(r)?),
            Some(OpCode::Delete) => MultiOp::Delete(Jute::read(r)?),
            Some(OpCode::SetData) => MultiOp::SetData(Jute::read(r)?),
            Some(OpCode::Check) => MultiOp::Check(Jute::read(r)?),
            Some(OpCode::GetData) => MultiOp::GetData(Jute::read(r)?),
            Some(OpCode::GetChildren) => MultiOp::GetChildren(Jute::read(r)?),
            _ => return Err(DecodeError::BadMultiOp(opcode)),
        })
    }
}

/// The `MultiHeader` that ends a multi request or response.
const MULTI_END: MultiHeader = MultiHeader { opcode: -1, done: true, err: -1 };

fn write_multi(ops: &[MultiOp], out: &mut Vec<u8>) {
    for op in ops {
        MultiHeader { opcode: op.opcode().code(), done: false, err: -1 }.write(out);
        op.write_body(out);
    }
    MULTI_END.write(out);
}

/// Each op costs at least a 9-byte header, so the loop is bounded by the input length.
fn read_multi(r: &mut Reader<'_>) -> Result<Vec<MultiOp>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let header = MultiHeader::read(r)?;
        if header.done {
            return Ok(ops);
        }
        ops.push(MultiOp::read(header.opcode, r)?);
    }
}

impl Request {
    pub fn opcode(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Create2(_) => OpCode::Create2,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
        }
    }

    /// Decodes a request frame's payload into its xid and request. Bytes after the record are
    /// ignored, as ZooKeeper ignores them. An unknown opcode is an error that carries the xid,
    /// so the server can answer it with `Unimplemented` before closing.
    pub fn decode(payload: &[u8]) -> Result<(i32, Request), DecodeError> {
        let mut r = Reader::new(payload);
        let header = RequestHeader::read(&mut r)?;
        let unknown = DecodeError::UnknownOpcode { xid: header.xid, opcode: header.opcode };
        let Some(opcode) = OpCode::from_i32(header.opcode) else { return Err(unknown) };
        let r = &mut r;
        let request = match opcode {
            OpCode::Create => Request::Create(Jute::read(r)?),
            OpCode::Create2 => Request::Create2(Jute::read(r)?),
            OpCode::CreateContainer => Request::CreateContainer(Jute::read(r)?),
            OpCode::CreateTtl => Request::CreateTtl(Jute::read(r)?),
            OpCode::Delete => Request::Delete(Jute::read(r)?),
            OpCode::Exists => Request::Exists(Jute::read(r)?),
            OpCode::GetData => Request::GetData(Jute::read(r)?),
            OpCode::SetData => Request::SetData(Jute::read(r)?),
            OpCode::GetAcl => Request::GetAcl(Jute::read(r)?),
            OpCode::SetAcl => Request::SetAcl(Jute::read(r)?),
            OpCode::GetChildren => Request::GetChildren(Jute::read(r)?),
            OpCode::Sync => Request::Sync(Jute::read(r)?),
            OpCode::Ping => Request::Ping,
            OpCode::GetChildren2 => Request::GetChildren2(Jute::read(r)?),
            OpCode::Check => Request::Check(Jute::read(r)?),
            OpCode::Multi => Request::Multi(read_multi(r)?),
            OpCode::Reconfig => Request::Reconfig(Jute::read(r)?),
            OpCode::CheckWatches => Request::CheckWatches(Jute::read(r)?),
            OpCode::RemoveWatches => Request::RemoveWatches(Jute::read(r)?),
            OpCode::MultiRead => Request::MultiRead(read_multi(r)?),
            OpCode::Auth => Request::Auth(Jute::read(r)?),
            OpCode::SetWatches => Request::SetWatches(Jute::read(r)?),
            OpCode::Sasl => Request::Sasl(Jute::read(r)?),
            OpCode::GetEphemerals => Request::GetEphemerals(Jute::read(r)?),
            OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber(Jute::read(r)?),
            OpCode::SetWatches2 => Request::SetWatches2(Jute::read(r)?),
            OpCode::AddWatch => Request::AddWatch(Jute::read(r)?),
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::CloseSession => Request::CloseSession,
            OpCode::Notification | OpCode::DeleteContainer | OpCode::CreateSession | OpCode::Error => {
                return Err(unknown);
            }
        };
        Ok((header.xid, request))
    }

    /// Writes the header and the record (no frame length; see [`super::frame`]).
    pub fn encode(&self, xid: i32, out: &mut Vec<u8>) {
        RequestHeader { xid, opcode: self.opcode().code() }.write(out);
        match self {
            Request::Create(b) | Request::Create2(b) | Request::CreateContainer(b) => b.write(out),
            Request::CreateTtl(b) => b.write(out),
            Request::Delete(b) | Request::Check(b) => b.write(out),
            Request::Exists(b) | Request::GetData(b) | Request::GetChildren(b) | Request::GetChildren2(b) => {
                b.write(out)
            }
            Request::SetData(b) => b.write(out),
            Request::GetAcl(b) | Request::Sync(b) | Request::GetAllChildrenNumber(b) => b.write(out),
            Request::SetAcl(b) => b.write(out),
            Request::Multi(ops) | Request::MultiRead(ops) => write_multi(ops, out),
            Request::Reconfig(b) => b.write(out),
            Request::CheckWatches(b) | Request::RemoveWatches(b) => b.write(out),
            Request::Auth(b) => b.write(out),
            Request::SetWatches(b) => b.write(out),
            Request::Sasl(b) => b.write(out),
            Request::GetEphemerals(b) => b.write(out),
            Request::SetWatches2(b) => b.write(out),
            Request::AddWatch(b) => b.write(out),
            Request::Ping | Request::WhoAmI | Request::CloseSession => {}
        }
    }
}
