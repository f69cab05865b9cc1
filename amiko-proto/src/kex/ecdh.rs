//! ecdh-sha2-nistp256/384/521 (RFC 5656 §4): ECDH on uncompressed points, K as an mpint.

use aws_lc_rs::agreement::{agree_ephemeral, Algorithm, EphemeralPrivateKey, UnparsedPublicKey};
use aws_lc_rs::agreement::{ECDH_P256, ECDH_P384, ECDH_P521};
use aws_lc_rs::rand::SystemRandom;

use super::{encode_string, kex_err, SharedSecret};
use crate::error::{Error, Result};

fn curve(kex: &str) -> &'static Algorithm {
    match kex {
        "ecdh-sha2-nistp384" => &ECDH_P384,
        "ecdh-sha2-nistp521" => &ECDH_P521,
        _ => &ECDH_P256,
    }
}

/// The client's ephemeral key.
pub struct Client {
    private: EphemeralPrivateKey,
    alg: &'static Algorithm,
    pub(super) encoded: Vec<u8>,
}

fn keypair(alg: &'static Algorithm) -> Result<(EphemeralPrivateKey, Vec<u8>)> {
    let private = EphemeralPrivateKey::generate(alg, &SystemRandom::new()).map_err(kex_err("ECDH keygen"))?;
    let public = private
        .compute_public_key()
        .map_err(kex_err("ECDH public key"))?
        .as_ref()
        .to_vec();
    Ok((private, public))
}

fn agree(alg: &'static Algorithm, private: EphemeralPrivateKey, peer: &[u8]) -> Result<SharedSecret> {
    // aws-lc-rs checks that the point is on the curve and not the point at infinity (RFC 5656 §4).
    if peer.first() != Some(&4) {
        return Err(Error::Kex("ECDH public key is not an uncompressed point".into()));
    }
    agree_ephemeral(
        private,
        UnparsedPublicKey::new(alg, peer),
        Error::Kex("invalid ECDH point".into()),
        |s| Ok(SharedSecret::mpint(s.to_vec())),
    )
}

impl Client {
    pub(super) fn new(kex: &str) -> Result<Self> {
        let alg = curve(kex);
        let (private, public) = keypair(alg)?;
        Ok(Client {
            private,
            alg,
            encoded: encode_string(&public),
        })
    }

    pub(super) fn finish(self, server_public: &[u8]) -> Result<SharedSecret> {
        agree(self.alg, self.private, server_public)
    }
}

pub(super) fn server(kex: &str, client_public: &[u8]) -> Result<(Vec<u8>, SharedSecret)> {
    let alg = curve(kex);
    let (private, public) = keypair(alg)?;
    let k = agree(alg, private, client_public)?;
    Ok((encode_string(&public), k))
}
