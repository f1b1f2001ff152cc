//! Framing: every message is a 4-byte big-endian length and that many bytes; except that the
//! first 4 bytes of a fresh connection may be a four-letter word instead.

use alloc::vec::Vec;
use core::fmt;

/// `jute.maxbuffer`'s default: 0xfffff bytes.
pub const DEFAULT_MAX_FRAME: usize = 0xfffff;

/// A length prefix that ends the connection (ZooKeeper logs "Len error" and closes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Longer than the configured `jute.maxbuffer`.
    TooLong {
        len: i32,
        max: usize,
    },
    Negative(i32),
    /// A zero length: ZooKeeper closes the connection at once.
    Empty,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { len, max } => write!(f, "frame length {len} exceeds jute.maxbuffer {max}"),
            FrameError::Negative(len) => write!(f, "negative frame length {len}"),
            FrameError::Empty => f.write_str("zero-length frame"),
        }
    }
}

/// One complete frame found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub payload: &'a [u8],
    /// Bytes of the buffer the frame used, length prefix included.
    pub consumed: usize,
}

/// Finds the frame at the start of `buf`: `Ok(None)` while it is incomplete. The length is
/// checked before waiting for the payload, so an oversized frame fails at once.
pub fn split_frame(buf: &[u8], max_len: usize) -> Result<Option<Frame<'_>>, FrameError> {
    let Some(prefix) = buf.first_chunk::<4>() else { return Ok(None) };
    let len = i32::from_be_bytes(*prefix);
    if len < 0 {
        return Err(FrameError::Negative(len));
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len as usize > max_len {
        return Err(FrameError::TooLong { len, max: max_len });
    }
    let end = 4 + len as usize;
    Ok(buf.get(4..end).map(|payload| Frame { payload, consumed: end }))
}

/// Appends a frame to `out`: a length prefix, then whatever `body` writes.
pub fn write_frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = super::jute::len_i32(out.len() - at - 4);
    if let Some(prefix) = out.get_mut(at..at + 4) {
        prefix.copy_from_slice(&len.to_be_bytes());
    }
}

/// An incremental frame decoder for a byte stream that arrives in pieces.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max_len: usize,
}

impl FrameDecoder {
    pub fn new(max_len: usize) -> FrameDecoder {
        FrameDecoder { buf: Vec::new(), start: 0, max_len }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame's payload, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let pending = self.buf.get(self.start..).unwrap_or_default();
        match split_frame(pending, self.max_len)? {
            None => Ok(None),
            Some(frame) => {
                let from = self.start + 4;
                self.start += frame.consumed;
                Ok(self.buf.get(from..self.start))
            }
        }
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }
}

macro_rules! four_letter_words {
    ($($variant:ident = $word:literal,)*) => {
        /// ZooKeeper 3.8's four-letter words.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum FourLetterWord {
            $($variant,)*
        }

        impl FourLetterWord {
            pub const ALL: &[FourLetterWord] = &[$(FourLetterWord::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(FourLetterWord::$variant => $word,)*
                }
            }

            /// The word a fresh connection's first 4 bytes spell, if any.
            pub fn parse(first: &[u8; 4]) -> Option<FourLetterWord> {
                match first {
                    $(w if w == $word.as_bytes() => Some(FourLetterWord::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

four_letter_words! {
    Conf = "conf",
    Cons = "cons",
    Crst = "crst",
    Dirs = "dirs",
    Dump = "dump",
    Envi = "envi",
    Gtmk = "gtmk",
    Stmk = "stmk",
    Hash = "hash",
    Isro = "isro",
    Mntr = "mntr",
    Ruok = "ruok",
    Srst = "srst",
    Srvr = "srvr",
    Stat = "stat",
    Wchc = "wchc",
    Wchp = "wchp",
    Wchs = "wchs",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_partial_and_several() {
        let mut stream = Vec::new();
        write_frame(&mut stream, |o| o.extend_from_slice(b"abc"));
        write_frame(&mut stream, |o| o.extend_from_slice(b"de"));
        assert_eq!(&stream[..4], &[0, 0, 0, 3]);
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME);
        for byte in &stream[..5] {
            decoder.push(&[*byte]);
        }
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.push(&stream[5..]);
        assert_eq!(decoder.next_frame(), Ok(Some(&b"abc"[..])));
        assert_eq!(decoder.next_frame(), Ok(Some(&b"de"[..])));
        assert_eq!(decoder.next_frame(), Ok(None));
        assert!(decoder.buffered().is_empty());
    }

    #[test]
    fn bad_lengths_fail_before_the_payload_arrives() {
        assert_eq!(
            split_frame(&[0, 0x10, 0, 0], DEFAULT_MAX_FRAME),
            Err(FrameError::TooLong { len: 0x100000, max: DEFAULT_MAX_FRAME })
        );
        assert_eq!(split_frame(&[0xff, 0, 0, 0], DEFAULT_MAX_FRAME), Err(FrameError::Negative(-16777216)));
        assert_eq!(split_frame(&[0, 0, 0, 0], DEFAULT_MAX_FRAME), Err(FrameError::Empty));
        assert!(split_frame(b"GET ", DEFAULT_MAX_FRAME).is_err(), "HTTP is a Len error");
        assert_eq!(split_frame(&[0, 0xf, 0xff, 0xff], DEFAULT_MAX_FRAME), Ok(None), "the limit itself is allowed");
    }

    #[test]
    fn four_letter_words() {
        assert_eq!(FourLetterWord::parse(b"ruok"), Some(FourLetterWord::Ruok));
        assert_eq!(FourLetterWord::parse(b"srvr"), Some(FourLetterWord::Srvr));
        assert_eq!(FourLetterWord::parse(b"RUOK"), None);
        assert_eq!(FourLetterWord::ALL.len(), 18);
        for word in FourLetterWord::ALL {
            let bytes: [u8; 4] = word.as_str().as_bytes().try_into().unwrap();
            assert_eq!(FourLetterWord::parse(&bytes), Some(*word));
        }
    }
}
