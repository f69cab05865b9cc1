//! Agent forwarding (OpenSSH PROTOCOL §"agent forwarding"), both roles.
//!
//! Client: after "auth-agent-req@openssh.com" on a session, the server opens an "auth-agent@openssh.com" channel
//! for each program that connects to its forwarded socket; each is piped to the local agent socket. The engine
//! refuses such channels unless we asked.
//!
//! Server: when the handler allows a client's request, a Unix socket in a private directory (0700) is made and named
//! in the session's SSH_AUTH_SOCK; each connection to it becomes an "auth-agent@openssh.com" channel to the client.
//! Socket and directory go when the session ends.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use amiko_proto::connection::{Event, AGENT_CHANNEL};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::driver::{Owner, Shared};
use crate::error::Result;
use crate::Channel;

/// Client: remembers the local agent socket and starts, once per connection, the task that takes the server's
/// agent channels. Later requests (on other sessions) reuse the first socket, as ssh has one ForwardAgent.
pub(crate) fn start_client_forwarding(owner: &Arc<Owner>, socket: &Path) {
    let shared = owner.shared.clone();
    {
        let mut g = shared.lock();
        if g.agent_socket.is_some() {
            return;
        }
        g.agent_socket = Some(socket.to_path_buf());
    }
    tokio::spawn(accept_agent_channels(
        shared,
        Arc::downgrade(owner),
        socket.to_path_buf(),
    ));
}

/// Takes the server's agent channels until the connection ends. It holds the connection only weakly: the
/// connection ends when the application lets go of it, not when this task does.
async fn accept_agent_channels(shared: Arc<Shared>, owner: Weak<Owner>, socket: PathBuf) {
    loop {
        let next = shared
            .wait(|g| {
                let i = g
                    .events
                    .iter()
                    .position(|e| matches!(e, Event::ChannelOpenRequest { kind, .. } if kind == AGENT_CHANNEL))?;
                match g.events.remove(i) {
                    Some(Event::ChannelOpenRequest { id, .. }) => Some(Ok(id)),
                    _ => None,
                }
            })
            .await;
        let Ok(id) = next else { return };
        let Some(owner) = owner.upgrade() else { return };
        tokio::spawn(pipe_to_local_agent(owner, id, socket.clone()));
    }
}

/// Connects to the local agent, then accepts the channel and copies both ways (or refuses it with "connect failed").
async fn pipe_to_local_agent(owner: Arc<Owner>, id: amiko_proto::connection::ChannelId, socket: PathBuf) {
    let shared = owner.shared.clone();
    let mut agent = match UnixStream::connect(&socket).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("forwarded agent: {}: {e}", socket.display());
            let _ = shared.lock().conn.channel_reject(id, 2, "agent not reachable");
            shared.kick();
            return;
        }
    };
    if shared.lock().conn.channel_accept(id).is_err() {
        return;
    }
    shared.kick();
    let mut ch = Channel::from_id(owner, id);
    let _ = tokio::io::copy_bidirectional(&mut agent, &mut ch).await;
}

/// Server: one session's forwarded agent socket. Dropping it stops taking connections and removes the socket and
/// its directory.
pub(crate) struct AgentListener {
    dir: PathBuf,
    path: PathBuf,
    task: JoinHandle<()>,
}

impl AgentListener {
    /// Makes a private directory with a socket in it and starts taking connections.
    pub(crate) fn start(owner: Weak<Owner>) -> Result<AgentListener> {
        let dir = private_dir()?;
        let path = dir.join(format!("agent.{}", std::process::id()));
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(crate::Error::io(format!("binding {}", path.display()), e));
            }
        };
        let task = tokio::spawn(serve_agent_socket(listener, owner));
        Ok(AgentListener { dir, path, task })
    }

    /// The socket, for SSH_AUTH_SOCK.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AgentListener {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new directory only we can enter (0700), created atomically so nobody can have placed it (or a link) there.
fn private_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    let mut last = None;
    for _ in 0..8 {
        let mut r = [0u8; 8];
        // Checked: with a failed generator every name would be the same, and anyone could take it first.
        aws_lc_rs::rand::fill(&mut r).map_err(|_| {
            crate::Error::io(
                "making a directory for the forwarded agent",
                std::io::Error::other("the random generator failed"),
            )
        })?;
        let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("amiko-agent-{name}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => last = Some(e),
        }
    }
    Err(crate::Error::io(
        "making a directory for the forwarded agent",
        last.unwrap_or_else(|| std::io::Error::other("no name")),
    ))
}

/// Each connection to the socket becomes an agent channel to the client.
async fn serve_agent_socket(listener: UnixListener, owner: Weak<Owner>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let Some(owner) = owner.upgrade() else { return };
        tokio::spawn(async move {
            let mut stream = stream;
            match Channel::open_agent(owner).await {
                Ok(mut ch) => {
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut ch).await;
                }
                // The client refused (it did not ask after all) or the connection ended: the local program sees
                // its connection close, as with sshd.
                Err(e) => tracing::debug!("forwarded agent channel: {e}"),
            }
        });
    }
}
