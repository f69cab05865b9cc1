//! A reader over a borrowed message. Every length is checked against what remains before anything is
//! sliced or allocated, so a peer's length field can never make us allocate more than it sent.

use crate::error::DecodeError;

/// Reads RFC 4251 data types from a byte slice.
///
/// ```
/// use amiko_proto::wire::Reader;
/// let mut r = Reader::new(&[0, 0, 0, 2, b'h', b'i', 1]);
/// assert_eq!(r.string().unwrap(), b"hi");
/// assert!(r.bool().unwrap());
/// assert!(r.finish().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails if bytes are left over: trailing garbage in a message is a protocol error.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Invalid("trailing bytes after message"))
        }
    }

    /// `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::TooShort {
                needed: n - self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// A fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// A boolean: any non-zero byte is true (RFC 4251 §5).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }

    /// A big-endian uint32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian uint64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A length-prefixed string (arbitrary bytes).
    pub fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        if len > self.buf.len() {
            return Err(DecodeError::TooLong {
                len,
                max: self.buf.len(),
            });
        }
        self.bytes(len)
    }

    /// A string that must be UTF-8 (user names, descriptions, commands).
    pub fn utf8(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.string()?).map_err(|_| DecodeError::BadText("string"))
    }

    /// A name-list (RFC 4251 §5): comma-separated ASCII names, none empty.
    pub fn name_list(&mut self) -> Result<&'a str, DecodeError> {
        let raw = self.string()?;
        if !raw.iter().all(|b| b.is_ascii_graphic()) {
            return Err(DecodeError::BadText("name-list"));
        }
        let s = std::str::from_utf8(raw).map_err(|_| DecodeError::BadText("name-list"))?;
        if !s.is_empty() && s.split(',').any(str::is_empty) {
            return Err(DecodeError::Invalid("empty name in name-list"));
        }
        Ok(s)
    }

    /// An mpint as unsigned big-endian magnitude with leading zeros stripped; negative values are refused.
    pub fn mpint_unsigned(&mut self) -> Result<&'a [u8], DecodeError> {
        let raw = self.string()?;
        if raw.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(DecodeError::Invalid("negative mpint"));
        }
        let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
        Ok(&raw[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_gives_too_short() {
        assert_eq!(Reader::new(&[0, 0]).u32(), Err(DecodeError::TooShort { needed: 2 }));
    }

    #[test]
    fn string_length_beyond_input_is_refused_without_allocating() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 1, 2]);
        assert_eq!(
            r.string(),
            Err(DecodeError::TooLong {
                len: 0xffff_ffff,
                max: 2
            })
        );
    }

    #[test]
    fn name_list_must_be_ascii_without_empty_names() {
        assert!(Reader::new(b"\0\0\0\x03a,b").name_list().is_ok());
        assert!(Reader::new(b"\0\0\0\x03a,,").name_list().is_err());
        assert!(Reader::new(b"\0\0\0\x02a\xff").name_list().is_err());
    }

    #[test]
    fn mpint_strips_sign_byte_and_refuses_negatives() {
        assert_eq!(Reader::new(&[0, 0, 0, 2, 0, 0x80]).mpint_unsigned().unwrap(), &[0x80]);
        assert!(Reader::new(&[0, 0, 0, 1, 0x80]).mpint_unsigned().is_err());
    }
}
