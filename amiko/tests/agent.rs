//! ssh-agent support against real peers: OpenSSH's ssh-agent and ssh-add, sshd, and the OpenSSH client `ssh -A`
//! into amiko's server.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use amiko::agent::AgentClient;
use amiko::server::{Handler, ServerConfig, SimpleAuth};
use amiko::{Client, ClientConfig, PrivateKey};
use common::{SshAgent, Sshd};

/// A config with no keys of its own: only the agent at `socket` can log in.
fn agent_only(sshd: &Sshd, socket: Option<PathBuf>) -> ClientConfig {
    let mut c = ClientConfig::new(sshd.user.clone());
    c.host_keys.files = vec![sshd.known_hosts.clone()];
    c.agent = socket;
    c
}

#[tokio::test]
async fn lists_the_agents_keys_and_signs_with_each_algorithm() {
    let Some(agent) = SshAgent::start(&["ed25519", "ecdsa", "rsa"]) else {
        return;
    };
    let mut a = AgentClient::connect(&agent.socket).await.unwrap();
    let ids = a.identities().await.unwrap();
    let got: Vec<String> = ids.iter().map(|i| i.key.fingerprint()).collect();
    assert_eq!(got, agent.fingerprints());
    assert!(ids[0].comment.contains("id_ed25519") || !ids[0].comment.is_empty());
    for id in &ids {
        for alg in id.key.signature_algorithms() {
            let data = format!("data for {alg}").into_bytes();
            let sig = a.sign(&id.key, alg, &data).await.unwrap();
            // The agent honoured the flags: the signature is of the algorithm asked for, and verifies.
            assert_eq!(id.key.verify(&data, &sig).unwrap(), alg);
        }
    }
    // A key the agent does not hold: a typed refusal, and the connection stays usable.
    let stranger = PrivateKey::generate_ed25519().unwrap().public_key();
    let e = a.sign(&stranger, "ssh-ed25519", b"x").await.unwrap_err();
    assert!(matches!(e, amiko::Error::Agent(_)), "{e}");
    assert_eq!(a.identities().await.unwrap().len(), 3);
}

#[tokio::test]
async fn bad_agent_answers_are_typed_errors() {
    // A peer that answers with junk: an over-long length, a truncated body, an unknown message, trailing bytes.
    let dir = common::temp_dir("badagent");
    for reply in [
        vec![0xff, 0xff, 0xff, 0xff],
        (300 * 1024u32).to_be_bytes().to_vec(),
        vec![0, 0, 0, 10, 12],
        vec![0, 0, 0, 1, 99],
        vec![0, 0, 0, 5, 12, 0, 0, 0, 9],
        vec![0, 0, 0, 2, 5, 0],
        vec![0, 0, 0, 0],
    ] {
        let sock = dir.join("junk.sock");
        let _ = std::fs::remove_file(&sock);
        let l = tokio::net::UnixListener::bind(&sock).unwrap();
        let r = reply.clone();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 5];
            let _ = s.read_exact(&mut buf).await;
            let _ = s.write_all(&r).await;
            // Hang up (a truncated body must not hang the client).
        });
        let mut a = AgentClient::connect(&sock).await.unwrap();
        let e = tokio::time::timeout(Duration::from_secs(10), a.identities())
            .await
            .expect("no hang")
            .unwrap_err();
        assert!(
            matches!(e, amiko::Error::Agent(_) | amiko::Error::Io { .. }),
            "{reply:?}: {e}"
        );
        server.await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn logs_in_to_sshd_with_agent_keys_only() {
    for t in ["ed25519", "ecdsa", "rsa"] {
        let Some(sshd) = Sshd::start() else { return };
        let Some(agent) = SshAgent::start(&[t]) else { return };
        // Without the agent there is nothing to log in with.
        let e = Client::connect("127.0.0.1", sshd.port, agent_only(&sshd, None))
            .await
            .err()
            .expect("no credentials");
        assert!(matches!(e, amiko::Error::Auth { .. }), "{e}");
        // The agent's key, not yet authorized: offered and refused.
        let e = Client::connect("127.0.0.1", sshd.port, agent_only(&sshd, Some(agent.socket.clone())))
            .await
            .err()
            .expect("key not authorized");
        assert!(matches!(e, amiko::Error::Auth { .. }), "{e}");
        sshd.authorize(&agent.keys[0].1);
        let client = Client::connect("127.0.0.1", sshd.port, agent_only(&sshd, Some(agent.socket.clone())))
            .await
            .unwrap_or_else(|e| panic!("{t}: {e}"));
        let out = client.exec("echo agent-$((6*7))").await.unwrap();
        assert_eq!(out.stdout, b"agent-42\n");
        if t == "rsa" {
            // sshd's log names the signature algorithm: SHA-2, never ssh-rsa (SHA-1).
            let log = sshd.log();
            assert!(log.contains("attempting public key rsa-sha2-512"), "{log}");
        }
    }
}

#[tokio::test]
async fn a_key_the_agent_refuses_to_sign_with_is_skipped() {
    let Some(sshd) = Sshd::start() else { return };
    let Some(mut agent) = SshAgent::start(&[]) else { return };
    let dir = common::temp_dir("agent-confirm");
    for (name, options) in [("id_confirm", &["-c"][..]), ("id_plain", &[][..])] {
        let path = dir.join(name);
        assert!(Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", "ed25519", "-f"])
            .arg(&path)
            .status()
            .unwrap()
            .success());
        agent.add_with(&path, options);
        sshd.authorize(&agent.keys.last().unwrap().1);
    }
    // The agent cannot confirm (no display), so it refuses the first key: a typed error from the agent client...
    let mut a = AgentClient::connect(&agent.socket).await.unwrap();
    let ids = a.identities().await.unwrap();
    assert_eq!(ids.len(), 2);
    let e = a.sign(&ids[0].key, "ssh-ed25519", b"x").await.unwrap_err();
    assert!(matches!(e, amiko::Error::Agent(_)), "{e}");
    // ...and the login goes on with the next key.
    let client = Client::connect("127.0.0.1", sshd.port, agent_only(&sshd, Some(agent.socket.clone())))
        .await
        .unwrap();
    assert_eq!(client.exec("echo ok").await.unwrap().stdout, b"ok\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn agent_forwarding_through_sshd() {
    let Some(sshd) = Sshd::start() else { return };
    let Some(agent) = SshAgent::start(&["ed25519", "ecdsa", "rsa"]) else {
        return;
    };
    sshd.authorize(&agent.keys[0].1);
    let client = Client::connect("127.0.0.1", sshd.port, agent_only(&sshd, Some(agent.socket.clone())))
        .await
        .unwrap();
    // Without forwarding there is no agent over there.
    let out = client.exec("ssh-add -l").await.unwrap();
    assert_eq!(out.exit_status, Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    // With it, the remote ssh-add lists our agent's keys, twice (two agent channels on one session), and the
    // forwarded agent signs: ssh on the server logs in to the server again with it.
    let hop = format!(
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
         -p {} {}@127.0.0.1 echo hop-ok",
        sshd.port, sshd.user
    );
    let mut ch = client.open_session().await.unwrap();
    assert!(ch.request_agent_forwarding(&agent.socket).await.unwrap());
    ch.exec(&format!("ssh-add -l && ssh-add -l && {hop}")).await.unwrap();
    ch.eof().await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    ch.read_to_end_both(&mut out, &mut err).await.unwrap();
    assert_eq!(
        ch.wait_exit_status().await.unwrap(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&err)
    );
    let text = String::from_utf8_lossy(&out);
    for fp in agent.fingerprints() {
        assert_eq!(text.matches(&fp).count(), 2, "{text}");
    }
    assert!(text.ends_with("hop-ok\n"), "{text}");
}

/// amiko's server on a thread, for `ssh -A`.
struct TestServer {
    port: u16,
    dir: PathBuf,
    client_key: PathBuf,
    known_hosts: PathBuf,
    _server: common::InProcessServer,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_server(allow_agent_forwarding: bool) -> TestServer {
    let dir = common::temp_dir("agent-server");
    let client_key = dir.join("id_ed25519");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-f"])
        .arg(&client_key)
        .status()
        .unwrap()
        .success());
    let pubkey =
        amiko::PublicKey::from_openssh(&std::fs::read_to_string(client_key.with_extension("pub")).unwrap()).unwrap();
    let host_key = PrivateKey::generate_ed25519().unwrap();
    let handler: Arc<dyn Handler> = Arc::new(SimpleAuth {
        authorized_keys: vec![pubkey.into()],
        allow_agent_forwarding,
        ..Default::default()
    });
    let known_hosts = dir.join("known_hosts");
    let server = common::InProcessServer::start(ServerConfig::new(vec![host_key]), handler, Some(&known_hosts));
    let port = server.port;
    TestServer {
        port,
        dir,
        client_key,
        known_hosts,
        _server: server,
    }
}

impl TestServer {
    /// OpenSSH's `ssh` with `-A` and our test agent, running `command`.
    fn ssh_a(&self, agent: &SshAgent, forward: bool, command: &str) -> std::process::Output {
        let mut c = common::openssh_client(&self.known_hosts);
        c.arg("-o")
            .arg(format!("IdentityAgent={}", agent.socket.display()))
            .arg("-o")
            .arg("IdentitiesOnly=yes")
            .arg("-i")
            .arg(&self.client_key)
            .arg(if forward { "-A" } else { "-a" })
            .args(["-p", &self.port.to_string(), "tester@127.0.0.1", command])
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null());
        c.output().unwrap()
    }
}

fn ssh_available() -> bool {
    if Command::new("ssh").arg("-V").output().is_err() {
        common::missing("OpenSSH client (ssh)");
        return false;
    }
    true
}

#[test]
fn openssh_client_forwards_its_agent_into_amikos_server() {
    if !ssh_available() {
        return;
    }
    let Some(agent) = SshAgent::start(&["ed25519", "rsa"]) else {
        return;
    };
    let s = start_server(true);
    let out = s.ssh_a(
        &agent,
        true,
        "ssh-add -l; echo \"sock=$SSH_AUTH_SOCK\"; stat -c 'mode=%a' \"$(dirname \"$SSH_AUTH_SOCK\")\"",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    for fp in agent.fingerprints() {
        assert!(text.contains(&fp), "{text}");
    }
    assert!(text.contains("mode=700"), "{text}");
    // The socket and its directory are gone once the session ended.
    let sock = text
        .lines()
        .find_map(|l| l.strip_prefix("sock="))
        .map(PathBuf::from)
        .expect("socket path");
    let dir = sock.parent().unwrap().to_path_buf();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while dir.exists() {
        assert!(std::time::Instant::now() < deadline, "{} left behind", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Without -A there is no agent in the session.
    let out = s.ssh_a(&agent, false, "ssh-add -l; echo \"status=$? sock=$SSH_AUTH_SOCK\"");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("status=2 sock=\n"), "{text}");
}

#[test]
fn agent_forwarding_is_refused_by_default() {
    if !ssh_available() {
        return;
    }
    let Some(agent) = SshAgent::start(&["ed25519"]) else {
        return;
    };
    let s = start_server(false);
    let out = s.ssh_a(&agent, true, "ssh-add -l; echo \"status=$? sock=$SSH_AUTH_SOCK\"");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("status=2 sock=\n"), "{text}");
}

#[tokio::test]
async fn amiko_client_forwards_its_agent_to_amikos_server() {
    let Some(agent) = SshAgent::start(&["ecdsa"]) else {
        return;
    };
    let s = start_server(true);
    let mut cfg = ClientConfig::new("tester");
    cfg.host_keys.files = vec![s.known_hosts.clone()];
    cfg.keys = vec![amiko::load_key_file(&s.client_key, None).unwrap()];
    cfg.agent = None;
    let client = Client::connect("127.0.0.1", s.port, cfg).await.unwrap();
    let mut ch = client.open_session().await.unwrap();
    assert!(ch.request_agent_forwarding(&agent.socket).await.unwrap());
    ch.exec("ssh-add -L").await.unwrap();
    ch.eof().await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    ch.read_to_end_both(&mut out, &mut err).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    let want = agent.keys[0].1.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    assert!(text.contains(&want), "{text} {}", String::from_utf8_lossy(&err));
    let _ = std::io::stderr().flush();
}
