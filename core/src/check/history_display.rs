//! How histories, committed writes and failures print: one line per op or write, so a failing
//! seed shows a short history.

use core::fmt;

use super::{Call, CommittedWrite, Effect, Failure, Op, Outcome, Reply};

/// Data as text when it is short UTF-8, else its length.
struct Bytes<'a>(&'a [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(self.0) {
            Ok(text) if text.len() <= 32 => write!(f, "{text:?}"),
            _ => write!(f, "<{} bytes>", self.0.len()),
        }
    }
}

/// Items separated by "; " inside brackets.
fn list<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    item: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    f.write_str("[")?;
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        item(f, x)?;
    }
    f.write_str("]")
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Create { path, data, ephemeral, sequential } => {
                write!(f, "create {path} {}", Bytes(data))?;
                if *ephemeral {
                    f.write_str(" ephemeral")?;
                }
                if *sequential {
                    f.write_str(" sequential")?;
                }
                Ok(())
            }
            Call::Delete { path, version } => write!(f, "delete {path} v{version}"),
            Call::SetData { path, data, version } => write!(f, "setData {path} {} v{version}", Bytes(data)),
            Call::Check { path, version } => write!(f, "check {path} v{version}"),
            Call::Multi(calls) => {
                f.write_str("multi ")?;
                list(f, calls, |f, c| write!(f, "{c}"))
            }
            Call::CloseSession => f.write_str("closeSession"),
            Call::GetData { path } => write!(f, "getData {path}"),
            Call::Exists { path } => write!(f, "exists {path}"),
            Call::GetChildren { path } => write!(f, "getChildren {path}"),
            Call::Sync { path } => write!(f, "sync {path}"),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Created(path) => write!(f, "created {path}"),
            Reply::Version(version) => write!(f, "version {version}"),
            Reply::Data { data, version } => write!(f, "data {} version {version}", Bytes(data)),
            Reply::Children(names) => {
                f.write_str("children ")?;
                list(f, names, |f, n| f.write_str(n))
            }
            Reply::Exists(Some(version)) => write!(f, "exists version {version}"),
            Reply::Exists(None) => f.write_str("absent"),
            Reply::Done => f.write_str("done"),
            Reply::Multi(results) => {
                f.write_str("multi ")?;
                list(f, results, |f, r| match r {
                    Ok(reply) => write!(f, "{reply}"),
                    Err(code) => write!(f, "{code}"),
                })
            }
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok { completed_ms, zxid, reply } => write!(f, "ok at {completed_ms} ms, zxid {zxid:#x}: {reply}"),
            Outcome::Err { completed_ms, zxid, code } => write!(f, "{code} at {completed_ms} ms, zxid {zxid:#x}"),
            Outcome::Unknown => f.write_str("unknown"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client {} session {:#x} cxid {}: {} at {} ms -> {}",
            self.client, self.session, self.cxid, self.call, self.invoked_ms, self.outcome
        )
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Create { path, data, ephemeral_owner, parent_cversion } => {
                write!(f, "create {path} {}", Bytes(data))?;
                if let Some(session) = ephemeral_owner {
                    write!(f, " ephemeral of {session:#x}")?;
                }
                write!(f, " (parent cversion {parent_cversion})")
            }
            Effect::Delete { path } => write!(f, "delete {path}"),
            Effect::SetData { path, data, version } => write!(f, "setData {path} {} version {version}", Bytes(data)),
            Effect::Check { path } => write!(f, "check {path}"),
            Effect::CreateSession => f.write_str("createSession"),
            Effect::CloseSession { session, .. } => write!(f, "closeSession {session:#x}"),
            Effect::Multi(effects) => {
                f.write_str("multi ")?;
                list(f, effects, |f, e| write!(f, "{e}"))
            }
            Effect::MultiError(codes) => {
                f.write_str("failed multi ")?;
                list(f, codes, |f, c| write!(f, "{c}"))
            }
            Effect::Error(code) => write!(f, "error {code}"),
            Effect::Other => f.write_str("other"),
        }
    }
}

impl fmt::Display for CommittedWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zxid {:#x} session {:#x} cxid {}: {}", self.zxid, self.session, self.cxid, self.effect)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.guarantee.name(), self.detail)?;
        for (index, op) in &self.ops {
            write!(f, "\n  op #{index} {op}")?;
        }
        for write in &self.writes {
            write!(f, "\n  committed {write}")?;
        }
        Ok(())
    }
}
