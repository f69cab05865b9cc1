//! OpenSSH known_hosts files (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"): patterns, negation, `[host]:port`, hashed
//! `|1|` entries, `@revoked` and `@cert-authority` markers. Parsing only; files are read by the caller.
//!
//! ```
//! use amiko_proto::{keys::PrivateKey, known_hosts::{KnownHosts, HostKeyStatus}};
//! let key = PrivateKey::generate_ed25519().unwrap().public_key();
//! let kh = KnownHosts::parse(&KnownHosts::entry_line("example.com", 2222, &key));
//! assert_eq!(kh.check("example.com", 2222, &key), HostKeyStatus::Known);
//! assert_eq!(kh.check("example.com", 22, &key), HostKeyStatus::Unknown);
//! ```

use aws_lc_rs::hmac;
use base64ct::Encoding;

use crate::keys::PublicKey;

/// Matches `*` (any run) and `?` (one character) wildcards, as ssh's `match_pattern`, ignoring ASCII case (ssh
/// lowercases host names before matching them).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob(pattern, text, |p, t| p.eq_ignore_ascii_case(&t))
}

/// Matches `*` (any run) and `?` (one byte) wildcards exactly as ssh's `match_pattern` does on a name it does not
/// lowercase: case-sensitively. sshd matches AcceptEnv's patterns against variable names this way.
pub fn glob_match_case_sensitive(pattern: &str, text: &str) -> bool {
    glob(pattern, text, |p, t| p == t)
}

fn glob(pattern: &str, text: &str, same: impl Fn(u8, u8) -> bool) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || same(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The result of looking a host key up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line for this host has this key.
    Known,
    /// No line for this host has a key of this type.
    Unknown,
    /// A line for this host has a different key of the same type.
    Changed {
        /// Line number (1-based).
        line: usize,
        /// That line's key type and fingerprint.
        existing: String,
    },
    /// The key is marked `@revoked` (for a certificate: the certified key or its CA).
    Revoked {
        /// Line number.
        line: usize,
    },
    /// A host certificate signed by a `@cert-authority` key for this host, and valid (signature, type, time,
    /// principal, no critical options). Only [`KnownHosts::check_at`] says this.
    CertValid {
        /// The `@cert-authority` line.
        line: usize,
    },
    /// A host certificate signed by a `@cert-authority` key for this host, but not valid; never to be trusted.
    CertInvalid {
        /// The `@cert-authority` line.
        line: usize,
        /// Why.
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    marker: Marker,
    hosts: String,
    key: PublicKey,
}

/// A parsed known_hosts file.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

/// The name a host is known by: `host` for port 22, else `[host]:port`; lower case, as ssh writes and hashes it.
fn host_label(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

fn hashed_match(entry: &str, label: &str) -> bool {
    let mut parts = entry.trim_start_matches("|1|").split('|');
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (base64ct::Base64::decode_vec(salt), base64ct::Base64::decode_vec(hash)) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    hmac::verify(&key, label.as_bytes(), &hash).is_ok()
}

/// Whether a host-pattern list matches `label` (from [`host_label`]): a negated match excludes the host even if
/// another pattern matches.
fn hosts_match(patterns: &str, label: &str) -> bool {
    if patterns.starts_with("|1|") {
        return hashed_match(patterns, label);
    }
    let mut matched = false;
    for p in patterns.split(',') {
        let (neg, p) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p),
        };
        if glob_match(p, label) {
            if neg {
                return false;
            }
            matched = true;
        }
    }
    matched
}

impl KnownHosts {
    /// Parses a file's text; comments, blank and malformed lines are skipped.
    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let marker = match first {
                "@revoked" => Marker::Revoked,
                "@cert-authority" => Marker::CertAuthority,
                _ if first.starts_with('@') => continue, // an unknown marker: ssh skips the line too
                _ => Marker::None,
            };
            if marker != Marker::None {
                first = fields.next().unwrap_or_default();
            }
            let (Some(t), Some(b)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(key) = PublicKey::from_openssh(&format!("{t} {b}")) else {
                continue;
            };
            entries.push(Entry {
                line: i + 1,
                marker,
                hosts: first.to_string(),
                key,
            });
        }
        KnownHosts { entries }
    }

    /// Whether a `@cert-authority` line applies to `host:port` (a client then prefers certificate host keys).
    pub fn has_cert_authority(&self, host: &str, port: u16) -> bool {
        let label = host_label(host, port);
        self.entries
            .iter()
            .any(|e| e.marker == Marker::CertAuthority && hosts_match(&e.hosts, &label))
    }

    /// Looks `key` up for `host:port` at Unix time `now`. A host certificate is checked against the
    /// `@cert-authority` lines for the host (its principals must include `host`, without the port); with no such
    /// line its certified key is looked up as a plain key, as ssh does. `@revoked` applies to the certified key
    /// and to the CA key.
    pub fn check_at(&self, host: &str, port: u16, key: &PublicKey, now: u64) -> HostKeyStatus {
        let Some(cert) = key.certificate() else {
            return self.check(host, port, key);
        };
        let label = host_label(host, port);
        let matching: Vec<&Entry> = self.entries.iter().filter(|e| hosts_match(&e.hosts, &label)).collect();
        if let Some(e) = matching
            .iter()
            .find(|e| e.marker == Marker::Revoked && (e.key == *cert.key.plain() || e.key == cert.signature_key))
        {
            return HostKeyStatus::Revoked { line: e.line };
        }
        let ca = matching
            .iter()
            .find(|e| e.marker == Marker::CertAuthority && e.key == cert.signature_key);
        match ca {
            Some(e) => match cert.check(crate::cert::CertType::Host, &host.to_ascii_lowercase(), now, None) {
                Ok(_) => HostKeyStatus::CertValid { line: e.line },
                Err(why) => HostKeyStatus::CertInvalid {
                    line: e.line,
                    why: why.to_string(),
                },
            },
            None => self.check(host, port, &cert.key),
        }
    }

    /// Looks `key` up for `host:port`. A certificate is looked up as its certified key (use
    /// [`KnownHosts::check_at`] to trust certificates through `@cert-authority`).
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
        let key = key.plain();
        let label = host_label(host, port);
        let matching: Vec<&Entry> = self.entries.iter().filter(|e| hosts_match(&e.hosts, &label)).collect();
        if let Some(e) = matching.iter().find(|e| e.marker == Marker::Revoked && e.key == *key) {
            return HostKeyStatus::Revoked { line: e.line };
        }
        // @cert-authority lines name CA keys: a plain host key is never vouched for by them.
        let plain: Vec<&&Entry> = matching.iter().filter(|e| e.marker == Marker::None).collect();
        if plain.iter().any(|e| e.key == *key) {
            return HostKeyStatus::Known;
        }
        match plain.iter().find(|e| e.key.key_type() == key.key_type()) {
            Some(e) => HostKeyStatus::Changed {
                line: e.line,
                existing: format!("{} {}", e.key.key_type(), e.key.fingerprint()),
            },
            None => HostKeyStatus::Unknown,
        }
    }

    /// The line to add for a host: `host type base64`, or `[host]:port type base64` off port 22.
    pub fn entry_line(host: &str, port: u16, key: &PublicKey) -> String {
        format!("{} {}", host_label(host, port), key.plain().to_openssh())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    fn key() -> PublicKey {
        PrivateKey::generate_ed25519().unwrap().public_key()
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.example.com", "a.b.example.com"));
        assert!(!glob_match("*.example.com", "example.com"));
        assert!(glob_match("h?st", "host"));
        assert!(!glob_match("h?st", "hoost"));
        assert!(glob_match("*", ""));
        assert!(glob_match("**a*", "bab"));
        assert!(!glob_match("a*b", "ac"));
        assert!(glob_match("a*b*c", "axxbyybzc"));
        assert!(
            glob_match("WEB*", "web1"),
            "case-insensitive, as ssh lowercases host names"
        );
        assert!(glob_match("192.168.1.?", "192.168.1.7"));
        assert!(!glob_match("192.168.1.?", "192.168.1.17"));
        assert!(glob_match("[*.test]:2222", "[a.test]:2222"));
        assert!(!glob_match("", "x"));
        assert!(glob_match_case_sensitive("LC_*", "LC_ALL"));
        assert!(
            !glob_match_case_sensitive("LC_*", "lc_all"),
            "variable names keep their case"
        );
        assert!(
            !glob_match_case_sensitive("LANG", "LANGUAGE"),
            "a pattern matches the whole name"
        );
        assert!(glob_match_case_sensitive("FOO?", "FOO1") && !glob_match_case_sensitive("FOO?", "FOO"));
    }

    #[test]
    fn patterns_ports_negation_and_changes() {
        let (k1, k2) = (key(), key());
        let text = format!(
            "# comment\n\nweb*,!web3 {}\n[db]:2222 {}\nbroken line\n10.0.0.?,gateway {} a comment\r\n",
            k1.to_openssh(),
            k2.to_openssh(),
            k1.to_openssh()
        );
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.check("web1", 22, &k1), HostKeyStatus::Known);
        assert_eq!(kh.check("WEB1", 22, &k1), HostKeyStatus::Known);
        assert_eq!(kh.check("web3", 22, &k1), HostKeyStatus::Unknown, "negated");
        assert_eq!(kh.check("web1", 2200, &k1), HostKeyStatus::Unknown, "another port");
        assert_eq!(kh.check("db", 2222, &k2), HostKeyStatus::Known);
        assert_eq!(kh.check("db", 22, &k2), HostKeyStatus::Unknown);
        assert_eq!(kh.check("10.0.0.5", 22, &k1), HostKeyStatus::Known);
        assert_eq!(kh.check("gateway", 22, &k1), HostKeyStatus::Known);
        assert_eq!(kh.check("10.0.0.50", 22, &k1), HostKeyStatus::Unknown);
        assert_eq!(
            kh.check("web1", 22, &k2),
            HostKeyStatus::Changed {
                line: 3,
                existing: format!("ssh-ed25519 {}", k1.fingerprint())
            }
        );
        assert!(matches!(
            kh.check("db", 2222, &k1),
            HostKeyStatus::Changed { line: 4, .. }
        ));
    }

    #[test]
    fn changed_needs_the_same_key_type_and_no_line_with_the_key() {
        let (old, new) = (key(), key());
        let ecdsa = PrivateKey::generate_ecdsa(256).unwrap().public_key();
        let rsa = PrivateKey::generate_rsa(2048).unwrap().public_key();
        let text = format!(
            "host {}\nhost,other {}\n*.lan {}\n",
            old.to_openssh(),
            new.to_openssh(),
            ecdsa.to_openssh()
        );
        let kh = KnownHosts::parse(&text);
        // A second line with the key wins over the first line's different key.
        assert_eq!(kh.check("host", 22, &new), HostKeyStatus::Known);
        assert_eq!(kh.check("host", 22, &old), HostKeyStatus::Known);
        assert!(matches!(
            kh.check("other", 22, &old),
            HostKeyStatus::Changed { line: 2, .. }
        ));
        // A key of a type no line has for the host is new, not changed.
        assert_eq!(kh.check("host", 22, &ecdsa), HostKeyStatus::Unknown);
        assert_eq!(kh.check("host", 22, &rsa), HostKeyStatus::Unknown);
        assert_eq!(kh.check("pi.lan", 22, &ecdsa), HostKeyStatus::Known);
        let other_ecdsa = PrivateKey::generate_ecdsa(256).unwrap().public_key();
        assert_eq!(
            kh.check("pi.lan", 22, &other_ecdsa),
            HostKeyStatus::Changed {
                line: 3,
                existing: format!("ecdsa-sha2-nistp256 {}", ecdsa.fingerprint())
            }
        );
        let p384 = PrivateKey::generate_ecdsa(384).unwrap().public_key();
        assert_eq!(kh.check("pi.lan", 22, &p384), HostKeyStatus::Unknown);
    }

    #[test]
    fn revoked_and_cert_authority() {
        let (k1, k2, k3) = (key(), key(), key());
        let text = format!(
            "@revoked * {}\n@cert-authority *.corp {}\nhost.corp {}\n@revoked host.corp {}\n@unknown host.corp {}\n\
             @revoked\n",
            k1.to_openssh(),
            k2.to_openssh(),
            k1.to_openssh(),
            k3.to_openssh(),
            k2.to_openssh()
        );
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.check("any", 22, &k1), HostKeyStatus::Revoked { line: 1 });
        // Revocation wins over a plain line with the same key.
        assert_eq!(kh.check("host.corp", 22, &k1), HostKeyStatus::Revoked { line: 1 });
        assert_eq!(kh.check("host.corp", 22, &k3), HostKeyStatus::Revoked { line: 4 });
        assert_eq!(kh.check("other.corp", 22, &k3), HostKeyStatus::Unknown);
        // A CA key never vouches for a plain host key, even its own, nor makes another key "changed".
        assert_eq!(kh.check("a.corp", 22, &k2), HostKeyStatus::Unknown);
        assert_eq!(kh.check("a.corp", 22, &k3), HostKeyStatus::Unknown);
        assert_eq!(
            kh.entries.iter().filter(|e| e.marker == Marker::CertAuthority).count(),
            1
        );
        // The unknown marker's line is skipped: k2 is not known for host.corp, only changed from line 3's k1.
        assert!(matches!(
            kh.check("host.corp", 22, &k2),
            HostKeyStatus::Changed { line: 3, .. }
        ));
        assert_eq!(kh.entries.len(), 4);
    }

    #[test]
    fn entry_lines_round_trip() {
        let k = key();
        assert_eq!(
            KnownHosts::entry_line("Example.COM", 22, &k),
            format!("example.com {}", k.to_openssh())
        );
        assert_eq!(
            KnownHosts::entry_line("::1", 2222, &k),
            format!("[::1]:2222 {}", k.to_openssh())
        );
        let text = [
            KnownHosts::entry_line("example.com", 22, &k),
            KnownHosts::entry_line("::1", 2222, &k),
        ]
        .join("\n");
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.check("example.com", 22, &k), HostKeyStatus::Known);
        assert_eq!(kh.check("::1", 2222, &k), HostKeyStatus::Known);
        assert_eq!(kh.check("::1", 22, &k), HostKeyStatus::Unknown);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let k = key();
        let b64 = k.to_openssh().split_whitespace().nth(1).unwrap().to_string();
        let text = format!(
            "host\nhost ssh-ed25519\nhost ssh-ed25519 !!!\nhost ssh-rsa {b64}\n|1|bad|hash {}\n|1|onlysalt {}\n\
             host {}\n",
            k.to_openssh(),
            k.to_openssh(),
            k.to_openssh()
        );
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.check("host", 22, &k), HostKeyStatus::Known);
        assert_eq!(kh.entries.iter().map(|e| e.line).collect::<Vec<_>>(), [5, 6, 7]);
        assert_eq!(KnownHosts::parse("").check("host", 22, &k), HostKeyStatus::Unknown);
    }

    #[test]
    fn hashed_entries_from_ssh_keygen() {
        let (k, other) = (key(), key());
        let dir = std::env::temp_dir().join(format!("amiko-kh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("known_hosts");
        let plain = [
            KnownHosts::entry_line("server.test", 2200, &k),
            KnownHosts::entry_line("plain.test", 22, &k),
            KnownHosts::entry_line("10.1.2.3", 22, &k),
        ]
        .join("\n");
        std::fs::write(&f, format!("{plain}\n")).unwrap();
        let ok = std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&f)
            .output();
        let Ok(out) = ok else {
            assert!(
                std::env::var_os("AMIKO_REQUIRE_PEERS").is_none(),
                "ssh-keygen is missing"
            );
            eprintln!("ssh-keygen missing; skipping");
            return;
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(text.lines().filter(|l| l.starts_with("|1|")).count(), 3, "{text}");
        assert!(!text.contains("server.test") && !text.contains("plain.test"), "{text}");
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.check("server.test", 2200, &k), HostKeyStatus::Known);
        assert_eq!(kh.check("Server.Test", 2200, &k), HostKeyStatus::Known);
        assert_eq!(kh.check("server.test", 22, &k), HostKeyStatus::Unknown);
        assert_eq!(kh.check("plain.test", 22, &k), HostKeyStatus::Known);
        assert_eq!(kh.check("10.1.2.3", 22, &k), HostKeyStatus::Known);
        assert_eq!(kh.check("10.1.2.4", 22, &k), HostKeyStatus::Unknown);
        assert!(matches!(
            kh.check("plain.test", 22, &other),
            HostKeyStatus::Changed { line: 2, .. }
        ));
    }
}
