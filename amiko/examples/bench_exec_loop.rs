//! One connection, then N execs of `true` on it one after another (the "warm" case: no new handshake per command).
//! Prints the connect time and the loop time in seconds. Used by scripts/bench-warm beside ssh with ControlMaster,
//! Paramiko and asyncssh.
//!
//! `cargo run --release --example bench_exec_loop -- PORT KEYFILE KNOWN_HOSTS [N]`

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (port, key, kh) = (args[1].parse().expect("port"), &args[2], &args[3]);
    let n: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = amiko::load_key_file(std::path::Path::new(key), None).expect("key");
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let (connect, looped) = rt.block_on(async {
        let t = Instant::now();
        let mut cfg = amiko::ClientConfig::new(user);
        cfg.keys = vec![key];
        cfg.host_keys.files = vec![kh.into()];
        cfg.try_none_first = false;
        let c = amiko::Client::connect("127.0.0.1", port, cfg).await.expect("connect");
        let connect = t.elapsed();
        let t = Instant::now();
        for _ in 0..n {
            let out = c.exec("true").await.expect("exec");
            assert_eq!(out.exit_status, Some(0));
        }
        let looped = t.elapsed();
        c.disconnect();
        (connect, looped)
    });
    println!("{:.6} {:.6}", connect.as_secs_f64(), looped.as_secs_f64());
}
