//! One SSH connection, driven step by step as Paramiko's `Transport` is: start (version + key exchange), the
//! host-key decision, authentication attempts, then channels and SFTP.

use std::os::fd::FromRawFd;
use std::sync::{Arc, Mutex};

use amiko::proto::config::{AlgorithmKind, Config, Role};
use amiko::{AuthOutcome, Client, KbdInteractive, Unauthenticated};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use zeroize::Zeroizing;

use crate::channel::Channel;
use crate::errors::{to_py, wait};
use crate::keys::{PrivateKey, PublicKey};
use crate::sftp::Sftp;

enum State {
    Handshaking(Unauthenticated),
    Ready(Client),
    Closed,
}

/// A connection. Methods that wait on the network release the GIL.
#[pyclass(frozen, module = "amiko._native")]
pub struct Session {
    state: Mutex<State>,
    host_key: amiko::PublicKey,
    remote_version: Option<String>,
}

/// An attempt's result as Python sees it: (authenticated, methods that can continue, partial success).
type Attempt = (bool, Vec<String>, bool);

fn attempt_result(o: AuthOutcome) -> Attempt {
    match o {
        AuthOutcome::Success => (true, Vec::new(), false),
        AuthOutcome::Failure { allowed, partial } => (false, allowed, partial),
    }
}

fn closed() -> PyErr {
    to_py(amiko::Error::Config("SSH session not active".into()))
}

/// The engine configuration with algorithm lists in ssh_config syntax applied.
fn proto_config(
    kex: Option<String>,
    host_key_algorithms: Option<String>,
    ciphers: Option<String>,
    macs: Option<String>,
    compress: bool,
) -> PyResult<Config> {
    let mut proto = Config::new(Role::Client);
    proto.set_compression(compress);
    for (kind, spec) in [
        (AlgorithmKind::Kex, kex),
        (AlgorithmKind::HostKey, host_key_algorithms),
        (AlgorithmKind::Cipher, ciphers),
        (AlgorithmKind::Mac, macs),
    ] {
        if let Some(spec) = spec {
            proto.algorithms.apply(kind, &spec).map_err(|e| to_py(e.into()))?;
        }
    }
    Ok(proto)
}

impl Session {
    fn new(u: Unauthenticated) -> Self {
        Session {
            host_key: u.host_key().clone(),
            remote_version: u.remote_version(),
            state: Mutex::new(State::Handshaking(u)),
        }
    }

    fn client(&self) -> PyResult<Client> {
        match &*self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Ready(c) => Ok(c.clone()),
            State::Handshaking(_) => Err(to_py(amiko::Error::Config("not authenticated yet".into()))),
            State::Closed => Err(closed()),
        }
    }

    /// Runs one authentication attempt; on success the connection becomes a client.
    fn auth<F>(&self, py: Python<'_>, timeout: Option<f64>, f: F) -> PyResult<Attempt>
    where
        F: for<'a> FnOnce(
                &'a mut Unauthenticated,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = amiko::Result<AuthOutcome>> + Send + 'a>,
            > + Send,
    {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = match &mut *guard {
            State::Handshaking(u) => wait(py, timeout, f(u))?,
            State::Ready(_) => return Ok((true, Vec::new(), false)),
            State::Closed => return Err(closed()),
        };
        if outcome == AuthOutcome::Success {
            if let State::Handshaking(u) = std::mem::replace(&mut *guard, State::Closed) {
                *guard = State::Ready(u.into_client().map_err(to_py)?);
            }
        }
        Ok(attempt_result(outcome))
    }
}

#[pymethods]
impl Session {
    /// Takes over a connected socket's file descriptor (the caller has detached it) and runs the version exchange
    /// and key exchange until the server's host key is known. Algorithm lists use ssh_config syntax
    /// (`"-aes128-ctr,hmac-sha1"`, `"^curve25519-sha256"`, or a full list).
    #[staticmethod]
    #[pyo3(signature = (fd, unix=false, timeout=None, kex=None, host_key_algorithms=None, ciphers=None, macs=None, compress=false))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        py: Python<'_>,
        fd: i32,
        unix: bool,
        timeout: Option<f64>,
        kex: Option<String>,
        host_key_algorithms: Option<String>,
        ciphers: Option<String>,
        macs: Option<String>,
        compress: bool,
    ) -> PyResult<Session> {
        if fd < 0 {
            return Err(PyValueError::new_err("bad file descriptor"));
        }
        let proto = proto_config(kex, host_key_algorithms, ciphers, macs, compress)?;
        // Safety of ownership: Python detached the socket, so this descriptor is ours alone from here on.
        let u = wait(py, timeout, async move {
            let io = |e| amiko::Error::Io {
                context: "socket".into(),
                message: format!("{e}"),
                kind: std::io::ErrorKind::Other,
            };
            if unix {
                // SAFETY: `fd` is an open socket whose ownership the caller gave up (socket.detach()).
                let s = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
                s.set_nonblocking(true).map_err(io)?;
                Unauthenticated::start(tokio::net::UnixStream::from_std(s).map_err(io)?, proto).await
            } else {
                // SAFETY: as above.
                let s = unsafe { std::net::TcpStream::from_raw_fd(fd) };
                s.set_nonblocking(true).map_err(io)?;
                let _ = s.set_nodelay(true);
                Unauthenticated::start(tokio::net::TcpStream::from_std(s).map_err(io)?, proto).await
            }
        })?;
        Ok(Session::new(u))
    }

    /// Runs a new connection inside `channel` (a direct-tcpip channel of another session: a jump host).
    #[staticmethod]
    #[pyo3(signature = (channel, timeout=None, kex=None, host_key_algorithms=None, ciphers=None, macs=None, compress=false))]
    #[allow(clippy::too_many_arguments)]
    fn start_over(
        py: Python<'_>,
        channel: &Channel,
        timeout: Option<f64>,
        kex: Option<String>,
        host_key_algorithms: Option<String>,
        ciphers: Option<String>,
        macs: Option<String>,
        compress: bool,
    ) -> PyResult<Session> {
        let proto = proto_config(kex, host_key_algorithms, ciphers, macs, compress)?;
        let stream = amiko::SharedChannel(channel.shared());
        let u = wait(py, timeout, async move { Unauthenticated::start(stream, proto).await })?;
        Ok(Session::new(u))
    }

    /// The server's host key (its signature over the key exchange has been checked).
    fn host_key(&self) -> PublicKey {
        PublicKey {
            inner: self.host_key.clone(),
        }
    }

    /// Trusts the host key so the key exchange can finish.
    fn accept_host_key(&self) -> PyResult<()> {
        match &mut *self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Handshaking(u) => u.accept_host_key().map_err(to_py),
            State::Ready(_) => Ok(()),
            State::Closed => Err(closed()),
        }
    }

    /// Refuses the host key: DISCONNECT goes to the server and the session closes.
    fn reject_host_key(&self, why: &str) {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let State::Handshaking(u) = std::mem::replace(&mut *g, State::Closed) {
            u.reject_host_key(why);
        }
    }

    /// Method "none": (authenticated, allowed methods, partial).
    #[pyo3(signature = (user, timeout=None))]
    fn auth_none(&self, py: Python<'_>, user: String, timeout: Option<f64>) -> PyResult<Attempt> {
        self.auth(py, timeout, move |u| Box::pin(async move { u.auth_none(&user).await }))
    }

    /// Method "password".
    #[pyo3(signature = (user, password, timeout=None))]
    fn auth_password(&self, py: Python<'_>, user: String, password: String, timeout: Option<f64>) -> PyResult<Attempt> {
        // Our copy is wiped; the Python str it came from cannot be.
        let password = Zeroizing::new(password);
        self.auth(py, timeout, move |u| {
            Box::pin(async move { u.auth_password(&user, &password).await })
        })
    }

    /// Method "publickey" with a private key.
    #[pyo3(signature = (user, key, timeout=None))]
    fn auth_publickey(
        &self,
        py: Python<'_>,
        user: String,
        key: &PrivateKey,
        timeout: Option<f64>,
    ) -> PyResult<Attempt> {
        let key = key.inner.clone();
        self.auth(py, timeout, move |u| {
            Box::pin(async move { u.auth_publickey(&user, &key).await })
        })
    }

    /// Method "publickey" with a key held by the ssh-agent at `socket` ($SSH_AUTH_SOCK if None), which signs.
    #[pyo3(signature = (user, key, socket=None, timeout=None))]
    fn auth_publickey_agent(
        &self,
        py: Python<'_>,
        user: String,
        key: &crate::keys::PublicKey,
        socket: Option<std::path::PathBuf>,
        timeout: Option<f64>,
    ) -> PyResult<Attempt> {
        let key = key.inner.clone();
        self.auth(py, timeout, move |u| {
            Box::pin(async move {
                let mut agent = match socket {
                    Some(p) => amiko::agent::AgentClient::connect(&p).await?,
                    None => amiko::agent::AgentClient::connect_env().await?,
                };
                u.auth_publickey_agent(&user, &mut agent, &key).await
            })
        })
    }

    /// Method "keyboard-interactive": `handler(title, instructions, [(prompt, echo), ...])` returns the answers.
    #[pyo3(signature = (user, handler, timeout=None))]
    fn auth_interactive(
        &self,
        py: Python<'_>,
        user: String,
        handler: Py<PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Attempt> {
        let failure: Arc<Mutex<Option<PyErr>>> = Arc::default();
        let seen = failure.clone();
        let answer: KbdInteractive = Arc::new(move |name: &str, instruction: &str, prompts: &[(String, bool)]| {
            Python::attach(|py| {
                let r = handler
                    .call1(py, (name, instruction, prompts.to_vec()))
                    .and_then(|v| v.extract::<Vec<String>>(py));
                r.unwrap_or_else(|e| {
                    *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    Vec::new()
                })
            })
        });
        let r = self.auth(py, timeout, move |u| {
            Box::pin(async move { u.auth_keyboard_interactive(&user, &answer).await })
        });
        if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        r
    }

    /// Keyboard-interactive answering every prompt with the password (Paramiko's fallback).
    #[pyo3(signature = (user, password, timeout=None))]
    fn auth_interactive_password(
        &self,
        py: Python<'_>,
        user: String,
        password: String,
        timeout: Option<f64>,
    ) -> PyResult<Attempt> {
        let password = Zeroizing::new(password);
        self.auth(py, timeout, move |u| {
            Box::pin(async move { u.auth_keyboard_interactive_password(&user, &password).await })
        })
    }

    /// The server's pre-authentication banner, if it sent one.
    fn banner(&self) -> Option<String> {
        match &*self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Handshaking(u) => u.banner().map(str::to_string),
            State::Ready(c) => c.banner().map(str::to_string),
            State::Closed => None,
        }
    }

    /// Whether the connection is up.
    fn is_active(&self) -> bool {
        match &*self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Handshaking(u) => u.is_active(),
            State::Ready(c) => c.is_active(),
            State::Closed => false,
        }
    }

    /// Whether authentication has succeeded (and the connection is up).
    fn is_authenticated(&self) -> bool {
        matches!(&*self.state.lock().unwrap_or_else(|p| p.into_inner()), State::Ready(c) if c.is_active())
    }

    /// Opens a session channel.
    #[pyo3(signature = (timeout=None))]
    fn open_session(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Channel> {
        let client = self.client()?;
        let ch = wait(py, timeout, async move { client.open_session().await })?;
        Ok(Channel::new(ch))
    }

    /// Opens a direct-tcpip channel to `host:port` (the server makes the TCP connection).
    #[pyo3(signature = (host, port, timeout=None))]
    fn open_direct_tcpip(&self, py: Python<'_>, host: String, port: u16, timeout: Option<f64>) -> PyResult<Channel> {
        let client = self.client()?;
        let ch = wait(py, timeout, async move { client.open_direct_tcpip(&host, port).await })?;
        Ok(Channel::new(ch))
    }

    /// Opens an SFTP session.
    #[pyo3(signature = (timeout=None))]
    fn open_sftp(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Sftp> {
        let client = self.client()?;
        let s = wait(py, timeout, async move { amiko::sftp::Sftp::new(&client).await })?;
        Ok(Sftp::new(s))
    }

    /// Sends keepalive@openssh.com after `interval` seconds without input (0: never).
    fn set_keepalive(&self, interval: f64) -> PyResult<()> {
        let iv = (interval > 0.0).then(|| std::time::Duration::from_secs_f64(interval));
        self.client()?.set_keepalive(iv);
        Ok(())
    }

    /// Starts a key re-exchange.
    fn rekey(&self) -> PyResult<()> {
        self.client()?.rekey().map_err(to_py)
    }

    /// Completed key exchanges (1 + rekeys).
    fn kex_count(&self) -> PyResult<u32> {
        Ok(self.client()?.kex_count())
    }

    /// The negotiated cipher.
    fn cipher(&self) -> PyResult<Option<String>> {
        Ok(self.client()?.cipher())
    }

    /// The negotiated compression (client→server, server→client), e.g. ("zlib@openssh.com", "zlib@openssh.com").
    fn compression(&self) -> PyResult<Option<(String, String)>> {
        Ok(self.client()?.compression())
    }

    /// Packet bytes sent and received so far (compressed size when compression runs).
    fn wire_bytes(&self) -> PyResult<(u64, u64)> {
        Ok(self.client()?.wire_bytes())
    }

    /// The server's version line.
    fn remote_version(&self) -> Option<String> {
        self.remote_version.clone()
    }

    /// Ends the connection (DISCONNECT by application), sent before this returns: the runtime runs on the
    /// calling thread during calls, so a process that exits right after would otherwise never send it.
    fn close(&self, py: Python<'_>) {
        let state = {
            let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *g, State::Closed)
        };
        match state {
            State::Handshaking(u) => u.disconnect(),
            State::Ready(c) => py.detach(|| amiko::blocking::close(&c)),
            State::Closed => {}
        }
    }
}
