//! Engine configuration: the role, algorithm preference lists and the protocol limits.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::kex::DhGroup;

/// Which side of the connection this engine plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connects, verifies the host key, authenticates.
    Client,
    /// Accepts, proves its host key, checks credentials.
    Server,
}

/// Key exchange methods, best first (OpenSSH's order: the post-quantum hybrids, then the curves, then finite-field
/// DH with the group exchange first).
pub const KEX_DEFAULT: &[&str] = &[
    "mlkem768x25519-sha256",
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
];

/// Opt-in key exchange methods: never offered unless named (`+diffie-hellman-group14-sha1` and the like), for
/// old devices that know nothing newer. All hash with SHA-1, whose collision resistance is broken;
/// diffie-hellman-group1-sha1 also uses a 1024-bit group, within reach of precomputation; the SHA-1 group
/// exchange lets the server pick any group of 2048 to 8192 bits.
pub const KEX_LEGACY: &[&str] = &[
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group1-sha1",
];

/// Every key exchange method implemented: the defaults, then the opt-in ones.
pub const KEX_SUPPORTED: &[&str] = &[
    "mlkem768x25519-sha256",
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group1-sha1",
];

/// Host key signature algorithms, best first.
pub const HOST_KEY_DEFAULT: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    // Certificates after the plain keys: a client puts them first only for hosts with a @cert-authority line
    // in known_hosts (as OpenSSH orders by what it knows), so a plain known_hosts entry keeps working.
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
];

/// Publickey signature algorithms the server verifies but amiko cannot produce: FIDO security keys (PROTOCOL.u2f).
pub const USER_KEY_VERIFY_ONLY: &[&str] = &["sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"];

/// Opt-in host key algorithms: `ssh-rsa` (RSA with SHA-1, RFC 4253 §6.6), whose hash is broken for collisions.
/// Verified (a client talking to an old server), never produced: aws-lc-rs has no SHA-1 RSA signing, and the
/// pure-Rust RSA crate's private-key operations are not constant time, so a server does not sign with it.
pub const HOST_KEY_LEGACY: &[&str] = &["ssh-rsa"];

/// Every host key algorithm implemented.
pub const HOST_KEY_SUPPORTED: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "ssh-rsa",
];

/// Ciphers, best first, in OpenSSH's order: the default where the CPU has no AES instructions (see
/// [`cipher_default`]).
pub const CIPHER_DEFAULT: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
];

/// The same ciphers with AES-GCM first: the default where the CPU has AES and carry-less multiply instructions.
///
/// There AES-GCM costs both ends about half what ChaCha20-Poly1305 does (1 GiB over SFTP from sshd: 1.3 s of
/// client CPU against 3.0 s, and the server's share halves too), and it was never open to the Terrapin prefix
/// truncation that ChaCha20-Poly1305 is open to against a server without strict key exchange. OpenSSH puts
/// ChaCha20 first for the machines without those instructions, where [`CIPHER_DEFAULT`] keeps it first; Go's
/// x/crypto/ssh chooses the same way.
pub const CIPHER_DEFAULT_AES_HW: &[&str] = &[
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
];

/// The cipher preference used by default on this machine: [`CIPHER_DEFAULT_AES_HW`] where AES-GCM runs on
/// dedicated instructions (aws-lc chooses its code paths at run time the same way), else [`CIPHER_DEFAULT`].
///
/// ```
/// let first = amiko_proto::config::cipher_default()[0];
/// assert!(first == "aes128-gcm@openssh.com" || first == "chacha20-poly1305@openssh.com");
/// ```
pub fn cipher_default() -> &'static [&'static str] {
    if aes_in_hardware() {
        CIPHER_DEFAULT_AES_HW
    } else {
        CIPHER_DEFAULT
    }
}

/// Whether the CPU has the AES and carry-less multiply instructions AES-GCM is fast with.
pub fn aes_in_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes") && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// Opt-in ciphers: AES in CBC mode (RFC 4253 §6.3). CBC with the classic encrypt-and-MAC packet format lets an
/// attacker learn plaintext bits from how the receiver fails on a tampered length (Albrecht, Paterson and Watson,
/// 2009), and the last ciphertext block of one packet is the IV of the next (RFC 4344 §3 on predictable IVs).
pub const CIPHER_LEGACY: &[&str] = &["aes128-cbc", "aes192-cbc", "aes256-cbc"];

/// Every cipher implemented.
pub const CIPHER_SUPPORTED: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
];

/// MACs, best first; hmac-sha1 last, as in the issue.
pub const MAC_DEFAULT: &[&str] = &[
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
];

/// Opt-in MACs: `hmac-sha1-etm@openssh.com` (OpenSSH PROTOCOL §1.5), HMAC-SHA1 in encrypt-then-MAC form. HMAC
/// itself does not rely on SHA-1's collision resistance, but its 160-bit tag is below the other MACs.
pub const MAC_LEGACY: &[&str] = &["hmac-sha1-etm@openssh.com"];

/// Every MAC implemented.
pub const MAC_SUPPORTED: &[&str] = &[
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
    "hmac-sha1-etm@openssh.com",
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
            cipher: own(cipher_default()),
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
    /// Every name accepted in this list, the opt-in ones included.
    pub fn supported(self) -> &'static [&'static str] {
        match self {
            AlgorithmKind::Kex => KEX_SUPPORTED,
            AlgorithmKind::HostKey => HOST_KEY_SUPPORTED,
            AlgorithmKind::Cipher => CIPHER_SUPPORTED,
            AlgorithmKind::Mac => MAC_SUPPORTED,
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
    /// puts first, as ssh_config(5) describes for Ciphers and friends. Unknown names are an error. Patterns match
    /// every supported name, the opt-in legacy ones ([`KEX_LEGACY`], [`HOST_KEY_LEGACY`], [`CIPHER_LEGACY`],
    /// [`MAC_LEGACY`]) included, as in OpenSSH: `+aes128-cbc` enables one of them.
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
    /// Our software version, sent as `SSH-2.0-<this>`; characters RFC 4253 §4.2 does not allow there (whitespace,
    /// `-`, control and non-ASCII characters) are sent as `_`, text after a space as a comment, and the line is cut
    /// at 255 bytes.
    pub software_version: String,
    /// Rekey after this many bytes in either direction (RFC 4344 §3 suggests 1 GiB for AES).
    pub rekey_bytes: u64,
    /// Rekey after this much time; `Duration::MAX` never rekeys by time (ssh_config's `RekeyLimit ... none`).
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
    /// Server: the groups offered by diffie-hellman-group-exchange-* (from a moduli file, see
    /// [`crate::kex::parse_moduli`]). Empty: the RFC 3526 groups 14, 16 and 18.
    pub gex_groups: Arc<Vec<DhGroup>>,
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
            gex_groups: Arc::default(),
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

    #[test]
    fn legacy_algorithms_are_opt_in() {
        let d = Algorithms::default();
        for (kind, defaults, legacy, all) in [
            (AlgorithmKind::Kex, KEX_DEFAULT, KEX_LEGACY, KEX_SUPPORTED),
            (
                AlgorithmKind::HostKey,
                HOST_KEY_DEFAULT,
                HOST_KEY_LEGACY,
                HOST_KEY_SUPPORTED,
            ),
            (AlgorithmKind::Cipher, CIPHER_DEFAULT, CIPHER_LEGACY, CIPHER_SUPPORTED),
            (AlgorithmKind::Mac, MAC_DEFAULT, MAC_LEGACY, MAC_SUPPORTED),
        ] {
            // Supported is exactly the defaults plus the legacy ones.
            let mut both: Vec<&str> = defaults.iter().chain(legacy).copied().collect();
            let mut all = all.to_vec();
            both.sort_unstable();
            all.sort_unstable();
            assert_eq!(both, all, "{kind:?}");
            for l in legacy {
                assert!(!defaults.contains(l), "{l} is opt-in");
                let mut a = d.clone();
                a.apply(kind, &format!("+{l}")).unwrap();
                assert_eq!(a.list_mut(kind).last().map(String::as_str), Some(*l));
            }
        }
        let mut hw: Vec<&str> = CIPHER_DEFAULT_AES_HW.to_vec();
        let mut plain: Vec<&str> = CIPHER_DEFAULT.to_vec();
        hw.sort_unstable();
        plain.sort_unstable();
        assert_eq!(hw, plain, "both orders hold the same ciphers");
        assert!(!d.kex.iter().any(|k| k.ends_with("-sha1")));
        assert!(!d.cipher.iter().any(|c| c.ends_with("-cbc")));
        let mut a = d.clone();
        a.apply(AlgorithmKind::Cipher, "aes256-cbc,aes128-ctr").unwrap();
        assert_eq!(a.cipher, ["aes256-cbc", "aes128-ctr"]);
    }

    #[test]
    fn aes_gcm_comes_first_exactly_where_the_cpu_has_aes() {
        let d = Algorithms::default();
        assert_eq!(d.cipher, cipher_default());
        let expected = if aes_in_hardware() {
            "aes128-gcm@openssh.com"
        } else {
            "chacha20-poly1305@openssh.com"
        };
        assert_eq!(d.cipher[0], expected);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            aes_in_hardware(),
            std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
        );
    }
}
