//! Fewer, larger outputs for a host that steps a burst of inputs before it carries anything
//! out: consecutive proposals to one server become one PROPOSAL message, and consecutive
//! frames to one client one write. Per destination the order is kept (nothing is merged across
//! another message to the same destination), which is all that Zab and the client protocol ask
//! of a link; between destinations order never mattered.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::{ConnId, PeerMessage, ServerOutput};
use crate::ids::ServerId;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Destination {
    Server(ServerId),
    Client(ConnId),
}

/// Merges `out` in place (see the module comment). Cheap: one pass, one small map.
pub fn coalesce(out: &mut Vec<ServerOutput>) {
    if out.len() < 2 {
        return;
    }
    // Where in the merged list the last mergeable output of each destination sits, while
    // nothing else for that destination came after it.
    let mut open: BTreeMap<Destination, usize> = BTreeMap::new();
    let mut merged: Vec<ServerOutput> = Vec::with_capacity(out.len());
    for output in out.drain(..) {
        match output {
            ServerOutput::Peer { to, msg: PeerMessage::Zab(msg) } => {
                let key = Destination::Server(to);
                let msg = match open.get(&key).map(|&i| &mut merged[i]) {
                    Some(ServerOutput::Peer { msg: PeerMessage::Zab(into), .. }) => match into.merge(msg) {
                        Ok(()) => continue,
                        Err(msg) => msg,
                    },
                    _ => msg,
                };
                if matches!(msg, crate::zab::Message::Proposal { .. }) {
                    open.insert(key, merged.len());
                } else {
                    open.remove(&key);
                }
                merged.push(ServerOutput::Peer { to, msg: PeerMessage::Zab(msg) });
            }
            ServerOutput::Peer { to, msg } => {
                open.remove(&Destination::Server(to));
                merged.push(ServerOutput::Peer { to, msg });
            }
            ServerOutput::Send { conn, bytes } => {
                let key = Destination::Client(conn);
                if let Some(ServerOutput::Send { bytes: into, .. }) = open.get(&key).map(|&i| &mut merged[i]) {
                    into.extend_from_slice(&bytes);
                    continue;
                }
                open.insert(key, merged.len());
                merged.push(ServerOutput::Send { conn, bytes });
            }
            ServerOutput::Close { conn } => {
                open.remove(&Destination::Client(conn));
                merged.push(ServerOutput::Close { conn });
            }
            other => merged.push(other),
        }
    }
    *out = merged;
}

#[cfg(test)]
mod tests {
    use alloc::sync::Arc;
    use alloc::vec;

    use super::*;
    use crate::error::ErrorCode;
    use crate::ids::{SessionId, Zxid};
    use crate::txn::Txn;
    use crate::zab::{Entry, LogOp, Message};

    fn entry(counter: u32) -> Arc<Entry> {
        let txn = Txn::Error(ErrorCode::Ok);
        Arc::new(Entry { zxid: Zxid::new(1, counter), time_ms: 0, session: SessionId(1), cxid: 0, txn })
    }

    fn proposal(to: u64, epoch: u32, counters: &[u32]) -> ServerOutput {
        let entries = counters.iter().map(|&c| entry(c)).collect();
        ServerOutput::Peer { to: ServerId(to), msg: PeerMessage::Zab(Message::Proposal { epoch, entries }) }
    }

    fn send(conn: ConnId, bytes: &[u8]) -> ServerOutput {
        ServerOutput::Send { conn, bytes: bytes.to_vec() }
    }

    fn shape(out: &[ServerOutput]) -> Vec<alloc::string::String> {
        out.iter()
            .map(|o| match o {
                ServerOutput::Peer { to, msg: PeerMessage::Zab(Message::Proposal { epoch, entries }) } => {
                    let zxids: Vec<u32> = entries.iter().map(|e| e.zxid.counter()).collect();
                    alloc::format!("P{}e{epoch}{zxids:?}", to.0)
                }
                ServerOutput::Peer { to, msg: PeerMessage::Zab(msg) } => alloc::format!("M{}:{}", to.0, msg.kind()),
                ServerOutput::Peer { to, .. } => alloc::format!("M{}", to.0),
                ServerOutput::Send { conn, bytes } => alloc::format!("S{conn}{bytes:?}"),
                ServerOutput::Close { conn } => alloc::format!("C{conn}"),
                ServerOutput::Persist { seq, .. } => alloc::format!("W{seq}"),
                ServerOutput::Event(_) => "E".into(),
                ServerOutput::Login(_) => "L".into(),
            })
            .collect()
    }

    #[test]
    fn merges_runs_per_destination_and_keeps_their_order() {
        let commit = |to| ServerOutput::Peer {
            to: ServerId(to),
            msg: PeerMessage::Zab(Message::Commit { epoch: 1, zxid: Zxid::new(1, 1) }),
        };
        let mut out = vec![
            ServerOutput::Persist { seq: 1, op: LogOp::Append(entry(1)) },
            proposal(2, 1, &[1]),
            proposal(3, 1, &[1]),
            send(7, &[1]),
            ServerOutput::Persist { seq: 2, op: LogOp::Append(entry(2)) },
            proposal(2, 1, &[2]),
            send(8, &[9]),
            send(7, &[2, 3]),
            commit(3),
            proposal(3, 1, &[2]),
            proposal(2, 1, &[3, 4]),
            ServerOutput::Close { conn: 7 },
            send(7, &[4]),
            proposal(2, 2, &[5]),
            proposal(3, 1, &[3]),
        ];
        coalesce(&mut out);
        assert_eq!(
            shape(&out),
            vec![
                "W1",
                "P2e1[1, 2, 3, 4]",
                "P3e1[1]",
                "S7[1, 2, 3]",
                "W2",
                "S8[9]",
                "M3:COMMIT",
                "P3e1[2, 3]",
                "C7",
                "S7[4]",
                "P2e2[5]",
            ]
        );
    }
}
