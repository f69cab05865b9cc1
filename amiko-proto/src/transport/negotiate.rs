//! KEXINIT messages and algorithm negotiation (RFC 4253 §7.1).

use crate::error::{Error, Result};
use crate::wire::{msg, Reader, Writer};

/// Marker names that ride in the kex list (they are not algorithms).
pub const EXT_INFO_C: &str = "ext-info-c";
/// Server's ext-info marker (RFC 8308 §2.1).
pub const EXT_INFO_S: &str = "ext-info-s";
/// Strict kex markers (OpenSSH PROTOCOL §1.10, the Terrapin fix).
pub const STRICT_C: &str = "kex-strict-c-v00@openssh.com";
/// Server's strict kex marker.
pub const STRICT_S: &str = "kex-strict-s-v00@openssh.com";

/// A decoded KEXINIT. Name-lists are kept as comma-separated strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KexInit {
    /// Random cookie.
    pub cookie: [u8; 16],
    /// kex_algorithms.
    pub kex: String,
    /// server_host_key_algorithms.
    pub host_key: String,
    /// encryption client→server.
    pub cipher_c2s: String,
    /// encryption server→client.
    pub cipher_s2c: String,
    /// mac client→server.
    pub mac_c2s: String,
    /// mac server→client.
    pub mac_s2c: String,
    /// compression client→server.
    pub comp_c2s: String,
    /// compression server→client.
    pub comp_s2c: String,
    /// first_kex_packet_follows.
    pub first_kex_follows: bool,
}

impl KexInit {
    /// Decodes a KEXINIT payload (message number included).
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        if r.u8()? != msg::KEXINIT {
            return Err(Error::protocol("expected KEXINIT"));
        }
        let mut k = KexInit {
            cookie: r.array()?,
            ..Default::default()
        };
        for field in [
            &mut k.kex,
            &mut k.host_key,
            &mut k.cipher_c2s,
            &mut k.cipher_s2c,
            &mut k.mac_c2s,
            &mut k.mac_s2c,
            &mut k.comp_c2s,
            &mut k.comp_s2c,
        ] {
            *field = r.name_list()?.to_string();
        }
        r.name_list()?; // languages c2s
        r.name_list()?; // languages s2c
        k.first_kex_follows = r.bool()?;
        r.u32()?; // reserved
        Ok(k)
    }

    /// Encodes the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.u8(msg::KEXINIT).raw(&self.cookie);
        for f in [
            &self.kex,
            &self.host_key,
            &self.cipher_c2s,
            &self.cipher_s2c,
            &self.mac_c2s,
            &self.mac_s2c,
            &self.comp_c2s,
            &self.comp_s2c,
        ] {
            w.string(f.as_bytes());
        }
        w.string(b"").string(b"").bool(self.first_kex_follows).u32(0);
    }

    /// Whether a name is in the kex list (for markers).
    pub fn has_kex(&self, name: &str) -> bool {
        self.kex.split(',').any(|n| n == name)
    }
}

/// The algorithms both sides agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Key exchange method.
    pub kex: String,
    /// Host key signature algorithm.
    pub host_key: String,
    /// Cipher client→server.
    pub cipher_c2s: String,
    /// Cipher server→client.
    pub cipher_s2c: String,
    /// MAC client→server (None with AEAD ciphers).
    pub mac_c2s: Option<String>,
    /// MAC server→client.
    pub mac_s2c: Option<String>,
    /// Compression client→server (`none`, `zlib` or `zlib@openssh.com`).
    pub comp_c2s: String,
    /// Compression server→client.
    pub comp_s2c: String,
}

/// The first algorithm on the client's list that the server also has (RFC 4253 §7.1).
fn pick(kind: &'static str, client: &str, server: &str) -> Result<String> {
    client
        .split(',')
        .find(|c| !c.is_empty() && server.split(',').any(|s| s == *c))
        .map(str::to_string)
        .ok_or_else(|| Error::NoCommonAlgorithm {
            kind,
            ours: client.into(),
            theirs: server.into(),
        })
}

/// Negotiates from the client's and the server's KEXINIT. `is_aead` tells which ciphers carry their own MAC.
pub fn negotiate(client: &KexInit, server: &KexInit, is_aead: impl Fn(&str) -> bool) -> Result<Negotiated> {
    let real = |l: &str| {
        l.split(',')
            .filter(|n| ![EXT_INFO_C, EXT_INFO_S, STRICT_C, STRICT_S].contains(n))
            .collect::<Vec<_>>()
            .join(",")
    };
    let kex = pick("key exchange", &real(&client.kex), &real(&server.kex))?;
    let host_key = pick("host key", &client.host_key, &server.host_key)?;
    let cipher_c2s = pick("cipher (client to server)", &client.cipher_c2s, &server.cipher_c2s)?;
    let cipher_s2c = pick("cipher (server to client)", &client.cipher_s2c, &server.cipher_s2c)?;
    let mac_c2s = match is_aead(&cipher_c2s) {
        true => None,
        false => Some(pick("MAC (client to server)", &client.mac_c2s, &server.mac_c2s)?),
    };
    let mac_s2c = match is_aead(&cipher_s2c) {
        true => None,
        false => Some(pick("MAC (server to client)", &client.mac_s2c, &server.mac_s2c)?),
    };
    let comp_c2s = pick("compression (client to server)", &client.comp_c2s, &server.comp_c2s)?;
    let comp_s2c = pick("compression (server to client)", &client.comp_s2c, &server.comp_s2c)?;
    Ok(Negotiated {
        kex,
        host_key,
        cipher_c2s,
        cipher_s2c,
        mac_c2s,
        mac_s2c,
        comp_c2s,
        comp_s2c,
    })
}

/// Whether a guessed first kex packet (first_kex_packet_follows) must be ignored. RFC 4253 §7: the guess is wrong
/// when "server and client have different preferred algorithm" for the key exchange or the host key, even if the
/// algorithm negotiated is the one the guesser preferred. OpenSSH (`proposals_match`) and dropbear (without its
/// kexguess2 extension, which amiko does not offer) compare the first names, and a guesser that finds its guess
/// wrong sends its first kex packet again: taking the guessed one as well would answer twice.
pub fn guess_was_wrong(client: &KexInit, server: &KexInit) -> bool {
    let first = |l: &str| l.split(',').next().unwrap_or_default().to_owned();
    first(&client.kex) != first(&server.kex) || first(&client.host_key) != first(&server.host_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(kex: &str, cipher: &str) -> KexInit {
        KexInit {
            kex: kex.into(),
            host_key: "ssh-ed25519".into(),
            cipher_c2s: cipher.into(),
            cipher_s2c: cipher.into(),
            mac_c2s: "hmac-sha2-256".into(),
            mac_s2c: "hmac-sha2-256".into(),
            comp_c2s: "none".into(),
            comp_s2c: "none".into(),
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_and_client_preference_wins() {
        let c = init(
            "curve25519-sha256,ecdh-sha2-nistp256,ext-info-c",
            "aes128-ctr,aes256-gcm@openssh.com",
        );
        let s = init(
            "ecdh-sha2-nistp256,curve25519-sha256",
            "aes256-gcm@openssh.com,aes128-ctr",
        );
        let mut buf = Vec::new();
        c.encode(&mut buf);
        assert_eq!(KexInit::decode(&buf).unwrap(), c);
        let n = negotiate(&c, &s, |c| c.contains("gcm")).unwrap();
        assert_eq!(n.kex, "curve25519-sha256");
        assert_eq!(n.cipher_c2s, "aes128-ctr");
        assert_eq!(n.mac_c2s.as_deref(), Some("hmac-sha2-256"));
        assert!(guess_was_wrong(&c, &s));
        assert!(!guess_was_wrong(&c, &c));
    }

    /// dbclient guesses curve25519-sha256 and ssh-ed25519 against a server preferring mlkem768x25519-sha256: the
    /// negotiation lands on the guessed method, yet the guess is wrong by RFC 4253 §7, and dbclient sends its
    /// KEX_ECDH_INIT again (the interop matrix caught amiko answering both).
    #[test]
    fn a_guess_is_wrong_when_the_preferred_algorithms_differ_even_if_it_is_negotiated() {
        let mut c = init(
            "curve25519-sha256,ecdh-sha2-nistp256,kexguess2@matt.ucc.asn.au",
            "aes128-ctr",
        );
        c.first_kex_follows = true;
        let s = init("mlkem768x25519-sha256,curve25519-sha256", "aes128-ctr");
        let n = negotiate(&c, &s, |_| false).unwrap();
        assert_eq!(
            (n.kex.as_str(), n.host_key.as_str()),
            ("curve25519-sha256", "ssh-ed25519")
        );
        assert!(guess_was_wrong(&c, &s));
        // Same preferred kex and host key: right, whatever else differs.
        let s = init("curve25519-sha256", "aes256-ctr,aes128-ctr");
        assert!(!guess_was_wrong(&c, &s));
        // Same kex, different preferred host key: wrong.
        let mut s = s;
        s.host_key = "ecdsa-sha2-nistp256,ssh-ed25519".into();
        assert!(guess_was_wrong(&c, &s));
    }

    #[test]
    fn markers_never_negotiate_and_no_overlap_is_named() {
        let c = init("ext-info-c", "aes128-ctr");
        let s = init("ext-info-c", "aes128-ctr");
        assert!(matches!(
            negotiate(&c, &s, |_| false),
            Err(Error::NoCommonAlgorithm {
                kind: "key exchange",
                ..
            })
        ));
        let err = negotiate(
            &init("curve25519-sha256", "aes128-ctr"),
            &init("curve25519-sha256", "aes256-ctr"),
            |_| false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("aes256-ctr"), "{err}");
    }

    #[test]
    fn compression_is_negotiated_per_direction_by_the_client_order() {
        let mut c = init("curve25519-sha256", "aes128-ctr");
        let mut s = init("curve25519-sha256", "aes128-ctr");
        c.comp_c2s = "zlib@openssh.com,zlib,none".into();
        c.comp_s2c = "none".into();
        s.comp_c2s = "none,zlib@openssh.com".into();
        s.comp_s2c = "none,zlib@openssh.com".into();
        let n = negotiate(&c, &s, |_| false).unwrap();
        assert_eq!((n.comp_c2s.as_str(), n.comp_s2c.as_str()), ("zlib@openssh.com", "none"));
        s.comp_c2s = "zlib".into();
        c.comp_c2s = "none".into();
        let err = negotiate(&c, &s, |_| false).unwrap_err();
        assert!(matches!(
            err,
            Error::NoCommonAlgorithm {
                kind: "compression (client to server)",
                ..
            }
        ));
    }

    #[test]
    fn truncated_kexinit_is_an_error() {
        let mut buf = Vec::new();
        init("a", "b").encode(&mut buf);
        for n in 0..buf.len() {
            assert!(KexInit::decode(&buf[..n]).is_err());
        }
    }
}
