//! Remote (ssh -R) and Unix-socket (streamlocal) forwarding with real peers in both roles: amiko's client against
//! OpenSSH's sshd, and OpenSSH's ssh against amiko's server.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amiko::server::{Handler, ServerConfig, SimpleAuth};
use amiko::{Client, ClientConfig, RemoteForward};
use common::Sshd;

/// A Unix-socket echo server at `path`, connectable by anyone (sshd connects as the test user).
fn unix_echo(path: &Path) {
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = c.try_clone().unwrap();
                let mut w = c;
                let _ = std::io::copy(&mut r, &mut w);
            });
        }
    });
}

/// A directory anyone may create sockets in (sshd binds remote sockets as the test user).
fn open_dir(tag: &str) -> PathBuf {
    let d = common::temp_dir(tag);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// Sends 1 MiB through an echo and checks every byte comes back.
fn roundtrip(mut r: impl Read, mut w: impl Write + Send + 'static, seed: u8) {
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8 ^ seed).collect();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        w.write_all(&sent).unwrap();
        w
    });
    let mut back = vec![0u8; data.len()];
    r.read_exact(&mut back).unwrap();
    let _w = writer.join().unwrap();
    assert!(back == data, "the echo differs");
}

/// Two 1 MiB echoes at once through TCP port `port`.
fn two_tcp_roundtrips(port: u16) {
    std::thread::scope(|s| {
        for seed in [1u8, 2] {
            s.spawn(move || {
                let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
                roundtrip(c.try_clone().unwrap(), c, seed);
            });
        }
    });
}

/// Two 1 MiB echoes at once through the Unix socket `path`.
fn two_unix_roundtrips(path: &Path) {
    std::thread::scope(|s| {
        for seed in [3u8, 4] {
            s.spawn(move || {
                let c = UnixStream::connect(path).unwrap();
                roundtrip(c.try_clone().unwrap(), c, seed);
            });
        }
    });
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Serves a remote forward as ssh -R does: each connection goes to the local `target`, refused with "connect
/// failed" when that is down.
fn serve_forward(mut fwd: RemoteForward, target: Target) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(incoming) = fwd.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let stream: Box<dyn AsyncStream> = match &target {
                    Target::Tcp(port) => match tokio::net::TcpStream::connect(("127.0.0.1", *port)).await {
                        Ok(s) => Box::new(s),
                        Err(e) => return incoming.reject(2, &e.to_string()),
                    },
                    Target::Unix(p) => match tokio::net::UnixStream::connect(p).await {
                        Ok(s) => Box::new(s),
                        Err(e) => return incoming.reject(2, &e.to_string()),
                    },
                };
                let mut stream = stream;
                let mut ch = incoming.accept().unwrap();
                let _ = tokio::io::copy_bidirectional(&mut stream, &mut ch).await;
            });
        }
    })
}

trait AsyncStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> AsyncStream for T {}

#[derive(Clone)]
enum Target {
    Tcp(u16),
    Unix(PathBuf),
}

fn sshd_config(sshd: &Sshd) -> ClientConfig {
    let mut c = ClientConfig::new(sshd.user.clone());
    c.host_keys.files = vec![sshd.known_hosts.clone()];
    c.keys = vec![amiko::load_key_file(&sshd.client_key, None).unwrap()];
    c
}

async fn blocking(f: impl FnOnce() + Send + 'static) {
    tokio::task::spawn_blocking(f).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_tcp_forward_through_sshd_carries_two_streams_and_cancels() {
    let Some(sshd) = Sshd::start_with("AllowTcpForwarding yes") else {
        return;
    };
    let client = Client::connect("127.0.0.1", sshd.port, sshd_config(&sshd))
        .await
        .unwrap();
    let echo = common::tcp_echo();
    // Port 0: sshd picks the port and says which.
    let fwd = client.request_remote_forward("127.0.0.1", 0).await.unwrap();
    let port = fwd.port();
    assert_ne!(port, 0);
    let task = serve_forward(fwd, Target::Tcp(echo));
    blocking(move || two_tcp_roundtrips(port)).await;

    // A fixed port, served and then cancelled: sshd stops listening, the connection goes on.
    let fixed = common::free_port();
    let fwd = client.request_remote_forward("127.0.0.1", fixed).await.unwrap();
    assert_eq!(fwd.port(), fixed);
    fwd.cancel().await.unwrap();
    blocking(move || {
        wait_until("the cancelled port to close", || {
            TcpStream::connect(("127.0.0.1", fixed)).is_err()
        })
    })
    .await;
    // The first forward still works after the other was cancelled.
    blocking(move || two_tcp_roundtrips(port)).await;
    // A forward whose local side is down: that connection is closed, nothing else.
    let dead = common::free_port();
    let fwd = client.request_remote_forward("127.0.0.1", 0).await.unwrap();
    let dead_port = fwd.port();
    let t2 = serve_forward(fwd, Target::Tcp(dead));
    blocking(move || {
        let mut c = TcpStream::connect(("127.0.0.1", dead_port)).unwrap();
        let mut b = [0u8; 1];
        assert!(matches!(c.read(&mut b), Ok(0) | Err(_)));
    })
    .await;
    assert_eq!(client.exec("echo alive").await.unwrap().stdout, b"alive\n");
    task.abort();
    t2.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_forwarding_both_ways_through_sshd() {
    let Some(sshd) = Sshd::start_with("AllowStreamLocalForwarding yes") else {
        return;
    };
    let client = Client::connect("127.0.0.1", sshd.port, sshd_config(&sshd))
        .await
        .unwrap();
    let dir = open_dir("streamlocal");
    let local = dir.join("local-echo.sock");
    unix_echo(&local);

    // -L port:/socket: sshd connects to our echo socket for each direct-streamlocal channel.
    for seed in [5u8, 6] {
        let mut ch = client.open_direct_streamlocal(local.to_str().unwrap()).await.unwrap();
        let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8 ^ seed).collect();
        let (mut r, mut w) = tokio::io::split(&mut ch);
        let sent = data.clone();
        let write = async move {
            tokio::io::AsyncWriteExt::write_all(&mut w, &sent).await.unwrap();
        };
        let mut back = vec![0u8; data.len()];
        let read = tokio::io::AsyncReadExt::read_exact(&mut r, &mut back);
        let (_, got) = tokio::join!(write, read);
        got.unwrap();
        assert!(back == data);
    }
    assert!(client
        .open_direct_streamlocal(dir.join("nobody.sock").to_str().unwrap())
        .await
        .is_err());

    // -R /remote.sock:/local.sock: sshd listens on a socket, we carry each connection to our echo socket.
    let remote = dir.join("remote.sock");
    let fwd = client
        .request_remote_streamlocal(remote.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(fwd.port(), 0);
    let task = serve_forward(fwd, Target::Unix(local.clone()));
    let r = remote.clone();
    blocking(move || two_unix_roundtrips(&r)).await;
    task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_refusing_forwarding_is_an_error_and_the_connection_goes_on() {
    let Some(sshd) = Sshd::start_with("AllowTcpForwarding no\nAllowStreamLocalForwarding no") else {
        return;
    };
    let client = Client::connect("127.0.0.1", sshd.port, sshd_config(&sshd))
        .await
        .unwrap();
    let e = client
        .request_remote_forward("127.0.0.1", 0)
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().contains("refused"), "{e}");
    assert!(client
        .request_remote_streamlocal("/tmp/amiko-never.sock")
        .await
        .is_err());
    assert!(client.open_direct_streamlocal("/tmp/amiko-never.sock").await.is_err());
    assert_eq!(client.exec("echo alive").await.unwrap().stdout, b"alive\n");
}

/// amiko's server in a thread of its own, with a fresh client key.
struct TestServer {
    port: u16,
    dir: PathBuf,
    client_key: PathBuf,
    known_hosts: PathBuf,
    pubkey: amiko::PublicKey,
    _server: common::InProcessServer,
}

fn start_server(
    configure: impl FnOnce(&mut ServerConfig),
    handler: impl FnOnce(amiko::PublicKey) -> Arc<dyn Handler>,
) -> TestServer {
    let dir = open_dir("fwd-server");
    let client_key = dir.join("id_ed25519");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-f"])
        .arg(&client_key)
        .status()
        .unwrap()
        .success());
    let pubkey =
        amiko::PublicKey::from_openssh(&std::fs::read_to_string(client_key.with_extension("pub")).unwrap()).unwrap();
    let host_key = amiko::PrivateKey::generate_ed25519().unwrap();
    let mut cfg = ServerConfig::new(vec![host_key]);
    configure(&mut cfg);
    let handler = handler(pubkey.clone());
    let known_hosts = dir.join("known_hosts");
    let server = common::InProcessServer::start(cfg, handler, Some(&known_hosts));
    let port = server.port;
    TestServer {
        port,
        dir,
        client_key,
        known_hosts,
        pubkey,
        _server: server,
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestServer {
    fn ssh(&self, args: &[&str]) -> Command {
        let mut c = common::openssh_client(&self.known_hosts);
        c.arg("-i")
            .arg(&self.client_key)
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    async fn amiko_client(&self) -> Client {
        let mut cfg = ClientConfig::new("tester");
        cfg.host_keys.files = vec![self.known_hosts.clone()];
        cfg.keys = vec![amiko::load_key_file(&self.client_key, None).unwrap()];
        Client::connect("127.0.0.1", self.port, cfg).await.unwrap()
    }
}

fn ssh_available() -> bool {
    if Command::new("ssh").arg("-V").output().is_err() {
        common::missing("OpenSSH client (ssh)");
        return false;
    }
    true
}

fn allow_all(pubkey: amiko::PublicKey) -> Arc<dyn Handler> {
    Arc::new(SimpleAuth {
        authorized_keys: vec![pubkey.into()],
        allow_tcp_forwarding: true,
        allow_streamlocal_forwarding: true,
        ..Default::default()
    })
}

fn keys_only(pubkey: amiko::PublicKey) -> Arc<dyn Handler> {
    Arc::new(SimpleAuth {
        authorized_keys: vec![pubkey.into()],
        ..Default::default()
    })
}

#[test]
fn openssh_client_remote_and_unix_forwards_through_amikos_server() {
    if !ssh_available() {
        return;
    }
    let s = start_server(|_| {}, allow_all);
    let echo = common::tcp_echo();
    let local_sock = s.dir.join("echo.sock");
    unix_echo(&local_sock);
    let remote_sock = s.dir.join("remote.sock");
    let (rport, lport) = (common::free_port(), common::free_port());
    // ssh -R port:host:port (tcpip-forward), -R /socket:host:port (streamlocal-forward) and -L port:/socket
    // (direct-streamlocal), all at once.
    let mut child = s
        .ssh(&[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "LogLevel=ERROR",
            "-R",
            &format!("{rport}:127.0.0.1:{echo}"),
            "-R",
            &format!("{}:127.0.0.1:{echo}", remote_sock.display()),
            "-L",
            &format!("{lport}:{}", local_sock.display()),
            "tester@127.0.0.1",
        ])
        .spawn()
        .unwrap();
    wait_until("the remote port", || TcpStream::connect(("127.0.0.1", rport)).is_ok());
    wait_until("the remote socket", || UnixStream::connect(&remote_sock).is_ok());
    wait_until("the local port", || TcpStream::connect(("127.0.0.1", lport)).is_ok());
    two_tcp_roundtrips(rport);
    two_unix_roundtrips(&remote_sock);
    two_tcp_roundtrips(lport);
    let _ = child.kill();
    let _ = child.wait();
    // The connection is gone: its listeners stop and the socket file is removed.
    wait_until("the remote port to close", || {
        TcpStream::connect(("127.0.0.1", rport)).is_err()
    });
    wait_until("the socket file to go", || !remote_sock.exists());
}

#[test]
fn forwarding_through_amikos_server_is_refused_by_default() {
    if !ssh_available() {
        return;
    }
    let s = start_server(|_| {}, keys_only);
    let echo = common::tcp_echo();
    let rport = common::free_port();
    let out = s
        .ssh(&[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            &format!("{rport}:127.0.0.1:{echo}"),
            "tester@127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("remote port forwarding failed"), "{err}");
    let sock = s.dir.join("r.sock");
    let out = s
        .ssh(&[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            &format!("{}:127.0.0.1:{echo}", sock.display()),
            "tester@127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!sock.exists());

    // -L port:/socket: the channel is refused (administratively prohibited), the local connection closed.
    let local_sock = s.dir.join("echo.sock");
    unix_echo(&local_sock);
    let lport = common::free_port();
    let mut child = s
        .ssh(&[
            "-N",
            "-v",
            "-L",
            &format!("{lport}:{}", local_sock.display()),
            "tester@127.0.0.1",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the local port", || TcpStream::connect(("127.0.0.1", lport)).is_ok());
    let mut c = TcpStream::connect(("127.0.0.1", lport)).unwrap();
    let _ = c.write_all(b"hello");
    let mut b = [0u8; 8];
    assert!(matches!(c.read(&mut b), Ok(0) | Err(_)));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("administratively prohibited"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amiko_both_ends_port_zero_cancel_listener_limit_and_cleanup() {
    let s = start_server(|c| c.max_forward_listeners = 2, allow_all);
    let _ = &s.pubkey;
    let client = s.amiko_client().await;
    let echo = common::tcp_echo();
    let a = client.request_remote_forward("localhost", 0).await.unwrap();
    let sock = s.dir.join("amiko.sock");
    let b = client.request_remote_streamlocal(sock.to_str().unwrap()).await.unwrap();
    // The limit is two listeners per connection.
    assert!(client.request_remote_forward("localhost", 0).await.is_err());
    let port = a.port();
    assert_ne!(port, 0);
    let ta = serve_forward(a, Target::Tcp(echo));
    let tb = serve_forward(b, Target::Tcp(echo));
    let p = sock.clone();
    blocking(move || {
        two_tcp_roundtrips(port);
        two_unix_roundtrips(&p);
    })
    .await;
    ta.abort();
    tb.abort();
    // Dropping the forwards (the aborted tasks held them) cancels them: the server stops listening.
    blocking(move || wait_until("the port to close", || TcpStream::connect(("127.0.0.1", port)).is_err())).await;
    let p = sock.clone();
    blocking(move || wait_until("the socket to go", || !p.exists())).await;
    // Room again for new ones; an explicit cancel is answered.
    let c = client.request_remote_forward("127.0.0.1", 0).await.unwrap();
    let cport = c.port();
    c.cancel().await.unwrap();
    assert!(TcpStream::connect(("127.0.0.1", cport)).is_err());
    // A socket path that exists is not replaced.
    let taken = s.dir.join("taken");
    std::fs::write(&taken, b"file").unwrap();
    assert!(client
        .request_remote_streamlocal(taken.to_str().unwrap())
        .await
        .is_err());
    assert_eq!(std::fs::read(&taken).unwrap(), b"file");
    // Dropping the client ends the connection; a forward held past that reports the end.
    let mut d = client.request_remote_forward("127.0.0.1", 0).await.unwrap();
    let dport = d.port();
    client.disconnect();
    assert!(d.accept().await.is_err());
    blocking(move || {
        wait_until("the port to close", || {
            TcpStream::connect(("127.0.0.1", dport)).is_err()
        })
    })
    .await;
}
