//! An ssh-agent client (draft-miller-ssh-agent): list the agent's keys and have it sign, over `$SSH_AUTH_SOCK`.
//!
//! The messages are encoded and decoded by the `ssh-agent-lib` crate (its protocol types only, without its own
//! clients); the framing is done here so that a reply is bounded (256 KiB, as OpenSSH's agent and ssh bound it)
//! and every failure is a typed error.
//!
//! ```no_run
//! # async fn f() -> amiko::Result<()> {
//! let mut agent = amiko::agent::AgentClient::connect_env().await?;
//! for id in agent.identities().await? {
//!     println!("{} {}", id.key.fingerprint(), id.comment);
//! }
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use amiko_proto::keys::PublicKey;
use ssh_agent_lib::proto::{PublicCredential, Request, Response, SignRequest};
use ssh_agent_lib::ssh_encoding::{Decode, Encode};
use ssh_agent_lib::ssh_key::public::KeyData;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::error::{Error, Result};

/// Largest agent message accepted (OpenSSH's AGENT_MAX_LEN): a longer length prefix is an error, not an
/// allocation.
pub const MAX_AGENT_MESSAGE: usize = 256 * 1024;
/// An agent that does not answer within this long (a confirmation prompt nobody sees, a wedged agent) is given up.
const AGENT_TIMEOUT: Duration = Duration::from_secs(30);

/// SSH_AGENT_RSA_SHA2_256 and _512 signature flags (draft-miller-ssh-agent §3.6.1).
const RSA_SHA2_256: u32 = 2;
const RSA_SHA2_512: u32 = 4;

/// A key the agent holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    /// Its public key.
    pub key: PublicKey,
    /// The comment the agent keeps with it (often the key file's name).
    pub comment: String,
}

/// A connection to an ssh-agent.
#[derive(Debug)]
pub struct AgentClient {
    stream: UnixStream,
}

fn agent_err(what: impl std::fmt::Display) -> Error {
    Error::Agent(what.to_string())
}

/// The agent socket named by `$SSH_AUTH_SOCK`, if set and not empty.
pub fn env_socket() -> Option<PathBuf> {
    std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

impl AgentClient {
    /// Connects to the agent listening on the Unix socket `path`.
    pub async fn connect(path: &Path) -> Result<AgentClient> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|e| Error::io(format!("connecting to the agent at {}", path.display()), e))?;
        Ok(AgentClient { stream })
    }

    /// Connects to the agent of `$SSH_AUTH_SOCK`.
    pub async fn connect_env() -> Result<AgentClient> {
        let path = env_socket().ok_or_else(|| agent_err("SSH_AUTH_SOCK is not set"))?;
        Self::connect(&path).await
    }

    /// Sends one request and reads one reply, within [`MAX_AGENT_MESSAGE`] and a timeout.
    async fn call(&mut self, request: Request) -> Result<Response> {
        let mut out = Vec::with_capacity(256);
        let len = request.encoded_len().map_err(agent_err)?;
        (len as u32).encode(&mut out).map_err(agent_err)?;
        request.encode(&mut out).map_err(agent_err)?;
        let exchange = async {
            self.stream.write_all(&out).await?;
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await?;
            let len = u32::from_be_bytes(len) as usize;
            if len == 0 || len > MAX_AGENT_MESSAGE {
                return Ok(Err(agent_err(format!("agent sent a {len}-byte message"))));
            }
            let mut body = vec![0u8; len];
            self.stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(Ok(body))
        };
        let body = tokio::time::timeout(AGENT_TIMEOUT, exchange)
            .await
            .map_err(|_| agent_err("the agent did not answer"))?
            .map_err(|e| Error::io("talking to the agent", e))??;
        let mut r = body.as_slice();
        let resp = Response::decode(&mut r).map_err(|e| agent_err(format!("bad message from the agent: {e}")))?;
        if !r.is_empty() {
            return Err(agent_err("agent message has trailing bytes"));
        }
        Ok(resp)
    }

    /// The keys the agent offers. Keys amiko cannot use (certificates, security-key and DSA keys) are left out, as
    /// each is skipped alone rather than failing the list.
    pub async fn identities(&mut self) -> Result<Vec<AgentIdentity>> {
        match self.call(Request::RequestIdentities).await? {
            Response::IdentitiesAnswer(ids) => Ok(ids
                .into_iter()
                .filter_map(|id| {
                    let PublicCredential::Key(k) = id.credential else {
                        return None;
                    };
                    let mut blob = Vec::new();
                    k.encode(&mut blob).ok()?;
                    let key = PublicKey::from_blob(&blob).ok()?;
                    Some(AgentIdentity {
                        key,
                        comment: id.comment,
                    })
                })
                .collect()),
            Response::Failure => Err(agent_err("the agent refused to list its keys")),
            other => Err(agent_err(format!(
                "unexpected answer {} to a key list request",
                other.message_id()
            ))),
        }
    }

    /// Has the agent sign `data` with `key` using `algorithm` (for RSA keys, rsa-sha2-256 or rsa-sha2-512 through
    /// the request's flags). Returns the SSH signature blob (`string algorithm, string signature`).
    pub async fn sign(&mut self, key: &PublicKey, algorithm: &str, data: &[u8]) -> Result<Vec<u8>> {
        let flags = match algorithm {
            "rsa-sha2-256" => RSA_SHA2_256,
            "rsa-sha2-512" => RSA_SHA2_512,
            _ => 0,
        };
        let credential = KeyData::decode(&mut key.blob()).map_err(agent_err)?;
        let request = Request::SignRequest(SignRequest {
            credential: PublicCredential::Key(credential),
            data: data.to_vec(),
            flags,
        });
        match self.call(request).await? {
            Response::SignResponse(sig) => {
                let mut blob = Vec::with_capacity(sig.encoded_len().map_err(agent_err)?);
                sig.encode(&mut blob).map_err(agent_err)?;
                Ok(blob)
            }
            Response::Failure => Err(agent_err(format!(
                "the agent refused to sign with {} {}",
                key.key_type(),
                key.fingerprint()
            ))),
            other => Err(agent_err(format!(
                "unexpected answer {} to a sign request",
                other.message_id()
            ))),
        }
    }
}

/// Blocking wrappers on the blocking API's runtime, for Paramiko's `Agent` in Python.
pub mod blocking {
    use std::path::Path;

    use super::{AgentClient, AgentIdentity};
    use crate::blocking::block_on;
    use crate::error::Result;

    async fn connect(socket: Option<&Path>) -> Result<AgentClient> {
        match socket {
            Some(p) => AgentClient::connect(p).await,
            None => AgentClient::connect_env().await,
        }
    }

    /// The keys of the agent at `socket` (`$SSH_AUTH_SOCK` if None).
    pub fn identities(socket: Option<&Path>) -> Result<Vec<AgentIdentity>> {
        block_on(async { connect(socket).await?.identities().await })
    }

    /// Has the agent at `socket` (`$SSH_AUTH_SOCK` if None) sign `data`; returns the SSH signature blob.
    pub fn sign(
        socket: Option<&Path>,
        key: &amiko_proto::keys::PublicKey,
        algorithm: &str,
        data: &[u8],
    ) -> Result<Vec<u8>> {
        block_on(async { connect(socket).await?.sign(key, algorithm, data).await })
    }
}
