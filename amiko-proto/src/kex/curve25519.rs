//! curve25519-sha256 (RFC 8731): X25519 with K as an mpint of the shared point.

use aws_lc_rs::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::rand::SystemRandom;

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
pub(super) fn raw_agree(private: EphemeralPrivateKey, peer: &[u8]) -> Result<Vec<u8>> {
    if peer.len() != 32 {
        return Err(Error::Kex(format!("X25519 public key of {} bytes", peer.len())));
    }
    let secret = agree_ephemeral(
        private,
        UnparsedPublicKey::new(&X25519, peer),
        Error::Kex("X25519".into()),
        |s| Ok(s.to_vec()),
    )?;
    if secret.iter().all(|&b| b == 0) {
        return Err(Error::Kex("X25519 shared secret is zero".into()));
    }
    Ok(secret)
}

fn agree(private: EphemeralPrivateKey, peer: &[u8]) -> Result<SharedSecret> {
    Ok(SharedSecret::mpint(raw_agree(private, peer)?))
}

pub(super) fn server(client_public: &[u8]) -> Result<(Vec<u8>, SharedSecret)> {
    let (private, public) = keypair()?;
    let k = agree(private, client_public)?;
    Ok((encode_string(&public), k))
}
