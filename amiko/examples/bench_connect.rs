//! Connect + authenticate (Ed25519 key) + exec `true`, N times, against an external server; prints the median wall
//! time and the client CPU per connection in ms, then the fastest and slowest connection in ms. Used by
//! scripts/bench-connect to compare with `ssh`, Paramiko and asyncssh in one run.
//!
//! `cargo run --release --example bench_connect -- PORT KEYFILE KNOWN_HOSTS [N]`

use std::time::{Duration, Instant};

fn cpu() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(u.user_time()) + tv(u.system_time())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (port, key, kh) = (args[1].parse().expect("port"), &args[2], &args[3]);
    let n: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(200);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = amiko::load_key_file(std::path::Path::new(key), None).expect("key");
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let mut walls = Vec::with_capacity(n);
    // One warm-up connection: the first pays for aws-lc's one-time setup.
    let run = |walls: &mut Vec<Duration>| {
        rt.block_on(async {
            let t = Instant::now();
            let mut cfg = amiko::ClientConfig::new(user.clone());
            cfg.keys = vec![key.clone()];
            cfg.host_keys.files = vec![kh.into()];
            cfg.try_none_first = false;
            let c = amiko::Client::connect("127.0.0.1", port, cfg).await.expect("connect");
            let out = c.exec("true").await.expect("exec");
            assert_eq!(out.exit_status, Some(0));
            c.disconnect();
            walls.push(t.elapsed());
        })
    };
    run(&mut Vec::new());
    let c0 = cpu();
    for _ in 0..n {
        run(&mut walls);
    }
    let per = (cpu() - c0) / n as u32;
    walls.sort();
    println!(
        "{:.3} {:.3} {:.3} {:.3}",
        walls[n / 2].as_secs_f64() * 1e3,
        per.as_secs_f64() * 1e3,
        walls[0].as_secs_f64() * 1e3,
        walls[n - 1].as_secs_f64() * 1e3
    );
}
