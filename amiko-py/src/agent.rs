//! The ssh-agent client for Paramiko's `Agent` and `AgentKey`.

use std::path::PathBuf;

use amiko::agent::AgentClient;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::wait;
use crate::keys::PublicKey;

async fn connect(socket: Option<PathBuf>) -> amiko::Result<AgentClient> {
    match socket {
        Some(p) => AgentClient::connect(&p).await,
        None => AgentClient::connect_env().await,
    }
}

/// The agent's keys as (public key, comment) pairs; `socket` defaults to $SSH_AUTH_SOCK.
#[pyfunction]
#[pyo3(signature = (socket=None, timeout=None))]
pub(crate) fn agent_identities(
    py: Python<'_>,
    socket: Option<PathBuf>,
    timeout: Option<f64>,
) -> PyResult<Vec<(PublicKey, String)>> {
    let ids = wait(py, timeout, async move { connect(socket).await?.identities().await })?;
    Ok(ids
        .into_iter()
        .map(|i| (PublicKey { inner: i.key }, i.comment))
        .collect())
}

/// Has the agent sign `data` with `key` (`algorithm`: its default, or rsa-sha2-256/512 for RSA); returns the SSH
/// signature blob.
#[pyfunction]
#[pyo3(signature = (key, data, algorithm=None, socket=None, timeout=None))]
pub(crate) fn agent_sign<'py>(
    py: Python<'py>,
    key: &PublicKey,
    data: Vec<u8>,
    algorithm: Option<String>,
    socket: Option<PathBuf>,
    timeout: Option<f64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let key = key.inner.clone();
    let alg = algorithm.unwrap_or_else(|| {
        key.signature_algorithms()
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default()
    });
    let sig = wait(py, timeout, async move {
        connect(socket).await?.sign(&key, &alg, &data).await
    })?;
    Ok(PyBytes::new(py, &sig))
}
