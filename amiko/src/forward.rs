//! Remote forwarding on the client: the server listens (a TCP port or a Unix socket) and hands each connection
//! back as a channel, which the application accepts and connects wherever it likes (ssh -R).

use std::collections::HashMap;
use std::sync::Arc;

use amiko_proto::connection::{ChannelId, Connection, Event, ForwardTarget, GlobalRequestId};
use tokio::sync::mpsc;

use crate::channel::Channel;
use crate::client::Client;
use crate::driver::Owner;
use crate::error::{Error, Result};

/// Forwarded connections waiting for the application per forward; beyond this the server is told "resource
/// shortage" for new ones, so a flood of connections cannot grow our memory.
pub const MAX_QUEUED_CONNECTIONS: usize = 64;

/// A connection waiting in a forward's queue: our channel id and the originator.
type Queued = (ChannelId, String, u16);

/// What the driver keeps for remote forwards.
#[derive(Default)]
pub(crate) struct ForwardRouting {
    /// Requests someone waits on, with their answer once it came.
    replies: HashMap<GlobalRequestId, Option<(bool, Option<u16>)>>,
    /// Where each forward's connections go.
    queues: HashMap<GlobalRequestId, mpsc::Sender<Queued>>,
}

/// Routes a forwarding event from the engine (called with the connection locked).
pub(crate) fn route(conn: &mut Connection, routing: &mut ForwardRouting, ev: Event) {
    match ev {
        Event::GlobalReply {
            request,
            success,
            bound_port,
        } => {
            if let Some(slot) = routing.replies.get_mut(&request) {
                *slot = Some((success, bound_port));
            }
        }
        Event::ForwardedChannel {
            id,
            forward,
            originator_host,
            originator_port,
        } => {
            let refused = match routing.queues.get(&forward) {
                None => Some((1, "no listener for this forward")),
                Some(tx) => match tx.try_send((id, originator_host, originator_port)) {
                    Ok(()) => None,
                    Err(mpsc::error::TrySendError::Full(_)) => Some((4, "too many connections waiting")),
                    Err(mpsc::error::TrySendError::Closed(_)) => Some((1, "forward closed")),
                },
            };
            if let Some((reason, text)) = refused {
                let _ = conn.channel_reject(id, reason, text);
            }
        }
        _ => {}
    }
}

/// A remote forward the server accepted: its connections arrive through [`RemoteForward::accept`]. Dropping it
/// cancels the forward and refuses connections still waiting.
///
/// ```no_run
/// # async fn f(client: amiko::Client) -> amiko::Result<()> {
/// // ssh -R 0:localhost:8080: the server picks a port, each connection to it reaches our port 8080.
/// let mut fwd = client.request_remote_forward("localhost", 0).await?;
/// println!("listening on the server's port {}", fwd.port());
/// loop {
///     let incoming = fwd.accept().await?;
///     let mut local = tokio::net::TcpStream::connect("127.0.0.1:8080").await.map_err(|e| amiko::Error::Channel(e.to_string()))?;
///     let mut ch = incoming.accept()?;
///     tokio::spawn(async move { tokio::io::copy_bidirectional(&mut local, &mut ch).await });
/// }
/// # }
/// ```
pub struct RemoteForward {
    owner: Arc<Owner>,
    id: GlobalRequestId,
    target: ForwardTarget,
    rx: mpsc::Receiver<Queued>,
    active: bool,
}

/// A connection to a remote forward, not yet answered: [`ForwardedConnection::accept`] it (once the local side
/// is ready) or [`ForwardedConnection::reject`] it. Dropping it rejects it.
pub struct ForwardedConnection {
    owner: Option<Arc<Owner>>,
    id: ChannelId,
    originator_host: String,
    originator_port: u16,
}

impl ForwardedConnection {
    /// Where the connection came from on the server's side (host, port); ("", 0) for a Unix socket.
    pub fn originator(&self) -> (&str, u16) {
        (&self.originator_host, self.originator_port)
    }

    /// Accepts it: the channel carries the connection's bytes both ways.
    pub fn accept(mut self) -> Result<Channel> {
        let owner = self.owner.take().expect("answered once");
        owner.shared.lock().conn.channel_accept(self.id)?;
        owner.shared.kick();
        Ok(Channel::from_id(owner, self.id))
    }

    /// Refuses it with an RFC 4254 §5.1 reason (2: connect failed, as ssh says when the local side is down).
    pub fn reject(mut self, reason: u32, description: &str) {
        if let Some(owner) = self.owner.take() {
            let _ = owner.shared.lock().conn.channel_reject(self.id, reason, description);
            owner.shared.kick();
        }
    }
}

impl Drop for ForwardedConnection {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.take() {
            let _ = owner.shared.lock().conn.channel_reject(self.id, 2, "not accepted");
            owner.shared.kick();
        }
    }
}

impl RemoteForward {
    /// Sends a forwarding request (made by `send`) and waits for the answer.
    async fn request(
        owner: Arc<Owner>,
        what: String,
        send: impl FnOnce(&mut Connection) -> amiko_proto::Result<GlobalRequestId>,
        target: impl FnOnce(Option<u16>) -> ForwardTarget,
    ) -> Result<RemoteForward> {
        let (tx, rx) = mpsc::channel(MAX_QUEUED_CONNECTIONS);
        let id = {
            let mut g = owner.shared.lock();
            let id = send(&mut g.conn)?;
            // Registered before the answer can arrive: the server may open channels right after it.
            g.forwards.queues.insert(id, tx);
            g.forwards.replies.insert(id, None);
            id
        };
        let answer = owner
            .shared
            .wait(|g| g.forwards.replies.get(&id).copied().flatten().map(Ok))
            .await;
        let mut g = owner.shared.lock();
        g.forwards.replies.remove(&id);
        match answer {
            Ok((true, port)) => {
                drop(g);
                Ok(RemoteForward {
                    owner,
                    id,
                    target: target(port),
                    rx,
                    active: true,
                })
            }
            Ok((false, _)) => {
                g.forwards.queues.remove(&id);
                Err(Error::Channel(format!(
                    "the server refused remote forwarding of {what}"
                )))
            }
            Err(e) => {
                g.forwards.queues.remove(&id);
                Err(e)
            }
        }
    }

    /// The port the server listens on (0 for a Unix socket).
    pub fn port(&self) -> u16 {
        match &self.target {
            ForwardTarget::Tcp { port, .. } => *port,
            ForwardTarget::Unix(_) => 0,
        }
    }

    /// What the server listens on.
    pub fn target(&self) -> &ForwardTarget {
        &self.target
    }

    /// The next connection to the forward. Fails when the connection ends.
    pub async fn accept(&mut self) -> Result<ForwardedConnection> {
        let shared = self.owner.shared.clone();
        let ended = shared.wait(|_| None::<Result<()>>);
        tokio::select! {
            next = self.rx.recv() => match next {
                Some((id, originator_host, originator_port)) => Ok(ForwardedConnection {
                    owner: Some(self.owner.clone()),
                    id,
                    originator_host,
                    originator_port,
                }),
                None => Err(Error::Channel("remote forward closed".into())),
            },
            e = ended => Err(e.err().unwrap_or(Error::Proto(amiko_proto::Error::Closed))),
        }
    }

    /// Asks the server to stop listening and waits for its answer; connections already accepted go on.
    pub async fn cancel(mut self) -> Result<()> {
        self.active = false;
        let owner = self.owner.clone();
        let id = {
            let mut g = owner.shared.lock();
            g.forwards.queues.remove(&self.id);
            let id = g.conn.cancel_forward(self.id)?;
            g.forwards.replies.insert(id, None);
            id
        };
        self.refuse_queued();
        let answer = owner
            .shared
            .wait(|g| g.forwards.replies.get(&id).copied().flatten().map(Ok))
            .await;
        owner.shared.lock().forwards.replies.remove(&id);
        match answer? {
            (true, _) => Ok(()),
            (false, _) => Err(Error::Channel("the server refused to cancel the forward".into())),
        }
    }

    fn refuse_queued(&mut self) {
        self.rx.close();
        while let Ok((id, _, _)) = self.rx.try_recv() {
            let _ = self.owner.shared.lock().conn.channel_reject(id, 1, "forward cancelled");
        }
        self.owner.shared.kick();
    }
}

impl Drop for RemoteForward {
    fn drop(&mut self) {
        if self.active {
            {
                let mut g = self.owner.shared.lock();
                g.forwards.queues.remove(&self.id);
                // Nobody waits for the answer: it is matched and dropped by the engine.
                let _ = g.conn.cancel_forward(self.id);
            }
            self.refuse_queued();
        }
    }
}

impl Client {
    /// Asks the server to listen on `bind_addr:port` (port 0: a free port, see [`RemoteForward::port`]) and hand
    /// each connection back (ssh -R). sshd binds loopback only unless its GatewayPorts allows more.
    pub async fn request_remote_forward(&self, bind_addr: &str, port: u16) -> Result<RemoteForward> {
        let address = bind_addr.to_string();
        RemoteForward::request(
            self.owner().clone(),
            format!("{bind_addr}:{port}"),
            |c| c.request_tcpip_forward(bind_addr, port),
            move |bound| ForwardTarget::Tcp {
                address,
                port: bound.unwrap_or(port),
            },
        )
        .await
    }

    /// Asks the server to listen on the Unix socket `path` and hand each connection back (ssh -R
    /// /remote.sock:...), with OpenSSH's streamlocal-forward@openssh.com.
    pub async fn request_remote_streamlocal(&self, path: &str) -> Result<RemoteForward> {
        let p = path.to_string();
        RemoteForward::request(
            self.owner().clone(),
            path.to_string(),
            |c| c.request_streamlocal_forward(path),
            move |_| ForwardTarget::Unix(p),
        )
        .await
    }

    /// Opens a "direct-streamlocal@openssh.com" channel: the server connects to its Unix socket `path` and the
    /// channel carries that stream (ssh -L port:/remote.sock). It is an AsyncRead + AsyncWrite byte stream.
    pub async fn open_direct_streamlocal(&self, path: &str) -> Result<Channel> {
        Channel::open_direct_streamlocal(self.owner().clone(), path).await
    }
}
