//! Postcard straight onto the end of a `Vec<u8>`: peer frames, log records and snapshots are
//! built this way. Postcard writes a varint or a short field as a small slice; copying those
//! byte by byte beats a `memcpy` call each (the library's own Vec flavors make one per piece).

use alloc::vec::Vec;

use postcard::ser_flavors::Flavor;
use serde::Serialize;

struct Append<'a>(&'a mut Vec<u8>);

impl Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        if bytes.len() <= 16 {
            self.0.reserve(bytes.len());
            for &byte in bytes {
                self.0.push(byte);
            }
        } else {
            self.0.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Appends the postcard encoding of `value` to `out`; on an error `out` is left as it was.
pub fn append_postcard<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
    let start = out.len();
    let result = postcard::serialize_with_flavor(value, Append(&mut *out));
    if result.is_err() {
        out.truncate(start);
    }
    result
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use alloc::vec;

    use super::*;

    #[test]
    fn appends_exactly_what_postcard_writes() {
        let value = (7u64, -3i64, String::from("a path"), vec![1u8; 40], Some(u32::MAX));
        let mut out = vec![9, 9];
        append_postcard(&value, &mut out).unwrap();
        assert_eq!(out[..2], [9, 9]);
        assert_eq!(out[2..], postcard::to_allocvec(&value).unwrap()[..]);
    }
}
