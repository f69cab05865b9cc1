//! Payload compression (RFC 4253 §6.2): `zlib` and OpenSSH's delayed `zlib@openssh.com`.
//!
//! Each direction has one zlib stream (RFC 1950 framing) that runs from packet to packet; every packet's payload
//! ends with a partial flush (Z_PARTIAL_FLUSH, as RFC 4253 §6.2 and OpenSSH do) so the peer can inflate it at once
//! without waiting for the next packet. RFC 4253 §6.2 says the context "is initialized after each key exchange",
//! and OpenSSH does exactly that at every NEWKEYS (a fresh deflate/inflate stream per direction), so a rekey
//! restarts the stream here too.
//!
//! `zlib@openssh.com` (OpenSSH PROTOCOL §1.2, draft-miller-secsh-compression-delayed) is the same method started
//! only once user authentication has succeeded, so that unauthenticated peers never reach the inflater: the server
//! starts both directions right after it sends USERAUTH_SUCCESS, the client right after it receives it.
//!
//! Inflating is bounded: a payload that would inflate to more than [`MAX_DECOMPRESSED`] bytes is a
//! [`CompressionError::TooLarge`] (a decompression bomb) found while inflating, never after; the output buffer never
//! grows past the bound. The codec is miniz_oxide (through flate2), which is written in safe Rust only: the bytes
//! a peer controls are decoded by code that cannot corrupt memory.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::{CompressionError, Error, Result};
use crate::transport::packet::MAX_PACKET_LEN;

/// Largest payload a compressed packet may inflate to: the engine's packet bound. OpenSSH likewise refuses
/// packets beyond its maximum packet size.
pub const MAX_DECOMPRESSED: usize = MAX_PACKET_LEN;

/// The compression methods we implement, in the order a client that wants compression prefers them.
pub const COMPRESSION_SUPPORTED: &[&str] = &["zlib@openssh.com", "zlib", "none"];

/// zlib level, as OpenSSH uses (its `start_compression_out(ssh, 6)`): the default speed/size trade-off.
const LEVEL: u32 = 6;

/// A negotiated compression method of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionAlg {
    /// No compression.
    #[default]
    None,
    /// `zlib` (RFC 4253 §6.2): from the first packet after NEWKEYS.
    Zlib,
    /// `zlib@openssh.com`: like `zlib`, but only from user authentication on.
    ZlibDelayed,
}

impl CompressionAlg {
    /// The method for a negotiated name; `None` if we do not implement it.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "none" => CompressionAlg::None,
            "zlib" => CompressionAlg::Zlib,
            "zlib@openssh.com" => CompressionAlg::ZlibDelayed,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            CompressionAlg::None => "none",
            CompressionAlg::Zlib => "zlib",
            CompressionAlg::ZlibDelayed => "zlib@openssh.com",
        }
    }

    /// Whether a stream runs right after NEWKEYS, given whether authentication has already succeeded.
    fn active(self, authenticated: bool) -> bool {
        match self {
            CompressionAlg::None => false,
            CompressionAlg::Zlib => true,
            CompressionAlg::ZlibDelayed => authenticated,
        }
    }
}

/// The outgoing stream of one direction.
pub(crate) struct Deflater {
    z: Compress,
}

impl Deflater {
    fn new() -> Self {
        Deflater {
            z: Compress::new(Compression::new(LEVEL), true),
        }
    }

    /// Compresses `payload` into `out` (cleared first), ending with a partial flush so the peer can decode all of
    /// it now. Any failure leaves the stream unusable, like every sealing error.
    fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        // Deflate never grows data by more than a few bytes per 16 KiB stored block plus the flush marker.
        out.reserve(payload.len() + payload.len() / 1024 + 64);
        let mut consumed = 0;
        loop {
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            self.z
                .compress_vec(&payload[consumed..], out, FlushCompress::Partial)
                .map_err(|e| Error::Compression(CompressionError::Corrupt(format!("deflate: {e}"))))?;
            consumed += (self.z.total_in() - in0) as usize;
            // Done when all input is in and deflate stopped with room to spare: the flush is complete.
            if consumed == payload.len() && out.len() < out.capacity() {
                return Ok(());
            }
            if self.z.total_in() == in0 && self.z.total_out() == out0 && out.len() < out.capacity() {
                return Err(Error::Compression(CompressionError::Corrupt(
                    "deflate made no progress".into(),
                )));
            }
            out.reserve(4096);
        }
    }
}

/// The incoming stream of one direction.
pub(crate) struct Inflater {
    z: Decompress,
}

impl Inflater {
    fn new() -> Self {
        Inflater {
            z: Decompress::new(true),
        }
    }

    /// Inflates one packet's compressed payload into `out` (cleared first), at most `max` bytes. The buffer grows
    /// step by step with the output and never beyond `max + 1` bytes, so a bomb costs no more memory than a
    /// legitimate large packet.
    fn decompress(&mut self, input: &[u8], out: &mut Vec<u8>, max: usize) -> Result<()> {
        out.clear();
        let mut consumed = 0;
        loop {
            if out.len() == out.capacity() {
                // One byte of room beyond `max` lets us tell "exactly max" from "more than max".
                let room = (max + 1).saturating_sub(out.len());
                if room == 0 {
                    return Err(Error::Compression(CompressionError::TooLarge { max }));
                }
                out.reserve_exact(room.min(out.len().max(16 * 1024)));
            }
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
                .map_err(|e| Error::Compression(CompressionError::Corrupt(e.to_string())))?;
            if out.len() > max {
                return Err(Error::Compression(CompressionError::TooLarge { max }));
            }
            if status == Status::StreamEnd {
                // SSH streams never end; a final block would leave nothing to inflate the next packet with.
                return Err(Error::Compression(CompressionError::Corrupt(
                    "the zlib stream ended".into(),
                )));
            }
            consumed += (self.z.total_in() - in0) as usize;
            // The inflater may stop short of a full buffer (at its window's wrap, for one) with output still to
            // give, so "room left over" does not mean "done": only a call that moves nothing while it has room
            // does. Each call moves something until then, and both input and output are bounded, so this ends.
            if self.z.total_in() == in0 && self.z.total_out() == out0 && out.len() < out.capacity() {
                if consumed == input.len() {
                    return Ok(());
                }
                // Input left that the inflater cannot use while it has room to write: not a valid stream.
                return Err(Error::Compression(CompressionError::Corrupt(
                    "inflate made no progress".into(),
                )));
            }
        }
    }
}

/// The compression state of the outgoing direction, kept by [`crate::transport::packet::Sealer`].
#[derive(Default)]
pub(crate) struct OutCompression {
    alg: CompressionAlg,
    authenticated: bool,
    stream: Option<Deflater>,
    /// Compressed payload of the packet being sealed; kept to avoid an allocation per packet.
    pub(crate) buf: Vec<u8>,
}

impl OutCompression {
    /// At NEWKEYS: the method negotiated for the new keys, with a fresh stream if it runs now.
    pub(crate) fn set(&mut self, alg: CompressionAlg) {
        self.alg = alg;
        self.stream = alg.active(self.authenticated).then(Deflater::new);
    }

    /// User authentication succeeded: a delayed method starts with the next packet.
    pub(crate) fn authenticated(&mut self) {
        self.authenticated = true;
        if self.stream.is_none() && self.alg == CompressionAlg::ZlibDelayed {
            self.stream = Some(Deflater::new());
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.stream.is_some()
    }

    /// Compresses into `self.buf` if a stream runs; `false` means send the payload as it is.
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Result<bool> {
        match &mut self.stream {
            None => Ok(false),
            Some(d) => d.compress(payload, &mut self.buf).map(|()| true),
        }
    }
}

/// The compression state of the incoming direction, kept by [`crate::transport::packet::Opener`].
#[derive(Default)]
pub(crate) struct InCompression {
    alg: CompressionAlg,
    authenticated: bool,
    stream: Option<Inflater>,
}

impl InCompression {
    /// At NEWKEYS: the method negotiated for the new keys, with a fresh stream if it runs now.
    pub(crate) fn set(&mut self, alg: CompressionAlg) {
        self.alg = alg;
        self.stream = alg.active(self.authenticated).then(Inflater::new);
    }

    /// User authentication succeeded: a delayed method starts with the next packet.
    pub(crate) fn authenticated(&mut self) {
        self.authenticated = true;
        if self.stream.is_none() && self.alg == CompressionAlg::ZlibDelayed {
            self.stream = Some(Inflater::new());
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.stream.is_some()
    }

    /// Inflates `payload` into `out` if a stream runs (at most [`MAX_DECOMPRESSED`] bytes); `false` means the
    /// payload was not compressed.
    pub(crate) fn decompress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        match &mut self.stream {
            None => Ok(false),
            Some(i) => i.decompress(payload, out, MAX_DECOMPRESSED).map(|()| true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (OutCompression, InCompression) {
        let (mut o, mut i) = (OutCompression::default(), InCompression::default());
        o.set(CompressionAlg::Zlib);
        i.set(CompressionAlg::Zlib);
        (o, i)
    }

    #[test]
    fn stream_runs_across_packets_and_each_packet_decodes_alone() {
        let (mut o, mut i) = pair();
        let mut out = Vec::new();
        let text = b"the same line again and again, the same line again and again\n".repeat(50);
        let mut sizes = Vec::new();
        for n in [0usize, 1, 17, 1000, text.len()] {
            assert!(o.compress(&text[..n]).unwrap());
            sizes.push(o.buf.len());
            assert!(i.decompress(&o.buf, &mut out).unwrap());
            assert_eq!(out, &text[..n]);
        }
        // The second full copy refers back to the first through the shared window: tiny.
        assert!(o.compress(&text).unwrap());
        assert!(o.buf.len() < 40, "{}", o.buf.len());
        i.decompress(&o.buf, &mut out).unwrap();
        assert_eq!(out, text);
        // Random data: a few bytes of overhead at most.
        let noise: Vec<u8> = (0..100_000u32)
            .map(|x| (x.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        o.compress(&noise).unwrap();
        assert!(o.buf.len() < noise.len() + 200);
        i.decompress(&o.buf, &mut out).unwrap();
        assert_eq!(out, noise);
    }

    #[test]
    fn delayed_starts_only_after_auth_and_rekey_restarts_the_stream() {
        let mut o = OutCompression::default();
        o.set(CompressionAlg::ZlibDelayed);
        assert!(!o.is_active());
        assert!(!o.compress(b"x").unwrap());
        o.authenticated();
        assert!(o.is_active());
        // A rekey after auth: compression goes on at once, with a fresh stream (a zlib header again).
        o.compress(b"abc").unwrap();
        o.set(CompressionAlg::ZlibDelayed);
        o.compress(b"abc").unwrap();
        assert_eq!(o.buf[0], 0x78, "a new zlib stream starts with its header");
        o.set(CompressionAlg::None);
        assert!(!o.is_active());
    }

    #[test]
    fn exactly_the_bound_passes_one_byte_more_is_a_bomb() {
        let (mut o, mut i) = pair();
        let mut out = Vec::new();
        let big = vec![0u8; MAX_DECOMPRESSED];
        o.compress(&big).unwrap();
        assert!(o.buf.len() < 1024, "{}", o.buf.len());
        i.decompress(&o.buf, &mut out).unwrap();
        assert_eq!(out.len(), MAX_DECOMPRESSED);

        let (mut o, mut i) = pair();
        o.compress(&vec![0u8; MAX_DECOMPRESSED + 1]).unwrap();
        let err = i.decompress(&o.buf, &mut out).unwrap_err();
        assert_eq!(
            err,
            Error::Compression(CompressionError::TooLarge { max: MAX_DECOMPRESSED })
        );
        assert!(out.capacity() <= MAX_DECOMPRESSED + 1 + 64, "{}", out.capacity());
    }

    #[test]
    fn a_bomb_split_over_packets_is_bounded_per_packet() {
        // 64 MiB of zeros in one packet's worth of compressed bytes: refused before 256 KiB are written.
        let mut z = Compress::new(Compression::best(), true);
        let mut bomb = Vec::with_capacity(1 << 20);
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            z.compress_vec(&zeros, &mut bomb, FlushCompress::None).unwrap();
            bomb.reserve(1 << 16);
        }
        z.compress_vec(&[], &mut bomb, FlushCompress::Partial).unwrap();
        assert!(bomb.len() < MAX_PACKET_LEN, "{}", bomb.len());
        let mut i = InCompression::default();
        i.set(CompressionAlg::Zlib);
        let mut out = Vec::new();
        assert!(matches!(
            i.decompress(&bomb, &mut out),
            Err(Error::Compression(CompressionError::TooLarge { .. }))
        ));
        assert!(out.capacity() <= MAX_DECOMPRESSED + 1 + 64);
    }

    #[test]
    fn garbage_and_a_finished_stream_are_errors() {
        let mut i = InCompression::default();
        i.set(CompressionAlg::Zlib);
        let mut out = Vec::new();
        assert!(matches!(
            i.decompress(b"\x78\x9c\xff\xff\xff\xff\xff", &mut out),
            Err(Error::Compression(CompressionError::Corrupt(_)))
        ));
        let mut z = Compress::new(Compression::default(), true);
        let mut done = Vec::with_capacity(64);
        z.compress_vec(b"bye", &mut done, FlushCompress::Finish).unwrap();
        let mut i = InCompression::default();
        i.set(CompressionAlg::Zlib);
        assert!(i.decompress(&done, &mut out).is_err());
        // Every truncation of a valid packet either decodes a prefix or fails: no panic, nothing unbounded.
        let (mut o, _) = pair();
        o.compress(&b"hello hello hello".repeat(100)).unwrap();
        for n in 0..o.buf.len() {
            let mut i = InCompression::default();
            i.set(CompressionAlg::Zlib);
            let _ = i.decompress(&o.buf[..n], &mut out);
        }
    }
}
