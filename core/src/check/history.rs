//! ZooKeeper's client-visible guarantees ("Consistency Guarantees" in the Programmer's Guide;
//! ZAB-CHECKS.md section E), checked on the history of client calls of a simulated run.
//!
//! The simulator knows the ground truth: the global committed log, each txn stamped with its
//! zxid and the (session, cxid) of the request behind it. So no search for a linearization is
//! needed. The checker replays the committed writes in zxid order on a small data tree of its
//! own, judges every write at its place in the log, and answers every read from the state that
//! tree had at the read's reply zxid. Every pass is O(n log n).
//!
//! | guarantee | what is checked |
//! |---|---|
//! | linearizable writes | a write with a reply is committed exactly once under its (session, cxid), at the zxid of its reply; what the log did is what the call does at that place (sequential name, version, error); the reply says what the log did; a write invoked after another completed is committed after it |
//! | lost acknowledged write | a write with an ok reply is in the log |
//! | sequentially consistent reads | a read equals the state after every committed write with zxid <= its reply zxid, which is no later than the log's last |
//! | FIFO client order | replies of a session come in call order (completion times never fall); its committed writes take effect in call order, except txns that only refuse the session (SessionMoved and the like) |
//! | read your writes | a read's zxid >= that of every write of its session that completed before the read was invoked |
//! | sync | a read sent after a sync completed, by the sync's session, has zxid >= that of every write, of any session, that completed before the sync was invoked |
//! | single system image | the reply zxids of a session never fall in call order, reconnects to other servers included |
//! | multi atomicity | a multi is one step: all of it applied, or nothing with ZooKeeper's per-op codes (ok before the failing op, its code, then RuntimeInconsistency) |
//! | ephemerals | no ephemeral is created for a closed session; a close deletes only nodes the session owns |
//! | committed log | each committed write fits the tree it lands on; dataVersion rises by 1; sequential counters agree |
//!
//! What a reply means for a write:
//! - `Ok`, or `Err` with any other code than those below: the write happened as the reply says
//!   and is in the log (a refused write is an error txn, which also takes a zxid).
//! - `Err` with ConnectionLoss, OperationTimeout, RequestTimeout or SessionExpired, and
//!   `Unknown`: it may or may not be in the log. If it is, its effect must still be the call's.
//! - `Err` with NotReadOnly, ThrottledOp, SessionMoved, UnknownSession, AuthFailed,
//!   SessionClosedRequireSaslAuth, Unimplemented or MarshallingError: a refusal that may come
//!   before any txn. If the write is in the log anyway, the log must say the same.
//!
//! Not modelled: ACLs, cversion and the other Stat fields beyond the data version, null versus
//! empty data (both are empty here), containers and TTL nodes (persistent here), watches. A write
//! refused with a code the model does not compute (NoAuth, BadArguments, InvalidAcl, ...) is
//! taken as the log says. Reads are never judged against real time: ZooKeeper's reads may be
//! stale.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::ErrorCode;
use crate::tree::NodeKind;
use crate::txn::Txn;

#[path = "history_display.rs"]
mod display;
#[path = "history_model.rs"]
mod model;

use model::{Model, Overlay};

/// One client call and what its client saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub client: u32,
    pub session: i64,
    /// The request's xid: unique and rising within a session, across reconnects.
    pub cxid: i32,
    pub call: Call,
    pub invoked_ms: u64,
    pub outcome: Outcome,
}

/// A client call, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Create {
        path: String,
        data: Vec<u8>,
        ephemeral: bool,
        sequential: bool,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// Create, delete, setData and check only (anything else is refused whole, as in prep).
    Multi(Vec<Call>),
    CloseSession,
    GetData {
        path: String,
    },
    Exists {
        path: String,
    },
    GetChildren {
        path: String,
    },
    Sync {
        path: String,
    },
}

/// What the client saw of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A reply with err 0; `zxid` is the ReplyHeader's.
    Ok { completed_ms: u64, zxid: i64, reply: Reply },
    /// A reply with an error; see the module doc for what each code means here.
    Err { completed_ms: u64, zxid: i64, code: ErrorCode },
    /// No reply: connection loss, timeout or expiry before the reply.
    Unknown,
}

/// The body of an ok reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The created node's actual path.
    Created(String),
    /// setData: the node's new data version.
    Version(i32),
    Data {
        data: Vec<u8>,
        version: i32,
    },
    /// Child names; any order.
    Children(Vec<String>),
    /// The node's data version, `None` when it does not exist (`Err` NoNode is accepted too).
    Exists(Option<i32>),
    /// delete, check, sync, closeSession.
    Done,
    /// One result per op. A failed multi has only `Err`s: `Err(ErrorCode::Ok)` before the
    /// failing op, its code, then `RuntimeInconsistency` (ZooKeeper's ErrorResults). A failed
    /// multi may also be recorded as `Outcome::Err` with the failing op's code.
    Multi(Vec<Result<Reply, ErrorCode>>),
}

/// One entry of the global committed log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedWrite {
    pub zxid: i64,
    pub session: i64,
    pub cxid: i32,
    pub effect: Effect,
}

/// What a committed txn does to the tree, as prep decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `ephemeral_owner` is the owning session of an ephemeral (`None` for every other kind);
    /// `parent_cversion` is the parent's new count of child creates.
    Create {
        path: String,
        data: Vec<u8>,
        ephemeral_owner: Option<i64>,
        parent_cversion: i32,
    },
    Delete {
        path: String,
    },
    /// `version` is the node's new data version.
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Check {
        path: String,
    },
    /// Never matched to a call.
    CreateSession,
    /// Deletes every ephemeral of `session`; `paths` are those prep listed.
    CloseSession {
        session: i64,
        paths: Vec<String>,
    },
    Multi(Vec<Effect>),
    MultiError(Vec<ErrorCode>),
    Error(ErrorCode),
    /// Changes nothing the model tracks (setACL).
    Other,
}

/// The guarantee a history breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guarantee {
    LinearizableWrites,
    LostAcknowledgedWrite,
    SequentiallyConsistentReads,
    FifoClientOrder,
    ReadYourWrites,
    Sync,
    SingleSystemImage,
    MultiAtomicity,
    Ephemerals,
    /// The ground truth does not fit the tree: a committed write that cannot apply.
    CommittedLog,
    /// The input itself is malformed: duplicate (session, cxid), completion before invocation.
    WellFormedHistory,
}

impl Guarantee {
    pub const fn name(self) -> &'static str {
        match self {
            Guarantee::LinearizableWrites => "linearizable writes",
            Guarantee::LostAcknowledgedWrite => "lost acknowledged write",
            Guarantee::SequentiallyConsistentReads => "sequentially consistent reads",
            Guarantee::FifoClientOrder => "FIFO client order",
            Guarantee::ReadYourWrites => "read your writes",
            Guarantee::Sync => "sync",
            Guarantee::SingleSystemImage => "single system image",
            Guarantee::MultiAtomicity => "multi atomicity",
            Guarantee::Ephemerals => "ephemerals",
            Guarantee::CommittedLog => "committed log",
            Guarantee::WellFormedHistory => "well-formed history",
        }
    }
}

/// A broken guarantee, with the few ops and committed writes that show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub guarantee: Guarantee,
    pub detail: String,
    /// (index in the history, op), by index: the offending op and those it is judged against.
    pub ops: Vec<(usize, Op)>,
    /// The committed writes involved, in zxid order.
    pub writes: Vec<CommittedWrite>,
}

/// The ground truth for one committed txn.
pub fn from_txn(zxid: i64, session: i64, cxid: i32, txn: &Txn) -> CommittedWrite {
    CommittedWrite { zxid, session, cxid, effect: effect_of(txn) }
}

fn effect_of(txn: &Txn) -> Effect {
    match txn {
        Txn::Create(create) => Effect::Create {
            path: create.path.clone(),
            data: create.data.clone().unwrap_or_default(),
            ephemeral_owner: match NodeKind::from_owner(create.ephemeral_owner) {
                NodeKind::Ephemeral(session) => Some(session.0),
                _ => None,
            },
            parent_cversion: create.parent_cversion,
        },
        Txn::Delete { path } => Effect::Delete { path: path.clone() },
        Txn::SetData { path, data, version } => {
            Effect::SetData { path: path.clone(), data: data.clone().unwrap_or_default(), version: *version }
        }
        Txn::SetAcl { .. } => Effect::Other,
        Txn::Check { path, .. } => Effect::Check { path: path.clone() },
        Txn::CreateSession { .. } | Txn::CreateSessionV1 { .. } => Effect::CreateSession,
        Txn::CloseSession { session, paths } => Effect::CloseSession { session: session.0, paths: paths.clone() },
        Txn::Multi(ops) => Effect::Multi(ops.iter().map(|op| effect_of(&Txn::from(op.clone()))).collect()),
        Txn::MultiError(codes) => Effect::MultiError(codes.clone()),
        Txn::Error(code) => Effect::Error(*code),
    }
}

/// Checks `ops` against `committed`, the global committed log in zxid order. Returns the first
/// broken guarantee, trying them in this order: well-formedness, each committed write at its
/// place, acknowledged writes in the log, real-time order of writes, FIFO client order, read
/// your writes, sync, single system image, then reads.
pub fn check(ops: &[Op], committed: &[CommittedWrite]) -> Result<(), Failure> {
    let mut run = Run::new(ops, committed)?;
    run.replay()?;
    run.acknowledged_writes_committed()?;
    run.real_time_order()?;
    run.fifo_client_order()?;
    run.read_your_writes()?;
    run.sync()?;
    run.single_system_image()?;
    run.reads()
}

/// Codes a client produces itself: the call may or may not have happened.
const INDEFINITE: [ErrorCode; 4] =
    [ErrorCode::ConnectionLoss, ErrorCode::OperationTimeout, ErrorCode::RequestTimeout, ErrorCode::SessionExpired];

/// Refusals a server may give before any txn exists.
const REFUSED: [ErrorCode; 8] = [
    ErrorCode::NotReadOnly,
    ErrorCode::ThrottledOp,
    ErrorCode::SessionMoved,
    ErrorCode::UnknownSession,
    ErrorCode::AuthFailed,
    ErrorCode::SessionClosedRequireSaslAuth,
    ErrorCode::Unimplemented,
    ErrorCode::MarshallingError,
];

/// The error codes the model computes; a committed error with any other code is taken as is.
const MODEL_CODES: [ErrorCode; 5] = [
    ErrorCode::NoNode,
    ErrorCode::NodeExists,
    ErrorCode::BadVersion,
    ErrorCode::NotEmpty,
    ErrorCode::NoChildrenForEphemerals,
];

fn is_write(call: &Call) -> bool {
    matches!(
        call,
        Call::Create { .. }
            | Call::Delete { .. }
            | Call::SetData { .. }
            | Call::Check { .. }
            | Call::Multi(_)
            | Call::CloseSession
    )
}

fn is_read(call: &Call) -> bool {
    matches!(call, Call::GetData { .. } | Call::Exists { .. } | Call::GetChildren { .. })
}

/// (completed_ms, reply zxid) of a reply that binds: ok, or an error that is neither
/// indefinite nor a refusal.
fn ack(outcome: &Outcome) -> Option<(u64, i64)> {
    match outcome {
        Outcome::Ok { completed_ms, zxid, .. } => Some((*completed_ms, *zxid)),
        Outcome::Err { completed_ms, zxid, code } if !INDEFINITE.contains(code) && !REFUSED.contains(code) => {
            Some((*completed_ms, *zxid))
        }
        _ => None,
    }
}

/// Whether the outcome says nothing certain: no reply, or an indefinite error.
fn indefinite(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Unknown => true,
        Outcome::Err { code, .. } => INDEFINITE.contains(code),
        Outcome::Ok { .. } => false,
    }
}

/// A committed error that says the session, not the call, was refused: such a txn may land out
/// of the session's order (ZooKeeper's SessionMoved for a request left on the old server).
fn session_refusal(effect: &Effect) -> bool {
    matches!(effect, Effect::Error(code) if INDEFINITE.contains(code) || REFUSED.contains(code))
}

/// Whether the committed effect is what the model predicted, allowing a refusal for a reason the
/// model does not know (ACLs, arguments) at or before the op the model would fail.
fn consistent(predicted: &Effect, committed: &Effect) -> bool {
    match (predicted, committed) {
        (_, Effect::Error(code)) if !MODEL_CODES.contains(code) => true,
        (Effect::CloseSession { session: a, .. }, Effect::CloseSession { session: b, .. }) => a == b,
        (Effect::Multi(_) | Effect::MultiError(_), Effect::MultiError(codes)) => match failing_op(codes) {
            Some((index, code)) if !MODEL_CODES.contains(&code) => match predicted {
                Effect::MultiError(ours) => failing_op(ours).is_none_or(|(at, _)| at >= index),
                _ => true,
            },
            _ => predicted == committed,
        },
        _ => predicted == committed,
    }
}

/// The first op of a failed multi that is not `Ok`.
fn failing_op(codes: &[ErrorCode]) -> Option<(usize, ErrorCode)> {
    codes.iter().enumerate().find(|(_, code)| **code != ErrorCode::Ok).map(|(index, code)| (index, *code))
}

/// The reply a committed effect calls for.
fn expected_reply(effect: &Effect) -> Result<Reply, ErrorCode> {
    match effect {
        Effect::Create { path, .. } => Ok(Reply::Created(path.clone())),
        Effect::SetData { version, .. } => Ok(Reply::Version(*version)),
        Effect::Multi(effects) => Ok(Reply::Multi(effects.iter().map(expected_reply).collect())),
        Effect::MultiError(codes) => Ok(Reply::Multi(codes.iter().map(|code| Err(*code)).collect())),
        Effect::Error(code) => Err(*code),
        Effect::Delete { .. }
        | Effect::Check { .. }
        | Effect::CreateSession
        | Effect::CloseSession { .. }
        | Effect::Other => Ok(Reply::Done),
    }
}

fn reply_matches(outcome: &Outcome, expected: &Result<Reply, ErrorCode>) -> bool {
    match (outcome, expected) {
        (Outcome::Ok { reply, .. }, Ok(want)) => reply == want,
        (Outcome::Err { code, .. }, Err(want)) => code == want,
        (Outcome::Err { code, .. }, Ok(Reply::Multi(results))) => {
            let codes: Option<Vec<ErrorCode>> = results.iter().map(|r| r.as_ref().err().copied()).collect();
            codes.and_then(|codes| failing_op(&codes)).is_some_and(|(_, first)| first == *code)
        }
        _ => false,
    }
}

/// A read's reply in the form the model answers in: child names sorted. (NoNode from exists is
/// accepted where the model says `Exists(None)`.)
fn normalized(outcome: &Outcome) -> Option<Result<Reply, ErrorCode>> {
    match outcome {
        Outcome::Ok { reply: Reply::Children(names), .. } => {
            let mut names = names.clone();
            names.sort_unstable();
            Some(Ok(Reply::Children(names)))
        }
        Outcome::Ok { reply, .. } => Some(Ok(reply.clone())),
        Outcome::Err { code, .. } => Some(Err(*code)),
        Outcome::Unknown => None,
    }
}

/// One check of one history.
struct Run<'a> {
    ops: &'a [Op],
    log: &'a [CommittedWrite],
    /// Op index -> the committed entry of its write.
    matched: Vec<Option<usize>>,
    /// Committed index -> the op that issued it.
    issuer: Vec<Option<usize>>,
    /// Session -> its op indices in the order they were invoked.
    sessions: BTreeMap<i64, Vec<usize>>,
    /// Acknowledged writes as (completed_ms, zxid, op), by completion; and the running maximum
    /// of their zxids as (zxid, op).
    done: Vec<(u64, i64, usize)>,
    done_max: Vec<(i64, usize)>,
    model: Model,
}

impl<'a> Run<'a> {
    /// Checks the shape of the input and matches each write to its committed entry.
    fn new(ops: &'a [Op], log: &'a [CommittedWrite]) -> Result<Run<'a>, Failure> {
        let mut run = Run {
            ops,
            log,
            matched: alloc::vec![None; ops.len()],
            issuer: alloc::vec![None; log.len()],
            sessions: BTreeMap::new(),
            done: Vec::new(),
            done_max: Vec::new(),
            model: Model::new(),
        };
        for (index, pair) in log.windows(2).enumerate() {
            if let [a, b] = pair
                && a.zxid >= b.zxid
            {
                let detail = format!("zxid {:#x} follows {:#x}", b.zxid, a.zxid);
                return Err(run.fail(Guarantee::CommittedLog, detail, &[], &[index, index + 1]));
            }
        }
        let mut keys: BTreeMap<(i64, i32), usize> = BTreeMap::new();
        for (index, op) in ops.iter().enumerate() {
            if let Some(completed_ms) = reply_time(op)
                && completed_ms < op.invoked_ms
            {
                let detail = format!("op #{index} completed at {completed_ms} ms, before it was invoked");
                return Err(run.fail(Guarantee::WellFormedHistory, detail, &[index], &[]));
            }
            if let Some(other) = keys.insert((op.session, op.cxid), index) {
                let detail = format!("ops #{other} and #{index} share session {:#x} cxid {}", op.session, op.cxid);
                return Err(run.fail(Guarantee::WellFormedHistory, detail, &[other, index], &[]));
            }
        }
        // A session's calls in the order they were made (clients that number requests anew
        // on each connection make cxid order differ from it).
        for (index, op) in ops.iter().enumerate() {
            run.sessions.entry(op.session).or_default().push(index);
        }
        for indices in run.sessions.values_mut() {
            indices.sort_by_key(|&i| (ops[i].invoked_ms, ops[i].cxid));
        }
        run.match_writes(&keys)?;
        run.done = (0..ops.len())
            .filter(|&i| is_write(&ops[i].call) && run.matched[i].is_some())
            .filter_map(|i| ack(&ops[i].outcome).map(|(completed_ms, zxid)| (completed_ms, zxid, i)))
            .collect();
        run.done.sort_unstable();
        let mut best: Option<(i64, usize)> = None;
        for &(_, zxid, i) in &run.done {
            best = Some(best.map_or((zxid, i), |b| if zxid > b.0 { (zxid, i) } else { b }));
            run.done_max.extend(best);
        }
        Ok(run)
    }

    /// Every write is committed at most once; nothing but writes is committed.
    fn match_writes(&mut self, keys: &BTreeMap<(i64, i32), usize>) -> Result<(), Failure> {
        let mut entries: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (index, write) in self.log.iter().enumerate() {
            let Some(&op) = keys.get(&(write.session, write.cxid)) else { continue };
            let call = &self.ops[op].call;
            let closes = matches!(write.effect, Effect::CloseSession { .. });
            // Session txns of the server's own making may share a client's cxid.
            if matches!(write.effect, Effect::CreateSession) || closes != matches!(call, Call::CloseSession) {
                continue;
            }
            if !is_write(call) {
                let detail = format!("op #{op} is not a write but zxid {:#x} commits it", write.zxid);
                return Err(self.fail(Guarantee::LinearizableWrites, detail, &[op], &[index]));
            }
            entries.entry(op).or_default().push(index);
        }
        for (op, writes) in entries {
            if let [write] = writes[..] {
                self.matched[op] = Some(write);
                self.issuer[write] = Some(op);
            } else {
                let detail = format!("op #{op} is committed {} times", writes.len());
                return Err(self.fail(Guarantee::LinearizableWrites, detail, &[op], &writes));
            }
        }
        Ok(())
    }

    /// Applies the log in zxid order, judging each write of the history at its place.
    fn replay(&mut self) -> Result<(), Failure> {
        let log = self.log;
        for (index, write) in log.iter().enumerate() {
            if let Some(op) = self.issuer[index] {
                self.judge_write(op, index)?;
            }
            if let Some((path, session, closed)) = self.model.ephemeral_of_closed(&write.effect) {
                let detail = format!(
                    "zxid {:#x} creates ephemeral {path} for session {session:#x}, closed at zxid {closed:#x}",
                    write.zxid
                );
                let close = log.binary_search_by_key(&closed, |w| w.zxid).ok();
                let writes: Vec<usize> = close.into_iter().chain(core::iter::once(index)).collect();
                return Err(self.fail(Guarantee::Ephemerals, detail, &[], &writes));
            }
            let mut overlay = Overlay::new(&self.model);
            if let Err((guarantee, detail)) = overlay.step(&write.effect) {
                let detail = format!("zxid {:#x}: {detail}", write.zxid);
                return Err(self.fail(guarantee, detail, &[], &[index]));
            }
            let changes = overlay.finish();
            self.model.commit(changes, write.zxid, index);
        }
        Ok(())
    }

    /// The committed effect is the call's at this place, and the reply says what it did.
    fn judge_write(&self, op: usize, index: usize) -> Result<(), Failure> {
        let Op { session, call, outcome, .. } = &self.ops[op];
        let write = &self.log[index];
        let guarantee =
            if matches!(call, Call::Multi(_)) { Guarantee::MultiAtomicity } else { Guarantee::LinearizableWrites };
        let predicted = Overlay::new(&self.model).predict(call, *session);
        if !consistent(&predicted, &write.effect) {
            let detail =
                format!("at zxid {:#x} op #{op} does {predicted}, but the log has {}", write.zxid, write.effect);
            return Err(self.fail(guarantee, detail, &[op], &[index]));
        }
        if indefinite(outcome) {
            return Ok(());
        }
        let expected = expected_reply(&write.effect);
        if !reply_matches(outcome, &expected) {
            let expected = match &expected {
                Ok(reply) => format!("{reply}"),
                Err(code) => format!("{code}"),
            };
            let detail = format!("op #{op} saw {outcome}, but zxid {:#x} calls for {expected}", write.zxid);
            return Err(self.fail(guarantee, detail, &[op], &[index]));
        }
        if let Outcome::Ok { zxid, .. } | Outcome::Err { zxid, .. } = outcome
            && *zxid != write.zxid
        {
            let detail = format!("op #{op} replied zxid {zxid:#x}, but it is committed at {:#x}", write.zxid);
            return Err(self.fail(Guarantee::LinearizableWrites, detail, &[op], &[index]));
        }
        Ok(())
    }

    /// An ok write is never lost; a definite error is an error txn, which is committed too.
    fn acknowledged_writes_committed(&self) -> Result<(), Failure> {
        for (index, op) in self.ops.iter().enumerate() {
            if !is_write(&op.call) || self.matched[index].is_some() || ack(&op.outcome).is_none() {
                continue;
            }
            return Err(match op.outcome {
                Outcome::Ok { zxid, .. } => {
                    let detail = format!("op #{index} was acknowledged at zxid {zxid:#x}, which the log lacks");
                    self.fail(Guarantee::LostAcknowledgedWrite, detail, &[index], &[])
                }
                _ => {
                    let detail = format!("op #{index} failed with an error reply, but no error txn was committed");
                    self.fail(Guarantee::LinearizableWrites, detail, &[index], &[])
                }
            });
        }
        Ok(())
    }

    /// A write invoked after another completed is committed after it.
    fn real_time_order(&self) -> Result<(), Failure> {
        for (b, op) in self.ops.iter().enumerate() {
            let Some(write_b) = self.matched[b] else { continue };
            let before = self.done.partition_point(|&(completed_ms, _, _)| completed_ms < op.invoked_ms);
            let Some(&(zxid, a)) = before.checked_sub(1).and_then(|i| self.done_max.get(i)) else { continue };
            if zxid > self.log[write_b].zxid {
                let detail = format!(
                    "op #{b} was invoked after op #{a} completed, but is committed before it ({:#x} < {zxid:#x})",
                    self.log[write_b].zxid
                );
                return Err(self.fail(Guarantee::LinearizableWrites, detail, &[a, b], &[]));
            }
        }
        Ok(())
    }

    /// Replies come back in call order; a session's committed writes take effect in call order.
    fn fifo_client_order(&self) -> Result<(), Failure> {
        for ops in self.sessions.values() {
            let mut last_reply: Option<(u64, usize)> = None;
            let mut last_write: Option<(i64, usize)> = None;
            for &i in ops {
                if let Some((completed_ms, _)) = ack(&self.ops[i].outcome) {
                    if let Some((before_ms, j)) = last_reply
                        && completed_ms < before_ms
                    {
                        let detail =
                            format!("op #{i} was answered at {completed_ms} ms, before op #{j} ({before_ms} ms)");
                        return Err(self.fail(Guarantee::FifoClientOrder, detail, &[j, i], &[]));
                    }
                    last_reply = Some((completed_ms, i));
                }
                let Some(write) = self.matched[i] else { continue };
                let zxid = self.log[write].zxid;
                if session_refusal(&self.log[write].effect) {
                    continue;
                }
                if let Some((before, j)) = last_write
                    && zxid < before
                {
                    let detail =
                        format!("op #{i} is committed at {zxid:#x}, before op #{j} sent earlier ({before:#x})");
                    return Err(self.fail(Guarantee::FifoClientOrder, detail, &[j, i], &[]));
                }
                last_write = Some((zxid, i));
            }
        }
        Ok(())
    }

    /// A read sees every write of its session that completed before the read was invoked.
    fn read_your_writes(&self) -> Result<(), Failure> {
        for ops in self.sessions.values() {
            // (completed_ms, zxid, op) in call order: completions and zxids both rise (FIFO).
            let mut writes: Vec<(u64, i64, usize)> = Vec::new();
            for &i in ops {
                let op = &self.ops[i];
                let Some((completed_ms, zxid)) = ack(&op.outcome) else { continue };
                if is_write(&op.call) {
                    writes.push((completed_ms, zxid, i));
                    continue;
                }
                if !is_read(&op.call) {
                    continue;
                }
                let before = writes.partition_point(|&(done_ms, _, _)| done_ms <= op.invoked_ms);
                if let Some(&(_, written, w)) = before.checked_sub(1).and_then(|k| writes.get(k))
                    && zxid < written
                {
                    let detail =
                        format!("op #{i} read at zxid {zxid:#x}, below its session's write #{w} ({written:#x})");
                    return Err(self.fail(Guarantee::ReadYourWrites, detail, &[w, i], &[]));
                }
            }
        }
        Ok(())
    }

    /// After its sync completed, a session reads at least every write that completed before the
    /// sync was invoked.
    fn sync(&self) -> Result<(), Failure> {
        for ops in self.sessions.values() {
            // (completed_ms, floor zxid, sync op, write op) in call order, floors as running maxima.
            let mut syncs: Vec<(u64, i64, usize, usize)> = Vec::new();
            for &i in ops {
                let op = &self.ops[i];
                let Some((completed_ms, zxid)) = ack(&op.outcome) else { continue };
                if matches!(op.call, Call::Sync { .. }) {
                    let before = self.done.partition_point(|&(done_ms, _, _)| done_ms < op.invoked_ms);
                    if let Some(&(floor, w)) = before.checked_sub(1).and_then(|k| self.done_max.get(k)) {
                        let previous = syncs.last().filter(|s| s.1 >= floor).map(|s| (s.1, s.2, s.3));
                        let (floor, s, w) = previous.unwrap_or((floor, i, w));
                        syncs.push((completed_ms, floor, s, w));
                    }
                    continue;
                }
                if !is_read(&op.call) {
                    continue;
                }
                let after = syncs.partition_point(|&(done_ms, _, _, _)| done_ms <= op.invoked_ms);
                if let Some(&(_, floor, s, w)) = after.checked_sub(1).and_then(|k| syncs.get(k))
                    && zxid < floor
                {
                    let detail = format!(
                        "op #{i} read at zxid {zxid:#x} after sync #{s}, but write #{w} ({floor:#x}) completed before that sync"
                    );
                    return Err(self.fail(Guarantee::Sync, detail, &[s, w, i], &[]));
                }
            }
        }
        Ok(())
    }

    /// The zxids a session sees never fall.
    fn single_system_image(&self) -> Result<(), Failure> {
        for ops in self.sessions.values() {
            let mut last: Option<(i64, usize)> = None;
            for &i in ops {
                let Some((_, zxid)) = ack(&self.ops[i].outcome) else { continue };
                if let Some((before, j)) = last
                    && zxid < before
                {
                    let detail = format!("op #{i} replied zxid {zxid:#x}, after op #{j} replied {before:#x}");
                    return Err(self.fail(Guarantee::SingleSystemImage, detail, &[j, i], &[]));
                }
                last = Some((zxid, i));
            }
        }
        Ok(())
    }

    /// Each read equals the model at its reply zxid.
    fn reads(&self) -> Result<(), Failure> {
        let last = self.log.last().map_or(0, |w| w.zxid);
        for (i, op) in self.ops.iter().enumerate() {
            if !is_read(&op.call) {
                continue;
            }
            let Some((_, zxid)) = ack(&op.outcome) else { continue };
            if zxid > last {
                let detail = format!("op #{i} read at zxid {zxid:#x}, beyond the last committed {last:#x}");
                return Err(self.fail(Guarantee::SequentiallyConsistentReads, detail, &[i], &[]));
            }
            let Some(seen) = normalized(&op.outcome) else { continue };
            let Some(want) = self.model.read(&op.call, zxid) else { continue };
            let outside_model = matches!(seen, Err(code) if !MODEL_CODES.contains(&code));
            let no_node = seen == Err(ErrorCode::NoNode) && want == Ok(Reply::Exists(None));
            if seen == want || outside_model || no_node {
                continue;
            }
            let mut writes: Vec<usize> = self.model.last_write(&op.call, zxid).into_iter().collect();
            let seen_text = match &seen {
                Ok(reply) => format!("{reply}"),
                Err(code) => format!("{code}"),
            };
            let mut detail = format!("op #{i} read at zxid {zxid:#x} saw {seen_text}, but the state then was ");
            match &want {
                Ok(reply) => detail.push_str(&format!("{reply}")),
                Err(code) => detail.push_str(&format!("{code}")),
            }
            if let Some((when, write)) = self.model.when_seen(&op.call, &seen, zxid) {
                detail.push_str(&format!("; it was so at zxid {when:#x}"));
                writes.extend(write);
            }
            return Err(self.fail(Guarantee::SequentiallyConsistentReads, detail, &[i], &writes));
        }
        Ok(())
    }

    /// A failure naming `ops`, `writes` and the ops that issued those writes.
    fn fail(&self, guarantee: Guarantee, detail: String, ops: &[usize], writes: &[usize]) -> Failure {
        let mut op_ids: Vec<usize> = ops.to_vec();
        op_ids.extend(writes.iter().filter_map(|&w| self.issuer.get(w).copied().flatten()));
        op_ids.sort_unstable();
        op_ids.dedup();
        let mut write_ids: Vec<usize> = writes.to_vec();
        write_ids.extend(ops.iter().filter_map(|&o| self.matched.get(o).copied().flatten()));
        write_ids.sort_unstable();
        write_ids.dedup();
        Failure {
            guarantee,
            detail,
            ops: op_ids.into_iter().map(|o| (o, self.ops[o].clone())).collect(),
            writes: write_ids.into_iter().map(|w| self.log[w].clone()).collect(),
        }
    }
}

/// The completion time of any reply, for the well-formedness check.
fn reply_time(op: &Op) -> Option<u64> {
    match op.outcome {
        Outcome::Ok { completed_ms, .. } | Outcome::Err { completed_ms, .. } => Some(completed_ms),
        Outcome::Unknown => None,
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
