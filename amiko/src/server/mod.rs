//! The SSH server: accept connections, authenticate through a [`Handler`], run sessions.
//!
//! ```no_run
//! # async fn f() -> amiko::Result<()> {
//! use std::sync::Arc;
//! use amiko::server::{Server, ServerConfig, SimpleAuth};
//! let cfg = ServerConfig::new(vec![amiko::PrivateKey::generate_ed25519()?]);
//! let auth = SimpleAuth { password: Some("secret".into()), ..Default::default() };
//! let server = Server::bind("127.0.0.1:2222", cfg, Arc::new(auth)).await?;
//! server.run().await
//! # }
//! ```
//!
//! The built-in runner starts commands as the user the server runs as (it does not switch users): amiko's server
//! is for services, fixtures and tools, not a replacement for a system sshd.
//!
//! Its sessions get the environment sshd gives, built from nothing rather than inherited from the server process:
//! USER, LOGNAME, HOME and SHELL from the passwd entry of the server's own user (its login shell runs the
//! commands, `/bin/sh` if the entry names none), PATH `/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin`,
//! MAIL `/var/mail/USER`, the server's TZ if set, TERM from the pty request, SSH_CLIENT
//! (`client_ip client_port server_port`), SSH_CONNECTION (`client_ip client_port server_ip server_port`), SSH_TTY
//! (the pty's device, with a pty only), SSH_AUTH_SOCK (with agent forwarding only), SSH_ORIGINAL_COMMAND (with a
//! forced command only: a certificate's force-command or an authorized key's `command=`) and
//! [`ServerConfig::set_env`]. Variables from the client's `env` requests come in only where [`Handler::env`]
//! accepts them, and never replace any of those (a client's TERM or TZ stays where the server sets none, as in
//! sshd; a client's SSH_* never does). The session starts in HOME.
//!
//! Which `env` requests are accepted is sshd's AcceptEnv: by default only `LANG` and `LC_*`
//! ([`DEFAULT_ACCEPT_ENV`], what Debian's sshd_config accepts), both in the default [`Handler::env`] and in
//! [`SimpleAuth`], whose [`SimpleAuth::accept_env`] takes more patterns. The list applies to a certificate's
//! force-command as to any other command (sshd does the same): the client's accepted variables are in the
//! environment of the shell that runs it. That is why the default is short: a client allowed `BASH_ENV`, `ENV`,
//! `LD_PRELOAD`, `PYTHONPATH` and the like runs its own code first, forced command or not, so add only names the
//! commands cannot be steered by.

mod connection;
mod forward;
mod handler;
mod session;
mod sftp;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use amiko_proto::config::{Config, Role};
use amiko_proto::keys::PrivateKey;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use amiko_proto::authorized_keys::{AuthorizedKey, ForwardPermission, KeyOptions, LoginRestrictions};
pub use handler::{
    accept_env_matches, parse_authorized_keys, read_authorized_keys, AuthDecision, Handler, SessionInfo, SimpleAuth,
    DEFAULT_ACCEPT_ENV, MAX_SESSION_ENV,
};
pub use sftp::{serve_sftp, MAX_HANDLES};

use crate::error::{Error, Result};

/// Server settings, with OpenSSH's defaults.
#[derive(Clone)]
pub struct ServerConfig {
    /// Host keys (at least one).
    pub host_keys: Vec<PrivateKey>,
    /// Engine settings (algorithms, MaxAuthTries as `max_auth_attempts`, windows).
    pub proto: Config,
    /// Unauthenticated connections are dropped after this long (LoginGraceTime, 120 s).
    pub login_grace_time: Duration,
    /// Session channels per connection (MaxSessions, 10).
    pub max_sessions: usize,
    /// MaxStartups start:rate:full (10:30:100): beyond `start` unauthenticated connections, refuse `rate`% of new
    /// ones, all beyond `full`.
    pub max_startups: (usize, u32, usize),
    /// Serve the "sftp" subsystem with this directory as its root (None: no SFTP unless the handler serves it).
    pub sftp_root: Option<std::path::PathBuf>,
    /// Remote forward listeners (ssh -R, TCP and Unix sockets) one connection may hold at once.
    pub max_forward_listeners: usize,
    /// Bind remote TCP forwards on the address the client asks for; false (sshd's GatewayPorts no, the default)
    /// binds them to loopback whatever was asked.
    pub gateway_ports: bool,
    /// CA keys trusted to sign user certificates (sshd's TrustedUserCAKeys). A user certificate signed by one of
    /// them, valid now, of type user, naming the user as a principal, and with only critical options amiko honours
    /// (`force-command`, `source-address`) logs the user in without the handler being asked; a certificate signed
    /// by another CA goes to [`Handler::auth_publickey_restricted`], which refuses it unless the handler trusts
    /// that CA itself (as [`SimpleAuth`] does for authorized_keys `cert-authority` lines). The session then keeps to
    /// the certificate: its forced command replaces what the client asks to run, and a pty, port forwarding or
    /// agent forwarding needs the `permit-pty` / `permit-port-forwarding` / `permit-agent-forwarding` extension.
    pub trusted_user_ca_keys: Vec<amiko_proto::keys::PublicKey>,
    /// The groups for diffie-hellman-group-exchange-*, in OpenSSH's moduli(5) format (sshd's ModuliFile),
    /// read by [`Server::bind`] unless `proto.gex_groups` is already filled. A missing file, or one without a
    /// usable group, leaves the RFC 3526 groups 14, 16 and 18. None: do not read one.
    pub moduli_file: Option<std::path::PathBuf>,
    /// Variables set in every session the built-in runner starts (sshd's SetEnv), over what the client sent and
    /// over USER, HOME, PATH and the like; SSH_CLIENT, SSH_CONNECTION, SSH_TTY and SSH_ORIGINAL_COMMAND still win.
    pub set_env: Vec<(String, String)>,
}

impl ServerConfig {
    /// Defaults with these host keys.
    pub fn new(host_keys: Vec<PrivateKey>) -> Self {
        ServerConfig {
            host_keys,
            proto: Config::new(Role::Server),
            login_grace_time: Duration::from_secs(120),
            max_sessions: 10,
            max_startups: (10, 30, 100),
            sftp_root: None,
            max_forward_listeners: 16,
            gateway_ports: false,
            trusted_user_ca_keys: Vec::new(),
            moduli_file: Some("/etc/ssh/moduli".into()),
            set_env: Vec::new(),
        }
    }
}

/// Reads a moduli file (OpenSSH's `/etc/ssh/moduli` format), at most
/// [`amiko_proto::kex::MODULI_MAX_BYTES`] of it, keeping the groups sshd would use (see
/// [`amiko_proto::kex::parse_moduli`]). A file that does not exist gives no groups; other read errors are errors.
pub fn read_moduli(path: &std::path::Path) -> Result<Vec<amiko_proto::kex::DhGroup>> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let mut bytes = Vec::new();
    f.take(amiko_proto::kex::MODULI_MAX_BYTES as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    Ok(amiko_proto::kex::parse_moduli(&String::from_utf8_lossy(&bytes)))
}

/// A bound server.
pub struct Server {
    listener: TcpListener,
    cfg: Arc<ServerConfig>,
    handler: Arc<dyn Handler>,
    unauthenticated: Arc<AtomicUsize>,
}

impl Server {
    /// Binds to `addr` (use port 0 for any free port).
    pub async fn bind(addr: &str, mut cfg: ServerConfig, handler: Arc<dyn Handler>) -> Result<Server> {
        if cfg.host_keys.is_empty() {
            return Err(Error::Config("a server needs at least one host key".into()));
        }
        if let (true, Some(path)) = (cfg.proto.gex_groups.is_empty(), &cfg.moduli_file) {
            let groups = read_moduli(path)?;
            if groups.is_empty() {
                tracing::debug!(
                    "no usable group in {}: the group exchange uses RFC 3526's",
                    path.display()
                );
            }
            cfg.proto.gex_groups = Arc::new(groups);
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        Ok(Server {
            listener,
            cfg: Arc::new(cfg),
            handler,
            unauthenticated: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|e| Error::io("local address", e))
    }

    /// Serves until an error of the listener.
    pub async fn run(self) -> Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes; then stops accepting and waits for running connections to end.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                r = self.listener.accept() => {
                    let (stream, peer) = match r {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    if !self.admit() {
                        tracing::info!(%peer, "refused: too many unauthenticated connections (MaxStartups)");
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let (cfg, handler, unauth) = (self.cfg.clone(), self.handler.clone(), self.unauthenticated.clone());
                    tasks.spawn(connection::serve(stream, peer, cfg, handler, unauth));
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }

    /// MaxStartups: whether to take one more unauthenticated connection.
    fn admit(&self) -> bool {
        let (start, rate, full) = self.cfg.max_startups;
        let n = self.unauthenticated.load(Ordering::Relaxed);
        if n >= full {
            return false;
        }
        if n >= start {
            // Refuse with a probability rising linearly from rate% at `start` to 100% at `full`.
            let p = rate as f64 + (100.0 - rate as f64) * (n - start) as f64 / (full - start).max(1) as f64;
            let mut b = [0u8; 1];
            amiko_proto::rng::fill(&mut b);
            if (b[0] as f64 / 255.0 * 100.0) < p {
                return false;
            }
        }
        true
    }
}
