//! OpenSSH certificates (`*-cert-v01@openssh.com`, OpenSSH's PROTOCOL.certkeys): parsing, the CA signature, and
//! the checks sshd and ssh make before trusting one.
//!
//! The `ssh-key` crate's `Certificate` refuses a `valid before` above `i64::MAX`, which is what `ssh-keygen -s`
//! writes for a certificate without `-V` ("forever"), so the blob is read here with amiko's bounded wire reader;
//! the certified key and the CA key are then parsed as ordinary key blobs and the CA signature is checked with
//! amiko's own verifier (aws-lc-rs).

use std::net::IpAddr;

use crate::authorized_keys::LoginRestrictions;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::wire::{Reader, Writer};

/// Suffix of every certificate key type.
pub const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// Whether a key type or signature algorithm name is a certificate one.
pub fn is_cert_algorithm(name: &str) -> bool {
    name.ends_with(CERT_SUFFIX)
}

/// The plain signature algorithm behind a (host key or publickey) algorithm name: `rsa-sha2-512-cert-v01@openssh.com`
/// signs as `rsa-sha2-512`; plain names map to themselves.
pub fn plain_algorithm(name: &str) -> &str {
    name.strip_suffix(CERT_SUFFIX).unwrap_or(name)
}

/// The certificate algorithm for a plain signature algorithm (`ssh-ed25519` → `ssh-ed25519-cert-v01@openssh.com`).
pub fn cert_algorithm(plain: &str) -> Option<&'static str> {
    Some(match plain {
        "ssh-ed25519" => "ssh-ed25519-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256" => "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384" => "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521" => "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "rsa-sha2-512" => "rsa-sha2-512-cert-v01@openssh.com",
        "rsa-sha2-256" => "rsa-sha2-256-cert-v01@openssh.com",
        "sk-ssh-ed25519@openssh.com" => "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com" => "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        _ => return None,
    })
}

/// The plain key type a certificate key type certifies, and how many `string`/`mpint` fields its key has.
fn certified_type(cert_type: &str) -> Option<(&'static str, usize)> {
    Some(match cert_type {
        "ssh-ed25519-cert-v01@openssh.com" => ("ssh-ed25519", 1),
        "ecdsa-sha2-nistp256-cert-v01@openssh.com" => ("ecdsa-sha2-nistp256", 2),
        "ecdsa-sha2-nistp384-cert-v01@openssh.com" => ("ecdsa-sha2-nistp384", 2),
        "ecdsa-sha2-nistp521-cert-v01@openssh.com" => ("ecdsa-sha2-nistp521", 2),
        "ssh-rsa-cert-v01@openssh.com" => ("ssh-rsa", 2),
        "sk-ssh-ed25519-cert-v01@openssh.com" => ("sk-ssh-ed25519@openssh.com", 2),
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com" => ("sk-ecdsa-sha2-nistp256@openssh.com", 3),
        _ => return None,
    })
}

/// User or host certificate (PROTOCOL.certkeys: `SSH_CERT_TYPE_USER` 1, `SSH_CERT_TYPE_HOST` 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertType {
    /// Authenticates a user to a server.
    User,
    /// Authenticates a host to a client.
    Host,
}

/// Most principals, critical options or extensions accepted in one certificate (OpenSSH caps principals at 256).
const MAX_ITEMS: usize = 256;

/// A parsed certificate. Its CA signature is not trusted until [`Certificate::check`] (or
/// [`Certificate::verify_signature`]) says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The certificate key type (`ssh-ed25519-cert-v01@openssh.com`, ...).
    pub key_type: String,
    /// The certified key.
    pub key: PublicKey,
    /// Serial number.
    pub serial: u64,
    /// User or host.
    pub cert_type: CertType,
    /// Key ID (logged).
    pub key_id: String,
    /// Valid principals (user names or host names); empty means any, which amiko refuses as OpenSSH does.
    pub principals: Vec<String>,
    /// Valid from this Unix time, inclusive.
    pub valid_after: u64,
    /// Valid until this Unix time, exclusive (`u64::MAX`: forever).
    pub valid_before: u64,
    /// Critical options: name and data (the data of the known ones is itself a `string`).
    pub critical_options: Vec<(String, Vec<u8>)>,
    /// Extensions: name and data.
    pub extensions: Vec<(String, Vec<u8>)>,
    /// The CA key that signed.
    pub signature_key: PublicKey,
    signature: Vec<u8>,
    /// Length of the signed prefix of the blob.
    signed_len: usize,
    blob: Vec<u8>,
}

fn options(raw: &[u8], what: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut r = Reader::new(raw);
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    while !r.is_empty() {
        if out.len() >= MAX_ITEMS {
            return Err(Error::Key(format!("certificate has too many {what}")));
        }
        let name = r.utf8()?.to_string();
        let data = r.string()?.to_vec();
        // PROTOCOL.certkeys: each name appears once, in lexical order.
        if out.last().is_some_and(|(prev, _)| *prev >= name) {
            return Err(Error::Key(format!("certificate {what} are not sorted or repeat")));
        }
        out.push((name, data));
    }
    Ok(out)
}

/// The `string` inside an option's data (force-command, source-address).
fn option_string(data: &[u8]) -> Result<String> {
    let mut r = Reader::new(data);
    let s = r.utf8()?.to_string();
    r.finish()?;
    Ok(s)
}

/// What a user certificate imposes on the session once accepted: the same restrictions authorized_keys options
/// make, so the two can be merged (critical option `force-command`; extensions `permit-pty`,
/// `permit-port-forwarding`, `permit-agent-forwarding`, `permit-X11-forwarding`, `permit-user-rc`, each lifting one
/// restriction of [`LoginRestrictions::restricted`]).
pub type UserCertRestrictions = LoginRestrictions;

impl Certificate {
    /// Parses a certificate blob (the wire form, as in a host key or publickey request).
    pub fn parse(blob: &[u8]) -> Result<Self> {
        let mut r = Reader::new(blob);
        let key_type = r.utf8()?.to_string();
        let (plain, fields) =
            certified_type(&key_type).ok_or_else(|| Error::Key(format!("unsupported certificate type {key_type}")))?;
        r.string()?; // nonce
        let mut plain_blob = Vec::with_capacity(blob.len());
        let mut w = Writer::new(&mut plain_blob);
        w.string(plain);
        for _ in 0..fields {
            w.string(r.string()?);
        }
        let key = PublicKey::from_plain_blob(&plain_blob)?;
        let serial = r.u64()?;
        let cert_type = match r.u32()? {
            1 => CertType::User,
            2 => CertType::Host,
            n => return Err(Error::Key(format!("unknown certificate type {n}"))),
        };
        let key_id = r.utf8()?.to_string();
        let mut pr = Reader::new(r.string()?);
        let mut principals = Vec::new();
        while !pr.is_empty() {
            if principals.len() >= MAX_ITEMS {
                return Err(Error::Key("certificate has too many principals".into()));
            }
            principals.push(pr.utf8()?.to_string());
        }
        let valid_after = r.u64()?;
        let valid_before = r.u64()?;
        let critical_options = options(r.string()?, "critical options")?;
        let extensions = options(r.string()?, "extensions")?;
        r.string()?; // reserved
                     // The CA key is a plain key: a certificate signed by a certificate is refused, as OpenSSH does.
        let signature_key = PublicKey::from_plain_blob(r.string()?)?;
        let signed_len = blob.len() - r.remaining().len();
        let signature = r.string()?.to_vec();
        r.finish()?;
        Ok(Certificate {
            key_type,
            key,
            serial,
            cert_type,
            key_id,
            principals,
            valid_after,
            valid_before,
            critical_options,
            extensions,
            signature_key,
            signature,
            signed_len,
            blob: blob.to_vec(),
        })
    }

    /// Checks the CA's signature over the certificate. SHA-1 `ssh-rsa` CA signatures are refused (OpenSSH's
    /// default CASignatureAlgorithms leaves them out since 8.2).
    pub fn verify_signature(&self) -> Result<()> {
        let alg = self
            .signature_key
            .verify(&self.blob[..self.signed_len], &self.signature)
            .map_err(|e| Error::Key(format!("certificate signature: {e}")))?;
        if alg == "ssh-rsa" {
            return Err(Error::Key("certificate signed with SHA-1 ssh-rsa: refused".into()));
        }
        Ok(())
    }

    /// Whether `now` (Unix seconds) falls in the validity window.
    pub fn valid_at(&self, now: u64) -> bool {
        self.valid_after <= now && now < self.valid_before
    }

    /// Every check but the choice of CA: the signature, the type, the validity window at `now`, `principal`
    /// among the principals, and the critical options (a host certificate has none; a user certificate may have
    /// `force-command`, `source-address` checked against `source`, and `verify-required`, which is refused as
    /// amiko's server does not ask security keys for user verification). Unknown critical options are refused.
    pub fn check(
        &self,
        cert_type: CertType,
        principal: &str,
        now: u64,
        source: Option<IpAddr>,
    ) -> Result<LoginRestrictions> {
        let bad = |why: String| Err(Error::Key(format!("certificate (ID \"{}\"): {why}", self.key_id)));
        self.verify_signature()?;
        if self.cert_type != cert_type {
            return bad(format!(
                "is a {:?} certificate, not a {cert_type:?} one",
                self.cert_type
            ));
        }
        if !self.valid_at(now) {
            return bad(format!(
                "not valid now ({now}): valid from {} to {}",
                self.valid_after, self.valid_before
            ));
        }
        // An empty principal list means "any" in PROTOCOL.certkeys. sshd refuses such user certificates (it
        // requires a principal); ssh accepts such host certificates, but amiko refuses them too: a CA that forgot
        // `-n` should not vouch for every host name.
        if !self.principals.iter().any(|p| p == principal) {
            return bad(format!("principal \"{principal}\" is not listed"));
        }
        let mut out = LoginRestrictions::restricted();
        for (name, data) in &self.critical_options {
            match (cert_type, name.as_str()) {
                (CertType::User, "force-command") => out.force_command = Some(option_string(data)?),
                (CertType::User, "source-address") => {
                    let list = option_string(data)?;
                    let Some(ip) = source else {
                        return bad("source-address restriction, but the client address is unknown".into());
                    };
                    if !source_address_match(&list, ip)? {
                        return bad(format!("source address {ip} not in \"{list}\""));
                    }
                }
                _ => return bad(format!("unsupported critical option \"{name}\"")),
            }
        }
        for (name, _) in &self.extensions {
            match name.as_str() {
                "permit-pty" => out.permit_pty = true,
                "permit-port-forwarding" => out.permit_port_forwarding = true,
                "permit-agent-forwarding" => out.permit_agent_forwarding = true,
                "permit-X11-forwarding" => out.permit_x11_forwarding = true,
                "permit-user-rc" => out.permit_user_rc = true,
                _ => {} // extensions may be ignored (PROTOCOL.certkeys)
            }
        }
        Ok(out)
    }
}

/// Whether `ip` matches a comma-separated list of addresses and CIDR ranges (`source-address`). A malformed
/// entry is an error, so a typo does not widen access.
pub fn source_address_match(list: &str, ip: IpAddr) -> Result<bool> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let mut matched = false;
    for entry in list.split(',') {
        let entry = entry.trim();
        let bad = || Error::Key(format!("bad source-address entry \"{entry}\""));
        let (addr, bits) = match entry.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u32>().map_err(|_| bad())?)),
            None => (entry, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let (n, x, width) = match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(x)) => (u32::from(n) as u128, u32::from(x) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(x)) => (u128::from(n), u128::from(x), 128),
            (IpAddr::V4(_), _) | (IpAddr::V6(_), _) => {
                if bits.is_some_and(|b| b > if net.is_ipv4() { 32 } else { 128 }) {
                    return Err(bad());
                }
                continue;
            }
        };
        let bits = bits.unwrap_or(width);
        if bits > width {
            return Err(bad());
        }
        let mask = if bits == 0 {
            0
        } else {
            (u128::MAX << (128 - bits)) >> (128 - width)
        };
        if n & mask != n {
            return Err(bad()); // host bits set: sshd's addr_match_cidr_list refuses these too
        }
        if x & mask == n {
            matched = true;
        }
    }
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        assert_eq!(plain_algorithm("rsa-sha2-512-cert-v01@openssh.com"), "rsa-sha2-512");
        assert_eq!(plain_algorithm("ssh-ed25519"), "ssh-ed25519");
        assert_eq!(cert_algorithm("ssh-ed25519"), Some("ssh-ed25519-cert-v01@openssh.com"));
        assert_eq!(cert_algorithm("ssh-rsa"), None);
        assert!(is_cert_algorithm("ecdsa-sha2-nistp256-cert-v01@openssh.com"));
    }

    #[test]
    fn source_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(source_address_match("127.0.0.1", ip("127.0.0.1")).unwrap());
        assert!(source_address_match("10.0.0.0/8,127.0.0.0/8", ip("127.1.2.3")).unwrap());
        assert!(!source_address_match("10.0.0.0/8", ip("127.0.0.1")).unwrap());
        assert!(source_address_match("::1", ip("::1")).unwrap());
        assert!(source_address_match("127.0.0.0/8", ip("::ffff:127.0.0.1")).unwrap());
        assert!(!source_address_match("::1/128", ip("127.0.0.1")).unwrap());
        assert!(source_address_match("0.0.0.0/0", ip("192.0.2.1")).unwrap());
        assert!(source_address_match("10.0.0.1/8", ip("10.0.0.1")).is_err());
        assert!(source_address_match("10.0.0.0/33", ip("10.0.0.1")).is_err());
        assert!(source_address_match("nonsense", ip("10.0.0.1")).is_err());
    }
}
