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

/// Matches `*` (any run) and `?` (one character) wildcards, as ssh's `match_pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi].eq_ignore_ascii_case(&t[ti])) {
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
    /// The key is marked `@revoked`.
    Revoked {
        /// Line number.
        line: usize,
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

/// The name a host is known by: `host` for port 22, else `[host]:port`.
fn host_label(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
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

/// Whether a host-pattern list matches: a negated match excludes the host even if another pattern matches.
fn hosts_match(patterns: &str, host: &str, port: u16) -> bool {
    let label = host_label(host, port);
    if patterns.starts_with("|1|") {
        return hashed_match(patterns, &label);
    }
    let mut matched = false;
    for p in patterns.split(',') {
        let (neg, p) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p),
        };
        if glob_match(p, &label) {
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

    /// Looks `key` up for `host:port`.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
        let matching: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| hosts_match(&e.hosts, host, port))
            .collect();
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
        format!("{} {}", host_label(host, port), key.to_openssh())
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
        assert!(glob_match("h?st", "host"));
        assert!(!glob_match("h?st", "hoost"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b", "ac"));
    }

    #[test]
    fn patterns_ports_negation_and_changes() {
        let (k1, k2) = (key(), key());
        let text = format!(
            "# comment\n\nweb*,!web3 {}\n[db]:2222 {}\nbroken line\n",
            k1.to_openssh(),
            k2.to_openssh()
        );
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.check("web1", 22, &k1), HostKeyStatus::Known);
        assert_eq!(kh.check("web3", 22, &k1), HostKeyStatus::Unknown);
        assert_eq!(kh.check("db", 2222, &k2), HostKeyStatus::Known);
        assert_eq!(kh.check("db", 22, &k2), HostKeyStatus::Unknown);
        assert!(matches!(
            kh.check("web1", 22, &k2),
            HostKeyStatus::Changed { line: 3, .. }
        ));
    }

    #[test]
    fn revoked_and_cert_authority() {
        let (k1, k2) = (key(), key());
        let text = format!(
            "@revoked * {}\n@cert-authority *.corp {}\n",
            k1.to_openssh(),
            k2.to_openssh()
        );
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.check("any", 22, &k1), HostKeyStatus::Revoked { line: 1 });
        assert_eq!(kh.check("a.corp", 22, &k2), HostKeyStatus::Unknown);
    }

    #[test]
    fn hashed_entries_from_ssh_keygen() {
        let k = key();
        let dir = std::env::temp_dir().join(format!("amiko-kh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("known_hosts");
        std::fs::write(&f, format!("{}\n", KnownHosts::entry_line("server.test", 2200, &k))).unwrap();
        let ok = std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&f)
            .output();
        if ok.is_err() {
            eprintln!("ssh-keygen missing; skipping");
            return;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("|1|"), "{text}");
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.check("server.test", 2200, &k), HostKeyStatus::Known);
        assert_eq!(kh.check("server.test", 22, &k), HostKeyStatus::Unknown);
        std::fs::remove_dir_all(&dir).ok();
    }
}
