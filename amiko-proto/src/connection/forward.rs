//! Port forwarding in the engine: remote TCP forwards (RFC 4254 §7), Unix-socket forwards (OpenSSH's PROTOCOL
//! §2.4, "streamlocal"), the global requests that set them up, their in-order replies, and the channels they
//! lead to.
//!
//! A client keeps the forwards the server accepted. A "forwarded-tcpip" or "forwarded-streamlocal@openssh.com"
//! channel is only let through when it names one of them: a server must not be able to push connections into the
//! client for a port nobody asked for. What the client connects such a channel to is the application's choice
//! per forward, never taken from the server's data.

use std::collections::VecDeque;

use super::{ChannelId, Connection, Event};
use crate::config::Role;
use crate::error::{Error, Result};
use crate::wire::{msg, Reader, Writer};

/// Longest host name or address accepted from the peer in a forwarding message (a DNS name is at most 253).
pub const MAX_HOST_LEN: usize = 255;
/// Longest Unix socket path accepted from the peer (sun_path holds 108 bytes on Linux, 104 on the BSDs).
pub const MAX_SOCKET_PATH_LEN: usize = 1024;
/// Remote forwards a client keeps at once.
pub const MAX_REMOTE_FORWARDS: usize = 256;
/// Our global requests waiting for an answer (keepalives and forwarding requests).
const MAX_PENDING_GLOBAL: usize = 1024;

/// Identifies one of our global requests, and the forward it establishes.
pub type GlobalRequestId = u64;

/// A forwarding global request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardRequest {
    /// "tcpip-forward": listen on `address:port` (port 0: any, reported in the reply).
    Tcpip {
        /// Address to bind ("" all, "localhost", "0.0.0.0", ...; RFC 4254 §7.1).
        address: String,
        /// Port to bind.
        port: u16,
    },
    /// "cancel-tcpip-forward" of an earlier `Tcpip` (with the port that was bound).
    CancelTcpip {
        /// Address as first requested.
        address: String,
        /// The bound port.
        port: u16,
    },
    /// "streamlocal-forward@openssh.com": listen on a Unix socket at `path`.
    Streamlocal {
        /// Socket path on the server.
        path: String,
    },
    /// "cancel-streamlocal-forward@openssh.com".
    CancelStreamlocal {
        /// Socket path on the server.
        path: String,
    },
}

/// What a remote forward listens on, on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardTarget {
    /// A TCP address and the port the server bound.
    Tcp {
        /// Address as requested.
        address: String,
        /// Bound port.
        port: u16,
    },
    /// A Unix socket path.
    Unix(String),
}

enum Pending {
    Keepalive,
    Forward(GlobalRequestId, ForwardRequest),
}

/// The forwarding state of a connection.
#[derive(Default)]
pub(crate) struct Forwards {
    /// Our global requests in the order sent: replies come back in that order (RFC 4254 §4).
    pending: VecDeque<Pending>,
    next_id: GlobalRequestId,
    /// Client: forwards the server accepted, by the id of the request that made them.
    active: Vec<(GlobalRequestId, ForwardTarget)>,
}

fn host_ok(h: &str) -> bool {
    h.len() <= MAX_HOST_LEN && !h.contains('\0')
}

fn path_ok(p: &str) -> bool {
    !p.is_empty() && p.len() <= MAX_SOCKET_PATH_LEN && !p.contains('\0')
}

impl Connection {
    fn require_role(&self, role: Role, what: &str) -> Result<()> {
        if self.cfg.role != role {
            return Err(Error::Usage(format!("{what} is for the {role:?} role")));
        }
        Ok(())
    }

    /// Notes that a keepalive global request went out (its answer only proves the peer alive).
    pub(crate) fn note_keepalive_sent(&mut self) {
        self.forwards.pending.push_back(Pending::Keepalive);
    }

    fn send_forward_request(&mut self, req: ForwardRequest) -> Result<GlobalRequestId> {
        if !self.is_authenticated() {
            return Err(Error::Usage("not authenticated".into()));
        }
        if self.forwards.pending.len() >= MAX_PENDING_GLOBAL {
            return Err(Error::Usage("too many global requests waiting for an answer".into()));
        }
        let mut p = Vec::new();
        let mut w = Writer::new(&mut p);
        w.u8(msg::GLOBAL_REQUEST);
        match &req {
            ForwardRequest::Tcpip { address, port } => {
                w.string("tcpip-forward").bool(true).string(address).u32((*port).into())
            }
            ForwardRequest::CancelTcpip { address, port } => w
                .string("cancel-tcpip-forward")
                .bool(true)
                .string(address)
                .u32((*port).into()),
            ForwardRequest::Streamlocal { path } => w.string("streamlocal-forward@openssh.com").bool(true).string(path),
            ForwardRequest::CancelStreamlocal { path } => w
                .string("cancel-streamlocal-forward@openssh.com")
                .bool(true)
                .string(path),
        };
        self.send(&p)?;
        let id = self.forwards.next_id;
        self.forwards.next_id += 1;
        self.forwards.pending.push_back(Pending::Forward(id, req));
        Ok(id)
    }

    /// Client: asks the server to listen on `address:port` and open a "forwarded-tcpip" channel for each
    /// connection (ssh -R). Port 0 lets the server pick one. `Event::GlobalReply` with the returned id follows,
    /// with the bound port on success; the id then names the forward in `Event::ForwardedChannel` and
    /// [`Connection::cancel_forward`].
    ///
    /// ```
    /// use amiko_proto::{config::{Config, Role}, connection::Connection};
    /// let mut c = Connection::new(Config::new(Role::Client), Vec::new());
    /// assert!(c.request_tcpip_forward("localhost", 8080).is_err()); // not authenticated yet
    /// ```
    pub fn request_tcpip_forward(&mut self, address: &str, port: u16) -> Result<GlobalRequestId> {
        self.require_role(Role::Client, "tcpip-forward")?;
        if !host_ok(address) {
            return Err(Error::Usage("bad bind address".into()));
        }
        self.check_forward_room()?;
        self.send_forward_request(ForwardRequest::Tcpip {
            address: address.into(),
            port,
        })
    }

    /// Client: asks the server to listen on the Unix socket `path` (streamlocal-forward@openssh.com, ssh -R
    /// /remote.sock:...). Answered by `Event::GlobalReply` as [`Connection::request_tcpip_forward`].
    pub fn request_streamlocal_forward(&mut self, path: &str) -> Result<GlobalRequestId> {
        self.require_role(Role::Client, "streamlocal-forward")?;
        if !path_ok(path) {
            return Err(Error::Usage("bad socket path".into()));
        }
        self.check_forward_room()?;
        self.send_forward_request(ForwardRequest::Streamlocal { path: path.into() })
    }

    fn check_forward_room(&self) -> Result<()> {
        let waiting = self
            .forwards
            .pending
            .iter()
            .filter(|p| matches!(p, Pending::Forward(..)))
            .count();
        if self.forwards.active.len() + waiting >= MAX_REMOTE_FORWARDS {
            return Err(Error::Usage(format!(
                "too many remote forwards (limit {MAX_REMOTE_FORWARDS})"
            )));
        }
        Ok(())
    }

    /// Client: cancels an active remote forward (by the id of the request that made it). From now on the engine
    /// refuses channels for it, even before the server answers; `Event::GlobalReply` with the returned id follows.
    pub fn cancel_forward(&mut self, forward: GlobalRequestId) -> Result<GlobalRequestId> {
        let i = self
            .forwards
            .active
            .iter()
            .position(|(id, _)| *id == forward)
            .ok_or_else(|| Error::Usage("no such remote forward".into()))?;
        let (_, target) = self.forwards.active.remove(i);
        self.send_forward_request(match target {
            ForwardTarget::Tcp { address, port } => ForwardRequest::CancelTcpip { address, port },
            ForwardTarget::Unix(path) => ForwardRequest::CancelStreamlocal { path },
        })
    }

    /// Client: the remote forwards the server accepted and that are not cancelled.
    pub fn remote_forwards(&self) -> impl Iterator<Item = (GlobalRequestId, &ForwardTarget)> {
        self.forwards.active.iter().map(|(id, t)| (*id, t))
    }

    /// Server: answers a "tcpip-forward" for port 0 with the port that was bound (RFC 4254 §7.1).
    pub fn global_reply_bound_port(&mut self, port: u16) -> Result<()> {
        let mut p = Vec::with_capacity(5);
        Writer::new(&mut p).u8(msg::REQUEST_SUCCESS).u32(port.into());
        self.send(&p)
    }

    /// An answer to one of our global requests.
    pub(crate) fn handle_global_reply(&mut self, payload: &[u8]) -> Result<()> {
        // Any answer proves the peer alive.
        self.keepalives_unanswered = 0;
        let success = payload[0] == msg::REQUEST_SUCCESS;
        let Some(Pending::Forward(id, req)) = self.forwards.pending.pop_front() else {
            // A keepalive's answer, or one nobody waits for (tolerated, as OpenSSH does).
            return Ok(());
        };
        let mut bound_port = None;
        let mut success = success;
        if success {
            match req {
                ForwardRequest::Tcpip { address, port } => {
                    let port = if port == 0 {
                        // The server must say which port it bound; without a valid one the forward is useless.
                        let mut r = Reader::new(&payload[1..]);
                        r.u32().ok().and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0)
                    } else {
                        Some(port)
                    };
                    match port {
                        Some(port) => {
                            bound_port = Some(port);
                            self.forwards.active.push((id, ForwardTarget::Tcp { address, port }));
                        }
                        None => success = false,
                    }
                }
                ForwardRequest::Streamlocal { path } => self.forwards.active.push((id, ForwardTarget::Unix(path))),
                ForwardRequest::CancelTcpip { .. } | ForwardRequest::CancelStreamlocal { .. } => {}
            }
        }
        self.events.push_back(Event::GlobalReply {
            request: id,
            success,
            bound_port,
        });
        Ok(())
    }

    /// Server: a forwarding global request from the client. Returns false if `name` is not one.
    pub(crate) fn on_forward_request(&mut self, name: &str, want_reply: bool, r: &mut Reader<'_>) -> Result<bool> {
        let request = match name {
            "tcpip-forward" | "cancel-tcpip-forward" => {
                let address = r.utf8()?.to_string();
                let port = u16::try_from(r.u32()?).ok();
                match port {
                    Some(port) if host_ok(&address) && name == "tcpip-forward" => {
                        Some(ForwardRequest::Tcpip { address, port })
                    }
                    Some(port) if host_ok(&address) => Some(ForwardRequest::CancelTcpip { address, port }),
                    _ => None,
                }
            }
            "streamlocal-forward@openssh.com" | "cancel-streamlocal-forward@openssh.com" => {
                let path = r.utf8()?.to_string();
                match path_ok(&path) {
                    true if name.starts_with("cancel") => Some(ForwardRequest::CancelStreamlocal { path }),
                    true => Some(ForwardRequest::Streamlocal { path }),
                    false => None,
                }
            }
            _ => return Ok(false),
        };
        match request {
            Some(request) => self.events.push_back(Event::ForwardRequest { request, want_reply }),
            // Bad fields: refused here, the application never sees them.
            None if want_reply => self.send(&[msg::REQUEST_FAILURE])?,
            None => {}
        }
        Ok(true)
    }

    fn refuse_open(&mut self, remote_id: u32, reason: u32, text: &str) -> Result<()> {
        let mut p = Vec::new();
        Writer::new(&mut p)
            .u8(msg::CHANNEL_OPEN_FAILURE)
            .u32(remote_id)
            .u32(reason)
            .string(text)
            .string("");
        self.send(&p)
    }

    /// The forwarding channel types: "forwarded-tcpip" and "forwarded-streamlocal@openssh.com" (server to
    /// client), "direct-streamlocal@openssh.com" (client to server). Returns false if `kind` is none of them.
    pub(crate) fn on_forward_channel_open(
        &mut self,
        kind: &str,
        remote_id: u32,
        window: u32,
        max_packet: u32,
        r: &mut Reader<'_>,
    ) -> Result<bool> {
        const PROHIBITED: u32 = 1;
        const CONNECT_FAILED: u32 = 2;
        const UNKNOWN_TYPE: u32 = 3;
        let client = self.cfg.role == Role::Client;
        let event = match kind {
            "forwarded-tcpip" if client => {
                let address = r.utf8()?.to_string();
                let port = r.u32()?;
                let originator_host = r.utf8()?.to_string();
                let originator_port = r.u32()?;
                let (Ok(port), Ok(originator_port)) = (u16::try_from(port), u16::try_from(originator_port)) else {
                    self.refuse_open(remote_id, CONNECT_FAILED, "bad port")?;
                    return Ok(true);
                };
                if !host_ok(&address) || !host_ok(&originator_host) {
                    self.refuse_open(remote_id, CONNECT_FAILED, "bad address")?;
                    return Ok(true);
                }
                let Some(forward) = self.match_tcp_forward(&address, port) else {
                    // Not a forward we asked for (or one we cancelled): never connect it anywhere.
                    self.refuse_open(remote_id, PROHIBITED, "no such remote forward")?;
                    return Ok(true);
                };
                Event::ForwardedChannel {
                    id: 0,
                    forward,
                    originator_host,
                    originator_port,
                }
            }
            "forwarded-streamlocal@openssh.com" if client => {
                let path = r.utf8()?.to_string();
                // A reserved string follows (PROTOCOL §2.4); older peers may leave it out.
                let forward = self
                    .forwards
                    .active
                    .iter()
                    .find(|(_, t)| matches!(t, ForwardTarget::Unix(p) if *p == path))
                    .map(|(id, _)| *id);
                let Some(forward) = forward else {
                    self.refuse_open(remote_id, PROHIBITED, "no such remote forward")?;
                    return Ok(true);
                };
                Event::ForwardedChannel {
                    id: 0,
                    forward,
                    originator_host: String::new(),
                    originator_port: 0,
                }
            }
            "direct-streamlocal@openssh.com" if !client => {
                let path = r.utf8()?.to_string();
                if !path_ok(&path) {
                    self.refuse_open(remote_id, CONNECT_FAILED, "bad socket path")?;
                    return Ok(true);
                }
                Event::DirectStreamlocalRequest { id: 0, path }
            }
            "forwarded-tcpip" | "forwarded-streamlocal@openssh.com" | "direct-streamlocal@openssh.com" => {
                self.refuse_open(remote_id, UNKNOWN_TYPE, "channel type not supported")?;
                return Ok(true);
            }
            _ => return Ok(false),
        };
        if self.channel_count() >= self.cfg.max_channels {
            self.refuse_open(remote_id, 4, "too many channels")?;
            return Ok(true);
        }
        let new_id = self.insert_peer_channel(kind, remote_id, window, max_packet);
        self.events.push_back(match event {
            Event::ForwardedChannel {
                forward,
                originator_host,
                originator_port,
                ..
            } => Event::ForwardedChannel {
                id: new_id,
                forward,
                originator_host,
                originator_port,
            },
            Event::DirectStreamlocalRequest { path, .. } => Event::DirectStreamlocalRequest { id: new_id, path },
            other => other,
        });
        Ok(true)
    }

    /// The forward a forwarded-tcpip channel belongs to: the one with this address and bound port, or else the only
    /// one with this port (servers may spell the address differently from our request, e.g. "" and "0.0.0.0").
    fn match_tcp_forward(&self, address: &str, port: u16) -> Option<GlobalRequestId> {
        let all: Vec<(GlobalRequestId, &str)> = self
            .forwards
            .active
            .iter()
            .filter_map(|(id, t)| match t {
                ForwardTarget::Tcp { address: a, port: p } if *p == port => Some((*id, a.as_str())),
                _ => None,
            })
            .collect();
        if let Some((id, _)) = all.iter().find(|(_, a)| *a == address) {
            return Some(*id);
        }
        match all.as_slice() {
            [(id, _)] => Some(*id),
            _ => None,
        }
    }

    /// Server: opens a "forwarded-tcpip" channel for a connection to the remote forward `address:port` (as the
    /// client requested it, with the bound port) from `originator`. `Event::ChannelOpened` or
    /// `Event::ChannelOpenFailed` follows.
    pub fn channel_open_forwarded_tcpip(
        &mut self,
        address: &str,
        port: u16,
        originator: (&str, u16),
    ) -> Result<ChannelId> {
        self.require_role(Role::Server, "forwarded-tcpip")?;
        let mut extra = Vec::new();
        Writer::new(&mut extra)
            .string(address)
            .u32(port.into())
            .string(originator.0)
            .u32(originator.1.into());
        self.channel_open_kind("forwarded-tcpip", &extra)
    }

    /// Server: opens a "forwarded-streamlocal@openssh.com" channel for a connection to the remote socket forward
    /// at `path`.
    pub fn channel_open_forwarded_streamlocal(&mut self, path: &str) -> Result<ChannelId> {
        self.require_role(Role::Server, "forwarded-streamlocal")?;
        let mut extra = Vec::new();
        Writer::new(&mut extra).string(path).string("");
        self.channel_open_kind("forwarded-streamlocal@openssh.com", &extra)
    }

    /// Client: opens a "direct-streamlocal@openssh.com" channel: the server connects to its Unix socket `path`
    /// and the channel carries that stream (ssh -L port:/remote.sock).
    pub fn channel_open_direct_streamlocal(&mut self, path: &str) -> Result<ChannelId> {
        self.require_role(Role::Client, "direct-streamlocal")?;
        if !path_ok(path) {
            return Err(Error::Usage("bad socket path".into()));
        }
        let mut extra = Vec::new();
        Writer::new(&mut extra).string(path).string("").u32(0);
        self.channel_open_kind("direct-streamlocal@openssh.com", &extra)
    }
}
