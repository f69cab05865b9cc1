//! The built-in session runner: exec through the user's shell, shell on a real pseudo-terminal, env, signals,
//! window changes, exit status or exit signal.

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
    pub env: Vec<(String, String)>,
    state: State,
    /// The forwarded agent's socket, while the session lasts.
    pub agent: Option<crate::agent_forward::AgentListener>,
}

fn user_shell() -> String {
    std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into())
}

impl Session {
    pub fn started(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    pub fn mark_external(&mut self) {
        self.state = State::External;
    }

    /// Starts the command (or the shell when `command` is None). Returns false if it could not start.
    pub fn start(&mut self, ch: Channel, command: Option<String>) -> bool {
        let (tx, rx) = mpsc::channel(16);
        let pty = self.pty.clone();
        let mut env = std::mem::take(&mut self.env);
        env.retain(|(k, _)| k != "SSH_AUTH_SOCK");
        if let Some(a) = &self.agent {
            env.push(("SSH_AUTH_SOCK".into(), a.path().display().to_string()));
        }
        let spawned = match &pty {
            Some(p) => spawn_pty(p, &env, command.as_deref()),
            None => spawn_pipes(&env, command.as_deref()),
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

fn spawn_pipes(env: &[(String, String)], command: Option<&str>) -> std::io::Result<Proc> {
    let mut cmd = tokio::process::Command::new(user_shell());
    // The server's own agent is not the client's: only a forwarded one is named (in `env`).
    cmd.env_remove("SSH_AUTH_SOCK");
    cmd.args(command_args(command))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(h) = crate::home_dir() {
        cmd.current_dir(h);
    }
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

fn spawn_pty(p: &PtyRequest, env: &[(String, String)], command: Option<&str>) -> std::io::Result<Proc> {
    let to_io = |e: pty_process::Error| std::io::Error::other(e.to_string());
    let (pty, pts) = pty_process::open().map_err(to_io)?;
    pty.resize(pty_process::Size::new(
        p.rows.clamp(1, 1000) as u16,
        p.cols.clamp(1, 1000) as u16,
    ))
    .map_err(to_io)?;
    let mut cmd = pty_process::Command::new(user_shell())
        .env_remove("SSH_AUTH_SOCK")
        .args(command_args(command))
        .env("TERM", &p.term)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    if let Some(h) = crate::home_dir() {
        cmd = cmd.current_dir(h);
    }
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
