//! Engine configuration: the role, algorithm preference lists and the protocol limits.

use std::time::Duration;

use crate::error::{Error, Result};

/// Which side of the connection this engine plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connects, verifies the host key, authenticates.
    Client,
    /// Accepts, proves its host key, checks credentials.
    Server,
}

/// Key exchange methods, best first (OpenSSH 9.9 order, without the ones not implemented).
pub const KEX_DEFAULT: &[&str] = &[
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
];

/// Host key signature algorithms, best first.
pub const HOST_KEY_DEFAULT: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
];

/// Ciphers, best first (OpenSSH's order).
pub const CIPHER_DEFAULT: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
];

/// MACs, best first; hmac-sha1 last, as in the issue.
pub const MAC_DEFAULT: &[&str] = &[
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
];

/// Compression offered when it is off: only `none` (a client without `-C`).
pub const COMPRESSION_OFF: &[&str] = &["none"];
/// A client that asks for compression (`ssh -C`, `Compression yes`): zlib first so it wins, as OpenSSH's client
/// orders it; `none` last so a server without compression still connects.
pub const COMPRESSION_CLIENT_ON: &[&str] = &["zlib@openssh.com", "zlib", "none"];
/// What a server offers by default, as sshd does: no compression unless the client prefers it, and then only the
/// delayed method, so nothing is inflated before the user has authenticated.
pub const COMPRESSION_SERVER_ON: &[&str] = &["none", "zlib@openssh.com"];

/// The algorithm preference lists of one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Algorithms {
    /// Key exchange methods.
    pub kex: Vec<String>,
    /// Host key signature algorithms.
    pub host_key: Vec<String>,
    /// Ciphers (both directions).
    pub cipher: Vec<String>,
    /// MACs (both directions; unused with AEAD ciphers).
    pub mac: Vec<String>,
    /// Compression methods (both directions), names from
    /// [`COMPRESSION_SUPPORTED`](crate::transport::compress::COMPRESSION_SUPPORTED). [`Config::new`] sets the
    /// role's default and [`Config::set_compression`] switches it.
    pub compression: Vec<String>,
}

impl Default for Algorithms {
    fn default() -> Self {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Algorithms {
            kex: own(KEX_DEFAULT),
            host_key: own(HOST_KEY_DEFAULT),
            cipher: own(CIPHER_DEFAULT),
            mac: own(MAC_DEFAULT),
            compression: own(COMPRESSION_OFF),
        }
    }
}

/// One of the four lists, named as in ssh_config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgorithmKind {
    /// KexAlgorithms.
    Kex,
    /// HostKeyAlgorithms.
    HostKey,
    /// Ciphers.
    Cipher,
    /// MACs.
    Mac,
}

impl AlgorithmKind {
    fn supported(self) -> &'static [&'static str] {
        match self {
            AlgorithmKind::Kex => KEX_DEFAULT,
            AlgorithmKind::HostKey => HOST_KEY_DEFAULT,
            AlgorithmKind::Cipher => CIPHER_DEFAULT,
            AlgorithmKind::Mac => MAC_DEFAULT,
        }
    }

    fn name(self) -> &'static str {
        match self {
            AlgorithmKind::Kex => "KexAlgorithms",
            AlgorithmKind::HostKey => "HostKeyAlgorithms",
            AlgorithmKind::Cipher => "Ciphers",
            AlgorithmKind::Mac => "MACs",
        }
    }
}

impl Algorithms {
    fn list_mut(&mut self, kind: AlgorithmKind) -> &mut Vec<String> {
        match kind {
            AlgorithmKind::Kex => &mut self.kex,
            AlgorithmKind::HostKey => &mut self.host_key,
            AlgorithmKind::Cipher => &mut self.cipher,
            AlgorithmKind::Mac => &mut self.mac,
        }
    }

    /// Applies an ssh_config-style list: `a,b` replaces, `+a` appends, `-a*` removes (patterns allowed), `^a`
    /// puts first, as ssh_config(5) describes for Ciphers and friends. Unknown names are an error.
    ///
    /// ```
    /// use amiko_proto::config::{Algorithms, AlgorithmKind};
    /// let mut a = Algorithms::default();
    /// a.apply(AlgorithmKind::Cipher, "^aes256-gcm@openssh.com").unwrap();
    /// assert_eq!(a.cipher[0], "aes256-gcm@openssh.com");
    /// a.apply(AlgorithmKind::Cipher, "-aes*").unwrap();
    /// assert_eq!(a.cipher, ["chacha20-poly1305@openssh.com"]);
    /// ```
    pub fn apply(&mut self, kind: AlgorithmKind, spec: &str) -> Result<()> {
        let supported = kind.supported();
        let (op, body) = match spec.chars().next() {
            Some(c @ ('+' | '-' | '^')) => (Some(c), &spec[1..]),
            _ => (None, spec),
        };
        let names: Vec<&str> = body.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let expand = |pattern: &str| -> Result<Vec<String>> {
            let found: Vec<String> = supported
                .iter()
                .filter(|s| crate::known_hosts::glob_match(pattern, s))
                .map(|s| s.to_string())
                .collect();
            if found.is_empty() && op != Some('-') {
                return Err(Error::Usage(format!(
                    "{}: unsupported algorithm '{pattern}'",
                    kind.name()
                )));
            }
            Ok(found)
        };
        let mut chosen = Vec::new();
        for n in &names {
            for e in expand(n)? {
                if !chosen.contains(&e) {
                    chosen.push(e);
                }
            }
        }
        let list = self.list_mut(kind);
        match op {
            None => {
                if chosen.is_empty() {
                    return Err(Error::Usage(format!("{}: empty list", kind.name())));
                }
                *list = chosen
            }
            Some('+') => {
                for c in chosen {
                    if !list.contains(&c) {
                        list.push(c);
                    }
                }
            }
            Some('-') => list.retain(|c| !chosen.contains(c)),
            _ => {
                list.retain(|c| !chosen.contains(c));
                list.splice(0..0, chosen);
            }
        }
        if list.is_empty() {
            return Err(Error::Usage(format!("{}: no algorithm left", kind.name())));
        }
        Ok(())
    }
}

/// Protocol limits and timers, with OpenSSH-like defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Client or server.
    pub role: Role,
    /// Our algorithm preferences.
    pub algorithms: Algorithms,
    /// Our software version, sent as `SSH-2.0-<this>`.
    pub software_version: String,
    /// Rekey after this many bytes in either direction (RFC 4344 §3 suggests 1 GiB for AES).
    pub rekey_bytes: u64,
    /// Rekey after this much time.
    pub rekey_time: Duration,
    /// The receive window we offer on each channel.
    pub channel_window: u32,
    /// The largest channel data packet we accept.
    pub channel_max_packet: u32,
    /// At most this many channels open at once on one connection.
    pub max_channels: usize,
    /// Server: failed authentication attempts before disconnecting (OpenSSH MaxAuthTries).
    pub max_auth_attempts: u32,
    /// Send a keepalive after this long without input (OpenSSH ServerAliveInterval / ClientAliveInterval).
    pub keepalive_interval: Option<Duration>,
    /// Disconnect after this many unanswered keepalives.
    pub keepalive_count_max: u32,
    /// Server: the authentication methods named in USERAUTH_FAILURE.
    pub auth_methods: Vec<String>,
}

impl Config {
    /// Turns compression on or off the way OpenSSH does for this role: a client offers
    /// [`COMPRESSION_CLIENT_ON`] (`ssh -C`) or only `none`; a server offers [`COMPRESSION_SERVER_ON`] (sshd's
    /// default) or only `none` (`Compression no`).
    ///
    /// ```
    /// use amiko_proto::config::{Config, Role};
    /// let mut c = Config::new(Role::Client);
    /// assert_eq!(c.algorithms.compression, ["none"]);
    /// c.set_compression(true);
    /// assert_eq!(c.algorithms.compression[0], "zlib@openssh.com");
    /// assert_eq!(Config::new(Role::Server).algorithms.compression, ["none", "zlib@openssh.com"]);
    /// ```
    pub fn set_compression(&mut self, on: bool) {
        let list = match (on, self.role) {
            (false, _) => COMPRESSION_OFF,
            (true, Role::Client) => COMPRESSION_CLIENT_ON,
            (true, Role::Server) => COMPRESSION_SERVER_ON,
        };
        self.algorithms.compression = list.iter().map(|s| s.to_string()).collect();
    }

    /// Whether compression is offered (any method other than `none` in the list).
    pub fn compression(&self) -> bool {
        self.algorithms.compression.iter().any(|c| c != "none")
    }
}

impl Config {
    /// Defaults for `role`.
    pub fn new(role: Role) -> Self {
        let mut c = Config {
            role,
            algorithms: Algorithms::default(),
            software_version: format!("amiko_{}", env!("CARGO_PKG_VERSION")),
            rekey_bytes: 1 << 30,
            rekey_time: Duration::from_secs(3600),
            channel_window: 8 << 20,
            channel_max_packet: 32 * 1024,
            max_channels: 1024,
            max_auth_attempts: 6,
            keepalive_interval: None,
            keepalive_count_max: 3,
            auth_methods: ["publickey", "password", "keyboard-interactive"]
                .map(String::from)
                .to_vec(),
        };
        c.set_compression(role == Role::Server);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifiers_work_like_ssh_config() {
        let mut a = Algorithms::default();
        a.apply(AlgorithmKind::Mac, "hmac-sha1").unwrap();
        assert_eq!(a.mac, ["hmac-sha1"]);
        a.apply(AlgorithmKind::Mac, "+hmac-sha2-256").unwrap();
        assert_eq!(a.mac, ["hmac-sha1", "hmac-sha2-256"]);
        a.apply(AlgorithmKind::Mac, "^hmac-sha2-256").unwrap();
        assert_eq!(a.mac, ["hmac-sha2-256", "hmac-sha1"]);
        assert!(a.apply(AlgorithmKind::Kex, "nonsense-kex").is_err());
        assert!(a.apply(AlgorithmKind::Mac, "-hmac*").is_err());
    }
}
