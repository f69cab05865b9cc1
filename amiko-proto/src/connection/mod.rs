//! The connection engine: one value holds the transport, authentication and channels of one SSH connection.
//!
//! It is sans-IO, in the manner of rustls and quinn-proto: the driver feeds received bytes to
//! [`Connection::handle_input`], writes what [`Connection::poll_transmit`] gives, reacts to
//! [`Connection::poll_event`] and calls [`Connection::handle_timeout`] when [`Connection::poll_timeout`] says.
//!
//! ```
//! use amiko_proto::{config::{Config, Role}, connection::Connection};
//! let mut client = Connection::new(Config::new(Role::Client), Vec::new());
//! let hello = client.poll_transmit().to_vec();
//! assert!(hello.starts_with(b"SSH-2.0-amiko_"));
//! ```

mod agent;
mod channel;
mod event;
mod forward;

use std::collections::VecDeque;
use std::time::Instant;

use zeroize::{Zeroize, Zeroizing};

pub use agent::{AGENT_CHANNEL, AGENT_REQUEST};
use channel::ChannelTable;
pub use channel::{Channel, ChannelState};
pub use event::{AuthMethod, ChannelId, ChannelRequest, Event, PtyRequest};
pub use forward::{
    ForwardRequest, ForwardTarget, GlobalRequestId, MAX_HOST_LEN, MAX_REMOTE_FORWARDS, MAX_SOCKET_PATH_LEN,
};

use crate::auth::{ClientAuth, ServerAuth};
use crate::config::{Config, Role};
use crate::error::{DisconnectReason, Error, Result};
use crate::keys::PrivateKey;
use crate::transport::handshake::Handshake;
use crate::transport::packet::{Opener, Sealer};
use crate::transport::version::VersionReader;
use crate::wire::{msg, Reader, Writer};

/// Input buffered beyond this while the engine is paused (waiting for a host-key decision) is a flood.
const MAX_BUFFERED_INPUT: usize = 4 << 20;
/// Payloads held back during a key exchange (RFC 4253 §7.1 forbids sending them until NEWKEYS).
const MAX_HELD_PAYLOADS: usize = 4096;

/// One SSH connection, either role.
pub struct Connection {
    pub(crate) cfg: Config,
    inbuf: Vec<u8>,
    in_start: usize,
    pub(crate) outbuf: Vec<u8>,
    out_sent: usize,
    version_reader: VersionReader,
    pub(crate) our_version: String,
    pub(crate) peer_version: Option<String>,
    pub(crate) sealer: Sealer,
    pub(crate) opener: Opener,
    pub(crate) hs: Handshake,
    pub(crate) host_keys: Vec<PrivateKey>,
    /// Wiped when sent or dropped: a USERAUTH_REQUEST with a password may be held here.
    held: VecDeque<Zeroizing<Vec<u8>>>,
    /// Payload bytes in `held`, counted in [`Connection::pending_transmit`] so that drivers stop writing while a
    /// peer stalls a key exchange.
    held_bytes: usize,
    pub(crate) events: VecDeque<Event>,
    pub(crate) client_auth: ClientAuth,
    pub(crate) server_auth: ServerAuth,
    pub(crate) channels: ChannelTable,
    pub(crate) forwards: forward::Forwards,
    pub(crate) scratch: Vec<u8>,
    /// The inflated payload of the current packet when compression runs (bounded by the packet limit).
    pub(crate) inflated: Vec<u8>,
    closed: bool,
    input_seen: bool,
    last_input: Option<Instant>,
    pub(crate) keepalives_unanswered: u32,
    pub(crate) now: Option<Instant>,
}

/// Wipes a handled USERAUTH_REQUEST or USERAUTH_INFO_RESPONSE where it was decrypted (the input buffer, or the
/// inflated copy): it may carry a password or keyboard-interactive answers. Says whether it did.
fn wipe_if_credentials(payload: &mut [u8]) -> bool {
    let credentials = matches!(
        payload.first(),
        Some(&(msg::USERAUTH_REQUEST | msg::USERAUTH_INFO_RESPONSE))
    );
    if credentials {
        payload.zeroize();
    }
    credentials
}

/// Our identification line without its CR LF, `SSH-2.0-` and `software_version` made to fit RFC 4253 §4.2: the
/// version is printable US-ASCII without whitespace or `-` (a space may start a comment, which may hold anything
/// printable), and the whole line with its CR LF is at most 255 bytes. Other characters become `_` and an empty
/// version becomes `amiko`, so a configured value can never inject a line break, or a second line, into the
/// handshake, nor make a peer refuse the line.
fn version_line(software_version: &str) -> String {
    const MAX_LINE: usize = 255 - 2;
    let (version, comment) = match software_version.split_once(' ') {
        Some((v, c)) => (v, Some(c)),
        None => (software_version, None),
    };
    let mut line = String::from("SSH-2.0-");
    line.extend(
        version
            .chars()
            .map(|c| if c.is_ascii_graphic() && c != '-' { c } else { '_' }),
    );
    if version.is_empty() {
        line.push_str("amiko");
    }
    if let Some(comment) = comment {
        line.push(' ');
        line.extend(
            comment
                .chars()
                .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }),
        );
    }
    line.truncate(MAX_LINE); // all ASCII by now, so any byte index is a char boundary
    line
}

impl Connection {
    /// A new connection. `host_keys` are the server's keys (empty for a client). The version line is queued for
    /// sending at once; a client also queues its KEXINIT.
    pub fn new(cfg: Config, host_keys: Vec<PrivateKey>) -> Self {
        let our_version = version_line(&cfg.software_version);
        let mut c = Connection {
            // Buffers grow with use: an idle connection among thousands should cost little memory.
            inbuf: Vec::new(),
            in_start: 0,
            outbuf: Vec::new(),
            out_sent: 0,
            version_reader: VersionReader::default(),
            our_version: our_version.clone(),
            peer_version: None,
            sealer: Sealer::new(),
            opener: Opener::new(),
            hs: Handshake::default(),
            host_keys,
            held: VecDeque::new(),
            held_bytes: 0,
            events: VecDeque::new(),
            client_auth: ClientAuth::default(),
            server_auth: ServerAuth::default(),
            channels: ChannelTable::default(),
            forwards: forward::Forwards::default(),
            scratch: Vec::new(),
            inflated: Vec::new(),
            closed: false,
            input_seen: false,
            last_input: None,
            keepalives_unanswered: 0,
            now: None,
            cfg,
        };
        c.outbuf.extend_from_slice(our_version.as_bytes());
        c.outbuf.extend_from_slice(b"\r\n");
        c.start_kex();
        c
    }

    /// The role of this side.
    pub fn role(&self) -> Role {
        self.cfg.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Sends a keepalive after `interval` without input (None: never), from now on; Paramiko's `set_keepalive`.
    pub fn set_keepalive(&mut self, interval: Option<std::time::Duration>) {
        self.cfg.keepalive_interval = interval;
    }

    /// The peer's identification line, once received.
    pub fn peer_version(&self) -> Option<&str> {
        self.peer_version.as_deref()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Feeds bytes received from the peer. Errors end the connection: a DISCONNECT with the reason is queued for
    /// sending and `Event::Closed` is queued; the same error is returned.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        if !data.is_empty() {
            self.input_seen = true;
        }
        self.inbuf.extend_from_slice(data);
        let r = self.process_input();
        self.fail_on(r)
    }

    /// Like [`Connection::handle_input`], but works on the caller's buffer: whole packets are decrypted and parsed
    /// where they lie, and only a trailing partial packet is copied into the engine. A driver that reads into its own
    /// buffer saves a copy of nearly every byte this way. `data` is left scrambled (decrypted in place).
    ///
    /// ```
    /// use amiko_proto::{config::{Config, Role}, connection::Connection};
    /// let mut conn = Connection::new(Config::new(Role::Client), vec![]);
    /// let mut bytes = b"SSH-2.0-OpenSSH_9.6\r\n".to_vec();
    /// conn.handle_input_in_place(&mut bytes).unwrap();
    /// ```
    pub fn handle_input_in_place(&mut self, data: &mut [u8]) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        if self.peer_version.is_none() || self.in_start < self.inbuf.len() {
            // Bytes already waiting must come first: append and go the usual way.
            return self.handle_input(data);
        }
        if !data.is_empty() {
            self.input_seen = true;
        }
        self.inbuf.clear();
        self.in_start = 0;
        let r = self.process_packets(data);
        let rest = &data[self.in_start.min(data.len())..];
        self.in_start = 0;
        self.inbuf.extend_from_slice(rest);
        let r = r.and_then(|()| {
            if self.inbuf.len() > MAX_BUFFERED_INPUT {
                Err(Error::protocol(
                    "peer sent too much data while the connection was paused",
                ))
            } else {
                Ok(())
            }
        });
        self.fail_on(r)
    }

    /// Like [`Connection::handle_input_in_place`], but a trailing partial packet is left with the caller instead of
    /// being copied into the engine: returns how many bytes of `data` were used. The caller must pass the unused
    /// bytes again, as they are now (part of them may be decrypted already) and ahead of the bytes that follow
    /// them. A driver that keeps them in its read buffer and reads the next bytes in behind them copies nothing:
    /// with `handle_input_in_place`, once a read ends inside a packet (nearly every read on a bulk transfer) the
    /// whole next read is copied through the engine's buffer.
    ///
    /// ```
    /// use amiko_proto::{config::{Config, Role}, connection::Connection};
    /// let mut conn = Connection::new(Config::new(Role::Client), vec![]);
    /// let mut bytes = b"SSH-2.0-OpenSSH_9.6\r\n".to_vec();
    /// let used = conn.handle_input_in_place_partial(&mut bytes).unwrap();
    /// assert_eq!(used, bytes.len()); // before the version exchange is done, the engine takes everything
    /// ```
    pub fn handle_input_in_place_partial(&mut self, data: &mut [u8]) -> Result<usize> {
        if self.closed {
            return Err(Error::Closed);
        }
        if self.peer_version.is_none() || self.in_start < self.inbuf.len() || self.hs.paused() {
            // The engine holds bytes (or will hold them) that must come first: it takes all, the usual way.
            return self.handle_input(data).map(|()| data.len());
        }
        if !data.is_empty() {
            self.input_seen = true;
        }
        self.inbuf.clear();
        self.in_start = 0;
        let r = self.process_packets(data);
        let used = self.in_start.min(data.len());
        self.in_start = 0;
        if r.is_ok() && !self.closed && self.hs.paused() {
            // Processing resumes from the engine's own buffer once the host key is decided (accept_host_key).
            self.inbuf.extend_from_slice(&data[used..]);
            let r = if self.inbuf.len() > MAX_BUFFERED_INPUT {
                Err(Error::protocol(
                    "peer sent too much data while the connection was paused",
                ))
            } else {
                Ok(())
            };
            return self.fail_on(r).map(|()| data.len());
        }
        self.fail_on(r).map(|()| used)
    }

    /// Tells the engine the peer closed its side of the TCP connection.
    pub fn handle_eof(&mut self) {
        if !self.closed {
            self.closed = true;
            self.events.push_back(Event::Closed(Error::Closed));
        }
    }

    fn fail_on<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            if !self.closed {
                if let Some(reason) = e.disconnect_reason() {
                    self.send_disconnect(reason, &e.to_string());
                }
                self.closed = true;
                self.events.push_back(Event::Closed(e.clone()));
            }
        }
        r
    }

    /// Ends the connection with a DISCONNECT (by application).
    pub fn disconnect(&mut self, reason: DisconnectReason, description: &str) {
        if !self.closed {
            self.send_disconnect(reason, description);
            self.closed = true;
            self.events.push_back(Event::Closed(Error::Closed));
        }
    }

    fn send_disconnect(&mut self, reason: DisconnectReason, description: &str) {
        let mut p = Vec::new();
        Writer::new(&mut p)
            .u8(msg::DISCONNECT)
            .u32(reason as u32)
            .string(description)
            .string(b"");
        // A DISCONNECT may go out even in the middle of a key exchange.
        let _ = self.sealer.seal(&p, &mut self.outbuf);
    }

    fn process_input(&mut self) -> Result<()> {
        if self.peer_version.is_none() {
            let allow_pre = self.cfg.role == Role::Client;
            match self.version_reader.read(&self.inbuf[self.in_start..], allow_pre)? {
                None => return Ok(()),
                Some((v, used)) => {
                    self.in_start += used;
                    self.peer_version = Some(v);
                }
            }
        }
        let mut buf = std::mem::take(&mut self.inbuf);
        let r = self.process_packets(&mut buf);
        self.inbuf = buf;
        if self.in_start == self.inbuf.len() {
            self.inbuf.clear();
            self.in_start = 0;
        } else if self.in_start > 0 && self.in_start >= self.inbuf.len() / 2 {
            self.inbuf.drain(..self.in_start);
            self.in_start = 0;
        }
        if self.inbuf.len() - self.in_start > MAX_BUFFERED_INPUT {
            return Err(Error::protocol(
                "peer sent too much data while the connection was paused",
            ));
        }
        r
    }

    fn process_packets(&mut self, buf: &mut [u8]) -> Result<()> {
        while !self.closed && !self.hs.paused() {
            let Some(opened) = self.opener.open(&mut buf[self.in_start..])? else {
                return Ok(());
            };
            let start = self.in_start + opened.payload.start;
            let end = self.in_start + opened.payload.end;
            self.in_start += opened.consumed;
            let mut inflated = std::mem::take(&mut self.inflated);
            let r = match self.opener.decompress(&buf[start..end], &mut inflated) {
                Ok(true) => {
                    let r = self.dispatch(&inflated);
                    if wipe_if_credentials(&mut inflated) {
                        buf[start..end].zeroize(); // the same, compressed
                    }
                    r
                }
                Ok(false) => {
                    let r = self.dispatch(&buf[start..end]);
                    wipe_if_credentials(&mut buf[start..end]);
                    r
                }
                Err(e) => Err(e),
            };
            self.inflated = inflated;
            r?;
        }
        Ok(())
    }

    /// Authentication succeeded (the server sealed USERAUTH_SUCCESS, or the client received it): a delayed
    /// compression method (`zlib@openssh.com`) runs from the next packet on in both directions, as OpenSSH does.
    pub(crate) fn start_delayed_compression(&mut self) {
        self.sealer.start_delayed_compression();
        self.opener.start_delayed_compression();
    }

    /// Packet bytes sent and received so far (after the version lines, MACs included): with compression on, less
    /// than the payloads they carried.
    pub fn wire_bytes(&self) -> (u64, u64) {
        (self.sealer.total_bytes(), self.opener.total_bytes())
    }

    /// Whether compression runs now in each direction (outgoing, incoming).
    pub fn compression_active(&self) -> (bool, bool) {
        (self.sealer.compression_active(), self.opener.compression_active())
    }

    /// Seals an application payload that may be the server's USERAUTH_SUCCESS, after which delayed compression
    /// starts: only once the packet itself is sealed (it may have been held back during a key exchange).
    fn seal_app(&mut self, payload: &[u8]) -> Result<()> {
        self.sealer.seal(payload, &mut self.outbuf)?;
        if self.cfg.role == Role::Server && payload.first() == Some(&msg::USERAUTH_SUCCESS) {
            self.start_delayed_compression();
        }
        Ok(())
    }

    fn dispatch(&mut self, payload: &[u8]) -> Result<()> {
        let Some(&kind) = payload.first() else {
            return Err(Error::protocol("empty packet payload"));
        };
        if self.hs.in_initial_strict_kex() && !crate::transport::handshake::is_kex_message(kind) {
            return Err(Error::protocol(format!(
                "message {kind} during the initial key exchange under strict kex"
            )));
        }
        match kind {
            msg::DISCONNECT => {
                let mut r = Reader::new(&payload[1..]);
                let reason = DisconnectReason::from_code(r.u32()?);
                let description = String::from_utf8_lossy(r.string()?).into_owned();
                self.closed = true;
                self.events
                    .push_back(Event::Closed(event::disconnected(reason, description)));
                Ok(())
            }
            msg::IGNORE | msg::DEBUG | msg::UNIMPLEMENTED => Ok(()),
            msg::KEXINIT | msg::NEWKEYS | 30..=49 => self.handle_kex_message(payload),
            _ if self.hs.receiving_kex() => Err(Error::protocol(format!(
                "message {kind} in the middle of a key exchange"
            ))),
            msg::SERVICE_REQUEST | msg::SERVICE_ACCEPT | msg::EXT_INFO | 50..=79 => self.handle_auth_message(payload),
            80..=127 => {
                if !self.is_authenticated() {
                    return Err(Error::protocol(format!(
                        "connection message {kind} before authentication"
                    )));
                }
                self.handle_connection_message(payload)
            }
            _ => {
                let seq = self.opener.seq().wrapping_sub(1);
                let mut p = Vec::with_capacity(5);
                Writer::new(&mut p).u8(msg::UNIMPLEMENTED).u32(seq);
                self.send(&p)
            }
        }
    }

    /// Whether authentication has completed (either role).
    pub fn is_authenticated(&self) -> bool {
        match self.cfg.role {
            Role::Client => self.client_auth.is_done(),
            Role::Server => self.server_auth.user().is_some(),
        }
    }

    /// Sends one payload: sealed now, or held until a running key exchange ends (only transport messages may pass
    /// during a kex, RFC 4253 §7.1).
    pub(crate) fn send(&mut self, payload: &[u8]) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        let kind = payload.first().copied().unwrap_or(0);
        // Behind payloads still held (release_held stopped at the rekey limit), to keep the order.
        let hold = self.hs.sending_kex() || !self.held.is_empty();
        if hold && !crate::transport::handshake::may_send_during_kex(kind) {
            if self.held.len() >= MAX_HELD_PAYLOADS {
                return Err(Error::protocol("too many messages held back during key exchange"));
            }
            self.held_bytes += payload.len();
            self.held.push_back(Zeroizing::new(payload.to_vec()));
            return Ok(());
        }
        self.seal_app(payload)?;
        self.maybe_rekey();
        Ok(())
    }

    /// Sends the payload built in `self.scratch` (avoids an allocation per channel packet).
    pub(crate) fn send_scratch(&mut self) -> Result<()> {
        let p = std::mem::take(&mut self.scratch);
        let r = self.send(&p);
        self.scratch = p;
        self.scratch.clear();
        r
    }

    /// Called when our NEWKEYS went out: the held payloads may go now, until the new outgoing keys reach the
    /// rekey limit. What is left stays held (and later payloads queue behind it) until the next exchange, which
    /// starts once this one is complete: a writer that filled the queue during the exchange must not send a whole
    /// window under one key.
    pub(crate) fn release_held(&mut self) -> Result<()> {
        while !self.sealer_due() {
            let Some(p) = self.held.pop_front() else { break };
            self.held_bytes -= p.len();
            self.seal_app(&p)?;
        }
        Ok(())
    }

    /// Bytes waiting to be written to the peer. Call [`Connection::advance_transmit`] with what was written.
    pub fn poll_transmit(&mut self) -> &[u8] {
        &self.outbuf[self.out_sent..]
    }

    /// Moves the bytes to send into `buf` (which must be empty), swapping buffers instead of copying.
    pub fn take_transmit(&mut self, buf: &mut Vec<u8>) {
        buf.clear();
        if self.out_sent == 0 {
            std::mem::swap(&mut self.outbuf, buf);
        } else {
            buf.extend_from_slice(&self.outbuf[self.out_sent..]);
            self.outbuf.clear();
            self.out_sent = 0;
        }
    }

    /// Marks `n` bytes of [`Connection::poll_transmit`] as written.
    pub fn advance_transmit(&mut self, n: usize) {
        self.out_sent += n;
        if self.out_sent >= self.outbuf.len() {
            self.outbuf.clear();
            self.out_sent = 0;
        }
    }

    /// How many bytes wait to be written, counting messages held back until a key exchange ends; drivers stop
    /// accepting channel data when this is large (so a peer that stalls a rekey cannot make us buffer without end).
    pub fn pending_transmit(&self) -> usize {
        self.outbuf.len() - self.out_sent + self.held_bytes
    }

    /// Capacity of the input buffer, for the tests that bound memory.
    #[cfg(test)]
    pub(crate) fn input_capacity(&self) -> usize {
        self.inbuf.capacity()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Connection::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Only deadlines that handle_timeout acts on: one it would let pass (a keepalive before authentication, a
        // rekey while one runs) stays in the past, and a driver would wake for it again and again, spinning.
        let keepalive = match (self.cfg.keepalive_interval, self.last_input) {
            (Some(iv), Some(last)) if self.is_authenticated() => Some(last + iv * (self.keepalives_unanswered + 1)),
            _ => None,
        };
        // A rekey_time too large to add (Duration::MAX) means never.
        let rekey = if self.hs.in_progress() {
            None
        } else {
            self.hs.done_at().and_then(|t| t.checked_add(self.cfg.rekey_time))
        };
        [keepalive, rekey].into_iter().flatten().min()
    }

    /// Tells the engine the time. Sends keepalives and starts time-based rekeys when due; ends the connection when
    /// too many keepalives went unanswered.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<()> {
        self.now = Some(now);
        if self.closed {
            return Ok(());
        }
        if self.input_seen || self.last_input.is_none() {
            self.input_seen = false;
            self.last_input = Some(now);
            self.keepalives_unanswered = 0;
        }
        self.hs.note_time(now);
        if let Some(due) = self.hs.done_at().and_then(|t| t.checked_add(self.cfg.rekey_time)) {
            if now >= due && !self.hs.in_progress() {
                self.start_kex();
            }
        }
        if let (Some(iv), Some(last)) = (self.cfg.keepalive_interval, self.last_input) {
            if now >= last + iv * (self.keepalives_unanswered + 1) && self.is_authenticated() {
                if self.keepalives_unanswered >= self.cfg.keepalive_count_max {
                    let r = Err(Error::Timeout("no answer to keepalives"));
                    return self.fail_on(r);
                }
                self.keepalives_unanswered += 1;
                let mut p = Vec::new();
                Writer::new(&mut p)
                    .u8(msg::GLOBAL_REQUEST)
                    .string("keepalive@openssh.com")
                    .bool(true);
                let r = self.send(&p);
                if r.is_ok() {
                    self.note_keepalive_sent();
                }
                return self.fail_on(r);
            }
        }
        Ok(())
    }

    /// Sends an IGNORE message (RFC 4253 §11.2); useful to keep NAT state alive.
    pub fn send_ignore(&mut self, data: &[u8]) -> Result<()> {
        let mut p = Vec::new();
        Writer::new(&mut p).u8(msg::IGNORE).string(data);
        self.send(&p)
    }

    /// Sends raw bytes as a packet payload, bypassing every check. For tests of peers' bad-input handling only.
    #[doc(hidden)]
    pub fn dangerous_send_raw(&mut self, payload: &[u8]) -> Result<()> {
        self.sealer.seal(payload, &mut self.outbuf)
    }

    pub(crate) fn handle_global_request(&mut self, payload: &[u8]) -> Result<()> {
        let mut r = Reader::new(&payload[1..]);
        let name = r.utf8()?.to_string();
        let want_reply = r.bool()?;
        if self.cfg.role == Role::Server && self.on_forward_request(&name, want_reply, &mut r)? {
            return Ok(());
        }
        if self.cfg.role == Role::Server && !name.starts_with("keepalive@") {
            self.events.push_back(Event::GlobalRequest { name, want_reply });
            return Ok(());
        }
        if want_reply {
            self.send(&[msg::REQUEST_FAILURE])?;
        }
        Ok(())
    }

    /// Answers a global request (server role).
    pub fn global_reply(&mut self, success: bool) -> Result<()> {
        self.send(&[if success {
            msg::REQUEST_SUCCESS
        } else {
            msg::REQUEST_FAILURE
        }])
    }
}

#[cfg(test)]
mod version_line_tests {
    use super::version_line;

    #[test]
    fn a_configured_version_cannot_break_the_identification_line() {
        assert_eq!(version_line("amiko_1.0"), "SSH-2.0-amiko_1.0");
        assert_eq!(version_line("App_2.1 built by me"), "SSH-2.0-App_2.1 built by me");
        // A CR LF would end the line early and start a second one the peer reads as the next message.
        assert_eq!(version_line("x\r\nSSH-1.5-evil"), "SSH-2.0-x__SSH_1.5_evil");
        assert_eq!(version_line("v1 comment\r\nmore"), "SSH-2.0-v1 comment__more");
        assert_eq!(version_line("my-app\tv2"), "SSH-2.0-my_app_v2");
        assert_eq!(version_line("ünï"), "SSH-2.0-_n_");
        // OpenSSH refuses a line without a software version.
        assert_eq!(version_line(""), "SSH-2.0-amiko");
        assert_eq!(version_line(" only a comment"), "SSH-2.0-amiko only a comment");
        let long = version_line(&"v".repeat(1000));
        assert_eq!(long.len() + 2, 255);
    }
}
