//! Host-key policies (Paramiko's names) and known_hosts files.

use std::io::Write;
use std::path::{Path, PathBuf};

use amiko_proto::keys::PublicKey;
use amiko_proto::known_hosts::{HostKeyStatus, KnownHosts};

use crate::error::{Error, Result};

/// What to do with a server whose host key is not in known_hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse unknown hosts (Paramiko's RejectPolicy, OpenSSH's StrictHostKeyChecking=yes). The default.
    #[default]
    Reject,
    /// Accept unknown hosts and save them to the first known_hosts file (Paramiko's AutoAddPolicy).
    AutoAdd,
    /// Accept unknown hosts with a warning on stderr, without saving (Paramiko's WarningPolicy).
    Warning,
    /// Accept and save unknown hosts; refuse changed keys (StrictHostKeyChecking=accept-new).
    AcceptNew,
    /// Accept any key, even a changed one, without saving (StrictHostKeyChecking=no). Dangerous.
    DangerouslyAcceptAny,
}

/// Known hosts loaded from files, and the policy for the rest.
#[derive(Debug, Clone, Default)]
pub struct HostKeyCheck {
    /// The policy for unknown hosts.
    pub policy: HostKeyPolicy,
    /// Files read, in order; new keys are appended to the first.
    pub files: Vec<PathBuf>,
    /// Extra known_hosts text (e.g. loaded by `load_host_keys`).
    pub extra: String,
}

impl HostKeyCheck {
    /// Whether known_hosts has a `@cert-authority` line for `host:port`: the client then offers certificate host
    /// key algorithms first, as ssh orders its HostKeyAlgorithms by what known_hosts can check.
    /// A file that cannot be read counts as empty here; [`HostKeyCheck::check`] reports it.
    pub fn has_cert_authority(&self, host: &str, port: u16) -> bool {
        self.load()
            .map(|t| KnownHosts::parse(&t).has_cert_authority(host, port))
            .unwrap_or(false)
    }

    /// The known_hosts text: `extra` and every file. A missing file is an empty one (as for ssh); any other read
    /// error (permissions, out of file descriptors) is an error, never taken as "host unknown".
    fn load(&self) -> Result<String> {
        let mut text = self.extra.clone();
        for f in &self.files {
            match std::fs::read_to_string(f) {
                Ok(t) => {
                    text.push('\n');
                    text.push_str(&t);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("reading known hosts file {}", f.display()), e)),
            }
        }
        Ok(text)
    }

    /// Decides about `key` for `host:port`. Refusals say why, with the fingerprint and the known_hosts line, as
    /// OpenSSH does.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> Result<()> {
        let known = KnownHosts::parse(&self.load()?);
        let fp = key.fingerprint();
        let label = if port == 22 {
            host.to_string()
        } else {
            format!("[{host}]:{port}")
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match known.check_at(host, port, key, now) {
            HostKeyStatus::Known | HostKeyStatus::CertValid { .. } => Ok(()),
            // A certificate from a trusted CA that fails its checks is never accepted, whatever the policy: ssh
            // refuses it too rather than falling back to the plain key.
            HostKeyStatus::CertInvalid { line, why } => Err(Error::HostKey(format!(
                "host certificate for {label} signed by the @cert-authority key of known_hosts line {line} is not \
                 valid: {why}"
            ))),
            HostKeyStatus::Revoked { line } => Err(Error::HostKey(format!(
                "host key for {label} is marked as revoked (line {line}); {} key fingerprint is {fp}",
                key.key_type()
            ))),
            HostKeyStatus::Changed { line, existing } if self.policy != HostKeyPolicy::DangerouslyAcceptAny => {
                Err(Error::HostKey(format!(
                    "REMOTE HOST IDENTIFICATION HAS CHANGED for {label}: the server sent {} key {fp}, but known_hosts \
                     line {line} ({}) has {existing}",
                    key.key_type(),
                    self.files
                        .first()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "in memory".into()),
                )))
            }
            HostKeyStatus::Changed { .. } => Ok(()),
            HostKeyStatus::Unknown => match self.policy {
                HostKeyPolicy::Reject => Err(Error::HostKey(format!(
                    "host key verification failed: no {} host key is known for {label} (fingerprint {fp})",
                    key.key_type()
                ))),
                HostKeyPolicy::Warning => {
                    eprintln!("Warning: unknown {} host key for {label}: {fp}", key.key_type());
                    Ok(())
                }
                HostKeyPolicy::AutoAdd | HostKeyPolicy::AcceptNew => {
                    if let Some(file) = self.files.first() {
                        append_known_host(file, host, port, key)?;
                    }
                    Ok(())
                }
                HostKeyPolicy::DangerouslyAcceptAny => Ok(()),
            },
        }
    }
}

/// Appends a host's key to a known_hosts file, creating the file (and ~/.ssh) if needed.
pub fn append_known_host(file: &Path, host: &str, port: u16, key: &PublicKey) -> Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(|e| Error::io(format!("opening {}", file.display()), e))?;
    writeln!(f, "{}", KnownHosts::entry_line(host, port, key)).map_err(|e| Error::io("writing known_hosts", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A known_hosts file that exists but cannot be read (here: a directory; in the field: EMFILE, EACCES) must not
    /// read as "host unknown": with accept-new that would trust and record whatever key the server sends.
    #[test]
    fn an_unreadable_known_hosts_file_is_an_error_not_an_unknown_host() {
        let dir = std::env::temp_dir().join(format!("amiko-kh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = amiko_proto::keys::PrivateKey::generate_ed25519().unwrap().public_key();
        let check = HostKeyCheck {
            policy: HostKeyPolicy::AcceptNew,
            files: vec![dir.join("missing"), dir.clone()],
            extra: String::new(),
        };
        let err = check.check("example.org", 22, &key).unwrap_err().to_string();
        assert!(err.contains("reading known hosts file"), "{err}");
        // A missing file alone is an empty one: accept-new then records the key in it.
        let fresh = HostKeyCheck {
            files: vec![dir.join("missing")],
            ..check
        };
        fresh.check("example.org", 22, &key).unwrap();
        assert!(std::fs::read_to_string(dir.join("missing"))
            .unwrap()
            .contains("example.org"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
