//! `amiko demo`: amiko's own server on loopback, and the tutorial's three ways of using it, step by step.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amiko::blocking::{ConnectOptions, SSHClient, Transport};
use amiko::server::{Server, ServerConfig, SimpleAuth};
use amiko::HostKeyPolicy;

struct Steps {
    failed: usize,
}

impl Steps {
    fn check(&mut self, what: &str, ok: bool, detail: impl std::fmt::Display) {
        if ok {
            println!("  ✓ {what}");
        } else {
            self.failed += 1;
            println!("  ✗ {what}: {detail}");
        }
    }
}

fn random_password() -> String {
    let mut b = [0u8; 12];
    amiko_proto::rng::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Starts the server on its own thread and runtime; returns its port.
fn start_server(password: &str, sftp_root: std::path::PathBuf) -> Result<u16, String> {
    let key = amiko::PrivateKey::generate_ed25519().map_err(|e| e.to_string())?;
    let auth = SimpleAuth {
        password: Some(password.into()),
        ..Default::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return drop(tx.send(Err(e.to_string()))),
        };
        rt.block_on(async move {
            let mut cfg = ServerConfig::new(vec![key]);
            cfg.sftp_root = Some(sftp_root);
            cfg.max_startups = (100, 30, 200); // the fan-out step connects many times at once
            match Server::bind("127.0.0.1:0", cfg, Arc::new(auth)).await {
                Ok(s) => {
                    let _ = tx.send(s.local_addr().map(|a| a.port()).map_err(|e| e.to_string()));
                    let _ = s.run().await;
                }
                Err(e) => drop(tx.send(Err(e.to_string()))),
            }
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).map_err(|e| e.to_string())?
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end().to_string()
}

pub fn run() -> i32 {
    let started = Instant::now();
    let password = random_password();
    let sftp_root = std::env::temp_dir().join(format!("amiko-demo-sftp-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&sftp_root);
    let port = match start_server(&password, sftp_root.clone()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("amiko demo: could not start the server: {e}");
            return 1;
        }
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "amiko".into());
    println!("amiko demo: amiko's SSH server is listening on 127.0.0.1:{port} (user {user}, a throwaway password)\n");
    let mut s = Steps { failed: 0 };
    if let Err(e) = walkthrough(&mut s, port, &user, &password) {
        s.check("walkthrough", false, e);
    }
    if let Err(e) = file_transfer(&mut s, port, &user, &password, &sftp_root) {
        s.check("file transfer", false, e);
    }
    fan_out(&mut s, port, &user, &password);
    let _ = std::fs::remove_dir_all(&sftp_root);
    println!(
        "\n{} in {:.2} s",
        if s.failed == 0 {
            "All steps behaved as expected".to_string()
        } else {
            format!("{} step(s) failed", s.failed)
        },
        started.elapsed().as_secs_f64()
    );
    i32::from(s.failed > 0)
}

fn walkthrough(s: &mut Steps, port: u16, user: &str, password: &str) -> Result<(), Box<dyn std::error::Error>> {
    let known_hosts = std::env::temp_dir().join(format!("amiko-demo-known_hosts-{}", std::process::id()));
    let _ = std::fs::remove_file(&known_hosts);

    println!("1. SSHClient: host-key policy, password login, exec_command");
    let mut client = SSHClient::new();
    client.load_host_keys(&known_hosts);
    client.set_missing_host_key_policy(HostKeyPolicy::AutoAdd);
    let opts = ConnectOptions {
        port,
        username: user.into(),
        password: Some(password.into()),
        ..Default::default()
    };
    client.connect("127.0.0.1", opts)?;
    let saved = std::fs::read_to_string(&known_hosts).unwrap_or_default();
    s.check(
        "unknown host key added to known_hosts (AutoAddPolicy)",
        saved.contains("ssh-ed25519"),
        &saved,
    );

    let (_stdin, mut stdout, _stderr) = client.exec_command("uname -n")?;
    let mut out = String::new();
    stdout.read_to_string(&mut out)?;
    let status = stdout.channel().recv_exit_status()?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    println!("     $ uname -n\n     {}", out.trim());
    s.check(
        "exec_command('uname -n') prints this machine's name",
        out.trim() == host.trim() && status == 0,
        &out,
    );

    let (mut stdin, mut stdout, _stderr) = client.exec_command("read VAR ; echo $VAR")?;
    stdin.write_all(b"amiko\n")?;
    stdin.flush()?;
    let lines = stdout.readlines()?;
    println!(
        "     $ read VAR ; echo $VAR   (stdin: amiko)\n     {}",
        lines.concat().trim()
    );
    s.check(
        "a command reading stdin gets what we write",
        lines == ["amiko\n"],
        format!("{lines:?}"),
    );

    let (_i, o1, _e) = client.exec_command("cd /tmp")?;
    o1.channel().recv_exit_status()?;
    let (_i, mut o2, _e) = client.exec_command("pwd")?;
    let mut pwd = String::new();
    o2.read_to_string(&mut pwd)?;
    println!("     $ cd /tmp   then   $ pwd\n     {}", pwd.trim());
    s.check(
        "each exec_command runs in a fresh shell (cd does not carry over)",
        pwd.trim() != "/tmp",
        &pwd,
    );
    client.close();

    println!("\n2. Transport + Channel: recv loop, exit status, a finished channel cannot be reused");
    let mut t = Transport::new("127.0.0.1", port);
    t.set_host_key_policy(HostKeyPolicy::Reject);
    let mut cfg = amiko::ClientConfig::new(user);
    cfg.password = Some(password.into());
    cfg.host_keys.files = vec![known_hosts.clone()];
    t.connect_with(cfg)?;
    s.check(
        "transport is active and authenticated (host key now known)",
        t.is_active() && t.is_authenticated(),
        "",
    );
    let ch = t.open_session()?;
    ch.exec_command("uname -n; echo oops >&2; exit 3")?;
    let (mut o, mut e) = (Vec::new(), Vec::new());
    loop {
        if ch.recv_ready() {
            o.extend(ch.recv(1024)?);
        } else if ch.recv_stderr_ready() {
            e.extend(ch.recv_stderr(1024)?);
        } else if ch.exit_status_ready() {
            break;
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    o.extend(ch.recv(1024)?);
    e.extend(ch.recv_stderr(1024)?);
    let status = ch.recv_exit_status()?;
    println!(
        "     stdout: {}   stderr: {}   exit status: {status}",
        text(&o),
        text(&e)
    );
    s.check(
        "recv / recv_stderr / recv_exit_status",
        text(&e) == "oops" && status == 3 && !o.is_empty(),
        "",
    );
    let reuse = ch.exec_command("whoami");
    let msg = reuse.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
    println!("     reusing the channel: {msg}");
    s.check(
        "reusing a finished channel fails with \"Channel is not open\"",
        msg == "Channel is not open",
        &msg,
    );

    println!("\n3. invoke_shell: one shell keeps its state between commands");
    let shell = t.open_session()?;
    shell.get_pty("vt100", 80, 24)?;
    shell.invoke_shell()?;
    // Like the tutorial: send a line, read what comes back (up to the next prompt), then send the next one.
    let mut seen = String::new();
    let mut reader = shell.clone();
    reader.settimeout(Some(Duration::from_millis(100)));
    let read_until = |done: &dyn Fn(&str) -> bool, seen: &mut String| {
        let start = seen.len();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(&seen[start..]) && Instant::now() < deadline {
            if let Ok(b) = reader.recv(4096) {
                seen.push_str(&String::from_utf8_lossy(&b));
            }
        }
    };
    let prompt = |s: &str| s.ends_with("$ ") || s.ends_with("# ");
    read_until(&prompt, &mut seen); // the login banner and first prompt, discarded as in the tutorial
    shell.sendall(b"cd /tmp\n")?;
    read_until(&prompt, &mut seen);
    shell.sendall(b"read VAR\n")?;
    read_until(&|s: &str| s.contains('\n'), &mut seen); // `read` is now waiting for its line
    shell.sendall(b"A\n")?;
    read_until(&prompt, &mut seen);
    shell.sendall(b"echo \"VAR=$VAR in $(pwd)\"\n")?;
    read_until(&|s: &str| s.contains("VAR=A in /tmp") && prompt(s), &mut seen);
    println!("     $ cd /tmp; read VAR (A); echo \"VAR=$VAR in $(pwd)\"\n     VAR=A in /tmp");
    s.check(
        "state kept between commands (cwd and variables)",
        seen.contains("VAR=A in /tmp"),
        &seen,
    );
    shell.sendall(b"exit\n")?;
    let status = shell.recv_exit_status()?;
    println!(
        "     $ exit   → exit status {status}, channel closed: {}",
        shell.closed()
    );
    s.check(
        "exit gives status 0 and a closed channel",
        status == 0 && shell.closed(),
        status,
    );
    t.close();
    let _ = std::fs::remove_file(&known_hosts);
    Ok(())
}

fn file_transfer(
    s: &mut Steps,
    port: u16,
    user: &str,
    password: &str,
    root: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n4. File transfer (SFTP): put, listdir, get");
    let mut client = SSHClient::new();
    client.set_missing_host_key_policy(HostKeyPolicy::Warning);
    let opts = ConnectOptions {
        port,
        username: user.into(),
        password: Some(password.into()),
        ..Default::default()
    };
    client.connect("127.0.0.1", opts)?;
    let sftp = client.open_sftp()?;
    let local = std::env::temp_dir().join(format!("amiko-demo-file-{}", std::process::id()));
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &body)?;
    let attrs = sftp.put(&local, "/relatorio.bin", None)?;
    println!(
        "     put {} bytes → /relatorio.bin (served from {})",
        attrs.size.unwrap_or(0),
        root.display()
    );
    let names = sftp.listdir("/")?;
    println!("     listdir('/') → {names:?}");
    let back = local.with_extension("back");
    sftp.get("/relatorio.bin", &back, None)?;
    let same = std::fs::read(&back)? == body;
    s.check(
        "put then get gives the same bytes, and the file is listed",
        same && names.contains(&"relatorio.bin".to_string()),
        "",
    );
    let _ = std::fs::remove_file(&local);
    let _ = std::fs::remove_file(&back);
    client.close();
    Ok(())
}

/// The tutorial's last idea, many connections at once: 30 sessions, 10 at a time, results as they finish.
fn fan_out(s: &mut Steps, port: u16, user: &str, password: &str) {
    use amiko::fanout::{fold_hosts, run_command, FanoutOptions, Target};
    println!("\n5. Many connections at once (amiko::fanout, what `amiko run` uses)");
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return s.check("fan-out", false, e),
    };
    let targets: Vec<Target> = (1..=30)
        .map(|i| Target {
            label: format!("session{i:02}"),
            host: "127.0.0.1".into(),
            port,
            user: None,
        })
        .collect();
    let (user, password) = (user.to_string(), password.to_string());
    let started = Instant::now();
    let results = rt.block_on(async move {
        let opts = FanoutOptions {
            parallel: 10,
            ..Default::default()
        };
        let mut rx = run_command(targets, "echo ok from $$".into(), None, opts, move |_| {
            let mut c = amiko::ClientConfig::new(user.clone());
            c.password = Some(password.clone());
            c.host_keys.policy = HostKeyPolicy::DangerouslyAcceptAny; // our own server, started a moment ago
            c
        });
        let mut all = Vec::new();
        while let Some(r) = rx.recv().await {
            all.push(r);
        }
        all
    });
    let ok: Vec<String> = results
        .iter()
        .filter(|r| r.success() && r.stdout.starts_with(b"ok from "))
        .map(|r| r.target.label.clone())
        .collect();
    println!(
        "     {} sessions, 10 at a time, in {:.2} s: {} ok",
        results.len(),
        started.elapsed().as_secs_f64(),
        fold_hosts(&ok)
    );
    s.check(
        "30 sessions all ran and reported",
        ok.len() == 30,
        format!("{} of 30", ok.len()),
    );
}
