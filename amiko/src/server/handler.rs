//! What a server application decides: who may log in, and what some channels do.

use std::net::IpAddr;
use std::path::Path;

use amiko_proto::authorized_keys::{AuthorizedKey, ExpiryTime, LoginRestrictions};
use amiko_proto::cert::CertType;
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

    /// A public key (called for the query and, after the signature was verified, for the real attempt) by
    /// [`Handler::auth_publickey_restricted`]'s default, which the server calls. Certificates never come here.
    fn auth_publickey(&self, _user: &str, _key: &PublicKey) -> AuthDecision {
        AuthDecision::Reject
    }

    /// A public key offered by `info.user` from `info.peer`: the decision and, when it lets the user in, what the
    /// login may do from then on. The server calls this for the query and, after the signature was verified, for
    /// the real attempt; the restrictions of an accepted (or partially successful) real attempt bind every session
    /// of the connection: a forced command replaces whatever the client asks to run, with the request in
    /// SSH_ORIGINAL_COMMAND; a refused pty, agent forwarding or port forwarding is refused whatever the other hooks
    /// say; `permitopen` / `permitlisten` lists narrow direct-tcpip and remote forwards. Restrictions from several
    /// methods, or from a certificate and its CA's line, are merged, the most restrictive winning.
    ///
    /// `key` may be a certificate that no CA of [`crate::server::ServerConfig::trusted_user_ca_keys`] signed: a
    /// handler that trusts CAs of its own (authorized_keys `cert-authority`, as [`SimpleAuth`] does) checks it with
    /// [`amiko_proto::cert::Certificate::check`]. The default refuses certificates and asks
    /// [`Handler::auth_publickey`] about plain keys, unrestricted.
    fn auth_publickey_restricted(&self, info: &SessionInfo, key: &PublicKey) -> (AuthDecision, LoginRestrictions) {
        let decision = match key.certificate() {
            Some(_) => AuthDecision::Reject,
            None => self.auth_publickey(&info.user, key),
        };
        (decision, LoginRestrictions::unrestricted())
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

/// A ready handler: one password and/or a set of authorized keys, for any user name (or only `user` if set). Its
/// `Debug` output shows whether a password is set, never the password.
///
/// ```
/// let auth = amiko::server::SimpleAuth { password: Some("s3cret".into()), ..Default::default() };
/// let shown = format!("{auth:?}");
/// assert!(shown.contains("<redacted>") && !shown.contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct SimpleAuth {
    /// Only this user may log in (any user if None).
    pub user: Option<String>,
    /// The accepted password.
    pub password: Option<String>,
    /// The accepted keys, each with its authorized_keys options, enforced as sshd enforces them: `from=` and
    /// `expiry-time` decide whether the key is accepted at all; `command=`, `restrict`, `no-pty`,
    /// `no-port-forwarding`, `no-agent-forwarding`, `permitopen`, `permitlisten` and the like bind the login's
    /// sessions; a `cert-authority` line trusts its key to sign user certificates (naming the user, or one of its
    /// `principals=`), instead of accepting the key itself. Lines are tried in order and the first that accepts the
    /// key decides. A plain key with no options is `AuthorizedKey::from(key)` (or `key.into()`); a file is
    /// [`read_authorized_keys`].
    pub authorized_keys: Vec<AuthorizedKey>,
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

impl std::fmt::Debug for SimpleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleAuth")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("authorized_keys", &self.authorized_keys)
            .field("allow_tcp_forwarding", &self.allow_tcp_forwarding)
            .field("allow_agent_forwarding", &self.allow_agent_forwarding)
            .field("allow_streamlocal_forwarding", &self.allow_streamlocal_forwarding)
            .field("accept_env", &self.accept_env)
            .finish()
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

/// Reads an authorized_keys file in sshd's format (sshd(8), AUTHORIZED_KEYS FILE FORMAT): a key per line, with
/// options in front of it (see [`parse_authorized_keys`]). A line that cannot be used exactly as written (an
/// unknown or malformed option, a bad key, a line over 8 KiB) is skipped with a warning, never read as a key
/// without its options.
pub fn read_authorized_keys(path: &Path) -> crate::Result<Vec<AuthorizedKey>> {
    let text = std::fs::read(path).map_err(|e| crate::Error::io(format!("reading {}", path.display()), e))?;
    Ok(parse_authorized_keys(
        &String::from_utf8_lossy(&text),
        &path.display().to_string(),
    ))
}

/// Parses the text of an authorized_keys file; `origin` names it in the log. Blank lines and `#` comments are
/// ignored; a line that does not parse is skipped with a warning (sshd skips such lines too), so it authorizes
/// nothing. `environment=` options are kept but never applied (sshd applies them only with PermitUserEnvironment,
/// off by default; amiko has no such setting): a warning says so.
pub fn parse_authorized_keys(text: &str, origin: &str) -> Vec<AuthorizedKey> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        match amiko_proto::authorized_keys::parse_line(line) {
            Ok(Some(entry)) => {
                if !entry.options.environment.is_empty() {
                    tracing::warn!(
                        "{origin}:{}: environment= ignored (amiko never sets variables from authorized_keys, as sshd \
                         without PermitUserEnvironment)",
                        i + 1
                    );
                }
                out.push(entry);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("{origin}:{}: line skipped: {e}", i + 1),
        }
    }
    out
}

/// The Unix time an `expiry-time` stands for: as written for a UTC one, in the server's time zone otherwise (as
/// sshd reads it). None if the local time cannot be converted, which callers treat as expired.
fn expiry_unix(t: &ExpiryTime) -> Option<i64> {
    if t.utc {
        return Some(t.unix_utc());
    }
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are a valid value (a null tm_zone included), and
    // mktime only reads and normalises the struct it is given.
    let mut tm: nix::libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = t.year as i32 - 1900;
    tm.tm_mon = t.month as i32 - 1;
    tm.tm_mday = t.day as i32;
    tm.tm_hour = t.hour as i32;
    tm.tm_min = t.minute as i32;
    tm.tm_sec = t.second as i32;
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a valid, exclusively borrowed struct tm.
    let secs = unsafe { nix::libc::mktime(&mut tm) };
    (secs != -1).then_some(secs as i64)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl SimpleAuth {
    /// Whether `key` (a plain key or a user certificate) lets `user` in from `peer` (None: unknown, which no
    /// `from=` line or certificate `source-address` accepts), and with what restrictions. Lines are tried in
    /// order; the first that accepts decides. Why lines that list the key refused it is logged.
    pub fn authorize(&self, user: &str, key: &PublicKey, peer: Option<IpAddr>) -> Option<LoginRestrictions> {
        if !self.user_ok(user) {
            return None;
        }
        let now = unix_now();
        let cert = key.certificate();
        for entry in &self.authorized_keys {
            let o = &entry.options;
            let listed = match cert {
                Some(c) => o.cert_authority && c.signature_key == entry.key,
                // A CA's own key is not a login key (sshd: "key is a certificate authority").
                None => !o.cert_authority && entry.key == *key,
            };
            if !listed {
                continue;
            }
            let refused = |why: String| {
                tracing::info!(user, key = %key.fingerprint(), "authorized key refused: {why}");
            };
            if let Some(list) = &o.from {
                let ok = match peer {
                    Some(ip) => amiko_proto::authorized_keys::from_matches(list, ip),
                    None => Ok(false),
                };
                match ok {
                    Ok(true) => {}
                    Ok(false) => {
                        refused(format!(
                            "client address {} not in from=\"{list}\"",
                            peer.map_or("unknown".into(), |p| p.to_canonical().to_string())
                        ));
                        continue;
                    }
                    Err(e) => {
                        refused(format!("from=: {e}"));
                        continue;
                    }
                }
            }
            if let Some(t) = &o.expiry_time {
                if expiry_unix(t).is_none_or(|expiry| now > expiry) {
                    refused("expiry-time has passed".into());
                    continue;
                }
            }
            let Some(c) = cert else {
                return Some(o.restrictions.clone());
            };
            // A certificate by this CA: with principals=, one of those must be in the certificate instead of the
            // user name; then every check of a trusted certificate, and its restrictions merged with the line's.
            let principal = match &o.principals {
                Some(allowed) => match c.principals.iter().find(|p| allowed.contains(p)) {
                    Some(p) => p.as_str(),
                    None => {
                        refused(format!(
                            "certificate names none of principals=\"{}\"",
                            allowed.join(",")
                        ));
                        continue;
                    }
                },
                None => user,
            };
            let checked = c
                .check(CertType::User, principal, now.max(0) as u64, peer)
                .and_then(|cert_rules| o.restrictions.merge(&cert_rules));
            match checked {
                Ok(rules) => return Some(rules),
                Err(e) => refused(format!("certificate: {e}")),
            }
        }
        None
    }
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

    /// Without the client's address, a key whose line has `from=` is refused (the server calls
    /// [`Handler::auth_publickey_restricted`], which has it).
    fn auth_publickey(&self, user: &str, key: &PublicKey) -> AuthDecision {
        match self.authorize(user, key, None) {
            Some(_) => AuthDecision::Accept,
            None => AuthDecision::Reject,
        }
    }

    fn auth_publickey_restricted(&self, info: &SessionInfo, key: &PublicKey) -> (AuthDecision, LoginRestrictions) {
        match self.authorize(&info.user, key, Some(info.peer.ip())) {
            Some(rules) => (AuthDecision::Accept, rules),
            None => (AuthDecision::Reject, LoginRestrictions::restricted()),
        }
    }
}
