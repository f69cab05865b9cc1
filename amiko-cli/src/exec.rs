//! `amiko exec` and `amiko shell`: ssh's behaviour for stdin, stdout, stderr and exit status.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use amiko::{Client, PtyRequest};
use tokio::io::AsyncReadExt;

use crate::opts::{resolve, SshArgs};

/// ssh's exit status for its own errors.
pub const SSH_ERROR: i32 = 255;

pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("amiko: cannot start the runtime: {e}");
            std::process::exit(SSH_ERROR);
        }
    }
}

/// Connects as ssh would: keys from -i/IdentityFile/defaults, then the password (from --password-env or a prompt);
/// through the jump hosts of -J / ProxyJump, each reached inside a direct-tcpip channel of the one before.
pub async fn connect(args: &SshArgs, destination: &str) -> Result<Client, String> {
    Ok(connect_full(args, destination).await?.0)
}

/// As [`connect`], also returning the agent socket to forward to sessions (-A / ForwardAgent).
async fn connect_full(args: &SshArgs, destination: &str) -> Result<(Client, Option<std::path::PathBuf>), String> {
    let r = resolve(args, destination)?;
    let forward_agent = r.forward_agent.clone();
    let mut via: Option<Client> = None;
    for hop in &r.jumps {
        // As ssh does for -J: -p, -l, -i and -J itself are the destination's; the config file, -o and the
        // password source apply to every hop. A jump host's own ProxyJump is not followed.
        let hop_args = SshArgs {
            config_file: args.config_file.clone(),
            options: args.options.clone(),
            password_env: args.password_env.clone(),
            proxy_jump: Some("none".into()),
            ..Default::default()
        };
        let h = resolve(&hop_args, hop)?;
        let (host, port) = (h.host.clone(), h.port);
        let cfg = credentials(&hop_args, h)?;
        let next = match &via {
            None => Client::connect(&host, port, cfg).await,
            Some(j) => j.connect_via(&host, port, cfg).await,
        };
        via = Some(next.map_err(|e| format!("jump host {hop}: {e}"))?);
    }
    let (host, port, proxy) = (r.host.clone(), r.port, r.proxy_command.clone());
    let cfg = credentials(args, r)?;
    match (via, proxy) {
        (Some(j), _) => j.connect_via(&host, port, cfg).await,
        (None, Some(command)) => {
            let stream = proxy_command(&command)?;
            Client::handshake(stream, &host, port, cfg).await
        }
        (None, None) => Client::connect(&host, port, cfg).await,
    }
    .map(|c| (c, forward_agent))
    .map_err(|e| e.to_string())
}

/// Starts a ProxyCommand (`sh -c`, as ssh does) whose stdin and stdout carry the connection. Its stderr stays
/// ours, so its messages reach the user. It ends when the connection closes its stdin.
fn proxy_command(command: &str) -> Result<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static, String> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("exec {command}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| format!("ProxyCommand {command:?}: {e}"))?;
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        return Err("ProxyCommand: no pipes".into());
    };
    // Reap the child when it exits so it does not linger as a zombie.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(tokio::io::join(stdout, stdin))
}

/// The client configuration with keys and the password source filled in.
fn credentials(args: &SshArgs, r: crate::opts::Resolved) -> Result<amiko::ClientConfig, String> {
    let mut cfg = r.config;
    for f in &r.identity_files {
        // As ssh: a key file whose private half cannot be read here (absent, or encrypted) may still be used
        // through the agent if its .pub is there.
        let public = std::fs::read_to_string(format!("{}.pub", f.display()))
            .ok()
            .and_then(|t| amiko::PublicKey::from_openssh(&t).ok());
        match amiko::load_key_file(f, None) {
            Ok(k) => {
                if let Some(only) = cfg.agent_filter.as_mut() {
                    only.push(k.public_key());
                }
                cfg.keys.push(k);
            }
            Err(e) => match (public, cfg.agent_filter.as_mut()) {
                (Some(p), Some(only)) => {
                    tracing::info!("{}: {e}; the agent may hold it", f.display());
                    only.push(p);
                }
                (Some(_), None) => tracing::info!("{}: {e}; the agent may hold it", f.display()),
                (None, _) if args.identity.contains(f) => return Err(e.to_string()),
                (None, _) => tracing::info!("skipping {}: {e}", f.display()),
            },
        }
    }
    if let Some(name) = &r.password_env {
        cfg.password = Some(std::env::var(name).map_err(|_| format!("--password-env: ${name} is not set"))?);
    } else if !r.batch_mode && std::io::stdin().is_terminal() {
        let (user, host) = (cfg.user.clone(), r.host.clone());
        cfg.kbd_interactive = Some(std::sync::Arc::new(move |_, _, prompts: &[(String, bool)]| {
            prompts
                .iter()
                .map(|(p, _)| rpassword::prompt_password(format!("({user}@{host}) {p}")).unwrap_or_default())
                .collect()
        }));
    }
    Ok(cfg)
}

/// Connects and starts the -L, -R and -D forwards (and those of ssh_config), which serve for as long as the
/// process runs. Also returns the agent socket to forward to sessions (-A / ForwardAgent), if any.
async fn connect_and_forward(
    args: &SshArgs,
    destination: &str,
) -> Result<(Client, Option<std::path::PathBuf>), String> {
    let r = resolve(args, destination)?;
    let locals = args.local_forward.iter().chain(&r.local_forwards);
    let forwards = locals
        .map(|s| crate::forward::Forward::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let remotes = args.remote_forward.iter().chain(&r.remote_forwards);
    let remote = remotes
        .map(|s| crate::forward::Forward::parse_remote(s))
        .collect::<Result<Vec<_>, _>>()?;
    let socks = args
        .dynamic_forward
        .iter()
        .chain(&r.dynamic_forwards)
        .map(|s| crate::forward::socks::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let (client, agent) = connect_full(args, destination).await?;
    for (_, addr) in crate::forward::start(&client, &forwards).await? {
        tracing::info!("forwarding {addr}");
    }
    for (_, addr) in crate::forward::start_remote(&client, &remote, args.quiet).await? {
        tracing::info!("remote forwarding from {addr}");
    }
    for (_, addr) in crate::forward::socks::start(&client, &socks).await? {
        tracing::info!("SOCKS proxy on {addr}");
    }
    Ok((client, agent))
}

/// Asks for agent forwarding on a session when -A / ForwardAgent says so; a refusal is only a warning, as in ssh.
async fn forward_agent(ch: &amiko::Channel, agent: Option<&std::path::Path>, quiet: bool) -> amiko::Result<()> {
    if let Some(socket) = agent {
        if !ch.request_agent_forwarding(socket).await? && !quiet {
            eprintln!("amiko: agent forwarding request failed");
        }
    }
    Ok(())
}

pub fn run_exec(args: &SshArgs, destination: &str, command: &str) -> i32 {
    runtime().block_on(async {
        let (client, agent) = match connect_and_forward(args, destination).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("amiko: {e}");
                return SSH_ERROR;
            }
        };
        match exec(&client, args, command, agent.as_deref()).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("amiko: {e}");
                SSH_ERROR
            }
        }
    })
}

async fn exec(client: &Client, args: &SshArgs, command: &str, agent: Option<&std::path::Path>) -> amiko::Result<i32> {
    let ch = std::sync::Arc::new(client.open_session().await?);
    forward_agent(&ch, agent, args.quiet).await?;
    if args.tty > 0 && !args.no_tty && (std::io::stdin().is_terminal() || args.tty > 1) {
        ch.request_pty(current_pty()).await?;
    }
    ch.exec(command).await?;
    let input = tokio::spawn(forward_stdin(ch.clone()));
    let out = copy_out(&ch, false);
    let err = copy_out(&ch, true);
    let (a, b) = tokio::join!(out, err);
    a?;
    b?;
    let (status, signal) = ch.wait_exit().await?;
    input.abort();
    Ok(match (status, signal) {
        (Some(s), _) => s as i32,
        (None, Some(sig)) => {
            eprintln!("amiko: remote command killed by signal {sig}");
            SSH_ERROR
        }
        _ => SSH_ERROR,
    })
}

/// Copies our stdin to the channel until EOF, then sends EOF to the remote side.
async fn forward_stdin(ch: std::sync::Arc<amiko::Channel>) {
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if ch.write_all_data(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = ch.eof().await;
}

/// The size asked for the pipe we write to: Linux's default limit for unprivileged users (fs/pipe-max-size).
const PIPE_SIZE: usize = 1 << 20;

async fn copy_out(ch: &amiko::Channel, stderr: bool) -> amiko::Result<()> {
    use std::io::Write;
    // Filled by swapping with the channel's receive buffer: the bytes are not copied on their way to fd 1/2.
    let mut buf = Vec::new();
    // Our own handle on fd 1/2, written directly: std's Stdout is line-buffered (it scans every write for
    // newlines) and tokio's hops to a blocking thread for each write. A slow reader of our output then holds the
    // copy up, which is the back-pressure ssh applies too.
    let fd = if stderr {
        std::io::stderr().as_fd().try_clone_to_owned()
    } else {
        std::io::stdout().as_fd().try_clone_to_owned()
    };
    let mut out = fd
        .map(std::fs::File::from)
        .map_err(|e| amiko::Error::Config(format!("stdout: {e}")))?;
    // A pipe holds 64 KiB by default, so a stream blocks us (and wakes the reader) every 64 KiB; a bigger pipe
    // means fewer of those sleeps and wakeups on both sides. Only for stdout, where bulk output goes. Fails
    // harmlessly when fd 1 is not a pipe or the size is over the limit; a pipe already bigger is left alone.
    if !stderr && rustix::pipe::fcntl_getpipe_size(&out).is_ok_and(|n| n < PIPE_SIZE) {
        let _ = rustix::pipe::fcntl_setpipe_size(&out, PIPE_SIZE);
    }
    loop {
        let n = if stderr {
            ch.read_stderr_available(&mut buf).await?
        } else {
            ch.read_available(&mut buf).await?
        };
        if n == 0 {
            return Ok(());
        }
        if out.write_all(&buf).is_err() {
            return Ok(()); // our output closed (e.g. `| head`): stop copying, as ssh does
        }
    }
}

fn terminal_size() -> (u32, u32) {
    match rustix::termios::tcgetwinsize(rustix::stdio::stdout()) {
        Ok(w) if w.ws_col > 0 => (w.ws_col as u32, w.ws_row as u32),
        _ => (80, 24),
    }
}

fn current_pty() -> PtyRequest {
    let (cols, rows) = terminal_size();
    PtyRequest {
        term: std::env::var("TERM").unwrap_or_else(|_| "xterm".into()),
        cols,
        rows,
        ..Default::default()
    }
}

/// Puts the terminal in raw mode and restores it when dropped.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enter() -> RawMode {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        match tcgetattr(&stdin) {
            Ok(saved) => {
                let mut raw = saved.clone();
                cfmakeraw(&mut raw);
                let _ = tcsetattr(&stdin, SetArg::TCSADRAIN, &raw);
                RawMode(Some(saved))
            }
            Err(_) => RawMode(None),
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSADRAIN, t);
        }
    }
}

/// `amiko forward`: only the forwards, until SIGINT/SIGTERM or the connection ends (ssh -N).
pub fn run_forward(args: &SshArgs, destination: &str) -> i32 {
    let from_config = resolve(args, destination)
        .is_ok_and(|r| !(r.local_forwards.is_empty() && r.remote_forwards.is_empty() && r.dynamic_forwards.is_empty()));
    if args.local_forward.is_empty()
        && args.remote_forward.is_empty()
        && args.dynamic_forward.is_empty()
        && !from_config
    {
        eprintln!("amiko: forward needs at least one -L, -R or -D (or LocalForward/RemoteForward/DynamicForward)");
        return SSH_ERROR;
    }
    runtime().block_on(async {
        // No session here (ssh -N): nothing to forward the agent to.
        let (client, _) = match connect_and_forward(args, destination).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("amiko: {e}");
                return SSH_ERROR;
            }
        };
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("amiko: {e}");
                return SSH_ERROR;
            }
        };
        let mut alive = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return 0,
                _ = term.recv() => return 0,
                _ = alive.tick() => {
                    if !client.is_active() {
                        eprintln!("amiko: connection to {destination} closed");
                        return SSH_ERROR;
                    }
                }
            }
        }
    })
}

pub fn run_shell(args: &SshArgs, destination: &str) -> i32 {
    runtime().block_on(async {
        let (client, agent) = match connect_and_forward(args, destination).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("amiko: {e}");
                return SSH_ERROR;
            }
        };
        match shell(&client, args, agent.as_deref()).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("amiko: {e}");
                SSH_ERROR
            }
        }
    })
}

async fn shell(client: &Client, args: &SshArgs, agent: Option<&std::path::Path>) -> amiko::Result<i32> {
    let ch = std::sync::Arc::new(client.open_session().await?);
    forward_agent(&ch, agent, args.quiet).await?;
    let tty = std::io::stdin().is_terminal() && !args.no_tty || args.tty > 1;
    if tty {
        ch.request_pty(current_pty()).await?;
    }
    ch.shell().await?;
    let _raw = tty.then(RawMode::enter);
    if tty {
        // Window changes follow the local terminal (SIGWINCH).
        let ch = ch.clone();
        tokio::spawn(async move {
            let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) else {
                return;
            };
            while sig.recv().await.is_some() {
                let (c, r) = terminal_size();
                let _ = ch.window_change(c, r);
            }
        });
    }
    let input = tokio::spawn(forward_stdin(ch.clone()));
    let (a, b) = tokio::join!(copy_out(&ch, false), copy_out(&ch, true));
    a?;
    b?;
    let (status, _) = ch.wait_exit().await?;
    input.abort();
    Ok(status.map_or(SSH_ERROR, |s| s as i32))
}
