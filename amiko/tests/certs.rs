//! OpenSSH certificates with real peers: certificates made by `ssh-keygen -s`; amiko's client against sshd
//! (HostCertificate, TrustedUserCAKeys) and OpenSSH's `ssh` against amiko's server.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use amiko::server::{ServerConfig, SimpleAuth};
use amiko::{Client, ClientConfig, HostKeyPolicy, PrivateKey, PublicKey};

fn new_key(dir: &Path, name: &str, t: &str, bits: &str) -> PathBuf {
    let p = dir.join(name);
    common::ssh_keygen(&["-q", "-N", "", "-t", t, "-b", bits, "-f", p.to_str().unwrap()]);
    p
}

const PAST: &str = "20200101:20200102";

/// amiko's client and sshd: a user certificate logs in; sshd's host certificates are trusted through
/// @cert-authority and refused when expired, for another host name, revoked, or signed by an unknown CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amiko_client_and_sshd_certificates() {
    if Command::new("ssh-keygen").arg("-?").output().is_err() {
        common::missing("ssh-keygen");
        return;
    }
    let dir = common::temp_dir("certs-sshd");
    let host_ca = new_key(&dir, "host_ca", "ed25519", "256");
    let other_ca = new_key(&dir, "other_ca", "ed25519", "256");
    let user_ca = new_key(&dir, "user_ca", "ecdsa", "384");
    // One host key per case, each with its own certificate: the client picks one by its host key algorithm.
    let hk_ok = new_key(&dir, "hk_ed25519", "ed25519", "256");
    common::sign_key(&host_ca, &hk_ok, "127.0.0.1", "-5m:+1h", true, &[]);
    let hk_expired = new_key(&dir, "hk_p256", "ecdsa", "256");
    common::sign_key(&host_ca, &hk_expired, "127.0.0.1", PAST, true, &[]);
    let hk_other_name = new_key(&dir, "hk_p384", "ecdsa", "384");
    common::sign_key(&host_ca, &hk_other_name, "other.example", "-5m:+1h", true, &[]);
    let hk_rsa = new_key(&dir, "hk_rsa", "rsa", "3072");
    common::sign_key(&host_ca, &hk_rsa, "127.0.0.1", "-5m:+1h", true, &[]);
    let mut extra = String::new();
    for k in [&hk_ok, &hk_expired, &hk_other_name, &hk_rsa] {
        extra.push_str(&format!(
            "HostKey {}\nHostCertificate {}-cert.pub\n",
            k.display(),
            k.display()
        ));
    }
    extra.push_str(&format!(
        "TrustedUserCAKeys {}\n",
        user_ca.with_extension("pub").display()
    ));
    let Some(sshd) = common::Sshd::start_with(&extra) else {
        return;
    };

    let user_key = new_key(&dir, "id_user", "ed25519", "256");
    common::sign_key(&user_ca, &user_key, &sshd.user, "-5m:+1h", false, &[]);
    let expired_user = new_key(&dir, "id_expired", "ecdsa", "256");
    common::sign_key(&user_ca, &expired_user, &sshd.user, PAST, false, &[]);
    let other_user = new_key(&dir, "id_other", "rsa", "2048");
    common::sign_key(&user_ca, &other_user, "somebody-else", "-5m:+1h", false, &[]);

    let ca_line = |ca: &Path| format!("@cert-authority [127.0.0.1]:{} {}\n", sshd.port, common::pub_line(ca));
    let connect = |known: String, host_key_algs: Option<&[&str]>, key: &Path| {
        let mut cfg = ClientConfig::new(sshd.user.clone());
        cfg.host_keys.files.clear();
        cfg.host_keys.extra = known;
        cfg.host_keys.policy = HostKeyPolicy::Reject;
        cfg.keys = vec![amiko::load_key_file(key, None).unwrap()];
        cfg.try_none_first = false;
        if let Some(a) = host_key_algs {
            cfg.proto.algorithms.host_key = a.iter().map(|s| s.to_string()).collect();
        }
        Client::connect("127.0.0.1", sshd.port, cfg)
    };

    // The user certificate is loaded from id_user-cert.pub beside the key, and is the only way in (the plain key
    // is not in authorized_keys). With default algorithms the client puts certificates first for a host with a
    // @cert-authority line, so the plain host keys (unknown here) are not negotiated.
    let key = amiko::load_key_file(&user_key, None).unwrap();
    assert!(key.public_key().certificate().is_some());
    let c = connect(ca_line(&host_ca), None, &user_key)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let out = c.exec("echo cert-login").await.unwrap();
    assert_eq!(out.stdout, b"cert-login\n");
    c.disconnect();
    assert!(sshd.log().contains("Accepted publickey") && sshd.log().contains("ED25519-CERT"));

    // RSA host certificate with both signature hashes.
    for alg in ["rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com"] {
        let c = connect(ca_line(&host_ca), Some(&[alg]), &user_key)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        c.disconnect();
    }

    // Host certificate refusals.
    let ed_cert = ["ssh-ed25519-cert-v01@openssh.com"];
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "expired",
            ca_line(&host_ca),
            &["ecdsa-sha2-nistp256-cert-v01@openssh.com"],
        ),
        (
            "another host name",
            ca_line(&host_ca),
            &["ecdsa-sha2-nistp384-cert-v01@openssh.com"],
        ),
        (
            "host key revoked",
            format!("{}@revoked * {}\n", ca_line(&host_ca), common::pub_line(&hk_ok)),
            &ed_cert,
        ),
        (
            "CA revoked",
            format!("{}@revoked * {}\n", ca_line(&host_ca), common::pub_line(&host_ca)),
            &ed_cert,
        ),
        ("CA not trusted", ca_line(&other_ca), &ed_cert),
        (
            "CA for another host",
            format!("@cert-authority other.example {}\n", common::pub_line(&host_ca)),
            &ed_cert,
        ),
    ];
    for (what, known, algs) in cases {
        let r = connect(known, Some(algs), &user_key).await;
        let err = r.err().unwrap_or_else(|| panic!("{what}: accepted")).to_string();
        assert!(err.contains("host"), "{what}: {err}");
    }

    // User certificates sshd refuses: expired, and for another principal.
    for (what, key) in [("expired", &expired_user), ("wrong principal", &other_user)] {
        let r = connect(ca_line(&host_ca), None, key).await;
        assert!(r.is_err(), "{what} user certificate accepted");
    }
}

fn start_server(cfg: ServerConfig) -> common::InProcessServer {
    common::InProcessServer::start(cfg, Arc::new(SimpleAuth::default()), None)
}

fn ssh(port: u16, known_hosts: &Path, key: &Path, user: &str, extra: &[&str], command: &str) -> Output {
    Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(["-o", "LogLevel=ERROR", "-o", "PasswordAuthentication=no"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .arg("-i")
        .arg(key)
        .args(["-p", &port.to_string()])
        .args(extra)
        .arg(format!("{user}@127.0.0.1"))
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// OpenSSH's ssh and amiko's server: ssh trusts amiko's host certificate through @cert-authority and logs in with
/// a user certificate from a trusted CA; expired, wrong-principal, untrusted-CA and wrong-source certificates are
/// refused; force-command replaces the command.
#[test]
fn openssh_client_and_amiko_server_certificates() {
    if Command::new("ssh").arg("-V").output().is_err() || Command::new("ssh-keygen").arg("-?").output().is_err() {
        common::missing("OpenSSH ssh and ssh-keygen");
        return;
    }
    let dir = common::temp_dir("certs-server");
    let host_ca = new_key(&dir, "host_ca", "ecdsa", "256");
    let user_ca = new_key(&dir, "user_ca", "ed25519", "256");
    let other_ca = new_key(&dir, "other_ca", "ed25519", "256");
    let host_key = new_key(&dir, "host_key", "ed25519", "256");
    common::sign_key(&host_ca, &host_key, "127.0.0.1", "-5m:+1h", true, &[]);
    let hk = amiko::load_key_file(&host_key, None).unwrap();
    let cert =
        PublicKey::from_openssh(&std::fs::read_to_string(format!("{}-cert.pub", host_key.display())).unwrap()).unwrap();
    let mut cfg = ServerConfig::new(vec![hk.without_certificate(), hk.with_certificate(cert).unwrap()]);
    cfg.trusted_user_ca_keys = vec![PublicKey::from_openssh(&common::pub_line(&user_ca)).unwrap()];
    let server = start_server(cfg);
    let known = dir.join("known_hosts");
    std::fs::write(
        &known,
        format!(
            "@cert-authority [127.0.0.1]:{} {}\n",
            server.port,
            common::pub_line(&host_ca)
        ),
    )
    .unwrap();

    let user = "alice";
    let cases: Vec<(&str, &Path, &str, &[&str], bool)> = vec![
        ("valid", &user_ca, user, &[], true),
        ("expired", &user_ca, user, &[], false),
        ("wrong principal", &user_ca, "bob", &[], false),
        ("untrusted CA", &other_ca, user, &[], false),
        (
            "source address",
            &user_ca,
            user,
            &["-O", "source-address=10.0.0.0/8"],
            false,
        ),
        (
            "source address ok",
            &user_ca,
            user,
            &["-O", "source-address=127.0.0.0/8,::1"],
            true,
        ),
        (
            "unknown critical option",
            &user_ca,
            user,
            &["-O", "verify-required"],
            false,
        ),
    ];
    for (i, (what, ca, principal, opts, ok)) in cases.into_iter().enumerate() {
        let key = new_key(&dir, &format!("id_{i}"), "ecdsa", "256");
        let validity = if what == "expired" { PAST } else { "-5m:+1h" };
        common::sign_key(ca, &key, principal, validity, false, opts);
        let out = ssh(server.port, &known, &key, user, &[], "echo in");
        assert_eq!(
            out.status.success(),
            ok,
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if ok {
            assert_eq!(out.stdout, b"in\n", "{what}");
        }
    }
    // Without the certificate file the plain key is unknown: refused (the certificate did the work above).
    let key = new_key(&dir, "id_plain", "ed25519", "256");
    assert!(!ssh(server.port, &known, &key, user, &[], "true").status.success());

    // force-command runs instead of the requested command, which is in SSH_ORIGINAL_COMMAND.
    let key = new_key(&dir, "id_forced", "ed25519", "256");
    common::sign_key(
        &user_ca,
        &key,
        user,
        "-5m:+1h",
        false,
        &["-O", "force-command=echo forced:$SSH_ORIGINAL_COMMAND"],
    );
    let out = ssh(server.port, &known, &key, user, &[], "echo asked");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "forced:echo asked\n");

    // The forced command gets the client's variables the server accepts, as under sshd, and by default those are
    // LANG and LC_* only: a BASH_ENV, ENV or LD_PRELOAD sent with it neither arrives nor runs code before it.
    let key = new_key(&dir, "id_forced_env", "ed25519", "256");
    common::sign_key(
        &user_ca,
        &key,
        user,
        "-5m:+1h",
        false,
        &[
            "-O",
            "force-command=echo lc=$LC_ALL ${BASH_ENV-no_bash_env} ${ENV-no_env} ${LD_PRELOAD-no_preload}",
        ],
    );
    let marker = dir.join("bash_env_ran");
    let script = dir.join("bash_env.sh");
    std::fs::write(&script, format!("touch {}\n", marker.display())).unwrap();
    let sent = format!(
        "SetEnv=LC_ALL=C BASH_ENV={s} ENV={s} LD_PRELOAD=/nonexistent/preload.so",
        s = script.display()
    );
    let out = ssh(server.port, &known, &key, user, &["-F", "/dev/null", "-o", &sent], "id");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "lc=C no_bash_env no_env no_preload\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!marker.exists(), "the client's BASH_ENV ran before the forced command");

    // The host certificate is what ssh trusted: with only plain host key algorithms it has nothing to check.
    let key = new_key(&dir, "id_again", "ed25519", "256");
    common::sign_key(&user_ca, &key, user, "-5m:+1h", false, &[]);
    let out = ssh(
        server.port,
        &known,
        &key,
        user,
        &["-o", "HostKeyAlgorithms=ssh-ed25519"],
        "true",
    );
    assert!(
        !out.status.success(),
        "plain host key accepted without a known_hosts entry"
    );
    let out = ssh(
        server.port,
        &known,
        &key,
        user,
        &["-o", "HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com"],
        "echo cert-host",
    );
    assert_eq!(out.stdout, b"cert-host\n", "{}", String::from_utf8_lossy(&out.stderr));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A key pair made in-process can carry a certificate signed by ssh-keygen.
#[test]
fn private_key_takes_an_ssh_keygen_certificate() {
    if Command::new("ssh-keygen").arg("-?").output().is_err() {
        common::missing("ssh-keygen");
        return;
    }
    let dir = common::temp_dir("certs-attach");
    let ca = new_key(&dir, "ca", "ed25519", "256");
    let k = PrivateKey::generate_ecdsa(256).unwrap();
    let path = dir.join("k");
    std::fs::write(path.with_extension("pub"), k.public_key().to_openssh()).unwrap();
    common::sign_key(&ca, &path, "x", "-5m:+1h", false, &[]);
    let cert = PublicKey::from_openssh(&std::fs::read_to_string(dir.join("k-cert.pub")).unwrap()).unwrap();
    let with = k.with_certificate(cert).unwrap();
    assert_eq!(
        with.signature_algorithms(),
        ["ecdsa-sha2-nistp256-cert-v01@openssh.com"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
