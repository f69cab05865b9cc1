//! Timeouts and liveness: a server that never speaks, a server that goes silent after login, and a channel whose
//! reader stops, each against a real peer (OpenSSH's sshd, or a TCP socket that swallows everything).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amiko::{Client, ClientConfig};
use common::Sshd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn config(sshd: &Sshd) -> ClientConfig {
    let mut c = ClientConfig::new(sshd.user.clone());
    c.host_keys.files = vec![sshd.known_hosts.clone()];
    c.keys = vec![amiko::load_key_file(&sshd.client_key, None).unwrap()];
    c
}

/// A listener that accepts connections, optionally writes `greeting`, then reads and discards forever.
async fn silent_server(greeting: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(greeting).await;
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    port
}

#[tokio::test]
async fn a_server_that_never_finishes_the_handshake_times_out() {
    for greeting in [&b""[..], b"SSH-2.0-Silent_1.0\r\n"] {
        let port = silent_server(greeting).await;
        let mut cfg = ClientConfig::new("me");
        cfg.login_timeout = Some(Duration::from_millis(500));
        let started = Instant::now();
        let err = match Client::connect("127.0.0.1", port, cfg).await {
            Ok(_) => panic!("a silent server let us log in"),
            Err(e) => e,
        };
        assert!(matches!(err, amiko::Error::LoginTimeout(..)), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }
}

/// A TCP relay to `target` that can be frozen: once frozen it stops passing bytes either way but keeps both
/// sockets open, as a peer whose machine hangs or a network that black-holes packets.
async fn freezable_relay(target: u16) -> (u16, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let frozen = Arc::new(AtomicBool::new(false));
    let f = frozen.clone();
    tokio::spawn(async move {
        while let Ok((a, _)) = l.accept().await {
            let b = TcpStream::connect(("127.0.0.1", target)).await.unwrap();
            let (ar, aw) = a.into_split();
            let (br, bw) = b.into_split();
            tokio::spawn(pump(ar, bw, f.clone()));
            tokio::spawn(pump(br, aw, f.clone()));
        }
    });
    (port, frozen)
}

async fn pump(mut r: tokio::net::tcp::OwnedReadHalf, mut w: tokio::net::tcp::OwnedWriteHalf, frozen: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 16384];
    let mut held = Vec::new();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if frozen.load(Ordering::Relaxed) {
            held.extend_from_slice(&buf[..n]); // swallowed, never delivered
            continue;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_alive_count_max_ends_a_connection_to_a_silent_server() {
    let Some(sshd) = Sshd::start() else { return };
    let (port, frozen) = freezable_relay(sshd.port).await;
    let mut cfg = config(&sshd);
    // The relay has its own port, and known_hosts lines name the port.
    let lines = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    cfg.host_keys.extra = lines.replace(&format!("]:{} ", sshd.port), &format!("]:{port} "));
    // ServerAliveInterval=1 (here 200 ms), ServerAliveCountMax=3.
    cfg.proto.keepalive_interval = Some(Duration::from_millis(200));
    cfg.proto.keepalive_count_max = 3;
    let client = Client::connect("127.0.0.1", port, cfg).await.unwrap();
    assert_eq!(client.exec("echo up").await.unwrap().stdout, b"up\n");
    frozen.store(true, Ordering::Relaxed);
    let started = Instant::now();
    // A command started after the freeze would wait forever without keepalives; with them the connection is
    // declared dead after about count_max intervals and the call fails.
    let r = tokio::time::timeout(Duration::from_secs(10), client.exec("echo never")).await;
    let r = r.expect("exec still hangs 10 s after the server went silent");
    assert!(r.is_err(), "exec through a frozen link succeeded");
    assert!(!client.is_active());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_whose_reader_stops_does_not_stall_the_others() {
    let Some(sshd) = Sshd::start() else { return };
    let client = Client::connect("127.0.0.1", sshd.port, config(&sshd)).await.unwrap();
    // The remote command never reads its stdin: our writes stop once the channel window is full.
    let mut stuck = client.open_session().await.unwrap();
    stuck.exec("sleep 30").await.unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..64 {
            if stuck.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !writer.is_finished(),
        "64 MiB went into a channel nobody reads: flow control is missing"
    );
    // Other channels on the same connection go on.
    for i in 0..5 {
        let out = tokio::time::timeout(Duration::from_secs(10), client.exec(&format!("echo {i}")))
            .await
            .expect("a second channel hung behind the stuck one")
            .unwrap();
        assert_eq!(out.stdout, format!("{i}\n").as_bytes());
    }
    writer.abort();
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn a_stopped_openssh_client_does_not_stall_the_server() {
    use std::process::{Command, Stdio};
    if Command::new("ssh").arg("-V").output().is_err() {
        common::missing("OpenSSH client (ssh)");
        return;
    }
    let dir = common::temp_dir("liveness");
    let key = dir.join("id_ed25519");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let pubkey = amiko::PublicKey::from_openssh(&std::fs::read_to_string(key.with_extension("pub")).unwrap()).unwrap();
    let host_key = amiko::PrivateKey::generate_ed25519().unwrap();
    let known_hosts = dir.join("known_hosts");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(amiko::server::Server::bind(
            "127.0.0.1:0",
            amiko::server::ServerConfig::new(vec![host_key.clone()]),
            Arc::new(amiko::server::SimpleAuth {
                authorized_keys: vec![pubkey.into()],
                ..Default::default()
            }),
        ))
        .unwrap();
    let port = server.local_addr().unwrap().port();
    std::fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{port} {}\n", host_key.public_key().to_openssh()),
    )
    .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(server.run_until(async { drop(stop_rx.await) }));
    let ssh = |command: &str| {
        let mut c = Command::new("ssh");
        c.args([
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .arg("-i")
        .arg(&key)
        .args(["-p", &port.to_string(), "tester@127.0.0.1", command])
        .stdin(Stdio::null());
        c
    };
    // A client that stops reading while its command writes without end: the server may only buffer up to the
    // channel window, and must keep serving everyone else.
    let mut stopped = ssh("yes").stdout(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let pid = stopped.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib();
    for i in 0..5 {
        let out = ssh(&format!("echo {i}")).output().unwrap();
        assert_eq!(
            out.stdout,
            format!("{i}\n").as_bytes(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    let grown = rss_kib().saturating_sub(before);
    let _ = Command::new("kill").args(["-KILL", &pid]).status();
    let _ = stopped.wait();
    let _ = stop_tx.send(());
    let _ = rt.block_on(serving);
    let _ = std::fs::remove_dir_all(&dir);
    // `yes` makes hundreds of MB a second; unbounded buffering would show as hundreds of MB here.
    assert!(
        grown < 32 * 1024,
        "the server grew by {grown} KiB while a client was stopped"
    );
}
