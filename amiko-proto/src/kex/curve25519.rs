//! curve25519-sha256 (RFC 8731): X25519 with K as an mpint of the shared point.

use aws_lc_rs::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::rand::SystemRandom;
use zeroize::Zeroizing;

use super::{encode_string, kex_err, SharedSecret};
use crate::error::{Error, Result};

/// The client's ephemeral key.
pub struct Client {
    private: EphemeralPrivateKey,
    pub(super) encoded: Vec<u8>,
}

impl Client {
    pub(super) fn new() -> Result<Self> {
        let (private, public) = keypair()?;
        Ok(Client {
            private,
            encoded: encode_string(&public),
        })
    }

    pub(super) fn finish(self, server_public: &[u8]) -> Result<SharedSecret> {
        agree(self.private, server_public)
    }
}

pub(super) fn keypair() -> Result<(EphemeralPrivateKey, Vec<u8>)> {
    let private = EphemeralPrivateKey::generate(&X25519, &SystemRandom::new()).map_err(kex_err("X25519 keygen"))?;
    let public = private
        .compute_public_key()
        .map_err(kex_err("X25519 public key"))?
        .as_ref()
        .to_vec();
    Ok((private, public))
}

/// The raw X25519 shared secret, refusing bad lengths and the all-zero result (RFC 8731 §3, RFC 7748 §6.1).
pub(super) fn raw_agree(private: EphemeralPrivateKey, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if peer.len() != 32 {
        return Err(Error::Kex(format!("X25519 public key of {} bytes", peer.len())));
    }
    let secret = agree_ephemeral(
        private,
        UnparsedPublicKey::new(&X25519, peer),
        Error::Kex("X25519".into()),
        |s| Ok(Zeroizing::new(s.to_vec())),
    )?;
    if secret.iter().all(|&b| b == 0) {
        return Err(Error::Kex("X25519 shared secret is zero".into()));
    }
    Ok(secret)
}

fn agree(private: EphemeralPrivateKey, peer: &[u8]) -> Result<SharedSecret> {
    let mut secret = raw_agree(private, peer)?;
    Ok(SharedSecret::mpint(std::mem::take(&mut *secret)))
}

pub(super) fn server(client_public: &[u8]) -> Result<(Vec<u8>, SharedSecret)> {
    let (private, public) = keypair()?;
    let k = agree(private, client_public)?;
    Ok((encode_string(&public), k))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::agreement::{agree, PrivateKey, UnparsedPublicKey, X25519};

    use super::SharedSecret;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn encoded(k: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        SharedSecret::mpint(k).encode(&mut out);
        out
    }

    /// RFC 7748 §6.1: both sides reach the published K, and K goes into the hash as an mpint (RFC 8731 §3).
    #[test]
    fn rfc7748_section_6_1_vector() {
        let alice = unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let alice_pub = unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let bob = unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let bob_pub = unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let k = unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

        let alice = PrivateKey::from_private_key(&X25519, &alice).unwrap();
        let bob = PrivateKey::from_private_key(&X25519, &bob).unwrap();
        assert_eq!(alice.compute_public_key().unwrap().as_ref(), alice_pub.as_slice());
        assert_eq!(bob.compute_public_key().unwrap().as_ref(), bob_pub.as_slice());
        let ka = agree(
            &alice,
            UnparsedPublicKey::new(&X25519, &bob_pub),
            (),
            |s| Ok(s.to_vec()),
        )
        .unwrap();
        let kb = agree(
            &bob,
            UnparsedPublicKey::new(&X25519, &alice_pub),
            (),
            |s| Ok(s.to_vec()),
        )
        .unwrap();
        assert_eq!(ka, k);
        assert_eq!(kb, k);

        // 0x4a has its high bit clear: the mpint is the 32 bytes as they are.
        let mut want = vec![0, 0, 0, 32];
        want.extend_from_slice(&k);
        assert_eq!(encoded(ka), want);
    }

    /// RFC 8731 §3: the 32 bytes are a big-endian unsigned integer, so the mpint drops leading zero bytes and
    /// gains a zero byte before a first byte with its high bit set.
    #[test]
    fn shared_secret_mpint_rule() {
        let mut high = vec![0x80u8; 32];
        high[31] = 1;
        let mut want = vec![0, 0, 0, 33, 0];
        want.extend_from_slice(&high);
        assert_eq!(encoded(high), want);

        let mut leading_zeros = vec![0u8; 32];
        leading_zeros[2] = 0x7f;
        leading_zeros[31] = 9;
        let mut want = vec![0, 0, 0, 30];
        want.extend_from_slice(&leading_zeros[2..]);
        assert_eq!(encoded(leading_zeros), want);

        // Leading zero followed by a high-bit byte: strip, then pad.
        let mut both = vec![0u8; 32];
        both[1] = 0xff;
        let mut want = vec![0, 0, 0, 32, 0];
        want.extend_from_slice(&both[1..]);
        assert_eq!(encoded(both), want);
    }
}
