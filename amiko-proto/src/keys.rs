//! Public and private keys: parsing with the `ssh-key` crate, signing and verifying with aws-lc-rs.
//!
//! Host keys and user keys: ssh-ed25519 (RFC 8709), ecdsa-sha2-nistp256/384/521 (RFC 5656), RSA with
//! rsa-sha2-256/512 (RFC 8332; ssh-rsa SHA-1 only verified, never produced).

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use ssh_key::private::KeypairData;
use ssh_key::public::KeyData;

use crate::error::{Error, Result};
use crate::wire::{Reader, Writer};

fn key_err(e: impl std::fmt::Display) -> Error {
    Error::Key(e.to_string())
}

/// A public key, kept with its wire blob (RFC 4253 §6.6).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    blob: Vec<u8>,
    data: KeyData,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({} {})", self.key_type(), self.fingerprint())
    }
}

impl PublicKey {
    /// Parses a key blob.
    pub fn from_blob(blob: &[u8]) -> Result<Self> {
        let key = ssh_key::PublicKey::from_bytes(blob).map_err(key_err)?;
        Ok(PublicKey {
            blob: blob.to_vec(),
            data: key.key_data().clone(),
        })
    }

    fn from_data(data: KeyData) -> Result<Self> {
        let blob = ssh_key::PublicKey::from(data.clone()).to_bytes().map_err(key_err)?;
        Ok(PublicKey { blob, data })
    }

    /// The wire blob.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The key type name: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...
    pub fn key_type(&self) -> &str {
        match &self.data {
            KeyData::Ed25519(_) => "ssh-ed25519",
            KeyData::Rsa(_) => "ssh-rsa",
            KeyData::Ecdsa(e) => match e.curve() {
                ssh_key::EcdsaCurve::NistP256 => "ecdsa-sha2-nistp256",
                ssh_key::EcdsaCurve::NistP384 => "ecdsa-sha2-nistp384",
                ssh_key::EcdsaCurve::NistP521 => "ecdsa-sha2-nistp521",
            },
            _ => "unsupported",
        }
    }

    /// Parses an `authorized_keys` / `.pub` line: `type base64 [comment]`.
    pub fn from_openssh(line: &str) -> Result<Self> {
        let key = ssh_key::PublicKey::from_openssh(line.trim()).map_err(key_err)?;
        Self::from_data(key.key_data().clone())
    }

    /// `type base64`, as in known_hosts and authorized_keys.
    pub fn to_openssh(&self) -> String {
        ssh_key::PublicKey::from(self.data.clone())
            .to_openssh()
            .unwrap_or_default()
    }

    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        ssh_key::PublicKey::from(self.data.clone())
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string()
    }

    /// Verifies an SSH signature blob (`string algorithm, string signature`) over `data`; returns the algorithm.
    pub fn verify(&self, data: &[u8], signature: &[u8]) -> Result<String> {
        let mut r = Reader::new(signature);
        let alg = r.utf8()?.to_string();
        let sig = r.string()?;
        r.finish()?;
        let bad = |_| Error::Key(format!("{alg} signature does not verify"));
        match (&self.data, alg.as_str()) {
            (KeyData::Ed25519(k), "ssh-ed25519") => signature::UnparsedPublicKey::new(&signature::ED25519, &k.0)
                .verify(data, sig)
                .map_err(bad)?,
            (KeyData::Ecdsa(k), a) if a == self.key_type() => {
                let (alg_v, size): (&'static signature::EcdsaVerificationAlgorithm, usize) = match k.curve() {
                    ssh_key::EcdsaCurve::NistP256 => (&signature::ECDSA_P256_SHA256_FIXED, 32),
                    ssh_key::EcdsaCurve::NistP384 => (&signature::ECDSA_P384_SHA384_FIXED, 48),
                    ssh_key::EcdsaCurve::NistP521 => (&signature::ECDSA_P521_SHA512_FIXED, 66),
                };
                let mut sr = Reader::new(sig);
                let (r_, s_) = (sr.mpint_unsigned()?, sr.mpint_unsigned()?);
                if r_.len() > size || s_.len() > size {
                    return Err(Error::Key("ECDSA signature component too long".into()));
                }
                let mut fixed = vec![0u8; 2 * size];
                fixed[size - r_.len()..size].copy_from_slice(r_);
                fixed[2 * size - s_.len()..].copy_from_slice(s_);
                signature::UnparsedPublicKey::new(alg_v, k.as_sec1_bytes())
                    .verify(data, &fixed)
                    .map_err(bad)?
            }
            (KeyData::Rsa(k), a @ ("rsa-sha2-256" | "rsa-sha2-512" | "ssh-rsa")) => {
                let params = match a {
                    "rsa-sha2-256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                    "rsa-sha2-512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                    _ => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                };
                let n =
                    k.n.as_positive_bytes()
                        .ok_or_else(|| Error::Key("bad RSA modulus".into()))?;
                let e =
                    k.e.as_positive_bytes()
                        .ok_or_else(|| Error::Key("bad RSA exponent".into()))?;
                signature::RsaPublicKeyComponents { n, e }
                    .verify(params, data, sig)
                    .map_err(bad)?
            }
            _ => {
                return Err(Error::Key(format!(
                    "signature algorithm {alg} does not fit a {} key",
                    self.key_type()
                )))
            }
        }
        Ok(alg)
    }
}

enum Signer {
    Ed25519(Ed25519KeyPair),
    Ecdsa(EcdsaKeyPair, &'static str, usize),
    Rsa(RsaKeyPair),
}

/// A private key that can sign. Cheap to clone.
#[derive(Clone)]
pub struct PrivateKey {
    signer: Arc<Signer>,
    public: PublicKey,
    openssh: Option<Arc<ssh_key::PrivateKey>>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?})", self.public)
    }
}

fn ecdsa_alg(name: &str) -> Option<(&'static signature::EcdsaSigningAlgorithm, &'static str, usize)> {
    Some(match name {
        "ecdsa-sha2-nistp256" => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "ecdsa-sha2-nistp256", 32),
        "ecdsa-sha2-nistp384" => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "ecdsa-sha2-nistp384", 48),
        "ecdsa-sha2-nistp521" => (&signature::ECDSA_P521_SHA512_FIXED_SIGNING, "ecdsa-sha2-nistp521", 66),
        _ => return None,
    })
}

impl PrivateKey {
    /// Whether a key file's text is encrypted (needs a passphrase).
    pub fn is_encrypted(text: &str) -> bool {
        if text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
            return true;
        }
        ssh_key::PrivateKey::from_openssh(text.trim()).is_ok_and(|k| k.is_encrypted())
    }

    /// Parses a key file: OpenSSH format (encrypted too, with `passphrase`), or PEM PKCS#1 RSA, SEC1 EC, PKCS#8.
    pub fn from_text(text: &str, passphrase: Option<&str>) -> Result<Self> {
        let text = text.trim();
        if text.contains("BEGIN OPENSSH PRIVATE KEY") {
            let mut key = ssh_key::PrivateKey::from_openssh(text).map_err(key_err)?;
            if key.is_encrypted() {
                let pass =
                    passphrase.ok_or_else(|| Error::Key("the key is encrypted: a passphrase is needed".into()))?;
                key = key
                    .decrypt(pass)
                    .map_err(|_| Error::Key("wrong passphrase for the encrypted key".into()))?;
            }
            return Self::from_ssh_key(key);
        }
        if text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
            return Err(Error::Key(
                "legacy encrypted PEM keys are not supported: convert with `ssh-keygen -p -f FILE` (OpenSSH format)"
                    .into(),
            ));
        }
        let (label, der) = pem_decode(text)?;
        let signer = match label.as_str() {
            "RSA PRIVATE KEY" => Signer::Rsa(RsaKeyPair::from_der(&der).map_err(key_err)?),
            "EC PRIVATE KEY" => ["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"]
                .iter()
                .find_map(|n| {
                    let (alg, name, size) = ecdsa_alg(n)?;
                    EcdsaKeyPair::from_private_key_der(alg, &der)
                        .ok()
                        .map(|k| Signer::Ecdsa(k, name, size))
                })
                .ok_or_else(|| Error::Key("unsupported EC private key".into()))?,
            "PRIVATE KEY" => {
                if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
                    Signer::Ed25519(k)
                } else if let Ok(k) = RsaKeyPair::from_pkcs8(&der) {
                    Signer::Rsa(k)
                } else {
                    ["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"]
                        .iter()
                        .find_map(|n| {
                            let (alg, name, size) = ecdsa_alg(n)?;
                            EcdsaKeyPair::from_pkcs8(alg, &der)
                                .ok()
                                .map(|k| Signer::Ecdsa(k, name, size))
                        })
                        .ok_or_else(|| Error::Key("unsupported PKCS#8 private key".into()))?
                }
            }
            other => return Err(Error::Key(format!("unsupported key file ({other})"))),
        };
        let public = public_of(&signer)?;
        Ok(PrivateKey {
            signer: Arc::new(signer),
            public,
            openssh: None,
        })
    }

    fn from_ssh_key(key: ssh_key::PrivateKey) -> Result<Self> {
        let signer = match key.key_data() {
            KeypairData::Ed25519(kp) => Signer::Ed25519(
                Ed25519KeyPair::from_seed_and_public_key(&kp.private.to_bytes(), &kp.public.0).map_err(key_err)?,
            ),
            KeypairData::Ecdsa(kp) => {
                let (alg, name, size) = ecdsa_alg(kp.algorithm().as_str()).ok_or_else(|| key_err("curve"))?;
                let k =
                    EcdsaKeyPair::from_private_key_and_public_key(alg, kp.private_key_bytes(), kp.public_key_bytes())
                        .map_err(key_err)?;
                Signer::Ecdsa(k, name, size)
            }
            KeypairData::Rsa(kp) => Signer::Rsa(rsa_from_components(kp)?),
            _ => return Err(Error::Key(format!("unsupported key type {}", key.algorithm()))),
        };
        let public = PublicKey::from_data(key.public_key().key_data().clone())?;
        Ok(PrivateKey {
            signer: Arc::new(signer),
            public,
            openssh: Some(Arc::new(key)),
        })
    }

    /// A new Ed25519 key.
    pub fn generate_ed25519() -> Result<Self> {
        let mut seed = [0u8; 32];
        aws_lc_rs::rand::fill(&mut seed).map_err(key_err)?;
        let kp = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(key_err)?;
        let public: [u8; 32] = kp.public_key().as_ref().try_into().map_err(key_err)?;
        let data = KeypairData::Ed25519(ssh_key::private::Ed25519Keypair {
            public: ssh_key::public::Ed25519PublicKey(public),
            private: ssh_key::private::Ed25519PrivateKey::from_bytes(&seed),
        });
        seed.iter_mut().for_each(|b| *b = 0);
        Self::from_ssh_key(ssh_key::PrivateKey::new(data, "amiko").map_err(key_err)?)
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// Signature algorithms this key produces, best first.
    pub fn signature_algorithms(&self) -> Vec<&'static str> {
        match &*self.signer {
            Signer::Ed25519(_) => vec!["ssh-ed25519"],
            Signer::Ecdsa(_, name, _) => vec![name],
            Signer::Rsa(_) => vec!["rsa-sha2-512", "rsa-sha2-256"],
        }
    }

    /// Signs `data`; returns the SSH signature blob (`string algorithm, string signature`).
    pub fn sign(&self, algorithm: &str, data: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        let mut out = Vec::with_capacity(600);
        let mut w = Writer::new(&mut out);
        match (&*self.signer, algorithm) {
            (Signer::Ed25519(k), "ssh-ed25519") => {
                w.string(algorithm).string(k.sign(data).as_ref());
            }
            (Signer::Ecdsa(k, name, size), a) if a == *name => {
                let sig = k.sign(&rng, data).map_err(key_err)?;
                let (r, s) = sig.as_ref().split_at(*size);
                w.string(algorithm);
                let start = w.begin_string();
                w.mpint_unsigned(r).mpint_unsigned(s);
                w.end_string(start);
            }
            (Signer::Rsa(k), a @ ("rsa-sha2-256" | "rsa-sha2-512")) => {
                let params = if a == "rsa-sha2-256" {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA512
                };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(params, &rng, data, &mut sig).map_err(key_err)?;
                w.string(algorithm).string(&sig);
            }
            _ => {
                return Err(Error::Key(format!(
                    "cannot sign {algorithm} with a {} key",
                    self.public.key_type()
                )))
            }
        }
        Ok(out)
    }

    /// The key as an unencrypted OpenSSH private key file (keys loaded from OpenSSH files or generated).
    pub fn to_openssh_text(&self) -> Result<String> {
        let k = self
            .openssh
            .as_ref()
            .ok_or_else(|| Error::Key("only OpenSSH-format keys can be written".into()))?;
        Ok(k.to_openssh(ssh_key::LineEnding::LF).map_err(key_err)?.to_string())
    }
}

fn public_of(signer: &Signer) -> Result<PublicKey> {
    let mut blob = Vec::new();
    let mut w = Writer::new(&mut blob);
    match signer {
        Signer::Ed25519(k) => {
            w.string("ssh-ed25519").string(k.public_key().as_ref());
        }
        Signer::Ecdsa(k, name, _) => {
            w.string(name).string(&name[11..]).string(k.public_key().as_ref());
        }
        Signer::Rsa(k) => {
            use aws_lc_rs::rsa::PublicKeyComponents;
            let c: PublicKeyComponents<Vec<u8>> = k.public_key().into();
            w.string("ssh-rsa").mpint_unsigned(&c.e).mpint_unsigned(&c.n);
        }
    }
    PublicKey::from_blob(&blob)
}

/// Builds an aws-lc-rs RSA key from OpenSSH's components via a PKCS#1 DER encoding (ssh-key 0.6.7's own conversion
/// to the `rsa` crate passes `p` twice, so it cannot be used).
fn rsa_from_components(kp: &ssh_key::private::RsaKeypair) -> Result<RsaKeyPair> {
    use num_bigint::BigUint;
    let get = |m: &ssh_key::Mpint| {
        m.as_positive_bytes()
            .map(BigUint::from_bytes_be)
            .ok_or_else(|| Error::Key("bad RSA component".into()))
    };
    let (n, e, d) = (get(&kp.public.n)?, get(&kp.public.e)?, get(&kp.private.d)?);
    let (p, q, iqmp) = (get(&kp.private.p)?, get(&kp.private.q)?, get(&kp.private.iqmp)?);
    let dp = &d % (&p - 1u32);
    let dq = &d % (&q - 1u32);
    let mut body = Vec::new();
    for v in [BigUint::from(0u32), n, e, d, p, q, dp, dq, iqmp] {
        der_integer(&mut body, &v.to_bytes_be());
    }
    let mut der = Vec::with_capacity(body.len() + 8);
    der_header(&mut der, 0x30, body.len());
    der.extend_from_slice(&body);
    RsaKeyPair::from_der(&der).map_err(key_err)
}

fn der_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn der_integer(out: &mut Vec<u8>, magnitude: &[u8]) {
    let pad = magnitude.first().is_none_or(|b| b & 0x80 != 0);
    der_header(out, 0x02, magnitude.len() + pad as usize);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(magnitude);
}

/// Decodes a PEM block: (label, DER).
fn pem_decode(text: &str) -> Result<(String, Vec<u8>)> {
    let begin = text
        .lines()
        .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"));
    let label = begin
        .ok_or_else(|| Error::Key("not a PEM or OpenSSH key file".into()))?
        .to_string();
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .filter(|l| !l.contains(':'))
        .collect::<Vec<_>>()
        .concat();
    use base64ct::Encoding;
    let der = base64ct::Base64::decode_vec(b64.trim()).map_err(|_| Error::Key("bad base64 in PEM key".into()))?;
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn generated_key_signs_and_verifies_and_round_trips() {
        let k = PrivateKey::generate_ed25519().unwrap();
        let sig = k.sign("ssh-ed25519", b"data").unwrap();
        assert_eq!(k.public_key().verify(b"data", &sig).unwrap(), "ssh-ed25519");
        assert!(k.public_key().verify(b"other", &sig).is_err());
        let again = PrivateKey::from_text(&k.to_openssh_text().unwrap(), None).unwrap();
        assert_eq!(again.public_key(), k.public_key());
        let line = k.public_key().to_openssh();
        assert_eq!(PublicKey::from_openssh(&line).unwrap(), k.public_key());
    }

    /// Keys made by ssh-keygen in every type and format load, sign and verify, and give ssh-keygen's fingerprint.
    #[test]
    fn ssh_keygen_keys_in_every_format() {
        if Command::new("ssh-keygen").arg("-?").output().is_err() {
            eprintln!("ssh-keygen not installed; skipping");
            return;
        }
        let dir = std::env::temp_dir().join(format!("amiko-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("ed25519", "", ""),
            ("ecdsa", "256", ""),
            ("ecdsa", "384", "PEM"),
            ("ecdsa", "521", "PKCS8"),
            ("rsa", "2048", ""),
            ("rsa", "2048", "PEM"),
            ("rsa", "2048", "PKCS8"),
            ("ed25519", "", "enc"),
        ];
        for (i, (t, bits, fmt)) in cases.iter().enumerate() {
            let path = dir.join(format!("k{i}"));
            let mut cmd = Command::new("ssh-keygen");
            cmd.args(["-q", "-t", t, "-f"]).arg(&path);
            cmd.args(["-N", if *fmt == "enc" { "pass" } else { "" }]);
            if !bits.is_empty() {
                cmd.args(["-b", bits]);
            }
            if *fmt == "PEM" || *fmt == "PKCS8" {
                cmd.args(["-m", fmt]);
            }
            assert!(cmd.status().unwrap().success());
            let text = std::fs::read_to_string(&path).unwrap();
            let pass = if *fmt == "enc" { Some("pass") } else { None };
            if pass.is_some() {
                assert!(PrivateKey::is_encrypted(&text));
                assert!(PrivateKey::from_text(&text, None)
                    .unwrap_err()
                    .to_string()
                    .contains("passphrase"));
                assert!(PrivateKey::from_text(&text, Some("wrong")).is_err());
            }
            let key = PrivateKey::from_text(&text, pass).unwrap_or_else(|e| panic!("{t} {bits} {fmt}: {e}"));
            let pub_line = std::fs::read_to_string(path.with_extension("pub")).unwrap();
            assert_eq!(
                key.public_key(),
                PublicKey::from_openssh(&pub_line).unwrap(),
                "{t} {fmt}"
            );
            let fp = Command::new("ssh-keygen")
                .arg("-lf")
                .arg(path.with_extension("pub"))
                .output()
                .unwrap();
            let fp = String::from_utf8_lossy(&fp.stdout);
            assert!(fp.contains(&key.public_key().fingerprint()), "{fp}");
            for alg in key.signature_algorithms() {
                let sig = key.sign(alg, b"hello").unwrap();
                assert_eq!(key.public_key().verify(b"hello", &sig).unwrap(), alg);
                assert!(key.public_key().verify(b"hellp", &sig).is_err());
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn garbage_keys_and_signatures_are_errors() {
        assert!(PrivateKey::from_text("nonsense", None).is_err());
        assert!(PublicKey::from_blob(&[0, 0, 0, 3, b'a', b'b']).is_err());
        let k = PrivateKey::generate_ed25519().unwrap();
        let mut sig = Vec::new();
        Writer::new(&mut sig).string("rsa-sha2-256").string([0u8; 64]);
        assert!(k.public_key().verify(b"x", &sig).is_err());
        assert!(k.public_key().verify(b"x", &[0, 0, 0, 9]).is_err());
    }
}
