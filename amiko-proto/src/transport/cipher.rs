//! Names, key sizes and key material of the packet ciphers and MACs.
//!
//! The key exchange derives keys by these sizes (RFC 4253 §7.2) and hands them over as [`DirectionKeys`], one set
//! for each direction; [`crate::transport::packet`] turns them into working cipher state at NEWKEYS.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// The ciphers we support, in our order of preference.
///
/// AEAD modes first: they need no separate MAC and authenticate the packet length (chacha) or send it in the
/// clear as associated data (gcm), which removes the length oracle of the classic encrypt-and-MAC construction.
pub const CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
];

/// The MACs we support, in our order of preference (encrypt-then-MAC first). Only used with non-AEAD ciphers.
pub const MACS: &[&str] = &[
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
    "hmac-sha1-etm@openssh.com",
];

/// Whether `cipher` is an AEAD mode, which authenticates the packet itself; no separate MAC is negotiated or used
/// with it (OpenSSH PROTOCOL §1.6 and PROTOCOL.chacha20poly1305).
pub fn is_aead(cipher: &str) -> bool {
    matches!(
        cipher,
        "chacha20-poly1305@openssh.com" | "aes128-gcm@openssh.com" | "aes256-gcm@openssh.com"
    )
}

/// How many bytes of key material one direction of a cipher/MAC pair needs (RFC 4253 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySizes {
    /// Encryption key length.
    pub key: usize,
    /// Initial IV length (0 for chacha20-poly1305, whose nonce is the sequence number).
    pub iv: usize,
    /// MAC key length (0 with an AEAD cipher).
    pub mac_key: usize,
}

/// Key, IV and MAC key lengths for `cipher` (and `mac`, which is ignored for AEAD ciphers and required for the
/// others). `None` if a name is not one we support or a non-AEAD cipher comes without a MAC.
pub fn key_sizes(cipher: &str, mac: Option<&str>) -> Option<KeySizes> {
    let (key, iv) = cipher_key_iv(cipher)?;
    let mac_key = if is_aead(cipher) { 0 } else { mac_key_len(mac?)? };
    Some(KeySizes { key, iv, mac_key })
}

/// Encryption key and IV length of a supported cipher.
fn cipher_key_iv(cipher: &str) -> Option<(usize, usize)> {
    Some(match cipher {
        // 64 bytes: K_2 (payload) then K_1 (length), PROTOCOL.chacha20poly1305.
        "chacha20-poly1305@openssh.com" => (64, 0),
        // 12-byte IV: 4-byte fixed field and 8-byte invocation counter (RFC 5647 §7.1).
        "aes128-gcm@openssh.com" => (16, 12),
        "aes256-gcm@openssh.com" => (32, 12),
        // The IV is the initial 128-bit counter block (RFC 4344 §4).
        "aes128-ctr" => (16, 16),
        "aes192-ctr" => (24, 16),
        "aes256-ctr" => (32, 16),
        // The IV is the first chaining block (RFC 4253 §6.3); opt-in only, see `config::CIPHER_LEGACY`.
        "aes128-cbc" => (16, 16),
        "aes192-cbc" => (24, 16),
        "aes256-cbc" => (32, 16),
        _ => return None,
    })
}

/// MAC key length of a supported MAC: the digest length (RFC 2104 recommends at least that; RFC 4253 §6.4 uses it).
pub(crate) fn mac_key_len(mac: &str) -> Option<usize> {
    Some(match mac {
        "hmac-sha2-256" | "hmac-sha2-256-etm@openssh.com" => 32,
        "hmac-sha2-512" | "hmac-sha2-512-etm@openssh.com" => 64,
        "hmac-sha1" | "hmac-sha1-etm@openssh.com" => 20,
        _ => return None,
    })
}

/// The negotiated algorithms and derived key material of one direction (client to server or back). The key
/// material is wiped when the value is dropped.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DirectionKeys {
    /// Cipher name, one of [`CIPHERS`].
    #[zeroize(skip)]
    pub cipher: String,
    /// MAC name, one of [`MACS`]; `None` (or ignored) with an AEAD cipher.
    #[zeroize(skip)]
    pub mac: Option<String>,
    /// Encryption key, exactly [`KeySizes::key`] bytes.
    pub key: Vec<u8>,
    /// Initial IV, exactly [`KeySizes::iv`] bytes.
    pub iv: Vec<u8>,
    /// MAC key, exactly [`KeySizes::mac_key`] bytes.
    pub mac_key: Vec<u8>,
}

// Key material must not end up in logs through a stray `{:?}`.
impl fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectionKeys")
            .field("cipher", &self.cipher)
            .field("mac", &self.mac)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .field("iv", &format_args!("<{} bytes>", self.iv.len()))
            .field("mac_key", &format_args!("<{} bytes>", self.mac_key.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_algorithm_has_sizes() {
        for c in CIPHERS {
            if is_aead(c) {
                let s = key_sizes(c, None).unwrap();
                assert_eq!(s.mac_key, 0);
                // A MAC name given alongside an AEAD cipher is ignored.
                assert_eq!(key_sizes(c, Some("hmac-sha1")), Some(s));
            } else {
                assert_eq!(key_sizes(c, None), None, "{c} needs a MAC");
                for m in MACS {
                    assert!(key_sizes(c, Some(m)).unwrap().mac_key >= 20);
                }
            }
        }
    }

    #[test]
    fn sizes() {
        let s = |c, m| key_sizes(c, m).unwrap();
        assert_eq!(
            s("chacha20-poly1305@openssh.com", None),
            KeySizes {
                key: 64,
                iv: 0,
                mac_key: 0
            }
        );
        assert_eq!(
            s("aes128-gcm@openssh.com", None),
            KeySizes {
                key: 16,
                iv: 12,
                mac_key: 0
            }
        );
        assert_eq!(
            s("aes256-gcm@openssh.com", None),
            KeySizes {
                key: 32,
                iv: 12,
                mac_key: 0
            }
        );
        assert_eq!(
            s("aes192-ctr", Some("hmac-sha2-512")),
            KeySizes {
                key: 24,
                iv: 16,
                mac_key: 64
            }
        );
        assert_eq!(
            s("aes128-ctr", Some("hmac-sha1")),
            KeySizes {
                key: 16,
                iv: 16,
                mac_key: 20
            }
        );
        assert_eq!(
            s("aes256-ctr", Some("hmac-sha2-256-etm@openssh.com")),
            KeySizes {
                key: 32,
                iv: 16,
                mac_key: 32
            }
        );
        assert_eq!(key_sizes("3des-cbc", Some("hmac-sha1")), None);
        assert_eq!(key_sizes("aes128-ctr", Some("hmac-md5")), None);
        assert!(!is_aead("aes128-ctr"));
    }

    fn assert_zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}

    /// The key material is wiped when dropped (a compile-time check) and by `zeroize`; the names stay.
    #[test]
    fn key_material_is_wiped() {
        assert_zeroize_on_drop::<DirectionKeys>();
        let mut k = DirectionKeys {
            cipher: "aes128-ctr".into(),
            mac: Some("hmac-sha1".into()),
            key: vec![0xAB; 16],
            iv: vec![0xCD; 16],
            mac_key: vec![0xEF; 20],
        };
        k.zeroize();
        assert!(k.key.is_empty() && k.iv.is_empty() && k.mac_key.is_empty());
        assert_eq!((k.cipher.as_str(), k.mac.as_deref()), ("aes128-ctr", Some("hmac-sha1")));
    }

    #[test]
    fn debug_hides_keys() {
        let k = DirectionKeys {
            cipher: "aes128-ctr".into(),
            mac: Some("hmac-sha1".into()),
            key: vec![0xAB; 16],
            iv: vec![0xCD; 16],
            mac_key: vec![0xEF; 20],
        };
        let s = format!("{k:?}");
        assert!(
            !s.contains("171") && !s.contains("AB") && s.contains("<16 bytes>"),
            "{s}"
        );
    }
}
