//! diffie-hellman-group14-sha256 (RFC 8268) over the 2048-bit MODP group of RFC 3526 §3.
//!
//! num-bigint's modpow is not constant time; this method is last in our preferences and kept for old peers.

use num_bigint::BigUint;

use super::SharedSecret;
use crate::error::{Error, Result};
use crate::wire::Writer;

const P_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD\
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F2411\
7C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D\
670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497C\
EA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

fn p() -> BigUint {
    BigUint::parse_bytes(P_HEX.as_bytes(), 16).unwrap_or_default()
}

#[cfg(test)]
pub(super) fn p_minus_one() -> Vec<u8> {
    (p() - 1u32).to_bytes_be()
}

/// The client's private exponent.
pub struct Client {
    x: BigUint,
    pub(super) encoded: Vec<u8>,
}

fn keypair() -> (BigUint, Vec<u8>) {
    // 512 random bits: twice the 256-bit security of SHA-256, as RFC 8268 §4 suggests.
    let mut bytes = [0u8; 64];
    crate::rng::fill(&mut bytes);
    let x = BigUint::from_bytes_be(&bytes) | BigUint::from(2u32);
    let e = BigUint::from(2u32).modpow(&x, &p());
    let mut encoded = Vec::new();
    Writer::new(&mut encoded).mpint_unsigned(&e.to_bytes_be());
    (x, encoded)
}

fn agree(x: &BigUint, peer: &[u8]) -> Result<SharedSecret> {
    let p = p();
    let f = BigUint::from_bytes_be(peer);
    // RFC 4253 §8: values outside [1, p-1] are refused; 1 and p-1 also give a trivial secret.
    if f <= BigUint::from(1u32) || f >= &p - 1u32 {
        return Err(Error::Kex("DH public value out of range".into()));
    }
    Ok(SharedSecret::mpint(f.modpow(x, &p).to_bytes_be()))
}

impl Client {
    pub(super) fn new() -> Result<Self> {
        let (x, encoded) = keypair();
        Ok(Client { x, encoded })
    }

    pub(super) fn finish(self, server_public: &[u8]) -> Result<SharedSecret> {
        agree(&self.x, server_public)
    }
}

pub(super) fn server(client_public: &[u8]) -> Result<(Vec<u8>, SharedSecret)> {
    let (y, encoded) = keypair();
    let k = agree(&y, client_public)?;
    Ok((encoded, k))
}
