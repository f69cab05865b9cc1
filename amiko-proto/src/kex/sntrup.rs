//! sntrup761x25519-sha512 (draft-josefsson-ntruprime-ssh-02; OpenSSH's default from 9.0 to 9.8 under the
//! `@openssh.com` name): Streamlined NTRU Prime 761 combined with X25519.
//!
//! The client sends its sntrup761 public key followed by its X25519 key; the server answers with the sntrup761
//! ciphertext followed by its X25519 key; K = SHA-512(sntrup761 secret || X25519 secret), encoded as a string
//! (draft §2.1, the same shape as mlkem768x25519-sha256).
//!
//! The KEM comes from the `sntrup761` crate. Its randomness is a 32-byte seed from aws-lc-rs's system generator,
//! expanded by the crate's ChaCha20 generator, so no second source of randomness is involved.

use sntrup761::{Ciphertext, DecapsulationKey, EncapsulationKey, CIPHERTEXT_SIZE, PUBLIC_KEY_SIZE};
use zeroize::Zeroizing;

use super::{curve25519, encode_string, SharedSecret};
use crate::error::{Error, Result};

/// Size of the client's value: sntrup761 public key then X25519 key.
pub(super) const INIT_LEN: usize = PUBLIC_KEY_SIZE + 32;
/// Size of the server's value: sntrup761 ciphertext then X25519 key.
pub(super) const REPLY_LEN: usize = CIPHERTEXT_SIZE + 32;

/// The client's sntrup761 decapsulation key and X25519 key.
pub struct Client {
    dk: DecapsulationKey,
    x: aws_lc_rs::agreement::EphemeralPrivateKey,
    pub(super) encoded: Vec<u8>,
}

/// A fresh seed, wiped when dropped (the crate takes it by value: that copy is the crate's).
fn seed() -> Result<Zeroizing<[u8; 32]>> {
    let mut s = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut *s).map_err(|_| Error::Kex("no randomness for sntrup761".into()))?;
    Ok(s)
}

fn combine(kem: &[u8], x25519: &[u8]) -> SharedSecret {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA512);
    ctx.update(kem);
    ctx.update(x25519);
    SharedSecret::string(ctx.finish().as_ref().to_vec())
}

#[cfg(test)]
pub(super) fn combine_for_test(kem: &[u8], x25519: &[u8]) -> SharedSecret {
    combine(kem, x25519)
}

impl Client {
    pub(super) fn new() -> Result<Self> {
        let (ek, dk) = sntrup761::generate_key_from_seed(*seed()?);
        let (x, xpub) = curve25519::keypair()?;
        let mut init = Vec::with_capacity(INIT_LEN);
        init.extend_from_slice(ek.as_ref());
        init.extend_from_slice(&xpub);
        Ok(Client {
            dk,
            x,
            encoded: encode_string(&init),
        })
    }

    pub(super) fn finish(self, reply: &[u8]) -> Result<SharedSecret> {
        if reply.len() != REPLY_LEN {
            return Err(Error::Kex(format!(
                "sntrup761 reply of {} bytes, expected {REPLY_LEN}",
                reply.len()
            )));
        }
        let (ct, xpub) = reply.split_at(CIPHERTEXT_SIZE);
        let ct = Ciphertext::try_from(ct).map_err(|_| Error::Kex("sntrup761 ciphertext".into()))?;
        // Decapsulation never fails: a bad ciphertext yields a pseudorandom secret (implicit rejection), and the
        // host key signature over the exchange hash then fails to verify.
        let ss = self.dk.decapsulate(&ct);
        let xs = curve25519::raw_agree(self.x, xpub)?;
        Ok(combine(ss.as_ref(), &xs))
    }
}

pub(super) fn server(init: &[u8]) -> Result<(Vec<u8>, SharedSecret)> {
    if init.len() != INIT_LEN {
        return Err(Error::Kex(format!(
            "sntrup761 client value of {} bytes, expected {INIT_LEN}",
            init.len()
        )));
    }
    let (ek, xpub) = init.split_at(PUBLIC_KEY_SIZE);
    let ek = EncapsulationKey::try_from(ek).map_err(|_| Error::Kex("invalid sntrup761 public key".into()))?;
    let (ct, ss) = ek.encapsulate_deterministic(*seed()?);
    let (x, my_xpub) = curve25519::keypair()?;
    let xs = curve25519::raw_agree(x, xpub)?;
    let mut reply = Vec::with_capacity(REPLY_LEN);
    reply.extend_from_slice(ct.as_ref());
    reply.extend_from_slice(&my_xpub);
    Ok((encode_string(&reply), combine(ss.as_ref(), &xs)))
}
