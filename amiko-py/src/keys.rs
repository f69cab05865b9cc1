//! Private and public keys for the Python `PKey` classes.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

fn key_error(e: amiko_proto::Error) -> PyErr {
    let text = e.to_string();
    let text = text.trim_start_matches("key error: ");
    Python::attach(|py| {
        let class = if text.contains("passphrase") {
            "PasswordRequiredException"
        } else {
            "SSHException"
        };
        match py
            .import("amiko.ssh_exception")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.call1((text,)))
        {
            Ok(v) => PyErr::from_value(v),
            Err(e) => e,
        }
    })
}

/// A private key: Ed25519, ECDSA (P-256/384/521) or RSA, loaded from OpenSSH or PEM text or generated.
#[pyclass(frozen, module = "amiko._native")]
pub struct PrivateKey {
    pub(crate) inner: amiko_proto::keys::PrivateKey,
}

#[pymethods]
impl PrivateKey {
    /// Parses OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`) or PEM/PKCS#8 text; `passphrase` for encrypted ones.
    #[staticmethod]
    #[pyo3(signature = (text, passphrase=None))]
    fn from_text(text: &str, passphrase: Option<&str>) -> PyResult<Self> {
        let inner = amiko_proto::keys::PrivateKey::from_text(text, passphrase).map_err(key_error)?;
        Ok(PrivateKey { inner })
    }

    /// Whether the text is an encrypted key (it needs a passphrase).
    #[staticmethod]
    fn is_encrypted(text: &str) -> bool {
        amiko_proto::keys::PrivateKey::is_encrypted(text)
    }

    /// A new key: kind "ed25519", "ecdsa" (bits 256, 384, 521) or "rsa" (bits ≥ 2048).
    #[staticmethod]
    #[pyo3(signature = (kind, bits=None))]
    fn generate(kind: &str, bits: Option<u32>) -> PyResult<Self> {
        use amiko_proto::keys::PrivateKey as K;
        let inner = match kind {
            "ed25519" => K::generate_ed25519(),
            "ecdsa" => K::generate_ecdsa(bits.unwrap_or(256)),
            "rsa" => K::generate_rsa(bits.unwrap_or(3072) as usize),
            other => return Err(PyValueError::new_err(format!("unknown key kind {other:?}"))),
        }
        .map_err(key_error)?;
        Ok(PrivateKey { inner })
    }

    /// The public half.
    fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.public_key(),
        }
    }

    /// Signs `data` with `algorithm` (e.g. "rsa-sha2-256"; None: the key's first algorithm); returns the SSH
    /// signature blob.
    #[pyo3(signature = (data, algorithm=None))]
    fn sign<'py>(&self, py: Python<'py>, data: &[u8], algorithm: Option<&str>) -> PyResult<Bound<'py, PyBytes>> {
        let algs = self.inner.signature_algorithms();
        let alg = algorithm.or(algs.first().copied()).unwrap_or_default();
        let sig = self.inner.sign(alg, data).map_err(key_error)?;
        Ok(PyBytes::new(py, &sig))
    }

    /// The key in OpenSSH's private key format (unencrypted).
    fn to_openssh_text(&self) -> PyResult<String> {
        self.inner.to_openssh_text().map_err(key_error)
    }
}

/// A public key (a server's host key, or the public half of a private key).
#[pyclass(frozen, module = "amiko._native")]
pub struct PublicKey {
    pub(crate) inner: amiko_proto::keys::PublicKey,
}

#[pymethods]
impl PublicKey {
    /// Parses a wire blob.
    #[staticmethod]
    fn from_blob(blob: &[u8]) -> PyResult<Self> {
        let inner = amiko_proto::keys::PublicKey::from_blob(blob).map_err(key_error)?;
        Ok(PublicKey { inner })
    }

    /// Parses `type base64 [comment]`.
    #[staticmethod]
    fn from_openssh(line: &str) -> PyResult<Self> {
        let inner = amiko_proto::keys::PublicKey::from_openssh(line).map_err(key_error)?;
        Ok(PublicKey { inner })
    }

    /// The wire blob.
    fn blob<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.blob())
    }

    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...
    fn key_type(&self) -> String {
        self.inner.key_type().to_string()
    }

    /// `SHA256:...` as ssh-keygen prints it.
    fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }

    /// Whether `signature` (an SSH signature blob) is a valid signature of `data` by this key.
    fn verify(&self, data: &[u8], signature: &[u8]) -> bool {
        self.inner.verify(data, signature).is_ok()
    }
}
