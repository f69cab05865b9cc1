//! mlkem768x25519-sha256 (draft-ietf-sshm-mlkem-hybrid-kex, OpenSSH 10's default): ML-KEM-768 combined with
//! X25519. The client sends its encapsulation key followed by its X25519 key; the server answers with the
//! ciphertext followed by its X25519 key; K = SHA-256(ML-KEM secret || X25519 secret), encoded as a string.

use aws_lc_rs::kem::{DecapsulationKey, EncapsulationKey, ML_KEM_768};
use zeroize::Zeroizing;

use super::{curve25519, encode_string, kex_err, SharedSecret};
use crate::error::{Error, Result};

const EK_LEN: usize = 1184;
const CT_LEN: usize = 1088;

/// The client's ML-KEM decapsulation key and X25519 key.
pub struct Client {
    dk: DecapsulationKey,
    x: aws_lc_rs::agreement::EphemeralPrivateKey,
    pub(super) encoded: Vec<u8>,
}

fn combine(mlkem: &[u8], x25519: &[u8]) -> SharedSecret {
    let mut both = Zeroizing::new(Vec::with_capacity(mlkem.len() + x25519.len()));
    both.extend_from_slice(mlkem);
    both.extend_from_slice(x25519);
    let k = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &both)
        .as_ref()
        .to_vec();
    SharedSecret::string(k)
}

impl Client {
    pub(super) fn new() -> Result<Self> {
        let dk = DecapsulationKey::generate(&ML_KEM_768).map_err(kex_err("ML-KEM keygen"))?;
        let ek = dk.encapsulation_key().map_err(kex_err("ML-KEM public key"))?;
        let ek = ek.key_bytes().map_err(kex_err("ML-KEM public key"))?;
        let (x, xpub) = curve25519::keypair()?;
        let mut init = ek.as_ref().to_vec();
        init.extend_from_slice(&xpub);
        Ok(Client {
            dk,
            x,
            encoded: encode_string(&init),
        })
    }

    pub(super) fn finish(self, reply: &[u8]) -> Result<SharedSecret> {
        if reply.len() != CT_LEN + 32 {
            return Err(Error::Kex(format!(
                "ML-KEM reply of {} bytes, expected {}",
                reply.len(),
                CT_LEN + 32
            )));
        }
        let (ct, xpub) = reply.split_at(CT_LEN);
        let ss = self
            .dk
            .decapsulate(ct.into())
            .map_err(kex_err("ML-KEM decapsulation"))?;
        let xs = curve25519::raw_agree(self.x, xpub)?;
        Ok(combine(ss.as_ref(), &xs))
    }
}

pub(super) fn server(init: &[u8]) -> Result<(Vec<u8>, SharedSecret)> {
    if init.len() != EK_LEN + 32 {
        return Err(Error::Kex(format!(
            "ML-KEM client value of {} bytes, expected {}",
            init.len(),
            EK_LEN + 32
        )));
    }
    let (ek, xpub) = init.split_at(EK_LEN);
    let ek =
        EncapsulationKey::new(&ML_KEM_768, ek).map_err(|_| Error::Kex("invalid ML-KEM encapsulation key".into()))?;
    let (ct, ss) = ek.encapsulate().map_err(kex_err("ML-KEM encapsulation"))?;
    let (x, my_xpub) = curve25519::keypair()?;
    let xs = curve25519::raw_agree(x, xpub)?;
    let mut reply = ct.as_ref().to_vec();
    reply.extend_from_slice(&my_xpub);
    Ok((encode_string(&reply), combine(ss.as_ref(), &xs)))
}
