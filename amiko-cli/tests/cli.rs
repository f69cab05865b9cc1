//! The `amiko` binary as a user runs it: exec against a real sshd, error exits, the demo.

#[path = "../../amiko/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Sshd;

fn amiko() -> Command {
    Command::new(env!("CARGO_BIN_EXE_amiko"))
}

fn exec_args(sshd: &Sshd) -> Vec<String> {
    vec![
        "exec".into(),
        "-p".into(),
        sshd.port.to_string(),
        "-i".into(),
        sshd.client_key.display().to_string(),
        "-o".into(),
        format!("UserKnownHostsFile={}", sshd.known_hosts.display()),
        "-F".into(),
        "/dev/null".into(),
        format!("{}@127.0.0.1", sshd.user),
        "--".into(),
    ]
}

#[test]
fn exec_forwards_stdin_and_keeps_stdout_stderr_and_exit_status() {
    let Some(sshd) = Sshd::start() else { return };
    let mut child = amiko()
        .args(exec_args(&sshd))
        .args(["tr", "a-z", "A-Z;", "echo", "oops", ">&2;", "exit", "42"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello amiko\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO AMIKO\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert_eq!(out.status.code(), Some(42));
}

/// Stdout to a pipe: the pipe is grown to 1 MiB (a stream then sleeps and wakes far less often than with the
/// default 64 KiB), where the system allows it; the output is the same.
#[test]
fn exec_grows_a_stdout_pipe() {
    use std::io::Read;
    let Some(sshd) = Sshd::start() else { return };
    let mut child = amiko()
        .args(exec_args(&sshd))
        .args(["echo", "hi"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(out, "hi\n");
    let max: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if max >= 1 << 20 {
        assert_eq!(rustix::pipe::fcntl_getpipe_size(&stdout).unwrap(), 1 << 20);
    }
}

#[test]
fn ssh_level_errors_exit_255_with_one_line() {
    let Some(sshd) = Sshd::start() else { return };
    // Unknown host key (empty known_hosts): refused.
    let mut args = exec_args(&sshd);
    args[6] = "UserKnownHostsFile=/dev/null".into();
    let out = amiko().args(&args).arg("true").stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("host key verification failed") && err.lines().count() == 1,
        "{err}"
    );
    // Nobody listening.
    let port = common::free_port();
    let out = amiko()
        .args([
            "exec",
            "-p",
            &port.to_string(),
            "-F",
            "/dev/null",
            "127.0.0.1",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connecting to"));
    // A bad option.
    let out = amiko()
        .args(["exec", "-o", "Frobnicate=yes", "-F", "/dev/null", "h", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
}

/// `-o RekeyLimit=64K`: amiko rekeys every 64 KiB while 1 MiB goes through `cat` and back, and sshd's log shows
/// each new KEXINIT; the data arrives intact. Without the option, one key exchange only. A bad value is refused
/// before connecting, as ssh does.
#[test]
fn rekey_limit_option_rekeys_against_sshd() {
    let Some(sshd) = Sshd::start() else { return };
    let kexinits = || sshd.log().matches("SSH2_MSG_KEXINIT received").count();
    let data: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let cat = |extra: &[&str]| {
        let mut args = exec_args(&sshd);
        let dashdash = args.len() - 1;
        for (i, a) in extra.iter().enumerate() {
            args.insert(dashdash + i, a.to_string());
        }
        let mut child = amiko()
            .args(&args)
            .arg("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = data.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            out.stdout == data,
            "got {} bytes back of {}",
            out.stdout.len(),
            data.len()
        );
    };
    let before = kexinits();
    cat(&[]);
    let plain = kexinits() - before;
    assert_eq!(plain, 1, "one key exchange without RekeyLimit");
    let before = kexinits();
    cat(&["-o", "RekeyLimit=64K 1h"]);
    let rekeyed = kexinits() - before;
    // 1 MiB each way over 64 KiB: the first exchange and one more per 64 KiB in the busier direction (17 or so).
    assert!(rekeyed >= 15, "{rekeyed} key exchanges with RekeyLimit=64K");

    for (bad, says) in [
        ("RekeyLimit=lots", "RekeyLimit: bad size 'lots'"),
        ("RekeyLimit=8", "too small"),
        ("RekeyLimit=1G sometime", "RekeyLimit: bad time 'sometime'"),
    ] {
        let mut args = exec_args(&sshd);
        args.insert(1, "-o".into());
        args.insert(2, bad.into());
        let out = amiko().args(&args).arg("true").stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "{bad}: {err}");
        assert!(err.contains(says) && err.lines().count() == 1, "{bad}: {err}");
    }
}

#[test]
fn exec_with_a_cipher_and_accept_new() {
    let Some(sshd) = Sshd::start() else { return };
    let kh = sshd.dir.join("fresh_known_hosts");
    let mut args = exec_args(&sshd);
    args[6] = format!("UserKnownHostsFile={}", kh.display());
    let out = amiko()
        .args(&args[..args.len() - 2])
        .args(["-c", "aes256-gcm@openssh.com", "-o", "StrictHostKeyChecking=accept-new"])
        .args(&args[args.len() - 2..])
        .args(["echo", "ok"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&kh).unwrap().contains("[127.0.0.1]"));
}

#[test]
fn shell_without_a_tty_pipes_lines() {
    let Some(sshd) = Sshd::start() else { return };
    let mut args = exec_args(&sshd);
    args[0] = "shell".into();
    args.pop(); // no "--"
    let mut child = amiko()
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"cd /tmp\npwd\nexit 5\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/tmp"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(5));
}

#[test]
fn demo_walks_through_the_tutorial_against_amikos_own_server() {
    let out = amiko().arg("demo").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("All steps behaved as expected"), "{text}");
    assert!(text.matches('✓').count() >= 11, "{text}");
}

#[test]
fn serve_takes_logins_and_stops_on_sigterm() {
    let dir = common::temp_dir("serve");
    let key = dir.join("id_ed25519");
    common::new_ed25519_key(&key);
    let port = common::free_port();
    let host_key = dir.join("host_key");
    let mut server = amiko()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--host-key"])
        .arg(&host_key)
        .arg("--authorized-keys")
        .arg(key.with_extension("pub"))
        .args(["-o", "SetEnv=AMIKO_GREETING=served AMIKO_EMPTY="])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = common::wait_for_port(port, &mut server);
    assert!(host_key.exists(), "the host key is generated and saved");
    let bad = amiko()
        .args(["serve", "--listen", "127.0.0.1:0", "--host-key"])
        .arg(&host_key)
        .arg("--authorized-keys")
        .arg(key.with_extension("pub"))
        .args(["-o", "SetEnv=novalue"])
        .output()
        .unwrap();
    assert!(
        !bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("SetEnv takes NAME=VALUE"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let out = amiko()
        .args(["exec", "-F", "/dev/null", "-p", &port.to_string(), "-i"])
        .arg(&key)
        .args(["-o", "StrictHostKeyChecking=accept-new", "-o"])
        .arg(format!("UserKnownHostsFile={}", dir.join("kh").display()))
        .args(["someone@127.0.0.1", "--", "echo", "$AMIKO_GREETING${AMIKO_EMPTY-unset}"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "served\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = server.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    std::fs::remove_dir_all(&dir).ok();
}

/// `amiko serve --accept-env 'FOO*' -o 'AcceptEnv=BAR ?AZ'`: OpenSSH's ssh sends variables with SetEnv; LANG and LC_*
/// (the default) and the names given arrive, BASH_ENV and LD_PRELOAD do not. A pattern with `=` is refused at start.
#[test]
fn serve_accept_env_adds_to_lang_and_lc_or_replaces_them() {
    if Command::new("ssh").arg("-V").output().is_err() {
        common::missing("OpenSSH client (ssh)");
        return;
    }
    let dir = common::temp_dir("serve-acceptenv");
    let key = dir.join("id_ed25519");
    common::new_ed25519_key(&key);
    let host_key = dir.join("host_key");
    let serve = |port: u16, extra: &[&str]| {
        let mut c = amiko();
        c.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--host-key"])
            .arg(&host_key)
            .arg("--authorized-keys")
            .arg(key.with_extension("pub"))
            .args(extra)
            .stdout(Stdio::null());
        c
    };

    let bad = serve(common::free_port(), &["--accept-env", "FOO=1"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--accept-env"), "{bad:?}");

    let names = [
        "LANG",
        "LC_CTYPE",
        "FOO_BAR",
        "BAR",
        "BAZ",
        "BARX",
        "BASH_ENV",
        "LD_PRELOAD",
    ];
    let cases: [(&[&str], &str); 2] = [
        (
            &["--accept-env", "FOO*", "-o", "AcceptEnv=BAR ?AZ"],
            "C.UTF-8\nC\nfoo\nbar\nbaz\n-\n-\n-\n",
        ),
        // Without the default list, as sshd with no AcceptEnv of its own: the locale is refused too.
        (
            &["--no-default-accept-env", "--accept-env", "FOO*"],
            "-\n-\nfoo\n-\n-\n-\n-\n-\n",
        ),
    ];
    for (flags, expected) in cases {
        let port = common::free_port();
        let mut server = serve(port, flags).stderr(Stdio::null()).spawn().unwrap();
        let _ = common::wait_for_port(port, &mut server);
        let out = Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=accept-new",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", dir.join("kh").display()))
            .arg("-i")
            .arg(&key)
            .args(["-p", &port.to_string(), "-o"])
            .arg(
                "SetEnv=LANG=C.UTF-8 LC_CTYPE=C FOO_BAR=foo BAR=bar BAZ=baz BARX=x BASH_ENV=/tmp/x \
                 LD_PRELOAD=/nonexistent.so",
            )
            .arg("someone@127.0.0.1")
            .arg(format!("for v in {}; do printenv $v || echo -; done", names.join(" ")))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
        let _ = server.wait();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "{flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn get_and_put_with_resume_and_recursion() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = common::temp_dir("cli-transfer");
    Command::new("chmod").arg("777").arg(&dir).status().unwrap();
    let flags = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        v.extend([
            "-p".to_string(),
            sshd.port.to_string(),
            "-i".into(),
            sshd.client_key.display().to_string(),
        ]);
        v.extend([
            "-o".to_string(),
            format!("UserKnownHostsFile={}", sshd.known_hosts.display()),
            "-F".into(),
            "/dev/null".into(),
        ]);
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let body: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.join("a.bin"), &body).unwrap();
    let remote = format!("{}@127.0.0.1:{}", sshd.user, dir.join("r.bin").display());
    let out = amiko()
        .arg("put")
        .args(flags(&[]))
        .arg(dir.join("a.bin"))
        .arg(&remote)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(dir.join("r.bin")).unwrap(), body);
    // Resume a partial download.
    std::fs::write(dir.join("b.bin.amiko-part"), &body[..700_000]).unwrap();
    let out = amiko()
        .arg("get")
        .args(flags(&["--resume"]))
        .arg(&remote)
        .arg(dir.join("b.bin"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(dir.join("b.bin")).unwrap(), body);
    // Recursive put of a tree.
    std::fs::create_dir_all(dir.join("tree/x")).unwrap();
    std::fs::write(dir.join("tree/x/f"), "deep").unwrap();
    let rtree = format!("{}@127.0.0.1:{}", sshd.user, dir.join("rtree").display());
    let out = amiko()
        .arg("put")
        .args(flags(&["-r"]))
        .arg(dir.join("tree"))
        .arg(&rtree)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("rtree/x/f")).unwrap(), "deep");
    // A missing remote file: exit 1 and the path in the message.
    let missing = format!("{}@127.0.0.1:{}", sshd.user, dir.join("nope").display());
    let out = amiko()
        .arg("get")
        .args(flags(&[]))
        .arg(&missing)
        .arg(dir.join("n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    std::fs::remove_dir_all(&dir).ok();
}

/// `amiko shell` on a real terminal (tmux): raw mode, a pty of the terminal's size, and resizes passed on.
#[test]
fn shell_on_a_terminal_follows_window_size() {
    let Some(sshd) = Sshd::start() else { return };
    if Command::new("tmux").arg("-V").output().is_err() {
        common::missing("tmux");
        return;
    }
    let session = format!("amiko-{}", std::process::id());
    let mut args = exec_args(&sshd);
    args[0] = "shell".into();
    args.pop();
    let cmd = std::iter::once(env!("CARGO_BIN_EXE_amiko").to_string())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ");
    let tmux = |a: &[&str]| Command::new("tmux").args(["-L", &session]).args(a).output().unwrap();
    tmux(&["new-session", "-d", "-s", &session, "-x", "100", "-y", "30", &cmd]);
    let screen = |want: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let out = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).to_string();
            if out.contains(want) || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    screen("$");
    tmux(&["send-keys", "-t", &session, "stty size", "Enter"]);
    let s = screen("30 100");
    assert!(s.contains("30 100"), "{s}");
    tmux(&["resize-window", "-t", &session, "-x", "90", "-y", "25"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    tmux(&["send-keys", "-t", &session, "clear; stty size", "Enter"]);
    let s = screen("25 90");
    tmux(&["kill-server"]);
    assert!(s.contains("25 90"), "{s}");
}

/// `amiko run` over 205 sessions: 100 on OpenSSH's sshd, 100 on amiko's server, 5 on a port where nobody listens.
#[test]
fn run_fans_out_over_two_hundred_sessions_with_hosts_down() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = common::temp_dir("cli-run");
    let port = common::free_port();
    let mut server = amiko()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--host-key"])
        .arg(dir.join("hk"))
        .arg("--authorized-keys")
        .arg(sshd.client_key.with_extension("pub"))
        .args(["--max-startups", "200:30:300"])
        // As the test sshd: bash skips root's ~/.bashrc (pyenv here, which prints errors when run 100 at once).
        .args(["-o", "SetEnv=SHLVL=1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = common::wait_for_port(port, &mut server);
    let down = common::free_port();
    let mut hosts = String::new();
    for _ in 0..100 {
        hosts.push_str(&format!("127.0.0.1:{}\n127.0.0.1:{port}\n", sshd.port));
    }
    for _ in 0..5 {
        hosts.push_str(&format!("127.0.0.1:{down}\n"));
    }
    std::fs::write(dir.join("hosts"), hosts).unwrap();
    let base = |extra: &[&str]| {
        let mut c = amiko();
        c.args([
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
        .args(extra)
        .stdin(Stdio::null());
        c
    };
    let out = base(&["--json", "--parallel", "50", "--", "echo", "hi"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        lines.len(),
        205,
        "every host accounted for: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = lines
        .iter()
        .filter(|v| v["exit_status"] == 0 && v["stdout"] == "hi\n")
        .count();
    let refused = lines
        .iter()
        .filter(|v| v["error"].as_str().is_some_and(|e| e.contains("connecting")))
        .count();
    let odd: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| {
            !(v["exit_status"] == 0 && v["stdout"] == "hi\n")
                && v["error"].as_str().is_none_or(|e| !e.contains("connecting"))
        })
        .collect();
    assert_eq!((ok, refused), (200, 5), "{odd:?}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed host makes the exit status non-zero"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("205 host(s), 200 ok, 5 failed"));
    // --group folds identical output.
    let out = base(&["--group", "--", "echo", "same"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(200)\n---------------\nsame\n"), "{text}");
    // A slow command is cut by --timeout; nothing hangs.
    std::fs::write(
        dir.join("hosts"),
        format!("127.0.0.1:{}\n127.0.0.1:{port}\n", sshd.port),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = base(&["--timeout", "1", "--out-dir"])
        .arg(dir.join("out"))
        .args(["--", "sleep", "30"])
        .output()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&out.stdout).contains("timed out"));
    assert!(dir.join("out").read_dir().unwrap().count() >= 2);
    // Output that is not UTF-8 comes through the prefixes byte for byte, from both servers.
    let out = base(&["--", "printf", r"'caf\351\n\377\376\n'"]).output().unwrap();
    for p in [sshd.port, port] {
        for line in [&b"caf\xe9\n"[..], b"\xff\xfe\n"] {
            let want = [format!("127.0.0.1:{p}: ").as_bytes(), line].concat();
            assert!(
                out.stdout.windows(want.len()).any(|w| w == want),
                "{:?}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    // --json gives those bytes exactly, in base64, beside the lossy text.
    let out = base(&["--json", "--", "printf", r"'caf\351\n\377\376\n'"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    for v in lines {
        use base64ct::Encoding;
        let raw = base64ct::Base64::decode_vec(v["stdout_base64"].as_str().unwrap()).unwrap();
        assert_eq!(raw, b"caf\xe9\n\xff\xfe\n", "{v}");
    }
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn jump_hosts_from_the_command_line_and_from_ssh_config() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = common::temp_dir("cli-jump");
    let config = dir.join("config");
    let dead = common::free_port();
    std::fs::write(
        &config,
        format!(
            "Host jump\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n\
             Host target\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  ProxyJump jump,jump\n\
             Host deadjump\n  HostName 127.0.0.1\n  Port {dead}\nHost *\n  UserKnownHostsFile {kh}\n",
            port = sshd.port,
            user = sshd.user,
            key = sshd.client_key.display(),
            kh = sshd.known_hosts.display(),
        ),
    )
    .unwrap();
    let cfg = config.display().to_string();
    // -J on the command line, the jump host described by the config file.
    let out = amiko()
        .args(["exec", "-F", &cfg, "-J", "jump", "-p", &sshd.port.to_string()])
        .args(["-i", &sshd.client_key.display().to_string()])
        .arg(format!("{}@127.0.0.1", sshd.user))
        .args(["--", "echo", "via-J"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "via-J\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ProxyJump in the config, two hops.
    let out = amiko()
        .args(["exec", "-F", &cfg, "target", "--", "echo", "via-config"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "via-config\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A jump host that is down: ssh's exit status 255 and an error naming the hop.
    let out = amiko()
        .args(["exec", "-F", &cfg, "-J", "deadjump", "target", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("jump host deadjump"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn forward_local_ports_through_sshd() {
    use std::io::{Read, Write};
    let Some(sshd) = Sshd::start() else { return };
    // A local echo service the server will connect to.
    let echo_port = tcp_echo_server();
    let (good, bad, dead) = (common::free_port(), common::free_port(), common::free_port());
    let mut args = exec_args(&sshd);
    args.pop(); // no "--": forward takes no command
    let child = amiko()
        .arg("forward")
        .args(["-L".to_string(), format!("{good}:127.0.0.1:{echo_port}")])
        .args(["-L".to_string(), format!("127.0.0.1:{bad}:127.0.0.1:{dead}")])
        .args(&args[1..])
        .arg("-v")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let connect = connect_when_open;
    // Two connections at once, 1 MB each way, through the same forward.
    let handles: Vec<_> = (0..2u8)
        .map(|i| {
            let mut s = connect(good);
            std::thread::spawn(move || {
                let data: Vec<u8> = (0..1_000_000u32).map(|x| (x as u8) ^ i).collect();
                let mut w = s.try_clone().unwrap();
                let sent = data.clone();
                let writer = std::thread::spawn(move || w.write_all(&sent).unwrap());
                let mut got = vec![0u8; data.len()];
                s.read_exact(&mut got).unwrap();
                writer.join().unwrap();
                assert!(got == data, "echo through the forward differs");
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // A destination that refuses: that one connection is closed, the forwards keep working.
    let mut refused = connect(bad);
    let mut buf = [0u8; 1];
    assert_eq!(refused.read(&mut buf).unwrap_or(0), 0);
    let mut again = connect(good);
    again.write_all(b"still here").unwrap();
    let mut back = [0u8; 10];
    again.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"still here");
    unsafe_kill(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("forwarding"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// SIGTERM to a child we started.
fn unsafe_kill(pid: u32) {
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
}

/// A TCP echo service on a free loopback port, a thread per connection, for the forwarding tests.
fn tcp_echo_server() -> u16 {
    let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = echo.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in echo.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s.try_clone().unwrap(), &mut &s);
            });
        }
    });
    port
}

/// Connects to a port `amiko forward` opens once it has connected and authenticated (within 10 s).
fn connect_when_open(port: u16) -> std::net::TcpStream {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(50)),
            Err(e) => panic!("forwarded port {port} never opened: {e}"),
        }
    }
}

#[test]
fn dynamic_forwarding_is_a_socks_proxy_through_sshd() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let Some(sshd) = Sshd::start() else { return };
    let echo_port = tcp_echo_server();
    let (socks, dead) = (common::free_port(), common::free_port());
    let mut args = exec_args(&sshd);
    args.pop();
    let child = amiko()
        .arg("forward")
        .args(["-D".to_string(), socks.to_string()])
        .args(&args[1..])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let open = || connect_when_open(socks);
    let roundtrip = |s: &mut TcpStream| {
        s.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping");
    };
    let port = echo_port.to_be_bytes();
    // SOCKS5 with a host name.
    let mut s = open();
    s.write_all(&[5, 1, 0]).unwrap();
    let mut r = [0u8; 2];
    s.read_exact(&mut r).unwrap();
    assert_eq!(r, [5, 0]);
    let mut req = vec![5, 1, 0, 3, 9];
    req.extend_from_slice(b"localhost");
    req.extend_from_slice(&port);
    s.write_all(&req).unwrap();
    let mut rep = [0u8; 10];
    s.read_exact(&mut rep).unwrap();
    assert_eq!(rep[1], 0, "SOCKS5 reply {rep:?}");
    roundtrip(&mut s);
    // SOCKS4 with an address, SOCKS4a with a name.
    let mut s = open();
    s.write_all(&[4, 1, port[0], port[1], 127, 0, 0, 1, b'u', 0]).unwrap();
    let mut rep = [0u8; 8];
    s.read_exact(&mut rep).unwrap();
    assert_eq!(rep[1], 0x5a);
    roundtrip(&mut s);
    let mut s = open();
    let mut req = vec![4, 1, port[0], port[1], 0, 0, 0, 1, 0];
    req.extend_from_slice(b"localhost\0");
    s.write_all(&req).unwrap();
    s.read_exact(&mut rep).unwrap();
    assert_eq!(rep[1], 0x5a);
    roundtrip(&mut s);
    // A destination nobody listens on: SOCKS5 "connection refused" (5).
    let mut s = open();
    s.write_all(&[5, 1, 0]).unwrap();
    s.read_exact(&mut r).unwrap();
    let d = dead.to_be_bytes();
    s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, d[0], d[1]]).unwrap();
    let mut rep = [0u8; 10];
    s.read_exact(&mut rep).unwrap();
    assert_eq!(rep[1], 5);
    // Garbage and an over-long SOCKS4 user id: the connection is closed, the proxy keeps serving.
    for junk in [
        b"GET / HTTP/1.0\r\n\r\n".to_vec(),
        [vec![4, 1, 0, 80, 1, 2, 3, 4], vec![b'x'; 4096]].concat(),
    ] {
        let mut s = open();
        let _ = s.write_all(&junk);
        let mut buf = [0u8; 16];
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    }
    let mut s = open();
    s.write_all(&[4, 1, port[0], port[1], 127, 0, 0, 1, 0]).unwrap();
    let mut rep = [0u8; 8];
    s.read_exact(&mut rep).unwrap();
    roundtrip(&mut s);
    unsafe_kill(child.id());
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}

/// `amiko config` resolves ssh_config as `ssh -G` does (Host, Match, Include, first value wins, tokens).
#[test]
fn ssh_config_resolution_matches_ssh_dash_g() {
    if Command::new("ssh").arg("-V").output().is_err() {
        assert!(!common::peers_required(), "OpenSSH's ssh is required");
        return;
    }
    let dir = common::temp_dir("cli-ssh-g");
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::write(
        dir.join("conf.d/10-db.conf"),
        "Host db db.*\n  HostName 10.0.0.9\n  ProxyCommand ssh -W %h:%p gw\n  Port 2201\n",
    )
    .unwrap();
    std::fs::write(dir.join("conf.d/20-late.conf"), "Host db\n  Port 9999\n  User late\n").unwrap();
    let config = format!(
        "Include {inc}/conf.d/*.conf\n\
         Host web* !web9\n  HostName %h.internal\n  IdentityFile ~/.ssh/web_%r_%h\n  ProxyJump bastion,jump2\n\
         Match originalhost web2 exec \"test 1 = 1\"\n  Port 2202\n\
         Match host *.internal !user nobody\n  User ops\n\
         Match exec false\n  User never\n\
         Host *\n  User deploy\n  IdentityFile ~/.ssh/id_%u_%p\n  Port = 22\n",
        inc = dir.display()
    );
    let file = dir.join("config");
    std::fs::write(&file, config).unwrap();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let local = std::env::var("USER").unwrap_or_else(|_| "root".into());
    for dest in ["web1", "web2", "web9", "db", "other", "someone@web1", "db.x"] {
        let ours = amiko().args(["config", "-F"]).arg(&file).arg(dest).output().unwrap();
        assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
        let theirs = Command::new("ssh")
            .args(["-G", "-F"])
            .arg(&file)
            .arg(dest)
            .output()
            .unwrap();
        let pick = |text: &str, expand: bool| -> Vec<String> {
            let kv: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let get = |k: &str| {
                kv.iter()
                    .find(|(x, _)| x == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let (h, u, p) = (get("hostname"), get("user"), get("port"));
            let exp = |v: &str| {
                if !expand {
                    return v.to_string();
                }
                v.replacen("~", &home, 1)
                    .replace("%h", &h)
                    .replace("%r", &u)
                    .replace("%p", &p)
                    .replace("%u", &local)
            };
            ["hostname", "user", "port", "identityfile", "proxyjump", "proxycommand"]
                .iter()
                .flat_map(|k| kv.iter().filter(move |(x, _)| x == k))
                .map(|(k, v)| format!("{k} {}", exp(v)))
                .collect()
        };
        assert_eq!(
            pick(&String::from_utf8_lossy(&ours.stdout), false),
            pick(&String::from_utf8_lossy(&theirs.stdout), true),
            "{dest}"
        );
    }
}

/// ProxyCommand with OpenSSH's own `ssh -W %h:%p` as the pipe, tokens expanded by amiko.
#[test]
fn proxy_command_carries_the_connection() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = common::temp_dir("cli-proxycommand");
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "Host viaproxy\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n\
             \x20 UserKnownHostsFile {kh}\n\
             \x20 ProxyCommand ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile={kh} -i {key} -p %p -W %h:%p %r@%h\n\
             Host brokenproxy\n  HostName 127.0.0.1\n  ProxyCommand exit 3\n",
            port = sshd.port,
            user = sshd.user,
            key = sshd.client_key.display(),
            kh = sshd.known_hosts.display(),
        ),
    )
    .unwrap();
    let out = amiko()
        .args(["exec", "-F"])
        .arg(&config)
        .args(["viaproxy", "--", "echo", "proxied"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "proxied\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = amiko()
        .args(["exec", "-F"])
        .arg(&config)
        .args(["brokenproxy", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
}

/// ssh's agent behaviour: agent keys by default ($SSH_AUTH_SOCK or IdentityAgent), none with IdentitiesOnly or
/// IdentityAgent none, and -A / ForwardAgent forwarding it to the session.
#[test]
fn exec_logs_in_with_the_agent_and_forwards_it_with_dash_a() {
    let Some(sshd) = Sshd::start() else { return };
    let Some(agent) = common::SshAgent::start(&["ed25519", "rsa"]) else {
        return;
    };
    sshd.authorize(&agent.keys[1].1);
    // A home without keys, so only the agent can log in.
    let home = common::temp_dir("cli-agent-home");
    let run = |env_sock: bool, extra: &[&str], command: &str| {
        let mut c = amiko();
        c.args([
            "exec",
            "-p",
            &sshd.port.to_string(),
            "-o",
            &format!("UserKnownHostsFile={}", sshd.known_hosts.display()),
            "-o",
            "BatchMode=yes",
            "-F",
            "/dev/null",
        ])
        .args(extra)
        .args([&format!("{}@127.0.0.1", sshd.user), "--", command])
        .env("HOME", &home)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null());
        if env_sock {
            c.env("SSH_AUTH_SOCK", &agent.socket);
        }
        c.output().unwrap()
    };
    let fps = agent.fingerprints();
    let lists_keys = |o: &std::process::Output| {
        let text = String::from_utf8_lossy(&o.stdout);
        o.status.code() == Some(0) && fps.iter().all(|f| text.contains(f.as_str()))
    };
    // $SSH_AUTH_SOCK: logs in; no forwarding without -A.
    let out = run(true, &[], "ssh-add -l");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(true, &["-A"], "ssh-add -l");
    assert!(lists_keys(&out), "{out:?}");
    let out = run(true, &["-o", "ForwardAgent=yes"], "ssh-add -l");
    assert!(lists_keys(&out), "{out:?}");
    let out = run(true, &["-a", "-o", "ForwardAgent=yes"], "ssh-add -l");
    assert_eq!(out.status.code(), Some(2));
    // IdentityAgent names the socket when the environment does not.
    let ia = format!("IdentityAgent={}", agent.socket.display());
    let out = run(false, &["-o", &ia, "-A"], "ssh-add -l");
    assert!(lists_keys(&out), "{out:?}");
    // ForwardAgent may name the socket to forward itself.
    let fa = format!("ForwardAgent={}", agent.socket.display());
    let out = run(true, &["-o", &fa], "ssh-add -l");
    assert!(lists_keys(&out), "{out:?}");
    // No agent: no credentials, ssh's exit status 255.
    for extra in [&["-o", "IdentityAgent=none"][..], &["-o", "IdentitiesOnly=yes"][..]] {
        let out = run(true, extra, "true");
        assert_eq!(out.status.code(), Some(255), "{extra:?}");
    }
    assert_eq!(run(false, &[], "true").status.code(), Some(255));
    // IdentitiesOnly with identity files present only as .pub: the agent signs for those keys and no others.
    let pubs = home.join("pubs");
    std::fs::create_dir_all(&pubs).unwrap();
    for (i, (_, line)) in agent.keys.iter().enumerate() {
        std::fs::write(pubs.join(format!("k{i}.pub")), line).unwrap();
    }
    let only = |i: usize| pubs.join(format!("k{i}")).display().to_string();
    let out = run(true, &["-o", "IdentitiesOnly=yes", "-i", &only(1)], "echo only-ok");
    assert_eq!(out.stdout, b"only-ok\n", "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(true, &["-o", "IdentitiesOnly=yes", "-i", &only(0)], "true");
    assert_eq!(
        out.status.code(),
        Some(255),
        "the authorized key is not an identity file"
    );
    let cfg = amiko()
        .args(["config", "-F", "/dev/null", "-A", "-o", &ia, "host"])
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&cfg.stdout);
    let sock = agent.socket.display().to_string();
    assert!(text.contains(&format!("identityagent {sock}\n")), "{text}");
    assert!(text.contains(&format!("forwardagent {sock}\n")), "{text}");
    let _ = std::fs::remove_dir_all(&home);
}

/// `amiko forward -R` (TCP with a port the server picks, and socket to socket), `-L port:/socket`, and the same
/// from ssh_config's RemoteForward/LocalForward, all through sshd.
#[test]
fn forward_remote_ports_and_unix_sockets_through_sshd() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::{UnixListener, UnixStream};
    let Some(sshd) = Sshd::start_with("AllowTcpForwarding yes\nAllowStreamLocalForwarding yes") else {
        return;
    };
    // sshd binds and connects sockets as the test user: a directory and sockets anyone may use.
    let dir = common::temp_dir("cli-streamlocal");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let echo_port = tcp_echo_server();
    let echo_sock = dir.join("echo.sock");
    let unix = UnixListener::bind(&echo_sock).unwrap();
    std::fs::set_permissions(&echo_sock, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::thread::spawn(move || {
        for s in unix.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s.try_clone().unwrap(), &mut &s);
            });
        }
    });
    let check = |mut r: Box<dyn Read + Send>, mut w: Box<dyn Write + Send>, seed: u8| {
        let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 249) as u8 ^ seed).collect();
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            w.write_all(&sent).unwrap();
            w
        });
        let mut back = vec![0u8; data.len()];
        r.read_exact(&mut back).unwrap();
        drop(writer.join().unwrap());
        assert!(back == data, "echo differs");
    };
    let tcp = |port: u16| -> (Box<dyn Read + Send>, Box<dyn Write + Send>) {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        (Box::new(s.try_clone().unwrap()), Box::new(s))
    };
    let unix_conn = |p: &std::path::Path| -> (Box<dyn Read + Send>, Box<dyn Write + Send>) {
        let s = UnixStream::connect(p).unwrap();
        (Box::new(s.try_clone().unwrap()), Box::new(s))
    };
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !f() {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };

    let remote_sock = dir.join("remote.sock");
    let lport = common::free_port();
    let mut args = exec_args(&sshd);
    args.pop();
    let mut child = amiko()
        .arg("forward")
        .args(["-R".to_string(), format!("0:127.0.0.1:{echo_port}")])
        .args([
            "-R".to_string(),
            format!("{}:{}", remote_sock.display(), echo_sock.display()),
        ])
        .args(["-L".to_string(), format!("{lport}:{}", echo_sock.display())])
        .args(&args[1..])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As ssh: the port the server picked is printed.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let rport: u16 = line
        .strip_prefix("Allocated port ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no allocated port in {line:?}"));
    assert!(line.contains(&format!("127.0.0.1:{echo_port}")), "{line}");
    wait("the local port", &|| TcpStream::connect(("127.0.0.1", lport)).is_ok());
    wait("the remote socket", &|| UnixStream::connect(&remote_sock).is_ok());
    std::thread::scope(|s| {
        for seed in [1u8, 2] {
            s.spawn(move || {
                let (r, w) = tcp(rport);
                check(r, w, seed)
            });
            s.spawn(move || {
                let (r, w) = tcp(lport);
                check(r, w, seed + 2)
            });
            let rs = remote_sock.clone();
            s.spawn(move || {
                let (r, w) = unix_conn(&rs);
                check(r, w, seed + 4)
            });
        }
    });
    unsafe_kill(child.id());
    assert_eq!(child.wait().unwrap().code(), Some(0));

    // The same from ssh_config: RemoteForward and LocalForward write "listen target".
    let (rport2, lport2) = (common::free_port(), common::free_port());
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "Host fwd\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n  \
             RemoteForward {rport2} 127.0.0.1:{echo_port}\n  LocalForward {lport2} {}\n",
            sshd.port,
            sshd.user,
            sshd.client_key.display(),
            sshd.known_hosts.display(),
            echo_sock.display()
        ),
    )
    .unwrap();
    let child = amiko()
        .args(["forward", "-F"])
        .arg(&config)
        .arg("fwd")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait("the config's local port", &|| {
        TcpStream::connect(("127.0.0.1", lport2)).is_ok()
    });
    wait("the config's remote port", &|| {
        TcpStream::connect(("127.0.0.1", rport2)).is_ok()
    });
    let (r, w) = tcp(lport2);
    check(r, w, 9);
    let (r, w) = tcp(rport2);
    check(r, w, 10);
    unsafe_kill(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `amiko serve --host-cert --trusted-user-ca-keys`, and `amiko exec` with a user certificate beside its key and a
/// known_hosts that has only a @cert-authority line.
#[test]
fn serve_and_exec_with_certificates() {
    let dir = common::temp_dir("serve-certs");
    let keygen = |args: &[&str]| {
        let out = Command::new("ssh-keygen").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let path = |name: &str| dir.join(name).display().to_string();
    for name in ["host_ca", "user_ca", "host_key", "id_ed25519"] {
        keygen(&["-q", "-N", "", "-t", "ed25519", "-f", &path(name)]);
    }
    keygen(&[
        "-q",
        "-s",
        &path("host_ca"),
        "-I",
        "h",
        "-h",
        "-n",
        "127.0.0.1",
        "-V",
        "-5m:+1h",
        &path("host_key"),
    ]);
    keygen(&[
        "-q",
        "-s",
        &path("user_ca"),
        "-I",
        "u",
        "-n",
        "carol",
        "-V",
        "-5m:+1h",
        &path("id_ed25519"),
    ]);
    let port = common::free_port();
    let mut server = amiko()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--host-key",
            &path("host_key"),
        ])
        .args(["--host-cert", &path("host_key-cert.pub")])
        .args(["--trusted-user-ca-keys", &path("user_ca.pub")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = common::wait_for_port(port, &mut server);
    let ca = std::fs::read_to_string(dir.join("host_ca.pub")).unwrap();
    std::fs::write(dir.join("kh"), format!("@cert-authority [127.0.0.1]:{port} {ca}")).unwrap();
    let exec = |user: &str| {
        amiko()
            .args([
                "exec",
                "-F",
                "/dev/null",
                "-p",
                &port.to_string(),
                "-i",
                &path("id_ed25519"),
            ])
            .args(["-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(format!("UserKnownHostsFile={}", dir.join("kh").display()))
            .args([&format!("{user}@127.0.0.1"), "--", "echo", "certified"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = exec("carol");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "certified\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!exec("dave").status.success(), "a user the certificate does not name");
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
    std::fs::remove_dir_all(&dir).ok();
}

/// `amiko serve --authorized-keys` enforces the options in front of each key: `command=` replaces what `amiko exec`
/// asks for (which lands in SSH_ORIGINAL_COMMAND), and a line with an unknown option is skipped with a warning
/// rather than read as an unrestricted key. `--trusted-user-ca-keys` takes keys only, no options.
#[test]
fn serve_enforces_authorized_keys_options() {
    let dir = common::temp_dir("serve-akopts");
    let path = |name: &str| dir.join(name).display().to_string();
    for name in ["forced", "bogus", "plain"] {
        common::new_ed25519_key(&dir.join(name));
    }
    let line = |name: &str| std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
    std::fs::write(
        dir.join("authorized_keys"),
        format!(
            "command=\"echo forced:$SSH_ORIGINAL_COMMAND\" {}frobnicate {}{}",
            line("forced"),
            line("bogus"),
            line("plain")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("cas"), format!("cert-authority {}", line("plain"))).unwrap();
    let bad = amiko()
        .args(["serve", "--listen", "127.0.0.1:0", "--host-key", &path("host_key")])
        .args(["--trusted-user-ca-keys", &path("cas")])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("only keys belong here"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    let port = common::free_port();
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut server = amiko()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--host-key",
            &path("host_key"),
        ])
        .args(["--authorized-keys", &path("authorized_keys")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _ = common::wait_for_port(port, &mut server);
    let exec = |key: &str| {
        amiko()
            .args(["exec", "-F", "/dev/null", "-p", &port.to_string(), "-i", &path(key)])
            .args(["-o", "StrictHostKeyChecking=accept-new", "-o"])
            .arg(format!("UserKnownHostsFile={}", dir.join("kh").display()))
            .args(["someone@127.0.0.1", "--", "echo", "hi"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = exec("forced");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "forced:echo hi\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !exec("bogus").status.success(),
        "a line with an unknown option authorizes nothing"
    );
    assert_eq!(exec("plain").stdout, b"hi\n");
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(
        log.contains("authorized_keys:2: line skipped") && log.contains("unknown option"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The opt-in legacy algorithms from the command line in both roles: `amiko serve -o Ciphers=+aes256-cbc` and
/// `amiko exec -c aes256-cbc -o KexAlgorithms=...`; the group exchange with a missing moduli file (built-in groups).
#[test]
fn serve_and_exec_take_opt_in_algorithms() {
    let dir = common::temp_dir("serve-legacy");
    let key = dir.join("id_ed25519");
    common::new_ed25519_key(&key);
    // A bad -o is refused before listening.
    let out = amiko()
        .args(["serve", "--host-key"])
        .arg(dir.join("hk0"))
        .arg("--authorized-keys")
        .arg(key.with_extension("pub"))
        .args(["-o", "Ciphers=+rot13-cbc"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rot13-cbc"));

    let port = common::free_port();
    let mut server = amiko()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--host-key"])
        .arg(dir.join("host_key"))
        .arg("--authorized-keys")
        .arg(key.with_extension("pub"))
        .arg("--moduli")
        .arg(dir.join("no-such-moduli"))
        .args([
            "-o",
            "Ciphers=+aes256-cbc",
            "-o",
            "KexAlgorithms=+diffie-hellman-group14-sha1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = common::wait_for_port(port, &mut server);
    let exec = |extra: &[&str]| {
        amiko()
            .args(["exec", "-F", "/dev/null", "-p", &port.to_string(), "-i"])
            .arg(&key)
            .args(["-o", "StrictHostKeyChecking=accept-new", "-o"])
            .arg(format!("UserKnownHostsFile={}", dir.join("kh").display()))
            .args(extra)
            .args(["someone@127.0.0.1", "--", "echo", "legacy"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for extra in [
        &["-c", "aes256-cbc", "-o", "KexAlgorithms=diffie-hellman-group14-sha1"][..],
        &[
            "-o",
            "KexAlgorithms=diffie-hellman-group-exchange-sha256",
            "-o",
            "MACs=+hmac-sha1-etm@openssh.com",
        ],
        &["-o", "KexAlgorithms=sntrup761x25519-sha512@openssh.com"],
    ] {
        let out = exec(extra);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "legacy\n",
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // group1-sha1 was not enabled on this server: no common algorithm.
    let out = exec(&["-o", "KexAlgorithms=diffie-hellman-group1-sha1"]);
    assert_eq!(out.status.code(), Some(255), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert_eq!(server.wait().unwrap().code(), Some(0));
    std::fs::remove_dir_all(&dir).ok();
}
