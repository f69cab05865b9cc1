//! `amiko run` over 200 sessions where hosts misbehave in every way a fleet does: slow (50 ms RTT through a delaying
//! relay, as netem would make it: this kernel has no netem), down (connection refused), silent (accepts, then says
//! nothing), and commands that fail. Every host must be accounted for, with the right result, and nothing hangs.

#[path = "../../amiko/tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Sshd;

/// Forwards each accepted connection to `target`, delaying every chunk by `one_way` in each direction.
fn delaying_relay(target: u16, one_way: Duration) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for a in l.incoming().flatten() {
            let Ok(b) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            for (from, to) in [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)] {
                delay_pump(from, to, one_way);
            }
        }
    });
    port
}

fn delay_pump(mut from: TcpStream, mut to: TcpStream, one_way: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send((Instant::now() + one_way, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for (due, bytes) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

/// Accepts connections and never answers.
fn silent_listener() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

#[test]
fn run_accounts_for_slow_down_silent_and_failing_hosts() {
    let Some(sshd) = Sshd::start_with("MaxStartups 300:30:400") else {
        return;
    };
    let slow = delaying_relay(sshd.port, Duration::from_millis(25));
    let silent = silent_listener();
    let down = common::free_port();
    let dir = common::temp_dir("cli-fanout-hosts");
    let mut hosts = String::new();
    for _ in 0..100 {
        hosts.push_str(&format!("127.0.0.1:{slow}\n"));
    }
    for _ in 0..90 {
        hosts.push_str(&format!("127.0.0.1:{}\n", sshd.port));
    }
    for _ in 0..5 {
        hosts.push_str(&format!("127.0.0.1:{down}\n127.0.0.1:{silent}\n"));
    }
    std::fs::write(dir.join("hosts"), hosts).unwrap();
    // A third of the commands fail, decided on the host: the exit status must match what that host printed.
    let command = "r=$(od -An -N1 -tu1 /dev/urandom | tr -d ' '); echo $r; [ $((r % 3)) -ne 0 ]";
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_amiko"))
        .args([
            "run",
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .arg("-i")
        .arg(&sshd.client_key)
        .args(["-l", &sshd.user, "--hosts"])
        .arg(dir.join("hosts"))
        .args([
            "--json",
            "--parallel",
            "200",
            "--connect-timeout",
            "3",
            "--login-timeout",
            "15",
            "--",
            command,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let results: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), 200, "{}", String::from_utf8_lossy(&out.stderr));
    let port_of = |v: &serde_json::Value| -> u16 {
        let host = v["host"].as_str().unwrap();
        host.rsplit(':').next().unwrap().parse().unwrap()
    };
    let (mut ran, mut failed_cmd, mut refused, mut timed_out) = (0, 0, 0, 0);
    for v in &results {
        let port = port_of(v);
        if port == down {
            assert!(v["error"].as_str().is_some_and(|e| e.contains("refused")), "{v}");
            refused += 1;
        } else if port == silent {
            assert!(v["error"].as_str().is_some_and(|e| e.contains("timed out")), "{v}");
            timed_out += 1;
        } else {
            let r: u32 = v["stdout"]
                .as_str()
                .unwrap()
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{v}"));
            let want = u32::from(r.is_multiple_of(3));
            assert_eq!(v["exit_status"], want, "{v}");
            ran += 1;
            failed_cmd += want;
        }
    }
    assert_eq!((ran, refused, timed_out), (190, 5, 5));
    assert!(
        failed_cmd > 0,
        "no command failed in 190 tries: the random split is broken"
    );
    assert_eq!(out.status.code(), Some(1), "failures make the exit status non-zero");
    // The silent hosts cost one login timeout (15 s), run beside the others, not after them.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    std::fs::remove_dir_all(&dir).ok();
}
