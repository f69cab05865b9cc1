//! The built-in session runner: exec through the user's shell, shell on a real pseudo-terminal, env, signals,
//! window changes, exit status or exit signal.
//!
//! The process environment is built as sshd's `do_setup_env` (session.c) builds it, from nothing: the client's
//! accepted `env` requests first, then what the server decides, which replaces them (USER, LOGNAME, HOME, PATH,
//! MAIL, SHELL, TZ, TERM, SSH_AUTH_SOCK, the configured SetEnv, SSH_CLIENT, SSH_CONNECTION, SSH_TTY,
//! SSH_ORIGINAL_COMMAND). The client can never set the SSH_* ones. The process starts in the home directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use amiko_proto::connection::PtyRequest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::Channel;

/// Messages from the connection to a running session.
pub(super) enum Control {
    Resize(u32, u32),
    Signal(String),
}

#[derive(Default)]
enum State {
    #[default]
    Idle,
    Running(mpsc::Sender<Control>, JoinHandle<()>),
    External,
}

/// One session channel's settings and process.
#[derive(Default)]
pub(super) struct Session {
    pub pty: Option<PtyRequest>,
    /// The client's `env` requests the handler accepted.
    pub env: Vec<(String, String)>,
    /// What the client asked to run when a forced command (a certificate's force-command, an authorized key's
    /// command=) replaced it (SSH_ORIGINAL_COMMAND).
    pub original_command: Option<String>,
    state: State,
    /// The forwarded agent's socket, while the session lasts.
    pub agent: Option<crate::agent_forward::AgentListener>,
}

/// What a connection contributes to its sessions' environment.
pub(super) struct Origin<'a> {
    /// The client's address (SSH_CLIENT, SSH_CONNECTION).
    pub peer: SocketAddr,
    /// The server's address of this connection (SSH_CLIENT, SSH_CONNECTION).
    pub local: SocketAddr,
    /// The server's SetEnv.
    pub set_env: &'a [(String, String)],
}

/// sshd's default PATH (OpenSSH's configure: `_PATH_STDPATH` with its bindir appended).
const DEFAULT_PATH: &str = "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin";

/// Variables that say what the connection is; a client's `env` request never sets them, even where the server
/// leaves one unset (SSH_TTY without a pty, say). The others the server sets (USER, TERM, ...) simply replace the
/// client's, as in sshd.
const RESERVED: &[&str] = &[
    "SSH_AUTH_SOCK",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "SSH_ORIGINAL_COMMAND",
];

/// The account sessions run as: the server process's own user (the runner does not switch users).
struct Account {
    name: String,
    home: PathBuf,
    shell: String,
}

impl Account {
    /// The passwd entry of the real uid, as sshd's `pw` for the logged-in user. Without one (a container started
    /// with an arbitrary uid), $USER/$HOME/$SHELL of the server, then the uid, `/` and `/bin/sh`.
    fn current() -> Account {
        let uid = nix::unistd::getuid();
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match nix::unistd::User::from_uid(uid) {
            Ok(Some(u)) => Account {
                name: u.name,
                home: u.dir,
                // sshd: an empty pw_shell means /bin/sh.
                shell: Some(u.shell.display().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "/bin/sh".into()),
            },
            _ => Account {
                name: var("USER").unwrap_or_else(|| uid.to_string()),
                home: var("HOME").map_or_else(|| "/".into(), PathBuf::from),
                shell: var("SHELL").unwrap_or_else(|| "/bin/sh".into()),
            },
        }
    }
}

/// A socket address's IP as sshd prints it: IPv4-mapped IPv6 addresses as plain IPv4, no brackets.
fn ip(a: &SocketAddr) -> String {
    a.ip().to_canonical().to_string()
}

/// The session process's environment, in sshd's order (later entries win): the client's accepted variables, then
/// the server's. `tty` is the pty's device path when there is one.
fn session_env(
    account: &Account,
    client_env: &[(String, String)],
    term: Option<&str>,
    agent: Option<String>,
    origin: &Origin<'_>,
    tty: Option<String>,
    original_command: Option<&str>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = client_env
        .iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut set = |k: &str, v: String| {
        env.retain(|(name, _)| name != k);
        env.push((k.into(), v));
    };
    set("USER", account.name.clone());
    set("LOGNAME", account.name.clone());
    set("HOME", account.home.display().to_string());
    set("PATH", DEFAULT_PATH.into());
    set("MAIL", format!("/var/mail/{}", account.name));
    set("SHELL", account.shell.clone());
    if let Some(tz) = std::env::var("TZ").ok().filter(|v| !v.is_empty()) {
        set("TZ", tz);
    }
    // sshd drops an empty terminal type from pty-req.
    if let Some(t) = term.filter(|t| !t.is_empty()) {
        set("TERM", t.into());
    }
    if let Some(a) = agent {
        set("SSH_AUTH_SOCK", a);
    }
    for (k, v) in origin.set_env {
        set(k, v.clone());
    }
    let (peer, local) = (&origin.peer, &origin.local);
    set("SSH_CLIENT", format!("{} {} {}", ip(peer), peer.port(), local.port()));
    set(
        "SSH_CONNECTION",
        format!("{} {} {} {}", ip(peer), peer.port(), ip(local), local.port()),
    );
    if let Some(t) = tty {
        set("SSH_TTY", t);
    }
    if let Some(c) = original_command {
        set("SSH_ORIGINAL_COMMAND", c.into());
    }
    env
}

/// The directory a session starts in: the home directory, or `/` if that is not a directory (sshd says "Could
/// not chdir to home directory" and goes on).
fn start_dir(account: &Account) -> PathBuf {
    if account.home.is_dir() {
        account.home.clone()
    } else {
        tracing::warn!("could not chdir to home directory {}", account.home.display());
        "/".into()
    }
}

impl Session {
    pub fn started(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    pub fn mark_external(&mut self) {
        self.state = State::External;
    }

    /// Starts the command (or the shell when `command` is None). Returns false if it could not start.
    pub fn start(&mut self, ch: Channel, command: Option<String>, origin: &Origin<'_>) -> bool {
        let (tx, rx) = mpsc::channel(16);
        let pty = self.pty.clone();
        let account = Account::current();
        let client_env = std::mem::take(&mut self.env);
        let original = self.original_command.take();
        let agent = self.agent.as_ref().map(|a| a.path().display().to_string());
        let env = |term: Option<&str>, tty: Option<String>| {
            session_env(
                &account,
                &client_env,
                term,
                agent.clone(),
                origin,
                tty,
                original.as_deref(),
            )
        };
        let spawned = match &pty {
            Some(p) => spawn_pty(p, &account, env, command.as_deref()),
            None => spawn_pipes(&account, &env(None, None), command.as_deref()),
        };
        match spawned {
            Ok(proc_) => {
                let task = tokio::spawn(run(Arc::new(ch), proc_, rx));
                self.state = State::Running(tx, task);
                true
            }
            Err(e) => {
                tracing::warn!("could not start the session's process: {e}");
                false
            }
        }
    }

    /// Passes a window change or signal on; false if nothing runs.
    pub fn control(&self, c: Control) -> bool {
        match &self.state {
            State::Running(tx, _) => tx.try_send(c).is_ok(),
            _ => false,
        }
    }

    /// Waits for the process and its output to be done.
    pub async fn finish(self) {
        if let State::Running(_, task) = self.state {
            let _ = task.await;
        }
    }
}

/// A started process and its I/O ends.
struct Proc {
    child: tokio::process::Child,
    input: Input,
    output: Box<dyn AsyncRead + Send + Unpin>,
    errors: Option<Box<dyn AsyncRead + Send + Unpin>>,
}

/// Where the client's input goes: the command's stdin pipe, or the pty (which can also be resized).
enum Input {
    Pipe(tokio::process::ChildStdin),
    Pty(pty_process::OwnedWritePty),
}

fn command_args(command: Option<&str>) -> Vec<String> {
    match command {
        Some(c) => vec!["-c".into(), c.into()],
        None => vec![],
    }
}

fn spawn_pipes(account: &Account, env: &[(String, String)], command: Option<&str>) -> std::io::Result<Proc> {
    let mut cmd = tokio::process::Command::new(&account.shell);
    // Nothing of the server's own environment (its agent, say) leaks in: `env` is all there is.
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(command_args(command))
        .current_dir(start_dir(account))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, as sshd's setsid gives each session: a Ctrl-C or ^Z typed at a terminal that
        // runs the server goes to the server's group, not to every session's commands. (A pty session is
        // already a session leader: the pty must be its controlling terminal.)
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let missing = || std::io::Error::other("child stdio missing");
    let input = Input::Pipe(child.stdin.take().ok_or_else(missing)?);
    let output = Box::new(child.stdout.take().ok_or_else(missing)?);
    let errors: Box<dyn AsyncRead + Send + Unpin> = Box::new(child.stderr.take().ok_or_else(missing)?);
    Ok(Proc {
        child,
        input,
        output,
        errors: Some(errors),
    })
}

/// `env(term, tty)` builds the environment once the pty's device path is known.
fn spawn_pty(
    p: &PtyRequest,
    account: &Account,
    env: impl FnOnce(Option<&str>, Option<String>) -> Vec<(String, String)>,
    command: Option<&str>,
) -> std::io::Result<Proc> {
    let to_io = |e: pty_process::Error| std::io::Error::other(e.to_string());
    let (pty, pts) = pty_process::open().map_err(to_io)?;
    pty.resize(pty_process::Size::new(
        p.rows.clamp(1, 1000) as u16,
        p.cols.clamp(1, 1000) as u16,
    ))
    .map_err(to_io)?;
    let tty = nix::unistd::ttyname(std::os::fd::AsFd::as_fd(&pts))
        .map(|path| path.display().to_string())
        .map_err(std::io::Error::from)?;
    let env = env(Some(&p.term), Some(tty));
    let cmd = pty_process::Command::new(&account.shell)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(command_args(command))
        .current_dir(start_dir(account))
        .kill_on_drop(true);
    let child = cmd.spawn(pts).map_err(to_io)?;
    let (r, w) = pty.into_split();
    Ok(Proc {
        child,
        input: Input::Pty(w),
        output: Box::new(r),
        errors: None,
    })
}

async fn pump_out(mut from: Box<dyn AsyncRead + Send + Unpin>, ch: Arc<Channel>, stderr: bool) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return, // EIO on a pty means the other side closed
            Ok(n) => n,
        };
        let r = if stderr {
            ch.write_stderr_all(&buf[..n]).await
        } else {
            ch.write_all_data(&buf[..n]).await
        };
        if r.is_err() {
            return;
        }
    }
}

async fn pump_in(mut to: Input, ch: Arc<Channel>, mut resize: mpsc::Receiver<(u32, u32)>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            r = ch.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let w = match &mut to {
                        Input::Pipe(p) => p.write_all(&buf[..n]).await,
                        Input::Pty(p) => p.write_all(&buf[..n]).await,
                    };
                    if w.is_err() {
                        break;
                    }
                }
            },
            Some((cols, rows)) = resize.recv() => {
                if let Input::Pty(p) = &to {
                    let _ = p.resize(pty_process::Size::new(rows.clamp(1, 1000) as u16, cols.clamp(1, 1000) as u16));
                }
            }
        }
    }
    match to {
        // stdin EOF reaches the command.
        Input::Pipe(mut p) => drop(p.shutdown().await),
        // On a pty, EOF is the terminal's EOF character (^D), as sshd does.
        Input::Pty(mut p) => drop(p.write_all(&[4]).await),
    }
}

fn signal_by_name(name: &str) -> Option<nix::sys::signal::Signal> {
    format!("SIG{name}").parse().ok()
}

async fn run(ch: Arc<Channel>, mut p: Proc, mut control: mpsc::Receiver<Control>) {
    let pid = p.child.id().map(|id| nix::unistd::Pid::from_raw(id as i32));
    let out = tokio::spawn(pump_out(p.output, ch.clone(), false));
    let err = p.errors.take().map(|e| tokio::spawn(pump_out(e, ch.clone(), true)));
    let is_pty = matches!(p.input, Input::Pty(_));
    let (resize_tx, resize_rx) = mpsc::channel(8);
    let input = tokio::spawn(pump_in(p.input, ch.clone(), resize_rx));
    let status = loop {
        tokio::select! {
            s = p.child.wait() => break s,
            Some(c) = control.recv() => match c {
                Control::Resize(cols, rows) => {
                    let _ = resize_tx.try_send((cols, rows));
                }
                Control::Signal(name) => {
                    if let (Some(pid), Some(sig)) = (pid, signal_by_name(&name)) {
                        let _ = nix::sys::signal::kill(pid, sig);
                    }
                }
            },
        }
    };
    if is_pty {
        // The pty's output ends with EIO once the last process holding the terminal exits; don't wait for
        // background jobs that keep it open.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), out).await;
    } else {
        let _ = out.await;
    }
    if let Some(e) = err {
        let _ = e.await;
    }
    input.abort();
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => {
                let _ = ch.send_exit_status(code as u32);
            }
            (None, Some(sig)) => {
                let name =
                    nix::sys::signal::Signal::try_from(sig).map(|s| s.as_str().trim_start_matches("SIG").to_string());
                let _ = ch.send_exit_signal(&name.unwrap_or_else(|_| "KILL".into()), s.core_dumped());
            }
            _ => {}
        },
        Err(e) => tracing::warn!("waiting for the session's process: {e}"),
    }
    let _ = ch.eof().await;
    let _ = ch.close();
}
