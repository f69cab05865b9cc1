//! Appends RFC 4251 data types to a reused `Vec<u8>`.

/// Writes SSH data types to the end of a buffer.
///
/// ```
/// use amiko_proto::wire::Writer;
/// let mut buf = Vec::new();
/// Writer::new(&mut buf).u8(5).string(b"hi");
/// assert_eq!(buf, [5, 0, 0, 0, 2, b'h', b'i']);
/// ```
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A writer appending to `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer { buf }
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// A boolean byte.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(v as u8)
    }

    /// A big-endian uint32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A big-endian uint64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Raw bytes, no length.
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// A length-prefixed string.
    pub fn string(&mut self, v: impl AsRef<[u8]>) -> &mut Self {
        let v = v.as_ref();
        self.u32(v.len() as u32).raw(v)
    }

    /// A name-list from names.
    pub fn name_list<S: AsRef<str>>(&mut self, names: &[S]) -> &mut Self {
        let start = self.begin_string();
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(n.as_ref().as_bytes());
        }
        self.end_string(start)
    }

    /// An mpint from an unsigned big-endian magnitude (leading zeros dropped, a zero byte added if the top bit is
    /// set).
    pub fn mpint_unsigned(&mut self, v: &[u8]) -> &mut Self {
        let start = v.iter().position(|&b| b != 0).unwrap_or(v.len());
        let v = &v[start..];
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        self.u32((v.len() + pad as usize) as u32);
        if pad {
            self.buf.push(0);
        }
        self.raw(v)
    }

    /// Starts a string whose length is patched by [`Writer::end_string`]; lets nested structures be written in
    /// place without a temporary buffer.
    pub fn begin_string(&mut self) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        at
    }

    /// Patches the length of a string begun at `start`.
    pub fn end_string(&mut self, start: usize) -> &mut Self {
        let len = (self.buf.len() - start - 4) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpint_matches_rfc4251_examples() {
        let mut b = Vec::new();
        Writer::new(&mut b).mpint_unsigned(&[]);
        assert_eq!(b, [0, 0, 0, 0]);
        b.clear();
        Writer::new(&mut b).mpint_unsigned(&[0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7]);
        assert_eq!(b, [0, 0, 0, 8, 0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7]);
        b.clear();
        Writer::new(&mut b).mpint_unsigned(&[0x80]);
        assert_eq!(b, [0, 0, 0, 2, 0, 0x80]);
    }

    #[test]
    fn name_list_and_nested_strings() {
        let mut b = Vec::new();
        let mut w = Writer::new(&mut b);
        let s = w.begin_string();
        w.name_list(&["a", "bc"]);
        w.end_string(s);
        assert_eq!(b, [0, 0, 0, 8, 0, 0, 0, 4, b'a', b',', b'b', b'c']);
    }
}
