//! The tutorial's walkthrough with the blocking API, against a real OpenSSH sshd.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use amiko::blocking::{ConnectOptions, SSHClient, Transport};
use amiko::{ClientConfig, HostKeyPolicy};
use common::Sshd;

fn options(sshd: &Sshd) -> ConnectOptions {
    ConnectOptions {
        port: sshd.port,
        username: sshd.user.clone(),
        password: sshd.password.clone(),
        key_filename: if sshd.password.is_some() {
            vec![]
        } else {
            vec![sshd.client_key.clone()]
        },
        ..Default::default()
    }
}

#[test]
fn sshclient_exec_command_with_autoadd_and_stdin() {
    let Some(sshd) = Sshd::start() else { return };
    let kh = sshd.dir.join("client_known_hosts");
    let mut client = SSHClient::new();
    client.load_host_keys(&kh);
    // Default policy rejects the unknown host.
    assert!(client.connect("127.0.0.1", options(&sshd)).is_err());
    client.set_missing_host_key_policy(HostKeyPolicy::AutoAdd);
    client.connect("127.0.0.1", options(&sshd)).unwrap();
    assert!(std::fs::read_to_string(&kh)
        .unwrap()
        .contains(&format!("[127.0.0.1]:{}", sshd.port)));

    let (_i, mut out, _e) = client.exec_command("uname -n").unwrap();
    let mut s = String::new();
    out.read_to_string(&mut s).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(s.trim(), host.trim());
    assert_eq!(out.channel().recv_exit_status().unwrap(), 0);

    let (mut stdin, mut stdout, _e) = client.exec_command("read VAR ; echo $VAR").unwrap();
    stdin.write_all(b"tutorial\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(stdout.readlines().unwrap(), ["tutorial\n"]);

    let (_i, o, _e) = client.exec_command("cd /tmp").unwrap();
    o.channel().recv_exit_status().unwrap();
    let (_i, mut o, _e) = client.exec_command("pwd").unwrap();
    let mut pwd = String::new();
    o.read_to_string(&mut pwd).unwrap();
    assert_ne!(pwd.trim(), "/tmp", "each exec runs in a fresh shell");

    let (_i, _o, mut e) = client.exec_command("ls /nonexistent-amiko").unwrap();
    let mut err = String::new();
    e.read_to_string(&mut err).unwrap();
    assert!(err.contains("No such file"), "{err}");
    assert_ne!(e.channel().recv_exit_status().unwrap(), 0);
}

#[test]
fn transport_channel_recv_loop_and_reuse_error() {
    let Some(sshd) = Sshd::start() else { return };
    let mut t = Transport::new("127.0.0.1", sshd.port);
    match &sshd.password {
        Some(pw) => t.connect(&sshd.user, pw).unwrap(),
        None => {
            let mut cfg = ClientConfig::new(sshd.user.clone());
            cfg.host_keys.policy = HostKeyPolicy::DangerouslyAcceptAny;
            cfg.keys = vec![amiko::load_key_file(&sshd.client_key, None).unwrap()];
            t.connect_with(cfg).unwrap();
        }
    }
    assert!(t.is_active() && t.is_authenticated());
    let ch = t.open_session().unwrap();
    ch.exec_command("whoami").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while (ch.recv_ready() || !ch.exit_status_ready()) && Instant::now() < deadline {
        if ch.recv_ready() {
            out.extend(ch.recv(1024).unwrap());
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    out.extend(ch.recv(1024).unwrap());
    assert_eq!(String::from_utf8_lossy(&out).trim(), sshd.user);
    assert_eq!(ch.recv_exit_status().unwrap(), 0);
    let err = ch.exec_command("whoami").unwrap_err().to_string();
    assert_eq!(err, "Channel is not open");
    assert!(ch.send(b"x").is_err());
}

#[test]
fn invoke_shell_keeps_state_and_exit_closes() {
    let Some(sshd) = Sshd::start() else { return };
    let mut client = SSHClient::new();
    client.set_missing_host_key_policy(HostKeyPolicy::Warning);
    client.connect("127.0.0.1", options(&sshd)).unwrap();
    let shell = client.invoke_shell().unwrap();
    let mut reader = shell.clone();
    reader.settimeout(Some(Duration::from_millis(100)));
    let mut seen = String::new();
    let wait_for = |want: &str, seen: &mut String| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.contains(want) && Instant::now() < deadline {
            if let Ok(b) = reader.recv(4096) {
                seen.push_str(&String::from_utf8_lossy(&b));
            }
        }
        assert!(seen.contains(want), "waiting for {want:?}, got {seen:?}");
    };
    shell.sendall(b"echo ready\n").unwrap();
    wait_for("ready\r\n", &mut seen);
    shell.sendall(b"cd /tmp; export VAR=kept\n").unwrap();
    shell.sendall(b"echo \"$VAR in $(pwd)\"\n").unwrap();
    wait_for("kept in /tmp", &mut seen);
    shell.sendall(b"exit\n").unwrap();
    assert_eq!(shell.recv_exit_status().unwrap(), 0);
    assert!(shell.closed());
}

#[test]
fn one_connection_from_several_threads() {
    let Some(sshd) = Sshd::start() else { return };
    let mut client = SSHClient::new();
    client.set_missing_host_key_policy(HostKeyPolicy::DangerouslyAcceptAny);
    client.connect("127.0.0.1", options(&sshd)).unwrap();
    let client = std::sync::Arc::new(client);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let c = client.clone();
            std::thread::spawn(move || {
                let (_i, mut o, _e) = c.exec_command(&format!("echo {i}")).unwrap();
                let mut s = String::new();
                o.read_to_string(&mut s).unwrap();
                assert_eq!(s, format!("{i}\n"));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn open_sftp_with_paramiko_names_and_file_objects() {
    use std::io::{BufRead, Seek, SeekFrom};
    let Some(sshd) = Sshd::start() else { return };
    let mut client = SSHClient::new();
    client.set_missing_host_key_policy(HostKeyPolicy::DangerouslyAcceptAny);
    client.connect("127.0.0.1", options(&sshd)).unwrap();
    let mut sftp = client.open_sftp().unwrap();
    let dir = common::temp_dir("seed-sftp");
    std::process::Command::new("chmod")
        .arg("777")
        .arg(&dir)
        .status()
        .unwrap();
    let d = dir.display().to_string();
    sftp.chdir(Some(&d)).unwrap();
    assert_eq!(sftp.getcwd().as_deref(), Some(d.as_str()));
    let local = dir.join("local.txt");
    let body: String = (0..20000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&local, &body).unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let s2 = seen.clone();
    let attrs = sftp
        .put(
            &local,
            "remote.txt",
            Some(std::sync::Arc::new(move |done, _| {
                s2.store(done, std::sync::atomic::Ordering::Relaxed)
            })),
        )
        .unwrap();
    assert_eq!(attrs.size, Some(body.len() as u64));
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), body.len() as u64);
    assert!(sftp.listdir(".").unwrap().contains(&"remote.txt".to_string()));
    // File object: lines, seek, tell, write.
    let mut f = sftp.open("remote.txt", "r").unwrap();
    let lines: Vec<String> = (&mut f).lines().take(3).map(|l| l.unwrap()).collect();
    assert_eq!(lines, ["line 0", "line 1", "line 2"]);
    f.seek(SeekFrom::Start(12)).unwrap();
    let mut s = String::new();
    f.read_line(&mut s).unwrap();
    assert_eq!(s, "1\n");
    assert_eq!(f.tell(), 14);
    let mut all = String::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_string(&mut all).unwrap();
    assert_eq!(all, body);
    drop(f);
    let mut w = sftp.open("new.bin", "w").unwrap();
    for i in 0..1000u32 {
        w.write_all(&i.to_be_bytes().repeat(1000)).unwrap();
    }
    w.close().unwrap();
    assert_eq!(sftp.stat("new.bin").unwrap().size, Some(4_000_000));
    sftp.get("new.bin", dir.join("new.local"), None).unwrap();
    assert_eq!(std::fs::read(dir.join("new.local")).unwrap().len(), 4_000_000);
    sftp.chmod("new.bin", 0o600).unwrap();
    sftp.truncate("new.bin", 10).unwrap();
    assert_eq!(sftp.stat("new.bin").unwrap().size, Some(10));
    sftp.rename("new.bin", "renamed.bin").unwrap();
    sftp.mkdir("sub", 0o755).unwrap();
    sftp.rmdir("sub").unwrap();
    sftp.remove("renamed.bin").unwrap();
    assert!(sftp.stat("renamed.bin").is_err());
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `f` in a thread and fails if it takes more than a minute (a stalled read would hang for ever).
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("finished within a minute (a stalled read never does)")
}

/// What `seq 1 n` prints.
fn seq(n: u32) -> Vec<u8> {
    (1..=n).map(|i| format!("{i}\n")).collect::<String>().into_bytes()
}

fn connected(sshd: &Sshd) -> std::sync::Arc<SSHClient> {
    let mut client = SSHClient::new();
    client.set_missing_host_key_policy(HostKeyPolicy::DangerouslyAcceptAny);
    client.connect("127.0.0.1", options(sshd)).unwrap();
    std::sync::Arc::new(client)
}

/// 20 MB to each stream, more than the 8 MiB window: reading stdout to its end takes stderr's output aside
/// meanwhile (Paramiko's `stdout.read()` would wait for ever, the server blocked on the unread stderr), and stderr's
/// own read then returns it all.
#[test]
fn reading_stdout_to_the_end_does_not_stall_on_unread_stderr() {
    let Some(sshd) = Sshd::start() else { return };
    let client = connected(&sshd);
    within_a_minute(move || {
        let cmd = "seq 1 2600000 >&2; seq 1 2600000; echo end >&2";
        let (_i, mut o, mut e) = client.exec_command(cmd).unwrap();
        let mut out = Vec::new();
        o.read_to_end(&mut out).unwrap();
        assert!(out == seq(2_600_000), "stdout whole and in order");
        assert!(e.channel().recv_stderr_ready(), "what was set aside counts as ready");
        let mut err = Vec::new();
        e.read_to_end(&mut err).unwrap();
        assert!(
            err == [seq(2_600_000), b"end\n".to_vec()].concat(),
            "stderr whole and in order"
        );
        assert_eq!(o.channel().recv_exit_status().unwrap(), 0);
    });
}

/// The usual way around that stall, a thread per stream, still gets every byte in order: a whole read of one
/// stream leaves the other to the thread reading it (with `read_to_end` or with `recv_stderr`).
#[test]
fn two_threads_reading_stdout_and_stderr_get_every_byte_in_order() {
    let Some(sshd) = Sshd::start() else { return };
    let client = connected(&sshd);
    within_a_minute(move || {
        for use_recv in [false, true] {
            let (_i, mut o, mut e) = client.exec_command("seq 1 600000 >&2 & seq 1 600000; wait").unwrap();
            let errors = std::thread::spawn(move || {
                let mut err = Vec::new();
                if use_recv {
                    let ch = e.channel().clone();
                    loop {
                        let part = ch.recv_stderr(7000).unwrap();
                        if part.is_empty() {
                            break;
                        }
                        err.extend_from_slice(&part);
                    }
                } else {
                    e.read_to_end(&mut err).unwrap();
                }
                err
            });
            let mut out = Vec::new();
            o.read_to_end(&mut out).unwrap();
            let err = errors.join().unwrap();
            assert!(out == seq(600_000), "stdout whole and in order (recv: {use_recv})");
            assert!(err == seq(600_000), "stderr whole and in order (recv: {use_recv})");
        }
    });
}

/// What the buffered reader already holds comes first in `read_to_end`/`read_to_string`.
#[test]
fn reading_to_the_end_after_a_line_keeps_what_was_buffered() {
    let Some(sshd) = Sshd::start() else { return };
    let client = connected(&sshd);
    let (_i, mut o, _e) = client.exec_command("echo first; echo second").unwrap();
    o.channel().recv_exit_status().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut o, &mut line).unwrap();
    assert_eq!(line, "first\n");
    let mut rest = String::new();
    o.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "second\n");
}

/// A remote file read in order keeps READs in flight ahead of the position: every byte arrives in order whatever
/// the reads' sizes, seeks start the window over, and a write drops what was read ahead, so bytes read after it
/// are the new ones (here at exactly where the next read sent ahead would have started).
#[test]
fn sftp_file_reads_ahead_in_order_and_never_serves_stale_bytes() {
    use std::io::{Seek, SeekFrom};
    let Some(sshd) = Sshd::start() else { return };
    let client = connected(&sshd);
    let sftp = client.open_sftp().unwrap();
    let dir = common::temp_dir("seed-sftp-ahead");
    std::process::Command::new("chmod")
        .arg("777")
        .arg(&dir)
        .status()
        .unwrap();
    let path = dir.join("big.bin").display().to_string();
    let data: Vec<u8> = (0..20_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(&path, &data).unwrap();
    std::process::Command::new("chmod")
        .arg("666")
        .arg(&path)
        .status()
        .unwrap();
    let mut f = sftp.open(&path, "r").unwrap();
    let mut all = Vec::new();
    f.read_to_end(&mut all).unwrap();
    assert!(all == data, "read whole, in order");
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut pieces = Vec::new();
    let mut piece = vec![0u8; 3_000_001];
    loop {
        let n = f.read(&mut piece).unwrap();
        if n == 0 {
            break;
        }
        pieces.extend_from_slice(&piece[..n]);
    }
    assert!(pieces == data, "read in odd-sized pieces, in order");
    for at in [7_000_000usize, 1000, 19_999_990] {
        f.seek(SeekFrom::Start(at as u64)).unwrap();
        let mut got = vec![0u8; 10];
        f.read_exact(&mut got).unwrap();
        assert_eq!(got, data[at..at + 10], "after a seek to {at}");
    }
    drop(f);
    // The first READ covers [0, c); the next one, sent ahead, starts at c.
    let c = sftp.inner().limits().0 as u64;
    let mut f = sftp.open(&path, "r+").unwrap();
    let mut first = [0u8; 100];
    f.read_exact(&mut first).unwrap();
    f.seek(SeekFrom::Start(c - 10)).unwrap();
    f.write_all(&[b'Y'; 20]).unwrap();
    f.seek(SeekFrom::Start(c)).unwrap();
    let mut got = [0u8; 10];
    f.read_exact(&mut got).unwrap();
    assert_eq!(
        &got, b"YYYYYYYYYY",
        "bytes written, not the ones read ahead before the write"
    );
    drop(f);
    std::fs::remove_dir_all(&dir).ok();
}

/// `recv(n)` with a huge `n` (Python code passes sys.maxsize) reads what is there instead of allocating `n` bytes.
#[test]
fn recv_with_a_huge_size_returns_what_is_there() {
    let Some(sshd) = Sshd::start() else { return };
    let client = connected(&sshd);
    let (_i, o, e) = client.exec_command("echo out; echo err >&2").unwrap();
    let ch = o.channel().clone();
    ch.recv_exit_status().unwrap();
    assert_eq!(ch.recv(usize::MAX).unwrap(), b"out\n");
    assert_eq!(e.channel().recv_stderr(usize::MAX).unwrap(), b"err\n");
}

/// Between calls the blocking API's runtime thread serves the connection: this sshd asks every second whether the
/// client is alive and drops it after a second unanswered question (4-5 s on OpenSSH 9.2), while the application
/// makes no call for 6 s. Calls drive the runtime themselves, so only that thread can answer here.
#[test]
fn the_connection_is_served_while_the_application_makes_no_call() {
    let Some(sshd) = Sshd::start_with("ClientAliveInterval 1\nClientAliveCountMax 1") else {
        return;
    };
    let mut client = SSHClient::new();
    client.set_missing_host_key_policy(HostKeyPolicy::AutoAdd);
    client.connect("127.0.0.1", options(&sshd)).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let (_i, mut out, _e) = client.exec_command("echo alive").unwrap();
    let mut s = String::new();
    out.read_to_string(&mut s).unwrap();
    assert_eq!(s, "alive\n");
}
