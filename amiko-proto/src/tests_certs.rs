//! Certificates and security-key signatures: certificates built here (encoding per PROTOCOL.certkeys, signed by
//! amiko's own keys) and by ssh-keygen, checked by the engine in both roles; security-key signatures built with
//! aws-lc-rs following PROTOCOL.u2f's signed-data layout, since OpenSSH cannot make them without a token.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use crate::cert::{CertType, Certificate};
use crate::config::{Config, Role};
use crate::connection::{AuthMethod, Connection, Event};
use crate::keys::{PrivateKey, PublicKey};
use crate::known_hosts::{HostKeyStatus, KnownHosts};
use crate::tests::Pair;
use crate::wire::{Reader, Writer};

const NOW: u64 = 1_700_000_000;

/// What to put in a test certificate.
struct Spec<'a> {
    cert_type: u32,
    principals: &'a [&'a str],
    after: u64,
    before: u64,
    critical: &'a [(&'a str, &'a [u8])],
    extensions: &'a [(&'a str, &'a [u8])],
}

fn spec(cert_type: u32, principals: &'static [&'static str]) -> Spec<'static> {
    Spec {
        cert_type,
        principals,
        after: NOW - 60,
        before: NOW + 3600,
        critical: &[],
        extensions: &[("permit-pty", b"")],
    }
}

fn string_of(s: &str) -> Vec<u8> {
    let mut v = Vec::new();
    Writer::new(&mut v).string(s);
    v
}

/// Encodes a certificate of `key` signed by `ca` (PROTOCOL.certkeys field order).
fn make_cert(ca: &PrivateKey, key: &PublicKey, s: &Spec<'_>) -> PublicKey {
    PublicKey::from_blob(&make_cert_blob(ca, key, s, None)).unwrap()
}

/// The certificate blob, with `ca_blob` as the signature key field if given.
fn make_cert_blob(ca: &PrivateKey, key: &PublicKey, s: &Spec<'_>, ca_blob: Option<&[u8]>) -> Vec<u8> {
    let mut r = Reader::new(key.blob());
    let plain_type = r.utf8().unwrap();
    let cert_type = match plain_type {
        "ssh-rsa" => "ssh-rsa-cert-v01@openssh.com".to_string(),
        t => crate::cert::cert_algorithm(t).unwrap().to_string(),
    };
    let mut blob = Vec::new();
    let mut w = Writer::new(&mut blob);
    w.string(&cert_type).string([7u8; 32]).raw(r.remaining());
    w.u64(42).u32(s.cert_type).string("test-id");
    let mut list = Vec::new();
    for p in s.principals {
        Writer::new(&mut list).string(p);
    }
    w.string(&list).u64(s.after).u64(s.before);
    for opts in [s.critical, s.extensions] {
        let mut o = Vec::new();
        for (name, data) in opts {
            Writer::new(&mut o).string(name).string(data);
        }
        w.string(&o);
    }
    w.string("").string(ca_blob.unwrap_or(ca.public_key().blob()));
    let sig = ca.sign(ca.signature_algorithms()[0], &blob).unwrap();
    Writer::new(&mut blob).string(&sig);
    blob
}

fn cert_of(k: &PublicKey) -> &Certificate {
    k.certificate().unwrap()
}

#[test]
fn certificates_parse_and_check() {
    let ca = PrivateKey::generate_ed25519().unwrap();
    for key in [
        PrivateKey::generate_ed25519().unwrap(),
        PrivateKey::generate_ecdsa(256).unwrap(),
        PrivateKey::generate_ecdsa(384).unwrap(),
        PrivateKey::generate_ecdsa(521).unwrap(),
        PrivateKey::from_text(include_str!("../tests/data/rsa2048.pem"), None).unwrap(),
    ] {
        let c = make_cert(&ca, &key.public_key(), &spec(1, &["alice", "bob"]));
        assert!(c.key_type().ends_with("-cert-v01@openssh.com"), "{}", c.key_type());
        assert_eq!(*c.plain(), key.public_key());
        assert_eq!(c.fingerprint(), key.public_key().fingerprint());
        assert_eq!(PublicKey::from_openssh(&c.to_openssh()).unwrap(), c);
        let cert = cert_of(&c);
        assert_eq!((cert.serial, cert.key_id.as_str()), (42, "test-id"));
        let rules = cert.check(CertType::User, "bob", NOW, None).unwrap();
        assert!(rules.permit_pty && !rules.permit_port_forwarding && rules.force_command.is_none());
        assert!(!rules.permit_agent_forwarding && !rules.permit_x11_forwarding && !rules.permit_user_rc);
        // Signing with the certificate attached: certificate algorithm names, plain signatures.
        let with = key.with_certificate(c.clone()).unwrap();
        for alg in with.signature_algorithms() {
            assert!(alg.ends_with("-cert-v01@openssh.com"));
            let sig = with.sign(alg, b"data").unwrap();
            assert_eq!(c.verify(b"data", &sig).unwrap(), crate::cert::plain_algorithm(alg));
            assert!(with.sign(crate::cert::plain_algorithm(alg), b"data").is_err());
        }
        assert_eq!(with.without_certificate().public_key(), key.public_key());
        let other = PrivateKey::generate_ed25519().unwrap();
        assert!(other.with_certificate(c.clone()).is_err());
    }
}

#[test]
fn bad_certificates_are_refused() {
    let ca = PrivateKey::generate_ecdsa(256).unwrap();
    let key = PrivateKey::generate_ed25519().unwrap().public_key();
    let check = |s: &Spec<'_>, t: CertType, who: &str, from: Option<IpAddr>| {
        cert_of(&make_cert(&ca, &key, s)).check(t, who, NOW, from)
    };
    assert!(check(&spec(1, &["alice"]), CertType::User, "alice", None).is_ok());
    assert!(
        check(&spec(1, &["alice"]), CertType::User, "mallory", None).is_err(),
        "principal"
    );
    assert!(
        check(&spec(1, &["alice"]), CertType::Host, "alice", None).is_err(),
        "type"
    );
    assert!(check(&spec(2, &["h"]), CertType::User, "h", None).is_err(), "type");
    assert!(
        check(&spec(1, &[]), CertType::User, "alice", None).is_err(),
        "no principals"
    );
    let expired = Spec {
        before: NOW,
        ..spec(1, &["alice"])
    };
    assert!(check(&expired, CertType::User, "alice", None).is_err(), "expired");
    let early = Spec {
        after: NOW + 1,
        ..spec(1, &["alice"])
    };
    assert!(check(&early, CertType::User, "alice", None).is_err(), "not yet valid");
    let forever = Spec {
        after: 0,
        before: u64::MAX,
        ..spec(1, &["alice"])
    };
    assert!(check(&forever, CertType::User, "alice", None).is_ok(), "forever");

    // Critical options: force-command honoured, source-address checked, the rest refused.
    let cmd = string_of("echo forced");
    let forced = Spec {
        critical: &[("force-command", &cmd)],
        ..spec(1, &["alice"])
    };
    let rules = check(&forced, CertType::User, "alice", None).unwrap();
    assert_eq!(rules.force_command.as_deref(), Some("echo forced"));
    let nets = string_of("10.0.0.0/8,192.0.2.7");
    let sourced = Spec {
        critical: &[("source-address", &nets)],
        ..spec(1, &["alice"])
    };
    assert!(check(&sourced, CertType::User, "alice", Some("10.9.8.7".parse().unwrap())).is_ok());
    assert!(check(&sourced, CertType::User, "alice", Some("192.0.2.7".parse().unwrap())).is_ok());
    assert!(check(&sourced, CertType::User, "alice", Some("127.0.0.1".parse().unwrap())).is_err());
    assert!(check(&sourced, CertType::User, "alice", None).is_err());
    for name in ["verify-required", "no-such-option"] {
        let s = Spec {
            critical: &[(name, b"")],
            ..spec(1, &["alice"])
        };
        assert!(check(&s, CertType::User, "alice", None).is_err(), "{name}");
    }
    let host_forced = Spec {
        critical: &[("force-command", &cmd)],
        ..spec(2, &["h"])
    };
    assert!(
        check(&host_forced, CertType::Host, "h", None).is_err(),
        "host certs have no critical options"
    );
    // Options out of order (or repeated) are malformed.
    let unsorted = Spec {
        extensions: &[("permit-pty", b""), ("permit-X11-forwarding", b"")],
        ..spec(1, &["alice"])
    };
    assert!(PublicKey::from_blob(&make_cert_blob(&ca, &key, &unsorted, None)).is_err());

    // A changed byte breaks the CA signature; a truncated blob does not parse; nor does trailing data.
    let good = make_cert(&ca, &key, &spec(1, &["alice"]));
    let blob = good.blob().to_vec();
    let at = blob.windows(7).position(|w| w == b"test-id").unwrap();
    let mut tampered = blob.clone();
    tampered[at] = b'b';
    let t = PublicKey::from_blob(&tampered).unwrap();
    assert!(cert_of(&t).check(CertType::User, "alice", NOW, None).is_err());
    for cut in 0..blob.len() {
        assert!(PublicKey::from_blob(&blob[..cut]).is_err(), "cut at {cut}");
    }
    let mut long = blob.clone();
    long.push(0);
    assert!(PublicKey::from_blob(&long).is_err());

    // A certificate signed by a certificate (as the CA key) is refused.
    let ca_cert = make_cert(&ca, &ca.public_key(), &spec(1, &["ca"]));
    let nested = make_cert_blob(&ca, &key, &spec(1, &["alice"]), Some(ca_cert.blob()));
    assert!(PublicKey::from_blob(&nested).is_err());
}

fn host_pair(host_keys: Vec<PrivateKey>, client_host_key: &[&str]) -> Pair {
    let mut cc = Config::new(Role::Client);
    cc.algorithms.host_key = client_host_key.iter().map(|s| s.to_string()).collect();
    Pair {
        client: Connection::new(cc, vec![]),
        server: Connection::new(Config::new(Role::Server), host_keys),
        client_events: vec![],
        server_events: vec![],
        in_place_chunks: None,
        partial_tails: None,
    }
}

/// The server serves host certificates of each key type; the client negotiates each certificate algorithm,
/// verifies the exchange signature with the certified key, and known_hosts' @cert-authority vouches for it.
#[test]
fn host_certificates_between_our_two_roles() {
    let ca = PrivateKey::generate_ed25519().unwrap();
    let keys = [
        PrivateKey::generate_ed25519().unwrap(),
        PrivateKey::generate_ecdsa(384).unwrap(),
        PrivateKey::from_text(include_str!("../tests/data/rsa2048.pem"), None).unwrap(),
    ];
    let mut host_keys: Vec<PrivateKey> = keys.to_vec();
    for k in &keys {
        host_keys.push(
            k.with_certificate(make_cert(&ca, &k.public_key(), &spec(2, &["server.test"])))
                .unwrap(),
        );
    }
    let kh = KnownHosts::parse(&format!("@cert-authority *.test {}\n", ca.public_key().to_openssh()));
    for alg in [
        "ssh-ed25519-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "rsa-sha2-512-cert-v01@openssh.com",
        "rsa-sha2-256-cert-v01@openssh.com",
    ] {
        let mut p = host_pair(host_keys.clone(), &[alg, "ssh-ed25519"]);
        p.authenticate();
        assert_eq!(p.client.negotiated().unwrap().host_key, alg);
        let hk = p.client.server_host_key().unwrap().clone();
        assert!(hk.certificate().is_some());
        assert!(matches!(
            kh.check_at("server.test", 22, &hk, NOW),
            HostKeyStatus::CertValid { line: 1 }
        ));
        assert!(matches!(
            kh.check_at("other.test", 22, &hk, NOW),
            HostKeyStatus::CertInvalid { .. }
        ));
        assert!(matches!(
            kh.check_at("server.test", 22, &hk, NOW + 7200),
            HostKeyStatus::CertInvalid { .. }
        ));
        // No @cert-authority line for the host: the certified key is looked up as a plain key.
        assert_eq!(kh.check_at("server.example", 22, &hk, NOW), HostKeyStatus::Unknown);
        let plain = KnownHosts::parse(&KnownHosts::entry_line("server.example", 22, &hk));
        assert_eq!(plain.check_at("server.example", 22, &hk, NOW), HostKeyStatus::Known);
        // @revoked, for the host key or for the CA.
        for revoked in [hk.plain(), &ca.public_key()] {
            let text = format!(
                "@cert-authority *.test {}\n@revoked * {}\n",
                ca.public_key().to_openssh(),
                revoked.to_openssh()
            );
            let r = KnownHosts::parse(&text).check_at("server.test", 22, &hk, NOW);
            assert_eq!(r, HostKeyStatus::Revoked { line: 2 });
        }
    }
    // A client that offers only certificates, to a server with none: no common algorithm.
    let mut p = host_pair(keys.to_vec(), &["ssh-ed25519-cert-v01@openssh.com"]);
    p.run();
    assert!(p.client.is_closed());
}

/// A user certificate in publickey auth: the server sees the certificate, and the signature checks with the
/// certified key under the certificate algorithm's plain name.
#[test]
fn user_certificate_publickey_auth() {
    let ca = PrivateKey::generate_ed25519().unwrap();
    for key in [
        PrivateKey::generate_ecdsa(256).unwrap(),
        PrivateKey::from_text(include_str!("../tests/data/rsa2048.pem"), None).unwrap(),
    ] {
        let cert = make_cert(&ca, &key.public_key(), &spec(1, &["u"]));
        let mut p = Pair::default_pair();
        p.run();
        p.client
            .auth_publickey("u", key.with_certificate(cert.clone()).unwrap())
            .unwrap();
        p.run();
        assert!(p.client_events.contains(&Event::AuthSuccess), "{:?}", p.client_events);
        let seen = p.server_events.iter().find_map(|e| match e {
            Event::AuthRequest {
                method: AuthMethod::PublicKey(k),
                ..
            } => Some(k.clone()),
            _ => None,
        });
        assert_eq!(seen.as_ref(), Some(&cert));
    }
}

// ---- Security keys (PROTOCOL.u2f) ----

fn sha256(d: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d)
        .as_ref()
        .to_vec()
}

/// What the token signs: SHA256(application) || flags || counter || SHA256(message).
fn u2f_data(application: &str, flags: u8, counter: u32, message: &[u8]) -> Vec<u8> {
    let mut m = sha256(application.as_bytes());
    m.push(flags);
    m.extend_from_slice(&counter.to_be_bytes());
    m.extend_from_slice(&sha256(message));
    m
}

enum Sk {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
}

impl Sk {
    fn public(&self, app: &str) -> PublicKey {
        let mut b = Vec::new();
        match self {
            Sk::Ed(k) => {
                Writer::new(&mut b)
                    .string("sk-ssh-ed25519@openssh.com")
                    .string(k.public_key().as_ref())
                    .string(app);
            }
            Sk::Ec(k) => {
                Writer::new(&mut b)
                    .string("sk-ecdsa-sha2-nistp256@openssh.com")
                    .string("nistp256")
                    .string(k.public_key().as_ref())
                    .string(app);
            }
        }
        PublicKey::from_blob(&b).unwrap()
    }

    /// An SSH signature blob: `string alg, string sig, byte flags, uint32 counter`; the token signed
    /// `signed_flags`/`signed_counter`, the blob says `flags`/`counter` (to forge mismatches).
    fn sign(&self, app: &str, msg: &[u8], signed: (u8, u32), sent: (u8, u32)) -> Vec<u8> {
        let data = u2f_data(app, signed.0, signed.1, msg);
        let mut b = Vec::new();
        let mut w = Writer::new(&mut b);
        match self {
            Sk::Ed(k) => {
                w.string("sk-ssh-ed25519@openssh.com").string(k.sign(&data).as_ref());
            }
            Sk::Ec(k) => {
                let sig = k.sign(&SystemRandom::new(), &data).unwrap();
                let (r, s) = sig.as_ref().split_at(32);
                w.string("sk-ecdsa-sha2-nistp256@openssh.com");
                let at = w.begin_string();
                w.mpint_unsigned(r).mpint_unsigned(s).end_string(at);
            }
        }
        w.u8(sent.0).u32(sent.1);
        b
    }
}

#[test]
fn security_key_signatures_verify_per_protocol_u2f() {
    let keys = [
        Sk::Ed(Ed25519KeyPair::generate().unwrap()),
        Sk::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap()),
    ];
    for k in &keys {
        let public = k.public("ssh:");
        assert!(public.key_type().starts_with("sk-"));
        assert_eq!(PublicKey::from_openssh(&public.to_openssh()).unwrap(), public);
        let alg = public.key_type().to_string();
        let good = k.sign("ssh:", b"msg", (0x01, 7), (0x01, 7));
        assert_eq!(public.verify(b"msg", &good).unwrap(), alg);
        assert_eq!(
            public
                .verify(b"msg", &k.sign("ssh:", b"msg", (0x05, 9), (0x05, 9)))
                .unwrap(),
            alg
        );
        assert!(public.verify(b"other", &good).is_err(), "other message");
        let no_touch = k.sign("ssh:", b"msg", (0x00, 7), (0x00, 7));
        assert!(public.verify(b"msg", &no_touch).is_err(), "no user presence");
        assert!(
            public
                .verify(b"msg", &k.sign("ssh:", b"msg", (0x01, 7), (0x01, 8)))
                .is_err(),
            "counter"
        );
        assert!(
            public
                .verify(b"msg", &k.sign("ssh:", b"msg", (0x00, 7), (0x01, 7)))
                .is_err(),
            "flags"
        );
        assert!(
            public
                .verify(b"msg", &k.sign("ssh:other", b"msg", (0x01, 7), (0x01, 7)))
                .is_err(),
            "app"
        );
        for cut in 0..good.len() {
            assert!(public.verify(b"msg", &good[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(public.verify(b"msg", &long).is_err(), "trailing byte");
    }
}

/// The server engine accepts a publickey login signed by a security key: the USERAUTH_REQUEST is built here
/// (amiko's client cannot sign with a token) over the real session id.
#[test]
fn server_accepts_a_security_key_login() {
    for k in [
        Sk::Ed(Ed25519KeyPair::generate().unwrap()),
        Sk::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap()),
    ] {
        let public = k.public("ssh:");
        let alg = public.key_type().to_string();
        for (tamper, accepted) in [(false, true), (true, false)] {
            let mut p = Pair::default_pair();
            p.run();
            let sid = p.client.session_id().unwrap().to_vec();
            let data = crate::auth::publickey_signed_data(&sid, "u", &alg, public.blob());
            let msg = if tamper { b"not the data".to_vec() } else { data };
            let sig = k.sign("ssh:", &msg, (1, 1), (1, 1));
            let mut req = Vec::new();
            Writer::new(&mut req)
                .u8(crate::wire::msg::USERAUTH_REQUEST)
                .string("u")
                .string("ssh-connection")
                .string("publickey")
                .bool(true)
                .string(&alg)
                .string(public.blob())
                .string(&sig);
            p.client.send(&req).unwrap();
            p.run();
            let got = p
                .server_events
                .iter()
                .any(|e| matches!(e, Event::AuthRequest { method: AuthMethod::PublicKey(key), .. } if *key == public));
            assert_eq!(got, accepted, "{alg} tampered={tamper}");
        }
    }
}

// ---- Certificates made by ssh-keygen ----

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("amiko-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn keygen(args: &[&str]) {
    let out = Command::new("ssh-keygen").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn new_key(dir: &Path, name: &str, t: &str, bits: &str) -> PathBuf {
    let p = dir.join(name);
    keygen(&["-q", "-t", t, "-b", bits, "-N", "", "-f", p.to_str().unwrap()]);
    p
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Every key type certified by every CA type (and RSA CAs with each signature hash), read back and checked;
/// certificates "forever" (no -V), with options, and with SHA-1 CA signatures.
#[test]
fn ssh_keygen_certificates() {
    if Command::new("ssh-keygen").arg("-?").output().is_err() {
        assert!(
            std::env::var_os("AMIKO_REQUIRE_PEERS").is_none(),
            "ssh-keygen is missing"
        );
        return;
    }
    let dir = TempDir::new("certs");
    let types = [
        ("ed25519", "256"),
        ("ecdsa", "256"),
        ("ecdsa", "384"),
        ("ecdsa", "521"),
        ("rsa", "2048"),
    ];
    let keys: Vec<PathBuf> = types
        .iter()
        .map(|(t, b)| new_key(&dir.0, &format!("k-{t}{b}"), t, b))
        .collect();
    let mut n = 0;
    for (ct, cb) in types {
        let ca = new_key(&dir.0, &format!("ca-{ct}{cb}"), ct, cb);
        let ca_pub = PublicKey::from_openssh(&std::fs::read_to_string(ca.with_extension("pub")).unwrap()).unwrap();
        let hashes: &[&str] = if ct == "rsa" {
            &["rsa-sha2-256", "rsa-sha2-512"]
        } else {
            &[""]
        };
        for hash in hashes {
            for k in &keys {
                n += 1;
                let id = format!("c{n}");
                let mut args = vec![
                    "-q",
                    "-s",
                    ca.to_str().unwrap(),
                    "-I",
                    &id,
                    "-n",
                    "alice,bob",
                    "-V",
                    "-5m:+1h",
                ];
                if !hash.is_empty() {
                    args.extend(["-t", hash]);
                }
                args.push(k.to_str().unwrap());
                keygen(&args);
                let line = std::fs::read_to_string(format!("{}-cert.pub", k.display())).unwrap();
                let cert = PublicKey::from_openssh(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
                let plain =
                    PublicKey::from_openssh(&std::fs::read_to_string(k.with_extension("pub")).unwrap()).unwrap();
                assert_eq!(*cert.plain(), plain);
                let c = cert_of(&cert);
                assert_eq!((c.key_id.as_str(), &c.signature_key), (id.as_str(), &ca_pub));
                c.check(CertType::User, "bob", now(), None).unwrap();
                assert!(c.check(CertType::User, "carol", now(), None).is_err());
                assert!(c.check(CertType::User, "bob", now() + 7200, None).is_err());
                assert!(c.check(CertType::Host, "bob", now(), None).is_err());
                assert!(cert
                    .to_openssh()
                    .starts_with(line.split_whitespace().take(2).collect::<Vec<_>>().join(" ").as_str()));
            }
        }
    }
    // Host certificate valid forever, and a user certificate with options and every extension.
    let k = &keys[0];
    let ca = dir.0.join("ca-ed25519256");
    keygen(&[
        "-q",
        "-s",
        ca.to_str().unwrap(),
        "-I",
        "h",
        "-h",
        "-n",
        "host.test",
        k.to_str().unwrap(),
    ]);
    let c = PublicKey::from_openssh(&std::fs::read_to_string(format!("{}-cert.pub", k.display())).unwrap()).unwrap();
    assert_eq!(cert_of(&c).valid_before, u64::MAX);
    cert_of(&c).check(CertType::Host, "host.test", now(), None).unwrap();
    keygen(&[
        "-q",
        "-s",
        ca.to_str().unwrap(),
        "-I",
        "u",
        "-n",
        "alice",
        "-O",
        "force-command=echo hi",
        "-O",
        "source-address=127.0.0.0/8,::1",
        k.to_str().unwrap(),
    ]);
    let c = PublicKey::from_openssh(&std::fs::read_to_string(format!("{}-cert.pub", k.display())).unwrap()).unwrap();
    let rules = cert_of(&c)
        .check(CertType::User, "alice", now(), Some("127.0.0.1".parse().unwrap()))
        .unwrap();
    assert_eq!(rules.force_command.as_deref(), Some("echo hi"));
    assert!(
        rules.permit_pty
            && rules.permit_port_forwarding
            && rules.permit_agent_forwarding
            && rules.permit_x11_forwarding
            && rules.permit_user_rc,
        "ssh-keygen's default extensions"
    );
    assert!(cert_of(&c)
        .check(CertType::User, "alice", now(), Some("10.0.0.1".parse().unwrap()))
        .is_err());
    keygen(&[
        "-q",
        "-s",
        ca.to_str().unwrap(),
        "-I",
        "u",
        "-n",
        "alice",
        "-O",
        "clear",
        "-O",
        "verify-required",
        k.to_str().unwrap(),
    ]);
    let c = PublicKey::from_openssh(&std::fs::read_to_string(format!("{}-cert.pub", k.display())).unwrap()).unwrap();
    let rules = cert_of(&c).check(CertType::User, "alice", now(), None);
    assert!(rules.is_err(), "verify-required is not honoured, so refused");
    // SHA-1 RSA CA signatures are refused, as OpenSSH's default CASignatureAlgorithms does.
    let rsa_ca = dir.0.join("ca-rsa2048");
    keygen(&[
        "-q",
        "-s",
        rsa_ca.to_str().unwrap(),
        "-t",
        "ssh-rsa",
        "-I",
        "u",
        "-n",
        "alice",
        k.to_str().unwrap(),
    ]);
    let c = PublicKey::from_openssh(&std::fs::read_to_string(format!("{}-cert.pub", k.display())).unwrap()).unwrap();
    assert!(cert_of(&c).check(CertType::User, "alice", now(), None).is_err());
}
