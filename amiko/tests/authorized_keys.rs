//! authorized_keys options enforced by amiko's server, with the real OpenSSH client: each test writes an
//! authorized_keys file in sshd's format, starts the server with `read_authorized_keys` and logs in with `ssh`, one
//! key per line, to check what every option grants and refuses.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amiko::server::{read_authorized_keys, ServerConfig, SimpleAuth};
use amiko::PrivateKey;

fn tools_available() -> bool {
    if Command::new("ssh").arg("-V").output().is_err() || Command::new("ssh-keygen").arg("-?").output().is_err() {
        common::missing("OpenSSH ssh and ssh-keygen");
        return false;
    }
    true
}

/// A fresh ed25519 key pair in `dir`; returns the private key's path.
fn new_key(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    common::ssh_keygen(&["-q", "-N", "", "-t", "ed25519", "-f", p.to_str().unwrap()]);
    p
}

/// amiko's server reading `dir/authorized_keys`, with TCP and agent forwarding allowed by the handler, so that
/// only the options can refuse them.
struct AkServer {
    port: u16,
    dir: PathBuf,
    known_hosts: PathBuf,
    _server: common::InProcessServer,
}

impl Drop for AkServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(dir: PathBuf, authorized_keys: &str) -> AkServer {
    let file = dir.join("authorized_keys");
    std::fs::write(&file, authorized_keys).unwrap();
    let auth = SimpleAuth {
        authorized_keys: read_authorized_keys(&file).unwrap(),
        allow_tcp_forwarding: true,
        allow_agent_forwarding: true,
        ..Default::default()
    };
    let host_key = PrivateKey::generate_ed25519().unwrap();
    let known_hosts = dir.join("known_hosts");
    let server = common::InProcessServer::start(ServerConfig::new(vec![host_key]), Arc::new(auth), Some(&known_hosts));
    let port = server.port;
    AkServer {
        port,
        dir,
        known_hosts,
        _server: server,
    }
}

impl AkServer {
    /// `ssh` with only `key` (certificate beside it included), as user tester, then `args` (options, the
    /// destination is added, then `command` if any).
    fn ssh_cmd(&self, key: &Path, args: &[&str], command: Option<&str>) -> Command {
        let mut c = common::openssh_client(&self.known_hosts);
        c.args([
            "-F",
            "/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "PasswordAuthentication=no",
        ])
        .arg("-i")
        .arg(key)
        .args(["-p", &self.port.to_string()])
        .args(args)
        .arg("tester@127.0.0.1");
        if let Some(cmd) = command {
            c.arg(cmd);
        }
        c.stdin(Stdio::null());
        c
    }

    fn ssh(&self, key: &Path, args: &[&str], command: &str) -> Output {
        self.ssh_cmd(key, args, Some(command)).output().unwrap()
    }

    /// Whether `key` logs in at all (runs `echo in`).
    fn logs_in(&self, key: &Path) -> bool {
        let out = self.ssh(key, &[], "echo in");
        let ok = out.status.success() && out.stdout == b"in\n";
        if !ok {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("Permission denied"), "refused for another reason: {err}");
        }
        ok
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a connection to 127.0.0.1:`port` (an ssh -L listener) reaches an echo: true if "ping" comes back,
/// false if the connection is closed without an answer (the forwarded channel was refused).
fn echoes(port: u16) -> bool {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = c.write_all(b"ping");
    let mut b = [0u8; 4];
    match c.read_exact(&mut b) {
        Ok(()) => {
            assert_eq!(&b, b"ping");
            true
        }
        Err(_) => false,
    }
}

/// ssh -N with local forwards `-L lport:127.0.0.1:target` for each (lport, target); returns the ssh process once
/// every local port listens.
fn local_forwards(s: &AkServer, key: &Path, forwards: &[(u16, u16)]) -> Child {
    let mut args = vec!["-N".to_string()];
    for (lport, target) in forwards {
        args.push("-L".into());
        args.push(format!("{lport}:127.0.0.1:{target}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = s.ssh_cmd(key, &args, None).stderr(Stdio::null()).spawn().unwrap();
    for (lport, _) in forwards {
        wait_until("the local forward", || {
            TcpStream::connect(("127.0.0.1", *lport)).is_ok()
        });
    }
    child
}

/// Whether `ssh -tt` gets a terminal. ssh ends the session when a pty it was told to get is refused, saying so.
fn gets_a_pty(s: &AkServer, key: &Path) -> bool {
    let out = s.ssh(key, &["-tt"], "if test -t 0; then echo has-tty; else echo no-tty; fi");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    if stderr.contains("PTY allocation request failed") {
        assert!(!stdout.contains("has-tty"), "{stdout}");
        return false;
    }
    assert_eq!(stdout.trim(), "has-tty", "{stderr}");
    true
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `command="..."` runs instead of what the client asks (a command, a shell or a subsystem), with the request in
/// SSH_ORIGINAL_COMMAND; `\"` in the option is a quote.
#[test]
fn command_option_forces_the_command() {
    if !tools_available() {
        return;
    }
    let dir = common::temp_dir("ak-command");
    let forced = new_key(&dir, "forced");
    let plain = new_key(&dir, "plain");
    let s = start(
        dir.clone(),
        &format!(
            "command=\"echo \\\"forced: \\\"${{SSH_ORIGINAL_COMMAND-none}}\" {}\n{}\n",
            common::pub_line(&forced),
            common::pub_line(&plain)
        ),
    );
    let out = s.ssh(&forced, &[], "echo asked");
    assert_eq!(text(&out.stdout), "forced: echo asked\n", "{}", text(&out.stderr));
    // A shell request: no original command.
    let out = s.ssh_cmd(&forced, &[], None).output().unwrap();
    assert_eq!(text(&out.stdout), "forced: none\n", "{}", text(&out.stderr));
    // A subsystem request (sftp, say) is replaced too.
    let out = s.ssh(&forced, &["-s"], "sftp");
    assert_eq!(text(&out.stdout), "forced: sftp\n", "{}", text(&out.stderr));
    // The unrestricted line beside it runs what it is asked.
    let out = s.ssh(&plain, &[], "echo asked");
    assert_eq!(text(&out.stdout), "asked\n", "{}", text(&out.stderr));
}

/// `from="..."`: the key logs in only from a matching client address (127.0.0.1 here); otherwise it is refused as
/// if not listed.
#[test]
fn from_option_checks_the_client_address() {
    if !tools_available() {
        return;
    }
    let dir = common::temp_dir("ak-from");
    let cases = [
        ("elsewhere", "10.9.9.9", false),
        ("wildcard", "127.0.0.*", true),
        ("cidr", "10.0.0.0/8,127.0.0.0/8", true),
        ("cidr-elsewhere", "10.0.0.0/8", false),
        ("negated", "!127.0.0.1,*", false),
        ("negated-other", "!10.9.9.9,127.0.0.1", true),
        ("name", "localhost", false),
    ];
    let mut lines = String::new();
    let mut keys = Vec::new();
    for (name, from, _) in cases {
        let k = new_key(&dir, name);
        lines.push_str(&format!("from=\"{from}\" {}\n", common::pub_line(&k)));
        keys.push(k);
    }
    let s = start(dir.clone(), &lines);
    for ((name, from, ok), key) in cases.iter().zip(&keys) {
        assert_eq!(s.logs_in(key), *ok, "{name}: from=\"{from}\"");
    }
}

/// `restrict` refuses a pty (ssh -tt is told "PTY allocation request failed"), local and remote port forwarding and
/// agent forwarding; `restrict,pty` gives the pty back; a key without options has them all.
#[test]
fn restrict_refuses_pty_and_forwarding() {
    if !tools_available() {
        return;
    }
    let dir = common::temp_dir("ak-restrict");
    let restricted = new_key(&dir, "restricted");
    let with_pty = new_key(&dir, "with_pty");
    let plain = new_key(&dir, "plain");
    let no_agent = new_key(&dir, "no_agent");
    let s = start(
        dir.clone(),
        &format!(
            "restrict {}\nrestrict,pty {}\n{}\nno-agent-forwarding {}\n",
            common::pub_line(&restricted),
            common::pub_line(&with_pty),
            common::pub_line(&plain),
            common::pub_line(&no_agent)
        ),
    );
    for (key, pty) in [(&restricted, false), (&with_pty, true), (&plain, true)] {
        assert_eq!(gets_a_pty(&s, key), pty, "{}", key.display());
    }

    // -L: the restricted key's channel is refused, the plain key's reaches the echo.
    let echo = common::tcp_echo();
    for (key, ok) in [(&restricted, false), (&with_pty, false), (&plain, true)] {
        let lport = common::free_port();
        let child = local_forwards(&s, key, &[(lport, echo)]);
        assert_eq!(echoes(lport), ok, "-L with {}", key.display());
        stop(child);
    }

    // -R: refused for the restricted key.
    for (key, ok) in [(&restricted, false), (&plain, true)] {
        let rport = common::free_port();
        let mut child = s
            .ssh_cmd(
                key,
                &[
                    "-N",
                    "-o",
                    "ExitOnForwardFailure=yes",
                    "-R",
                    &format!("{rport}:127.0.0.1:{echo}"),
                ],
                None,
            )
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if ok {
            wait_until("the remote forward", || {
                TcpStream::connect(("127.0.0.1", rport)).is_ok()
            });
            assert!(echoes(rport));
            stop(child);
        } else {
            let status = child.wait().unwrap();
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            assert!(!status.success());
            assert!(err.contains("remote port forwarding failed"), "{err}");
            assert!(TcpStream::connect(("127.0.0.1", rport)).is_err());
        }
    }

    // -A: the session gets SSH_AUTH_SOCK only where agent forwarding is not restricted.
    let Some(agent) = common::SshAgent::start(&["ed25519"]) else {
        return;
    };
    for (key, forwarded) in [(&restricted, false), (&no_agent, false), (&plain, true)] {
        let out = s
            .ssh_cmd(key, &["-A"], Some("echo ${SSH_AUTH_SOCK-none}"))
            .env("SSH_AUTH_SOCK", &agent.socket)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout).trim() != "none",
            forwarded,
            "{}: {}",
            key.display(),
            text(&out.stdout)
        );
    }
}

/// A line with an unknown option, a malformed value or too many bytes authorizes nothing (the key is refused, not
/// accepted without its options); well-formed lines around it still work.
#[test]
fn unknown_option_or_malformed_line_authorizes_nothing() {
    if !tools_available() {
        return;
    }
    let dir = common::temp_dir("ak-bad");
    let keys: Vec<PathBuf> = ["unknown", "unknown_value", "unterminated", "no_value", "overlong", "ok"]
        .iter()
        .map(|n| new_key(&dir, n))
        .collect();
    let lines = [
        format!("frobnicate {}", common::pub_line(&keys[0])),
        format!("no-pty,frobnicate=\"x\" {}", common::pub_line(&keys[1])),
        format!("command=\"echo unterminated {}", common::pub_line(&keys[2])),
        format!("command {}", common::pub_line(&keys[3])),
        format!("{} {}", common::pub_line(&keys[4]), "c".repeat(9000)),
        format!("no-pty {}", common::pub_line(&keys[5])),
    ];
    let s = start(dir.clone(), &(lines.join("\n") + "\n"));
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            s.logs_in(key),
            i == 5,
            "{}",
            lines[i].chars().take(80).collect::<String>()
        );
    }
}

/// `expiry-time` in the past refuses the key; one in the future does not.
#[test]
fn expiry_time_in_the_past_refuses() {
    if !tools_available() {
        return;
    }
    let dir = common::temp_dir("ak-expiry");
    let past = new_key(&dir, "past");
    let past_utc = new_key(&dir, "past_utc");
    let future = new_key(&dir, "future");
    let s = start(
        dir.clone(),
        &format!(
            "expiry-time=\"20200101\" {}\nexpiry-time=\"202001011200Z\" {}\nexpiry-time=\"20991231\" {}\n",
            common::pub_line(&past),
            common::pub_line(&past_utc),
            common::pub_line(&future)
        ),
    );
    assert!(!s.logs_in(&past));
    assert!(!s.logs_in(&past_utc));
    assert!(s.logs_in(&future));
}

/// `permitopen="host:port"` lets -L reach only the listed target; `permitlisten` lets -R listen only where listed.
#[test]
fn permitopen_and_permitlisten_allow_only_the_listed_targets() {
    if !tools_available() {
        return;
    }
    let dir = common::temp_dir("ak-permitopen");
    let (listed, other) = (common::tcp_echo(), common::tcp_echo());
    let opener = new_key(&dir, "opener");
    let listener = new_key(&dir, "listener");
    let allowed_rport = common::free_port();
    let s = start(
        dir.clone(),
        &format!(
            "permitopen=\"127.0.0.1:{listed}\" {}\npermitlisten=\"localhost:{allowed_rport}\" {}\n",
            common::pub_line(&opener),
            common::pub_line(&listener)
        ),
    );
    let (l1, l2) = (common::free_port(), common::free_port());
    let child = local_forwards(&s, &opener, &[(l1, listed), (l2, other)]);
    assert!(echoes(l1), "the listed target is reachable");
    assert!(!echoes(l2), "another target is refused");
    stop(child);

    let remote = |key: &Path, rport: u16| {
        s.ssh_cmd(
            key,
            &[
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-R",
                &format!("{rport}:127.0.0.1:{listed}"),
            ],
            None,
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
    };
    let child = remote(&listener, allowed_rport);
    wait_until("the listed remote forward", || {
        TcpStream::connect(("127.0.0.1", allowed_rport)).is_ok()
    });
    assert!(echoes(allowed_rport));
    stop(child);
    let rport = common::free_port();
    let out = remote(&listener, rport).wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("remote port forwarding failed"),
        "{}",
        text(&out.stderr)
    );
    // A permitlisten list leaves -L alone.
    let lport = common::free_port();
    let child = local_forwards(&s, &listener, &[(lport, other)]);
    assert!(echoes(lport));
    stop(child);
}

/// `cert-authority`: the line's key is trusted to sign user certificates; with `principals=` the certificate must
/// name one of those. The line's options and the certificate's are merged, the most restrictive winning, and two
/// different forced commands refuse the login. The CA's key itself does not log in.
#[test]
fn cert_authority_lines_trust_their_ca() {
    if !tools_available() {
        return;
    }
    let dir = common::temp_dir("ak-ca");
    let ca = new_key(&dir, "ca");
    let ca2 = new_key(&dir, "ca2");
    let sign = |ca: &Path, key: &Path, principals: &str, extra: &[&str]| {
        common::sign_key(ca, key, principals, "-5m:+1h", false, extra)
    };
    let ops = new_key(&dir, "ops");
    sign(&ca, &ops, "ops", &[]);
    let tester = new_key(&dir, "tester");
    sign(&ca, &tester, "tester", &[]);
    let same = new_key(&dir, "same");
    sign(&ca2, &same, "tester", &["-O", "force-command=echo forced"]);
    let differ = new_key(&dir, "differ");
    sign(&ca2, &differ, "tester", &["-O", "force-command=echo mine"]);
    let s = start(
        dir.clone(),
        &format!(
            "cert-authority,principals=\"ops,admins\",no-pty {}\ncert-authority,command=\"echo forced\" {}\n",
            common::pub_line(&ca),
            common::pub_line(&ca2)
        ),
    );
    // Certified for "ops", listed in principals=: in as tester, and no pty although the certificate permits one.
    assert!(s.logs_in(&ops));
    assert!(!gets_a_pty(&s, &ops));
    // Certified for the user name only: principals= replaces that check, so refused.
    assert!(!s.logs_in(&tester));
    // The CA's own key is no login key.
    assert!(!s.logs_in(&ca));
    // The same forced command in both: runs; different ones: refused.
    let out = s.ssh(&same, &[], "echo asked");
    assert_eq!(text(&out.stdout), "forced\n", "{}", text(&out.stderr));
    assert!(!s.logs_in(&differ));
}
