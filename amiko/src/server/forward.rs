//! The server's side of remote forwarding (ssh -R: tcpip-forward and streamlocal-forward@openssh.com) and of
//! direct-streamlocal channels (ssh -L port:/socket). Listeners belong to one connection: they stop when the
//! client cancels them or when the connection ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use amiko_proto::authorized_keys::LoginRestrictions;
use amiko_proto::connection::{ChannelId, ForwardRequest, ForwardTarget};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::task::JoinHandle;

use super::handler::{Handler, SessionInfo};
use super::ServerConfig;
use crate::driver::Owner;

/// How long the server tries to reach a direct-streamlocal socket.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The remote forward listeners of one connection; dropping this stops them all.
#[derive(Default)]
pub(super) struct Listeners(Vec<(ForwardTarget, JoinHandle<()>)>);

impl Drop for Listeners {
    fn drop(&mut self) {
        for (_, task) in self.0.drain(..) {
            task.abort();
        }
    }
}

/// Removes a Unix socket we bound once its listener stops (also when its task is aborted).
struct Unlink(PathBuf);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Where a remote TCP forward binds: loopback unless gateway ports are allowed (sshd's GatewayPorts), as an
/// address the client can reach only from the server itself is the safe default.
fn bind_host(address: &str, gateway_ports: bool) -> String {
    let v6 = address.contains(':');
    if !gateway_ports {
        return if v6 { "::1" } else { "127.0.0.1" }.into();
    }
    match address {
        "" | "*" => "0.0.0.0".into(),
        "localhost" => "127.0.0.1".into(),
        a => a.into(),
    }
}

/// Answers one forwarding request: decides through the login's restrictions and the handler, binds or stops the
/// listener, and replies.
#[allow(clippy::too_many_arguments)]
pub(super) async fn request(
    owner: &Arc<Owner>,
    handler: &Arc<dyn Handler>,
    info: &SessionInfo,
    cfg: &ServerConfig,
    restrictions: &LoginRestrictions,
    listeners: &mut Listeners,
    request: ForwardRequest,
    want_reply: bool,
) -> amiko_proto::Result<()> {
    let peer = info.peer;
    let full = listeners.0.len() >= cfg.max_forward_listeners;
    let restricted = match &request {
        ForwardRequest::Tcpip { address, port } => !restrictions.allows_listen(address, *port),
        ForwardRequest::Streamlocal { .. } => !restrictions.allows_streamlocal(),
        _ => false,
    };
    if restricted {
        tracing::info!(%peer, "remote forward refused by the login's restrictions: {request:?}");
    }
    // None: refused; Some(None): success; Some(Some(port)): success with the port bound for a port-0 request.
    let reply: Option<Option<u16>> = match request {
        ForwardRequest::Tcpip { address, port }
            if !full && !restricted && handler.tcpip_forward(info, &address, port) =>
        {
            let host = bind_host(&address, cfg.gateway_ports);
            match TcpListener::bind((host.as_str(), port)).await {
                Ok(l) => {
                    let bound = l.local_addr().map(|a| a.port()).unwrap_or(port);
                    tracing::info!(%peer, "remote forward listening on {host}:{bound}");
                    let target = ForwardTarget::Tcp { address, port: bound };
                    let task = tokio::spawn(serve_tcp(owner.clone(), l, target.clone()));
                    listeners.0.push((target, task));
                    Some((port == 0).then_some(bound))
                }
                Err(e) => {
                    tracing::info!(%peer, "remote forward on {host}:{port}: {e}");
                    None
                }
            }
        }
        ForwardRequest::Streamlocal { path } if !full && !restricted && handler.streamlocal_forward(info, &path) => {
            // As sshd with StreamLocalBindUnlink no: an existing file is never replaced.
            match UnixListener::bind(&path) {
                Ok(l) => {
                    tracing::info!(%peer, "remote forward listening on {path}");
                    let target = ForwardTarget::Unix(path.clone());
                    let task = tokio::spawn(serve_unix(owner.clone(), l, Unlink(path.into()), target.clone()));
                    listeners.0.push((target, task));
                    Some(None)
                }
                Err(e) => {
                    tracing::info!(%peer, "remote forward on {path}: {e}");
                    None
                }
            }
        }
        ForwardRequest::CancelTcpip { address, port } => stop(listeners, &ForwardTarget::Tcp { address, port }).await,
        ForwardRequest::CancelStreamlocal { path } => stop(listeners, &ForwardTarget::Unix(path)).await,
        _ => None,
    };
    if !want_reply {
        return Ok(());
    }
    let mut g = owner.shared.lock();
    let r = match reply {
        Some(Some(port)) => g.conn.global_reply_bound_port(port),
        Some(None) => g.conn.global_reply(true),
        None => g.conn.global_reply(false),
    };
    drop(g);
    owner.shared.kick();
    r
}

/// Stops one listener and waits until it is closed, so that once the client has the reply nothing listens there
/// any more (as with sshd). `abort` alone only schedules the task's end: the listening socket would be closed
/// later, on whichever worker runs the task next.
async fn stop(listeners: &mut Listeners, target: &ForwardTarget) -> Option<Option<u16>> {
    let i = listeners.0.iter().position(|(t, _)| t == target)?;
    let (_, task) = listeners.0.remove(i);
    task.abort();
    // A cancelled task's future (which owns the listener) is dropped before its JoinHandle completes.
    let _ = task.await;
    Some(None)
}

/// Carries one accepted connection over a forwarded channel.
async fn carry<S>(owner: Arc<Owner>, mut stream: S, target: ForwardTarget, originator: (String, u16))
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match crate::Channel::open_forwarded(owner, &target, (&originator.0, originator.1)).await {
        Ok(mut ch) => {
            let _ = tokio::io::copy_bidirectional(&mut stream, &mut ch).await;
        }
        Err(e) => tracing::info!(
            "forwarded connection from {}:{} refused: {e}",
            originator.0,
            originator.1
        ),
    }
}

async fn serve_tcp(owner: Arc<Owner>, listener: TcpListener, target: ForwardTarget) {
    loop {
        match listener.accept().await {
            Ok((tcp, from)) => {
                let _ = tcp.set_nodelay(true);
                let originator = (from.ip().to_string(), from.port());
                tokio::spawn(carry(owner.clone(), tcp, target.clone(), originator));
            }
            // Out of descriptors, say: wait rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn serve_unix(owner: Arc<Owner>, listener: UnixListener, _unlink: Unlink, target: ForwardTarget) {
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                tokio::spawn(carry(owner.clone(), s, target.clone(), (String::new(), 0)));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Connects to the Unix socket `path` for a direct-streamlocal channel, then accepts the channel and copies both
/// ways (or refuses it with "connect failed").
pub(super) async fn direct_streamlocal(owner: Arc<Owner>, id: ChannelId, path: String) {
    let shared = owner.shared.clone();
    let mut s = match tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(&path)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let _ = shared
                .lock()
                .conn
                .channel_reject(id, 2, &format!("connect failed: {e}"));
            shared.kick();
            return;
        }
        Err(_) => {
            let _ = shared.lock().conn.channel_reject(id, 2, "connect timed out");
            shared.kick();
            return;
        }
    };
    if shared.lock().conn.channel_accept(id).is_err() {
        return;
    }
    shared.kick();
    let mut ch = crate::Channel::from_id(owner, id);
    let _ = tokio::io::copy_bidirectional(&mut s, &mut ch).await;
}
