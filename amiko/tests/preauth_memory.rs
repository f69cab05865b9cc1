//! Pre-auth memory per connection, in a test binary of its own: it reads the whole process's RSS, so no other
//! test may run beside it.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use amiko::server::{Server, ServerConfig, SimpleAuth};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4
}

#[test]
fn pre_auth_memory_per_connection_is_bounded() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = ServerConfig::new(vec![amiko::PrivateKey::generate_ed25519().unwrap()]);
    cfg.max_startups = (1000, 30, 1000);
    let server = rt
        .block_on(Server::bind("127.0.0.1:0", cfg, Arc::new(SimpleAuth::default())))
        .unwrap();
    let port = server.local_addr().unwrap().port();
    rt.spawn(server.run());
    // Warm up one connection so that one-time allocations do not count.
    let mut warm = TcpStream::connect(("127.0.0.1", port)).unwrap();
    warm.write_all(b"SSH-2.0-warm\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib();
    let n = 300;
    let conns: Vec<TcpStream> = (0..n)
        .map(|_| {
            let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
            t.write_all(b"SSH-2.0-idle\r\n").unwrap();
            t
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let per_conn = rss_kib().saturating_sub(before) / n;
    eprintln!("pre-auth RSS per connection: {per_conn} KiB");
    assert!(per_conn < 128, "{per_conn} KiB per unauthenticated connection");
    drop(conns);
}
