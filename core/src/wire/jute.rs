//! Jute's binary encoding (ZooKeeper's `BinaryInputArchive` / `BinaryOutputArchive`):
//! big-endian ints and longs, one-byte booleans, int-length-prefixed strings and buffers with
//! -1 for null, int-count-prefixed vectors.
//!
//! [`Reader`] never trusts a length: every length is checked against the bytes that remain
//! before anything is allocated, so no input can make it allocate more than its own size.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why bytes did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The record needs more bytes than the frame holds.
    Truncated { needed: usize, remaining: usize },
    /// A string, buffer or vector length below -1.
    BadLength(i32),
    /// A request with an opcode ZooKeeper 3.8 does not accept from clients.
    UnknownOpcode { xid: i32, opcode: i32 },
    /// A multi sub-op of a type a multi cannot hold.
    BadMultiOp(i32),
    /// A value out of its domain (a watcher type, a four-letter word, ...).
    Invalid(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { needed, remaining } => {
                write!(f, "truncated record: needs {needed} more bytes, {remaining} remain")
            }
            DecodeError::BadLength(len) => write!(f, "negative length {len}"),
            DecodeError::UnknownOpcode { xid, opcode } => write!(f, "unknown opcode {opcode} (xid {xid})"),
            DecodeError::BadMultiOp(op) => write!(f, "op type {op} is not allowed in a multi"),
            DecodeError::Invalid(what) => write!(f, "invalid {what}"),
        }
    }
}

/// A bounded cursor over untrusted bytes.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated { needed: n, remaining: self.rest.len() });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn int(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub fn long(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// Java's `readBoolean`: any non-zero byte is true.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.array::<1>()?[0] != 0)
    }

    /// A length-prefixed byte run; `None` for the null length -1.
    pub fn buffer_ref(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.int()? {
            -1 => Ok(None),
            len if len < 0 => Err(DecodeError::BadLength(len)),
            len => self.take(len as usize).map(Some),
        }
    }

    pub fn buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        Ok(self.buffer_ref()?.map(<[u8]>::to_vec))
    }

    /// A nullable string. Invalid UTF-8 becomes U+FFFD, as Java's decoder does; ZooKeeper's
    /// path rules then refuse it.
    pub fn opt_ustring(&mut self) -> Result<Option<String>, DecodeError> {
        Ok(self.buffer_ref()?.map(|bytes| String::from_utf8_lossy(bytes).into_owned()))
    }

    /// A string; null reads as empty.
    pub fn ustring(&mut self) -> Result<String, DecodeError> {
        Ok(self.opt_ustring()?.unwrap_or_default())
    }

    /// A vector; null reads as empty. The count is bounded by the bytes that remain, since every
    /// element takes at least one byte.
    pub fn vector<T>(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = match self.int()? {
            -1 => return Ok(Vec::new()),
            n if n < 0 => return Err(DecodeError::BadLength(n)),
            n => n as usize,
        };
        if count > self.rest.len() {
            return Err(DecodeError::Truncated { needed: count, remaining: self.rest.len() });
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(element(self)?);
        }
        Ok(out)
    }
}

/// Appending jute values to a byte vector.
pub trait JuteWrite {
    fn put_int(&mut self, v: i32);
    fn put_long(&mut self, v: i64);
    fn put_bool(&mut self, v: bool);
    fn put_buffer(&mut self, v: Option<&[u8]>);
    fn put_ustring(&mut self, v: &str);
    fn put_opt_ustring(&mut self, v: Option<&str>);
}

impl JuteWrite for Vec<u8> {
    fn put_int(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }

    fn put_long(&mut self, v: i64) {
        self.extend_from_slice(&v.to_be_bytes());
    }

    fn put_bool(&mut self, v: bool) {
        self.push(u8::from(v));
    }

    fn put_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.put_int(-1),
            Some(bytes) => {
                self.put_int(len_i32(bytes.len()));
                self.extend_from_slice(bytes);
            }
        }
    }

    fn put_ustring(&mut self, v: &str) {
        self.put_buffer(Some(v.as_bytes()));
    }

    fn put_opt_ustring(&mut self, v: Option<&str>) {
        self.put_buffer(v.map(str::as_bytes));
    }
}

/// A length as jute writes it. Lengths above `i32::MAX` cannot be framed at all (frames are
/// capped far below that), so reaching that limit is a bug in the caller.
#[allow(clippy::expect_used)] // encoding our own values, never untrusted input
pub(crate) fn len_i32(len: usize) -> i32 {
    i32::try_from(len).expect("jute lengths fit in an i32")
}

/// A jute record: its fields written and read in declaration order, nothing else.
pub trait Jute: Sized {
    fn write(&self, out: &mut Vec<u8>);
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

impl Jute for i32 {
    fn write(&self, out: &mut Vec<u8>) {
        out.put_int(*self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.int()
    }
}

impl Jute for i64 {
    fn write(&self, out: &mut Vec<u8>) {
        out.put_long(*self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.long()
    }
}

impl Jute for bool {
    fn write(&self, out: &mut Vec<u8>) {
        out.put_bool(*self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.bool()
    }
}

impl Jute for String {
    fn write(&self, out: &mut Vec<u8>) {
        out.put_ustring(self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.ustring()
    }
}

impl Jute for Option<String> {
    fn write(&self, out: &mut Vec<u8>) {
        out.put_opt_ustring(self.as_deref());
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.opt_ustring()
    }
}

/// A jute `buffer`: `None` is the null buffer.
impl Jute for Option<Vec<u8>> {
    fn write(&self, out: &mut Vec<u8>) {
        out.put_buffer(self.as_deref());
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.buffer()
    }
}

impl<T: Jute> Jute for Vec<T> {
    fn write(&self, out: &mut Vec<u8>) {
        out.put_int(len_i32(self.len()));
        for item in self {
            item.write(out);
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.vector(T::read)
    }
}

/// Declares a jute record struct with its `Jute` impl (fields in wire order).
macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $crate::wire::jute::Jute for $name {
            #[allow(unused_variables)]
            fn write(&self, out: &mut alloc::vec::Vec<u8>) {
                $($crate::wire::jute::Jute::write(&self.$field, out);)*
            }

            #[allow(unused_variables)]
            fn read(r: &mut $crate::wire::jute::Reader<'_>) -> Result<Self, $crate::wire::jute::DecodeError> {
                Ok($name { $($field: <$ty as $crate::wire::jute::Jute>::read(r)?,)* })
            }
        }
    };
}
pub(crate) use record;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_big_endian_with_null_lengths() {
        let mut out = Vec::new();
        out.put_int(-2);
        out.put_long(0x0102_0304_0506_0708);
        out.put_bool(true);
        out.put_buffer(None);
        out.put_ustring("ab");
        assert_eq!(
            out,
            [0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'a', b'b']
        );
        let mut r = Reader::new(&out);
        assert_eq!(r.int(), Ok(-2));
        assert_eq!(r.long(), Ok(0x0102_0304_0506_0708));
        assert_eq!(r.bool(), Ok(true));
        assert_eq!(r.buffer(), Ok(None));
        assert_eq!(r.ustring().as_deref(), Ok("ab"));
        assert!(r.is_empty());
    }

    #[test]
    fn lengths_are_checked_before_allocating() {
        let huge = [0x7f, 0xff, 0xff, 0xff, 1, 2];
        assert!(matches!(Reader::new(&huge).buffer(), Err(DecodeError::Truncated { .. })));
        assert!(matches!(Reader::new(&huge).vector(|r| r.int()), Err(DecodeError::Truncated { .. })));
        assert_eq!(Reader::new(&[0xff, 0xff, 0xff, 0xfe]).buffer(), Err(DecodeError::BadLength(-2)));
        assert!(matches!(Reader::new(&[0, 0]).int(), Err(DecodeError::Truncated { needed: 4, remaining: 2 })));
        assert_eq!(Reader::new(&[0, 0, 0, 1, 0xff]).ustring().as_deref(), Ok("\u{fffd}"));
    }
}
