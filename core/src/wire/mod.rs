//! ZooKeeper 3.8's client wire protocol (jute), byte for byte: framing, the handshake, every
//! request and reply record, notifications and four-letter words.
//!
//! ```text
//!  client                                   server
//!    |-- [len] ConnectRequest ---------------->|   (or 4 bytes "ruok", "srvr", ...)
//!    |<------------- [len] ConnectResponse ----|
//!    |-- [len] RequestHeader{xid,op} + body -->|
//!    |<-- [len] ReplyHeader{xid,zxid,err} + body (body only when err == 0)
//!    |<-- [len] ReplyHeader{-1,..} + WatcherEvent   (notifications, any time)
//! ```
//!
//! Everything here decodes untrusted bytes: no indexing, no unwrap, every length checked
//! against what remains before allocating. Any input gives a value or a [`DecodeError`].
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used))]

mod connect;
mod frame;
pub mod jute;
mod opcode;
pub mod records;
mod request;
mod response;

pub use connect::{ConnectRequest, ConnectResponse};
pub use frame::{DEFAULT_MAX_FRAME, FourLetterWord, Frame, FrameDecoder, FrameError, split_frame, write_frame};
pub use jute::{DecodeError, Jute, Reader};
pub use opcode::{AUTH_XID, NOTIFICATION_XID, OpCode, PING_XID, SET_WATCHES_XID};
pub use request::{MultiOp, Request};
pub use response::{MultiResult, Response, encode_notification, encode_reply};

#[cfg(test)]
mod tests;
