//! Key exchange methods: the mathematics only, one file per method. The message flow is in
//! `transport::handshake`.

mod curve25519;
mod dh;
mod ecdh;
mod mlkem;

use aws_lc_rs::digest;

use crate::error::{Error, Result};
use crate::wire::Writer;

/// Every method implemented, best first.
pub const KEX_ALGORITHMS: &[&str] = crate::config::KEX_DEFAULT;

/// The hash of a key exchange method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// The aws-lc-rs algorithm.
    pub fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
        }
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.algorithm(), data).as_ref().to_vec()
    }
}

/// The hash a method uses.
pub fn hash_for(kex: &str) -> Option<HashAlg> {
    Some(match kex {
        "curve25519-sha256" | "curve25519-sha256@libssh.org" | "ecdh-sha2-nistp256" => HashAlg::Sha256,
        "mlkem768x25519-sha256" | "diffie-hellman-group14-sha256" => HashAlg::Sha256,
        "ecdh-sha2-nistp384" => HashAlg::Sha384,
        "ecdh-sha2-nistp521" | "diffie-hellman-group16-sha512" | "diffie-hellman-group18-sha512" => HashAlg::Sha512,
        _ => return None,
    })
}

/// Whether the method's public values are mpints (finite-field DH) rather than strings.
pub fn public_is_mpint(kex: &str) -> bool {
    kex.starts_with("diffie-hellman-")
}

/// The shared secret K, with its encoding: mpint for DH and ECDH (RFC 4253 §8, RFC 5656 §4, RFC 8731 §3), string
/// for the hybrid ML-KEM method (its K is already a hash).
pub struct SharedSecret {
    bytes: Vec<u8>,
    as_string: bool,
}

impl SharedSecret {
    pub(crate) fn mpint(bytes: Vec<u8>) -> Self {
        SharedSecret {
            bytes,
            as_string: false,
        }
    }

    pub(crate) fn string(bytes: Vec<u8>) -> Self {
        SharedSecret { bytes, as_string: true }
    }

    /// Appends K as it goes into the exchange hash and the key derivation.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        if self.as_string {
            w.string(&self.bytes);
        } else {
            w.mpint_unsigned(&self.bytes);
        }
    }
}

impl Drop for SharedSecret {
    fn drop(&mut self) {
        self.bytes.iter_mut().for_each(|b| *b = 0);
    }
}

/// The client's half of a key exchange in progress.
pub enum ClientKex {
    /// curve25519-sha256.
    Curve25519(curve25519::Client),
    /// ecdh-sha2-nistp*.
    Ecdh(ecdh::Client),
    /// mlkem768x25519-sha256.
    MlKem(mlkem::Client),
    /// diffie-hellman-group14-sha256.
    Dh(dh::Client),
}

impl ClientKex {
    /// Generates the ephemeral key(s) for `kex`.
    pub fn start(kex: &str) -> Result<Self> {
        Ok(match kex {
            "curve25519-sha256" | "curve25519-sha256@libssh.org" => ClientKex::Curve25519(curve25519::Client::new()?),
            "ecdh-sha2-nistp256" | "ecdh-sha2-nistp384" | "ecdh-sha2-nistp521" => {
                ClientKex::Ecdh(ecdh::Client::new(kex)?)
            }
            "mlkem768x25519-sha256" => ClientKex::MlKem(mlkem::Client::new()?),
            "diffie-hellman-group14-sha256" | "diffie-hellman-group16-sha512" | "diffie-hellman-group18-sha512" => {
                ClientKex::Dh(dh::Client::new(kex)?)
            }
            _ => return Err(Error::Kex(format!("unsupported key exchange {kex}"))),
        })
    }

    /// The public value as it goes on the wire (string or mpint, length included) and into the exchange hash.
    pub fn encoded_public(&self) -> &[u8] {
        match self {
            ClientKex::Curve25519(c) => &c.encoded,
            ClientKex::Ecdh(c) => &c.encoded,
            ClientKex::MlKem(c) => &c.encoded,
            ClientKex::Dh(c) => &c.encoded,
        }
    }

    /// Computes K from the server's public value (string contents or mpint magnitude), validating it.
    pub fn finish(self, server_public: &[u8]) -> Result<SharedSecret> {
        match self {
            ClientKex::Curve25519(c) => c.finish(server_public),
            ClientKex::Ecdh(c) => c.finish(server_public),
            ClientKex::MlKem(c) => c.finish(server_public),
            ClientKex::Dh(c) => c.finish(server_public),
        }
    }
}

/// Server side: from the client's public value, the server's encoded public value and K.
pub fn server_respond(kex: &str, client_public: &[u8]) -> Result<(Vec<u8>, SharedSecret)> {
    match kex {
        "curve25519-sha256" | "curve25519-sha256@libssh.org" => curve25519::server(client_public),
        "ecdh-sha2-nistp256" | "ecdh-sha2-nistp384" | "ecdh-sha2-nistp521" => ecdh::server(kex, client_public),
        "mlkem768x25519-sha256" => mlkem::server(client_public),
        "diffie-hellman-group14-sha256" | "diffie-hellman-group16-sha512" | "diffie-hellman-group18-sha512" => {
            dh::server(kex, client_public)
        }
        _ => Err(Error::Kex(format!("unsupported key exchange {kex}"))),
    }
}

/// RFC 4253 §7.2: HASH(K || H || letter || session_id), extended with HASH(K || H || so far) to `len` bytes.
pub fn derive_key(hash: HashAlg, k_encoded: &[u8], h: &[u8], letter: u8, session_id: &[u8], len: usize) -> Vec<u8> {
    let mut ctx = digest::Context::new(hash.algorithm());
    ctx.update(k_encoded);
    ctx.update(h);
    ctx.update(&[letter]);
    ctx.update(session_id);
    let mut out = ctx.finish().as_ref().to_vec();
    while out.len() < len {
        let mut ctx = digest::Context::new(hash.algorithm());
        ctx.update(k_encoded);
        ctx.update(h);
        ctx.update(&out);
        out.extend_from_slice(ctx.finish().as_ref());
    }
    out.truncate(len);
    out
}

/// Encodes bytes as an SSH string.
fn encode_string(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 4);
    Writer::new(&mut out).string(v);
    out
}

fn kex_err(what: &str) -> impl Fn(aws_lc_rs::error::Unspecified) -> Error + '_ {
    move |_| Error::Kex(what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Reader;

    fn decoded(kex: &str, encoded: &[u8]) -> Vec<u8> {
        let mut r = Reader::new(encoded);
        if public_is_mpint(kex) {
            r.mpint_unsigned()
        } else {
            r.string()
        }
        .unwrap()
        .to_vec()
    }

    #[test]
    fn every_method_agrees_between_client_and_server() {
        for kex in KEX_ALGORITHMS {
            let c = ClientKex::start(kex).unwrap();
            let (server_pub, server_k) = server_respond(kex, &decoded(kex, c.encoded_public())).unwrap();
            let client_k = c.finish(&decoded(kex, &server_pub)).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            client_k.encode(&mut a);
            server_k.encode(&mut b);
            assert_eq!(a, b, "{kex}");
            assert!(a.len() > 20, "{kex}");
        }
    }

    #[test]
    fn bad_public_values_are_refused() {
        for kex in KEX_ALGORITHMS {
            assert!(server_respond(kex, &[]).is_err(), "{kex} empty");
            if !public_is_mpint(kex) {
                assert!(server_respond(kex, &[1; 7]).is_err(), "{kex} short");
            }
            let c = ClientKex::start(kex).unwrap();
            assert!(c.finish(&[0; 3]).is_err(), "{kex} client short");
        }
        // All-zero X25519 point gives an all-zero shared secret: refused.
        assert!(server_respond("curve25519-sha256", &[0; 32]).is_err());
        // A P-256 "point" that is not on the curve.
        let mut bogus = vec![4u8];
        bogus.extend([7u8; 64]);
        assert!(server_respond("ecdh-sha2-nistp256", &bogus).is_err());
        // DH: f = 1 and f = p - 1 are refused.
        assert!(server_respond("diffie-hellman-group14-sha256", &[1]).is_err());
        assert!(server_respond("diffie-hellman-group14-sha256", &dh::p_minus_one()).is_err());
    }

    #[test]
    fn derive_key_extends_by_rehashing() {
        let k = [0, 0, 0, 1, 5];
        let short = derive_key(HashAlg::Sha256, &k, b"H", b'A', b"sid", 32);
        let long = derive_key(HashAlg::Sha256, &k, b"H", b'A', b"sid", 64);
        assert_eq!(&long[..32], &short[..]);
        let mut next = Vec::new();
        next.extend_from_slice(&k);
        next.extend_from_slice(b"H");
        next.extend_from_slice(&short);
        assert_eq!(&long[32..], HashAlg::Sha256.digest(&next).as_slice());
        assert_eq!(derive_key(HashAlg::Sha512, &k, b"H", b'C', b"sid", 12).len(), 12);
    }
}
