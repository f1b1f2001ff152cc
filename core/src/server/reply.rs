//! Client requests in, replies out: how a wire request becomes a write for prep, and how a
//! write's result becomes the reply its opcode calls for.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::ErrorCode;
use crate::txn::{CreateOpcode, MultiWriteOp, TxnResult, WriteOp};
use crate::wire::records::{Create2Response, CreateResponse, StatResponse};
use crate::wire::{MultiOp, MultiResult, Request, Response};

/// What reply a write asked for (the result alone does not say: create and create2 give the
/// same result but different replies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    Create(CreateOpcode),
    Delete,
    SetData,
    SetAcl,
    Check,
    Multi(Vec<Shape>),
    Close,
}

fn create_op(
    opcode: CreateOpcode,
    path: String,
    data: Option<Vec<u8>>,
    acl: Vec<crate::tree::Acl>,
    flags: i32,
    ttl_ms: i64,
) -> WriteOp {
    WriteOp::Create { opcode, path, data, acl, flags, ttl_ms }
}

/// A create inside a multi.
fn multi_create(
    opcode: CreateOpcode,
    path: String,
    data: Option<Vec<u8>>,
    acl: Vec<crate::tree::Acl>,
    flags: i32,
    ttl_ms: i64,
) -> MultiWriteOp {
    MultiWriteOp::Create { opcode, path, data, acl, flags, ttl_ms }
}

fn multi_op(op: MultiOp) -> Result<(MultiWriteOp, Shape), ErrorCode> {
    Ok(match op {
        MultiOp::Create(r) => (
            multi_create(CreateOpcode::Create, r.path, r.data, r.acl, r.flags, -1),
            Shape::Create(CreateOpcode::Create),
        ),
        MultiOp::Create2(r) => (
            multi_create(CreateOpcode::Create2, r.path, r.data, r.acl, r.flags, -1),
            Shape::Create(CreateOpcode::Create2),
        ),
        MultiOp::CreateContainer(r) => (
            multi_create(CreateOpcode::CreateContainer, r.path, r.data, r.acl, r.flags, -1),
            Shape::Create(CreateOpcode::CreateContainer),
        ),
        MultiOp::CreateTtl(r) => (
            multi_create(CreateOpcode::CreateTtl, r.path, r.data, r.acl, r.flags, r.ttl),
            Shape::Create(CreateOpcode::CreateTtl),
        ),
        MultiOp::Delete(r) => (MultiWriteOp::Delete { path: r.path, version: r.version }, Shape::Delete),
        MultiOp::SetData(r) => {
            (MultiWriteOp::SetData { path: r.path, data: r.data, version: r.version }, Shape::SetData)
        }
        MultiOp::Check(r) => (MultiWriteOp::Check { path: r.path, version: r.version }, Shape::Check),
        MultiOp::GetData(_) | MultiOp::GetChildren(_) => return Err(ErrorCode::MarshallingError),
    })
}

/// How the pipeline treats a request.
#[derive(Debug)]
pub enum Kind {
    Read(Request),
    Write(WriteOp, Shape),
    Refused(ErrorCode),
}

/// Sorts a request: a write (with the reply it asks for), a read, or refused outright (a multi
/// holding a read op: `MarshallingError`).
pub fn classify(request: Request) -> Kind {
    let create = |opcode, r: crate::wire::records::CreateRequest| {
        Kind::Write(create_op(opcode, r.path, r.data, r.acl, r.flags, -1), Shape::Create(opcode))
    };
    match request {
        Request::Create(r) => create(CreateOpcode::Create, r),
        Request::Create2(r) => create(CreateOpcode::Create2, r),
        Request::CreateContainer(r) => create(CreateOpcode::CreateContainer, r),
        Request::CreateTtl(r) => Kind::Write(
            create_op(CreateOpcode::CreateTtl, r.path, r.data, r.acl, r.flags, r.ttl),
            Shape::Create(CreateOpcode::CreateTtl),
        ),
        Request::Delete(r) => Kind::Write(WriteOp::Delete { path: r.path, version: r.version }, Shape::Delete),
        Request::SetData(r) => {
            Kind::Write(WriteOp::SetData { path: r.path, data: r.data, version: r.version }, Shape::SetData)
        }
        Request::SetAcl(r) => {
            Kind::Write(WriteOp::SetAcl { path: r.path, acl: r.acl, version: r.version }, Shape::SetAcl)
        }
        Request::Check(r) => Kind::Write(WriteOp::Check { path: r.path, version: r.version }, Shape::Check),
        Request::CloseSession => Kind::Write(WriteOp::CloseSession, Shape::Close),
        Request::Multi(ops) => {
            let mut writes = Vec::with_capacity(ops.len());
            let mut shapes = Vec::with_capacity(ops.len());
            for op in ops {
                match multi_op(op) {
                    Ok((w, s)) => {
                        writes.push(w);
                        shapes.push(s);
                    }
                    Err(code) => return Kind::Refused(code),
                }
            }
            Kind::Write(WriteOp::Multi(writes), Shape::Multi(shapes))
        }
        // ZooKeeper 3.8 refuses a multiRead holding a write whole ("Mixing different kind of
        // ops"), with no per-op results.
        Request::MultiRead(ops)
            if ops.iter().any(|op| !matches!(op, MultiOp::GetData(_) | MultiOp::GetChildren(_))) =>
        {
            Kind::Refused(ErrorCode::MarshallingError)
        }
        request => Kind::Read(request),
    }
}

/// The reply error code and body for a write's result.
pub fn write_reply(shape: &Shape, result: TxnResult) -> (ErrorCode, Response) {
    match (shape, result) {
        (Shape::Multi(shapes), TxnResult::Multi(results)) => {
            let results = shapes.iter().zip(results).map(|(s, r)| multi_result(s, r)).collect();
            (ErrorCode::Ok, Response::Multi(results))
        }
        (_, TxnResult::Failed(code)) => (code, Response::Empty),
        (Shape::Create(CreateOpcode::Create), TxnResult::Created { path, .. }) => {
            (ErrorCode::Ok, Response::Create(CreateResponse { path }))
        }
        (Shape::Create(_), TxnResult::Created { path, stat }) => {
            (ErrorCode::Ok, Response::Create2(Create2Response { path, stat }))
        }
        (_, TxnResult::DataSet { stat } | TxnResult::AclSet { stat }) => {
            (ErrorCode::Ok, Response::Stat(StatResponse { stat }))
        }
        _ => (ErrorCode::Ok, Response::Empty),
    }
}

/// One op's result inside a multi reply. ZooKeeper 3.8 reports create2 as a plain create and
/// createContainer / createTTL as create2.
fn multi_result(shape: &Shape, result: TxnResult) -> MultiResult {
    match (shape, result) {
        (_, TxnResult::Failed(code)) => MultiResult::Error(code.code()),
        (Shape::Create(CreateOpcode::Create | CreateOpcode::Create2), TxnResult::Created { path, .. }) => {
            MultiResult::Create(CreateResponse { path })
        }
        (Shape::Create(_), TxnResult::Created { path, stat }) => MultiResult::Create2(Create2Response { path, stat }),
        (_, TxnResult::Deleted) => MultiResult::Delete,
        (_, TxnResult::DataSet { stat }) => MultiResult::SetData(StatResponse { stat }),
        _ => MultiResult::Check,
    }
}
