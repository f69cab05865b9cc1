//! The async client: connect, verify the host key, authenticate, then run commands and open channels.

use std::future::poll_fn;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use amiko_proto::config::{Config, Role};
use amiko_proto::keys::{PrivateKey, PublicKey};
use amiko_proto::transport::negotiate::Negotiated;
use tokio::net::TcpStream;
use zeroize::{Zeroize, Zeroizing};

use crate::channel::Channel;
use crate::driver::{Owner, Shared};
use crate::error::{Error, Result};
use crate::handshake::{AuthOutcome, Unauthenticated};
use crate::host_keys::{HostKeyCheck, HostKeyPolicy};

/// Answers keyboard-interactive prompts: (name, instruction, prompts with echo flags) → answers.
pub type KbdInteractive = Arc<dyn Fn(&str, &str, &[(String, bool)]) -> Vec<String> + Send + Sync>;

/// How to connect and authenticate.
///
/// `password` is wiped when the value is dropped (every clone wipes its own). Because of that `Drop`, a field cannot
/// be moved out of a `ClientConfig`: clone it (`cfg.proto.clone()`).
///
/// ```
/// use amiko::{ClientConfig, HostKeyPolicy};
/// let mut cfg = ClientConfig::new("alice");
/// cfg.password = Some("secret".into());
/// cfg.host_keys.policy = HostKeyPolicy::AcceptNew;
/// assert_eq!(cfg.user, "alice");
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    /// User name.
    pub user: String,
    /// Password for "password" auth (and keyboard-interactive password prompts).
    pub password: Option<String>,
    /// Private keys for "publickey" auth, tried in order.
    pub keys: Vec<PrivateKey>,
    /// Host-key checking.
    pub host_keys: HostKeyCheck,
    /// Engine settings: algorithms, windows, rekey limits, keepalive.
    pub proto: Config,
    /// Give up connecting after this long.
    pub connect_timeout: Option<Duration>,
    /// Give up if the handshake (version exchange, key exchange and authentication) takes longer than this, as
    /// asyncssh's `login_timeout`; a server that accepts the TCP connection and then says nothing cannot hang the
    /// caller. Default: 120 s (sshd's LoginGraceTime on the other side).
    pub login_timeout: Option<Duration>,
    /// Keyboard-interactive answers; by default password prompts get the password, as Paramiko does.
    pub kbd_interactive: Option<KbdInteractive>,
    /// Whether to try each method (turn off to test a single one).
    pub try_none_first: bool,
    /// The ssh-agent whose keys are tried for publickey auth after `keys` (ssh's default, Paramiko's
    /// `allow_agent`): `$SSH_AUTH_SOCK` by default; None uses no agent. An agent that cannot be reached is skipped.
    pub agent: Option<PathBuf>,
    /// Only these of the agent's keys are offered (ssh's IdentitiesOnly: the identity files' public keys); None
    /// offers all of them.
    pub agent_filter: Option<Vec<amiko_proto::keys::PublicKey>>,
}

impl ClientConfig {
    /// Defaults: known_hosts at ~/.ssh/known_hosts, unknown hosts rejected, no credentials.
    pub fn new(user: impl Into<String>) -> Self {
        let files = home_dir().map(|h| vec![h.join(".ssh/known_hosts")]).unwrap_or_default();
        ClientConfig {
            user: user.into(),
            password: None,
            keys: Vec::new(),
            host_keys: HostKeyCheck {
                policy: HostKeyPolicy::Reject,
                files,
                extra: String::new(),
            },
            proto: Config::new(Role::Client),
            connect_timeout: None,
            login_timeout: Some(DEFAULT_LOGIN_TIMEOUT),
            kbd_interactive: None,
            try_none_first: true,
            agent: crate::agent::env_socket(),
            agent_filter: None,
        }
    }
}

impl Drop for ClientConfig {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// [`ClientConfig::login_timeout`]'s default, as sshd's LoginGraceTime.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(120);

/// The user's home directory from $HOME.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Loads a private key file (OpenSSH or PEM), with a passphrase if it is encrypted. A certificate beside it
/// (`FILE-cert.pub`, as ssh loads one) is attached: authentication then offers the certificate first and the
/// plain key after it.
pub fn load_key_file(path: &Path, passphrase: Option<&str>) -> Result<PrivateKey> {
    // The key file may be unencrypted: its text is wiped once parsed.
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?);
    let key = PrivateKey::from_text(&text, passphrase).map_err(|e| {
        Error::Config(format!(
            "{}: {}",
            path.display(),
            e.to_string().trim_start_matches("key error: ")
        ))
    })?;
    let mut cert_path = path.as_os_str().to_owned();
    cert_path.push("-cert.pub");
    let cert_path = PathBuf::from(cert_path);
    match std::fs::read_to_string(&cert_path) {
        Ok(line) => {
            let cert =
                PublicKey::from_openssh(&line).map_err(|e| Error::Config(format!("{}: {e}", cert_path.display())))?;
            key.with_certificate(cert)
                .map_err(|e| Error::Config(format!("{}: {e}", cert_path.display())))
        }
        Err(_) => Ok(key),
    }
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Exit status, if the server sent one.
    pub exit_status: Option<u32>,
    /// Signal name if the command was killed by a signal.
    pub exit_signal: Option<String>,
}

/// A connected, authenticated SSH client. Cheap to clone; the connection ends when the last clone and the last
/// channel are dropped.
#[derive(Clone)]
pub struct Client {
    owner: Arc<Owner>,
    banner: Option<String>,
}

impl Client {
    /// Connects to `host:port`, checks the host key and authenticates as `config` says.
    ///
    /// ```no_run
    /// # async fn f() -> amiko::Result<()> {
    /// let mut cfg = amiko::ClientConfig::new("me");
    /// cfg.password = Some("pw".into());
    /// let client = amiko::Client::connect("example.com", 22, cfg).await?;
    /// let out = client.exec("uname -n").await?;
    /// println!("{}", String::from_utf8_lossy(&out.stdout));
    /// # Ok(()) }
    /// ```
    pub async fn connect(host: &str, port: u16, config: ClientConfig) -> Result<Client> {
        let addr = format!("{}:{port}", host.trim_start_matches('[').trim_end_matches(']'));
        let connect = TcpStream::connect(addr.clone());
        let stream = match config.connect_timeout {
            Some(t) => tokio::time::timeout(t, connect)
                .await
                .map_err(|_| Error::ConnectTimeout(addr.clone()))?,
            None => connect.await,
        }
        .map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
        let _ = stream.set_nodelay(true);
        Self::handshake(stream, host, port, config).await
    }

    /// Runs the SSH handshake over an already connected stream (a TCP socket, a jump channel, a test pipe).
    pub async fn handshake<S>(stream: S, host: &str, port: u16, config: ClientConfig) -> Result<Client>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let login = async {
            let mut proto = config.proto.clone();
            if config.host_keys.has_cert_authority(host, port) {
                // Certificates first for hosts a CA vouches for (a stable partition keeps each group's order).
                let (mut certs, plain): (Vec<String>, Vec<String>) = std::mem::take(&mut proto.algorithms.host_key)
                    .into_iter()
                    .partition(|a| amiko_proto::cert::is_cert_algorithm(a));
                certs.extend(plain);
                proto.algorithms.host_key = certs;
            }
            let mut u = Unauthenticated::start(stream, proto).await?;
            if let Err(e) = config.host_keys.check(host, port, u.host_key()) {
                u.reject_host_key("host key not accepted");
                return Err(e);
            }
            u.accept_host_key()?;
            authenticate(&mut u, &config).await?;
            u.into_client()
        };
        match config.login_timeout {
            // Dropping the unfinished handshake drops its connection task, which closes the socket.
            Some(t) => tokio::time::timeout(t, login)
                .await
                .map_err(|_| Error::LoginTimeout(format!("{host}:{port}"), t))?,
            None => login.await,
        }
    }

    pub(crate) fn from_parts(owner: Arc<Owner>, banner: Option<String>) -> Client {
        Client { owner, banner }
    }

    pub(crate) fn owner(&self) -> &Arc<Owner> {
        &self.owner
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.owner.shared
    }

    /// The banner the server sent before authentication, if any.
    pub fn banner(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// Opens a session channel.
    pub async fn open_session(&self) -> Result<Channel> {
        Channel::open_session(self.owner.clone()).await
    }

    /// Opens a "direct-tcpip" channel: the server connects to `host:port` and the channel carries that TCP stream
    /// (ssh's `-L` and `-W`). It is an AsyncRead + AsyncWrite byte stream.
    pub async fn open_direct_tcpip(&self, host: &str, port: u16) -> Result<Channel> {
        Channel::open_direct_tcpip(self.owner.clone(), host, port).await
    }

    /// Connects to `host:port` through this connection (it is the jump host, as ssh's `-J`): a direct-tcpip channel
    /// carries the new connection, whose host key and login follow `config` as for [`Client::connect`].
    ///
    /// ```no_run
    /// # async fn f(jump_cfg: amiko::ClientConfig, cfg: amiko::ClientConfig) -> amiko::Result<()> {
    /// let jump = amiko::Client::connect("bastion.example.com", 22, jump_cfg).await?;
    /// let inner = jump.connect_via("10.0.0.5", 22, cfg).await?;
    /// inner.exec("uname -n").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_via(&self, host: &str, port: u16, config: ClientConfig) -> Result<Client> {
        let timeout = config.connect_timeout;
        let open = self.open_direct_tcpip(host.trim_start_matches('[').trim_end_matches(']'), port);
        let channel = match timeout {
            Some(t) => tokio::time::timeout(t, open)
                .await
                .map_err(|_| Error::ConnectTimeout(format!("{host}:{port} (via jump host)")))?,
            None => open.await,
        }?;
        Self::handshake(channel, host, port, config).await
    }

    /// Runs a command and collects its output and exit status.
    pub async fn exec(&self, command: &str) -> Result<Output> {
        let mut ch = self.open_session().await?;
        ch.exec(command).await?;
        ch.eof().await?;
        let mut out = Output::default();
        ch.read_to_end_both(&mut out.stdout, &mut out.stderr).await?;
        let (status, signal) = ch.wait_exit().await?;
        out.exit_status = status;
        out.exit_signal = signal;
        Ok(out)
    }

    /// Number of key exchanges completed on this connection (1 + rekeys).
    pub fn kex_count(&self) -> u32 {
        self.shared().lock().conn.kex_count()
    }

    /// Every algorithm the last key exchange agreed on: the method, the host key algorithm, and the cipher, MAC and
    /// compression of each direction, as `ssh -v` prints them after `kex:`. None only before the first key exchange
    /// completes, which [`Client::connect`] waits for.
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.shared().lock().conn.negotiated().cloned()
    }

    /// The negotiated cipher client→server, e.g. to show in verbose output.
    pub fn cipher(&self) -> Option<String> {
        self.shared().lock().conn.negotiated().map(|n| n.cipher_c2s.clone())
    }

    /// The negotiated compression methods (client→server, server→client), e.g. `("zlib@openssh.com", "none")`.
    pub fn compression(&self) -> Option<(String, String)> {
        self.shared()
            .lock()
            .conn
            .negotiated()
            .map(|n| (n.comp_c2s.clone(), n.comp_s2c.clone()))
    }

    /// Whether compression runs now (outgoing, incoming): `zlib@openssh.com` only from authentication on.
    pub fn compression_active(&self) -> (bool, bool) {
        self.shared().lock().conn.compression_active()
    }

    /// Packet bytes sent and received on this connection so far (compressed size when compression runs).
    pub fn wire_bytes(&self) -> (u64, u64) {
        self.shared().lock().conn.wire_bytes()
    }

    /// Starts a key re-exchange now.
    pub fn rekey(&self) -> Result<()> {
        self.shared().lock().conn.rekey()?;
        self.shared().kick();
        Ok(())
    }

    /// Sends keepalive@openssh.com after `interval` without input (None: never), as Paramiko's `set_keepalive` and
    /// OpenSSH's ServerAliveInterval.
    pub fn set_keepalive(&self, interval: Option<Duration>) {
        self.shared().lock().conn.set_keepalive(interval);
        self.shared().rearm_timer();
    }

    /// The server's identification line (`SSH-2.0-OpenSSH_9.2p1 ...`).
    pub fn remote_version(&self) -> Option<String> {
        self.shared().lock().conn.peer_version().map(str::to_string)
    }

    /// Whether the connection is still up.
    pub fn is_active(&self) -> bool {
        !self.shared().lock().conn.is_closed()
    }

    /// Ends the connection (channels stop working).
    pub fn disconnect(&self) {
        self.shared()
            .lock()
            .conn
            .disconnect(amiko_proto::DisconnectReason::ByApplication, "bye");
        self.shared().kick();
    }

    /// Ends the connection as [`disconnect`](Self::disconnect) does, and returns once the DISCONNECT is written
    /// and the socket shut down (or the connection failed), so the server hears it even if the process exits
    /// right after. A peer that stops reading can hold this up: bound it with a timeout.
    ///
    /// ```no_run
    /// # async fn f(client: amiko::Client) {
    /// let _ = tokio::time::timeout(std::time::Duration::from_secs(1), client.close()).await;
    /// # }
    /// ```
    pub async fn close(&self) {
        self.disconnect();
        // Not the connection's error: DISCONNECT sets that at once, before the writer has sent anything.
        poll_fn(|cx| {
            let mut g = self.shared().lock();
            if g.writer_done {
                return Poll::Ready(());
            }
            g.register(cx.waker());
            Poll::Pending
        })
        .await;
    }
}

/// Tries none, then publickey with each key, then password, then keyboard-interactive — each only if the server
/// lists it.
async fn authenticate(u: &mut Unauthenticated, cfg: &ClientConfig) -> Result<()> {
    let user = cfg.user.as_str();
    let mut allowed: Vec<String> = vec!["publickey".into(), "password".into(), "keyboard-interactive".into()];
    let mut tried: Vec<&str> = Vec::new();
    let mut attempts: Vec<(&str, Option<&PrivateKey>)> = Vec::new();
    if cfg.try_none_first {
        attempts.push(("none", None));
    }
    // A key with a certificate is offered as the certificate, then as the plain key (as ssh tries both).
    let plain_keys: Vec<Option<PrivateKey>> = cfg
        .keys
        .iter()
        .map(|k| k.public_key().certificate().map(|_| k.without_certificate()))
        .collect();
    for (k, plain) in cfg.keys.iter().zip(&plain_keys) {
        attempts.push(("publickey", Some(k)));
        if let Some(p) = plain {
            attempts.push(("publickey", Some(p)));
        }
    }
    // The agent's keys come after the given keys and before passwords (Paramiko's order).
    let agent_at = attempts.len();
    if cfg.password.is_some() {
        attempts.push(("password", None));
        attempts.push(("keyboard-interactive", None));
    } else if cfg.kbd_interactive.is_some() {
        attempts.push(("keyboard-interactive", None));
    }
    let password = cfg.password.as_deref().unwrap_or_default();
    let mut agent_tried = false;
    for (i, (method, key)) in attempts.into_iter().enumerate() {
        if i >= agent_at && !agent_tried {
            agent_tried = true;
            if let Some(outcome) = try_agent(u, cfg, &allowed).await? {
                tried.push("publickey");
                match outcome {
                    AuthOutcome::Success => return Ok(()),
                    AuthOutcome::Failure { allowed: methods, .. } if !methods.is_empty() => allowed = methods,
                    AuthOutcome::Failure { .. } => {}
                }
            }
        }
        if method != "none" && !allowed.iter().any(|m| m == method) {
            continue;
        }
        let outcome = match (method, key, &cfg.kbd_interactive) {
            ("none", _, _) => u.auth_none(user).await?,
            ("publickey", Some(k), _) => u.auth_publickey(user, k).await?,
            ("password", _, _) => u.auth_password(user, password).await?,
            (_, _, Some(f)) => u.auth_keyboard_interactive(user, f).await?,
            _ => u.auth_keyboard_interactive_password(user, password).await?,
        };
        if method != "none" {
            tried.push(method);
        }
        match outcome {
            AuthOutcome::Success => return Ok(()),
            AuthOutcome::Failure { allowed: methods, .. } if !methods.is_empty() => allowed = methods,
            AuthOutcome::Failure { .. } => {}
        }
    }
    if !agent_tried {
        if let Some(outcome) = try_agent(u, cfg, &allowed).await? {
            tried.push("publickey");
            match outcome {
                AuthOutcome::Success => return Ok(()),
                AuthOutcome::Failure { allowed: methods, .. } if !methods.is_empty() => allowed = methods,
                AuthOutcome::Failure { .. } => {}
            }
        }
    }
    tried.dedup();
    Err(Error::Auth {
        user: user.to_string(),
        tried: if tried.is_empty() {
            "nothing (no credentials given)".into()
        } else {
            tried.join(",")
        },
        allowed: allowed.join(","),
    })
}

/// Tries each key of the configured agent that is not among `cfg.keys`, if the server allows publickey. None when
/// there is no agent, it cannot be reached or it has no keys; otherwise the last outcome.
async fn try_agent(u: &mut Unauthenticated, cfg: &ClientConfig, allowed: &[String]) -> Result<Option<AuthOutcome>> {
    let Some(path) = &cfg.agent else { return Ok(None) };
    if !allowed.iter().any(|m| m == "publickey") {
        return Ok(None);
    }
    let mut agent = match crate::agent::AgentClient::connect(path).await {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!("no agent: {e}");
            return Ok(None);
        }
    };
    let ids = match agent.identities().await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::debug!("agent: {e}");
            return Ok(None);
        }
    };
    let mut last = None;
    for id in ids {
        if cfg.keys.iter().any(|k| k.public_key() == id.key) {
            continue;
        }
        if cfg.agent_filter.as_ref().is_some_and(|only| !only.contains(&id.key)) {
            continue;
        }
        let outcome = match u.auth_publickey_agent(&cfg.user, &mut agent, &id.key).await {
            Ok(o) => o,
            // The agent failed for this key (refused, bad answer): go on with the next, as ssh does.
            Err(Error::Agent(e)) => {
                tracing::debug!("agent could not sign with {}: {e}", id.key.fingerprint());
                continue;
            }
            Err(e) => return Err(e),
        };
        let done = outcome == AuthOutcome::Success;
        let no_publickey = matches!(&outcome, AuthOutcome::Failure { allowed, .. }
            if !allowed.is_empty() && !allowed.iter().any(|m| m == "publickey"));
        last = Some(outcome);
        if done || no_publickey {
            break;
        }
    }
    Ok(last)
}
