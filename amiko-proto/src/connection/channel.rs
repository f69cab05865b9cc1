//! Channels (RFC 4254 §5): the table, flow-control windows, data buffers and requests.

use std::collections::HashMap;

use super::{ChannelId, ChannelRequest, Connection, Event, PtyRequest};
use crate::error::{Error, Result};
use crate::transport::packet::MAX_PACKET_LEN;
use crate::wire::{msg, Reader, Writer};

/// Largest data chunk in one CHANNEL_DATA: the packet limit less room for the message header and padding.
const MAX_CHANNEL_DATA_CHUNK: usize = MAX_PACKET_LEN - 64;

/// Where a channel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    /// We asked to open it; no answer yet.
    Opening,
    /// The peer asked to open it; we have not answered.
    PeerOpening,
    /// Open.
    Open,
    /// Closed both ways (or the open failed).
    Closed,
}

/// Received bytes waiting for the application: appended at the end, taken from the front, compacted when the
/// front half is used up (a VecDeque would be drained byte by byte).
#[derive(Debug, Default)]
struct RecvBuf {
    data: Vec<u8>,
    start: usize,
}

impl RecvBuf {
    fn len(&self) -> usize {
        self.data.len() - self.start
    }

    fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.data.len() / 2 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    fn as_slice(&self) -> &[u8] {
        &self.data[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }
}

/// One channel's state. Received data waits in `stdout`/`stderr` until the application reads it; the window we
/// grant is what bounds those buffers.
#[derive(Debug)]
pub struct Channel {
    /// Where it stands.
    pub state: ChannelState,
    pub(super) remote_id: u32,
    /// Bytes we may still send.
    pub(super) remote_window: u64,
    pub(super) remote_max_packet: u32,
    /// Bytes the peer may still send us.
    local_window: u32,
    /// Bytes read by the application but not yet granted back.
    consumed: u32,
    stdout: RecvBuf,
    stderr: RecvBuf,
    /// The peer sent EOF.
    pub eof_received: bool,
    /// We sent EOF.
    pub eof_sent: bool,
    close_received: bool,
    close_sent: bool,
    /// Exit status from the peer.
    pub exit_status: Option<u32>,
    /// Exit signal name from the peer.
    pub exit_signal: Option<String>,
    /// Channel type.
    pub kind: String,
    replies_expected: u32,
}

impl Channel {
    pub(super) fn new(kind: String, state: ChannelState, window: u32) -> Self {
        Channel {
            state,
            remote_id: 0,
            remote_window: 0,
            remote_max_packet: 0,
            local_window: window,
            consumed: 0,
            stdout: RecvBuf::default(),
            stderr: RecvBuf::default(),
            eof_received: false,
            eof_sent: false,
            close_received: false,
            close_sent: false,
            exit_status: None,
            exit_signal: None,
            kind,
            replies_expected: 0,
        }
    }

    /// Bytes of received data waiting (stdout or stderr).
    pub fn readable(&self, stderr: bool) -> usize {
        if stderr {
            self.stderr.len()
        } else {
            self.stdout.len()
        }
    }

    /// Bytes we may send now (the peer's window).
    pub fn send_window(&self) -> u64 {
        self.remote_window
    }

    /// Whether the peer sent CLOSE.
    pub fn close_received(&self) -> bool {
        self.close_received
    }
}

/// All channels of a connection.
#[derive(Default)]
pub(crate) struct ChannelTable {
    pub(super) map: HashMap<ChannelId, Channel>,
    next_id: ChannelId,
    /// Client: we asked for agent forwarding, so "auth-agent@openssh.com" channels from the server are wanted.
    pub(super) agent_requested: bool,
}

impl ChannelTable {
    pub(super) fn insert(&mut self, ch: Channel) -> ChannelId {
        while self.map.contains_key(&self.next_id) {
            self.next_id = self.next_id.wrapping_add(1);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.map.insert(id, ch);
        id
    }
}

fn encode_request(w: &mut Writer<'_>, req: &ChannelRequest) -> &'static str {
    match req {
        ChannelRequest::Pty(p) => {
            w.string("pty-req").bool(true);
            w.string(&p.term)
                .u32(p.cols)
                .u32(p.rows)
                .u32(p.width_px)
                .u32(p.height_px)
                .string(&p.modes);
            "pty-req"
        }
        ChannelRequest::Shell => "shell",
        ChannelRequest::Exec(c) => {
            w.string("exec").bool(true).string(c);
            "exec"
        }
        ChannelRequest::Subsystem(s) => {
            w.string("subsystem").bool(true).string(s);
            "subsystem"
        }
        ChannelRequest::Env { name, value } => {
            w.string("env").bool(true).string(name).string(value);
            "env"
        }
        ChannelRequest::WindowChange {
            cols,
            rows,
            width_px,
            height_px,
        } => {
            w.string("window-change")
                .bool(false)
                .u32(*cols)
                .u32(*rows)
                .u32(*width_px)
                .u32(*height_px);
            "window-change"
        }
        ChannelRequest::Signal(s) => {
            w.string("signal").bool(false).string(s);
            "signal"
        }
        ChannelRequest::ExitStatus(s) => {
            w.string("exit-status").bool(false).u32(*s);
            "exit-status"
        }
        ChannelRequest::ExitSignal {
            signal,
            core_dumped,
            message,
        } => {
            w.string("exit-signal")
                .bool(false)
                .string(signal)
                .bool(*core_dumped)
                .string(message)
                .string("");
            "exit-signal"
        }
        ChannelRequest::AuthAgent => {
            w.string(super::agent::AGENT_REQUEST).bool(true);
            "auth-agent-req"
        }
        ChannelRequest::Other(name) => {
            w.string(name).bool(true);
            "other"
        }
    }
}

fn decode_request(name: &str, r: &mut Reader<'_>) -> Result<ChannelRequest> {
    Ok(match name {
        "pty-req" => ChannelRequest::Pty(PtyRequest {
            term: r.utf8()?.to_string(),
            cols: r.u32()?,
            rows: r.u32()?,
            width_px: r.u32()?,
            height_px: r.u32()?,
            modes: r.string()?.to_vec(),
        }),
        "shell" => ChannelRequest::Shell,
        "exec" => ChannelRequest::Exec(String::from_utf8_lossy(r.string()?).into_owned()),
        "subsystem" => ChannelRequest::Subsystem(r.utf8()?.to_string()),
        "env" => ChannelRequest::Env {
            name: r.utf8()?.to_string(),
            value: r.utf8()?.to_string(),
        },
        "window-change" => ChannelRequest::WindowChange {
            cols: r.u32()?,
            rows: r.u32()?,
            width_px: r.u32()?,
            height_px: r.u32()?,
        },
        "signal" => ChannelRequest::Signal(r.utf8()?.to_string()),
        "exit-status" => ChannelRequest::ExitStatus(r.u32()?),
        "exit-signal" => ChannelRequest::ExitSignal {
            signal: r.utf8()?.to_string(),
            core_dumped: r.bool()?,
            message: String::from_utf8_lossy(r.string()?).into_owned(),
        },
        super::agent::AGENT_REQUEST => ChannelRequest::AuthAgent,
        other => ChannelRequest::Other(other.to_string()),
    })
}

impl Connection {
    /// A channel's state, if it exists.
    pub fn channel(&self, id: ChannelId) -> Option<&Channel> {
        self.channels.map.get(&id)
    }

    /// Number of channels in the table.
    pub fn channel_count(&self) -> usize {
        self.channels.map.len()
    }

    fn open_channel(&mut self, id: ChannelId) -> Result<&mut Channel> {
        match self.channels.map.get_mut(&id) {
            Some(c) if c.state == ChannelState::Open => Ok(c),
            _ => Err(Error::ChannelClosed),
        }
    }

    /// Opens a session channel; `Event::ChannelOpened` or `Event::ChannelOpenFailed` follows.
    pub fn channel_open_session(&mut self) -> Result<ChannelId> {
        self.channel_open_kind("session", &[])
    }

    /// Opens a "direct-tcpip" channel (RFC 4254 §7.2): the server connects to `host:port` and the channel carries
    /// that TCP stream. `originator` is the address the connection came from on our side (("127.0.0.1", 0) when
    /// there is none, as for a jump host). `Event::ChannelOpened` or `Event::ChannelOpenFailed` follows.
    pub fn channel_open_direct_tcpip(&mut self, host: &str, port: u16, originator: (&str, u16)) -> Result<ChannelId> {
        let mut extra = Vec::new();
        Writer::new(&mut extra)
            .string(host)
            .u32(port.into())
            .string(originator.0)
            .u32(originator.1.into());
        self.channel_open_kind("direct-tcpip", &extra)
    }

    pub(crate) fn channel_open_kind(&mut self, kind: &str, extra: &[u8]) -> Result<ChannelId> {
        if !self.is_authenticated() {
            return Err(Error::Usage("not authenticated".into()));
        }
        if self.channels.map.len() >= self.cfg.max_channels {
            return Err(Error::Usage(format!(
                "too many channels (limit {})",
                self.cfg.max_channels
            )));
        }
        let id = self.channels.insert(Channel::new(
            kind.into(),
            ChannelState::Opening,
            self.cfg.channel_window,
        ));
        let mut p = Vec::new();
        Writer::new(&mut p)
            .u8(msg::CHANNEL_OPEN)
            .string(kind)
            .u32(id)
            .u32(self.cfg.channel_window)
            .u32(self.cfg.channel_max_packet)
            .raw(extra);
        self.send(&p)?;
        Ok(id)
    }

    /// Records a channel the peer asked to open; it waits for `channel_accept` or `channel_reject`.
    pub(super) fn insert_peer_channel(
        &mut self,
        kind: &str,
        remote_id: u32,
        window: u32,
        max_packet: u32,
    ) -> ChannelId {
        let mut ch = Channel::new(kind.into(), ChannelState::PeerOpening, self.cfg.channel_window);
        ch.remote_id = remote_id;
        ch.remote_window = window as u64;
        ch.remote_max_packet = max_packet;
        self.channels.insert(ch)
    }

    /// Accepts a channel the peer asked to open.
    pub fn channel_accept(&mut self, id: ChannelId) -> Result<()> {
        let (window, max) = (self.cfg.channel_window, self.cfg.channel_max_packet);
        let ch = self
            .channels
            .map
            .get_mut(&id)
            .filter(|c| c.state == ChannelState::PeerOpening);
        let ch = ch.ok_or_else(|| Error::Usage("no such channel open request".into()))?;
        ch.state = ChannelState::Open;
        let remote = ch.remote_id;
        let mut p = Vec::new();
        Writer::new(&mut p)
            .u8(msg::CHANNEL_OPEN_CONFIRMATION)
            .u32(remote)
            .u32(id)
            .u32(window)
            .u32(max);
        self.send(&p)
    }

    /// Refuses a channel the peer asked to open (reason codes of RFC 4254 §5.1).
    pub fn channel_reject(&mut self, id: ChannelId, reason: u32, description: &str) -> Result<()> {
        let ch = self
            .channels
            .map
            .remove(&id)
            .ok_or_else(|| Error::Usage("no such channel".into()))?;
        let mut p = Vec::new();
        Writer::new(&mut p)
            .u8(msg::CHANNEL_OPEN_FAILURE)
            .u32(ch.remote_id)
            .u32(reason)
            .string(description)
            .string("");
        self.send(&p)
    }

    /// Sends a channel request. Requests that want a reply get `Event::ChannelReply` (exec, shell, pty-req, env,
    /// subsystem, and `Other`).
    pub fn channel_request(&mut self, id: ChannelId, req: &ChannelRequest) -> Result<()> {
        let ch = self.open_channel(id)?;
        let remote = ch.remote_id;
        let mut p = Vec::new();
        let mut w = Writer::new(&mut p);
        w.u8(msg::CHANNEL_REQUEST).u32(remote);
        if matches!(req, ChannelRequest::Shell) {
            w.string("shell").bool(true);
        }
        encode_request(&mut w, req);
        let want_reply = p.get(9 + u32::from_be_bytes([p[5], p[6], p[7], p[8]]) as usize) == Some(&1);
        if want_reply {
            self.open_channel(id)?.replies_expected += 1;
        }
        self.note_agent_request(req);
        self.send(&p)
    }

    /// Answers a channel request that wanted a reply.
    pub fn channel_reply(&mut self, id: ChannelId, success: bool) -> Result<()> {
        let Some(ch) = self.channels.map.get(&id) else {
            return Ok(());
        };
        if ch.close_sent {
            return Ok(());
        }
        let mut p = Vec::new();
        let kind = if success {
            msg::CHANNEL_SUCCESS
        } else {
            msg::CHANNEL_FAILURE
        };
        Writer::new(&mut p).u8(kind).u32(ch.remote_id);
        self.send(&p)
    }

    /// Sends data (`ext` = Some(1) for stderr) as far as the peer's window and max packet allow; returns how many
    /// bytes were taken. 0 means the window is full: wait for the peer to grant more.
    pub fn channel_send(&mut self, id: ChannelId, data: &[u8], ext: Option<u32>) -> Result<usize> {
        let ch = self.open_channel(id)?;
        if ch.eof_sent {
            return Err(Error::Usage("channel data after EOF".into()));
        }
        // The peer chooses its max packet (up to 2^32-1); our packets must still fit the binary packet limit, or
        // sealing would fail after the window was already taken.
        let max_packet = (ch.remote_max_packet as usize)
            .saturating_sub(16)
            .clamp(1, MAX_CHANNEL_DATA_CHUNK);
        let n = data.len().min(ch.remote_window.min(usize::MAX as u64) as usize);
        let remote = ch.remote_id;
        ch.remote_window -= n as u64;
        for chunk in data[..n].chunks(max_packet) {
            let mut w = Writer::new(&mut self.scratch);
            match ext {
                None => w.u8(msg::CHANNEL_DATA).u32(remote),
                Some(code) => w.u8(msg::CHANNEL_EXTENDED_DATA).u32(remote).u32(code),
            };
            w.string(chunk);
            self.send_scratch()?;
        }
        Ok(n)
    }

    /// Copies received data into `buf` (stderr if `stderr`); returns the count. Grants window back to the peer
    /// once half the window was consumed.
    pub fn channel_recv(&mut self, id: ChannelId, stderr: bool, buf: &mut [u8]) -> Result<usize> {
        let ch = self.channels.map.get_mut(&id).ok_or(Error::ChannelClosed)?;
        let q = if stderr { &mut ch.stderr } else { &mut ch.stdout };
        let n = buf.len().min(q.len());
        buf[..n].copy_from_slice(&q.as_slice()[..n]);
        q.consume(n);
        self.channel_consumed(id, n)?;
        Ok(n)
    }

    /// Moves all received data (stderr if `stderr`) into `out`, replacing what it held; returns the count. When
    /// it can, the channel's buffer and `out` just trade places, so a caller that passes the same `Vec` each time
    /// gets the bytes without a copy and lends its capacity back for the next ones. Grants window back like
    /// [`Connection::channel_recv`].
    pub fn channel_recv_swap(&mut self, id: ChannelId, stderr: bool, out: &mut Vec<u8>) -> Result<usize> {
        let ch = self.channels.map.get_mut(&id).ok_or(Error::ChannelClosed)?;
        let q = if stderr { &mut ch.stderr } else { &mut ch.stdout };
        let n = q.len();
        out.clear();
        if q.start == 0 {
            std::mem::swap(&mut q.data, out);
        } else {
            out.extend_from_slice(q.as_slice());
            q.consume(n);
        }
        self.channel_consumed(id, n)?;
        Ok(n)
    }

    /// Lets the caller read received data in place: `f` gets the contiguous slices and returns how much it used.
    pub fn channel_consume_with(
        &mut self,
        id: ChannelId,
        stderr: bool,
        f: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize> {
        let ch = self.channels.map.get_mut(&id).ok_or(Error::ChannelClosed)?;
        let q = if stderr { &mut ch.stderr } else { &mut ch.stdout };
        let n = f(q.as_slice(), &[]).min(q.len());
        q.consume(n);
        self.channel_consumed(id, n)?;
        Ok(n)
    }

    fn channel_consumed(&mut self, id: ChannelId, n: usize) -> Result<()> {
        let window = self.cfg.channel_window;
        let Some(ch) = self.channels.map.get_mut(&id) else {
            return Ok(());
        };
        ch.consumed += n as u32;
        if ch.consumed >= window / 2 && ch.state == ChannelState::Open && !ch.close_sent && !ch.eof_received {
            let grant = ch.consumed;
            ch.consumed = 0;
            ch.local_window += grant;
            let remote = ch.remote_id;
            let mut p = Vec::with_capacity(9);
            Writer::new(&mut p)
                .u8(msg::CHANNEL_WINDOW_ADJUST)
                .u32(remote)
                .u32(grant);
            self.send(&p)?;
        }
        Ok(())
    }

    /// Sends EOF: no more data from us on this channel.
    pub fn channel_eof(&mut self, id: ChannelId) -> Result<()> {
        if self.channels.map.get(&id).is_some_and(|c| c.close_received) {
            return Ok(()); // the peer already closed: nothing to tell it
        }
        let ch = self.open_channel(id)?;
        if ch.eof_sent || ch.close_sent {
            return Ok(());
        }
        ch.eof_sent = true;
        let remote = ch.remote_id;
        let mut p = Vec::with_capacity(5);
        Writer::new(&mut p).u8(msg::CHANNEL_EOF).u32(remote);
        self.send(&p)
    }

    /// Sends CLOSE. The channel leaves the table when the peer's CLOSE arrived too and the application released it.
    pub fn channel_close(&mut self, id: ChannelId) -> Result<()> {
        let Some(ch) = self.channels.map.get_mut(&id) else {
            return Ok(());
        };
        if ch.close_sent || matches!(ch.state, ChannelState::Opening | ChannelState::PeerOpening) {
            return Ok(());
        }
        ch.close_sent = true;
        let remote = ch.remote_id;
        let done = ch.close_received;
        if done {
            ch.state = ChannelState::Closed;
        }
        let mut p = Vec::with_capacity(5);
        Writer::new(&mut p).u8(msg::CHANNEL_CLOSE).u32(remote);
        self.send(&p)?;
        if done {
            self.events.push_back(Event::ChannelClosed(id));
        }
        Ok(())
    }

    /// Forgets a channel: the application has no handle on it any more. Closes it first if needed.
    pub fn channel_release(&mut self, id: ChannelId) -> Result<()> {
        let r = self.channel_close(id);
        if self
            .channels
            .map
            .get(&id)
            .is_some_and(|c| c.state == ChannelState::Closed)
        {
            self.channels.map.remove(&id);
        } else if let Some(c) = self.channels.map.get_mut(&id) {
            // Removed when the peer's CLOSE arrives.
            c.kind.insert(0, '!');
        }
        r
    }

    pub(crate) fn handle_connection_message(&mut self, payload: &[u8]) -> Result<()> {
        let mut r = Reader::new(&payload[1..]);
        let kind = payload[0];
        match kind {
            msg::GLOBAL_REQUEST => return self.handle_global_request(payload),
            msg::REQUEST_SUCCESS | msg::REQUEST_FAILURE => return self.handle_global_reply(payload),
            msg::CHANNEL_OPEN => return self.on_channel_open(&mut r),
            _ => {}
        }
        let id = r.u32()?;
        let ch = self
            .channels
            .map
            .get_mut(&id)
            .ok_or_else(|| Error::protocol(format!("message {kind} for unknown channel {id}")))?;
        match kind {
            msg::CHANNEL_OPEN_CONFIRMATION if ch.state == ChannelState::Opening => {
                ch.remote_id = r.u32()?;
                ch.remote_window = r.u32()? as u64;
                ch.remote_max_packet = r.u32()?;
                ch.state = ChannelState::Open;
                self.events.push_back(Event::ChannelOpened(id));
            }
            msg::CHANNEL_OPEN_FAILURE if ch.state == ChannelState::Opening => {
                let reason = r.u32()?;
                let description = String::from_utf8_lossy(r.string()?).into_owned();
                self.channels.map.remove(&id);
                self.events.push_back(Event::ChannelOpenFailed {
                    id,
                    reason,
                    description,
                });
            }
            _ if ch.state != ChannelState::Open => {
                return Err(Error::protocol(format!(
                    "message {kind} for channel {id} that is not open"
                )));
            }
            msg::CHANNEL_WINDOW_ADJUST => {
                let add = r.u32()? as u64;
                // RFC 4254 §5.2: the window may not grow above 2^32-1; OpenSSH ends the connection when it would.
                let window = ch.remote_window + add;
                if window > u32::MAX as u64 {
                    return Err(Error::protocol(format!(
                        "window adjust of {add} on channel {id} overflows the window of {}",
                        ch.remote_window
                    )));
                }
                ch.remote_window = window;
            }
            msg::CHANNEL_DATA | msg::CHANNEL_EXTENDED_DATA => {
                let code = if kind == msg::CHANNEL_EXTENDED_DATA {
                    Some(r.u32()?)
                } else {
                    None
                };
                let data = r.string()?;
                if ch.eof_received || ch.close_received {
                    return Err(Error::protocol(format!("data on channel {id} after EOF")));
                }
                if data.len() > ch.local_window as usize || data.len() > self.cfg.channel_max_packet as usize {
                    return Err(Error::protocol(format!(
                        "peer sent {} bytes on channel {id} beyond its window ({}) or max packet",
                        data.len(),
                        ch.local_window
                    )));
                }
                ch.local_window -= data.len() as u32;
                match code {
                    None => ch.stdout.extend(data),
                    Some(1) => ch.stderr.extend(data),
                    Some(_) => {
                        // Unknown extended data types are dropped but still count against the window.
                        ch.consumed += data.len() as u32;
                    }
                }
            }
            msg::CHANNEL_EOF => {
                ch.eof_received = true;
                self.events.push_back(Event::ChannelEof(id));
            }
            msg::CHANNEL_CLOSE => {
                ch.close_received = true;
                ch.eof_received = true;
                let released = ch.kind.starts_with('!');
                if !ch.close_sent {
                    ch.close_sent = true;
                    let remote = ch.remote_id;
                    let mut p = Vec::with_capacity(5);
                    Writer::new(&mut p).u8(msg::CHANNEL_CLOSE).u32(remote);
                    self.send(&p)?;
                }
                if let Some(ch) = self.channels.map.get_mut(&id) {
                    ch.state = ChannelState::Closed;
                }
                if released {
                    // Nobody holds this channel any more: forget it now (the event still tells the application).
                    self.channels.map.remove(&id);
                }
                self.events.push_back(Event::ChannelClosed(id));
            }
            msg::CHANNEL_REQUEST => {
                let name = r.utf8()?.to_string();
                let want_reply = r.bool()?;
                let request = decode_request(&name, &mut r)?;
                match &request {
                    ChannelRequest::ExitStatus(s) => ch.exit_status = Some(*s),
                    ChannelRequest::ExitSignal { signal, .. } => ch.exit_signal = Some(signal.clone()),
                    ChannelRequest::Other(_) if want_reply => {
                        // Nobody handles unknown requests (keepalive@openssh.com among them): say so at once.
                        return self.channel_reply(id, false);
                    }
                    _ => {}
                }
                self.events.push_back(Event::ChannelRequest {
                    id,
                    request,
                    want_reply,
                });
            }
            msg::CHANNEL_SUCCESS | msg::CHANNEL_FAILURE => {
                if ch.replies_expected == 0 {
                    return Err(Error::protocol(format!("unexpected reply on channel {id}")));
                }
                ch.replies_expected -= 1;
                self.events.push_back(Event::ChannelReply {
                    id,
                    success: kind == msg::CHANNEL_SUCCESS,
                });
            }
            _ => return Err(Error::protocol(format!("unexpected connection message {kind}"))),
        }
        Ok(())
    }

    fn on_channel_open(&mut self, r: &mut Reader<'_>) -> Result<()> {
        let kind = r.utf8()?.to_string();
        let remote_id = r.u32()?;
        let window = r.u32()?;
        let max_packet = r.u32()?;
        if kind == super::agent::AGENT_CHANNEL {
            return self.on_agent_channel_open(remote_id, window, max_packet);
        }
        // Port forwarding channel types (forwarded-tcpip, streamlocal) live in forward.rs.
        if self.on_forward_channel_open(&kind, remote_id, window, max_packet, r)? {
            return Ok(());
        }
        let refuse = |this: &mut Self, reason: u32, text: &str| {
            let mut p = Vec::new();
            Writer::new(&mut p)
                .u8(msg::CHANNEL_OPEN_FAILURE)
                .u32(remote_id)
                .u32(reason)
                .string(text)
                .string("");
            this.send(&p)
        };
        let server = self.cfg.role == crate::config::Role::Server;
        if !server || (kind != "session" && kind != "direct-tcpip") {
            return refuse(self, 1, "channel type not supported");
        }
        // direct-tcpip (RFC 4254 §7.2): where to connect, and where the connection came from.
        let direct = if kind == "direct-tcpip" {
            let host = r.utf8()?.to_string();
            let port = r.u32()?;
            let originator_host = r.utf8()?.to_string();
            let originator_port = r.u32()?;
            match (u16::try_from(port), u16::try_from(originator_port)) {
                (Ok(port), Ok(originator_port)) if !host.is_empty() => {
                    Some((host, port, originator_host, originator_port))
                }
                _ => return refuse(self, 2, "bad address or port"),
            }
        } else {
            None
        };
        if self.channels.map.len() >= self.cfg.max_channels {
            return refuse(self, 4, "too many channels");
        }
        let mut ch = Channel::new(kind.clone(), ChannelState::PeerOpening, self.cfg.channel_window);
        ch.remote_id = remote_id;
        ch.remote_window = window as u64;
        ch.remote_max_packet = max_packet;
        let id = self.channels.insert(ch);
        self.events.push_back(match direct {
            Some((host, port, originator_host, originator_port)) => Event::DirectTcpipRequest {
                id,
                host,
                port,
                originator_host,
                originator_port,
            },
            None => Event::ChannelOpenRequest { id, kind },
        });
        Ok(())
    }
}
