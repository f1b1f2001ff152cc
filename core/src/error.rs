//! ZooKeeper's error codes (`KeeperException.Code`), numbered exactly as on the wire.

use core::fmt;
use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($name:ident = $value:expr,)*) => {
        /// One variant per code ZooKeeper 3.8 defines; the discriminant is the wire value.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[repr(i32)]
        pub enum ErrorCode {
            $($name = $value,)*
        }

        impl ErrorCode {
            /// The code for a wire value, or `None` for a number ZooKeeper never uses.
            pub const fn from_i32(value: i32) -> Option<ErrorCode> {
                match value {
                    $($value => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }

            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)*
                }
            }
        }
    };
}

error_codes! {
    Ok = 0,
    SystemError = -1,
    RuntimeInconsistency = -2,
    DataInconsistency = -3,
    ConnectionLoss = -4,
    MarshallingError = -5,
    Unimplemented = -6,
    OperationTimeout = -7,
    BadArguments = -8,
    UnknownSession = -12,
    NewConfigNoQuorum = -13,
    ReconfigInProgress = -14,
    ApiError = -100,
    NoNode = -101,
    NoAuth = -102,
    BadVersion = -103,
    NoChildrenForEphemerals = -108,
    NodeExists = -110,
    NotEmpty = -111,
    SessionExpired = -112,
    InvalidCallback = -113,
    InvalidAcl = -114,
    AuthFailed = -115,
    SessionMoved = -118,
    NotReadOnly = -119,
    EphemeralOnLocalSession = -120,
    NoWatcher = -121,
    RequestTimeout = -122,
    ReconfigDisabled = -123,
    SessionClosedRequireSaslAuth = -124,
    QuotaExceeded = -125,
    ThrottledOp = -127,
}

impl ErrorCode {
    pub const fn code(self) -> i32 {
        self as i32
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.code())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_gaps_are_unknown() {
        for v in -200..=10 {
            if let Some(code) = ErrorCode::from_i32(v) {
                assert_eq!(code.code(), v);
            }
        }
        for gap in [-9, -10, -11, -104, -109, -116, -117, -126] {
            assert_eq!(ErrorCode::from_i32(gap), None);
        }
        assert_eq!(ErrorCode::from_i32(-101), Some(ErrorCode::NoNode));
    }
}
