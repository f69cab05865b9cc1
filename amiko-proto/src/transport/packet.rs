//! The SSH binary packet protocol (RFC 4253 §6) with encryption and MACs.
//!
//! A packet is `uint32 packet_length || byte padding_length || payload || random padding || mac`. [`Sealer`] turns
//! payloads into packets for one direction, [`Opener`] takes them apart for the other. Both work in place: the
//! sealer copies the payload once into the caller's output buffer and encrypts it there, the opener decrypts within
//! the caller's input buffer, so no packet allocates.
//!
//! Supported constructions:
//! - `chacha20-poly1305@openssh.com` (OpenSSH PROTOCOL.chacha20poly1305): the length is encrypted with its own
//!   key, the sequence number is the nonce, a Poly1305 tag covers everything.
//! - `aes{128,256}-gcm@openssh.com` (RFC 5647 as amended by OpenSSH PROTOCOL §1.6): the length is sent in the
//!   clear as associated data, the 64-bit invocation counter of the IV goes up by one per packet.
//! - `aes{128,192,256}-ctr` (RFC 4344) with HMAC: the counter runs on over the whole direction; the classic MAC
//!   (RFC 4253 §6.4) covers `seq || plaintext packet`, the `-etm@openssh.com` MACs (OpenSSH PROTOCOL §1.5) leave
//!   the length in the clear and cover `seq || length || ciphertext`.
//! - `aes{128,192,256}-cbc` (RFC 4253 §6.3, opt-in) with the same MACs: the chaining runs on over the whole
//!   direction, the last ciphertext block of a packet being the IV of the next.
//!
//! After any error the direction's state is undefined: the connection must be closed.

use std::ops::Range;

use aws_lc_rs::aead::{self, chacha20_poly1305_openssh as chacha, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::{constant_time, hmac, rand};
use zeroize::Zeroize;

use super::cipher::{key_sizes, DirectionKeys};
use super::compress::{CompressionAlg, InCompression, OutCompression};
use crate::error::{DecodeError, Error, Result};

/// Largest `packet_length` accepted or produced. RFC 4253 §6.1 requires 35000; OpenSSH allows 256 KiB.
pub const MAX_PACKET_LEN: usize = 256 * 1024;

/// Size of the `packet_length` field.
const LEN_FIELD: usize = 4;
/// Smallest padding allowed (RFC 4253 §6).
const MIN_PADDING: usize = 4;
/// Block size used for alignment when the cipher has none larger (RFC 4253 §6: "or 8, whichever is larger").
const MIN_BLOCK: usize = 8;
/// AES block size, also the CTR counter block.
const AES_BLOCK: usize = 16;
/// AEAD tag length of both chacha20-poly1305 and AES-GCM.
const AEAD_TAG: usize = 16;

/// HMAC of one direction.
struct Mac {
    key: hmac::Key,
    len: usize,
    /// Encrypt-then-MAC: length in the clear, MAC over the ciphertext.
    etm: bool,
}

impl Mac {
    fn new(name: &str, key: &[u8]) -> Result<Self> {
        let (alg, etm) = match name {
            "hmac-sha2-256" => (hmac::HMAC_SHA256, false),
            "hmac-sha2-256-etm@openssh.com" => (hmac::HMAC_SHA256, true),
            "hmac-sha2-512" => (hmac::HMAC_SHA512, false),
            "hmac-sha2-512-etm@openssh.com" => (hmac::HMAC_SHA512, true),
            "hmac-sha1" => (hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, false),
            "hmac-sha1-etm@openssh.com" => (hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, true),
            _ => return Err(Error::Kex(format!("unsupported MAC {name}"))),
        };
        Ok(Mac {
            key: hmac::Key::new(alg, key),
            len: alg.tag_len(),
            etm,
        })
    }

    /// `mac = MAC(key, sequence_number || data)` (RFC 4253 §6.4). A streaming context avoids copying the packet
    /// behind the sequence number.
    fn sign(&self, seq: u32, data: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&seq.to_be_bytes());
        ctx.update(data);
        ctx.sign()
    }

    fn verify(&self, seq: u32, data: &[u8], tag: &[u8]) -> Result<()> {
        constant_time::verify_slices_are_equal(self.sign(seq, data).as_ref(), tag).map_err(|_| Error::Mac)
    }
}

/// AES-CTR with the counter kept across packets (RFC 4344 §4: the counter is incremented once per block, over
/// the whole direction, modulo 2^128). Packets are always whole blocks, so each call starts at a block boundary.
struct Ctr {
    // CTR decryption is the same keystream XOR as encryption, so one key type serves both directions.
    key: EncryptingKey,
    counter: u128,
}

/// The AES key and the 16-byte IV of a CTR or CBC direction.
fn aes_key(key: &[u8], iv: &[u8]) -> Result<(UnboundCipherKey, [u8; AES_BLOCK])> {
    let alg = match key.len() {
        16 => &aws_lc_rs::cipher::AES_128,
        24 => &aws_lc_rs::cipher::AES_192,
        32 => &aws_lc_rs::cipher::AES_256,
        n => return Err(Error::Kex(format!("bad AES key length {n}"))),
    };
    let iv: [u8; AES_BLOCK] = iv.try_into().map_err(|_| Error::Kex("bad AES IV length".into()))?;
    let unbound = UnboundCipherKey::new(alg, key).map_err(|_| Error::Kex("bad AES key".into()))?;
    Ok((unbound, iv))
}

impl Ctr {
    fn new(key: &[u8], iv: &[u8]) -> Result<Self> {
        let (unbound, iv) = aes_key(key, iv)?;
        let key = EncryptingKey::ctr(unbound).map_err(|_| Error::Kex("AES-CTR unavailable".into()))?;
        Ok(Ctr {
            key,
            counter: u128::from_be_bytes(iv),
        })
    }

    /// Applies the keystream to `data` (a whole number of blocks) in place and advances the counter past it.
    fn apply(&mut self, data: &mut [u8]) -> Result<()> {
        debug_assert_eq!(data.len() % AES_BLOCK, 0);
        if data.is_empty() {
            return Ok(());
        }
        let ctx = EncryptionContext::Iv128(FixedLength::from(self.counter.to_be_bytes()));
        self.key
            .less_safe_encrypt(data, ctx)
            .map_err(|_| Error::protocol("AES-CTR failed"))?;
        self.counter = self.counter.wrapping_add((data.len() / AES_BLOCK) as u128);
        Ok(())
    }
}

// The key schedules of aws-lc-rs wipe themselves; the IV state derived with them is ours to wipe.
impl Drop for Ctr {
    fn drop(&mut self) {
        self.counter.zeroize();
    }
}

/// AES-GCM with the RFC 5647 §7.1 nonce: a 4-byte fixed field and a 64-bit invocation counter.
struct Gcm {
    key: LessSafeKey,
    iv: [u8; aead::NONCE_LEN],
}

impl Gcm {
    fn new(key: &[u8], iv: &[u8]) -> Result<Self> {
        let alg = match key.len() {
            16 => &aead::AES_128_GCM,
            32 => &aead::AES_256_GCM,
            n => return Err(Error::Kex(format!("bad AES-GCM key length {n}"))),
        };
        let iv = iv.try_into().map_err(|_| Error::Kex("bad AES-GCM IV length".into()))?;
        let key = UnboundKey::new(alg, key).map_err(|_| Error::Kex("bad AES-GCM key".into()))?;
        Ok(Gcm {
            key: LessSafeKey::new(key),
            iv,
        })
    }

    fn nonce(&self) -> Nonce {
        // Unique because `advance` runs after every packet and a rekey comes long before 2^64 packets.
        Nonce::assume_unique_for_key(self.iv)
    }

    /// Increments the invocation counter (the last 8 bytes, modulo 2^64); the fixed field stays.
    fn advance(&mut self) {
        let (_, counter) = self.iv.split_at_mut(4);
        let mut c = [0u8; 8];
        c.copy_from_slice(counter);
        counter.copy_from_slice(&u64::from_be_bytes(c).wrapping_add(1).to_be_bytes());
    }
}

impl Drop for Gcm {
    fn drop(&mut self) {
        self.iv.zeroize();
    }
}

/// AES-CBC without padding (the packet layer pads to the block size), chained across packets: each call starts
/// from the last ciphertext block of the one before (RFC 4253 §6.3). aws-lc-rs does the block cipher and the
/// chaining; this only carries the chaining block from call to call.
enum Cbc {
    Encrypt(EncryptingKey, [u8; AES_BLOCK]),
    Decrypt(DecryptingKey, [u8; AES_BLOCK]),
}

impl Cbc {
    fn new(key: &[u8], iv: &[u8], encrypt: bool) -> Result<Self> {
        let (unbound, iv) = aes_key(key, iv)?;
        let err = |_| Error::Kex("AES-CBC unavailable".into());
        Ok(if encrypt {
            Cbc::Encrypt(EncryptingKey::cbc(unbound).map_err(err)?, iv)
        } else {
            Cbc::Decrypt(DecryptingKey::cbc(unbound).map_err(err)?, iv)
        })
    }

    /// Encrypts or decrypts (as built) `data`, a whole number of blocks, in place.
    fn apply(&mut self, data: &mut [u8]) -> Result<()> {
        debug_assert_eq!(data.len() % AES_BLOCK, 0);
        let Some(last) = data.len().checked_sub(AES_BLOCK) else {
            return Ok(());
        };
        let fail = |_| Error::protocol("AES-CBC failed");
        match self {
            Cbc::Encrypt(key, iv) => {
                let ctx = EncryptionContext::Iv128(FixedLength::from(*iv));
                key.less_safe_encrypt(data, ctx).map_err(fail)?;
                iv.copy_from_slice(&data[last..]);
            }
            Cbc::Decrypt(key, iv) => {
                let mut next = [0u8; AES_BLOCK];
                next.copy_from_slice(&data[last..]);
                let ctx = DecryptionContext::Iv128(FixedLength::from(*iv));
                key.decrypt(data, ctx).map_err(fail)?;
                *iv = next;
            }
        }
        Ok(())
    }
}

impl Drop for Cbc {
    fn drop(&mut self) {
        match self {
            Cbc::Encrypt(_, iv) | Cbc::Decrypt(_, iv) => iv.zeroize(),
        }
    }
}

/// The AES mode of a cipher-plus-HMAC direction.
enum AesMode {
    Ctr(Ctr),
    Cbc(Cbc),
}

impl AesMode {
    fn apply(&mut self, data: &mut [u8]) -> Result<()> {
        match self {
            AesMode::Ctr(c) => c.apply(data),
            AesMode::Cbc(c) => c.apply(data),
        }
    }
}

/// AES-CTR or AES-CBC with its HMAC. Boxed in the state enums: the AES and HMAC key schedules take over 1.5 KB.
struct CtrHmac {
    ctr: AesMode,
    mac: Mac,
}

/// Working key state built from [`DirectionKeys`], before it is specialised into a sealing or opening direction.
/// The chacha20-poly1305 key is borrowed from `keys`, so no copy of it is left to wipe.
enum Built<'a> {
    Chacha(&'a [u8; chacha::KEY_LEN]),
    Gcm(Gcm),
    Ctr(Box<CtrHmac>),
}

/// `encrypt` says which direction a CBC key is for (CTR is the same both ways).
fn build(keys: &DirectionKeys, encrypt: bool) -> Result<Built<'_>> {
    let mac = keys.mac.as_deref();
    let sizes = key_sizes(&keys.cipher, mac).ok_or_else(|| {
        Error::Kex(format!(
            "unsupported cipher/MAC {}/{}",
            keys.cipher,
            mac.unwrap_or("(none)")
        ))
    })?;
    if keys.key.len() != sizes.key || keys.iv.len() != sizes.iv || keys.mac_key.len() != sizes.mac_key {
        return Err(Error::Kex(format!("wrong key material length for {}", keys.cipher)));
    }
    Ok(match keys.cipher.as_str() {
        "chacha20-poly1305@openssh.com" => {
            let k = keys
                .key
                .as_slice()
                .try_into()
                .map_err(|_| Error::Kex("bad chacha20-poly1305 key".into()))?;
            Built::Chacha(k)
        }
        "aes128-gcm@openssh.com" | "aes256-gcm@openssh.com" => Built::Gcm(Gcm::new(&keys.key, &keys.iv)?),
        _ => {
            // key_sizes accepted the pair, so this is AES-CTR or AES-CBC and the MAC is present.
            let mac = Mac::new(mac.unwrap_or_default(), &keys.mac_key)?;
            let ctr = if keys.cipher.ends_with("-cbc") {
                AesMode::Cbc(Cbc::new(&keys.key, &keys.iv, encrypt)?)
            } else {
                AesMode::Ctr(Ctr::new(&keys.key, &keys.iv)?)
            };
            Built::Ctr(Box::new(CtrHmac { ctr, mac }))
        }
    })
}

/// Packet layout parameters of a direction.
#[derive(Clone, Copy)]
struct Layout {
    /// Alignment of the padded packet: max(8, cipher block size).
    block: usize,
    /// Whether the 4-byte length field counts towards the alignment (not for AEAD and EtM, whose length is
    /// processed separately).
    len_aligned: bool,
    /// MAC or tag bytes after the packet.
    tag: usize,
}

/// Outgoing cipher state.
enum SealState {
    Plain,
    Chacha(chacha::SealingKey),
    Gcm(Gcm),
    Ctr(Box<CtrHmac>),
}

impl SealState {
    fn layout(&self) -> Layout {
        match self {
            SealState::Plain => Layout {
                block: MIN_BLOCK,
                len_aligned: true,
                tag: 0,
            },
            SealState::Chacha(_) => Layout {
                block: MIN_BLOCK,
                len_aligned: false,
                tag: AEAD_TAG,
            },
            SealState::Gcm(_) => Layout {
                block: AES_BLOCK,
                len_aligned: false,
                tag: AEAD_TAG,
            },
            SealState::Ctr(c) => Layout {
                block: AES_BLOCK,
                len_aligned: !c.mac.etm,
                tag: c.mac.len,
            },
        }
    }
}

/// The outgoing direction of the binary packet protocol.
pub struct Sealer {
    state: SealState,
    seq: u32,
    bytes: u64,
    packets: u64,
    /// Bytes sealed over the whole connection (never reset), for statistics.
    total: u64,
    comp: OutCompression,
}

impl Default for Sealer {
    fn default() -> Self {
        Self::new()
    }
}

impl Sealer {
    /// A sealer for the plaintext packets before the first NEWKEYS (no cipher, no MAC, block size 8).
    pub fn new() -> Self {
        Sealer {
            state: SealState::Plain,
            seq: 0,
            bytes: 0,
            packets: 0,
            total: 0,
            comp: OutCompression::default(),
        }
    }

    /// Switches to new keys (after sending NEWKEYS). The sequence number carries on unless [`Self::reset_seq`] is
    /// called; the byte and packet counts restart.
    pub fn set_keys(&mut self, keys: &DirectionKeys) -> Result<()> {
        self.state = match build(keys, true)? {
            Built::Chacha(k) => SealState::Chacha(chacha::SealingKey::new(k)),
            Built::Gcm(g) => SealState::Gcm(g),
            Built::Ctr(c) => SealState::Ctr(c),
        };
        self.bytes = 0;
        self.packets = 0;
        Ok(())
    }

    /// Sets the compression method of the new keys (call right after [`Self::set_keys`]). A running method starts
    /// a fresh stream, as RFC 4253 §6.2 and OpenSSH do at every key exchange; `zlib@openssh.com` waits for
    /// [`Self::start_delayed_compression`] unless that was already called.
    pub fn set_compression(&mut self, alg: CompressionAlg) {
        self.comp.set(alg);
    }

    /// User authentication succeeded: `zlib@openssh.com` compresses from the next packet on.
    pub fn start_delayed_compression(&mut self) {
        self.comp.authenticated();
    }

    /// Whether payloads are compressed now.
    pub fn compression_active(&self) -> bool {
        self.comp.is_active()
    }

    /// Sequence number of the next packet.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Sets the sequence number to 0 (strict key exchange does this at NEWKEYS).
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }

    /// Bytes sealed (whole packets, MAC included) since the last [`Self::set_keys`], for rekey accounting.
    pub fn bytes_since_keys(&self) -> u64 {
        self.bytes
    }

    /// Bytes sealed since the connection began (whole packets, MAC included): what went on the wire after the
    /// version line.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Packets sealed since the last [`Self::set_keys`].
    pub fn packets_since_keys(&self) -> u64 {
        self.packets
    }

    /// Appends one whole packet carrying `payload` to `out`: length, padding length, payload (compressed if a
    /// compression stream runs), random padding (at least 4 bytes, up to the alignment) and MAC or tag, encrypted.
    /// The payload is copied once into `out` and encrypted there. On error `out` is left as it was.
    ///
    /// Secrets in the payload (a password) are not left in `out`: under a cipher the copy is overwritten by its
    /// ciphertext, and on error it is wiped. Before the first NEWKEYS nothing secret is sent. The one copy not wiped
    /// is inside a compression stream: deflate keeps the last 32 KiB of plaintext in its window, which flate2 does
    /// not clear, so wiping our compressed output buffer would gain nothing. `zlib@openssh.com`, preferred by both
    /// roles, starts only after authentication, so credentials never go through it; plain `zlib` (chosen only when
    /// a peer lacks `zlib@openssh.com`) compresses them.
    pub fn seal(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if !self.comp.is_active() {
            return self.seal_raw(payload, out);
        }
        // Refused before the stream moves on: a packet dropped after compressing would leave our stream ahead of
        // the peer's. Deflate adds at most a few bytes per KiB plus the header and flush marker.
        if payload.len() + payload.len() / 1024 + 64 + 1 + MIN_PADDING + AES_BLOCK > MAX_PACKET_LEN {
            return Err(Error::Usage(format!(
                "payload of {} bytes does not fit in one packet",
                payload.len()
            )));
        }
        self.comp.compress(payload)?;
        let compressed = std::mem::take(&mut self.comp.buf);
        let r = self.seal_raw(&compressed, out);
        self.comp.buf = compressed;
        r
    }

    /// Seals `payload` as it is even while compression runs: tests use this to send compressed bytes of their own
    /// making, such as a decompression bomb.
    #[cfg(test)]
    pub(crate) fn seal_uncompressed(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.seal_raw(payload, out)
    }

    /// [`Self::seal`] of a payload that is already compressed, or goes uncompressed.
    fn seal_raw(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let layout = self.state.layout();
        let aligned = 1 + payload.len() + if layout.len_aligned { LEN_FIELD } else { 0 };
        let mut padding = layout.block - aligned % layout.block;
        if padding < MIN_PADDING {
            padding += layout.block;
        }
        // At most block + 3 = 19 bytes, so it fits the padding_length byte.
        self.seal_with_padding(payload, padding, padding as u8, out)
    }

    /// [`Self::seal`] with the padding chosen by the caller and a `padding_length` byte that may lie (tests use this
    /// to build packets a correct peer would never send).
    fn seal_with_padding(&mut self, payload: &[u8], padding: usize, declared: u8, out: &mut Vec<u8>) -> Result<()> {
        let packet_len = 1 + payload.len() + padding;
        if packet_len > MAX_PACKET_LEN {
            return Err(Error::Usage(format!(
                "payload of {} bytes does not fit in one packet",
                payload.len()
            )));
        }
        let start = out.len();
        let layout = self.state.layout();
        out.reserve(LEN_FIELD + packet_len + layout.tag);
        out.extend_from_slice(&(packet_len as u32).to_be_bytes());
        out.push(declared);
        out.extend_from_slice(payload);
        let pad_start = out.len();
        out.resize(pad_start + padding, 0);
        let res = rand::fill(&mut out[pad_start..])
            .map_err(|_| Error::protocol("random padding unavailable"))
            .and_then(|()| self.protect(out, start));
        match res {
            Ok(()) => {
                self.seq = self.seq.wrapping_add(1);
                self.bytes = self.bytes.wrapping_add((out.len() - start) as u64);
                self.total = self.total.wrapping_add((out.len() - start) as u64);
                self.packets = self.packets.wrapping_add(1);
                Ok(())
            }
            Err(e) => {
                // The payload may still be in the clear there (it is encrypted in place only once all went well).
                out[start..].zeroize();
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Encrypts the plaintext packet `out[start..]` in place and appends its MAC or tag.
    fn protect(&mut self, out: &mut Vec<u8>, start: usize) -> Result<()> {
        let seq = self.seq;
        let packet = &mut out[start..];
        match &mut self.state {
            SealState::Plain => {}
            SealState::Chacha(key) => {
                let mut tag = [0u8; chacha::TAG_LEN];
                key.seal_in_place(seq, packet, &mut tag);
                out.extend_from_slice(&tag);
            }
            SealState::Gcm(gcm) => {
                let (len, rest) = packet.split_at_mut(LEN_FIELD);
                let aad = Aad::from([len[0], len[1], len[2], len[3]]);
                let tag = gcm
                    .key
                    .seal_in_place_separate_tag(gcm.nonce(), aad, rest)
                    .map_err(|_| Error::protocol("AES-GCM seal failed"))?;
                gcm.advance();
                out.extend_from_slice(tag.as_ref());
            }
            SealState::Ctr(c) if c.mac.etm => {
                let CtrHmac { ctr, mac } = &mut **c;
                ctr.apply(&mut packet[LEN_FIELD..])?;
                let tag = mac.sign(seq, packet);
                out.extend_from_slice(tag.as_ref());
            }
            SealState::Ctr(c) => {
                let CtrHmac { ctr, mac } = &mut **c;
                let tag = mac.sign(seq, packet);
                ctr.apply(packet)?;
                out.extend_from_slice(tag.as_ref());
            }
        }
        Ok(())
    }
}

/// Incoming cipher state.
enum OpenState {
    Plain,
    Chacha(chacha::OpeningKey),
    Gcm(Gcm),
    Ctr(Box<CtrHmac>),
}

impl OpenState {
    fn layout(&self) -> Layout {
        match self {
            OpenState::Plain => Layout {
                block: MIN_BLOCK,
                len_aligned: true,
                tag: 0,
            },
            OpenState::Chacha(_) => Layout {
                block: MIN_BLOCK,
                len_aligned: false,
                tag: AEAD_TAG,
            },
            OpenState::Gcm(_) => Layout {
                block: AES_BLOCK,
                len_aligned: false,
                tag: AEAD_TAG,
            },
            OpenState::Ctr(c) => Layout {
                block: AES_BLOCK,
                len_aligned: !c.mac.etm,
                tag: c.mac.len,
            },
        }
    }
}

/// A packet that [`Opener::open`] verified and decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Where the payload lies in the buffer given to `open`.
    pub payload: Range<usize>,
    /// Length of the whole packet, MAC or tag included: drop this many bytes from the front of the buffer.
    pub consumed: usize,
}

/// The incoming direction of the binary packet protocol.
pub struct Opener {
    state: OpenState,
    seq: u32,
    bytes: u64,
    packets: u64,
    /// Bytes opened over the whole connection (never reset), for statistics.
    total: u64,
    comp: InCompression,
    /// The packet_length of the packet at the front of the buffer once known and checked. For AES-CTR without EtM
    /// the first block has then already been decrypted in place, and must not be decrypted again.
    pending_len: Option<usize>,
}

impl Default for Opener {
    fn default() -> Self {
        Self::new()
    }
}

impl Opener {
    /// An opener for the plaintext packets before the first NEWKEYS.
    pub fn new() -> Self {
        Opener {
            state: OpenState::Plain,
            seq: 0,
            bytes: 0,
            packets: 0,
            total: 0,
            comp: InCompression::default(),
            pending_len: None,
        }
    }

    /// Switches to new keys (after receiving NEWKEYS, at a packet boundary). The sequence number carries on unless
    /// [`Self::reset_seq`] is called; the byte and packet counts restart.
    pub fn set_keys(&mut self, keys: &DirectionKeys) -> Result<()> {
        self.state = match build(keys, false)? {
            Built::Chacha(k) => OpenState::Chacha(chacha::OpeningKey::new(k)),
            Built::Gcm(g) => OpenState::Gcm(g),
            Built::Ctr(c) => OpenState::Ctr(c),
        };
        self.pending_len = None;
        self.bytes = 0;
        self.packets = 0;
        Ok(())
    }

    /// Sets the compression method of the new keys (call right after [`Self::set_keys`]); see
    /// [`Sealer::set_compression`].
    pub fn set_compression(&mut self, alg: CompressionAlg) {
        self.comp.set(alg);
    }

    /// User authentication succeeded: `zlib@openssh.com` inflates from the next packet on.
    pub fn start_delayed_compression(&mut self) {
        self.comp.authenticated();
    }

    /// Whether payloads arrive compressed now.
    pub fn compression_active(&self) -> bool {
        self.comp.is_active()
    }

    /// Inflates an opened payload into `out` if a compression stream runs, to at most
    /// [`super::compress::MAX_DECOMPRESSED`] bytes; `Ok(false)` means the payload was not compressed and is used
    /// as it is. Beyond the bound is [`crate::CompressionError::TooLarge`]: `out` never grows further.
    pub fn decompress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        self.comp.decompress(payload, out)
    }

    /// Sequence number of the next packet.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Sets the sequence number to 0 (strict key exchange does this at NEWKEYS).
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }

    /// Bytes opened (whole packets, MAC included) since the last [`Self::set_keys`], for rekey accounting.
    pub fn bytes_since_keys(&self) -> u64 {
        self.bytes
    }

    /// Bytes opened since the connection began (whole packets, MAC included).
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Packets opened since the last [`Self::set_keys`].
    pub fn packets_since_keys(&self) -> u64 {
        self.packets
    }

    /// Opens the packet at the start of `buf`, which holds buffered input beginning at a packet boundary.
    ///
    /// `Ok(None)`: more bytes are needed; call again with the same start and more bytes appended (the buffer may
    /// have been partly decrypted in place meanwhile, so keep it as it is). `Ok(Some(p))`: the packet was verified
    /// and decrypted in place; `buf[p.payload]` is the payload and `p.consumed` bytes belong to this packet.
    ///
    /// The length is checked as soon as it is known, before waiting for the rest: more than [`MAX_PACKET_LEN`],
    /// less than 5 or misaligned is an error, as is padding under 4 or not leaving room for the padding length byte.
    /// A MAC or tag mismatch is [`Error::Mac`] (compared in constant time).
    pub fn open(&mut self, buf: &mut [u8]) -> Result<Option<Opened>> {
        let len = match self.pending_len {
            Some(len) => len,
            None => match self.read_length(buf)? {
                Some(len) => {
                    self.pending_len = Some(len);
                    len
                }
                None => return Ok(None),
            },
        };
        let layout = self.state.layout();
        let end = LEN_FIELD + len;
        let total = end + layout.tag;
        let Some(buf) = buf.get_mut(..total) else {
            return Ok(None);
        };
        self.pending_len = None;
        let seq = self.seq;
        match &mut self.state {
            OpenState::Plain => {}
            OpenState::Chacha(key) => {
                let (packet, tag) = buf.split_at_mut(end);
                let tag: &[u8; chacha::TAG_LEN] = (&*tag).try_into().map_err(|_| Error::Mac)?;
                key.open_in_place(seq, packet, tag).map_err(|_| Error::Mac)?;
            }
            OpenState::Gcm(gcm) => {
                let (len_field, rest) = buf.split_at_mut(LEN_FIELD);
                let aad = Aad::from([len_field[0], len_field[1], len_field[2], len_field[3]]);
                gcm.key.open_in_place(gcm.nonce(), aad, rest).map_err(|_| Error::Mac)?;
                gcm.advance();
            }
            OpenState::Ctr(c) if c.mac.etm => {
                let CtrHmac { ctr, mac } = &mut **c;
                let (packet, tag) = buf.split_at_mut(end);
                mac.verify(seq, packet, tag)?;
                ctr.apply(&mut packet[LEN_FIELD..])?;
            }
            OpenState::Ctr(c) => {
                let CtrHmac { ctr, mac } = &mut **c;
                let (packet, tag) = buf.split_at_mut(end);
                // The first block was decrypted by read_length.
                ctr.apply(&mut packet[AES_BLOCK..])?;
                mac.verify(seq, packet, tag)?;
            }
        }
        // len >= 5 was checked, so the padding length byte is there.
        let padding = usize::from(buf[LEN_FIELD]);
        if padding < MIN_PADDING || padding >= len {
            return Err(DecodeError::Invalid("padding length").into());
        }
        self.seq = self.seq.wrapping_add(1);
        self.bytes = self.bytes.wrapping_add(total as u64);
        self.total = self.total.wrapping_add(total as u64);
        self.packets = self.packets.wrapping_add(1);
        Ok(Some(Opened {
            payload: LEN_FIELD + 1..end - padding,
            consumed: total,
        }))
    }

    /// Learns and checks the packet_length of the packet at the start of `buf`, or `None` if too few bytes are in.
    // `usize::is_multiple_of` needs Rust 1.87; the workspace supports 1.80.
    #[allow(clippy::manual_is_multiple_of)]
    fn read_length(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        let layout = self.state.layout();
        let raw: [u8; LEN_FIELD] = match &mut self.state {
            OpenState::Ctr(c) if !c.mac.etm => {
                // The length is inside the first encrypted block: decrypt exactly that block, once.
                let Some(first) = buf.get_mut(..AES_BLOCK) else {
                    return Ok(None);
                };
                c.ctr.apply(first)?;
                [first[0], first[1], first[2], first[3]]
            }
            state => {
                let Some(&[a, b, c, d]) = buf.get(..LEN_FIELD) else {
                    return Ok(None);
                };
                match state {
                    // Decrypted into a copy: the tag covers the encrypted length, which must stay in `buf`.
                    OpenState::Chacha(key) => key.decrypt_packet_length(self.seq, [a, b, c, d]),
                    _ => [a, b, c, d],
                }
            }
        };
        let len = u32::from_be_bytes(raw) as usize;
        if len > MAX_PACKET_LEN {
            return Err(DecodeError::TooLong {
                len,
                max: MAX_PACKET_LEN,
            }
            .into());
        }
        if len < 1 + MIN_PADDING {
            return Err(DecodeError::Invalid("packet length").into());
        }
        let aligned = len + if layout.len_aligned { LEN_FIELD } else { 0 };
        if aligned % layout.block != 0 {
            return Err(DecodeError::Invalid("packet length alignment").into());
        }
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::cipher::{is_aead, CIPHERS, MACS};
    use aws_lc_rs::cipher::{StreamingDecryptingKey, UnboundCipherKey, AES_128};

    /// Deterministic, distinct key material for a cipher/MAC pair.
    fn keys(cipher: &str, mac: Option<&str>, seed: u8) -> DirectionKeys {
        let s = key_sizes(cipher, mac).unwrap();
        let fill = |n: usize, salt: u8| {
            (0..n)
                .map(|i| (i as u8).wrapping_mul(7) ^ salt ^ seed)
                .collect::<Vec<_>>()
        };
        DirectionKeys {
            cipher: cipher.into(),
            mac: mac.map(Into::into),
            key: fill(s.key, 0x11),
            iv: fill(s.iv, 0x22),
            mac_key: fill(s.mac_key, 0x33),
        }
    }

    /// Every cipher/MAC combination to test: AEAD ciphers alone, CTR ciphers with each MAC.
    fn suites() -> Vec<(&'static str, Option<&'static str>)> {
        let mut v = Vec::new();
        for c in CIPHERS {
            if is_aead(c) {
                v.push((*c, None));
            } else {
                for m in MACS {
                    v.push((*c, Some(*m)));
                }
            }
        }
        v
    }

    fn pair(k: Option<&DirectionKeys>) -> (Sealer, Opener) {
        let (mut s, mut o) = (Sealer::new(), Opener::new());
        if let Some(k) = k {
            s.set_keys(k).unwrap();
            o.set_keys(k).unwrap();
        }
        (s, o)
    }

    fn payloads() -> Vec<Vec<u8>> {
        [0usize, 1, 5, 16, 31, 100, 1000, 35000]
            .iter()
            .map(|&n| (0..n).map(|i| (i * 31 + n) as u8).collect())
            .collect()
    }

    /// Opens everything in `stream`, either all at once or appending one byte at a time.
    fn open_all(o: &mut Opener, stream: &[u8], bytewise: bool) -> Result<Vec<Vec<u8>>> {
        let mut got = Vec::new();
        let mut buf = Vec::new();
        let mut fed = 0;
        loop {
            if bytewise {
                if fed == stream.len() {
                    break;
                }
                buf.push(stream[fed]);
                fed += 1;
            } else if fed == 0 {
                buf.extend_from_slice(stream);
                fed = stream.len();
            }
            match o.open(&mut buf)? {
                Some(p) => {
                    got.push(buf[p.payload].to_vec());
                    buf.drain(..p.consumed);
                    if !bytewise && buf.is_empty() {
                        break;
                    }
                }
                None if !bytewise => break,
                None => {}
            }
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        Ok(got)
    }

    #[test]
    fn round_trip_every_suite() {
        for (c, m) in suites() {
            let k = keys(c, m, 1);
            for bytewise in [false, true] {
                let (mut s, mut o) = pair(Some(&k));
                let mut stream = Vec::new();
                let ps = payloads();
                let mut last = 0;
                for p in &ps {
                    s.seal(p, &mut stream).unwrap();
                    // Alignment: length field excluded for AEAD and EtM, included otherwise.
                    let layout = s.state.layout();
                    let sealed = &stream[last..];
                    let aligned = sealed.len() - layout.tag - if layout.len_aligned { 0 } else { LEN_FIELD };
                    assert_eq!(aligned % layout.block, 0, "{c} {m:?}");
                    last = stream.len();
                }
                assert_eq!(s.seq(), ps.len() as u32);
                assert_eq!(s.packets_since_keys(), ps.len() as u64);
                assert_eq!(s.bytes_since_keys(), stream.len() as u64);
                let got = open_all(&mut o, &stream, bytewise).unwrap_or_else(|e| panic!("{c} {m:?}: {e}"));
                assert_eq!(got, ps, "{c} {m:?} bytewise={bytewise}");
                assert_eq!(o.seq(), ps.len() as u32);
                assert_eq!(o.packets_since_keys(), ps.len() as u64);
                assert_eq!(o.bytes_since_keys(), stream.len() as u64);
            }
        }
    }

    #[test]
    fn keys_differ_per_direction() {
        // A packet sealed with one key set must not open with another.
        for (c, m) in suites() {
            let mut s = Sealer::new();
            s.set_keys(&keys(c, m, 1)).unwrap();
            let mut o = Opener::new();
            o.set_keys(&keys(c, m, 2)).unwrap();
            let mut out = Vec::new();
            s.seal(b"hello", &mut out).unwrap();
            out.resize(out.len() + MAX_PACKET_LEN + 100, 0);
            assert!(
                matches!(o.open(&mut out), Err(Error::Mac | Error::Decode(_))),
                "{c} {m:?}"
            );
        }
    }

    #[test]
    fn plaintext_is_aligned_to_8_with_4_padding() {
        let (mut s, mut o) = pair(None);
        for n in 0..40 {
            let payload = vec![0x5a; n];
            let mut out = Vec::new();
            s.seal(&payload, &mut out).unwrap();
            assert_eq!(out.len() % 8, 0);
            let len = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
            assert_eq!(len + 4, out.len());
            let pad = out[4] as usize;
            assert!((4..4 + 8).contains(&pad), "padding {pad}");
            assert_eq!(&out[5..5 + n], &payload[..]);
            let p = o.open(&mut out).unwrap().unwrap();
            assert_eq!(
                p,
                Opened {
                    payload: 5..5 + n,
                    consumed: out.len()
                }
            );
        }
    }

    #[test]
    fn bit_flips_are_caught() {
        for (c, m) in suites() {
            let k = keys(c, m, 3);
            let (mut s, _) = pair(Some(&k));
            let mut packet = Vec::new();
            s.seal(b"some payload bytes", &mut packet).unwrap();
            // Trailing bytes so that a flipped length asks for MAC verification instead of more input.
            let mut buf = packet.clone();
            buf.resize(packet.len() + MAX_PACKET_LEN + 64, 0);
            for bit in 0..packet.len() * 8 {
                let mut o = Opener::new();
                o.set_keys(&k).unwrap();
                buf[bit / 8] ^= 1 << (bit % 8);
                let r = o.open(&mut buf);
                assert!(
                    matches!(r, Err(Error::Mac) | Err(Error::Decode(_))),
                    "{c} {m:?} bit {bit}: {r:?}"
                );
                buf[..packet.len()].copy_from_slice(&packet);
            }
        }
    }

    /// A first block whose packet_length is `len`, as `keys` would encrypt it for sequence number 0.
    fn forged_first_block(k: &DirectionKeys, len: u32) -> Vec<u8> {
        let mut block = len.to_be_bytes().to_vec();
        block.resize(AES_BLOCK, 0);
        match build(k, true).unwrap() {
            Built::Chacha(key) => {
                let mut tag = [0; 16];
                chacha::SealingKey::new(key).seal_in_place(0, &mut block, &mut tag);
            }
            Built::Ctr(mut c) if !c.mac.etm => c.ctr.apply(&mut block).unwrap(),
            _ => {} // length in the clear
        }
        block
    }

    #[test]
    fn oversized_length_refused_after_first_block() {
        let mut all = suites();
        all.push(("plain", None));
        for (c, m) in all {
            let k = (c != "plain").then(|| keys(c, m, 4));
            for bad in [MAX_PACKET_LEN as u32 + 16, u32::MAX] {
                let mut block = match &k {
                    Some(k) => forged_first_block(k, bad),
                    None => bad.to_be_bytes().to_vec(),
                };
                let (_, mut o) = pair(k.as_ref());
                let r = o.open(&mut block);
                assert!(
                    matches!(r, Err(Error::Decode(DecodeError::TooLong { .. }))),
                    "{c} {m:?}: {r:?}"
                );
            }
            // Too short to hold padding_length and 4 bytes of padding.
            let mut block = match &k {
                Some(k) => forged_first_block(k, 4),
                None => 4u32.to_be_bytes().to_vec(),
            };
            let (_, mut o) = pair(k.as_ref());
            assert!(matches!(o.open(&mut block), Err(Error::Decode(_))), "{c} {m:?}");
        }
    }

    #[test]
    fn misaligned_length_refused() {
        for (c, m) in suites() {
            let k = keys(c, m, 5);
            // 4 + 33 and 33 are aligned to neither 8 nor 16.
            let mut block = forged_first_block(&k, 33);
            let (_, mut o) = pair(Some(&k));
            assert!(
                matches!(o.open(&mut block), Err(Error::Decode(DecodeError::Invalid(_)))),
                "{c} {m:?}"
            );
        }
    }

    #[test]
    fn bad_padding_refused() {
        let mut all: Vec<_> = suites().into_iter().map(|(c, m)| Some(keys(c, m, 6))).collect();
        all.push(None);
        for k in all {
            let (mut s, mut o) = pair(k.as_ref());
            let layout = s.state.layout();
            // Padding of 3 with a payload sized to keep the alignment.
            let base = 1 + 3 + if layout.len_aligned { LEN_FIELD } else { 0 };
            let payload = vec![7u8; 2 * layout.block - base];
            let mut out = Vec::new();
            s.seal_with_padding(&payload, 3, 3, &mut out).unwrap();
            let r = o.open(&mut out);
            assert!(
                matches!(r, Err(Error::Decode(DecodeError::Invalid("padding length")))),
                "{k:?}: {r:?}"
            );

            // A padding_length byte that claims more than the packet holds (the MAC is valid).
            let (mut s, mut o) = pair(k.as_ref());
            let mut out = Vec::new();
            let padding = if layout.len_aligned {
                2 * layout.block - 5
            } else {
                layout.block - 1
            };
            s.seal_with_padding(&[], padding, 200, &mut out).unwrap();
            let r = o.open(&mut out);
            assert!(
                matches!(r, Err(Error::Decode(DecodeError::Invalid("padding length")))),
                "{k:?}: {r:?}"
            );
        }
    }

    #[test]
    fn seq_wraps_and_resets() {
        for (c, m) in suites() {
            let k = keys(c, m, 7);
            let (mut s, mut o) = pair(Some(&k));
            s.seq = u32::MAX;
            o.seq = u32::MAX;
            let mut out = Vec::new();
            for p in [&b"a"[..], b"b", b"c"] {
                s.seal(p, &mut out).unwrap();
            }
            assert_eq!(s.seq(), 2);
            assert_eq!(open_all(&mut o, &out, false).unwrap().len(), 3);
            assert_eq!(o.seq(), 2);

            s.reset_seq();
            o.reset_seq();
            assert_eq!((s.seq(), o.seq()), (0, 0));
            let mut out = Vec::new();
            s.seal(b"after reset", &mut out).unwrap();
            assert_eq!(open_all(&mut o, &out, false).unwrap(), vec![b"after reset".to_vec()]);

            // Only one side resetting breaks the MAC: the sequence number is authenticated (except by AES-GCM,
            // whose nonce counts packets on its own).
            if c.contains("gcm") {
                continue;
            }
            s.reset_seq();
            let mut out = Vec::new();
            s.seal(b"x", &mut out).unwrap();
            out.resize(out.len() + MAX_PACKET_LEN + 100, 0);
            assert!(
                matches!(o.open(&mut out), Err(Error::Mac | Error::Decode(_))),
                "{c} {m:?}"
            );
        }
    }

    #[test]
    fn set_keys_switches_and_resets_counters() {
        let (mut s, mut o) = pair(None);
        let mut out = Vec::new();
        s.seal(b"kexinit", &mut out).unwrap();
        open_all(&mut o, &out, false).unwrap();
        let k = keys("aes256-gcm@openssh.com", None, 8);
        s.set_keys(&k).unwrap();
        o.set_keys(&k).unwrap();
        assert_eq!((s.seq(), s.packets_since_keys(), s.bytes_since_keys()), (1, 0, 0));
        assert_eq!((o.seq(), o.packets_since_keys(), o.bytes_since_keys()), (1, 0, 0));
        let mut out = Vec::new();
        s.seal(b"secret", &mut out).unwrap();
        assert!(!out.windows(6).any(|w| w == b"secret"));
        assert_eq!(open_all(&mut o, &out, false).unwrap(), vec![b"secret".to_vec()]);
    }

    #[test]
    fn bad_keys_refused() {
        let mut k = keys("aes128-ctr", Some("hmac-sha1"), 9);
        k.mac_key.pop();
        assert!(matches!(Sealer::new().set_keys(&k), Err(Error::Kex(_))));
        let mut k = keys("aes128-ctr", Some("hmac-sha1"), 9);
        k.mac = None;
        assert!(matches!(Opener::new().set_keys(&k), Err(Error::Kex(_))));
        let mut k = keys("aes128-gcm@openssh.com", None, 9);
        k.cipher = "aes128-cbc".into();
        assert!(matches!(Opener::new().set_keys(&k), Err(Error::Kex(_))));
    }

    #[test]
    fn oversized_payload_refused_without_output() {
        let mut s = Sealer::new();
        let mut out = vec![1, 2, 3];
        assert!(s.seal(&vec![0; MAX_PACKET_LEN], &mut out).is_err());
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(s.seq(), 0);
    }

    /// NIST SP 800-38A F.5.1 (CTR-AES128.Encrypt), applied in two calls as two packets would: the counter must
    /// carry on (here across a carry out of the last byte) rather than restart.
    #[test]
    fn ctr_counter_runs_on_nist_vector() {
        let hex = |s: &str| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let key: Vec<u8> = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let iv: Vec<u8> = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
        let mut data: Vec<u8> = hex(concat!(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
        ));
        let expected: Vec<u8> = hex(concat!(
            "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff",
            "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"
        ));
        let mut ctr = Ctr::new(&key, &iv).unwrap();
        let (a, b) = data.split_at_mut(16);
        ctr.apply(a).unwrap();
        ctr.apply(b).unwrap();
        assert_eq!(data, expected);
    }

    /// NIST SP 800-38A F.2.1/F.2.2 (CBC-AES128), split over calls as packets split it: the chaining block carries
    /// from one call to the next in both directions, whatever the split.
    #[test]
    fn cbc_chains_across_calls_on_nist_vector() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        let plain = hex(concat!(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
        ));
        let expected = hex(concat!(
            "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2",
            "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"
        ));
        for split in [16, 32, 48] {
            let mut data = plain.clone();
            let mut enc = Cbc::new(&key, &iv, true).unwrap();
            let (a, b) = data.split_at_mut(split);
            enc.apply(a).unwrap();
            enc.apply(b).unwrap();
            assert_eq!(data, expected, "encrypt split {split}");
            let mut dec = Cbc::new(&key, &iv, false).unwrap();
            let (a, b) = data.split_at_mut(64 - split);
            dec.apply(a).unwrap();
            dec.apply(b).unwrap();
            assert_eq!(data, plain, "decrypt split {split}");
        }
    }

    /// The AES-CTR sealer's keystream over several packets equals one uninterrupted CTR stream (checked with
    /// aws-lc-rs's own streaming CTR), i.e. the counter is not reset per packet.
    #[test]
    fn ctr_stream_is_continuous_across_packets() {
        let k = keys("aes128-ctr", Some("hmac-sha2-256"), 10);
        let (mut s, _) = pair(Some(&k));
        let mut sizes = Vec::new();
        let mut wire = Vec::new();
        for p in payloads() {
            let before = wire.len();
            s.seal(&p, &mut wire).unwrap();
            sizes.push((before, wire.len() - before - 32, p));
        }
        let unbound = UnboundCipherKey::new(&AES_128, &k.key).unwrap();
        let iv: [u8; 16] = k.iv.as_slice().try_into().unwrap();
        let ctx = aws_lc_rs::cipher::DecryptionContext::Iv128(FixedLength::from(iv));
        let mut dec = StreamingDecryptingKey::ctr(unbound, ctx).unwrap();
        for (at, len, payload) in sizes {
            let mut plain = vec![0u8; len + 16];
            let n = dec.update(&wire[at..at + len], &mut plain).unwrap().written().len();
            assert_eq!(n, len);
            assert_eq!(u32::from_be_bytes(plain[..4].try_into().unwrap()) as usize + 4, len);
            assert_eq!(&plain[5..5 + payload.len()], &payload[..]);
        }
    }

    /// The GCM nonce is the kex IV with its last 8 bytes counting packets modulo 2^64; the first 4 stay.
    #[test]
    fn gcm_invocation_counter() {
        let mut k = keys("aes128-gcm@openssh.com", None, 11);
        k.iv[4..].copy_from_slice(&[0xff; 8]);
        let (mut s, _) = pair(Some(&k));
        let mut first = Vec::new();
        let mut second = Vec::new();
        s.seal(b"one", &mut first).unwrap();
        s.seal(b"two", &mut second).unwrap();
        let raw = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &k.key).unwrap());
        for (packet, counter) in [(&mut first, [0xff; 8]), (&mut second, [0; 8])] {
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&k.iv[..4]);
            nonce[4..].copy_from_slice(&counter);
            let aad = Aad::from(<[u8; 4]>::try_from(&packet[..4]).unwrap());
            raw.open_in_place(Nonce::assume_unique_for_key(nonce), aad, &mut packet[4..])
                .unwrap();
        }
        assert_eq!(&first[5..8], b"one");
        assert_eq!(&second[5..8], b"two");
    }

    /// chacha20-poly1305@openssh.com uses the sequence number as nonce: a raw opening key with the same key and
    /// sequence number opens what the sealer produced.
    #[test]
    fn chacha_nonce_is_seq() {
        let k = keys("chacha20-poly1305@openssh.com", None, 12);
        let (mut s, _) = pair(Some(&k));
        s.seq = 0x0102_0304;
        let mut out = Vec::new();
        s.seal(b"payload", &mut out).unwrap();
        let raw = chacha::OpeningKey::new(&k.key.as_slice().try_into().unwrap());
        let len = u32::from_be_bytes(raw.decrypt_packet_length(0x0102_0304, out[..4].try_into().unwrap())) as usize;
        assert_eq!(len + 4 + 16, out.len());
        let (packet, tag) = out.split_at_mut(4 + len);
        let plain = raw
            .open_in_place(0x0102_0304, packet, (&*tag).try_into().unwrap())
            .unwrap();
        assert_eq!(&plain[1..8], b"payload");
    }
}
