//! What a server application decides: who may log in, and what some channels do.

use std::path::Path;

use amiko_proto::keys::PublicKey;

use crate::Channel;

/// An authentication decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// Let the user in.
    Accept,
    /// Refuse.
    Reject,
    /// Correct, but another method must follow (RFC 4252 §5.1 partial success).
    Partial,
}

/// Facts about the session a hook is called for.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The authenticated user.
    pub user: String,
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// The algorithms the connection's last key exchange agreed on (key exchange, host key, ciphers, MACs,
    /// compression). None only before the first key exchange completes, which no session hook sees.
    pub negotiated: Option<crate::Negotiated>,
}

/// The server's policy. Every method has a default that refuses, so a handler implements only what it allows.
///
/// ```
/// use amiko::server::{AuthDecision, Handler};
/// struct OnlyAlice;
/// impl Handler for OnlyAlice {
///     fn auth_password(&self, user: &str, password: &str) -> AuthDecision {
///         if user == "alice" && password == "wonderland" { AuthDecision::Accept } else { AuthDecision::Reject }
///     }
/// }
/// assert_eq!(OnlyAlice.auth_password("alice", "wonderland"), AuthDecision::Accept);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// A banner shown before authentication.
    fn banner(&self) -> Option<String> {
        None
    }

    /// The "none" method (accepting it means no authentication).
    fn auth_none(&self, _user: &str) -> AuthDecision {
        AuthDecision::Reject
    }

    /// A password.
    fn auth_password(&self, _user: &str, _password: &str) -> AuthDecision {
        AuthDecision::Reject
    }

    /// A public key (called for the query and, after the signature was verified, for the real attempt).
    fn auth_publickey(&self, _user: &str, _key: &PublicKey) -> AuthDecision {
        AuthDecision::Reject
    }

    /// Keyboard-interactive: by default one "Password: " prompt checked with `auth_password`.
    fn auth_keyboard_interactive(&self, user: &str, responses: &[String]) -> AuthDecision {
        match responses {
            [pw] => self.auth_password(user, pw),
            _ => AuthDecision::Reject,
        }
    }

    /// A session channel is being opened; false refuses it.
    fn session_open(&self, _info: &SessionInfo) -> bool {
        true
    }

    /// A pty request; false refuses it (the built-in runner then runs without a terminal).
    fn pty_request(&self, _info: &SessionInfo, _pty: &amiko_proto::connection::PtyRequest) -> bool {
        true
    }

    /// An environment variable the client sends for the session (ssh's SendEnv/SetEnv); false refuses it, and the
    /// client gets a failure reply if it asked for one. The default accepts only names matching
    /// [`DEFAULT_ACCEPT_ENV`] (`LANG`, `LC_*`), as a Debian or Ubuntu sshd does: a name the handler accepts reaches
    /// the process's environment before its shell starts, and names such as `BASH_ENV`, `ENV`, `LD_PRELOAD` or
    /// `PYTHONSTARTUP` run code of the client's choosing there, before any command, a certificate's force-command
    /// included. Override it with [`accept_env_matches`] and a list of your own (or use [`SimpleAuth::accept_env`]).
    ///
    /// The built-in runner sets accepted ones first, so USER, HOME, PATH, TERM and the like replace them, and it never
    /// passes a client's SSH_CLIENT, SSH_CONNECTION, SSH_TTY, SSH_AUTH_SOCK or SSH_ORIGINAL_COMMAND on. Names that
    /// cannot be in an environment (empty, or with `=` or NUL) and requests beyond [`MAX_SESSION_ENV`] per session
    /// are refused before this is asked.
    fn env(&self, _info: &SessionInfo, name: &str, _value: &str) -> bool {
        accept_env_matches(DEFAULT_ACCEPT_ENV, name)
    }

    /// A shell request. Return true after taking the channel to serve it yourself; false lets the built-in runner
    /// start the user's shell.
    fn shell(&self, _info: &SessionInfo, _channel: &mut Option<Channel>) -> bool {
        false
    }

    /// The client's terminal changed size (the built-in runner resizes its pty as well).
    fn window_change(&self, _info: &SessionInfo, _cols: u32, _rows: u32) {}

    /// The client sent a signal (the built-in runner delivers it to its process as well).
    fn signal(&self, _info: &SessionInfo, _name: &str) {}

    /// The client sent EOF on a session.
    fn channel_eof(&self, _info: &SessionInfo) {}

    /// A session channel closed.
    fn channel_close(&self, _info: &SessionInfo) {}

    /// A global request (port forwarding, say); true answers success. keepalive@openssh.com is answered by the
    /// engine and does not come here.
    fn global_request(&self, _info: &SessionInfo, _name: &str) -> bool {
        false
    }

    /// A client asks the server to connect to `host:port` and carry the TCP stream (ssh -L, -J, -D). True lets
    /// the server connect; false (the default) refuses, as sshd's `AllowTcpForwarding no`.
    fn direct_tcpip(&self, _info: &SessionInfo, _host: &str, _port: u16) -> bool {
        false
    }

    /// A client asks to forward its ssh-agent for a session (ssh -A). True makes the built-in runner give the
    /// session's processes an SSH_AUTH_SOCK whose connections reach the client's agent; false (the default) refuses,
    /// as sshd's `AllowAgentForwarding no`. Whoever runs on the server as this user can use the agent while the
    /// session lasts: allow it only for servers the clients trust.
    fn agent_forwarding(&self, _info: &SessionInfo) -> bool {
        false
    }

    /// A client asks the server to listen on `address:port` and forward each connection back to it (ssh -R). True
    /// lets the server bind (loopback only unless `ServerConfig::gateway_ports`); false (the default) refuses, as
    /// sshd's `AllowTcpForwarding no` or `local`.
    fn tcpip_forward(&self, _info: &SessionInfo, _address: &str, _port: u16) -> bool {
        false
    }

    /// A client asks the server to listen on the Unix socket `path` and forward each connection back to it (ssh -R
    /// /path:...). False (the default) refuses, as sshd's `AllowStreamLocalForwarding no`.
    fn streamlocal_forward(&self, _info: &SessionInfo, _path: &str) -> bool {
        false
    }

    /// A client asks the server to connect to the Unix socket `path` and carry the stream (ssh -L port:/path).
    /// False (the default) refuses.
    fn direct_streamlocal(&self, _info: &SessionInfo, _path: &str) -> bool {
        false
    }

    /// A subsystem request (e.g. "sftp"). Return true after taking the channel (spawn a task to serve it); false
    /// refuses the request.
    fn subsystem(&self, _info: &SessionInfo, _name: &str, _channel: Channel) -> bool {
        false
    }

    /// An exec request. Return true after taking the channel to serve the command yourself; false (the default)
    /// lets the built-in runner run it through the user's shell.
    fn exec(&self, _info: &SessionInfo, _command: &str, _channel: &mut Option<Channel>) -> bool {
        false
    }
}

/// A ready handler: one password and/or a set of authorized keys, for any user name (or only `user` if set).
#[derive(Debug, Clone)]
pub struct SimpleAuth {
    /// Only this user may log in (any user if None).
    pub user: Option<String>,
    /// The accepted password.
    pub password: Option<String>,
    /// The accepted keys.
    pub authorized_keys: Vec<PublicKey>,
    /// Let logged-in users forward TCP: direct-tcpip channels (ssh -L, -J, -D through this server) and remote
    /// forwards (ssh -R).
    pub allow_tcp_forwarding: bool,
    /// Let logged-in users forward their ssh-agent to their sessions (ssh -A).
    pub allow_agent_forwarding: bool,
    /// Let logged-in users forward Unix sockets both ways (ssh -L port:/path, ssh -R /path:...).
    pub allow_streamlocal_forwarding: bool,
    /// The variable names a client's `env` requests may set, as sshd's AcceptEnv (patterns with `*` and `?`, see
    /// [`accept_env_matches`]); other names are refused. [`DEFAULT_ACCEPT_ENV`] (`LANG`, `LC_*`) by default; empty
    /// accepts none, as sshd without AcceptEnv. Every name added lets clients put that variable in front of their
    /// sessions' commands, forced ones included (see [`Handler::env`]).
    pub accept_env: Vec<String>,
}

impl Default for SimpleAuth {
    fn default() -> Self {
        SimpleAuth {
            user: None,
            password: None,
            authorized_keys: Vec::new(),
            allow_tcp_forwarding: false,
            allow_agent_forwarding: false,
            allow_streamlocal_forwarding: false,
            accept_env: DEFAULT_ACCEPT_ENV.iter().map(|p| p.to_string()).collect(),
        }
    }
}

impl SimpleAuth {
    fn user_ok(&self, user: &str) -> bool {
        self.user.as_deref().is_none_or(|u| u == user)
    }
}

/// The variable names a server accepts from a client's `env` requests unless told otherwise: the locale, as the
/// sshd_config Debian and Ubuntu ship has it (`AcceptEnv LANG LC_*`), so `ssh` users' SendEnv of their locale works
/// as they are used to. OpenSSH's own default is none at all.
pub const DEFAULT_ACCEPT_ENV: &[&str] = &["LANG", "LC_*"];

/// The most `env` requests a session takes (sshd stops at 128 as well); later ones are refused, so a client cannot
/// grow a session's environment without bound.
pub const MAX_SESSION_ENV: usize = 128;

/// Whether the variable `name` matches one of `patterns` as sshd matches its AcceptEnv list: each pattern is a
/// whole name in which `*` stands for any run of characters and `?` for one, compared case-sensitively; there is no
/// negation.
///
/// ```
/// use amiko::server::{accept_env_matches, DEFAULT_ACCEPT_ENV};
/// assert!(accept_env_matches(DEFAULT_ACCEPT_ENV, "LC_ALL"));
/// assert!(accept_env_matches(DEFAULT_ACCEPT_ENV, "LANG"));
/// assert!(!accept_env_matches(DEFAULT_ACCEPT_ENV, "LANGUAGE"));
/// assert!(!accept_env_matches(DEFAULT_ACCEPT_ENV, "BASH_ENV"));
/// assert!(accept_env_matches(&["APP_?"], "APP_1"));
/// ```
pub fn accept_env_matches<S: AsRef<str>>(patterns: &[S], name: &str) -> bool {
    patterns
        .iter()
        .any(|p| amiko_proto::known_hosts::glob_match_case_sensitive(p.as_ref(), name))
}

/// Reads an authorized_keys file (options before the key type are skipped; unreadable lines ignored).
pub fn read_authorized_keys(path: &Path) -> crate::Result<Vec<PublicKey>> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::Error::io(format!("reading {}", path.display()), e))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (0..words.len().saturating_sub(1))
                .find_map(|i| PublicKey::from_openssh(&format!("{} {}", words[i], words[i + 1])).ok())
        })
        .collect())
}

impl Handler for SimpleAuth {
    fn env(&self, _info: &SessionInfo, name: &str, _value: &str) -> bool {
        accept_env_matches(&self.accept_env, name)
    }

    fn agent_forwarding(&self, _info: &SessionInfo) -> bool {
        self.allow_agent_forwarding
    }

    fn direct_tcpip(&self, _info: &SessionInfo, _host: &str, _port: u16) -> bool {
        self.allow_tcp_forwarding
    }

    fn tcpip_forward(&self, _info: &SessionInfo, _address: &str, _port: u16) -> bool {
        self.allow_tcp_forwarding
    }

    fn streamlocal_forward(&self, _info: &SessionInfo, _path: &str) -> bool {
        self.allow_streamlocal_forwarding
    }

    fn direct_streamlocal(&self, _info: &SessionInfo, _path: &str) -> bool {
        self.allow_streamlocal_forwarding
    }

    fn auth_password(&self, user: &str, password: &str) -> AuthDecision {
        match &self.password {
            // Compare in constant time: the password is a secret and the comparison must not leak its prefix.
            Some(p)
                if self.user_ok(user)
                    && aws_lc_rs::constant_time::verify_slices_are_equal(p.as_bytes(), password.as_bytes()).is_ok() =>
            {
                AuthDecision::Accept
            }
            _ => AuthDecision::Reject,
        }
    }

    fn auth_publickey(&self, user: &str, key: &PublicKey) -> AuthDecision {
        if self.user_ok(user) && self.authorized_keys.iter().any(|k| k == key) {
            AuthDecision::Accept
        } else {
            AuthDecision::Reject
        }
    }
}
