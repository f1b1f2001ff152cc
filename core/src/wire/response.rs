//! Server replies: `ReplyHeader` plus, when `err` is 0, the record the request's opcode calls
//! for; and watch notifications.

use alloc::vec::Vec;

use super::jute::{DecodeError, Jute, Reader};
use super::opcode::{NOTIFICATION_XID, OpCode};
use super::records::*;

/// A reply body. Which one a request gets depends on its opcode; a reply with a non-zero
/// `err` carries no body (`Empty`), except a failed multi, whose header says 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// No record: delete, check, sync-less acks, auth, setWatches, ping, closeSession, errors.
    Empty,
    Create(CreateResponse),
    /// create2, createContainer, createTTL.
    Create2(Create2Response),
    /// exists, setData, setACL.
    Stat(StatResponse),
    /// getData and reconfig.
    GetData(GetDataResponse),
    GetAcl(GetAclResponse),
    GetChildren(GetChildrenResponse),
    GetChildren2(GetChildren2Response),
    /// sync echoes the path.
    Sync(PathRecord),
    Multi(Vec<MultiResult>),
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    GetEphemerals(GetEphemeralsResponse),
    /// addWatch answers with an `ErrorResponse` body even on success.
    AddWatch(ErrorResponse),
    WhoAmI(WhoAmIResponse),
    Sasl(SaslToken),
}

/// One op's result in a multi or multiRead reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiResult {
    Create(CreateResponse),
    Create2(Create2Response),
    Delete,
    SetData(StatResponse),
    Check,
    GetData(GetDataResponse),
    GetChildren(GetChildrenResponse),
    /// `ErrorResult`: the op's error (0 for ops before the failing one in a failed multi).
    Error(i32),
}

impl MultiResult {
    fn opcode(&self) -> i32 {
        match self {
            MultiResult::Create(_) => OpCode::Create.code(),
            MultiResult::Create2(_) => OpCode::Create2.code(),
            MultiResult::Delete => OpCode::Delete.code(),
            MultiResult::SetData(_) => OpCode::SetData.code(),
            MultiResult::Check => OpCode::Check.code(),
            MultiResult::GetData(_) => OpCode::GetData.code(),
            MultiResult::GetChildren(_) => OpCode::GetChildren.code(),
            MultiResult::Error(_) => OpCode::Error.code(),
        }
    }

    fn err(&self) -> i32 {
        match self {
            MultiResult::Error(err) => *err,
            _ => 0,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        MultiHeader { opcode: self.opcode(), done: false, err: self.err() }.write(out);
        match self {
            MultiResult::Create(b) => b.write(out),
            MultiResult::Create2(b) => b.write(out),
            MultiResult::SetData(b) => b.write(out),
            MultiResult::GetData(b) => b.write(out),
            MultiResult::GetChildren(b) => b.write(out),
            MultiResult::Error(err) => ErrorResponse { err: *err }.write(out),
            MultiResult::Delete | MultiResult::Check => {}
        }
    }

    fn read(header: &MultiHeader, r: &mut Reader<'_>) -> Result<MultiResult, DecodeError> {
        Ok(match OpCode::from_i32(header.opcode) {
            Some(OpCode::Create) => MultiResult::Create(Jute::read(r)?),
            Some(OpCode::Create2) => MultiResult::Create2(Jute::read(r)?),
            Some(OpCode::Delete) => MultiResult::Delete,
            Some(OpCode::SetData) => MultiResult::SetData(Jute::read(r)?),
            Some(OpCode::Check) => MultiResult::Check,
            Some(OpCode::GetData) => MultiResult::GetData(Jute::read(r)?),
            Some(OpCode::GetChildren) => MultiResult::GetChildren(Jute::read(r)?),
            Some(OpCode::Error) => MultiResult::Error(ErrorResponse::read(r)?.err),
            _ => return Err(DecodeError::BadMultiOp(header.opcode)),
        })
    }
}

const MULTI_END: MultiHeader = MultiHeader { opcode: -1, done: true, err: -1 };

impl Response {
    /// Writes the body (nothing for `Empty`).
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Response::Empty => {}
            Response::Create(b) => b.write(out),
            Response::Create2(b) => b.write(out),
            Response::Stat(b) => b.write(out),
            Response::GetData(b) => b.write(out),
            Response::GetAcl(b) => b.write(out),
            Response::GetChildren(b) => b.write(out),
            Response::GetChildren2(b) => b.write(out),
            Response::Sync(b) => b.write(out),
            Response::Multi(results) => {
                for result in results {
                    result.write(out);
                }
                MULTI_END.write(out);
            }
            Response::GetAllChildrenNumber(b) => b.write(out),
            Response::GetEphemerals(b) => b.write(out),
            Response::AddWatch(b) => b.write(out),
            Response::WhoAmI(b) => b.write(out),
            Response::Sasl(b) => b.write(out),
        }
    }

    /// Decodes the body of a reply to a request with `opcode`, whose header carried `err`.
    pub fn read(opcode: OpCode, err: i32, r: &mut Reader<'_>) -> Result<Response, DecodeError> {
        if err != 0 {
            return Ok(Response::Empty);
        }
        Ok(match opcode {
            OpCode::Create => Response::Create(Jute::read(r)?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => Response::Create2(Jute::read(r)?),
            OpCode::Exists | OpCode::SetData | OpCode::SetAcl => Response::Stat(Jute::read(r)?),
            OpCode::GetData | OpCode::Reconfig => Response::GetData(Jute::read(r)?),
            OpCode::GetAcl => Response::GetAcl(Jute::read(r)?),
            OpCode::GetChildren => Response::GetChildren(Jute::read(r)?),
            OpCode::GetChildren2 => Response::GetChildren2(Jute::read(r)?),
            OpCode::Sync => Response::Sync(Jute::read(r)?),
            OpCode::Multi | OpCode::MultiRead => {
                let mut results = Vec::new();
                loop {
                    let header = MultiHeader::read(r)?;
                    if header.done {
                        break Response::Multi(results);
                    }
                    results.push(MultiResult::read(&header, r)?);
                }
            }
            OpCode::GetAllChildrenNumber => Response::GetAllChildrenNumber(Jute::read(r)?),
            OpCode::GetEphemerals => Response::GetEphemerals(Jute::read(r)?),
            OpCode::AddWatch => Response::AddWatch(Jute::read(r)?),
            OpCode::WhoAmI => Response::WhoAmI(Jute::read(r)?),
            OpCode::Sasl => Response::Sasl(Jute::read(r)?),
            _ => Response::Empty,
        })
    }
}

/// Writes a reply (header and body; no frame length).
pub fn encode_reply(header: &ReplyHeader, body: &Response, out: &mut Vec<u8>) {
    header.write(out);
    body.write(out);
}

/// Writes a watch notification: xid -1, then the event. ZooKeeper 3.8 sends zxid -1.
pub fn encode_notification(zxid: i64, event: &WatcherEvent, out: &mut Vec<u8>) {
    ReplyHeader { xid: NOTIFICATION_XID, zxid, err: 0 }.write(out);
    event.write(out);
}
