//! The handshake: `ConnectRequest` and `ConnectResponse`, the first frame each way. Neither has
//! a header. Clients older than 3.4 omit the trailing readOnly byte; the server then answers in
//! the same old form.

use alloc::vec::Vec;

use super::jute::{DecodeError, Jute, JuteWrite, Reader};

/// The client's first frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    /// 0 for a new session.
    pub session_id: i64,
    pub passwd: Option<Vec<u8>>,
    /// `None` when the client sent the old 44-byte form.
    pub read_only: Option<bool>,
}

/// The server's answer to a ConnectRequest. `timeout_ms == 0 && session_id == 0` tells the
/// client its session expired or its password was wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Option<Vec<u8>>,
    /// Sent only when the client sent its readOnly byte.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn decode(payload: &[u8]) -> Result<ConnectRequest, DecodeError> {
        let mut r = Reader::new(payload);
        let mut request = ConnectRequest {
            protocol_version: r.int()?,
            last_zxid_seen: r.long()?,
            timeout_ms: r.int()?,
            session_id: r.long()?,
            passwd: r.buffer()?,
            read_only: None,
        };
        if !r.is_empty() {
            request.read_only = Some(r.bool()?);
        }
        Ok(request)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_int(self.protocol_version);
        out.put_long(self.last_zxid_seen);
        out.put_int(self.timeout_ms);
        out.put_long(self.session_id);
        out.put_buffer(self.passwd.as_deref());
        if let Some(read_only) = self.read_only {
            out.put_bool(read_only);
        }
    }
}

impl ConnectResponse {
    /// The refusal sent for an expired session or a wrong password.
    pub fn expired(old_form: bool) -> ConnectResponse {
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: 0,
            session_id: 0,
            passwd: Some(alloc::vec![0; 16]),
            read_only: if old_form { None } else { Some(false) },
        }
    }

    pub fn decode(payload: &[u8]) -> Result<ConnectResponse, DecodeError> {
        let mut r = Reader::new(payload);
        let mut response = ConnectResponse {
            protocol_version: r.int()?,
            timeout_ms: r.int()?,
            session_id: r.long()?,
            passwd: Option::<Vec<u8>>::read(&mut r)?,
            read_only: None,
        };
        if !r.is_empty() {
            response.read_only = Some(r.bool()?);
        }
        Ok(response)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_int(self.protocol_version);
        out.put_int(self.timeout_ms);
        out.put_long(self.session_id);
        out.put_buffer(self.passwd.as_deref());
        if let Some(read_only) = self.read_only {
            out.put_bool(read_only);
        }
    }
}
