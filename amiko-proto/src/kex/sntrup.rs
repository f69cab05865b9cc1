//! sntrup761x25519-sha512 (draft-josefsson-ntruprime-ssh-02; OpenSSH's default from 9.0 to 9.8 under the
//! `@openssh.com` name): Streamlined NTRU Prime 761 combined with X25519.
//!
//! The client sends its sntrup761 public key followed by its X25519 key; the server answers with the sntrup761
//! ciphertext followed by its X25519 key; K = SHA-512(sntrup761 secret || X25519 secret), encoded as a string
//! (draft §2.1, the same shape as mlkem768x25519-sha256).
//!
//! The KEM is PQClean's, through `amiko-sntrup` (AVX2 code when the CPU has it: key generation takes ~0.14 ms
//! there, against ~10 ms for the pure-Rust crate used before). Its randomness comes from the operating system.

use amiko_sntrup::{Ciphertext, PublicKey, SecretKey, CIPHERTEXT_SIZE, PUBLIC_KEY_SIZE};

use super::{curve25519, encode_string, SharedSecret};
use crate::error::{Error, Result};

/// Size of the client's value: sntrup761 public key then X25519 key.
pub(super) const INIT_LEN: usize = PUBLIC_KEY_SIZE + 32;
/// Size of the server's value: sntrup761 ciphertext then X25519 key.
pub(super) const REPLY_LEN: usize = CIPHERTEXT_SIZE + 32;

/// The client's sntrup761 decapsulation key and X25519 key.
pub struct Client {
    dk: SecretKey,
    x: aws_lc_rs::agreement::EphemeralPrivateKey,
    pub(super) encoded: Vec<u8>,
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
        let (ek, dk) = amiko_sntrup::generate_key();
        let (x, xpub) = curve25519::keypair()?;
        let mut init = Vec::with_capacity(INIT_LEN);
        init.extend_from_slice(&ek);
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
        let ct: &Ciphertext = ct.try_into().map_err(|_| Error::Kex("sntrup761 ciphertext".into()))?;
        // Decapsulation never fails: a bad ciphertext yields a pseudorandom secret (implicit rejection), and the
        // host key signature over the exchange hash then fails to verify.
        let ss = self.dk.decapsulate(ct);
        let xs = curve25519::raw_agree(self.x, xpub)?;
        Ok(combine(&ss[..], &xs))
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
    let ek: &PublicKey = ek
        .try_into()
        .map_err(|_| Error::Kex("invalid sntrup761 public key".into()))?;
    let (ct, ss) = amiko_sntrup::encapsulate(ek);
    let (x, my_xpub) = curve25519::keypair()?;
    let xs = curve25519::raw_agree(x, xpub)?;
    let mut reply = Vec::with_capacity(REPLY_LEN);
    reply.extend_from_slice(&ct);
    reply.extend_from_slice(&my_xpub);
    Ok((encode_string(&reply), combine(&ss[..], &xs)))
}
